"""NeuronClassifierCV against GridSearchCV over NeuronClassifier and LogisticRegressionCV.

The references fit cold-started models per grid point; NeuronClassifierCV
fits a warm-started path. With a tight ``tol`` (1e-10, Newton) both reach
the same optimum to about 1e-9 in the coefficients, so the scores agree to
the stated tolerances and the choices are identical.
"""

import warnings

import numpy as np
import pytest
import scipy.sparse
import sklearn
from sklearn.datasets import load_breast_cancer, load_iris
from sklearn.exceptions import ConvergenceWarning
from sklearn.linear_model import LogisticRegressionCV
from sklearn.metrics import get_scorer
from sklearn.model_selection import GridSearchCV, KFold, StratifiedKFold
from sklearn.preprocessing import StandardScaler

from sklearn_neuron import NeuronClassifier, NeuronClassifierCV

TIGHT = {"tol": 1e-10, "max_iter": 500}
#: Strong to moderate penalties: at C >> 1 breast_cancer is nearly separable
#: and the optimum so flat that 1e-10 gradients leave 1e-4 in the log loss.
CS = np.logspace(-3, 2, 6)


@pytest.fixture(scope="module")
def cancer():
    X, y = load_breast_cancer(return_X_y=True)
    return StandardScaler().fit_transform(X), y


@pytest.fixture(scope="module")
def iris():
    X, y = load_iris(return_X_y=True)
    return StandardScaler().fit_transform(X), y


def split_scores(search, n_folds):
    """GridSearchCV's per-fold test scores as (n_folds, n_candidates)."""
    return np.stack([search.cv_results_[f"split{k}_test_score"] for k in range(n_folds)])


@pytest.mark.parametrize("scoring", [None, "neg_log_loss", "roc_auc"])
def test_binary_matches_grid_search(cancer, scoring):
    X, y = cancer
    cv = StratifiedKFold(5, shuffle=True, random_state=0)
    model = NeuronClassifierCV(CS, cv=cv, scoring=scoring, optimizer="newton", **TIGHT).fit(X, y)
    search = GridSearchCV(
        NeuronClassifier(optimizer="newton", **TIGHT), {"C": CS}, cv=cv, scoring=scoring
    ).fit(X, y)
    assert model.C_ == search.best_params_["C"]
    assert model.l1_ratio_ == 0.0
    assert model.scores_.shape == (5, 1, CS.size)
    np.testing.assert_allclose(model.scores_[:, 0, :], split_scores(search, 5), rtol=0, atol=1e-8)
    # The refit is NeuronClassifier at the chosen C.
    reference = search.best_estimator_
    np.testing.assert_allclose(model.coef_, reference.coef_, rtol=0, atol=1e-7)
    np.testing.assert_allclose(model.intercept_, reference.intercept_, rtol=0, atol=1e-7)
    np.testing.assert_array_equal(model.predict(X), reference.predict(X))
    assert model.converged_ and model.optimizer_ == "newton"


def test_multiclass_matches_grid_search_and_logistic_regression_cv(iris):
    X, y = iris
    Cs = np.logspace(-2, 3, 5)
    model = NeuronClassifierCV(Cs, cv=5, scoring="neg_log_loss", **TIGHT).fit(X, y)
    search = GridSearchCV(
        NeuronClassifier(**TIGHT), {"C": Cs}, cv=5, scoring="neg_log_loss"
    ).fit(X, y)
    assert model.C_ == search.best_params_["C"]
    np.testing.assert_allclose(model.scores_[:, 0, :], split_scores(search, 5), rtol=0, atol=1e-7)
    assert model.coefs_paths_.shape == (5, 1, Cs.size, 3, X.shape[1] + 1)
    # The same objective as LogisticRegression's: the same path and choice.
    logreg = LogisticRegressionCV(
        Cs=Cs, cv=5, scoring="neg_log_loss", solver="newton-cholesky", tol=1e-10,
        max_iter=500, l1_ratios=(0.0,), use_legacy_attributes=False,
    ).fit(X, y)
    assert model.C_ == logreg.C_
    np.testing.assert_allclose(model.scores_, logreg.scores_, rtol=0, atol=1e-7)
    np.testing.assert_allclose(model.coefs_paths_, logreg.coefs_paths_, rtol=0, atol=1e-5)
    np.testing.assert_allclose(model.coef_, logreg.coef_, rtol=0, atol=1e-6)
    np.testing.assert_allclose(model.predict_proba(X), logreg.predict_proba(X), atol=1e-7)


