"""Validation of Dask data by reductions: what the in-memory checks ask, never gathered.

X, y, the weights and the offset are checked as the estimators check them in
memory, with the same functions and so the same messages
(:mod:`sklearn_neuron._validation`): here they are called on statistics that
each block reduces its rows to (:func:`_column_stats`: finiteness, the weights'
minimum, the labels with their counts and weight sums; :func:`_regression_sums`:
the target's range and sums), added up on the driver. The shapes, dtypes and
chunks of the arrays are checked and aligned here too.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from .._loss.targets import in_target_domain
from .._validation import (
    FLOAT_DTYPES,
    check_exposure_positive,
    check_offset,
    check_offset_finite,
    check_offset_shape,
    check_sample_weight_sum,
    check_weight_minimum,
)
from .blocks import _is_materialised
from .detect import import_dask, is_dask_collection


# -- the arrays ------------------------------------------------------------------------
def _as_rows(X: Any, estimator: Any, *, reset: bool) -> Any:
    """X as a 2-D float dask array with one chunk of columns and known row chunks.

    Sets (``reset``) or checks ``n_features_in_`` and ``feature_names_in_``
    as scikit-learn's ``validate_data`` does; a dask DataFrame's columns are
    its feature names.
    """
    from sklearn.utils.validation import _check_feature_names, _check_n_features

    _, da = import_dask()
    # A dask DataFrame's meta is an empty pandas DataFrame with its columns.
    _check_feature_names(estimator, getattr(X, "_meta", X), reset=reset)
    if hasattr(X, "to_dask_array"):  # a dask DataFrame: partition lengths by a reduction
        X = X.to_dask_array(lengths=True)
    if not isinstance(X, da.Array):
        raise TypeError(
            f"X is a {type(X).__name__}; the dask inputs taken are dask arrays and "
            "dask DataFrames."
        )
    if X.ndim != 2:
        raise ValueError(
            f"Expected a 2-D dask array for X, got {X.ndim} dimension(s); reshape it, "
            "e.g. X.reshape(-1, 1) for a single feature."
        )
    if any(math.isnan(c) for c in X.chunks[0]):
        X = X.compute_chunk_sizes()
    if X.shape[0] < 1 or X.shape[1] < 1:
        raise ValueError(
            f"Found array with shape {X.shape}; at least one sample and one feature "
            "are required."
        )
    _check_n_features(estimator, X, reset=reset)
    if X.dtype not in FLOAT_DTYPES:
        if X.dtype.kind not in "biuf":
            raise ValueError(f"X has dtype {X.dtype}; a numeric dask array is needed.")
        X = X.astype(np.float64)
    if len(X.chunks[1]) > 1:
        X = X.rechunk({1: -1})
    return X


def _as_column(v: Any, X: Any, name: str) -> Any:
    """y or sample_weight as a 1-D dask array chunked as X's rows (None stays None)."""
    if v is None:
        return None
    _, da = import_dask()
    if hasattr(v, "to_dask_array"):
        v = v.to_dask_array(lengths=True)
    if not isinstance(v, da.Array):
        v = np.asarray(v)  # an in-memory column of a dask X: small, chunked like X
        if v.ndim == 2 and v.shape[1] == 1:
            v = v[:, 0]
        v = da.from_array(v, chunks=(X.chunks[0],)) if v.ndim == 1 else v
    if v.ndim == 2 and v.shape[1] == 1:
        v = v[:, 0]
    if v.ndim != 1:
        raise ValueError(f"{name} must be 1-D (one value per sample), got {v.ndim}-D.")
    if any(math.isnan(c) for c in v.chunks[0]):
        v = v.compute_chunk_sizes()
    if v.shape[0] != X.shape[0]:
        raise ValueError(
            f"{name} has {v.shape[0]} entries but X has {X.shape[0]} rows; pass one "
            "per sample."
        )
    if v.chunks[0] != X.chunks[0]:
        v = v.rechunk((X.chunks[0],))
    return v


