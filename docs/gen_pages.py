"""Pages produced by running the package, at every docs build (mkdocs-gen-files).

- ``explanation.md``: the study of ``python -m sklearn_neuron`` (breast cancer,
  every loss x optimizer against LogisticRegression) is run here; its table,
  verdict, numbers and figures fill ``docs/templates/explanation.md``.
- ``command.md``: ``docs/templates/command.md`` with the command's ``--help``.
- ``api.md``: the reference of everything in ``sklearn_neuron.__all__``, with
  the estimators' inherited ``summary`` and ``inference`` methods.
- ``gallery/``: one page per ``examples/*.py``, with its docstring, its source
  and the output of running it.

Nothing is written into the source tree: the files exist only in the build.
"""

import ast
import os
import subprocess
import sys
import tempfile
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import mkdocs_gen_files

ROOT = Path(__file__).resolve().parents[1]
TEMPLATES = ROOT / "docs" / "templates"
sys.path.insert(0, str(ROOT))

import torch  # noqa: E402

import sklearn_neuron  # noqa: E402
from sklearn_neuron import _cli, _plots, _study  # noqa: E402

# Small fits: one thread is faster (see sklearn_neuron._cli.main).
torch.set_num_threads(1)
ENV = {**os.environ, "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1"}


def fill(template, values):
    """``template`` with each ``{{ name }}`` replaced by ``values[name]``."""
    text = (TEMPLATES / template).read_text(encoding="utf-8")
    for name, value in values.items():
        text = text.replace("{{ " + name + " }}", str(value))
    if "{{ " in text:
        raise ValueError(
            f"{template}: unfilled placeholder near {text[text.index('{{ ') :][:40]!r}"
        )
    return text


def run_example(path):
    result = subprocess.run(
        [sys.executable, str(path)],
        cwd=ROOT,
        env=ENV,
        capture_output=True,
        text=True,
        timeout=300,
    )
    if result.returncode != 0:
        raise RuntimeError(f"{path.name} failed:\n{result.stderr}")
    return result.stdout


def explanation():
    dataset = _study.load_dataset("breast_cancer")
    result = _study.run_classification_study(dataset, cv=5)
    rows = {
        (r["loss"], r["optimizer"]): r for r in result.rows[1:] if r["status"] == "ok"
    }
    log_rows = [r for (loss, _), r in rows.items() if loss == "log_loss"]
    sq_rows = [r for (loss, _), r in rows.items() if loss == "squared_error"]
    details = result.details
    ts, values = _study.landscape_slice(
        details["X_std"],
        details["y_index"],
        details["reference_coef"],
        details["reference_intercept"],
        ["log_loss", "squared_error"],
    )
    with tempfile.TemporaryDirectory() as tmp:
        figures = _plots.save_figures(result, tmp)
        for name in figures:
            with mkdocs_gen_files.open(f"figures/{name}", "wb") as out:
                out.write((Path(tmp) / name).read_bytes())
    reference = result.rows[0]
    match_tol = result.settings["match_tol"]
    same = [r for r in log_rows if r["coef_diff"] <= match_tol]
    short = [r for r in log_rows if r["coef_diff"] > match_tol]
    agree = all(
        f"{r[key]:.4f}" == f"{reference[key]:.4f}"
        for r in same
        for key in ("accuracy", "log_loss", "brier")
    )
    same_sentence = (
        f"Under the log loss the neuron reached LogisticRegression's coefficients to "
        f"within {max(r['coef_diff'] for r in same):.0e} with "
        f"{'every optimizer' if not short else 'the optimizers'} "
        f"({', '.join(r['optimizer'] for r in same)}), and the objective gap was at "
        f"most {max(abs(r['objective_gap']) for r in same):.0e} — rounding error."
    )
    if agree:
        same_sentence += " The cross-validated scores agree to every printed digit."
    if short:
        same_sentence += (
            f" The optimizers ({', '.join(r['optimizer'] for r in short)}) "
            "minimise the same objective but stop short of its optimum: "
            f"coefficients within {max(r['coef_diff'] for r in short):.2g}, "
            f"objective gap {max(r['objective_gap'] for r in short):.2g}."
        )
    values = {
        "log_same": same_sentence,
        "table": _cli.markdown_table(result),
        "verdict": "\n".join(f"- {sentence}" for sentence in result.verdict),
        "sq_coef_diff": f"{max(r['coef_diff'] for r in sq_rows):.2f}",
        "sq_gap": f"{min(r['objective_gap'] for r in sq_rows):.2f}",
        "sq_log_loss": f"{sq_rows[0]['log_loss']:.4f}",
        "lr_log_loss": f"{reference['log_loss']:.4f}",
        "sq_accuracy": f"{sq_rows[0]['accuracy']:.4f}",
        "lr_accuracy": f"{reference['accuracy']:.4f}",
        "log_curvature": f"{_study.min_curvature(ts, values['log_loss']):.2g}",
        "sq_curvature": f"{_study.min_curvature(ts, values['squared_error']):.2g}",
        "torch_version": torch.__version__.split("+")[0],
        "version": sklearn_neuron.__version__,
    }
    with mkdocs_gen_files.open("explanation.md", "w") as out:
        out.write(fill("explanation.md", values))