def test_l1_ratios_with_owlqn_match_grid_search(cancer):
    X, y = cancer
    X = X[:, :10]
    Cs, l1_ratios = np.logspace(-2, 0, 3), [0.0, 0.5, 1.0]
    settings = {"optimizer": "lbfgs", "tol": 1e-9, "max_iter": 1000}
    model = NeuronClassifierCV(
        Cs, l1_ratios=l1_ratios, cv=3, scoring="neg_log_loss", **settings
    ).fit(X, y)
    search = GridSearchCV(
        NeuronClassifier(**settings), {"C": Cs, "l1_ratio": l1_ratios}, cv=3,
        scoring="neg_log_loss",
    ).fit(X, y)
    assert (model.C_, model.l1_ratio_) == (
        search.best_params_["C"], search.best_params_["l1_ratio"],
    )
    # GridSearchCV's candidates run C-major (l1_ratio fastest); scores_ is (fold, l1, C).
    expected = split_scores(search, 3).reshape(3, Cs.size, len(l1_ratios)).transpose(0, 2, 1)
    np.testing.assert_allclose(model.scores_, expected, rtol=0, atol=1e-6)
    # OWL-QN's exact zeros on the L1 paths.
    assert (model.coefs_paths_[:, 2, 0, 0, :-1] == 0).sum() > 0


def test_refit_false_averages_the_folds_best_as_logistic_regression_cv(cancer):
    X, y = cancer
    Cs = np.logspace(-3, 1, 5)
    model = NeuronClassifierCV(
        Cs, cv=5, scoring="neg_log_loss", refit=False, **TIGHT
    ).fit(X, y)
    logreg = LogisticRegressionCV(
        Cs=Cs, cv=5, scoring="neg_log_loss", refit=False, solver="newton-cholesky",
        tol=1e-10, max_iter=500, l1_ratios=(0.0,), use_legacy_attributes=False,
    ).fit(X, y)
    best = model.scores_[:, 0, :].argmax(axis=1)
    assert len(set(best)) > 1  # the folds disagree: the averages are not trivial
    np.testing.assert_allclose(model.C_, logreg.C_, rtol=1e-12)
    np.testing.assert_allclose(model.C_, Cs[best].mean(), rtol=1e-12)
    np.testing.assert_allclose(model.coef_, logreg.coef_, rtol=0, atol=1e-6)
    np.testing.assert_allclose(model.intercept_, logreg.intercept_, rtol=0, atol=1e-6)
    np.testing.assert_allclose(model.decision_function(X), logreg.decision_function(X), atol=1e-5)
    assert not hasattr(model, "objective_")


def test_sample_weight_fits_and_scores_as_logistic_regression_cv(cancer):
    X, y = cancer
    weights = np.random.RandomState(0).uniform(0.1, 3.0, y.size)
    kept = weights.copy()
    Cs = CS[:-1]  # at C = 100 newton-cholesky stops 1e-5 away in the log loss
    model = NeuronClassifierCV(Cs, cv=5, scoring="neg_log_loss", **TIGHT).fit(
        X, y, sample_weight=weights
    )
    np.testing.assert_array_equal(weights, kept)
    logreg = LogisticRegressionCV(
        Cs=Cs, cv=5, scoring="neg_log_loss", solver="newton-cholesky", tol=1e-10,
        max_iter=500, l1_ratios=(0.0,), use_legacy_attributes=False,
    ).fit(X, y, sample_weight=weights)
    assert model.C_ == logreg.C_
    np.testing.assert_allclose(model.scores_, logreg.scores_, rtol=0, atol=1e-8)
    np.testing.assert_allclose(model.coef_, logreg.coef_, rtol=0, atol=1e-6)


