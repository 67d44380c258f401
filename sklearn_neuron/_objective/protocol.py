"""The declared interface between objectives, solvers and inference.

Protocols, by what the data allow:

- :class:`Objective` is what every storage offers, data on a Dask cluster
  included: the parameter layout, the value, gradient and Hessian, the penalty,
  reductions over the rows and declared capabilities. The in-memory
  :class:`~sklearn_neuron._objective.linear.LinearObjective`, a Dask array's
  :class:`~sklearn_neuron._dask.objective.DaskObjective` and Firth's penalised
  objective (:class:`~sklearn_neuron._solvers.firth.FirthObjective`) satisfy it.
- :class:`HessianFree` adds the exact Hessian-vector products of Hessian-free
  Newton; the in-memory and the Dask objectives satisfy it.
- :class:`RowObjective` adds what only data in this process's memory offer: the
  rows themselves (``X``, ``target``, ``weight``, the :class:`~.design.Design`),
  minibatches and subsets, raw outputs and the fused second-order pass.
  :class:`~sklearn_neuron._objective.linear.LinearObjective`
  satisfies it; the functions a reduction applies receive one (the whole data in
  memory, each block on a cluster).

What differs between storages is declared by attributes (``distributed``,
``reads_per_evaluation``, ``hessian_rows``, ``firth``), never probed at run time
with ``getattr``/``hasattr``.

:meth:`Objective.reduce` is the one primitive that statistics are built on: it
applies a function to each in-memory part of the data (the whole data in memory,
each block on a cluster) and adds up the tuples of arrays it returns;
:meth:`Objective.reduce_rows` does the same with one more argument holding a
value per row, cut to each part's rows. A statistic written as a sum over rows is
therefore the same code for every storage.

The parameter vector ``theta`` is flat: ``n_outputs`` rows of
``n_features (+ 1 intercept)``, output-major (:meth:`Objective.unpack`).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Protocol, cast, runtime_checkable

import numpy as np
import torch

from .._loss.losses import NeuronLoss
from .design import Design
from .penalty import ParameterLayout, Penalty

#: A reduction's per-part result: a tuple of arrays (or numbers) added elementwise.
Sums = tuple[Any, ...]
#: ``curvature``'s result: ``(apply, diagonal)`` (see :meth:`RowObjective.curvature`).
Curvature = tuple[Callable[[torch.Tensor], torch.Tensor], torch.Tensor]
#: A pointwise Hessian in place of the loss's: ``(raw, target) -> (n, K, K)``.
Pointwise = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]


@runtime_checkable
class Objective(Protocol):
    """What every solver and inference may ask of an objective, on any storage.

    The value is a weighted *mean* loss over the rows plus the penalty:
    ``F(theta) = sum_i w_i l(y_i, x_i @ W.T + b + o_i) / sum_i w_i + l2/2 ||W||^2
    + l1 ||W||_1`` (the L1 term is not in :meth:`value_gradient`; see
    :meth:`full_value`). Data members are declared read-only: an implementation
    may hold them as attributes or compute them as properties.
    """

    @property
    def loss(self) -> NeuronLoss:
        """The pointwise loss (:class:`~sklearn_neuron._loss.losses.NeuronLoss`)."""

    @property
    def penalty(self) -> Penalty:
        """The L2 / L1 terms, the unpenalized intercept and the softmax's free
        directions on the layout of ``theta``."""

    @property
    def X(self) -> Any:  # noqa: N802 (the design matrix's name)
        """The rows: a torch tensor in memory, a dask array on a cluster (whose
        shape and row chunks size the memory estimates)."""

    @property
    def n_samples(self) -> int:
        """Rows of the data."""

    @property
    def n_features(self) -> int: ...

    @property
    def n_outputs(self) -> int: ...

    @property
    def n_params_per_output(self) -> int: ...

    @property
    def n_params(self) -> int: ...

    @property
    def fit_intercept(self) -> bool: ...

    @property
    def l2(self) -> float: ...

    @property
    def l1(self) -> float: ...

    @property
    def dtype(self) -> torch.dtype: ...

    @property
    def device(self) -> torch.device: ...

    @property
    def weight_sum(self) -> float:
        """The sum of the sample weights (observations, for inference)."""

    @property
    def is_sparse(self) -> bool:
        """X is sparse (CSR)."""

    @property
    def is_small(self) -> bool:
        """Too small for threads to pay (a single torch thread)."""

    @property
    def distributed(self) -> bool:
        """Data held elsewhere (a cluster): reductions only, no row access."""

    @property
    def reads_per_evaluation(self) -> int:
        """Full passes over the data each evaluation costs beyond the first (0 in memory)."""

    @property
    def hessian_rows(self) -> int:
        """Rows the Hessian is summed over at once (its memory estimate)."""

    @property
    def firth(self) -> bool:
        """Firth's penalised likelihood (finite estimates under separation)."""

    @property
    def offset(self) -> Any:
        """Known raw-output terms per row (GLM offset), or None: a tensor in
        memory, a dask array on a cluster."""

    @property
    def subsample_newton(self) -> Callable[..., Any] | None:
        """Newton on a subsample of the rows as a warm start, ``(theta, *, tol,
        max_iter) -> (result, hessian, stage name) or None``; None where there is
        none (in memory)."""

    def zeros(self) -> torch.Tensor: ...

    def initial_theta(self) -> torch.Tensor: ...

    def unpack(self, theta: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor | None]: ...

    def pack(self, coef: Any, intercept: Any = None) -> torch.Tensor: ...

    def value(self, theta: torch.Tensor, raw: torch.Tensor | None = None) -> torch.Tensor: ...

    def value_gradient(
        self, theta: torch.Tensor, index: torch.Tensor | None = None
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor | None]: ...

    def hessian(
        self, theta: torch.Tensor, raw: Any = None, pointwise: Any = None
    ) -> torch.Tensor: ...

    def value_gradient_hessian(
        self, theta: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor, None, torch.Tensor]: ...

    def l1_weights(self) -> torch.Tensor | None: ...

    def null_mask(self) -> torch.Tensor | None: ...

    def center(self, theta: torch.Tensor) -> torch.Tensor: ...

    def with_penalty(self, l2: float, l1: float = 0.0) -> Objective: ...

    def full_value(self, theta: torch.Tensor) -> float: ...

    def null_raw(self) -> torch.Tensor: ...

    def abs_max(self) -> float: ...

    def row_bounds(self) -> tuple[float, ...] | None:
        """``(largest |entry|, largest row L1 norm)`` of the design with its
        intercept column where known without a pass of its own (a certified
        final Newton step reads them), else None."""

    def reduce(self, function: Callable[..., Sums], *args: Any) -> Sums:
        """Sum over the in-memory parts of ``function(part, *args)`` (a
        :class:`RowObjective` each: the whole data, or each block)."""

    def reduce_rows(
        self, function: Callable[..., Sums], per_row: np.ndarray, *args: Any
    ) -> Sums:
        """Sum over the parts of ``function(part, *args, part_rows)``, with
        ``part_rows`` the entries of ``per_row`` (one per row of the data, in
        order) of that part's rows."""


