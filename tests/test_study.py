"""The study's computation, without the command line around it."""

import numpy as np
import pytest
from _datasets import classification_dataset
from sklearn.linear_model import LogisticRegression

from sklearn_neuron import NeuronClassifier
from sklearn_neuron._study import datasets as _datasets
from sklearn_neuron._study import fitting as _fitting
from sklearn_neuron._study import landscape as _landscape
from sklearn_neuron._study import options as _options
from sklearn_neuron._study import peers as _peers
from sklearn_neuron._study import report as _report
from sklearn_neuron._study import runs as _runs
from sklearn_neuron._study import scores as _scores
from sklearn_neuron._study import verdict as _verdict
from sklearn_neuron._study.datasets import StudyInputError


def test_optimizers_are_read_from_the_estimator():
    names = _fitting.available_optimizers()
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
    f = _scores.logistic_objective(lr.coef_, lr.intercept_, X, y_index, 0.5)
    neuron = NeuronClassifier(C=0.5, optimizer="newton", tol=1e-10).fit(X, y)
    # The neuron's own objective is LogisticRegression's divided by C * n.
    np.testing.assert_allclose(f / (0.5 * len(y)), neuron.objective_, rtol=1e-10)
    worse = _scores.logistic_objective(1.1 * lr.coef_, lr.intercept_, X, y_index, 0.5)
    assert worse > f


