"""Inference on fitted neurons against statsmodels, and its refusals and warnings.

Every comparison uses an unpenalized fit (``C=np.inf``, Newton, ``tol=1e-10``)
on data whose classes overlap, so that the maximum-likelihood estimate exists.
Tolerances (observed deviations are around 1e-11 or smaller):

- params: 1e-6 absolute;
- standard errors: 1e-5 relative (also the robust HC0/HC1 ones);
- p-values and confidence-interval bounds: 1e-6 absolute;
- log-likelihood, null log-likelihood, AIC, BIC, pseudo-R2, LR statistic:
  1e-8 relative.

statsmodels' ``cov_type="HC1"`` of its maximum-likelihood models (Logit,
MNLogit, GLM) applies no small-sample factor unless given one
(``cov_kwds={"scaling_factor": ...}``) and then equals its HC0; ours is HC0
times ``nobs / (nobs - n_params)`` (the definition of HC1, as in
statsmodels' OLS), so HC1 is checked against statsmodels' HC1 with that
scaling factor and against OLS's HC1 for a least-squares loss.
"""

import doctest
import runpy
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import scipy.sparse
import statsmodels.api as sm
import torch
from _datasets import classification_dataset
from scipy import stats
from sklearn.datasets import make_classification

from sklearn_neuron import (
    InferenceResults,
    NeuronClassifier,
    PenalizedInferenceWarning,
    SeparationWarning,
    likelihood_ratio_test,
)
from sklearn_neuron._inference import results as _inference
from sklearn_neuron._inference.separation import information_bound
from sklearn_neuron._loss.losses import CLASSIFICATION_LOSSES, NeuronLoss

PARAMS_ATOL = 1e-6
BSE_RTOL = 1e-5
P_ATOL = 1e-6
LL_RTOL = 1e-8


def unpenalized():
    return NeuronClassifier(C=np.inf, optimizer="newton", tol=1e-10)


def spector():
    data = sm.datasets.spector.load_pandas().data
    return data[["GPA", "TUCE", "PSI"]], data["GRADE"].astype(int)


def anes96():
    data = sm.datasets.anes96.load_pandas().data
    return data[["logpopul", "selfLR", "age", "educ", "income"]], data["PID"].astype(
        int
    )


def binary_dataset(name):
    if name == "spector":
        return spector()
    if name == "synthetic_binary":
        return classification_dataset("synthetic_binary")
    X, y = make_classification(
        n_samples=1000,
        n_features=8,
        n_informative=5,
        n_redundant=0,
        flip_y=0.2,
        random_state=3,
    )
    return X, y


def multinomial_dataset(name):
    if name == "anes96":
        return anes96()
    return classification_dataset("synthetic_multiclass")


def assert_matches(res, params, bse, pvalues, conf_int):
    np.testing.assert_allclose(res.params, params, rtol=0, atol=PARAMS_ATOL)
    np.testing.assert_allclose(res.bse, bse, rtol=BSE_RTOL)
    np.testing.assert_allclose(res.pvalues, pvalues, rtol=0, atol=P_ATOL)
    np.testing.assert_allclose(res.conf_int(), conf_int, rtol=0, atol=PARAMS_ATOL)


def assert_fit_statistics(res, sm_res, bic=None):
    for name in ("llf", "llnull", "aic", "prsquared", "llr", "df_model", "df_resid"):
        np.testing.assert_allclose(
            getattr(res, name), getattr(sm_res, name), rtol=LL_RTOL
        )
    np.testing.assert_allclose(
        res.bic, sm_res.bic if bic is None else bic, rtol=LL_RTOL
    )
    np.testing.assert_allclose(
        res.llr_pvalue, sm_res.llr_pvalue, rtol=1e-6, atol=1e-300
    )


# -- against statsmodels ---------------------------------------------------------
@pytest.mark.parametrize("name", ["spector", "synthetic_binary", "overlap_1000"])
def test_binary_matches_logit(name):
    X, y = binary_dataset(name)
    res = unpenalized().fit(X, y).inference(X, y)
    sm_res = sm.Logit(np.asarray(y), sm.add_constant(np.asarray(X))).fit(disp=0)
    assert_matches(res, sm_res.params, sm_res.bse, sm_res.pvalues, sm_res.conf_int())
    np.testing.assert_allclose(
        res.cov_params, sm_res.cov_params(), rtol=BSE_RTOL, atol=1e-12
    )
    assert_fit_statistics(res, sm_res)
    assert res.nobs == len(y)
    np.testing.assert_allclose(res.deviance, -2 * sm_res.llf, rtol=LL_RTOL)
    test = res.lr_test()
    assert test.df == sm_res.df_model
    np.testing.assert_allclose(test.statistic, sm_res.llr, rtol=LL_RTOL)


