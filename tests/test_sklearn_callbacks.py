"""scikit-learn's callback protocol (``sklearn.callback``, ``set_callbacks``) (issue #38).

Each test runs the same thing on LogisticRegression, the protocol's reference
in scikit-learn, and on the neuron estimators, and compares what the
callbacks see.
"""

import subprocess
import sys
import warnings

import numpy as np
import pytest
from _datasets import classification_dataset
from sklearn.base import clone
from sklearn.exceptions import ConvergenceWarning
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import get_scorer
from sklearn.model_selection import GridSearchCV

import sklearn_neuron._base
from sklearn_neuron import NeuronClassifier, NeuronClassifierCV, NeuronRegressor

callback = pytest.importorskip("sklearn.callback", reason="scikit-learn < 1.9 has no callbacks")

#: The iteration subtasks' names: LogisticRegression's lbfgs, and ours.
ITERATION_TASKS = {"lbfgs-iter", "iteration"}


def _depth(context):
    """The depth of a task in the whole task tree (the root's is 1)."""
    return 1 if context.parent is None else 1 + _depth(context.parent)


class Recorder:
    """A callback of the protocol that records each hook call: ``(hook, task, depth)``.

    ``task`` is the task's name, "iteration" for an iteration of either
    estimator; ``depth`` the task's depth in the whole task tree.
    """

    def __init__(self, stop_iterations=False):
        self.events = []
        self.seen = []  # (hook, context, kwargs) of each hook call
        self.stop_iterations = stop_iterations

    def setup(self, estimator, context):
        self.events.append(("setup", type(estimator).__name__, 0))

    def teardown(self, estimator, context):
        self.events.append(("teardown", type(estimator).__name__, 0))

    def _record(self, hook, context, kwargs):
        name = "iteration" if context.task_name in ITERATION_TASKS else context.task_name
        self.events.append((hook, name, _depth(context)))
        self.seen.append((hook, context, kwargs))

    def on_fit_task_begin(
        self, estimator, context, *, X=None, y=None, metadata=None, fitted_estimator=None
    ):
        self._record("begin", context, dict(X=X, y=y, fitted_estimator=fitted_estimator))

    def on_fit_task_end(
        self, estimator, context, *, X=None, y=None, metadata=None, fitted_estimator=None
    ):
        self._record("end", context, dict(X=X, y=y, fitted_estimator=fitted_estimator))
        return self.stop_iterations and context.task_name in ITERATION_TASKS


class PropagatedRecorder(Recorder):
    """The recorder, propagated by meta-estimators to their sub-estimators."""

    max_propagation_depth = None


def _runs_collapsed(events):
    """``events`` with each run of iteration subtasks (begin, end, begin, ..., end)
    as its first and last event."""
    out = []
    for event in events:
        if event[1] == "iteration" and len(out) > 1 and out[-1][1] == out[-2][1] == "iteration":
            out[-1] = event
        else:
            out.append(event)
    return out


def _check_nesting(events):
    """Every task ends after it begins, in stack order, all within setup and teardown."""
    stack = []
    for hook, name, depth in events:
        if hook == "begin":
            assert depth == len(stack) + 1, (name, depth, stack)
            stack.append(name)
        elif hook == "end":
            assert stack and stack[-1] == name and depth == len(stack), (name, depth, stack)
            stack.pop()
    assert stack == []
    assert events[0][0] == "setup" and events[-1][0] == "teardown"


@pytest.fixture
def binary():
    return classification_dataset("breast_cancer")


@pytest.mark.parametrize(
    "estimator", [LogisticRegression(), NeuronClassifier()], ids=lambda e: type(e).__name__
)
def test_progress_bar_on_a_grid_search(binary, estimator):
    # scikit-learn's ProgressBar, propagated to each fit of the search; an
    # estimator without the protocol would get a "does not support callbacks"
    # warning and no bars.
    pytest.importorskip("rich", reason="scikit-learn's ProgressBar needs rich")
    X, y = binary
    search = GridSearchCV(estimator, {"C": [0.1, 1.0]}, cv=2)
    with warnings.catch_warnings():
        warnings.filterwarnings("error", message=".*does not support callbacks")
        search.set_callbacks(callback.ProgressBar()).fit(X, y)
    assert search.best_estimator_.score(X, y) > 0.95


