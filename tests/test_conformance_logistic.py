"""Conformance with LogisticRegression(CV): the behaviours scikit-learn's own tests check.

scikit-learn's ``linear_model/tests/test_logistic.py`` is read here as a list
of behaviours; each test below fits NeuronClassifier or NeuronClassifierCV
and scikit-learn's estimator on the same data and objective and compares
them. Behaviours already compared elsewhere are not repeated:
coefficients per dataset, C, weighting and intercept
(``test_parity_logistic.py``); the CV path against GridSearchCV, refit=False,
pandas, n_jobs (``test_classifier_cv.py``); elastic net against saga,
sparse = dense per optimizer (``test_losses_optimizers.py``); bad input,
unmodified inputs, ConvergenceWarning on max_iter (``test_classifier.py``,
``test_bad_input.py``).

Not applicable, so not tested: liblinear, sag and newton-cg specifics
(``dual``, ``intercept_scaling``, the penalised intercept, random_state of
the solvers), the deprecated ``penalty`` and ``use_legacy_attributes``,
``n_jobs`` on LogisticRegression, ``n_iter_`` as an array (ours is an int),
``max_iter=0`` (ours is at least 1), the callback API and array API
(``test_array_api.py``).

References and tolerances:

- full-batch fits use ``optimizer="newton"`` (or ``"lbfgs"`` for L1) with
  ``tol=1e-10`` against ``LogisticRegression(solver="newton-cholesky",
  tol=1e-10)``: coefficients agree to ``1e-6 * max(1, max|coef|)``,
  probabilities and CV scores to ``1e-8``;
- identities that hold in exact arithmetic (weights = repeated rows,
  class_weight = scaled sample_weight, two warm-started Newton steps = two
  Newton steps, sparsify) are checked to ``1e-9``;
- L1: ``LogisticRegression(solver="saga", tol=1e-12)`` is the optimum;
  full-batch fits agree to ``1e-6``, minibatch (proximal) fits to ``1e-3``,
  both relative to ``max(1, max|coef|)`` and with the same exact zeros;
- float32: within ``1e-4 * max(1, max|coef|)`` of the float64 optimum,
  about 800 float32 epsilons (the gradient itself is only accurate to
  100 epsilons, ``tol``'s floor);
- minibatch fits without L1: ``1e-3`` of the optimum.
"""

import re
import warnings

import numpy as np
import pytest
import scipy.sparse
import sklearn
from _datasets import classification_dataset
from sklearn.datasets import make_classification
from sklearn.exceptions import ConvergenceWarning
from sklearn.linear_model import LogisticRegression, LogisticRegressionCV
from sklearn.metrics import get_scorer
from sklearn.model_selection import (
    KFold,
    LeaveOneGroupOut,
    StratifiedKFold,
    cross_validate,
)
from sklearn.preprocessing import StandardScaler
from sklearn.utils.class_weight import compute_class_weight

from sklearn_neuron import NeuronClassifier, NeuronClassifierCV
from sklearn_neuron._solvers.stochastic import STOCHASTIC_OPTIMIZERS

TIGHT = {"tol": 1e-10, "max_iter": 500}
COEF_RTOL = 1e-6
EXACT = 1e-9
SCORE_ATOL = 1e-8
MINIBATCH_RTOL = 1e-3
FLOAT32_RTOL = 1e-4
#: Every optimizer NeuronClassifier accepts by name.
ALL_OPTIMIZERS = ["auto", "lbfgs", "newton", *sorted(STOCHASTIC_OPTIMIZERS)]
CS = np.logspace(-2, 2, 4)


def logreg(**params):
    """The reference: LogisticRegression solved to a tight tolerance by Newton-Cholesky."""
    return LogisticRegression(**{"solver": "newton-cholesky", **TIGHT, **params})