@pytest.mark.parametrize("alpha", [0.01, 0.1, 0.5])
def test_conf_int_any_level(alpha):
    X, y = spector()
    res = unpenalized().fit(X, y).inference(X, y)
    sm_res = sm.Logit(y, sm.add_constant(X)).fit(disp=0)
    np.testing.assert_allclose(
        res.conf_int(alpha), sm_res.conf_int(alpha), atol=PARAMS_ATOL
    )
    with pytest.raises(ValueError, match="alpha"):
        res.conf_int(1.5)


@pytest.mark.parametrize("name", ["anes96", "synthetic_multiclass"])
def test_multinomial_matches_mnlogit(name):
    X, y = multinomial_dataset(name)
    res = unpenalized().fit(X, y).inference(X, y)
    sm_res = sm.MNLogit(np.asarray(y), sm.add_constant(np.asarray(X))).fit(
        disp=0, method="newton", tol=1e-12, maxiter=100
    )
    # MNLogit: params (k, K-1), one column per class against the first class.
    flat = lambda a: np.asarray(a).ravel(order="F")  # noqa: E731
    assert_matches(
        res,
        flat(sm_res.params),
        flat(sm_res.bse),
        flat(sm_res.pvalues),
        np.asarray(sm_res.conf_int()).reshape(-1, 2),
    )
    np.testing.assert_allclose(
        res.cov_params, sm_res.cov_params(), rtol=BSE_RTOL, atol=1e-12
    )
    assert_fit_statistics(res, sm_res)
    assert res.param_names[0].endswith("vs " + str(np.unique(y)[0]) + ": const")


def test_glm_binomial_frequency_weights():
    X, y = binary_dataset("synthetic_binary")
    weight = np.random.default_rng(0).integers(1, 5, size=len(y)).astype(float)
    res = unpenalized().fit(X, y, sample_weight=weight).inference(X, y, weight)
    glm = sm.GLM(
        y, sm.add_constant(X), family=sm.families.Binomial(), freq_weights=weight
    )
    sm_res = glm.fit(tol=1e-12)
    assert_matches(res, sm_res.params, sm_res.bse, sm_res.pvalues, sm_res.conf_int())
    for name in ("llf", "aic", "deviance", "null_deviance"):
        np.testing.assert_allclose(
            getattr(res, name), getattr(sm_res, name), rtol=LL_RTOL
        )
    np.testing.assert_allclose(res.bic, sm_res.bic_llf, rtol=LL_RTOL)
    assert res.nobs == weight.sum()
    assert res.df_resid == sm_res.df_resid
    # Frequency weights: the same as repeating each sample weight times.
    rows = np.repeat(np.arange(len(y)), weight.astype(int))
    repeated = unpenalized().fit(X[rows], y[rows]).inference(X[rows], y[rows])
    np.testing.assert_allclose(res.bse, repeated.bse, rtol=1e-7)
    np.testing.assert_allclose(res.bic, repeated.bic, rtol=1e-9)
    robust = (
        unpenalized()
        .fit(X, y, sample_weight=weight)
        .inference(X, y, weight, cov_type="HC0")
    )
    np.testing.assert_allclose(
        robust.bse, glm.fit(tol=1e-12, cov_type="HC0").bse, rtol=BSE_RTOL
    )


@pytest.mark.parametrize("name", ["spector", "anes96"])
def test_robust_covariance_matches_statsmodels(name):
    X, y = spector() if name == "spector" else anes96()
    model = sm.Logit if name == "spector" else sm.MNLogit
    clf = unpenalized().fit(X, y)
    hc0 = clf.inference(X, y, cov_type="HC0")
    hc1 = clf.inference(X, y, cov_type="HC1")
    sm_hc0 = model(np.asarray(y), sm.add_constant(np.asarray(X))).fit(
        disp=0, method="newton", cov_type="HC0"
    )
    cov = np.asarray(sm_hc0.cov_params())
    np.testing.assert_allclose(hc0.cov_params, cov, rtol=BSE_RTOL, atol=1e-12)
    n, k = len(y), hc0.params.size
    sm_hc1 = model(np.asarray(y), sm.add_constant(np.asarray(X))).fit(
        disp=0, method="newton", cov_type="HC1",
        cov_kwds={"scaling_factor": n / (n - k)},
    )
    np.testing.assert_allclose(
        hc1.cov_params, np.asarray(sm_hc1.cov_params()), rtol=BSE_RTOL, atol=1e-12
    )
    np.testing.assert_allclose(hc1.cov_params, cov * n / (n - k), rtol=BSE_RTOL, atol=1e-12)
    assert hc1.cov_type == "HC1" and "HC1" in str(hc1.summary())


class LeastSquares(NeuronLoss):
    """``(z - y)^2 / 2`` on the raw output: a linear probability model."""

    name = "squared_error"

    def __init__(self, n_classes=2):
        super().__init__(1, CLASSIFICATION_LOSSES["log_loss"](2).activation)

    def value(self, raw, target):
        return 0.5 * ((raw - target) ** 2).sum(dim=1)

    def value_gradient(self, raw, target):
        return self.value(raw, target), raw - target

    def hessian(self, raw, target):
        return torch.ones_like(raw).unsqueeze(-1)