@pytest.mark.parametrize(
    "estimator, n_iteration_tasks",
    [
        # LogisticRegression: each lbfgs iteration, plus the one begun after the last.
        (LogisticRegression(), lambda fitted: int(fitted.n_iter_[0]) + 1),
        # Ours: each iteration of the history (iteration 0 is the starting
        # point), plus the one begun after the last, for every optimizer.
        *[
            (
                NeuronClassifier(optimizer=name, random_state=0, max_iter=10),
                lambda fitted: 1 + sum(r["iteration"] > 0 for r in fitted.history_),
            )
            for name in ("lbfgs", "newton", "sgd")
        ],
        (
            NeuronClassifier(loss="hinge"),
            lambda fitted: 1 + sum(r["iteration"] > 0 for r in fitted.history_),
        ),
    ],
    ids=["LogisticRegression", "lbfgs", "newton", "sgd", "hinge"],
)
def test_a_fit_reports_as_logistic_regression_does(binary, estimator, n_iteration_tasks):
    X, y = binary
    recorder = Recorder()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)  # sgd may stop at max_iter
        fitted = estimator.set_callbacks(recorder).fit(X, y)
    name = type(estimator).__name__
    _check_nesting(recorder.events)
    assert _runs_collapsed(recorder.events) == [
        ("setup", name, 0),
        ("begin", "fit", 1),
        ("begin", "iteration", 2),
        ("end", "iteration", 2),
        ("end", "fit", 1),
        ("teardown", name, 0),
    ]
    iterations = [e for e in recorder.events if e[:2] == ("begin", "iteration")]
    assert len(iterations) == n_iteration_tasks(fitted) > 1
    # The fit task sees the data as passed and, at its end, a fitted copy.
    (_, _, begin), *_, (_, _, end) = recorder.seen
    np.testing.assert_array_equal(begin["X"], X)
    np.testing.assert_array_equal(begin["y"], y)
    np.testing.assert_array_equal(end["fitted_estimator"].predict(X), fitted.predict(X))
    assert not hasattr(fitted, "_callback_fit_ctx")  # torn down
    # Each iteration that ran ends with a model at its iterate (the hinge's
    # stages with none); the one begun after the last ends empty.
    ends = [
        kwargs["fitted_estimator"] for hook, context, kwargs in recorder.seen
        if hook == "end" and context.task_name in ITERATION_TASKS
    ]
    assert ends[-1] is None
    if getattr(estimator, "loss", None) != "hinge":
        assert all(model is not None for model in ends[:-1])


def test_a_grid_search_propagates_as_for_logistic_regression(binary):
    X, y = binary
    collapsed = {}
    for estimator in (LogisticRegression(), NeuronClassifier()):
        recorder = PropagatedRecorder()
        GridSearchCV(estimator, {"C": [0.1, 1.0]}, cv=2).set_callbacks(recorder).fit(X, y)
        _check_nesting(recorder.events)
        # The sub-estimator's iterations sit below the search's leaves.
        assert ("begin", "iteration", 4) in recorder.events
        collapsed[type(estimator).__name__] = _runs_collapsed(recorder.events)
    assert collapsed["NeuronClassifier"] == collapsed["LogisticRegression"]


def test_a_hook_stops_the_fit(binary):
    # on_fit_task_end returning True asks to stop: after the first
    # iteration, with the ConvergenceWarning of a fit a callback stopped.
    X, y = binary
    clf = NeuronClassifier(optimizer="lbfgs").set_callbacks(Recorder(stop_iterations=True))
    with pytest.warns(ConvergenceWarning, match="stopped by a callback after 1 iteration"):
        clf.fit(X, y)
    assert clf.n_iter_ == 1


def test_classifier_cv_task_tree(binary):
    # The fit's subtasks: each fold (its grid points, their iterations
    # below), then the refit (its iterations).
    X, y = binary
    recorder = Recorder()
    NeuronClassifierCV(Cs=2, cv=3).set_callbacks(recorder).fit(X, y)
    _check_nesting(recorder.events)
    begun = [(name, depth) for hook, name, depth in recorder.events if hook == "begin"]
    assert [name for name, depth in begun if depth == 2] == ["fold"] * 3 + ["refit"]
    assert sum(name.startswith("C=") for name, _ in begun) == 3 * 2
    assert ("iteration", 4) in begun and ("iteration", 3) in begun  # grid points', refit's
    folds = [
        (context, kwargs) for hook, context, kwargs in recorder.seen
        if hook == "begin" and context.task_name == "fold"
    ]
    assert [context.task_id for context, _ in folds] == [0, 1, 2]
    # A fold's hooks see its training rows.
    assert sum(kwargs["X"].shape[0] for _, kwargs in folds) == 2 * X.shape[0]