def logreg_cv(**params):
    """LogisticRegressionCV with the layout and grid NeuronClassifierCV uses."""
    settings = {
        "solver": "newton-cholesky", "l1_ratios": (0.0,), "use_legacy_attributes": False,
        **TIGHT,
    }
    return LogisticRegressionCV(**{**settings, **params})


def assert_coef_close(model, reference, rtol=COEF_RTOL):
    """coef_ and intercept_ within ``rtol * max(1, max|coef|)`` of the reference's."""
    scale = max(1.0, np.abs(reference.coef_).max(), np.abs(reference.intercept_).max())
    np.testing.assert_allclose(model.coef_, reference.coef_, rtol=0, atol=rtol * scale)
    np.testing.assert_allclose(
        model.intercept_, reference.intercept_, rtol=0, atol=rtol * scale
    )


@pytest.fixture(scope="module", params=["synthetic_binary", "synthetic_multiclass"])
def overlapping(request):
    """Classes that overlap (the MLE exists), two and three classes."""
    return classification_dataset(request.param)


@pytest.fixture(scope="module")
def iris():
    return classification_dataset("iris")


# -- sample weights and class weights ---------------------------------------------
def test_sample_weight_equals_repeating_rows(overlapping):
    X, y = overlapping
    counts = np.random.RandomState(0).randint(0, 4, size=y.size)  # zeros drop rows
    weighted = NeuronClassifier(optimizer="newton", **TIGHT).fit(
        X, y, sample_weight=counts.astype(float)
    )
    repeated = NeuronClassifier(optimizer="newton", **TIGHT).fit(
        np.repeat(X, counts, axis=0), np.repeat(y, counts)
    )
    assert_coef_close(weighted, repeated, rtol=EXACT)
    reference = logreg().fit(X, y, sample_weight=counts.astype(float))
    assert_coef_close(weighted, reference)


@pytest.mark.parametrize("with_sample_weight", [False, True])
def test_class_weight_dict_equals_scaling_sample_weight(overlapping, with_sample_weight):
    X, y = overlapping
    classes = np.unique(y)
    class_weight = dict(zip(classes, [0.5, 2.0, 1.5][: classes.size], strict=True))
    base = np.random.RandomState(1).uniform(0.2, 3.0, y.size) if with_sample_weight else None
    scaled = (1.0 if base is None else base) * np.array([class_weight[c] for c in y])
    by_class = NeuronClassifier(optimizer="newton", class_weight=class_weight, **TIGHT).fit(
        X, y, sample_weight=base
    )
    by_sample = NeuronClassifier(optimizer="newton", **TIGHT).fit(X, y, sample_weight=scaled)
    assert_coef_close(by_class, by_sample, rtol=EXACT)
    assert_coef_close(by_class, logreg(class_weight=class_weight).fit(X, y, sample_weight=base))


@pytest.mark.parametrize("with_sample_weight", [False, True])
def test_balanced_class_weight_as_logistic_regression(overlapping, with_sample_weight):
    # scikit-learn 1.9 counts the classes with their sample weights:
    # n_samples / (n_classes * bincount) becomes sum(w) / (n_classes * weighted count).
    X, y = overlapping
    sample_weight = (
        np.random.RandomState(2).uniform(0.2, 3.0, y.size) if with_sample_weight else None
    )
    model = NeuronClassifier(optimizer="newton", class_weight="balanced", **TIGHT).fit(
        X, y, sample_weight=sample_weight
    )
    reference = logreg(class_weight="balanced").fit(X, y, sample_weight=sample_weight)
    assert_coef_close(model, reference)
    classes = np.unique(y)
    balanced = compute_class_weight(
        "balanced", classes=classes, y=y, sample_weight=sample_weight
    )
    explicit = NeuronClassifier(
        optimizer="newton", class_weight=dict(zip(classes, balanced, strict=True)), **TIGHT
    ).fit(X, y, sample_weight=sample_weight)
    assert_coef_close(model, explicit, rtol=EXACT)


