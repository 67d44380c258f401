"""The blocks of Dask arrays, where they are held, and the sums over them.

A fit on Dask data never gathers it: each pass is a function mapped over the
arrays' row blocks on the workers, whose small results (tuples of arrays) are
added up (:func:`_add`). This module owns that plumbing: the blocks as
delayed objects or, for data persisted on a ``distributed`` cluster, as the
futures each worker holds (:func:`_held_blocks`, :func:`_holder_groups`), the
client in use, and :func:`_per_block`, which runs a function on every block
by one task per worker thread where it can. It knows nothing of objectives
or estimators.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import torch

from .detect import import_dask

#: Per-block results are added in groups of this many, on the workers.
_SPLIT_EVERY = 8

#: A block's tuple of parts (delayed objects or futures; None for a None array).
Block = tuple[Any, ...]


def _blocks(*arrays: Any) -> list[Block]:
    """The row blocks of the dask arrays (None: a column of Nones), as delayed objects."""
    n = 0
    columns: list[list[Any] | None] = []
    for array in arrays:
        if array is None:
            columns.append(None)
            continue
        blocks = array.to_delayed().ravel().tolist()
        n = len(blocks)
        columns.append(blocks)
    return [tuple(c[i] if c is not None else None for c in columns) for i in range(n)]


def _compute(tasks: Sequence[Any]) -> tuple[Any, ...]:
    """``dask.compute(*tasks)`` (the client's scheduler where there is one)."""
    dask, _ = import_dask()
    return dask.compute(*tasks)


def _client() -> Any:
    """The ``distributed`` client in use, or None (dask's own schedulers then run)."""
    try:
        from distributed import default_client
    except ImportError:
        return None
    try:
        return default_client()
    except ValueError:  # no client started
        return None


def _is_materialised(array: Any) -> bool:
    """Whether a dask array's graph holds only its blocks (persisted, or in memory).

    Such data sit in the cluster's memory already, so their block objectives
    can be kept there too; an array still to be read or computed (from a
    store on disk, say) is read again at each evaluation instead.
    """
    return len(array.__dask_graph__()) == array.npartitions


def _held_blocks(client: Any, *arrays: Any) -> list[Block] | None:
    """Per block, the client's futures of the arrays' blocks (None for a None
    array); None unless every array is persisted on the client's cluster."""
    from dask.core import flatten
    from distributed import futures_of

    columns: list[list[Any] | None] = []
    for array in arrays:
        if array is None:
            columns.append(None)
            continue
        if not _is_materialised(array):
            return None
        held = {future.key: future for future in futures_of(array)}
        keys = list(flatten(array.__dask_keys__()))
        if not keys or any(key not in held for key in keys):
            return None
        columns.append([held[key] for key in keys])
    n = len(next(c for c in columns if c is not None))
    return [tuple(None if c is None else c[i] for c in columns) for i in range(n)]


def _holder_groups(client: Any, futures: Sequence[Any]) -> list[tuple[str | None, list[int]]]:
    """``(worker address, indices)``: the futures each worker holds, split into
    one group per thread of that worker; a future whose holder is unknown forms
    a group of its own (address None: the scheduler places it)."""
    from distributed import wait

    wait(futures)
    who_has = client.who_has(futures)
    threads = client.nthreads()
    by_worker: dict[str, list[int]] = {}
    groups: list[tuple[str | None, list[int]]] = []
    for index, future in enumerate(futures):
        holders = who_has.get(future.key, ())
        if holders:
            by_worker.setdefault(holders[0], []).append(index)
        else:
            groups.append((None, [index]))
    for address, indices in by_worker.items():
        n = max(1, min(threads.get(address, 1), len(indices)))
        groups += [(address, indices[i::n]) for i in range(n)]
    return groups


def _map_over(function: Callable[..., Any], blocks: Sequence[Block], args: tuple) -> list[Any]:
    return [function(*block, *args) for block in blocks]


def _per_block(function: Callable[..., Any], arrays: Sequence[Any], *args: Any) -> list[Any]:
    """``[function(*block, *args) for each block]``, ``block`` the arrays'
    blocks of the same rows, computed on the workers.

    Data persisted on a distributed cluster go as one task per worker
    thread, over the blocks that worker holds: a handful of tasks instead of
    one per block, whose scheduling costs more than their work (see
    ``benchmarks/RESULTS.md``, Dask). Other data by dask's graph, a task per
    block.
    """
    client = _client()
    held = None if client is None else _held_blocks(client, *arrays)
    if held is None:
        dask, _ = import_dask()
        return list(_compute([dask.delayed(function)(*b, *args) for b in _blocks(*arrays)]))
    # Grouped by the holder of each block's first array given (X, unless X is not read).
    groups = _holder_groups(client, [next(f for f in b if f is not None) for b in held])
    parts = [
        client.submit(
            _map_over, function, [held[i] for i in group], args,
            workers=None if address is None else [address], allow_other_workers=True,
            pure=False,
        )
        for address, group in groups
    ]
    results: list[Any] = [None] * len(held)
    for (_, group), part in zip(groups, client.gather(parts), strict=True):
        for index, result in zip(group, part, strict=True):
            results[index] = result
    return results


# -- adding up the blocks' results ----------------------------------------------------
class _Maximum(float):
    """An entry of a reduction's tuple that :func:`_add` combines by ``max``."""

    def __reduce__(self) -> tuple[type, tuple[float]]:
        return _Maximum, (float(self),)


def _combine(entries: Sequence[Any]) -> Any:
    if isinstance(entries[0], _Maximum):
        return _Maximum(max(entries, key=_nan_first))
    return functools.reduce(np.add, entries)


def _nan_first(value: float) -> tuple[bool, float]:
    """Sort key under which NaN is the largest (a NaN maximum propagates)."""
    return (np.isnan(value), value)


def _add(parts: Sequence[tuple | None]) -> tuple | None:
    """Entry-wise sum of tuples of arrays (None parts skipped; None if all are);
    :class:`_Maximum` entries are combined by their maximum instead."""
    kept = [p for p in parts if p is not None]
    if not kept:
        return None
    return tuple(_combine(entries) for entries in zip(*kept, strict=True))


def _numpy(value: Any) -> np.ndarray:
    """A tensor (or number) as a numpy array, to travel between driver and workers."""
    return np.asarray(value.detach().cpu().numpy() if torch.is_tensor(value) else value)
