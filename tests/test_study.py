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
    # Each log-loss fit is certified (sklearn_neuron.certify): the distance proved
    # bounds the one measured against LogisticRegression's tight fit, and says so.
    for optimizer in ("newton", "lbfgs"):
        row = rows["log_loss", optimizer]
        assert row["coef_diff"] <= row["proved_within"] + 1e-8
        assert row["proved_at_least"] <= row["proved_within"] < 1e-4
    within = max(rows["log_loss", o]["proved_within"] for o in ("newton", "lbfgs"))
    assert f"; proved within {within:.0e} of its optimum)" in verdict
    assert "proved_within" not in rows["squared_error", "lbfgs"]


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


def test_verdict_carries_the_certificates_of_log_loss_fits():
    rows = [
        {"loss": "log_loss", "accuracy": 0.9, "log_loss": 0.2},
        {"loss": "log_loss", "optimizer": "newton", "status": "ok", "coef_diff": 3e-9,
         "objective_gap": 1e-12, "proved_within": 4e-9, "proved_at_least": 0.0},
        {"loss": "log_loss", "optimizer": "sgd", "status": "ok", "coef_diff": 0.02,
         "objective_gap": 1e-3, "proved_within": 0.05, "proved_at_least": 0.01},
        {"loss": "log_loss", "optimizer": "adam", "status": "ok", "coef_diff": 0.5,
         "objective_gap": 1.0, "proved_within": np.inf, "proved_at_least": 0.1},
    ]  # fmt: skip
    (sentence,) = _study.classification_verdict(rows, {"coef": {}})
    assert "(objective gap 1e-12; proved within 4e-09 of its optimum)" in sentence
    assert "objective gap at least 0.001; proved at least 0.01 from its optimum" in sentence
    (sentence,) = _study.classification_verdict(rows[:3], {"coef": {}})
    assert "objective gap at least 0.001; proved 0.01 to 0.05 from its optimum" in sentence


def _other_loss_rows(loss, coefs, converged=None):
    reference = {"loss": "log_loss", "accuracy": 0.9, "log_loss": 0.2}
    rows = [reference]
    for i, optimizer in enumerate(coefs):
        rows.append(
            {
                "loss": loss,
                "optimizer": optimizer,
                "status": "ok",
                "coef_diff": 0.5,
                "objective_gap": 0.01,
                "log_loss": 0.3,
                "accuracy": 0.9,
                "converged": True if converged is None else converged[i],
            }
        )
    details = {"coef": {(loss, o): np.asarray(c, dtype=float) for o, c in coefs.items()}}
    return rows, details


def test_verdict_says_whether_the_optimizers_of_a_convex_loss_agree():
    rows, details = _other_loss_rows("hinge", {"newton": [1.0, 2.0], "adam": [1.0, 2.0002]})
    (sentence,) = _study.classification_verdict(rows, details)
    assert "hinge: a different model" in sentence
    assert "its optimizers agree with each other to within 2e-04" in sentence
    rows, details = _other_loss_rows(
        "modified_huber", {"newton": [1.0, 2.0], "adam": [1.0, 2.5]}, converged=[True, False]
    )
    (sentence,) = _study.classification_verdict(rows, details)
    assert "disagree with each other by up to 0.5 (adam stopped before tol)" in sentence


def test_verdict_for_squared_error_says_optimizers_may_stop_apart():
    rows, details = _other_loss_rows(
        "squared_error", {"newton": [1.0, 2.0], "lbfgs": [1.0, 2.3]}
    )
    (sentence,) = _study.classification_verdict(rows, details)
    assert "not convex in the coefficients" in sentence
    assert "they differ by up to 0.3" in sentence


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


def test_mlp_peer_seeds_and_certified_output_layers():
    from sklearn.neural_network import MLPClassifier
    from sklearn.preprocessing import StandardScaler

    from sklearn_neuron import certify_output_layer

    dataset = _study.load_dataset("iris")
    result = _study.run_classification_study(
        dataset, losses=["log_loss"], optimizers=["newton"], cv=2, peers=["mlp"]
    )
    assert [r["status"] for r in result.rows] == ["reference", "ok", "peer"]
    peer = result.rows[2]
    assert peer["model"] == "MLPClassifier(8,)" and peer["peer"] == "mlp"
    assert peer["coef_diff"] is None and peer["objective_gap"] is None
    # The seeds' fits, redone here with MLPClassifier itself (alpha = 1/C = 1).
    X = StandardScaler().fit_transform(dataset.X)
    fits = [_study.mlp_peer(1.0, seed).fit(X, dataset.y) for seed in range(_study.MLP_SEEDS)]
    assert all(isinstance(m, MLPClassifier) and m.alpha == 1.0 for m in fits)
    assert peer["objectives"] == pytest.approx([m.loss_ for m in fits], rel=1e-9)
    proba = np.stack([m.predict_proba(X) for m in fits])
    assert peer["proba_spread"] == pytest.approx(np.ptp(proba, axis=0).max(), rel=1e-9)
    assert peer["proba_spread"] > 0  # not convex: the seeds land apart
    # Logistic regression's one optimum on the MLP's scale: its objective / (C n).
    reference = LogisticRegression(solver="newton-cholesky", tol=1e-10).fit(X, dataset.y)
    _, y_index = np.unique(dataset.y, return_inverse=True)
    optimum = _study.logistic_objective(reference.coef_, reference.intercept_, X, y_index, 1.0)
    assert peer["neuron_objective"] == pytest.approx(optimum / len(X), rel=1e-9)
    reports = [certify_output_layer(m, X, dataset.y) for m in fits]
    assert peer["head_distances"] == pytest.approx([r.coef_distance for r in reports], rel=1e-6)
    assert peer["heads_logistic_regression"] == sum(r.is_logistic_regression for r in reports)
    assert peer["converged"] == all(r.is_logistic_regression for r in reports)
    sentence = next(s for s in result.verdict if s.startswith("MLPClassifier(8,)"))
    assert f"{min(peer['objectives']):.6g}" in sentence
    assert f"{peer['neuron_objective']:.6g}" in sentence
    assert ("MLPClassifier(8,)", "lbfgs") in result.details["oof_proba"]


def test_default_study_has_no_mlp_row():
    dataset = _study.load_dataset("iris")
    result = _study.run_classification_study(
        dataset, losses=["log_loss"], optimizers=["newton"], cv=2
    )
    assert [r["model"] for r in result.rows] == ["LogisticRegression", "NeuronClassifier"]
