"""Input checks, targets and the conversion of validated arrays into torch tensors.

The checks cover X and y, the labels of a classifier and their encoding as
class indices, ``sample_weight`` and the ``class_weight`` parameter, whose
weights (``"balanced"`` included) are computed here for every storage. Each
check of a statistic (the weights' minimum and sum, the labels outside the
fitted classes, an offset's shape and finiteness) is one function that raises
one message, called on arrays in memory and on the statistics that Dask
reductions return (:mod:`sklearn_neuron._dask.validation`): every storage
refuses the same data with the same words. (A regression target's range is
its loss's: :mod:`sklearn_neuron._loss.targets`.)
"""

from __future__ import annotations

import threading
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import numpy as np
import scipy.sparse
import torch
from sklearn import get_config
from sklearn.utils.class_weight import compute_class_weight
from sklearn.utils.multiclass import check_classification_targets
from sklearn.utils.validation import _check_sample_weight, validate_data

#: The dtypes the estimators fit in; anything else is converted to the first.
FLOAT_DTYPES = (np.float64, np.float32)


def validate_arrays(
    estimator: Any, X: Any, y: Any = "no_validation", *, reset: bool,
    ensure_all_finite: bool = True, y_numeric: bool = False,
) -> Any:
    """scikit-learn's ``validate_data`` as the estimators call it, quick on plain arrays.

    X may be dense or CSR/CSC, float64 or float32 (anything else becomes
    float64); y, when given, is one target per sample. Returns X, or (X, y).

    scikit-learn's checks cost the same whatever the data (dataframe and
    array-API detection, tags, feature names), a noticeable share of a whole
    fit on a dataset of a few hundred rows. Input that
    needs nothing done - a 2-D numpy float64/float32 ndarray (not a
    subclass) with finite entries and at least one row and one column, and
    a 1-D contiguous numeric ndarray y of as many finite entries - is
    accepted here after exactly those checks, with the fitted state
    ``validate_data`` would set (``n_features_in_``; no
    ``feature_names_in_``). Everything else, and every input that fails a
    check, goes through ``validate_data``, so that conversions, warnings and
    error messages are scikit-learn's own.
    """
    no_y = isinstance(y, str) and y == "no_validation"
    if not _needs_nothing(estimator, X, y, no_y, reset, ensure_all_finite):
        kwargs = dict(accept_sparse=["csr", "csc"], dtype=list(FLOAT_DTYPES), reset=reset,
                      ensure_all_finite=ensure_all_finite)
        if no_y:
            return validate_data(estimator, X, **kwargs)
        return validate_data(estimator, X, y, y_numeric=y_numeric, multi_output=False,
                             **kwargs)
    if reset:
        if hasattr(estimator, "feature_names_in_"):
            delattr(estimator, "feature_names_in_")
        estimator.n_features_in_ = X.shape[1]
    return X if no_y else (X, y)


def _needs_nothing(
    estimator: Any, X: Any, y: Any, no_y: bool, reset: bool, ensure_all_finite: bool
) -> bool:
    """Whether ``validate_data`` would return X (and y, unless ``no_y``) unchanged."""
    if type(X) is not np.ndarray or X.ndim != 2 or X.dtype not in FLOAT_DTYPES:
        return False
    n_samples, n_features = X.shape
    if n_samples < 1 or n_features < 1:
        return False
    if not reset and (
        hasattr(estimator, "feature_names_in_")  # ndarray X: a warning to give
        or getattr(estimator, "n_features_in_", None) != n_features
    ):
        return False
    config = get_config()
    if config["array_api_dispatch"]:
        return False
    check_finite = not config["assume_finite"]
    with np.errstate(over="ignore", invalid="ignore"):
        if ensure_all_finite and check_finite and not _sum_is_finite(X):
            return False
        if no_y:
            return True
        return (
            type(y) is np.ndarray
            and y.ndim == 1
            and y.shape[0] == n_samples
            and y.dtype.kind in "biuf"
            and y.flags.c_contiguous
            and not (check_finite and y.dtype.kind == "f" and not np.isfinite(y.sum()))
        )


#: From this many entries X's finiteness sum runs on torch's threads.
_TORCH_SUM_ENTRIES = 1 << 16


