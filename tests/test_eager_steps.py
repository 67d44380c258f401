"""The eager optimizers against torch.optim (issue #37, item 6).

``sklearn_neuron._solvers.eager_steps`` re-implements the single-tensor updates of
torch's SGD, Adam, AdamW, RMSprop and Adagrad so that a minibatch fit does not import
torch's compiler stack. Each is checked against its torch class: the same start and
the same gradients give the same parameters and the same ``state_dict()`` (the same
operations in the same order: exactly equal, in float64 and float32), a state saved by
one loads into the other and continues identically, and the estimators fit the same
coefficients with ``optimizer="adam"`` as with ``optimizer=torch.optim.Adam``.
"""

import copy
import pickle
import subprocess
import sys
import textwrap
import warnings

import numpy as np
import pytest
import torch
from sklearn.datasets import make_classification
from sklearn.exceptions import ConvergenceWarning

from sklearn_neuron import NeuronClassifier
from sklearn_neuron._solvers.eager_steps import (
    EAGER_OPTIMIZERS,
    EagerAdam,
    EagerOptimizer,
    EagerSGD,
    torch_counterpart,
)
from sklearn_neuron._solvers.torch_steps import _make_optimizer
from sklearn_neuron._state import state_from_numpy, state_to_numpy

#: Options of each optimizer, as optimizer_kwargs lets them through.
GRID = {
    "sgd": [
        {},
        {"momentum": 0.9},
        {"momentum": 0.9, "nesterov": True},
        {"momentum": 0.5, "dampening": 0.3, "weight_decay": 0.1},
        {"momentum": 0.9, "nesterov": True, "maximize": True, "weight_decay": 0.01},
        {"weight_decay": 0.2, "maximize": True},
    ],
    "adam": [
        {},
        {"betas": (0.8, 0.99), "eps": 1e-6},
        {"amsgrad": True},
        {"weight_decay": 0.1},
        {"weight_decay": 0.1, "decoupled_weight_decay": True, "amsgrad": True},
        {"maximize": True, "betas": (0.5, 0.9)},
    ],
    "adamw": [
        {},
        {"weight_decay": 0.0},
        {"weight_decay": 0.3, "amsgrad": True, "maximize": True},
        {"betas": (0.9, 0.99), "eps": 1e-4},
    ],
    "rmsprop": [
        {},
        {"alpha": 0.9, "eps": 1e-6},
        {"momentum": 0.9},
        {"centered": True},
        {"centered": True, "momentum": 0.5, "weight_decay": 0.1, "maximize": True},
    ],
    "adagrad": [
        {},
        {"lr_decay": 0.1},
        {"initial_accumulator_value": 0.5, "eps": 1e-6},
        {"weight_decay": 0.1, "maximize": True, "lr_decay": 0.01},
    ],
}
CASES = [(name, kwargs) for name, grid in GRID.items() for kwargs in grid]
IDS = [f"{name}-{'-'.join(f'{k}={v}' for k, v in kwargs.items()) or 'defaults'}"
       for name, kwargs in CASES]


DEVICES = [
    "cpu",
    pytest.param("cuda", marks=pytest.mark.skipif(not torch.cuda.is_available(),
                                                  reason="no CUDA device")),
]


def _gradients(dtype, n_steps=25, size=7, seed=0, device="cpu"):
    generator = torch.Generator().manual_seed(seed)
    return [(torch.randn(size, generator=generator, dtype=dtype) * 10.0 ** (k % 5 - 2)).to(device)
            for k in range(n_steps)]


def _start(dtype, size=7, device="cpu"):
    return torch.linspace(-1.0, 2.0, size, dtype=dtype, device=device)


def _pair(name, kwargs, dtype, lr=0.05, device="cpu"):
    """An eager optimizer and its torch class on two copies of the same start."""
    eager_param = _start(dtype, device=device).requires_grad_()
    torch_param = _start(dtype, device=device).requires_grad_()
    eager = EAGER_OPTIMIZERS[name]([eager_param], lr=lr, foreach=False, **kwargs)
    reference = EAGER_OPTIMIZERS[name].torch_class(
        [torch_param], lr=lr, foreach=False, **kwargs
    )
    return (eager, eager_param), (reference, torch_param)


