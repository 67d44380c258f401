"""Callbacks, ``history_``, logging and progress bars (issue #16)."""

import io
import json
import logging
import os
import pickle
import re
import subprocess
import sys
import warnings
from pathlib import Path

import numpy as np
import pytest
from _datasets import classification_dataset
from scipy.special import expit
from sklearn.base import clone
from sklearn.exceptions import ConvergenceWarning

from sklearn_neuron import (
    NeuronClassifier,
    NeuronClassifierCV,
    NeuronRegressor,
    ProgressBar,
    history_column,
)
from sklearn_neuron._callbacks import HISTORY_KEYS
from sklearn_neuron._study import cli as _cli
from sklearn_neuron._study import datasets as _datasets
from sklearn_neuron._study import runs as _runs

ROOT = Path(__file__).parents[1]

#: One fit of each optimizer family: Newton, L-BFGS, OWL-QN (L1), minibatch SGD and Adam.
FITS = {
    "newton": dict(optimizer="newton"),
    "lbfgs": dict(optimizer="lbfgs"),
    "owlqn": dict(optimizer="lbfgs", l1_ratio=1.0),
    # A tight tol keeps the stopping rule's Newton steps (which end these fits
    # in 2-3 epochs at the default tol) away for the first dozen epochs.
    "sgd": dict(optimizer="sgd", max_iter=30, tol=1e-10, random_state=0),
    "adam": dict(optimizer="adam", max_iter=30, tol=1e-10, random_state=0),
}


@pytest.fixture
def binary():
    return classification_dataset("breast_cancer")


