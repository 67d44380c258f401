"""The objective a neuron minimises in memory: loss x design x penalty.

For coefficients ``W`` (n_outputs x n_features) and intercepts ``b``::

    f(W, b) = 1/S * sum_i s_i * loss(x_i @ W.T + b + o_i, y_i) + l2 / 2 * ||W||_F^2

with ``S = sum_i s_i`` and ``o_i`` a fixed offset (none by default: GLM
offsets, log exposures). The intercept is never penalized. The estimators
choose ``l2`` so that this is their public objective divided by a positive
constant (for the classifier ``l2 = 1 / (C * S)``, which makes ``f`` equal to
LogisticRegression's ``C * sum_i s_i loss_i + ||W||^2 / 2`` divided by
``C * S``); the minimiser is the same, and gradient tolerances are on the
scale of a mean loss whatever the number of samples.

:class:`LinearObjective` composes the pointwise loss (:mod:`sklearn_neuron._loss`),
the design matrix (:mod:`.design`: how X of each storage is read), the penalty and
the parameter layout (:mod:`.penalty`), and the fused passes over large dense data
(:mod:`.fused`). It is the in-memory implementation of the declared
:class:`~sklearn_neuron._objective.protocol.Objective`.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, cast

import numpy as np
import scipy.sparse
import torch

from .._loss.losses import MultinomialLogLoss
from . import fused
from .design import Design, SparseDesign, make_design
from .penalty import ParameterLayout, PenalizedLayout, Penalty
from .protocol import Curvature, Pointwise, RowObjective, Sums

#: Newton iterations of the null model's constants under an offset (each is cheap).
_NULL_MAX_ITER = 100


def _one_number(weight: torch.Tensor) -> bool:
    """Whether per-row weights are one number seen n times (an expanded view:
    no weights given), which an objective keeps so, not as an n-length vector."""
    return weight.ndim == 1 and weight.shape[0] > 1 and weight.stride(0) == 0


class LinearObjective(PenalizedLayout):
    """Loss of a linear layer on data in memory, with gradient and Hessian.

    Parameters
    ----------
    X : torch.Tensor of shape (n_samples, n_features)
        Dense or sparse CSR, on any device (read through :attr:`design`).
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
        of rows of a larger data set (see :mod:`sklearn_neuron._dask`) passes
        the whole set's, so that its value, gradient and Hessian are its
        share of the whole objective's.
    offset : torch.Tensor of shape (n_samples, n_outputs), optional
        A known term added to every raw output, ``x_i @ W.T + b + o_i``
        (GLM offsets: log exposure, a prior model's raw output). It travels
        with the rows wherever they are sliced (minibatches, blocks).

    Attributes
    ----------
    design : Design
        How X is read (:mod:`.design`).
    layout : ParameterLayout
        How ``theta`` is laid out (:mod:`.penalty`).
    penalty : Penalty
        The L2 / L1 terms, the unpenalized intercept and the softmax's free
        directions on :attr:`layout` (:mod:`.penalty`); :attr:`l2` and
        :attr:`l1` are its strengths, :meth:`with_penalty` gives other ones.
    weight : torch.Tensor of shape (n_samples,)
        The sample weights divided by :attr:`weight_sum`.
    """

    #: The data are in this process's memory: rows can be read, reductions are local.
    distributed = False
    #: Full passes over the data each evaluation costs beyond the first.
    reads_per_evaluation = 0
    #: Plain (not Firth's penalised) likelihood.
    firth = False
    #: No subsample warm start for Newton (the data are at hand).
    subsample_newton = None

    def __init__(
        self,
        X: torch.Tensor,
        target: torch.Tensor,
        sample_weight: torch.Tensor,
        loss: Any,
        l2: float,
        fit_intercept: bool,
        *,
        l1: float = 0.0,
        sparse_rows: scipy.sparse.csr_matrix | None = None,
        weight_sum: float | None = None,
        offset: torch.Tensor | None = None,
    ) -> None:
        self.X = X
        self.offset = offset
        self.target = target
        self.loss = loss
        self.fit_intercept = bool(fit_intercept)
        self.n_samples = int(X.shape[0])
        self.n_features = int(X.shape[1])
        self.n_outputs = loss.n_outputs
        self.dtype = X.dtype
        self.device = X.device
        self.layout = ParameterLayout(
            self.n_outputs, self.n_features, self.fit_intercept, self.dtype, self.device
        )
        self.penalty = Penalty(self.layout, l2, l1, shift_invariant=loss.shift_invariant)
        self.design: Design = make_design(
            X, self.fit_intercept, self.n_outputs,
            row_wise=not loss.uses_autograd, scipy_rows=sparse_rows,
        )
        self.is_sparse = self.design.is_sparse
        #: Small enough that torch's thread fork/join costs more than it saves.
        self.is_small = self.design.is_small
        # Normalised weights: f is a weighted *mean* loss. Their sum is kept
        # for inference, where weights count observations.
        self.weight_sum = float(sample_weight.sum() if weight_sum is None else weight_sum)
        if _one_number(sample_weight):
            # Uniform weights given as one number seen n times (no weights
            # given) stay so: no n-length vector of equal weights.
            self.weight = (sample_weight[:1] / self.weight_sum).expand(sample_weight.shape[0])
        else:
            self.weight = sample_weight / self.weight_sum
        self.weight_column = self.weight.unsqueeze(1)
        self.weight_cube = self.weight.view(-1, 1, 1)

    # -- the penalty and the parameter layout ----------------------------------
    @property
    def l2(self) -> float:
        """Strength of the L2 term (:attr:`penalty`'s)."""
        return self.penalty.l2

    @property
    def l1(self) -> float:
        """Strength of the L1 term (:attr:`penalty`'s)."""
        return self.penalty.l1

    def with_penalty(self, l2: float, l1: float = 0.0) -> LinearObjective:
        """The same objective with penalty strengths ``l2`` and ``l1``, sharing the data.

        A regularization path changes only the penalty between fits: this
        skips rebuilding (re-validating, copying) the design matrix.
        """
        other = copy.copy(self)
        other.penalty = self.penalty.with_strengths(l2, l1)
        return other

    def astype(self, dtype: torch.dtype) -> LinearObjective:
        """The same objective on a copy of its data in ``dtype`` (a fit in two
        precisions: :func:`~sklearn_neuron._solvers.dispatch.float64_objective`,
        :func:`~sklearn_neuron._solvers.dispatch.float32_stage`).

        Equal weights given as one number stay one number; a sparse X keeps
        no scipy copy for minibatches (full-batch solvers read the tensor).
        """
        weight = self.weight
        if _one_number(weight):
            weight = weight[:1].to(dtype).expand(weight.shape[0])
        else:
            weight = weight.to(dtype)
        return LinearObjective(
            self.X.to(dtype), self.target.to(dtype), weight, self.loss, self.l2,
            self.fit_intercept, l1=self.l1,
            offset=None if self.offset is None else self.offset.to(dtype),
        )

    # Thin delegations to :attr:`penalty`, under the names the solvers use.
    def l2_gradient(self, theta: torch.Tensor) -> torch.Tensor:
        """Gradient of the L2 term, laid out as ``theta``."""
        return self.penalty.gradient(theta)

    def add_l2_gradient_(self, gradient: torch.Tensor, theta: torch.Tensor) -> torch.Tensor:
        """Add :meth:`l2_gradient` to ``gradient`` in place (one call; minibatch steps)."""
        return self.penalty.add_gradient_(gradient, theta)

    # -- rows of the design --------------------------------------------------------
    def rows(self, index: torch.Tensor) -> torch.Tensor:
        """Design matrix rows ``index`` (a LongTensor) as a tensor (minibatches)."""
        return self.design.rows(index)

    def reordered(self, order: torch.Tensor | None) -> Any:
        """The rows in ``order`` to slice minibatches from (:meth:`.design.Design.reordered`)."""
        return self.design.reordered(order)

    def row_slice(self, reordered: Any, rows: slice) -> torch.Tensor:
        """Rows ``rows`` (a slice) of :meth:`reordered`'s result, as a tensor."""
        return self.design.row_slice(reordered, rows)

    def subset(self, index: torch.Tensor) -> LinearObjective:
        """The same objective on rows ``index`` (a LongTensor) only."""
        sparse_rows = None
        if isinstance(self.design, SparseDesign):
            sparse_rows = self.design.scipy_rows(index.cpu().numpy())
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

    def abs_max(self) -> float:
        """Largest absolute entry of X (a float; NaN or inf if X has such)."""
        return self.design.abs_max()

    def row_bounds(self) -> tuple[float, ...] | None:
        """None: the rows are at hand, so no bounds are kept for a certified
        final Newton step (evaluating the step costs less in memory)."""
        return None

    def reduce(self, function: Callable[..., Sums], *args: Any) -> Sums:
        """``function(self, *args)``, a tuple of arrays: the data are one part
        (the Dask objective adds the parts over its blocks)."""
        return function(self, *args)

    def reduce_rows(
        self, function: Callable[..., Sums], per_row: np.ndarray, *args: Any
    ) -> Sums:
        """``function(self, *args, per_row)``: the data are one part, which has
        every row (``per_row`` holds one value per row, in order)."""
        if len(per_row) != self.n_samples:
            raise ValueError(
                f"A per-row array of {len(per_row)} values does not match the "
                f"{self.n_samples} rows of the data; pass one value per row."
            )
        return function(self, *args, per_row)

    # -- the constant model ----------------------------------------------------------
    def initial_theta(self) -> torch.Tensor:
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

    def null_raw(self) -> torch.Tensor:
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

    def constant_terms(self, constant: torch.Tensor) -> tuple[np.ndarray, ...]:
        """``(value, gradient, Hessian)`` of the data term at raw outputs
        ``constant + offset`` (constant (K,) float64): float64 numpy, (), (K,), (K, K)."""
        like: dict[str, Any] = {"dtype": torch.float64, "device": self.device}
        raw = constant.to(**like) + (0.0 if self.offset is None else self.offset.to(**like))
        target, weight = self.target.to(**like), self.weight.to(**like)
        value = weight @ self.loss.value(raw, target)
        grad_raw, h = self.loss.gradient_hessian(raw, target)
        terms = value, weight @ grad_raw, torch.einsum("i,ikm->km", weight, h)
        return tuple(term.cpu().numpy() for term in terms)

    # -- value and derivatives ---------------------------------------------------
    def raw(self, theta: torch.Tensor, X: torch.Tensor | None = None) -> torch.Tensor:
        """Raw output ``X @ W.T + b`` of shape (n_samples, n_outputs).

        Of all rows (``X`` None) it includes the offset; of other rows
        ``X`` (a minibatch, a step's direction) it does not.
        """
        W = theta.view(self.n_outputs, self.n_params_per_output)
        if X is not None:
            return self.design.rows_raw(W, X)
        raw = self.design.raw(W)
        return raw if self.offset is None else raw + self.offset

    def raw_direction(self, v: torch.Tensor) -> torch.Tensor:
        """``X @ V.T + b_v`` for all rows, without the offset (a step's raw change)."""
        return self.design.raw(v.view(self.n_outputs, self.n_params_per_output))

    def linear_gradient(
        self, weighted_grad_raw: torch.Tensor, X: torch.Tensor | None = None
    ) -> torch.Tensor:
        """Gradient of the data term from ``weight * dloss/draw``, shape (K, q).

        ``X`` (rows of the design, e.g. a minibatch) defaults to all of it.
        """
        return self.design.linear_gradient(weighted_grad_raw, X)

    def value(self, theta: torch.Tensor, raw: torch.Tensor | None = None) -> torch.Tensor:
        """Objective value at ``theta`` (a 0-d tensor)."""
        if raw is None:
            raw = self.raw(theta)
        value = torch.dot(self.weight, self.loss.value(raw, self.target))
        if self.l2:
            value = value + self.penalty.value(theta)
        return value

    def value_gradient(
        self, theta: torch.Tensor, index: torch.Tensor | None = None
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor | None]:
        """Return ``(f, grad, raw)`` at ``theta``; ``raw`` serves the Hessian.

        With ``index`` (a LongTensor of rows), the same on that minibatch:
        its weights renormalised to sum to one, so that the minibatch
        objective is an unbiased estimate of the full one. On large dense
        CPU data, one pass over X by chunks (:func:`.fused.value_gradient`;
        ``raw`` then None).
        """
        if index is None:
            if self.design.fused_chunk_rows:
                return fused.value_gradient(self, theta)
            X, target, weight_column = None, self.target, self.weight_column
        else:
            X, target = self.rows(index), self.target.index_select(0, index)
            weight = self.weight.index_select(0, index)
            # (A minibatch of zero weights carries no loss, only the penalty:
            # 0 / tiny, not 0 / 0; no branch, so no device synchronisation.)
            total = weight.sum().clamp_min(torch.finfo(weight.dtype).tiny)
            weight_column = (weight / total).unsqueeze(1)
        raw = self.raw(theta, X)
        if index is not None and self.offset is not None:
            raw = raw + self.offset.index_select(0, index)
        pointwise, grad_raw = self.loss.value_gradient(raw, target)
        f = torch.dot(weight_column.view(-1), pointwise)
        grad = self.linear_gradient(grad_raw * weight_column, X).reshape(-1)
        return (*self.penalty.add_to(f, grad, theta), raw)

    def value_gradient_pointwise(
        self, theta: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """``(f, grad, grad_raw)``: :meth:`value_gradient` and each row's loss
        gradient in its raw output (unweighted, shape (n_samples, n_outputs)).

        Minibatch SVRG's snapshot. On large dense CPU data it is the fused
        pass, which writes ``grad_raw`` chunk by chunk: one pass over X.
        """
        if self.design.fused_chunk_rows:
            grad_raw = torch.empty(
                (self.X.shape[0], self.n_outputs), dtype=self.dtype, device=self.device
            )
            f, grad, _ = fused.value_gradient(self, theta, grad_raw)
            return f, grad, grad_raw
        raw = self.raw(theta)
        pointwise, grad_raw = self.loss.value_gradient(raw, self.target)
        f = torch.dot(self.weight, pointwise)
        grad = self.linear_gradient(grad_raw * self.weight_column).reshape(-1)
        return (*self.penalty.add_to(f, grad, theta), grad_raw)

    def _fuses_gram(self) -> bool:
        """Whether the Gram passes over X are :mod:`.fused`'s (large dense CPU data)."""
        return self.design.blas_gram and self.design.augmented is None

    def hessian(
        self,
        theta: torch.Tensor,
        raw: torch.Tensor | None = None,
        pointwise: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """Hessian of the objective, shape (n_params, n_params).

        ``raw`` is :meth:`raw` at ``theta`` if at hand (:meth:`value_gradient`
        returns it, or None where it is not kept). ``pointwise``, of shape
        (n_samples, K, K), replaces the loss's pointwise Hessian (inference
        passes the expected, Fisher, weights of a non-canonical link this way).

        Block ``(k, l)`` is ``Xa.T @ diag(w * h_kl) @ Xa`` with ``Xa = [X, 1]``
        and ``h`` the loss's pointwise Hessian (see :meth:`gram`). On large
        dense CPU data without ``raw`` it is one pass over X by chunks of
        rows, each chunk's raw output and curvature made in cache, with no
        n-length temporary (:func:`.fused.hessian`).
        """
        if raw is None:
            if pointwise is None and self._fuses_gram():
                return fused.hessian(self, theta)
            raw = self.raw(theta)
        if pointwise is None:
            pointwise = self.loss.hessian(raw, self.target)
        H = self.gram(pointwise * self.weight_cube, self.penalty.hessian_block)
        return cast(torch.Tensor, H)

    def value_gradient_hessian(
        self, theta: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor, None, torch.Tensor]:
        """``(f, grad, None, H)`` at ``theta``: :meth:`value_gradient` and
        :meth:`hessian` together.

        On a large dense float64 X in CPU memory it is one pass over X
        (:func:`.fused.value_gradient_hessian`), where the two methods read X
        three times. Newton takes it where every evaluation is costly (dask blocks).
        """
        if not (self.design.fused_chunk_rows and self.design.blas_gram
                and self.dtype == torch.float64):
            f, grad, raw = self.value_gradient(theta)
            return f, grad, None, self.hessian(theta, raw)
        return fused.value_gradient_hessian(self, theta)

    def second_order(
        self, theta: torch.Tensor, pointwise: Pointwise | None = None
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
        """``(raw, grad, H, c)`` at ``theta``: two passes over X instead of three.

        The results of :meth:`raw`, :meth:`value_gradient` and
        :meth:`hessian` (``pointwise`` a function ``(raw, target) ->
        (n, K, K)`` in place of the loss's pointwise Hessian), and the
        weighted pointwise Hessian ``c`` (n, K, K) that ``H`` sums; the
        gradient is accumulated in the Hessian's pass over X, chunk by chunk
        while in cache (on large dense CPU data one pass: :func:`.fused.second_order`).
        """
        if self._fuses_gram():
            return fused.second_order(self, theta, pointwise)
        raw = self.raw(theta)
        grad_raw, h = self.pointwise_terms(raw, self.target, pointwise)
        c = h * self.weight_cube
        H, grad = self.gram(c, self.penalty.hessian_block, grad_raw * self.weight_column)
        return raw, self.penalty.penalized_gradient(grad, theta), H, c

    def pointwise_terms(
        self, raw: torch.Tensor, target: torch.Tensor, pointwise: Pointwise | None
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """The loss's gradient in ``raw`` and its pointwise Hessian, or ``pointwise``'s."""
        if pointwise is None:
            return self.loss.gradient_hessian(raw, target)
        return self.loss.value_gradient(raw, target)[1], pointwise(raw, target)

    def gram(
        self,
        c: torch.Tensor,
        diagonal_block: torch.Tensor | None = None,
        vector: torch.Tensor | None = None,
    ) -> torch.Tensor | tuple[torch.Tensor, torch.Tensor]:
        """``sum_i c_ikm xa_i xa_i^T`` in blocks (k, m), shape (n_params, n_params)
        (:meth:`.design.Design.gram`): the Hessian's data term with the weighted
        pointwise Hessian, inference's sandwich with the scores' outer products."""
        return self.design.gram(c, diagonal_block, vector)

    @property
    def gram_work(self) -> float:
        """Multiply-adds of one :meth:`gram` (a Hessian): ``n * n_params**2``,
        or on sparse CPU data ``sum_i nnz_i**2`` per pair of output blocks."""
        return self.design.gram_work(self.n_outputs)

    @property
    def hessian_rows(self) -> int:
        """Rows whose pointwise Hessians (n, K, K) a :meth:`hessian` holds at once
        (read by the memory estimate of ``_solvers.diagnostics``)."""
        return self.design.hessian_rows(
            self.n_outputs, softmax=isinstance(self.loss, MultinomialLogLoss)
        )

    # -- Hessian-free products ---------------------------------------------------
    def curvature(self, theta: torch.Tensor, raw: torch.Tensor | None = None) -> Curvature:
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
        w = self.weight_column
        if isinstance(self.loss, MultinomialLogLoss):
            p = self.loss.probabilities(raw)
            wp = w * p

            def apply(U):
                return wp * (U - (p * U).sum(dim=1, keepdim=True))

            return apply, wp * (1.0 - p)
        h = self.loss.hessian(raw, self.target)
        if self.n_outputs == 1:
            c = h[:, :, 0] * w
            return (lambda U: c * U), c
        c = h * self.weight_cube
        return (lambda U: torch.einsum("ikm,im->ik", c, U)), c.diagonal(dim1=1, dim2=2)

    def hessian_vector_product(self, curvature: Curvature, v: torch.Tensor) -> torch.Tensor:
        """The objective's Hessian times ``v`` (laid out as ``theta``), exactly.

        ``curvature`` is :meth:`curvature` at the point. ``X^T C (X V)``
        block by block plus the L2 term: two products with X, no Hessian.
        """
        apply, _ = curvature
        product = self.linear_gradient(apply(self.raw_direction(v))).reshape(-1)
        if self.l2:  # (in place: the product is a fresh tensor)
            self.penalty.add_hessian_vector_product(product, v)
        return product

    def hessian_diagonal(self, curvature: Curvature) -> torch.Tensor:
        """Diagonal of the objective's Hessian (laid out as ``theta``) from
        :meth:`curvature`: ``sum_i d_ik x_ij^2`` per block, plus the L2 term.

        One pass over X (its squares, kept for sparse X), for a
        preconditioner of Hessian-free Newton.
        """
        _, d = curvature
        diagonal = self.design.weighted_squares(d).reshape(-1)
        return diagonal + self.penalty.l2_flat if self.l2 else diagonal


def fit_constant(
    terms: Callable[[torch.Tensor], tuple[Any, ...]], start: torch.Tensor
) -> torch.Tensor:
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


if TYPE_CHECKING:  # the type checker verifies the declared protocol

    def _declared(objective: LinearObjective) -> RowObjective:
        return objective
