"""Whether a Newton iteration fits in memory: its estimate, the budget and the refusal.

Before the optimizer runs, :func:`newton_peak_bytes` estimates the largest
memory a Newton iteration's Hessian and step take, and :func:`memory_budget`
says how much a fit may use: ``optimizer="newton"`` is refused above it and
``"auto"`` avoids Newton there (:func:`check_newton_memory`).
"""

from __future__ import annotations

import math
import os
from typing import Any

import torch

#: Share of the available memory (host RAM, or the GPU's free memory) that a
#: Newton iteration's temporaries may take: the rest is left to the data, the
#: caller and the rest of the machine.
MEMORY_FRACTION = 0.5


def available_memory(device: torch.device | str | None = None) -> float:
    """Bytes of memory available now on ``device`` (None or a CPU: host RAM).

    A CUDA device's free memory; on the host ``psutil``'s available memory
    where it is installed, else the free physical pages of ``os.sysconf``;
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
        return float(psutil.virtual_memory().available)
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


