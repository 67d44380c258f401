"""How a design matrix X is read: one class per storage behind one interface.

:class:`Design` is the interface the objective (and the solvers and inference,
through it) read X by: the raw output ``[X, 1] @ W.T`` (:meth:`Design.raw`),
the gradient's product ``[X, 1]^T r`` (:meth:`Design.linear_gradient`), the
weighted Gram matrix or sandwich ``sum_i c_ikm xa_i xa_i^T``
(:meth:`Design.gram`, by the chunk kernels of :mod:`.gram`), the Hessian
diagonal's ``sum_i d_ik xa_ij^2`` (:meth:`Design.weighted_squares`), row access
(minibatches, epochs, inference's chunks) and the chunk sizes of the fused
passes. Here ``xa_i = [x_i, 1]`` with an intercept, ``x_i`` without.

- :class:`DenseDesign`: a dense torch tensor on any device; small data keep
  ``[X, 1]`` whole in column-major order (every product one torch call), large
  dense data in CPU memory take numpy's BLAS for the Gram sums and chunked
  fused passes (:mod:`.fused`).
- :class:`SparseDesign`: a torch sparse CSR tensor, with its scipy CSR twin
  (torch's CSR tensors cannot select rows), which in CPU memory also
  multiplies all of X both ways (``X^T`` through its CSC view: torch
  multiplies CSR by dense fast, dense by CSR two orders of magnitude slower,
  and would need ``X^T`` as a second CSR matrix, as it does off the CPU).

The chunk sizes are measured in ``benchmarks/RESULTS.md``.
"""

from __future__ import annotations

import abc
import functools
import os
from typing import Any

import numpy as np
import scipy.sparse
import torch

from .._validation import sparse_tensor
from .gram import (
    _MAX_THREADS,
    _SOFTMAX_CHUNK_ENTRIES,
    _SOFTMAX_MIN_CHUNK_ROWS,
    blas_chunk_grams,
    sparse_gram_work,
    sparse_grams,
    torch_chunk_grams,
)

#: Rows per chunk when accumulating the Hessian (keeps the scaled rows in cache).
_HESSIAN_CHUNK_ROWS = 2048
#: Design entries per chunk of the Gram passes by numpy's BLAS over a large
#: dense X (at least _HESSIAN_CHUNK_ROWS rows): each chunk costs a dozen
#: calls, which on narrow data cost more than its products (benchmarks/RESULTS.md,
#: History: the chunked Hessian).
_GRAM_CHUNK_ENTRIES = 1 << 18
#: Problems with at most this many design entries are fitted on one torch thread.
_SMALL_PROBLEM = 1 << 16
#: Design entries per chunk of the fused value-and-gradient pass over a large
#: row-major X (128 MB of float64; the chunk is a view, its temporaries are
#: rows x outputs). Each chunk's two products are torch's threaded ones, which
#: on the reference machine read X at close to its memory bandwidth whatever
#: the cache holds, while each chunk costs a dozen torch calls and two
#: threaded hand-overs: a few long chunks beat many cache-sized ones
#: (benchmarks/RESULTS.md, History: the fused pass's chunk length).
_FUSED_CHUNK_ENTRIES = 1 << 24
#: ... and at most this many rows: a chunk's temporaries (raw output, loss
#: terms, a few times rows x outputs) stay a few MB on narrow data, where
#: scikit-learn's L-BFGS holds n-long arrays (``tests/test_memory.py``).
_FUSED_CHUNK_ROWS = 1 << 17
#: ... and at most this many bytes per column of a chunk's temporaries (raw
#: output, loss terms) where glibc's mmap threshold is fixed, as dask's workers
#: fix it (their nanny sets MALLOC_TRIM_THRESHOLD_): allocations above it
#: (128 KB) are then fresh pages every time, which made chunks of a dask
#: block markedly slower (benchmarks/RESULTS.md, History: Dask's fused-pass
#: temporaries). Elsewhere the threshold adapts and longer chunks are faster.
_FUSED_CHUNK_BYTES = 1 << 16


def _fixed_mmap_threshold() -> bool:
    """Whether this process's glibc malloc has a fixed (not adaptive) mmap threshold."""
    return any(
        name in os.environ for name in ("MALLOC_TRIM_THRESHOLD_", "MALLOC_MMAP_THRESHOLD_")
    )


