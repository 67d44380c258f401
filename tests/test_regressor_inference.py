"""Inference of NeuronRegressor against statsmodels' GLM (default IRLS fit).

Tolerances: params 1e-6 absolute, standard errors and covariances 1e-5
relative, p-values and intervals 1e-5 relative (with small absolute floors),
scale 1e-7 and llf, llnull, deviances, AIC, BIC 1e-8 relative. Tweedie
reaches ~5e-11 on params and standard errors and ~1e-11 on llf and llnull
for 1 <= power <= 2, ~1e-9 on the Wald statistics outside.
"""

import warnings

import numpy as np
import pytest
from sklearn.datasets import load_diabetes

from sklearn_neuron import NeuronRegressor, PenalizedInferenceWarning, likelihood_ratio_test
from sklearn_neuron._loss.families import tweedie_loglike

sm = pytest.importorskip("statsmodels.api")


def _generated(loss):
    """A positive target from a known GLM with log link, fixed seed."""
    rng = np.random.default_rng(0)
    X = rng.normal(size=(300, 3))
    mu = np.exp(0.5 + X @ np.array([0.3, -0.2, 0.1]))
    if loss == "poisson":
        return X, rng.poisson(mu).astype(float)
    return X, rng.gamma(2.0, mu / 2.0)  # shape 2: dispersion 0.5


def _compound_poisson_gamma(power, n=500, seed=0):
    """Tweedie data of ``power`` in (1, 2), dispersion 1, with exact zeros.

    ``N ~ Poisson(mu^(2-p) / (2-p))`` Gamma jumps of shape ``(2-p) / (p-1)``
    and scale ``(p-1) mu^(p-1)``; y is their sum (0 when N = 0).
    """
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, 4))
    mu = np.exp(0.3 + X @ np.array([0.4, -0.3, 0.2, 0.0]))
    jumps = rng.poisson(mu ** (2 - power) / (2 - power))
    shape = (2 - power) / (power - 1) * jumps
    y = np.where(jumps > 0, rng.gamma(np.maximum(shape, 1e-3), (power - 1) * mu ** (power - 1)), 0)
    return X, y


def _tweedie_family(power):
    return sm.families.Tweedie(var_power=power, link=sm.families.links.Log())


def _freq_weights(n, weighted):
    return np.random.default_rng(1).integers(1, 4, size=n).astype(float) if weighted else None


def _fit_both(loss, X, y, w, family, **params):
    model = NeuronRegressor(loss, alpha=0, optimizer="newton", tol=1e-10, **params)
    res = model.fit(X, y, sample_weight=w).inference(X, y, sample_weight=w)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ref = sm.GLM(y, sm.add_constant(X), family=family, freq_weights=w).fit(tol=1e-12)
        # Cached here, under the filter: statsmodels warns on y = 0 and on NaN llf.
        _ = ref.deviance, ref.null_deviance, ref.llf, ref.llnull
    return res, ref


def _assert_wald_matches(res, ref):
    """Parameters, covariance, Wald statistics, scale and deviances."""
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
    for name in ("deviance", "null_deviance"):
        assert getattr(res, name) == pytest.approx(getattr(ref, name), rel=1e-8), name


def _assert_likelihood_matches(res, ref):
    for name in ("llf", "llnull", "aic"):
        assert getattr(res, name) == pytest.approx(getattr(ref, name), rel=1e-8), name
    # statsmodels 0.15's GLMResults.bic is bic_llf: -2 llf + k log(nobs).
    assert res.bic == pytest.approx(ref.bic_llf, rel=1e-8)
    assert res.prsquared == pytest.approx(1 - ref.llf / ref.llnull, rel=1e-8)


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
    res, ref = _fit_both(loss, X, y, _freq_weights(y.size, weighted), family)
    assert res.param_names == ["const"] + [f"x{j}" for j in range(X.shape[1])]
    _assert_wald_matches(res, ref)
    _assert_likelihood_matches(res, ref)


@pytest.mark.parametrize("weighted", [False, True], ids=["unweighted", "freq_weights"])
@pytest.mark.parametrize("loss", ["squared_error", "poisson", "gamma", "tweedie"])
def test_robust_covariance_matches_statsmodels_glm(loss, weighted):
    # The bread is the observed Hessian, as statsmodels' (for the Gamma's and
    # Tweedie's log link it differs from the expected information by ~5%).
    if loss == "tweedie":
        X, y = _compound_poisson_gamma(1.5)
        family, params = _tweedie_family(1.5), {"power": 1.5}
    else:
        X, y, family = _case(loss)
        params = {}
    w = _freq_weights(y.size, weighted)
    model = NeuronRegressor(loss, alpha=0, optimizer="newton", tol=1e-10, **params)
    model.fit(X, y, sample_weight=w)
    glm = sm.GLM(y, sm.add_constant(X), family=family, freq_weights=w)
    n, k = glm.wnobs, X.shape[1] + 1
    for cov_type, cov_kwds in [("HC0", None), ("HC1", {"scaling_factor": n / (n - k)})]:
        res = model.inference(X, y, sample_weight=w, cov_type=cov_type)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            ref = glm.fit(tol=1e-12, cov_type=cov_type, cov_kwds=cov_kwds)
        np.testing.assert_allclose(res.params, ref.params, rtol=0, atol=1e-6)
        np.testing.assert_allclose(res.bse, ref.bse, rtol=1e-5)
        np.testing.assert_allclose(res.pvalues, ref.pvalues, rtol=1e-5, atol=1e-10)


