"""float32 data, float64 answers (issue #37, item 3).

A float32 fit at a ``tol`` below what float32 arithmetic resolves (100 eps,
1.2e-5) continues in float64 from the float32 answer
(``_solvers.dispatch.polish_in_float64``): it ends at the float64 optimum of
the same data, rounded to float32. The reference is LogisticRegression
(newton-cholesky, tol=1e-12) on the float32 data cast to float64 (the same
numbers); every objective is LogisticRegression's, evaluated in float64.
"""

import warnings

import numpy as np
import pytest
import scipy.linalg
import scipy.sparse
from scipy.special import logsumexp
from sklearn.datasets import make_classification
from sklearn.exceptions import ConvergenceWarning
from sklearn.linear_model import LogisticRegression

from sklearn_neuron import NeuronClassifier, NeuronRegressor

#: Weak regularisation and features of scales 0.1 to 10: ill-conditioned
#: enough that float32 arithmetic alone stops short (before the float64
#: stage: relative gaps 6e-10 to 3e-5 at tol=1e-10).
C = 100.0
#: The relative objective gap asked of a tol=1e-10 fit.
GAP = 1e-10
#: The relative objective gap of a default (tol=1e-4) float32 fit, at most.
DEFAULT_GAP = 1e-8


def _objective(coef, intercept, X, y, classes, weight):
    """LogisticRegression's objective ``C sum_i w_i loss_i + ||W||^2 / 2`` in float64."""
    coef = np.asarray(coef, dtype=np.float64)
    raw = np.asarray(X @ coef.T) + np.asarray(intercept, dtype=np.float64)
    if raw.shape[1] == 1:
        sign = np.where(y == classes[1], 1.0, -1.0)
        loss = np.logaddexp(0.0, -sign * raw[:, 0])
    else:
        loss = logsumexp(raw, axis=1) - raw[np.arange(y.size), np.searchsorted(classes, y)]
    return C * (weight @ loss) + 0.5 * np.sum(coef**2)


def _data(n_classes, sparse):
    X, y = make_classification(
        2000, 30, n_informative=10, n_classes=n_classes, class_sep=2.0, flip_y=0.01,
        random_state=0,
    )
    X = (X * np.logspace(-1, 1, 30)).astype(np.float32)
    if sparse:
        X[np.abs(X) < 1.0] = 0.0
        X = scipy.sparse.csr_matrix(X)
    weight = np.random.default_rng(0).uniform(0.5, 2.0, y.size)
    return X, y, weight


@pytest.fixture(scope="module", params=[(2, False), (3, False), (2, True), (3, True)],
                ids=["binary-dense", "multinomial-dense", "binary-sparse", "multinomial-sparse"])
def problem(request):
    X, y, weight = _data(*request.param)
    X64 = X.astype(np.float64)
    reference = LogisticRegression(C=C, solver="newton-cholesky", tol=1e-12, max_iter=1000)
    reference.fit(X64, y, sample_weight=weight)
    optimum = _objective(reference.coef_, reference.intercept_, X64, y, reference.classes_, weight)
    return X, y, weight, optimum


def _gap(model, X, y, weight, optimum):
    value = _objective(model.coef_, model.intercept_, X.astype(np.float64), y, model.classes_,
                       weight)
    return (value - optimum) / optimum


@pytest.mark.parametrize("optimizer", ["auto", "newton", "newton-cg", "lbfgs"])
def test_float32_fit_reaches_the_float64_optimum(problem, optimizer):
    X, y, weight, optimum = problem
    with warnings.catch_warnings():
        warnings.simplefilter("error", ConvergenceWarning)
        model = NeuronClassifier(C=C, tol=1e-10, optimizer=optimizer, max_iter=1000)
        model.fit(X, y, sample_weight=weight)
    assert model.coef_.dtype == np.float32 and model.intercept_.dtype == np.float32
    assert model.converged_
    assert _gap(model, X, y, weight, optimum) <= GAP


def test_float32_default_tol_fit_stays_in_float32(problem):
    # At the default tol (above float32's floor) nothing is added: no float64
    # stage, and the answer is as close as newton-cholesky's float32 default
    # (which here turns to lbfgs: its float32 Hessian is too ill-conditioned).
    X, y, weight, optimum = problem
    model = NeuronClassifier(C=C).fit(X, y, sample_weight=weight)
    assert not any(record["solver"].endswith("/float64") for record in model.history_)
    assert model.coef_.dtype == np.float32
    with warnings.catch_warnings():
        # Its float32 Hessian is too ill-conditioned here: it says it turns to lbfgs.
        warnings.simplefilter("ignore", scipy.linalg.LinAlgWarning)
        peer = LogisticRegression(C=C, solver="newton-cholesky").fit(X, y, sample_weight=weight)
    gap = _gap(model, X, y, weight, optimum)
    assert gap <= max(_gap(peer, X, y, weight, optimum), 1e-12)
    # float32 rounding of the last Newton step: 3e-13 to 9e-10 measured here.
    assert gap <= DEFAULT_GAP


def test_float64_stage_is_recorded_and_input_is_not_changed():
    X, y, weight = _data(3, False)
    before = X.copy()
    model = NeuronClassifier(C=C, tol=1e-10).fit(X, y, sample_weight=weight)
    solvers = [record["solver"] for record in model.history_]
    assert any(s.endswith("/float64") for s in solvers)
    assert len(model.history_) == model.n_iter_ + 2  # each stage's start, then its iterations
    np.testing.assert_array_equal(X, before)
    assert X.dtype == np.float32


def test_a_float32_firth_fit_below_float32s_floor_says_so():
    """Firth's fit runs in the data's dtype: below float32's floor it stops there
    and says so with a ConvergenceWarning naming the way to tol."""
    X, y = make_classification(300, 4, n_redundant=0, flip_y=0.2, random_state=0)
    X = X.astype(np.float32)
    with pytest.warns(ConvergenceWarning, match=r"Firth.*X\.astype\('float64'\)"):
        model = NeuronClassifier(tol=1e-10, firth=True, C=np.inf).fit(X, y)
    assert model.history_[-1]["grad_max"] > 1e-10


@pytest.mark.parametrize("estimator", ["classifier", "regressor"])
def test_a_float32_fit_whose_iterations_end_at_float32s_floor_has_not_converged(estimator):
    """Where max_iter runs out as the float32 iterations reach float32's floor,
    the float64 ones that reach a lower tol never ran: the fit has not
    converged, and the warning says max_iter stopped it (not memory), with
    the tol asked for."""
    X, y = make_classification(300, 10, random_state=0)
    X = X.astype(np.float32)
    if estimator == "classifier":
        make = lambda **kw: NeuronClassifier(optimizer="newton", tol=1e-10, **kw)  # noqa: E731
    else:
        y = (X @ np.linspace(-1.0, 1.0, 10) + 0.1 * np.arange(300) % 3).astype(np.float64)
        make = lambda **kw: NeuronRegressor(optimizer="newton", tol=1e-10, **kw)  # noqa: E731
    full = make().fit(X, y)
    float32_iterations = sum(
        record["iteration"] > 0 and not record["solver"].endswith("/float64")
        for record in full.history_
    )
    assert full.converged_ and 0 < float32_iterations < full.n_iter_
    with pytest.warns(ConvergenceWarning, match=r"tol = 1e-10; reason: max_iter reached") as record:
        model = make(max_iter=float32_iterations).fit(X, y)
    assert not model.converged_
    assert model.n_iter_ == float32_iterations
    assert not any("memory budget" in str(w.message) for w in record)