def _prepare(
    estimator: Any, X: Any, y: Any, sample_weight: Any, *, reset: bool
) -> tuple[Any, Any, Any]:
    """Validated dask X, y and sample_weight (None for equal weights)."""
    if not is_dask_collection(X):
        raise TypeError(
            f"X is a {type(X).__name__} but y, sample_weight or offset is a dask "
            "collection; "
            "pass X as a dask array too (dask.array.from_array(X, chunks=...)), or all "
            "of them in memory."
        )
    if estimator._is_stochastic():
        raise ValueError(
            f"optimizer={estimator._optimizer_label()!r} trains by minibatches, which "
            "read rows in memory; on dask data use a full-batch optimizer ('lbfgs', "
            "'newton', 'auto'), or train block by block with "
            "dask_ml.wrappers.Incremental(estimator).fit(X, y) (partial_fit per block)."
        )
    if estimator._device().type != "cpu":
        raise ValueError("Dask inputs are fitted on the workers' CPUs; use device='cpu'.")
    X = _as_rows(X, estimator, reset=reset)
    return X, _as_column(y, X, "y"), _as_column(sample_weight, X, "sample_weight")


def _as_offset(estimator: Any, offset: Any, exposure: Any, X: Any, n_outputs: int) -> Any:
    """The offset (or log exposure) as a dask array (n_samples, n_outputs)
    chunked as X's rows, validated by one reduction; None for none.

    An in-memory offset of dask X is validated in memory, then chunked.
    """
    if offset is None and exposure is None:
        return None
    if exposure is not None and estimator._exposure_refusal() is not None:
        raise ValueError(estimator._exposure_refusal())
    dask, da = import_dask()
    values, name = (offset, "offset") if exposure is None else (exposure, "exposure")
    if hasattr(values, "to_dask_array"):
        values = values.to_dask_array(lengths=True)
    if offset is not None and exposure is not None or not isinstance(values, da.Array):
        values = check_offset(
            None if offset is None else np.asarray(offset), X.shape[0], n_outputs, X.dtype,
            exposure=None if exposure is None else np.asarray(exposure),
        )
        return da.from_array(values, chunks=(X.chunks[0], n_outputs))
    if any(math.isnan(c) for c in values.chunks[0]):
        values = values.compute_chunk_sizes()
    given = values.shape
    if values.ndim == 1 and n_outputs == 1:
        values = values[:, None]
    check_offset_shape(name, given, values.shape, X.shape[0], n_outputs)
    values = values.astype(X.dtype)
    if exposure is not None:
        (bad,) = dask.compute((~(values > 0)).sum())
        check_exposure_positive(int(bad))
        values = da.log(values)
    (bad,) = dask.compute((~da.isfinite(values)).sum())
    check_offset_finite(name, int(bad))
    return values.rechunk((X.chunks[0], n_outputs))


# -- what each block reduces its rows to -------------------------------------------------
def _column_stats(
    X_b: np.ndarray | None, y_b: np.ndarray, w_b: np.ndarray | None, check_finite: bool,
    labels: bool,
) -> dict[str, Any]:
    """What validation asks of one block: finiteness, labels, the weights' range."""
    stats: dict[str, Any] = {
        "x_finite": True, "y_finite": True, "w_finite": True, "w_min": np.inf
    }
    if check_finite and X_b is not None:  # (X_b is None where it is not checked)
        stats["x_finite"] = _x_finite(X_b)
    if y_b.dtype.kind == "f":
        stats["y_finite"] = bool(np.isfinite(y_b).all())
    if labels:
        stats["labels"], stats["counts"], stats["sums"] = _label_sums(y_b, w_b)
    if w_b is not None and w_b.shape[0]:
        w_b = np.asarray(w_b, dtype=np.float64)
        stats["w_finite"] = bool(np.isfinite(w_b).all())
        stats["w_min"] = float(w_b.min())
    return stats


def _x_finite(X_b: np.ndarray) -> bool:
    """Whether a block of X holds no NaN or infinity (its sum is finite)."""
    if not X_b.shape[0]:
        return True
    with np.errstate(over="ignore", invalid="ignore"):
        return bool(np.isfinite(X_b.sum()))


def _raise_x_not_finite() -> None:
    raise ValueError(
        "Input X contains NaN or infinity. Drop or impute those entries (e.g. with "
        "sklearn.impute.SimpleImputer, or dask_ml.impute) before fitting."
    )


