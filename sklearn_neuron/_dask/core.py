"""Dask arrays as the data of a fit, a prediction or an inference, never gathered.

A neuron's objective, gradient and Hessian are sums over rows of small
pieces (a number, a vector of ``n_params``, an ``n_params x n_params``
matrix), so a full-batch fit on data spread over a Dask cluster needs one
reduction per evaluation, with the parameter vector on the driver. This
module owns that seam. :class:`DaskObjective` exposes what the full-batch
optimizers (:mod:`._optimizers`) and the estimators ask of a
:class:`~sklearn_neuron._objective.linear.LinearObjective`; each of its evaluations
maps the *same* in-memory code over the dask blocks, on the workers — a
``LinearObjective`` built on the block's rows, normalised by the whole data
set's weight sum, so that its value, gradient and Hessian are the block's
share of the whole — and sums the small results (a tree of additions over
the workers, then the driver). The optimizers do not know which objective
they run on.

Validation (shapes, dtypes, finiteness, the classes, the weights' sum) is
done by reductions too; predictions on a dask array are lazy dask arrays
(``map_blocks`` of the in-memory prediction); inference's information matrix,
sandwich meat, log-likelihoods and separation check are reductions
(:class:`DaskInferenceResults`). Dask is optional: nothing here imports it
until a dask collection arrives (``pip install "sklearn-neuron[dask]"``).
"""

import dataclasses
import functools
import math
import sys
from dataclasses import dataclass

import numpy as np
import torch

from .._objective.linear import LinearObjective, fit_constant
from .._solvers.certificate import row_bounds
from .._validation import FLOAT_DTYPES, class_weights

#: Per-block results are added in groups of this many, on the workers.
_SPLIT_EVERY = 8
#: Newton on dask data of at least this many rows starts from its fit on a
#: subsample of the blocks (:meth:`DaskObjective.subsample`): each full
#: iteration reads all the data, and from the subsample's optimum (an
#: estimate of the full one) a few of them reach it.
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
_INSTALL = 'pip install "sklearn-neuron[dask]"'


# -- detection and import ------------------------------------------------------------
def is_dask_collection(obj):
    """Whether ``obj`` is a dask collection (array, DataFrame, Series).

    Never imports dask: an object can only be a dask collection if dask
    has already been imported by whoever made it.
    """
    if "dask" not in sys.modules or obj is None:
        return False
    module = type(obj).__module__ or ""
    if not (module.startswith("dask") or module.startswith("dask_expr")):
        return False
    import dask

    return dask.is_dask_collection(obj)


def any_dask(*objs):
    """Whether any of ``objs`` is a dask collection."""
    return any(is_dask_collection(obj) for obj in objs)


def import_dask():
    """``(dask, dask.array)``, or an ImportError that names the extra to install."""
    try:
        import dask
        import dask.array as da
    except ImportError as exc:  # pragma: no cover - dask input implies dask
        raise ImportError(
            "Fitting on dask collections needs dask[array]; install it with "
            f"{_INSTALL}."
        ) from exc
    return dask, da


# -- validation ---------------------------------------------------------------------
def _as_rows(X, estimator, *, reset):
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


def _as_column(v, X, name):
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


def _prepare(estimator, X, y, sample_weight, *, reset):
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


def _as_offset(estimator, offset, exposure, X, n_outputs):
    """The offset (or log exposure) as a dask array (n_samples, n_outputs)
    chunked as X's rows, validated by one reduction; None for none.

    An in-memory offset of dask X is validated in memory, then chunked.
    """
    from .._validation import check_offset

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
    if values.ndim == 1 and n_outputs == 1:
        values = values[:, None]
    if values.ndim != 2 or values.shape != (X.shape[0], n_outputs):
        expected = f"({X.shape[0]},)" if n_outputs == 1 else f"({X.shape[0]}, {n_outputs})"
        raise ValueError(
            f"{name} has shape {values.shape}, but X has {X.shape[0]} rows: expected "
            f"shape {expected}. Pass one {name} value per sample."
        )
    values = values.astype(X.dtype)
    if exposure is not None:
        (bad,) = dask.compute((~(values > 0)).sum())
        if bad:
            raise ValueError(
                f"exposure must be positive (it enters the model as log(exposure)); it "
                f"has {int(bad)} entries <= 0 or NaN. Drop those samples or pass the "
                "offset directly."
            )
        values = da.log(values)
    (bad,) = dask.compute((~da.isfinite(values)).sum())
    if bad:
        raise ValueError(
            f"{name} has {int(bad)} non-finite entries (NaN or inf); every sample needs "
            f"a finite {name}. Drop those samples or fill them."
        )
    return values.rechunk((X.chunks[0], n_outputs))


def _blocks(*arrays):
    """The row blocks of the dask arrays (None: a column of Nones), as delayed objects."""
    n = None
    columns = []
    for array in arrays:
        if array is None:
            columns.append(None)
            continue
        blocks = array.to_delayed().ravel().tolist()
        n = len(blocks)
        columns.append(blocks)
    return [tuple(c[i] if c is not None else None for c in columns) for i in range(n)]


def _compute(tasks):
    dask, _ = import_dask()
    return dask.compute(*tasks)


