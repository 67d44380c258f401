"""Progress of a fit: its history, its log lines, its callbacks and a progress bar.

An estimator builds one :class:`Monitor` per ``fit`` (or ``partial_fit``
call) from its ``verbose`` and ``callbacks`` parameters and hands it to the
optimizer, which reports every iteration (epoch) to it. The monitor then

- appends a record to the history (the estimator's ``history_``): a dict
  with the iteration, the objective, the largest entry of the full gradient
  (pseudo-gradient with an L1 term), the step, the validation score where
  ``early_stopping`` computes one, the time since the fit began and the
  solver that ran;
- logs the iteration through ``logging.getLogger("sklearn_neuron")`` at
  INFO level when ``verbose > 0`` (:func:`log_verbose`: once, through the
  handlers the application configured, or on stderr where it configured
  none; the package installs no handler and sets no level);
- calls each callback with a copy of the record. A callback that returns a
  true value stops the fit after that iteration: the estimator keeps the
  parameters reached, and a :class:`~sklearn.exceptions.ConvergenceWarning`
  says that a callback stopped it before ``tol`` was met.

A callback is a callable ``info -> bool or None``, or an object with an
``on_iteration(info)`` method and, optionally, ``on_fit_begin(info)`` and
``on_fit_end(info)``. :class:`ProgressBar` is one: a tqdm bar (tqdm is the
optional dependency of the ``progress`` extra).

Iteration 0 (the starting point) is reported too; what a callback returns
there is ignored: a fit takes at least one step.

Where the installed scikit-learn has its callback protocol
(``sklearn.callback``, scikit-learn >= 1.9), the estimators also take its
callbacks through ``set_callbacks`` (:class:`CallbackSupportMixin`), directly
or propagated by a meta-estimator such as
:class:`~sklearn.model_selection.GridSearchCV`. A fit is then one task of the
protocol (:class:`FitTask`), and the monitor reports each iteration as one of
its subtasks, as :class:`~sklearn.linear_model.LogisticRegression` does
(iteration ``k`` begins when iteration ``k - 1`` is reported and ends when
``k`` is; the one begun after the last is ended empty when the fit stops).
As there, an iteration's hooks may take a ``fitted_estimator``: a copy of the
estimator at the iterate (:meth:`Monitor.fitted_iterates`), so that
:class:`~sklearn.callback.ScoringMonitor` scores every iteration; it is built
only for a hook that takes it.
A hook ``on_fit_task_end`` that returns True stops the fit as a callback of
``callbacks`` does. With an older scikit-learn the estimators have no
``set_callbacks`` and everything else is unchanged.
"""

import copy
import logging
import sys
import time

import numpy as np
from sklearn.utils import _safe_indexing

try:  # scikit-learn >= 1.9: its callback protocol
    from sklearn.callback import CallbackSupportMixin, with_callbacks
except ImportError:  # pragma: no cover - exercised on scikit-learn < 1.9 only

    class CallbackSupportMixin:  # type: ignore[no-redef]
        """Stand-in where scikit-learn has no ``sklearn.callback``: no ``set_callbacks``."""

    def with_callbacks(method):
        """Stand-in where scikit-learn has no ``sklearn.callback``: ``method`` itself."""
        return method


#: Whether the installed scikit-learn has its callback protocol (``set_callbacks``).
SKLEARN_CALLBACKS = hasattr(CallbackSupportMixin, "set_callbacks")

#: The package's logger; ``verbose > 0`` logs each iteration to it at INFO level
#: (through :func:`log_verbose`).
LOGGER = logging.getLogger("sklearn_neuron")

#: How an optimizer's ``stop_reason`` starts when a callback stopped it.
STOPPED_BY_CALLBACK = "stopped by a callback"

#: The keys of each record of ``history_``, in order.
HISTORY_KEYS = (
    "iteration", "objective", "grad_max", "step", "validation_score", "elapsed", "solver",
)


