"""The study's output: the plain-text and Markdown tables, JSON, and the report.

The columns, their legend, the header and settings lines, and ``report.md`` /
``report.html`` (one portable file, the figures embedded). It reads a
:class:`~sklearn_neuron._study.result.StudyResult` and imports only the standard
library, so the command's formatting costs nothing at start-up.
"""

from __future__ import annotations

import base64
import html
import json
import math
from collections.abc import Callable, Iterable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .options import SCORE_DECIMALS
from .result import Row

if TYPE_CHECKING:
    from .result import StudyResult

#: A column of the table: its heading, the row key it shows, and its format
#: (a format string, or a function of the row giving the cell).
Column = tuple[str, str, "str | Callable[[Row], str]"]


def _score(key: str) -> Callable[[Row], str]:
    """A CV score's cell: its mean and, where known, its std across folds."""

    def cell(row: Row) -> str:
        value = row.get(key)
        if value is None or (isinstance(value, float) and math.isnan(value)):
            return "—"
        digits = SCORE_DECIMALS
        std = row.get(f"{key}_std")
        return f"{value:.{digits}f}" + (f" ± {std:.{digits}f}" if std is not None else "")

    return cell


#: Abbreviations of what ``n_iter`` counts, in the "iter" column.
_ITER_UNITS: dict[object, str] = {"iterations": "it", "epochs": "ep"}


def _iterations(row: Row) -> str:
    if row.get("n_iter") is None:
        return "—"
    unit = _ITER_UNITS.get(row.get("iter_unit"), "")
    return f"{row['n_iter']} {unit}".rstrip()


def _convergence(row: Row) -> str:
    """"yes, 5/5": whether the full-data fit met tol, then how many CV folds' fits did."""
    full = {True: "yes", False: "no", None: "—"}[row.get("converged")]
    folds = row.get("fold_converged")
    if folds is None:
        return full
    return f"{full}, {sum(folds)}/{len(folds)}"


_CLASSIFICATION_COLUMNS: list[Column] = [
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

_REGRESSION_COLUMNS: list[Column] = [
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


def _cells(row: Row, columns: Sequence[Column]) -> list[str]:
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


def _columns(result: StudyResult) -> list[Column]:
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


def _legend(result: StudyResult) -> list[tuple[str, str]]:
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


def _label(info: Mapping[str, Any], label: object) -> str:
    """A class label with its name, where the data give one: "1 (benign)"."""
    names = {str(c["label"]): c.get("name") for c in info.get("classes", [])}
    name = names.get(str(label))
    return f"{label} ({name})" if name and name != str(label) else f"{label}"


def _data_summary(info: Mapping[str, Any], positive: bool = True) -> str:
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


def _fit_summary(settings: Mapping[str, Any]) -> str:
    """The fits' settings in one line, optimizers with the same settings together."""
    groups: dict[str, list[str]] = {}
    for optimizer, fit in settings.get("fits", {}).items():
        unit = fit.get("max_iter_unit", "")
        words = [f"{key}={value:g}" if isinstance(value, float) else f"{key}={value}"
                 for key, value in fit.items() if key != "max_iter_unit"]
        words = [f"{w} {unit}" if w.startswith("max_iter=") else w for w in words]
        groups.setdefault(", ".join(words), []).append(optimizer)
    return "; ".join(f"{', '.join(names)}: {words}" for words, names in groups.items())


def _settings(result: StudyResult) -> list[tuple[str, str]]:
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


def _header(result: StudyResult) -> list[str]:
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


def format_table(result: StudyResult) -> str:
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


def markdown_table(result: StudyResult) -> str:
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


def format_markdown(result: StudyResult) -> str:
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


def format_json(
    result: StudyResult,
    figures: Iterable[str] | None = None,
    report: str | Path | None = None,
) -> str:
    """The results as JSON (NaN written as null)."""

    def clean(value: Any) -> Any:
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


def _number_cell(text: str) -> str:
    """A number's cell in HTML: it may wrap only before its "± std", so the
    table fits the page without breaking a number from its unit."""
    return html.escape(text).replace(" ", "&nbsp;").replace("&nbsp;±&nbsp;", " ±&nbsp;")


def write_report(result: StudyResult, out_dir: str | Path, figures: Mapping[str, str]) -> Path:
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