@pytest.mark.parametrize(
    "estimator", [NeuronClassifier(), NeuronClassifierCV(Cs=2, cv=2)],
    ids=lambda e: type(e).__name__,
)
def test_scoring_monitor_scores_the_fitted_estimator(binary, estimator):
    # scikit-learn's ScoringMonitor scores the fitted_estimator of the fit's
    # end (and the refit's): the estimator's own score.
    X, y = binary
    monitor = callback.ScoringMonitor(scoring="accuracy")
    estimator.set_callbacks(monitor).fit(X, y)
    scores = {row["task_name"]: row["accuracy"] for row in monitor.get_logs().data}
    assert scores["fit"] == estimator.score(X, y)
    assert scores.get("refit", scores["fit"]) == scores["fit"]


def _iteration_scores(monitor, scoring):
    """The ScoringMonitor's scores of the iteration subtasks, in order, and the
    task names of its rows (each iteration's as "iteration")."""
    rows = monitor.get_logs().data
    names = ["iteration" if r["task_name"] in ITERATION_TASKS else r["task_name"] for r in rows]
    scores = [r[scoring] for r, name in zip(rows, names, strict=True) if name == "iteration"]
    return np.array(scores), names


@pytest.mark.parametrize(
    "estimator, scoring",
    [
        (NeuronClassifier(optimizer="lbfgs"), "neg_log_loss"),
        (NeuronClassifier(optimizer="newton"), "neg_log_loss"),
        (NeuronRegressor(optimizer="lbfgs"), "neg_mean_squared_error"),
    ],
    ids=["lbfgs", "newton", "regressor-lbfgs"],
)
def test_scoring_monitor_scores_each_iteration(binary, estimator, scoring):
    # As for LogisticRegression, ScoringMonitor scores the model at the end
    # of every iteration: the score of iteration k is that of the same fit
    # stopped after k iterations (max_iter=k), to rounding (rtol 1e-12).
    X, y = binary
    y = y.astype(float) if isinstance(estimator, NeuronRegressor) else y
    monitor = callback.ScoringMonitor(scoring=scoring)
    fitted = estimator.set_callbacks(monitor).fit(X, y)
    scores, names = _iteration_scores(monitor, scoring)
    assert len(scores) == fitted.n_iter_ > 2
    stopped = []
    for k in range(1, fitted.n_iter_ + 1):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)  # max_iter=k stops short
            short = clone(estimator).set_params(max_iter=k).fit(X, y)
        stopped.append(get_scorer(scoring)(short, X, y))
    np.testing.assert_allclose(scores, stopped, rtol=1e-12)
    # The scores change along the fit; the last is the fitted model's.
    assert len(np.unique(scores)) > 2
    np.testing.assert_allclose(scores[-1], get_scorer(scoring)(fitted, X, y), rtol=1e-12)
    # LogisticRegression's rows alike: the fit's, then one per iteration.
    reference = callback.ScoringMonitor(scoring="neg_log_loss")
    lr = LogisticRegression().set_callbacks(reference).fit(X, (y > 0).astype(int))
    lr_scores, lr_names = _iteration_scores(reference, "neg_log_loss")
    assert len(lr_scores) == lr.n_iter_[0]
    assert set(lr_names) == set(names) == {"fit", "iteration"}
    assert lr_names.count("fit") == names.count("fit") == 1


def _count_iterate_models(monkeypatch):
    """Count the fitted models built at iterates (a list that grows by one each)."""
    built = []
    original = sklearn_neuron._base.iterate_attributes

    def counting(*args):
        built.append(1)
        return original(*args)

    monkeypatch.setattr(sklearn_neuron._base, "iterate_attributes", counting)
    return built


class WithoutFittedEstimator:
    """A callback of the protocol whose hooks take no ``fitted_estimator``."""

    def setup(self, estimator, context):
        pass

    def teardown(self, estimator, context):
        pass

    def on_fit_task_begin(self, estimator, context, *, X=None):
        pass

    def on_fit_task_end(self, estimator, context, *, X=None):
        pass


