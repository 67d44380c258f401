"""The declared objective interface and the penalty it composes.

``LinearObjective`` (dense and sparse) is an instance of the runtime-checkable
``RowObjective`` Protocol (and so of ``Objective``), ``DaskObjective`` of
``Objective`` and ``FirthObjective`` of ``PenalizedLikelihood``, each with every
declared member and the declared meaning; ``reduce_rows`` cuts a per-row array
to each part's rows; a Dask fit's constant model is the in-memory one (the
weighted median for Huber and the absolute error);
the ``Penalty`` object's value, gradient and Hessian equal autograd's on the
penalty term, the intercept is never penalized, and the softmax's free
directions are centred without changing a prediction.
"""

import typing

import numpy as np
import pytest
import scipy.sparse
import torch

from sklearn_neuron._loss.losses import BinaryLogLoss, MultinomialLogLoss, encode_classes
from sklearn_neuron._objective.linear import LinearObjective
from sklearn_neuron._objective.penalty import ParameterLayout, Penalty
from sklearn_neuron._objective.protocol import (
    Objective,
    PenalizedLikelihood,
    RowObjective,
)
from sklearn_neuron._solvers.firth import FirthObjective
from sklearn_neuron._validation import sparse_tensor


def _objective(sparse, n_classes=3, l2=0.1, l1=0.0, fit_intercept=True, offset=False):
    rng = np.random.default_rng(0)
    X = rng.standard_normal((300, 4)) * (rng.random((300, 4)) > 0.4)
    X_t = (
        sparse_tensor(scipy.sparse.csr_matrix(X), torch.device("cpu"), torch.float64)
        if sparse else torch.from_numpy(X)
    )
    loss = BinaryLogLoss() if n_classes == 2 else MultinomialLogLoss(n_classes)
    target = encode_classes(rng.integers(0, n_classes, 300), n_classes, torch.float64, X_t.device)
    weight = torch.from_numpy(rng.random(300) + 0.5)
    o = torch.from_numpy(rng.standard_normal((300, loss.n_outputs))) if offset else None
    return LinearObjective(X_t, target, weight, loss, l2, fit_intercept, l1=l1, offset=o)


@pytest.mark.parametrize("sparse", [False, True], ids=["dense", "sparse"])
def test_linear_objective_is_an_objective_with_every_declared_member(sparse):
    objective = _objective(sparse, offset=True)
    assert isinstance(objective, Objective)
    members = typing._get_protocol_attrs(Objective)
    assert {"reduce", "distributed", "reads_per_evaluation", "hessian_rows", "firth",
            "offset", "penalty"} <= members
    missing = [name for name in members if not hasattr(objective, name)]
    assert not missing
    # The capabilities, declared (no probing): data in memory, read once.
    assert objective.distributed is False
    assert objective.reads_per_evaluation == 0
    assert objective.firth is False
    assert objective.subsample_newton is None
    assert objective.hessian_rows == 300
    assert objective.is_sparse is sparse
    assert objective.offset.shape == (300, 3)
    assert isinstance(objective.penalty, Penalty)
    # Objects that are not objectives are refused by the same check.
    assert not isinstance(object(), Objective)


def test_reduce_is_the_function_on_the_whole_data():
    objective = _objective(False)

    def sums(part, scale):
        return (scale * part.weight.sum(), part.X.sum(dim=0), part.X.shape[0])

    total = objective.reduce(sums, 2.0)
    assert isinstance(total, tuple) and len(total) == 3
    torch.testing.assert_close(total[0], 2.0 * objective.weight.sum())
    torch.testing.assert_close(total[1], objective.X.sum(dim=0))
    assert total[2] == 300


@pytest.mark.parametrize("n_outputs", [1, 3])
@pytest.mark.parametrize("fit_intercept", [True, False])
def test_penalty_derivatives_equal_autograd(n_outputs, fit_intercept):
    layout = ParameterLayout(n_outputs, 4, fit_intercept, torch.float64, torch.device("cpu"))
    penalty = Penalty(layout, l2=0.7, l1=0.2, shift_invariant=n_outputs > 1)
    theta = torch.linspace(-1.5, 2.0, layout.n_params, dtype=torch.float64)
    value = penalty.value(theta)
    gradient = torch.autograd.functional.jacobian(penalty.value, theta)
    hessian = torch.autograd.functional.hessian(penalty.value, theta)
    coef, _ = layout.unpack(theta)
    torch.testing.assert_close(value, 0.35 * (coef**2).sum(), rtol=1e-14, atol=0)
    torch.testing.assert_close(penalty.gradient(theta), gradient, rtol=1e-14, atol=0)
    H = penalty.add_hessian(torch.zeros_like(hessian))
    torch.testing.assert_close(H, hessian, rtol=1e-14, atol=0)
    v = torch.cos(torch.arange(layout.n_params, dtype=torch.float64))
    torch.testing.assert_close(penalty.hessian_vector_product(v), hessian @ v)
    # Added to a data term's value and gradient, flat or (K, q).
    f, g = penalty.add_to(torch.tensor(1.0, dtype=torch.float64), torch.ones_like(theta), theta)
    torch.testing.assert_close(f, 1.0 + value)
    torch.testing.assert_close(g, 1.0 + gradient)
    torch.testing.assert_close(
        penalty.penalized_gradient(torch.ones_like(theta).view(n_outputs, -1), theta),
        1.0 + gradient,
    )
    gradient_ = torch.ones_like(theta)
    penalty.add_gradient_(gradient_, theta)
    torch.testing.assert_close(gradient_, 1.0 + gradient)
    # The intercepts are never penalized; the L1 term is l1 |W|_1.
    if fit_intercept:
        assert not gradient.view(n_outputs, -1)[:, -1].any()
        assert not penalty.l1_weights().view(n_outputs, -1)[:, -1].any()
    assert penalty.l1_value(theta) == pytest.approx(0.2 * float(coef.abs().sum()), rel=1e-14)
    none = penalty.with_strengths(0.0, 0.0)
    assert none.hessian_block is None and none.l1_weights() is None
    assert none.l1_value(theta) == 0.0
    assert none.add_hessian(hessian) is hessian


