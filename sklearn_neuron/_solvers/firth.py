"""Firth's bias-reduced logistic regression: the objective and its fits.

Firth (1993) maximises the log-likelihood plus half the log-determinant of
the Fisher information (the Jeffreys prior),
``l*(beta) = l(beta) + 1/2 log det I(beta)``, which has a finite maximum
also where the classes are (quasi-)separated and the maximum-likelihood
estimate does not exist, and removes the O(1/n) bias of the latter. This
module owns :class:`FirthObjective` (the penalized objective on the scale of
:class:`~sklearn_neuron._objective.linear.LinearObjective`, fitted by the package's
:func:`~sklearn_neuron._solvers.optimizers.newton` with the information as its
Hessian, which is Fisher scoring on the modified score, as logistf and
brglm2 do) and the restricted fits behind profile penalized-likelihood
intervals and penalized likelihood-ratio tests;
:class:`~sklearn_neuron._inference.firth.FirthInferenceResults` reports them as
logistf does. Binary logit only; on data in memory (dense, sparse, torch) or
on dask blocks, where the hat diagonal's pass is one more reduction.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any, cast

import torch

from .._objective.protocol import Objective, PenalizedLikelihood
from .._objective.wrapper import ObjectiveWrapper
from .optimizers import _cholesky_factor, effective_tol, newton

#: Rows per chunk of the hat-diagonal pass over a dense X.
_HAT_CHUNK_ROWS = 8192
#: Gradient tolerance (mean scale) of the polish and of the restricted fits
#: of inference, floored at the dtype's (``effective_tol``).
_INFERENCE_TOL = 1e-12
_INFERENCE_MAX_ITER = 100
#: Gradient tolerance (mean scale) of the restricted fits of profiles and
#: tests: their penalized log-likelihood is then exact to ~S * tol^2.
_RESTRICTED_TOL = 1e-10
#: Halvings of a step before a restricted fit's line search gives up.
_MAX_HALVINGS = 40


def check_firth_settings(
    model: Any, n_classes: int | None = None, *, name: str | None = None
) -> None:
    """Refuse ``firth=True`` with settings that change its statistical model.

    Firth's estimator is unpenalized logistic regression plus the Jeffreys
    prior, fitted by Newton (Fisher scoring): ``loss="log_loss"``,
    ``C=np.inf``, ``optimizer`` "auto" or "newton", two classes. ``model``
    has the classifier's ``loss``, ``C`` and ``optimizer`` (the estimator, or
    its parameters); ``name`` names it in the messages (by default its class).
    """
    name = type(model).__name__ if name is None else name
    optimizer = model.optimizer
    label = optimizer.__name__ if isinstance(optimizer, type) else optimizer
    if model.loss != "log_loss":
        raise ValueError(
            f"{name}(firth=True) is Firth's penalized logistic regression, which needs "
            f"loss='log_loss'; got loss={model.loss!r}. Set loss='log_loss' or firth=False."
        )
    if not math.isinf(model.C):
        raise ValueError(
            f"{name}(firth=True) adds the Jeffreys prior to the unpenalized likelihood and "
            f"needs C=np.inf; got C={model.C!r}. Pass C=np.inf with firth=True, or a "
            "finite C with firth=False (an L2-penalized fit)."
        )
    if isinstance(optimizer, type) or optimizer not in ("auto", "newton"):
        raise ValueError(
            f"{name}(firth=True) is fitted by Newton's method (Fisher scoring on the "
            f"modified score); optimizer={label!r} is not supported. "
            "Use optimizer='auto' or 'newton'."
        )
    if n_classes is not None and n_classes > 2:
        raise ValueError(
            f"{name}(firth=True) is implemented for two classes; y has {n_classes}. "
            "Fit one binary Firth model per class (one-vs-rest), or use firth=False."
        )


class FirthObjective(ObjectiveWrapper):
    """A binary log-loss :class:`~sklearn_neuron._objective.linear.LinearObjective` plus
    Firth's penalty, ``f*(theta) = f(theta) - log det I(theta) / (2 S)``.

    ``f`` is the weighted mean negative log-likelihood and ``S`` the sum of
    the weights, so ``-S f*`` is the penalized log-likelihood; ``I = S H``
    with ``H`` the objective's Hessian. The gradient is ``-U*/S`` with the
    modified score ``U* = X^T (s (y - p) + h (1/2 - p))`` and ``h`` the
    diagonal of the hat matrix ``W^1/2 X I^-1 X^T W^1/2``. Every evaluation
    takes the value, gradient and information from one Gram pass over X,
    factors the information once (its log-determinant and the hat
    diagonal's quadratic forms both come from that Cholesky factor) and
    reads X once more for ``h`` and its gradient term. :meth:`hessian` at
    the point just evaluated returns that information (not the exact
    Hessian of ``f*``): Newton then takes Fisher-scoring steps, as logistf
    and brglm2, and its line search keeps each step an ascent of ``l*``.

    It is an :class:`~sklearn_neuron._objective.protocol.Objective` and a
    :class:`~sklearn_neuron._objective.protocol.PenalizedLikelihood`: the
    layout, the penalty, the sizes, the capabilities and the reductions are
    the wrapped objective's, delegated by
    :class:`~sklearn_neuron._objective.wrapper.ObjectiveWrapper`; so are the rows
    that the checks after a fit and the data's fingerprint read (``X``,
    ``target``, ``weight``, ``design``, :meth:`fingerprint`).

    Parameters
    ----------
    objective : Objective
        A binary log-loss objective, in memory or on dask blocks.
    """

    #: Inference on a Firth fit reports its own statistics.
    firth = True
    #: Newton starts cold: a subsample's maximum-likelihood fit (dask data)
    #: may be far out along a separating direction, where Firth's is not.
    subsample_newton = None

    def __init__(self, objective: Objective) -> None:
        if objective.n_outputs != 1 or objective.loss.activation.name != "sigmoid":
            raise ValueError("FirthObjective needs a binary log-loss objective.")
        super().__init__(objective)
        #: The same object, as the storage-specific reads below see it (a
        #: LinearObjective's tensors, or a DaskObjective's dask arrays).
        self._storage: Any = objective
        self._last: tuple[torch.Tensor | None, torch.Tensor | None] = (None, None)
        self._evaluations = 0

    # -- the wrapped objective's, delegated ----------------------------------------

    @property
    def target(self) -> Any:
        """The wrapped objective's encoded target (in memory: the fingerprint)."""
        return self._storage.target

    @property
    def weight(self) -> Any:
        """The wrapped objective's normalised weights (in memory: the fingerprint)."""
        return self._storage.weight

    @property
    def design(self) -> Any:
        """The wrapped objective's design (in memory: the fingerprint)."""
        return self._storage.design

    def fingerprint(self) -> dict[str, Any]:
        """The wrapped dask objective's fingerprint (by a reduction)."""
        return cast(dict[str, Any], self._storage.fingerprint())

    def with_penalty(self, l2: float, l1: float = 0.0) -> FirthObjective:
        """Firth's penalty on the wrapped objective with strengths ``l2``, ``l1``."""
        return FirthObjective(self._objective.with_penalty(l2, l1))

    # -- the penalized objective ------------------------------------------------------
    def penalized_terms(
        self, theta: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, float]:
        """``(f*, grad f*, H, log det I)`` at ``theta``; ``f* = inf`` where I is singular."""
        obj = self._objective
        f, g, _, H = obj.value_gradient_hessian(theta)
        factor = _information_factor(H, obj.weight_sum)
        first = self._evaluations == 0
        self._evaluations += 1
        if factor is None:
            if first:
                raise ValueError(
                    "firth=True: the Fisher information is singular at the starting "
                    "coefficients, so log det I is -inf and Firth's penalty is undefined. "
                    "The design must have full column rank: drop constant or collinear "
                    "features (or the intercept's duplicate)."
                )
            return torch.tensor(math.inf, dtype=f.dtype), g, H, -math.inf
        root_inverse, logdet = factor
        if obj.distributed:  # a sum over the dask blocks
            (correction,) = obj.reduce(
                _penalty_gradient_block, theta.detach().cpu(), root_inverse.cpu()
            )
            correction = torch.as_tensor(correction, dtype=g.dtype)
        else:
            correction = _penalty_gradient(obj, theta, root_inverse)
        S = obj.weight_sum
        return f - logdet / (2.0 * S), g - correction, H, logdet

    def value_gradient(
        self, theta: torch.Tensor, index: torch.Tensor | None = None
    ) -> tuple[torch.Tensor, torch.Tensor, None]:
        if index is not None:
            raise ValueError("A Firth objective has no minibatch gradient.")
        f, g, H, _ = self.penalized_terms(theta)
        self._last = (theta, H)
        return f, g, None

    def value(self, theta: torch.Tensor, raw: torch.Tensor | None = None) -> torch.Tensor:
        return self.penalized_terms(theta)[0]

    def full_value(self, theta: torch.Tensor) -> float:
        return float(self.value(theta))

    def hessian(
        self, theta: torch.Tensor, raw: Any = None, pointwise: Any = None
    ) -> torch.Tensor:
        point, H = self._last
        if point is theta and pointwise is None and H is not None:
            return H
        return self._objective.hessian(theta, raw, pointwise)

    def value_gradient_hessian(
        self, theta: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor, None, torch.Tensor]:
        f, g, H, _ = self.penalized_terms(theta)
        return f, g, None, H

    def penalized_loglike(self, theta: torch.Tensor) -> float:
        """Penalized log-likelihood ``l(theta) + 1/2 log det I(theta)`` (a float)."""
        return -self.weight_sum * float(self.penalized_terms(theta)[0])

    def polish(self, theta: torch.Tensor) -> torch.Tensor:
        """Firth's estimate from ``theta``: Fisher-scoring steps on the modified score
        to a tight gradient (inference's polish)."""
        result = newton(
            self, theta, tol=_INFERENCE_TOL, max_iter=_INFERENCE_MAX_ITER, name="firth/polish"
        )
        return result.theta

    def restricted_fit(
        self, theta: torch.Tensor, fixed: torch.Tensor
    ) -> tuple[torch.Tensor, float]:
        """:func:`restricted_fit` of this objective: ``(theta, penalized log-likelihood)``
        with the parameters ``fixed`` held at ``theta``'s (profiles and tests)."""
        return restricted_fit(self, theta, fixed)


