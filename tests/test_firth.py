"""Firth's bias-reduced logistic regression (``NeuronClassifier(firth=True)``).

References and tolerances:

- coefficients and Wald standard errors: R's brglm2 (``glm(...,
  method="brglmFit", type="AS_mean")``, Firth's estimator for the logit),
  run through ``Rscript`` where it is installed (skipped, saying why,
  elsewhere), to 1e-6 absolute (observed ~1e-10) on separated,
  quasi-separated and ordinary data, on statsmodels' spector data, with
  frequency weights and without intercept, and with an offset;
- profile penalized-likelihood intervals and penalized likelihood-ratio
  tests (logistf's; logistf is not packaged for this system): an
  independent NumPy/SciPy implementation in this file (the penalized
  log-likelihood ``l + 1/2 log det X'WX`` maximised by SciPy over the free
  parameters with the full design's penalty, as logistf, and the bound
  root-found by ``brentq``), to 1e-6 absolute;
- storages (dense, sparse, torch) against each other to 1e-8; dask data
  against the same data in memory to 1e-10 (profile bounds 1e-8).
"""

import shutil
import subprocess
import warnings

import numpy as np
import pytest
import scipy.sparse
import statsmodels.api as sm
import torch
from scipy import optimize, special, stats

from sklearn_neuron import NeuronClassifier, SeparationWarning

TIGHT = dict(C=np.inf, firth=True, tol=1e-10)


# -- data ------------------------------------------------------------------------
def _data(kind, n=60, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, 3))
    y = (X[:, 0] + 0.8 * rng.normal(size=n) > 0).astype(int)
    if kind == "separated":  # x1 alone separates the classes completely
        X[:, 1] = np.where(y == 1, np.abs(X[:, 1]) + 0.1, -np.abs(X[:, 1]) - 0.1)
    elif kind == "quasi":  # x2 = 1 only in class 1: quasi-complete separation
        X[:, 2] = (y == 1) & (rng.random(n) < 0.5)
    return X, y


def _spector():
    data = sm.datasets.spector.load_pandas().data
    return data[["GPA", "TUCE", "PSI"]].to_numpy(), data["GRADE"].to_numpy().astype(int)


# -- R ------------------------------------------------------------------------------
def _require_r(package=None):
    if shutil.which("Rscript") is None:
        pytest.skip("Rscript not installed: the R references are not available")
    if package is not None:
        found = subprocess.run(
            ["Rscript", "-e", f"cat(requireNamespace('{package}', quietly=TRUE))"],
            capture_output=True, text=True, timeout=60,
        )
        if found.stdout.strip() != "TRUE":
            pytest.skip(f"R package {package} not installed: the R reference is not available")


def _weighted_case():
    X, y = _data("quasi", seed=3)
    weight = np.random.default_rng(3).integers(1, 4, size=y.size).astype(float)
    return X, y, weight


def _offset_case():
    X, y = _data("quasi", seed=4)
    return X, y, None, True, 0.5 * np.random.default_rng(4).normal(size=y.size)


#: The data of each comparison with brglm2: (X, y, weight or None, intercept,
#: offset or None).
BRGLM2_CASES = {
    "separated": (*_data("separated"), None, True, None),
    "quasi": (*_data("quasi"), None, True, None),
    "ordinary": (*_data("ordinary"), None, True, None),
    "spector": (*_spector(), None, True, None),
    "weighted_without_intercept": (*_weighted_case(), False, None),
    "offset": _offset_case(),
}


@pytest.fixture(scope="module")
def brglm2(tmp_path_factory):
    """brglm2's Firth estimate and standard errors (intercept first) of every
    case of ``BRGLM2_CASES``, from one R session (loading brglm2 takes seconds)."""
    _require_r("brglm2")
    folder = tmp_path_factory.mktemp("brglm2")
    lines = ["suppressMessages(library(brglm2))"]
    for name, (X, y, weight, intercept, offset) in BRGLM2_CASES.items():
        columns = [f"x{j}" for j in range(X.shape[1])]
        weight = np.ones(len(y)) if weight is None else weight
        offset = np.zeros(len(y)) if offset is None else offset
        np.savetxt(
            folder / f"{name}.csv", np.column_stack([y, weight, offset, X]), delimiter=",",
            header=",".join(["y", "w", "o", *columns]), comments="", fmt="%.17g",
        )
        formula = "y ~ . - w - o + offset(o)" + ("" if intercept else " - 1")
        lines.append(
            f"d <- read.csv('{folder / name}.csv'); "
            f"m <- glm({formula}, family=binomial, data=d, weights=w, method='brglmFit', "
            "type='AS_mean', epsilon=1e-13, maxit=1000); "
            "s <- summary(m)$coefficients; "
            f"write.table(s[, 1:2], '{folder / name}.out', sep=',', col.names=FALSE, "
            "row.names=FALSE)"
        )
    subprocess.run(
        ["Rscript", "-e", "; ".join(lines)], capture_output=True, text=True, timeout=300,
        check=True,
    )
    return {
        name: np.loadtxt(folder / f"{name}.out", delimiter=",", ndmin=2).T
        for name in BRGLM2_CASES
    }


