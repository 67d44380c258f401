"""The ``sklearn-neuron`` command: is this neuron logistic regression?

``python -m sklearn_neuron`` (or ``sklearn-neuron``) runs the study of
:mod:`sklearn_neuron._study.study` — every loss x optimizer of NeuronClassifier,
cross-validated against LogisticRegression — prints a table and a verdict,
and writes figures and a report into ``--out``. This module owns the
arguments, the output formats and the report; the computation lives in
``_study.py`` and the figures in ``_plots.py``.

Bad input ends the command with a one-line ``error: ...`` on stderr and exit
status 2, as argparse does for bad arguments.

At import this module needs only the standard library (the parser's names and
defaults come from ``_study_options.py``): ``--help`` and bad arguments are
answered without importing numpy, scikit-learn or torch, which the functions
that need them import when called.
"""

import argparse
import base64
import errno
import html
import json
import math
import os
import sys
import time
from dataclasses import replace
from pathlib import Path

from . import options as _study_options

PROG = "sklearn-neuron"

def _score(key):
    """A CV score's cell: its mean and, where known, its std across folds."""

    def cell(row):
        from . import study as _study

        value = row.get(key)
        if value is None or (isinstance(value, float) and math.isnan(value)):
            return "—"
        digits = _study.SCORE_DECIMALS
        std = row.get(f"{key}_std")
        return f"{value:.{digits}f}" + (f" ± {std:.{digits}f}" if std is not None else "")

    return cell


#: Abbreviations of what ``n_iter`` counts, in the "iter" column.
_ITER_UNITS = {"iterations": "it", "epochs": "ep"}


def _iterations(row):
    if row.get("n_iter") is None:
        return "—"
    unit = _ITER_UNITS.get(row.get("iter_unit"), "")
    return f"{row['n_iter']} {unit}".rstrip()


def _convergence(row):
    """"yes, 5/5": whether the full-data fit met tol, then how many CV folds' fits did."""
    full = {True: "yes", False: "no", None: "—"}[row.get("converged")]
    folds = row.get("fold_converged")
    if folds is None:
        return full
    return f"{full}, {sum(folds)}/{len(folds)}"


_CLASSIFICATION_COLUMNS = [
    ("model", "model", "{}"),
    ("loss", "loss", "{}"),
    ("optimizer", "optimizer", "{}"),
    ("CV accuracy", "accuracy", _score("accuracy")),
    ("CV log loss", "log_loss", _score("log_loss")),
    ("CV ROC AUC", "roc_auc", _score("roc_auc")),
    ("CV Brier", "brier", _score("brier")),
    ("fit ms", "fit_ms", "{:.1f}"),
    ("iter", "n_iter", _iterations),
    ("converged", "converged", _convergence),
    ("max|Δcoef|", "coef_diff", "{:.1e}"),
    ("objective gap", "objective_gap", "{:.1e}"),
    ("note", "note", "{}"),
]

