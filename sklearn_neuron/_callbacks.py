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
"""

import logging
import sys
import time

import numpy as np

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
    """

    def __init__(self, verbose=0, callbacks=None, history=None, estimator="", max_iter=None):
        self.verbose = verbose
        self.history = [] if history is None else history
        self.stopped = False
        self._hooks = _hooks(callbacks)
        self._begin_info = {"estimator": estimator, "max_iter": max_iter}
        self._begun = False
        self._validation = None
        self._scored = (None, None)
        self._start = time.perf_counter()

    @classmethod
    def for_estimator(cls, estimator, history=None):
        """The monitor of one fit of ``estimator`` (its ``verbose`` and ``callbacks``)."""
        return cls(
            verbose=estimator.verbose,
            callbacks=getattr(estimator, "callbacks", None),
            history=history,
            estimator=type(estimator).__name__,
            max_iter=getattr(estimator, "max_iter", None),
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
        if stop and iteration > 0:
            self.stopped = True
            return True
        return False

    def end(self, result):
        """Tell the callbacks that the fit ended, with how (``result``: OptimizeResult)."""
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
