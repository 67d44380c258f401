"""Full-batch optimizers of a smooth convex objective: Newton and L-BFGS.

Each optimizer takes a :class:`~sklearn_neuron._objective.LinearObjective`, a
starting point and a stopping rule, and returns an :class:`OptimizeResult`.
They share one stopping rule (:func:`_converged`): the largest absolute entry
of the objective's gradient is at most ``tol``, the criterion scikit-learn's
``lbfgs`` and ``newton-cholesky`` solvers use on the same (mean-loss) scale.

Both run entirely in torch on the objective's device; per iteration they call
the objective once for value and gradient (plus once for the Hessian in
Newton), and only fall back to more evaluations when the line search has to
shorten a step.
"""

from dataclasses import dataclass, field

import torch

#: Armijo sufficient-decrease constant of the backtracking line search.
_ARMIJO = 1e-4
#: Halvings of the step before the line search gives up.
_MAX_HALVINGS = 40


@dataclass
class OptimizeResult:
    """What an optimizer returns.

    Attributes
    ----------
    theta : torch.Tensor
        Final parameters.
    n_iter : int
        Iterations (steps) taken.
    converged : bool
        Whether the stopping rule was met.
    objective_curve : list of float
        Objective value at the start and after each iteration.
    grad_max : float
        Largest absolute gradient entry at ``theta``.
    stop_reason : str
        Why the optimizer stopped, in words.
    """

    theta: torch.Tensor
    n_iter: int
    converged: bool
    objective_curve: list = field(default_factory=list)
    grad_max: float = float("nan")
    stop_reason: str = ""


def effective_tol(tol, dtype):
    """Gradient tolerance that the dtype can reach.

    A float32 objective's gradient is only accurate to a few hundred machine
    epsilons, so ``tol`` is floored at ``100 * eps`` of the dtype
    (1.2e-5 for float32, 2.2e-14 for float64).
    """
    return max(float(tol), 100.0 * torch.finfo(dtype).eps)


class _Progress:
    """Records the objective per iteration and prints it when verbose."""

    def __init__(self, name, verbose, f0, grad_max0):
        self.name = name
        self.verbose = verbose
        self.curve = [f0]
        if verbose:
            print(f"[{name}] iter 0: objective={f0:.10g}  max|grad|={grad_max0:.3e}")

    def step(self, it, f, grad_max, step_size):
        self.curve.append(f)
        if self.verbose:
            print(
                f"[{self.name}] iter {it}: objective={f:.10g}  "
                f"max|grad|={grad_max:.3e}  step={step_size:.3g}"
            )


def _backtrack(objective, theta, f, g, direction, step):
    """Armijo backtracking from ``step``; returns (theta, f, g, raw, step) or None."""
    slope = float(torch.dot(g, direction))
    if not slope < 0:
        return None
    for _ in range(_MAX_HALVINGS):
        candidate = theta + step * direction
        f_new, g_new, raw = objective.value_gradient(candidate)
        f_new = float(f_new)
        # A NaN objective fails the comparison and shortens the step too.
        if f_new <= f + _ARMIJO * step * slope:
            return candidate, f_new, g_new, raw, step
        step *= 0.5
    return None


def _finish(theta, it, converged, progress, grad_max, reason):
    return OptimizeResult(
        theta=theta,
        n_iter=it,
        converged=converged,
        objective_curve=progress.curve,
        grad_max=grad_max,
        stop_reason=reason,
    )


def newton(objective, theta, *, tol, max_iter, verbose=0, name="newton"):
    """Damped Newton's method with Cholesky-solved steps.

    Each iteration solves ``H d = -g`` by a Cholesky factorisation of the
    exact Hessian and backtracks along ``d`` until the Armijo condition holds
    (the full step is accepted near the optimum, where convergence is
    quadratic). A Hessian that is not numerically positive definite gets a
    growing multiple of the identity added (Levenberg damping). For a softmax
    layer the Hessian is singular along the directions that do not change
    the probabilities; those are made positive definite by adding the
    projector onto them, which leaves the step in the identifiable subspace.
    """
    tol = effective_tol(tol, theta.dtype)
    f, g, raw = objective.value_gradient(theta)
    f = float(f)
    grad_max = float(g.abs().max())
    progress = _Progress(name, verbose, f, grad_max)
    null_projector = _null_projector(objective)
    it = 0
    while it < max_iter:
        it += 1
        H = objective.hessian(theta, raw)
        if null_projector is not None:
            H = H + null_projector * H.diagonal().mean()
        direction = _cholesky_step(H, g)
        accepted = _backtrack(objective, theta, f, g, direction, 1.0)
        if accepted is None:
            return _finish(
                theta, it, grad_max <= tol, progress, grad_max, _precision_reason(theta)
            )
        theta, f, g, raw, step = accepted
        grad_max = float(g.abs().max())
        progress.step(it, f, grad_max, step)
        if grad_max <= tol:
            return _finish(theta, it, True, progress, grad_max, "max|grad| <= tol")
    return _finish(theta, it, False, progress, grad_max, "max_iter reached")


