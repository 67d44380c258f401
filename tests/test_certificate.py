"""The Newton-step certificate: its Taylor-remainder bounds hold against the
objective evaluated at the step, for every loss that declares a constant."""

import math

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

import sklearn_neuron._solvers.certificate as certificate_module
from sklearn_neuron._loss.losses import (
    BinaryLogLoss,
    HalfPoissonLoss,
    HalfSquaredError,
    MultinomialLogLoss,
    encode_classes,
)
from sklearn_neuron._objective.linear import LinearObjective
from sklearn_neuron._solvers.certificate import certify_newton_step, row_bounds, taylor_remainders
from sklearn_neuron._solvers.optimizers import newton_direction

LOSSES = {
    "binary": (BinaryLogLoss, 2),
    "multinomial": (lambda: MultinomialLogLoss(3), 3),
    "squared_error": (HalfSquaredError, None),
}


def _objective(kind, n, p, seed, scale, l2, fit_intercept, weighted):
    rng = np.random.default_rng(seed)
    X = torch.as_tensor(rng.normal(size=(n, p)) * scale * rng.uniform(0.2, 2.0, size=p))
    make_loss, n_classes = LOSSES[kind]
    if n_classes is None:
        target = torch.as_tensor(rng.normal(size=(n, 1)) * 3.0)
    else:
        y_index = torch.as_tensor(rng.integers(0, n_classes, size=n))
        target = encode_classes(y_index, n_classes, torch.float64, torch.device("cpu"))
    weight = torch.as_tensor(rng.uniform(0, 3, size=n) if weighted else np.ones(n))
    return LinearObjective(X, target, weight, make_loss(), l2, fit_intercept), rng


@settings(max_examples=100, deadline=None)
@given(
    kind=st.sampled_from(sorted(LOSSES)),
    n=st.integers(1, 40),
    p=st.integers(1, 5),
    seed=st.integers(0, 2**32 - 1),
    scale=st.floats(0.01, 5.0),
    theta_scale=st.floats(0.0, 3.0),
    exponent=st.floats(1e-6, 1.0),
    l2=st.sampled_from([0.0, 0.1]),
    fit_intercept=st.booleans(),
    weighted=st.booleans(),
)
def test_remainder_bounds_hold_for_any_step(
    kind, n, p, seed, scale, theta_scale, exponent, l2, fit_intercept, weighted
):
    """For any data, point and step (``nu * s`` up to 1, where a step is
    certified), the gradient after the step is within the gradient bound of
    its linear model ``g + H d`` in every entry, and the objective within the
    value bound of its quadratic model."""
    objective, rng = _objective(kind, n, p, seed, scale, l2, fit_intercept, weighted)
    nu = objective.loss.self_concordance
    theta = torch.as_tensor(rng.normal(size=objective.n_params) * theta_scale)
    abs_max, l1_max = row_bounds(objective.X, fit_intercept)
    direction = torch.as_tensor(rng.normal(size=objective.n_params))
    direction *= exponent / (max(nu, 1.0) * l1_max * float(direction.abs().max()))
    f, g, _ = objective.value_gradient(theta)
    H = objective.hessian(theta)
    f_new, g_new, _ = objective.value_gradient(theta + direction)
    curvature = float(direction @ H @ direction)
    grad_bound, value_bound = taylor_remainders(nu, abs_max, l1_max, direction, curvature)
    rounding = 1e-13 * max(1.0, float(g.abs().max()), float(abs(f)))
    linear = g + H @ direction
    assert float((g_new - linear).abs().max()) <= grad_bound + rounding
    model = float(f) + float(g @ direction) + 0.5 * curvature
    # The values' rounding is relative to the larger of them (a long step on
    # tiny features reaches values far above f through the L2 term).
    value_rounding = max(rounding, 1e-13 * abs(float(f_new)))
    assert abs(float(f_new) - model) <= value_bound + value_rounding
    if kind == "squared_error":
        assert grad_bound == value_bound == 0.0  # an exact quadratic


def test_the_bounds_are_not_vacuous():
    """The bounds are within three orders of magnitude of the remainders they
    bound (a bound of 1e300 would pass the test above) on a long binary step
    (the gap: the largest |entry| for each row's own, and the rows' terms of
    either sign adding up)."""
    objective, rng = _objective("binary", 200, 3, 0, 1.0, 0.0, True, False)
    theta = torch.zeros(objective.n_params, dtype=torch.float64)
    abs_max, l1_max = row_bounds(objective.X, True)
    direction = torch.as_tensor(rng.normal(size=objective.n_params))
    direction *= 0.5 / (l1_max * float(direction.abs().max()))
    f, g, _ = objective.value_gradient(theta)
    H = objective.hessian(theta)
    _, g_new, _ = objective.value_gradient(theta + direction)
    curvature = float(direction @ H @ direction)
    grad_bound, _ = taylor_remainders(1.0, abs_max, l1_max, direction, curvature)
    remainder = float((g_new - g - H @ direction).abs().max())
    assert 0 < remainder <= grad_bound < 1000 * remainder


