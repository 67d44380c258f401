"""The regularization path: one objective minimised under a sequence of penalties.

scikit-learn's meaning of ``C`` is mapped to the objective's penalty strengths
here, in one place (:func:`penalty_strengths`): the objective is the mean loss
plus ``l2/2 ||W||^2 + l1 ||W||_1`` with ``l2 = (1 - l1_ratio) / (C sum(s_i))``
and ``l1 = l1_ratio / (C sum(s_i))``, LogisticRegression's objective divided by
``C sum(s_i)``. :func:`regularization_path` fits the penalties in the order
given, each fit starting where the previous one ended, only the penalty
changed between fits (the data are laid out once). An estimator's ``fit`` is
a path of one point (its own penalty, from ``warm_start``'s coefficients or a
cold start); :class:`~sklearn_neuron.NeuronClassifierCV` runs the grid of
``Cs`` from the strongest penalty to the weakest on each fold.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass

import numpy as np
import torch

from .._callbacks import Monitor
from .._objective.protocol import Objective
from .diagnostics import check_penalty_scale
from .dispatch import SolverSettings, solve
from .optimizers import OptimizeResult

#: A point of a path: ``(l2, l1)`` strengths, or None for the objective's own.
Penalty = tuple[float, float] | None


def penalty_strengths(
    C_times_weight_sum: float, l1_ratio: float, estimator_name: str
) -> tuple[float, float]:
    """``(l2, l1)`` of the objective for an inverse strength ``C * sum(s_i)``.

    ``C = inf`` is no penalty; a finite product so small that its inverse
    overflows is refused (:func:`~.diagnostics.check_penalty_scale`).
    """
    if np.isinf(C_times_weight_sum):
        return 0.0, 0.0
    check_penalty_scale(C_times_weight_sum, estimator_name)
    return (1.0 - l1_ratio) / C_times_weight_sum, l1_ratio / C_times_weight_sum


@dataclass
class PathPoint:
    """One fit of a path.

    Attributes
    ----------
    objective : Objective
        The objective with this point's penalty.
    optimizer : str
        The solver that ran (``"auto"`` resolved).
    result : OptimizeResult
        What it returned (``result.theta`` starts the next point).
    """

    objective: Objective
    optimizer: str
    result: OptimizeResult

    @property
    def theta(self) -> torch.Tensor:
        """The fitted parameters, centred (the softmax's null space removed)."""
        return self.objective.center(self.result.theta)


def regularization_path(
    objective: Objective,
    penalties: Iterable[Penalty],
    settings: SolverSettings,
    *,
    start: torch.Tensor | None = None,
    monitor: Callable[[int], Monitor | None] | None = None,
    name: str | None = None,
) -> Iterator[PathPoint]:
    """Minimise ``objective`` under each of ``penalties`` in turn, warm-started.

    Parameters
    ----------
    objective : Objective
        The data and loss, laid out once; each point is
        ``objective.with_penalty(l2, l1)`` (None: ``objective`` itself).
    penalties : iterable of (float, float) or None
        The points' ``(l2, l1)`` strengths (see :func:`penalty_strengths`),
        in the order they are fitted.
    settings : SolverSettings
        The solver and its settings, for every point.
    start : torch.Tensor, optional
        Where the first fit starts; by default ``objective.initial_theta()``.
    monitor : callable, optional
        ``monitor(i)`` gives the :class:`Monitor` of the ``i``-th point's fit
        (called just before it runs), or None.
    name : str, optional
        Base name of the fits' log lines (full-batch solvers only); None for
        an estimator's own fit (see :func:`~.dispatch.solve`).

    Yields
    ------
    PathPoint
        Each point as soon as it is fitted (the next one starts from it).
    """
    theta = objective.initial_theta() if start is None else start
    for index, penalty in enumerate(penalties):
        point = objective if penalty is None else objective.with_penalty(*penalty)
        optimizer, result = solve(
            point, theta, settings, None if monitor is None else monitor(index), name=name
        )
        theta = result.theta
        yield PathPoint(point, optimizer, result)