def _sum_is_finite(X: np.ndarray) -> bool:
    """Whether the sum of X's entries is finite (so is every entry, barring overflow).

    Summed by torch over a view where X is large and writable (torch
    refuses read-only memory): its reduction uses every thread, numpy's one,
    which on 200,000 x 100 float64 took 9 ms against torch's 5 on 2 cores
    (small X: numpy's, without torch's per-call cost). An
    overflowing sum of finite entries reads as not finite either way, and
    the caller then leaves the check to scikit-learn's element-wise one.
    """
    if X.size >= _TORCH_SUM_ENTRIES and X.flags.writeable and all(s > 0 for s in X.strides):
        return bool(torch.isfinite(torch.from_numpy(X).sum()))
    return bool(np.isfinite(X.sum()))


def check_sample_weight(sample_weight: Any, X: Any, dtype: Any) -> np.ndarray:
    """Validate ``sample_weight``: finite, non-negative, with a positive sum.

    Returns a float array of shape (n_samples,); ``None`` gives ones, as a
    read-only view of one number (no n-length allocation; the objective
    keeps uniform weights so). The caller's array is never modified.
    """
    if sample_weight is None:
        return np.broadcast_to(np.ones(1, dtype=dtype), (X.shape[0],))
    try:
        # Negative weights are refused below, by the check Dask's blocks use.
        sample_weight = _check_sample_weight(sample_weight, X, dtype=dtype, copy=True)
    except (TypeError, ValueError) as exc:
        if "could not convert" in str(exc) or isinstance(exc, TypeError):
            raise ValueError(
                f"sample_weight must hold numbers, but {exc}. Pass a numeric array "
                "of one weight per sample (e.g. sample_weight.astype(float))."
            ) from exc
        if "non-zero" in str(exc):  # all zero (scikit-learn checks that first)
            check_sample_weight_sum(0.0)
        raise
    check_weight_minimum(float(sample_weight.min()))
    check_sample_weight_sum(float(sample_weight.sum()))
    return sample_weight


def check_weight_minimum(minimum: float) -> None:
    """Refuse negative sample weights, given the smallest weight.

    ``minimum`` is that of the weights in memory, or the least of the
    minima of a Dask array's blocks.
    """
    if minimum < 0:
        raise ValueError(
            "sample_weight has negative values; weights must be >= 0. "
            "Drop those samples or give them weight 0."
        )


def check_sample_weight_sum(total: float) -> None:
    """Refuse sample weights whose sum ``total`` is not positive (nothing to fit)."""
    if not total > 0:
        raise ValueError(
            "sample_weight sums to zero: every sample has weight 0, so there is "
            "nothing to fit. Give at least one sample a positive weight."
        )


def check_offset(
    offset: Any, n_samples: int, n_outputs: int, dtype: Any, *, exposure: Any = None
) -> np.ndarray | None:
    """Validate ``offset`` (or ``exposure``, whose log it then is) against the rows.

    Returns a float array of shape (n_samples, n_outputs), a copy, or None
    for no offset. A single-output model takes shape (n_samples,) (or
    (n_samples, 1)); a softmax over K classes takes (n_samples, K), one
    column per class (a shared column would cancel in the softmax).
    """
    if exposure is not None:
        if offset is not None:
            raise ValueError(
                "Pass offset or exposure, not both: exposure is the offset "
                "log(exposure). Add log(exposure) to the offset and pass that alone."
            )
        exposure = _offset_array(exposure, "exposure", dtype)
        if exposure.size and not (exposure > 0).all():
            check_exposure_positive(int((~(exposure > 0)).sum()))
        offset, name = np.log(exposure), "exposure"
    elif offset is None:
        return None
    else:
        offset, name = _offset_array(offset, "offset", dtype), "offset"
    shape = offset.shape
    if offset.ndim == 1 and n_outputs == 1:
        offset = offset.reshape(-1, 1)
    check_offset_shape(name, shape, offset.shape, n_samples, n_outputs)
    if not np.isfinite(offset).all():
        check_offset_finite(name, int((~np.isfinite(offset)).sum()))
    return offset


