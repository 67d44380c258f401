"""The fused passes of a :class:`~sklearn_neuron._objective.linear.LinearObjective`
over a large dense X in CPU memory.

Each pass reads X once, chunk by chunk: while a chunk of rows is in cache it
gives its raw output, the loss's terms, and its products with X (the
gradient's ``X_c^T r_c``, the Gram sums of :func:`.gram.blas_chunk_grams`),
where the separate kernels of :class:`.design.DenseDesign` would read X two or
three times; no temporary longer than a chunk is made. The objective chooses
them (its design's ``fused_chunk_rows`` and ``blas_gram``); the results equal
the separate passes' to rounding (``tests/test_objective.py``).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import torch

from .._loss.losses import MultinomialLogLoss
from .design import upper_pairs
from .gram import blas_chunk_grams, softmax_chunk_gram

#: A :class:`~sklearn_neuron._objective.linear.LinearObjective` (not imported:
#: that module imports this one).
LinearObjective = Any

Pointwise = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]


def value_gradient(
    objective: LinearObjective, theta: torch.Tensor, grad_raw_out: torch.Tensor | None = None
) -> tuple[torch.Tensor, torch.Tensor, None]:
    """``(f, grad, None)`` over all rows in one pass over X, by chunks of rows.

    Each chunk's raw output and its gradient product ``X_c^T r_c`` are
    taken while the chunk is in cache, so X is streamed from memory once
    per evaluation, in the caller's row-major layout (no column-major
    copy of X): ``raw`` is not kept (the third item is None; the Hessian
    recomputes it chunk by chunk). A fit's extra memory is then the encoded
    target and chunk-sized buffers. ``grad_raw_out``, an (n_samples,
    n_outputs) tensor, receives each row's loss gradient in its raw output.
    """
    X, loss, step = objective.X, objective.loss, objective.design.fused_chunk_rows
    coef, intercept = objective.unpack(theta)
    coef_t = coef.T
    n = X.shape[0]
    # The sums over chunks accumulate in float64 (float32 data lose
    # digits over a million rows otherwise); each chunk's in the dtype.
    grad = torch.zeros(
        (objective.n_outputs, objective.n_params_per_output),
        dtype=torch.float64, device=objective.device,
    )
    grad_coef = grad[:, : objective.n_features]
    f = torch.zeros((), dtype=torch.float64, device=objective.device)
    raw_chunk = torch.empty(
        (min(n, step), objective.n_outputs), dtype=objective.dtype, device=objective.device
    )
    for start in range(0, n, step):
        rows = slice(start, start + step)
        X_chunk = X[rows]
        raw = raw_chunk[: X_chunk.shape[0]]
        torch.matmul(X_chunk, coef_t, out=raw)
        if intercept is not None:
            raw += intercept
        if objective.offset is not None:
            raw += objective.offset[rows]
        pointwise, grad_raw = loss.value_gradient(raw, objective.target[rows])
        if grad_raw_out is not None:
            grad_raw_out[rows] = grad_raw
        weight = objective.weight_column[rows]
        # (Not torch.dot: BLAS's dot on short vectors stalls on busy cores.)
        f += torch.sum(weight.view(-1) * pointwise, dtype=torch.float64)
        grad_raw = grad_raw * weight
        grad_coef += grad_raw.T @ X_chunk
        if objective.fit_intercept:
            grad[:, -1] += grad_raw.sum(dim=0, dtype=torch.float64)
    f, grad = objective.penalty.add_to(
        f.to(objective.dtype), grad.to(objective.dtype).reshape(-1), theta
    )
    return f, grad, None


def hessian(objective: LinearObjective, theta: torch.Tensor) -> torch.Tensor:
    """The Hessian in one pass over X, nothing n-length kept.

    A softmax layer's log-loss takes :func:`.gram.softmax_chunk_gram` (its
    curvature's structure, ``diag(p) - p p^T``, in one symmetric product per
    chunk), every other loss the blocks of :func:`.gram.blas_chunk_grams`.
    """
    if isinstance(objective.loss, MultinomialLogLoss):
        return _softmax_hessian(objective, theta)
    design = objective.design
    K, like = objective.n_outputs, {"dtype": objective.dtype, "device": objective.device}
    coef, intercept = objective.unpack(theta)
    coef_t = coef.T.contiguous().numpy()  # a BLAS operand
    pairs = upper_pairs(K)
    sums = {}  # each chunk's sum of c, by its first row (threads write distinct keys)

    def terms(rows, X_chunk):
        raw = _chunk_raw(objective, rows, X_chunk, coef_t, intercept)
        c = (objective.loss.hessian(raw, objective.target[rows])
             * objective.weight_cube[rows]).numpy()
        sums[rows.start] = c.sum(axis=0, dtype=np.float64)
        weights = [c[:, k, m, None] for k, m in pairs]
        return weights, np.concatenate(weights, axis=1) if objective.fit_intercept else None

    tops, side_products = blas_chunk_grams(
        objective.X, terms, design.gram_chunk_rows, torch.get_num_threads()
    )
    c_sum = torch.from_numpy(sum(sums[start] for start in sorted(sums))).to(**like)
    return design.assemble_gram(tops, side_products, c_sum, objective.penalty.hessian_block)


def _softmax_hessian(objective: LinearObjective, theta: torch.Tensor) -> torch.Tensor:
    """:func:`hessian` of a softmax layer's log-loss: each chunk's probabilities
    made in cache and handed to :func:`.gram.softmax_chunk_gram`."""
    coef, intercept = objective.unpack(theta)
    coef_t = coef.T.contiguous().numpy()  # a BLAS operand
    K, q = objective.n_outputs, objective.n_params_per_output

    def terms(rows: slice, X_chunk: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        raw = _chunk_raw(objective, rows, X_chunk, coef_t, intercept)
        return objective.loss.probabilities(raw).numpy(), objective.weight_column[rows].numpy()

    H = softmax_chunk_gram(
        objective.X, terms, objective.fit_intercept, K, torch.get_num_threads()
    )
    block = objective.penalty.hessian_block
    if block is not None:
        for k in range(K):
            H[k * q:(k + 1) * q, k * q:(k + 1) * q] += block
    return H


def value_gradient_hessian(
    objective: LinearObjective, theta: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor, None, torch.Tensor]:
    """``(f, grad, None, H)`` in one pass over a float64 X: each chunk of rows,
    while in cache, gives its raw output, its share of the value, and its
    Gram sums with the gradient's product riding along (see :mod:`.gram`)."""
    design = objective.design
    coef, intercept = objective.unpack(theta)
    coef_t = coef.T.contiguous().numpy()  # a BLAS operand
    pairs = upper_pairs(objective.n_outputs)
    sums = {}  # each chunk's value, sum of c and of the gradient column, by first row

    def terms(rows, X_chunk):
        raw = _chunk_raw(objective, rows, X_chunk, coef_t, intercept)
        target, weight = objective.target[rows], objective.weight_column[rows]
        pointwise, grad_raw = objective.loss.value_gradient(raw, target)
        c = (objective.loss.hessian(raw, target) * objective.weight_cube[rows]).numpy()
        vector = (grad_raw * weight).numpy()
        sums[rows.start] = (
            torch.sum(weight.view(-1) * pointwise, dtype=torch.float64).item(),
            c.sum(axis=0, dtype=np.float64),
            vector.sum(axis=0, dtype=np.float64),
        )
        weights = [c[:, k, m, None] for k, m in pairs]
        return weights, np.concatenate(design.side_columns(weights, vector), axis=1)

    tops, side_products = blas_chunk_grams(
        objective.X, terms, design.gram_chunk_rows, torch.get_num_threads()
    )
    ordered = [sums[start] for start in sorted(sums)]  # a fixed order of addition
    f = torch.tensor(sum(part[0] for part in ordered), dtype=objective.dtype)
    c_sum, vector_sum = (
        torch.from_numpy(sum(part[i] for part in ordered)) for i in (1, 2)
    )
    H, grad = design.assemble_gram(
        tops, side_products, c_sum, objective.penalty.hessian_block, vector_sum
    )
    f, grad = objective.penalty.add_to(f, grad.reshape(-1), theta)
    return f, grad, None, H


