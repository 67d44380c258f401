"""The study's figures: what the convergence plot draws, colours, embedded report."""

import numpy as np
import pytest

from sklearn_neuron import _plots
from sklearn_neuron._study import StudyResult

pytest.importorskip("matplotlib")


def result_with(curves, converged, reference_objective=None, C=1.0, n=100):
    rows = [{"model": "LogisticRegression", "status": "reference", "loss": "log_loss",
             "optimizer": "newton-cholesky"}]
    rows += [
        {"model": "NeuronClassifier", "status": "ok", "loss": loss, "optimizer": opt,
         "converged": converged[(loss, opt)]}
        for loss, opt in curves
    ]
    details = {"curves": curves, "coef": {key: np.zeros((1, 2)) for key in curves},
               "reference_objective": reference_objective}
    settings = {"C": C, "optimizers": list(dict.fromkeys(o for _, o in curves))}
    return StudyResult("classification", {"n_samples": n}, settings, rows, [], details)


def test_a_run_stopped_before_tol_is_not_drawn_as_converged():
    # sgd stops at 0.5 above the optimum that newton reached: its gap ends at 0.5.
    curves = {("squared_error", "newton"): np.array([3.0, 1.0, 0.2]),
              ("squared_error", "sgd"): np.array([3.0, 1.5, 0.7])}
    result = result_with(curves, {("squared_error", "newton"): True,
                                  ("squared_error", "sgd"): False})
    gaps, against = _plots.convergence_gaps(result, "squared_error")
    assert against == "best converged"
    np.testing.assert_allclose(gaps["sgd"][0], [2.8, 1.3, 0.5])
    assert gaps["sgd"][1] is False
    assert gaps["newton"][0][-1] == pytest.approx(4 * np.finfo(float).eps)  # the floor


def test_with_no_converged_run_the_label_says_so():
    curves = {("hinge", "sgd"): np.array([3.0, 1.0])}
    result = result_with(curves, {("hinge", "sgd"): False})
    gaps, against = _plots.convergence_gaps(result, "hinge")
    assert "no run converged" in against


def test_log_loss_gap_is_to_logistic_regression_optimum():
    # LogisticRegression's objective 50 on n=100, C=1: the neuron's scale is 0.5.
    curves = {("log_loss", "sgd"): np.array([0.9, 0.6])}
    result = result_with(curves, {("log_loss", "sgd"): False}, reference_objective=50.0)
    gaps, _ = _plots.convergence_gaps(result, "log_loss")
    np.testing.assert_allclose(gaps["sgd"][0], [0.4, 0.1])


def test_one_colour_per_optimizer_in_every_panel():
    curves = {("log_loss", "newton"): np.ones(2), ("log_loss", "adam"): np.ones(2),
              ("hinge", "adam"): np.ones(2)}
    colours = _plots.optimizer_colours(
        result_with(curves, dict.fromkeys(curves, True), reference_objective=1.0)
    )
    assert colours == {"newton": "C0", "adam": "C1"}


def drawn(plot, result, tmp_path):
    """The axes ``plot`` drew for ``result`` (the figure kept open to look at)."""
    import matplotlib.pyplot as plt

    plt.close("all")
    close = plt.close
    plt.close = lambda *args: None
    try:
        plot(result, tmp_path / "figure.png")
    finally:
        plt.close = close
    axes = [ax for ax in plt.gcf().axes if ax.get_visible()]
    plt.close("all")
    return axes


def test_the_hinge_convergence_is_drawn_per_smoothing_stage(tmp_path):
    # The hinge's objective_curve_ has one value per smoothed stage, not per iteration.
    curves = {("log_loss", "newton"): np.array([1.0, 0.5]),
              ("hinge", "newton"): np.array([2.0, 1.0])}
    result = result_with(curves, dict.fromkeys(curves, True), reference_objective=40.0)
    log_loss, hinge = drawn(_plots.plot_convergence, result, tmp_path)
    assert log_loss.get_xlabel() == "iteration (epoch)"
    assert hinge.get_xlabel() == "smoothing stage"


def test_optimizers_that_agree_stay_visible_on_each_other(tmp_path):
    # Identical curves and coefficients: each optimizer still shows, in its colour.
    curves = {("log_loss", opt): np.array([1.0, 0.5, 0.5]) for opt in ["newton", "lbfgs"]}
    result = result_with(curves, dict.fromkeys(curves, True), reference_objective=50.0)
    result.details["reference_coef"] = np.zeros((1, 2))
    (ax,) = drawn(_plots.plot_coefficients, result, tmp_path)
    points = [line for line in ax.lines if line.get_label() in ("newton", "lbfgs")]
    assert len({line.get_marker() for line in points}) == 2
    assert all(line.get_markerfacecolor() == "none" for line in points)
    (ax,) = drawn(_plots.plot_convergence, result, tmp_path)
    newton, lbfgs = (line for line in ax.lines if line.get_label() in ("newton", "lbfgs"))
    assert newton.get_linewidth() > lbfgs.get_linewidth()  # the later one drawn inside
    assert newton.get_color() == "C0" and lbfgs.get_color() == "C1"


def test_calibration_shows_logistic_regression_over_the_log_loss_line(tmp_path):
    # The log loss neuron is LogisticRegression: the reference's dashed line
    # must be drawn over it, not hidden under it.
    rng = np.random.default_rng(0)
    y = rng.integers(0, 2, 200)
    proba = np.c_[1 - (p := rng.uniform(size=200)), p]
    details = {"y": y, "classes": np.array([0, 1]),
               "oof_proba": {("LogisticRegression", ""): proba,
                             ("log_loss", "newton"): proba, ("hinge", "newton"): proba}}
    result = StudyResult("classification", {}, {}, [], [], details)
    (ax,) = drawn(_plots.plot_calibration, result, tmp_path)
    lines = {line.get_label(): line for line in ax.lines}
    reference = lines["LogisticRegression"]
    assert reference.get_linestyle() == "--"
    assert reference.get_zorder() > max(lines[n].get_zorder() for n in ["log_loss", "hinge"])
