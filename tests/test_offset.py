"""Offsets and exposure (issue #40, item 3) against statsmodels' GLM and Logit.

statsmodels is fitted by IRLS/Newton to tol 1e-13; the neurons by Newton to
tol 1e-10, whose inference then polishes to the optimum. Tolerances:
coefficients and standard errors 1e-8 relative (1e-10 absolute floor),
fitted means 1e-8, llf, llnull and deviances 1e-8 relative. Where statsmodels
has no offset (MNLogit), the reference is a reparametrisation: an offset
``X @ B`` is fitted as the coefficients less ``B`` (exact without penalty).
Dask and minibatch fits are checked against the in-memory full-batch fit
and against ``y - offset`` (identity link: the same objective) to 1e-10.
"""

import warnings

import numpy as np
import pytest
import scipy.sparse
from scipy.optimize import minimize
from scipy.special import logsumexp
from sklearn.metrics import roc_auc_score

from sklearn_neuron import NeuronClassifier, NeuronClassifierCV, NeuronRegressor

sm = pytest.importorskip("statsmodels.api")

RTOL, ATOL = 1e-8, 1e-10
NEWTON = {"optimizer": "newton", "tol": 1e-10}


def _data(family, n=400, seed=0):
    """X, y, offset of a GLM of ``family`` whose linear predictor includes the offset."""
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, 3))
    offset = rng.normal(scale=0.5, size=n)
    eta = 0.2 + X @ np.array([0.4, -0.3, 0.2]) + offset
    if family == "poisson":
        return X, rng.poisson(np.exp(eta)).astype(float), offset
    if family == "gamma":
        return X, rng.gamma(2.0, np.exp(eta) / 2.0), offset
    if family == "binomial":
        return X, (rng.uniform(size=n) < 1 / (1 + np.exp(-eta))).astype(float), offset
    return X, eta + rng.normal(size=n), offset


_FAMILIES = {
    "poisson": lambda: sm.families.Poisson(),
    "gamma": lambda: sm.families.Gamma(sm.families.links.Log()),
    "binomial": lambda: sm.families.Binomial(),
    "gaussian": lambda: sm.families.Gaussian(),
}
_LOSSES = {"poisson": "poisson", "gamma": "gamma", "gaussian": "squared_error"}


def _neuron(family):
    if family == "binomial":
        return NeuronClassifier(C=np.inf, **NEWTON)
    return NeuronRegressor(_LOSSES[family], alpha=0, **NEWTON)


def _close(actual, expected, rtol=RTOL, atol=ATOL):
    np.testing.assert_allclose(np.asarray(actual), np.asarray(expected), rtol=rtol, atol=atol)


def _null_fit(family, y, offset, weights=None):
    """statsmodels' intercept-only model with the offset, fitted tightly (its own
    llnull refits with its default tolerance)."""
    kwargs = {} if weights is None else {"freq_weights": weights}
    return sm.GLM(y, np.ones(y.size), family=_FAMILIES[family](), offset=offset, **kwargs).fit(
        tol=1e-13
    )


@pytest.mark.parametrize("family", list(_FAMILIES))
@pytest.mark.parametrize("n", [400, 5000])  # 5000 rows: the chunked (fused) passes over X
def test_glm_offset_matches_statsmodels(family, n):
    X, y, offset = _data(family, n)
    model = _neuron(family).fit(X, y, offset=offset)
    res = model.inference(X, y, offset=offset)
    ref = sm.GLM(y, sm.add_constant(X), family=_FAMILIES[family](), offset=offset).fit(tol=1e-13)
    _close(res.params, ref.params)
    _close(res.bse, ref.bse)
    _close(res.llf, ref.llf)
    _close(res.deviance, ref.deviance)
    # statsmodels' llnull: the null model's means at the full model's scale.
    null = _null_fit(family, y, offset)
    _close(res.llnull, ref.family.loglike(y, null.mu, scale=ref.scale))
    _close(res.llnull, ref.llnull)
    _close(res.null_deviance, null.deviance)
    # Predictions with the training offset are the fitted means.
    mean = model.predict_proba(X, offset=offset)[:, 1] if family == "binomial" else (
        model.predict(X, offset=offset)
    )
    _close(mean, ref.mu)