def test_models_at_iterates_only_for_hooks_that_take_them(binary, monkeypatch):
    # A fitted copy is built at an iterate only for a hook that takes
    # fitted_estimator: not without callbacks, not for other callbacks; one
    # per iteration for ScoringMonitor (its end hooks take it).
    X, y = binary
    built = _count_iterate_models(monkeypatch)
    NeuronClassifier(optimizer="lbfgs").fit(X, y)
    NeuronClassifier(optimizer="lbfgs", callbacks=[lambda info: None]).fit(X, y)
    NeuronClassifier(optimizer="lbfgs").set_callbacks(WithoutFittedEstimator()).fit(X, y)
    assert built == []
    monitor = callback.ScoringMonitor(scoring="accuracy")
    fitted = NeuronClassifier(optimizer="lbfgs").set_callbacks(monitor).fit(X, y)
    assert len(built) == fitted.n_iter_ > 2


@pytest.mark.parametrize(
    "estimator",
    [
        NeuronClassifier(loss="hinge", optimizer="lbfgs"),
        NeuronRegressor(loss="absolute_error"),
    ],
    ids=["hinge", "lad"],
)
def test_no_model_at_iterates_that_are_not_coefficients(binary, estimator):
    # The hinge's per-output stages and the absolute error's exact solver
    # pass no fitted_estimator at their iterations; the fit's end still does.
    X, y = binary
    y = y.astype(float) if isinstance(estimator, NeuronRegressor) else y
    recorder = Recorder()
    fitted = estimator.set_callbacks(recorder).fit(X, y)
    iterations = [
        kwargs for hook, context, kwargs in recorder.seen
        if hook == "end" and context.task_name == "iteration"
    ]
    assert len(iterations) >= 1
    assert all(kwargs["fitted_estimator"] is None for kwargs in iterations)
    (*_, (_, _, end)) = recorder.seen
    np.testing.assert_array_equal(end["fitted_estimator"].predict(X), fitted.predict(X))


def test_partial_fit_is_one_task(binary):
    X, y = binary
    recorder = Recorder()
    reg = NeuronRegressor(optimizer="sgd", random_state=0).set_callbacks(recorder)
    reg.partial_fit(X, y.astype(float))
    assert recorder.events == [
        ("setup", "NeuronRegressor", 0),
        ("begin", "fit", 1),
        ("end", "fit", 1),
        ("teardown", "NeuronRegressor", 0),
    ]
    assert not hasattr(reg, "_callback_fit_ctx")


def test_without_callbacks_no_task_is_made(binary):
    X, y = binary
    clf = NeuronClassifier()
    assert clf.fit(X, y).score(X, y) > 0.95
    assert not hasattr(clf, "_callback_fit_ctx")


@pytest.mark.slow  # a fresh interpreter importing torch
def test_scikit_learn_without_the_protocol():
    # scikit-learn < 1.9 has no sklearn.callback: the estimators have no
    # set_callbacks and fit as before, their own callbacks included; a search
    # with scikit-learn's callbacks says it cannot pass them on, and runs.
    code = """
import warnings
import sklearn.callback
from sklearn.datasets import load_breast_cancer
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import GridSearchCV
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import scale
# As if scikit-learn had no protocol, once its own modules have what they import.
del sklearn.callback.CallbackSupportMixin
from sklearn_neuron import NeuronClassifier, NeuronClassifierCV
from sklearn_neuron._callbacks import SKLEARN_CALLBACKS
X, y = load_breast_cancer(return_X_y=True)
X = scale(X)
assert not SKLEARN_CALLBACKS and not hasattr(NeuronClassifier(), "set_callbacks")
seen = []
clf = NeuronClassifier(callbacks=[seen.append]).fit(X, y)
assert len(seen) == clf.n_iter_ + 1
NeuronClassifierCV(Cs=2, cv=2).fit(X, y)
class Propagated:
    max_propagation_depth = None
    def setup(self, estimator, context): pass
    def teardown(self, estimator, context): pass
    def on_fit_task_begin(self, estimator, context): pass
    def on_fit_task_end(self, estimator, context): pass
with warnings.catch_warnings(record=True) as caught:
    warnings.simplefilter("always")
    search = GridSearchCV(NeuronClassifier(), {"C": [1.0]}, cv=2)
    search.set_callbacks(Propagated()).fit(X, y)
assert any("does not support callbacks" in str(w.message) for w in caught)
print("ok")
"""
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "ok"
