"""NeuronRegressor: parity with scikit-learn's regressors, alpha mapping, bad targets.

References (``tol=1e-10``): Ridge / LinearRegression (squared_error),
PoissonRegressor, GammaRegressor, TweedieRegressor(power=1.5, link="log"),
all GLMs with ``solver="newton-cholesky"``; QuantileRegressor(quantile=0.5,
alpha=0, solver="highs") for absolute_error. Tolerances:

- smooth losses, both full-batch optimizers: ``max |coef diff| <= 1e-5 *
  max(1, max |coef|)`` and the same for the intercept (reached: ~1e-9);
- absolute_error (small data, exact LAD solver): ``1e-8`` (reached: ~1e-13).
"""

import pickle

import numpy as np
import pytest
import torch
from sklearn.datasets import load_diabetes, make_regression
from sklearn.exceptions import ConvergenceWarning
from sklearn.linear_model import (
    GammaRegressor,
    HuberRegressor,
    LinearRegression,
    PoissonRegressor,
    QuantileRegressor,
    Ridge,
    TweedieRegressor,
)
from sklearn.preprocessing import StandardScaler

from sklearn_neuron import NeuronModule, NeuronRegressor

COEF_RTOL = 1e-5
FIT = dict(tol=1e-10, max_iter=1000)
GLM = dict(solver="newton-cholesky", tol=1e-10, max_iter=1000)


def _diabetes():
    X, y = load_diabetes(return_X_y=True)
    return StandardScaler().fit_transform(X), y


def _weights(n, seed=0):
    return np.random.default_rng(seed).uniform(0.2, 3.0, size=n).round(1)


def _assert_same_fit(neuron, ref, rtol=COEF_RTOL):
    assert neuron.converged_
    scale = max(1.0, np.abs(ref.coef_).max())
    np.testing.assert_allclose(neuron.coef_, ref.coef_, rtol=0, atol=rtol * scale)
    np.testing.assert_allclose(
        neuron.intercept_, ref.intercept_, rtol=0,
        atol=rtol * max(1.0, abs(ref.intercept_)),
    )


def _tweedie_1_5(**kwargs):
    return TweedieRegressor(power=1.5, link="log", **kwargs)


GLM_CASES = [
    ("poisson", {}, PoissonRegressor),
    ("gamma", {}, GammaRegressor),
    ("tweedie", {"power": 1.5}, _tweedie_1_5),
]


@pytest.mark.parametrize("optimizer", ["newton", "lbfgs"])
@pytest.mark.parametrize("alpha", [0.0, 0.01, 1.0])
@pytest.mark.parametrize("weighted", [False, True])
@pytest.mark.parametrize("fit_intercept", [True, False])
@pytest.mark.parametrize("loss, params, reference", GLM_CASES, ids=lambda c: str(c)[:8])
def test_glm_parity(loss, params, reference, optimizer, alpha, weighted, fit_intercept):
    X, y = _diabetes()
    sample_weight = _weights(len(y)) if weighted else None
    ref = reference(alpha=alpha, fit_intercept=fit_intercept, **GLM)
    ref.fit(X, y, sample_weight=sample_weight)
    neuron = NeuronRegressor(
        loss, optimizer=optimizer, alpha=alpha, fit_intercept=fit_intercept,
        **params, **FIT,
    ).fit(X, y, sample_weight=sample_weight)
    _assert_same_fit(neuron, ref)
    np.testing.assert_allclose(neuron.predict(X), ref.predict(X), rtol=1e-6)


@pytest.mark.parametrize("optimizer", ["newton", "lbfgs"])
@pytest.mark.parametrize("weighted", [False, True])
@pytest.mark.parametrize("fit_intercept", [True, False])
def test_squared_error_is_linear_regression(optimizer, weighted, fit_intercept):
    X, y = _diabetes()
    sample_weight = _weights(len(y)) if weighted else None
    ref = LinearRegression(fit_intercept=fit_intercept).fit(X, y, sample_weight)
    neuron = NeuronRegressor(
        optimizer=optimizer, alpha=0.0, fit_intercept=fit_intercept, **FIT
    ).fit(X, y, sample_weight=sample_weight)
    _assert_same_fit(neuron, ref)