@pytest.mark.parametrize("kind", sorted(LOSSES))
def test_a_newton_step_near_the_optimum_is_certified_and_its_bound_holds(kind):
    """Near the optimum the Newton step's certificate holds: the gradient's
    largest entry after it is at most the certified bound, which is far
    below the gradient before it, and the objective is within its error of
    the model's value."""
    objective, _ = _objective(kind, 300, 4, 1, 1.0, 0.01, True, True)
    theta = objective.initial_theta()
    f, g, _ = objective.value_gradient(theta)
    # Newton steps, to near the optimum (squared error: one step is exact, from anywhere)
    while kind != "squared_error" and float(g.abs().max()) > 1e-4:
        theta = theta + newton_direction(objective, objective.hessian(theta), g)
        f, g, _ = objective.value_gradient(theta)
    assert float(g.abs().max()) > 1e-9
    H = objective.hessian(theta)
    direction = newton_direction(objective, H, g)
    bounds = row_bounds(objective.X, True)
    certificate = certify_newton_step(objective, theta, float(f), g, H, direction, bounds)
    assert certificate is not None
    f_new, g_new, _ = objective.value_gradient(theta + direction)
    assert float(g_new.abs().max()) <= certificate.grad_max < 1e-3 * float(g.abs().max())
    assert abs(float(f_new) - certificate.value) <= certificate.value_error + 1e-15


def test_no_certificate_without_a_constant_in_float32_or_for_a_long_step():
    objective, _ = _objective("binary", 50, 2, 2, 1.0, 0.0, True, False)
    theta = torch.zeros(objective.n_params, dtype=torch.float64)
    f, g, _ = objective.value_gradient(theta)
    H = objective.hessian(theta)
    bounds = row_bounds(objective.X, True)
    small = -1e-6 * g
    assert certify_newton_step(objective, theta, float(f), g, H, small, bounds) is not None
    assert certify_newton_step(objective, theta, float(f), g, H, small, None) is None
    single = [t.float() for t in (theta, g, H, small)]
    assert certify_newton_step(objective, single[0], float(f), *single[1:], bounds) is None
    long_step = g / float(g.abs().max()) * 2.0 / bounds[1]  # nu * s = 2
    assert certify_newton_step(objective, theta, float(f), g, H, long_step, bounds) is None
    poisson, _ = _objective("squared_error", 50, 2, 2, 1.0, 0.0, True, False)
    poisson.loss = HalfPoissonLoss()
    assert poisson.loss.self_concordance is None
    assert certify_newton_step(poisson, theta, float(f), g, H, small, bounds) is None
    nan_bounds = (math.nan, math.nan)
    assert certify_newton_step(objective, theta, float(f), g, H, small, nan_bounds) is None


@pytest.mark.parametrize("chunk_rows", [64, 1170, 8192])
@pytest.mark.parametrize("fit_intercept", [True, False])
def test_row_bounds_are_the_design_maxima_in_any_chunking(monkeypatch, fit_intercept, chunk_rows):
    """Chunks of 64 or 1170 rows of these 5000 (the last one shorter, its
    buffers' leading rows only), or one chunk of them all."""
    rng = np.random.default_rng(3)
    X = rng.normal(size=(5000, 7)) * rng.uniform(0.1, 10, size=7)
    X[-1] = 100 * np.sign(X[-1])  # the largest row last, in the last (shortest) chunk
    design = np.hstack([X, np.ones((5000, 1))]) if fit_intercept else X
    monkeypatch.setattr(certificate_module, "_CHUNK_ROWS", chunk_rows)
    expected = (np.abs(design).max(), np.abs(design).sum(axis=1).max())
    np.testing.assert_allclose(row_bounds(torch.as_tensor(X), fit_intercept), expected, rtol=1e-15)
    X[4517, 3] = np.nan  # in a later chunk than the first
    assert all(math.isnan(b) for b in row_bounds(torch.as_tensor(X), fit_intercept))
    assert row_bounds(torch.zeros((0, 3), dtype=torch.float64), fit_intercept) == (0.0, 0.0)
