"""An objective around another: what it does not change, it asks the wrapped one.

Solvers put wrappers around an objective to change one thing about it (Firth's
penalised likelihood, a Newton warm start that keeps its last Hessian). Each
member of the :class:`~sklearn_neuron._objective.protocol.Objective` protocol is
forwarded here once, explicitly, so that a wrapper states only what it changes.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import torch

from .penalty import Penalty
from .protocol import Objective, Sums


class ObjectiveWrapper:
    """Forwards the :class:`~sklearn_neuron._objective.protocol.Objective` protocol
    to ``objective``; subclasses override what they change."""

    def __init__(self, objective: Objective) -> None:
        self._objective = objective

    @property
    def base(self) -> Objective:
        """The wrapped objective."""
        return self._objective

    # -- sizes and settings ---------------------------------------------------------
    @property
    def loss(self) -> Any:
        return self._objective.loss

    @property
    def penalty(self) -> Penalty:
        return self._objective.penalty

    @property
    def n_samples(self) -> int:
        return self._objective.n_samples

    @property
    def n_features(self) -> int:
        return self._objective.n_features

    @property
    def n_outputs(self) -> int:
        return self._objective.n_outputs

    @property
    def n_params_per_output(self) -> int:
        return self._objective.n_params_per_output

    @property
    def n_params(self) -> int:
        return self._objective.n_params

    @property
    def fit_intercept(self) -> bool:
        return self._objective.fit_intercept

    @property
    def l2(self) -> float:
        return self._objective.l2

    @property
    def l1(self) -> float:
        return self._objective.l1

    @property
    def dtype(self) -> torch.dtype:
        return self._objective.dtype

    @property
    def device(self) -> torch.device:
        return self._objective.device

    @property
    def weight_sum(self) -> float:
        return self._objective.weight_sum

    @property
    def is_sparse(self) -> bool:
        return self._objective.is_sparse

    @property
    def is_small(self) -> bool:
        return self._objective.is_small

    @property
    def distributed(self) -> bool:
        return self._objective.distributed

    @property
    def reads_per_evaluation(self) -> int:
        return self._objective.reads_per_evaluation

    @property
    def hessian_rows(self) -> int:
        return self._objective.hessian_rows

    @property
    def offset(self) -> Any:
        return self._objective.offset

    @property
    def X(self) -> Any:  # noqa: N802 (the design matrix's name)
        return self._objective.X

    # -- parameter layout and penalty -----------------------------------------------
    def zeros(self) -> torch.Tensor:
        return self._objective.zeros()

    def initial_theta(self) -> torch.Tensor:
        return self._objective.initial_theta()

    def unpack(self, theta: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor | None]:
        return self._objective.unpack(theta)

    def pack(self, coef: Any, intercept: Any = None) -> torch.Tensor:
        return self._objective.pack(coef, intercept)

    def l1_weights(self) -> torch.Tensor | None:
        return self._objective.l1_weights()

    def null_mask(self) -> torch.Tensor | None:
        return self._objective.null_mask()

    def center(self, theta: torch.Tensor) -> torch.Tensor:
        return self._objective.center(theta)

    def null_raw(self) -> torch.Tensor:
        return self._objective.null_raw()

    def abs_max(self) -> float:
        return self._objective.abs_max()

    def row_bounds(self) -> tuple[float, ...] | None:
        """None: a wrapper's final Newton step is evaluated, not certified by the
        wrapped objective's row bounds (they bound the wrapped objective)."""
        return None

    # -- evaluations and reductions -------------------------------------------------
    def value(self, theta: torch.Tensor, raw: torch.Tensor | None = None) -> torch.Tensor:
        return self._objective.value(theta, raw)

    def value_gradient(self, theta: torch.Tensor, index: torch.Tensor | None = None) -> Any:
        return self._objective.value_gradient(theta, index)

    def full_value(self, theta: torch.Tensor) -> float:
        return self._objective.full_value(theta)

    def hessian(
        self, theta: torch.Tensor, raw: Any = None, pointwise: Any = None
    ) -> torch.Tensor:
        return self._objective.hessian(theta, raw, pointwise)

    def value_gradient_hessian(self, theta: torch.Tensor) -> Any:
        return self._objective.value_gradient_hessian(theta)

    def reduce(self, function: Callable[..., Sums], *args: Any) -> Sums:
        return self._objective.reduce(function, *args)

    def reduce_rows(
        self, function: Callable[..., Sums], per_row: np.ndarray, *args: Any
    ) -> Sums:
        return self._objective.reduce_rows(function, per_row, *args)