def check_offset_shape(
    name: str, given: tuple[int, ...], shape: tuple[int, ...], n_samples: int, n_outputs: int
) -> None:
    """Refuse an offset (or exposure, ``name``) whose ``shape`` is not
    (n_samples, n_outputs); ``given`` is its shape as passed, which the message names."""
    if tuple(shape) == (n_samples, n_outputs):
        return
    expected = f"({n_samples},)" if n_outputs == 1 else f"({n_samples}, {n_outputs})"
    per_class = (
        "" if n_outputs == 1 else
        f" and one column per class ({n_outputs}, in the order of classes_; a "
        "column shared by every class would cancel in the softmax)"
    )
    raise ValueError(
        f"{name} has shape {given}; expected {expected}: one "
        f"{'value' if n_outputs == 1 else 'row'} per sample of X"
        f"{per_class}."
    )


def check_exposure_positive(n_bad: int) -> None:
    """Refuse an exposure with ``n_bad`` entries <= 0 or NaN (its log is the offset)."""
    if n_bad:
        raise ValueError(
            "exposure must be positive (it enters the model as log(exposure)); "
            f"it has {n_bad} entries <= 0 or NaN. Drop "
            "those samples or pass the offset directly."
        )


def check_offset_finite(name: str, n_bad: int) -> None:
    """Refuse an offset (or the log of an exposure, ``name``) with ``n_bad``
    non-finite entries."""
    if n_bad:
        raise ValueError(
            f"{name} has {n_bad} non-finite entries (NaN or "
            f"inf); every sample needs a finite {name}. Drop those samples or fill them."
        )


def _offset_array(values: Any, name: str, dtype: Any) -> np.ndarray:
    """``values`` as a float array of ``dtype`` (a copy), or a ValueError naming ``name``."""
    if scipy.sparse.issparse(values):
        values = values.toarray()
    try:
        return np.array(values, dtype=dtype)
    except (TypeError, ValueError) as exc:
        raise ValueError(
            f"{name} must hold numbers, but {exc}. Pass a numeric array of one "
            f"{name} value per sample."
        ) from exc


def check_weight_sum(weight: np.ndarray | float, what: str) -> None:
    """Refuse weights that sum to zero (nothing to fit), naming where they came from.

    ``weight`` is the weights themselves or their sum (a Dask reduction's).
    """
    if not float(np.sum(weight)) > 0:
        raise ValueError(
            f"{what} sums to zero: every sample has weight 0, so there is nothing to "
            "fit. Give at least one sample of a present class a positive weight."
        )


def class_weights(
    class_weight: Any, classes: np.ndarray, counts: np.ndarray, weight_sums: np.ndarray
) -> np.ndarray:
    """The weight of each class under the ``class_weight`` parameter.

    The one place where ``"balanced"`` is computed, for data in memory and
    on dask alike: ``counts`` is the number of samples of each of
    ``classes`` and ``weight_sums`` their summed ``sample_weight`` (the
    counts again when there is none), computed from y in memory or by
    reductions over dask blocks. ``"balanced"`` is scikit-learn's
    ``compute_class_weight("balanced", ..., sample_weight=...)``, as
    LogisticRegression applies it: ``sum(weight_sums) / (n_present *
    weight_sums)``, with ``n_present`` the number of classes present in y.
    A dict gives its values (scikit-learn's own lookup of the labels), and
    must hold numbers.

    Classes absent from y (named by ``partial_fit``'s ``classes``, or a
    cross-validation fold's) weigh 1: no sample carries them. A present
    class whose samples all weigh 0 weighs 0 (scikit-learn's ``"balanced"``
    divides by zero there); its samples carry nothing either way.

    Returns
    -------
    weights : ndarray of shape (n_classes,)
        Finite and non-negative (checked by :func:`check_class_weight`).
    """
    present = np.asarray(counts) > 0
    weights = np.ones(classes.size)
    if isinstance(class_weight, str) and class_weight == "balanced":
        sums = np.asarray(weight_sums, dtype=np.float64)[present]
        with np.errstate(divide="ignore"):
            balanced = sums.sum() / (present.sum() * sums)
        weights[present] = np.where(sums > 0, balanced, 0.0)
    elif class_weight:
        for label, value in class_weight.items():
            try:
                float(value)
            except (TypeError, ValueError) as exc:
                raise ValueError(
                    f"class_weight has the non-numeric weight {value!r} for class "
                    f"{label!r}; class weights must be numbers >= 0, e.g. "
                    f"class_weight={{{label!r}: 2.0, ...}}."
                ) from exc
        weights[present] = compute_class_weight(
            class_weight, classes=classes, y=classes[present]
        )[present]
    return check_class_weight(weights, classes)