#: What each column means, by the row key it shows (the table's legend).
_LEGEND = {
    "accuracy": "share of held-out labels predicted right; mean ± std across the "
    "CV folds",
    "log_loss": "mean negative log-likelihood of the held-out labels (lower is "
    "better); mean ± std across the CV folds",
    "roc_auc": "area under the ROC curve of the predicted probabilities "
    "({auc}); mean ± std across the CV folds",
    "brier": "mean squared error of the predicted probabilities (lower is better); "
    "mean ± std across the CV folds",
    "r2": "coefficient of determination on the held-out fold, mean over the CV folds",
    "mae": "mean absolute error on the held-out fold, mean over the CV folds",
    "poisson_deviance": "mean Poisson deviance on the held-out fold (the count models' "
    "scale: lower is better), mean over the CV folds; — where undefined (a target "
    "< 0 or a prediction <= 0 in some fold)",
    "gamma_deviance": "mean Gamma deviance on the held-out fold (relative errors: "
    "lower is better), mean over the CV folds; — where undefined (a target <= 0 or "
    "a prediction <= 0 in some fold)",
    "fit_ms": "wall time of one CV fold's fit (StandardScaler + model), in "
    "milliseconds, mean over the folds",
    "n_iter": "iterations or epochs of the full-data fit: it = iterations (a Newton "
    "or L-BFGS step on all the data), ep = epochs (a pass over the data in "
    "minibatches); the hinge's are summed over its smoothing stages",
    "converged": "whether the full-data fit met tol (yes / no; — for a fit without "
    "a stopping rule), then how many of the CV folds' fits met it",
    "coef_diff": "largest absolute difference between the full-data fit's "
    "coefficients and the reference's, on standardized features",
    "objective_gap": "LogisticRegression's objective C·Σ log loss + ‖W‖²/2 at the "
    "full-data fit's coefficients minus its value at LogisticRegression's optimum: "
    "0 is the same optimum; other losses optimize another objective, so theirs is > 0",
    "reference": "the scikit-learn model the row is compared with",
    "note": "why a row was skipped, which fits stopped before tol, or a peer's setup",
}
_REGRESSION_COLUMNS = [
    ("model", "model", "{}"),
    ("loss", "loss", "{}"),
    ("optimizer", "optimizer", "{}"),
    ("CV R²", "r2", "{:.4f}"),
    ("CV MAE", "mae", "{:.4g}"),
    ("CV Poisson dev.", "poisson_deviance", "{:.4g}"),
    ("CV Gamma dev.", "gamma_deviance", "{:.4g}"),
    ("fit ms", "fit_ms", "{:.1f}"),
    ("iter", "n_iter", "{}"),
    ("max|Δcoef|", "coef_diff", "{:.1e}"),
    ("vs", "reference", "{}"),
    ("note", "note", "{}"),
]

#: Columns holding words (left-aligned in the HTML report); the others are numbers.
_TEXT_KEYS = ("model", "loss", "optimizer", "reference", "converged", "note")


class _UsageError(Exception):
    """Bad input: reported as ``error: ...`` with exit status 2."""


def _names(text):
    return [name.strip() for name in text.split(",") if name.strip()]


def _positive_float(text):
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
    if not value > 0:
        raise argparse.ArgumentTypeError(f"must be > 0 (or inf), got {text!r}")
    return value


def _folds(text):
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not an integer: {text!r}") from None
    if value < 2:
        raise argparse.ArgumentTypeError(f"needs at least 2 folds, got {value}")
    return value


def build_parser():
    """The command's argument parser."""
    bundled = ", ".join(_study_options.BUNDLED_TASKS)
    parser = argparse.ArgumentParser(
        prog=PROG,
        description=(
            "Cross-validate a single torch neuron (NeuronClassifier) for each loss x "
            "optimizer against LogisticRegression, print a table and a verdict, and "
            "write figures and a report. Under log loss the neuron is logistic "
            "regression; under other losses it is a different model, and the table "
            "says by how much."
        ),
    )
    parser.add_argument(
        "--data",
        default="breast_cancer",
        help=f"a bundled dataset ({bundled}) or a CSV file (default: breast_cancer)",
    )
    parser.add_argument("--target", help="the target column of a CSV file")
    parser.add_argument(
        "--drop",
        type=_names,
        default=[],
        metavar="COLS",
        help="comma-separated feature columns to leave out before the study (an ID, "
        "a constant, a leak)",
    )
    parser.add_argument(
        "--task",
        choices=["auto", "classification", "regression"],
        default="auto",
        help="regression compares NeuronRegressor with LinearRegression, "
        "PoissonRegressor, GammaRegressor, TweedieRegressor, QuantileRegressor "
        "(default: from the dataset; a CSV target with many distinct float values "
        f"is regression, one of more than {_study_options.MAX_CLASSES} distinct integers "
        "needs --task)",
    )
    parser.add_argument("--losses", type=_names, help="comma-separated (default: all)")
    parser.add_argument(
        "--optimizers",
        type=_names,
        help="comma-separated, any the estimator accepts (default: newton, lbfgs "
        "and sgd for classification; newton and lbfgs for regression, and for "
        f"absolute_error its exact solver '{_study_options.EXACT_LAD}' alone)",
    )
    parser.add_argument(
        "--C",
        type=_positive_float,
        default=1.0,
        help="inverse regularization strength, LogisticRegression's (default: 1)",
    )
    parser.add_argument(
        "--cv", type=_folds, default=5, help="number of stratified folds (default: 5)"
    )
    parser.add_argument(
        "--out",
        default="out",
        help="folder for the figures and report.html / report.md (default: out)",
    )
    parser.add_argument(
        "--no-figures", action="store_true", help="write the report without figures"
    )
    parser.add_argument(
        "--format",
        choices=["table", "markdown", "json"],
        default="table",
        help="how the results are printed on stdout (default: table)",
    )
    parser.add_argument(
        "--match-tol",
        type=_positive_float,
        default=_study_options.DEFAULT_MATCH_TOL,
        help="largest coefficient difference still called the same model "
        f"(default: {_study_options.DEFAULT_MATCH_TOL:g})",
    )
    parser.add_argument(
        "--peers",
        type=_names,
        default=[],
        help="comma-separated other libraries to add as rows, when installed: "
        f"{', '.join(_study_options.PEERS)} (skorch trains the same module under the log loss "
        "with SGD as the neuron's sgd: same batch size, step and epochs; mlp fits "
        "MLPClassifier with one hidden layer at alpha=1/C from several seeds and "
        "certifies each output layer as logistic regression on its hidden layer; "
        "classification only)",
    )
    parser.add_argument(
        "-q", "--quiet", action="store_true", help="no progress lines on stderr"
    )
    parser.add_argument(
        "--progress",
        action="store_true",
        help="a progress bar over the fits on stderr (needs tqdm; default: shown "
        "when stderr is a terminal and tqdm is installed, never with --quiet)",
    )
    return parser


