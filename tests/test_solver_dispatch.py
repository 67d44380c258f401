"""Tests of ``_solvers/dispatch`` (the registry, ``auto``, the settings) and ``_solvers/path``."""

import numpy as np
import pytest
import torch
from sklearn.datasets import load_breast_cancer, load_iris
from sklearn.model_selection import StratifiedKFold
from sklearn.preprocessing import StandardScaler

from sklearn_neuron import NeuronClassifier, NeuronClassifierCV, NeuronRegressor
from sklearn_neuron._solvers.dispatch import (
    OPTIMIZERS,
    SOLVERS,
    SolverSettings,
    choose_optimizer,
    convergence_message,
    iterates_are_coefficients,
    solve,
)
from sklearn_neuron._solvers.optimizers import OptimizeResult
from sklearn_neuron._solvers.path import penalty_strengths, regularization_path


@pytest.fixture(scope="module")
def cancer():
    X, y = load_breast_cancer(return_X_y=True)
    return StandardScaler().fit_transform(X), y


def _objective(estimator, X, y):
    return estimator._build_objective(X, y, None, reset=True)


# -- the registry and "auto" -------------------------------------------------------
def test_the_registry_holds_every_full_batch_solver():
    assert set(OPTIMIZERS) == {"lbfgs", "newton", "newton-cg"}
    assert set(SOLVERS) == {*OPTIMIZERS, "lad"}  # lad: reached by "auto" only


@pytest.mark.parametrize(
    "estimator, expected",
    [
        (NeuronClassifier(), "newton"),  # small: Newton
        (NeuronClassifier(l1_ratio=0.5), "lbfgs"),  # OWL-QN for the L1 term
        (NeuronClassifier(loss="hinge"), "newton"),  # its smoothed stages
        (NeuronClassifier(optimizer="newton-cg"), "newton-cg"),  # as asked
        (NeuronClassifier(firth=True, C=np.inf), "newton"),  # Fisher scoring
    ],
)
def test_choose_optimizer_classifier(estimator, expected):
    X, y = load_iris(return_X_y=True)
    y = y == 0 if estimator.firth else y
    objective = _objective(estimator, X, y)
    assert choose_optimizer(objective, SolverSettings.of(estimator)) == expected


def test_auto_solves_the_absolute_error_exactly():
    X, y = load_iris(return_X_y=True)
    objective = NeuronRegressor(loss="absolute_error")._build_objective(
        X[:, 1:], X[:, 0], None, reset=True
    )
    assert choose_optimizer(objective, SolverSettings()) == "lad"
    assert choose_optimizer(objective, SolverSettings(optimizer="lbfgs")) == "lbfgs"
    assert not iterates_are_coefficients(objective, SolverSettings())
    assert iterates_are_coefficients(objective, SolverSettings(optimizer="lbfgs"))


@pytest.mark.parametrize(
    "estimator, message",
    [
        (NeuronClassifier(l1_ratio=1.0), "does not handle the L1 term"),
        (NeuronRegressor(loss="absolute_error"), "needs a twice-differentiable loss"),
    ],
)
@pytest.mark.parametrize("optimizer", ["newton", "newton-cg"])
def test_second_order_refusals(estimator, message, optimizer):
    X, y = load_iris(return_X_y=True)
    objective = _objective(estimator, X, y.astype(float))
    with pytest.raises(ValueError, match=f"optimizer='{optimizer}' {message.split()[0]}"):
        choose_optimizer(objective, SolverSettings(optimizer=optimizer))
    assert choose_optimizer(objective, SolverSettings(optimizer="lbfgs")) == "lbfgs"


# -- the settings ----------------------------------------------------------------
def test_settings_are_the_estimators_public_parameters():
    clf = NeuronClassifier(optimizer="adam", tol=1e-3, max_iter=7, batch_size=16, random_state=3)
    settings = SolverSettings.of(clf)
    assert (settings.optimizer, settings.tol, settings.max_iter) == ("adam", 1e-3, 7)
    assert (settings.batch_size, settings.random_state) == (16, 3)
    assert settings.name == "NeuronClassifier" and settings.stochastic
    assert SolverSettings.of(NeuronClassifier(optimizer=torch.optim.SGD)).label == "SGD"
    # NeuronClassifierCV has no minibatch parameters: their defaults.
    cv = SolverSettings.of(NeuronClassifierCV(max_iter=9, optimizer="lbfgs"))
    assert (cv.name, cv.max_iter, cv.optimizer, cv.batch_size) == (
        "NeuronClassifierCV", 9, "lbfgs", "auto"
    )
    assert not cv.stochastic