class Hinge(LeastSquares):
    name = "hinge"
    twice_differentiable = False


def with_loss(monkeypatch, loss_cls, X, y):
    """A fitted classifier whose loss is swapped for ``loss_cls``, at its OLS fit."""
    monkeypatch.setitem(CLASSIFICATION_LOSSES, loss_cls.name, loss_cls)
    clf = unpenalized().fit(X, y)
    clf.set_params(loss=loss_cls.name)
    beta = np.linalg.lstsq(
        sm.add_constant(np.asarray(X)), np.asarray(y, float), rcond=None
    )[0]
    clf.intercept_, clf.coef_ = beta[:1], beta[None, 1:]
    return clf


def test_non_likelihood_loss_refused_but_sandwich_allowed(monkeypatch):
    X, y = spector()
    clf = with_loss(monkeypatch, LeastSquares, X, y)
    with pytest.raises(
        ValueError, match="no likelihood and hence no Fisher information"
    ):
        clf.inference(X, y)
    ols = sm.OLS(np.asarray(y, float), sm.add_constant(np.asarray(X)))
    for cov_type in ("HC0", "HC1"):
        res = clf.inference(X, y, cov_type=cov_type)
        np.testing.assert_allclose(
            res.bse, ols.fit(cov_type=cov_type).bse, rtol=BSE_RTOL
        )
    with pytest.raises(ValueError, match="needs a likelihood"):
        res.llf  # noqa: B018
    text = str(res.summary())
    assert "Log-likelihood" not in text and "GPA" in text


def test_non_differentiable_non_likelihood_loss_refused(monkeypatch):
    X, y = spector()
    clf = with_loss(monkeypatch, Hinge, X, y)
    for cov_type in ("nonrobust", "HC0"):
        with pytest.raises(ValueError, match="hinge"):
            clf.inference(X, y, cov_type=cov_type)


# -- likelihood-ratio tests ------------------------------------------------------
def test_likelihood_ratio_test_nested_models():
    X, y = spector()
    full = unpenalized().fit(X, y).inference(X, y)
    small = X[["GPA", "TUCE"]]
    restricted = unpenalized().fit(small, y).inference(small, y)
    sm_full = sm.Logit(y, sm.add_constant(X)).fit(disp=0)
    sm_restricted = sm.Logit(y, sm.add_constant(small)).fit(disp=0)
    test = likelihood_ratio_test(restricted, full)
    expected = 2 * (sm_full.llf - sm_restricted.llf)
    np.testing.assert_allclose(test.statistic, expected, rtol=LL_RTOL)
    assert test.df == 1
    np.testing.assert_allclose(
        test.pvalue,
        stats.chi2.sf(expected, 1),
        rtol=1e-8,
    )
    with pytest.raises(ValueError, match="fewer"):
        likelihood_ratio_test(full, restricted)
    other = unpenalized().fit(X[:-2], y[:-2]).inference(X[:-2], y[:-2])
    with pytest.raises(ValueError, match="same observations"):
        likelihood_ratio_test(other, full)
    with pytest.raises(TypeError):
        likelihood_ratio_test(sm_restricted, full)


# -- refusals and warnings -------------------------------------------------------
def test_penalized_fit_warns_and_uses_penalized_hessian():
    X, y = classification_dataset("synthetic_binary")
    clf = NeuronClassifier(C=0.5, optimizer="newton", tol=1e-10).fit(X, y)
    with pytest.warns(PenalizedInferenceWarning, match="not valid for penalized fits"):
        res = clf.inference(X, y)
    Xa = sm.add_constant(X)
    p = 1 / (1 + np.exp(-Xa @ res.params))
    penalty = np.eye(Xa.shape[1]) / clf.C
    penalty[0, 0] = 0.0
    expected = np.linalg.inv(Xa.T @ (Xa * (p * (1 - p))[:, None]) + penalty)
    np.testing.assert_allclose(res.cov_params, expected, rtol=1e-10)
    assert "NOT valid" in str(res.summary())
    with pytest.warns(PenalizedInferenceWarning):
        multinomial = NeuronClassifier(C=1.0).fit(*classification_dataset("wine"))
        res = multinomial.inference(*classification_dataset("wine"))
    assert np.all(np.isfinite(res.bse))


def test_l1_penalty_refused():
    X, y = spector()
    clf = unpenalized().fit(X, y)
    clf.l1_ratio = 0.5  # stands for an elastic-net fit
    with pytest.raises(ValueError, match="L1 penalty"):
        clf.inference(X, y)


def test_invalid_cov_type():
    X, y = spector()
    with pytest.raises(ValueError, match="cov_type"):
        unpenalized().fit(X, y).inference(X, y, cov_type="HC4")


def separated_data(kind):
    rng = np.random.default_rng(0)
    X = rng.normal(size=(100, 2))
    y = (X[:, 0] > 0).astype(int)
    if kind == "quasi":  # a tied block at x0 = 0 holds both classes
        X[:30, 0] = 0.0
        y[:30] = rng.integers(0, 2, 30)
    return X, y


