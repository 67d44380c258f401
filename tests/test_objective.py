"""Numerics on their own: the objective's derivatives, the optimizers, the losses."""

import math

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from sklearn_neuron._loss.losses import BinaryLogLoss, MultinomialLogLoss, encode_classes
from sklearn_neuron._objective.linear import LinearObjective
from sklearn_neuron._solvers.optimizers import _quasi_newton_direction, lbfgs, newton


def make_objective(
    n_samples, n_features, n_classes, l2, fit_intercept, seed=0, dtype=torch.float64
):
    generator = torch.Generator().manual_seed(seed)
    X = torch.randn(n_samples, n_features, generator=generator, dtype=dtype)
    y = torch.randint(0, n_classes, (n_samples,), generator=generator)
    y[:n_classes] = torch.arange(n_classes)
    weight = torch.rand(n_samples, generator=generator, dtype=dtype) + 0.1
    loss = BinaryLogLoss() if n_classes == 2 else MultinomialLogLoss(n_classes)
    target = encode_classes(y.numpy(), n_classes, dtype, X.device)
    return LinearObjective(X, target, weight, loss, l2, fit_intercept)


OBJECTIVES = [
    pytest.param(2, 0.0, True, id="binary"),
    pytest.param(2, 0.3, False, id="binary-l2-no-intercept"),
    pytest.param(4, 0.0, False, id="multinomial"),
    pytest.param(4, 0.2, True, id="multinomial-l2"),
]


@pytest.mark.parametrize("n_classes, l2, fit_intercept", OBJECTIVES)
def test_gradient_and_hessian_match_autograd(n_classes, l2, fit_intercept):
    objective = make_objective(50, 3, n_classes, l2, fit_intercept)
    theta = torch.randn(objective.n_params, dtype=torch.float64) * 0.5
    f, grad, raw = objective.value_gradient(theta)
    auto_grad = torch.autograd.functional.jacobian(objective.value, theta)
    auto_hessian = torch.autograd.functional.hessian(objective.value, theta)
    torch.testing.assert_close(f, objective.value(theta), rtol=1e-14, atol=0)
    torch.testing.assert_close(grad, auto_grad, rtol=1e-10, atol=1e-12)
    torch.testing.assert_close(
        objective.hessian(theta, raw), auto_hessian, rtol=1e-10, atol=1e-12
    )


def test_hessian_is_accumulated_correctly_over_chunks():
    # 5,000 rows in chunks of 1,024 (the chunk length follows the width; set
    # short here): the chunked path, over several chunks.
    objective = make_objective(5_000, 4, 3, 0.1, True)
    assert objective.design.augmented is None
    objective.design.gram_chunk_rows = 1024
    theta = torch.randn(objective.n_params, dtype=torch.float64)
    _, _, raw = objective.value_gradient(theta)
    auto_hessian = torch.autograd.functional.hessian(objective.value, theta)
    torch.testing.assert_close(
        objective.hessian(theta, raw), auto_hessian, rtol=1e-10, atol=1e-12
    )


