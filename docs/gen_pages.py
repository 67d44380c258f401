"""Pages produced by running the package, at every docs build (mkdocs-gen-files).

- ``explanation.md``: the study of ``python -m sklearn_neuron`` (breast cancer,
  every loss x optimizer against LogisticRegression) is run here; its table,
  verdict, numbers and figures fill ``docs/templates/explanation.md``, with
  how far the 2-D problem's outliers turn each loss's boundary and what one
  SGD epoch costs skorch and the neuron, measured here.
- ``command.md``: ``docs/templates/command.md`` with the command's ``--help``
  and ``img/report.png``, the study's ``report.html`` as headless Chromium
  shows it (Debian's ``chromium`` driven by playwright; without them the page
  says so and shows no image).
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
import io
import os
import shutil
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
from sklearn_neuron._study import cli as _cli  # noqa: E402
from sklearn_neuron._study import datasets as _datasets  # noqa: E402
from sklearn_neuron._study import landscape as _landscape  # noqa: E402
from sklearn_neuron._study import peers as _peers  # noqa: E402
from sklearn_neuron._study import plots as _plots  # noqa: E402
from sklearn_neuron._study import report as _report  # noqa: E402
from sklearn_neuron._study import runs as _runs  # noqa: E402

# Small fits: one thread is faster (see sklearn_neuron._study.cli.main).
torch.set_num_threads(1)
ENV = {**os.environ, "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1"}
#: Flags that let Chromium run headless as root in a container, without network
#: (as in tests/test_report_browser.py).
CHROMIUM_FLAGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
]
#: The window the report is shown in, and the screenshot's width on the page.
REPORT_VIEWPORT, SCREENSHOT_WIDTH = {"width": 1200, "height": 900}, 900


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


#: The far-off mislabeled points that ``_landscape.two_d_problem`` appends last.
TWO_D_OUTLIERS = 12


def boundary_turns(losses, C):
    """The explanation's table of how the 2-D problem's outliers move each boundary.

    For each loss: the angle between its coefficients fitted with and without
    the outliers (the boundary's turn), and the share of the clean points the
    fit with them classifies correctly; and a sentence ranking the margin
    losses against the log loss, written from those numbers.
    """
    import warnings

    import numpy as np
    from sklearn.base import clone
    from sklearn.exceptions import ConvergenceWarning

    X, y, models = _landscape.fit_two_d(losses, C=C)
    far = X[-TWO_D_OUTLIERS:]
    if not (y[-TWO_D_OUTLIERS:] == 1).all() or np.linalg.norm(far.mean(axis=0)) < 5:
        raise RuntimeError("_landscape.two_d_problem changed: update TWO_D_OUTLIERS")
    X_clean, y_clean = X[:-TWO_D_OUTLIERS], y[:-TWO_D_OUTLIERS]
    turns, lines = {}, ["| loss | boundary turned by | clean points classified correctly |",
                        "|---|---|---|"]
    for loss in losses:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            clean = clone(models[loss]).fit(X_clean, y_clean)
        a, b = np.ravel(models[loss].coef_), np.ravel(clean.coef_)
        cosine = np.clip(a @ b / (np.linalg.norm(a) * np.linalg.norm(b)), -1.0, 1.0)
        turns[loss] = float(np.degrees(np.arccos(cosine)))
        correct = float(np.mean(models[loss].predict(X_clean) == y_clean))
        lines.append(f"| `{loss}` | {turns[loss]:.1f}° | {correct:.0%} |")
    log = turns["log_loss"]

    def against_log(loss):
        ratio = turns[loss] / log
        how = "more than" if ratio > 1.1 else "about as much as" if ratio >= 0.75 else "less than"
        return f"`{loss}` {how} it ({turns[loss]:.0f}°)"

    sentence = f"The log loss's boundary turns by {log:.0f}°."
    if "squared_error" in turns:
        sentence += f" Squared error's turns by {turns['squared_error']:.1f}°."
    margin = [loss for loss in losses if loss not in ("log_loss", "squared_error")]
    if margin:
        sentence += (
            " The margin losses are not bounded, and their boundaries turn: "
            + ", ".join(against_log(loss) for loss in margin) + "."
        )
    return "\n".join(lines), sentence


def epoch_times(X, y, C, epochs=10):
    """What one SGD epoch costs skorch and the neuron, and the neuron's default fit.

    The study's skorch row runs every epoch; the neuron's sgd stops at its
    stopping rule after a few epochs and Newton steps. This separates the two
    causes of the gap between their fit times: a best-of-3 timing of
    ``1 + epochs`` epochs minus 1 epoch, over ``epochs`` (``tol=0`` for the
    neuron, so that it runs them all without Newton steps). Returns None
    without skorch.
    """
    import time
    import warnings

    from sklearn.exceptions import ConvergenceWarning

    from sklearn_neuron import NeuronClassifier

    if not _peers.peer_available("skorch"):
        return None

    def seconds(fit):
        best = float("inf")
        for _ in range(3):
            start = time.perf_counter()
            fit()
            best = min(best, time.perf_counter() - start)
        return best

    def per_epoch(make):
        longer = seconds(lambda: make(1 + epochs).fit(X, y))
        return (longer - seconds(lambda: make(1).fit(X, y))) / epochs

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        skorch = per_epoch(lambda n: _peers.SkorchPeer(C=C, max_epochs=n))
        neuron = per_epoch(lambda n: NeuronClassifier(
            C=C, optimizer="sgd", max_iter=n, tol=0.0, random_state=0))
    default = seconds(lambda: NeuronClassifier(C=C, optimizer="sgd", random_state=0).fit(X, y))
    return {"skorch": skorch, "neuron": neuron, "default": default}


def report_screenshot(result, folder, figures):
    """Write ``img/report.png``: ``result``'s report.html in headless Chromium.

    Returns the Markdown that shows it on the command's page, or, without
    chromium or playwright, a note saying why there is no image.
    """
    chromium = os.environ.get("CHROMIUM") or shutil.which("chromium")
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        chromium = None
    if chromium is None:
        return (
            "*No screenshot in this build of the docs: it needs Debian's "
            "`chromium` and playwright (the `tests` extra).*"
        )
    from PIL import Image

    report = _report.write_report(result, folder, figures)
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=chromium, headless=True, args=CHROMIUM_FLAGS
        )
        try:
            page = browser.new_page(viewport=REPORT_VIEWPORT)
            page.goto(report.resolve().as_uri(), wait_until="load")
            png = page.screenshot(full_page=True)
        finally:
            browser.close()
    image = Image.open(io.BytesIO(png)).convert("RGB")
    height = round(image.height * SCREENSHOT_WIDTH / image.width)
    image = image.resize((SCREENSHOT_WIDTH, height), Image.Resampling.LANCZOS)
    with mkdocs_gen_files.open("img/report.png", "wb") as out:
        image.quantize(256).save(out, format="PNG", optimize=True)
    return (
        "[![The default study's report.html in headless Chromium](img/report.png)]"
        "(img/report.png)"
    )


def explanation():
    """Write ``explanation.md``; return the report screenshot's Markdown."""
    dataset = _datasets.load_dataset("breast_cancer")
    result = _runs.run_classification_study(dataset, cv=5)
    rows = {
        (r["loss"], r["optimizer"]): r for r in result.rows[1:] if r["status"] == "ok"
    }
    log_rows = [r for (loss, _), r in rows.items() if loss == "log_loss"]
    sq_rows = [r for (loss, _), r in rows.items() if loss == "squared_error"]
    details = result.details
    ts, values = _landscape.landscape_slice(
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
        screenshot = report_screenshot(result, tmp, figures)
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
    log_curvature = _landscape.min_curvature(ts, values["log_loss"])
    sq_curvature = _landscape.min_curvature(ts, values["squared_error"])
    # The page's words rest on these signs: the build fails where they change.
    if not log_curvature > -1e-8 > sq_curvature:
        raise RuntimeError(
            f"explanation.md says the log loss's slice is convex and squared error's is "
            f"not; measured smallest curvatures {log_curvature:.2g}, {sq_curvature:.2g}"
        )
    if not min(r["objective_gap"] for r in sq_rows) > 0:
        raise RuntimeError("explanation.md says squared error is worse on the log objective")
    boundary_table, boundary_sentence = boundary_turns(
        result.settings["losses"], result.settings["C"]
    )
    sgd = rows[("log_loss", "sgd")]
    epochs = result.settings["fits"]["sgd"]["max_iter"]
    times = epoch_times(details["X_std"], dataset.y, result.settings["C"])
    if times is None:
        skorch_times = "(skorch was not installed for this build, so no epoch was timed.)"
    else:
        per_epoch = times["skorch"] / times["neuron"]
        stopping = epochs * times["neuron"] / times["default"]
        mostly = (
            "the stopping rule with its Newton finish" if stopping > per_epoch
            else "the cost of an epoch"
        )
        skorch_times = (
            f"Timed for this page on the whole data: one epoch took skorch "
            f"{times['skorch'] * 1e3:.2g} ms and the neuron {times['neuron'] * 1e3:.2g} ms "
            f"({per_epoch:.0f}x); all {epochs} epochs would take the neuron about "
            f"{epochs * times['neuron']:.2g} s, while its default fit ({sgd['n_iter']} epochs "
            f"and its Newton steps) took {times['default'] * 1e3:.2g} ms ({stopping:.0f}x "
            f"less). So the gap between the two rows is mostly {mostly}."
        )
    values = {
        "n_samples": dataset.X.shape[0],
        "n_features": dataset.X.shape[1],
        "cv": result.settings["cv"],
        "reference": result.settings["reference"],
        "newton_iter": rows[("log_loss", "newton")]["n_iter"],
        "lbfgs_iter": rows[("log_loss", "lbfgs")]["n_iter"],
        "sgd_epochs": sgd["n_iter"],
        "sgd_coef_diff": f"{sgd['coef_diff']:.0e}",
        "study_epochs": epochs,
        "skorch_times": skorch_times,
        "n_outliers": TWO_D_OUTLIERS,
        "boundary_table": boundary_table,
        "boundary_sentence": boundary_sentence,
        "log_same": same_sentence,
        "table": _report.markdown_table(result),
        "verdict": "\n".join(f"- {sentence}" for sentence in result.verdict),
        "sq_coef_diff": f"{max(r['coef_diff'] for r in sq_rows):.2f}",
        "sq_gap": f"{min(r['objective_gap'] for r in sq_rows):.2f}",
        "sq_log_loss": f"{sq_rows[0]['log_loss']:.4f}",
        "lr_log_loss": f"{reference['log_loss']:.4f}",
        "sq_accuracy": f"{sq_rows[0]['accuracy']:.4f}",
        "lr_accuracy": f"{reference['accuracy']:.4f}",
        "log_curvature": f"{log_curvature:.2g}",
        "sq_curvature": f"{sq_curvature:.2g}",
        "torch_version": torch.__version__.split("+")[0],
        "version": sklearn_neuron.__version__,
    }
    with mkdocs_gen_files.open("explanation.md", "w") as out:
        out.write(fill("explanation.md", values))
    return screenshot


def command(screenshot):
    help_text = _cli.build_parser().format_help()
    with mkdocs_gen_files.open("command.md", "w") as out:
        out.write(fill("command.md", {
            "help": help_text.rstrip(), "max_categories": _datasets.MAX_CATEGORIES,
            "report_screenshot": screenshot,
        }))


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
        "n_samples": X.shape[0],
        "n_features": X.shape[1],
        "diabetes_shape": f"{Xd.shape[0]} samples, {Xd.shape[1]} features",
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
    command(explanation())
    api()
    network_question(pending.result())
