"""Hessian-free (truncated) Newton: line-search Newton-CG on exact Hessian-vector products.

Each outer iteration solves the Newton system ``H d = -g`` only approximately,
by preconditioned conjugate gradients on exact products ``H v`` of the
objective (:meth:`~sklearn_neuron._objective.linear.LinearObjective.hessian_vector_product`:
two passes over X each, ``X^T (C (X V))`` with ``C`` the loss's per-row
curvature), and backtracks along ``d`` as :func:`~sklearn_neuron._solvers.optimizers.newton`
does. No Hessian is formed: memory is that of a few gradients, whatever the
number of features and classes, which is what makes Newton's few outer
iterations available where a dense Hessian of ``(n_classes * n_features)**2``
entries is not. The inner solves stop at a relative residual
``eta_k = min(0.5, sqrt(||g_k|| / ||g_0||))`` (a forcing sequence, Eisenstat and Walker
1994; Nocedal and Wright, Algorithm 7.1), loose far from the optimum and
tightening near it, where convergence becomes superlinear. The stopping rule
is the package's: ``max|gradient| <= tol``
(:func:`~sklearn_neuron._solvers.optimizers.effective_tol`).
"""

import math

import torch

from .._callbacks import log_verbose
from .optimizers import (
    _backtrack,
    _finish,
    _max_abs,
    _precision_reason,
    _Progress,
    _stopped_reason,
    effective_tol,
    objective_resolution,
)

#: Largest relative residual of an inner solve (the forcing sequence's cap).
_MAX_FORCING = 0.5
#: Conjugate-gradient iterations of one inner solve, at most: a multiple of
#: the number of parameters (exact termination is lost to rounding), capped
#: so that a badly conditioned solve hands its partial step to the line search.
_CG_ITER_PER_PARAM = 2
_MAX_CG_ITER = 500
_MIN_CG_ITER = 20
#: The final step is skipped where the gradient's norm relative to the
#: start's is at most this many machine epsilons (at rounding already).
_ROUNDING_FORCING = 100


def newton_cg(objective, theta, *, tol, max_iter, verbose=0, name="newton-cg", monitor=None):
    """Truncated Newton's method with preconditioned CG inner solves.

    Parameters
    ----------
    objective : LinearObjective
        A twice-differentiable objective without an L1 term.
    theta : torch.Tensor
        Starting point.
    tol : float
        Stop when ``max|gradient| <= tol`` (floored by :func:`effective_tol`).
    max_iter : int
        Outer (Newton) iterations at most; ``n_iter`` counts them.
    verbose : int, default=0
    name : str, default="newton-cg"
        Label of the progress reports.
    monitor : Monitor, optional
        The fit's monitor (history, callbacks).

    Returns
    -------
    OptimizeResult
        Its ``stop_reason`` ends with the number of Hessian-vector products
        the fit spent (each two passes over X).

    Notes
    -----
    The conjugate gradients are preconditioned by the Hessian's diagonal
    (``sum_i w_i h_ikk x_ij^2`` plus the L2 term: one pass over X's squares).
    A softmax layer's Hessian is singular along the directions that do not
    change the probabilities; as in :func:`~sklearn_neuron._solvers.optimizers.newton_direction`
    the projector onto them, scaled to the Hessian's mean diagonal, is added,
    which keeps the step out of them. Once the stopping rule holds, one more
    step is solved with the tighter forcing ``min(0.5, ||g|| / ||g_0||)`` and kept only if
    it lowers both the objective (to rounding) and the largest gradient entry,
    as Newton's final step is (:func:`~sklearn_neuron._solvers.optimizers._final_newton_step`).
    """
    tol = effective_tol(tol, theta.dtype)
    f, g, raw = objective.value_gradient(theta)
    f = float(f)
    grad_max = _max_abs(g)
    progress = _Progress(name, verbose, f, grad_max, monitor, theta)
    solver = _InnerSolver(objective)
    # The forcing is of the gradient relative to the start's: the objective's
    # mean-loss scale makes absolute gradients small on any data.
    g0_norm = max(float(torch.linalg.vector_norm(g)), torch.finfo(g.dtype).tiny)
    it = 0
    while it < max_iter:
        it += 1
        g_norm = float(torch.linalg.vector_norm(g))
        forcing = min(_MAX_FORCING, math.sqrt(g_norm / g0_norm))
        direction = solver.solve(theta, raw, g, forcing)
        accepted = _backtrack(objective, theta, f, g, direction, 1.0)
        if accepted is None:
            first_step = min(1.0, 1.0 / max(float(g.abs().sum()), 1e-12))
            accepted = _backtrack(objective, theta, f, g, -g, first_step)
        if accepted is None:
            return _end(theta, it, grad_max <= tol, progress, grad_max,
                        _precision_reason(theta), solver)
        theta, f, g, raw, step = accepted
        grad_max = _max_abs(g)
        stop = progress.step(it, f, grad_max, step, theta)
        if grad_max <= tol:
            if it < max_iter and not stop:
                theta, f, g, grad_max, it = _final_step(
                    objective, solver, theta, f, g, raw, grad_max, it, progress, g0_norm
                )
            return _end(theta, it, True, progress, grad_max, "max|grad| <= tol", solver)
        if stop:
            return _end(theta, it, False, progress, grad_max, _stopped_reason(it), solver)
    return _end(theta, it, False, progress, grad_max, "max_iter reached", solver)