@runtime_checkable
class HessianFree(Objective, Protocol):
    """An :class:`Objective` with exact Hessian-vector products, which
    Hessian-free Newton (``optimizer="newton-cg"``) reads: data in memory
    (:class:`RowObjective`) and on a Dask cluster (whose curvature is a handle
    of the point, the per-row curvature kept on the workers).
    """

    def curvature(self, theta: torch.Tensor, raw: Any = None) -> Any:
        """The data term's curvature at ``theta`` (``raw``: its raw outputs
        where at hand), for :meth:`hessian_vector_product` and
        :meth:`hessian_diagonal` at that point."""

    def hessian_vector_product(self, curvature: Any, v: torch.Tensor) -> torch.Tensor:
        """The objective's Hessian at ``curvature``'s point times ``v``, the L2 term included."""

    def hessian_diagonal(self, curvature: Any) -> torch.Tensor:
        """The diagonal of the objective's Hessian there, the L2 term included."""


@runtime_checkable
class RowObjective(HessianFree, Protocol):
    """An :class:`Objective` whose rows are in this process's memory.

    What minibatch solvers, the exact hinge and absolute-error solvers, the
    fused second-order pass and the per-row statistics of inference read
    besides :class:`HessianFree`.
    """

    @property
    def X(self) -> torch.Tensor:  # noqa: N802 (the design matrix's name)
        """The rows, dense or sparse CSR, on :attr:`device`."""

    @property
    def target(self) -> torch.Tensor:
        """Encoded target (n_samples, n_outputs), as the loss expects it."""

    @property
    def weight(self) -> torch.Tensor:
        """The sample weights divided by :attr:`weight_sum` (n_samples,)."""

    @property
    def offset(self) -> torch.Tensor | None: ...

    @property
    def design(self) -> Design:
        """How X is read (:mod:`.design`)."""

    @property
    def layout(self) -> ParameterLayout: ...

    @property
    def gram_work(self) -> float:
        """Multiply-adds of one :meth:`gram` (a Hessian)."""

    def with_penalty(self, l2: float, l1: float = 0.0) -> RowObjective: ...

    def subset(self, index: torch.Tensor) -> RowObjective: ...

    def rows(self, index: torch.Tensor) -> torch.Tensor: ...

    def reordered(self, order: torch.Tensor | None) -> Any: ...

    def row_slice(self, reordered: Any, rows: slice) -> torch.Tensor: ...

    def raw(self, theta: torch.Tensor, X: torch.Tensor | None = None) -> torch.Tensor: ...

    def raw_direction(self, v: torch.Tensor) -> torch.Tensor: ...

    def linear_gradient(
        self, weighted_grad_raw: torch.Tensor, X: torch.Tensor | None = None
    ) -> torch.Tensor: ...

    def l2_gradient(self, theta: torch.Tensor) -> torch.Tensor: ...

    def add_l2_gradient_(self, gradient: torch.Tensor, theta: torch.Tensor) -> torch.Tensor: ...

    def value_gradient_pointwise(
        self, theta: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]: ...

    def second_order(
        self, theta: torch.Tensor, pointwise: Pointwise | None = None
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]: ...

    def gram(
        self,
        c: torch.Tensor,
        diagonal_block: torch.Tensor | None = None,
        vector: torch.Tensor | None = None,
    ) -> torch.Tensor | tuple[torch.Tensor, torch.Tensor]: ...

    def curvature(self, theta: torch.Tensor, raw: torch.Tensor | None = None) -> Curvature: ...

    def hessian_vector_product(self, curvature: Curvature, v: torch.Tensor) -> torch.Tensor: ...

    def hessian_diagonal(self, curvature: Curvature) -> torch.Tensor: ...

    def constant_terms(self, constant: torch.Tensor) -> tuple[np.ndarray, ...]: ...


