"""What an optimizer's iteration takes in memory: the estimates, the budget, the refusal.

Before the optimizer runs, :func:`newton_peak_bytes` estimates the largest
memory a Newton iteration's Hessian and step take (:func:`newton_cg_peak_bytes`
and :func:`lbfgs_peak_bytes` those of Hessian-free Newton and L-BFGS), and
:func:`memory_budget` says how much a fit may use: ``optimizer="newton"`` is
refused above it (:func:`check_newton_memory`) and ``"auto"`` chooses no
optimizer whose estimate exceeds it (:mod:`.cost`).
"""

from __future__ import annotations

import math
import os
import time
from typing import Any

import torch

#: Share of the available memory (host RAM, or the GPU's free memory) that a
#: Newton iteration's temporaries may take: the rest is left to the data, the
#: caller and the rest of the machine.
MEMORY_FRACTION = 0.5
#: The host's available memory is read again after this many seconds.
_HOST_MEMORY_SECONDS = 0.5
#: When it was last read (time.monotonic) and what it was.
_host_memory_read: list[float] = [-math.inf, math.inf]


def available_memory(device: torch.device | str | None = None) -> float:
    """Bytes of memory available now on ``device`` (None or a CPU: host RAM).

    A CUDA device's free memory; on the host ``psutil``'s available memory
    where it is installed (read at most every ``_HOST_MEMORY_SECONDS``),
    else the free physical pages of ``os.sysconf``;
    ``inf`` where neither can be read.
    """
    device = torch.device("cpu") if device is None else torch.device(device)
    if device.type == "cuda":
        return float(torch.cuda.mem_get_info(device)[0])
    try:
        import psutil
    except ImportError:
        psutil = None
    if psutil is not None:
        # Read at most every _HOST_MEMORY_SECONDS: psutil parses /proc/meminfo,
        # and a regularization path asks once or twice per point, which on
        # small data cost a large share of NeuronClassifierCV's time
        # (benchmarks/RESULTS.md, History: the multinomial passes).
        now = time.monotonic()
        read_at, available = _host_memory_read
        if now - read_at > _HOST_MEMORY_SECONDS:
            available = float(psutil.virtual_memory().available)
            _host_memory_read[:] = [now, available]
        return available
    try:
        return float(os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE"))
    except (AttributeError, OSError, ValueError):
        return math.inf


def memory_budget(device: torch.device | str | None = None) -> float:
    """Bytes a Newton iteration's temporaries may take: ``MEMORY_FRACTION`` of
    :func:`available_memory`."""
    return MEMORY_FRACTION * available_memory(device)


def newton_peak_bytes(
    n_rows: int,
    n_params_per_output: int,
    n_outputs: int,
    itemsize: int,
    *,
    curvature_rows: int | None = None,
) -> float:
    """Upper estimate of the bytes one Newton iteration allocates beyond its data.

    Parameters
    ----------
    n_rows : int
        Rows of the data (each has an n_outputs-long raw output, loss
        gradient and probabilities).
    n_params_per_output : int
        ``q``: features plus the intercept.
    n_outputs : int
        ``K``: output units (classes of a softmax).
    itemsize : int
        Bytes per number of the working dtype.
    curvature_rows : int, optional
        Rows whose pointwise Hessians are held at once (the Hessian pass
        may take the rows by chunks); all rows by default.

    Returns
    -------
    float
        ``itemsize * (3 m K^2 + 5 (K q)^2 + 4 n K)``: the pointwise Hessian
        of ``m`` rows, (m, K, K), is made from two such temporaries
        (softmax's ``diag(p) - p p^T``) and then weighted; the Hessian,
        (Kq, Kq), is held with the previous one, the softmax's projector,
        their sum and its Cholesky factor; the raw output, probabilities and
        gradients are n-by-K.
    """
    n, q, K = float(n_rows), float(n_params_per_output), float(n_outputs)
    m = n if curvature_rows is None else float(min(curvature_rows, n_rows))
    return float(itemsize) * (3.0 * m * K * K + 5.0 * (K * q) ** 2 + 4.0 * n * K)


def newton_cg_peak_bytes(
    n_rows: int, n_params_per_output: int, n_outputs: int, itemsize: int
) -> float:
    """Upper estimate of the bytes a Newton-CG iteration allocates beyond its data.

    ``itemsize * (8 n K + 12 q K)``: the raw output, the probabilities and
    their weighted copy, the loss gradient, a direction's raw change and its
    curvature product and two temporaries are n-by-K; the gradient, the step,
    the residual, the direction, its product, the preconditioner and the
    line search's candidates are vectors of the ``q K`` parameters.
    """
    n, P = float(n_rows), float(n_params_per_output) * float(n_outputs)
    return float(itemsize) * (8.0 * n * n_outputs + 12.0 * P)


def lbfgs_peak_bytes(
    n_rows: int, n_params_per_output: int, n_outputs: int, itemsize: int,
    *, history: int = 10,
) -> float:
    """Upper estimate of the bytes an L-BFGS iteration allocates beyond its data.

    ``itemsize * (5 n K + (2 m + 6) q K) + 8 * 3 m q K``: the raw output, the
    loss's value and gradient and two temporaries are n-by-K; the ``m =
    history`` pairs of steps and gradient changes, and a few vectors, of the
    parameters; the direction's float64 copies of the pairs.
    """
    n, P = float(n_rows), float(n_params_per_output) * float(n_outputs)
    return float(itemsize) * (5.0 * n * n_outputs + (2.0 * history + 6.0) * P) + (
        8.0 * 3.0 * history * P
    )


def objective_newton_bytes(objective: Any) -> float:
    """:func:`newton_peak_bytes` of a Newton iteration on ``objective``.

    Distributed data hold one block's pointwise Hessians at a time (the
    largest block is counted); in-memory data as many rows as the
    objective's Hessian pass takes at once (``hessian_rows``).
    """
    n = objective.X.shape[0]
    rows = max(objective.X.chunks[0]) if objective.distributed else objective.hessian_rows
    itemsize = torch.finfo(objective.dtype).bits // 8
    return newton_peak_bytes(
        n, objective.n_params_per_output, objective.n_outputs, itemsize, curvature_rows=rows
    )


def newton_fits_memory(objective: Any) -> bool:
    """Whether a Newton iteration on ``objective`` stays within :func:`memory_budget`."""
    return objective_newton_bytes(objective) <= memory_budget(objective.device)


def check_newton_memory(objective: Any, name: str) -> None:
    """Refuse Newton (``name``, the option's value) where its Hessian would not fit.

    Raises a :class:`MemoryError` that gives the estimate, the budget and
    the alternative, before anything of that size is allocated.
    """
    needed = objective_newton_bytes(objective)
    budget = memory_budget(objective.device)
    if needed > budget:
        raise MemoryError(
            f"optimizer={name!r} would need about {needed / 1e9:.3g} GB for its Hessian "
            f"and pointwise curvature ({objective.n_outputs} outputs x "
            f"{objective.n_params_per_output} parameters each, {objective.X.shape[0]} rows), "
            f"more than the {budget / 1e9:.3g} GB budget ({MEMORY_FRACTION:.0%} of the "
            "available memory); use optimizer='lbfgs' (or 'auto'), whose memory grows "
            "with n_samples * n_outputs only."
        )


