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
    "objective reached for that loss (log scale); for log_loss the best is "
    "LogisticRegression's optimum.",
    "landscape.png": "A slice of the loss landscape through LogisticRegression's "
    "optimum: t * (coef, intercept). Log loss is convex on every line; a loss "
    "with negative curvature on the slice is not convex in the weights.",
    "decision_boundaries.png": "Decision boundaries of each loss on a 2-D problem "
    "with far-off mislabeled points (dashed: LogisticRegression).",
    "calibration.png": "Calibration of the out-of-fold probabilities of each loss.",
}
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
        for (name, optimizer), coef in details["coef"].items():
            if name == loss:
                ax.plot(ref, np.ravel(coef), "o", ms=4, alpha=0.7, label=optimizer)
        lim = np.max(np.abs(ref)) * 1.1 if ref.size else 1.0
        ax.plot([-lim, lim], [-lim, lim], "k-", lw=0.8)
        ax.set(title=loss, xlabel="reference coefficient", ylabel="neuron coefficient")
        ax.legend(fontsize=7)
    return _save(fig, path)


def plot_convergence(result, path):
    """Objective gap per iteration (epoch) of each optimizer, log scale."""
    plt = _pyplot()
    details = result.details
    losses = _losses_run(result)
    fig, axes = _grid(plt, max(len(losses), 1))
    n_samples = result.dataset["n_samples"]
    C = result.settings["C"]
    for ax, loss in zip(axes, losses, strict=False):
        curves = {
            opt: c for (name, opt), c in details["curves"].items() if name == loss
        }
        best = min(float(np.min(c)) for c in curves.values())
        if loss == "log_loss":  # the neuron's objective is LogisticRegression's / (C n)
            scale = n_samples if np.isinf(C) else C * n_samples
            best = min(best, details["reference_objective"] / scale)
        for optimizer, curve in curves.items():
            gap = np.maximum(curve - best, 1e-16)
            ax.semilogy(np.arange(len(gap)), gap, label=optimizer)
        ax.set(title=loss, xlabel="iteration (epoch)", ylabel="objective - best")
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
    """Each loss's boundary on a 2-D problem, against LogisticRegression's."""
    plt = _pyplot()
    losses = _losses_run(result)
    X, y, models = _study.fit_two_d(losses, C=result.settings["C"])
    x0, x1 = X[:, 0].min() - 1, X[:, 0].max() + 1
    y0, y1 = X[:, 1].min() - 1, X[:, 1].max() + 1
    xx, yy = np.meshgrid(np.linspace(x0, x1, 200), np.linspace(y0, y1, 200))
    grid = np.c_[xx.ravel(), yy.ravel()]
    reference = models["LogisticRegression"].predict_proba(grid)[:, 1].reshape(xx.shape)
    fig, axes = _grid(plt, len(losses))
    for ax, loss in zip(axes, losses, strict=True):
        proba = models[loss].predict_proba(grid)[:, 1].reshape(xx.shape)
        ax.contourf(
            xx, yy, proba, levels=np.linspace(0, 1, 11), cmap="RdBu_r", alpha=0.5
        )
        ax.contour(xx, yy, proba, levels=[0.5], colors="k")
        ax.contour(xx, yy, reference, levels=[0.5], colors="k", linestyles="--")
        ax.scatter(
            X[:, 0], X[:, 1], c=y, cmap="RdBu_r", s=8, edgecolors="k", linewidths=0.2
        )
        ax.set(title=loss, xticks=[], yticks=[])
    return _save(fig, path)


def plot_calibration(result, path):
    """Reliability curves of the out-of-fold probabilities, one line per loss.

    With more than two classes the curve is the top-label one: confidence of
    the predicted class against how often it is right.
    """
    from sklearn.calibration import calibration_curve

    plt = _pyplot()
    details = result.details
    y, classes = details["y"], details["classes"]
    fig, ax = plt.subplots(figsize=(4.5, 4.2))
    ax.plot([0, 1], [0, 1], "k:", lw=0.8)
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
        frac, mean = calibration_curve(
            correct, confidence, n_bins=8, strategy="quantile"
        )
        style = "k--" if not optimizer else "o-"
        ax.plot(mean, frac, style, ms=3, label=label)
    ax.set(
        xlabel="predicted probability",
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