def _held_blocks(client, *arrays):
    """Per block, the client's futures of the arrays' blocks (None for a None
    array); None unless every array is persisted on the client's cluster."""
    from dask.core import flatten
    from distributed import futures_of

    columns = []
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


def _holder_groups(client, futures):
    """``(worker address, indices)``: the futures each worker holds, split into
    one group per thread of that worker; a future whose holder is unknown forms
    a group of its own (address None: the scheduler places it)."""
    from distributed import wait

    wait(futures)
    who_has = client.who_has(futures)
    threads = client.nthreads()
    by_worker, groups = {}, []
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


def _map_over(function, blocks, args):
    return [function(*block, *args) for block in blocks]


def _per_block(function, arrays, *args):
    """``[function(*block, *args) for each block]``, ``block`` the arrays'
    blocks of the same rows, computed on the workers.

    Data persisted on a distributed cluster go as one task per worker
    thread, over the blocks that worker holds: a handful of tasks instead of
    one per block (16 small tasks took twice as long, in the scheduler's
    per-task costs). Other data by dask's graph, a task per block.
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
    results = [None] * len(held)
    for (_, group), part in zip(groups, client.gather(parts), strict=True):
        for index, result in zip(group, part, strict=True):
            results[index] = result
    return results


def _column_stats(X_b, y_b, w_b, check_finite, labels):
    """What validation asks of one block: finiteness, labels, the weights' range."""
    stats = {"x_finite": True, "y_finite": True, "w_finite": True, "w_min": np.inf}
    if check_finite:
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


def _x_finite(X_b):
    """Whether a block of X holds no NaN or infinity (its sum is finite)."""
    if not X_b.shape[0]:
        return True
    with np.errstate(over="ignore", invalid="ignore"):
        return bool(np.isfinite(X_b.sum()))


def _raise_x_not_finite():
    raise ValueError(
        "Input X contains NaN or infinity. Drop or impute those entries (e.g. with "
        "sklearn.impute.SimpleImputer, or dask_ml.impute) before fitting."
    )


def _finiteness_check_of(X, check_finite):
    """Where X's NaN/infinity check is made: ``(X_checked, when_read)``.

    Materialised X is checked by validation (``X_checked`` is X). Data read
    from storage at each evaluation are checked where the fit reads each
    block (``when_read``; ``X_checked`` None, so that validation does not read
    the store once more for that check alone).
    """
    when_read = check_finite and not _is_materialised(X)
    return (X if check_finite and not when_read else None), when_read


def _label_sums(y_b, w_b):
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


def _small_integer_labels(y_b):
    """``y_b`` as bincount's indices where every label is an integer in
    [0, 65536) (0/1 labels stored as floats too: 30x faster than a sort of
    250,000 of them); else None."""
    if y_b.dtype.kind not in "iuf" or not y_b.size or not 0 <= y_b.min() <= y_b.max() < 1 << 16:
        return None  # (a NaN fails the comparison)
    if y_b.dtype.kind in "iu":
        return y_b
    index = y_b.astype(np.intp)
    return index if np.array_equal(index, y_b) else None


def _check_stats(stats, check_finite, sample_weight):
    if check_finite and not all(s["x_finite"] for s in stats):
        _raise_x_not_finite()
    if not all(s["y_finite"] for s in stats):
        raise ValueError("Input y contains NaN or infinity; drop or impute those samples.")
    if sample_weight is not None:
        if not all(s["w_finite"] for s in stats):
            raise ValueError("Input sample_weight contains NaN or infinity.")
        if min(s["w_min"] for s in stats) < 0:
            raise ValueError(
                "sample_weight has negative values; weights must be >= 0. "
                "Drop those samples or give them weight 0."
            )


def _check_weight_sum(weight_sum):
    if not weight_sum > 0:
        raise ValueError(
            "sample_weight sums to zero: every sample has weight 0, so there is "
            "nothing to fit. Give at least one sample a positive weight."
        )


# -- the per-block encodings of the target and the weights -------------------------
def _classifier_encoding(classes, class_weight, y_b, w_b, dtype):
    """Target and weights of one block of a classifier's data (as in memory)."""
    from .._classifier import _class_indices
    from .._loss.losses import encode_classes

    y_index, _ = _class_indices(classes, y_b)
    target = encode_classes(y_index, classes.size, dtype, torch.device("cpu"))
    if w_b is None and class_weight is None:
        return target, _equal_weights(y_b.shape[0], dtype)
    weight = np.ones(y_b.shape[0]) if w_b is None else np.asarray(w_b, dtype=np.float64)
    if class_weight is not None:
        weight = weight * class_weight[y_index]
    return target, torch.as_tensor(weight, dtype=dtype)


def _equal_weights(n, dtype):
    """n equal weights as one number seen n times, as in memory (no n-length
    vector to allocate, and fault in, per block)."""
    return torch.ones(1, dtype=dtype).expand(n)


def _regressor_encoding(y_b, w_b, dtype):
    """Target and weights of one block of a regressor's data (as in memory)."""
    target = torch.as_tensor(np.asarray(y_b), dtype=dtype).reshape(-1, 1)
    if w_b is None:
        return target, _equal_weights(y_b.shape[0], dtype)
    return target, torch.as_tensor(np.asarray(w_b, dtype=np.float64), dtype=dtype)


