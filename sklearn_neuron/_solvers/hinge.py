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
After each stage the system is solved for the band's samples as ``F``, the
sets corrected by a few active-set rounds, and the result accepted when the
conditions hold, which certifies it as the exact minimiser. For K classes
the margins are one-vs-rest (``_losses.py``), so each output unit is its
own problem: the full-batch optimizers solve them one at a time (each with
``max_iter`` iterations over its stages), the minibatch ones together.
Newton's method runs here with an exact line search (:func:`smoothed_newton`):
on the piecewise quadratic smoothed hinge a backtracked Newton step crawls.
With an intercept, an output whose weighted samples are all of one class has
a closed-form minimiser (:func:`_one_signed`).

scikit-learn's ``LinearSVC`` (liblinear) solves the same problem except for
the intercept: liblinear appends a constant feature and penalizes its weight
like the others; here the intercept is unpenalized, as in the classical SVM.
With ``fit_intercept=False`` the two objectives are identical.
"""

import math

import torch

from .._callbacks import log_verbose, stopped_by_callback
from .._loss.losses import MarginLoss
from .._objective.linear import LinearObjective
from .optimizers import (
    OptimizeResult,
    _finish,
    _max_abs,
    _precision_reason,
    _Progress,
    _stopped_reason,
    effective_tol,
    newton_direction,
    objective_resolution,
    stopped_stage_result,
)

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
        sparse_rows=objective.design.scipy_rows() if objective.is_sparse else None,
        offset=objective.offset,
    )


def output_problem(objective, k):
    """The hinge problem of output ``k`` alone, as a one-output objective.

    The one-vs-rest margins and the L2 term are sums over the outputs, each
    of its own parameters, so the K-output objective is the sum of these K
    problems (its weights already normalised, as ``smoothed`` keeps them).
    """
    if objective.n_outputs == 1:
        return objective
    return LinearObjective(
        objective.X,
        objective.target[:, k : k + 1].contiguous(),
        objective.weight,
        type(objective.loss)(2),
        objective.l2,
        objective.fit_intercept,
        sparse_rows=objective.design.scipy_rows() if objective.is_sparse else None,
        offset=None if objective.offset is None else objective.offset[:, k : k + 1].contiguous(),
    )


def _one_signed(objective):
    """For each output, whether its samples of positive weight all have one sign: (K,) bools.

    With an intercept the output's hinge is then minimised by zero
    coefficients and any intercept of margin at least 1 on them: the
    minimum-norm minimiser, intercept ``s``, puts them all on the margin with
    zero multipliers. (Without one the problem is an ordinary SVM's.)
    """
    target = objective.target[objective.weight > 0]
    if not objective.fit_intercept:
        return torch.zeros(target.shape[1], dtype=torch.bool, device=target.device)
    return (target == target[0]).all(dim=0)


def _one_signed_minimiser(objective, theta):
    """The minimum-norm minimiser where every output is :func:`_one_signed`: exact."""
    minimiser = torch.zeros_like(theta)
    first = objective.target[objective.weight > 0][0]
    sign = 2.0 * first - 1.0
    intercept = sign
    if objective.offset is not None:
        # The smallest intercept that puts every margin s (b + o_i) at 1 or above.
        lowest = (sign * objective.offset[objective.weight > 0]).amin(dim=0)
        intercept = sign * (1.0 - lowest)
    minimiser.view(objective.n_outputs, -1)[:, -1] = intercept
    return minimiser


#: Active-set corrections of the sets guessed from a stage's margins.
_ACTIVE_SET_ROUNDS = 8


def _kkt_solution(objective, theta, delta):
    """Solve the optimality system of a one-output hinge from the margins at ``theta``.

    ``F`` starts as the samples whose margin is within ``delta`` of 1 (the
    smoothed problem's band) and ``B`` as those below. The system is solved
    for these sets; where the solution breaks a condition, the samples that
    break it change set (a multiplier below 0 leaves ``F``, one above its
    weight moves to ``B``, a margin on the wrong side of 1 moves to ``F``),
    the primal-dual active-set iteration of the SVM, for a few rounds.
    Returns the solution once it satisfies every optimality condition
    (which certifies it as the exact minimiser), else None.
    """
    if bool(_one_signed(objective).all()):
        return _one_signed_minimiser(objective, theta)
    sign = 2.0 * objective.target[:, 0] - 1.0
    w = objective.weight
    positive = w > 0
    margins = sign * objective.raw(theta)[:, 0]
    on_margin = ((margins - 1.0).abs() <= delta) & positive
    below = (margins < 1.0 - delta) & positive
    q = objective.n_params_per_output
    slack = 1e3 * torch.finfo(w.dtype).eps
    for _ in range(_ACTIVE_SET_ROUNDS):
        rhs_b = objective.linear_gradient((sign * below.to(w.dtype) * w).unsqueeze(1))[0]
        index = torch.nonzero(on_margin).squeeze(1)
        A_F = objective.rows(index)
        A_F = A_F.to_dense() if A_F.layout != torch.strided else A_F
        if objective.fit_intercept:
            A_F = torch.cat([A_F, torch.ones((A_F.shape[0], 1), dtype=w.dtype,
                                             device=w.device)], dim=1)
        s_F = sign[index]
        # On the margin s_i (a_i theta + o_i) = 1, so a_i theta = s_i - o_i.
        target_F = s_F if objective.offset is None else s_F - objective.offset[index, 0]
        m = A_F.shape[0]
        system = torch.zeros((q + m, q + m), dtype=w.dtype, device=w.device)
        system[:q, :q] = torch.diag(objective.penalty.l2_columns)
        system[:q, q:] = -A_F.T
        system[q:, :q] = A_F
        rhs = torch.cat([rhs_b, target_F])
        # Minimum norm with a rank cut: repeated samples on the margin make
        # the system singular; the minimum norm splits their multipliers.
        solution = torch.linalg.lstsq(
            system.cpu(), rhs.cpu().unsqueeze(1), rcond=slack, driver="gelsd"
        ).solution.squeeze(1).to(w.device)
        if not bool(torch.isfinite(solution).all()):
            return None
        scale = max(1.0, float(rhs.abs().max()))
        if float((system @ solution - rhs).abs().max()) > slack * scale:
            return None  # inconsistent sets: no active-set move repairs that
        candidate, alpha = solution[:q], s_F * solution[q:]
        new_margins = sign * objective.raw(candidate)[:, 0]
        negative = torch.zeros_like(on_margin)
        negative[index] = alpha < -slack * scale
        above = torch.zeros_like(on_margin)
        above[index] = alpha > w[index] * (1 + slack) + slack * scale
        wrong_below = below & (new_margins > 1.0 + slack * 1e3)
        wrong_off = positive & ~on_margin & ~below & (new_margins < 1.0 - slack * 1e3)
        if not bool((negative | above | wrong_below | wrong_off).any()):
            return candidate
        on_margin = (on_margin & ~negative & ~above) | wrong_below | wrong_off
        below = (below & ~wrong_below) | above
    return None


def _line_minimum(loss, margins, margin_step, weight, penalty_slope, penalty_curvature):
    """The minimiser ``t > 0`` of ``sum_i w_i phi(m_i + t d_i) + a t + b t^2 / 2``.

    A convex function of ``t`` (a descent direction: its slope at 0 is
    negative) whose derivative is piecewise linear for the smoothed hinge.
    Its root is bracketed (doubling from the full step until the slope turns
    positive), then found by Newton steps on the derivative, exact within a
    linear piece, or by false position (Illinois) where a Newton step leaves
    the bracket. False position is what keeps this independent of the
    step's scale: where the Hessian is nearly singular (few samples in the
    band, a large C) the Newton step is huge and its minimum at a tiny ``t``.
    Each evaluation is a pass over ``n`` numbers, none over X. Returns a
    point of negative slope (a decrease) where the root is not pinned down.
    """
    def slope_and_curvature(t):
        m = margins + t * margin_step
        slope = float((weight * loss.dphi(m) * margin_step).sum())
        curvature = float((weight * loss.d2phi(m) * margin_step * margin_step).sum())
        return slope + penalty_slope + penalty_curvature * t, curvature + penalty_curvature

    low, slope_low = 0.0, slope_and_curvature(0.0)[0]
    high, slope_high = math.inf, math.nan
    t, kept = 1.0, 0
    for _ in range(_LINE_SEARCH_STEPS):
        slope, curvature = slope_and_curvature(t)
        if slope == 0.0:
            return t
        if slope > 0:
            high, slope_high = t, slope
            slope_low *= 0.5 if kept == 1 else 1.0  # Illinois: low kept twice
            kept = 1
        else:
            low, slope_low = t, slope
            slope_high *= 0.5 if kept == -1 else 1.0
            kept = -1
        if math.isinf(high):
            t = 2.0 * t  # the slope is still negative: the minimum lies further
            continue
        if high - low <= 4 * _EPS * high:
            break
        following = t - slope / curvature if curvature > 0 else math.nan
        if not low < following < high:
            following = low - slope_low * (high - low) / (slope_high - slope_low)
        if not low < following < high:
            following = 0.5 * (low + high)
        if abs(following - t) <= 4 * _EPS * t:
            return following  # the root, to rounding
        t = following
    return low if low > 0 else t


#: Safeguarded Newton steps of the exact line search.
_LINE_SEARCH_STEPS = 60
_EPS = float(torch.finfo(torch.float64).eps)


def smoothed_newton(objective, theta, *, tol, max_iter, verbose=0, name="newton", monitor=None):
    """Newton's method on a smoothed hinge of one output, with an exact line search.

    The smoothed hinge is piecewise quadratic: its Hessian sees only the
    samples in the band, so a Newton step is the exact minimiser of the
    current piece and overshoots into the linear pieces, and halving it
    takes many iterations. The exact minimum along the step (a root of a
    piecewise linear derivative, computed from the margins) is what makes
    Newton's method converge in few iterations on this loss (Chapelle 2007,
    "Training a support vector machine in the primal"). Same signature and
    stopping rule as :func:`~sklearn_neuron._solvers.optimizers.newton`.
    """
    tol = effective_tol(tol, theta.dtype)
    sign = 2.0 * objective.target[:, 0] - 1.0
    weight = objective.weight
    penalty = objective.penalty.l2_flat
    f, g, raw = objective.value_gradient(theta)
    f, grad_max = float(f), _max_abs(g)
    progress = _Progress(name, verbose, f, grad_max, monitor)
    it = 0
    while it < max_iter and grad_max > tol:
        it += 1
        direction = newton_direction(objective, objective.hessian(theta, raw), g)
        margins = sign * raw[:, 0]
        margin_step = sign * objective.raw(direction, objective.X)[:, 0]  # no offset: a direction
        step = _line_minimum(
            objective.loss, margins, margin_step, weight,
            float(torch.dot(theta * penalty, direction)),
            float(torch.dot(direction * penalty, direction)),
        )
        candidate = theta + step * direction
        f_new, g_new, raw_new = objective.value_gradient(candidate)
        f_new = float(f_new)
        resolution = objective_resolution(f, theta.dtype)
        if torch.equal(candidate, theta) or not f_new <= f + resolution:
            # No step the dtype can take lowers the objective (the
            # derivative's root is below its resolution).
            return _finish(theta, it, False, progress, grad_max, _precision_reason(theta))
        theta, f, g, raw = candidate, f_new, g_new, raw_new
        grad_max = _max_abs(g)
        # No theta: a per-output stage's iterate is not the fit's coefficients.
        if progress.step(it, f, grad_max, step):
            return _finish(theta, it, grad_max <= tol, progress, grad_max, _stopped_reason(it))
    if grad_max <= tol:
        return _finish(theta, it, True, progress, grad_max, "max|grad| <= tol")
    return _finish(theta, it, False, progress, grad_max, "max_iter reached")


def _solve_output(objective, theta, *, stage, tol, max_iter, verbose, name):
    """The continuation on one output's problem (or the joint one, for minibatches).

    Returns ``(result, stopped)``; the stages share ``max_iter`` iterations.
    """
    curve = [float(objective.value(theta))]
    best_theta, best_f = theta, curve[0]
    n_iter, delta = 0, _FIRST_DELTA
    # Every output one-signed: solved in closed form, no stage needed.
    closed_form = bool(_one_signed(objective).all())
    for _ in range(_MAX_STAGES):
        if closed_form or n_iter >= max_iter:
            break
        result = stage(smoothed(objective, delta), theta, tol * delta, max_iter - n_iter,
                       f"{name}/smoothed(delta={delta:.3g})")
        if result is None:  # no iterations left (a budget shared by the stages)
            break
        n_iter += result.n_iter
        theta = result.theta
        if stopped_by_callback(result.stop_reason):
            return stopped_stage_result(objective, theta, n_iter, curve, result), True
        candidate = _joint_kkt_solution(objective, theta, delta)
        if candidate is not None:
            curve.append(float(objective.value(candidate)))
            if verbose:
                log_verbose(f"[{name}] optimality conditions verified after the stage "
                            f"delta={delta:.3g}")
            return _verified(candidate, n_iter, curve), False
        f = float(objective.value(theta))
        if f <= best_f:
            best_theta, best_f = theta, f
        curve.append(best_f)
        delta *= _SHRINK
    if closed_form:
        candidate = _one_signed_minimiser(objective, theta)
        curve.append(float(objective.value(candidate)))
        return _verified(candidate, n_iter, curve), False
    _, grad, _ = objective.value_gradient(best_theta)
    if objective.l2 == 0:
        why = "(C=inf: the unpenalized hinge has no unique minimum)"
    elif n_iter >= max_iter:
        why = f"(max_iter={max_iter} iterations spent on its smoothed stages)"
    else:
        why = f"(after {_MAX_STAGES} smoothed stages: degenerate data)"
    return OptimizeResult(
        theta=best_theta, n_iter=max(n_iter, 1), converged=False, objective_curve=curve,
        grad_max=float(grad.abs().max()),
        stop_reason=f"{HINGE_UNVERIFIED} {why}",
    ), False


#: How the ``stop_reason`` of a hinge fit starts when its optimum was not certified.
HINGE_UNVERIFIED = "the optimality conditions of the hinge could not be verified"


def _verified(theta, n_iter, curve):
    return OptimizeResult(
        theta=theta, n_iter=max(n_iter, 1), converged=True, objective_curve=curve,
        grad_max=0.0, stop_reason="optimality conditions verified",
    )


def _joint_kkt_solution(objective, theta, delta):
    """:func:`_kkt_solution` of every output of ``objective``; None unless all verify."""
    if objective.l2 <= 0:
        return None
    if objective.n_outputs == 1:
        return _kkt_solution(objective, theta, delta)
    parts = theta.view(objective.n_outputs, -1)
    solved = []
    for k in range(objective.n_outputs):
        part = _kkt_solution(output_problem(objective, k), parts[k], delta)
        if part is None:
            return None
        solved.append(part)
    return torch.cat(solved)


def hinge_continuation(objective, theta, *, stage, tol, max_iter, verbose=0, name="hinge",
                       per_output=False):
    """Minimise a hinge :class:`LinearObjective` exactly (see the module docstring).

    ``stage(smooth_objective, theta, tol, max_iter, name)`` runs the chosen
    optimizer on one smoothed problem and returns its :class:`OptimizeResult`;
    ``max_iter`` is what is left of the fit's budget: the stages share
    ``max_iter`` iterations (epochs), so ``n_iter`` never exceeds it. A stage
    that returns None has none left, and the continuation ends. With
    ``per_output`` (full-batch optimizers) each output unit is solved as its
    own problem, with its own ``max_iter`` iterations, and ``n_iter`` is the
    largest count of an output (as LinearSVC's ``n_iter_``); otherwise the
    outputs are solved together. Converged means the optimality conditions
    were verified, for every output.
    """
    tol = effective_tol(tol, theta.dtype)
    K = objective.n_outputs
    if not per_output or K == 1:
        return _solve_output(objective, theta, stage=stage, tol=tol, max_iter=max_iter,
                             verbose=verbose, name=name)[0]
    parts = theta.view(K, -1)
    results = []
    for k in range(K):
        result, stopped = _solve_output(
            output_problem(objective, k), parts[k].clone(), stage=stage, tol=tol,
            max_iter=max_iter, verbose=verbose, name=f"{name}/output {k}",
        )
        results.append(result)
        if stopped:
            break
    thetas = [r.theta for r in results] + [parts[k] for k in range(len(results), K)]
    # The objective is the sum of the outputs' problems: so is its curve,
    # each output's held at its last value once it has ended (an output a
    # callback kept from starting, at its start).
    curves = [r.objective_curve for r in results] + [
        [float(output_problem(objective, k).value(parts[k]))] for k in range(len(results), K)
    ]
    length = max(len(c) for c in curves)
    curves = [c + c[-1:] * (length - len(c)) for c in curves]
    curve = [float(sum(values)) for values in zip(*curves, strict=True)]
    unfinished = [r for r in results if not r.converged]
    worst = unfinished[0] if unfinished else results[0]
    return OptimizeResult(
        theta=torch.cat(thetas), n_iter=max(r.n_iter for r in results),
        converged=len(results) == K and not unfinished, objective_curve=curve,
        grad_max=max(r.grad_max for r in results), stop_reason=worst.stop_reason,
    )