def test_r_is_reachable_where_installed():
    _require_r()
    out = subprocess.run(
        ["Rscript", "-e", "cat(1 + 1)"], capture_output=True, text=True, timeout=60
    )
    assert out.returncode == 0 and out.stdout.strip() == "2"


@pytest.mark.parametrize("case", list(BRGLM2_CASES))
def test_matches_brglm2(brglm2, case):
    X, y, weight, intercept, offset = BRGLM2_CASES[case]
    model = NeuronClassifier(fit_intercept=intercept, **TIGHT)
    model.fit(X, y, sample_weight=weight, offset=offset)
    res = model.inference(X, y, weight, offset=offset)
    params, bse = brglm2[case]
    np.testing.assert_allclose(res.params, params, rtol=0, atol=1e-6)
    np.testing.assert_allclose(res.bse, bse, rtol=0, atol=1e-6)


# -- an independent implementation of the penalized likelihood (logistf's) ---------
def _penalized_loglike(beta, Xa, y):
    z = Xa @ beta
    p = special.expit(z)
    loglike = np.sum(y * z - np.logaddexp(0.0, z))
    sign, logdet = np.linalg.slogdet(Xa.T @ (Xa * (p * (1 - p))[:, None]))
    return loglike + 0.5 * logdet if sign > 0 else -np.inf


def _modified_score(Xa, y, beta):
    """Gradient of the penalized log-likelihood, ``Xa^T (y - p + h (1/2 - p))``
    with ``h`` the hat diagonal."""
    p = special.expit(Xa @ beta)
    W = p * (1 - p)
    info = Xa.T @ (Xa * W[:, None])
    h = W * np.einsum("ij,jk,ik->i", Xa, np.linalg.inv(info), Xa)
    return Xa.T @ (y - p + h * (0.5 - p))


def _profile(Xa, y, fixed, start, steps=4):
    """Maximum of the penalized log-likelihood with ``{index: value}`` fixed.

    The penalized likelihood need not be concave: far from the estimate
    the free parameters can have two local maxima (seen on these data), and
    BFGS stops on either. The largest of three is returned: BFGS from the
    estimate, from zero, and by continuation (the fixed values moved from
    the estimate's in ``steps`` steps, each fit started at the previous one).
    """
    free = [j for j in range(Xa.shape[1]) if j not in fixed]
    start = np.asarray(start, dtype=float)
    target = np.array([fixed[j] for j in fixed])
    origin = start[list(fixed)]

    def fit(values, b0):
        def full(b):
            beta = start.copy()
            beta[free] = b
            beta[list(fixed)] = values
            return beta

        def objective(b):
            return -_penalized_loglike(full(b), Xa, y)

        def gradient(b):
            return -_modified_score(Xa, y, full(b))[free]

        if not free:
            return objective(b0), b0
        result = optimize.minimize(
            objective, b0, jac=gradient, method="BFGS", options={"gtol": 1e-10}
        )
        return result.fun, result.x

    values = [fit(target, start[free])[0], fit(target, np.zeros(len(free)))[0]]
    b = start[free]
    for t in np.linspace(0.0, 1.0, steps + 1)[1:]:
        value, b = fit(origin + t * (target - origin), b)
    return -min(*values, value)