def classifier_objective(
    estimator, X, y, sample_weight, *, reset, classes, check_finite, offset=None
):
    """NeuronClassifier's objective on dask data: validation by reductions, then
    a :class:`DaskObjective` (the analogue of its in-memory ``_build_objective``)."""
    from .._loss.losses import fitted_classes, get_classification_loss

    X, y, sample_weight = _prepare(estimator, X, y, sample_weight, reset=reset)
    X_checked, when_read = _finiteness_check_of(X, check_finite)
    check_finite = X_checked is not None
    stats = _per_block(_column_stats, (X_checked, y, sample_weight), check_finite, True)
    _check_stats(stats, check_finite, sample_weight)
    labels = np.unique(np.concatenate([s["labels"] for s in stats]))
    if reset:
        classes = fitted_classes(labels, classes)
        estimator.classes_ = classes
    classes = estimator.classes_
    unknown = np.setdiff1d(labels, classes)
    if unknown.size:
        raise ValueError(
            f"y has labels {unknown.tolist()} that the model was not fitted on; its "
            f"classes are {classes.tolist()}."
        )
    # Each block's label counts and weight sums, added up by class.
    counts, weight_sums = np.zeros(classes.size), np.zeros(classes.size)
    for block in stats:
        index = np.searchsorted(classes, block["labels"])
        np.add.at(counts, index, block["counts"])
        np.add.at(weight_sums, index, block["sums"])
    class_weight = None
    if estimator.class_weight is not None:  # from the summed weights, as in memory
        class_weight = class_weights(estimator.class_weight, classes, counts, weight_sums)
        weight_sums = weight_sums * class_weight
    weight_sum = float(weight_sums.sum())
    _check_weight_sum(weight_sum)
    dtype = torch.from_numpy(np.empty(0, dtype=X.dtype)).dtype
    share = weight_sums / weight_sum  # the weighted share of each class
    mean_target = share[1:] if classes.size == 2 else share
    loss = get_classification_loss(estimator.loss, classes.size)
    l2, l1 = estimator._penalty_strengths(estimator.C * weight_sum)
    encode = functools.partial(_classifier_encoding, classes, class_weight)
    return DaskObjective(
        X, y, sample_weight, encode, loss, l2, estimator.fit_intercept, l1=l1,
        weight_sum=weight_sum, mean_target=torch.as_tensor(mean_target, dtype=dtype),
        check_finite=when_read, offset=_as_offset(estimator, offset, None, X, loss.n_outputs),
    )


def _regression_sums(loss, y_b, w_b, dtype):
    """One block's check of the target's domain, weight sum and weighted sum of y
    (X's block is not read)."""
    y_b = np.asarray(y_b, dtype=dtype)
    weight = np.ones(y_b.shape[0]) if w_b is None else np.asarray(w_b, dtype=np.float64)
    valid = loss.valid_target(y_b) if y_b.shape[0] else True
    low = float(y_b.min()) if y_b.shape[0] else np.inf
    return valid, low, float(weight.sum()), float(np.dot(weight, y_b))


def _regression_stats(X_b, y_b, w_b, check_finite, loss, dtype):
    """A regressor's validation of one block: :func:`_column_stats` and
    :func:`_regression_sums` (``X_b`` None where X's finiteness is not checked)."""
    stats = _column_stats(X_b, y_b, w_b, check_finite, False)
    return stats, _regression_sums(loss, y_b, w_b, dtype)


def regressor_objective(
    estimator, X, y, sample_weight, *, reset, check_finite, offset=None, exposure=None
):
    """NeuronRegressor's objective on dask data (its ``_build_objective``'s analogue)."""
    X, y, sample_weight = _prepare(estimator, X, y, sample_weight, reset=reset)
    if y.dtype.kind not in "biuf":
        raise ValueError(f"y has dtype {y.dtype}; a regressor needs a numeric target.")
    loss = estimator._get_loss()
    X_checked, when_read = _finiteness_check_of(X, check_finite)
    check_finite = X_checked is not None
    results = _per_block(
        _regression_stats, (X_checked, y, sample_weight), check_finite, loss, X.dtype
    )
    _check_stats([r[0] for r in results], check_finite, sample_weight)
    sums = [r[1] for r in results]
    if not all(s[0] for s in sums):
        raise ValueError(
            f"loss={loss.name!r} requires {loss.target_rule}; y has values outside "
            f"that range (min(y) = {min(s[1] for s in sums):.6g})."
        )
    weight_sum = float(sum(s[2] for s in sums))
    _check_weight_sum(weight_sum)
    dtype = torch.from_numpy(np.empty(0, dtype=X.dtype)).dtype
    mean_target = torch.tensor([sum(s[3] for s in sums) / weight_sum], dtype=dtype)
    return DaskObjective(
        X, y, sample_weight, _regressor_encoding, loss,
        estimator.alpha * (1 - estimator.l1_ratio), estimator.fit_intercept,
        l1=estimator.alpha * estimator.l1_ratio, weight_sum=weight_sum,
        mean_target=mean_target, check_finite=when_read,
        offset=_as_offset(estimator, offset, exposure, X, 1),
    )