def _sparse_transpose(X: torch.Tensor) -> torch.Tensor:
    """Transpose of a torch sparse CSR tensor, as CSR."""
    return X.t().to_sparse_csr()


def upper_pairs(K: int) -> list[tuple[int, int]]:
    """Output pairs (k, m), k <= m: the Hessian's blocks on and above the diagonal."""
    return [(k, m) for k in range(K) for m in range(k, K)]


def null_projector(objective: Any, H: torch.Tensor) -> torch.Tensor | None:
    """The projector onto a softmax layer's free directions (those that change no
    probability), laid out as ``H`` (Kq, Kq); None where the layer has none.

    Each free column's block is scaled to that column's curvature in ``H``
    (its diagonal's mean over the classes): one scale for all columns, the
    whole diagonal's mean, is 1e6 times a column's own on features of scales
    1e-3 to 1e3. Added to ``H`` it makes ``H`` invertible along those
    directions (Newton's factor, inference's information) without moving
    the others.
    """
    mask = objective.null_mask()
    if mask is None:
        return None
    K, q = objective.n_outputs, objective.n_params_per_output
    column = H.diagonal().view(K, q).mean(dim=0)
    ones = torch.full((K, K), 1.0 / K, dtype=H.dtype, device=H.device)
    return torch.kron(ones, torch.diag(mask.to(H.dtype) * column)).reshape(K * q, K * q)


def finish_blocks(G: torch.Tensor, diagonal_block: torch.Tensor | None) -> torch.Tensor:
    """Mirror the blocks below the diagonal of ``G`` (K, q, K, q), add
    ``diagonal_block`` (q, q) to each diagonal block; returns (Kq, Kq)."""
    K, q = G.shape[0], G.shape[1]
    for k, m in upper_pairs(K):
        if m != k:
            G[m, :, k, :] = G[k, :, m, :].T
    if diagonal_block is not None:
        for k in range(K):
            G[k, :, k, :] += diagonal_block
    return G.reshape(K * q, K * q)


def _row_major_products(X: torch.Tensor, w: torch.Tensor) -> torch.Tensor:
    """``X @ w`` for a large row-major X on the CPU, by chunks of rows.

    torch's matrix-vector product streams a row-major X from memory at
    about a third of the speed it reaches on a column-major one; an
    elementwise product and a row sum over chunks that fit in cache streams
    it as fast as the latter (benchmarks/RESULTS.md).
    """
    out = torch.empty(X.shape[0], dtype=X.dtype)
    step = _HESSIAN_CHUNK_ROWS
    for start in range(0, X.shape[0], step):
        rows = slice(start, start + step)
        torch.sum(X[rows] * w, dim=1, out=out[rows])
    return out