@pytest.mark.parametrize("tol", [1e-4, 1e-10])
@pytest.mark.parametrize(
    "kind, message", [("perfect", "Perfect separation"), ("quasi", "Quasi-complete")]
)
def test_separation_warns(kind, message, tol):
    X, y = separated_data(kind)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        clf = NeuronClassifier(C=np.inf, optimizer="newton", tol=tol).fit(X, y)
    with pytest.warns(SeparationWarning, match=message):
        clf.inference(X, y)


def test_separation_multinomial_and_no_false_alarm():
    X, y = classification_dataset("iris")  # setosa is linearly separable
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        clf = unpenalized().fit(X, y)
    with pytest.warns(SeparationWarning, match="separation"):
        clf.inference(X, y)
    X, y = binary_dataset("overlap_1000")
    with warnings.catch_warnings():
        warnings.simplefilter("error", SeparationWarning)
        for optimizer in ("newton", "lbfgs"):
            NeuronClassifier(C=np.inf, optimizer=optimizer, max_iter=1000).fit(
                X, y
            ).inference(X, y)


def test_singular_information_refused():
    X, y = classification_dataset("synthetic_binary")
    X = np.column_stack([X, X[:, 0] + X[:, 1]])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        clf = unpenalized().fit(X, y)
    with pytest.raises(ValueError, match="singular"):
        clf.inference(X, y)


# -- summary ---------------------------------------------------------------------
def test_summary_binary():
    X, y = spector()
    clf = unpenalized().fit(X, y)
    summary = clf.summary(X, y, alpha=0.1)
    text = str(summary)
    for expected in (
        "GPA",
        "TUCE",
        "PSI",
        "const",
        "No. observations",
        "32",
        "Log-likelihood",
        "LL-null",
        "Deviance",
        "AIC",
        "BIC",
        "Pseudo R-squ.",
        "LLR p-value",
        "Covariance type",
        "nonrobust",
        "[0.05",
        "0.95]",
    ):
        assert expected in text, expected
    frame = summary.frame
    assert list(frame.index) == ["const", "GPA", "TUCE", "PSI"]
    assert list(frame.columns) == ["coef", "std err", "z", "P>|z|", "[0.05", "0.95]"]
    res = clf.inference(X, y)
    np.testing.assert_allclose(frame["std err"], res.bse)
    assert "<table" in summary._repr_html_()
    assert "Logit" in repr(res)


def test_summary_multinomial_reference_class():
    X, y = anes96()
    summary = unpenalized().fit(X, y).summary(X, y)
    text = str(summary)
    assert "Reference-class parametrisation" in text and "reference class '0'" in text
    assert "1 vs 0" in text and "6 vs 0" in text and "selfLR" in text
    assert summary.frame.index.names == ["equation", "term"]
    assert summary.frame.shape == (6 * 6, 6)


def test_feature_names_default_and_no_intercept():
    X, y = classification_dataset("synthetic_binary")
    clf = NeuronClassifier(C=np.inf, optimizer="newton", tol=1e-10, fit_intercept=False)
    res = clf.fit(X, y).inference(X, y)
    assert res.param_names == [f"x{j}" for j in range(X.shape[1])]
    sm_res = sm.Logit(y, X).fit(disp=0)
    np.testing.assert_allclose(res.bse, sm_res.bse, rtol=BSE_RTOL)
    np.testing.assert_allclose(res.llnull, sm_res.llnull, rtol=LL_RTOL)
    assert res.df_model == sm_res.df_model


def test_inference_sets_no_attribute():
    X, y = spector()
    clf = unpenalized().fit(X, y)
    before = dict(vars(clf))
    clf.inference(X, y, cov_type="HC1")
    clf.summary(X, y)
    assert vars(clf).keys() == before.keys()


def test_inference_checks_data_against_fit():
    X, y = spector()
    clf = unpenalized().fit(X, y)
    with pytest.raises(ValueError):
        clf.inference(X.iloc[:, :2], y)
    with pytest.raises(ValueError, match="not fitted on"):
        clf.inference(X, y + 5)
    with pytest.raises(ValueError, match=r"labels \[0.5\] that the model was not"):
        clf.inference(X, np.where(np.arange(len(y)) == 3, 0.5, y))


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
@pytest.mark.parametrize("sparse", [False, True], ids=["dense", "csr"])
def test_inference_refuses_non_finite_x(bad, sparse):
    # Finiteness is checked on the fitted values, not by a pass over X: a
    # bad entry must still be named, also in a column whose coefficient is 0.
    X, y = spector()
    X = np.asarray(X, dtype=float)
    clf = unpenalized().fit(X, y)
    clf.coef_[0, 1] = 0.0
    X_bad = X.copy()
    X_bad[4, 1] = bad
    if sparse:
        X_bad = scipy.sparse.csr_matrix(X_bad)
    with pytest.raises(ValueError, match="Input X contains NaN or infinity"):
        clf.inference(X_bad, y)