@pytest.mark.parametrize("optimizer", ["newton", "lbfgs"])
@pytest.mark.parametrize("alpha", [1e-3, 0.1, 1.0])
@pytest.mark.parametrize("weighted", [False, True])
def test_alpha_maps_to_ridge_alpha_times_sum_of_weights(optimizer, alpha, weighted):
    # The docstring's mapping: alpha_ridge = S * alpha, S = sum(sample_weight).
    X, y = _diabetes()
    sample_weight = _weights(len(y)) if weighted else np.ones(len(y))
    ridge = Ridge(alpha=alpha * sample_weight.sum(), solver="cholesky")
    ridge.fit(X, y, sample_weight=sample_weight)
    neuron = NeuronRegressor(optimizer=optimizer, alpha=alpha, **FIT)
    neuron.fit(X, y, sample_weight=None if not weighted else sample_weight)
    _assert_same_fit(neuron, ridge)


@pytest.mark.parametrize(
    "data", ["diabetes", "synthetic"],
)
@pytest.mark.parametrize("weighted", [False, True])
def test_absolute_error_is_median_regression(data, weighted):
    if data == "diabetes":
        X, y = _diabetes()
    else:
        X, y = make_regression(200, 5, noise=10.0, random_state=0)
    sample_weight = _weights(len(y)) if weighted else None
    ref = QuantileRegressor(quantile=0.5, alpha=0.0, solver="highs")
    ref.fit(X, y, sample_weight=sample_weight)
    neuron = NeuronRegressor("absolute_error", alpha=0.0).fit(X, y, sample_weight)
    assert neuron.optimizer_ == "lad"
    _assert_same_fit(neuron, ref, rtol=1e-8)


def test_penalized_absolute_error_meets_its_optimality_conditions():
    X, y = _diabetes()
    neuron = NeuronRegressor("absolute_error", alpha=0.1).fit(X, y)
    assert neuron.converged_
    # No direction decreases the objective: compare with nearby points.
    theta = np.r_[neuron.coef_, neuron.intercept_]
    rng = np.random.default_rng(0)

    def objective(t):
        return np.abs(X @ t[:-1] + t[-1] - y).mean() + 0.05 * t[:-1] @ t[:-1]

    best = objective(theta)
    for _ in range(200):
        assert objective(theta + 1e-4 * rng.standard_normal(theta.size)) >= best


def test_huber_matches_huber_regressor_at_its_scale():
    # HuberRegressor minimises sum_i sigma H_eps(r_i / sigma) + alpha_h ||w||^2
    # jointly in sigma; at its sigma that is n / sigma times our objective with
    # threshold eps * sigma and alpha = alpha_h * sigma / n * 2 / 2.
    X, y = make_regression(300, 4, noise=5.0, random_state=0)
    y[::15] += 200.0  # outliers
    ref = HuberRegressor(epsilon=1.35, alpha=1e-3, tol=1e-12, max_iter=10_000).fit(X, y)
    neuron = NeuronRegressor(
        "huber", epsilon=1.35 * ref.scale_, alpha=2e-3 * ref.scale_ / len(y), **FIT
    ).fit(X, y)
    _assert_same_fit(neuron, ref, rtol=1e-4)


# -- bad input -------------------------------------------------------------------
@pytest.mark.parametrize(
    "loss, params, y_bad, message",
    [
        ("poisson", {}, -1.0, "loss='poisson' requires y >= 0"),
        ("gamma", {}, 0.0, "loss='gamma' requires y > 0"),
        ("tweedie", {"power": 1.5}, -1.0, "'tweedie' requires y >= 0 for power=1.5"),
        ("tweedie", {"power": 2}, 0.0, "loss='tweedie' requires y > 0 for power=2"),
        ("tweedie", {"power": 3}, 0.0, "loss='tweedie' requires y > 0 for power=3"),
    ],
)
def test_bad_targets_name_loss_and_rule(loss, params, y_bad, message):
    X, y = _diabetes()
    y = y.copy()
    y[7] = y_bad
    model = NeuronRegressor(loss, **params)
    with pytest.raises(ValueError, match=message):
        model.fit(X, y)
    assert not hasattr(model, "coef_")


def test_tweedie_power_between_0_and_1_is_refused():
    X, y = _diabetes()
    with pytest.raises(ValueError, match="power"):
        NeuronRegressor("tweedie", power=0.5).fit(X, y)