@runtime_checkable
class PenalizedLikelihood(Objective, Protocol):
    """An :class:`Objective` of a penalised likelihood with its own fits for
    inference (Firth's: :class:`~sklearn_neuron._solvers.firth.FirthObjective`).

    Inference reports its estimate, profiles and tests through these, and so
    imports no solver.
    """

    def polish(self, theta: torch.Tensor) -> torch.Tensor:
        """The estimate from ``theta``, to a tight gradient."""

    def penalized_loglike(self, theta: torch.Tensor) -> float:
        """The penalised log-likelihood at ``theta``."""

    def restricted_fit(
        self, theta: torch.Tensor, fixed: torch.Tensor
    ) -> tuple[torch.Tensor, float]:
        """``(theta, penalised log-likelihood)`` maximised with the parameters
        ``fixed`` (a boolean mask) held at ``theta``'s."""


def rows_of(objective: Objective, what: str) -> RowObjective:
    """``objective`` as the :class:`RowObjective` it is where its rows are in memory.

    ``what`` (a solver, a step) needs the rows; data on a cluster, which keep
    theirs on the workers (``distributed``), are refused saying what to use.
    Objectives in memory that are not row objectives (Firth's) never reach
    the row solvers: their settings are refused before a fit.
    """
    if objective.distributed:
        raise ValueError(
            f"{what} reads rows of the data, which dask arrays keep on their workers; "
            "use a full-batch optimizer ('newton', 'newton-cg' or 'lbfgs') on dask data."
        )
    return cast(RowObjective, objective)
