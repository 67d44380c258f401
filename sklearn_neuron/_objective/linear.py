"""The objective a neuron minimises: weighted mean loss plus an L2 penalty.

For coefficients ``W`` (n_outputs x n_features) and intercepts ``b``::

    f(W, b) = 1/S * sum_i s_i * loss(x_i @ W.T + b + o_i, y_i) + l2 / 2 * ||W||_F^2

with ``S = sum_i s_i`` and ``o_i`` a fixed offset (none by default: GLM
offsets, log exposures). The intercept is never penalized. The estimators
choose ``l2`` so that this is their public objective divided by a positive
constant (for the classifier ``l2 = 1 / (C * S)``, which makes ``f`` equal to
LogisticRegression's ``C * sum_i s_i loss_i + ||W||^2 / 2`` divided by
``C * S``); the minimiser is the same, and gradient tolerances are on the
scale of a mean loss whatever the number of samples.

Parameters travel as one flat tensor ``theta`` of length
``n_outputs * (n_features + fit_intercept)``; ``theta.view(n_outputs, -1)``
has the coefficients of each output unit in a row, its intercept last.
"""

import copy
import functools
import os

import numpy as np
import scipy.sparse
import torch

from .._loss.losses import MultinomialLogLoss
from .._validation import sparse_tensor
from .gram import (
    _MAX_THREADS,
    blas_chunk_grams,
    sparse_gram_work,
    sparse_grams,
    torch_chunk_grams,
)


def _sparse_transpose(X):
    """Transpose of a torch sparse CSR tensor, as CSR."""
    return X.t().to_sparse_csr()

#: Rows per chunk when accumulating the Hessian (keeps the scaled rows in cache).
_HESSIAN_CHUNK_ROWS = 2048
#: Design entries per chunk of the Gram passes by numpy's BLAS over a large
#: dense X (at least _HESSIAN_CHUNK_ROWS rows): each chunk costs a dozen
#: calls, which on narrow data cost more than its products (the Hessian of
#: 2M x 20 float64: 349 ms by 2,048-row chunks, 174-189 by 8,192-16,384;
#: 2M x 5: 246 against 63 ms by 32,768).
_GRAM_CHUNK_ENTRIES = 1 << 18
#: Problems with at most this many design entries are fitted on one torch thread.
_SMALL_PROBLEM = 1 << 16
#: Design entries per chunk of the fused value-and-gradient pass over a large
#: row-major X (a few MB: the chunk is still in cache for its second product).
_FUSED_CHUNK_ENTRIES = 1 << 19
#: ... and at most this many bytes per column of a chunk's temporaries (raw
#: output, loss terms) where glibc's mmap threshold is fixed, as dask's workers
#: fix it (their nanny sets MALLOC_TRIM_THRESHOLD_): allocations above it
#: (128 KB) are then fresh pages every time, and 26,214-row chunks of
#: 125,000 x 20 float64 ran 2.4x slower there. Elsewhere the threshold adapts
#: and longer chunks are faster (2M x 20 float64: 82 against 97 ms a pass).
_FUSED_CHUNK_BYTES = 1 << 16
#: Newton iterations of the null model's constants under an offset (each is cheap).
_NULL_MAX_ITER = 100


def _fixed_mmap_threshold():
    """Whether this process's glibc malloc has a fixed (not adaptive) mmap threshold."""
    return any(
        name in os.environ for name in ("MALLOC_TRIM_THRESHOLD_", "MALLOC_MMAP_THRESHOLD_")
    )