def test_string_labels_and_a_zero_class_weight(overlapping):
    X, y = overlapping
    names = np.array(["bar", "baz", "foo"])[: np.unique(y).size]
    labels = names[y]
    class_weight = dict(zip(names, [1.0, 2.0, 0.0][: names.size], strict=True))
    if names.size == 2:
        class_weight = {"bar": 1.0, "baz": 0.0}
    # Without an intercept the optimum exists although one class weighs nothing.
    model = NeuronClassifier(
        optimizer="newton", class_weight=class_weight, fit_intercept=False, **TIGHT
    ).fit(X, labels)
    reference = logreg(class_weight=class_weight, fit_intercept=False).fit(X, labels)
    np.testing.assert_array_equal(model.classes_, reference.classes_)
    assert_coef_close(model, reference)
    np.testing.assert_array_equal(model.predict(X), reference.predict(X))
    # With one, the weightless class's intercept runs to -inf: it is never predicted.
    model = NeuronClassifier(optimizer="newton", class_weight=class_weight, **TIGHT).fit(
        X, labels
    )
    weightless = [name for name, weight in class_weight.items() if weight == 0]
    assert not np.isin(model.predict(X), weightless).any()
    assert np.isfinite(model.coef_).all() and np.isfinite(model.predict_proba(X)).all()


# -- binary and multinomial outputs, intercept, C = inf ------------------------------
@pytest.mark.parametrize("fit_intercept", [True, False])
def test_outputs_as_logistic_regression(overlapping, fit_intercept):
    X, y = overlapping
    n_classes = np.unique(y).size
    model = NeuronClassifier(optimizer="newton", fit_intercept=fit_intercept, **TIGHT).fit(X, y)
    reference = logreg(fit_intercept=fit_intercept).fit(X, y)
    n_outputs = 1 if n_classes == 2 else n_classes
    assert model.coef_.shape == reference.coef_.shape == (n_outputs, X.shape[1])
    assert model.intercept_.shape == reference.intercept_.shape == (n_outputs,)
    assert_coef_close(model, reference)

    decision = model.decision_function(X)
    expected_shape = (y.size,) if n_classes == 2 else (y.size, n_classes)
    assert decision.shape == reference.decision_function(X).shape == expected_shape
    np.testing.assert_allclose(decision, reference.decision_function(X), rtol=0, atol=1e-6)

    proba = model.predict_proba(X)
    np.testing.assert_allclose(proba.sum(axis=1), 1.0, rtol=0, atol=1e-12)
    np.testing.assert_allclose(proba, reference.predict_proba(X), rtol=0, atol=SCORE_ATOL)
    np.testing.assert_allclose(
        model.predict_log_proba(X), reference.predict_log_proba(X), rtol=0, atol=1e-6
    )
    np.testing.assert_array_equal(model.predict(X), reference.predict(X))
    # Binary: one logit, the second class's. Multinomial: the softmax of K logits,
    # which the penalty makes sum to zero over classes (identifiability).
    if n_classes == 2:
        np.testing.assert_allclose(proba[:, 1], 1 / (1 + np.exp(-decision)), atol=1e-12)
    else:
        np.testing.assert_allclose(model.coef_.sum(axis=0), 0, atol=1e-10)
        if fit_intercept:
            np.testing.assert_allclose(model.intercept_.sum(), 0, atol=1e-10)
    if not fit_intercept:
        np.testing.assert_array_equal(model.intercept_, np.zeros(n_outputs))


def test_written_coefficients_are_the_ones_predicted_with(iris):
    X, y = iris
    model = NeuronClassifier().fit(X, y)
    model.coef_[:] = 0
    model.intercept_[:] = 0
    np.testing.assert_array_equal(model.decision_function(X), 0)
    # Assigning new arrays, as LogisticRegressionCV's own tests do, works too.
    reference = logreg().fit(X, y)
    model.coef_, model.intercept_ = reference.coef_.copy(), reference.intercept_.copy()
    np.testing.assert_allclose(
        model.predict_proba(X), reference.predict_proba(X), rtol=0, atol=1e-12
    )


