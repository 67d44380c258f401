"""Weighted Gram matrices ``X^T diag(w) X`` of a large X, accumulated by chunks of rows.

The Hessian of every loss here and inference's information and sandwich
are such sums. Each chunk of rows is scaled into one reused buffer and
multiplied while in cache; :class:`LinearObjective` adds the intercept's
row and column and lays the blocks out.

These kernels give the same sums:

- :func:`torch_chunk_grams`, torch's matrix products on any device and
  layout (CUDA, sparse chunks made dense);
- :func:`sparse_grams`, for a sparse X in CPU memory: scipy's sparse
  product ``X^T (diag(w) X)``, whose cost is ``sum_i nnz_i^2`` (the
  products of each row's non-zeros), not ``n * p^2``;
- :func:`blas_chunk_grams`, for a dense X in CPU memory. A non-negative
  weight's product ``B^T B`` (``B = diag(sqrt(w)) X``) is symmetric, and
  numpy hands it to BLAS's ``syrk``, which computes one triangle: half of
  the floating-point work of the general product torch makes. numpy also
  releases the GIL inside its products, so ``n_threads`` Python threads
  each take a contiguous share of the chunks, with BLAS on one thread
  each. On the 2-core reference machine (AMD EPYC, OpenBLAS) this is faster
  than torch's product; on an Intel Xeon, where MKL's full product is faster
  per core than OpenBLAS's half, it is about as fast (``benchmarks/RESULTS.md``,
  the ``syrk`` Gram kernel);
- :func:`softmax_chunk_gram`, a softmax layer's whole Hessian from a dense X
  in CPU memory: its K (K + 1) / 2 blocks as one symmetric product of stacked
  weighted rows per chunk.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Literal

import numpy as np
import scipy.linalg
import scipy.sparse
import torch

#: ``terms(rows, X_chunk) -> (weights, side)`` of :func:`blas_chunk_grams`.
ChunkTerms = Callable[[slice, np.ndarray], tuple[list[np.ndarray], np.ndarray | None]]
#: ``terms(rows, X_chunk) -> (probabilities, weights)`` of :func:`softmax_chunk_gram`.
SoftmaxTerms = Callable[[slice, np.ndarray], tuple[np.ndarray, np.ndarray]]

#: Below this many multiply-adds (rows x features^2) one thread does it all:
#: a thread pool's start and the threads' hand-overs cost more than they save.
_THREADED_WORK = 1 << 25
#: Each thread gets at least this many chunks (fewer leave the shares uneven).
_CHUNKS_PER_THREAD = 4
#: More threads wait on the GIL between products: on a 16-core machine the
#: kernel was slower with 16 threads than with 8 (``benchmarks/RESULTS.md``,
#: History, the ``syrk`` Gram kernel).
_MAX_THREADS = 8
#: Entries of a chunk of :func:`softmax_chunk_gram`'s stacked rows ``Z``
#: (n_outputs times X's width): enough rows for its symmetric product to run
#: at BLAS's speed, few enough to stay in cache.
_SOFTMAX_CHUNK_ENTRIES = 1 << 18
#: ... and at least this many rows.
_SOFTMAX_MIN_CHUNK_ROWS = 256


def torch_chunk_grams(
    chunk: Callable[[slice], torch.Tensor],
    n_rows: int,
    weights: list[torch.Tensor],
    roots: list[torch.Tensor | None],
    side: torch.Tensor | None,
    step: int,
) -> tuple[list[torch.Tensor], torch.Tensor | None]:
    """Gram sums by chunks of rows with torch's products.

    Parameters
    ----------
    chunk : callable
        ``chunk(rows)``, rows a slice, returns those rows of X as a dense
        tensor of shape (m, p).
    n_rows : int
    weights : list of torch.Tensor of shape (n_rows, 1)
        One weight column per Gram matrix wanted.
    roots : list of (torch.Tensor of shape (n_rows, 1) or None)
        ``sqrt`` of each weight column where all its entries are >= 0
        (the symmetric form ``B^T B`` is used), else None (``X^T (w X)``).
    side : torch.Tensor of shape (n_rows, M) or None
        Columns whose products ``side^T X`` (M, p) are also wanted.
    step : int
        Rows per chunk.

    Returns
    -------
    grams : list of torch.Tensor of shape (p, p)
    side_products : torch.Tensor of shape (M, p) or None
    """
    # (Made from the first chunk, whose width, dtype and device they take.)
    grams: Any = None
    side_products: Any = None
    buffer: Any = None
    for start in range(0, n_rows, step):
        rows = slice(start, start + step)
        X_chunk = chunk(rows)
        if buffer is None:
            p = X_chunk.shape[1]
            like: dict[str, Any] = {"dtype": X_chunk.dtype, "device": X_chunk.device}
            # Contiguous accumulators: products added into a strided view
            # are markedly slower. The weighted chunk goes into one reused
            # buffer laid out as X is (no transposing copy, no allocation).
            grams = [torch.zeros((p, p), **like) for _ in weights]
            if side is not None:
                side_products = torch.zeros((side.shape[1], p), **like)
            buffer = torch.empty_like(X_chunk)
        B = buffer[: X_chunk.shape[0]]
        for gram, w, root in zip(grams, weights, roots, strict=True):
            if root is not None:
                torch.mul(X_chunk, root[rows], out=B)
                gram.addmm_(B.T, B)
            else:
                torch.mul(X_chunk, w[rows], out=B)
                gram.addmm_(X_chunk.T, B)
        if side is not None:
            side_products.addmm_(side[rows].T, X_chunk)
    return grams, side_products


def sparse_grams(
    X: scipy.sparse.csr_matrix, weights: list[torch.Tensor], side: torch.Tensor | None
) -> tuple[list[torch.Tensor], torch.Tensor | None]:
    """Gram sums of a scipy CSR matrix X, as :func:`torch_chunk_grams` returns them.

    ``weights`` are (n_rows, 1) tensors, ``side`` an (n_rows, M) tensor or
    None; each Gram matrix is scipy's sparse product ``X^T (diag(w) X)``
    made dense (it is ``p x p``).
    """
    XT = X.T.tocsr()
    grams = []
    for w in weights:
        scaled = scipy.sparse.diags(w.numpy()[:, 0].astype(X.dtype, copy=False)) @ X
        grams.append(torch.from_numpy(np.ascontiguousarray((XT @ scaled).toarray())))
    side_products = None
    if side is not None:
        side_products = torch.from_numpy(np.ascontiguousarray(np.asarray(XT @ side.numpy()).T))
    return grams, side_products


def sparse_gram_work(X: scipy.sparse.csr_matrix) -> float:
    """Multiply-adds of one :func:`sparse_grams` product: ``sum_i nnz_i^2``."""
    nnz = np.diff(X.indptr).astype(np.float64)
    return float(nnz @ nnz)


def blas_chunk_grams(
    X: torch.Tensor, terms: ChunkTerms, step: int, n_threads: int
) -> tuple[list[torch.Tensor], torch.Tensor | None]:
    """Gram sums of a dense CPU X by numpy's BLAS, in up to ``n_threads`` threads.

    Parameters
    ----------
    X : torch.Tensor of shape (n_rows, p)
        Dense, on the CPU, float32 or float64, in either layout.
    terms : callable
        ``terms(rows, X_chunk)``, ``rows`` a slice and ``X_chunk`` those
        rows of X as a numpy array, returns ``(weights, side)`` for those
        rows: a list of (m, 1) arrays, one weight column per Gram matrix,
        and an (m, M) array of side columns or None. It may compute them
        from the chunk (inference's fused pass does); the calls for
        different chunks may run in different threads at once.
    step : int
        Rows per chunk.
    n_threads : int
        The most threads to share the chunks (fewer for small work:
        ``_THREADED_WORK``, ``_CHUNKS_PER_THREAD``; at most ``_MAX_THREADS``).

    Returns
    -------
    As :func:`torch_chunk_grams`, in X's dtype. A chunk whose weights are
    all >= 0 takes the triangle-only product ``B^T B``, which numpy
    mirrors; a chunk with a negative (or NaN) weight the general
    ``X^T (w X)``.
    """
    array = X.numpy()
    n_rows, p = array.shape
    parts = _in_shares(
        n_rows, n_rows * p * p, step, n_threads,
        lambda start, stop: _accumulate(array, terms, start, stop, step),
    )
    grams = [sum(grams) for grams in zip(*(part[0] for part in parts), strict=True)]
    side_products = None if parts[0][1] is None else sum(part[1] for part in parts)
    return (
        [torch.from_numpy(gram) for gram in grams],
        None if side_products is None else torch.from_numpy(side_products),
    )


def _in_shares(
    n_rows: int, work: float, step: int, n_threads: int, accumulate: Callable[[int, int], Any]
) -> list[Any]:
    """``accumulate(start, stop)`` over contiguous shares of whole chunks of ``step`` rows,
    one share per thread, in up to ``n_threads`` threads; the shares' results in order.

    One thread below ``_THREADED_WORK`` multiply-adds (``work``), at most
    ``_MAX_THREADS``, each with at least ``_CHUNKS_PER_THREAD`` chunks. The
    caller sums the results in the order given: the sum does not depend on
    the threads' timing. numpy's BLAS runs on one thread meanwhile.
    """
    n_chunks = -(-n_rows // step)
    if work < _THREADED_WORK:
        n_threads = 1
    n_threads = max(1, min(n_threads, _MAX_THREADS, n_chunks // _CHUNKS_PER_THREAD))
    bounds = [min(n_rows, n_chunks * i // n_threads * step) for i in range(n_threads + 1)]

    # torch's grad and inference modes are per thread: ``accumulate`` runs in
    # the caller's in every thread (writing into tensors made in inference
    # mode is refused outside it).
    inference, grad = torch.is_inference_mode_enabled(), torch.is_grad_enabled()

    def share(i: int) -> Any:
        with torch.inference_mode(inference), torch.set_grad_enabled(grad):
            return accumulate(bounds[i], bounds[i + 1])

    with _single_threaded_blas():
        if n_threads == 1:
            return [share(0)]
        # The calling thread takes the first share itself.
        with ThreadPoolExecutor(n_threads - 1) as pool:
            others = pool.map(share, range(1, n_threads))
            return [share(0), *others]


def softmax_chunk_gram(
    X: torch.Tensor, terms: SoftmaxTerms, fit_intercept: bool, n_outputs: int, n_threads: int
) -> torch.Tensor:
    """The data term of a softmax layer's Hessian, ``sum_i w_i (diag(p_i) - p_i p_i^T)
    (x) xa_i xa_i^T``, (K q, K q) laid out as ``theta``, by numpy's BLAS.

    Parameters
    ----------
    X : torch.Tensor of shape (n_rows, p)
        Dense, on the CPU, float32 or float64.
    terms : callable
        ``terms(rows, X_chunk)`` returns the chunk's probabilities ``p``
        (m, K) and weights ``w`` (m, 1), ``w >= 0``, as numpy arrays.
    fit_intercept : bool
        Whether ``xa_i = [x_i, 1]`` (else ``x_i``).
    n_outputs : int
        ``K``.
    n_threads : int
        The most threads to share the chunks (as :func:`blas_chunk_grams`).

    Returns
    -------
    torch.Tensor of shape (K q, K q)

    Notes
    -----
    The K (K + 1) / 2 blocks ``X^T diag(c_km) X`` of :func:`blas_chunk_grams`
    are, for the softmax's ``c = w (diag(p) - p p^T)``, one symmetric product
    and K small ones: ``- Z^T Z`` with the rows ``z_i = sqrt(w_i) p_i (x) xa_i``
    (BLAS's ``syrk`` on a chunk of Z, which fills its (K q)^2 output at full
    speed where p is too narrow for the blocks' products to), plus
    ``X^T diag(w p_k) X`` on the diagonal blocks. The same multiply-adds, in
    products that BLAS runs faster (benchmarks/RESULTS.md, History: the
    multinomial passes).
    """
    array = X.numpy()
    n_rows, p = array.shape
    width = n_outputs * (p + fit_intercept)
    # Chunks of Z of about _SOFTMAX_CHUNK_ENTRIES entries (it is K times wider than X).
    step = max(_SOFTMAX_MIN_CHUNK_ROWS, _SOFTMAX_CHUNK_ENTRIES // width)
    parts = _in_shares(
        n_rows, n_rows * width * width / 2, step, n_threads,
        lambda start, stop: _accumulate_softmax(
            array, terms, start, stop, step, fit_intercept, n_outputs
        ),
    )
    upper, diagonal = parts[0]
    for other_upper, other_diagonal in parts[1:]:  # in order, in place
        upper += other_upper
        diagonal += other_diagonal
    gram = np.triu(upper)
    gram += np.triu(upper, 1).T
    q = width // n_outputs
    for k in range(n_outputs):
        gram[k * q:(k + 1) * q, k * q:(k + 1) * q] += diagonal[k]
    return torch.from_numpy(gram)


def _accumulate_softmax(
    X: np.ndarray, terms: SoftmaxTerms, start: int, stop: int, step: int,
    fit_intercept: bool, K: int,
) -> tuple[np.ndarray, np.ndarray]:
    """The sums of :func:`softmax_chunk_gram` over rows ``start:stop`` of X (numpy):
    ``-Z^T Z`` in its upper triangle (K q, K q) and the diagonal blocks' (K, q, q)."""
    p, dtype = X.shape[1], X.dtype
    q = p + fit_intercept
    Z = np.empty((step, K, q), dtype=dtype)  # rows sqrt(w_i) p_ik xa_i, class by class
    B = np.empty((step, q), dtype=dtype)  # rows sqrt(w_i p_ik) xa_i of one class
    # BLAS's syrk adds -Z^T Z into the upper triangle of one Fortran-ordered
    # accumulator, in place: no (K q)^2 temporary per chunk.
    syrk = scipy.linalg.blas.get_blas_funcs("syrk", dtype=dtype)
    gram = np.zeros((K * q, K * q), dtype=dtype, order="F")
    block = np.empty((q, q), dtype=dtype)
    diagonal = np.zeros((K, q, q), dtype=dtype)
    for begin in range(start, stop, step):
        rows = slice(begin, min(begin + step, stop))
        X_chunk = X[rows]
        m = X_chunk.shape[0]
        proba, weight = terms(rows, X_chunk)
        scaled = np.sqrt(weight) * proba  # (m, K)
        Zm = Z[:m]
        np.multiply(X_chunk[:, None, :], scaled[:, :, None], out=Zm[:, :, :p])
        if fit_intercept:
            Zm[:, :, p] = scaled
        flat = Zm.reshape(m, K * q)  # a view: Z is C-contiguous, its transpose Fortran
        gram = syrk(-1.0, flat.T, beta=1.0, c=gram, lower=0, overwrite_c=1)
        roots = np.sqrt(weight * proba)  # (m, K)
        Bm = B[:m]
        for k in range(K):
            np.multiply(X_chunk, roots[:, k, None], out=Bm[:, :p])
            if fit_intercept:
                Bm[:, p] = roots[:, k]
            np.matmul(Bm.T, Bm, out=block)
            diagonal[k] += block
    return gram, diagonal


def _accumulate(
    X: np.ndarray, terms: ChunkTerms, start: int, stop: int, step: int
) -> tuple[list[np.ndarray], np.ndarray | None]:
    """The sums of :func:`blas_chunk_grams` over rows ``start:stop`` of X (numpy).

    Every share has at least one chunk (``n_threads <= n_chunks``).
    """
    p, dtype = X.shape[1], X.dtype
    # The buffer in X's own layout: scaling a column-major chunk into a
    # row-major buffer would be a transposing copy (several times slower).
    order: Literal["C", "F"] = "F" if X.strides[0] == X.itemsize and p > 1 else "C"
    buffer = np.empty((step, p), dtype=dtype, order=order)
    root = np.empty((step, 1), dtype=dtype)
    product = np.empty((p, p), dtype=dtype)
    # (Made from the first chunk's terms, whose number they take.)
    grams: Any = None
    side_products: Any = None
    side_product: Any = None
    for begin in range(start, stop, step):
        rows = slice(begin, min(begin + step, stop))
        X_chunk = X[rows]
        m = X_chunk.shape[0]
        weights, side = terms(rows, X_chunk)
        if grams is None:
            grams = [np.zeros((p, p), dtype=dtype) for _ in weights]
            if side is not None:
                side_products = np.zeros((side.shape[1], p), dtype=dtype)
                side_product = np.empty_like(side_products)
        B = buffer[:m]
        for gram, w in zip(grams, weights, strict=True):
            if w.min() >= 0:
                np.sqrt(w, out=root[:m])
                np.multiply(X_chunk, root[:m], out=B)
                np.matmul(B.T, B, out=product)  # syrk: one operand, transposed
            else:
                np.multiply(X_chunk, w, out=B)
                np.matmul(X_chunk.T, B, out=product)
            gram += product
        if side is not None:
            np.matmul(side.T, X_chunk, out=side_product)
            side_products += side_product
    return grams, side_products


@functools.cache
def _blas_controller() -> Any:
    from threadpoolctl import ThreadpoolController

    return ThreadpoolController()


def _single_threaded_blas() -> Any:
    """numpy's BLAS on one thread per call while the threads share the chunks.

    Process-wide while it lasts (as scikit-learn's own uses of threadpoolctl).
    """
    return _blas_controller().limit(limits=1, user_api="blas")
