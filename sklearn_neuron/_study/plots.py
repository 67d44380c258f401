"""The study's figures, saved as PNG files.

matplotlib is optional (the ``plots`` extra): it is imported only when a
figure is drawn, with the non-interactive Agg backend, and
:func:`matplotlib_available` lets the command skip the figures without it.
Each ``plot_*`` function takes a :class:`~sklearn_neuron._study.result.StudyResult`
(or what it needs), writes one file and returns its path. The figures share
one look (:data:`STYLE`) and one colour per loss (:data:`LOSS_COLOURS`) and
per optimizer (:data:`OPTIMIZER_COLOURS`), from two palettes that share no
colour, so a colour names the same thing in every figure of the report.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
from numpy.typing import ArrayLike

from . import landscape as _landscape

if TYPE_CHECKING:
    from .result import StudyResult

#: A figure's drawing function: the study's result and the file to write; returns its path.
Plot = Callable[["StudyResult", "str | Path"], Path]

#: Figure files in the order the report shows them, with their captions.
CLASSIFICATION_FIGURES = {
    "coefficients.png": "Coefficients of each neuron against LogisticRegression's "
    "(on the diagonal: the same model).",
    "convergence.png": "Convergence of each optimizer: objective minus the best "
    "objective reached for that loss by a converged run (log scale), per iteration "
    "(epoch), for the hinge per smoothing stage of its exact solver; for log_loss "
    "the best is LogisticRegression's optimum. A run that stopped before tol is "
    "dashed and ends in a cross where it stopped.",
    "landscape.png": "Each loss's objective (mean loss + the L2 penalty) along the "
    "line t * (coef, intercept) through LogisticRegression's optimum, for t from 0 "
    "(the zero model) to 2, the vertical axis cut to the curve from t = 0.5 on; "
    "the dot marks each curve's minimum on the line, at t = 1 for log loss. "
    "Convexity is judged on the wider line t in [-4, 6], shown in an inset where "
    "it fails (the window shaded): log loss is "
    "convex on every line; a loss with negative curvature on it is not convex in "
    "the weights.",
    "decision_boundaries.png": "Decision boundaries of each loss on a synthetic 2-D "
    "problem with far-off mislabeled points (solid, in the loss's colour: the "
    "neuron's boundary; dashed black: LogisticRegression's; grey shading: the "
    "neuron's predicted probability of class 1).",
    "calibration.png": "Calibration of the out-of-fold probabilities of each loss "
    "(left) and how many predictions fall at each probability (right).",
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

#: Font sizes and resolution of every figure: the report shows the PNGs at
#: their own size, so these are the sizes a reader sees (about 13 px text).
STYLE = {
    "font.size": 12,
    "axes.titlesize": 13,
    "axes.labelsize": 12,
    "xtick.labelsize": 11,
    "ytick.labelsize": 11,
    "legend.fontsize": 12,
    "legend.title_fontsize": 12,
    "figure.dpi": 100,
    "savefig.dpi": 100,
}
#: Width and height of one panel, in inches at :data:`STYLE`'s dpi: three
#: panels side by side fit the report's 70em body.
PANEL = (3.6, 3.0)
#: One colour per classification loss (matplotlib's tab10, first half).
LOSS_COLOURS = {
    "log_loss": "#1f77b4",
    "squared_error": "#ff7f0e",
    "hinge": "#2ca02c",
    "squared_hinge": "#d62728",
    "modified_huber": "#9467bd",
}
#: One colour per optimizer (tab10's second half: never a loss's colour).
OPTIMIZER_COLOURS = {
    "newton": "#8c564b",
    "lbfgs": "#e377c2",
    "sgd": "#17becf",
    "adam": "#bcbd22",
    "adamw": "#7f7f7f",
    "rmsprop": "#393b79",
    "adagrad": "#637939",
}
#: The reference model is black and dashed in every figure.
REFERENCE_STYLE = {"color": "k", "ls": "--"}
#: Colours for anything else (peers, losses or optimizers not listed above).
_SPARE_COLOURS = ("#555555", "#999999", "#843c39", "#7b4173")


def matplotlib_available() -> bool:
    """Whether the figures can be drawn (matplotlib imports)."""
    try:
        import matplotlib  # noqa: F401
    except ImportError:
        return False
    return True


def _pyplot() -> Any:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _colour(name: str, palette: Mapping[str, str], others: Sequence[str]) -> str:
    """``name``'s colour in ``palette``; otherwise the next spare one."""
    if name in palette:
        return palette[name]
    return _SPARE_COLOURS[others.index(name) % len(_SPARE_COLOURS)]


