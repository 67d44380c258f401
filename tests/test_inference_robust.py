"""Cluster-robust (CR1) and leverage-corrected (HC2, HC3) covariances.

References: statsmodels' ``Logit``, ``MNLogit``, ``GLM`` and ``OLS`` fitted
with ``cov_type="cluster"`` (``cov_kwds={"groups": g}``, its default
``use_correction=True``) or OLS's ``cov_HC2``/``cov_HC3``, always run; R's
``sandwich::vcovCL`` and ``vcovHC`` of a ``glm`` through ``Rscript``, skipped
(saying why) where R or the sandwich package is missing.

Tolerances: standard errors 1e-8 relative; covariances 1e-8 relative to the
largest variance (off-diagonal entries may be near zero). Both sides are fitted
to a gradient at rounding level (ours polished by Newton steps, statsmodels'
Newton/IRLS at ``tol=1e-12``, R's ``glm`` at ``epsilon=1e-15``).

Corrections: ours is CR1, ``G/(G-1) (N-1)/(N-K)``, which is statsmodels'
default and R's ``vcovCL(type="HC1")``; R's default for a ``glm``,
``type="HC0"``, is ``G/(G-1)`` alone, so it is compared after dividing by
``(N-1)/(N-K)``. Frequency weights count a row as that many observations
(the data with rows repeated); statsmodels' ``GLM(freq_weights=)`` puts the
number of rows instead of their weighted count in the ``(N-1)/(N-K)`` factor.
"""

import os
import shutil
import subprocess
import tempfile
import warnings

import numpy as np
import pytest
import torch

from sklearn_neuron import NeuronClassifier, NeuronRegressor

sm = pytest.importorskip("statsmodels.api")

BSE_RTOL = 1e-8
COV_RTOL = 1e-8


def _assert_cov(cov, ref):
    ref = np.asarray(ref)
    np.testing.assert_allclose(cov, ref, rtol=COV_RTOL, atol=COV_RTOL * np.abs(ref).max())


def _grouped_data(n=240, n_groups=20, p=3, seed=0):
    """Features and a within-group correlated noise of known groups."""
    rng = np.random.default_rng(seed)
    groups = rng.integers(0, n_groups, size=n)
    X = rng.normal(size=(n, p)) + 0.5 * rng.normal(size=(n_groups, p))[groups]
    noise = rng.normal(size=n) + rng.normal(size=n_groups)[groups]
    return X, groups, noise, rng


def _binary(seed=0):
    X, g, noise, _ = _grouped_data(seed=seed)
    y = (X @ np.array([0.8, -0.5, 0.3]) + noise > 0).astype(int)
    return X, y, g


def _target(loss, seed=0):
    """X, y, groups for a regressor loss: a GLM with group effects."""
    X, g, noise, rng = _grouped_data(seed=seed)
    eta = 0.3 + X @ np.array([0.3, -0.2, 0.1]) + 0.3 * noise
    if loss == "squared_error":
        return X, eta + rng.normal(size=eta.size), g
    if loss == "poisson":
        return X, rng.poisson(np.exp(eta)).astype(float), g
    if loss == "gamma":
        return X, rng.gamma(2.0, np.exp(eta) / 2.0), g
    # tweedie, power 1.5: compound Poisson-Gamma with exact zeros
    mu = np.exp(eta)
    jumps = rng.poisson(mu**0.5 / 0.5)
    y = np.where(jumps > 0, rng.gamma(np.maximum(jumps, 1e-3), 0.5 * mu**0.5), 0.0)
    return X, y, g


_FAMILIES = {
    "squared_error": lambda: sm.families.Gaussian(),
    "poisson": lambda: sm.families.Poisson(),
    "gamma": lambda: sm.families.Gamma(sm.families.links.Log()),
    "tweedie": lambda: sm.families.Tweedie(var_power=1.5, link=sm.families.links.Log()),
}


def _regressor(loss):
    params = {"power": 1.5} if loss == "tweedie" else {}
    return NeuronRegressor(loss, alpha=0, optimizer="newton", tol=1e-10, **params)


def _classifier():
    return NeuronClassifier(C=np.inf, optimizer="newton", tol=1e-10)


def _quiet(fit, *args, **kwargs):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return fit(*args, **kwargs)