def test_weighted_poisson_offset_matches_statsmodels():
    X, y, offset = _data("poisson")
    w = np.random.default_rng(3).integers(1, 4, size=y.size).astype(float)
    res = _neuron("poisson").fit(X, y, sample_weight=w, offset=offset).inference(
        X, y, sample_weight=w, offset=offset
    )
    ref = sm.GLM(
        y, sm.add_constant(X), family=sm.families.Poisson(), offset=offset, freq_weights=w
    ).fit(tol=1e-13)
    _close(res.params, ref.params)
    _close(res.bse, ref.bse)
    _close(res.llnull, _null_fit("poisson", y, offset, w).llf)


@pytest.mark.parametrize("family", ["poisson", "gamma"])
def test_exposure_matches_statsmodels(family):
    X, y, offset = _data(family)
    exposure = np.exp(offset)
    model = _neuron(family).fit(X, y, exposure=exposure)
    res = model.inference(X, y, exposure=exposure)
    ref = sm.GLM(
        y, sm.add_constant(X), family=_FAMILIES[family](), exposure=exposure
    ).fit(tol=1e-13)
    _close(res.params, ref.params)
    _close(res.bse, ref.bse)
    _close(model.predict(X, exposure=exposure), ref.mu)
    # exposure is the offset log(exposure): the same model.
    same = _neuron(family).fit(X, y, offset=np.log(exposure))
    _close(same.coef_, model.coef_, rtol=1e-12, atol=1e-12)


def test_logit_offset_matches_statsmodels():
    X, y, offset = _data("binomial")
    model = NeuronClassifier(C=np.inf, **NEWTON).fit(X, y, offset=offset)
    res = model.inference(X, y, offset=offset)
    ref = sm.Logit(y, sm.add_constant(X), offset=offset).fit(disp=0, tol=1e-13)
    _close(res.params, ref.params)
    _close(res.bse, ref.bse)
    _close(res.llf, ref.llf)
    null = sm.Logit(y, np.ones(y.size), offset=offset).fit(disp=0, tol=1e-13)
    _close(res.llnull, null.llf)
    eta = sm.add_constant(X) @ ref.params + offset
    _close(model.decision_function(X, offset=offset), eta)
    _close(model.predict_proba(X, offset=offset)[:, 1], 1 / (1 + np.exp(-eta)))
    _close(model.predict_log_proba(X, offset=offset)[:, 1], -np.log1p(np.exp(-eta)))
    np.testing.assert_array_equal(model.predict(X, offset=offset), (eta > 0).astype(float))
    assert "offset" in str(model.summary(X, y, offset=offset))


def _centred(B):
    """``B`` less its mean over the classes (rows): the fitted softmax's parametrisation."""
    return B - B.mean(axis=0, keepdims=True)


def test_multinomial_offset_is_a_reparametrisation():
    """An offset ``X @ B.T + b`` (one column per class) is fitted as coef_ - B."""
    rng = np.random.default_rng(1)
    X = rng.normal(size=(300, 3))
    y = rng.integers(0, 3, size=300)
    B, b = rng.normal(size=(3, 3)), rng.normal(size=3)
    offset = X @ B.T + b
    plain = NeuronClassifier(C=np.inf, **NEWTON).fit(X, y)
    shifted = NeuronClassifier(C=np.inf, **NEWTON).fit(X, y, offset=offset)
    _close(shifted.coef_, plain.coef_ - _centred(B))
    _close(shifted.intercept_, plain.intercept_ - _centred(b[:, None])[:, 0])
    _close(shifted.predict_proba(X, offset=offset), plain.predict_proba(X))
    a = plain.inference(X, y)
    c = shifted.inference(X, y, offset=offset)
    _close(c.bse, a.bse)
    _close(c.llf, a.llf)
    # The null model keeps the offset: intercepts (class 0's fixed at 0) by scipy.
    def negative_llf(free):
        logits = offset + np.r_[0.0, free]
        return -np.sum(logits[np.arange(y.size), y] - logsumexp(logits, axis=1))

    null = minimize(negative_llf, np.zeros(2), method="BFGS", options={"gtol": 1e-12})
    _close(c.llnull, -null.fun)


