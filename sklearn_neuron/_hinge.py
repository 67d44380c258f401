"""Exact solver of the hinge objective: smoothing continuation, then the optimality system.

The hinge objective of one output unit,

    f(theta) = sum_i w_i max(0, 1 - s_i a_i theta) + l2/2 ||P theta||^2

(``a_i`` the row of ``[X, 1]``, ``s_i = +1/-1``, ``P`` the penalized
coordinates: the intercept is not penalized), has its minimum at a kink,
where gradient methods stall. Its optimality conditions are those of the
linear SVM: with ``alpha_i`` in ``[0, w_i]``, ``alpha_i = w_i`` for margins
below 1 (``B``) and 0 above,

    l2 P theta - A_F^T u = A_B^T (s_B w_B),    A_F theta = s_F,

where ``F`` are the samples on the margin (``s_i a_i theta = 1``) and
``u = s_F alpha_F``. The intercept's row of the first equation is the SVM's
``sum_i alpha_i s_i = 0``. Once ``F`` and ``B`` are known this is a linear
system. They are guessed from smoothed problems: the hinge with its kink
rounded over a band of width ``delta`` (quadratic there) is smooth, and is
minimised by the optimizer the user chose (Newton, L-BFGS or a minibatch
optimizer), from the previous stage's solution, for shrinking ``delta``.
After each stage the system is solved for the band's samples as ``F`` and
the result accepted when the conditions hold, which certifies it as the
exact minimiser. For K classes the margins are one-vs-rest
(``_losses.py``), so each output unit is its own problem.

scikit-learn's ``LinearSVC`` (liblinear) solves the same problem except for
the intercept: liblinear appends a constant feature and penalizes its weight
like the others; here the intercept is unpenalized, as in the classical SVM.
With ``fit_intercept=False`` the two objectives are identical.
"""

import torch

from ._callbacks import LOGGER, stopped_by_callback
from ._losses import MarginLoss
from ._objective import LinearObjective
from ._optimizers import OptimizeResult, effective_tol, stopped_stage_result

#: Width of the first band of the smoothed hinge, in margin units.
_FIRST_DELTA = 0.5
#: Factor by which the band shrinks between stages.
_SHRINK = 0.1
#: Stages of smoothing before giving up on an exact answer.
_MAX_STAGES = 8


class SmoothedHingeLoss(MarginLoss):
    """The hinge with its kink rounded over ``1 - delta < m < 1``.

    ``0`` for ``m >= 1``, ``(1 - m)^2 / (2 delta)`` in the band and
    ``1 - m - delta / 2`` below: continuously differentiable, within
    ``delta / 2`` of the hinge everywhere.
    """

    name = "smoothed_hinge"

    def __init__(self, n_outputs, delta):
        super().__init__(2 if n_outputs == 1 else n_outputs)
        self.delta = float(delta)
        self.max_curvature = 1.0 / self.delta

    def phi(self, m):
        gap = torch.clamp(1.0 - m, min=0.0)
        return torch.where(gap < self.delta, gap * gap / (2 * self.delta), gap - self.delta / 2)

    def dphi(self, m):
        gap = torch.clamp(1.0 - m, min=0.0)
        return -torch.clamp(gap / self.delta, max=1.0)

    def d2phi(self, m):
        gap = 1.0 - m
        return ((gap > 0) & (gap < self.delta)).to(m.dtype) / self.delta


def smoothed(objective, delta):
    """``objective`` with the hinge replaced by :class:`SmoothedHingeLoss`."""
    return LinearObjective(
        objective.X,
        objective.target,
        objective.weight,
        SmoothedHingeLoss(objective.n_outputs, delta),
        objective.l2,
        objective.fit_intercept,
        sparse_rows=objective._sparse_rows,
    )


def _margins(objective, theta):
    return (2.0 * objective.target - 1.0) * objective.raw(theta)