@pytest.mark.parametrize("optimizer", ["newton", "lbfgs"])
def test_c_inf_is_unpenalized_logistic_regression_without_warnings(overlapping, optimizer):
    X, y = overlapping
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        model = NeuronClassifier(optimizer=optimizer, C=np.inf, **TIGHT).fit(X, y)
    assert_coef_close(model, logreg(C=np.inf).fit(X, y))


# -- warm starts ----------------------------------------------------------------------
@pytest.mark.parametrize("fit_intercept", [True, False])
@pytest.mark.parametrize("C", [1.0, np.inf])
def test_warm_started_newton_steps_are_newton_cholesky_steps(iris, fit_intercept, C):
    X, y = iris
    settings = {"optimizer": "newton", "fit_intercept": fit_intercept, "C": C, "tol": 1e-12}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        two_steps = NeuronClassifier(max_iter=2, **settings).fit(X, y)
        one_by_one = NeuronClassifier(max_iter=1, warm_start=True, **settings)
        one_by_one.fit(X, y).fit(X, y)
        reference = LogisticRegression(
            solver="newton-cholesky", max_iter=2, fit_intercept=fit_intercept, C=C
        ).fit(X, y)
    assert_coef_close(one_by_one, two_steps, rtol=EXACT)
    assert_coef_close(two_steps, reference, rtol=EXACT)


@pytest.mark.parametrize("optimizer", ["newton", "lbfgs", "sgd", "adam"])
def test_warm_start_reaches_the_cold_fit_solution(iris, optimizer):
    X, y = iris
    minibatch = optimizer in STOCHASTIC_OPTIMIZERS
    settings = {"optimizer": optimizer, "random_state": 0}
    settings.update({"tol": 1e-6, "max_iter": 300} if minibatch else TIGHT)
    rtol = MINIBATCH_RTOL if minibatch else COEF_RTOL
    optimum = logreg().fit(X, y)
    cold = NeuronClassifier(**settings).fit(X, y)
    warm = NeuronClassifier(warm_start=True, C=0.01, **settings).fit(X, y)
    warm.set_params(C=1.0).fit(X, y)
    assert_coef_close(cold, optimum, rtol=rtol)
    assert_coef_close(warm, optimum, rtol=rtol)
    # A start that no longer fits (two classes instead of three) is a cold start.
    binary = (y == 2).astype(int)
    warm.fit(X, binary)
    assert_coef_close(warm, logreg().fit(X, binary), rtol=rtol)


@pytest.mark.parametrize("warm_start", [True, False])
def test_one_more_iteration_moves_a_warm_start_little(iris, warm_start):
    X, y = iris
    model = NeuronClassifier(optimizer="lbfgs", warm_start=warm_start).fit(X, y)
    first = model.coef_.copy()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        model.set_params(max_iter=1).fit(X, y)
    moved = np.abs(model.coef_ - first).sum()
    # LogisticRegression's test_warm_start threshold.
    assert moved < 2.0 if warm_start else moved > 2.0


# -- L1 and float32 with every optimizer ---------------------------------------------
@pytest.fixture(scope="module")
def l1_problem():
    # Independent features: the L1 optimum is well determined (on collinear
    # ones, e.g. breast_cancer's radius/perimeter/area, points far apart in
    # coef_ share nearly the same objective and no tol pins one down).
    X, y = make_classification(
        n_samples=200, n_features=10, n_informative=3, n_redundant=0, flip_y=0.05,
        random_state=0,
    )
    X = StandardScaler().fit_transform(X)
    saga = LogisticRegression(
        solver="saga", C=0.1, l1_ratio=1.0, tol=1e-12, max_iter=100_000
    ).fit(X, y)
    assert 0 < (saga.coef_ == 0).sum() < saga.coef_.size  # zeros and non-zeros
    return X, y, saga