def test_offset_of_zeros_is_no_offset():
    X, y, _ = _data("poisson")
    zeros = np.zeros(y.size)
    plain = _neuron("poisson").fit(X, y)
    model = _neuron("poisson").fit(X, y, offset=zeros)
    _close(model.coef_, plain.coef_, rtol=1e-12, atol=1e-14)
    _close(model.predict(X, offset=zeros), plain.predict(X), rtol=1e-12, atol=0)
    # The fingerprint takes no offset and one of zeros as the same data.
    _close(model.inference(X, y).bse, plain.inference(X, y, offset=zeros).bse, rtol=1e-12)


def test_inference_checks_the_offset():
    X, y, offset = _data("poisson")
    model = _neuron("poisson").fit(X, y, offset=offset)
    for other in (None, offset + 0.1):
        with pytest.raises(ValueError, match="offset differs"):
            model.inference(X, y, offset=other)


@pytest.mark.parametrize("optimizer", ["sgd", "adam"])
def test_minibatches_slice_the_offset(optimizer):
    """Identity link: an offset is y - offset. Three epochs (not converged) agree."""
    X, y, offset = _data("gaussian")
    kwargs = {"optimizer": optimizer, "max_iter": 3, "random_state": 0, "alpha": 0.1}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # not converged in 3 epochs, on purpose
        a = NeuronRegressor(**kwargs).fit(X, y, offset=offset)
        b = NeuronRegressor(**kwargs).fit(X, y - offset)
        c = NeuronRegressor(**kwargs).fit(X, y)
    _close(a.coef_, b.coef_, atol=1e-10)
    assert np.abs(a.coef_ - c.coef_).max() > 1e-3  # the offset changed the fit
    kwargs.pop("max_iter")
    a, b = NeuronRegressor(**kwargs), NeuronRegressor(**kwargs)
    for rows in (slice(0, 200), slice(200, 400)):
        a.partial_fit(X[rows], y[rows], offset=offset[rows])
        b.partial_fit(X[rows], y[rows] - offset[rows])
    _close(a.coef_, b.coef_, atol=1e-10)


def test_robust_covariance_with_offset_matches_statsmodels():
    X, y, offset = _data("poisson")
    res = _neuron("poisson").fit(X, y, offset=offset).inference(X, y, offset=offset, cov_type="HC0")
    ref = sm.GLM(y, sm.add_constant(X), family=sm.families.Poisson(), offset=offset).fit(
        tol=1e-13, cov_type="HC0"
    )
    _close(res.bse, ref.bse)


def test_likelihood_ratio_test_needs_the_same_offset():
    from sklearn_neuron import likelihood_ratio_test

    X, y, offset = _data("poisson")
    full = _neuron("poisson").fit(X, y, offset=offset).inference(X, y, offset=offset)
    small = _neuron("poisson").fit(X[:, :2], y, offset=offset).inference(X[:, :2], y, offset=offset)
    test = likelihood_ratio_test(small, full)
    _close(test.statistic, 2 * (full.llf - small.llf), rtol=1e-12)
    other = _neuron("poisson").fit(X[:, :2], y).inference(X[:, :2], y)
    with pytest.raises(ValueError, match="not fitted on the same observations"):
        likelihood_ratio_test(other, full)


@pytest.mark.parametrize("loss", ["absolute_error", "huber"])
def test_identity_link_losses_take_the_offset_as_y_minus_offset(loss):
    X, y, offset = _data("gaussian")
    a = NeuronRegressor(loss, alpha=0, tol=1e-10).fit(X, y, offset=offset)
    b = NeuronRegressor(loss, alpha=0, tol=1e-10).fit(X, y - offset)
    _close(a.coef_, b.coef_, rtol=1e-7, atol=1e-9)
    _close(a.intercept_, b.intercept_, rtol=1e-7, atol=1e-9)