# -- formatting ------------------------------------------------------------------
def _cells(row, columns):
    cells = []
    row = dict(row)
    if row.get("fit_time") is not None:
        row["fit_ms"] = 1000 * row["fit_time"]
    for _, key, fmt in columns:
        value = row.get(key)
        if callable(fmt):
            cells.append(fmt(row))
            continue
        if value is None or (isinstance(value, float) and math.isnan(value)):
            cells.append("—" if key not in ("note", "reference") else "")
            continue
        cells.append(fmt.format(value))
    if row.get("status") == "incompatible":
        cells[-1] = f"skipped: {row['note']}"
    elif row.get("status") == "reference":
        cells[-1] = "reference"
    elif row.get("status") == "peer":
        cells[-1] = f"peer: {row['note']}"
    return cells


#: Regression columns shown only when some row has a value: the deviances
#: are undefined for every row on a target with negative values.
_OPTIONAL_KEYS = ("poisson_deviance", "gamma_deviance")


def _columns(result):
    if result.task == "regression":
        return [
            column
            for column in _REGRESSION_COLUMNS
            if column[1] not in _OPTIONAL_KEYS
            or any(row.get(column[1]) is not None for row in result.rows)
        ]
    if result.settings.get("roc_auc") == "roc_auc_ovr":
        return [
            ("CV ROC AUC (ovr)", *column[1:]) if column[1] == "roc_auc" else column
            for column in _CLASSIFICATION_COLUMNS
        ]
    return _CLASSIFICATION_COLUMNS


def _legend(result):
    """``(column, meaning)`` for each column of the table but model, loss and optimizer."""
    auc = (
        "one-vs-rest, averaged over the classes"
        if result.settings.get("roc_auc") == "roc_auc_ovr"
        else "of the positive class"
    )
    legend = dict(_LEGEND)
    if result.task == "regression":
        # Every regression fit is full-batch: no epochs, no hinge stages.
        legend["n_iter"] = "iterations of the full-data fit, as the model counts them"
    return [
        (label, legend[key].format(auc=auc))
        for label, key, _ in _columns(result)
        if key in legend
    ]


def _label(info, label):
    """A class label with its name, where the data give one: "1 (benign)"."""
    names = {str(c["label"]): c.get("name") for c in info.get("classes", [])}
    name = names.get(str(label))
    return f"{label} ({name})" if name and name != str(label) else f"{label}"


