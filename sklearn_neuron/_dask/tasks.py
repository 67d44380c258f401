"""What runs on the workers: the in-memory objective of one block, and what it evaluates.

Each block of rows becomes a :class:`~sklearn_neuron._objective.linear.LinearObjective`
(:func:`_block_objective`): no penalty, normalised by the whole data set's weight
sum, so that its value, gradient and Hessian are the block's share of the whole
objective's. The functions here are what the driver asks of such objectives
(value and gradient, Hessian, both in one read, Newton-CG's Hessian-vector
products and Hessian diagonal, from a per-row curvature each worker keeps for
one point, the fingerprint's and the row bounds' terms); each returns a tuple
of arrays that :func:`~.blocks._add` sums. They are named in the scheduler's
task keys (``_on_objectives``, ``_on_block``).
"""

from __future__ import annotations

import threading
import weakref
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from .._objective.linear import LinearObjective
from .._objective.protocol import Curvature, Sums
from .._solvers.certificate import row_bounds
from .._validation import to_tensor
from .blocks import _add, _Maximum, _numpy
from .validation import _raise_x_not_finite, _x_finite


@dataclass(frozen=True)
class _BlockSpec:
    """What a worker needs, besides its block, to build the block's objective."""

    #: ``encode(y_block, weight_block, dtype) -> (target, weight)``, the
    #: estimator's encoding of a block (picklable: it runs on the workers).
    encode: Callable[..., tuple[torch.Tensor, torch.Tensor]]
    loss: Any
    fit_intercept: bool
    weight_sum: float
    #: Check X's block for NaN and infinity (data validated where they are read).
    check_finite: bool = False
    #: The dtype X's block is cast to as its objective is built (``"float64"``
    #: for the float64 stage of a float32 fit), or None for the block's own:
    #: the data stay in their dtype on the workers, each cast block lives as
    #: long as its evaluation.
    dtype: str | None = None


def _block_objective(
    spec: _BlockSpec, X_b: np.ndarray, y_b: np.ndarray, w_b: np.ndarray | None,
    o_b: np.ndarray | None = None,
) -> LinearObjective:
    """The in-memory objective on one block: no penalty, the whole set's normalisation
    (``o_b`` the block's offset, or None)."""
    if spec.check_finite and not _x_finite(X_b):
        _raise_x_not_finite()
    if spec.dtype is not None:
        X_b = X_b.astype(spec.dtype, copy=False)
    X_t = to_tensor(X_b, torch.device("cpu"))
    target, weight = spec.encode(y_b, w_b, X_t.dtype)
    offset = None if o_b is None else to_tensor(np.asarray(o_b), torch.device("cpu"), X_t.dtype)
    return LinearObjective(
        X_t, target, weight, spec.loss, 0.0, spec.fit_intercept, weight_sum=spec.weight_sum,
        offset=offset,
    )


def _cached_block_objective(
    spec: _BlockSpec, X_b: np.ndarray, y_b: np.ndarray, w_b: np.ndarray | None,
    o_b: np.ndarray | None = None,
) -> LinearObjective | None:
    """The block's objective, kept on its worker (None for an empty block)."""
    if X_b.shape[0] == 0:
        return None
    return _block_objective(spec, X_b, y_b, w_b, o_b)


def _on_block(
    function: Callable[..., Sums], args: tuple, X_b: np.ndarray, y_b: np.ndarray,
    w_b: np.ndarray | None, o_b: np.ndarray | None, spec: _BlockSpec,
) -> Sums | None:
    """``function(block_objective, *args)`` on the worker; None for an empty block."""
    return _on_objective(function, args, _cached_block_objective(spec, X_b, y_b, w_b, o_b))


def _on_objective(
    function: Callable[..., Sums], args: tuple, objective: LinearObjective | None
) -> Sums | None:
    """``function(objective, *args)`` on a (cached) block objective; None for none."""
    if objective is None:
        return None
    with torch.inference_mode(not objective.loss.uses_autograd):
        return function(objective, *args)


class _SubsampleOptimum:
    """In a prefetched evaluation's arguments, the place of the subsample fit's
    theta, which the worker reads from that fit's result (see
    :meth:`~.objective.DaskObjective.subsample_newton`)."""


def _on_objectives(
    function: Callable[..., Sums], calls: Sequence[tuple],
    objectives: Sequence[LinearObjective | None], fitted: tuple[Any, Any] | None = None,
) -> Sums | None:
    """The sum of :func:`_on_objective` over several block objectives of one worker.

    ``fitted``, the result of :func:`~.warm_start._newton_on_objectives`, puts
    its theta where the calls' arguments hold a :class:`_SubsampleOptimum`
    (None, and nothing evaluated, if that fit did not converge).
    """
    if fitted is not None:
        result, _ = fitted
        if not result.converged:
            return None
        calls = [
            tuple(_numpy(result.theta) if isinstance(a, _SubsampleOptimum) else a for a in args)
            for args in calls
        ]
    return _add([
        _on_objective(function, args, objective)
        for args, objective in zip(calls, objectives, strict=True)
    ])