def test_inference_says_when_fitted_values_overflow():
    X, y = spector()
    X = np.asarray(X, dtype=float)
    clf = unpenalized().fit(X, y)
    clf.coef_[:] = 1e308  # finite X, coefficients whose products overflow
    with pytest.raises(ValueError, match="overflow"):
        clf.inference(X, y)


def test_doctests():
    result = doctest.testmod(_inference, optionflags=doctest.NORMALIZE_WHITESPACE)
    assert result.attempted > 0 and result.failed == 0
    assert InferenceResults.__doc__


def test_example_prints_summary(capsys):
    path = Path(__file__).parents[1] / "examples" / "inference_summary.py"
    runpy.run_path(str(path), run_name="__main__")
    out = capsys.readouterr().out
    assert "PSI" in out and "Log-likelihood" in out and "LR test of PSI" in out


@pytest.mark.parametrize("labels", [np.int64, np.uint8, "strings"])
def test_integer_labels_are_indices_and_unknown_ones_refused(labels):
    # Labels 0..K-1 are used as their own class indices (no search): the
    # same fit as any other encoding, and labels outside are still refused.
    X, y = classification_dataset("wine")
    names = np.array(["a", "b", "c"])
    y_cast = names[y] if labels == "strings" else y.astype(labels)
    clf = unpenalized().fit(X, y_cast)
    reference = unpenalized().fit(X, names[y])
    np.testing.assert_allclose(clf.coef_, reference.coef_, rtol=0, atol=1e-12)
    res = clf.inference(X, y_cast)
    np.testing.assert_allclose(res.bse, reference.inference(X, names[y]).bse, rtol=1e-12)
    if labels != "strings":
        for bad in (3, 7) + ((-1,) if labels == np.int64 else ()):
            y_bad = y_cast.copy()
            y_bad[5] = bad
            with pytest.raises(ValueError, match=rf"labels \[{bad}\] that the model was not"):
                clf.inference(X, y_bad)


@pytest.mark.parametrize("n_classes", [2, 3])
def test_separation_row_bound_holds(n_classes):
    # The bound the separation check uses before reading X again:
    # |x_i . s_k + b_k| <= reach_i for every row of positive weight and any
    # step s (law of H_jj = sum_i c_i x_ij^2 >= c_i x_ij^2).
    rng = np.random.default_rng(n_classes)
    X, y = make_classification(400, 5, n_informative=3, n_redundant=0, n_classes=n_classes,
                               random_state=n_classes)
    X[:20] *= 30.0  # rows far out, with small pointwise Hessians
    weight = rng.integers(0, 3, size=len(y)).astype(float)
    clf = unpenalized().fit(X, y, sample_weight=weight)
    res = clf.inference(X, y, sample_weight=weight)
    objective = res.objective
    Xt = torch.as_tensor(X)
    K, q = objective.n_outputs, objective.n_params_per_output
    aligned = np.tile(np.append(np.sign(X[0]), 1.0), K)  # worst case for row 0
    for scale, signs in ((1e-8, None), (1e-2, None), (1.0, None), (1.0, aligned)):
        step = rng.normal(scale=scale, size=K * q)
        step = torch.as_tensor(step if signs is None else np.abs(step) * signs)
        coef, intercept = objective.unpack(step)
        moved = (Xt @ coef.T + intercept).abs().amax(dim=1)
        observed = (*objective.second_order(res.theta)[2:], torch.as_tensor(weight > 0))
        a, b, c = information_bound(objective, *objective.unpack(step.abs()), observed)
        reach = a / c.sqrt() + b
        positive = torch.as_tensor(weight > 0)
        assert bool((moved[positive] <= reach[positive] * (1 + 1e-12)).all())


@pytest.mark.parametrize("case", ["perfect", "quasi", "iris", "overlap"])
def test_information_bound_does_not_change_the_verdict(case, monkeypatch):
    # The bound only skips reading X where no row can move: the separation
    # verdict is the same with it and without it (X's extremes, then rows).
    if case in ("perfect", "quasi"):
        X, y = separated_data(case)
    elif case == "iris":
        X, y = classification_dataset("iris")
    else:
        X, y = binary_dataset("overlap_1000")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        clf = NeuronClassifier(C=np.inf, optimizer="lbfgs", tol=1e-6, max_iter=500).fit(X, y)

    def verdict():
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            clf.inference(X, y)
        return [str(w.message) for w in caught if w.category is SeparationWarning]

    with_bound = verdict()
    monkeypatch.setattr(_inference, "information_bound", lambda objective, c, i, o: None)
    assert verdict() == with_bound
    assert bool(with_bound) == (case != "overlap")


# -- issue #15, point 4: inference is of the fit on its training data -----------
def test_inference_before_fit_is_not_fitted_error():
    from sklearn.exceptions import NotFittedError

    from sklearn_neuron import NeuronRegressor

    X, y = spector()
    for model in (NeuronClassifier(), NeuronRegressor()):
        for method in (model.summary, model.inference):
            with pytest.raises(NotFittedError):
                method(X, y)