def _data_summary(info, positive=True):
    """The data in one line: size, the classes with their counts and (with
    ``positive``) the positive class."""
    text = f"{info['name']}: {info['n_samples']} samples, {info['n_features']} features"
    if info.get("classes"):
        counts = ", ".join(
            f"{_label(info, c['label'])} {c['count']}" for c in info["classes"]
        )
        text += f"; {len(info['classes'])} classes: {counts}"
    elif "n_classes" in info:
        text += f", {info['n_classes']} classes"
    if positive and info.get("positive_class") is not None:
        text += f"; positive class {_label(info, info['positive_class'])}"
    return text


def _fit_summary(settings):
    """The fits' settings in one line, optimizers with the same settings together."""
    groups = {}
    for optimizer, fit in settings.get("fits", {}).items():
        unit = fit.get("max_iter_unit", "")
        words = [f"{key}={value:g}" if isinstance(value, float) else f"{key}={value}"
                 for key, value in fit.items() if key != "max_iter_unit"]
        words = [f"{w} {unit}" if w.startswith("max_iter=") else w for w in words]
        groups.setdefault(", ".join(words), []).append(optimizer)
    return "; ".join(f"{', '.join(names)}: {words}" for words, names in groups.items())


def _settings(result):
    """``(label, text)`` pairs of the report's Settings block."""
    settings, info = result.settings, result.dataset
    pairs = [("data", _data_summary(info, positive=False))]
    if info.get("positive_class") is not None:
        pairs.append((
            "positive class",
            f"{_label(info, info['positive_class'])}: the models give the probability "
            "of this class (LogisticRegression's classes_[1]); ROC AUC and Brier score "
            "are computed for it",
        ))
    cv = f"{settings['cv']} folds"
    if "cv_splitter" in settings:
        cv += f", {settings['cv_splitter']}"
    if "random_state" in settings:
        cv += f", random_state={settings['random_state']}"
    pairs.append(("cross-validation", cv))
    if "C" in settings:
        pairs.append(("penalty", f"C={settings['C']:g} for every model"))
    if settings.get("fits"):
        pairs.append(("fits", _fit_summary(settings)
                      + " (the study's settings, not the estimator's defaults)"))
    if settings.get("reference"):
        pairs.append(("reference", settings["reference"]))
    if settings.get("versions"):
        pairs.append(("versions", ", ".join(
            f"{name} {version}" for name, version in settings["versions"].items()
        )))
    if settings.get("date"):
        pairs.append(("date", settings["date"]))
    pairs += [("note", note) for note in info.get("notes", [])]
    pairs += [("warning", said) for said in info.get("warnings", [])]
    return pairs


def _header(result):
    """A few lines above the table: the data, the fits' settings, versions and date."""
    settings = result.settings
    parts = [_data_summary(result.dataset)]
    if "C" in settings:
        parts.append(f"C={settings['C']:g}")
    parts.append(f"{settings['cv']}-fold CV")
    lines = [", ".join(parts)]
    if settings.get("fits"):
        lines.append(f"fits: {_fit_summary(settings)}; random_state={settings['seed']}")
    if settings.get("versions"):
        versions = ", ".join(
            f"{name} {version}" for name, version in settings["versions"].items()
            if name != "python"
        )
        lines.append(f"{versions}; {settings.get('date', '')}".rstrip("; "))
    lines += [f"note: {note}" for note in result.dataset["notes"]]
    lines += [f"warning: {said}" for said in result.dataset.get("warnings", [])]
    return lines


def format_table(result):
    """A short header, the plain-text table with aligned columns, its legend,
    the verdict and which to use."""
    columns = _columns(result)
    rows = [[c[0] for c in columns]] + [_cells(r, columns) for r in result.rows]
    widths = [max(len(row[i]) for row in rows) for i in range(len(columns))]
    lines = _header(result) + [""]
    for index, row in enumerate(rows):
        lines.append(
            "  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True))
        )
        if index == 0:
            lines.append("  ".join("-" * w for w in widths))
    lines += ["", "Columns:"] + [f"  {label}: {text}" for label, text in _legend(result)]
    lines += ["", "Verdict:"] + [f"- {sentence}" for sentence in result.verdict]
    if result.takeaway:
        lines += ["", "Which to use:"] + [f"- {sentence}" for sentence in result.takeaway]
    return "\n".join(line.rstrip() for line in lines)