@pytest.mark.parametrize("optimizer", ALL_OPTIMIZERS)
def test_l1_with_every_optimizer_reaches_saga_or_is_refused(l1_problem, optimizer):
    X, y, saga = l1_problem
    minibatch = optimizer in STOCHASTIC_OPTIMIZERS
    settings = {"tol": 1e-6, "max_iter": 200} if minibatch else TIGHT
    model = NeuronClassifier(
        optimizer=optimizer, C=0.1, l1_ratio=1.0, random_state=0, **settings
    )
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            model.fit(X, y)
    except ValueError as error:
        assert "l1_ratio" in str(error)
        return
    assert_coef_close(model, saga, rtol=MINIBATCH_RTOL if minibatch else COEF_RTOL)
    np.testing.assert_array_equal(model.coef_ == 0, saga.coef_ == 0)


@pytest.mark.parametrize("dataset", ["iris", "synthetic_binary"])
@pytest.mark.parametrize("optimizer", ALL_OPTIMIZERS)
def test_float32_with_every_optimizer_stays_float32_at_the_float64_optimum(dataset, optimizer):
    X, y = classification_dataset(dataset)
    optimum = LogisticRegression(solver="newton-cholesky", tol=1e-12, max_iter=1000).fit(X, y)
    X32 = X.astype(np.float32)
    model = NeuronClassifier(optimizer=optimizer, tol=1e-5, max_iter=200, random_state=0).fit(
        X32, y
    )
    assert model.coef_.dtype == model.intercept_.dtype == np.float32
    assert model.predict_proba(X32).dtype == np.float32
    assert model.decision_function(X32).dtype == np.float32
    assert_coef_close(model, optimum, rtol=FLOAT32_RTOL)


# -- sparse X and sparsify -------------------------------------------------------------
@pytest.mark.parametrize("fit_intercept", [True, False])
def test_sparse_X_with_weights_is_the_dense_logistic_regression(fit_intercept):
    X, y = classification_dataset("synthetic_multiclass")
    X = np.where(np.abs(X) < 0.7, 0.0, X)
    sample_weight = np.random.RandomState(3).uniform(0.2, 3.0, y.size)
    settings = {"class_weight": {0: 2.0, 1: 1.0, 2: 0.5}, "fit_intercept": fit_intercept}
    model = NeuronClassifier(optimizer="newton", **settings, **TIGHT).fit(
        scipy.sparse.csr_matrix(X), y, sample_weight=sample_weight
    )
    reference = logreg(**settings).fit(X, y, sample_weight=sample_weight)
    assert_coef_close(model, reference)
    np.testing.assert_allclose(
        model.predict_proba(scipy.sparse.csc_matrix(X)), reference.predict_proba(X),
        rtol=0, atol=SCORE_ATOL,
    )


@pytest.mark.parametrize(
    "make",
    [
        lambda: NeuronClassifier(C=0.1, l1_ratio=1.0),  # exact zeros in coef_
        lambda: NeuronClassifierCV(Cs=3, cv=3),
    ],
    ids=["NeuronClassifier", "NeuronClassifierCV"],
)
def test_sparsify_and_densify_keep_predictions(iris, make):
    X, y = iris
    labels = np.array(["setosa", "versicolor", "virginica"])[y]
    model = make().fit(X, labels)
    coef = model.coef_.copy()
    decision, proba, predicted = (
        model.decision_function(X), model.predict_proba(X), model.predict(X)
    )
    assert model.sparsify() is model
    assert scipy.sparse.issparse(model.coef_)
    np.testing.assert_array_equal(model.coef_.toarray(), coef)
    for data in (X, scipy.sparse.csr_matrix(X), scipy.sparse.coo_matrix(X)):
        np.testing.assert_allclose(model.decision_function(data), decision, atol=EXACT)
        np.testing.assert_allclose(model.predict_proba(data), proba, atol=EXACT)
        np.testing.assert_array_equal(model.predict(data), predicted)
    assert model.densify() is model
    assert isinstance(model.coef_, np.ndarray)
    np.testing.assert_array_equal(model.coef_, coef)
    np.testing.assert_allclose(
        model.decision_function(scipy.sparse.csr_matrix(X)), decision, atol=EXACT
    )
    # The same sparse container as LogisticRegression.sparsify gives.
    reference = LogisticRegression().fit(X, labels).sparsify()
    assert type(model.sparsify().coef_) is type(reference.coef_)


