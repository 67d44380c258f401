"""Marginal effects (issue 40, item 4) against statsmodels' ``get_margeff``.

Tolerance: effects, standard errors and covariances equal statsmodels' to
1e-8 (relative, with an absolute floor of 1e-10), fits by Newton to a tight
gradient with ``C=np.inf`` / ``alpha=0``; statsmodels' Jacobian is by complex
step, exact to rounding like the closed forms here (they agree to ~1e-13).
Where statsmodels has no entry point (MNLogit's ``dyex``/``eyex``, whose
``margeff *= exog`` fails to broadcast; offsets, which its margins ignore)
the reference is statsmodels' own delta method, ``margeff_cov_params`` with
complex-step differentiation, on the effect function with that fixed.
"""

import warnings

import numpy as np
import pytest
import scipy.sparse

from sklearn_neuron import NeuronClassifier, NeuronRegressor, PenalizedInferenceWarning
from sklearn_neuron._inference.margins import MarginalEffects, average_marginal_effects

sm = pytest.importorskip("statsmodels.api")
from statsmodels.discrete.discrete_margins import margeff_cov_params  # noqa: E402

RTOL, ATOL = 1e-8, 1e-10
METHODS = ["dydx", "eydx", "dyex", "eyex"]
NEWTON = dict(optimizer="newton", tol=1e-10)


def _assert_same(margins, reference):
    np.testing.assert_allclose(margins.effects, reference.margeff, rtol=RTOL, atol=ATOL)
    np.testing.assert_allclose(margins.bse, reference.margeff_se, rtol=RTOL, atol=ATOL)
    np.testing.assert_allclose(
        margins.cov_effects, reference.margeff_cov, rtol=RTOL, atol=ATOL
    )


def _spector():
    data = sm.datasets.spector.load_pandas().data
    return data[["GPA", "TUCE", "PSI"]], data["GRADE"].astype(int)


def _multinomial(n=400, seed=0):
    """Three classes from a known softmax model: overlapping, not separated."""
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, 3))
    raw = X @ np.array([[0.0, 0.8, -0.4], [0.0, -0.5, 0.6], [0.0, 0.3, 0.9]])
    P = np.exp(raw) / np.exp(raw).sum(axis=1, keepdims=True)
    y = (rng.random(n)[:, None] > P.cumsum(axis=1)).sum(axis=1)
    return X, y


def _glm_data(loss, n=300, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, 3))
    mu = np.exp(0.5 + X @ np.array([0.3, -0.2, 0.1]))
    if loss == "poisson":
        return X, rng.poisson(mu).astype(float)
    return X, rng.gamma(2.0, mu / 2.0)


FAMILIES = {
    "poisson": lambda: sm.families.Poisson(),
    "gamma": lambda: sm.families.Gamma(sm.families.links.Log()),
    "tweedie": lambda: sm.families.Tweedie(var_power=1.5, link=sm.families.links.Log()),
    "squared_error": lambda: sm.families.Gaussian(),
}


# -- against statsmodels' get_margeff ---------------------------------------------------
@pytest.mark.parametrize("method", METHODS)
@pytest.mark.parametrize("at", ["overall", "mean"])
def test_binary_classifier_equals_logit_get_margeff(at, method):
    X, y = _spector()
    clf = NeuronClassifier(C=np.inf, **NEWTON).fit(X, y)
    reference = sm.Logit(y, sm.add_constant(X)).fit(disp=0).get_margeff(at=at, method=method)
    _assert_same(clf.marginal_effects(X, y, at=at, method=method), reference)


@pytest.mark.parametrize("method", ["dydx", "eydx"])
@pytest.mark.parametrize("at", ["overall", "mean"])
def test_multinomial_classifier_equals_mnlogit_get_margeff(at, method):
    X, y = _multinomial()
    clf = NeuronClassifier(C=np.inf, **NEWTON).fit(X, y)
    results = sm.MNLogit(y, sm.add_constant(X)).fit(disp=0, method="newton", tol=1e-12)
    margins = clf.marginal_effects(X, y, at=at, method=method)
    assert margins.effects.shape == (3, 3)  # features x classes, the reference too
    _assert_same(margins, results.get_margeff(at=at, method=method))