def markdown_table(result):
    """The results as a Markdown table (the reference row first)."""
    columns = _columns(result)
    lines = [
        "| " + " | ".join(c[0].replace("|", "\\|") for c in columns) + " |",
        "|" + "|".join("---" for _ in columns) + "|",
    ]
    for index, row in enumerate(result.rows):
        cells = _cells(row, columns)
        if index == 0:
            cells[0] = f"**{cells[0]}**"
        lines.append("| " + " | ".join(c.replace("|", "\\|") for c in cells) + " |")
    return "\n".join(lines)


def format_markdown(result):
    """Settings, verdict, which to use, the Markdown table and its legend."""
    lines = ["**Settings**", ""]
    lines += [f"- {label}: {text}" for label, text in _settings(result)]
    lines += ["", "**Verdict**", ""] + [f"- {sentence}" for sentence in result.verdict]
    if result.takeaway:
        lines += ["", "**Which to use**", ""]
        lines += [f"- {sentence}" for sentence in result.takeaway]
    lines += ["", markdown_table(result), "", "**Columns**", ""]
    lines += [f"- {label}: {text}" for label, text in _legend(result)]
    return "\n".join(lines)


def format_json(result, figures=None, report=None):
    """The results as JSON (NaN written as null)."""

    def clean(value):
        if isinstance(value, float) and not math.isfinite(value):
            return None if math.isnan(value) else str(value)
        if isinstance(value, dict):
            return {k: clean(v) for k, v in value.items()}
        if isinstance(value, list):
            return [clean(v) for v in value]
        return value

    payload = result.to_dict()
    payload["columns"] = dict(_legend(result))
    payload["figures"] = sorted(figures or [])
    payload["report"] = str(report) if report else None
    return json.dumps(clean(payload), indent=2)


# -- report ----------------------------------------------------------------------
#: The report's look: text large enough to read on a slide, the verdict set
#: apart, numbers right-aligned, and no figure indent (the figures show at
#: their own size, not scaled down).
_REPORT_CSS = (
    "body{font-family:system-ui,sans-serif;font-size:17px;line-height:1.45;"
    "color:#222;max-width:70em;margin:1.5em auto;padding:0 .5em}"
    "h1{font-size:1.9em;margin:0 0 .2em}h2{font-size:1.35em;margin:1.2em 0 .5em}"
    "p.about{color:#555;margin:.2em 0}"
    ".settings dl,dl.legend{display:grid;grid-template-columns:max-content auto;"
    "gap:.15em 1em;margin:.3em 0;color:#444}dt{font-weight:600}dd{margin:0}"
    ".verdict{background:#f3f6fa;border-left:6px solid #1f77b4;padding:.2em 1.2em .6em;"
    "margin:1.2em 0}.verdict h2{margin-top:.5em}.verdict li{margin:.35em 0}"
    "table{border-collapse:collapse;font-size:14px}"
    "td,th{border:1px solid #ccc;padding:3px 4px;text-align:right}"
    "th{background:#eef1f5}tbody tr:nth-child(even){background:#fafafa}"
    "td.text,th.text{text-align:left}"
    # Names on one line; numbers wrap only before their "± std" (_number_cell);
    # the headings and the notes wrap.
    "td.text{white-space:nowrap}td:last-child{white-space:normal;min-width:7em}"
    # A table wider than the page scrolls by itself; the page does not.
    "div.table{overflow-x:auto}"
    "figure{margin:2em 0}img{max-width:100%}"
    "figcaption{color:#444;font-size:15px;max-width:60em}"
)


def _number_cell(text):
    """A number's cell in HTML: it may wrap only before its "± std", so the
    table fits the page without breaking a number from its unit."""
    return html.escape(text).replace(" ", "&nbsp;").replace("&nbsp;±&nbsp;", " ±&nbsp;")


