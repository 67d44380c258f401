"""Pages produced by running the package, at every docs build (mkdocs-gen-files).

- ``explanation.md``: the study of ``python -m sklearn_neuron`` (breast cancer,
  every loss x optimizer against LogisticRegression) is run here; its table,
  verdict, numbers and figures fill ``docs/templates/explanation.md``.
- ``command.md``: ``docs/templates/command.md`` with the command's ``--help``.
- ``is_logistic_regression_a_network.md``: the question answered point by
  point; ``docs/templates/is_logistic_regression_a_network.md`` filled with
  fits, certificates and the output of ``examples/hidden_layer_head.py``.
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


def network_question(example_outputs):
    """The page answering "is logistic regression a network?" point by point."""
    import warnings

    import numpy as np
    import sklearn
    from sklearn.datasets import load_breast_cancer, load_diabetes, load_iris
    from sklearn.exceptions import ConvergenceWarning
    from sklearn.linear_model import LinearRegression, LogisticRegression, SGDClassifier
    from sklearn.neural_network import MLPClassifier
    from sklearn.preprocessing import StandardScaler

    from sklearn_neuron import (
        NeuronClassifier,
        NeuronRegressor,
        certify,
        certify_output_layer,
    )

    def standardized(loader):
        X, y = loader(return_X_y=True)
        return StandardScaler().fit_transform(X), y

    def quiet(estimator, X, y):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            return estimator.fit(X, y)

    X, y = standardized(load_breast_cancer)
    reference = LogisticRegression(solver="newton-cholesky", tol=1e-10).fit(X, y)

    def row(name, iterations, model, certificate):
        diff = np.abs(np.asarray(model.coef_) - reference.coef_).max()
        return f"| {name} | {iterations} | {diff:.1e} | {certificate.verdict} |"

    header = "| fit | iterations | max\\|Δcoef\\| | certify's verdict |\n|---|---|---|---|"
    neurons, lines = {}, [header]
    for optimizer in ("newton", "lbfgs", "sgd"):
        settings = {"tol": 1e-10, "max_iter": 500} if optimizer != "sgd" else {
            "max_iter": 300, "random_state": 0}
        neuron = quiet(NeuronClassifier(optimizer=optimizer, **settings), X, y)
        neurons[optimizer] = (neuron, certify(neuron, X, y))
        lines.append(row(f"NeuronClassifier(optimizer={optimizer!r})", neuron.n_iter_,
                         neuron, neurons[optimizer][1]))
    others = [
        (f"LogisticRegression(solver={solver!r})", LogisticRegression(solver=solver))
        for solver in ("lbfgs", "liblinear", "newton-cg", "sag", "saga")
    ]
    # SGDClassifier's alpha is C = 1 / (n alpha): C = 1.
    others.append(("SGDClassifier(loss='log_loss', alpha=1/n)",
                   SGDClassifier(loss="log_loss", alpha=1.0 / len(y), random_state=0)))
    short = []
    for name, model in others:
        quiet(model, X, y)
        certificate = certify(model, X, y)
        if not certificate.is_logistic_regression:
            short.append(name)
        lines.append(row(name, int(np.max(model.n_iter_)), model, certificate))
    tight = [c for _, c in neurons.values()]
    summary_line = (
        "All three neuron fits are proved to be logistic regression"
        if all(c.is_logistic_regression for c in tight)
        else "Not every neuron fit is proved to be logistic regression"
    )
    how_many = "all" if len(short) == len(others) else f"{len(short)} of the"
    summary_line += (
        f"; at their default tolerances {how_many} {len(others)} scikit-learn fits "
        "stop short of it, by the amounts shown — the same objective, not yet "
        "minimised." if short else "; so are the scikit-learn fits at their defaults."
    )

    loss_lines = ["| loss | max\\|Δcoef\\| | certify's verdict |", "|---|---|---|"]
    for loss in ("squared_error", "hinge", "modified_huber"):
        model = quiet(NeuronClassifier(loss), X, y)
        certificate = certify((model.coef_, model.intercept_), X, y, C=1.0)
        diff = np.abs(model.coef_ - reference.coef_).max()
        verdict = certificate.verdict.replace("(coef, intercept)", f"The {loss} neuron")
        loss_lines.append(f"| `{loss}` | {diff:.2g} | {verdict} |")

    X5 = X[:, :5]
    unpenalized = NeuronClassifier(C=np.inf, optimizer="newton", tol=1e-10).fit(X5, y)
    results = unpenalized.inference(X5, y)
    try:
        import statsmodels.api as sm
    except ImportError:  # pragma: no cover - the docs build has the tests extra
        statsmodels_coef = statsmodels_se = "(statsmodels was not installed for this build)"
    else:
        logit = sm.Logit(y, sm.add_constant(X5)).fit(disp=0, method="newton", tol=1e-12)
        params = np.asarray(results.params)
        # statsmodels puts the constant first, the neuron last or first: match by name.
        order = np.argsort([name != "const" for name in results.param_names], kind="stable")
        statsmodels_coef = f"{np.abs(params[order] - logit.params).max():.1e}"
        statsmodels_se = f"{np.abs(np.asarray(results.bse)[order] - logit.bse).max():.1e}"

    mlp_distances, mlp_objectives = {}, []
    for name, loader in (("breast_cancer", load_breast_cancer), ("iris", load_iris)):
        Xm, ym = standardized(loader)
        mlp = quiet(MLPClassifier((8,), solver="lbfgs", alpha=1e-2, tol=1e-12,
                                  max_iter=10_000, random_state=0), Xm, ym)
        report = certify_output_layer(mlp, Xm, ym)
        head = np.append(report.coef, report.intercept)
        refit = np.append(report.refit.coef_, report.refit.intercept_)
        mlp_distances[name] = f"{np.linalg.norm(head - refit) / np.linalg.norm(refit):.1%}"
        mlp_objectives.append(
            f"{report.objective[0]:.6g} to {report.objective[1]:.6g} ({name})"
        )

    Xd, yd = load_diabetes(return_X_y=True)
    linear = LinearRegression().fit(Xd, yd)
    neuron = NeuronRegressor(alpha=0.0, optimizer="newton", tol=1e-10).fit(Xd, yd)

    values = {
        "version": sklearn_neuron.__version__,
        "torch_version": torch.__version__.split("+")[0],
        "sklearn_version": sklearn.__version__,
        "optimizer_table": "\n".join(lines),
        "optimizer_summary": summary_line,
        "loss_table": "\n".join(loss_lines),
        "newton_iter": neurons["newton"][0].n_iter_,
        "lbfgs_iter": neurons["lbfgs"][0].n_iter_,
        "sgd_iter": neurons["sgd"][0].n_iter_,
        "optimizers_within": f"{max(c.coef_distance_bound for c in tight):.1g}",
        "summary": str(unpenalized.summary(X5, y)).rstrip(),
        "statsmodels_coef": statsmodels_coef,
        "statsmodels_se": statsmodels_se,
        "mlp_breast_cancer": mlp_distances["breast_cancer"],
        "mlp_iris": mlp_distances["iris"],
        "mlp_objective": " and ".join(mlp_objectives),
        "example_output": example_outputs["hidden_layer_head"].rstrip(),
        "linear_diff": f"{np.abs(neuron.coef_ - linear.coef_).max():.1e}",
        "linear_scale": f"{np.abs(linear.coef_).max():.0f}",
    }
    with mkdocs_gen_files.open("is_logistic_regression_a_network.md", "w") as out:
        out.write(fill("is_logistic_regression_a_network.md", values))


def gallery():
    """The gallery pages; returns each example's output by its file's stem."""
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
    return {path.stem: output for path, output in zip(examples, outputs, strict=True)}


# The examples run in subprocesses while the study runs here.
with ThreadPoolExecutor(max_workers=1) as background:
    pending = background.submit(gallery)
    explanation()
    command()
    api()
    network_question(pending.result())