@pytest.mark.parametrize("layout", ["row-major", "column-major"])
@pytest.mark.parametrize("n_classes", [2, 3])
def test_raw_output_is_the_linear_layer_in_either_layout(n_classes, layout):
    # Large row-major X takes a chunked elementwise path; both must give X W^T + b.
    objective = make_objective(5_000, 6, n_classes, 0.0, True)
    if layout == "column-major":
        objective = LinearObjective(
            objective.X.T.contiguous().T, objective.target, objective.weight, objective.loss,
            0.0, True,
        )
        assert not objective.X.is_contiguous()
    theta = torch.randn(objective.n_params, dtype=torch.float64)
    coef, intercept = objective.unpack(theta)
    expected = objective.X @ coef.T + intercept
    torch.testing.assert_close(objective.raw(theta), expected, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("n_samples", [50, 5_000], ids=["one-chunk", "chunked"])
@pytest.mark.parametrize("n_classes, l2, fit_intercept", OBJECTIVES)
def test_second_order_pass_equals_separate_passes(n_classes, l2, fit_intercept, n_samples):
    # One pass over the rows for raw output, gradient and Hessian (inference)
    # must give what the three separate calls give, to rounding (1e-12).
    objective = make_objective(n_samples, 4, n_classes, l2, fit_intercept)
    theta = torch.randn(objective.n_params, dtype=torch.float64) * 0.5
    _, grad, _ = objective.value_gradient(theta)
    raw = objective.raw(theta)
    raw_once, grad_once, hessian_once, weighted = objective.second_order(theta)
    torch.testing.assert_close(raw_once, raw, rtol=1e-12, atol=1e-12)
    torch.testing.assert_close(grad_once, grad, rtol=1e-12, atol=1e-12)
    torch.testing.assert_close(
        hessian_once, objective.hessian(theta, raw), rtol=1e-12, atol=1e-12
    )
    pointwise_hessian = objective.loss.hessian(raw, objective.target)
    torch.testing.assert_close(weighted, pointwise_hessian * objective.weight.view(-1, 1, 1))
    # A replaced pointwise Hessian (inference's expected information), here
    # with negative entries, which the sqrt(c) form of the Gram matrix skips.
    def pointwise(raw, target):
        return torch.cos(raw).unsqueeze(-1) * torch.ones_like(raw).unsqueeze(1)

    _, _, replaced, _ = objective.second_order(theta, pointwise)
    expected = objective.hessian(theta, raw, pointwise=pointwise(raw, objective.target))
    torch.testing.assert_close(replaced, expected, rtol=1e-12, atol=1e-12)
    assert objective.abs_max() == float(objective.X.abs().max())


@pytest.mark.parametrize("n_classes, l2, fit_intercept", OBJECTIVES)
@pytest.mark.parametrize("n_samples", [300, 20_000])  # whole, and the fused pass by chunks
def test_value_gradient_pointwise_is_value_gradient_and_the_loss_gradient(
    n_classes, l2, fit_intercept, n_samples
):
    # Minibatch SVRG's snapshot: the objective, its gradient and each row's
    # loss gradient in its raw output, in one pass where the fused pass runs.
    objective = make_objective(n_samples, 6, n_classes, l2, fit_intercept)
    assert bool(objective.design.fused_chunk_rows) == (n_samples > 10_000)
    theta = torch.randn(objective.n_params, dtype=torch.float64) * 0.5
    f, grad, grad_raw = objective.value_gradient_pointwise(theta)
    f_ref, grad_ref, _ = objective.value_gradient(theta)
    torch.testing.assert_close(f, f_ref, rtol=1e-12, atol=1e-12)
    torch.testing.assert_close(grad, grad_ref, rtol=1e-12, atol=1e-12)
    _, expected = objective.loss.value_gradient(objective.raw(theta), objective.target)
    torch.testing.assert_close(grad_raw, expected, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("n_classes, l2, fit_intercept", OBJECTIVES)
@pytest.mark.parametrize("n_samples", [300, 40_000])  # two calls, and the one fused pass
@pytest.mark.parametrize("dtype", [torch.float64, torch.float32])
def test_value_gradient_hessian_is_value_gradient_and_hessian(
    n_classes, l2, fit_intercept, n_samples, dtype
):
    # Newton's evaluation on dask blocks: value, gradient and Hessian in one
    # call (one pass over a large float64 X), as the two calls give them.
    objective = make_objective(n_samples, 6, n_classes, l2, fit_intercept, dtype=dtype)
    assert bool(objective.design.fused_chunk_rows) == (n_samples > 10_000)
    theta = (torch.randn(objective.n_params, dtype=torch.float64) * 0.5).to(dtype)
    f, grad, raw, H = objective.value_gradient_hessian(theta)
    assert raw is None
    f_ref, grad_ref, raw_ref = objective.value_gradient(theta)
    H_ref = objective.hessian(theta, raw_ref)
    tol = 1e-12 if dtype == torch.float64 else 1e-5
    assert f.dtype == grad.dtype == H.dtype == dtype
    torch.testing.assert_close(f, f_ref, rtol=tol, atol=tol)
    torch.testing.assert_close(grad, grad_ref, rtol=tol, atol=tol)
    torch.testing.assert_close(H, H_ref, rtol=tol, atol=tol)


def test_abs_max_sees_nan():
    # (second_order in either layout, in one thread or several: test_gram.py)
    objective = make_objective(5_000, 4, 2, 0.1, True)
    assert objective.abs_max() == float(objective.X.abs().max())
    objective.X[7, 2] = float("nan")
    objective.design._abs_max = None  # (read once and kept)
    assert math.isnan(objective.abs_max())


@pytest.mark.parametrize("n_classes, l2, fit_intercept", OBJECTIVES)
def test_newton_and_lbfgs_reach_a_stationary_point(n_classes, l2, fit_intercept):
    objective = make_objective(200, 3, n_classes, l2, fit_intercept, seed=3)
    results = [
        optimizer(objective, objective.initial_theta(), tol=1e-10, max_iter=500)
        for optimizer in (newton, lbfgs)
    ]
    for result in results:
        assert result.converged
        _, grad, _ = objective.value_gradient(result.theta)
        assert float(grad.abs().max()) <= 1e-10
    probas = [objective.loss.activation(objective.raw(r.theta)) for r in results]
    torch.testing.assert_close(probas[0], probas[1], rtol=0, atol=1e-8)


def test_center_keeps_probabilities_and_sums_to_zero():
    objective = make_objective(30, 2, 3, 0.0, True)
    theta = torch.randn(objective.n_params, dtype=torch.float64)
    centered = objective.center(theta)
    torch.testing.assert_close(
        torch.softmax(objective.raw(theta), 1),
        torch.softmax(objective.raw(centered), 1),
    )
    torch.testing.assert_close(
        centered.view(3, -1).sum(0),
        torch.zeros(3, dtype=torch.float64),
        rtol=0,
        atol=1e-12,
    )


def _two_loop_reference(g, s_hist, y_hist):
    q = g.clone()
    alphas = []
    for s, y in zip(reversed(s_hist), reversed(y_hist), strict=True):
        alpha = torch.dot(s, q) / torch.dot(s, y)
        alphas.append(alpha)
        q -= alpha * y
    q *= torch.dot(s_hist[-1], y_hist[-1]) / torch.dot(y_hist[-1], y_hist[-1])
    for s, y, alpha in zip(s_hist, y_hist, reversed(alphas), strict=True):
        beta = torch.dot(y, q) / torch.dot(s, y)
        q += (alpha - beta) * s
    return -q


@settings(max_examples=30, deadline=None)
@given(st.integers(1, 10), st.integers(2, 30), st.integers(0, 2**31 - 1))
def test_compact_lbfgs_direction_equals_two_loop_recursion(m, d, seed):
    generator = torch.Generator().manual_seed(seed)
    A = torch.randn(d, d, generator=generator, dtype=torch.float64)
    hessian = A @ A.T + d * torch.eye(d, dtype=torch.float64)  # positive definite
    s_hist = [
        torch.randn(d, generator=generator, dtype=torch.float64) for _ in range(m)
    ]
    y_hist = [hessian @ s for s in s_hist]  # curvature pairs of a quadratic
    g = torch.randn(d, generator=generator, dtype=torch.float64)
    torch.testing.assert_close(
        _quasi_newton_direction(g, s_hist, y_hist),
        _two_loop_reference(g, s_hist, y_hist),
        rtol=1e-8,
        atol=1e-10,
    )


@settings(max_examples=25, deadline=None)
@given(
    n_samples=st.integers(20, 120),
    n_features=st.integers(1, 5),
    n_classes=st.integers(2, 4),
    log_l2=st.floats(-4, 0),
    seed=st.integers(0, 2**31 - 1),
)
def test_optimizers_agree_on_random_penalized_problems(
    n_samples, n_features, n_classes, log_l2, seed
):
    # The penalized problem is strictly convex: one optimum, whichever optimizer.
    objective = make_objective(
        n_samples, n_features, n_classes, 10.0**log_l2, True, seed=seed
    )
    a = newton(objective, objective.initial_theta(), tol=1e-10, max_iter=200)
    b = lbfgs(objective, objective.initial_theta(), tol=1e-10, max_iter=5000)
    assert a.converged and b.converged
    torch.testing.assert_close(
        objective.center(a.theta), objective.center(b.theta), rtol=0, atol=1e-6
    )
    assert abs(a.objective_curve[-1] - b.objective_curve[-1]) <= 1e-12


def test_losses_match_their_definitions():
    raw = torch.tensor([[-3.0], [0.0], [20.0]], dtype=torch.float64)
    target = torch.tensor([[1.0], [0.0], [1.0]], dtype=torch.float64)
    value, grad = BinaryLogLoss().value_gradient(raw, target)
    p = torch.sigmoid(raw)
    expected = -(target * torch.log(p) + (1 - target) * torch.log1p(-p)).squeeze(1)
    torch.testing.assert_close(value, expected)
    torch.testing.assert_close(grad, p - target)
    raw = torch.randn(6, 3, dtype=torch.float64)
    target = torch.nn.functional.one_hot(torch.tensor([0, 1, 2, 2, 1, 0]), 3).double()
    value, grad = MultinomialLogLoss(3).value_gradient(raw, target)
    torch.testing.assert_close(
        value,
        torch.nn.functional.cross_entropy(raw, target.argmax(1), reduction="none"),
    )
    torch.testing.assert_close(grad, torch.softmax(raw, 1) - target)


def test_float32_objective_stays_float32():
    objective = make_objective(40, 3, 3, 0.1, True, dtype=torch.float32)
    result = lbfgs(objective, objective.initial_theta(), tol=1e-4, max_iter=200)
    assert result.theta.dtype == torch.float32 and result.converged
    assert np.isfinite(result.objective_curve).all()


def test_gram_chunks_follow_the_width_and_the_mmap_threshold(monkeypatch):
    # Narrow data get long chunks (the per-chunk calls dominate there); where
    # glibc's mmap threshold is fixed (dask's workers), a chunk's n_outputs^2
    # curvature temporaries stay within 64 KB, and never below 2,048 rows.
    # (A dask cluster started earlier in the session may have set the
    # variables in this process, so clear them first.)
    for name in ("MALLOC_TRIM_THRESHOLD_", "MALLOC_MMAP_THRESHOLD_"):
        monkeypatch.delenv(name, raising=False)
    assert make_objective(20_000, 19, 2, 0.1, True).design.gram_chunk_rows == (1 << 18) // 20
    assert make_objective(20_000, 500, 2, 0.1, True).design.gram_chunk_rows == 2048
    monkeypatch.setenv("MALLOC_TRIM_THRESHOLD_", "65536")
    assert make_objective(20_000, 19, 2, 0.1, True).design.gram_chunk_rows == 8192
    assert make_objective(20_000, 19, 3, 0.1, True).design.gram_chunk_rows == 2048
