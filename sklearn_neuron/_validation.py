"""Input checks and the conversion of validated arrays into torch tensors."""

import warnings

import numpy as np
import torch
from sklearn.utils.validation import _check_sample_weight


def check_sample_weight(sample_weight, X, dtype):
    """Validate ``sample_weight``: finite, non-negative, with a positive sum.

    Returns a float array of shape (n_samples,); ``None`` gives ones. The
    caller's array is never modified.
    """
    zero_sum = ValueError(
        "sample_weight sums to zero: every sample has weight 0, so there is "
        "nothing to fit. Give at least one sample a positive weight."
    )
    try:
        sample_weight = _check_sample_weight(
            sample_weight, X, dtype=dtype, ensure_non_negative=True, copy=True
        )
    except ValueError as exc:
        if "Negative values" in str(exc):
            raise ValueError(
                "sample_weight has negative values; weights must be >= 0. "
                "Drop those samples or give them weight 0."
            ) from exc
        if "non-zero" in str(exc):
            raise zero_sum from exc
        raise
    if not sample_weight.sum() > 0:
        raise zero_sum
    return sample_weight


def resolve_device(device):
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
    return device


def to_tensor(array, device, dtype=None):
    """Wrap a validated numpy array as a tensor, without copying on the CPU.

    Read-only arrays (memory maps, for instance) are wrapped as they are: the
    package never writes into its inputs, so torch's warning about
    non-writable arrays does not apply.
    """
    array = np.asarray(array)
    with warnings.catch_warnings():
        warnings.filterwarnings(
            "ignore", message="The given NumPy array is not writable"
        )
        tensor = torch.from_numpy(array)
    if dtype is not None and tensor.dtype != dtype:
        tensor = tensor.to(dtype)
    return tensor.to(device)


#: Matrices with fewer entries are used in the layout they come in.
_SMALL_DESIGN = 1 << 16
#: Rows copied at a time when re-laying X in column-major order.
_COPY_CHUNK_ROWS = 2048


def design_tensor(X, device):
    """The design matrix as a tensor laid out for fast products.

    On the CPU, torch's matrix-vector products run two to three times faster
    on a column-major (Fortran-ordered) matrix than on a row-major one (see
    ``benchmarks/RESULTS.md``), and a fit makes many of them, so a row-major
    X is copied once into column-major order, in blocks of rows (twice as
    fast as ``np.asfortranarray``). The caller's X is never modified.
    """
    X = to_tensor(X, device)
    if device.type != "cpu" or X.numel() < _SMALL_DESIGN or not X.is_contiguous():
        return X  # small matrices sit in cache: their layout does not matter
    n_samples, n_features = X.shape
    column_major = torch.empty((n_features, n_samples), dtype=X.dtype).T
    for start in range(0, n_samples, _COPY_CHUNK_ROWS):
        rows = slice(start, start + _COPY_CHUNK_ROWS)
        column_major[rows].copy_(X[rows])
    return column_major