class LinearObjective:
    """Loss of a linear layer on fixed data, with gradient and Hessian.

    Parameters
    ----------
    X : torch.Tensor of shape (n_samples, n_features)
    target : torch.Tensor of shape (n_samples, n_outputs)
        Encoded target, as the loss expects it.
    sample_weight : torch.Tensor of shape (n_samples,)
        Non-negative weights with a positive sum.
    loss : NeuronLoss
    l2 : float
        Strength of the L2 penalty on the coefficients (not the intercept).
    fit_intercept : bool
    l1 : float, default=0
        Strength of the L1 penalty ``l1 * ||W||_1`` (not the intercept). It is
        not part of :meth:`value_gradient` (it is not differentiable); the
        optimizers handle it (:meth:`l1_weights`, :meth:`full_value`).
    sparse_rows : scipy.sparse.csr_matrix, optional
        When X is a torch sparse CSR tensor, the same matrix in scipy, used
        to slice minibatches (torch's CSR tensors cannot select rows).
    weight_sum : float, optional
        The sum the weights are normalised by; by default their own. A block
        of rows of a larger data set (see :mod:`._dask`) passes the whole
        set's, so that its value, gradient and Hessian are its share of the
        whole objective's.
    offset : torch.Tensor of shape (n_samples, n_outputs), optional
        A known term added to every raw output, ``x_i @ W.T + b + o_i``
        (GLM offsets: log exposure, a prior model's raw output). It travels
        with the rows wherever they are sliced (minibatches, blocks).
    """

    def __init__(
        self, X, target, sample_weight, loss, l2, fit_intercept, *, l1=0.0, sparse_rows=None,
        weight_sum=None, offset=None,
    ):
        self.X = X
        self.offset = offset
        self.is_sparse = X.layout == torch.sparse_csr
        self._sparse_rows = sparse_rows
        # Sparse X also keeps X^T as CSR: torch multiplies CSR by dense fast,
        # dense by CSR (the gradient's X^T r) two orders of magnitude slower.
        self._XT = None
        if self.is_sparse and sparse_rows is None:
            sparse_rows = scipy.sparse.csr_matrix(
                (X.values().cpu().numpy(), X.col_indices().cpu().numpy(),
                 X.crow_indices().cpu().numpy()), shape=tuple(X.shape),
            )
            self._sparse_rows = sparse_rows
        if self.is_sparse:
            self._XT = sparse_tensor(sparse_rows.T.tocsr(), X.device, X.dtype)
        self.target = target
        self.loss = loss
        self.l2 = float(l2)
        self.l1 = float(l1)
        self.fit_intercept = bool(fit_intercept)
        self.n_features = X.shape[1]
        self.n_outputs = loss.n_outputs
        self.n_params_per_output = self.n_features + self.fit_intercept
        self.n_params = self.n_outputs * self.n_params_per_output
        # Normalised weights: f is a weighted *mean* loss. Their sum is kept
        # for inference, where weights count observations.
        self.weight_sum = float(sample_weight.sum() if weight_sum is None else weight_sum)
        if sample_weight.ndim == 1 and sample_weight.shape[0] > 1 and sample_weight.stride(0) == 0:
            # Uniform weights given as one number seen n times (no weights
            # given) stay so: no n-length vector of equal weights.
            self.weight = (sample_weight[:1] / self.weight_sum).expand(sample_weight.shape[0])
        else:
            self.weight = sample_weight / self.weight_sum
        self._weight_column = self.weight.unsqueeze(1)
        self._weight_cube = self.weight.view(-1, 1, 1)
        self.dtype = X.dtype
        self.device = X.device
        #: Small enough that torch's thread fork/join costs more than it saves.
        self.is_small = X.shape[0] * self.n_params_per_output <= _SMALL_PROBLEM
        self._abs_max = None  # X's largest absolute entry, read when first asked
        # Small data keep [X, 1] whole: every product then is one torch call,
        # which is what decides the speed when per-call overhead dominates.
        self._augmented = None
        #: Dense data in CPU memory: Gram sums by numpy's BLAS (see _gram).
        self._blas_gram = (
            not self.is_sparse
            and X.device.type == "cpu"
            and X.dtype in (torch.float32, torch.float64)
        )
        if X.shape[0] <= _HESSIAN_CHUNK_ROWS and not self.is_sparse:
            self._augmented = self._column_major_design()
        #: Rows per chunk of the fused pass (0: not used). For large dense
        #: row-major data in CPU memory and the built-in losses, which are
        #: row-wise; column-major data are multiplied fastest whole.
        self._fused_chunk_rows = 0
        if (
            self._augmented is None
            and not self.is_sparse
            and X.device.type == "cpu"
            and X.is_contiguous()
            and not loss.uses_autograd
        ):
            rows = _FUSED_CHUNK_ENTRIES // X.shape[1]
            if _fixed_mmap_threshold():
                rows = min(rows, _FUSED_CHUNK_BYTES // (self.n_outputs * X.element_size()))
            self._fused_chunk_rows = max(_HESSIAN_CHUNK_ROWS, rows)
        #: Rows per chunk of the Gram passes by numpy's BLAS (the chunk's
        #: temporaries, n_outputs^2 numbers a row, kept under the fixed mmap
        #: threshold as above).
        rows = _GRAM_CHUNK_ENTRIES // max(1, self.n_params_per_output)
        if _fixed_mmap_threshold():
            rows = min(rows, _FUSED_CHUNK_BYTES // (self.n_outputs**2 * X.element_size()))
        self._gram_chunk_rows = max(_HESSIAN_CHUNK_ROWS, rows)

    # -- parameter layout -------------------------------------------------
    def zeros(self):
        """All coefficients and intercepts zero."""
        return torch.zeros(self.n_params, dtype=self.dtype, device=self.device)

    def initial_theta(self):
        """Cold start: zero coefficients, intercepts of the best constant model.

        With an offset, the constant less the offset's weighted mean (the
        offset then starts centred on the constant model).
        """
        theta = self.zeros()
        if self.fit_intercept:
            baseline = self.loss.baseline_raw(self.target, self.weight)
            if self.offset is not None:
                baseline = baseline - self.weight @ self.offset
            theta.view(self.n_outputs, -1)[:, -1] = baseline
        return theta

    def null_raw(self):
        """Raw output of the best constant model (intercepts alone).

        Without an offset the loss's own rule, shape (n_outputs,). With one,
        the constant is fitted with the offset in place (as statsmodels'
        GLM fits its null model), by Newton's method on the K constants, and
        the result is the constant plus the offset, (n_samples, n_outputs).
        """
        baseline = self.loss.baseline_raw(self.target, self.weight)
        if self.offset is None:
            return baseline
        start = baseline.to(torch.float64) - self.weight.to(torch.float64) @ self.offset.to(
            torch.float64
        )
        constant = fit_constant(self.constant_terms, start.cpu())
        return constant.to(dtype=self.dtype, device=self.device) + self.offset

    def constant_terms(self, constant):
        """``(value, gradient, Hessian)`` of the data term at raw outputs
        ``constant + offset`` (constant (K,) float64): float64 numpy, (), (K,), (K, K)."""
        like = {"dtype": torch.float64, "device": self.device}
        raw = constant.to(**like) + (0.0 if self.offset is None else self.offset.to(**like))
        target, weight = self.target.to(**like), self.weight.to(**like)
        value = weight @ self.loss.value(raw, target)
        grad_raw, h = self.loss.gradient_hessian(raw, target)
        terms = value, weight @ grad_raw, torch.einsum("i,ikm->km", weight, h)
        return tuple(term.cpu().numpy() for term in terms)

    def unpack(self, theta):
        """Split ``theta`` into coefficients (K, p) and intercepts (K,)."""
        W = theta.view(self.n_outputs, self.n_params_per_output)
        if self.fit_intercept:
            return W[:, :-1], W[:, -1]
        return W, None

    def pack(self, coef, intercept=None):
        """Inverse of :meth:`unpack`."""
        coef = torch.as_tensor(coef, dtype=self.dtype, device=self.device)
        coef = coef.reshape(self.n_outputs, self.n_features)
        if self.fit_intercept:
            intercept = torch.as_tensor(intercept, dtype=self.dtype, device=self.device)
            coef = torch.cat([coef, intercept.reshape(self.n_outputs, 1)], dim=1)
        return coef.reshape(-1).clone()

    def raw(self, theta, X=None):
        """Raw output ``X @ W.T + b`` of shape (n_samples, n_outputs).

        Of all rows (``X`` None) it includes the offset; of other rows
        ``X`` (a minibatch, a step's direction) it does not.
        """
        if X is None:
            if self._augmented is not None:
                if self.n_outputs == 1:
                    raw = torch.mv(self._augmented, theta).unsqueeze(1)
                else:
                    raw = (theta.view(self.n_outputs, -1) @ self._augmented.T).T
            else:
                raw = self._linear_raw(theta, self.X)
            return raw if self.offset is None else raw + self.offset
        return self._linear_raw(theta, X)

    def _linear_raw(self, theta, X):
        """``X @ W.T + b`` for the rows ``X``, no offset."""
        coef, intercept = self.unpack(theta)
        if X.layout == torch.sparse_csr and self.n_outputs == 1:
            raw = torch.mv(X, coef[0]).unsqueeze(1)  # the fast sparse kernel
        elif (
            self.n_outputs == 1
            and X.device.type == "cpu"
            and X.shape[0] > _HESSIAN_CHUNK_ROWS
            and X.is_contiguous()
        ):
            raw = _row_major_products(X, coef[0]).unsqueeze(1)
        else:
            raw = X @ coef.T
        return raw if intercept is None else raw + intercept

    def linear_gradient(self, weighted_grad_raw, X=None):
        """Gradient of the data term from ``weight * dloss/draw``, shape (K, q).

        ``X`` (rows of the design, e.g. a minibatch) defaults to all of it.
        """
        if X is None:
            if self._augmented is not None:
                return (self._augmented.T @ weighted_grad_raw).T
            X = self.X
        grad = torch.empty(
            (self.n_outputs, self.n_params_per_output), dtype=self.dtype, device=self.device
        )
        if X.layout == torch.sparse_csr:
            XT = self._XT if X is self.X else _sparse_transpose(X)
            if self.n_outputs == 1:
                grad[0, : self.n_features] = torch.mv(XT, weighted_grad_raw[:, 0])
            else:
                grad[:, : self.n_features] = (XT @ weighted_grad_raw).T
        else:
            grad[:, : self.n_features] = weighted_grad_raw.T @ X
        if self.fit_intercept:
            torch.sum(weighted_grad_raw, dim=0, out=grad[:, -1])
        return grad

    def subset(self, index):
        """The same objective on rows ``index`` (a LongTensor) only."""
        sparse_rows = None
        if self.is_sparse:
            sparse_rows = self._sparse_rows[index.cpu().numpy()]
        return LinearObjective(
            self.rows(index),
            self.target.index_select(0, index),
            self.weight.index_select(0, index),
            self.loss,
            self.l2,
            self.fit_intercept,
            l1=self.l1,
            sparse_rows=sparse_rows,
            offset=None if self.offset is None else self.offset.index_select(0, index),
        )

    def with_penalty(self, l2, l1=0.0):
        """The same objective with penalty strengths ``l2`` and ``l1``, sharing the data.

        A regularization path changes only the penalty between fits: this
        skips rebuilding (re-validating, copying) the design matrix. The
        cached per-parameter penalty terms are dropped, to be rebuilt for
        the new strengths.
        """
        other = copy.copy(self)
        other.l2, other.l1 = float(l2), float(l1)
        for name in ("_l2_columns", "_l2_flat", "_penalty_hessian"):
            other.__dict__.pop(name, None)
        return other

    def rows(self, index):
        """Design matrix rows ``index`` (a LongTensor) as a tensor (minibatches)."""
        if not self.is_sparse:
            return self.X.index_select(0, index)
        return sparse_tensor(self._sparse_rows[index.cpu().numpy()], self.device, self.dtype)

    def reordered(self, order):
        """The rows in ``order`` (a LongTensor, or None for as they are), to slice
        minibatches from with :meth:`row_slice` (one gather per epoch)."""
        if not self.is_sparse:
            if order is None:
                return self.X
            if self.X.device.type == "cpu" and self.X.dtype in (torch.float32, torch.float64):
                # numpy's take gathers rows 2-3.5x faster than torch's
                # index_select (100,000 x 50 float64: 9.7 against 19-34 ms).
                return torch.from_numpy(np.take(self.X.numpy(), order.numpy(), axis=0))
            return self.X.index_select(0, order)
        return self._sparse_rows if order is None else self._sparse_rows[order.cpu().numpy()]

    def row_slice(self, reordered, rows):
        """Rows ``rows`` (a slice) of :meth:`reordered`'s result, as a tensor."""
        if not self.is_sparse:
            return reordered[rows]
        return sparse_tensor(reordered[rows], self.device, self.dtype)

    # -- value and derivatives ---------------------------------------------
    def penalty(self, theta):
        """L2 penalty ``l2 / 2 * ||W||^2`` (intercepts excluded), a 0-d tensor."""
        return 0.5 * torch.dot(theta, theta * self._l2_flat)

    def l2_gradient(self, theta):
        """Gradient of :meth:`penalty`, laid out as ``theta``."""
        return theta * self._l2_flat

    def add_l2_gradient_(self, gradient, theta):
        """Add :meth:`l2_gradient` to ``gradient`` in place (one call; minibatch steps)."""
        return gradient.addcmul_(theta, self._l2_flat)

    def value(self, theta, raw=None):
        """Objective value at ``theta`` (a 0-d tensor)."""
        if raw is None:
            raw = self.raw(theta)
        value = torch.dot(self.weight, self.loss.value(raw, self.target))
        if self.l2:
            value = value + self.penalty(theta)
        return value

    def value_gradient(self, theta, index=None):
        """Return ``(f, grad, raw)`` at ``theta``; ``raw`` serves the Hessian.

        With ``index`` (a LongTensor of rows), the same on that minibatch:
        its weights renormalised to sum to one, so that the minibatch
        objective is an unbiased estimate of the full one.
        """
        if index is None:
            if self._fused_chunk_rows:
                return self._fused_value_gradient(theta)
            X, target, weight_column = None, self.target, self._weight_column
        else:
            X, target = self.rows(index), self.target.index_select(0, index)
            weight = self.weight.index_select(0, index)
            weight_column = (weight / weight.sum()).unsqueeze(1)
        raw = self.raw(theta, X)
        if X is not None and self.offset is not None:
            raw = raw + self.offset.index_select(0, index)
        pointwise, grad_raw = self.loss.value_gradient(raw, target)
        f = torch.dot(weight_column.view(-1), pointwise)
        grad = self.linear_gradient(grad_raw * weight_column, X).reshape(-1)
        return (*self._add_l2(f, grad, theta), raw)

    def value_gradient_pointwise(self, theta):
        """``(f, grad, grad_raw)``: :meth:`value_gradient` and each row's loss
        gradient in its raw output (unweighted, shape (n_samples, n_outputs)).

        Minibatch SVRG's snapshot. On large dense CPU data it is the fused
        pass, which writes ``grad_raw`` chunk by chunk: one pass over X.
        """
        if self._fused_chunk_rows:
            grad_raw = torch.empty(
                (self.X.shape[0], self.n_outputs), dtype=self.dtype, device=self.device
            )
            f, grad, _ = self._fused_value_gradient(theta, grad_raw)
            return f, grad, grad_raw
        raw = self.raw(theta)
        pointwise, grad_raw = self.loss.value_gradient(raw, self.target)
        f = torch.dot(self.weight, pointwise)
        grad = self.linear_gradient(grad_raw * self._weight_column).reshape(-1)
        return (*self._add_l2(f, grad, theta), grad_raw)

    def _fused_value_gradient(self, theta, grad_raw_out=None):
        """:meth:`value_gradient` over all rows in one pass over X, by chunks of rows.

        Each chunk's raw output and its gradient product ``X_c^T r_c`` are
        taken while the chunk is in cache, so X is streamed from memory once
        per evaluation, in the caller's row-major layout (no column-major
        copy of X), and no temporary longer than a chunk is made: ``raw`` is
        not kept (the third item is None; :meth:`hessian` recomputes it
        chunk by chunk). A fit's extra memory is then the encoded target
        and chunk-sized buffers. ``grad_raw_out``, an (n_samples, n_outputs)
        tensor, receives each row's loss gradient in its raw output.
        """
        X, loss, step = self.X, self.loss, self._fused_chunk_rows
        coef, intercept = self.unpack(theta)
        coef_t = coef.T
        n = X.shape[0]
        # The sums over chunks accumulate in float64 (float32 data lose
        # digits over a million rows otherwise); each chunk's in the dtype.
        grad = torch.zeros(
            (self.n_outputs, self.n_params_per_output), dtype=torch.float64, device=self.device
        )
        grad_coef = grad[:, : self.n_features]
        f = torch.zeros((), dtype=torch.float64, device=self.device)
        raw_chunk = torch.empty(
            (min(n, step), self.n_outputs), dtype=self.dtype, device=self.device
        )
        for start in range(0, n, step):
            rows = slice(start, start + step)
            X_chunk = X[rows]
            raw = raw_chunk[: X_chunk.shape[0]]
            torch.matmul(X_chunk, coef_t, out=raw)
            if intercept is not None:
                raw += intercept
            if self.offset is not None:
                raw += self.offset[rows]
            pointwise, grad_raw = loss.value_gradient(raw, self.target[rows])
            if grad_raw_out is not None:
                grad_raw_out[rows] = grad_raw
            weight = self._weight_column[rows]
            # (Not torch.dot: BLAS's dot on short vectors stalls on busy cores.)
            f += torch.sum(weight.view(-1) * pointwise, dtype=torch.float64)
            grad_raw = grad_raw * weight
            grad_coef += grad_raw.T @ X_chunk
            if self.fit_intercept:
                grad[:, -1] += grad_raw.sum(dim=0, dtype=torch.float64)
        return (*self._add_l2(f.to(self.dtype), grad.to(self.dtype).reshape(-1), theta), None)

    def _add_l2(self, f, grad, theta):
        """``(f, grad)`` of the data term plus the L2 term's value and gradient."""
        if self.l2:
            penalty_grad = theta * self._l2_flat
            f = f + 0.5 * torch.dot(theta, penalty_grad)
            grad = grad + penalty_grad
        return f, grad

    # -- the L1 term -------------------------------------------------------------
    def l1_weights(self):
        """Per-parameter L1 strength (0 on intercepts), or None without L1."""
        if not self.l1:
            return None
        columns = torch.full(
            (self.n_params_per_output,), self.l1, dtype=self.dtype, device=self.device
        )
        if self.fit_intercept:
            columns[-1] = 0.0
        return columns.repeat(self.n_outputs)

    def full_value(self, theta):
        """Objective including the L1 term (a float)."""
        value = float(self.value(theta))
        if self.l1:
            value += float(torch.dot(self.l1_weights(), theta.abs()))
        return value

    def hessian(self, theta, raw=None, pointwise=None):
        """Hessian of the objective, shape (n_params, n_params).

        ``raw`` is :meth:`raw` at ``theta`` if at hand (:meth:`value_gradient`
        returns it, or None where it is not kept). ``pointwise``, of shape
        (n_samples, K, K), replaces the loss's pointwise Hessian (inference
        passes the expected, Fisher, weights of a non-canonical link this way).

        Block ``(k, l)`` is ``Xa.T @ diag(w * h_kl) @ Xa`` with ``Xa = [X, 1]``
        and ``h`` the loss's pointwise Hessian (see :meth:`gram`). On large
        dense CPU data without ``raw`` it is one pass over X by chunks of
        rows, each chunk's raw output and curvature made in cache, with no
        n-length temporary.
        """
        if raw is None:
            if pointwise is None and self._blas_gram and self._augmented is None:
                return self._fused_hessian(theta)
            raw = self.raw(theta)
        if pointwise is None:
            pointwise = self.loss.hessian(raw, self.target)
        return self.gram(pointwise * self._weight_cube, self._penalty_hessian)

    def curvature(self, theta, raw=None):
        """The data term's weighted curvature in the raw outputs at ``theta``.

        Returns ``(apply, diagonal)``: ``apply(U)`` maps raw-output
        directions ``U`` (n_samples, K) to ``w_i h_i u_i`` row by row, with
        ``h_i`` the loss's pointwise Hessian, and ``diagonal`` (n_samples, K)
        holds ``w_i diag(h_i)``. For the softmax's log-loss ``h_i`` is
        ``diag(p_i) - p_i p_i^T`` and is applied from the probabilities, so
        no (n_samples, K, K) tensor is made. These serve
        :meth:`hessian_vector_product` and :meth:`hessian_diagonal`, which
        then cost a pass over X each and no Hessian.
        """
        if raw is None:
            raw = self.raw(theta)
        w = self._weight_column
        if isinstance(self.loss, MultinomialLogLoss):
            p = torch.softmax(raw, dim=1)
            wp = w * p

            def apply(U):
                return wp * U - wp * (p * U).sum(dim=1, keepdim=True)

            return apply, wp * (1.0 - p)
        h = self.loss.hessian(raw, self.target)
        if self.n_outputs == 1:
            c = h[:, :, 0] * w
            return (lambda U: c * U), c
        c = h * self._weight_cube
        return (lambda U: torch.einsum("ikm,im->ik", c, U)), c.diagonal(dim1=1, dim2=2)

    def hessian_vector_product(self, curvature, v):
        """The objective's Hessian times ``v`` (laid out as ``theta``), exactly.

        ``curvature`` is :meth:`curvature` at the point. ``X^T C (X V)``
        block by block plus the L2 term: two products with X, no Hessian.
        """
        apply, _ = curvature
        product = self.linear_gradient(apply(self.raw_direction(v))).reshape(-1)
        if self.l2:
            product = product + v * self._l2_flat
        return product

    def raw_direction(self, v):
        """``X @ V.T + b_v`` for all rows, without the offset (a step's raw change)."""
        if self._augmented is None:
            return self._linear_raw(v, self.X)
        if self.n_outputs == 1:
            return torch.mv(self._augmented, v).unsqueeze(1)
        return (v.view(self.n_outputs, -1) @ self._augmented.T).T

    def hessian_diagonal(self, curvature):
        """Diagonal of the objective's Hessian (laid out as ``theta``) from
        :meth:`curvature`: ``sum_i d_ik x_ij^2`` per block, plus the L2 term.

        One pass over X (its squares, kept for sparse X), for a
        preconditioner of Hessian-free Newton.
        """
        _, d = curvature
        diagonal = torch.empty(
            (self.n_outputs, self.n_params_per_output), dtype=self.dtype, device=self.device
        )
        p = self.n_features
        if self.is_sparse:
            diagonal[:, :p] = (self._squared_design_t @ d).T
        else:
            diagonal[:, :p] = 0.0
            step = self._gram_chunk_rows
            for start in range(0, self.X.shape[0], step):
                rows = slice(start, start + step)
                diagonal[:, :p] += d[rows].T @ self.X[rows].square()
        if self.fit_intercept:
            torch.sum(d, dim=0, out=diagonal[:, -1])
        diagonal = diagonal.reshape(-1)
        return diagonal + self._l2_flat if self.l2 else diagonal

    @functools.cached_property
    def _squared_design_t(self):
        """``(X ** 2)^T`` of a sparse X, as CSR (the Hessian diagonal's product)."""
        squared = self._sparse_rows.copy()
        squared.data = squared.data**2
        return sparse_tensor(squared.T.tocsr(), self.device, self.dtype)

    def gram(self, c, diagonal_block=None, vector=None):
        """``sum_i c_ikm xa_i xa_i^T`` in blocks (k, m), shape (n_params, n_params).

        ``xa_i = [x_i, 1]`` (no 1 without intercept) and ``c`` of shape
        (n_samples, K, K); ``diagonal_block`` (q, q), if given, is added to
        each diagonal block (the L2 term of the Hessian). The Hessian uses it
        with the weighted pointwise Hessian, inference's sandwich with the
        outer products of the scores. With ``vector`` (n_samples, K), also
        returns ``vector^T [X, 1]`` (K, q), from the same pass over X.

        Over chunks of rows, so that each chunk is multiplied while in
        cache. The column of ones is never appended to a chunk: its products
        are sums of ``c`` and ``X^T c``. Non-negative weights use ``B^T B``
        with ``B = diag(sqrt(c)) X``: both operands one buffer, faster than
        ``X^T (c X)`` on the CPU.
        """
        K, q = self.n_outputs, self.n_params_per_output
        n = self.X.shape[0]
        if self._augmented is not None:  # small data: [X, 1] whole, one product
            Xa = self._augmented
            if K == 1:
                XaT = Xa.T  # contiguous (q, n): the fastest operands
                weighted = XaT * c.reshape(1, -1)
                G = weighted @ XaT.T if diagonal_block is None else torch.addmm(
                    diagonal_block, weighted, XaT.T
                )
            else:
                G = torch.zeros((K, q, K, q), dtype=self.dtype, device=self.device)
                for k, m in _upper_pairs(K):
                    G[k, :, m, :] = Xa.T @ (Xa * c[:, k, m].unsqueeze(1))
                G = _finish_blocks(G, diagonal_block)
            if vector is None:
                return G
            return G, (Xa.T @ vector).T
        pairs = _upper_pairs(K)
        weights = [c[:, k, m].unsqueeze(1) for k, m in pairs]
        columns = self._side_columns(weights, vector)
        side = torch.cat(columns, dim=1) if columns else None
        if self.is_sparse and self.device.type == "cpu":
            tops, side_products = sparse_grams(self._sparse_rows, weights, side)
        elif self._blas_gram:
            arrays = [w.numpy() for w in weights]
            side_array = None if side is None else side.numpy()

            def terms(rows, X_chunk):
                return [w[rows] for w in arrays], None if side is None else side_array[rows]

            tops, side_products = blas_chunk_grams(
                self.X, terms, self._gram_chunk_rows, torch.get_num_threads()
            )
        else:
            # Per pair the square roots of its weights where all are >= 0.
            roots = [w.sqrt() if bool((w >= 0).all()) else None for w in weights]
            tops, side_products = torch_chunk_grams(
                self._rows_dense, n, weights, roots, side, _HESSIAN_CHUNK_ROWS
            )
        vector_sum = None if vector is None else vector.sum(dim=0)
        return self._assemble_gram(tops, side_products, c.sum(dim=0), diagonal_block, vector_sum)

    @property
    def gram_work(self):
        """Multiply-adds of one :meth:`gram` (a Hessian): ``n * n_params**2``,
        or on sparse CPU data ``sum_i nnz_i**2`` per pair of output blocks."""
        if self.is_sparse and self.device.type == "cpu":
            K = self.n_outputs
            return sparse_gram_work(self._sparse_rows) * K * (K + 1) / 2
        return self.X.shape[0] * self.n_params**2

    @property
    def hessian_rows(self):
        """Rows whose pointwise Hessians (n, K, K) a :meth:`hessian` holds at once.

        The fused pass over a large dense CPU X takes them by chunks, one
        chunk per thread (see :func:`~sklearn_neuron._objective.gram.blas_chunk_grams`);
        elsewhere all rows (read by the memory estimate of ``_diagnostics``).
        """
        n = self.X.shape[0]
        if self._fused_chunk_rows and self._blas_gram and self._augmented is None:
            return min(n, self._gram_chunk_rows * min(torch.get_num_threads(), _MAX_THREADS))
        return n

    def _fused_hessian(self, theta):
        """:meth:`hessian` of a large dense CPU X in one pass, nothing n-length kept."""
        K, like = self.n_outputs, {"dtype": self.dtype, "device": self.device}
        coef, intercept = self.unpack(theta)
        coef_t = coef.T.contiguous().numpy()  # a BLAS operand
        pairs = _upper_pairs(K)
        sums = {}  # each chunk's sum of c, by its first row (threads write distinct keys)

        def terms(rows, X_chunk):
            raw = torch.from_numpy(X_chunk @ coef_t)
            if intercept is not None:
                raw += intercept
            if self.offset is not None:
                raw += self.offset[rows]
            c = (self.loss.hessian(raw, self.target[rows]) * self._weight_cube[rows]).numpy()
            sums[rows.start] = c.sum(axis=0, dtype=np.float64)
            weights = [c[:, k, m, None] for k, m in pairs]
            return weights, np.concatenate(weights, axis=1) if self.fit_intercept else None

        tops, side_products = blas_chunk_grams(
            self.X, terms, self._gram_chunk_rows, torch.get_num_threads()
        )
        c_sum = torch.from_numpy(sum(sums[start] for start in sorted(sums))).to(**like)
        return self._assemble_gram(tops, side_products, c_sum, self._penalty_hessian)

    def value_gradient_hessian(self, theta):
        """``(f, grad, None, H)`` at ``theta``: :meth:`value_gradient` and
        :meth:`hessian` together.

        On a large dense float64 X in CPU memory it is one pass over X: each
        chunk of rows, while in cache, gives its raw output, its share of
        the value, and its Gram sums with the gradient's product riding
        along (see :mod:`._gram`), where the two methods read X three
        times. Newton takes it where every evaluation is costly (dask blocks).
        """
        if not (self._fused_chunk_rows and self._blas_gram and self.dtype == torch.float64):
            f, grad, raw = self.value_gradient(theta)
            return f, grad, None, self.hessian(theta, raw)
        coef, intercept = self.unpack(theta)
        coef_t = coef.T.contiguous().numpy()  # a BLAS operand
        pairs = _upper_pairs(self.n_outputs)
        sums = {}  # each chunk's value, sum of c and of the gradient column, by first row

        def terms(rows, X_chunk):
            raw = torch.from_numpy(X_chunk @ coef_t)
            if intercept is not None:
                raw += intercept
            if self.offset is not None:
                raw += self.offset[rows]
            target, weight = self.target[rows], self._weight_column[rows]
            pointwise, grad_raw = self.loss.value_gradient(raw, target)
            c = (self.loss.hessian(raw, target) * self._weight_cube[rows]).numpy()
            vector = (grad_raw * weight).numpy()
            sums[rows.start] = (
                torch.sum(weight.view(-1) * pointwise, dtype=torch.float64).item(),
                c.sum(axis=0, dtype=np.float64),
                vector.sum(axis=0, dtype=np.float64),
            )
            weights = [c[:, k, m, None] for k, m in pairs]
            return weights, np.concatenate(self._side_columns(weights, vector), axis=1)

        tops, side_products = blas_chunk_grams(
            self.X, terms, self._gram_chunk_rows, torch.get_num_threads()
        )
        ordered = [sums[start] for start in sorted(sums)]  # a fixed order of addition
        f = torch.tensor(sum(part[0] for part in ordered), dtype=self.dtype)
        c_sum, vector_sum = (
            torch.from_numpy(sum(part[i] for part in ordered)) for i in (1, 2)
        )
        H, grad = self._assemble_gram(
            tops, side_products, c_sum, self._penalty_hessian, vector_sum
        )
        f, grad = self._add_l2(f, grad.reshape(-1), theta)
        return f, grad, None, H

    def _side_columns(self, weights, vector):
        """The columns whose products with X ride along in the Gram pass.

        The pairs' weights when there is an intercept (``X^T w`` is the
        intercept's column of each block), then ``vector`` if given: one
        product per chunk with them side by side, in the order
        :meth:`_assemble_gram` reads. A list, torch or numpy as given.
        """
        columns = list(weights) if self.fit_intercept else []
        return columns if vector is None else [*columns, vector]

    def _assemble_gram(self, tops, side_products, c_sum, diagonal_block, vector_sum=None):
        """The blocks of :meth:`gram` from the chunk kernels' sums.

        ``tops`` the (p, p) sums of each upper pair of outputs,
        ``side_products`` those of :meth:`_side_columns` and ``c_sum`` the
        (K, K) sum of ``c`` over the rows (the intercepts' corner);
        ``vector_sum`` (K,), the sum over the rows of the side ``vector``
        (its intercept entries), if one rode along.
        """
        K, q, p = self.n_outputs, self.n_params_per_output, self.n_features
        pairs = _upper_pairs(K)
        G = torch.zeros((K, q, K, q), dtype=self.dtype, device=self.device)
        for (k, m), top in zip(pairs, tops, strict=True):
            G[k, :p, m, :p] = top
        projection = None
        if vector_sum is not None:
            projection = torch.zeros((K, q), dtype=self.dtype, device=self.device)
            projection[:, :p] = side_products[-K:]
            if q > p:
                projection[:, p] = vector_sum
        if q > p:  # the intercept's column, row and corner
            for index, (k, m) in enumerate(pairs):
                block = G[k, :, m, :]
                block[:p, p] = side_products[index]
                block[p, :p] = side_products[index]
                block[p, p] = c_sum[k, m]
        G = _finish_blocks(G, diagonal_block)
        return G if vector_sum is None else (G, projection)

    def second_order(self, theta, pointwise=None):
        """``(raw, grad, H, c)`` at ``theta``: two passes over X instead of three.

        The results of :meth:`raw`, :meth:`value_gradient` and
        :meth:`hessian` (``pointwise`` a function ``(raw, target) ->
        (n, K, K)`` in place of the loss's pointwise Hessian), and the
        weighted pointwise Hessian ``c`` (n, K, K) that ``H`` sums; the
        gradient is accumulated in the Hessian's pass over X, chunk by chunk
        while in cache.
        """
        if self._blas_gram and self._augmented is None:
            return self._fused_second_order(theta, pointwise)
        raw = self.raw(theta)
        grad_raw, h = self._pointwise_terms(raw, self.target, pointwise)
        c = h * self._weight_cube
        H, grad = self.gram(c, self._penalty_hessian, grad_raw * self._weight_column)
        return raw, self._penalized_gradient(grad, theta), H, c

    def _fused_second_order(self, theta, pointwise):
        """:meth:`second_order` in one pass over a dense CPU X.

        Each chunk of rows, while in cache, gives its raw output, the loss's
        terms and its share of the Gram sums (see :mod:`._gram`): X is read
        once, where a separate fitted-values pass would read it twice.
        """
        n, K = self.X.shape[0], self.n_outputs
        like = {"dtype": self.dtype, "device": self.device}
        raw, vector = torch.empty((n, K), **like), torch.empty((n, K), **like)
        c = torch.empty((n, K, K), **like)
        coef, intercept = self.unpack(theta)
        coef_t = coef.T.contiguous().numpy()  # a BLAS operand
        shift = None if intercept is None else intercept.numpy()
        offset = None if self.offset is None else self.offset.numpy()
        # numpy views of the outputs, written by torch through the tensors.
        raw_array, c_array, vector_array = raw.numpy(), c.numpy(), vector.numpy()
        pairs = _upper_pairs(K)

        def terms(rows, X_chunk):  # writes rows of the outputs only: safe in threads
            np.matmul(X_chunk, coef_t, out=raw_array[rows])
            if shift is not None:
                raw_array[rows] += shift
            if offset is not None:
                raw_array[rows] += offset[rows]
            grad_raw, h = self._pointwise_terms(raw[rows], self.target[rows], pointwise)
            torch.mul(h, self._weight_cube[rows], out=c[rows])
            torch.mul(grad_raw, self._weight_column[rows], out=vector[rows])
            weights = [c_array[rows, k, m, None] for k, m in pairs]
            columns = self._side_columns(weights, vector_array[rows])
            return weights, np.concatenate(columns, axis=1)

        tops, side_products = blas_chunk_grams(
            self.X, terms, self._gram_chunk_rows, torch.get_num_threads()
        )
        H, grad = self._assemble_gram(
            tops, side_products, c.sum(dim=0), self._penalty_hessian, vector.sum(dim=0)
        )
        return raw, self._penalized_gradient(grad, theta), H, c

    def _pointwise_terms(self, raw, target, pointwise):
        """The loss's gradient in ``raw`` and its pointwise Hessian, or ``pointwise``'s."""
        if pointwise is None:
            return self.loss.gradient_hessian(raw, target)
        return self.loss.value_gradient(raw, target)[1], pointwise(raw, target)

    def _penalized_gradient(self, grad, theta):
        """The data term's gradient (K, q) as ``theta`` is laid out, plus the L2 term."""
        grad = grad.reshape(-1)
        if self.l2:
            grad = grad + theta * self._l2_flat
        return grad

    def abs_max(self):
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

    @functools.cached_property
    def _l2_columns(self):
        """Per-column L2 strength (q,): ``l2`` on coefficients, 0 on the intercept."""
        columns = torch.full(
            (self.n_params_per_output,), self.l2, dtype=self.dtype, device=self.device
        )
        if self.fit_intercept:
            columns[-1] = 0.0
        return columns

    @functools.cached_property
    def _l2_flat(self):
        """:attr:`_l2_columns` for every output, laid out as ``theta``."""
        return self._l2_columns.expand(self.n_outputs, -1).reshape(-1)

    @functools.cached_property
    def _penalty_hessian(self):
        """Hessian of the L2 term per output, (q, q), or None without L2."""
        return torch.diag(self._l2_columns) if self.l2 else None

    def _column_major_design(self):
        """All of ``[X, 1]`` (just X without intercept) in column-major order.

        Kept for data of at most ``_HESSIAN_CHUNK_ROWS`` rows, where every
        product is then one torch call on the operand layout that torch
        multiplies fastest (its transpose contiguous: ``X^T diag(c) X`` is
        about 20% faster than on row-major data).
        """
        if not self.fit_intercept:
            return self.X.T.contiguous().T
        ones = torch.ones((1, self.X.shape[0]), dtype=self.dtype, device=self.device)
        return torch.cat([self.X.T, ones]).T

    def _rows_dense(self, rows):
        """Rows ``rows`` (a slice) of X as a dense tensor."""
        if self.is_sparse:
            index = torch.arange(rows.start, min(rows.stop, self.X.shape[0]))
            return self.rows(index).to_dense()
        return self.X[rows]

    def design(self):
        """All of ``[X, 1]`` (just X without intercept) as a dense tensor.

        The one kept for small data; otherwise built anew (the exact
        least-absolute-deviations solver needs the whole matrix).
        """
        if self._augmented is not None:
            return self._augmented
        X = self._rows_dense(slice(0, self.X.shape[0]))
        if self.fit_intercept:
            ones = torch.ones((X.shape[0], 1), dtype=self.dtype, device=self.device)
            X = torch.cat([X, ones], dim=1)
        return X

    # -- the softmax's redundant directions --------------------------------
    def null_mask(self):
        """Mask of the per-class columns along which a softmax fit is free.

        Adding the same number to one column of every class's parameters
        leaves a softmax's probabilities unchanged. The intercept column is
        always such a direction; without any penalty every column is. Returns
        None when the model has no such direction (one output unit).
        """
        if self.n_outputs < 2 or not self.loss.shift_invariant:
            return None
        mask = torch.zeros(self.n_params_per_output, dtype=self.dtype, device=self.device)
        if self.l2 == 0 and self.l1 == 0:
            mask[:] = 1.0
        elif self.fit_intercept:
            mask[-1] = 1.0
        else:
            return None
        return mask

    def center(self, theta):
        """Return ``theta`` with the free directions centred over the classes.

        Predictions are unchanged; the result is scikit-learn's symmetric
        parametrisation (coefficients and intercepts summing to zero over
        classes where the objective does not pin them).
        """
        mask = self.null_mask()
        if mask is None:
            return theta
        W = theta.view(self.n_outputs, self.n_params_per_output)
        return (W - mask * W.mean(dim=0, keepdim=True)).reshape(-1)


def fit_constant(terms, start):
    """The constants (K,) minimising a data term of raw outputs ``constant + offset``.

    ``terms(constant)`` gives the value, gradient and Hessian there (float64
    numpy, as :meth:`LinearObjective.constant_terms`; summed over the blocks
    of dask data). Newton's method with halving steps from ``start``; the
    least-squares solve leaves a softmax's free direction (one number added
    to every class) alone.
    """
    constant = torch.as_tensor(start, dtype=torch.float64).reshape(-1)
    value, grad, hessian = terms(constant)
    for _ in range(_NULL_MAX_ITER):
        step = torch.from_numpy(
            np.linalg.lstsq(np.atleast_2d(hessian), np.atleast_1d(grad), rcond=None)[0]
        )
        size = 1.0
        while size > 1e-10:
            candidate = constant - size * step
            candidate_terms = terms(candidate)
            if float(candidate_terms[0]) <= float(value):
                break
            size /= 2
        else:
            break
        constant, (value, grad, hessian) = candidate, candidate_terms
        if float(step.abs().max()) * size <= 1e-13 * max(1.0, float(constant.abs().max())):
            break
    return constant


def _upper_pairs(K):
    """Output pairs (k, m), k <= m: the Hessian's blocks on and above the diagonal."""
    return [(k, m) for k in range(K) for m in range(k, K)]


def _finish_blocks(G, diagonal_block):
    """Mirror the blocks below the diagonal, add ``diagonal_block``; (Kq, Kq)."""
    K, q = G.shape[0], G.shape[1]
    for k, m in _upper_pairs(K):
        if m != k:
            G[m, :, k, :] = G[k, :, m, :].T
    if diagonal_block is not None:
        for k in range(K):
            G[k, :, k, :] += diagonal_block
    return G.reshape(K * q, K * q)


def _row_major_products(X, w):
    """``X @ w`` for a large row-major X on the CPU, by chunks of rows.

    torch's matrix-vector product streams a row-major X from memory at
    about a third of the speed it reaches on a column-major one (20 ms
    against 7 ms on 200,000 x 100 float64); an elementwise product and a row
    sum over chunks that fit in cache streams it as fast as the latter.
    """
    out = torch.empty(X.shape[0], dtype=X.dtype)
    step = _HESSIAN_CHUNK_ROWS
    for start in range(0, X.shape[0], step):
        rows = slice(start, start + step)
        torch.sum(X[rows] * w, dim=1, out=out[rows])
    return out