def write_report(result, out_dir, figures):
    """Write ``report.md`` and ``report.html`` showing the table and the figures.

    ``figures`` maps file names in ``out_dir`` to captions. ``report.html``
    is one portable file: the figures are embedded in it as base64 PNG data
    URIs, so it can be mailed or moved alone; ``report.md`` links the PNG
    files beside it. Returns the path of the HTML report.
    """
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    title = f"sklearn-neuron study: {result.dataset['name']}"
    markdown = [f"# {title}", "", format_markdown(result), ""]
    for name, caption in figures.items():
        markdown += [f"![{caption}]({name})", "", f"*{caption}*", ""]
    (out_dir / "report.md").write_text("\n".join(markdown), encoding="utf-8")

    columns = _columns(result)
    # Words read from the left, numbers line up on the right.
    align = [' class="text"' if key in _TEXT_KEYS else "" for _, key, _ in columns]
    head = "".join(
        f"<th{a}>{html.escape(c[0])}</th>" for c, a in zip(columns, align, strict=True)
    )
    body = "".join(
        "<tr>"
        + "".join(
            f"<td{a}>{html.escape(c) if a else _number_cell(c)}</td>"
            for c, a in zip(_cells(r, columns), align, strict=True)
        )
        + "</tr>"
        for r in result.rows
    )
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        f"<title>{html.escape(title)}</title>",
        f"<style>{_REPORT_CSS}</style></head><body>",
        f"<h1>{html.escape(title)}</h1>",
        # The verdict first: what a reader takes away, then what was run and
        # the numbers behind it.
        '<section class="verdict"><h2>Verdict</h2><ul>',
        "".join(f"<li>{html.escape(s)}</li>" for s in result.verdict),
        "</ul></section>",
        *(
            ["<h2>Which to use</h2><ul>",
             "".join(f"<li>{html.escape(s)}</li>" for s in result.takeaway),
             "</ul>"]
            if result.takeaway else []
        ),
        '<section class="settings"><h2>Settings</h2><dl>',
        "".join(
            f"<dt>{html.escape(label)}</dt><dd>{html.escape(text)}</dd>"
            for label, text in _settings(result)
        ),
        "</dl></section>",
        "<h2>Results</h2>",
        f'<div class="table"><table><thead><tr>{head}</tr></thead>'
        f"<tbody>{body}</tbody></table></div>",
        '<h3>Columns</h3><dl class="legend">',
        "".join(
            f"<dt>{html.escape(label)}</dt><dd>{html.escape(text)}</dd>"
            for label, text in _legend(result)
        ),
        "</dl>",
    ]
    if figures:
        parts.append("<h2>Figures</h2>")
    for name, caption in figures.items():
        data = base64.b64encode((out_dir / name).read_bytes()).decode("ascii")
        parts.append(
            f'<figure id="{html.escape(Path(name).stem)}">'
            f'<img src="data:image/png;base64,{data}" alt="{html.escape(caption)}">'
            f"<figcaption>{html.escape(caption)}</figcaption></figure>"
        )
    if not figures:
        parts.append("<p>Figures were skipped.</p>")
    parts.append("</body></html>")
    path = out_dir / "report.html"
    path.write_text("\n".join(parts), encoding="utf-8")
    return path


# -- the command -----------------------------------------------------------------
def _check_names(kind, given, known):
    unknown = [name for name in given if name not in known]
    if unknown:
        raise _UsageError(
            f"unknown {kind} {', '.join(map(repr, unknown))}; choose from: "
            f"{', '.join(known)}"
        )


def check_out(out):
    """Refuse an ``--out`` that cannot become a writable folder, before any work.

    The study takes minutes; a report that cannot be written must say so at
    once, not in a traceback at the end. Nothing is created here.
    """
    try:
        _check_out(out)
    except OSError as exc:  # a path the system refuses to look at, e.g. too long
        raise _UsageError(f"--out {str(out)!r}: {_os_reason(exc)}") from None