def log_verbose(message):
    """Log one line that ``verbose > 0`` asked for, at INFO, exactly once.

    Where the application configured logging (a handler on the
    ``"sklearn_neuron"`` logger or above it), the line is a record of that
    logger and goes to those handlers, in their format; where it configured
    none, the line goes to the current ``sys.stderr``, as scikit-learn's
    ``verbose`` prints. The package adds no handler and sets no level, so
    nothing is left behind after a fit and no line is shown twice.

    ``verbose`` is the request for the lines, so a level on the root logger
    (``logging.basicConfig()`` leaves WARNING) does not hide them; a level
    above INFO set on the ``"sklearn_neuron"`` logger itself, or
    ``logging.disable``, does.

    Parameters
    ----------
    message : str
        The line, without a newline.
    """
    if LOGGER.disabled or LOGGER.level > logging.INFO or LOGGER.manager.disable >= logging.INFO:
        return
    if not LOGGER.hasHandlers():
        # logging.lastResort would show only warnings and above.
        sys.stderr.write(message + "\n")
        sys.stderr.flush()
        return
    fn, lno, func, _ = LOGGER.findCaller(stacklevel=2)
    # handle() rather than info(): info() would drop the line below an
    # ancestor's level, which verbose overrides (see above).
    LOGGER.handle(LOGGER.makeRecord(LOGGER.name, logging.INFO, fn, lno, message, None, None, func))


def stopped_by_callback(stop_reason):
    """Whether an optimizer's ``stop_reason`` says a callback stopped it."""
    return str(stop_reason).startswith(STOPPED_BY_CALLBACK)


def history_column(history, key):
    """One column of a ``history_`` as a float array (NaN where it is None).

    Parameters
    ----------
    history : list of dict
        A fitted estimator's ``history_``.
    key : str
        One of ``"iteration"``, ``"objective"``, ``"grad_max"``, ``"step"``,
        ``"validation_score"``, ``"elapsed"``.

    Returns
    -------
    column : ndarray of shape (len(history),)

    Examples
    --------
    >>> from sklearn.datasets import load_breast_cancer
    >>> from sklearn.preprocessing import StandardScaler
    >>> from sklearn_neuron import NeuronClassifier, history_column
    >>> X, y = load_breast_cancer(return_X_y=True)
    >>> clf = NeuronClassifier().fit(StandardScaler().fit_transform(X), y)
    >>> objective = history_column(clf.history_, "objective")
    >>> bool((objective == clf.objective_curve_).all())
    True
    """
    if key not in HISTORY_KEYS or key == "solver":
        raise ValueError(
            f"key={key!r} is not a numeric column of history_; use one of "
            f"{[k for k in HISTORY_KEYS if k != 'solver']}."
        )
    return np.array([np.nan if r[key] is None else r[key] for r in history], dtype=float)


def _hooks(callbacks):
    """Each callback as ``(on_iteration, on_fit_begin, on_fit_end)``; refuses others."""
    hooks = []
    for callback in callbacks or ():
        on_iteration = getattr(callback, "on_iteration", None)
        if on_iteration is None:
            if not callable(callback):
                raise TypeError(
                    f"callbacks must hold callables (info -> bool) or objects with an "
                    f"on_iteration(info) method; got {callback!r} of type "
                    f"{type(callback).__name__}. Wrap it in a function, or see "
                    "sklearn_neuron.ProgressBar for an example."
                )
            on_iteration = callback
        hooks.append(
            (
                on_iteration,
                getattr(callback, "on_fit_begin", None),
                getattr(callback, "on_fit_end", None),
            )
        )
    return hooks