def test_study_on_a_subset():
    dataset = _datasets.load_dataset("breast_cancer")
    dataset.X, dataset.y = dataset.X[::3], dataset.y[::3]
    lines = []
    result = _runs.run_classification_study(
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
    ts, values = _landscape.landscape_slice(
        X, y, lr.coef_, lr.intercept_, ["log_loss", "squared_error"]
    )
    assert _landscape.min_curvature(ts, values["log_loss"]) >= -1e-9
    assert _landscape.min_curvature(ts, values["squared_error"]) < -1.0


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
    (sentence,) = _verdict.classification_verdict(rows, {"coef": {}})
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
    (sentence,) = _verdict.classification_verdict(rows, {"coef": {}})
    assert "(objective gap 1e-12; proved within 4e-09 of its optimum)" in sentence
    assert "objective gap at least 0.001; proved at least 0.01 from its optimum" in sentence
    (sentence,) = _verdict.classification_verdict(rows[:3], {"coef": {}})
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
    (sentence,) = _verdict.classification_verdict(rows, details)
    assert "hinge: a different model" in sentence
    assert "its optimizers agree with each other to within 2e-04" in sentence
    rows, details = _other_loss_rows(
        "modified_huber", {"newton": [1.0, 2.0], "adam": [1.0, 2.5]}, converged=[True, False]
    )
    (sentence,) = _verdict.classification_verdict(rows, details)
    assert "disagree with each other by up to 0.5 (adam stopped before tol)" in sentence


def test_verdict_for_squared_error_says_optimizers_may_stop_apart():
    rows, details = _other_loss_rows(
        "squared_error", {"newton": [1.0, 2.0], "lbfgs": [1.0, 2.3]}
    )
    (sentence,) = _verdict.classification_verdict(rows, details)
    assert "not convex in the coefficients" in sentence
    assert "they differ by up to 0.3" in sentence


def test_bundled_dataset_refuses_a_target():
    with pytest.raises(StudyInputError, match="--target applies to CSV files"):
        _datasets.load_dataset("iris", target="species")


def test_regression_mode_against_scikit_learn():
    result = _runs.run_regression_study(_datasets.load_dataset("diabetes"), cv=2)
    rows = {(r["model"], r["loss"], r["optimizer"]): r for r in result.rows}
    assert (
        rows["LinearRegression", "squared_error", "scikit-learn"]["status"]
        == "reference"
    )
    assert (
        rows["NeuronRegressor", "poisson", "newton"]["reference"] == "PoissonRegressor"
    )
    assert rows["NeuronRegressor", "gamma", "lbfgs"]["coef_diff"] < 1e-8
    # Issue #38, item 4: the absolute error is solved by the exact LAD solver
    # alone (no stalled L-BFGS), against QuantileRegressor (the median).
    assert [r["optimizer"] for r in result.rows if r["loss"] == "absolute_error"] == [
        "scikit-learn", "lad"
    ]
    assert rows["NeuronRegressor", "absolute_error", "lad"]["reference"] == (
        "QuantileRegressor"
    )
    assert "poisson: PoissonRegressor to within" in " ".join(result.verdict)
    assert result.settings["optimizers"] == ["newton", "lbfgs"]


def test_mlp_peer_seeds_and_certified_output_layers():
    from sklearn.neural_network import MLPClassifier
    from sklearn.preprocessing import StandardScaler

    from sklearn_neuron import certify_output_layer

    dataset = _datasets.load_dataset("iris")
    result = _runs.run_classification_study(
        dataset, losses=["log_loss"], optimizers=["newton"], cv=2, peers=["mlp"]
    )
    assert [r["status"] for r in result.rows] == ["reference", "ok", "peer"]
    peer = result.rows[2]
    assert peer["model"] == "MLPClassifier(8,)" and peer["peer"] == "mlp"
    assert peer["coef_diff"] is None and peer["objective_gap"] is None
    # The seeds' fits, redone here with MLPClassifier itself (alpha = 1/C = 1).
    X = StandardScaler().fit_transform(dataset.X)
    fits = [_peers.mlp_peer(1.0, seed).fit(X, dataset.y) for seed in range(_peers.MLP_SEEDS)]
    assert all(isinstance(m, MLPClassifier) and m.alpha == 1.0 for m in fits)
    assert peer["objectives"] == pytest.approx([m.loss_ for m in fits], rel=1e-9)
    proba = np.stack([m.predict_proba(X) for m in fits])
    assert peer["proba_spread"] == pytest.approx(np.ptp(proba, axis=0).max(), rel=1e-9)
    assert peer["proba_spread"] > 0  # not convex: the seeds land apart
    # Logistic regression's one optimum on the MLP's scale: its objective / (C n).
    reference = LogisticRegression(solver="newton-cholesky", tol=1e-10).fit(X, dataset.y)
    _, y_index = np.unique(dataset.y, return_inverse=True)
    optimum = _scores.logistic_objective(reference.coef_, reference.intercept_, X, y_index, 1.0)
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
    dataset = _datasets.load_dataset("iris")
    result = _runs.run_classification_study(
        dataset, losses=["log_loss"], optimizers=["newton"], cv=2
    )
    assert [r["model"] for r in result.rows] == ["LogisticRegression", "NeuronClassifier"]


# -- issue 38: every fit's convergence, the settings, the table's legend ------------
def _lbfgs_folds_by_hand(dataset, cv, max_iter):
    """Whether each CV fold's lbfgs fit converges, redone without the study."""
    import warnings

    from sklearn.exceptions import ConvergenceWarning
    from sklearn.model_selection import StratifiedKFold
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    folds = StratifiedKFold(cv, shuffle=True, random_state=_fitting.SEED)
    converged = []
    for train, _ in folds.split(dataset.X, dataset.y):
        neuron = NeuronClassifier(
            optimizer="lbfgs", tol=1e-10, max_iter=max_iter, random_state=_fitting.SEED
        )
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            make_pipeline(StandardScaler(), neuron).fit(dataset.X[train], dataset.y[train])
        converged.append(bool(neuron.converged_))
    return converged


def test_a_fold_that_stops_short_shows_in_table_report_json_and_verdict(tmp_path):
    import json

    dataset = _datasets.load_dataset("breast_cancer")
    # lbfgs needs ~64 iterations at tol=1e-10 here: at 56 the full-data fit stops
    # within 1e-6 of LogisticRegression, and so do some folds, not all.
    result = _runs.run_classification_study(
        dataset, losses=["log_loss"], optimizers=["newton", "lbfgs"], cv=3,
        overrides={"lbfgs": {"max_iter": 56}},
    )
    newton, lbfgs = result.rows[1], result.rows[2]
    expected = _lbfgs_folds_by_hand(dataset, 3, 56)
    assert lbfgs["fold_converged"] == expected
    assert not all(expected) and any(expected)  # the premise: a fold stops short
    assert lbfgs["converged"] is False and lbfgs["coef_diff"] <= _options.DEFAULT_MATCH_TOL
    assert newton["fold_converged"] == [True] * 3 and newton["converged"]
    assert result.settings["fits"]["lbfgs"]["max_iter"] == 56
    assert result.settings["overrides"] == {"lbfgs": {"max_iter": 56}}

    short = [str(i) for i, ok in enumerate(expected, 1) if not ok]
    where = f"the full-data fit and fold{'s' if len(short) > 1 else ''} {', '.join(short)} of 3"
    cell = f"no, {sum(expected)}/3"
    (sentence,) = result.verdict
    assert f"stopped before tol — lbfgs: {where}" in sentence
    # The takeaway only names optimizers whose every fit reached the optimum.
    assert "optimizer='newton' is the fastest" in result.takeaway[0]
    assert "lbfgs" not in result.takeaway[0]

    table = _report.format_table(result)
    (line,) = [line for line in table.splitlines() if " lbfgs " in line]
    assert cell in line and f"stopped before tol: {where}" in line
    assert "yes, 3/3" in next(line for line in table.splitlines() if " newton " in line)
    _report.write_report(result, tmp_path, {})
    for name in ("report.md", "report.html"):
        report = (tmp_path / name).read_text()
        assert cell in report and f"stopped before tol — lbfgs: {where}" in report
    payload = json.loads(_report.format_json(result))
    assert payload["rows"][2]["fold_converged"] == expected


def test_verdict_never_calls_agreement_that_the_table_contradicts():
    # Identical full-data coefficients, but the CV log losses the table prints differ.
    rows, details = _other_loss_rows("hinge", {"newton": [1.0, 2.0], "sgd": [1.0, 2.0]})
    rows[1].update(log_loss=0.09902, log_loss_std=0.02, fold_converged=[True] * 5)
    rows[2].update(log_loss=0.09931, log_loss_std=0.02, fold_converged=[True] * 5)
    (sentence,) = _verdict.classification_verdict(rows, details)
    assert "0e+00" not in sentence
    assert "agree with each other to within 0 (identical) in the coefficients" in sentence
    result = _runs.StudyResult("classification", {}, {}, rows, [sentence])
    printed = [_report._cells(r, _report._CLASSIFICATION_COLUMNS)[4] for r in rows[1:]]
    assert printed == ["0.0990 ± 0.0200", "0.0993 ± 0.0200"]
    assert f"their CV log losses differ: {printed[0][:6]} to {printed[1][:6]}" in sentence
    del result
    # Printed the same: said so, with the printed value.
    rows[2]["log_loss"] = 0.09903
    (sentence,) = _verdict.classification_verdict(rows, details)
    assert "their CV log losses are equal to 4 decimals (0.0990)" in sentence
    # A fold that stopped short: no plain agreement, and which fold is named.
    rows[2]["fold_converged"] = [True, True, False, True, True]
    (sentence,) = _verdict.classification_verdict(rows, details)
    assert "agree with each other" not in sentence
    assert "but not every fit met tol (sgd stopped before tol)" in sentence
    assert "stopped before tol — sgd: fold 3 of 5" in sentence


def test_cv_scores_and_their_spread_equal_scikit_learns_cross_validate():
    from sklearn.model_selection import StratifiedKFold, cross_validate
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    for name, auc in [("breast_cancer", "roc_auc"), ("iris", "roc_auc_ovr")]:
        dataset = _datasets.load_dataset(name)
        result = _runs.run_classification_study(
            dataset, losses=["log_loss"], optimizers=["newton"], cv=3
        )
        assert result.settings["roc_auc"] == auc
        reference = make_pipeline(
            StandardScaler(),
            LogisticRegression(solver="newton-cholesky", tol=1e-10, max_iter=1000),
        )
        scores = cross_validate(
            reference, dataset.X, dataset.y,
            cv=StratifiedKFold(3, shuffle=True, random_state=_fitting.SEED),
            scoring={"accuracy": "accuracy", "log_loss": "neg_log_loss", "roc_auc": auc},
        )
        for row in result.rows:  # the reference and the neuron: the same model
            for key, sign in [("accuracy", 1), ("log_loss", -1), ("roc_auc", 1)]:
                values = sign * scores[f"test_{key}"]
                assert row[key] == pytest.approx(values.mean(), rel=1e-6), key
                assert row[f"{key}_std"] == pytest.approx(values.std(), rel=1e-4, abs=1e-9)


def test_settings_and_data_summary_of_a_study():
    import sklearn
    import torch

    import sklearn_neuron

    dataset = _datasets.load_dataset("breast_cancer")
    dataset.X, dataset.y = dataset.X[::2], dataset.y[::2]
    result = _runs.run_classification_study(
        dataset, losses=["log_loss"], optimizers=["newton", "sgd"], cv=2, C=0.5
    )
    info, settings = result.dataset, result.settings
    counts = np.bincount(dataset.y)
    assert info["classes"] == [
        {"label": 0, "name": "malignant", "count": int(counts[0])},
        {"label": 1, "name": "benign", "count": int(counts[1])},
    ]
    assert info["positive_class"] == 1
    assert settings["versions"] == {
        "sklearn-neuron": sklearn_neuron.__version__, "torch": torch.__version__,
        "scikit-learn": sklearn.__version__, "numpy": np.__version__,
        "python": settings["versions"]["python"],
    }
    assert settings["C"] == 0.5 and settings["cv"] == 2 and settings["random_state"] == 0
    assert settings["fits"]["newton"] == {
        "tol": 1e-10, "max_iter": 500, "max_iter_unit": "iterations"
    }
    defaults = NeuronClassifier().get_params()
    assert settings["fits"]["sgd"]["tol"] == defaults["tol"]
    assert settings["fits"]["sgd"]["max_iter"] == _fitting.STUDY_EPOCHS
    assert settings["fits"]["sgd"]["max_iter_unit"] == "epochs"
    assert result.rows[2]["iter_unit"] == "epochs"


def _takeaway_row(loss, optimizer, fit_time, log_loss, *, coef_diff=1e-9, stopped=False):
    return {
        "loss": loss, "optimizer": optimizer, "status": "ok", "fit_time": fit_time,
        "log_loss": log_loss, "log_loss_std": 0.01, "accuracy": 0.9, "accuracy_std": 0.01,
        "coef_diff": coef_diff, "converged": True,
        "fold_converged": [True, not stopped, True],
    }  # fmt: skip


def test_takeaway_is_drawn_from_the_measured_rows():
    reference = {"loss": "log_loss", "fit_time": 0.003, "accuracy": 0.9, "log_loss": 0.1}
    rows = [
        reference,
        _takeaway_row("log_loss", "newton", 0.004, 0.1),
        _takeaway_row("log_loss", "sgd", 0.001, 0.1, stopped=True),  # fastest, a fold short
        _takeaway_row("log_loss", "lbfgs", 0.002, 0.1),
        _takeaway_row("log_loss", "adam", 0.0005, 0.1, coef_diff=0.1),  # not reached
        _takeaway_row("hinge", "newton", 0.002, 0.105),
        _takeaway_row("squared_error", "newton", 0.002, 0.2),
    ]
    first, second, third = _verdict.classification_takeaway(rows)
    assert "optimizer='lbfgs' is the fastest" in first and "2.0 ms a fold" in first
    assert "newton 4.0 ms; LogisticRegression 3.0 ms" in first
    assert "sgd" not in first and "adam" not in first
    assert "log_loss 0.1000 ± 0.0100, hinge 0.1050 ± 0.0100, squared_error 0.2000" in second
    assert "but hinge is within one std of it" in second
    rows[5]["log_loss"] = 0.15
    second = _verdict.classification_takeaway(rows)[1]
    assert "ahead of hinge by more than one std across folds" in second
    assert "the best CV accuracy is 0.9000, by log_loss (newton, sgd, lbfgs, adam)" in third


# -- issue #38, item 4: the regression study's losses and table, CSV loading ----
def _diabetes_folds(cv):
    from sklearn.model_selection import KFold

    dataset = _datasets.load_dataset("diabetes")
    folds = KFold(cv, shuffle=True, random_state=_fitting.SEED).split(dataset.X)
    return dataset.X, np.asarray(dataset.y, float), list(folds)


def test_absolute_error_is_the_exact_median_regression():
    from sklearn.linear_model import QuantileRegressor
    from sklearn.preprocessing import StandardScaler

    dataset = _datasets.load_dataset("diabetes")
    result = _runs.run_regression_study(dataset, losses=["absolute_error"], cv=2)
    (row,) = [r for r in result.rows if r["model"] == "NeuronRegressor"]
    assert row["optimizer"] == "lad" and row["status"] == "ok" and row["converged"]
    # scikit-learn's median regression on the same standardized data, fitted here.
    X_std = StandardScaler().fit_transform(dataset.X)
    median = QuantileRegressor(quantile=0.5, alpha=0.0, solver="highs").fit(X_std, dataset.y)
    assert row["coef_diff"] < 1e-8
    np.testing.assert_allclose(
        result.details["coef"]["absolute_error", "lad"], median.coef_, atol=1e-8
    )
    (reference,) = [r for r in result.rows if r["model"] == "QuantileRegressor"]
    assert row["mae"] == pytest.approx(reference["mae"], rel=1e-9)


def test_given_optimizers_run_as_given_and_lad_only_on_its_loss():
    result = _runs.run_regression_study(
        _datasets.load_dataset("diabetes"),
        losses=["squared_error", "absolute_error"],
        optimizers=["lad", "lbfgs"],
        cv=2,
    )
    rows = {(r["loss"], r["optimizer"]): r for r in result.rows if r["model"] == "NeuronRegressor"}
    assert list(rows) == [
        ("squared_error", "lad"), ("squared_error", "lbfgs"),
        ("absolute_error", "lad"), ("absolute_error", "lbfgs"),
    ]
    assert rows["squared_error", "lad"]["status"] == "incompatible"
    assert "exact solver of loss 'absolute_error' only" in rows["squared_error", "lad"]["note"]
    assert rows["absolute_error", "lbfgs"]["status"] == "ok"
    assert rows["absolute_error", "lad"]["coef_diff"] < 1e-8


def test_regression_deviances_are_scikit_learn_s_on_the_folds():
    from sklearn.linear_model import PoissonRegressor
    from sklearn.metrics import mean_gamma_deviance, mean_poisson_deviance
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    result = _runs.run_regression_study(
        _datasets.load_dataset("diabetes"), losses=["poisson"], optimizers=["newton"], cv=3
    )
    X, y, folds = _diabetes_folds(3)
    expected = {"poisson_deviance": [], "gamma_deviance": []}
    for train, test in folds:
        glm = PoissonRegressor(alpha=0.0, solver="newton-cholesky", tol=1e-10, max_iter=1000)
        pred = make_pipeline(StandardScaler(), glm).fit(X[train], y[train]).predict(X[test])
        expected["poisson_deviance"].append(mean_poisson_deviance(y[test], pred))
        expected["gamma_deviance"].append(mean_gamma_deviance(y[test], pred))
    for row in result.rows:  # the reference and the neuron: the same model
        for key, values in expected.items():
            assert row[key] == pytest.approx(np.mean(values), rel=1e-8), (row["model"], key)


def test_deviances_are_none_where_undefined():
    dataset = _datasets.load_dataset("diabetes")
    dataset.y = dataset.y - np.median(dataset.y)  # negative targets: no deviance
    result = _runs.run_regression_study(
        dataset, losses=["squared_error"], optimizers=["newton"], cv=2
    )
    for row in result.rows:
        assert row["poisson_deviance"] is None and row["gamma_deviance"] is None
        assert np.isfinite(row["r2"])
    # y > 0 but a fold's least-squares predictions <= 0: defined only for the GLM.
    dataset = _datasets.load_dataset("diabetes")
    dataset.y = np.where(dataset.y > 100, dataset.y, 1.0)
    result = _runs.run_regression_study(
        dataset, losses=["squared_error", "gamma"], optimizers=["newton"], cv=2
    )
    cells = {(r["model"], r["loss"]): r["gamma_deviance"] for r in result.rows}
    assert cells["LinearRegression", "squared_error"] is None
    assert cells["NeuronRegressor", "gamma"] > 0


def _write(path, columns):
    import pandas as pd

    pd.DataFrame(columns).to_csv(path, index=False)
    return str(path)


def test_an_integer_count_target_is_not_taken_for_classes(tmp_path):
    rng = np.random.default_rng(0)
    x = rng.normal(size=200)
    count = rng.poisson(np.exp(2.5 + 0.6 * x))
    assert np.unique(count).size > 20  # more than _options.MAX_CLASSES
    csv = _write(tmp_path / "counts.csv", {"x": x, "count": count})
    with pytest.raises(StudyInputError, match="pass --task regression"):
        _datasets.load_dataset(csv, "count")
    assert _datasets.load_dataset(csv, "count", task="regression").task == "regression"
    # Asked for, the classes are studied (and the folds decide whether they can be).
    assert _datasets.load_dataset(csv, "count", task="classification").task == "classification"


def test_few_integer_classes_keep_classification_with_a_hint_on_small_ones(tmp_path):
    rng = np.random.default_rng(0)
    x = rng.normal(size=60)
    count = np.minimum(rng.poisson(2.0, size=60), 6)
    csv = _write(tmp_path / "few.csv", {"x": x, "count": count})
    dataset = _datasets.load_dataset(csv, "count")
    assert dataset.task == "classification"
    smallest = np.bincount(np.unique(count, return_inverse=True)[1]).min()
    assert smallest < 5
    with pytest.raises(StudyInputError, match="pass --task regression if 'count' is a count"):
        _runs.run_classification_study(dataset, losses=["log_loss"], cv=5)
    # A bundled dataset's classes are classes: no such hint.
    iris = _datasets.load_dataset("iris")
    iris.X, iris.y = iris.X[::10], iris.y[::10]
    with pytest.raises(StudyInputError, match="fewer than the 9 folds") as info:
        _runs.run_classification_study(iris, losses=["log_loss"], cv=9)
    assert "--task regression" not in str(info.value)


def test_id_like_and_constant_columns_are_warned_about_and_droppable(tmp_path):
    rng = np.random.default_rng(0)
    n = 40
    x = rng.normal(size=n)
    columns = {
        "row": np.arange(7, 7 + n),  # distinct integers: an ID
        "x": x,  # distinct floats: a measurement
        "grade": rng.integers(0, 5, size=n),  # repeated integers
        "site": np.full(n, 3),
        "y": (x + rng.normal(size=n) > 0).astype(int),
    }
    csv = _write(tmp_path / "d.csv", columns)
    dataset = _datasets.load_dataset(csv, "y")
    assert dataset.feature_names == ["row", "x", "grade", "site"]
    ids, constant = dataset.warnings
    assert ids.startswith("ID-like columns (every value a distinct integer): row;")
    assert "--drop row" in ids
    assert constant.startswith("constant columns (one value in every row): site;")
    dropped = _datasets.load_dataset(csv, "y", drop=["row", "site"])
    assert dropped.feature_names == ["x", "grade"] and dropped.warnings == []
    np.testing.assert_array_equal(dropped.X, dataset.X[:, [1, 2]])
    # A few rows do not make an ID.
    small = _write(tmp_path / "s.csv", {k: v[:20] for k, v in columns.items() if k != "site"})
    assert _datasets.load_dataset(small, "y").warnings == []


def test_drop_refuses_unknown_columns_and_the_target(tmp_path):
    csv = _write(tmp_path / "d.csv", {"a": [1.0, 2.0, 3.0], "b": [0.5, 0.1, 0.2], "y": [0, 1, 0]})
    with pytest.raises(StudyInputError, match="--drop c: no such column in .*: a, b$"):
        _datasets.load_dataset(csv, "y", drop=["c"])
    with pytest.raises(StudyInputError, match="--drop y: that is the target column"):
        _datasets.load_dataset(csv, "y", drop=["y"])
    # Dropping a column with missing values lets the rest be studied.
    gaps = _write(tmp_path / "g.csv", {"a": [1.0, None, 3.0], "b": [0.5, 0.1, 0.2], "y": [0, 1, 0]})
    with pytest.raises(StudyInputError, match="drop them with --drop a"):
        _datasets.load_dataset(gaps, "y")
    assert _datasets.load_dataset(gaps, "y", drop=["a"]).feature_names == ["b"]
    # Bundled datasets drop by feature name.
    iris = _datasets.load_dataset("iris", drop=["petal width (cm)"])
    assert iris.X.shape == (150, 3) and "petal width (cm)" not in iris.feature_names
    with pytest.raises(StudyInputError, match="no such feature column in iris"):
        _datasets.load_dataset("iris", drop=["petal"])


#: The library's private modules the study still reaches into, and why: no public
#: name gives the classification losses in their registry's order (``_loss.losses``,
#: also the losses' values along a line in ``landscape``), nor the neuron's automatic
#: batch size and step on given data (the classifier's objective from ``_classifier``,
#: as a ``_objective.protocol`` row objective, ``_solvers.dispatch``,
#: ``_solvers.stochastic``, for the skorch peer). Anything else the study needs it
#: takes from ``sklearn_neuron``.
STUDY_PRIVATE_IMPORTS = {
    "_loss.losses", "_classifier", "_objective.protocol", "_solvers.dispatch",
    "_solvers.stochastic",
}


def test_the_study_uses_the_public_api_and_its_own_modules():
    import ast
    import pathlib

    import sklearn_neuron
    from sklearn_neuron import _study

    public = set(sklearn_neuron.__all__) | {"__version__"}
    reached = set()
    for path in pathlib.Path(_study.__file__).parent.glob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if not isinstance(node, ast.ImportFrom) or node.level == 0:
                continue
            if node.level == 1:  # the study's own modules
                continue
            if node.module is None:  # from .. import name: the package's public names
                names = {alias.name for alias in node.names}
                assert names <= public, f"{path.name}: {sorted(names - public)} not public"
            else:
                reached.add(node.module)
    assert reached <= STUDY_PRIVATE_IMPORTS, sorted(reached - STUDY_PRIVATE_IMPORTS)
