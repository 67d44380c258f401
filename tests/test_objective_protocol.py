"""The declared objective interface and the penalty it composes.

``LinearObjective`` (dense and sparse) is an instance of the runtime-checkable
``Objective`` Protocol and has every declared member with the declared meaning;
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
from sklearn_neuron._objective.protocol import Objective
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


def test_objective_penalty_follows_its_strengths_and_old_names_delegate():
    objective = _objective(False, l2=0.1, l1=0.05)
    penalty = objective.penalty
    assert (penalty.l2, penalty.l1) == (0.1, 0.05)
    assert objective.penalty is penalty  # built once
    other = objective.with_penalty(0.3, 0.0)
    assert (other.penalty.l2, other.penalty.l1) == (0.3, 0.0)
    assert other.design is objective.design  # the data are shared
    assert objective.penalty is penalty  # the original keeps its own
    theta = torch.linspace(-1, 1, objective.n_params, dtype=torch.float64)
    torch.testing.assert_close(objective._l2_flat, penalty.l2_flat)
    torch.testing.assert_close(objective._l2_columns, penalty.l2_columns)
    torch.testing.assert_close(objective._penalty_hessian, penalty.hessian_block)
    torch.testing.assert_close(objective.l2_gradient(theta), penalty.gradient(theta))
    f, grad, _ = objective.value_gradient(theta)
    data_f, data_grad, _ = objective.with_penalty(0.0).value_gradient(theta)
    torch.testing.assert_close(f, data_f + penalty.value(theta))
    torch.testing.assert_close(grad, data_grad + penalty.gradient(theta))
    assert objective.full_value(theta) == pytest.approx(
        float(f) + penalty.l1_value(theta), rel=1e-14
    )