def test_layout_packs_and_unpacks():
    layout = ParameterLayout(3, 4, True, torch.float64, torch.device("cpu"))
    theta = torch.arange(15, dtype=torch.float64)
    coef, intercept = layout.unpack(theta)
    assert coef.shape == (3, 4) and intercept.tolist() == [4.0, 9.0, 14.0]
    torch.testing.assert_close(layout.pack(coef.numpy(), intercept.numpy()), theta)
    assert layout.zeros().shape == (15,) and not layout.zeros().any()


@pytest.mark.parametrize("l2, fit_intercept, free", [
    (0.0, True, "all"), (0.1, True, "intercept"), (0.1, False, None),
])
def test_null_space_centring_keeps_the_predictions(l2, fit_intercept, free):
    objective = _objective(False, l2=l2, fit_intercept=fit_intercept)
    mask = objective.penalty.null_mask()
    if free is None:
        assert mask is None
        return
    q = objective.n_params_per_output
    expected = torch.ones(q) if free == "all" else torch.eye(q)[-1]
    torch.testing.assert_close(mask, expected.to(torch.float64))
    theta = torch.linspace(-1, 1, objective.n_params, dtype=torch.float64)
    centred = objective.penalty.center(theta)
    W = centred.view(objective.n_outputs, q)
    assert torch.allclose((W * mask).sum(dim=0), torch.zeros(q, dtype=torch.float64),
                          atol=1e-14)
    torch.testing.assert_close(
        torch.softmax(objective.raw(centred), dim=1), torch.softmax(objective.raw(theta), dim=1)
    )
    # One output: no free direction.
    assert _objective(False, n_classes=2, l2=0.0).penalty.null_mask() is None


def test_objective_penalty_follows_its_strengths():
    objective = _objective(False, l2=0.1, l1=0.05)
    penalty = objective.penalty
    assert (penalty.l2, penalty.l1) == (0.1, 0.05)
    assert objective.penalty is penalty  # built once
    other = objective.with_penalty(0.3, 0.0)
    assert (other.penalty.l2, other.penalty.l1) == (0.3, 0.0)
    assert other.design is objective.design  # the data are shared
    assert objective.penalty is penalty  # the original keeps its own
    theta = torch.linspace(-1, 1, objective.n_params, dtype=torch.float64)
    # The former private delegations are gone: the penalty object is the one place.
    for old_name in ("_add_l2", "_penalized_gradient", "_l2_columns", "_l2_flat",
                     "_penalty_hessian"):
        assert not hasattr(objective, old_name)
    torch.testing.assert_close(objective.l2_gradient(theta), penalty.gradient(theta))
    f, grad, _ = objective.value_gradient(theta)
    data_f, data_grad, _ = objective.with_penalty(0.0).value_gradient(theta)
    torch.testing.assert_close(f, data_f + penalty.value(theta))
    torch.testing.assert_close(grad, data_grad + penalty.gradient(theta))
    assert objective.full_value(theta) == pytest.approx(
        float(f) + penalty.l1_value(theta), rel=1e-14
    )


def _members(protocol):
    return typing._get_protocol_attrs(protocol)


@pytest.mark.parametrize("sparse", [False, True], ids=["dense", "sparse"])
def test_linear_objective_is_a_row_objective(sparse):
    objective = _objective(sparse, offset=True)
    assert isinstance(objective, RowObjective) and isinstance(objective, Objective)
    members = _members(RowObjective)
    assert _members(Objective) < members
    assert {"X", "target", "weight", "design", "subset", "rows", "raw", "second_order",
            "with_penalty", "n_samples", "reduce_rows", "row_bounds"} <= members
    assert not [name for name in members if not hasattr(objective, name)]
    assert objective.n_samples == 300 and objective.row_bounds() is None
    assert isinstance(objective.with_penalty(0.0), RowObjective)
    assert isinstance(objective.subset(torch.arange(10)), RowObjective)