def _run(optimizer, parameter, gradients):
    for gradient in gradients:
        parameter.grad = gradient.clone()
        optimizer.step()


def _assert_same_state(eager, reference):
    """The same state_dict: the same groups, the same state entries (names, dtypes,
    devices, values: exactly equal)."""
    a, b = eager.state_dict(), reference.state_dict()
    assert a["param_groups"] == b["param_groups"]
    assert a["state"].keys() == b["state"].keys()
    for index in a["state"]:
        assert a["state"][index].keys() == b["state"][index].keys()
        for key, value in a["state"][index].items():
            other = b["state"][index][key]
            assert value.dtype == other.dtype and value.device == other.device, key
            assert torch.equal(value, other), key


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("dtype", [torch.float64, torch.float32])
@pytest.mark.parametrize(("name", "kwargs"), CASES, ids=IDS)
def test_eager_steps_equal_torch_steps(name, kwargs, dtype, device):
    # The same operations in the same order: exactly equal parameters and state.
    (eager, eager_param), (reference, torch_param) = _pair(name, kwargs, dtype, device=device)
    gradients = _gradients(dtype, device=device)
    _run(eager, eager_param, gradients)
    _run(reference, torch_param, gradients)
    assert torch.equal(eager_param, torch_param)
    _assert_same_state(eager, reference)


@pytest.mark.parametrize(("name", "kwargs"), CASES, ids=IDS)
def test_hyperparameters_and_state_changed_between_steps_as_the_loop_does(name, kwargs):
    # The minibatch loop sets lr in param_groups and clears the state after a
    # rejected epoch (torch_steps._undo_epoch): both classes follow, exactly.
    (eager, eager_param), (reference, torch_param) = _pair(name, kwargs, torch.float64)
    gradients = _gradients(torch.float64, n_steps=30)
    for optimizer, parameter in ((eager, eager_param), (reference, torch_param)):
        _run(optimizer, parameter, gradients[:10])
        optimizer.state.clear()
        optimizer.param_groups[0]["lr"] = 0.01
        _run(optimizer, parameter, gradients[10:])
    assert torch.equal(eager_param, torch_param)
    _assert_same_state(eager, reference)


@pytest.mark.parametrize("direction", ["torch to eager", "eager to torch"])
@pytest.mark.parametrize("through_numpy", [False, True], ids=["state_dict", "numpy"])
@pytest.mark.parametrize(("name", "kwargs"), CASES, ids=IDS)
def test_a_saved_state_loads_into_the_other_class_and_continues_identically(
    name, kwargs, direction, through_numpy
):
    # Saved after 10 steps by one class (as it is or as the estimators keep
    # it: optimizer_state_, numpy), loaded into a fresh one of the other
    # class; the next 10 steps give exactly the first class's continuation.
    (eager, eager_param), (reference, torch_param) = _pair(name, kwargs, torch.float64)
    saver, saver_param = (reference, torch_param) if direction == "torch to eager" else (
        eager, eager_param)
    loader_class = type(eager) if direction == "torch to eager" else type(reference)
    gradients = _gradients(torch.float64, n_steps=20)
    _run(saver, saver_param, gradients[:10])
    state = copy.deepcopy(saver.state_dict())  # torch's shares the live tensors
    if through_numpy:
        state = state_from_numpy(state_to_numpy(state))
    loaded_param = saver_param.detach().clone().requires_grad_()
    loader = loader_class([loaded_param], lr=0.05, foreach=False, **kwargs)
    loader.load_state_dict(state)
    _run(saver, saver_param, gradients[10:])
    _run(loader, loaded_param, gradients[10:])
    assert torch.equal(loaded_param, saver_param)
    pair = (loader, saver) if direction == "torch to eager" else (saver, loader)
    _assert_same_state(*pair)


