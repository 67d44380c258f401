"""The objective of a fit on Dask data: :class:`DaskObjective`.

A neuron's objective, gradient and Hessian are sums over rows of small pieces
(a number, a vector of ``n_params``, an ``n_params x n_params`` matrix), so a
full-batch fit on data spread over a Dask cluster needs one reduction per
evaluation, with the parameter vector on the driver. :class:`DaskObjective`
implements the :class:`~sklearn_neuron._objective.protocol.Objective` protocol
(and :class:`~sklearn_neuron._objective.protocol.HessianFree`'s products with
vectors, for Newton-CG) that way: each evaluation maps the *same* in-memory
code over the blocks, on the workers (:mod:`.tasks`), and sums the small
results; the penalty and the parameter layout are the in-memory objective's
own objects (:mod:`sklearn_neuron._objective.penalty`), applied on the driver. The
optimizers do not know which objective they run on. It also owns the data's
fingerprint and row bounds (taken along with the first evaluation) and
Newton's subsample warm start (:mod:`.warm_start`).
"""

from __future__ import annotations

import copy
import dataclasses
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any, cast

import numpy as np
import torch

from .._objective.linear import fit_constant
from .._objective.penalty import ParameterLayout, PenalizedLayout, Penalty
from .._objective.protocol import HessianFree, Sums
from .blocks import (
    _SPLIT_EVERY,
    Block,
    _add,
    _blocks,
    _client,
    _compute,
    _held_blocks,
    _holder_groups,
    _is_materialised,
)
from .detect import import_dask
from .tasks import (
    _block_abs_max,
    _BlockSpec,
    _cached_block_objective,
    _constant_terms,
    _data_summaries_block,
    _hessian,
    _hessian_diagonal,
    _hessian_vector_product,
    _offset_sums_block,
    _on_block,
    _on_objective,
    _on_objectives,
    _SubsampleOptimum,
    _value_gradient,
    _value_gradient_hessian,
    _with_data_summaries,
)
from .warm_start import _newton_on_blocks, _newton_on_objectives, subsample_blocks


def _fingerprint_arguments(rows: tuple[int, ...]) -> list[tuple[int, int, np.ndarray]]:
    """Per block of ``rows`` rows: its first row, its rows and the global indices
    of the rows the in-memory fingerprint samples."""
    from .._objective.fingerprint import sampled_rows

    index = sampled_rows(int(sum(rows)))
    starts = np.cumsum((0, *rows))
    return [
        (int(a), int(b) - int(a), index)
        for a, b in zip(starts[:-1], starts[1:], strict=True)
    ]


#: The sign bit of a float64's bits, and all 64 bits.
_SIGN, _ALL = np.uint64(1 << 63), np.uint64((1 << 64) - 1)
#: Bits of the weighted median's key each reduction settles (4 reductions).
_MEDIAN_BITS = 16


def _sortable_keys(values: np.ndarray) -> np.ndarray:
    """Unsigned 64-bit keys in the order of the float64 ``values``."""
    bits = np.ascontiguousarray(values, dtype=np.float64).view(np.uint64)
    return np.where(bits & _SIGN, bits ^ _ALL, bits | _SIGN)


def _key_value(key: int) -> float:
    """The float64 whose :func:`_sortable_keys` key is ``key``."""
    bits = np.uint64(key)
    bits = bits ^ _SIGN if bits & _SIGN else bits ^ _ALL
    return float(np.array([bits], dtype=np.uint64).view(np.float64)[0])


def _median_bins(objective: Any, low: int, shift: int) -> Sums:
    """A block's weights in the ``2**_MEDIAN_BITS`` bins of width ``2**shift`` of
    the target's keys from ``low`` on (:func:`_weighted_median`)."""
    keys = _sortable_keys(objective.target[:, 0].detach().cpu().numpy())
    weight = objective.weight.detach().cpu().numpy().astype(np.float64)
    n_bins = 1 << _MEDIAN_BITS
    inside = keys >= np.uint64(low)
    if shift + _MEDIAN_BITS < 64:
        inside &= keys < np.uint64(low + (n_bins << shift))
    bins = ((keys[inside] - np.uint64(low)) >> np.uint64(shift)).astype(np.int64)
    return (np.bincount(bins, weights=weight[inside], minlength=n_bins),)