def loss_colour(loss: str) -> str:
    """The colour of ``loss`` in every figure (grey for one not listed)."""
    return LOSS_COLOURS.get(loss, _SPARE_COLOURS[0])


def _grid(
    plt: Any, n: int, width: float = PANEL[0], height: float = PANEL[1]
) -> tuple[Any, list[Any], Any]:
    """Up to three panels a row; returns ``(fig, panels, spare)``.

    ``spare`` is the first unused cell of the last row (it holds the
    figure's legend), or None when the panels fill the grid.
    """
    cols = min(n, 3)
    rows = -(-n // cols)
    spare_row = rows * cols == n and n > 1
    fig, axes = plt.subplots(
        rows + spare_row, cols,
        figsize=(width * cols, height * rows + (0.9 if spare_row else 0)),
        squeeze=False,
        gridspec_kw={"height_ratios": [1] * rows + ([0.25] if spare_row else [])},
    )
    for ax in axes.flat[n:]:
        ax.set_axis_off()
    if spare_row:  # one wide cell under the panels for the legend
        gs = axes[-1, 0].get_gridspec()
        for ax in axes[-1]:
            ax.remove()
        spare = fig.add_subplot(gs[-1, :])
        spare.set_axis_off()
    else:
        spare = axes.flat[n] if n < axes.size else None
    return fig, list(axes.flat[:n]), spare


def _legend(fig: Any, spare: Any, handles: Sequence[Any], title: str | None = None) -> None:
    """The figure's one legend, in its spare cell."""
    wide = spare.get_position().width > 0.5
    spare.legend(
        handles=handles, loc="center", frameon=False, title=title,
        ncols=min(len(handles), 4) if wide else 1,
    )


def _title(ax: Any, loss: str, extra: str | None = None, coloured: bool = True) -> None:
    """A panel's title: its loss, in the loss's colour (``coloured``)."""
    text = loss if extra is None else f"{loss}\n{extra}"
    ax.set_title(text, color=loss_colour(loss) if coloured else "k", fontweight="bold")


def _save(fig: Any, path: str | Path) -> Path:
    fig.tight_layout()
    fig.savefig(path)
    import matplotlib.pyplot as plt

    plt.close(fig)
    return Path(path)


def _styled(plot: Plot) -> Plot:
    """Draw ``plot`` under :data:`STYLE`."""

    def draw(result: StudyResult, path: str | Path) -> Path:
        plt = _pyplot()
        with plt.rc_context(STYLE):
            return plot(result, path)

    draw.__doc__, draw.__name__ = plot.__doc__, plot.__name__
    return draw


def _losses_run(result: StudyResult) -> list[str]:
    return list(dict.fromkeys(loss for loss, _ in result.details["coef"]))


def optimizer_colours(result: StudyResult) -> dict[str, str]:
    """The colour of each optimizer of ``result``: :data:`OPTIMIZER_COLOURS`."""
    optimizers = list(result.settings.get("optimizers") or [])
    optimizers += [o for _, o in result.details.get("coef", {}) if o not in optimizers]
    others = [o for o in optimizers if o not in OPTIMIZER_COLOURS]
    return {name: _colour(name, OPTIMIZER_COLOURS, others) for name in optimizers}


def optimizer_styles(result: StudyResult) -> dict[str, dict[str, Any]]:
    """Colour, marker and line width of each optimizer, the same in every panel.

    The first optimizers get the widest lines and the largest markers, and
    the markers are hollow, so optimizers that reach the same point stay
    visible on top of each other (concentric markers, nested lines).
    """
    return {
        name: {
            "color": colour,
            "marker": _MARKERS[index % len(_MARKERS)],
            "lw": max(4.0 - 1.2 * index, 1.5),
            "ms": max(11.0 - 3.0 * index, 4.0),
        }
        for index, (name, colour) in enumerate(optimizer_colours(result).items())
    }


def _converged(result: StudyResult) -> dict[tuple[str, str], bool]:
    """Whether each (loss, optimizer) run met its tol, from the result's rows."""
    return {
        (row["loss"], row["optimizer"]): bool(row.get("converged", True))
        for row in result.rows
        if row.get("status") == "ok"
    }


@_styled
def plot_coefficients(result: StudyResult, path: str | Path) -> Path:
    """Each neuron's coefficients against the reference's, one panel per loss."""
    from matplotlib.lines import Line2D

    plt = _pyplot()
    details = result.details
    losses = _losses_run(result)
    fig, axes, spare = _grid(plt, max(len(losses), 1))
    styles = optimizer_styles(result)
    shown = []
    for ax, loss in zip(axes, losses, strict=False):
        reference = details["reference_coef"]
        if isinstance(reference, dict):  # regression: one reference per loss
            row = next(r for r in result.rows if r["loss"] == loss and "reference" in r)
            reference = reference[row["reference"]]
        ref = np.ravel(reference)
        for (name, optimizer), coef in details["coef"].items():
            if name == loss:
                style = styles[optimizer]
                ax.plot(
                    ref, np.ravel(coef), ls="none", marker=style["marker"], ms=style["ms"],
                    mfc="none", mew=1.3, label=optimizer, color=style["color"],
                )
                shown += [optimizer] if optimizer not in shown else []
        lim = np.max(np.abs(ref)) * 1.1 if ref.size else 1.0
        ax.plot([-lim, lim], [-lim, lim], "k-", lw=0.8)
        ax.set(xlabel="reference coefficient", ylabel="neuron coefficient")
        # LOSS_COLOURS are the classification losses' (a regression's differ).
        _title(ax, loss, coloured=result.task == "classification")
    handles = [
        Line2D([], [], ls="none", marker=styles[o]["marker"], ms=styles[o]["ms"], mfc="none",
               mew=1.5, color=styles[o]["color"], label=o)
        for o in shown
    ] + [Line2D([], [], color="k", lw=0.8, label="same coefficients")]
    if spare is not None:
        _legend(fig, spare, handles, title="optimizer")
    else:
        axes[0].legend(handles=handles)
    return _save(fig, path)


def convergence_gaps(
    result: StudyResult, loss: str
) -> tuple[dict[str, tuple[np.ndarray, bool]], str]:
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


@_styled
def plot_convergence(result: StudyResult, path: str | Path) -> Path:
    """Objective gap per iteration (epoch) of each optimizer, log scale.

    See :func:`convergence_gaps`; a run that stopped before ``tol`` is drawn
    dashed up to where it stopped, with a cross at its last gap. The losses
    of :data:`STAGED_LOSSES` are drawn per smoothing stage.
    """
    from matplotlib.lines import Line2D

    plt = _pyplot()
    losses = _losses_run(result)
    fig, axes, spare = _grid(plt, max(len(losses), 1))
    styles = optimizer_styles(result)
    shown, stopped, labels = [], False, set()
    for ax, loss in zip(axes, losses, strict=False):
        gaps, against = convergence_gaps(result, loss)
        labels.add(against)
        for optimizer, (gap, done) in gaps.items():
            colour = styles[optimizer]["color"]
            ax.semilogy(
                np.arange(len(gap)), gap, color=colour, lw=styles[optimizer]["lw"],
                ls="-" if done else "--",
                label=optimizer if done else f"{optimizer} (stopped before tol)",
            )
            if not done:
                stopped = True
                ax.semilogy(len(gap) - 1, gap[-1], "x", color=colour, ms=10, mew=2)
            shown += [optimizer] if optimizer not in shown else []
        steps = "smoothing stage" if loss in STAGED_LOSSES else "iteration (epoch)"
        ax.set(xlabel=steps, ylabel=f"objective − {against}" if len(against) < 20
               else "objective − lowest")
        _title(ax, loss, None if against == "best converged" else against)
    handles = [
        Line2D([], [], color=styles[o]["color"], lw=styles[o]["lw"], label=o)
        for o in shown
    ]
    if stopped:
        handles.append(Line2D([], [], color="grey", ls="--", marker="x", ms=10,
                              mew=2, label="stopped before tol"))
    if spare is not None:
        _legend(fig, spare, handles, title="optimizer")
    else:
        axes[0].legend(handles=handles)
    return _save(fig, path)


#: The landscape plot's line: t from 0 (the zero model) to 2, centred on
#: LogisticRegression's optimum t = 1, where log loss has its minimum.
LANDSCAPE_TS = np.linspace(0.0, 2.0, 201)


def landscape_objectives(
    result: StudyResult, losses: Iterable[str], ts: ArrayLike | None = None
) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """Each loss's objective along ``t * (coef, intercept)``: ``(ts, {loss: values})``.

    The objective is the neuron's: mean loss plus ``|coef|^2 / (2 C n)``,
    LogisticRegression's objective divided by ``C n``, so log loss has its
    minimum at ``t = 1``.
    """
    details = result.details
    ts, values = _landscape.landscape_slice(
        details["X_std"], details["y_index"], details["reference_coef"],
        details["reference_intercept"], losses, ts=ts,
    )
    C, n_samples = result.settings["C"], len(details["y_index"])
    if np.isfinite(C):
        penalty = np.sum(np.square(details["reference_coef"])) / (2 * C * n_samples)
        values = {loss: v + penalty * np.square(ts) for loss, v in values.items()}
    return ts, values


@_styled
def plot_landscape(result: StudyResult, path: str | Path) -> Path:
    """Each loss's objective along ``t * (coef, intercept)`` of LogisticRegression.

    Drawn for t in :data:`LANDSCAPE_TS`, with each curve's minimum marked;
    the convexity verdict is on the wider default slice of
    :func:`~sklearn_neuron._study.landscape.landscape_slice`.
    """
    from matplotlib.lines import Line2D

    plt = _pyplot()
    losses = list(dict.fromkeys(["log_loss", "squared_error", *_losses_run(result)]))
    wide_ts, wide = landscape_objectives(result, losses)
    ts, values = landscape_objectives(result, losses, LANDSCAPE_TS)
    fig, axes, spare = _grid(plt, len(losses))
    for ax, loss in zip(axes, losses, strict=True):
        curvature = _landscape.min_curvature(wide_ts, wide[loss])
        at = wide_ts[1:-1][np.argmin(np.diff(wide[loss], 2))]
        colour = loss_colour(loss)
        ax.plot(ts, values[loss], color=colour, lw=2.5)
        ax.axvline(1.0, color="k", lw=1.0, ls=":")
        best = np.argmin(values[loss])
        ax.plot(ts[best], values[loss][best], "o", color=colour, ms=9, mec="k")
        # The objective axis spans the curve from t = 0.5 on: near the zero
        # model the objective is many times its minimum and would flatten it.
        low, high = values[loss][best], values[loss][ts >= 0.5].max()
        ax.set_ylim(low - 0.08 * (high - low), high + 0.08 * (high - low))
        verdict = (
            "convex"
            if curvature >= -1e-9
            else f"not convex near t = {at:.2g}"
        )
        if curvature < -1e-9:
            # Where the curvature is negative lies outside the window: an inset
            # shows the wider line, the window shaded, in the space above the
            # minimum that the axis limits leave free.
            inset = ax.inset_axes([0.3, 0.5, 0.42, 0.45])
            inset.plot(wide_ts, wide[loss], color=colour, lw=1.5)
            inset.axvspan(ts[0], ts[-1], color="grey", alpha=0.25, lw=0)
            inset.set_xticks([wide_ts[0], 0, wide_ts[-1]])
            inset.set_yticks([])
            inset.tick_params(labelsize=9, length=2, pad=1)
        ax.set(xlabel="t (1 = LogisticRegression)", ylabel="objective")
        _title(ax, loss, verdict)
    handles = [
        Line2D([], [], color="k", ls=":", label="t = 1: LogisticRegression's optimum"),
        Line2D([], [], color="grey", ls="none", marker="o", ms=9, mec="k",
               label="minimum on this line"),
    ]
    if spare is not None:
        _legend(fig, spare, handles)
    else:
        axes[0].legend(handles=handles)
    return _save(fig, path)


@_styled
def plot_decision_boundaries(result: StudyResult, path: str | Path) -> Path:
    """Each loss's boundary on a 2-D problem, against LogisticRegression's.

    The problem is :func:`~sklearn_neuron._study.landscape.two_d_problem`: its two
    synthetic features are the axes (no projection). The grey shading and
    the solid line, in the loss's colour, are the neuron's (sklearn's
    DecisionBoundaryDisplay of its probability of class 1), the dashed black
    line LogisticRegression's.
    """
    from matplotlib.lines import Line2D
    from sklearn.inspection import DecisionBoundaryDisplay

    plt = _pyplot()
    losses = _losses_run(result)
    X, y, models = _landscape.fit_two_d(losses, C=result.settings["C"])
    fig, axes, spare = _grid(plt, len(losses), height=PANEL[1] + 0.3)
    names = ["feature 1", "feature 2"]
    classes = {0: {"c": "white", "marker": "o"}, 1: {"c": "k", "marker": "^"}}
    for ax, loss in zip(axes, losses, strict=True):
        DecisionBoundaryDisplay.from_estimator(
            models[loss], X, response_method="predict_proba", plot_method="contourf",
            levels=np.linspace(0, 1, 11), cmap="Greys", alpha=0.25, ax=ax,
            grid_resolution=200, eps=1.0, xlabel=names[0], ylabel=names[1],
        )
        for label, style in classes.items():
            ax.scatter(X[y == label, 0], X[y == label, 1], s=14, edgecolors="k",
                       linewidths=0.5, **style)
        for model, colour, ls, lw in (
            (models[loss], loss_colour(loss), "solid", 3.0),
            (models["LogisticRegression"], "k", "dashed", 1.8),
        ):
            DecisionBoundaryDisplay.from_estimator(
                model, X, response_method="predict_proba", plot_method="contour",
                levels=[0.5], colors=[colour], linestyles=ls, linewidths=lw, ax=ax,
                grid_resolution=200, eps=1.0, xlabel=names[0], ylabel=names[1],
            )
        _title(ax, loss)
    handles = [
        Line2D([], [], ls="none", mec="k", mfc=s["c"], marker=s["marker"], ms=8,
               label=f"class {label}")
        for label, s in classes.items()
    ] + [
        Line2D([], [], color="grey", lw=3.0, label="the loss's boundary (its colour)"),
        Line2D([], [], color="k", ls="--", lw=1.8, label="LogisticRegression's"),
    ]
    if spare is not None:
        _legend(fig, spare, handles)
    else:
        axes[0].legend(handles=handles, loc="lower right")
    return _save(fig, path)


@_styled
def plot_calibration(result: StudyResult, path: str | Path) -> Path:
    """Reliability curves of the out-of-fold probabilities, and their spread.

    sklearn's CalibrationDisplay of each loss's first optimizer (they agree
    where they converge) in the loss's colour, LogisticRegression's (dashed
    black) and any peer's; beside it, a histogram of the same probabilities.
    With more than two classes the curve is the top-label one: confidence of
    the predicted class against how often it is right.
    """
    from sklearn.calibration import CalibrationDisplay

    plt = _pyplot()
    details = result.details
    y, classes = details["y"], details["classes"]
    fig, (ax, hist) = plt.subplots(1, 2, figsize=(3 * PANEL[0], 1.5 * PANEL[1]),
                                   gridspec_kw={"width_ratios": [1.15, 1]})
    shown: list[Any] = []
    peers = [k for k, o in details["oof_proba"] if o and k not in LOSS_COLOURS]
    bins = np.linspace(0, 1, 21)
    for (loss, optimizer), proba in details["oof_proba"].items():
        label = loss if optimizer else "LogisticRegression"
        if label in shown:
            continue  # one optimizer per loss: they agree where they converge
        if not optimizer:
            style = {**REFERENCE_STYLE, "zorder": 3, "lw": 2.0}
        elif loss in LOSS_COLOURS:  # later losses thinner: equal curves stay visible
            width = 3.4 - 0.5 * list(LOSS_COLOURS).index(loss)
            style = {"color": LOSS_COLOURS[loss], "lw": width}
        else:  # a peer
            style = {"color": _colour(loss, {}, peers), "ls": "-.", "lw": 2.0}
        if classes.size == 2:
            correct, confidence = (y == classes[1]), proba[:, 1]
        else:
            correct = classes[proba.argmax(axis=1)] == y
            confidence = proba.max(axis=1)
        CalibrationDisplay.from_predictions(
            correct, confidence, n_bins=8, strategy="quantile", name=label, ax=ax,
            ref_line=not shown, ms=5, **style,
        )
        hist.hist(confidence, bins=bins, histtype="step", color=style["color"],
                  ls=style.get("ls", "-"), lw=style["lw"], label=label)
        shown.append(label)
    predicted = "predicted probability" + ("" if classes.size == 2 else " (top label)")
    ax.set(xlabel=predicted, ylabel="observed frequency",
           title="calibration (out-of-fold)")
    ax.legend(loc="upper left", fontsize=10)
    hist.set(xlabel=predicted, ylabel="predictions", yscale="log",
             title="where the predictions fall")
    return _save(fig, path)


def save_figures(result: StudyResult, out_dir: str | Path) -> dict[str, str]:
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