def _os_reason(exc):
    """What an OSError on a path given on the command line says to do, in words."""
    if exc.errno == errno.ENAMETOOLONG:
        return f"{exc.strerror}; give a shorter path (or names of fewer characters)"
    return f"cannot be used ({exc.strerror or exc}); give another path"


def _check_out(out):
    path = Path(out)
    if path.exists():
        if not path.is_dir():
            raise _UsageError(f"--out {str(out)!r} is a file, not a folder; give a folder")
        existing = path
    else:
        existing = path.absolute().parent
        while not existing.exists():
            existing = existing.parent
        if not existing.is_dir():
            raise _UsageError(
                f"--out {str(out)!r} cannot be created: {str(existing)!r} is a file, "
                "not a folder"
            )
    if not os.access(existing, os.W_OK | os.X_OK):
        raise _UsageError(
            f"--out {str(out)!r}: the folder {str(existing)!r} is not writable; "
            "give a folder you can write to"
        )


#: Feature columns with entries beyond this are divided by a power of two
#: before the study: StandardScaler squares and sums them, which overflows
#: float64 from about 1e154 / sqrt(n_samples) on (and leaves NaN or zeros).
_LARGEST_FEATURE = 2.0**100


def rescale_large_features(dataset):
    """Divide the feature columns too large to standardize by a power of two.

    The study sees the features only through ``StandardScaler``, whose output
    a column's scale does not change; dividing by a power of two is exact
    (no rounding), so the results are those of the data as given, without
    the overflow. Each such column is brought to a largest magnitude in
    [0.5, 1); the dataset's notes say which.
    """
    import numpy as np

    X = np.asarray(dataset.X, dtype=float)
    largest = np.abs(X).max(axis=0)
    large = largest > _LARGEST_FEATURE
    if not large.any():
        return dataset
    _, exponent = np.frexp(largest)
    X = np.ldexp(X, np.where(large, -exponent, 0))
    names = [name for name, is_large in zip(dataset.feature_names, large, strict=True)
             if is_large]
    note = (
        f"divided the columns {', '.join(names)} (values beyond {_LARGEST_FEATURE:.3g}, "
        "too large for float64 standardization) by powers of two: the standardized "
        "data, and so every result, are unchanged"
    )
    return replace(dataset, X=X, notes=[*dataset.notes, note])


def run(args, progress):
    """Load the data, run the study, write figures and report; return the outputs."""
    from .._regressor import NeuronRegressor
    from . import study as _study

    check_out(args.out)
    dataset = rescale_large_features(
        _study.load_dataset(args.data, args.target, args.task, args.drop)
    )
    for note in dataset.notes:
        progress(f"note: {note}")
    for said in dataset.warnings:  # shown under --quiet too: the user may act on it
        print(f"{PROG}: warning: {said}", file=sys.stderr)
    if dataset.task == "regression":
        losses, optimizers = (
            _study.regression_losses(),
            [*_study.available_optimizers(NeuronRegressor), _study.EXACT_LAD],
        )
    else:
        losses = _study.classification_losses()
        optimizers = _study.available_optimizers()
    if args.losses:
        _check_names("loss", args.losses, losses)
        losses = args.losses
    if args.optimizers:
        _check_names("optimizer", args.optimizers, optimizers)
        optimizers = args.optimizers
    elif dataset.task == "classification":
        optimizers = list(_study.DEFAULT_OPTIMIZERS)
    else:
        optimizers = None  # the study's per-loss defaults (the exact LAD solver)
    if args.peers:
        _check_names("peer", args.peers, _study.PEERS)
        if dataset.task == "regression":
            raise _UsageError("--peers is for classification; drop it for --task regression")
        missing = [name for name in args.peers if not _study.peer_available(name)]
        if missing:
            raise _UsageError(
                f"--peers {','.join(missing)}: not installed; pip install "
                + " ".join(f"'sklearn-neuron[{name}]'" for name in missing)
            )
    if dataset.task == "regression":
        combinations = len(_study.regression_combinations(losses, optimizers))
        plan = f"{len(losses)} losses, {combinations} loss x optimizer combinations"
    else:
        combinations = len(losses) * len(optimizers)
        plan = f"{len(losses)} losses x {len(optimizers)} optimizers"
    progress(f"{dataset.name} ({dataset.task}): {plan}, {args.cv}-fold CV")
    bar = _progress_bar(args, combinations)
    try:
        result = _run_study(
            args, dataset, losses, optimizers,
            progress if bar is None else bar.lines(progress),
            None if bar is None else bar.update,
        )
    finally:
        if bar is not None:
            bar.close()
    result.dataset["warnings"] = list(dataset.warnings)
    return result, *_outputs(args, result, progress)


