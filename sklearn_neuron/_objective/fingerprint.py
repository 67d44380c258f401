"""A cheap fingerprint of the training data, so that inference can insist on it.

Inference (``summary``, ``inference``) is of the fitted model on its training
data, as in statsmodels, where the results belong to the model that was fit:
standard errors of one fit evaluated on another data set mean nothing. The
estimators keep :func:`data_fingerprint` of the data of ``fit`` as a fitted
attribute, and :func:`check_training_data` compares the data inference is
given against it.

The fingerprint costs a few passes over y and the weights and one over a
strided sample of at most :data:`_SAMPLED_ROWS` rows of X: nothing against a
fit. It is computed in float64 from the objective's tensors and compared with
a relative tolerance, so that the same data in another dtype, layout or
container (float32, Fortran order, CSR, a DataFrame) match, while changed
rows, reordered targets or other weights do not. Rows of X outside the
sample are not read: a change there alone goes unnoticed, which the number
of rows, the targets and the weights make unlikely in practice.
"""

import numpy as np
import scipy.sparse

from .design import _FUSED_CHUNK_BYTES, _fixed_mmap_threshold

#: Rows of X read by the fingerprint (evenly spaced over the data).
_SAMPLED_ROWS = 256
#: Relative tolerance of the comparison: float32 copies of float64 data match.
_RTOL = 1e-5


#: Rows per chunk of the position-weighted sums (no n-length temporaries).
_CHUNK_ROWS = 1 << 16


def _spread(n, constant, start=0):
    """Deterministic, distinct positive weights in [1, 2): ``1 + frac(i * constant)``,
    for ``i`` from ``start`` to ``start + n`` (a float64 numpy array)."""
    x = np.arange(start, start + n, dtype=np.float64) * constant
    # x - floor(x) is the fractional part exactly (x >= 0), as np.remainder(x, 1)
    # gives it, at a tenth of the time: it was nearly all of the fingerprint's.
    return 1.0 + (x - np.floor(x))


def _weighted_sums(u, a):
    """``u @ a`` by elementwise products and sums, never numpy's BLAS.

    A BLAS product threaded by OpenBLAS leaves its threads spinning for a
    while after it returns, taking a core from torch's OpenMP threads: on 2
    cores, the fit or prediction that followed a fit ran its first torch
    operations slower (``benchmarks/RESULTS.md``, History, the fingerprint
    without BLAS).
    """
    return (a * (u if a.ndim == 1 else u[:, None])).sum(axis=0)