# -- evaluations -----------------------------------------------------------------------
def _value_gradient(objective: LinearObjective, theta: np.ndarray) -> Sums:
    f, g, _ = objective.value_gradient(torch.from_numpy(theta))
    return _numpy(f), _numpy(g)


def _hessian(objective: LinearObjective, theta: np.ndarray) -> Sums:
    theta_t = torch.from_numpy(theta)
    return (_numpy(objective.hessian(theta_t)),)  # chunked on a large block: no raw kept


def _value_gradient_hessian(objective: LinearObjective, theta: np.ndarray) -> Sums:
    """Value, gradient and Hessian of a block read once (one pass over a large block)."""
    f, g, _, H = objective.value_gradient_hessian(torch.from_numpy(theta))
    return _numpy(f), _numpy(g), _numpy(H)


# -- Hessian-free products: the curvature kept on the worker, one point at a time ----------
#: Per block objective on this worker, ``(theta, curvature)``: the curvature
#: (:meth:`~sklearn_neuron._objective.linear.LinearObjective.curvature`) at
#: the last point asked for, so that the Hessian-vector products of one
#: Newton-CG iteration do not compute the per-row curvature again. One point
#: per block bounds it: an entry holds a few (rows, outputs) arrays of the
#: block (the softmax's probabilities and their weighted copies; rows x
#: outputs x outputs for other losses of several coupled outputs), and is
#: replaced at the next point; keyed weakly, it goes with the block objective
#: (a block read afresh at each evaluation, data not persisted, keeps none).
_CURVATURES: weakref.WeakKeyDictionary[LinearObjective, tuple[np.ndarray, Curvature]] = (
    weakref.WeakKeyDictionary()
)
_CURVATURES_LOCK = threading.Lock()  # a worker's threads share the cache


def _block_curvature(objective: LinearObjective, theta: np.ndarray) -> Curvature:
    """The block's curvature at ``theta``: the kept one if it is at ``theta``."""
    with _CURVATURES_LOCK:
        kept = _CURVATURES.get(objective)
    if kept is not None and np.array_equal(kept[0], theta):
        return kept[1]
    curvature = objective.curvature(torch.from_numpy(theta))
    with _CURVATURES_LOCK:
        _CURVATURES[objective] = (theta.copy(), curvature)
    return curvature


def _hessian_vector_product(objective: LinearObjective, theta: np.ndarray, v: np.ndarray) -> Sums:
    """The block's share of the data term's Hessian at ``theta`` times ``v``."""
    curvature = _block_curvature(objective, theta)
    return (_numpy(objective.hessian_vector_product(curvature, torch.from_numpy(v))),)


def _hessian_diagonal(objective: LinearObjective, theta: np.ndarray) -> Sums:
    """The block's share of the data term's Hessian diagonal at ``theta``."""
    return (_numpy(objective.hessian_diagonal(_block_curvature(objective, theta))),)


def _constant_terms(objective: LinearObjective, constant: np.ndarray) -> Sums:
    return objective.constant_terms(torch.from_numpy(constant))


# -- the data's summaries: the fingerprint's terms and the row bounds -------------------
def _fingerprint_block(
    objective: LinearObjective, start: int, n_rows: int, index: np.ndarray
) -> Sums:
    """One block's terms of the fingerprint's sums (rows outside it are zeros)."""
    from .._objective.fingerprint import position_sums, sampled_row_products

    target, target_scale, weight = position_sums(objective, start)
    inside = (index >= start) & (index < start + n_rows)
    rows = objective.X[torch.from_numpy(index[inside] - start)].numpy().astype(np.float64)
    products, scales = np.zeros(index.size), np.zeros(index.size)
    products[inside], scales[inside] = sampled_row_products(rows)
    return target, target_scale, np.asarray(weight), products, scales


def _offset_sums_block(
    objective: LinearObjective, start: int, n_rows: int, index: np.ndarray
) -> Sums:
    """One block's terms of the fingerprint's offset sums."""
    from .._objective.fingerprint import offset_sums

    return offset_sums(objective, start)


def _data_summaries_block(
    objective: LinearObjective, start: int, n_rows: int, index: np.ndarray
) -> Sums:
    """One block's fingerprint terms and its row bounds (as :class:`~.blocks._Maximum` entries)."""
    abs_max, l1_max = row_bounds(objective.X, objective.fit_intercept)
    return _fingerprint_block(objective, start, n_rows, index) + (
        _Maximum(abs_max), _Maximum(l1_max),
    )


def _with_data_summaries(
    objective: LinearObjective, function: Callable[..., Sums], theta: np.ndarray, start: int,
    n_rows: int, index: np.ndarray,
) -> Sums:
    """``function(objective, theta)`` and the block's :func:`_data_summaries_block`, one tuple."""
    return function(objective, theta) + _data_summaries_block(objective, start, n_rows, index)


def _block_abs_max(X_b: np.ndarray) -> float:
    return float(np.max(np.abs(X_b))) if X_b.size else 0.0