def class_weights_of_labels(
    class_weight: str | dict | None, classes: np.ndarray, y_index: np.ndarray,
    sample_weight: np.ndarray,
) -> np.ndarray:
    """:func:`class_weights` of labels in memory: ``y_index`` indexes ``classes``."""
    counts = np.bincount(y_index, minlength=classes.size)
    weight_sums = np.bincount(y_index, weights=sample_weight, minlength=classes.size)
    return class_weights(class_weight, classes, counts, weight_sums)


def class_indices(classes: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Index of each label of ``y`` in the sorted ``classes``, and which are classes at all.

    The classifier's encoding of its labels, in memory and on each Dask
    block. Integer labels 0, ..., K-1 (the common encoding) are their own
    indices: two comparisons instead of a binary search per label. Other
    labels are searched.
    """
    K = classes.size
    if (
        y.dtype.kind in "iu"
        and classes.dtype.kind in "iu"
        and classes[0] == 0
        and classes[-1] == K - 1
    ):  # sorted, distinct integers from 0 to K-1: exactly range(K)
        return y.astype(np.intp, copy=False), (y >= 0) & (y < K)
    y_index = np.searchsorted(classes, y)
    return y_index, classes[np.minimum(y_index, K - 1)] == y


def check_known_labels(unknown: np.ndarray, classes: np.ndarray) -> None:
    """Refuse the labels ``unknown`` (distinct, sorted) that are not among the
    fitted ``classes``: data checked against a fitted classifier (which also
    rejects a continuous y)."""
    if unknown.size:
        raise ValueError(
            f"y has labels {unknown.tolist()} that the model was "
            f"not fitted on; its classes are {classes.tolist()}."
        )


def check_labels(y: np.ndarray) -> None:
    """Refuse labels that cannot be classes with scikit-learn's errors, said plainly.

    Only object arrays can hold them: labels of mixed types (strings and
    numbers) or None. As in scikit-learn, an object y whose first label is
    not a string is of an unknown label type (its ValueError); one that
    mixes strings with other labels cannot be sorted into classes: a
    TypeError, as scikit-learn's, that says so rather than numpy's
    "'<' not supported".
    """
    if y.dtype != object or not y.size:
        return
    if not isinstance(y.flat[0], str):
        check_classification_targets(y)  # "Unknown label type", scikit-learn's words
        return
    kinds = {type(label) for label in y.ravel()}
    if not all(issubclass(kind, str) for kind in kinds):
        names = sorted(kind.__name__ for kind in kinds)
        raise TypeError(
            f"y mixes labels of types {names}, which cannot be sorted into classes. "
            "Give labels of one type, all strings or all numbers, with no None: drop "
            "or impute the missing labels, or convert them (e.g. y.astype(str))."
        )


def check_class_weight(class_weight: np.ndarray, classes: np.ndarray) -> np.ndarray:
    """Refuse negative or non-finite class weights, as negative sample weights are."""
    bad = ~(np.isfinite(class_weight) & (class_weight >= 0))
    if bad.any():
        raise ValueError(
            f"class_weight has negative or non-finite values for classes "
            f"{classes[bad].tolist()}: {class_weight[bad].tolist()}; weights must be "
            "finite and >= 0. Give those classes weight 0 to ignore them."
        )
    return class_weight


def resolve_device(device: Any) -> torch.device:
    """The ``device`` parameter as a :class:`torch.device`, or say why it is not one."""
    try:
        device = torch.device(device)
    except (RuntimeError, TypeError) as exc:
        raise ValueError(
            f"device={device!r} is not a torch device; use 'cpu' or 'cuda'."
        ) from exc
    if device.type == "cuda" and not torch.cuda.is_available():
        raise ValueError(
            f"device={str(device)!r} was requested but torch sees no CUDA device "
            "(torch.cuda.is_available() is False); use device='cpu'."
        )
    if device.type == "meta":
        raise ValueError(
            "device='meta' holds tensors without data, so nothing can be fitted "
            "there; use 'cpu' or 'cuda'."
        )
    if device.type not in ("cpu", "cuda"):
        try:
            torch.zeros(1, device=device)
        except (RuntimeError, AssertionError) as exc:
            raise ValueError(
                f"device={str(device)!r} cannot hold data in this torch build ({exc}); "
                "use 'cpu' or 'cuda'."
            ) from exc
    return device


def to_tensor(
    array: Any, device: torch.device | str | None, dtype: torch.dtype | None = None
) -> torch.Tensor:
    """Wrap a validated numpy array as a tensor, without copying on the CPU.

    Read-only arrays (memory maps, for instance) are wrapped as they are: the
    package never writes into its inputs, so torch's warning about
    non-writable arrays does not apply.
    """
    array = np.asarray(array)
    if any(stride < 0 for stride in array.strides):
        array = np.ascontiguousarray(array)  # torch holds no negative strides (X[::-1])
    if array.flags.writeable:
        tensor = torch.from_numpy(array)
    else:
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message="The given NumPy array is not writable")
            tensor = torch.from_numpy(array)
    if dtype is not None and tensor.dtype != dtype:
        tensor = tensor.to(dtype)
    return tensor.to(device)


def sparse_tensor(
    X: scipy.sparse.csr_matrix, device: torch.device | str | None,
    dtype: torch.dtype | None = None,
) -> torch.Tensor:
    """A scipy CSR matrix as a torch sparse CSR tensor (sharing memory on the CPU).

    Indices are 32-bit where they fit: torch's sparse kernels run about three
    times faster on them than on 64-bit indices.
    """
    index_dtype = np.int32 if max(X.nnz, *X.shape) < np.iinfo(np.int32).max else np.int64
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="Sparse CSR tensor support is in beta")
        warnings.filterwarnings("ignore", message="Sparse invariant checks")
        tensor = torch.sparse_csr_tensor(
            torch.from_numpy(np.asarray(X.indptr, dtype=index_dtype)),
            torch.from_numpy(np.asarray(X.indices, dtype=index_dtype)),
            to_tensor(X.data, torch.device("cpu"), dtype),
            size=X.shape,
        )
    return tensor.to(device)


_THREADS_LOCK = threading.Lock()
#: Fits inside :func:`single_threaded` now, and torch's thread count before the first.
_single_threaded_fits = 0
_threads_before = 1


@contextmanager
def single_threaded(enabled: bool, device: torch.device) -> Iterator[None]:
    """Run torch's CPU kernels on one thread while ``enabled``.

    Three workloads lose from torch's OpenMP parallelism on small machines:
    sparse matrix-vector products (faster on one thread than on two), the
    small per-minibatch operations of stochastic training (a 1024-row
    ``index_select`` waits for a busy second core) and whole fits on small
    data, where each product is too small to split. For those fits torch's
    thread count is set to 1 and restored afterwards.

    The thread count is process-wide state. Fits running at the same time in
    Python threads (joblib's threading backend, a thread pool) share it: the
    first to enter sets it to 1 and the last to leave restores it, under a
    lock. Without the count, one fit restored the other threads' count while
    they still ran (and ``torch.set_num_threads`` rebuilds torch's pool each
    time), which made concurrent minibatch fits several times slower than in
    processes (``benchmarks/RESULTS.md``, joblib threading against loky).
    """
    global _single_threaded_fits, _threads_before
    if not enabled or device.type != "cpu":
        yield
        return
    with _THREADS_LOCK:
        if _single_threaded_fits == 0:
            _threads_before = torch.get_num_threads()
            if _threads_before != 1:
                torch.set_num_threads(1)
        _single_threaded_fits += 1
    try:
        yield
    finally:
        with _THREADS_LOCK:
            _single_threaded_fits -= 1
            if _single_threaded_fits == 0 and _threads_before != 1:
                torch.set_num_threads(_threads_before)


def design_tensor(X: Any, device: torch.device) -> torch.Tensor:
    """The design matrix as a tensor, without a copy where none is needed.

    A dense X keeps the caller's layout: the full-batch passes over a large
    row-major X are fused by chunks of rows (see ``LinearObjective``), which
    streams it once per evaluation, faster than a column-major copy made its
    products and without that copy's memory. A scipy sparse X becomes a torch
    sparse CSR tensor, never a dense one. The caller's X is never modified.
    """
    if scipy.sparse.issparse(X):
        return sparse_tensor(X.tocsr(), device)
    return to_tensor(X, device)