def _kkt_solution(objective, theta, delta):
    """Solve the optimality system for the sets the margins at ``theta`` suggest.

    ``F`` are the samples whose margin is within ``delta`` of 1 (the smoothed
    problem's band) and ``B`` those below. Returns the solution when it
    satisfies every optimality condition, else None.
    """
    sign = 2.0 * objective.target - 1.0
    margins = sign * objective.raw(theta)
    w = objective.weight
    positive = (w > 0).unsqueeze(1)
    on_margin = ((margins - 1.0).abs() <= delta) & positive
    below = (margins < 1.0 - delta) & positive
    # One product over X for every output's right-hand side A_B^T (s_B w_B).
    rhs_all = objective.linear_gradient(sign * below.to(w.dtype) * w.unsqueeze(1))
    q = objective.n_params_per_output
    solved = []
    slack = 1e3 * torch.finfo(w.dtype).eps
    for k in range(objective.n_outputs):
        index = torch.nonzero(on_margin[:, k]).squeeze(1)
        A_F = objective.rows(index)
        A_F = A_F.to_dense() if A_F.layout != torch.strided else A_F
        if objective.fit_intercept:
            A_F = torch.cat([A_F, torch.ones((A_F.shape[0], 1), dtype=w.dtype)], dim=1)
        s_F = sign[index, k]
        m = A_F.shape[0]
        system = torch.zeros((q + m, q + m), dtype=w.dtype, device=w.device)
        system[:q, :q] = torch.diag(objective._l2_columns)
        system[:q, q:] = -A_F.T
        system[q:, :q] = A_F
        rhs = torch.cat([rhs_all[k], s_F])
        # Minimum norm with a rank cut: repeated samples on the margin make
        # the system singular; the minimum norm splits their multipliers.
        solution = torch.linalg.lstsq(
            system.cpu(), rhs.cpu().unsqueeze(1), rcond=slack, driver="gelsd"
        ).solution.squeeze(1).to(w.device)
        if not bool(torch.isfinite(solution).all()):
            return None
        scale = max(1.0, float(rhs.abs().max()))
        if float((system @ solution - rhs).abs().max()) > slack * scale:
            return None
        theta_k, alpha = solution[:q], s_F * solution[q:]
        if bool((alpha < -slack * scale).any()) or bool(
            (alpha > w[index] * (1 + slack) + slack * scale).any()
        ):
            return None
        solved.append(theta_k)
    theta_new = torch.cat(solved)
    margins_new = _margins(objective, theta_new)
    off = ~on_margin & positive
    if bool((below & (margins_new > 1.0 + slack * 1e3)).any()):
        return None
    if bool((off & ~below & (margins_new < 1.0 - slack * 1e3)).any()):
        return None
    return theta_new


def hinge_continuation(objective, theta, *, stage, tol, max_iter, verbose=0, name="hinge"):
    """Minimise a hinge :class:`LinearObjective` exactly (see the module docstring).

    ``stage(smooth_objective, theta, tol, max_iter, name)`` runs the chosen
    optimizer on one smoothed problem and returns its :class:`OptimizeResult`;
    ``max_iter`` bounds its iterations (epochs) in each stage; a stage that
    returns None has none left, and the continuation ends. Converged
    means the optimality conditions were verified.
    """
    tol = effective_tol(tol, theta.dtype)
    curve = [float(objective.value(theta))]
    best_theta, best_f = theta, curve[0]
    n_iter, delta = 0, _FIRST_DELTA
    for _ in range(_MAX_STAGES):
        result = stage(smoothed(objective, delta), theta, tol * delta, max_iter,
                       f"{name}/smoothed(delta={delta:.3g})")
        if result is None:  # no iterations left (a budget shared by the stages)
            break
        n_iter += result.n_iter
        theta = result.theta
        if stopped_by_callback(result.stop_reason):
            return stopped_stage_result(objective, theta, n_iter, curve, result)
        candidate = _kkt_solution(objective, theta, delta) if objective.l2 > 0 else None
        if candidate is not None:
            curve.append(float(objective.value(candidate)))
            if verbose:
                LOGGER.info(f"[{name}] optimality conditions verified after the stage "
                            f"delta={delta:.3g}")
            return OptimizeResult(
                theta=candidate, n_iter=max(n_iter, 1), converged=True,
                objective_curve=curve, grad_max=0.0,
                stop_reason="optimality conditions verified",
            )
        f = float(objective.value(theta))
        if f <= best_f:
            best_theta, best_f = theta, f
        curve.append(best_f)
        delta *= _SHRINK
    _, grad, _ = objective.value_gradient(best_theta)
    return OptimizeResult(
        theta=best_theta, n_iter=max(n_iter, 1), converged=False, objective_curve=curve,
        grad_max=float(grad.abs().max()),
        stop_reason="the optimality conditions of the hinge could not be verified "
        + ("(C=inf: the unpenalized hinge has no unique minimum)" if objective.l2 == 0
           else "(degenerate data, or max_iter reached)"),
    )