def test_sample_weight_routed_like_grid_search(cancer):
    X, y = cancer
    weights = np.random.RandomState(1).uniform(0.1, 3.0, y.size)
    with sklearn.config_context(enable_metadata_routing=True):
        scorer = get_scorer("neg_log_loss").set_score_request(sample_weight=True)
        model = NeuronClassifierCV(CS, cv=4, scoring=scorer, **TIGHT).fit(
            X, y, sample_weight=weights
        )
        search = GridSearchCV(
            NeuronClassifier(**TIGHT).set_fit_request(sample_weight=True),
            {"C": CS}, cv=4, scoring=scorer,
        ).fit(X, y, sample_weight=weights)
        groups = np.arange(y.size) % 3
        from sklearn.model_selection import GroupKFold

        grouped = NeuronClassifierCV(CS, cv=GroupKFold(3), scoring=scorer, **TIGHT)
        grouped.fit(X, y, sample_weight=weights, groups=groups)
    assert model.C_ == search.best_params_["C"]
    np.testing.assert_allclose(model.scores_[:, 0, :], split_scores(search, 4), atol=1e-8)
    assert grouped.scores_.shape == (3, 1, CS.size)
    with pytest.raises(ValueError, match="groups"):
        NeuronClassifierCV(CS).fit(X, y, groups=groups)


def test_pandas_input_names_features_and_fits_as_arrays(cancer):
    pd = pytest.importorskip("pandas")
    X, y = cancer
    frame = pd.DataFrame(X, columns=[f"x{i}" for i in range(X.shape[1])])
    labels = pd.Series(np.where(y == 1, "benign", "malignant"))
    model = NeuronClassifierCV(Cs=4, cv=3).fit(frame, labels)
    array_model = NeuronClassifierCV(Cs=4, cv=3).fit(X, labels.to_numpy())
    assert list(model.feature_names_in_) == list(frame.columns)
    assert list(model.classes_) == ["benign", "malignant"]
    np.testing.assert_array_equal(model.scores_, array_model.scores_)
    np.testing.assert_array_equal(model.coef_, array_model.coef_)
    np.testing.assert_array_equal(model.predict(frame), array_model.predict(X))


def test_parallel_folds_and_sparse_input_give_the_same_path(cancer):
    X, y = cancer
    serial = NeuronClassifierCV(Cs=5, cv=4, scoring="neg_log_loss").fit(X, y)
    parallel = NeuronClassifierCV(Cs=5, cv=4, scoring="neg_log_loss", n_jobs=2).fit(X, y)
    # Equal up to the rounding of products split over other thread counts.
    np.testing.assert_allclose(parallel.coefs_paths_, serial.coefs_paths_, rtol=1e-9)
    np.testing.assert_allclose(parallel.scores_, serial.scores_, rtol=0, atol=1e-12)
    sparse = NeuronClassifierCV(Cs=5, cv=4, scoring="neg_log_loss").fit(
        scipy.sparse.csr_matrix(X), y
    )
    # Sparse X prices a Hessian at more passes than dense X does, so Newton
    # finishes the sparse fits by chord steps and the dense ones by exact
    # steps: both within what the default tol leaves (held-out log-loss
    # apart by 2.7e-9, 1.6e-13 where both take exact steps).
    np.testing.assert_allclose(sparse.scores_, serial.scores_, rtol=0, atol=1e-8)
    assert sparse.C_ == serial.C_


def test_grid_attributes_and_default_cs(cancer):
    X, y = cancer
    model = NeuronClassifierCV(Cs=3, cv=3).fit(X, y)
    np.testing.assert_allclose(model.Cs_, np.logspace(-4, 4, 3))
    np.testing.assert_array_equal(model.l1_ratios_, [0.0])
    assert model.n_iter_.shape == (3, 1, 3) and (model.n_iter_ >= 1).all()
    # Cs in any order: the path runs from the strongest penalty, results land in place.
    shuffled = NeuronClassifierCV([10.0, 0.01, 1.0], cv=3, **TIGHT).fit(X, y)
    ordered = NeuronClassifierCV([0.01, 1.0, 10.0], cv=3, **TIGHT).fit(X, y)
    np.testing.assert_allclose(shuffled.scores_[..., [1, 2, 0]], ordered.scores_, atol=1e-12)


def test_path_that_stops_early_warns(cancer):
    X, y = cancer
    with pytest.warns(ConvergenceWarning, match="fits on the cross-validation path"):
        NeuronClassifierCV(Cs=3, cv=3, optimizer="lbfgs", max_iter=2).fit(X, y)