def _dask_pair(loss="log_loss", n=240, chunks=60, seed=0):
    """A classifier's (or regressor's) objective on dask arrays and in memory."""
    da = pytest.importorskip("dask.array")
    from sklearn_neuron import NeuronClassifier, NeuronRegressor

    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n, 3))
    w = rng.random(n) + 0.5
    if loss == "log_loss":
        y = (X @ [1.0, -1.0, 0.5] + rng.standard_normal(n) > 0).astype(int)
        estimator = NeuronClassifier(C=np.inf)
    else:
        # Skewed, negative, tied values and rows of no weight: the weighted
        # median is far from the weighted mean.
        y = np.round(X @ [1.0, -2.0, 0.5] - rng.exponential(4.0, n) ** 2, 1)
        w[::17] = 0.0
        estimator = NeuronRegressor(loss=loss, alpha=0.0)
    on_dask = estimator._build_objective(
        *(da.from_array(a, chunks=chunks) for a in (X, y, w)), reset=True
    )
    in_memory = estimator._build_objective(X, y, w, reset=True)
    return on_dask, in_memory


@pytest.fixture
def synchronous():
    dask = pytest.importorskip("dask")
    with dask.config.set(scheduler="synchronous"):
        yield


def test_dask_objective_is_an_objective_without_rows(synchronous):
    on_dask, in_memory = _dask_pair()
    assert isinstance(on_dask, Objective)
    assert not [name for name in _members(Objective) if not hasattr(on_dask, name)]
    # Its rows stay on the workers: it is no RowObjective.
    assert not isinstance(on_dask, RowObjective)
    assert on_dask.distributed and on_dask.n_samples == in_memory.n_samples == 240
    theta = in_memory.initial_theta()
    torch.testing.assert_close(on_dask.value(theta), in_memory.value(theta))


def _weighted_codes(part, n_codes, codes):
    # Each part's rows' weights summed by their code, with the rows counted.
    return np.bincount(codes, weights=part.weight.numpy(), minlength=n_codes), len(codes)


def test_reduce_rows_gives_each_part_its_rows(synchronous):
    on_dask, in_memory = _dask_pair()
    codes = np.arange(240) % 7
    expected = np.bincount(codes, weights=in_memory.weight.numpy(), minlength=7)
    memory_sums, n_rows = in_memory.reduce_rows(_weighted_codes, codes, 7)
    np.testing.assert_allclose(memory_sums, expected, rtol=1e-15)
    assert n_rows == 240
    # On dask each block of 60 rows receives its own 60 codes; the sums add up.
    dask_sums, n_rows = on_dask.reduce_rows(_weighted_codes, codes, 7)
    np.testing.assert_allclose(dask_sums, expected, rtol=1e-13)
    assert n_rows == 240
    for objective in (in_memory, on_dask):
        with pytest.raises(ValueError, match="239 values does not match the 240 rows"):
            objective.reduce_rows(_weighted_codes, codes[:-1], 7)


@pytest.mark.parametrize("storage", ["memory", "dask"])
def test_firth_objective_declares_what_it_offers(storage, synchronous):
    on_dask, in_memory = _dask_pair()
    wrapped = on_dask if storage == "dask" else in_memory
    firth = FirthObjective(wrapped)
    assert isinstance(firth, PenalizedLikelihood) and isinstance(firth, Objective)
    assert not [name for name in _members(PenalizedLikelihood) if not hasattr(firth, name)]
    assert firth.firth and firth.base is wrapped and firth.subsample_newton is None
    for name in ("n_samples", "n_params", "fit_intercept", "l2", "weight_sum", "dtype",
                 "distributed", "is_sparse", "hessian_rows", "reads_per_evaluation"):
        assert getattr(firth, name) == getattr(wrapped, name), name
    theta = in_memory.initial_theta()
    torch.testing.assert_close(firth.center(theta), wrapped.center(theta))
    # No longer a list of names read through: what the protocol does not
    # declare (minibatches, subsets, raw outputs, the Gram) is not offered.
    for name in ("subset", "rows", "raw", "second_order", "gram", "linear_gradient",
                 "curvature", "value_gradient_pointwise", "constant_terms"):
        assert not hasattr(firth, name), name
    # Its value is the penalised one: the plain value less log det I / (2 S).
    f, _, H, logdet = firth.penalized_terms(theta)
    torch.testing.assert_close(f, wrapped.value(theta) - logdet / (2 * wrapped.weight_sum))
    assert isinstance(firth.with_penalty(0.0, 0.0), FirthObjective)


@pytest.mark.parametrize("loss", ["huber", "absolute_error"])
def test_dask_constant_model_of_median_losses_equals_memory(loss, synchronous):
    # The best constant of these losses is a weighted median, which the Dask
    # objective used to take as the weighted mean (a start 40 units off here).
    on_dask, in_memory = _dask_pair(loss)
    torch.testing.assert_close(on_dask.null_raw(), in_memory.null_raw(), rtol=0, atol=0)
    torch.testing.assert_close(on_dask.initial_theta(), in_memory.initial_theta(),
                               rtol=0, atol=0)
    mean = float(in_memory.weight @ in_memory.target[:, 0])
    assert abs(float(in_memory.null_raw()[0]) - mean) > 10.0