def test_inference_refuses_other_data_than_the_training_data():
    X, y = spector()
    clf = NeuronClassifier(C=np.inf).fit(X, y)
    shuffled = np.random.default_rng(0).permutation(np.asarray(y))
    other_X = X.assign(GPA=X["GPA"] + 0.5)
    weights = np.arange(1.0, len(y) + 1)
    for args, what in [
        ((X, shuffled), "y differs"),
        ((other_X, y), "X differs"),
        ((X, y, weights), "sample_weight differs"),
        ((X.iloc[:20], y.iloc[:20]), "fitted on 32 samples"),
    ]:
        with pytest.raises(ValueError, match=what) as info:
            clf.summary(*args)
        assert "fit(X, y).summary(X, y)" in str(info.value)
    weighted = NeuronClassifier(C=np.inf).fit(X, y, sample_weight=weights)
    with pytest.raises(ValueError, match="sample_weight differs"):
        weighted.inference(X, y)
    weighted.inference(X, y, weights)


def test_inference_accepts_the_training_data_in_any_container():
    X, y = spector()
    clf = NeuronClassifier(C=np.inf).fit(X, y)
    reference = clf.inference(X, y).params
    values = np.asarray(X, dtype=float)
    for X_same in (values, np.asfortranarray(values), scipy.sparse.csr_matrix(values),
                   values.astype(np.float32)):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)  # feature names
            params = clf.inference(X_same, np.asarray(y).astype(float)).params
        np.testing.assert_allclose(params, reference, atol=1e-3)


def test_inference_after_partial_fit_is_refused():
    X, y = spector()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # adam's ConvergenceWarning
        clf = NeuronClassifier(C=np.inf, optimizer="adam").fit(X, y)
        clf.inference(X, y)  # a whole fit: its data are known
        clf.partial_fit(X, y)
    with pytest.raises(ValueError, match="partial_fit"):
        clf.inference(X, y)


# -- issue #15, point 5: inference starts from the optimum -----------------------
def _printed(values, digits):
    return [f"{v:.{digits}f}" for v in values]


@pytest.mark.parametrize(
    "params", [{}, {"optimizer": "lbfgs"}, {"optimizer": "adam", "max_iter": 300}],
    ids=["default", "lbfgs", "adam"],
)
def test_default_fit_summary_is_statsmodels_table(params):
    # Spector & Mazzeo, statsmodels' Logit example: the published table
    # (const -13.0213, se 4.9313) from a fit at the default tol=1e-4, which
    # stops at const -13.0204 (se 4.9310) before inference polishes it.
    X, y = spector()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # adam's ConvergenceWarning
        clf = NeuronClassifier(C=np.inf, random_state=0, **params).fit(X, y)
    coef = clf.coef_.copy()
    res = clf.inference(X, y)
    sm_res = sm.Logit(np.asarray(y), sm.add_constant(np.asarray(X))).fit(disp=0)
    assert _printed(res.params, 4) == _printed(sm_res.params, 4)
    assert _printed(res.bse, 4) == _printed(sm_res.bse, 4)
    assert _printed(res.zvalues, 3) == _printed(sm_res.tvalues, 3)
    assert _printed(res.conf_int().ravel(), 4) == _printed(sm_res.conf_int().ravel(), 4)
    np.testing.assert_allclose(res.params, sm_res.params, rtol=0, atol=PARAMS_ATOL)
    np.testing.assert_allclose(res.bse, sm_res.bse, rtol=BSE_RTOL)
    np.testing.assert_array_equal(clf.coef_, coef)  # the fit itself is left as it is
    assert "-13.0213" in str(clf.summary(X, y))


def test_default_glm_fit_summary_matches_statsmodels():
    from sklearn_neuron import NeuronRegressor

    rng = np.random.default_rng(0)
    X = rng.normal(size=(300, 3))
    y = rng.poisson(np.exp(0.5 + X @ np.array([0.3, -0.2, 0.1]))).astype(float)
    res = NeuronRegressor("poisson", alpha=0).fit(X, y).inference(X, y)
    ref = sm.GLM(y, sm.add_constant(X), family=sm.families.Poisson()).fit(tol=1e-12)
    np.testing.assert_allclose(res.params, ref.params, rtol=0, atol=PARAMS_ATOL)
    np.testing.assert_allclose(res.bse, ref.bse, rtol=BSE_RTOL)


# -- issue #36, item 16: no residual degrees of freedom ------------------------
def _ols_data(n):
    """``n`` samples of two features: with the intercept, three parameters."""
    X = np.array([[0.0, 1.0], [1.0, 0.0], [2.0, 3.0], [3.0, 1.0]])[:n]
    return X, np.array([1.0, 2.0, 4.0, 3.5])[:n]