# -- cross-validation ------------------------------------------------------------------
def _test_folds_of_one_class(y):
    """Half of each class as a test fold; its training part holds every class."""
    folds = []
    for label in np.unique(y):
        test = np.flatnonzero(y == label)[: np.sum(y == label) // 2]
        folds.append((np.setdiff1d(np.arange(y.size), test), test))
    return folds


def _blocks_of_one_class(X, y, per_class=60):
    """Equal blocks of each class in order: KFold's test folds are one class each,
    and each training part lacks that class."""
    rows = np.concatenate([np.flatnonzero(y == label)[:per_class] for label in np.unique(y)])
    return X[rows], y[rows]


@pytest.mark.parametrize("scoring", ["neg_log_loss", "neg_brier_score", "accuracy"])
@pytest.mark.parametrize("layout", ["test_lacks_classes", "train_lacks_a_class"])
def test_cv_scores_with_a_class_absent_from_a_fold_as_logistic_regression_cv(
    overlapping, scoring, layout
):
    X, y = overlapping
    if layout == "test_lacks_classes":
        cv, fit_intercept = _test_folds_of_one_class(y), True
    else:
        # A class missing from training drives its unpenalized intercept to
        # -inf; without intercepts the optimum exists.
        X, y = _blocks_of_one_class(X, y)
        cv, fit_intercept = KFold(np.unique(y).size), False
    settings = {"cv": cv, "scoring": scoring, "fit_intercept": fit_intercept}
    model = NeuronClassifierCV(CS, optimizer="newton", **settings, **TIGHT).fit(X, y)
    reference = logreg_cv(Cs=CS, **settings).fit(X, y)
    assert np.isfinite(model.scores_).all()
    np.testing.assert_allclose(model.scores_, reference.scores_, rtol=0, atol=SCORE_ATOL)
    scale = max(1.0, np.abs(reference.coefs_paths_).max())
    np.testing.assert_allclose(
        model.coefs_paths_, reference.coefs_paths_, rtol=0, atol=COEF_RTOL * scale
    )
    assert model.C_ == reference.C_


def _minus_mean_squared_error_of_proba(estimator, X, y):
    """A callable scorer: minus the mean squared distance of the probabilities to one-hot y."""
    one_hot = (np.asarray(y)[:, None] == estimator.classes_).astype(float)
    return -float(np.mean((estimator.predict_proba(X) - one_hot) ** 2))


@pytest.mark.parametrize(
    "scoring",
    ["f1_macro", "precision_weighted", "roc_auc_ovr", _minus_mean_squared_error_of_proba],
    ids=["f1_macro", "precision_weighted", "roc_auc_ovr", "callable"],
)
def test_cv_with_other_scorers_as_logistic_regression_cv(scoring):
    X, y = classification_dataset("synthetic_multiclass")
    cv = StratifiedKFold(3, shuffle=True, random_state=0)
    model = NeuronClassifierCV(CS, cv=cv, scoring=scoring, optimizer="newton", **TIGHT).fit(X, y)
    reference = logreg_cv(Cs=CS, cv=cv, scoring=scoring).fit(X, y)
    np.testing.assert_allclose(model.scores_, reference.scores_, rtol=0, atol=SCORE_ATOL)
    assert model.C_ == reference.C_
    assert model.score(X, y) == pytest.approx(reference.score(X, y), abs=SCORE_ATOL)


def test_cv_sample_weight_equals_repeating_rows():
    X, y = classification_dataset("synthetic_multiclass")
    X, y = X[:300], y[:300]
    counts = np.ones(y.size, dtype=int)
    counts[:100] = np.random.RandomState(0).randint(0, 4, size=100)
    groups = np.repeat([0, 1, 2], 100)
    X_rep, y_rep, groups_rep = (np.repeat(a, counts, axis=0) for a in (X, y, groups))
    settings = {"scoring": "neg_log_loss", "optimizer": "newton", **TIGHT}
    weighted = NeuronClassifierCV(
        CS, cv=list(LeaveOneGroupOut().split(X, groups=groups)), **settings
    ).fit(X, y, sample_weight=counts.astype(float))
    repeated = NeuronClassifierCV(
        CS, cv=list(LeaveOneGroupOut().split(X_rep, groups=groups_rep)), **settings
    ).fit(X_rep, y_rep)
    np.testing.assert_allclose(weighted.scores_, repeated.scores_, rtol=0, atol=EXACT)
    assert_coef_close(weighted, repeated, rtol=EXACT)


@pytest.mark.parametrize("class_weight", ["dict", "balanced"])
@pytest.mark.parametrize("with_sample_weight", [False, True])
def test_cv_class_weight_as_logistic_regression_cv(class_weight, with_sample_weight):
    # LogisticRegressionCV computes "balanced" once, on all of y with its
    # sample weights, and uses those weights in every fold and in the refit.
    X, y = classification_dataset("synthetic_multiclass")
    X, y = X[:300], y[:300]
    if class_weight == "dict":
        class_weight = {0: 0.5, 1: 2.0, 2: 1.0}
    sample_weight = (
        np.random.RandomState(4).uniform(0.2, 3.0, y.size) if with_sample_weight else None
    )
    settings = {
        "cv": StratifiedKFold(3, shuffle=True, random_state=0),
        "scoring": "neg_log_loss",
        "class_weight": class_weight,
    }
    model = NeuronClassifierCV(CS, optimizer="newton", **settings, **TIGHT).fit(
        X, y, sample_weight=sample_weight
    )
    reference = logreg_cv(Cs=CS, **settings).fit(X, y, sample_weight=sample_weight)
    np.testing.assert_allclose(model.scores_, reference.scores_, rtol=0, atol=SCORE_ATOL)
    assert model.C_ == reference.C_
    assert_coef_close(model, reference)


@pytest.mark.parametrize("l1_ratio", [0.0, 1.0])
def test_cv_refit_is_logistic_regression_at_the_chosen_c(l1_ratio):
    X, y = classification_dataset("breast_cancer")
    X, y = X[:200, :10], y[:200]
    settings = {"optimizer": "lbfgs", "tol": 1e-10, "max_iter": 2000}
    model = NeuronClassifierCV([0.1], l1_ratios=[l1_ratio], cv=3, **settings).fit(X, y)
    reference = LogisticRegression(
        solver="saga", C=0.1, l1_ratio=l1_ratio, tol=1e-12, max_iter=100_000
    ).fit(X, y)
    assert_coef_close(model, reference)
    np.testing.assert_array_equal(model.coef_ == 0, reference.coef_ == 0)


# -- metadata routing --------------------------------------------------------------------
@pytest.fixture(scope="module")
def routing_data():
    X, y = classification_dataset("synthetic_binary")
    X_test, y_test = X[300:], y[300:]
    sample_weight = np.ones(300)
    sample_weight[:150] = 3.0
    return X[:300], y[:300], X_test, y_test, sample_weight


@pytest.mark.parametrize("requested", [True, False])
def test_routed_sample_weight_in_fit_and_score_as_logistic_regression_cv(
    routing_data, requested
):
    X, y, X_test, y_test, sample_weight = routing_data
    test_weight = np.where(y_test == 1, 3.0, 1.0)
    with sklearn.config_context(enable_metadata_routing=True):
        fitted = []
        for make, params in ((NeuronClassifierCV, {"optimizer": "newton"}), (logreg_cv, {})):
            scorer = get_scorer("neg_log_loss").set_score_request(sample_weight=requested)
            fitted.append(make(Cs=CS, cv=3, scoring=scorer, **params, **TIGHT).fit(
                X, y, sample_weight=sample_weight
            ))
        model, reference = fitted
        np.testing.assert_allclose(model.scores_, reference.scores_, rtol=0, atol=SCORE_ATOL)
        assert model.C_ == reference.C_
        assert_coef_close(model, reference)
        assert model.score(X_test, y_test) == pytest.approx(
            reference.score(X_test, y_test), abs=SCORE_ATOL
        )
        if requested:
            weighted = model.score(X_test, y_test, sample_weight=test_weight)
            assert weighted == pytest.approx(
                reference.score(X_test, y_test, sample_weight=test_weight), abs=SCORE_ATOL
            )
            assert weighted != pytest.approx(model.score(X_test, y_test), abs=1e-3)
        else:
            message = re.escape(
                "NeuronClassifierCV.score got unexpected argument(s) {'sample_weight'}"
            )
            with pytest.raises(TypeError, match=message):
                model.score(X_test, y_test, sample_weight=test_weight)


def test_sample_weight_without_routing_scores_as_logistic_regression_cv(routing_data):
    X, y, X_test, y_test, sample_weight = routing_data
    test_weight = np.where(y_test == 1, 3.0, 1.0)
    with sklearn.config_context(enable_metadata_routing=False):
        model = NeuronClassifierCV(CS, cv=3, scoring="neg_log_loss", optimizer="newton", **TIGHT)
        model.fit(X, y, sample_weight=sample_weight)
        reference = logreg_cv(Cs=CS, cv=3, scoring="neg_log_loss").fit(
            X, y, sample_weight=sample_weight
        )
        np.testing.assert_allclose(model.scores_, reference.scores_, rtol=0, atol=SCORE_ATOL)
        assert model.score(X_test, y_test, sample_weight=test_weight) == pytest.approx(
            reference.score(X_test, y_test, sample_weight=test_weight), abs=SCORE_ATOL
        )
        for method in (model.fit, model.score):
            with pytest.raises(ValueError, match="enable_metadata_routing=True"):
                method(X, y, extra_param=1.0)


def test_routed_sample_weight_reaches_fit_and_scoring_inside_a_meta_estimator(routing_data):
    # cross_validate routes sample_weight to NeuronClassifierCV.fit (which
    # routes it on to its folds' scorer) and to the outer scorer. (Neither
    # estimator's own score method requests sample_weight: LogisticRegressionCV's
    # set_score_request accepts no metadata.)
    X, y, _, _, sample_weight = routing_data
    with sklearn.config_context(enable_metadata_routing=True):
        results = []
        for make, params in ((NeuronClassifierCV, {"optimizer": "newton"}), (logreg_cv, {})):
            inner = get_scorer("neg_log_loss").set_score_request(sample_weight=True)
            estimator = make(Cs=CS, cv=3, scoring=inner, **params, **TIGHT)
            estimator.set_fit_request(sample_weight=True)
            outer = get_scorer("neg_log_loss").set_score_request(sample_weight=True)
            results.append(cross_validate(
                estimator, X, y, cv=3, scoring=outer,
                params={"sample_weight": sample_weight}, return_estimator=True,
            ))
    model, reference = results
    np.testing.assert_allclose(
        model["test_score"], reference["test_score"], rtol=0, atol=SCORE_ATOL
    )
    for fitted, expected in zip(model["estimator"], reference["estimator"], strict=True):
        np.testing.assert_allclose(fitted.scores_, expected.scores_, rtol=0, atol=SCORE_ATOL)
        assert_coef_close(fitted, expected)