def test_a_float32_state_loads_into_a_float64_parameter_as_torch_loads_it():
    # torch casts the state tensors to the parameter's dtype and keeps `step`
    # as saved; the eager class does the same, and continues identically.
    (eager32, param32), _ = _pair("adam", {"amsgrad": True}, torch.float32)
    _run(eager32, param32, _gradients(torch.float32, n_steps=5))
    state = copy.deepcopy(eager32.state_dict())
    eager_param = param32.detach().double().requires_grad_()
    torch_param = param32.detach().double().requires_grad_()
    eager = EagerAdam([eager_param], lr=0.05, foreach=False, amsgrad=True)
    reference = torch.optim.Adam([torch_param], lr=0.05, foreach=False, amsgrad=True)
    eager.load_state_dict(copy.deepcopy(state))  # (`step` is loaded as it is, not copied)
    reference.load_state_dict(copy.deepcopy(state))
    _assert_same_state(eager, reference)
    assert eager.state[eager_param]["exp_avg"].dtype == torch.float64
    assert eager.state[eager_param]["step"].dtype == torch.float32
    gradients = _gradients(torch.float64, n_steps=5, seed=1)
    _run(eager, eager_param, gradients)
    _run(reference, torch_param, gradients)
    assert torch.equal(eager_param, torch_param)


@pytest.mark.parametrize(
    ("kwargs", "learning_rate"),
    [
        ({"foreach": True}, 0.1),
        ({"differentiable": True}, 0.1),
        ({"capturable": True}, 0.1),
        ({}, torch.tensor(0.1, dtype=torch.float64)),
    ],
    ids=["foreach", "differentiable", "capturable", "tensor-lr"],
)
def test_options_only_torch_implements_build_the_torch_class(kwargs, learning_rate):
    # The one place that chooses (torch_steps._make_optimizer): an option the
    # eager class does not implement builds its torch class; else the eager one.
    parameter = torch.nn.Parameter(_start(torch.float64))
    built = _make_optimizer(parameter, EagerAdam, kwargs, learning_rate, None)
    assert type(built) is torch.optim.Adam
    plain = _make_optimizer(parameter, EagerAdam, {}, 0.1, None)
    assert type(plain) is EagerAdam
    assert type(_make_optimizer(parameter, torch.optim.Adam, {}, 0.1, None)) is torch.optim.Adam


def test_a_fit_with_an_option_only_torch_implements_runs():
    X, y = make_classification(200, 4, random_state=0)
    model = NeuronClassifier(optimizer="adam", optimizer_kwargs={"foreach": True},
                             random_state=0, max_iter=5)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        model.fit(X, y)
    model.partial_fit(X, y)  # the torch class's state, loaded into the torch class again
    assert model.optimizer_state_["param_groups"][0]["foreach"] is True


@pytest.mark.parametrize("name", sorted(EAGER_OPTIMIZERS))
def test_invalid_hyperparameters_are_refused_as_torch_refuses_them(name):
    eager_class = EAGER_OPTIMIZERS[name]
    bad = {"lr": -1.0} if name != "adam" else {"betas": (1.5, 0.9)}
    messages = []
    for cls in (eager_class, eager_class.torch_class):
        with pytest.raises(ValueError) as info:
            cls([torch.zeros(3, requires_grad=True)], **bad)
        messages.append(str(info.value))
    assert messages[0] == messages[1]


def test_an_eager_class_stands_for_its_torch_class():
    for eager_class in EAGER_OPTIMIZERS.values():
        assert issubclass(eager_class, EagerOptimizer)
        assert not issubclass(eager_class, torch.optim.Optimizer)
        assert torch_counterpart(eager_class) is eager_class.torch_class
    assert torch_counterpart(torch.optim.SGD) is torch.optim.SGD
    assert EagerSGD.torch_class is torch.optim.SGD