def _run_study(args, dataset, losses, optimizers, progress, advance):
    """The classification or regression study of ``dataset``."""
    from . import study as _study

    if dataset.task == "regression":
        result = _study.run_regression_study(
            dataset,
            losses=losses,
            optimizers=optimizers,
            cv=args.cv,
            match_tol=args.match_tol,
            progress=progress,
            advance=advance,
        )
    else:
        result = _study.run_classification_study(
            dataset,
            losses=losses,
            optimizers=optimizers,
            C=args.C,
            cv=args.cv,
            match_tol=args.match_tol,
            peers=args.peers,
            progress=progress,
            advance=advance,
        )
    return result


def _outputs(args, result, progress):
    """Figures and the report of ``result``; returns ``(figures, report)``."""
    from . import plots as _plots

    figures = {}
    if args.no_figures:
        progress("figures skipped (--no-figures)")
    elif not _plots.matplotlib_available():
        progress(
            "figures skipped: matplotlib is not installed "
            "(pip install 'sklearn-neuron[plots]')"
        )
    else:
        progress("drawing figures")
        figures = None
    try:
        if figures is None:
            figures = _plots.save_figures(result, args.out)
        report = write_report(result, args.out, figures)
    except OSError as exc:  # the folder changed while the study ran (checked before)
        raise _UsageError(
            f"cannot write the report into --out {str(args.out)!r}: {exc}"
        ) from exc
    return figures, report


class _ProgressBar:
    """A tqdm bar over the study's fits on stderr, with the progress lines above it."""

    def __init__(self, tqdm, total):
        self._bar = tqdm(total=total, desc=PROG, unit="fit", file=sys.stderr, leave=False)

    def lines(self, progress):
        """``progress`` writing its lines above the bar instead of through it."""

        def write(line):
            self._bar.clear()
            progress(line)
            self._bar.refresh()

        return write

    def update(self):
        self._bar.update(1)

    def close(self):
        self._bar.close()


def _progress_bar(args, total):
    """The study's progress bar, or None (``--quiet``, no terminal, no tqdm)."""
    if args.quiet or not (args.progress or sys.stderr.isatty()):
        return None
    try:
        from tqdm import tqdm
    except ImportError:
        if not args.progress:
            return None
        raise _UsageError(
            "--progress needs tqdm, which is not installed: "
            "pip install 'sklearn-neuron[progress]' (or pip install tqdm)"
        ) from None
    return _ProgressBar(tqdm, total)


def main(argv=None):
    """Entry point of ``sklearn-neuron`` and ``python -m sklearn_neuron``."""
    parser = build_parser()
    args = parser.parse_args(argv)
    start = time.perf_counter()
    # Only now, with the arguments good, the study's machinery (torch and
    # scikit-learn): --help and a usage error exit above without it.
    import torch

    from . import study as _study

    # The study fits small problems many times: there torch's thread pool costs
    # more than it gains (measured 10x slower fits with 2 threads on a busy
    # 2-core machine), so the command runs its fits on one thread.
    torch.set_num_threads(1)

    def progress(line):
        if not args.quiet:
            print(
                f"[{PROG} {time.perf_counter() - start:5.1f}s] {line}", file=sys.stderr
            )

    try:
        result, figures, report = run(args, progress)
    except (_UsageError, _study.StudyInputError) as exc:
        print(f"{PROG}: error: {exc}", file=sys.stderr)
        return 2

    if args.format == "json":
        print(format_json(result, figures, report))
    elif args.format == "markdown":
        print(format_markdown(result))
    else:
        print(format_table(result))
    progress(f"report: {report}")
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