class Design(abc.ABC):
    """A design matrix X of one storage, read through the kernels a linear model needs.

    Parameters
    ----------
    X : torch.Tensor of shape (n_samples, n_features)
        Dense (:class:`DenseDesign`) or sparse CSR (:class:`SparseDesign`).
    fit_intercept : bool
        Whether the parameters of each output end in an intercept (a column
        of ones appended to X in every product, never stored but for small
        dense data).
    n_outputs : int
        Outputs of the linear layer (the chunk lengths depend on it).

    Attributes
    ----------
    X : torch.Tensor
    n_samples, n_features, n_columns : int
        Rows, columns of X, and columns of ``[X, 1]`` (``n_features + fit_intercept``).
    is_sparse : bool
    augmented : torch.Tensor or None
        ``[X, 1]`` whole in column-major order (small dense data), else None.
    blas_gram : bool
        Gram sums by numpy's BLAS (dense float data in CPU memory).
    fused_chunk_rows : int
        Rows per chunk of the fused passes of :mod:`.fused` (0: not used).
    gram_chunk_rows : int
        Rows per chunk of the Gram passes by numpy's BLAS.
    is_small : bool
        Small enough that torch's thread fork/join costs more than it saves.
    """

    is_sparse: bool = False
    augmented: torch.Tensor | None = None
    blas_gram: bool = False
    fused_chunk_rows: int = 0

    def __init__(self, X: torch.Tensor, fit_intercept: bool, n_outputs: int) -> None:
        self.X = X
        self.fit_intercept = bool(fit_intercept)
        self.n_samples, self.n_features = X.shape[0], X.shape[1]
        self.n_columns = self.n_features + self.fit_intercept
        self.dtype, self.device = X.dtype, X.device
        self.is_small = X.shape[0] * self.n_columns <= _SMALL_PROBLEM
        self._abs_max: float | None = None  # X's largest absolute entry, read when first asked
        # Rows per chunk of the Gram passes by numpy's BLAS (the chunk's
        # temporaries, n_outputs^2 numbers a row, kept under the fixed mmap
        # threshold as the fused pass's).
        rows = _GRAM_CHUNK_ENTRIES // max(1, self.n_columns)
        if _fixed_mmap_threshold():
            rows = min(rows, _FUSED_CHUNK_BYTES // (n_outputs**2 * X.element_size()))
        self.gram_chunk_rows = max(_HESSIAN_CHUNK_ROWS, rows)

    # -- products ------------------------------------------------------------
    def raw(self, W: torch.Tensor) -> torch.Tensor:
        """``[X, 1] @ W.T`` of all rows, (n_samples, K), for ``W`` (K, n_columns)."""
        return self.rows_raw(W, self.X)

    def rows_raw(self, W: torch.Tensor, X: torch.Tensor) -> torch.Tensor:
        """``X @ coef.T + b`` for rows ``X`` of this design (a minibatch), ``W = [coef, b]``."""
        if self.fit_intercept:
            coef, intercept = W[:, :-1], W[:, -1]
        else:
            coef, intercept = W, None
        n_outputs = W.shape[0]
        if X.layout == torch.sparse_csr and n_outputs == 1:
            raw = torch.mv(X, coef[0]).unsqueeze(1)  # the fast sparse kernel
        elif (
            n_outputs == 1
            and X.device.type == "cpu"
            and X.shape[0] > _HESSIAN_CHUNK_ROWS
            and X.is_contiguous()
        ):
            raw = _row_major_products(X, coef[0]).unsqueeze(1)
        else:
            raw = X @ coef.T
        return raw if intercept is None else raw + intercept

    def linear_gradient(
        self, weighted_grad_raw: torch.Tensor, X: torch.Tensor | None = None
    ) -> torch.Tensor:
        """``r^T [X, 1]`` (K, n_columns) for ``r`` (n_rows, K): the data term's gradient
        from ``weight * dloss/draw``. ``X`` (rows of the design, e.g. a minibatch)
        defaults to all of it."""
        if X is None:
            if self.augmented is not None:
                # Of the two orders of the one product, ``r^T A`` is the faster
                # on several threads, ``(A^T r)^T`` on one (1797 x 65 x 10
                # classes: 41 against 58 us on two threads, 76 against 70 on
                # one; benchmarks/RESULTS.md, History: the small-data gradient).
                if torch.get_num_threads() > 1:
                    return weighted_grad_raw.T @ self.augmented
                return (self.augmented.T @ weighted_grad_raw).T
            X = self.X
        n_outputs, p = weighted_grad_raw.shape[1], self.n_features
        grad = torch.empty((n_outputs, self.n_columns), dtype=self.dtype, device=self.device)
        if X.layout == torch.sparse_csr:
            grad[:, :p] = self._sparse_transposed_product(X, weighted_grad_raw)
        else:
            grad[:, :p] = weighted_grad_raw.T @ X
        if self.fit_intercept:
            torch.sum(weighted_grad_raw, dim=0, out=grad[:, -1])
        return grad

    def _sparse_transposed_product(self, X: torch.Tensor, R: torch.Tensor) -> torch.Tensor:
        """``(X^T R)^T`` (K, p) for sparse CSR rows ``X`` and ``R`` (n_rows, K)."""
        XT = self._transpose(X)
        if R.shape[1] == 1:
            return torch.mv(XT, R[:, 0]).unsqueeze(0)
        return (XT @ R).T

    def _transpose(self, X: torch.Tensor) -> torch.Tensor:
        """``X^T`` as CSR of sparse rows ``X``."""
        return _sparse_transpose(X)

    def gram(
        self,
        c: torch.Tensor,
        diagonal_block: torch.Tensor | None = None,
        vector: torch.Tensor | None = None,
    ) -> torch.Tensor | tuple[torch.Tensor, torch.Tensor]:
        """``sum_i c_ikm xa_i xa_i^T`` in blocks (k, m), shape (K q, K q).

        ``c`` of shape (n_samples, K, K); ``diagonal_block`` (q, q), if given,
        is added to each diagonal block (the L2 term of the Hessian). The
        Hessian uses it with the weighted pointwise Hessian, inference's
        sandwich with the outer products of the scores. With ``vector``
        (n_samples, K), also returns ``vector^T [X, 1]`` (K, q), from the
        same pass over X.

        Over chunks of rows, so that each chunk is multiplied while in
        cache. The column of ones is never appended to a chunk: its products
        are sums of ``c`` and ``X^T c``. Non-negative weights use ``B^T B``
        with ``B = diag(sqrt(c)) X``: both operands one buffer, faster than
        ``X^T (c X)`` on the CPU.
        """
        pairs = upper_pairs(c.shape[1])
        weights = [c[:, k, m].unsqueeze(1) for k, m in pairs]
        columns = self.side_columns(weights, vector)
        side = torch.cat(columns, dim=1) if columns else None
        tops, side_products = self._gram_sums(weights, side)
        vector_sum = None if vector is None else vector.sum(dim=0)
        return self.assemble_gram(tops, side_products, c.sum(dim=0), diagonal_block, vector_sum)

    def _gram_sums(
        self, weights: list[torch.Tensor], side: torch.Tensor | None
    ) -> tuple[list[torch.Tensor], torch.Tensor | None]:
        """The (p, p) sums ``X^T diag(w) X`` of each weight column and ``side^T X``."""
        # Per pair the square roots of its weights where all are >= 0.
        roots = [w.sqrt() if bool((w >= 0).all()) else None for w in weights]
        return torch_chunk_grams(
            self.dense_rows, self.n_samples, weights, roots, side, _HESSIAN_CHUNK_ROWS
        )

    def side_columns(self, weights: list[Any], vector: Any = None) -> list[Any]:
        """The columns whose products with X ride along in the Gram pass.

        The pairs' weights when there is an intercept (``X^T w`` is the
        intercept's column of each block), then ``vector`` if given: one
        product per chunk with them side by side, in the order
        :meth:`assemble_gram` reads. A list, torch or numpy as given.
        """
        columns = list(weights) if self.fit_intercept else []
        return columns if vector is None else [*columns, vector]

    def assemble_gram(
        self,
        tops: list[torch.Tensor],
        side_products: torch.Tensor | None,
        c_sum: torch.Tensor,
        diagonal_block: torch.Tensor | None,
        vector_sum: torch.Tensor | None = None,
    ) -> torch.Tensor | tuple[torch.Tensor, torch.Tensor]:
        """The blocks of :meth:`gram` from the chunk kernels' sums.

        ``tops`` the (p, p) sums of each upper pair of outputs,
        ``side_products`` those of :meth:`side_columns` and ``c_sum`` the
        (K, K) sum of ``c`` over the rows (the intercepts' corner);
        ``vector_sum`` (K,), the sum over the rows of the side ``vector``
        (its intercept entries), if one rode along.
        """
        K, q, p = c_sum.shape[0], self.n_columns, self.n_features
        pairs = upper_pairs(K)
        G = torch.zeros((K, q, K, q), dtype=self.dtype, device=self.device)
        for (k, m), top in zip(pairs, tops, strict=True):
            G[k, :p, m, :p] = top
        if side_products is None:  # no intercept and no side vector
            return finish_blocks(G, diagonal_block)
        if q > p:  # the intercept's column, row and corner
            for index, (k, m) in enumerate(pairs):
                block = G[k, :, m, :]
                block[:p, p] = side_products[index]
                block[p, :p] = side_products[index]
                block[p, p] = c_sum[k, m]
        G = finish_blocks(G, diagonal_block)
        if vector_sum is None:
            return G
        projection = torch.zeros((K, q), dtype=self.dtype, device=self.device)
        projection[:, :p] = side_products[-K:]
        if q > p:
            projection[:, p] = vector_sum
        return G, projection

    def gram_work(self, n_outputs: int) -> float:
        """Multiply-adds of one :meth:`gram` of ``n_outputs`` blocks a side
        (a Hessian): ``n * (n_outputs * n_columns)**2``."""
        return self.n_samples * (n_outputs * self.n_columns) ** 2

    def hessian_rows(self, n_outputs: int, *, softmax: bool = False) -> int:
        """Rows whose pointwise Hessians (n, K, K) a Hessian holds at once.

        The fused pass over a large dense CPU X takes them by chunks, one
        chunk per thread (see :func:`~sklearn_neuron._objective.gram.blas_chunk_grams`);
        elsewhere all rows. A softmax layer's fused Hessian (``softmax``:
        :func:`~sklearn_neuron._objective.gram.softmax_chunk_gram`) holds none:
        the rows whose pointwise Hessians take what its buffers take (per
        thread a chunk of stacked rows and a (K q)^2 accumulator; the two
        (K q)^2 temporaries that mirror the sum).
        """
        if self.fused_chunk_rows and self.blas_gram and self.augmented is None:
            threads = min(torch.get_num_threads(), _MAX_THREADS)
            if not softmax:
                return min(self.n_samples, self.gram_chunk_rows * threads)
            q, width = self.n_columns, n_outputs * self.n_columns
            step = max(_SOFTMAX_MIN_CHUNK_ROWS, _SOFTMAX_CHUNK_ENTRIES // width)
            per_thread = step * (width + q + 2 * n_outputs) + width**2 + n_outputs * q**2
            entries = threads * per_thread + 2 * width**2
            return min(self.n_samples, -(-entries // (3 * n_outputs**2)))
        return self.n_samples

    @abc.abstractmethod
    def weighted_squares(self, d: torch.Tensor) -> torch.Tensor:
        """``sum_i d_ik xa_ij^2`` (K, n_columns) for ``d`` (n_samples, K): the data
        term's share of the Hessian diagonal (its intercept column ``sum_i d_ik``)."""

    def _intercept_squares(self, squares: torch.Tensor, d: torch.Tensor) -> torch.Tensor:
        """``squares`` (K, p) with the intercept's column ``sum_i d_ik`` appended."""
        if not self.fit_intercept:
            return squares
        out = torch.empty((d.shape[1], self.n_columns), dtype=self.dtype, device=self.device)
        out[:, : self.n_features] = squares
        torch.sum(d, dim=0, out=out[:, -1])
        return out

    # -- rows ----------------------------------------------------------------
    @abc.abstractmethod
    def rows(self, index: torch.Tensor) -> torch.Tensor:
        """Rows ``index`` (a LongTensor) as a tensor of this storage (minibatches)."""

    @abc.abstractmethod
    def dense_rows(self, rows: slice) -> torch.Tensor:
        """Rows ``rows`` (a slice) of X as a dense tensor (inference's chunks)."""

    @abc.abstractmethod
    def host_rows(self, index: np.ndarray | None = None) -> np.ndarray | scipy.sparse.csr_matrix:
        """Rows ``index`` (all by default) in CPU memory: numpy, or scipy CSR for sparse X."""

    @abc.abstractmethod
    def reordered(self, order: torch.Tensor | None) -> Any:
        """The rows in ``order`` (a LongTensor, or None for as they are), to slice
        minibatches from with :meth:`row_slice` (one gather per epoch)."""

    @abc.abstractmethod
    def row_slice(self, reordered: Any, rows: slice) -> torch.Tensor:
        """Rows ``rows`` (a slice) of :meth:`reordered`'s result, as a tensor."""

    def dense(self) -> torch.Tensor:
        """All of ``[X, 1]`` (just X without intercept) as a dense tensor.

        The one kept for small data; otherwise built anew (the exact
        least-absolute-deviations solver needs the whole matrix).
        """
        if self.augmented is not None:
            return self.augmented
        X = self.dense_rows(slice(0, self.n_samples))
        if self.fit_intercept:
            ones = torch.ones((X.shape[0], 1), dtype=self.dtype, device=self.device)
            X = torch.cat([X, ones], dim=1)
        return X

    def abs_max(self) -> float:
        """Largest absolute entry of X (a float; NaN or inf if X has such).

        One reduction over X, the first time it is asked for.
        """
        if self._abs_max is None:
            entries = self.X.values() if self.is_sparse else self.X
            if entries.numel() == 0:
                self._abs_max = 0.0
            else:
                low, high = torch.aminmax(entries)
                self._abs_max = float(torch.stack([-low, high]).max())  # NaN propagates
        return self._abs_max


class DenseDesign(Design):
    """A dense X (torch, any device, either memory layout).

    Parameters
    ----------
    X : torch.Tensor of shape (n_samples, n_features)
    fit_intercept : bool
    n_outputs : int
    row_wise : bool, default=True
        Whether the loss is evaluated row by row by its own formulas (not by
        autograd): then a large row-major X in CPU memory is read in the
        chunks of :mod:`.fused`.
    """

    def __init__(
        self, X: torch.Tensor, fit_intercept: bool, n_outputs: int, *, row_wise: bool = True
    ) -> None:
        super().__init__(X, fit_intercept, n_outputs)
        #: Dense data in CPU memory: Gram sums by numpy's BLAS (see .gram).
        self.blas_gram = X.device.type == "cpu" and X.dtype in (torch.float32, torch.float64)
        # Small data keep [X, 1] whole: every product then is one torch call,
        # which is what decides the speed when per-call overhead dominates.
        if X.shape[0] <= _HESSIAN_CHUNK_ROWS:
            self.augmented = self._column_major_design()
        # For large dense row-major data in CPU memory and the built-in
        # losses, which are row-wise; column-major data are multiplied
        # fastest whole.
        if self.augmented is None and X.device.type == "cpu" and X.is_contiguous() and row_wise:
            rows = min(_FUSED_CHUNK_ENTRIES // X.shape[1], _FUSED_CHUNK_ROWS)
            if _fixed_mmap_threshold():
                rows = min(rows, _FUSED_CHUNK_BYTES // (n_outputs * X.element_size()))
            self.fused_chunk_rows = max(_HESSIAN_CHUNK_ROWS, rows)

    def _column_major_design(self) -> torch.Tensor:
        """All of ``[X, 1]`` (just X without intercept) in column-major order.

        Kept for data of at most ``_HESSIAN_CHUNK_ROWS`` rows, where every
        product is then one torch call on the operand layout that torch
        multiplies fastest (its transpose contiguous).
        """
        if not self.fit_intercept:
            return self.X.T.contiguous().T
        ones = torch.ones((1, self.X.shape[0]), dtype=self.dtype, device=self.device)
        return torch.cat([self.X.T, ones]).T

    def raw(self, W: torch.Tensor) -> torch.Tensor:
        """``[X, 1] @ W.T`` of all rows, (n_samples, K), for ``W`` (K, n_columns)."""
        if self.augmented is None:
            return self.rows_raw(W, self.X)
        if W.shape[0] == 1:
            return torch.mv(self.augmented, W[0]).unsqueeze(1)
        return (W @ self.augmented.T).T

    def gram(
        self,
        c: torch.Tensor,
        diagonal_block: torch.Tensor | None = None,
        vector: torch.Tensor | None = None,
    ) -> torch.Tensor | tuple[torch.Tensor, torch.Tensor]:
        """:meth:`Design.gram`; small data by one product with ``[X, 1]`` whole."""
        if self.augmented is None:
            return super().gram(c, diagonal_block, vector)
        Xa, K = self.augmented, c.shape[1]
        if K == 1:
            XaT = Xa.T  # contiguous (q, n): the fastest operands
            weighted = XaT * c.reshape(1, -1)
            G = weighted @ XaT.T if diagonal_block is None else torch.addmm(
                diagonal_block, weighted, XaT.T
            )
        else:
            G = torch.zeros((K, self.n_columns, K, self.n_columns), dtype=self.dtype,
                            device=self.device)
            for k, m in upper_pairs(K):
                G[k, :, m, :] = Xa.T @ (Xa * c[:, k, m].unsqueeze(1))
            G = finish_blocks(G, diagonal_block)
        if vector is None:
            return G
        return G, (Xa.T @ vector).T

    def _gram_sums(
        self, weights: list[torch.Tensor], side: torch.Tensor | None
    ) -> tuple[list[torch.Tensor], torch.Tensor | None]:
        if not self.blas_gram:
            return super()._gram_sums(weights, side)
        arrays = [w.numpy() for w in weights]
        side_array = None if side is None else side.numpy()

        def terms(rows, X_chunk):
            return [w[rows] for w in arrays], None if side is None else side_array[rows]

        return blas_chunk_grams(self.X, terms, self.gram_chunk_rows, torch.get_num_threads())

    def weighted_squares(self, d: torch.Tensor) -> torch.Tensor:
        """:meth:`Design.weighted_squares` by chunks of rows (no n x p square kept)."""
        squares = torch.zeros((d.shape[1], self.n_features), dtype=self.dtype, device=self.device)
        step = self.gram_chunk_rows
        for start in range(0, self.n_samples, step):
            rows = slice(start, start + step)
            squares += d[rows].T @ self.X[rows].square()
        return self._intercept_squares(squares, d)

    def rows(self, index: torch.Tensor) -> torch.Tensor:
        return self.X.index_select(0, index)

    def dense_rows(self, rows: slice) -> torch.Tensor:
        return self.X[rows]

    def host_rows(self, index: np.ndarray | None = None) -> np.ndarray:
        if index is None:
            return self.X.detach().cpu().numpy()
        rows = torch.as_tensor(index).to(self.device)
        return self.X.index_select(0, rows).cpu().numpy()

    def reordered(self, order: torch.Tensor | None) -> torch.Tensor:
        if order is None:
            return self.X
        if self.X.device.type == "cpu" and self.X.dtype in (torch.float32, torch.float64):
            # numpy's take gathers rows faster than torch's index_select
            # (benchmarks/RESULTS.md, History: minibatch epochs gather rows).
            return torch.from_numpy(np.take(self.X.numpy(), order.numpy(), axis=0))
        return self.X.index_select(0, order)

    def row_slice(self, reordered: torch.Tensor, rows: slice) -> torch.Tensor:
        return reordered[rows]


class SparseDesign(Design):
    """A torch sparse CSR X, with its scipy CSR twin and ``X^T`` as CSR.

    Parameters
    ----------
    X : torch.Tensor of shape (n_samples, n_features)
        Sparse CSR.
    fit_intercept : bool
    n_outputs : int
    scipy_rows : scipy.sparse.csr_matrix, optional
        The same matrix in scipy (made from X if not given), used to select
        rows (minibatches, subsets) and for the Gram sums in CPU memory.
    """

    is_sparse = True

    def __init__(
        self,
        X: torch.Tensor,
        fit_intercept: bool,
        n_outputs: int,
        scipy_rows: scipy.sparse.csr_matrix | None = None,
    ) -> None:
        super().__init__(X, fit_intercept, n_outputs)
        if scipy_rows is None:
            scipy_rows = scipy.sparse.csr_matrix(
                (X.values().cpu().numpy(), X.col_indices().cpu().numpy(),
                 X.crow_indices().cpu().numpy()), shape=tuple(X.shape),
            )
        self._scipy = scipy_rows
        # Products with all of float64 X in CPU memory are scipy's (see _host_matrix).
        self._host: scipy.sparse.csr_matrix | None = None
        if X.device.type == "cpu" and X.dtype == torch.float64:
            self._host = scipy_rows.astype(np.float64, copy=False)

    def scipy_rows(self, index: np.ndarray | None = None) -> scipy.sparse.csr_matrix:
        """The scipy CSR twin of X, or its rows ``index`` (a numpy integer array)."""
        return self._scipy if index is None else self._scipy[index]

    def _host_matrix(
        self, X: torch.Tensor, n_outputs: int, *tensors: torch.Tensor
    ) -> scipy.sparse.csr_matrix | None:
        """X in scipy where a product of all of X with ``tensors`` (of
        ``n_outputs`` columns) is scipy's, else None.

        One column, in CPU memory, in float64, and without autograd through
        it. torch multiplies a dense matrix by a CSR one two orders of
        magnitude slower than CSR by dense, so its ``X^T r`` (the gradient's
        product) needs ``X^T`` as a second CSR matrix, a transposition that
        on 100,000 x 5,000 at 0.5% non-zeros took 25 ms, a fifth of a
        default fit. scipy multiplies ``X^T`` through its CSC view of X, no
        copy, on one thread as fast as torch's CSR kernel (fits on sparse X
        run torch on one thread: :func:`~sklearn_neuron._validation.single_threaded`;
        ``benchmarks/RESULTS.md``, History: sparse products by scipy). Not
        in float32: scipy's ``X^T r`` accumulates float32 sums in float32,
        and the float32 stage of an L-BFGS fit at ``tol=1e-10`` then stalled
        at max|grad| 8e-5 where with torch's kernel it reached float32's
        floor (``tests/test_float32_answers.py``). Nor with several columns
        (a softmax layer), where torch's products with ``X^T`` were the
        faster (50,000 x 3,000, 5 classes: 0.27 against 0.30 s a fit).
        """
        if n_outputs != 1 or X is not self.X or any(t.requires_grad for t in tensors):
            return None
        return self._host

    @functools.cached_property
    def _XT(self) -> torch.Tensor:
        """``X^T`` as CSR, for torch's products off the CPU (or with autograd)."""
        return sparse_tensor(self._scipy.T.tocsr(), self.device, self.dtype)

    def rows_raw(self, W: torch.Tensor, X: torch.Tensor) -> torch.Tensor:
        host = self._host_matrix(X, W.shape[0], W)
        if host is None:
            return super().rows_raw(W, X)
        coef = W[:, :-1] if self.fit_intercept else W
        raw = torch.from_numpy(np.asarray(host @ coef.T.numpy()))
        return raw + W[:, -1] if self.fit_intercept else raw

    def _sparse_transposed_product(self, X: torch.Tensor, R: torch.Tensor) -> torch.Tensor:
        host = self._host_matrix(X, R.shape[1], R)
        if host is not None:
            return torch.from_numpy(np.asarray(host.T @ R.numpy())).T
        return super()._sparse_transposed_product(X, R)

    def _transpose(self, X: torch.Tensor) -> torch.Tensor:
        return self._XT if X is self.X else _sparse_transpose(X)

    def _gram_sums(
        self, weights: list[torch.Tensor], side: torch.Tensor | None
    ) -> tuple[list[torch.Tensor], torch.Tensor | None]:
        if self.device.type == "cpu":
            return sparse_grams(self._scipy, weights, side)
        return super()._gram_sums(weights, side)

    def gram_work(self, n_outputs: int) -> float:
        """Multiply-adds of one :meth:`gram` (a Hessian); in CPU memory
        ``sum_i nnz_i**2`` per pair of output blocks."""
        if self.device.type == "cpu":
            return self._row_pair_count * n_outputs * (n_outputs + 1) / 2
        return super().gram_work(n_outputs)

    @functools.cached_property
    def _row_pair_count(self) -> float:
        """``sum_i nnz_i**2`` (:func:`.gram.sparse_gram_work`), counted once: the
        cost model asks for it at each choice of a solver."""
        return sparse_gram_work(self._scipy)

    @functools.cached_property
    def _squared_transpose(self) -> torch.Tensor:
        """``(X ** 2)^T`` as CSR (the Hessian diagonal's product off the CPU):
        ``X^T``'s structure with its values squared (no second transposition)."""
        XT = self._XT
        return torch.sparse_csr_tensor(
            XT.crow_indices(), XT.col_indices(), XT.values().square(), XT.shape,
            dtype=self.dtype, device=self.device,
        )

    @functools.cached_property
    def _squared_host(self) -> scipy.sparse.csr_matrix:
        """``X ** 2`` in scipy (the Hessian diagonal's product where X's are
        scipy's): X's structure with its values squared, in float64."""
        X = self._scipy
        return scipy.sparse.csr_matrix(
            (np.square(X.data, dtype=np.float64), X.indices, X.indptr), shape=X.shape
        )

    def weighted_squares(self, d: torch.Tensor) -> torch.Tensor:
        if self._host_matrix(self.X, d.shape[1], d) is not None:
            squares = torch.from_numpy(np.asarray(self._squared_host.T @ d.numpy())).T
        elif d.shape[1] == 1:  # the fast sparse kernel, as in rows_raw
            squares = torch.mv(self._squared_transpose, d[:, 0])[None]
        else:
            squares = (self._squared_transpose @ d).T
        return self._intercept_squares(squares, d)

    def rows(self, index: torch.Tensor) -> torch.Tensor:
        return sparse_tensor(self._scipy[index.cpu().numpy()], self.device, self.dtype)

    def dense_rows(self, rows: slice) -> torch.Tensor:
        index = torch.arange(rows.start, min(rows.stop, self.n_samples))
        return self.rows(index).to_dense()

    def host_rows(self, index: np.ndarray | None = None) -> scipy.sparse.csr_matrix:
        return self.scipy_rows(index)

    def reordered(self, order: torch.Tensor | None) -> scipy.sparse.csr_matrix:
        return self._scipy if order is None else self._scipy[order.cpu().numpy()]

    def row_slice(self, reordered: scipy.sparse.csr_matrix, rows: slice) -> torch.Tensor:
        return sparse_tensor(reordered[rows], self.device, self.dtype)


def make_design(
    X: torch.Tensor,
    fit_intercept: bool,
    n_outputs: int,
    *,
    row_wise: bool = True,
    scipy_rows: scipy.sparse.csr_matrix | None = None,
) -> Design:
    """The :class:`Design` of X's storage (sparse CSR or dense)."""
    if X.layout == torch.sparse_csr:
        return SparseDesign(X, fit_intercept, n_outputs, scipy_rows)
    return DenseDesign(X, fit_intercept, n_outputs, row_wise=row_wise)
