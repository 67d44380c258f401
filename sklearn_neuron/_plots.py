"""The study's figures, saved as PNG files.

matplotlib is optional (the ``plots`` extra): it is imported only when a
figure is drawn, with the non-interactive Agg backend, and
:func:`matplotlib_available` lets the command skip the figures without it.
Each ``plot_*`` function takes a :class:`~sklearn_neuron._study.StudyResult`
(or what it needs), writes one file and returns its path.
"""

from pathlib import Path

import numpy as np

from . import _study

#: Figure files in the order the report shows them, with their captions.
CLASSIFICATION_FIGURES = {
    "coefficients.png": "Coefficients of each neuron against LogisticRegression's "
    "(on the diagonal: the same model).",
    "convergence.png": "Convergence of each optimizer: objective minus the best "
    "objective reached for that loss by a converged run (log scale), per iteration "
    "(epoch), for the hinge per smoothing stage of its exact solver; for log_loss "
    "the best is LogisticRegression's optimum. A run that stopped before tol is "
    "dashed and ends in a cross where it stopped.",
    "landscape.png": "A slice of the loss landscape through LogisticRegression's "
    "optimum: t * (coef, intercept). Log loss is convex on every line; a loss "
    "with negative curvature on the slice is not convex in the weights.",
    "decision_boundaries.png": "Decision boundaries of each loss on a synthetic 2-D "
    "problem with far-off mislabeled points (solid: the neuron's boundary, dashed: "
    "LogisticRegression's; shading: the neuron's predicted probability of class 1).",
    "calibration.png": "Calibration of the out-of-fold probabilities of each loss.",
}
#: Losses solved through a sequence of smoothed problems (``_hinge.py``): their
#: ``objective_curve_`` has one value per smoothing stage, not per iteration.
STAGED_LOSSES = ("hinge",)
#: Marker of each optimizer in the coefficient plot, in the colours' order.
_MARKERS = "osD^vP*X"
REGRESSION_FIGURES = {
    "coefficients.png": "Coefficients of each neuron against its scikit-learn "
    "counterpart's.",
}