if TYPE_CHECKING:  # the type checker verifies the declared protocol

    def _declared(objective: FirthObjective) -> PenalizedLikelihood:
        return objective


def _penalty_gradient(objective, theta, root_inverse):
    """Minus the gradient of Firth's penalty on the objective's scale, ``X^T (h (1/2 - p)) / S``.

    ``root_inverse`` is ``B`` with ``B^T B = I^-1``, from the information's
    Cholesky factor. ``h_i = s_i p_i (1 - p_i) x_i' I^-1 x_i`` and the
    objective's weights are ``s_i / S``. A block of rows of a larger data set
    (dask) gives its share of the whole's.
    """
    prob = torch.sigmoid(objective.raw(theta)[:, 0])
    leverage = _quadratic_forms(objective, root_inverse)  # x_i' I^-1 x_i
    scores = objective.weight * prob * (1.0 - prob) * (0.5 - prob) * leverage
    return objective.linear_gradient(scores.unsqueeze(1)).reshape(-1)


def _penalty_gradient_block(objective, theta, root_inverse):
    """:func:`_penalty_gradient` on one dask block's objective, as numpy (a reduction's term)."""
    correction = _penalty_gradient(objective, torch.as_tensor(theta), torch.as_tensor(root_inverse))
    return (correction.detach().cpu().numpy(),)


