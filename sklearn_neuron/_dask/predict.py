"""Predictions on Dask data: lazy Dask arrays of the in-memory predictions.

:func:`maps_dask_blocks` decorates an estimator's prediction methods: given a
Dask array (or DataFrame), the in-memory method runs on each block of rows
(``map_blocks``), with the per-row arguments (offset, exposure) chunked as X's
rows; nothing is computed until the result is.
"""

from __future__ import annotations

import functools
import inspect
import math
from collections.abc import Callable
from typing import Any

import numpy as np

from .._validation import FLOAT_DTYPES
from .detect import import_dask, is_dask_collection
from .validation import _as_rows


def _predict_block(X_b: Any, *rest: Any) -> np.ndarray:
    """The prediction ``name`` on one block; ``rest`` the blocks of the per-row
    arguments (offsets, as 2-D blocks), then ``estimator, name, feature_names, keys``."""
    *columns, estimator, name, feature_names, keys = rest
    if feature_names is not None:
        import pandas as pd

        X_b = pd.DataFrame(X_b, columns=feature_names)
    per_row = {key: np.asarray(column) for key, column in zip(keys, columns, strict=True)}
    return getattr(estimator, name)(X_b, **per_row)


def _per_row_arguments(
    method: Callable[..., Any], estimator: Any, X: Any, args: tuple, kwargs: dict[str, Any]
) -> tuple[tuple[str, ...], list[Any]]:
    """The per-row arguments (offset, exposure) of a prediction on dask X, as
    2-D dask arrays chunked as X's rows: ``(keys, arrays)``."""
    _, da = import_dask()
    bound = inspect.signature(method).bind(estimator, X, *args, **kwargs).arguments
    keys, arrays = [], []
    for key, value in list(bound.items())[2:]:
        if value is None:
            continue
        if hasattr(value, "to_dask_array"):
            value = value.to_dask_array(lengths=True)
        if not isinstance(value, da.Array):
            value = da.from_array(np.asarray(value))
        if value.ndim == 1:
            value = value[:, None]
        if any(math.isnan(c) for c in value.chunks[0]):
            value = value.compute_chunk_sizes()
        if value.ndim != 2 or value.shape[0] != X.shape[0]:
            raise ValueError(
                f"{key} has shape {value.shape}, but X has {X.shape[0]} rows; pass one "
                f"{key} value per sample."
            )
        keys.append(key)
        arrays.append(value.rechunk((X.chunks[0], -1)))
    return tuple(keys), arrays


def maps_dask_blocks(method: Callable[..., Any]) -> Callable[..., Any]:
    """Let a prediction method take a dask array: a lazy dask array of its results.

    The in-memory method runs on each block of rows (``map_blocks``);
    nothing is computed until the result is.
    """
    name = method.__name__

    @functools.wraps(method)
    def wrapper(self: Any, X: Any, *args: Any, **kwargs: Any) -> Any:
        if not is_dask_collection(X):
            return method(self, X, *args, **kwargs)
        from sklearn.utils.validation import check_is_fitted

        check_is_fitted(self)
        _, da = import_dask()
        X = _as_rows(X, self, reset=False) if not hasattr(X, "to_dask_array") else _frame_rows(
            X, self
        )
        names = getattr(self, "feature_names_in_", None)
        keys, per_row = _per_row_arguments(method, self, X, args, kwargs)
        probe_rows = [np.zeros((1, a.shape[1]), dtype=a.dtype) for a in per_row]
        if "exposure" in keys:
            probe_rows[keys.index("exposure")] += 1.0  # a valid exposure
        probe = _predict_block(
            np.zeros((1, X.shape[1]), dtype=X.dtype), *probe_rows, self, name, names, keys
        )
        if probe.ndim == 1:
            return da.map_blocks(
                _predict_block, X, *per_row, self, name, names, keys, drop_axis=1,
                dtype=probe.dtype, meta=np.empty((0,), dtype=probe.dtype),
            )
        return da.map_blocks(
            _predict_block, X, *per_row, self, name, names, keys,
            chunks=(X.chunks[0], (probe.shape[1],)), dtype=probe.dtype,
            meta=np.empty((0, 0), dtype=probe.dtype),
        )

    return wrapper


def _frame_rows(X: Any, estimator: Any) -> Any:
    """A dask DataFrame's rows as a dask array (lazy: row counts stay unknown)."""
    from sklearn.utils.validation import _check_feature_names, _check_n_features

    _check_feature_names(estimator, X._meta, reset=False)
    _check_n_features(estimator, X._meta, reset=False)
    X = X.to_dask_array()
    if X.dtype not in FLOAT_DTYPES:
        X = X.astype(np.float64)
    return X