def test_hinge_constant_offset_moves_the_intercept():
    """The intercept is not penalized: a constant offset c is fitted as intercept - c."""
    X, y, _ = _data("binomial")
    plain = NeuronClassifier(loss="hinge").fit(X, y)
    shifted = NeuronClassifier(loss="hinge").fit(X, y, offset=np.full(y.size, 0.7))
    _close(shifted.coef_, plain.coef_, rtol=1e-7, atol=1e-9)
    _close(shifted.intercept_, plain.intercept_ - 0.7, rtol=1e-7, atol=1e-9)


def test_sparse_x_with_offset_equals_dense():
    X, y, offset = _data("poisson")
    dense = _neuron("poisson").fit(X, y, offset=offset)
    sparse = _neuron("poisson").fit(scipy.sparse.csr_matrix(X), y, offset=offset)
    _close(sparse.coef_, dense.coef_, rtol=1e-10, atol=1e-12)
    predicted = sparse.predict(scipy.sparse.csr_matrix(X), offset=offset)
    _close(predicted, dense.predict(X, offset=offset))


def test_offset_is_not_mutated():
    X, y, offset = _data("poisson")
    given = offset.astype(np.float32)
    kept = given.copy()
    _neuron("poisson").fit(X, y, offset=given).predict(X, offset=given)
    np.testing.assert_array_equal(given, kept)


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"offset": np.zeros(10)}, r"offset has shape \(10,\); expected \(400,\)"),
        ({"offset": np.r_[np.zeros(399), np.nan]}, "offset has 1 non-finite"),
        ({"offset": np.r_[np.zeros(399), np.inf]}, "offset has 1 non-finite"),
        ({"offset": ["a"] * 400}, "offset must hold numbers"),
        ({"exposure": np.r_[np.ones(399), 0.0]}, "exposure must be positive"),
        ({"exposure": np.ones(400), "offset": np.zeros(400)}, "offset or exposure, not both"),
    ],
)
def test_bad_offsets_are_refused(kwargs, message):
    X, y, _ = _data("poisson")
    with pytest.raises(ValueError, match=message):
        NeuronRegressor("poisson").fit(X, y, **kwargs)
    model = NeuronRegressor("poisson").fit(X, y)
    with pytest.raises(ValueError, match=message):
        model.predict(X, **kwargs)


def test_exposure_needs_a_log_link():
    X, y, _ = _data("gaussian")
    with pytest.raises(ValueError, match="exposure is the offset log\\(exposure\\) of a log link"):
        NeuronRegressor("squared_error").fit(X, y, exposure=np.ones(y.size))
    X, y, _ = _data("binomial")
    with pytest.raises(ValueError, match="exposure is for models with a log link"):
        NeuronClassifier().fit(X, y).summary(X, y, exposure=np.ones(y.size))


def test_multinomial_offset_needs_a_column_per_class():
    rng = np.random.default_rng(0)
    X, y = rng.normal(size=(50, 2)), rng.integers(0, 3, size=50)
    with pytest.raises(ValueError, match=r"expected \(50, 3\).*one column per class"):
        NeuronClassifier().fit(X, y, offset=np.zeros(50))


