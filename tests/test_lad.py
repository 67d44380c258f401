"""The exact least-absolute-deviations solver (``_lad.py``).

Reference: QuantileRegressor(quantile=0.5, solver="highs"), whose objective
``mean_s(pinball_0.5) + a ||w||_1`` is half of NeuronRegressor's
``mean_s(|r|) + alpha * l1_ratio * ||w||_1`` at ``alpha = 2 a, l1_ratio = 1``.
Tolerance: ``1e-8 * max(1, max |coef|)`` on coefficients and intercept
(reached: ~1e-12; both are LP vertices). Without reference (the L2-smoothed
route): the HiGHS route and the basis exchange agree to 1e-8.
The data have an odd number of samples: with an even number, a strong L1
penalty leaves the intercept anywhere between two middle residuals (no
unique minimiser to compare).
"""

import numpy as np
import pytest
import scipy.sparse
import torch
from sklearn.datasets import make_regression
from sklearn.linear_model import QuantileRegressor

from sklearn_neuron import NeuronRegressor
from sklearn_neuron._solvers.lad import _simplex

RTOL = 1e-8


def _assert_close(neuron, ref):
    assert neuron.converged_
    scale = max(1.0, np.abs(ref.coef_).max())
    np.testing.assert_allclose(neuron.coef_, ref.coef_, rtol=0, atol=RTOL * scale)
    np.testing.assert_allclose(
        neuron.intercept_, ref.intercept_, rtol=0, atol=RTOL * max(1.0, abs(ref.intercept_))
    )


def _data(n=301, p=6, seed=0):
    X, y = make_regression(n, p, noise=10.0, random_state=seed)
    weight = np.random.default_rng(seed).uniform(0.2, 3.0, size=n).round(1)
    return X, y, weight


@pytest.mark.parametrize("weighted", [False, True])
@pytest.mark.parametrize("fit_intercept", [True, False])
@pytest.mark.parametrize("a", [0.0, 0.05, 1.0])
def test_l1_penalized_lad_is_quantile_regressor(weighted, fit_intercept, a):
    X, y, weight = _data()
    sample_weight = weight if weighted else None
    ref = QuantileRegressor(quantile=0.5, alpha=a, fit_intercept=fit_intercept, solver="highs")
    ref.fit(X, y, sample_weight=sample_weight)
    neuron = NeuronRegressor(
        "absolute_error", alpha=2 * a, l1_ratio=1.0, fit_intercept=fit_intercept
    ).fit(X, y, sample_weight=sample_weight)
    assert neuron.optimizer_ == "lad"
    _assert_close(neuron, ref)
    if a == 1.0:  # strong enough to zero some coefficients, as the reference does
        np.testing.assert_array_equal(neuron.coef_ == 0, np.abs(ref.coef_) < 1e-10)


def test_sparse_input_gives_the_dense_fit():
    X, y, weight = _data()
    X[np.abs(X) < 0.8] = 0.0
    dense = NeuronRegressor("absolute_error", alpha=0.0).fit(X, y, weight)
    sparse = NeuronRegressor("absolute_error", alpha=0.0).fit(
        scipy.sparse.csr_matrix(X), y, weight
    )
    np.testing.assert_allclose(sparse.coef_, dense.coef_, rtol=0, atol=1e-9)
    np.testing.assert_allclose(sparse.intercept_, dense.intercept_, rtol=0, atol=1e-9)


def test_zero_weights_drop_samples():
    X, y, weight = _data()
    weight[::3] = 0.0
    kept = weight > 0
    full = NeuronRegressor("absolute_error", alpha=0.0).fit(X, y, weight)
    subset = NeuronRegressor("absolute_error", alpha=0.0).fit(X[kept], y[kept], weight[kept])
    np.testing.assert_allclose(full.coef_, subset.coef_, rtol=0, atol=1e-9)


def test_highs_agrees_with_the_basis_exchange():
    # The two exact routes of the unpenalized problem reach the same vertex.
    X, y, _ = _data(n=400, p=5, seed=3)
    neuron = NeuronRegressor("absolute_error", alpha=0.0).fit(X, y)
    objective = neuron._build_objective(X, y, None, reset=False)
    start = torch.zeros(objective.n_params, dtype=torch.float64)
    theta, _, verified = _simplex(objective, start, max_iter=10_000)
    assert verified
    np.testing.assert_allclose(theta[:-1].numpy(), neuron.coef_, rtol=0, atol=1e-8)
    np.testing.assert_allclose(float(theta[-1]), neuron.intercept_, rtol=0, atol=1e-8)


def test_float32_is_solved_and_kept_in_float32():
    X, y, _ = _data()
    ref = QuantileRegressor(quantile=0.5, alpha=0.0, solver="highs").fit(X, y)
    neuron = NeuronRegressor("absolute_error", alpha=0.0).fit(X.astype(np.float32), y)
    assert neuron.coef_.dtype == np.float32
    np.testing.assert_allclose(neuron.coef_, ref.coef_, rtol=0, atol=1e-3 * np.abs(ref.coef_).max())


def test_elastic_net_is_refused_with_the_fix():
    X, y, _ = _data()
    with pytest.raises(ValueError, match="l1_ratio=0 or l1_ratio=1"):
        NeuronRegressor("absolute_error", alpha=0.1, l1_ratio=0.5).fit(X, y)