@pytest.mark.parametrize("method", ["dyex", "eyex"])
@pytest.mark.parametrize("at", ["overall", "mean"])
def test_multinomial_elasticities_equal_statsmodels_delta_method(at, method):
    """MNLogit's get_margeff fails for dyex/eyex; its own margins code on its
    effect function, times x as it means to, is the reference."""
    X, y = _multinomial()
    clf = NeuronClassifier(C=np.inf, **NEWTON).fit(X, y)
    results = sm.MNLogit(y, sm.add_constant(X)).fit(disp=0, method="newton", tol=1e-12)
    model = results.model
    base = "eydx" if method == "eyex" else "dydx"

    def derivative(params, exog, _method):
        return model._derivative_exog(params, exog, base) * np.tile(exog, model.J)

    exog = model.exog if at == "overall" else model.exog.mean(axis=0, keepdims=True)
    effects = derivative(results.params.ravel("F"), exog, method).mean(axis=0)
    cov = margeff_cov_params(
        model, results.params, exog, results.cov_params(), at, derivative, None, None,
        method, model.J,
    )
    keep = np.tile(np.arange(model.K) > 0, model.J)  # not the constant
    margins = clf.marginal_effects(X, y, at=at, method=method)
    np.testing.assert_allclose(margins.effects.ravel("F"), effects[keep], rtol=RTOL, atol=ATOL)
    np.testing.assert_allclose(margins.cov_effects, cov[keep][:, keep], rtol=RTOL, atol=ATOL)


@pytest.mark.parametrize("method", METHODS)
@pytest.mark.parametrize("at", ["overall", "mean"])
@pytest.mark.parametrize("loss", list(FAMILIES))
def test_regressor_equals_glm_get_margeff(loss, at, method):
    """Log-link families (Poisson, Gamma, Tweedie) and the identity (Gaussian),
    with the dispersion in the covariance as statsmodels' GLM."""
    X, y = _glm_data(loss)
    reg = NeuronRegressor(loss, alpha=0, **NEWTON).fit(X, y)
    results = sm.GLM(y, sm.add_constant(X), family=FAMILIES[loss]()).fit(tol=1e-12)
    _assert_same(
        reg.marginal_effects(X, y, at=at, method=method),
        results.get_margeff(at=at, method=method),
    )


def test_identity_link_effects_are_the_coefficients():
    X, y = _glm_data("gamma")
    reg = NeuronRegressor("squared_error", alpha=0, **NEWTON).fit(X, y)
    margins = reg.marginal_effects(X, y)
    inference = reg.inference(X, y)
    np.testing.assert_allclose(margins.effects, inference.params[1:], rtol=1e-12)
    np.testing.assert_allclose(margins.cov_effects, inference.cov_params[1:, 1:], rtol=1e-12)


def test_poisson_equals_discrete_poisson_get_margeff():
    X, y = _glm_data("poisson")
    reg = NeuronRegressor("poisson", alpha=0, **NEWTON).fit(X, y)
    reference = sm.Poisson(y, sm.add_constant(X)).fit(disp=0, tol=1e-12).get_margeff()
    _assert_same(reg.marginal_effects(X, y), reference)


@pytest.mark.parametrize(
    "cov_type, cov_kwds", [("HC0", None), ("cluster", {"groups": np.arange(32) % 8})]
)
def test_robust_covariances_equal_statsmodels(cov_type, cov_kwds):
    X, y = _spector()
    clf = NeuronClassifier(C=np.inf, **NEWTON).fit(X, y)
    groups = None if cov_kwds is None else cov_kwds["groups"]
    margins = clf.marginal_effects(X, y, cov_type=cov_type, groups=groups)
    robust = dict(cov_type=cov_type) | ({} if cov_kwds is None else dict(cov_kwds=cov_kwds))
    reference = sm.Logit(y, sm.add_constant(X)).fit(disp=0, **robust).get_margeff()
    _assert_same(margins, reference)
    assert ("Covariance type", cov_type) in margins.header


@pytest.mark.parametrize("at", ["overall", "mean"])
def test_frequency_weights_equal_repeated_rows(at):
    """statsmodels' margins take no weights: the reference is the fit on the
    rows repeated as often as their weight."""
    X, y = _multinomial(n=150, seed=1)
    w = np.random.default_rng(2).integers(1, 4, size=len(y))
    clf = NeuronClassifier(C=np.inf, **NEWTON).fit(X, y, sample_weight=w)
    X_rep, y_rep = np.repeat(X, w, axis=0), np.repeat(y, w)
    results = sm.MNLogit(y_rep, sm.add_constant(X_rep)).fit(disp=0, method="newton", tol=1e-12)
    margins = clf.marginal_effects(X, y, sample_weight=w.astype(float), at=at)
    _assert_same(margins, results.get_margeff(at=at))
    assert margins.results.nobs == w.sum()


