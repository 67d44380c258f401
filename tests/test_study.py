"""The study's computation, without the command line around it."""

import numpy as np
import pytest
from _datasets import classification_dataset
from sklearn.linear_model import LogisticRegression

from sklearn_neuron import NeuronClassifier, _study
from sklearn_neuron._study import StudyInputError


def test_optimizers_are_read_from_the_estimator():
    names = _study.available_optimizers()
    assert names[:2] == ["newton", "lbfgs"]
    assert "auto" not in names
    assert set(names) == NeuronClassifier._parameter_constraints["optimizer"][
        0
    ].options - {"auto"}


@pytest.mark.parametrize("dataset", ["breast_cancer", "iris"])
def test_logistic_objective_is_minimised_by_logistic_regression(dataset):
    X, y = classification_dataset(dataset)
    _, y_index = np.unique(y, return_inverse=True)
    lr = LogisticRegression(C=0.5, solver="newton-cholesky", tol=1e-10).fit(X, y)
    f = _study.logistic_objective(lr.coef_, lr.intercept_, X, y_index, 0.5)
    neuron = NeuronClassifier(C=0.5, optimizer="newton", tol=1e-10).fit(X, y)
    # The neuron's own objective is LogisticRegression's divided by C * n.
    np.testing.assert_allclose(f / (0.5 * len(y)), neuron.objective_, rtol=1e-10)
    worse = _study.logistic_objective(1.1 * lr.coef_, lr.intercept_, X, y_index, 0.5)
    assert worse > f


def test_study_on_a_subset():
    dataset = _study.load_dataset("breast_cancer")
    dataset.X, dataset.y = dataset.X[::3], dataset.y[::3]
    lines = []
    result = _study.run_classification_study(
        dataset,
        losses=["log_loss", "squared_error", "hinge"],
        optimizers=["newton", "lbfgs"],
        cv=2,
        progress=lines.append,
    )
    rows = {(r["loss"], r["optimizer"]): r for r in result.rows[1:]}
    assert rows["log_loss", "newton"]["coef_diff"] < 1e-6
    assert abs(rows["log_loss", "lbfgs"]["objective_gap"]) < 1e-6
    assert rows["squared_error", "lbfgs"]["coef_diff"] > 0.05
    assert rows["squared_error", "lbfgs"]["objective_gap"] > 0
    # The hinge is solved exactly through smoothed problems, by Newton too.
    assert rows["hinge", "newton"]["status"] == "ok"
    assert len(lines) == 1 + 6
    verdict = " ".join(result.verdict)
    assert "log_loss with every optimizer: logistic regression to within" in verdict
    assert "squared_error: a different model" in verdict


def test_landscape_shows_log_loss_convex_and_squared_error_not():
    X, y = classification_dataset("breast_cancer")
    lr = LogisticRegression(solver="newton-cholesky").fit(X, y)
    ts, values = _study.landscape_slice(
        X, y, lr.coef_, lr.intercept_, ["log_loss", "squared_error"]
    )
    assert _study.min_curvature(ts, values["log_loss"]) >= -1e-9
    assert _study.min_curvature(ts, values["squared_error"]) < -1.0


def test_verdict_for_an_optimizer_that_stops_short():
    reference = {"loss": "log_loss", "accuracy": 0.9, "log_loss": 0.2}
    rows = [
        reference,
        {
            "loss": "log_loss",
            "optimizer": "newton",
            "status": "ok",
            "coef_diff": 3e-9,
            "objective_gap": 1e-12,
        },
        {
            "loss": "log_loss",
            "optimizer": "sgd",
            "status": "ok",
            "coef_diff": 0.02,
            "objective_gap": 1e-3,
        },
    ]
    (sentence,) = _study.classification_verdict(rows, {"coef": {}})
    assert "log_loss with newton: logistic regression to within 3e-09" in sentence
    assert "with sgd: logistic regression's objective, not reached" in sentence


def test_bundled_dataset_refuses_a_target():
    with pytest.raises(StudyInputError, match="--target applies to CSV files"):
        _study.load_dataset("iris", target="species")


def test_regression_mode_against_scikit_learn():
    result = _study.run_regression_study(_study.load_dataset("diabetes"), cv=2)
    rows = {(r["model"], r["loss"], r["optimizer"]): r for r in result.rows}
    assert (
        rows["LinearRegression", "squared_error", "scikit-learn"]["status"]
        == "reference"
    )
    assert (
        rows["NeuronRegressor", "poisson", "newton"]["reference"] == "PoissonRegressor"
    )
    assert rows["NeuronRegressor", "gamma", "lbfgs"]["coef_diff"] < 1e-8
    assert (
        rows["NeuronRegressor", "absolute_error", "newton"]["status"] == "incompatible"
    )
    assert "poisson: PoissonRegressor to within" in " ".join(result.verdict)
    assert result.settings["optimizers"] == ["newton", "lbfgs"]