def command():
    help_text = _cli.build_parser().format_help()
    with mkdocs_gen_files.open("command.md", "w") as out:
        out.write(fill("command.md", {"help": help_text.rstrip()}))


#: Public methods defined in a mixin, listed on each class that has them.
INHERITED_METHODS = ["inference", "summary"]


def api():
    lines = [
        "# API reference",
        "",
        "Generated from the docstrings of everything `sklearn_neuron` exports.",
        "",
    ]
    for name in sklearn_neuron.__all__:
        lines += [f"::: sklearn_neuron.{name}"]
        inherited = [
            method
            for method in INHERITED_METHODS
            if hasattr(getattr(sklearn_neuron, name), method)
        ]
        if inherited:
            # Methods of a mixin (InferenceMixin's summary and inference) are
            # not listed by mkdocstrings unless asked for by name.
            lines += ["    options:", f"      inherited_members: {inherited}"]
        lines.append("")
    with mkdocs_gen_files.open("api.md", "w") as out:
        out.write("\n".join(lines))


def gallery():
    examples = sorted((ROOT / "examples").glob("*.py"))
    with ThreadPoolExecutor(max_workers=2) as pool:
        outputs = list(pool.map(run_example, examples))
    index = [
        "# Gallery",
        "",
        "Every script in `examples/`, run when these pages were built; the output "
        "below each is what it printed. Run one yourself with "
        "`python examples/NAME.py`.",
        "",
    ]
    for path, output in zip(examples, outputs, strict=True):
        source = path.read_text(encoding="utf-8")
        docstring = ast.get_docstring(ast.parse(source)) or path.stem
        title, _, body = docstring.partition("\n")
        index.append(
            f"- [{title.rstrip('.')}]({path.stem}.md) — `examples/{path.name}`"
        )
        page = [
            f"# {title.rstrip('.')}",
            "",
            body.strip(),
            "",
            f'```python title="examples/{path.name}"',
            source.rstrip(),
            "```",
            "",
            "Output:",
            "",
            "```text",
            output.rstrip(),
            "```",
            "",
        ]
        with mkdocs_gen_files.open(f"gallery/{path.stem}.md", "w") as out:
            out.write("\n".join(page))
    with mkdocs_gen_files.open("gallery/index.md", "w") as out:
        out.write("\n".join(index) + "\n")


# The examples run in subprocesses while the study runs here.
with ThreadPoolExecutor(max_workers=1) as background:
    pending = background.submit(gallery)
    explanation()
    command()
    api()
    pending.result()