# -- cross-validation ------------------------------------------------------------------
@pytest.mark.parametrize("scoring", [None, "roc_auc"])  # the fast score, then a scorer's
def test_classifier_cv_splits_the_offset(scoring):
    from sklearn.model_selection import StratifiedKFold

    X, y, offset = _data("binomial", n=300)
    Cs = [0.05, 1.0]
    cv = NeuronClassifierCV(Cs=Cs, cv=3, scoring=scoring, **NEWTON).fit(X, y, offset=offset)
    for fold, (train, test) in enumerate(StratifiedKFold(3).split(X, y)):
        for j, C in enumerate(Cs):
            model = NeuronClassifier(C=C, **NEWTON).fit(X[train], y[train], offset=offset[train])
            if scoring is None:
                expected = np.mean(model.predict(X[test], offset=offset[test]) == y[test])
            else:
                expected = roc_auc_score(
                    y[test], model.decision_function(X[test], offset=offset[test])
                )
            _close(cv.scores_[fold, 0, j], expected, rtol=1e-9)
    refit = NeuronClassifier(C=cv.C_, **NEWTON).fit(X, y, offset=offset)
    _close(cv.coef_, refit.coef_, rtol=1e-6, atol=1e-8)
    _close(cv.predict_proba(X, offset=offset), refit.predict_proba(X, offset=offset), rtol=1e-6)
    if scoring is None:
        expected = np.mean(refit.predict(X, offset=offset) == y)
    else:
        expected = roc_auc_score(y, refit.decision_function(X, offset=offset))
    _close(cv.score(X, y, offset=offset), expected, rtol=1e-6)


# -- dask -----------------------------------------------------------------------------
def test_dask_offset_equals_in_memory():
    da = pytest.importorskip("dask.array")
    X, y, offset = _data("poisson", n=6000)  # blocks of 3000 rows: the fused passes
    exposure = np.exp(offset)
    Xd, yd = da.from_array(X, chunks=(3000, 3)), da.from_array(y, chunks=3000)
    ed = da.from_array(exposure, chunks=2500)  # chunked otherwise than X: rechunked
    model = _neuron("poisson").fit(Xd, yd, exposure=ed)
    memory = _neuron("poisson").fit(X, y, exposure=exposure)
    _close(model.coef_, memory.coef_, rtol=1e-10, atol=1e-12)
    res, ref = model.inference(Xd, yd, exposure=ed), memory.inference(X, y, exposure=exposure)
    _close(res.bse, ref.bse, rtol=1e-10)
    _close(res.llnull, ref.llnull, rtol=1e-10)
    _close(res.null_deviance, ref.null_deviance, rtol=1e-10)
    _close(model.predict(Xd, exposure=ed).compute(), memory.predict(X, exposure=exposure))
    with pytest.raises(ValueError, match="offset differs"):
        model.inference(Xd, yd)


def test_dask_classifier_offset_equals_in_memory():
    da = pytest.importorskip("dask.array")
    X, y, offset = _data("binomial")
    Xd, yd, od = (da.from_array(a, chunks=100) for a in (X, y, offset))
    model = NeuronClassifier(C=np.inf, **NEWTON).fit(Xd, yd, offset=od)
    memory = NeuronClassifier(C=np.inf, **NEWTON).fit(X, y, offset=offset)
    _close(model.coef_, memory.coef_, rtol=1e-10, atol=1e-12)
    _close(
        model.predict_proba(Xd, offset=od).compute(), memory.predict_proba(X, offset=offset)
    )
    with pytest.raises(ValueError, match="offset has 1 non-finite"):
        NeuronClassifier().fit(Xd, yd, offset=da.from_array(np.r_[offset[:-1], np.nan], 100))


def test_distributed_persisted_data_keep_their_path_with_an_offset():
    """Persisted X and y with an in-memory offset: the offset is persisted along,
    so the block objectives are built once, where the blocks are held."""
    distributed = pytest.importorskip("distributed")
    da = pytest.importorskip("dask.array")
    X, y, offset = _data("poisson", n=2000)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the cluster's own start-up notes
        cluster = distributed.LocalCluster(
            n_workers=2, threads_per_worker=1, processes=False, dashboard_address=None
        )
    with cluster, distributed.Client(cluster):
        Xd = da.from_array(X, chunks=(500, 3)).persist()
        yd = da.from_array(y, chunks=500).persist()
        model = _neuron("poisson").fit(Xd, yd, offset=offset)
        assert model._build_objective(Xd, yd, None, reset=False, offset=offset)._held is not None
        bse = model.inference(Xd, yd, offset=offset).bse
    memory = _neuron("poisson").fit(X, y, offset=offset)
    _close(model.coef_, memory.coef_, rtol=1e-10, atol=1e-12)
    _close(bse, memory.inference(X, y, offset=offset).bse, rtol=1e-10)