def _total(parts: Sequence[Sums | None]) -> Sums:
    """:func:`~.blocks._add` of the blocks' parts (None for an empty block)."""
    total = _add(parts)
    if total is None:  # (validation refuses data without rows first)
        raise ValueError("The dask arrays have no rows: there is nothing to add up.")
    return total


@dataclasses.dataclass(frozen=True)
class PointCurvature:
    """:meth:`DaskObjective.curvature`'s handle: the point, whose per-row
    curvature the workers compute and keep beside their blocks."""

    #: The parameters where the curvature is taken, as the workers receive them.
    theta: np.ndarray


class _BlocksDesign:
    """The design of Dask data as the driver sees it: its rows stay on the
    workers, so what would read them on the driver refuses.

    The solvers that read rows or the whole design matrix (minibatches, the
    hinge's and the absolute error's exact solvers) are refused before a fit,
    saying what to do (:func:`~.validation._prepare`,
    :func:`sklearn_neuron._solvers.dispatch.choose_optimizer`); this is the
    guard behind those refusals.
    """

    is_sparse = False

    def rows(self, index: Any = None) -> torch.Tensor:
        raise ValueError("Selecting rows of dask data on the driver would gather them.")

    # Every other access to rows refuses alike.
    dense = dense_rows = host_rows = scipy_rows = rows