def test_exposure_enters_the_predicted_mean():
    """statsmodels' margins ignore offsets: its delta method on the mean
    ``exp(x b + log t)`` is the reference."""
    X, _ = _glm_data("poisson")
    rng = np.random.default_rng(3)
    t = rng.uniform(0.5, 2.0, size=len(X))
    y = rng.poisson(t * np.exp(0.5 + X @ np.array([0.3, -0.2, 0.1]))).astype(float)
    reg = NeuronRegressor("poisson", alpha=0, **NEWTON).fit(X, y, exposure=t)
    margins = reg.marginal_effects(X, y, exposure=t)
    results = sm.GLM(
        y, sm.add_constant(X), family=sm.families.Poisson(), exposure=t
    ).fit(tol=1e-12)
    exog = sm.add_constant(X)

    def derivative(params, exog, method):
        return np.exp(exog @ params + np.log(t))[:, None] * params

    effects = derivative(results.params, exog, "dydx").mean(axis=0)[1:]
    cov = margeff_cov_params(
        results.model, results.params, exog, results.cov_params(), "overall",
        derivative, None, None, "dydx", 1,
    )[1:, 1:]
    np.testing.assert_allclose(margins.effects, effects, rtol=RTOL, atol=ATOL)
    np.testing.assert_allclose(margins.cov_effects, cov, rtol=RTOL, atol=ATOL)


# -- the numerics without an estimator ----------------------------------------------------
def test_numerics_take_statsmodels_parameters_and_covariance():
    X, y = _multinomial()
    results = sm.MNLogit(y, sm.add_constant(X)).fit(disp=0, method="newton", tol=1e-12)
    effects, cov = average_marginal_effects(
        results.params.ravel("F"), results.cov_params(), X, "softmax", method="eydx"
    )
    reference = results.get_margeff(method="eydx")
    np.testing.assert_allclose(effects, reference.margeff, rtol=RTOL, atol=ATOL)
    np.testing.assert_allclose(cov, reference.margeff_cov, rtol=RTOL, atol=ATOL)
    # Sparse rows give the same numbers; the input is not changed.
    X_sparse = scipy.sparse.csr_matrix(X)
    before = X_sparse.copy()
    sparse_effects, sparse_cov = average_marginal_effects(
        results.params.ravel("F"), results.cov_params(), X_sparse, "softmax", method="eydx"
    )
    np.testing.assert_allclose(sparse_effects, effects, rtol=1e-12, atol=1e-15)
    np.testing.assert_allclose(sparse_cov, cov, rtol=1e-12, atol=1e-15)
    assert (X_sparse != before).nnz == 0


def test_numerics_without_intercept_equal_logit_without_constant():
    X, y = _spector()
    X = X.to_numpy()
    results = sm.Logit(y.to_numpy(), X).fit(disp=0)
    effects, cov = average_marginal_effects(
        results.params, results.cov_params(), X, "sigmoid", fit_intercept=False,
        method="dyex", at="mean",
    )
    reference = results.get_margeff(method="dyex", at="mean")
    np.testing.assert_allclose(effects[:, 0], reference.margeff, rtol=RTOL, atol=ATOL)
    np.testing.assert_allclose(cov, reference.margeff_cov, rtol=RTOL, atol=ATOL)


# -- storage ---------------------------------------------------------------------------
def test_sparse_data_give_the_dense_effects():
    X, y = _multinomial()
    dense = NeuronClassifier(C=np.inf, **NEWTON).fit(X, y).marginal_effects(X, y)
    X_sparse = scipy.sparse.csr_matrix(X)
    sparse = NeuronClassifier(C=np.inf, **NEWTON).fit(X_sparse, y)
    np.testing.assert_allclose(
        sparse.marginal_effects(X_sparse, y).cov_effects, dense.cov_effects,
        rtol=1e-8, atol=1e-12,
    )