def _end(theta, it, converged, progress, grad_max, reason, solver):
    """The result, its stop reason followed by the Hessian-vector products spent
    (logged when verbose: they, not the iterations, measure the work)."""
    reason = f"{reason} ({solver.products} Hessian-vector products)"
    if progress.monitor.verbose:
        log_verbose(f"[{progress.name}] {it} iterations: {reason}")
    return _finish(theta, it, converged, progress, grad_max, reason)


def _final_step(objective, solver, theta, f, g, raw, grad_max, it, progress, g0_norm):
    """One tightly solved step from a point that met the stopping rule.

    ``max|grad| <= tol`` leaves the coefficients ~tol / (smallest curvature)
    from the optimum; a step solved to the relative residual
    ``||g|| / ||g_0||`` (the gradient's norm relative to the start's) squares that error, as
    Newton's final step does. Its conjugate gradients are capped at twice the
    fit's mean per iteration, so that the step at most adds a share of what
    the fit spent. Kept only if it lowers the objective (to rounding) and
    the largest gradient entry. A point whose gradient is already at float64's
    rounding of the start's (``||g|| / ||g_0||`` at most ``_ROUNDING_FORCING``
    float64 machine epsilons, which no solve reaches) takes no step: on digits
    at tol=1e-10 the step from 2e-15 spent 40 products for nothing. (Not
    float32's rounding: a float32 fit that is not continued in float64 (a
    float64 copy over the memory budget) still gains from its step at 1e-5
    of the start's gradient, as float32 fits on dask data did before they
    went on in float64.)
    Returns ``(theta, f, g, grad_max, it)``.
    """
    forcing = min(_MAX_FORCING, float(torch.linalg.vector_norm(g)) / g0_norm)
    if forcing <= _ROUNDING_FORCING * torch.finfo(torch.float64).eps:
        return theta, f, g, grad_max, it
    budget = max(_MIN_CG_ITER, 2 * solver.products // max(it, 1))
    candidate = theta + solver.solve(theta, raw, g, forcing, max_iter=budget)
    f_new, g_new, _ = objective.value_gradient(candidate)
    f_new = float(f_new)
    g_max_new = _max_abs(g_new)
    resolution = objective_resolution(f, theta.dtype)
    if not (f_new <= f + resolution and g_max_new <= grad_max):
        return theta, f, g, grad_max, it
    progress.step(it + 1, f_new, g_max_new, 1.0, candidate)
    return candidate, f_new, g_new, g_max_new, it + 1


class _InnerSolver:
    """Preconditioned conjugate gradients on ``H d = -g`` at one point at a time."""

    def __init__(self, objective):
        self.objective = objective
        self.products = 0
        self.max_iter = max(
            _MIN_CG_ITER, min(_CG_ITER_PER_PARAM * objective.n_params, _MAX_CG_ITER)
        )
        mask = objective.null_mask()
        self.null_mask = None if mask is None else mask.bool()

    def _add_projection(self, out, v, scaled_mask):
        """``out += S P v`` in place, ``P`` the projector onto the softmax's
        free directions (each free column of ``v`` replaced by its mean over
        the classes) and ``scaled_mask`` the free columns' mask times each
        column's scale ``S``."""
        K = self.objective.n_outputs
        out.view(K, -1).add_(v.view(K, -1).mean(dim=0) * scaled_mask)

    def solve(self, theta, raw, g, forcing, max_iter=None):
        """An approximate Newton step: CG until ``||H d + g|| <= forcing * ||g||``
        (or ``max_iter`` products, by default the solver's cap)."""
        objective = self.objective
        curvature = objective.curvature(theta, raw)
        diagonal = objective.hessian_diagonal(curvature)
        scaled_mask = None
        if self.null_mask is not None:
            # The projector onto the free directions is scaled column by
            # column to that column's curvature (its mean over the classes):
            # one scale for all, the whole diagonal's mean, is 1e6 times a
            # column's own on features of scales 1e-3 to 1e3, and the
            # preconditioner, which takes it in, would scale that column's
            # other directions wrongly by as much.
            K = objective.n_outputs
            column = diagonal.view(K, -1).mean(dim=0)
            scaled_mask = column * self.null_mask.to(g.dtype)

        def product(v):
            self.products += 1
            Hv = objective.hessian_vector_product(curvature, v)  # a fresh tensor
            if scaled_mask is not None:
                self._add_projection(Hv, v, scaled_mask)
            return Hv

        if scaled_mask is not None:
            diagonal = diagonal + (scaled_mask / K).repeat(K)
        # A zero column (no curvature, no penalty) is left unscaled.
        inverse = torch.where(diagonal > 0, 1.0 / diagonal, torch.ones_like(diagonal))
        target = forcing * float(torch.linalg.vector_norm(g))
        step = torch.zeros_like(g)
        residual = g.clone()  # H step + g
        preconditioned = inverse * residual
        direction = -preconditioned
        rho = float(torch.dot(residual, preconditioned))
        for j in range(min(self.max_iter, max_iter or self.max_iter)):
            Hd = product(direction)
            curvature_d = float(torch.dot(direction, Hd))
            if not curvature_d > 0:
                # No positive curvature along d (rounding, or a non-convex
                # loss): keep the step so far, or the preconditioned gradient.
                return -preconditioned if j == 0 else step
            alpha = rho / curvature_d
            step.add_(direction, alpha=alpha)
            residual.add_(Hd, alpha=alpha)
            if float(torch.linalg.vector_norm(residual)) <= target:
                break
            preconditioned = inverse * residual
            rho_new = float(torch.dot(residual, preconditioned))
            direction.mul_(rho_new / rho).sub_(preconditioned)
            rho = rho_new
        return step