def test_tweedie_power_0_accepts_negative_targets():
    X, y = _diabetes()
    model = NeuronRegressor("tweedie", power=0, **FIT).fit(X, y - y.mean() + 1)
    assert model.converged_


@pytest.mark.parametrize("power", [0, -1.0, 1.5, 3])
def test_tweedie_loss_is_half_sklearn_tweedie_deviance(power):
    from sklearn.metrics import mean_tweedie_deviance

    from sklearn_neuron._loss.losses import HalfTweedieLoss

    rng = np.random.default_rng(0)
    raw = rng.normal(size=(50, 1))
    y = rng.gamma(2.0, 1.0, size=(50, 1))
    if power <= 0:
        y = y - 1.0  # negative targets too: y^2 / 2 at power 0, not max(y, 0)^2 / 2
    value = HalfTweedieLoss(power).value(torch.from_numpy(raw), torch.from_numpy(y))
    expected = [
        mean_tweedie_deviance(y[i], np.exp(raw[i]), power=power) / 2 for i in range(50)
    ]
    np.testing.assert_allclose(value.numpy(), expected, rtol=1e-12, atol=1e-12)


def test_newton_refuses_absolute_error():
    X, y = _diabetes()
    with pytest.raises(ValueError, match="optimizer='newton' needs a twice-diff"):
        NeuronRegressor("absolute_error", optimizer="newton").fit(X, y)


def test_lbfgs_on_absolute_error_warns_that_it_stalls():
    X, y = _diabetes()
    with pytest.warns(ConvergenceWarning):
        NeuronRegressor("absolute_error", optimizer="lbfgs", alpha=0).fit(X, y)


# -- callable loss, fitted state, persistence --------------------------------------
def test_callable_loss_matches_squared_error():
    X, y = _diabetes()
    mse = torch.nn.MSELoss(reduction="none")
    builtin = NeuronRegressor(alpha=0.01, **FIT).fit(X, y)
    # MSELoss is twice the half squared error: halve alpha's relative weight.
    custom = NeuronRegressor(mse, alpha=0.02, tol=1e-8, max_iter=1000).fit(X, y)
    np.testing.assert_allclose(custom.coef_, builtin.coef_, rtol=0, atol=1e-5)
    assert custom.optimizer_ == "lbfgs"


LOSSES = ["squared_error", "poisson", "gamma", "tweedie", "huber", "absolute_error"]


@pytest.mark.parametrize("loss", LOSSES)
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_fitted_state_shapes_and_dtypes(loss, dtype):
    X, y = _diabetes()
    X = X.astype(dtype)
    model = NeuronRegressor(loss).fit(X, y)
    assert model.coef_.shape == (X.shape[1],) and model.coef_.dtype == dtype
    assert isinstance(model.intercept_, float)
    prediction = model.predict(X[:5])
    assert prediction.shape == (5,) and prediction.dtype == dtype
    assert isinstance(model.module_, NeuronModule)
    expected = "exp" if loss in ("poisson", "gamma", "tweedie") else "identity"
    assert model.module_.activation_name == expected
    with torch.no_grad():
        mean = model.module_.predict_mean(torch.from_numpy(X[:5]))[:, 0].numpy()
    np.testing.assert_allclose(mean, prediction, rtol=1e-5)
    if model.optimizer_ != "lad":  # the LAD solver records one value per stage
        assert model.objective_curve_.shape == (model.n_iter_ + 1,)


def test_no_intercept_gives_zero_float():
    X, y = _diabetes()
    model = NeuronRegressor("poisson", fit_intercept=False).fit(X, y)
    assert model.intercept_ == 0.0 and isinstance(model.intercept_, float)


@pytest.mark.parametrize("loss", ["squared_error", "poisson", "absolute_error"])
def test_pickle_round_trip(loss):
    X, y = _diabetes()
    model = NeuronRegressor(loss).fit(X, y)
    clone = pickle.loads(pickle.dumps(model))
    np.testing.assert_array_equal(clone.predict(X), model.predict(X))


def test_warm_start_starts_at_the_previous_fit():
    X, y = _diabetes()
    model = NeuronRegressor("gamma", warm_start=True, **FIT).fit(X, y)
    model.fit(X, y)
    assert model.n_iter_ <= 2  # a step from the optimum, then the final Newton step