class FitTask:
    """One task of scikit-learn's callback protocol: a fit, a fold, a refit.

    It holds the task's :class:`~sklearn.callback.CallbackContext` and what
    the hooks receive (the estimator and the data of the fit as the user
    passed them), and reports iterations as its subtasks
    (:meth:`iteration`). :meth:`root` builds the task of a fit, or gives None
    where no callback could see it (a scikit-learn without the protocol, or
    no callback set and no meta-estimator's task to join); :meth:`subtask`
    builds the tasks below it.

    Parameters
    ----------
    estimator : estimator instance
        The estimator whose fit this is (the hooks' ``estimator``).
    context : sklearn.callback.CallbackContext
        The task's context.
    X, y, sample_weight : array-like or None, default=None
        The data of the fit (the hooks' ``X``, ``y`` and ``metadata``).
    rows : array-like of int, default=None
        The rows of the data that are this task's (a fold's training rows);
        None for all of them.
    """

    def __init__(self, estimator, context, X=None, y=None, sample_weight=None, rows=None):
        self.estimator = estimator
        self.context = context
        self._data = {"X": X, "y": y, "sample_weight": sample_weight}
        self._rows = rows
        self._iteration = None

    @classmethod
    def root(
        cls, estimator, X=None, y=None, sample_weight=None, *, max_subtasks=None,
        sequential_subtasks=True,
    ):
        """The task of ``estimator``'s fit, begun; None where no callback could see it.

        Once per fit, from a method that scikit-learn's ``_fit_context`` or
        ``with_callbacks`` wraps (they tear the callbacks down).
        ``max_subtasks=None``: how many iterations a fit runs is not known
        in advance (a minibatch fit's Newton steps come on top of its epochs).
        """
        init = getattr(estimator, "_init_callback_context", None)
        # No callback set here nor a meta-estimator's task to join: nobody
        # would see the task (LogisticRegression skips its bridge alike).
        if init is None or not (
            hasattr(estimator, "_skl_callbacks") or hasattr(estimator, "_parent_callback_ctx")
        ):
            return None
        context = init(max_subtasks=max_subtasks, sequential_subtasks=sequential_subtasks)
        return cls(estimator, context, X, y, sample_weight).begin()

    def subtask(self, name, *, task_id=None, max_subtasks=None, rows=None):
        """A subtask named ``name``, not begun, on this task's data or its ``rows``.

        ``rows`` (a fold's training rows) are taken from the data only when
        a hook asks for ``X``, ``y`` or ``metadata``; without them the
        subtask has this task's rows.
        """
        context = self.context.subcontext(
            task_name=name, task_id=task_id, max_subtasks=max_subtasks
        )
        rows = self._rows if rows is None else rows
        return FitTask(self.estimator, context, **self._data, rows=rows)

    def _hook_data(self):
        def data(key):
            value = self._data[key]
            if value is None or self._rows is None:
                return value
            # A callable is evaluated by the protocol when a hook asks for it.
            return lambda: _safe_indexing(value, self._rows)

        weight = data("sample_weight")
        return {
            "X": data("X"),
            "y": data("y"),
            "metadata": None if weight is None else lambda: {
                "sample_weight": weight() if callable(weight) else weight
            },
        }

    def begin(self):
        """Call the hooks' ``on_fit_task_begin``; return the task."""
        self.context.call_on_fit_task_begin(estimator=self.estimator, **self._hook_data())
        return self

    def end(self, *, fitted=False):
        """End the task (an open iteration first); return whether a hook asked to stop.

        ``fitted``: the estimator holds the task's result, so the hooks may
        have a ``fitted_estimator`` (a copy of it).
        """
        self.close_iterations()
        return bool(
            self.context.call_on_fit_task_end(
                estimator=self.estimator,
                **self._hook_data(),
                reconstruction_attributes={} if fitted else None,
            )
        )

    def iteration(self, iteration, attributes=None):
        """Report ``iteration`` (0: a starting point); return whether a hook asked to stop.

        It ends the iteration subtask begun at the previous report and
        begins the next one; a leaf task (``max_subtasks=0``) has none.
        ``attributes``: a callable giving the fitted attributes at the
        iterate (the protocol's ``reconstruction_attributes``), or None; the
        protocol calls it only for a hook that takes ``fitted_estimator``.
        """
        if self.context.max_subtasks == 0:
            return False
        stop = False
        if self._iteration is not None and iteration > 0:
            stop = bool(
                self._iteration.call_on_fit_task_end(
                    estimator=self.estimator,
                    **self._hook_data(),
                    reconstruction_attributes=attributes,
                )
            )
            self._iteration = None
        if self._iteration is None:
            # The next iteration begins at this iterate, as LogisticRegression's do.
            self._iteration = self.context.subcontext(task_name="iteration")
            self._iteration.call_on_fit_task_begin(
                estimator=self.estimator,
                **self._hook_data(),
                reconstruction_attributes=attributes,
            )
        return stop

    def close_iterations(self):
        """End the iteration begun after the last one reported: it never ran (empty)."""
        if self._iteration is not None:
            self._iteration.call_on_fit_task_end(estimator=self.estimator)
            self._iteration = None