def second_order(
    objective: LinearObjective, theta: torch.Tensor, pointwise: Pointwise | None
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """``(raw, grad, H, c)`` of :meth:`LinearObjective.second_order` in one pass over X.

    Each chunk of rows, while in cache, gives its raw output, the loss's
    terms and its share of the Gram sums (see :mod:`.gram`): X is read
    once, where a separate fitted-values pass would read it twice.
    """
    design = objective.design
    n, K = objective.X.shape[0], objective.n_outputs
    like = {"dtype": objective.dtype, "device": objective.device}
    raw, vector = torch.empty((n, K), **like), torch.empty((n, K), **like)
    c = torch.empty((n, K, K), **like)
    coef, intercept = objective.unpack(theta)
    coef_t = coef.T.contiguous().numpy()  # a BLAS operand
    shift = None if intercept is None else intercept.numpy()
    offset = None if objective.offset is None else objective.offset.numpy()
    # numpy views of the outputs, written by torch through the tensors.
    raw_array, c_array, vector_array = raw.numpy(), c.numpy(), vector.numpy()
    pairs = upper_pairs(K)

    def terms(rows, X_chunk):  # writes rows of the outputs only: safe in threads
        np.matmul(X_chunk, coef_t, out=raw_array[rows])
        if shift is not None:
            raw_array[rows] += shift
        if offset is not None:
            raw_array[rows] += offset[rows]
        grad_raw, h = objective.pointwise_terms(raw[rows], objective.target[rows], pointwise)
        torch.mul(h, objective.weight_cube[rows], out=c[rows])
        torch.mul(grad_raw, objective.weight_column[rows], out=vector[rows])
        weights = [c_array[rows, k, m, None] for k, m in pairs]
        columns = design.side_columns(weights, vector_array[rows])
        return weights, np.concatenate(columns, axis=1)

    tops, side_products = blas_chunk_grams(
        objective.X, terms, design.gram_chunk_rows, torch.get_num_threads()
    )
    H, grad = design.assemble_gram(
        tops, side_products, c.sum(dim=0), objective.penalty.hessian_block, vector.sum(dim=0)
    )
    return raw, objective.penalty.penalized_gradient(grad, theta), H, c


def _chunk_raw(
    objective: Any, rows: slice, X_chunk: np.ndarray, coef_t: np.ndarray,
    intercept: torch.Tensor | None,
) -> torch.Tensor:
    """Raw outputs of a chunk of rows, ``X_chunk @ W.T + b + o``, by one BLAS product."""
    raw = torch.from_numpy(X_chunk @ coef_t)
    if intercept is not None:
        raw += intercept
    if objective.offset is not None:
        raw += objective.offset[rows]
    return raw