# -- the objective ---------------------------------------------------------------------
@dataclass(frozen=True)
class _BlockSpec:
    """What a worker needs, besides its block, to build the block's objective."""

    encode: object
    loss: object
    fit_intercept: bool
    weight_sum: float
    #: Check X's block for NaN and infinity (data validated where they are read).
    check_finite: bool = False


def _block_objective(spec, X_b, y_b, w_b, o_b=None):
    """The in-memory objective on one block: no penalty, the whole set's normalisation
    (``o_b`` the block's offset, or None)."""
    from .._validation import to_tensor

    if spec.check_finite and not _x_finite(X_b):
        _raise_x_not_finite()
    X_t = to_tensor(X_b, torch.device("cpu"))
    target, weight = spec.encode(y_b, w_b, X_t.dtype)
    offset = None if o_b is None else to_tensor(np.asarray(o_b), torch.device("cpu"), X_t.dtype)
    return LinearObjective(
        X_t, target, weight, spec.loss, 0.0, spec.fit_intercept, weight_sum=spec.weight_sum,
        offset=offset,
    )


def _cached_block_objective(spec, X_b, y_b, w_b, o_b=None):
    """The block's objective, kept on its worker (None for an empty block)."""
    if X_b.shape[0] == 0:
        return None
    return _block_objective(spec, X_b, y_b, w_b, o_b)


def _on_block(function, args, X_b, y_b, w_b, o_b, spec):
    """``function(block_objective, *args)`` on the worker; None for an empty block."""
    return _on_objective(function, args, _cached_block_objective(spec, X_b, y_b, w_b, o_b))


def _on_objective(function, args, objective):
    """``function(objective, *args)`` on a (cached) block objective; None for none."""
    if objective is None:
        return None
    with torch.inference_mode(not objective.loss.uses_autograd):
        return function(objective, *args)


class _SubsampleOptimum:
    """In a prefetched evaluation's arguments, the place of the subsample fit's
    theta, which the worker reads from that fit's result (see
    :meth:`DaskObjective.subsample_newton`)."""


