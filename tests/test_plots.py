"""The study's figures: what the convergence plot draws, colours, embedded report."""

import numpy as np
import pytest

from sklearn_neuron._study import plots as _plots
from sklearn_neuron._study.result import StudyResult

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


def test_one_colour_per_optimizer_in_every_panel_and_every_study():
    # adam keeps its colour whether or not newton ran before it, and no two
    # optimizers share one.
    curves = {("log_loss", "newton"): np.ones(2), ("log_loss", "adam"): np.ones(2),
              ("hinge", "adam"): np.ones(2)}
    colours = _plots.optimizer_colours(
        result_with(curves, dict.fromkeys(curves, True), reference_objective=1.0)
    )
    assert list(colours) == ["newton", "adam"]
    alone = {("log_loss", "adam"): np.ones(2)}
    assert _plots.optimizer_colours(
        result_with(alone, dict.fromkeys(alone, True), reference_objective=1.0)
    ) == {"adam": colours["adam"]}
    everyone = {("log_loss", name): np.ones(2) for name in _plots.OPTIMIZER_COLOURS}
    every_colour = _plots.optimizer_colours(
        result_with(everyone, dict.fromkeys(everyone, True), reference_objective=1.0)
    )
    assert len(set(every_colour.values())) == len(everyone)


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
    log_loss, hinge, _legend = drawn(_plots.plot_convergence, result, tmp_path)
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
    newton, lbfgs = points
    assert newton.get_markersize() > lbfgs.get_markersize()  # concentric, not hidden
    (ax,) = drawn(_plots.plot_convergence, result, tmp_path)
    newton, lbfgs = (line for line in ax.lines if line.get_label() in ("newton", "lbfgs"))
    assert newton.get_linewidth() > lbfgs.get_linewidth()  # the later one drawn inside
    assert newton.get_color() != lbfgs.get_color()


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
    (ax, _histogram) = drawn(_plots.plot_calibration, result, tmp_path)
    lines = {line.get_label(): line for line in ax.lines}
    reference = lines["LogisticRegression"]
    assert reference.get_linestyle() == "--"
    assert reference.get_zorder() > max(lines[n].get_zorder() for n in ["log_loss", "hinge"])


@pytest.fixture(scope="module")
def small_study():
    """A real study, small: two losses, two optimizers, 2-fold CV on breast_cancer."""
    from sklearn_neuron._study import datasets as _datasets
    from sklearn_neuron._study import runs as _runs

    return _runs.run_classification_study(
        _datasets.load_dataset("breast_cancer"), losses=["log_loss", "squared_error"],
        optimizers=["newton", "lbfgs"], cv=2,
    )


def test_the_landscape_is_centred_on_the_log_loss_minimum(small_study, tmp_path):
    # The slice shows LogisticRegression's objective / (C n): by scikit-learn's
    # log_loss, to 1e-10, with its minimum at t = 1 (the grid's step, 0.01)
    # and t running symmetrically around 1.
    from scipy.special import expit
    from sklearn.metrics import log_loss

    details, C = small_study.details, small_study.settings["C"]
    X, y = details["X_std"], details["y_index"]
    coef, intercept = details["reference_coef"], details["reference_intercept"]
    ts, values = _plots.landscape_objectives(small_study, ["log_loss"], [0.5, 1.0, 1.5])
    penalty = np.sum(coef**2) / (2 * C * len(y))
    expected = [
        log_loss(y, expit(t * (X @ coef.ravel() + intercept[0])), labels=[0, 1])
        + t**2 * penalty
        for t in ts
    ]
    np.testing.assert_allclose(values["log_loss"], expected, rtol=1e-10)

    axes = drawn(_plots.plot_landscape, small_study, tmp_path)
    panel = next(ax for ax in axes if ax.get_title().startswith("log_loss"))
    t_min, t_max = panel.get_xlim()
    assert (t_min + t_max) / 2 == pytest.approx(1.0, abs=0.05)
    (minimum,) = [line for line in panel.lines if line.get_marker() == "o"]
    assert minimum.get_xdata()[0] == pytest.approx(1.0, abs=0.01)
    # The vertical axis shows the minimum's neighbourhood, not the zero model's
    # objective (log 2, ten times the minimum here).
    low, high = panel.get_ylim()
    assert high < 0.5 * np.log(2)


def test_every_figure_has_one_legible_legend_and_no_blank_cell(small_study, tmp_path):
    # A legend at 10 pt or more, once per figure, in the cell the panels leave
    # free: no cell of the grid stays blank.
    plots = [_plots.plot_coefficients, _plots.plot_convergence, _plots.plot_landscape,
             _plots.plot_decision_boundaries, _plots.plot_calibration]
    for plot in plots:
        axes = drawn(plot, small_study, tmp_path)
        legends = [ax.get_legend() for ax in axes if ax.get_legend() is not None]
        assert legends, plot.__name__
        for legend in legends:
            assert min(t.get_fontsize() for t in legend.get_texts()) >= 10, plot.__name__
        for ax in axes:
            drawn_on = ax.lines or ax.collections or ax.patches or ax.images
            assert drawn_on or ax.get_legend() is not None, plot.__name__
        for ax in axes:
            for label in [ax.xaxis.label, ax.yaxis.label, ax.title]:
                assert label.get_fontsize() >= 11, plot.__name__


def test_a_loss_has_one_colour_in_every_figure(small_study, tmp_path):
    # Panel titles, landscape curves, boundaries and calibration lines of a
    # loss all take LOSS_COLOURS[loss]; no optimizer shares a loss's colour.
    from matplotlib.colors import to_hex

    colours = _plots.LOSS_COLOURS
    assert not set(colours.values()) & set(_plots.OPTIMIZER_COLOURS.values())
    for plot in [_plots.plot_coefficients, _plots.plot_convergence,
                 _plots.plot_landscape, _plots.plot_decision_boundaries]:
        for ax in drawn(plot, small_study, tmp_path):
            if ax.get_title():
                loss = ax.get_title().split("\n")[0]
                assert to_hex(ax.title.get_color()) == colours[loss], plot.__name__
    for ax in drawn(_plots.plot_landscape, small_study, tmp_path):
        if ax.get_title():
            loss = ax.get_title().split("\n")[0]
            assert to_hex(ax.lines[0].get_color()) == colours[loss]
    for ax in drawn(_plots.plot_decision_boundaries, small_study, tmp_path):
        if ax.get_title():
            loss = ax.get_title()
            edges = {to_hex(c) for coll in ax.collections
                     if hasattr(coll, "get_edgecolor") and coll.get_linestyle()
                     for c in np.atleast_2d(coll.get_edgecolor())}
            assert colours[loss] in edges
    (reliability, _) = drawn(_plots.plot_calibration, small_study, tmp_path)
    lines = {line.get_label(): to_hex(line.get_color()) for line in reliability.lines}
    for loss in ["log_loss", "squared_error"]:
        assert lines[loss] == colours[loss]