@pytest.mark.parametrize("cov_type", ["nonrobust", "HC1"])
def test_no_residual_df_is_refused_where_statsmodels_divides_by_zero(cov_type):
    from sklearn_neuron import NeuronRegressor

    X, y = _ols_data(3)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # statsmodels: 0 / 0
        ref = sm.OLS(y, sm.add_constant(X)).fit(cov_type=cov_type)
        assert ref.df_resid == 0 and not np.isfinite(ref.bse).all()
    model = NeuronRegressor(alpha=0, optimizer="newton", tol=1e-10).fit(X, y)
    with pytest.raises(ValueError, match=r"df_resid = nobs - n_params = 3 - 3 = 0"):
        model.summary(X, y, cov_type=cov_type)
    # One more sample: statsmodels' numbers (1e-5 relative, as everywhere here).
    X, y = _ols_data(4)
    ref = sm.OLS(y, sm.add_constant(X)).fit(cov_type=cov_type)
    res = NeuronRegressor(alpha=0, optimizer="newton", tol=1e-10).fit(X, y).inference(
        X, y, cov_type=cov_type
    )
    assert res.df_resid == ref.df_resid == 1
    np.testing.assert_allclose(res.bse, ref.bse, rtol=BSE_RTOL)


def test_hc1_without_residual_df_is_refused():
    X, y = [[0.0], [1.0]], [0, 1]
    clf = NeuronClassifier().fit(X, y)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", PenalizedInferenceWarning)
        with pytest.raises(ValueError, match=r"cov_type='HC1'.*2 - 2 = 0.*cov_type='HC0'"):
            clf.inference(X, y, cov_type="HC1")
        assert np.isfinite(clf.inference(X, y, cov_type="HC0").bse).all()


# -- issue #38, item 11: what the summary's header says ---------------------------
def _header(summary):
    return dict(summary.header)


def _count(text):
    """A count as the summary prints it (``2,000,000``), read back as a number."""
    return float(text.replace(",", ""))


def test_summary_names_the_modelled_class_and_the_series():
    X, y = spector()
    labels = y.map({0: "fail", 1: "pass"}).rename("grade")
    clf = unpenalized().fit(X, labels)
    logit = sm.Logit(y.rename("grade"), sm.add_constant(X)).fit(disp=0)
    dependent = _header(clf.summary(X, labels))["Dependent variable"]
    # statsmodels models P(endog = 1), here P(grade = pass), and names it by the Series.
    assert logit.model.endog_names == "grade"
    assert dependent == "P(grade = pass), against fail"
    # The signs are those of P(grade = pass): statsmodels' on the 0/1 coding.
    np.testing.assert_allclose(
        clf.inference(X, labels).params, logit.params, rtol=0, atol=PARAMS_ATOL
    )
    # Without a name (a numpy y) the variable is "y".
    assert _header(clf.summary(X, labels.to_numpy()))["Dependent variable"] == (
        "P(y = pass), against fail"
    )


def test_summary_multinomial_says_the_reference_class_and_the_name():
    X, y = anes96()
    y = y.rename("party")
    dependent = _header(unpenalized().fit(X, y).summary(X, y))["Dependent variable"]
    assert dependent == "party in {0, 1, 2, 3, 4, 5, 6}, each class against 0"
    assert sm.MNLogit(y, sm.add_constant(X)).endog_names == "party"


def test_regressor_summary_names_the_series():
    from sklearn_neuron import NeuronRegressor

    rng = np.random.default_rng(0)
    X = rng.normal(size=(200, 2))
    y = pd.Series(rng.poisson(np.exp(0.3 + X @ [0.2, -0.1])), name="visits")
    model = NeuronRegressor("poisson", alpha=0).fit(X, y)
    ref = sm.GLM(y, sm.add_constant(X), family=sm.families.Poisson())
    assert _header(model.summary(X, y))["Dependent variable"] == ref.endog_names
    assert _header(model.summary(X, y.to_numpy()))["Dependent variable"] == "y"


def test_frequency_weights_note_only_with_weights():
    X, y = spector()
    clf = unpenalized().fit(X, y)
    assert not any("frequency weights" in n for n in clf.summary(X, y).notes)
    w = np.arange(1, len(y) + 1, dtype=float)
    weighted = unpenalized().fit(X, y, sample_weight=w)
    assert any("frequency weights" in n for n in weighted.summary(X, y, w).notes)
    balanced = NeuronClassifier(
        C=np.inf, optimizer="newton", tol=1e-10, class_weight="balanced"
    ).fit(X, y)
    assert any("frequency weights" in n for n in balanced.summary(X, y).notes)


def test_counts_print_as_integers_on_dask_data():
    da = pytest.importorskip("dask.array")
    dask = pytest.importorskip("dask")
    rng = np.random.default_rng(0)
    X = rng.normal(size=(400, 3))
    y = (X[:, 0] + rng.logistic(size=400) > 0).astype(int)
    w = np.full(400, 5000.0)  # 2,000,000 observations as frequency weights
    ref = sm.GLM(y, sm.add_constant(X), family=sm.families.Binomial(), freq_weights=w)
    ref = ref.fit()
    with dask.config.set(scheduler="synchronous"):
        X_d, y_d, w_d = (da.from_array(a, chunks=100) for a in (X, y, w))
        model = unpenalized().fit(X_d, y_d, sample_weight=w_d)
        summary = model.summary(X_d, y_d, w_d)
    header = _header(summary)
    assert header["No. observations"] == "2,000,000"
    assert header["Df residuals"] == "1,999,996"
    assert header["Df model"] == "3"
    # The same numbers as statsmodels' GLM with these frequency weights.
    assert _count(header["No. observations"]) == ref.model.wnobs
    assert _count(header["Df residuals"]) == ref.df_resid
    assert "nobs=2,000,000" in repr(model.inference(X, y, w))