@pytest.mark.parametrize("weighted", [False, True], ids=["unweighted", "freq_weights"])
@pytest.mark.parametrize("power", [1.0, 1.2, 1.5, 1.8, 2.0])
def test_tweedie_matches_statsmodels_tweedie_glm(power, weighted):
    # 1 and 2 are statsmodels' Tweedie family too: a Pearson dispersion also
    # at 1 (quasi-Poisson), where loss="poisson" has scale 1.
    X, y = _compound_poisson_gamma(min(max(power, 1.2), 1.8))
    if power == 2.0:
        y = y + 0.5
    w = _freq_weights(y.size, weighted)
    res, ref = _fit_both("tweedie", X, y, w, _tweedie_family(power), power=power)
    assert (y == 0).any() or power == 2.0
    assert res.model_name.startswith(f"GLM Tweedie (power={power:g}), log link")
    _assert_wald_matches(res, ref)
    _assert_likelihood_matches(res, ref)
    assert "Log-likelihood" in str(res.summary())


@pytest.mark.parametrize("power", [1.0, 1.2, 1.5, 1.8, 2.0])
def test_tweedie_loglike_is_statsmodels_loglike_obs(power):
    rng = np.random.default_rng(2)
    y = rng.gamma(0.7, 2.0, size=200)
    if power < 2:
        y[::4] = 0.0
    mu = rng.uniform(0.05, 20.0, size=200)
    family = _tweedie_family(power)
    for scale in (0.05, 1.0, 7.0):
        expected = family.loglike_obs(y, mu, scale=scale)
        np.testing.assert_allclose(tweedie_loglike(y, mu, power, scale), expected, rtol=1e-12)


def test_tweedie_loglike_raises_instead_of_returning_nan_or_inf():
    with pytest.raises(ValueError, match=r"for 1 <= power <= 2, got power=2.5"):
        tweedie_loglike(np.ones(3), np.ones(3), 2.5, 1.0)
    # power 1.01: Wright's function of a = 99 underflows for small y / scale,
    # where statsmodels returns -inf.
    y, mu = np.array([1e-3, 1.0]), np.ones(2)
    assert not np.isfinite(_tweedie_family(1.01).loglike_obs(y, mu, scale=1.0)).all()
    with pytest.raises(ValueError, match="not finite for 1 of 2 observations"):
        tweedie_loglike(y, mu, 1.01, 1.0)


@pytest.mark.parametrize("weighted", [False, True], ids=["unweighted", "freq_weights"])
@pytest.mark.parametrize("power", [0.0, 2.5, 3.0])
def test_tweedie_outside_1_2_gives_wald_statistics_and_refuses_the_likelihood(
    power, weighted
):
    X, y = _compound_poisson_gamma(1.5) if power == 0 else _generated("gamma")
    w = _freq_weights(y.size, weighted)
    res, ref = _fit_both("tweedie", X, y, w, _tweedie_family(power), power=power)
    _assert_wald_matches(res, ref)
    assert np.isnan(ref.llf)  # statsmodels has no log-likelihood either

    message = (
        rf"not available: loss='tweedie' has its log-likelihood evaluated for "
        rf"1 <= power <= 2 only .* not for power={power:g}, like statsmodels"
    )
    for name in ("llf", "llnull", "aic", "bic", "prsquared", "llr", "lr_test"):
        with pytest.raises(ValueError, match=message):
            value = getattr(res, name)
            value() if callable(value) else value
    with pytest.raises(ValueError, match=r"A likelihood-ratio test is not available"):
        likelihood_ratio_test(res, res)
    summary = res.summary()
    assert [label for label, _ in summary.header][-2:] == ["Covariance type", "Deviance"]
    assert "No log-likelihood statistics: loss='tweedie'" in str(summary)


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


def test_penalized_warns_and_l1_refused():
    X, y = load_diabetes(return_X_y=True)
    reg = NeuronRegressor(alpha=0.1, optimizer="newton", tol=1e-8).fit(X, y)
    with pytest.warns(PenalizedInferenceWarning, match="alpha=0.1"):
        res = reg.inference(X, y)
    assert res.penalized
    reg = NeuronRegressor(alpha=0.1, l1_ratio=0.5).fit(X, y)
    with pytest.raises(ValueError, match="L1 penalty"):
        reg.inference(X, y)
