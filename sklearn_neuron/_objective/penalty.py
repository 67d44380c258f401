"""The parameter layout and the penalty of a linear model's objective.

:class:`ParameterLayout` owns how parameters travel: one flat tensor ``theta``
of length ``n_outputs * (n_features + fit_intercept)``; ``theta.view(n_outputs,
-1)`` has the coefficients of each output unit in a row, its intercept last.

:class:`Penalty` owns the penalty on that layout: the L2 term ``l2 / 2 *
||W||_F^2`` (its value, gradient and Hessian block), the L1 / elastic-net
strengths ``l1 * ||W||_1`` (per parameter, for the optimizers that handle the
non-differentiable term), no penalty (both zero), the unpenalized intercept,
and the softmax's null space: the directions along which a shift-invariant
loss (the softmax) is free, and the centring that picks scikit-learn's
symmetric parametrisation among the equivalent optima.

Neither holds data: the in-memory objective and the Dask one share them.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

import torch


class ParameterLayout:
    """The layout of the flat parameter vector ``theta``.

    Parameters
    ----------
    n_outputs : int
    n_features : int
    fit_intercept : bool
    dtype : torch.dtype
    device : torch.device

    Attributes
    ----------
    n_params_per_output : int
        ``n_features + fit_intercept``.
    n_params : int
        ``n_outputs * n_params_per_output``.
    """

    def __init__(
        self,
        n_outputs: int,
        n_features: int,
        fit_intercept: bool,
        dtype: torch.dtype,
        device: torch.device,
    ) -> None:
        self.n_outputs = int(n_outputs)
        self.n_features = int(n_features)
        self.fit_intercept = bool(fit_intercept)
        self.dtype, self.device = dtype, device
        self.n_params_per_output = self.n_features + self.fit_intercept
        self.n_params = self.n_outputs * self.n_params_per_output

    def zeros(self) -> torch.Tensor:
        """All coefficients and intercepts zero."""
        return torch.zeros(self.n_params, dtype=self.dtype, device=self.device)

    def matrix(self, theta: torch.Tensor) -> torch.Tensor:
        """``theta`` as (n_outputs, n_params_per_output): ``[coef, intercept]`` rows (a view)."""
        return theta.view(self.n_outputs, self.n_params_per_output)

    def unpack(self, theta: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor | None]:
        """Split ``theta`` into coefficients (K, p) and intercepts (K,) (None without)."""
        W = self.matrix(theta)
        if self.fit_intercept:
            return W[:, :-1], W[:, -1]
        return W, None

    def pack(self, coef: object, intercept: object = None) -> torch.Tensor:
        """Inverse of :meth:`unpack` (array-likes accepted)."""
        coef = torch.as_tensor(coef, dtype=self.dtype, device=self.device)
        coef = coef.reshape(self.n_outputs, self.n_features)
        if self.fit_intercept:
            intercept = torch.as_tensor(intercept, dtype=self.dtype, device=self.device)
            coef = torch.cat([coef, intercept.reshape(self.n_outputs, 1)], dim=1)
        return coef.reshape(-1).clone()


class Penalty:
    """L2 and L1 penalties on the coefficients (never the intercepts) of a layout.

    Parameters
    ----------
    layout : ParameterLayout
    l2 : float, default=0
        Strength of ``l2 / 2 * ||W||_F^2``.
    l1 : float, default=0
        Strength of ``l1 * ||W||_1``. Not differentiable: it is not in
        :meth:`add_to`; the optimizers handle it through :meth:`l1_weights`.
    shift_invariant : bool, default=False
        Whether the loss is unchanged by one number added to every output's
        raw value (the softmax): then the model has free directions
        (:meth:`null_mask`).
    """

    def __init__(
        self,
        layout: ParameterLayout,
        l2: float = 0.0,
        l1: float = 0.0,
        *,
        shift_invariant: bool = False,
    ) -> None:
        self.layout = layout
        self.l2 = float(l2)
        self.l1 = float(l1)
        self.shift_invariant = bool(shift_invariant)

    def with_strengths(self, l2: float, l1: float = 0.0) -> Penalty:
        """The same penalty with strengths ``l2`` and ``l1`` (caches rebuilt)."""
        return Penalty(self.layout, l2, l1, shift_invariant=self.shift_invariant)

    # -- the L2 term -----------------------------------------------------------
    @functools.cached_property
    def l2_columns(self) -> torch.Tensor:
        """Per-column L2 strength (q,): ``l2`` on coefficients, 0 on the intercept."""
        layout = self.layout
        columns = torch.full(
            (layout.n_params_per_output,), self.l2, dtype=layout.dtype, device=layout.device
        )
        if layout.fit_intercept:
            columns[-1] = 0.0
        return columns

    @functools.cached_property
    def l2_flat(self) -> torch.Tensor:
        """:attr:`l2_columns` for every output, laid out as ``theta``."""
        return self.l2_columns.expand(self.layout.n_outputs, -1).reshape(-1)

    @functools.cached_property
    def hessian_block(self) -> torch.Tensor | None:
        """Hessian of the L2 term per output, (q, q), or None without L2."""
        return torch.diag(self.l2_columns) if self.l2 else None

    def value(self, theta: torch.Tensor) -> torch.Tensor:
        """The L2 term ``l2 / 2 * ||W||^2`` (intercepts excluded), a 0-d tensor."""
        return 0.5 * torch.dot(theta, theta * self.l2_flat)

    def gradient(self, theta: torch.Tensor) -> torch.Tensor:
        """Gradient of :meth:`value`, laid out as ``theta``."""
        return theta * self.l2_flat

    def add_gradient_(self, gradient: torch.Tensor, theta: torch.Tensor) -> torch.Tensor:
        """Add :meth:`gradient` to ``gradient`` in place (one call; minibatch steps)."""
        return gradient.addcmul_(theta, self.l2_flat)

    def add_to(
        self, f: torch.Tensor, grad: torch.Tensor, theta: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """``(f, grad)`` of the data term plus the L2 term's value and gradient."""
        if self.l2:
            penalty_grad = theta * self.l2_flat
            f = f + 0.5 * torch.dot(theta, penalty_grad)
            grad = grad + penalty_grad
        return f, grad

    def penalized_gradient(self, grad: torch.Tensor, theta: torch.Tensor) -> torch.Tensor:
        """The data term's gradient (K, q) or flat, as ``theta`` is laid out, plus the L2 term."""
        grad = grad.reshape(-1)
        if self.l2:
            grad = grad + theta * self.l2_flat
        return grad

    def add_hessian(self, H: torch.Tensor) -> torch.Tensor:
        """The data term's Hessian (n_params, n_params) plus the L2 term's (a new tensor
        where there is one; ``H`` itself without L2)."""
        if self.hessian_block is None:
            return H
        K, q = self.layout.n_outputs, self.layout.n_params_per_output
        H = H.clone().view(K, q, K, q)
        for k in range(K):
            H[k, :, k, :] += self.hessian_block
        return H.reshape(K * q, K * q)

    def hessian_vector_product(self, v: torch.Tensor) -> torch.Tensor:
        """The L2 term's Hessian times ``v`` (laid out as ``theta``)."""
        return v * self.l2_flat

    def add_hessian_vector_product(self, out: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
        """``out += `` :meth:`hessian_vector_product` ``(v)``, in place (one call)."""
        return out.addcmul_(v, self.l2_flat)

    # -- the L1 term -------------------------------------------------------------
    def l1_weights(self) -> torch.Tensor | None:
        """Per-parameter L1 strength (0 on intercepts), or None without L1."""
        if not self.l1:
            return None
        layout = self.layout
        columns = torch.full(
            (layout.n_params_per_output,), self.l1, dtype=layout.dtype, device=layout.device
        )
        if layout.fit_intercept:
            columns[-1] = 0.0
        return columns.repeat(layout.n_outputs)

    def l1_value(self, theta: torch.Tensor) -> float:
        """The L1 term ``l1 * ||W||_1`` (a float; 0 without L1)."""
        weights = self.l1_weights()
        if weights is None:
            return 0.0
        return float(torch.dot(weights, theta.abs()))

    # -- the softmax's redundant directions --------------------------------
    def null_mask(self) -> torch.Tensor | None:
        """Mask of the per-class columns along which a softmax fit is free.

        Adding the same number to one column of every class's parameters
        leaves a softmax's probabilities unchanged. The intercept column is
        always such a direction; without any penalty every column is. Returns
        None when the model has no such direction (one output unit).
        """
        layout = self.layout
        if layout.n_outputs < 2 or not self.shift_invariant:
            return None
        mask = torch.zeros(layout.n_params_per_output, dtype=layout.dtype, device=layout.device)
        if self.l2 == 0 and self.l1 == 0:
            mask[:] = 1.0
        elif layout.fit_intercept:
            mask[-1] = 1.0
        else:
            return None
        return mask

    def center(self, theta: torch.Tensor) -> torch.Tensor:
        """Return ``theta`` with the free directions centred over the classes.

        Predictions are unchanged; the result is scikit-learn's symmetric
        parametrisation (coefficients and intercepts summing to zero over
        classes where the objective does not pin them).
        """
        mask = self.null_mask()
        if mask is None:
            return theta
        W = self.layout.matrix(theta)
        return (W - mask * W.mean(dim=0, keepdim=True)).reshape(-1)


class PenalizedLayout:
    """The parameter layout's and the penalty's methods, under the names solvers use.

    Mixed into every objective that holds a :class:`ParameterLayout` as ``layout``
    and a :class:`Penalty` as ``penalty`` (in memory and on Dask alike), so that
    each is written once.
    """

    layout: ParameterLayout
    penalty: Penalty
    #: The smooth part of the objective (the data term and the L2 term).
    value: Callable[..., torch.Tensor]

    @property
    def n_params_per_output(self) -> int:
        """Parameters of one output, ``n_features + fit_intercept`` (the layout's)."""
        return self.layout.n_params_per_output

    @property
    def n_params(self) -> int:
        """All parameters, ``n_outputs * n_params_per_output`` (the layout's)."""
        return self.layout.n_params

    def zeros(self) -> torch.Tensor:
        """All coefficients and intercepts zero."""
        return self.layout.zeros()

    def unpack(self, theta: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor | None]:
        """Split ``theta`` into coefficients (K, p) and intercepts (K,)."""
        return self.layout.unpack(theta)

    def pack(self, coef: Any, intercept: Any = None) -> torch.Tensor:
        """Inverse of :meth:`unpack`."""
        return self.layout.pack(coef, intercept)

    def l1_weights(self) -> torch.Tensor | None:
        """Per-parameter L1 strength (0 on intercepts), or None without L1."""
        return self.penalty.l1_weights()

    def null_mask(self) -> torch.Tensor | None:
        """Mask of the per-class columns along which a softmax fit is free
        (:meth:`Penalty.null_mask`)."""
        return self.penalty.null_mask()

    def center(self, theta: torch.Tensor) -> torch.Tensor:
        """``theta`` with the free directions centred over the classes
        (:meth:`Penalty.center`)."""
        return self.penalty.center(theta)

    def full_value(self, theta: torch.Tensor) -> float:
        """Objective including the L1 term (a float)."""
        value = float(self.value(theta))
        if self.penalty.l1:
            value += self.penalty.l1_value(theta)
        return value