def test_dask_data_give_the_in_memory_effects():
    da = pytest.importorskip("dask.array")
    X, y = _multinomial()
    w = np.random.default_rng(4).integers(1, 4, size=len(y)).astype(float)
    chunks = dict(chunks=100)
    X_d, y_d, w_d = (da.from_array(a, **chunks) for a in (X, y, w))
    on_dask = NeuronClassifier(C=np.inf, **NEWTON).fit(X_d, y_d, sample_weight=w_d)
    in_memory = NeuronClassifier(C=np.inf, **NEWTON).fit(X, y, sample_weight=w)
    for at in ("overall", "mean"):
        a = on_dask.marginal_effects(X_d, y_d, w_d, at=at, method="eyex")
        b = in_memory.marginal_effects(X, y, w, at=at, method="eyex")
        np.testing.assert_allclose(a.effects, b.effects, rtol=0, atol=1e-8)
        np.testing.assert_allclose(a.cov_effects, b.cov_effects, rtol=0, atol=1e-8)


# -- the table -------------------------------------------------------------------------
def test_table_text_and_frame():
    pd = pytest.importorskip("pandas")
    X, y = _multinomial()
    margins = NeuronClassifier(C=np.inf, **NEWTON).fit(X, y).marginal_effects(X, y, alpha=0.1)
    assert isinstance(margins, MarginalEffects)
    text = str(margins)
    assert text.startswith("MNLogit (NeuronClassifier, loss='log_loss') Marginal Effects")
    assert "P(y=2)" in text and "dy/dx" in text and "[0.05" in text
    frame = margins.frame
    assert isinstance(frame.index, pd.MultiIndex)
    assert frame.shape == (9, 6)
    np.testing.assert_allclose(frame["dy/dx"].to_numpy(), margins.effects.ravel("F"))
    np.testing.assert_allclose(frame["P>|z|"].to_numpy(), margins.pvalues.ravel("F"))
    np.testing.assert_allclose(frame.iloc[:, 4:].to_numpy(), margins.conf_int())


def test_binary_table_names_the_class_and_features():
    X, y = _spector()
    margins = NeuronClassifier(C=np.inf, **NEWTON).fit(X, y).marginal_effects(X, y)
    assert list(margins.frame.index) == ["GPA", "TUCE", "PSI"]
    # The name of the y Series, as summary() gives it; a plain array is "y".
    assert ("Dependent variable", "P(GRADE=1)") in margins.header
    plain = NeuronClassifier(C=np.inf, **NEWTON).fit(X.to_numpy(), y.to_numpy())
    assert ("Dependent variable", "P(y=1)") in plain.marginal_effects(
        X.to_numpy(), y.to_numpy()
    ).header


def test_table_counts_print_as_whole_numbers():
    """Frequency weights summing to millions print as 1,024,000, never 1.024e+06."""
    X, y = _spector()
    weights = np.full(len(y), 32_000.0)
    clf = NeuronClassifier(C=np.inf, **NEWTON).fit(X, y, sample_weight=weights)
    margins = clf.marginal_effects(X, y, sample_weight=weights)
    assert ("No. observations", f"{32 * 32_000:,}") in margins.header


# -- warnings and errors -----------------------------------------------------------------
def test_penalized_fit_warns_and_says_so():
    X, y = _spector()
    clf = NeuronClassifier(C=1.0, **NEWTON).fit(X, y)
    with pytest.warns(PenalizedInferenceWarning):
        margins = clf.marginal_effects(X, y)
    assert any("Penalized fit" in note for note in margins.notes)


@pytest.mark.parametrize(
    "kwargs, match",
    [
        (dict(at="median"), "at must be one of"),
        (dict(method="dy/dx"), "method must be one of"),
        (dict(alpha=1.0), "alpha must be in"),
    ],
)
def test_bad_options_are_refused(kwargs, match):
    X, y = _spector()
    clf = NeuronClassifier(C=np.inf, **NEWTON).fit(X, y)
    with pytest.raises(ValueError, match=match):
        clf.marginal_effects(X, y, **kwargs)


def test_log_mean_of_a_zero_prediction_is_refused():
    """``eydx`` divides by the predicted mean: a zero one is an error, not NaN."""
    X = np.array([[0.0], [1.0], [2.0], [-1.0], [-2.0], [1.5]])
    y = np.array([0.1, 1.2, 1.9, -1.1, -2.0, 1.4])
    reg = NeuronRegressor(alpha=0, fit_intercept=False, **NEWTON).fit(X, y)
    with pytest.raises(ValueError, match="predicted mean, which is zero"):
        reg.marginal_effects(X, y, method="eydx")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert np.isfinite(reg.marginal_effects(X, y, method="dyex").bse).all()