def _assert_profile_roots(res, Xa, y):
    """Each bound of ``res.conf_int()`` is the reference profile's root, on its
    side of the estimate: the reference's excess there, over its slope (a
    secant towards the estimate), is the distance to the reference's root."""
    beta = res.params
    top = _penalized_loglike(beta, Xa, y)
    critical = stats.chi2.isf(0.05, 1)
    ci = res.conf_int(0.05)
    for j in range(Xa.shape[1]):
        def excess(value, j=j):
            return 2 * (top - _profile(Xa, y, {j: value}, beta)) - critical

        assert ci[j, 0] < beta[j] < ci[j, 1]
        for bound, inward in ((ci[j, 0], 1e-3), (ci[j, 1], -1e-3)):
            at = excess(bound)
            slope = (at - excess(bound + inward)) / -inward
            assert abs(at / slope) < 1e-6
    return ci


def test_profile_intervals_on_quasi_separated_data():
    """Every x = 0 row is of class 0: far out along the profile the fitted
    probabilities reach 0 and 1, the information vanishes, and the restricted
    fit's solve failed on a singular matrix (summary() and conf_int() raised
    torch's LinAlgError). Its steps are now damped there."""
    x = np.array([0.0] * 6 + [0.1, 0.5, 1, 2, 0.02, 0.3, 0.8, 1.5, 0.05, 0.4, 0.9, 1.9,
                              0.01, 0.2, 0.7, 1.2, 0.15])
    y = (x > 0).astype(int)
    X = x[:, None]
    model = NeuronClassifier(**TIGHT).fit(X, y)
    res = model.inference(X, y)
    _assert_profile_roots(res, np.column_stack([np.ones(len(y)), X]), y)
    assert "x0" in str(model.summary(X, y))


def test_profile_intervals_and_penalized_lr_tests_match_root_find():
    X, y = _data("separated", n=40, seed=1)
    res = NeuronClassifier(**TIGHT).fit(X, y).inference(X, y)
    Xa = np.column_stack([np.ones(len(y)), X])  # intercept first, as params
    beta = res.params
    top = _penalized_loglike(beta, Xa, y)
    assert res.penalized_llf == pytest.approx(top, rel=1e-10)
    ci = _assert_profile_roots(res, Xa, y)
    for j in range(Xa.shape[1]):
        chi2 = 2 * (top - _profile(Xa, y, {j: 0.0}, beta))
        assert res.penalized_lr_statistics[j] == pytest.approx(chi2, abs=1e-6)
        assert res.pvalues[j] == pytest.approx(stats.chi2.sf(chi2, 1), abs=1e-6)
    # The global test: every coefficient but the intercept at zero.
    null = _profile(Xa, y, {j: 0.0 for j in range(1, Xa.shape[1])}, beta)
    assert res.llr == pytest.approx(2 * (top - null), abs=1e-6)
    # Wald intervals stay available, and differ from the profile ones here.
    wald = res.wald_conf_int(0.05)
    np.testing.assert_allclose(
        wald, res.params[:, None] + np.outer(res.bse, [-1.96, 1.96]), rtol=1e-3
    )
    assert np.abs(wald - ci).max() > 0.1


# -- behaviour -----------------------------------------------------------------------
def test_finite_where_maximum_likelihood_diverges():
    X, y = _data("separated")
    # Maximum likelihood: the coefficients grow with the optimizer's effort.
    sizes = []
    for tol in (1e-4, 1e-8):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            ml = NeuronClassifier(C=np.inf, optimizer="newton", tol=tol, max_iter=500)
            sizes.append(np.abs(ml.fit(X, y).coef_).max())
    assert sizes[1] > sizes[0] + 1.0
    # Firth: the same finite estimate whatever the tolerance, without a warning.
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        loose = NeuronClassifier(C=np.inf, firth=True, tol=1e-6).fit(X, y)
        tight = NeuronClassifier(**TIGHT).fit(X, y)
    assert np.isfinite(tight.coef_).all() and np.abs(tight.coef_).max() < 20
    np.testing.assert_allclose(loose.coef_, tight.coef_, atol=1e-4)
    assert tight.converged_ and tight.optimizer_ == "newton"


def _firth_gradient(X, y, beta):
    """The modified score of ``beta`` (intercept first) on X without intercept column."""
    return _modified_score(np.column_stack([np.ones(len(y)), X]), y, beta)


def test_estimate_zeroes_the_modified_score():
    X, y = _data("quasi", seed=5)
    model = NeuronClassifier(**TIGHT).fit(X, y)
    beta = np.concatenate([model.intercept_, model.coef_[0]])
    assert np.abs(_firth_gradient(X, y, beta)).max() < 1e-8


