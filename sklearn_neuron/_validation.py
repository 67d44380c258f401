"""Input checks and the conversion of validated arrays into torch tensors."""

import warnings
from contextlib import contextmanager

import numpy as np
import scipy.sparse
import torch
from sklearn.utils.validation import _check_sample_weight


def check_sample_weight(sample_weight, X, dtype):
    """Validate ``sample_weight``: finite, non-negative, with a positive sum.

    Returns a float array of shape (n_samples,); ``None`` gives ones. The
    caller's array is never modified.
    """
    if sample_weight is None:
        return np.ones(X.shape[0], dtype=dtype)
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
    if array.flags.writeable:
        tensor = torch.from_numpy(array)
    else:
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message="The given NumPy array is not writable")
            tensor = torch.from_numpy(array)
    if dtype is not None and tensor.dtype != dtype:
        tensor = tensor.to(dtype)
    return tensor.to(device)


#: Matrices with fewer entries are used in the layout they come in.
_SMALL_DESIGN = 1 << 16
#: Rows copied at a time when re-laying X in column-major order.
_COPY_CHUNK_ROWS = 2048


def sparse_tensor(X, device, dtype=None):
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


@contextmanager
def single_threaded(enabled, device):
    """Run torch's CPU kernels on one thread while ``enabled``.

    Three workloads lose from torch's OpenMP parallelism on small machines:
    sparse matrix-vector products (measured on 2 cores: 10.6 ms with 2
    threads, 3.9 ms with 1, for 5.5M non-zeros), the small per-minibatch
    operations of stochastic training (a 1024-row ``index_select``: 19 us on
    one thread, milliseconds on two when the cores are busy) and whole fits
    on small data, where each product is too small to split. For those fits
    torch's thread count is set to 1 and restored afterwards. It is
    process-wide state: fits in concurrent Python threads see it too.
    """
    if not enabled or device.type != "cpu":
        yield
        return
    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(previous)


def design_tensor(X, device, *, column_major=True):
    """The design matrix as a tensor laid out for fast products.

    On the CPU, torch's matrix-vector products run two to three times faster
    on a column-major (Fortran-ordered) matrix than on a row-major one (see
    ``benchmarks/RESULTS.md``), and a full-batch fit makes many of them, so a
    row-major X is copied once into column-major order, in blocks of rows
    (twice as fast as ``np.asfortranarray``). Minibatch training selects
    rows, so it keeps the row-major layout (``column_major=False``). A scipy
    sparse X becomes a torch sparse CSR tensor, never a dense one. The
    caller's X is never modified.
    """
    if scipy.sparse.issparse(X):
        return sparse_tensor(X.tocsr(), device)
    X = to_tensor(X, device)
    if (
        not column_major
        or device.type != "cpu"
        or X.numel() < _SMALL_DESIGN  # small matrices sit in cache: layout does not matter
        or not X.is_contiguous()
    ):
        return X
    n_samples, n_features = X.shape
    relaid = torch.empty((n_features, n_samples), dtype=X.dtype).T
    for start in range(0, n_samples, _COPY_CHUNK_ROWS):
        rows = slice(start, start + _COPY_CHUNK_ROWS)
        relaid[rows].copy_(X[rows])
    return relaid
