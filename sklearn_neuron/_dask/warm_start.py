"""Newton's warm start on Dask data: a fit on a subsample of the blocks, on one worker.

Each full Newton iteration on Dask data reads all of it; from the optimum on a
subsample of the blocks (an estimate of the full one) a few of them reach the
full optimum. :func:`subsample_blocks` picks the blocks (evenly spread, so
that data sorted by time or label are sampled across); the fit itself runs as
one task (:func:`_newton_on_objectives`): the blocks' objectives are joined
into one in-memory objective there, and Newton runs on it locally, starting in
turn from its fit on every ``WARM_START_STRIDE``-th row of a large subsample.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

from .._objective.linear import LinearObjective
from .._objective.wrapper import ObjectiveWrapper
from .blocks import _numpy
from .tasks import _BlockSpec, _cached_block_objective

#: Newton on dask data of at least this many rows starts from its fit on a
#: subsample of the blocks (:meth:`~.objective.DaskObjective.subsample`).
WARM_START_MIN_ROWS = 1_000_000
#: The share of the rows the subsample holds, ...
WARM_START_FRACTION = 1 / 16
#: ... and its rows at least.
WARM_START_SUBSAMPLE_MIN_ROWS = 100_000
#: Newton on a subsample of at least this many rows (on its worker) starts in
#: turn from its fit on every ``WARM_START_STRIDE``-th of them: from there one
#: iteration on all of them meets the stopping rule, where a cold start takes
#: five or six.
WARM_START_STRIDED_MIN_ROWS = 50_000
WARM_START_STRIDE = 4


def subsample_blocks(rows: np.ndarray) -> np.ndarray | None:
    """The blocks of a subsample to warm-start Newton on, or None.

    ``rows`` holds the number of rows of each block. Large data only
    (:data:`WARM_START_MIN_ROWS` rows and 4 blocks at least): about
    :data:`WARM_START_FRACTION` of the rows, and
    :data:`WARM_START_SUBSAMPLE_MIN_ROWS` at least, in whole blocks spread
    over the array; None where that would be more than half of the rows.
    """
    n, n_blocks = int(rows.sum()), rows.size
    if n < WARM_START_MIN_ROWS or n_blocks < 4:
        return None
    wanted = max(n * WARM_START_FRACTION, WARM_START_SUBSAMPLE_MIN_ROWS)
    for k in range(1, n_blocks):
        # k blocks at the centres of k equal stretches of the array
        chosen = np.unique(((np.arange(k) + 0.5) * n_blocks / k).astype(int))
        if rows[chosen].sum() >= wanted:
            break
    else:
        return None
    if float(rows[chosen].sum()) / n > 0.5:
        return None  # blocks too large to subsample
    return chosen


def _joined_objective(
    objectives: list[LinearObjective | None], l2: float, l1: float
) -> LinearObjective:
    """One in-memory objective on the rows of several block objectives (same
    normalisation), with penalty strengths ``l2`` and ``l1``."""
    kept = [o for o in objectives if o is not None]
    first = kept[0]
    if len(kept) == 1:
        return first.with_penalty(l2, l1)
    # The blocks' weights are normalised already: a weight sum of 1 keeps them.
    offsets = [o.offset for o in kept if o.offset is not None]  # all of them, or none
    offset = torch.cat(offsets) if offsets else None
    return LinearObjective(
        torch.cat([o.X for o in kept]), torch.cat([o.target for o in kept]),
        torch.cat([o.weight for o in kept]), first.loss, l2, first.fit_intercept,
        l1=l1, weight_sum=1.0, offset=offset,
    )


def _newton_on_objectives(
    settings: tuple[float, float, float, int], theta: np.ndarray,
    *objectives: LinearObjective | None,
) -> tuple[Any, np.ndarray | None]:
    """Newton on the joined block objectives, in one task: ``(result, hessian)``,
    the result's theta and a Hessian near it (None if not converged) as numpy:
    the last one Newton computed, one quadratically convergent step before
    its result (all the full fit's first step needs: an estimate)."""
    from .._solvers.optimizers import newton

    l2, l1, tol, max_iter = settings
    joined = _joined_objective(list(objectives), l2, l1)
    objective = _KeepsLastHessian(joined)
    theta_t = torch.from_numpy(theta)
    with torch.inference_mode(not joined.loss.uses_autograd):
        strided = _strided_objective(joined)
        result = None
        if strided is not None:
            start = newton(strided, theta_t, tol=tol, max_iter=max_iter)
            if start.converged:
                # One step from there is in the last, quadratic, iterations;
                # a final step would refine a warm start past its sampling error.
                result = newton(objective, start.theta, tol=tol, max_iter=1)
        if result is None or not result.converged:
            theta_t = theta_t if result is None else result.theta
            result = newton(objective, theta_t, tol=tol, max_iter=max_iter)
        hessian = None
        if result.converged:
            last = objective.last
            if last is None:  # converged where it started
                last = objective.hessian(result.theta)
            hessian = _numpy(last)
    result.theta = _numpy(result.theta)
    return result, hessian


class _KeepsLastHessian(ObjectiveWrapper):
    """An in-memory objective that keeps the last Hessian asked of it.

    It forwards what Newton asks of an objective (the
    :class:`~sklearn_neuron._objective.protocol.Objective` protocol) to the
    wrapped one, and records each :meth:`hessian`.
    """

    firth = False
    subsample_newton = None

    def __init__(self, objective: LinearObjective) -> None:
        super().__init__(objective)
        self.last: torch.Tensor | None = None

    def hessian(
        self, theta: torch.Tensor, raw: Any = None, pointwise: Any = None
    ) -> torch.Tensor:
        self.last = self._objective.hessian(theta, raw, pointwise)
        return self.last

    def value_gradient_hessian(self, theta: torch.Tensor) -> Any:
        f, g, raw, H = self._objective.value_gradient_hessian(theta)
        self.last = H
        return f, g, raw, H


def _strided_objective(objective: LinearObjective) -> LinearObjective | None:
    """The objective on every :data:`WARM_START_STRIDE`-th row of a large
    in-memory one, its penalty scaled by that share (its minimiser estimates
    the whole one's, as :meth:`~.objective.DaskObjective.subsample`'s does); or None."""
    n = objective.X.shape[0]
    if n < WARM_START_STRIDED_MIN_ROWS or objective.is_sparse:
        return None
    rows = slice(None, None, WARM_START_STRIDE)
    share = -(-n // WARM_START_STRIDE) / n
    # Row-normalised weights already (the joined objective's): a weight sum of 1 keeps them.
    offset = objective.offset
    return LinearObjective(
        objective.X[rows].contiguous(), objective.target[rows].contiguous(), objective.weight[rows],
        objective.loss, objective.l2 * share, objective.fit_intercept,
        l1=objective.l1 * share, weight_sum=1.0,
        offset=None if offset is None else offset[rows].contiguous(),
    )


def _newton_on_blocks(
    settings: tuple[float, float, float, int], spec: _BlockSpec, theta: np.ndarray,
    *flat_blocks: Any,
) -> tuple[Any, np.ndarray | None]:
    """:func:`_newton_on_objectives` on blocks read for it (data not persisted):
    ``flat_blocks`` is ``X_b, y_b, w_b, o_b`` of each block in turn."""
    blocks = [flat_blocks[i : i + 4] for i in range(0, len(flat_blocks), 4)]
    objectives = [_cached_block_objective(spec, *b) for b in blocks]
    return _newton_on_objectives(settings, theta, *objectives)