def test_dense_sparse_and_torch_agree():
    X, y = _data("quasi", n=80, seed=2)
    X[np.abs(X) < 0.5] = 0.0
    dense = NeuronClassifier(**TIGHT).fit(X, y)
    sparse = NeuronClassifier(**TIGHT).fit(scipy.sparse.csr_matrix(X), y)
    tensor = NeuronClassifier(**TIGHT).fit(torch.from_numpy(X), torch.from_numpy(y))
    for other in (sparse, tensor):
        np.testing.assert_allclose(np.asarray(other.coef_), dense.coef_, rtol=0, atol=1e-8)
        np.testing.assert_allclose(
            np.asarray(other.intercept_), dense.intercept_, rtol=0, atol=1e-8
        )
    res = NeuronClassifier(**TIGHT).fit(X, y).inference(scipy.sparse.csr_matrix(X), y)
    np.testing.assert_allclose(res.params[1:], dense.coef_[0], atol=1e-8)


def test_large_data_takes_the_chunked_pass():
    # More rows than one chunk of the hat pass and of the fused Gram pass.
    rng = np.random.default_rng(4)
    X = rng.normal(size=(20_000, 4))
    y = (X @ [1.0, -0.5, 0.0, 0.25] + rng.logistic(size=20_000) > 0).astype(int)
    model = NeuronClassifier(**TIGHT).fit(X, y)
    beta = np.concatenate([model.intercept_, model.coef_[0]])
    assert np.abs(_firth_gradient(X, y, beta)).max() < 1e-6


def test_frequency_weights_equal_repeated_rows():
    X, y = _data("separated", n=30, seed=6)
    weight = np.random.default_rng(6).integers(1, 4, size=y.size)
    weighted = NeuronClassifier(**TIGHT).fit(X, y, sample_weight=weight.astype(float))
    repeated = NeuronClassifier(**TIGHT).fit(np.repeat(X, weight, 0), np.repeat(y, weight))
    np.testing.assert_allclose(weighted.coef_, repeated.coef_, rtol=0, atol=1e-8)


def test_inference_of_a_default_fit_is_polished():
    X, y = _data("separated")
    loose = NeuronClassifier(C=np.inf, firth=True).fit(X, y).inference(X, y)
    tight = NeuronClassifier(**TIGHT).fit(X, y).inference(X, y)
    np.testing.assert_allclose(loose.params, tight.params, rtol=0, atol=1e-8)
    np.testing.assert_allclose(loose.bse, tight.bse, rtol=0, atol=1e-8)


def test_summary_says_firth():
    X, y = _data("separated")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        summary = NeuronClassifier(**TIGHT).fit(X, y).summary(X, y)
    text = str(summary)
    assert "Firth-penalized" in text and "profile penalized likelihood" in text
    assert summary.columns[:4] == ["coef", "std err", "chi2", "P>chi2"]
    res = NeuronClassifier(**TIGHT).fit(X, y).inference(X, y)
    np.testing.assert_allclose([row[6:] for row in summary.table], res.conf_int(), rtol=1e-10)
    np.testing.assert_allclose([row[5] for row in summary.table], res.pvalues, rtol=1e-10)
    assert "Penalized log-likelihood" in dict(summary.header)


def test_separation_warnings_name_firth():
    X, y = _data("separated")
    with pytest.warns(SeparationWarning, match="firth=True"):
        NeuronClassifier(C=np.inf, optimizer="newton").fit(X, y)
    model = NeuronClassifier(C=np.inf, optimizer="newton", max_iter=3)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model.fit(X, y)
    with pytest.warns(SeparationWarning, match="firth=True"):
        model.inference(X, y)


@pytest.mark.parametrize(
    "params, match",
    [
        (dict(C=1.0), "needs C=np.inf"),
        (dict(C=np.inf, loss="hinge"), "needs loss='log_loss'"),
        (dict(C=np.inf, optimizer="lbfgs"), "optimizer='lbfgs' is not supported"),
        (dict(C=np.inf, optimizer="sgd"), "optimizer='sgd' is not supported"),
    ],
)
def test_refuses_other_models(params, match):
    X, y = _data("ordinary")
    model = NeuronClassifier(firth=True, **params)
    with pytest.raises(ValueError, match=match):
        model.fit(X, y)
    assert not hasattr(model, "coef_")