@pytest.mark.parametrize(
    "params, match",
    [
        ({"Cs": [1.0, -1.0]}, "Cs must be an int or a non-empty list of positive"),
        ({"Cs": []}, "Cs must be"),
        ({"l1_ratios": [0.5, 1.5]}, "l1_ratios must be a non-empty list of floats between"),
        ({"l1_ratios": [0.5], "optimizer": "newton"}, "does not handle the L1 term"),
    ],
)
def test_bad_grid_says_what_to_fix(cancer, params, match):
    X, y = cancer
    with pytest.raises(ValueError, match=match):
        NeuronClassifierCV(cv=3, **params).fit(X, y)


def test_one_class_is_refused():
    X = np.random.RandomState(0).normal(size=(20, 3))
    with pytest.raises(ValueError, match="at least 2 classes"):
        NeuronClassifierCV(cv=3).fit(X, np.zeros(20))


def test_no_penalty_in_the_grid(iris):
    X, y = iris
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        model = NeuronClassifierCV([0.1, np.inf], cv=3, scoring="neg_log_loss").fit(X, y)
    assert np.isfinite(model.scores_).all()
    assert model.C_ in (0.1, np.inf)


def sorted_by_label(X, y):
    """The samples ordered by label: unshuffled KFold's test folds then lack classes."""
    order = np.argsort(y, kind="stable")
    return X[order], y[order]


@pytest.mark.parametrize("data", ["iris", "cancer"])
@pytest.mark.parametrize(
    "scoring",
    [
        "neg_log_loss",  # _FastScore
        get_scorer("neg_log_loss"),  # a scorer object: the scorer call
        "neg_brier_score",
        "accuracy",
    ],
    ids=["neg_log_loss", "neg_log_loss_scorer", "neg_brier_score", "accuracy"],
)
def test_test_folds_missing_classes_score_as_logistic_regression_cv(
    iris, cancer, data, scoring
):
    # Unshuffled 5-fold on label-sorted data: some test folds hold one class
    # only, every training fold holds all, so the objective has one optimum.
    # LogisticRegressionCV scores such folds with labels=classes.
    X, y = sorted_by_label(*{"iris": iris, "cancer": cancer}[data])
    weights = np.random.RandomState(2).uniform(0.1, 3.0, y.size)
    cv = KFold(5)
    assert min(np.unique(y[test]).size for _, test in cv.split(X)) == 1
    Cs = np.logspace(-2, 1, 4)
    model = NeuronClassifierCV(Cs, cv=cv, scoring=scoring, **TIGHT).fit(
        X, y, sample_weight=weights
    )
    logreg = LogisticRegressionCV(
        Cs=Cs, cv=cv, scoring=scoring, solver="newton-cholesky", tol=1e-10,
        max_iter=500, l1_ratios=(0.0,), use_legacy_attributes=False,
    ).fit(X, y, sample_weight=weights)
    assert model.C_ == logreg.C_
    # 1e-7: at C = 10 on breast_cancer the two optima's log losses differ by 2e-8.
    np.testing.assert_allclose(model.scores_, logreg.scores_, rtol=0, atol=1e-7)


@pytest.mark.parametrize("scoring", ["accuracy", "neg_log_loss"])
def test_fast_score_equals_the_scorer_on_folds_missing_classes(iris, scoring):
    # A scorer object bypasses _FastScore: the same path, scored both ways.
    X, y = sorted_by_label(*iris)
    weights = np.random.RandomState(4).uniform(0.1, 3.0, y.size)
    settings = {"Cs": 4, "cv": KFold(5)}
    fast = NeuronClassifierCV(scoring=scoring, **settings).fit(X, y, sample_weight=weights)
    called = NeuronClassifierCV(scoring=get_scorer(scoring), **settings).fit(
        X, y, sample_weight=weights
    )
    np.testing.assert_array_equal(fast.coefs_paths_, called.coefs_paths_)
    np.testing.assert_allclose(fast.scores_, called.scores_, rtol=1e-12, atol=1e-14)