def _on_objectives(function, calls, objectives, fitted=None):
    """The sum of :func:`_on_objective` over several block objectives of one worker.

    ``fitted``, the result of :func:`_newton_on_objectives`, puts its theta
    where the calls' arguments hold a :class:`_SubsampleOptimum` (None, and
    nothing evaluated, if that fit did not converge).
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


def _client():
    """The ``distributed`` client in use, or None (dask's own schedulers then run)."""
    try:
        from distributed import default_client
    except ImportError:
        return None
    try:
        return default_client()
    except ValueError:  # no client started
        return None


def _is_materialised(array):
    """Whether a dask array's graph holds only its blocks (persisted, or in memory).

    Such data sit in the cluster's memory already, so their block objectives
    can be kept there too; an array still to be read or computed (from a
    store on disk, say) is read again at each evaluation instead.
    """
    return len(array.__dask_graph__()) == array.npartitions


class _Maximum(float):
    """An entry of a reduction's tuple that :func:`_add` combines by ``max``."""

    def __reduce__(self):
        return _Maximum, (float(self),)


def _combine(entries):
    if isinstance(entries[0], _Maximum):
        return _Maximum(max(entries, key=_nan_first))
    return functools.reduce(np.add, entries)


def _nan_first(value):
    """Sort key under which NaN is the largest (a NaN maximum propagates)."""
    return (np.isnan(value), value)


def _add(parts):
    """Entry-wise sum of tuples of arrays (None parts skipped; None if all are);
    :class:`_Maximum` entries are combined by their maximum instead."""
    parts = [p for p in parts if p is not None]
    if not parts:
        return None
    return tuple(_combine(entries) for entries in zip(*parts, strict=True))


def _numpy(value):
    return np.asarray(value.detach().cpu().numpy() if torch.is_tensor(value) else value)


def _value_gradient(objective, theta):
    f, g, _ = objective.value_gradient(torch.from_numpy(theta))
    return _numpy(f), _numpy(g)


def _hessian(objective, theta):
    theta = torch.from_numpy(theta)
    return (_numpy(objective.hessian(theta)),)  # chunked on a large block: no raw kept


def _value_gradient_hessian(objective, theta):
    """Value, gradient and Hessian of a block read once (one pass over a large block)."""
    f, g, _, H = objective.value_gradient_hessian(torch.from_numpy(theta))
    return _numpy(f), _numpy(g), _numpy(H)


def _joined_objective(objectives, l2, l1):
    """One in-memory objective on the rows of several block objectives (same
    normalisation), with penalty strengths ``l2`` and ``l1``."""
    objectives = [o for o in objectives if o is not None]
    first = objectives[0]
    if len(objectives) == 1:
        return first.with_penalty(l2, l1)
    # The blocks' weights are normalised already: a weight sum of 1 keeps them.
    offset = None if first.offset is None else torch.cat([o.offset for o in objectives])
    return LinearObjective(
        torch.cat([o.X for o in objectives]), torch.cat([o.target for o in objectives]),
        torch.cat([o.weight for o in objectives]), first.loss, l2, first.fit_intercept,
        l1=l1, weight_sum=1.0, offset=offset,
    )


def _newton_on_objectives(settings, theta, *objectives):
    """Newton on the joined block objectives, in one task: ``(result, hessian)``,
    the result's theta and a Hessian near it (None if not converged) as numpy:
    the last one Newton computed, one quadratically convergent step before
    its result (all the full fit's first step needs: an estimate)."""
    from .._solvers.optimizers import newton

    l2, l1, tol, max_iter = settings
    objective = _KeepsLastHessian(_joined_objective(objectives, l2, l1))
    theta = torch.from_numpy(theta)
    with torch.inference_mode(not objective.loss.uses_autograd):
        strided = _strided_objective(objective._objective)
        result = None
        if strided is not None:
            start = newton(strided, theta, tol=tol, max_iter=max_iter)
            if start.converged:
                # One step from there is in the last, quadratic, iterations;
                # a final step would refine a warm start past its sampling error.
                result = newton(objective, start.theta, tol=tol, max_iter=1)
        if result is None or not result.converged:
            theta = theta if result is None else result.theta
            result = newton(objective, theta, tol=tol, max_iter=max_iter)
        hessian = None
        if result.converged:
            hessian = objective.last
            if hessian is None:  # converged where it started
                hessian = objective.hessian(result.theta)
            hessian = _numpy(hessian)
    result.theta = _numpy(result.theta)
    return result, hessian


class _KeepsLastHessian:
    """An objective that keeps the last Hessian asked of it."""

    def __init__(self, objective):
        self._objective = objective
        self.last = None

    def __getattr__(self, name):
        return getattr(self._objective, name)

    def hessian(self, theta, raw=None, pointwise=None):
        self.last = self._objective.hessian(theta, raw, pointwise)
        return self.last


def _strided_objective(objective):
    """The objective on every :data:`WARM_START_STRIDE`-th row of a large
    in-memory one, its penalty scaled by that share (its minimiser estimates
    the whole one's, as :meth:`DaskObjective.subsample`'s does); or None."""
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


def _newton_on_blocks(settings, spec, theta, *flat_blocks):
    """:func:`_newton_on_objectives` on blocks read for it (data not persisted):
    ``flat_blocks`` is ``X_b, y_b, w_b, o_b`` of each block in turn."""
    blocks = [flat_blocks[i : i + 4] for i in range(0, len(flat_blocks), 4)]
    objectives = [_cached_block_objective(spec, *b) for b in blocks]
    return _newton_on_objectives(settings, theta, *objectives)


class DaskObjective:
    """:class:`~sklearn_neuron._objective.linear.LinearObjective`'s interface on dask data.

    Every evaluation is a reduction: each block of rows, on its worker, is
    made into a ``LinearObjective`` (normalised by the whole data set's
    weight sum, without penalty) whose value, gradient or Hessian is the
    block's share; the shares are added, and the penalty added on the
    driver, which holds only ``theta`` and the (n_params x n_params)
    results. Methods that need the rows themselves (minibatches, the
    exact absolute-error solver) refuse.

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
        Weighted mean of the encoded target (the best constant model's).
    offset : dask.array.Array of shape (n_samples, n_outputs) or None
        Chunked as X's rows; each block's objective adds its rows' offsets.
    """

    is_sparse = False
    is_small = False
    #: Each evaluation is a reduction over the workers (see ``resolve_optimizer``).
    distributed = True
    #: ``(blocks, of blocks)`` where this objective is a :meth:`subsample`.
    subsample_blocks = None
    #: The share of the rows in those blocks, where this objective is a :meth:`subsample`.
    subsample_share = None

    def __init__(
        self, X, y, sample_weight, encode, loss, l2, fit_intercept, *, l1, weight_sum,
        mean_target, check_finite=False, offset=None,
    ):
        self.X, self.y, self.sample_weight = X, y, sample_weight
        #: A dask array (n_samples, n_outputs) chunked as X's rows, or None.
        self.offset = offset
        self.loss = loss
        self.l2, self.l1 = float(l2), float(l1)
        self.fit_intercept = bool(fit_intercept)
        self.n_features = X.shape[1]
        self.n_outputs = loss.n_outputs
        self.n_params_per_output = self.n_features + self.fit_intercept
        self.n_params = self.n_outputs * self.n_params_per_output
        self.weight_sum = float(weight_sum)
        self.mean_target = mean_target
        self.dtype = mean_target.dtype
        self.device = torch.device("cpu")
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
        self._abs_max = None
        self._fingerprint_sums = None  # see fingerprint
        self._row_bounds = None  # see row_bounds
        self._prefetched = None  # see _evaluate
        # Persisted data: build each block's LinearObjective once, on the
        # worker that holds the block (validation, encoding and layout are
        # then not repeated at every evaluation); it shares the block's memory.
        self._built = None  # see _objectives
        self._groups = None  # see _worker_groups
        #: The client's futures of the blocks (persisted data), or None.
        self._held = None if self._client is None else _held_blocks(
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
    def _objectives(self):
        """The cached block objectives (futures, or persisted delayed objects),
        or None where each evaluation reads the blocks.

        Blocks persisted on the client's cluster get theirs built at the first
        use, submitted then: Newton's subsample fit, which reads the blocks
        themselves, is submitted before them and so runs first.
        """
        if self._built is None and self._held is not None and self.subsample_blocks is None:
            self._build_on_holders()
        return self._built

    def _build_on_holders(self):
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
        self._groups = _holder_groups(self._client, [b[0] for b in self._held])
        built = [None] * len(self._held)
        for address, group in self._groups:
            # One submission per worker (the scheduler's cost is per submission).
            futures = self._client.map(
                _cached_block_objective, [self._spec] * len(group),
                *zip(*(self._held[i] for i in group), strict=True), pure=False,
                workers=None if address is None else [address], allow_other_workers=True,
            )
            for i, future in zip(group, futures, strict=True):
                built[i] = future
        self._built = built

    # What does not read the data is LinearObjective's own code.
    zeros = LinearObjective.zeros
    unpack = LinearObjective.unpack
    pack = LinearObjective.pack
    penalty = LinearObjective.penalty
    _add_l2 = LinearObjective._add_l2
    _penalized_gradient = LinearObjective._penalized_gradient
    l1_weights = LinearObjective.l1_weights
    full_value = LinearObjective.full_value
    null_mask = LinearObjective.null_mask
    center = LinearObjective.center
    with_penalty = LinearObjective.with_penalty
    _l2_columns = LinearObjective.__dict__["_l2_columns"]
    _l2_flat = LinearObjective.__dict__["_l2_flat"]
    _penalty_hessian = LinearObjective.__dict__["_penalty_hessian"]

    @property
    def inference_results_class(self):
        """Inference on this objective reduces over the blocks too."""
        from .inference import DaskInferenceResults

        return DaskInferenceResults

    def reduce(self, function, *args, per_block=None):
        """Sum over the blocks of ``function(block_objective, *args)`` (tuples of arrays).

        ``per_block``: a tuple of further arguments for each block, appended
        to ``args`` on that block.

        ``function`` runs on the workers (it and ``args`` are pickled); the
        sums are taken in a tree of ``_SPLIT_EVERY``-way additions there, and
        only the total comes to the driver.
        """
        dask, _ = import_dask()
        if self._client is not None and self._objectives is not None:
            return _add(self._client.gather(self._submit(function, args, per_block)))
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
        return _add(dask.compute(*parts))

    def _submit(self, function, args, per_block, fitted=None):
        """:meth:`reduce`'s tasks on cached block objectives with a distributed
        client (a list of futures); ``fitted`` as :func:`_on_objectives` takes it.

        One task per worker thread, over the cached block objectives that
        worker holds, submitted directly: no graph to build or optimise on
        the driver, and a few tasks per evaluation instead of one per block
        (the scheduler's per-task cost was half of an evaluation's time at 16
        blocks of 125,000 x 20 on 2 workers).
        """
        per_block = [()] * len(self._blocks) if per_block is None else per_block
        calls = [args + tuple(extra) for extra in per_block]
        extra = {} if fitted is None else {"fitted": fitted}
        return [
            self._client.submit(
                _on_objectives, function, [calls[i] for i in group],
                [self._objectives[i] for i in group],
                workers=None if address is None else [address],
                allow_other_workers=True, pure=False, **extra,
            )
            for address, group in self._worker_groups()
        ]

    def subsample(self):
        """The objective on evenly spread blocks, to warm-start Newton; or None.

        Large data only (:data:`WARM_START_MIN_ROWS` rows and 4 blocks at
        least): about :data:`WARM_START_FRACTION` of the rows, and
        :data:`WARM_START_SUBSAMPLE_MIN_ROWS` at least, in whole blocks spread
        over the array (data sorted by time or label are then sampled
        across). Its data term is the full one's restricted to these rows
        (normalised by the whole weight sum), so its penalty is scaled by
        the share of rows: its minimiser estimates the full objective's.
        """
        rows = np.asarray(self.X.chunks[0])
        n, n_blocks = int(rows.sum()), rows.size
        if self.subsample_blocks is not None or n < WARM_START_MIN_ROWS or n_blocks < 4:
            return None
        wanted = max(n * WARM_START_FRACTION, WARM_START_SUBSAMPLE_MIN_ROWS)
        for k in range(1, n_blocks):
            # k blocks at the centres of k equal stretches of the array
            chosen = np.unique(((np.arange(k) + 0.5) * n_blocks / k).astype(int))
            if rows[chosen].sum() >= wanted:
                break
        else:
            return None
        share = float(rows[chosen].sum()) / n
        if share > 0.5:
            return None  # blocks too large to subsample
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

    def subsample_newton(self, theta, *, tol, max_iter):
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
        blocks, n_blocks = sub.subsample_blocks
        if hessian is not None:
            hessian = torch.as_tensor(hessian, dtype=self.dtype) / sub.subsample_share
        return result, hessian, f"warm start on {blocks} of {n_blocks} blocks, on a worker"

    def _theta(self, theta):
        return theta.detach().cpu().numpy()

    def _worker_groups(self):
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
            self._groups = _holder_groups(self._client, self._objectives)
        return self._groups

    # -- value and derivatives ---------------------------------------------
    def initial_theta(self):
        """Cold start: zero coefficients, intercepts of the best constant model
        (less the offset's mean, as in memory)."""
        theta = self.zeros()
        if self.fit_intercept:
            theta.view(self.n_outputs, -1)[:, -1] = self._baseline(centred=True)
        return theta

    def _baseline(self, centred=False):
        """The loss's own rule for the best constant, on the weighted mean target
        (every built-in rule reads only that); ``centred``, less the offset's mean."""
        one = torch.ones(1, dtype=self.dtype)
        baseline = self.loss.baseline_raw(self.mean_target.reshape(1, -1), one)
        if centred and self.offset is not None:
            (mean,) = _compute([self.offset.mean(axis=0)])
            baseline = baseline - torch.as_tensor(mean, dtype=self.dtype)
        return baseline

    def null_raw(self):
        """The best constant raw output (n_outputs,): without an offset the
        loss's rule; with one, fitted with the offset in place by Newton's
        method, each step one reduction (the blocks add their offsets to it)."""
        if self.offset is None:
            return self._baseline()
        start = self._baseline(centred=True)

        def terms(constant):
            return self.reduce(_constant_terms, constant.numpy())

        return fit_constant(terms, start.to(torch.float64)).to(self.dtype)

    def value_gradient(self, theta, index=None):
        """``(f, grad, None)`` at ``theta``: one reduction over the blocks."""
        if index is not None:
            raise ValueError("Minibatches do not read dask blocks; see DaskObjective.")
        f, g = self._evaluate(_value_gradient, self._theta(theta))
        f = torch.as_tensor(f, dtype=self.dtype)
        g = torch.as_tensor(g, dtype=self.dtype)
        return (*self._add_l2(f, g, theta), None)

    def value(self, theta, raw=None):
        """Objective value at ``theta`` (a 0-d tensor)."""
        return self.value_gradient(theta)[0]

    @property
    def reads_per_evaluation(self):
        """Whether each evaluation reads the blocks again (data not persisted).

        Reading then costs more than the arithmetic, so Newton evaluates
        value, gradient and Hessian in one reduction, one read of each block
        (:meth:`value_gradient_hessian`). (``optimizer="auto"`` prefers
        Newton on any dask data: see :attr:`distributed`.)
        """
        return self._held is None and self._built is None

    def value_gradient_hessian(self, theta):
        """``(f, grad, None, hessian)`` at ``theta``: one reduction, each block read once."""
        f, g, H = self._evaluate(_value_gradient_hessian, self._theta(theta))
        f, g = self._add_l2(
            torch.as_tensor(f, dtype=self.dtype), torch.as_tensor(g, dtype=self.dtype), theta
        )
        return f, g, None, self._add_penalty_hessian(torch.as_tensor(H, dtype=self.dtype))

    def hessian(self, theta, raw=None, pointwise=None):
        """Hessian of the objective at ``theta`` (``raw`` unused): one reduction."""
        if pointwise is not None:
            raise ValueError("A per-row pointwise Hessian does not travel to dask blocks.")
        (H,) = self.reduce(_hessian, self._theta(theta))
        return self._add_penalty_hessian(torch.as_tensor(H, dtype=self.dtype))

    def _add_penalty_hessian(self, H):
        if self._penalty_hessian is None:
            return H
        K, q = self.n_outputs, self.n_params_per_output
        H = H.clone().view(K, q, K, q)
        for k in range(K):
            H[k, :, k, :] += self._penalty_hessian
        return H.reshape(K * q, K * q)

    def abs_max(self):
        """Largest absolute entry of X: one reduction, the first time it is asked for."""
        if self._abs_max is None:
            import dask

            parts = [dask.delayed(_block_abs_max)(block[0]) for block in self._blocks]
            self._abs_max = float(max(_compute(parts)))  # NaN propagates
        return self._abs_max

    def fingerprint(self):
        """:func:`~sklearn_neuron._objective.fingerprint.data_fingerprint` by one reduction.

        The same sums as in memory (position-weighted targets and weights,
        sampled rows of X times a fixed vector), each block adding its rows'
        terms at their global positions: nothing is gathered. The first
        evaluation of a fit takes them along (:meth:`_evaluate`), saving
        the pass of their own.
        """
        if self._fingerprint_sums is None:
            self._store_summaries(
                self.reduce(_data_summaries_block, per_block=self._fingerprint_arguments())
            )
        target, target_scale, weight, rows, rows_scale = self._fingerprint_sums
        offset = offset_scale = np.zeros(self.n_outputs)
        if self.offset is not None:
            offset, offset_scale = self.reduce(
                _offset_sums_block, per_block=self._fingerprint_arguments()
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

    def _fingerprint_arguments(self):
        """Per block: its first row, its rows and the sampled rows' global indices."""
        from .._objective.fingerprint import sampled_rows

        n = self.X.shape[0]
        index = sampled_rows(n)  # the rows the in-memory fingerprint reads
        starts = np.cumsum((0,) + self.X.chunks[0])
        return [
            (int(a), int(b) - int(a), index)
            for a, b in zip(starts[:-1], starts[1:], strict=True)
        ]

    def row_bounds(self):
        """``(largest |entry|, largest row L1 norm)`` of the design with its
        intercept column (:func:`~sklearn_neuron._solvers.certificate.row_bounds`), or
        None until the first evaluation of the whole data has found them."""
        return self._row_bounds

    def _evaluation(self, function, theta):
        """``(function, args, per_block)`` of :meth:`reduce` for ``function`` at
        ``theta``: the first evaluation of the whole data also takes the
        fingerprint's sums and the row bounds, in the same pass."""
        if self._fingerprint_sums is not None or self.subsample_blocks is not None:
            return function, (theta,), None
        return _with_data_summaries, (function, theta), self._fingerprint_arguments()

    def _evaluate(self, function, theta):
        """``reduce(function, theta)``, with the fingerprint's sums on the first
        call (:meth:`_evaluation`); or, if it is of ``function`` at ``theta``,
        the evaluation prefetched at the subsample's optimum."""
        prefetched, self._prefetched = self._prefetched, None
        submitted, args, per_block = self._evaluation(function, theta)
        if prefetched is not None:
            inner, at, as_submitted, parts = prefetched
            if inner is function and as_submitted is submitted and np.array_equal(at, theta):
                return self._evaluated(submitted, _add(self._client.gather(parts)))
            self._client.cancel(parts)
        return self._evaluated(submitted, self.reduce(submitted, *args, per_block=per_block))

    def _evaluated(self, function, sums):
        if function is not _with_data_summaries:
            return sums
        self._store_summaries(sums[-7:])
        return sums[:-7]

    def _store_summaries(self, sums):
        """Keep :func:`_data_summaries_block`'s reduced terms."""
        self._fingerprint_sums = sums[:5]
        self._row_bounds = tuple(float(bound) for bound in sums[5:])

    def design(self):
        raise ValueError(
            "The exact least-absolute-deviations solver needs the whole design matrix "
            "in memory, which dask data are not gathered into; fit loss='absolute_error' "
            "on dask data with optimizer='lbfgs' (a smooth approximation of the kink)."
        )

    def rows(self, index):
        raise ValueError("Selecting rows of dask data on the driver would gather them.")


def _fingerprint_block(objective, start, n_rows, index):
    """One block's terms of the fingerprint's sums (rows outside it are zeros)."""
    from .._objective.fingerprint import position_sums, sampled_row_products

    target, target_scale, weight = position_sums(objective, start)
    inside = (index >= start) & (index < start + n_rows)
    rows = objective.X[torch.from_numpy(index[inside] - start)].numpy().astype(np.float64)
    products, scales = np.zeros(index.size), np.zeros(index.size)
    products[inside], scales[inside] = sampled_row_products(rows)
    return target, target_scale, np.asarray(weight), products, scales


def _offset_sums_block(objective, start, n_rows, index):
    """One block's terms of the fingerprint's offset sums."""
    from .._objective.fingerprint import offset_sums

    return offset_sums(objective, start)


def _data_summaries_block(objective, start, n_rows, index):
    """One block's fingerprint terms and its row bounds (as :class:`_Maximum` entries)."""
    abs_max, l1_max = row_bounds(objective.X, objective.fit_intercept)
    return _fingerprint_block(objective, start, n_rows, index) + (
        _Maximum(abs_max), _Maximum(l1_max),
    )


def _with_data_summaries(objective, function, theta, start, n_rows, index):
    """``function(objective, theta)`` and the block's :func:`_data_summaries_block`, one tuple."""
    return function(objective, theta) + _data_summaries_block(objective, start, n_rows, index)


def _block_abs_max(X_b):
    return float(np.max(np.abs(X_b))) if X_b.size else 0.0


# -- predictions ---------------------------------------------------------------------
def _predict_block(X_b, *rest):
    """The prediction ``name`` on one block; ``rest`` the blocks of the per-row
    arguments (offsets, as 2-D blocks), then ``estimator, name, feature_names, keys``."""
    *columns, estimator, name, feature_names, keys = rest
    if feature_names is not None:
        import pandas as pd

        X_b = pd.DataFrame(X_b, columns=feature_names)
    per_row = {key: np.asarray(column) for key, column in zip(keys, columns, strict=True)}
    return getattr(estimator, name)(X_b, **per_row)


def _per_row_arguments(method, estimator, X, args, kwargs):
    """The per-row arguments (offset, exposure) of a prediction on dask X, as
    2-D dask arrays chunked as X's rows: ``(keys, arrays)``."""
    import inspect

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


def maps_dask_blocks(method):
    """Let a prediction method take a dask array: a lazy dask array of its results.

    The in-memory method runs on each block of rows (``map_blocks``);
    nothing is computed until the result is.
    """
    name = method.__name__

    @functools.wraps(method)
    def wrapper(self, X, *args, **kwargs):
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


def _frame_rows(X, estimator):
    """A dask DataFrame's rows as a dask array (lazy: row counts stay unknown)."""
    from sklearn.utils.validation import _check_feature_names, _check_n_features

    _check_feature_names(estimator, X._meta, reset=False)
    _check_n_features(estimator, X._meta, reset=False)
    X = X.to_dask_array()
    if X.dtype not in FLOAT_DTYPES:
        X = X.astype(np.float64)
    return X


# -- inference ---------------------------------------------------------------------

def _constant_terms(objective, constant):
    return objective.constant_terms(torch.from_numpy(constant))
