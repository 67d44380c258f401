"""How the study fits a model: the estimators' names, the study's settings, recorded fits.

The loss and optimizer names come from the public estimators'
``_parameter_constraints``; the settings a study fits each optimizer with
(:func:`neuron_params`), and the record of each fit's time and convergence
(:func:`recorded_fit`), are here, shared by the runs, the peers and the 2-D
problem.
"""

from __future__ import annotations

import platform
import time
import warnings
from collections.abc import Callable, Iterable, Iterator, Mapping
from datetime import datetime, timezone
from typing import Any, TypeVar

import numpy as np
from numpy.typing import ArrayLike
from sklearn.base import BaseEstimator
from sklearn.exceptions import ConvergenceWarning

from .. import NeuronClassifier, NeuronRegressor
from .._loss.losses import CLASSIFICATION_LOSSES
from .options import EXACT_LAD

_T = TypeVar("_T")


#: Optimizers that use the whole data at every step; the others are stochastic.
FULL_BATCH_OPTIMIZERS = ("newton", "lbfgs")

#: The default study: both full-batch optimizers and one minibatch optimizer,
#: SGD (accelerated SVRG with its automatic step and momentum: on breast_cancer
#: it reaches the optimum of the smooth convex losses within the study's
#: epochs, where Adam stops short on the piecewise-quadratic ones). Every
#: optimizer can be asked for with --optimizers.
DEFAULT_OPTIMIZERS = ("newton", "lbfgs", "sgd")

#: Epochs given to a minibatch optimizer in the study.
STUDY_EPOCHS = 300

#: Seed of the folds and of the stochastic optimizers.
SEED = 0


def _options(estimator_class: type[BaseEstimator], parameter: str) -> set[str]:
    """The string options of ``parameter`` in the estimator's constraints."""
    for constraint in estimator_class._parameter_constraints.get(parameter, []):
        options = getattr(constraint, "options", None)
        if options:
            return set(options)
    return set()


def available_optimizers(estimator_class: type[BaseEstimator] = NeuronClassifier) -> list[str]:
    """Optimizer names the estimator accepts ("auto" excluded): full-batch first."""
    names = _options(estimator_class, "optimizer") - {"auto"}
    full = [name for name in FULL_BATCH_OPTIMIZERS if name in names]
    return full + sorted(names - set(full))


def classification_losses() -> list[str]:
    """Loss names NeuronClassifier accepts, in the registry's order."""
    return list(CLASSIFICATION_LOSSES)


def regression_losses() -> list[str]:
    """Loss names NeuronRegressor accepts, the GLM families first."""
    preferred = [
        "squared_error",
        "poisson",
        "gamma",
        "tweedie",
        "huber",
        "absolute_error",
    ]
    names = _options(NeuronRegressor, "loss")
    return [n for n in preferred if n in names] + sorted(names - set(preferred))


def environment() -> dict[str, Any]:
    """Versions of the packages a study's numbers depend on, and the date (UTC)."""
    import sklearn
    import torch

    from .. import __version__

    return {
        "versions": {
            "sklearn-neuron": __version__,
            "torch": torch.__version__,
            "scikit-learn": sklearn.__version__,
            "numpy": np.__version__,
            "python": platform.python_version(),
        },
        "date": datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
    }


def iteration_unit(optimizer: str) -> str:
    """What ``n_iter_`` counts for ``optimizer``: iterations or epochs."""
    full_batch = (*FULL_BATCH_OPTIMIZERS, EXACT_LAD)  # lad: HiGHS's simplex iterations
    return "iterations" if optimizer in full_batch else "epochs"


def fit_settings(
    estimator_class: type[BaseEstimator],
    optimizers: Iterable[str],
    overrides: Mapping[str, Mapping[str, Any]] | None = None,
) -> dict[str, dict[str, Any]]:
    """Per optimizer, the settings the study fits it with (and its unit of ``max_iter``)."""
    defaults = estimator_class().get_params()
    settings = {}
    for optimizer in optimizers:
        params = neuron_params(
            estimator_class, optimizer, {}, (overrides or {}).get(optimizer)
        )
        shown = {
            key: params.get(key, defaults[key])
            for key in ("tol", "max_iter", "learning_rate", "batch_size")
            if key in defaults
            and (optimizer not in FULL_BATCH_OPTIMIZERS or key in ("tol", "max_iter"))
        }
        settings[optimizer] = {**shown, "max_iter_unit": iteration_unit(optimizer)}
    return settings


def neuron_params(
    estimator_class: type[BaseEstimator],
    optimizer: str,
    extra: Mapping[str, Any],
    overrides: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """Settings for a study fit: full-batch optimizers run to a tight tolerance.

    Minibatch optimizers keep their own learning rate and ``tol`` and get
    ``STUDY_EPOCHS`` epochs: they are compared as a user would run them, and
    the verdict says how close that gets. ``overrides`` (a dict of
    parameters) replaces any of these.
    """
    params = {"optimizer": optimizer, "random_state": SEED, **extra}
    if optimizer == EXACT_LAD:
        # NeuronRegressor's "auto" solves the absolute error exactly: an LP
        # (unpenalized), with no tolerance to tighten.
        params["optimizer"] = "auto"
    elif optimizer in FULL_BATCH_OPTIMIZERS:
        params.update(tol=1e-10, max_iter=500)
    else:
        params.update(max_iter=STUDY_EPOCHS)
    params.update(overrides or {})
    accepted = estimator_class().get_params()
    return {key: value for key, value in params.items() if key in accepted}


def recorded_fit(estimator: BaseEstimator, X: ArrayLike, y: ArrayLike) -> tuple[float, bool]:
    """Fit ``estimator``; return ``(seconds, converged)``.

    A ConvergenceWarning is caught and recorded as ``converged=False`` (as is
    a final step whose ``converged_`` is False): the study shows every fit's
    convergence in its table and verdict rather than on stderr, once per
    fold. Other warnings pass through.
    """
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", ConvergenceWarning)
        start = time.perf_counter()
        estimator.fit(X, y)
        seconds = time.perf_counter() - start
    stopped = False
    for w in caught:
        if issubclass(w.category, ConvergenceWarning):
            stopped = True
        else:
            warnings.warn_explicit(w.message, w.category, w.filename, w.lineno)
    final = estimator[-1] if hasattr(estimator, "steps") else estimator
    converged = not stopped and getattr(final, "converged_", True) is not False
    return seconds, converged


def quiet_fit(estimator: BaseEstimator, X: ArrayLike, y: ArrayLike) -> float:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        start = time.perf_counter()
        estimator.fit(X, y)
        return time.perf_counter() - start


def advancing(items: Iterable[_T], advance: Callable[[], object] | None) -> Iterator[_T]:
    """``items``, calling ``advance()`` once the loop's body is done with each."""
    for item in items:
        yield item
        if advance is not None:
            advance()


def fit_or_skip(
    neuron: BaseEstimator,
    X: ArrayLike,
    y: ArrayLike,
    row: dict[str, Any],
    rows: list[dict[str, Any]],
    progress: Callable[[str], object],
    position: str,
) -> bool:
    """Fit ``neuron`` on (X, y); return whether it was fitted.

    A ValueError means its loss and optimizer do not go together (Newton on
    hinge, say): the row is recorded as incompatible, with the first clause
    of the message, and the progress line says so.
    """
    try:
        quiet_fit(neuron, X, y)
    except ValueError as exc:
        rows.append({**row, "status": "incompatible", "note": str(exc).split(";")[0]})
        progress(f"{position} {row['loss']} / {row['optimizer']}: skipped ({exc})")
        return False
    return True
