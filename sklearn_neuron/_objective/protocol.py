"""The declared interface between objectives, solvers and inference.

Every objective a solver minimises or inference reads satisfies :class:`Objective`:
the in-memory :class:`~sklearn_neuron._objective.linear.LinearObjective`, a Dask
array's :class:`~sklearn_neuron._dask.objective.DaskObjective` and the wrappers a
solver puts around them (Firth's penalty, a subsample). What differs between
storages is declared by attributes (``distributed``, ``reads_per_evaluation``,
``hessian_rows``, ``firth``), never probed at run time with ``getattr``/``hasattr``.

:meth:`Objective.reduce` is the one primitive that statistics are built on: it
applies a function to each in-memory part of the data (the whole data in memory,
each block on a cluster) and adds up the tuples of arrays it returns. A statistic
written as a sum over rows is therefore the same code for every storage.

The parameter vector ``theta`` is flat: ``n_outputs`` rows of
``n_features (+ 1 intercept)``, output-major (:meth:`Objective.unpack`).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Protocol, runtime_checkable

import torch

from .penalty import Penalty

#: A reduction's per-part result: a tuple of arrays (or numbers) added elementwise.
Sums = tuple[Any, ...]


@runtime_checkable
class Objective(Protocol):
    """What every solver and inference may ask of an objective.

    The value is a weighted *mean* loss over the rows plus the penalty:
    ``F(theta) = sum_i w_i l(y_i, x_i @ W.T + b + o_i) / sum_i w_i + l2/2 ||W||^2
    + l1 ||W||_1`` (the L1 term is not in :meth:`value_gradient`; see
    :meth:`full_value`).
    """

    #: The pointwise loss (:class:`~sklearn_neuron._loss.losses.NeuronLoss`).
    loss: Any
    #: The rows: a torch tensor in memory, a dask array on a cluster.
    X: Any
    #: The L2 / L1 terms, the unpenalized intercept, the softmax's free directions
    #: and the layout of ``theta`` (:class:`~sklearn_neuron._objective.penalty.Penalty`).
    penalty: Penalty
    n_features: int
    n_outputs: int
    n_params_per_output: int
    n_params: int
    fit_intercept: bool
    l2: float
    l1: float
    dtype: torch.dtype
    device: torch.device
    #: The sum of the sample weights (observations, for inference).
    weight_sum: float
    #: X is sparse (CSR); too small for threads to pay (a single torch thread).
    is_sparse: bool
    is_small: bool
    #: Data held elsewhere (a cluster): reductions only, no row access.
    distributed: bool
    #: Full passes over the data each evaluation costs beyond the first (0 in memory).
    reads_per_evaluation: int
    #: Rows the Hessian is summed over (its cost and memory estimate).
    hessian_rows: int
    #: Firth's penalised likelihood (finite estimates under separation).
    firth: bool
    #: Known raw-output terms per row (GLM offset), or None.
    offset: torch.Tensor | None
    #: Newton on a subsample of the rows as a warm start, ``(theta, *, tol, max_iter)
    #: -> (result, hessian, stage name) or None``; None where there is none (in memory).
    subsample_newton: Callable[..., Any] | None

    def zeros(self) -> torch.Tensor: ...

    def initial_theta(self) -> torch.Tensor: ...

    def unpack(self, theta: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor | None]: ...

    def pack(self, coef: torch.Tensor, intercept: torch.Tensor | None = None) -> torch.Tensor: ...

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

    def reduce(self, function: Callable[..., Sums], *args: Any) -> Sums: ...