def _fit(estimator, X, y, **fit_params):
    """Fit, keeping the ConvergenceWarnings (a minibatch fit may stop at max_iter)."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", ConvergenceWarning)
        estimator.fit(X, y, **fit_params)
    return [w for w in caught if issubclass(w.category, ConvergenceWarning)]


def _distinct(values):
    """``values`` without consecutive repeats: an undone epoch repeats the best objective."""
    return [v for i, v in enumerate(values) if i == 0 or v != values[i - 1]]


@pytest.mark.parametrize("name", FITS)
def test_a_callback_sees_every_iteration(binary, name):
    X, y = binary
    seen = []
    model = NeuronClassifier(callbacks=[seen.append], **FITS[name])
    _fit(model, X, y)
    assert seen == model.history_
    iterations = [r["iteration"] for r in seen]
    if name in ("sgd", "adam"):
        # The stopping rule's Newton steps are records with the iteration of
        # the epoch they follow and, as step, the fraction of the full Newton
        # step; a converged fit ends with a full one.
        distinct = [i for k, i in enumerate(iterations) if k == 0 or i != iterations[k - 1]]
        newton = [r for k, r in enumerate(seen) if k and r["iteration"] == iterations[k - 1]]
        assert all(0 < r["step"] <= 1.0 for r in newton)
        if model.converged_:
            assert seen[-1] in newton and seen[-1]["step"] == 1.0
        iterations = distinct
    assert iterations == list(range(model.n_iter_ + 1))
    assert all(tuple(r) == HISTORY_KEYS for r in seen)
    assert all(r["solver"] == f"NeuronClassifier/{model.optimizer_}" for r in seen)
    elapsed = history_column(seen, "elapsed")
    assert np.all(np.diff(elapsed) >= 0)
    # The objective of each iteration (each kept epoch) is the curve's, exactly.
    objectives = [r["objective"] for r in seen]
    if name in ("sgd", "adam"):
        objectives, curve = _distinct(objectives), _distinct(list(model.objective_curve_))
    else:
        curve = model.objective_curve_
    np.testing.assert_array_equal(objectives, curve)
    assert seen[0]["step"] is None or name in ("sgd", "adam")
    assert all(r["step"] > 0 for r in seen[1:])


def _logistic_gradient_max(model, X, y):
    """max |gradient| of the objective (mean log loss + ||w||^2 / (2 C n)), in numpy."""
    w, b = model.coef_.ravel(), model.intercept_[0]
    residual = expit(X @ w + b) - y
    n = len(y)
    gradient = np.append(X.T @ residual / n + w / (model.C * n), residual.mean())
    return np.abs(gradient).max()


@pytest.mark.parametrize("name", ["newton", "lbfgs", "sgd"])
def test_grad_max_is_the_full_gradient(binary, name):
    X, y = binary
    model = NeuronClassifier(**FITS[name])
    _fit(model, X, y)
    # float64 sums in a different order: agreement to 1e-9 relative, or to
    # 1e-16 where the gradient is at rounding level (after Newton steps).
    np.testing.assert_allclose(
        model.history_[-1]["grad_max"], _logistic_gradient_max(model, X, y),
        rtol=1e-9, atol=1e-16,
    )


def test_regressor_history(binary):
    X, _ = binary
    y = X[:, :3] @ [1.0, -2.0, 0.5] + 0.1 * np.random.default_rng(0).standard_normal(len(X))
    seen = []
    model = NeuronRegressor(optimizer="lbfgs", callbacks=[seen.append]).fit(X, y)
    assert seen == model.history_
    assert len(seen) == model.n_iter_ + 1
    np.testing.assert_array_equal(history_column(seen, "objective"), model.objective_curve_)


def test_partial_fit_appends_one_record_per_call(binary):
    X, y = binary
    seen = []
    model = NeuronClassifier(optimizer="sgd", random_state=0, callbacks=[seen.append])
    objectives = []
    for _ in range(3):
        model.partial_fit(X, y, classes=[0, 1])
        objectives.append(model.objective_curve_[-1])
    assert [r["iteration"] for r in model.history_] == [1, 2, 3]
    assert seen == model.history_
    np.testing.assert_array_equal(history_column(model.history_, "objective"), objectives)
    # A new fit starts a new history.
    _fit(model.set_params(callbacks=None, max_iter=2, tol=1e-10), X, y)
    assert [r["iteration"] for r in model.history_] == [0, 1, 2]


def _stop_at(iteration):
    return lambda info: info["iteration"] == iteration


@pytest.mark.parametrize("name", FITS)
def test_a_callback_stops_the_fit(binary, name):
    X, y = binary
    model = NeuronClassifier(callbacks=[_stop_at(3)], **FITS[name])
    caught = _fit(model, X, y)
    assert model.n_iter_ == 3
    assert len(model.history_) == 4
    assert not model.converged_
    assert len(caught) == 1
    assert re.search(r"stopped by a callback after 3 (iterations|epochs)", str(caught[0].message))
    # The parameters are those reached at iteration 3: a fit limited to 3
    # iterations takes the same steps (and warns about max_iter instead).
    limited = NeuronClassifier(**{**FITS[name], "max_iter": 3})
    caught = _fit(limited, X, y)
    assert "callback" not in str(caught[0].message)
    np.testing.assert_array_equal(model.coef_, limited.coef_)
    np.testing.assert_array_equal(model.predict_proba(X), limited.predict_proba(X))


class _StopObject:
    """A callback object: counts the fits it sees and stops each at iteration 2."""

    def __init__(self):
        self.begun, self.ended = [], []

    def on_fit_begin(self, info):
        self.begun.append(info)

    def on_iteration(self, info):
        return info["iteration"] >= 2

    def on_fit_end(self, info):
        self.ended.append(info)


def test_callback_object_with_begin_and_end(binary):
    X, y = binary
    callback = _StopObject()
    model = NeuronClassifier(optimizer="newton", callbacks=[callback])
    _fit(model, X, y)
    assert model.n_iter_ == 2
    assert callback.begun == [{"estimator": "NeuronClassifier", "max_iter": 100}]
    assert callback.ended == [
        {"n_iter": 2, "converged": False, "stop_reason": "stopped by a callback at iteration 2"}
    ]


def test_a_callback_cannot_stop_before_the_first_step(binary):
    X, y = binary
    model = NeuronClassifier(optimizer="newton", callbacks=[lambda info: True])
    _fit(model, X, y)
    assert model.n_iter_ == 1


@pytest.mark.parametrize("optimizer", ["newton", "adam"])
def test_a_callback_stops_the_hinge_continuation(binary, optimizer):
    X, y = binary
    model = NeuronClassifier(
        loss="hinge", optimizer=optimizer, random_state=0, callbacks=[_stop_at(3)]
    )
    caught = _fit(model, X, y)
    assert model.n_iter_ == 3
    assert "stopped by a callback" in str(caught[0].message)


def test_a_callback_stops_the_absolute_error_stages(binary):
    X, _ = binary
    y = X[:, 0] + np.random.default_rng(0).standard_normal(len(X))
    model = NeuronRegressor(loss="absolute_error", alpha=1.0, callbacks=[_stop_at(2)])
    caught = _fit(model, X, y)
    assert model.n_iter_ == 2
    assert "stopped by a callback" in str(caught[0].message)


def test_history_records_the_validation_scores(binary):
    X, y = binary
    seen = []
    model = NeuronClassifier(
        optimizer="adam", early_stopping=True, random_state=0, callbacks=[seen.append]
    )
    _fit(model, X, y)
    scores = history_column(seen, "validation_score")
    assert np.isnan(scores[0])
    # One score per epoch, the ones early stopping decided on.
    np.testing.assert_array_equal(scores[1:], model.validation_scores_)
    assert seen == model.history_


def test_history_column_refuses_unknown_keys(binary):
    with pytest.raises(ValueError, match="not a numeric column.*'objective'"):
        history_column([], "loss")


def test_callbacks_must_be_callable(binary):
    X, y = binary
    model = NeuronClassifier(callbacks=[3])
    with pytest.raises(TypeError, match="callbacks must hold callables.*got 3"):
        model.fit(X, y)
    assert not hasattr(model, "coef_")


def test_callbacks_are_not_changed_by_fit(binary):
    X, y = binary
    callback = _StopObject()
    callbacks = [callback]
    model = NeuronClassifier(optimizer="newton", callbacks=callbacks)
    _fit(model, X, y)
    assert model.callbacks is callbacks and callbacks == [callback]


def test_clone_and_get_params_with_callbacks(binary):
    X, y = binary
    callback = _StopObject()
    model = NeuronClassifier(optimizer="newton", callbacks=[callback])
    assert model.get_params()["callbacks"] == [callback]
    copy = clone(model)
    # clone deep-copies a parameter that is not an estimator, as for any parameter.
    assert copy.callbacks is not model.callbacks
    assert isinstance(copy.callbacks[0], _StopObject) and copy.callbacks[0] is not callback
    _fit(copy, X, y)
    assert len(copy.callbacks[0].ended) == 1 and callback.ended == []
    assert copy.n_iter_ == 2


def test_classifier_cv_calls_back_from_its_refit(binary):
    X, y = binary
    seen = []
    model = NeuronClassifierCV(Cs=2, cv=2, callbacks=[seen.append]).fit(X, y)
    assert seen == model.history_
    assert seen[0]["solver"] == f"NeuronClassifierCV/{model.optimizer_}"
    np.testing.assert_array_equal(history_column(seen, "objective"), model.objective_curve_)


# -- logging -------------------------------------------------------------------------
@pytest.mark.parametrize("optimizer", ["newton", "sgd"])
def test_verbose_logs_each_iteration(binary, caplog, capsys, optimizer):
    X, y = binary
    caplog.set_level(logging.INFO, logger="sklearn_neuron")
    # tol=1e-10: five epochs, no Newton step of sgd's stopping rule among them.
    model = NeuronClassifier(optimizer=optimizer, verbose=1, max_iter=5, tol=1e-10, random_state=0)
    _fit(model, X, y)
    records = [r for r in caplog.records if r.name == "sklearn_neuron"]
    assert len(records) == model.n_iter_ + 1 == len(model.history_)
    assert all(r.levelno == logging.INFO for r in records)
    unit, step = ("iter", "step") if optimizer == "newton" else ("epoch", "lr")
    last = model.history_[-1]
    assert records[-1].getMessage() == (
        f"[NeuronClassifier/{optimizer}] {unit} {model.n_iter_}: "
        f"objective={last['objective']:.10g}  max|grad|={last['grad_max']:.3e}  "
        f"{step}={last['step']:.3g}"
    )
    captured = capsys.readouterr()
    assert captured.out == captured.err == ""  # through logging only, not printed as well


def test_not_verbose_logs_nothing(binary, caplog):
    X, y = binary
    caplog.set_level(logging.DEBUG, logger="sklearn_neuron")
    NeuronClassifier(optimizer="newton").fit(X, y)
    assert not [r for r in caplog.records if r.name == "sklearn_neuron"]


def test_verbose_shows_on_stderr_without_logging_configured():
    # A fresh process, where nothing configured logging (as in a script).
    code = (
        "from sklearn.datasets import load_iris\n"
        "from sklearn_neuron import NeuronClassifier\n"
        "X, y = load_iris(return_X_y=True)\n"
        "m = NeuronClassifier(optimizer='newton', verbose=1).fit(X, y)\n"
        "print(m.n_iter_)\n"
    )
    env = {**os.environ, "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1"}
    done = subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr
    n_iter = int(done.stdout)
    lines = done.stderr.splitlines()
    assert len(lines) == n_iter + 1
    assert lines[0].startswith("[NeuronClassifier/newton] iter 0: objective=")


def test_verbose_lines_show_once_and_leave_no_handler():
    # Issue #36, item 13: a verbose fit used to leave a stderr handler (and
    # the INFO level) on the package's logger, so that once the application
    # configured logging every line showed twice. A fresh process: nothing
    # configured first, then logging.basicConfig (the root at WARNING).
    code = (
        "import json, logging, sys\n"
        "from sklearn.datasets import load_iris\n"
        "from sklearn_neuron import NeuronClassifier\n"
        "X, y = load_iris(return_X_y=True)\n"
        "logger = logging.getLogger('sklearn_neuron')\n"
        "first = NeuronClassifier(optimizer='newton', verbose=1).fit(X, y)\n"
        "left = repr([logger.handlers, logger.level, logging.getLogger().handlers])\n"
        "print('-- configured --', file=sys.stderr, flush=True)\n"
        "logging.basicConfig(format='LOG %(message)s')\n"
        "second = NeuronClassifier(optimizer='newton', verbose=1).fit(X, y)\n"
        "print(json.dumps([first.n_iter_, second.n_iter_, left]))\n"
    )
    env = {**os.environ, "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1"}
    done = subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr
    first, second, left = json.loads(done.stdout)
    assert left == "[[], 0, []]"  # no handler, no level left behind
    before, after = done.stderr.split("-- configured --\n")
    before, after = before.splitlines(), after.splitlines()
    assert len(before) == first + 1
    assert all(line.startswith("[NeuronClassifier/newton] iter ") for line in before)
    # Each line once, through the application's handler and in its format.
    assert len(after) == second + 1
    assert [line.removeprefix("LOG ") for line in after] == before


def test_the_package_logger_level_silences_verbose(binary, caplog, capsys):
    X, y = binary
    caplog.set_level(logging.WARNING, logger="sklearn_neuron")
    NeuronClassifier(optimizer="newton", verbose=1).fit(X, y)
    assert not [r for r in caplog.records if r.name == "sklearn_neuron"]
    assert capsys.readouterr().err == ""


# -- progress bars --------------------------------------------------------------------
def test_progress_bar_callback(binary, capsys):
    pytest.importorskip("tqdm")
    X, y = binary
    out = io.StringIO()
    model = NeuronClassifier(optimizer="lbfgs", callbacks=[ProgressBar(file=out, ascii=True)])
    model.fit(X, y)
    text = out.getvalue()
    assert f"{model.n_iter_}/100" in text and "NeuronClassifier" in text
    assert "objective=" in text
    assert model.callbacks[0]._bar is None  # closed at the end of the fit
    # By default the bar is on stderr.
    NeuronClassifier(optimizer="newton", callbacks=[ProgressBar()]).fit(X, y)
    assert "NeuronClassifier" in capsys.readouterr().err


def test_progress_bar_survives_clone_and_pickle(binary):
    pytest.importorskip("tqdm")
    X, y = binary
    model = NeuronClassifier(optimizer="newton", callbacks=[ProgressBar(leave=False)])
    model = pickle.loads(pickle.dumps(clone(model).fit(X, y)))
    assert model.callbacks[0].tqdm_kwargs == {"leave": False}
    np.testing.assert_array_equal(
        history_column(model.history_, "objective"), model.objective_curve_
    )


def test_study_advances_once_per_combination():
    dataset = _datasets.load_dataset("breast_cancer")
    dataset.X, dataset.y = dataset.X[::4], dataset.y[::4]
    ticks = []
    result = _runs.run_classification_study(
        dataset,
        losses=["log_loss", "squared_error"],
        optimizers=["newton", "lbfgs"],
        cv=2,
        advance=lambda: ticks.append(len(ticks)),
    )
    assert len(ticks) == 4
    # A skipped combination advances too (Newton cannot fit a non-smooth loss).
    ticks.clear()
    result = _runs.run_regression_study(
        _datasets.load_dataset("diabetes"),
        losses=["absolute_error"],
        optimizers=["newton"],
        cv=2,
        advance=lambda: ticks.append(len(ticks)),
    )
    assert any(r["status"] == "incompatible" for r in result.rows)
    assert len(ticks) == 1


def test_command_progress_bar_is_on_stderr_only(tmp_path, capsys):
    pytest.importorskip("tqdm")
    code = _cli.main(
        ["--cv", "2", "--losses", "log_loss", "--optimizers", "newton,lbfgs",
         "--no-figures", "--format", "json", "--progress", "--out", str(tmp_path)]
    )
    assert code == 0
    captured = capsys.readouterr()
    json.loads(captured.out)  # stdout is the JSON, no bar in it
    assert "2/2" in captured.err and "fit" in captured.err


def test_command_without_tqdm_refuses_progress(tmp_path, capsys, monkeypatch):
    monkeypatch.setitem(sys.modules, "tqdm", None)  # import tqdm raises ImportError
    code = _cli.main(
        ["--cv", "2", "--losses", "log_loss", "--optimizers", "newton",
         "--no-figures", "--progress", "--out", str(tmp_path)]
    )
    assert code == 2
    assert "--progress needs tqdm" in capsys.readouterr().err


def test_progress_bar_without_tqdm_says_how_to_install(monkeypatch):
    monkeypatch.setitem(sys.modules, "tqdm", None)
    with pytest.raises(ImportError, match=r"pip install 'sklearn-neuron\[progress\]'"):
        ProgressBar()


def test_user_guide_example_runs(capsys):
    pytest.importorskip("tqdm")
    text = (ROOT / "docs" / "user_guide.md").read_text()
    section = text.split("## Progress, history and callbacks")[1].split("\n## ")[0]
    blocks = re.findall(r"```python\n(.*?)```", section, flags=re.S)
    assert len(blocks) == 1
    exec(compile(blocks[0], "user_guide.md", "exec"), {})
    out = capsys.readouterr()
    n_early, n_full = map(int, re.search(r"(\d+) of (\d+) iterations", out.out).groups())
    assert n_early < n_full
    assert "NeuronClassifier" in out.err  # the bar


def test_a_callback_stops_a_minibatch_fit_in_its_newton_steps(binary):
    # The stopping rule's Newton steps are reported like epochs, and a
    # callback's stop is honoured there too: the fit ends at that check, not
    # converged (default sgd on breast_cancer: the check after epoch 1 takes
    # damped Newton steps without meeting tol).
    X, y = binary
    seen = []

    def stop_at_a_newton_step(info):
        seen.append(info)
        return len(seen) > 1 and info["iteration"] == seen[-2]["iteration"]

    model = NeuronClassifier(optimizer="sgd", random_state=0, callbacks=[stop_at_a_newton_step])
    caught = _fit(model, X, y)
    assert not model.converged_ and model.n_iter_ == 1
    assert len(model.history_) == 3 and model.history_ == seen
    assert len(caught) == 1 and "stopped by a callback" in str(caught[0].message)
    # The fit ends at the Newton iterate the callback saw.
    assert model.objective_curve_[-1] == seen[-1]["objective"] < seen[-2]["objective"]
