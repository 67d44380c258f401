"""Inference of NeuronRegressor against statsmodels' GLM (default IRLS fit)."""

import warnings

import numpy as np
import pytest
from sklearn.datasets import load_diabetes

from sklearn_neuron import NeuronRegressor
from sklearn_neuron._inference import PenalizedInferenceWarning

sm = pytest.importorskip("statsmodels.api")


def _generated(loss):
    """A positive target from a known GLM with log link, fixed seed."""
    rng = np.random.default_rng(0)
    X = rng.normal(size=(300, 3))
    mu = np.exp(0.5 + X @ np.array([0.3, -0.2, 0.1]))
    if loss == "poisson":
        return X, rng.poisson(mu).astype(float)
    return X, rng.gamma(2.0, mu / 2.0)  # shape 2: dispersion 0.5


def _case(loss):
    if loss == "squared_error":
        X, y = load_diabetes(return_X_y=True)
        return X, y, sm.families.Gaussian()
    X, y = _generated(loss)
    if loss == "poisson":
        return X, y, sm.families.Poisson()
    return X, y, sm.families.Gamma(sm.families.links.Log())


@pytest.mark.parametrize("weighted", [False, True], ids=["unweighted", "freq_weights"])
@pytest.mark.parametrize("loss", ["squared_error", "poisson", "gamma"])
def test_matches_statsmodels_glm(loss, weighted):
    X, y, family = _case(loss)
    w = (
        np.random.default_rng(1).integers(1, 4, size=y.size).astype(float)
        if weighted
        else None
    )
    model = NeuronRegressor(loss, alpha=0, optimizer="newton", tol=1e-10)
    res = model.fit(X, y, sample_weight=w).inference(X, y, sample_weight=w)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ref = sm.GLM(y, sm.add_constant(X), family=family, freq_weights=w).fit()

    assert res.param_names == ["const"] + [f"x{j}" for j in range(X.shape[1])]
    np.testing.assert_allclose(res.params, ref.params, rtol=0, atol=1e-6)
    np.testing.assert_allclose(res.bse, ref.bse, rtol=1e-5)
    np.testing.assert_allclose(res.pvalues, ref.pvalues, rtol=1e-5, atol=1e-10)
    np.testing.assert_allclose(res.conf_int(), ref.conf_int(), rtol=1e-5, atol=1e-6)
    cov = ref.cov_params()
    # Relative to the matrix: diabetes' centred features make some entries ~0.
    atol = 1e-8 * np.abs(cov).max()
    np.testing.assert_allclose(res.cov_params, cov, rtol=1e-5, atol=atol)
    assert res.scale == pytest.approx(ref.scale, rel=1e-7)
    assert res.nobs == pytest.approx(ref.model.wnobs)
    assert res.df_resid == pytest.approx(ref.df_resid)
    assert res.df_model == pytest.approx(ref.df_model)
    for name in ("llf", "llnull", "deviance", "null_deviance", "aic"):
        assert getattr(res, name) == pytest.approx(getattr(ref, name), rel=1e-8), name
    # statsmodels 0.15's GLMResults.bic is bic_llf: -2 llf + k log(nobs).
    assert res.bic == pytest.approx(ref.bic_llf, rel=1e-8)


def test_scale_is_one_for_poisson_and_estimated_for_gamma():
    X, y = _generated("poisson")
    reg = NeuronRegressor("poisson", alpha=0, optimizer="newton", tol=1e-10).fit(X, y)
    assert reg.inference(X, y).scale == 1.0
    X, y = _generated("gamma")
    reg = NeuronRegressor("gamma", alpha=0, optimizer="newton", tol=1e-10).fit(X, y)
    assert reg.inference(X, y).scale == pytest.approx(0.5, rel=0.25)


def test_summary_smoke():
    X, y = load_diabetes(return_X_y=True, as_frame=True)
    reg = NeuronRegressor(alpha=0, optimizer="newton", tol=1e-10).fit(X, y)
    summary = reg.summary(X, y)
    text = str(summary)
    assert "GLM Gaussian, identity link" in text
    assert "bmi" in text and "const" in text
    assert summary.frame.index[0] == "const"
    assert "Log-likelihood" in text and "AIC" in text


def test_huber_nonrobust_refused_sandwich_allowed():
    X, y = load_diabetes(return_X_y=True)
    y = (y - y.mean()) / y.std()
    reg = NeuronRegressor("huber", alpha=0, optimizer="newton", tol=1e-8).fit(X, y)
    with pytest.raises(ValueError, match="no likelihood and hence no Fisher"):
        reg.inference(X, y)
    res = reg.inference(X, y, cov_type="HC0")
    assert np.all(np.isfinite(res.bse)) and np.all(res.bse > 0)
    with pytest.raises(ValueError, match="needs a likelihood"):
        _ = res.llf


def test_absolute_error_refused():
    X, y = load_diabetes(return_X_y=True)
    reg = NeuronRegressor("absolute_error", alpha=0).fit(X, y)
    with pytest.raises(ValueError, match="absolute_error"):
        reg.inference(X, y, cov_type="HC0")


def test_tweedie_refused():
    X, y = _generated("poisson")
    reg = NeuronRegressor("tweedie", power=1.5, alpha=0, optimizer="newton").fit(X, y)
    with pytest.raises(ValueError, match="tweedie"):
        reg.inference(X, y)


def test_penalized_warns_and_l1_refused():
    X, y = load_diabetes(return_X_y=True)
    reg = NeuronRegressor(alpha=0.1, optimizer="newton", tol=1e-8).fit(X, y)
    with pytest.warns(PenalizedInferenceWarning, match="alpha=0.1"):
        res = reg.inference(X, y)
    assert res.penalized
    reg = NeuronRegressor(alpha=0.1, l1_ratio=0.5).fit(X, y)
    with pytest.raises(ValueError, match="L1 penalty"):
        reg.inference(X, y)