def test_solve_is_what_fit_runs(cancer):
    X, y = cancer
    clf = NeuronClassifier(optimizer="lbfgs", max_iter=500)
    objective = _objective(clf, X, y)
    optimizer, result = solve(objective, objective.initial_theta(), SolverSettings.of(clf))
    fitted = NeuronClassifier(optimizer="lbfgs", max_iter=500).fit(X, y)
    coef, intercept = objective.unpack(objective.center(result.theta))
    assert optimizer == fitted.optimizer_ == "lbfgs"
    assert result.n_iter == fitted.n_iter_
    np.testing.assert_array_equal(coef.numpy(), fitted.coef_)
    np.testing.assert_array_equal(intercept.numpy(), fitted.intercept_)


def test_convergence_message_names_the_estimator_and_advice():
    result = OptimizeResult(
        theta=torch.zeros(2, dtype=torch.float64), n_iter=3, converged=False,
        objective_curve=[1.0], grad_max=0.5, stop_reason="max_iter reached",
    )
    settings = SolverSettings(name="NeuronRegressor", max_iter=3, tol=1e-4)
    message = convergence_message(settings, "lbfgs", result, torch.float64)
    assert message.startswith("NeuronRegressor (optimizer='lbfgs') stopped after 3 iterations")
    assert "Increase max_iter (now 3)" in message
    sgd = convergence_message(SolverSettings(optimizer="sgd"), "sgd", result, torch.float64)
    assert "3 epochs" in sgd and "full-batch optimizer" in sgd


# -- the regularization path -------------------------------------------------------
def test_penalty_strengths_is_logistic_regressions_C():
    assert penalty_strengths(4.0, 0.25, "NeuronClassifier") == (0.1875, 0.0625)
    assert penalty_strengths(np.inf, 0.5, "NeuronClassifier") == (0.0, 0.0)
    with pytest.raises(ValueError, match="NeuronClassifierCV: C \\* sum"):
        penalty_strengths(1e-320, 0.0, "NeuronClassifierCV")


@pytest.mark.parametrize("optimizer", ["newton", "lbfgs"])
def test_path_points_are_the_fits_at_each_C(cancer, optimizer):
    """Each warm-started point is the cold fit at its C (to the tolerance's
    rounding), in no more iterations than the cold fits."""
    X, y = cancer
    Cs = [0.01, 0.1, 1.0, 10.0]
    clf = NeuronClassifier(optimizer=optimizer, tol=1e-8, max_iter=1000)
    objective = _objective(clf, X, y)
    penalties = [penalty_strengths(C * objective.weight_sum, 0.0, "x") for C in Cs]
    points = list(regularization_path(objective, penalties, SolverSettings.of(clf)))
    assert [p.optimizer for p in points] == [optimizer] * len(Cs)
    cold = [NeuronClassifier(optimizer=optimizer, C=C, tol=1e-8, max_iter=1000).fit(X, y)
            for C in Cs]
    for point, fitted in zip(points, cold, strict=True):
        assert point.result.converged
        assert (point.objective.l2, point.objective.l1) == penalty_strengths(
            fitted.C * objective.weight_sum, 0.0, "x"
        )
        coef, intercept = point.objective.unpack(point.theta)
        np.testing.assert_allclose(coef.numpy(), fitted.coef_, rtol=0, atol=1e-9)
        np.testing.assert_allclose(intercept.numpy(), fitted.intercept_, rtol=0, atol=1e-9)
    warm_iterations = sum(p.result.n_iter for p in points)
    assert warm_iterations < sum(c.n_iter_ for c in cold)
    assert points[0].result.n_iter == cold[0].n_iter_  # the first point starts cold


def test_classifier_cv_runs_the_path(cancer):
    """NeuronClassifierCV's coefficients on a fold are those of the path on
    that fold's objective, point by point (the grid from the strongest penalty)."""
    X, y = cancer
    Cs = [10.0, 0.01, 1.0]
    folds = list(StratifiedKFold(3).split(X, y))
    cv = NeuronClassifierCV(Cs=Cs, cv=folds, l1_ratios=[0.0, 0.5], max_iter=300).fit(X, y)
    train = folds[1][0]
    builder = NeuronClassifier(max_iter=300)
    objective = _objective(builder, X[train], y[train])
    order = np.argsort(Cs)
    for i, l1_ratio in enumerate([0.0, 0.5]):
        penalties = [
            penalty_strengths(Cs[j] * objective.weight_sum, l1_ratio, "NeuronClassifier")
            for j in order
        ]
        path = regularization_path(
            objective, penalties, SolverSettings.of(builder), name="NeuronClassifierCV"
        )
        for j, point in zip(order, path, strict=True):
            np.testing.assert_array_equal(
                cv.coefs_paths_[1, i, j], point.theta.view(1, -1).numpy()
            )
            assert cv.n_iter_[1, i, j] == point.result.n_iter