@pytest.mark.parametrize("scoring", ["neg_log_loss", "neg_brier_score"])
def test_issue_example_with_a_class_missing_from_each_fold(scoring):
    X, y = np.arange(6.0)[:, None], np.array(["a", "a", "b", "b", "c", "c"])
    # Each training fold lacks the test fold's class. With an (unpenalized)
    # intercept that class's intercept has no finite optimum, so the
    # comparison with LogisticRegressionCV is made without one.
    assert np.isfinite(NeuronClassifierCV(cv=KFold(3), scoring=scoring).fit(X, y).scores_).all()
    Cs = [0.1, 1.0, 10.0]
    model = NeuronClassifierCV(
        Cs, cv=KFold(3), scoring=scoring, fit_intercept=False, **TIGHT
    ).fit(X, y)
    logreg = LogisticRegressionCV(
        Cs=Cs, cv=KFold(3), scoring=scoring, fit_intercept=False,
        solver="newton-cholesky", tol=1e-10, max_iter=500, l1_ratios=(0.0,),
        use_legacy_attributes=False,
    ).fit(X, y)
    assert model.C_ == logreg.C_
    np.testing.assert_allclose(model.scores_, logreg.scores_, rtol=0, atol=1e-7)


@pytest.mark.parametrize("request_weights", [True, False, None])
def test_score_sample_weight_routed_as_logistic_regression_cv(iris, request_weights):
    X, y = iris
    weights = np.random.RandomState(3).uniform(0.1, 3.0, y.size)
    scorer = get_scorer("neg_log_loss")
    settings = {"cv": 3, "scoring": scorer}
    model = NeuronClassifierCV(Cs=3, **settings).fit(X, y)
    logreg = LogisticRegressionCV(
        Cs=3, l1_ratios=(0.0,), use_legacy_attributes=False, **settings
    ).fit(X, y)
    weighted = scorer(model, X, y, sample_weight=weights)
    assert weighted != scorer(model, X, y)
    # Routing off: sample_weight is the scorer's, as before.
    assert model.score(X, y, sample_weight=weights) == weighted
    with sklearn.config_context(enable_metadata_routing=True):
        routed = get_scorer("neg_log_loss")
        if request_weights is not None:
            routed = routed.set_score_request(sample_weight=request_weights)
        model.set_params(scoring=routed)
        logreg.set_params(scoring=routed)
        if request_weights:
            assert model.score(X, y, sample_weight=weights) == weighted
            logreg.score(X, y, sample_weight=weights)
            return
        # Not requested (False) or left unset (None): both refuse alike.
        with pytest.raises(Exception) as expected:
            logreg.score(X, y, sample_weight=weights)
        with pytest.raises(type(expected.value), match="sample_weight"):
            model.score(X, y, sample_weight=weights)


def test_uses_no_private_method_of_neuron_classifier():
    # The folds' and the refit's objectives come from the classifier module's
    # function, the points' coefficients reach the scorer's model through its
    # explicit route: NeuronClassifierCV calls no private method of another object.
    import ast
    import inspect

    import sklearn_neuron._classifier_cv as module

    calls = [
        ast.unparse(node) for node in ast.walk(ast.parse(inspect.getsource(module)))
        if isinstance(node, ast.Attribute) and node.attr.startswith("_")
        and not node.attr.startswith("__")
        and isinstance(node.value, ast.Name) and node.value.id == "builder"
    ]
    assert not calls, calls


@pytest.mark.parametrize("class_weight", [None, "balanced", {0: 2.0, 1: 0.5}])
def test_classifier_objective_is_the_fit_objective(cancer, class_weight):
    # One function builds a classifier's objective in memory: NeuronClassifier's
    # fit minimises it, and on the same data with the same C it is
    # LogisticRegression's objective divided by C * sum(s_i).
    from sklearn.linear_model import LogisticRegression

    from sklearn_neuron._classifier import ClassifierParams, classifier_objective

    X, y = cancer
    w = np.random.default_rng(0).random(y.size) + 0.5
    model = NeuronClassifier(C=0.1, class_weight=class_weight, **TIGHT).fit(X, y, w)
    objective = classifier_objective(
        ClassifierParams.of(model), X, y, w, model.classes_
    )
    reference = LogisticRegression(
        C=0.1, class_weight=class_weight, tol=1e-12, max_iter=10_000
    ).fit(X, y, sample_weight=w)
    np.testing.assert_allclose(model.coef_, reference.coef_, rtol=0, atol=1e-6)
    theta = objective.pack(model.coef_, model.intercept_)
    _, gradient, _ = objective.value_gradient(theta)
    assert float(gradient.abs().max()) <= 1e-9
    assert ClassifierParams.of(model).name == "NeuronClassifier"