@pytest.mark.parametrize("name", sorted(EAGER_OPTIMIZERS))
def test_named_optimizer_fits_as_its_torch_class(name):
    # The coefficients of optimizer="adam" (eager) and optimizer=torch.optim.Adam
    # (torch) with the same kwargs and random_state: within 1e-12 (they are equal).
    X, y = make_classification(300, 5, random_state=0)
    torch_class = EAGER_OPTIMIZERS[name].torch_class
    fits = [NeuronClassifier(optimizer=optimizer, random_state=0, max_iter=30, tol=1e-6)
            for optimizer in (name, torch_class)]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        for model in fits:
            model.fit(X, y)
    np.testing.assert_allclose(fits[0].coef_, fits[1].coef_, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(fits[0].intercept_, fits[1].intercept_, rtol=1e-12, atol=1e-12)
    assert fits[0].n_iter_ == fits[1].n_iter_
    # The same hyperparameters; AdamW's own weight decay off in both (C is the penalty).
    groups = [model.optimizer_state_["param_groups"][0] for model in fits]
    assert groups[0] == groups[1]
    assert groups[0].get("weight_decay", 0) == 0


def test_adam_default_fit_is_unchanged():
    # NeuronClassifier(optimizer="adam", random_state=0) with its defaults
    # (learning_rate="auto", betas (0.9, 0.99)) against the torch class with the
    # same kwargs: coefficients within 1e-12.
    X, y = make_classification(500, 8, random_state=1)
    eager = NeuronClassifier(optimizer="adam", random_state=0).fit(X, y)
    reference = NeuronClassifier(optimizer=torch.optim.Adam, random_state=0).fit(X, y)
    np.testing.assert_allclose(eager.coef_, reference.coef_, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(eager.intercept_, reference.intercept_, rtol=1e-12, atol=1e-12)
    assert eager.n_iter_ == reference.n_iter_


def _continue(model, X, y, n_calls=3):
    for _ in range(n_calls):
        model.partial_fit(X, y)
    return model


def test_partial_fit_pickle_and_warm_start_after_an_adam_fit():
    # The fitted optimizer_state_ keeps torch's format: partial_fit after a
    # fit, after a pickle round trip, and a warm-started fit all work, and a
    # pickled model continues exactly as the original does.
    X, y = make_classification(300, 5, random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        model = NeuronClassifier(optimizer="adam", random_state=0, max_iter=20,
                                 batch_size=100).fit(X, y)
    state = model.optimizer_state_
    assert set(state["state"]["0"]) == {"step", "exp_avg", "exp_avg_sq"}
    assert state["state"]["0"]["step"].dtype == np.float32
    assert set(state["param_groups"][0]) == set(
        torch.optim.Adam([torch.zeros(1, requires_grad=True)]).param_groups[0]
    )
    restored = pickle.loads(pickle.dumps(model))
    _continue(model, X, y)
    _continue(restored, X, y)
    np.testing.assert_array_equal(model.coef_, restored.coef_)
    assert float(model.optimizer_state_["state"]["0"]["step"]) == float(
        state["state"]["0"]["step"]) + 3 * 3  # three calls of 3 minibatches (100 rows)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        model.set_params(warm_start=True, max_iter=5).fit(X, y)
    assert np.all(np.isfinite(model.coef_))


_FRESH_PROCESS = """
import sys, warnings
import numpy as np
from sklearn_neuron import NeuronClassifier

warnings.simplefilter("ignore")
X = np.random.default_rng(0).random((200, 3))
y = (X[:, 0] > 0.5).astype(int)
for optimizer in ("sgd", "adam", "adamw", "rmsprop", "adagrad"):
    model = NeuronClassifier(optimizer=optimizer, max_iter=2).fit(X, y)
    model.partial_fit(X, y)
print(sorted(m for m in sys.modules if m.startswith(("torch._dynamo", "sympy"))))
"""


def test_a_named_minibatch_fit_does_not_import_the_compiler_stack():
    # Issue #37.6: the first minibatch fit of a process imported torch._dynamo
    # and sympy (torch.optim's constructor and step do); the named optimizers
    # import neither.
    run = subprocess.run([sys.executable, "-c", textwrap.dedent(_FRESH_PROCESS)],
                         capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stderr
    assert run.stdout.strip().splitlines()[-1] == "[]", run.stdout