# -- cluster: statsmodels ---------------------------------------------------------
def test_cluster_matches_statsmodels_logit():
    X, y, g = _binary()
    res = _classifier().fit(X, y).inference(X, y, cov_type="cluster", groups=g)
    ref = sm.Logit(y, sm.add_constant(X)).fit(
        disp=0, method="newton", tol=1e-12, cov_type="cluster", cov_kwds={"groups": g}
    )
    np.testing.assert_allclose(res.bse, ref.bse, rtol=BSE_RTOL)
    _assert_cov(res.cov_params, ref.cov_params())
    assert res.n_groups == 20
    # Within-group correlation: the model-based errors are not these.
    assert not np.allclose(res.bse, _classifier().fit(X, y).inference(X, y).bse, rtol=1e-2)


def test_cluster_matches_statsmodels_mnlogit():
    X, _, g = _binary()
    y = np.digitize(X @ np.array([0.5, -0.5, 0.2]) + _grouped_data()[2], [-1.0, 0.5])
    res = _classifier().fit(X, y).inference(X, y, cov_type="cluster", groups=g)
    ref = sm.MNLogit(y, sm.add_constant(X)).fit(
        disp=0, method="newton", tol=1e-12, cov_type="cluster", cov_kwds={"groups": g}
    )
    # statsmodels' columns are the equations; ours run equation by equation.
    np.testing.assert_allclose(res.bse, np.asarray(ref.bse).T.ravel(), rtol=BSE_RTOL)
    _assert_cov(res.cov_params, ref.cov_params())