def _finiteness_check_of(X: Any, check_finite: bool) -> tuple[Any, bool]:
    """Where X's NaN/infinity check is made: ``(X_checked, when_read)``.

    Materialised X is checked by validation (``X_checked`` is X). Data read
    from storage at each evaluation are checked where the fit reads each
    block (``when_read``; ``X_checked`` None, so that validation does not read
    the store once more for that check alone).
    """
    when_read = check_finite and not _is_materialised(X)
    return (X if check_finite and not when_read else None), when_read


def _label_sums(
    y_b: np.ndarray, w_b: np.ndarray | None
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The distinct labels of a block of y, with the count of each and its
    samples' weight sum (the count again when there are no weights)."""
    weight = None if w_b is None else np.asarray(w_b, dtype=np.float64)
    y_b = np.asarray(y_b)
    index = _small_integer_labels(y_b)
    if index is not None:
        counts = np.bincount(index)  # small non-negative integers: no sort
        present = np.flatnonzero(counts)
        sums = counts if weight is None else np.bincount(index, weights=weight)
        return present.astype(y_b.dtype), counts[present].astype(np.float64), sums[present]
    labels, index = np.unique(y_b, return_inverse=True)
    counts = np.bincount(index, minlength=labels.size).astype(np.float64)
    sums = counts if weight is None else np.bincount(index, weights=weight, minlength=labels.size)
    return labels, counts, np.asarray(sums, dtype=np.float64)


def _small_integer_labels(y_b: np.ndarray) -> np.ndarray | None:
    """``y_b`` as bincount's indices where every label is an integer in
    [0, 65536) (0/1 labels stored as floats too: no sort); else None."""
    if y_b.dtype.kind not in "iuf" or not y_b.size or not 0 <= y_b.min() <= y_b.max() < 1 << 16:
        return None  # (a NaN fails the comparison)
    if y_b.dtype.kind in "iu":
        return y_b
    index = y_b.astype(np.intp)
    return index if np.array_equal(index, y_b) else None


def _regression_sums(
    loss: Any, y_b: np.ndarray, w_b: np.ndarray | None, dtype: Any
) -> tuple[bool, float, float, float]:
    """One block's check of the target's domain, weight sum and weighted sum of y
    (X's block is not read)."""
    y_b = np.asarray(y_b, dtype=dtype)
    weight = np.ones(y_b.shape[0]) if w_b is None else np.asarray(w_b, dtype=np.float64)
    valid = in_target_domain(loss.target_domain, y_b) if y_b.shape[0] else True
    low = float(y_b.min()) if y_b.shape[0] else np.inf
    return valid, low, float(weight.sum()), float(np.dot(weight, y_b))


def _regression_stats(
    X_b: np.ndarray | None, y_b: np.ndarray, w_b: np.ndarray | None, check_finite: bool,
    loss: Any, dtype: Any,
) -> tuple[dict[str, Any], tuple[bool, float, float, float]]:
    """A regressor's validation of one block: :func:`_column_stats` and
    :func:`_regression_sums` (``X_b`` None where X's finiteness is not checked)."""
    stats = _column_stats(X_b, y_b, w_b, check_finite, False)
    return stats, _regression_sums(loss, y_b, w_b, dtype)


# -- the checks of the reduced statistics --------------------------------------------
def _check_finite(stats: list[dict[str, Any]], check_finite: bool) -> None:
    """Refuse NaN or infinity in X (where it was checked) or y, from the blocks' stats."""
    if check_finite and not all(s["x_finite"] for s in stats):
        _raise_x_not_finite()
    if not all(s["y_finite"] for s in stats):
        raise ValueError("Input y contains NaN or infinity; drop or impute those samples.")


def _check_weights(stats: list[dict[str, Any]], total: float) -> None:
    """Refuse the sample weights of the blocks' stats as in memory: non-finite,
    negative (:func:`~sklearn_neuron._validation.check_weight_minimum`) or of
    sum ``total`` zero (:func:`~sklearn_neuron._validation.check_sample_weight_sum`)."""
    if not all(s["w_finite"] for s in stats):
        raise ValueError("Input sample_weight contains NaN or infinity.")
    check_weight_minimum(min(s["w_min"] for s in stats))
    check_sample_weight_sum(total)