def matplotlib_available():
    """Whether the figures can be drawn (matplotlib imports)."""
    try:
        import matplotlib  # noqa: F401
    except ImportError:
        return False
    return True


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _grid(plt, n, width=3.6, height=3.2):
    cols = min(n, 3)
    rows = -(-n // cols)
    fig, axes = plt.subplots(
        rows, cols, figsize=(width * cols, height * rows), squeeze=False
    )
    for ax in axes.flat[n:]:
        ax.set_visible(False)
    return fig, axes.flat[:n]


def _save(fig, path):
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    import matplotlib.pyplot as plt

    plt.close(fig)
    return Path(path)


def _losses_run(result):
    return list(dict.fromkeys(loss for loss, _ in result.details["coef"]))


def optimizer_colours(result):
    """One colour per optimizer, the same in every panel and figure."""
    optimizers = list(result.settings.get("optimizers") or [])
    optimizers += [o for _, o in result.details.get("coef", {}) if o not in optimizers]
    return {name: f"C{index % 10}" for index, name in enumerate(optimizers)}


def optimizer_styles(result):
    """Colour, marker and line width of each optimizer, the same in every panel.

    The first optimizers get the widest lines and the markers are hollow, so
    optimizers that reach the same point stay visible on top of each other.
    """
    return {
        name: {
            "color": colour,
            "marker": _MARKERS[index % len(_MARKERS)],
            "lw": max(3.0 - 0.8 * index, 1.0),
        }
        for index, (name, colour) in enumerate(optimizer_colours(result).items())
    }


def _converged(result):
    """Whether each (loss, optimizer) run met its tol, from the result's rows."""
    return {
        (row["loss"], row["optimizer"]): bool(row.get("converged", True))
        for row in result.rows
        if row.get("status") == "ok"
    }


def plot_coefficients(result, path):
    """Each neuron's coefficients against the reference's, one panel per loss."""
    plt = _pyplot()
    details = result.details
    losses = _losses_run(result)
    fig, axes = _grid(plt, max(len(losses), 1))
    for ax, loss in zip(axes, losses, strict=False):
        reference = details["reference_coef"]
        if isinstance(reference, dict):  # regression: one reference per loss
            row = next(r for r in result.rows if r["loss"] == loss and "reference" in r)
            reference = reference[row["reference"]]
        ref = np.ravel(reference)
        styles = optimizer_styles(result)
        for (name, optimizer), coef in details["coef"].items():
            if name == loss:
                style = styles[optimizer]
                ax.plot(
                    ref, np.ravel(coef), ls="none", marker=style["marker"], ms=5,
                    mfc="none", mew=1.0, label=optimizer, color=style["color"],
                )
        lim = np.max(np.abs(ref)) * 1.1 if ref.size else 1.0
        ax.plot([-lim, lim], [-lim, lim], "k-", lw=0.8)
        ax.set(title=loss, xlabel="reference coefficient", ylabel="neuron coefficient")
        ax.legend(fontsize=7)
    return _save(fig, path)


def convergence_gaps(result, loss):
    """The convergence plot's curves of one loss: ``({optimizer: (gap, converged)}, label)``.

    The gap is to the best objective of a run that converged (for log_loss
    also LogisticRegression's optimum), never to a run's own end: a run that
    stopped before ``tol`` keeps the gap it stopped at. Gaps below the
    float64 rounding of the objective are set to that floor (not to an
    arbitrary 1e-16). ``label`` names what the gap is measured against.
    """
    details = result.details
    converged = _converged(result)
    curves = {
        opt: np.asarray(c, dtype=float)
        for (name, opt), c in details["curves"].items()
        if name == loss
    }
    finals = [float(np.min(c)) for o, c in curves.items() if converged.get((loss, o))]
    if loss == "log_loss":  # the neuron's objective is LogisticRegression's / (C n)
        C, n_samples = result.settings["C"], result.dataset["n_samples"]
        scale = n_samples if np.isinf(C) else C * n_samples
        finals.append(details["reference_objective"] / scale)
    if finals:
        best, against = min(finals), "best converged"
    else:  # nothing converged: the lowest value reached, and the label says so
        best = min(float(np.min(c)) for c in curves.values())
        against = "lowest reached (no run converged)"
    floor = max(abs(best), 1.0) * 4 * np.finfo(float).eps
    gaps = {
        optimizer: (np.maximum(curve - best, floor), converged.get((loss, optimizer), True))
        for optimizer, curve in curves.items()
    }
    return gaps, against


def plot_convergence(result, path):
    """Objective gap per iteration (epoch) of each optimizer, log scale.

    See :func:`convergence_gaps`; a run that stopped before ``tol`` is drawn
    dashed up to where it stopped, with a cross at its last gap. The losses
    of :data:`STAGED_LOSSES` are drawn per smoothing stage.
    """
    plt = _pyplot()
    losses = _losses_run(result)
    fig, axes = _grid(plt, max(len(losses), 1))
    styles = optimizer_styles(result)
    for ax, loss in zip(axes, losses, strict=False):
        gaps, against = convergence_gaps(result, loss)
        for optimizer, (gap, done) in gaps.items():
            label = optimizer if done else f"{optimizer} (stopped before tol)"
            colour = styles[optimizer]["color"]
            ax.semilogy(
                np.arange(len(gap)), gap, label=label, color=colour,
                lw=styles[optimizer]["lw"], ls="-" if done else "--",
            )
            if not done:
                ax.semilogy(len(gap) - 1, gap[-1], "x", color=colour, ms=7)
        steps = "smoothing stage" if loss in STAGED_LOSSES else "iteration (epoch)"
        ax.set(title=loss, xlabel=steps, ylabel=f"objective - {against}")
        ax.legend(fontsize=7)
    return _save(fig, path)


def plot_landscape(result, path):
    """Mean loss along ``t * (coef, intercept)`` of LogisticRegression, per loss."""
    plt = _pyplot()
    details = result.details
    losses = list(dict.fromkeys(["log_loss", "squared_error", *_losses_run(result)]))
    ts, values = _study.landscape_slice(
        details["X_std"],
        details["y_index"],
        details["reference_coef"],
        details["reference_intercept"],
        losses,
    )
    fig, axes = _grid(plt, len(losses))
    for ax, loss in zip(axes, losses, strict=True):
        curvature = _study.min_curvature(ts, values[loss])
        convex = curvature >= -1e-9
        ax.plot(ts, values[loss], color="C0" if convex else "C3")
        ax.axvline(1.0, color="k", lw=0.6, ls=":")
        verdict = (
            "convex on this slice"
            if convex
            else f"not convex (curvature {curvature:.2g})"
        )
        ax.set(
            title=f"{loss}\n{verdict}",
            xlabel="t (1 = LogisticRegression)",
            ylabel="mean loss",
        )
    return _save(fig, path)


def plot_decision_boundaries(result, path):
    """Each loss's boundary on a 2-D problem, against LogisticRegression's.

    The problem is :func:`~sklearn_neuron._study.two_d_problem`: its two
    synthetic features are the axes (no projection). The shading and solid
    line are the neuron's (sklearn's DecisionBoundaryDisplay of its
    probability of class 1), the dashed line LogisticRegression's.
    """
    from matplotlib.lines import Line2D
    from sklearn.inspection import DecisionBoundaryDisplay

    plt = _pyplot()
    losses = _losses_run(result)
    X, y, models = _study.fit_two_d(losses, C=result.settings["C"])
    fig, axes = _grid(plt, len(losses), width=4.0, height=3.6)
    names = ["feature 1", "feature 2"]
    for ax, loss in zip(axes, losses, strict=True):
        for model, style in ((models[loss], "solid"), (models["LogisticRegression"], "dashed")):
            DecisionBoundaryDisplay.from_estimator(
                model, X, response_method="predict_proba", plot_method="contour",
                levels=[0.5], colors="k", linestyles=style, ax=ax, grid_resolution=200,
                eps=1.0, xlabel=names[0], ylabel=names[1],
            )
        DecisionBoundaryDisplay.from_estimator(
            models[loss], X, response_method="predict_proba", plot_method="contourf",
            levels=np.linspace(0, 1, 11), cmap="RdBu_r", alpha=0.4, ax=ax,
            grid_resolution=200, eps=1.0, xlabel=names[0], ylabel=names[1],
        )
        for label, colour in ((0, "#2166ac"), (1, "#b2182b")):
            ax.scatter(
                X[y == label, 0], X[y == label, 1], c=colour, s=8, edgecolors="k",
                linewidths=0.2, label=f"class {label}",
            )
        handles, _ = ax.get_legend_handles_labels()
        handles += [
            Line2D([], [], color="k", ls="-", label=f"{loss} boundary"),
            Line2D([], [], color="k", ls="--", label="LogisticRegression boundary"),
        ]
        ax.legend(handles=handles, fontsize=6, loc="lower right")
        ax.set(title=loss)
    return _save(fig, path)


def plot_calibration(result, path):
    """Reliability curves of the out-of-fold probabilities, one line per model.

    sklearn's CalibrationDisplay of each loss's first optimizer (they agree
    where they converge), LogisticRegression's (dashed) and any peer's. With
    more than two classes the curve is the top-label one: confidence of the
    predicted class against how often it is right.
    """
    from sklearn.calibration import CalibrationDisplay

    plt = _pyplot()
    details = result.details
    y, classes = details["y"], details["classes"]
    fig, ax = plt.subplots(figsize=(4.8, 4.4))
    shown = set()
    for (loss, optimizer), proba in details["oof_proba"].items():
        label = loss if optimizer else "LogisticRegression"
        if label in shown:
            continue  # one optimizer per loss: they agree where they converge
        shown.add(label)
        if classes.size == 2:
            correct, confidence = (y == classes[1]), proba[:, 1]
        else:
            correct = classes[proba.argmax(axis=1)] == y
            confidence = proba.max(axis=1)
        CalibrationDisplay.from_predictions(
            correct, confidence, n_bins=8, strategy="quantile", name=label, ax=ax,
            ref_line=not shown - {label}, ms=3,
            # LogisticRegression over the log loss neuron's line (the same model).
            **({"color": "k", "ls": "--", "zorder": 3} if not optimizer else {}),
        )
    ax.set(
        xlabel="predicted probability" + ("" if classes.size == 2 else " (top label)"),
        ylabel="observed frequency",
        title="calibration (out-of-fold)",
    )
    ax.legend(fontsize=7)
    return _save(fig, path)


def save_figures(result, out_dir):
    """Draw every figure of ``result`` into ``out_dir``; return {file name: caption}."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    if result.task == "regression":
        plot_coefficients(result, out_dir / "coefficients.png")
        return dict(REGRESSION_FIGURES)
    plot_coefficients(result, out_dir / "coefficients.png")
    plot_convergence(result, out_dir / "convergence.png")
    plot_landscape(result, out_dir / "landscape.png")
    plot_decision_boundaries(result, out_dir / "decision_boundaries.png")
    plot_calibration(result, out_dir / "calibration.png")
    return dict(CLASSIFICATION_FIGURES)
