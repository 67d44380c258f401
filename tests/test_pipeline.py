"""NeuronClassifier in scikit-learn's meta-estimators, beside LogisticRegression."""

import runpy
import sys
from pathlib import Path

import numpy as np
import pytest
from sklearn.datasets import load_breast_cancer
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import GridSearchCV, StratifiedKFold, cross_val_score
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from sklearn_neuron import NeuronClassifier

EXAMPLES = sorted((Path(__file__).parents[1] / "examples").glob("*.py"))


@pytest.fixture(scope="module")
def data():
    return load_breast_cancer(return_X_y=True, as_frame=True)


def test_grid_search_over_C_and_optimizer(data):
    X, y = data
    cv = StratifiedKFold(n_splits=3, shuffle=True, random_state=0)
    grid = {
        "neuronclassifier__C": [0.1, 1.0],
        "neuronclassifier__optimizer": ["lbfgs", "newton"],
    }
    search = GridSearchCV(
        make_pipeline(StandardScaler(), NeuronClassifier(tol=1e-8, max_iter=1000)),
        grid,
        cv=cv,
        scoring="neg_log_loss",
    ).fit(X, y)
    scores = search.cv_results_["mean_test_score"].reshape(2, 2)  # C x optimizer
    # Same C, different optimizer: the same model, so the same score.
    np.testing.assert_allclose(scores[:, 0], scores[:, 1], rtol=1e-6)
    reference = GridSearchCV(
        make_pipeline(StandardScaler(), LogisticRegression(tol=1e-8, max_iter=1000)),
        {"logisticregression__C": [0.1, 1.0]},
        cv=cv,
        scoring="neg_log_loss",
    ).fit(X, y)
    np.testing.assert_allclose(
        scores[:, 0], reference.cv_results_["mean_test_score"], rtol=1e-6
    )
    assert (
        search.best_params_["neuronclassifier__C"]
        == reference.best_params_["logisticregression__C"]
    )
    np.testing.assert_array_equal(search.best_estimator_.feature_names_in_, X.columns)


@pytest.mark.parametrize("scoring", ["accuracy", "neg_log_loss"])
def test_cross_val_score_side_by_side(data, scoring):
    X, y = data
    cv = StratifiedKFold(n_splits=5, shuffle=True, random_state=1)
    neuron = make_pipeline(StandardScaler(), NeuronClassifier(tol=1e-10, max_iter=1000))
    logreg = make_pipeline(
        StandardScaler(),
        LogisticRegression(solver="newton-cholesky", tol=1e-10, max_iter=1000),
    )
    a = cross_val_score(neuron, X, y, cv=cv, scoring=scoring)
    b = cross_val_score(logreg, X, y, cv=cv, scoring=scoring)
    np.testing.assert_allclose(a, b, rtol=1e-7)


@pytest.mark.slow
@pytest.mark.parametrize("script", EXAMPLES, ids=lambda path: path.name)
def test_example_runs(script, capsys, monkeypatch):
    monkeypatch.setattr(sys, "argv", [str(script)])
    runpy.run_path(str(script), run_name="__main__")
    assert capsys.readouterr().out.strip()