def position_sums(objective, offset=0):
    """``u @ target``, ``u @ |target|`` and ``u @ weight`` with ``u = _spread(n)``, by chunks.

    ``offset`` is the position of the objective's first row in the whole data
    (a block of a dask array). In numpy, chunk by chunk (a CUDA target comes
    over a chunk at a time), without BLAS (see :func:`_weighted_sums`).
    """
    n = objective.X.shape[0]
    target_sum = np.zeros(objective.target.shape[1])
    scale_sum, weight_sum = np.zeros_like(target_sum), 0.0
    chunk = _CHUNK_ROWS
    if _fixed_mmap_threshold():
        # Each temporary then is an mmap of its own (page faults at every
        # chunk on dask workers, whose nanny sets the threshold).
        chunk = max(256, _FUSED_CHUNK_BYTES // (8 * target_sum.size))
    for start in range(0, n, chunk):
        rows = slice(start, start + chunk)
        target = objective.target[rows].cpu().numpy().astype(np.float64)
        u = _spread(target.shape[0], 0.6180339887498949, offset + start)
        target_sum += _weighted_sums(u, target)
        scale_sum += _weighted_sums(u, np.abs(target))
        weight = objective.weight[rows].cpu().numpy().astype(np.float64)
        weight_sum += float(_weighted_sums(u, weight))
    return target_sum, scale_sum, weight_sum


def offset_sums(objective, offset=0):
    """``u @ offset`` and ``u @ |offset|`` with ``u = _spread(n)`` (zeros without
    an offset: no offset and an offset of zeros are the same model).

    ``offset`` is the position of the objective's first row, as in
    :func:`position_sums`.
    """
    values = objective.offset
    if values is None:
        return np.zeros(objective.n_outputs), np.zeros(objective.n_outputs)
    values = values.cpu().numpy().astype(np.float64)
    u = _spread(values.shape[0], 0.7548776662466927, offset)
    return _weighted_sums(u, values), _weighted_sums(u, np.abs(values))


def sampled_rows(n):
    """The indices of the rows of X the fingerprint reads: at most
    :data:`_SAMPLED_ROWS`, evenly spaced from the first row to the last.

    ``round(i (n - 1) / (k - 1))`` in integers (halves rounded up): exact, so
    that the fit and inference, in memory or over dask blocks, under any
    default floating dtype of torch, read the same rows (a float32
    ``linspace`` rounds some of them to other rows than a float64 one).
    """
    k = min(n, _SAMPLED_ROWS)
    if k < 2:
        return np.zeros(k, dtype=np.int64)
    i = np.arange(k, dtype=np.int64)
    # Distinct: consecutive indices are at least (n - 1) / (k - 1) >= 1 apart.
    return (2 * i * (n - 1) + (k - 1)) // (2 * (k - 1))


def sampled_row_products(rows):
    """``rows @ v`` and ``|rows| @ v`` for sampled rows of X (float64 numpy), ``v`` fixed."""
    v = _spread(rows.shape[1], 0.4142135623730951)
    if scipy.sparse.issparse(rows):  # scipy's sparse product: no BLAS
        return rows @ v, abs(rows) @ v
    return _weighted_sums(v, rows.T), _weighted_sums(v, abs(rows).T)


def data_fingerprint(objective):
    """The fingerprint of an objective's data: a dict of numpy arrays and numbers.

    Parameters
    ----------
    objective : LinearObjective
        The objective of a fit (its X, encoded target and weights).

    Returns
    -------
    dict
        ``shape``, the weight sum, position-weighted sums of the targets and
        weights (with their scales), and the products of sampled rows of X
        with a fixed vector (with their scales).
    """
    if objective.distributed:  # data on a cluster: by a reduction
        return objective.fingerprint()
    n, p = objective.X.shape
    target, target_scale, weight = position_sums(objective)
    rows = objective.design.host_rows(sampled_rows(n)).astype(np.float64)
    products, scales = sampled_row_products(rows)
    offset, offset_scale = offset_sums(objective)
    return {
        "shape": np.array([n, p]),
        "weight_sum": float(objective.weight_sum),
        "target": target,
        "target_scale": target_scale,
        "weight": weight,
        "rows": np.asarray(products),
        "rows_scale": np.asarray(scales),
        "offset": offset,
        "offset_scale": offset_scale,
    }


def _close(a, b, scale):
    difference = np.abs(np.asarray(a) - np.asarray(b))
    return bool(np.all(difference <= _RTOL * (np.asarray(scale) + 1e-300)))


def check_training_data(estimator, objective):
    """Raise a ValueError unless ``objective``'s data are the estimator's training data."""
    name = type(estimator).__name__
    fitted = getattr(estimator, "training_fingerprint_", None)
    refit = (
        "Inference is of the fitted model on its training data; for other data, fit a "
        "model on them first: clone(model).fit(X, y).summary(X, y)."
    )
    if fitted is None:
        raise ValueError(
            f"This {name} has no record of its training data (it was trained by "
            f"partial_fit, on a stream; built by from_skorch without X and y (pass "
            f"the net's training data: from_skorch(net, X, y)); or saved by an older "
            f"version), so inference cannot check that it is given them. {refit}"
        )
    given = data_fingerprint(objective)
    if not np.array_equal(given["shape"], fitted["shape"]):
        n, p = fitted["shape"]
        raise ValueError(
            f"{name} was fitted on {n} samples; inference was given "
            f"{given['shape'][0]}. {refit}"
        )
    same_weights = _close(
        given["weight_sum"], fitted["weight_sum"], fitted["weight_sum"]
    ) and _close(given["weight"], fitted["weight"], 2.0)
    checks = [
        ("sample_weight", same_weights),
        ("y", _close(given["target"], fitted["target"], fitted["target_scale"])),
        # (A fingerprint kept before offsets existed is of a fit without one.)
        ("offset", _close(
            given["offset"], fitted.get("offset", 0.0),
            np.maximum(fitted.get("offset_scale", 0.0), given["offset_scale"]),
        )),
        # Non-finite sampled rows are left to inference's own check, which names them.
        ("X", not np.isfinite(given["rows"]).all()
         or _close(given["rows"], fitted["rows"], fitted["rows_scale"])),
    ]
    differ = [what for what, same in checks if not same]
    if differ:
        verb = "differ" if len(differ) > 1 else "differs"
        raise ValueError(
            f"The data given to inference are not the training data of this {name}: "
            f"{' and '.join(differ)} {verb} from those of the fit (a fingerprint kept at "
            f"fit; the same rows in the same order are expected). {refit}"
        )