class DaskObjective(PenalizedLayout):
    """The :class:`~sklearn_neuron._objective.protocol.Objective` of a linear model on dask data.

    Every evaluation is a reduction: each block of rows, on its worker, is
    made into a ``LinearObjective`` (normalised by the whole data set's
    weight sum, without penalty) whose value, gradient or Hessian is the
    block's share; the shares are added, and the penalty added on the
    driver, which holds only ``theta`` and the (n_params x n_params)
    results. Hessian-vector products are reductions alike, each worker
    keeping its blocks' per-row curvature at the current point. Methods
    that need the rows themselves (minibatches, the exact absolute-error
    solver) refuse.

    Parameters
    ----------
    X : dask.array.Array of shape (n_samples, n_features)
        Float rows, one chunk of columns.
    y : dask.array.Array of shape (n_samples,)
        Chunked as X's rows.
    sample_weight : dask.array.Array of shape (n_samples,) or None
    encode : callable
        ``encode(y_block, weight_block, dtype) -> (target, weight)``, the
        estimator's encoding of a block (picklable: it runs on the workers).
    loss : NeuronLoss
    l2, l1 : float
    fit_intercept : bool
    weight_sum : float
        Sum of the (class-weighted) sample weights.
    mean_target : torch.Tensor of shape (n_outputs,)
        Weighted mean of the encoded target (the best constant model's, where
        the loss's rule reads only that: ``loss.baseline_from_mean``).
    offset : dask.array.Array of shape (n_samples, n_outputs) or None
        Chunked as X's rows; each block's objective adds its rows' offsets.

    Attributes
    ----------
    layout : ParameterLayout
        How ``theta`` is laid out (:mod:`sklearn_neuron._objective.penalty`).
    penalty : Penalty
        The L2 / L1 terms, the unpenalized intercept and the softmax's free
        directions, the in-memory objective's own object.
    design : object
        The rows as the driver sees them: every access refuses.
    """

    is_sparse = False
    is_small = False
    #: Each evaluation is a reduction over the workers (see ``resolve_optimizer``).
    distributed = True
    #: Plain (not Firth's penalised) likelihood (Firth's wrapper declares True).
    firth = False
    #: ``(blocks, of blocks)`` where this objective is a :meth:`subsample`.
    subsample_blocks: tuple[int, int] | None = None
    #: The share of the rows in those blocks, where this objective is a :meth:`subsample`.
    subsample_share: float = 1.0
    #: Whether Newton starts from a :meth:`subsample`'s optimum (not from a
    #: float32 stage's: :meth:`in_float64`).
    warm_starts: bool = True

    def __init__(
        self, X: Any, y: Any, sample_weight: Any, encode: Callable[..., Any], loss: Any,
        l2: float, fit_intercept: bool, *, l1: float, weight_sum: float,
        mean_target: torch.Tensor, check_finite: bool = False, offset: Any = None,
    ) -> None:
        self.X, self.y, self.sample_weight = X, y, sample_weight
        #: A dask array (n_samples, n_outputs) chunked as X's rows, or None.
        self.offset = offset
        self.loss = loss
        self.fit_intercept = bool(fit_intercept)
        self.n_samples = int(X.shape[0])
        self.n_features = int(X.shape[1])
        self.n_outputs = loss.n_outputs
        self.weight_sum = float(weight_sum)
        self.mean_target = mean_target
        self.dtype = mean_target.dtype
        self.device = torch.device("cpu")
        #: How ``theta`` is laid out, and the penalty on it: the in-memory
        #: objective's own objects (they hold no data).
        self.layout = ParameterLayout(
            self.n_outputs, self.n_features, self.fit_intercept, self.dtype, self.device
        )
        self._set_penalty(l2, l1)
        #: Rows stay on the workers: the driver's access to them refuses.
        self.design = _BlocksDesign()
        self._spec = _BlockSpec(
            encode, loss, self.fit_intercept, self.weight_sum, check_finite=check_finite
        )
        self._client = _client()
        if (
            offset is not None and self._client is not None and _is_materialised(X)
            and _held_blocks(self._client, offset) is None
        ):
            # Persisted X with an offset made for it (validated, rechunked): the
            # offset is persisted too (n x K numbers), so that the blocks keep
            # the persisted data's path (one task per worker, objectives kept).
            offset = self.offset = self._client.persist(offset)
        self._blocks = _blocks(X, y, sample_weight, offset)
        self._abs_max: float | None = None
        self._fingerprint_sums: Sums | None = None  # see fingerprint
        self._row_bounds: tuple[float, ...] | None = None  # see row_bounds
        self._prefetched: tuple | None = None  # see _evaluate
        # Persisted data: build each block's LinearObjective once, on the
        # worker that holds the block (validation, encoding and layout are
        # then not repeated at every evaluation); it shares the block's memory.
        self._built: Sequence[Any] | None = None  # see _objectives
        self._groups: list[tuple[str | None, list[int]]] | None = None  # see _worker_groups
        #: The client's futures of the blocks (persisted data), or None.
        self._held: list[Block] | None = None if self._client is None else _held_blocks(
            self._client, X, y, sample_weight, offset
        )
        if self._held is None and _is_materialised(X):
            import dask

            spec = dask.delayed(self._spec, traverse=False)
            objectives = [dask.delayed(_cached_block_objective)(spec, *b) for b in self._blocks]
            if self._client is not None:
                self._built = self._client.compute(objectives)  # futures on the workers
            else:
                self._built = dask.persist(*objectives)

    @property
    def _objectives(self) -> Sequence[Any] | None:
        """The cached block objectives (futures, or persisted delayed objects),
        or None where each evaluation reads the blocks.

        Blocks persisted on the client's cluster get theirs built at the first
        use, submitted then: Newton's subsample fit, which reads the blocks
        themselves, is submitted before them and so runs first.
        """
        if self._built is None and self._held is not None and self.subsample_blocks is None:
            self._build_on_holders(self._held)
        return self._built

    def _build_on_holders(self, held: list[Block]) -> None:
        """Build the block objectives of persisted blocks, each on the worker
        holding its block, and kept there (a task the scheduler moved would
        take the block along, and each evaluation then the objective back):
        the evaluations' groups are the blocks' holders, known at once.

        The restriction to the holder is loose: a worker lost during a fit
        takes its objectives with it, and a nanny restarts it under another
        address, so a strict restriction would leave them waiting for a
        worker that never returns; loose, the scheduler rebuilds them
        elsewhere (from the blocks, recomputed too) and the fit goes on.
        """
        self._groups = _holder_groups(self._client, [b[0] for b in held])
        built: list[Any] = [None] * len(held)
        for address, group in self._groups:
            # One submission per worker (the scheduler's cost is per submission).
            futures = self._client.map(
                _cached_block_objective, [self._spec] * len(group),
                *zip(*(held[i] for i in group), strict=True), pure=False,
                workers=None if address is None else [address], allow_other_workers=True,
            )
            for i, future in zip(group, futures, strict=True):
                built[i] = future
        self._built = built

    # -- the parameter layout and the penalty (held objects, as in memory) ------
    def _set_penalty(self, l2: float, l1: float) -> None:
        self.l2, self.l1 = float(l2), float(l1)
        self.penalty = Penalty(
            self.layout, self.l2, self.l1, shift_invariant=self.loss.shift_invariant
        )

    def with_penalty(self, l2: float, l1: float = 0.0) -> DaskObjective:
        """The same objective with penalty strengths ``l2`` and ``l1``, sharing the data."""
        other = copy.copy(self)
        other._set_penalty(l2, l1)
        return other

    def in_float64(self, *, kept: bool = False) -> DaskObjective:
        """The same objective in float64 arithmetic: a float32 fit's float64 stage.

        Each evaluation casts its blocks to float64 on their workers as it
        builds their objectives (:class:`~.tasks._BlockSpec`'s ``dtype``),
        and drops them when done: the workers keep the float32 data alone
        (Newton's stage is a few evaluations). With ``kept``, blocks
        persisted on a client's workers are cast once instead, each into a
        float64 block objective kept on its worker while this objective
        lives, as in memory the float64 copy is made once
        (:func:`~sklearn_neuron._solvers.dispatch.float64_objective`): for
        Newton-CG, whose every Hessian-vector product reads the blocks (on
        400,000 x 50 in 8 blocks its float64 stage took 4.5 s cast at each
        read, 1.9 s kept). No subsample warm start is made: the float32
        stage's optimum, where it starts, is the nearer start.
        """
        wide = torch.float64
        other = copy.copy(self)
        other.dtype = wide
        other.mean_target = self.mean_target.to(wide)
        other.layout = ParameterLayout(
            self.n_outputs, self.n_features, self.fit_intercept, wide, self.device
        )
        other._set_penalty(self.l2, self.l1)
        other._spec = dataclasses.replace(self._spec, dtype="float64")
        other._built, other._groups, other._prefetched = None, None, None
        other._held = self._held if kept else None  # (built on their holders at first use)
        other.warm_starts = False
        return other

    def reduce(
        self, function: Callable[..., Sums], *args: Any,
        per_block: Sequence[tuple] | None = None,
    ) -> Sums:
        """Sum over the blocks of ``function(block_objective, *args)`` (tuples of arrays).

        ``per_block``: a tuple of further arguments for each block, appended
        to ``args`` on that block.

        ``function`` runs on the workers (it and ``args`` are pickled); the
        sums are taken in a tree of ``_SPLIT_EVERY``-way additions there, and
        only the total comes to the driver.
        """
        dask, _ = import_dask()
        if self._client is not None and self._objectives is not None:
            return _total(self._client.gather(self._submit(function, args, per_block)))
        per_block = [()] * len(self._blocks) if per_block is None else per_block
        calls = [args + tuple(extra) for extra in per_block]
        spec = dask.delayed(self._spec, traverse=False)
        if self._objectives is not None:
            parts = [
                dask.delayed(_on_objective, pure=False)(
                    function, dask.delayed(call, traverse=False), obj
                )
                for obj, call in zip(self._objectives, calls, strict=True)
            ]
        else:
            parts = [
                dask.delayed(_on_block, pure=False)(
                    function, dask.delayed(call, traverse=False), *b, spec
                )
                for b, call in zip(self._blocks, calls, strict=True)
            ]
        while len(parts) > _SPLIT_EVERY:
            parts = [
                dask.delayed(_add, pure=False)(parts[i : i + _SPLIT_EVERY])
                for i in range(0, len(parts), _SPLIT_EVERY)
            ]
        return _total(dask.compute(*parts))

    def reduce_rows(
        self, function: Callable[..., Sums], per_row: np.ndarray, *args: Any
    ) -> Sums:
        """Sum over the blocks of ``function(block_objective, *args, block_rows)``.

        ``per_row`` holds one value per row of the data (a numpy array on the
        driver: cluster codes, say); each block receives the entries of its own
        rows (cut at the row chunks of X), on its worker.
        """
        if self.subsample_blocks is not None:
            raise ValueError(
                "A per-row reduction needs every block; reduce over the full "
                "objective, not its subsample."
            )
        if len(per_row) != self.n_samples:
            raise ValueError(
                f"A per-row array of {len(per_row)} values does not match the "
                f"{self.n_samples} rows of the data; pass one value per row."
            )
        bounds = np.cumsum((0, *self.X.chunks[0]))
        parts = [(per_row[a:b],) for a, b in zip(bounds[:-1], bounds[1:], strict=True)]
        return self.reduce(function, *args, per_block=parts)

    def _submit(
        self, function: Callable[..., Sums], args: tuple,
        per_block: Sequence[tuple] | None, fitted: Any = None,
    ) -> list[Any]:
        """:meth:`reduce`'s tasks on cached block objectives with a distributed
        client (a list of futures); ``fitted`` as :func:`_on_objectives` takes it.

        One task per worker thread, over the cached block objectives that
        worker holds, submitted directly: no graph to build or optimise on
        the driver, and a few tasks per evaluation instead of one per block
        (the scheduler's per-task cost dominates an evaluation's time otherwise:
        ``benchmarks/RESULTS.md``, Dask).
        """
        per_block = [()] * len(self._blocks) if per_block is None else per_block
        calls = [args + tuple(extra) for extra in per_block]
        extra = {} if fitted is None else {"fitted": fitted}
        objectives = cast(Sequence[Any], self._objectives)  # cached, where this is called
        return [
            self._client.submit(
                _on_objectives, function, [calls[i] for i in group],
                [objectives[i] for i in group],
                workers=None if address is None else [address],
                allow_other_workers=True, pure=False, **extra,
            )
            for address, group in self._worker_groups()
        ]

    def subsample(self) -> DaskObjective | None:
        """The objective on evenly spread blocks, to warm-start Newton; or None.

        The blocks are :func:`~.warm_start.subsample_blocks`'s (large data
        only; none for a subsample). Its data term is the full one's
        restricted to these rows (normalised by the whole weight sum), so its
        penalty is scaled by the share of rows: its minimiser estimates the
        full objective's.
        """
        rows = np.asarray(self.X.chunks[0])
        if not self.warm_starts or self.subsample_blocks is not None:
            return None
        chosen = subsample_blocks(rows)
        if chosen is None:
            return None
        n_blocks = rows.size
        share = float(rows[chosen].sum()) / int(rows.sum())
        other = self.with_penalty(self.l2 * share, self.l1 * share)
        other._blocks = [self._blocks[i] for i in chosen]
        other.subsample_blocks = (len(chosen), n_blocks)  # and no subsample of its own
        if self._held is not None:
            other._held = [self._held[i] for i in chosen]  # its fit reads these
        elif self._built is not None:
            other._built = [self._built[i] for i in chosen]
        other._groups = None
        other.subsample_share = share
        return other

    def subsample_newton(
        self, theta: torch.Tensor, *, tol: float, max_iter: int
    ) -> tuple[Any, torch.Tensor | None, str] | None:
        """Newton on :meth:`subsample`, run as one task on one worker; or None.

        The subsample's blocks (a few, by design) are joined into one
        in-memory objective there and Newton runs on it locally: a fit of
        many small evaluations costs one round trip, not one per evaluation.
        Returns ``(result, hessian, stage)``: the :class:`OptimizeResult`,
        the subsample's Hessian at its optimum divided by its share of the
        rows (an estimate of the full Hessian there), and a name for the
        stage in log lines.
        """
        sub = self.subsample()
        if sub is None:
            return None
        import dask

        settings = (sub.l2, sub.l1, float(tol), int(max_iter))
        theta_np = self._theta(theta)
        if sub._held is not None:
            # From the persisted blocks themselves, ahead of the block
            # objectives still being built: it starts at once, and the
            # first full evaluation waits on it anyway.
            flat = [part for block in sub._held for part in block]
            future = self._client.submit(
                _newton_on_blocks, settings, self._spec, theta_np, *flat, pure=False,
                priority=1,
            )
            prefetch = None
            if self._objectives is not None:
                # Newton's first full evaluation is at the subsample's optimum:
                # submitted now, it follows that fit on the workers without a
                # round trip to the driver between them.
                submitted, args, per_block = self._evaluation(
                    _value_gradient, _SubsampleOptimum()
                )
                prefetch = submitted, self._submit(submitted, args, per_block, fitted=future)
            fitted = future.result()
            if prefetch is not None and fitted[0].converged:
                self._prefetched = (_value_gradient, fitted[0].theta, *prefetch)
            elif prefetch is not None:
                self._client.cancel(prefetch[1])
        elif sub._objectives is not None and self._client is not None:
            fitted = self._client.submit(
                _newton_on_objectives, settings, theta_np, *sub._objectives, pure=False
            ).result()
        elif sub._objectives is not None:
            task = dask.delayed(_newton_on_objectives, pure=False)(
                settings, theta_np, *sub._objectives
            )
            (fitted,) = _compute([task])
        else:
            spec = dask.delayed(self._spec, traverse=False)
            flat = [part for block in sub._blocks for part in block]
            task = dask.delayed(_newton_on_blocks, pure=False)(settings, spec, theta_np, *flat)
            (fitted,) = _compute([task])
        result, hessian = fitted
        # A copy: on a cluster of threads the workers share the object.
        result = dataclasses.replace(result, theta=torch.as_tensor(result.theta, dtype=self.dtype))
        blocks, n_blocks = cast(tuple[int, int], sub.subsample_blocks)
        if hessian is not None:
            hessian = torch.as_tensor(hessian, dtype=self.dtype) / sub.subsample_share
        return result, hessian, f"warm start on {blocks} of {n_blocks} blocks, on a worker"

    def _theta(self, theta: torch.Tensor) -> np.ndarray:
        return theta.detach().cpu().numpy()

    def _worker_groups(self) -> list[tuple[str | None, list[int]]]:
        """``(worker address, block indices)`` pairs: the cached objectives each
        worker holds, split into one group per thread of that worker.

        Found once (where the block objectives live does not change while
        they are kept); an objective whose worker is unknown forms a group
        of its own, which the scheduler places. The restriction of each
        group to its worker is loose: the objectives of a worker lost since
        are rebuilt elsewhere (:meth:`_build_on_holders`), and the scheduler
        takes the group's task to them.
        """
        if self._groups is None:
            self._groups = _holder_groups(self._client, cast(Sequence[Any], self._objectives))
        return self._groups

    # -- value and derivatives ---------------------------------------------
    def initial_theta(self) -> torch.Tensor:
        """Cold start: zero coefficients, intercepts of the best constant model
        (less the offset's mean, as in memory)."""
        theta = self.zeros()
        if self.fit_intercept:
            theta.view(self.n_outputs, -1)[:, -1] = self._baseline(centred=True)
        return theta

    def _baseline(self, centred: bool = False) -> torch.Tensor:
        """The loss's own rule for the best constant; ``centred``, less the offset's mean.

        A rule that reads the target only through its weighted mean
        (``loss.baseline_from_mean``) is applied to that mean; the others
        (Huber, the absolute error) are the weighted median of the target,
        found exactly by :func:`_weighted_median` (a few reductions).
        """
        if self.loss.baseline_from_mean:
            one = torch.ones(1, dtype=self.dtype)
            baseline = self.loss.baseline_raw(self.mean_target.reshape(1, -1), one)
        else:
            baseline = _weighted_median(self)
        if centred and self.offset is not None:
            (mean,) = _compute([self.offset.mean(axis=0)])
            baseline = baseline - torch.as_tensor(mean, dtype=self.dtype)
        return baseline

    def null_raw(self) -> torch.Tensor:
        """The best constant raw output (n_outputs,): without an offset the
        loss's rule; with one, fitted with the offset in place by Newton's
        method, each step one reduction (the blocks add their offsets to it)."""
        if self.offset is None:
            return self._baseline()
        start = self._baseline(centred=True)

        def terms(constant: torch.Tensor) -> Sums:
            return self.reduce(_constant_terms, constant.numpy())

        return fit_constant(terms, start.to(torch.float64)).to(self.dtype)

    def value_gradient(
        self, theta: torch.Tensor, index: torch.Tensor | None = None
    ) -> tuple[torch.Tensor, torch.Tensor, None]:
        """``(f, grad, None)`` at ``theta``: one reduction over the blocks."""
        if index is not None:
            raise ValueError("Minibatches do not read dask blocks; see DaskObjective.")
        f, g = self._evaluate(_value_gradient, self._theta(theta))
        f = torch.as_tensor(f, dtype=self.dtype)
        g = torch.as_tensor(g, dtype=self.dtype)
        return (*self.penalty.add_to(f, g, theta), None)

    def value(self, theta: torch.Tensor, raw: torch.Tensor | None = None) -> torch.Tensor:
        """Objective value at ``theta`` (a 0-d tensor)."""
        return self.value_gradient(theta)[0]

    @property
    def reads_per_evaluation(self) -> int:
        """1 where each evaluation reads the blocks again (data not persisted), else 0.

        Reading then costs more than the arithmetic, so Newton evaluates
        value, gradient and Hessian in one reduction, one read of each block
        (:meth:`value_gradient_hessian`). (``optimizer="auto"`` prefers
        Newton on any dask data: see :attr:`distributed`.)
        """
        return int(self._held is None and self._built is None)

    @property
    def hessian_rows(self) -> int:
        """Rows whose pointwise Hessians a :meth:`hessian` holds at once: the
        largest block's (each worker evaluates its blocks in turn)."""
        return int(max(self.X.chunks[0]))

    def value_gradient_hessian(
        self, theta: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor, None, torch.Tensor]:
        """``(f, grad, None, hessian)`` at ``theta``: one reduction, each block read once."""
        f, g, H = self._evaluate(_value_gradient_hessian, self._theta(theta))
        f, g = self.penalty.add_to(
            torch.as_tensor(f, dtype=self.dtype), torch.as_tensor(g, dtype=self.dtype), theta
        )
        return f, g, None, self.penalty.add_hessian(torch.as_tensor(H, dtype=self.dtype))

    def hessian(
        self, theta: torch.Tensor, raw: Any = None, pointwise: Any = None
    ) -> torch.Tensor:
        """Hessian of the objective at ``theta`` (``raw`` unused): one reduction."""
        if pointwise is not None:
            raise ValueError("A per-row pointwise Hessian does not travel to dask blocks.")
        (H,) = self.reduce(_hessian, self._theta(theta))
        return self.penalty.add_hessian(torch.as_tensor(H, dtype=self.dtype))

    # -- Hessian-free products (Newton-CG) ------------------------------------
    def curvature(self, theta: torch.Tensor, raw: Any = None) -> PointCurvature:
        """The handle of the curvature at ``theta`` (``raw`` unused: the raw
        outputs stay on the workers). No pass: each worker computes its blocks'
        curvature at the first product or diagonal there, and keeps it for
        the next ones at the same point (:func:`~.tasks._block_curvature`)."""
        return PointCurvature(self._theta(theta).copy())

    def hessian_vector_product(self, curvature: PointCurvature, v: torch.Tensor) -> torch.Tensor:
        """The objective's Hessian at ``curvature``'s point times ``v``: one
        reduction of the blocks' ``X_b^T (C_b (X_b V))``, the L2 term added here."""
        (product,) = self.reduce(_hessian_vector_product, curvature.theta, self._theta(v))
        product = torch.as_tensor(product, dtype=self.dtype)
        return product + self.penalty.hessian_vector_product(v) if self.l2 else product

    def hessian_diagonal(self, curvature: PointCurvature) -> torch.Tensor:
        """Diagonal of the objective's Hessian at ``curvature``'s point (the
        preconditioner of Newton-CG): one reduction, the L2 term added here."""
        (diagonal,) = self.reduce(_hessian_diagonal, curvature.theta)
        diagonal = torch.as_tensor(diagonal, dtype=self.dtype)
        return diagonal + self.penalty.l2_flat if self.l2 else diagonal

    def abs_max(self) -> float:
        """Largest absolute entry of X: one reduction, the first time it is asked for."""
        if self._abs_max is None:
            import dask

            parts = [dask.delayed(_block_abs_max)(block[0]) for block in self._blocks]
            self._abs_max = float(max(_compute(parts)))  # NaN propagates
        return self._abs_max

    def fingerprint(self) -> dict[str, Any]:
        """:func:`~sklearn_neuron._objective.fingerprint.data_fingerprint` by one reduction.

        The same sums as in memory (position-weighted targets and weights,
        sampled rows of X times a fixed vector), each block adding its rows'
        terms at their global positions: nothing is gathered. The first
        evaluation of a fit takes them along (:meth:`_evaluate`), saving
        the pass of their own.
        """
        sums = self._fingerprint_sums
        if sums is None:
            per_block = _fingerprint_arguments(self.X.chunks[0])
            sums = self._store_summaries(self.reduce(_data_summaries_block, per_block=per_block))
        target, target_scale, weight, rows, rows_scale = sums
        offset = offset_scale = np.zeros(self.n_outputs)
        if self.offset is not None:
            offset, offset_scale = self.reduce(
                _offset_sums_block, per_block=_fingerprint_arguments(self.X.chunks[0])
            )
        return {
            "shape": np.array(self.X.shape),
            "weight_sum": float(self.weight_sum),
            "target": target,
            "target_scale": target_scale,
            "weight": float(weight),
            "rows": rows,
            "rows_scale": rows_scale,
            "offset": offset,
            "offset_scale": offset_scale,
        }

    def row_bounds(self) -> tuple[float, ...] | None:
        """``(largest |entry|, largest row L1 norm)`` of the design with its
        intercept column (:func:`~sklearn_neuron._solvers.certificate.row_bounds`), or
        None until the first evaluation of the whole data has found them."""
        return self._row_bounds

    def _evaluation(
        self, function: Callable[..., Sums], theta: Any
    ) -> tuple[Callable[..., Sums], tuple, list[tuple] | None]:
        """``(function, args, per_block)`` of :meth:`reduce` for ``function`` at
        ``theta``: the first evaluation of the whole data also takes the
        fingerprint's sums and the row bounds, in the same pass."""
        if self._fingerprint_sums is not None or self.subsample_blocks is not None:
            return function, (theta,), None
        return _with_data_summaries, (function, theta), _fingerprint_arguments(self.X.chunks[0])

    def _evaluate(self, function: Callable[..., Sums], theta: np.ndarray) -> Sums:
        """``reduce(function, theta)``, with the fingerprint's sums on the first
        call (:meth:`_evaluation`); or, if it is of ``function`` at ``theta``,
        the evaluation prefetched at the subsample's optimum."""
        prefetched, self._prefetched = self._prefetched, None
        submitted, args, per_block = self._evaluation(function, theta)
        if prefetched is not None:
            inner, at, as_submitted, parts = prefetched
            if inner is function and as_submitted is submitted and np.array_equal(at, theta):
                return self._evaluated(submitted, _total(self._client.gather(parts)))
            self._client.cancel(parts)
        return self._evaluated(submitted, self.reduce(submitted, *args, per_block=per_block))

    def _evaluated(self, function: Callable[..., Sums], sums: Sums) -> Sums:
        if function is not _with_data_summaries:
            return sums
        self._store_summaries(sums[-7:])
        return sums[:-7]

    def _store_summaries(self, sums: Sums) -> Sums:
        """Keep :func:`_data_summaries_block`'s reduced terms; returns the fingerprint's."""
        self._fingerprint_sums = sums[:5]
        self._row_bounds = tuple(float(bound) for bound in sums[5:])
        return self._fingerprint_sums

    def rows(self, index: torch.Tensor) -> torch.Tensor:
        return self.design.rows(index)