def test_fractional_weight_sum_keeps_its_digits():
    X, y = spector()
    w = np.full(len(y), 0.5)
    w[0] = 0.75
    summary = unpenalized().fit(X, y, sample_weight=w).summary(X, y, w)
    assert _header(summary)["No. observations"] == "16.25"


def test_separation_reads_the_families_margins():
    # One formula per fact: the separation test's margins and whether a loss
    # has any are its family's (_loss/likelihood), not a copy of them.
    from sklearn_neuron._loss.likelihood import likelihood_of
    from sklearn_neuron._loss.losses import SquaredErrorProbaLoss
    from sklearn_neuron._separation import class_margins, has_margins

    rng = np.random.default_rng(0)
    X = rng.standard_normal((50, 3))
    for y in (rng.integers(0, 2, 50), rng.integers(0, 3, 50)):
        objective = NeuronClassifier()._build_objective(X, y, None, reset=True)
        raw = objective.raw(torch.linspace(-1, 1, objective.n_params, dtype=torch.float64))
        family = likelihood_of(objective.loss)
        assert has_margins(objective) is True
        torch.testing.assert_close(
            class_margins(objective, raw), family.margins(raw, objective.target),
            rtol=0, atol=0,
        )
        # (2 y - 1) z for a sigmoid; z_y - max_{k != y} z_k for a softmax.
        z = raw.numpy()
        if z.shape[1] == 1:
            expected = (2 * y - 1) * z[:, 0]
        else:
            others = np.where(np.eye(3, dtype=bool)[y], -np.inf, z).max(axis=1)
            expected = z[np.arange(50), y] - others
        np.testing.assert_allclose(class_margins(objective, raw).numpy(), expected, rtol=1e-15)
    # A sigmoid output that is not a likelihood has no margins to separate on.
    squared = NeuronClassifier(loss="squared_error")._build_objective(
        X, rng.integers(0, 2, 50), None, reset=True
    )
    assert isinstance(squared.loss, SquaredErrorProbaLoss)
    assert has_margins(squared) is False


@pytest.mark.parametrize(
    ("dtype", "scales", "rtol"),
    [(np.float64, (1e-3, 1.0, 1e4), BSE_RTOL), (np.float32, (0.01, 1.0, 100.0), 1e-3)],
)
def test_multinomial_on_features_of_very_different_scales(dtype, scales, rtol):
    """The softmax's free directions were made invertible by a projector of one
    scale, the whole information's mean diagonal, for every column: after
    equilibration a column of small scale looked singular. float64 with
    scales 1e7 apart was 7e-4 off MNLogit's standard errors; float32 with
    scales 1e4 apart was refused as singular. Each column's projector now
    takes that column's curvature. Reference: MNLogit on the same numbers in
    float64 (float32: its 1e-3, the rounding of the data and the fit)."""
    rng = np.random.default_rng(0)
    n = 500
    X = (rng.normal(size=(n, 3)) * np.array(scales)).astype(dtype)
    raw = (X / X.std(0)) @ rng.normal(scale=0.5, size=(3, 3))
    P = np.exp(raw) / np.exp(raw).sum(1, keepdims=True)
    y = (rng.random(n)[:, None] > P.cumsum(1)).sum(1)
    res = unpenalized().fit(X, y).inference(X, y)
    X64 = X.astype(np.float64)
    sm_res = sm.MNLogit(y, sm.add_constant(X64)).fit(
        disp=0, method="newton", tol=1e-12, maxiter=100
    )
    flat = lambda a: np.asarray(a).ravel(order="F")  # noqa: E731
    np.testing.assert_allclose(res.bse, flat(sm_res.bse), rtol=rtol)


def test_a_negative_sandwich_variance_is_an_error_not_nan():
    """Quasi-complete separation of one class of three (class 2 only where the
    binary feature is 1): the information is nearly singular and HC0's
    sandwich rounds to negative variances, whose sqrt was a silent NaN."""
    rng = np.random.default_rng(0)
    n = 120
    x = rng.integers(0, 2, n).astype(float)
    y = rng.integers(0, 2, n)
    y[(x == 1) & (rng.random(n) < 0.3)] = 2
    X = x[:, None]
    model = unpenalized().fit(X, y)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        res = model.inference(X, y, cov_type="HC0")
        variances = np.diag(res.cov_params)
    assert not (variances >= 0).all()
    with pytest.raises(ValueError, match=r"negative or undefined variance.*separation"):
        _ = res.bse