def _null_projector(objective):
    mask = objective.null_mask()
    if mask is None:
        return None
    K, q = objective.n_outputs, objective.n_params_per_output
    ones = torch.full((K, K), 1.0 / K, dtype=mask.dtype, device=mask.device)
    return torch.kron(ones, torch.diag(mask)).reshape(K * q, K * q)


def _cholesky_step(H, g):
    """Solve ``H d = -g``, damping H until its Cholesky factorisation succeeds."""
    scale = float(H.diagonal().abs().max()) or 1.0
    damping = 0.0
    eye = None
    for _ in range(20):
        A = H if damping == 0.0 else H + damping * eye
        L, info = torch.linalg.cholesky_ex(A)
        if int(info) == 0:
            return torch.cholesky_solve(-g.unsqueeze(1), L).squeeze(1)
        if eye is None:
            eye = torch.eye(H.shape[0], dtype=H.dtype, device=H.device)
        damping = scale * torch.finfo(H.dtype).eps * 1e3 if damping == 0.0 else damping * 10
    return -g


def _precision_reason(theta):
    return (
        "the line search could not decrease the objective any further, "
        f"the limit of {str(theta.dtype).replace('torch.', '')} precision"
    )


def lbfgs(objective, theta, *, tol, max_iter, verbose=0, history=10, name="lbfgs"):
    """Limited-memory BFGS with a backtracking Armijo line search.

    The two-loop recursion builds the quasi-Newton direction from the last
    ``history`` steps; its initial scaling ``s.y / y.y`` makes the unit step
    the natural first try, so that most iterations cost one evaluation of
    value and gradient. Pairs with non-positive curvature are skipped, which
    keeps the direction a descent direction.
    """
    tol = effective_tol(tol, theta.dtype)
    f, g, _ = objective.value_gradient(theta)
    f = float(f)
    grad_max = float(g.abs().max())
    progress = _Progress(name, verbose, f, grad_max)
    s_hist, y_hist, rho_hist = [], [], []
    it = 0
    while it < max_iter:
        it += 1
        direction = _two_loop(g, s_hist, y_hist, rho_hist)
        first_step = 1.0 if s_hist else min(1.0, 1.0 / max(float(g.abs().sum()), 1e-12))
        accepted = _backtrack(objective, theta, f, g, direction, first_step)
        if accepted is None and s_hist:
            # The quasi-Newton model went stale: restart from steepest descent.
            s_hist.clear(), y_hist.clear(), rho_hist.clear()
            direction = -g
            first_step = min(1.0, 1.0 / max(float(g.abs().sum()), 1e-12))
            accepted = _backtrack(objective, theta, f, g, direction, first_step)
        if accepted is None:
            return _finish(
                theta, it, grad_max <= tol, progress, grad_max, _precision_reason(theta)
            )
        theta_new, f, g_new, _, step = accepted
        s = theta_new - theta
        y = g_new - g
        sy = float(torch.dot(s, y))
        if sy > torch.finfo(theta.dtype).eps * float(torch.dot(y, y)):
            if len(s_hist) == history:
                s_hist.pop(0), y_hist.pop(0), rho_hist.pop(0)
            s_hist.append(s)
            y_hist.append(y)
            rho_hist.append(1.0 / sy)
        theta, g = theta_new, g_new
        grad_max = float(g.abs().max())
        progress.step(it, f, grad_max, step)
        if grad_max <= tol:
            return _finish(theta, it, True, progress, grad_max, "max|grad| <= tol")
    return _finish(theta, it, False, progress, grad_max, "max_iter reached")


def _two_loop(g, s_hist, y_hist, rho_hist):
    """L-BFGS two-loop recursion: returns ``-H_k g``."""
    q = g.clone()
    alphas = []
    for s, y, rho in zip(reversed(s_hist), reversed(y_hist), reversed(rho_hist)):
        alpha = rho * float(torch.dot(s, q))
        alphas.append(alpha)
        q.add_(y, alpha=-alpha)
    if s_hist:
        s, y = s_hist[-1], y_hist[-1]
        q.mul_(float(torch.dot(s, y)) / float(torch.dot(y, y)))
    for s, y, rho, alpha in zip(s_hist, y_hist, rho_hist, reversed(alphas)):
        beta = rho * float(torch.dot(y, q))
        q.add_(s, alpha=alpha - beta)
    return q.neg_()


#: Full-batch optimizers by public name.
OPTIMIZERS = {"lbfgs": lbfgs, "newton": newton}
#: Optimizers that need the loss's Hessian.
SECOND_ORDER = frozenset({"newton"})