@pytest.mark.parametrize("loss", ["squared_error", "poisson", "gamma", "tweedie"])
def test_cluster_matches_statsmodels_glm(loss):
    X, y, g = _target(loss)
    res = _regressor(loss).fit(X, y).inference(X, y, cov_type="cluster", groups=g)
    glm = sm.GLM(y, sm.add_constant(X), family=_FAMILIES[loss]())
    ref = _quiet(glm.fit, tol=1e-13, cov_type="cluster", cov_kwds={"groups": g})
    np.testing.assert_allclose(res.params, ref.params, rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(res.bse, ref.bse, rtol=BSE_RTOL)
    _assert_cov(res.cov_params, ref.cov_params())


def test_cluster_with_string_and_tensor_labels():
    X, y, g = _binary()
    model = _classifier().fit(X, y)
    expected = model.inference(X, y, cov_type="cluster", groups=g).bse
    labels = np.array([f"school {k}" for k in g], dtype=object)
    before = labels.copy()
    # Other labels order the groups otherwise: the sums differ by rounding only.
    np.testing.assert_allclose(
        model.inference(X, y, cov_type="cluster", groups=labels).bse, expected, rtol=1e-13
    )
    np.testing.assert_array_equal(
        model.inference(X, y, cov_type="cluster", groups=torch.from_numpy(g)).bse, expected
    )
    np.testing.assert_array_equal(labels, before)  # the input is not changed


@pytest.mark.parametrize("cov_type", ["cluster", "HC3"])
def test_sparse_equals_dense(cov_type):
    sparse = pytest.importorskip("scipy.sparse")
    X, y, g = _binary()
    X = np.where(np.abs(X) < 0.5, 0.0, X)
    groups = g if cov_type == "cluster" else None
    dense = _classifier().fit(X, y).inference(X, y, cov_type=cov_type, groups=groups)
    X_s = sparse.csr_matrix(X)
    res = _classifier().fit(X_s, y).inference(X_s, y, cov_type=cov_type, groups=groups)
    np.testing.assert_allclose(res.bse, dense.bse, rtol=1e-10)


# -- frequency weights --------------------------------------------------------------
def test_cluster_frequency_weights_are_repeated_rows():
    X, y, g = _target("poisson")
    w = np.random.default_rng(3).integers(1, 4, size=y.size).astype(float)
    model = _regressor("poisson").fit(X, y, sample_weight=w)
    res = model.inference(X, y, sample_weight=w, cov_type="cluster", groups=g)
    rows = np.repeat(np.arange(y.size), w.astype(int))
    repeated = sm.GLM(y[rows], sm.add_constant(X[rows]), family=sm.families.Poisson())
    ref = _quiet(repeated.fit, tol=1e-13, cov_type="cluster", cov_kwds={"groups": g[rows]})
    np.testing.assert_allclose(res.bse, ref.bse, rtol=BSE_RTOL)
    _assert_cov(res.cov_params, ref.cov_params())
    # statsmodels' freq_weights: the same score sums, with the number of rows
    # n (not N = sum of weights) in the correction's (n-1)/(n-K).
    weighted = sm.GLM(y, sm.add_constant(X), family=sm.families.Poisson(), freq_weights=w)
    ref_fw = _quiet(weighted.fit, tol=1e-13, cov_type="cluster", cov_kwds={"groups": g})
    n, N, k = y.size, w.sum(), X.shape[1] + 1
    ratio = ((n - 1) / (n - k)) / ((N - 1) / (N - k))
    _assert_cov(res.cov_params * ratio, ref_fw.cov_params())


def test_a_group_of_zero_weight_is_absent():
    X, y, g = _binary()
    w = np.where(g == 3, 0.0, 1.0)
    keep = w > 0
    model = _classifier().fit(X, y, sample_weight=w)
    res = model.inference(X, y, sample_weight=w, cov_type="cluster", groups=g)
    ref = sm.Logit(y[keep], sm.add_constant(X[keep])).fit(
        disp=0, method="newton", tol=1e-12, cov_type="cluster",
        cov_kwds={"groups": g[keep]},
    )
    assert res.n_groups == 19
    np.testing.assert_allclose(res.bse, ref.bse, rtol=BSE_RTOL)


# -- HC2 / HC3 ------------------------------------------------------------------------
@pytest.mark.parametrize("cov_type", ["HC2", "HC3"])
def test_leverage_covariance_matches_statsmodels_ols(cov_type):
    X, y, _ = _target("squared_error")
    res = _regressor("squared_error").fit(X, y).inference(X, y, cov_type=cov_type)
    ref = sm.OLS(y, sm.add_constant(X)).fit(cov_type=cov_type)
    np.testing.assert_allclose(res.bse, ref.bse, rtol=BSE_RTOL)
    _assert_cov(res.cov_params, ref.cov_params())
    hc0 = _regressor("squared_error").fit(X, y).inference(X, y, cov_type="HC0")
    assert np.all(res.bse > hc0.bse)  # dividing by 1 - h_i < 1 widens them


@pytest.mark.parametrize("cov_type", ["HC2", "HC3"])
def test_leverage_frequency_weights_are_repeated_rows(cov_type):
    X, y, _ = _target("squared_error")
    w = np.random.default_rng(5).integers(1, 4, size=y.size).astype(float)
    model = _regressor("squared_error").fit(X, y, sample_weight=w)
    res = model.inference(X, y, sample_weight=w, cov_type=cov_type)
    rows = np.repeat(np.arange(y.size), w.astype(int))
    ref = sm.OLS(y[rows], sm.add_constant(X[rows])).fit(cov_type=cov_type)
    np.testing.assert_allclose(res.bse, ref.bse, rtol=BSE_RTOL)


@pytest.mark.parametrize("cov_type", ["HC2", "HC3"])
@pytest.mark.parametrize("loss", ["gamma", "tweedie"])
def test_leverage_of_a_non_canonical_link_is_statsmodels_observed_hat_matrix(loss, cov_type):
    # statsmodels' GLM returns HC0 under the names HC2/HC3; the reference is
    # built from its parts: observed-Hessian bread, score_obs and
    # get_hat_matrix_diag(observed=True). R's vcovHC takes the expected
    # information for both bread and leverage here, so it differs.
    X, y, _ = _target(loss)
    res = _regressor(loss).fit(X, y).inference(X, y, cov_type=cov_type)
    glm = sm.GLM(y, sm.add_constant(X), family=_FAMILIES[loss]())
    fit = _quiet(glm.fit, tol=1e-13)
    scores = glm.score_obs(fit.params, scale=fit.scale)
    bread = np.linalg.inv(glm.hessian(fit.params, scale=fit.scale))
    power = 0.5 if cov_type == "HC2" else 1.0
    scores = scores / ((1.0 - fit.get_hat_matrix_diag(observed=True)) ** power)[:, None]
    ref = bread @ scores.T @ scores @ bread
    _assert_cov(res.cov_params, ref)
    np.testing.assert_allclose(res.bse, np.sqrt(np.diag(ref)), rtol=BSE_RTOL)


# -- R: sandwich::vcovCL and vcovHC ------------------------------------------------
_R_FAMILIES = {
    "log_loss": "binomial()",
    "squared_error": "gaussian()",
    "poisson": "poisson()",
}


def _r_sandwich(X, y, family, expression, groups=None):
    """``expression`` (of ``fit``, a ``glm``) evaluated by Rscript, as a matrix."""
    if shutil.which("Rscript") is None:
        pytest.skip("Rscript is not installed (R references need r-base-core)")
    check = subprocess.run(
        ["Rscript", "-e", "quit(status = !requireNamespace('sandwich', quietly = TRUE))"],
        capture_output=True,
    )
    if check.returncode != 0:
        pytest.skip("R package sandwich is not installed (r-cran-sandwich)")
    columns = {f"x{j}": X[:, j] for j in range(X.shape[1])}
    columns["y"] = y
    if groups is not None:
        columns["g"] = groups
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "data.csv")
        np.savetxt(
            path, np.column_stack(list(columns.values())), delimiter=",", fmt="%.17g",
            header=",".join(columns), comments="",
        )
        terms = " + ".join(f"x{j}" for j in range(X.shape[1]))
        script = (
            "suppressMessages(library(sandwich)); "
            f"d <- read.csv('{path}'); "
            f"fit <- glm(y ~ {terms}, family = {family}, data = d, "
            "control = glm.control(epsilon = 1e-15, maxit = 100)); "
            f"v <- {expression}; "
            "write.table(format(v, digits = 17), quote = FALSE, row.names = FALSE, "
            "col.names = FALSE)"
        )
        out = subprocess.run(["Rscript", "-e", script], capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    return np.array([[float(v) for v in line.split()] for line in out.stdout.splitlines()])


def _fit(loss, X, y):
    return (_classifier() if loss == "log_loss" else _regressor(loss)).fit(X, y)


def _data(loss):
    return _binary() if loss == "log_loss" else _target(loss)


@pytest.mark.parametrize("loss", list(_R_FAMILIES))
def test_cluster_matches_r_vcovcl(loss):
    X, y, g = _data(loss)
    res = _fit(loss, X, y).inference(X, y, cov_type="cluster", groups=g)
    hc1 = _r_sandwich(X, y, _R_FAMILIES[loss], "vcovCL(fit, cluster = ~g, type = 'HC1')", g)
    hc0 = _r_sandwich(X, y, _R_FAMILIES[loss], "vcovCL(fit, cluster = ~g, type = 'HC0')", g)
    _assert_cov(res.cov_params, hc1)
    np.testing.assert_allclose(res.bse, np.sqrt(np.diag(hc1)), rtol=BSE_RTOL)
    # R's HC0 (its default for a glm) is G/(G-1) alone.
    n, k = res.nobs, res.params.size
    _assert_cov(res.cov_params * (n - k) / (n - 1), hc0)


@pytest.mark.parametrize("cov_type", ["HC2", "HC3"])
@pytest.mark.parametrize("loss", ["log_loss", "poisson"])
def test_leverage_covariance_matches_r_vcovhc(loss, cov_type):
    X, y, _ = _data(loss)
    res = _fit(loss, X, y).inference(X, y, cov_type=cov_type)
    ref = _r_sandwich(X, y, _R_FAMILIES[loss], f"vcovHC(fit, type = '{cov_type}')")
    np.testing.assert_allclose(res.bse, np.sqrt(np.diag(ref)), rtol=BSE_RTOL)
    _assert_cov(res.cov_params, ref)


# -- summary ---------------------------------------------------------------------------
def test_summary_names_the_covariance_groups_and_correction():
    X, y, g = _binary()
    model = _classifier().fit(X, y)
    summary = model.summary(X, y, cov_type="cluster", groups=g)
    header = dict(summary.header)
    assert header["Covariance type"] == "cluster"
    assert header["No. groups"] == "20"
    n, k, G = y.size, X.shape[1] + 1, 20
    factor = G / (G - 1) * (n - 1) / (n - k)
    assert f"{factor:.6g}" in str(summary) and "CR1" in str(summary)
    res = model.inference(X, y, cov_type="cluster", groups=g)
    np.testing.assert_allclose([row[3] for row in summary.table], res.bse, rtol=0)
    text = str(model.summary(X, y, cov_type="HC3"))
    assert "Covariance type           HC3" in text and "1 - h_i" in text


# -- refusals --------------------------------------------------------------------------
@pytest.fixture(scope="module")
def fitted():
    X, y, g = _binary()
    return _classifier().fit(X, y), X, y, g


@pytest.mark.parametrize(
    "groups, match",
    [
        (np.arange(10), r"groups must have shape \(n_samples,\) = \(240,\)"),
        (np.zeros(240), "groups has 1 cluster"),
        (np.where(np.arange(240) < 3, np.nan, 1.0 * (np.arange(240) % 5)), "3 missing"),
        (np.array([None] + ["a", "b"] * 119 + ["a"], dtype=object), "1 missing"),
        (np.ones((240, 2)), r"groups must have shape"),
    ],
    ids=["wrong_length", "one_group", "nan", "none", "two_way"],
)
def test_bad_groups_are_refused(fitted, groups, match):
    model, X, y, _ = fitted
    with pytest.raises(ValueError, match=match):
        model.inference(X, y, cov_type="cluster", groups=groups)


def test_groups_and_cov_type_must_agree(fitted):
    model, X, y, g = fitted
    with pytest.raises(ValueError, match="groups is used only by cov_type='cluster'"):
        model.inference(X, y, cov_type="HC1", groups=g)
    with pytest.raises(ValueError, match="cov_type='cluster' needs groups"):
        model.summary(X, y, cov_type="cluster")


def test_leverage_covariance_refused_where_no_hat_matrix():
    X, y, _ = _binary()
    y3 = y + (X[:, 0] > 1)
    multinomial = _classifier().fit(X, y3)
    with pytest.raises(ValueError, match="multinomial model with 3 outputs"):
        multinomial.inference(X, y3, cov_type="HC3")
    huber = NeuronRegressor("huber", alpha=0, optimizer="newton").fit(X, X[:, 0])
    with pytest.raises(ValueError, match="not a GLM's negative log-likelihood"):
        huber.inference(X, X[:, 0], cov_type="HC2")
    # The cluster covariance is a sandwich: defined for an M-estimator too.
    g = np.arange(X.shape[0]) % 7
    assert np.isfinite(huber.inference(X, X[:, 0], cov_type="cluster", groups=g).bse).all()


# -- Dask: the same numbers by reductions over the blocks ------------------------------
@pytest.mark.parametrize(
    "case", ["binary", "multinomial", "poisson"], ids=["binary", "multinomial", "poisson"]
)
def test_dask_equals_in_memory(case):
    da = pytest.importorskip("dask.array")
    X, y, g = _target("poisson") if case == "poisson" else _binary()
    if case == "multinomial":
        y = y + (X[:, 0] > 1)
    w = np.random.default_rng(7).integers(0, 3, size=y.size).astype(float)
    model = _regressor("poisson") if case == "poisson" else _classifier()
    memory = model.fit(X, y, sample_weight=w)
    X_d, y_d, w_d, g_d = (da.from_array(a, chunks=(70,) + a.shape[1:]) for a in (X, y, w, g))
    distributed = type(model)(**model.get_params()).fit(X_d, y_d, sample_weight=w_d)
    cov_types = ["cluster"] + ([] if case == "multinomial" else ["HC2", "HC3"])
    for cov_type in cov_types:
        groups = (g_d, g) if cov_type == "cluster" else (None, None)
        res = distributed.inference(X_d, y_d, w_d, cov_type=cov_type, groups=groups[0])
        ref = memory.inference(X, y, w, cov_type=cov_type, groups=groups[1])
        assert type(res).__name__ == "InferenceResults"
        np.testing.assert_allclose(res.bse, ref.bse, rtol=1e-10)
        assert res.n_groups == ref.n_groups
    with pytest.raises(ValueError, match=r"groups must have shape \(n_samples,\)"):
        distributed.inference(X_d, y_d, w_d, cov_type="cluster", groups=g_d[:-1])


def test_dask_with_a_distributed_client_equals_in_memory():
    """The per-block group codes also reach block objectives cached on workers."""
    da = pytest.importorskip("dask.array")
    distributed = pytest.importorskip("distributed")
    X, y, g = _binary()
    w = np.random.default_rng(7).integers(0, 3, size=y.size).astype(float)
    memory = _classifier().fit(X, y, sample_weight=w)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the cluster's own start-up notes
        cluster = distributed.LocalCluster(
            n_workers=2, threads_per_worker=1, processes=False, dashboard_address=None
        )
    with cluster, distributed.Client(cluster):
        X_d, y_d, w_d, g_d = (
            da.from_array(a, chunks=(70,) + a.shape[1:]).persist() for a in (X, y, w, g)
        )
        model = _classifier().fit(X_d, y_d, sample_weight=w_d)
        for cov_type, groups in [("cluster", g_d), ("HC3", None)]:
            res = model.inference(X_d, y_d, w_d, cov_type=cov_type, groups=groups)
            ref = memory.inference(
                X, y, w, cov_type=cov_type, groups=None if groups is None else g
            )
            np.testing.assert_allclose(res.bse, ref.bse, rtol=1e-10)