def _information_factor(H, weight_sum):
    """``(B, log det I)`` with ``B^T B = I^-1`` for ``I = weight_sum * H``, or None if singular.

    The information is equilibrated to unit diagonal before its Cholesky
    factorisation, so that the pivot test measures collinearity, not the
    scale of the features.
    """
    A = H.to(torch.float64) * weight_sum
    diagonal = A.diagonal()
    if not bool((diagonal > 0).all()) or not bool(torch.isfinite(A).all()):
        return None
    scale = diagonal.rsqrt()
    L, info = torch.linalg.cholesky_ex(A * scale[:, None] * scale[None, :])
    if int(info) != 0 or float(L.diagonal().min()) ** 2 < 1e3 * torch.finfo(torch.float64).eps:
        return None
    logdet = 2.0 * float(L.diagonal().log().sum()) - 2.0 * float(scale.log().sum())
    eye = torch.eye(A.shape[0], dtype=A.dtype, device=A.device)
    L_inverse = torch.linalg.solve_triangular(L, eye, upper=False)
    return (L_inverse * scale[None, :]).to(H.dtype), logdet


def _quadratic_forms(objective, root_inverse):
    """``||B xa_i||^2`` for every row ``xa_i = [x_i, 1]`` of the design (n,).

    One pass over X (by chunks of rows where X is dense), never forming
    ``[X, 1]``: ``xa_i B^T = x_i B^T[:p] + B^T[p]``.
    """
    Bt = root_inverse.T.contiguous()
    p = objective.n_features
    top, shift = Bt[:p], (Bt[p] if objective.fit_intercept else None)
    X = objective.X
    if objective.is_sparse:
        R = X @ top
        if shift is not None:
            R += shift
        return (R * R).sum(dim=1)
    n = X.shape[0]
    out = torch.empty(n, dtype=Bt.dtype, device=Bt.device)
    for start in range(0, n, _HAT_CHUNK_ROWS):
        rows = slice(start, start + _HAT_CHUNK_ROWS)
        R = X[rows] @ top
        if shift is not None:
            R += shift
        torch.sum(R * R, dim=1, out=out[rows])
    return out