def test_refuses_more_than_two_classes():
    X, y = _data("ordinary")
    y = y + (X[:, 2] > 0.5)
    with pytest.raises(ValueError, match="two classes; y has 3"):
        NeuronClassifier(C=np.inf, firth=True).fit(X, y)


def test_refuses_a_singular_design():
    X, _ = _data("ordinary")
    X = np.column_stack([X, X[:, 0]])
    y = (X[:, 0] > 0).astype(int)
    with pytest.raises(ValueError, match="full column rank"):
        NeuronClassifier(C=np.inf, firth=True).fit(X, y)


def _dask_pair(seed=2):
    da = pytest.importorskip("dask.array")
    X, y = _data("separated", n=90, seed=seed)
    weight = np.random.default_rng(seed).integers(1, 3, size=y.size).astype(float)
    dask_data = (da.from_array(X, chunks=30), da.from_array(y, chunks=30),
                 da.from_array(weight, chunks=30))
    return (X, y, weight), dask_data


def test_dask_equals_memory():
    memory, dask_data = _dask_pair()
    in_memory = NeuronClassifier(**TIGHT).fit(*memory)
    on_dask = NeuronClassifier(**TIGHT).fit(*dask_data)
    np.testing.assert_allclose(on_dask.coef_, in_memory.coef_, rtol=0, atol=1e-10)
    np.testing.assert_allclose(on_dask.intercept_, in_memory.intercept_, rtol=0, atol=1e-10)
    expected, res = in_memory.inference(*memory), on_dask.inference(*dask_data)
    np.testing.assert_allclose(res.params, expected.params, rtol=0, atol=1e-10)
    np.testing.assert_allclose(res.bse, expected.bse, rtol=0, atol=1e-10)
    assert res.penalized_llf == pytest.approx(expected.penalized_llf, rel=1e-12)


@pytest.mark.slow
def test_dask_profile_intervals_and_tests_equal_memory():
    memory, dask_data = _dask_pair()
    expected = NeuronClassifier(**TIGHT).fit(*memory).inference(*memory)
    res = NeuronClassifier(**TIGHT).fit(*dask_data).inference(*dask_data)
    np.testing.assert_allclose(res.conf_int(), expected.conf_int(), rtol=0, atol=1e-8)
    np.testing.assert_allclose(res.pvalues, expected.pvalues, rtol=0, atol=1e-10)
    assert res.llr == pytest.approx(expected.llr, abs=1e-8)


def test_inputs_are_not_mutated():
    X, y = _data("separated")
    X0, y0 = X.copy(), y.copy()
    NeuronClassifier(**TIGHT).fit(X, y).summary(X, y)
    np.testing.assert_array_equal(X, X0)
    np.testing.assert_array_equal(y, y0)


def test_refuses_robust_covariances():
    X, y = _data("separated")
    model = NeuronClassifier(**TIGHT).fit(X, y)
    with pytest.raises(ValueError, match="cov_type='HC0' is not available for a Firth fit"):
        model.inference(X, y, cov_type="HC0")


@pytest.mark.skipif(not torch.cuda.is_available(), reason="CUDA not available")
def test_cuda_matches_cpu():
    X, y = _data("quasi", seed=7)
    cpu = NeuronClassifier(**TIGHT).fit(X, y)
    cuda = NeuronClassifier(device="cuda", **TIGHT).fit(X, y)
    np.testing.assert_allclose(cuda.coef_, cpu.coef_, rtol=0, atol=1e-8)
    res = cuda.inference(X, y)
    np.testing.assert_allclose(res.bse, cpu.inference(X, y).bse, rtol=0, atol=1e-8)


def test_summary_of_large_data_shows_wald_statistics(monkeypatch):
    import sklearn_neuron._inference.firth as firth

    X, y = _data("separated")
    res = NeuronClassifier(**TIGHT).fit(X, y).inference(X, y)
    monkeypatch.setattr(firth, "PROFILE_SUMMARY_WORK", 100)  # as if 60 rows were many
    summary = res.summary()
    assert summary.columns[2:4] == ["z", "P>|z|"]
    lows = [row[6] for row in summary.table]
    np.testing.assert_allclose(lows, res.wald_conf_int()[:, 0], rtol=1e-12)
    assert "results.conf_int() compute them" in str(summary)