class Monitor:
    """What a fit reports to: history, logging and callbacks (see the module docstring).

    Parameters
    ----------
    verbose : int, default=0
        Log each iteration when positive.
    callbacks : list, default=None
        Callables or objects with ``on_iteration``.
    history : list of dict, default=None
        Records to append to (``partial_fit`` continues its previous ones).
    estimator : str, default=""
        Name of the estimator, for the callbacks' ``on_fit_begin``.
    max_iter : int, default=None
        The iteration budget, for the callbacks' ``on_fit_begin``.
    task : FitTask, default=None
        The task of scikit-learn's callback protocol whose subtasks the
        iterations are; None reports to no such task.
    """

    def __init__(
        self, verbose=0, callbacks=None, history=None, estimator="", max_iter=None, task=None
    ):
        self.verbose = verbose
        self.task = task
        self.history = [] if history is None else history
        self.stopped = False
        self._hooks = _hooks(callbacks)
        self._begin_info = {"estimator": estimator, "max_iter": max_iter}
        self._begun = False
        self._validation = None
        self._scored = (None, None)
        self._iterate_attributes = None
        self._start = time.perf_counter()

    @classmethod
    def for_estimator(cls, estimator, history=None, *, data=(), task=None):
        """The monitor of one fit of ``estimator`` (its ``verbose`` and ``callbacks``).

        Its iterations are subtasks of ``task``; by default of the fit's own
        task of scikit-learn's callback protocol, begun here with ``data``
        (``(X, y, sample_weight)`` as passed to ``fit``) and ended by
        :meth:`fitted`.
        """
        if task is None:
            task = FitTask.root(estimator, *data)
        return cls(
            verbose=estimator.verbose,
            callbacks=getattr(estimator, "callbacks", None),
            history=history,
            estimator=type(estimator).__name__,
            max_iter=getattr(estimator, "max_iter", None),
            task=task,
        )

    def validation_score(self, function):
        """``function`` (``theta -> score``), computed once per epoch for both the
        training loop and the history.

        The epoch's record, reported before the loop scores the epoch, holds
        the score: the monitor computes it there and the loop's own call for
        the same ``theta`` returns it.
        """
        self._validation = function

        def score(theta):
            if theta is self._scored[0]:
                return self._scored[1]
            return function(theta)

        return score

    def fitted_iterates(self, function):
        """Give the protocol's hooks a fitted estimator at each iterate.

        ``function`` (``theta -> dict``) gives the fitted attributes at an
        iterate ``theta`` (see :func:`iterate_attributes`). The iteration
        subtasks' hooks then may take ``fitted_estimator`` (a copy of the
        estimator with those attributes), as LogisticRegression's take one
        at each L-BFGS iterate; ``function`` runs only when a hook takes it.
        Without this call, or for an iteration reported without ``theta``
        (the hinge's per-output stages, the absolute error's exact solver:
        their iterates are not the fit's coefficients), the iterations'
        hooks get ``fitted_estimator=None``.
        """
        self._iterate_attributes = function

    def report(self, name, iteration, objective, grad_max, step=None, *, unit="iter",
               theta=None):
        """Record, log and call back one iteration; return whether to stop the fit."""
        if not self._begun:
            self._begun = True
            for _, on_fit_begin, _ in self._hooks:
                if on_fit_begin is not None:
                    on_fit_begin(dict(self._begin_info))
        score = None
        if self._validation is not None and iteration > 0 and theta is not None:
            score = float(self._validation(theta))
            self._scored = (theta, score)
        record = {
            "iteration": int(iteration),
            "objective": float(objective),
            "grad_max": float(grad_max),
            "step": None if step is None else float(step),
            "validation_score": score,
            "elapsed": time.perf_counter() - self._start,
            "solver": name,
        }
        self.history.append(record)
        if self.verbose:
            log_verbose(_message(record, unit))
        stop = False
        for on_iteration, _, _ in self._hooks:
            answer = on_iteration(dict(record))
            stop = stop or (answer is not None and bool(answer))
        if self.task is not None:
            attributes = None
            if self._iterate_attributes is not None and theta is not None:
                # Lazy: the protocol calls it only for a hook taking fitted_estimator.
                def attributes(function=self._iterate_attributes, theta=theta):
                    return function(theta)
            stop = self.task.iteration(iteration, attributes) or stop
        if stop and iteration > 0:
            self.stopped = True
            return True
        return False

    def end(self, result):
        """Tell the callbacks that the fit ended, with how (``result``: OptimizeResult)."""
        if self.task is not None:
            self.task.close_iterations()
        if not self._begun:
            return
        info = {
            "n_iter": int(result.n_iter),
            "converged": bool(result.converged),
            "stop_reason": result.stop_reason,
        }
        for _, _, on_fit_end in self._hooks:
            if on_fit_end is not None:
                on_fit_end(dict(info))

    def fitted(self):
        """End the protocol's task, the estimator now fitted (after :meth:`end`)."""
        if self.task is not None:
            self.task.end(fitted=True)