def _weighted_median(objective: DaskObjective) -> torch.Tensor:
    """The weighted median of the (one-column) target, (1,), as in memory
    (:func:`~sklearn_neuron._loss.losses._weighted_median`: the smallest
    value whose cumulative weight reaches half the total).

    Each value's float64 bits are mapped to an order-preserving unsigned
    64-bit key; every reduction adds the blocks' weights in ``2**16`` bins of
    the key range left, and the bin where the cumulative weight reaches
    half narrows it by 16 bits: 4 reductions single out the median's key,
    reading only the target and the weights.
    """
    low, below, half = 0, 0.0, 0.0
    first = 64 - _MEDIAN_BITS
    for shift in range(first, -_MEDIAN_BITS, -_MEDIAN_BITS):
        (bins,) = objective.reduce(_median_bins, low, shift)
        cumulative = below + np.cumsum(bins)
        if shift == first:  # every row is in the first pass's bins
            half = 0.5 * float(cumulative[-1])
        index = min(int(np.searchsorted(cumulative, half)), bins.size - 1)
        below += float(np.sum(bins[:index]))
        low += index << shift
    return torch.tensor([_key_value(low)], dtype=objective.dtype)


if TYPE_CHECKING:  # the type checker verifies the declared protocol

    def _declared(objective: DaskObjective) -> HessianFree:
        return objective