def restricted_fit(
    objective: FirthObjective, theta: torch.Tensor, fixed: torch.Tensor, *,
    tol: float = _RESTRICTED_TOL, max_iter: int = _INFERENCE_MAX_ITER,
) -> tuple[torch.Tensor, float]:
    """Maximise the penalized log-likelihood with the parameters ``fixed`` held at ``theta``'s.

    ``fixed`` is a boolean mask over ``theta``. The penalty stays that of
    the full design (``log det I`` of all parameters), as in logistf's
    profile likelihood and penalized likelihood-ratio tests. Quasi-Newton
    on the free parameters: the Fisher information at the start, updated
    by BFGS from the steps taken (Fisher scoring alone converges only
    linearly where the penalty's curvature matters, as far out in a
    profile), with a backtracking line search. Stops at ``max|grad| <=
    tol`` (mean scale) or where no step lowers the objective any more (its
    rounding). Returns ``(theta, penalized log-likelihood)``.
    """
    free = ~fixed
    theta = theta.clone()
    value, g, H, _ = objective.penalized_terms(theta)
    f = float(value)
    if not bool(free.any()):
        return theta, -objective.weight_sum * f
    tol = effective_tol(tol, theta.dtype)
    resolution = 100 * torch.finfo(theta.dtype).eps
    B = H[free][:, free].to(torch.float64)
    for _ in range(max_iter):
        g_free = g[free].to(torch.float64)
        if float(g_free.abs().max()) <= tol:
            break
        # Far out in a profile of separated data the information vanishes
        # (fitted probabilities of 0 and 1): damped until it factors, else
        # steepest descent, never a singular solve.
        L = _cholesky_factor(B)
        step = -g_free if L is None else -torch.cholesky_solve(g_free.unsqueeze(1), L)[:, 0]
        slope = float(torch.dot(g_free, step))
        length = 1.0
        accepted: tuple[torch.Tensor, float, torch.Tensor] | None = None
        for _ in range(_MAX_HALVINGS):
            candidate = theta.clone()
            candidate[free] += (length * step).to(theta.dtype)
            value_new, g_new, _, _ = objective.penalized_terms(candidate)
            f_new = float(value_new)
            if f_new <= f + 1e-4 * length * slope or (
                f_new <= f + resolution * max(abs(f), 1.0)
                and float(g_new[free].abs().max()) < float(g_free.abs().max())
            ):
                accepted = candidate, f_new, g_new
                break
            length *= 0.5
        if accepted is None:
            break  # the objective's rounding: no step is measurably better
        s = (accepted[0] - theta)[free].to(torch.float64)
        change = accepted[2][free].to(torch.float64) - g_free
        theta, f, g = accepted
        curvature = float(torch.dot(change, s))
        if curvature > 0:  # BFGS update; skipped where it would lose definiteness
            Bs = B @ s
            B = B + torch.outer(change, change) / curvature - torch.outer(Bs, Bs) / float(s @ Bs)
    return theta, -objective.weight_sum * f


def firth_objective(model, objective):
    """``objective`` (in memory or a dask ``DaskObjective``) with Firth's penalty,
    for ``model``'s fit (:class:`FirthObjective`)."""
    check_firth_settings(model, len(model.classes_))
    return FirthObjective(objective)