def iterate_attributes(estimator, objective, theta):
    """The fitted attributes of ``estimator`` at the iterate ``theta`` of ``objective``.

    The coefficients are stored as the end of a fit stores them (centred,
    unpacked, through ``_set_coefficients``), on a shallow copy of
    ``estimator``; the attributes that this sets are returned, for
    scikit-learn's callback protocol to set on its own copy
    (``reconstruction_attributes``). ``estimator`` is left as it is.

    Parameters
    ----------
    estimator : BaseNeuron
        The estimator being fitted (its ``classes_`` and ``n_features_in_``
        already set).
    objective : LinearObjective
        The objective whose iterate ``theta`` is.
    theta : torch.Tensor
        The iterate.

    Returns
    -------
    attributes : dict
    """
    fitted = copy.copy(estimator)
    before = dict(vars(fitted))
    coef, intercept = objective.unpack(objective.center(theta))
    fitted._set_coefficients(coef, intercept, objective.loss.activation.name)
    attributes = {
        key: value for key, value in vars(fitted).items()
        if key not in before or before[key] is not value
    }
    # A module cached by an earlier fit would predict with its coefficients.
    attributes["_module"] = None
    return attributes


def _message(record, unit):
    """The log line of one record (the lines the optimizers printed before)."""
    line = (
        f"[{record['solver']}] {unit} {record['iteration']}: "
        f"objective={record['objective']:.10g}  max|grad|={record['grad_max']:.3e}"
    )
    if record["step"] is not None:
        line += f"  {'lr' if unit == 'epoch' else 'step'}={record['step']:.3g}"
    if record["validation_score"] is not None:
        line += f"  validation={record['validation_score']:.6g}"
    return line


def stopped_message(estimator, optimizer, result, tol, unit="iterations"):
    """The ConvergenceWarning of a fit that a callback stopped."""
    return (
        f"{estimator} (optimizer={optimizer!r}) was stopped by a callback after "
        f"{result.n_iter} {unit}, before its stopping rule was met (max|gradient| = "
        f"{result.grad_max:.3g}, tol = {tol:.3g}): the coefficients are those reached "
        f"when it stopped, not the optimum ({result.stop_reason})."
    )


class ProgressBar:
    """A tqdm progress bar over the iterations (epochs) of each fit, as a callback.

    Pass it in ``callbacks``; tqdm is an optional dependency
    (``pip install 'sklearn-neuron[progress]'``). The bar counts up to
    ``max_iter``, shows the objective and the largest gradient entry, and
    closes when the fit ends.

    Parameters
    ----------
    **tqdm_kwargs : dict
        Passed to ``tqdm.tqdm`` (e.g. ``leave=False``, ``file=sys.stdout``);
        ``total`` and ``desc`` default to ``max_iter`` and the estimator's name.

    Examples
    --------
    >>> import io
    >>> from sklearn.datasets import load_breast_cancer
    >>> from sklearn_neuron import NeuronClassifier, ProgressBar
    >>> X, y = load_breast_cancer(return_X_y=True)
    >>> out = io.StringIO()
    >>> clf = NeuronClassifier(callbacks=[ProgressBar(file=out)]).fit(X / X.max(0), y)
    >>> "NeuronClassifier" in out.getvalue()
    True
    """

    def __init__(self, **tqdm_kwargs):
        try:
            import tqdm  # noqa: F401
        except ImportError as exc:
            raise ImportError(
                "ProgressBar needs tqdm, which is not installed: "
                "pip install 'sklearn-neuron[progress]' (or pip install tqdm)."
            ) from exc
        self.tqdm_kwargs = tqdm_kwargs
        self._bar = None

    def on_fit_begin(self, info):
        """Open a bar of ``info["max_iter"]`` steps named ``info["estimator"]``."""
        from tqdm.auto import tqdm

        self._close()
        kwargs = {"total": info["max_iter"], "desc": info["estimator"], **self.tqdm_kwargs}
        self._bar = tqdm(**kwargs)

    def on_iteration(self, info):
        """Advance the bar by one iteration and show its objective and gradient."""
        if self._bar is None or info["iteration"] == 0:
            return
        self._bar.set_postfix(
            objective=f"{info['objective']:.6g}", grad=f"{info['grad_max']:.2e}", refresh=False
        )
        self._bar.update(1)

    def on_fit_end(self, info):
        """Close the bar."""
        self._close()

    def _close(self):
        if self._bar is not None:
            self._bar.close()
            self._bar = None

    def __getstate__(self):
        # A live bar (a fit that failed) is not part of the callback's state.
        return {**vars(self), "_bar": None}
