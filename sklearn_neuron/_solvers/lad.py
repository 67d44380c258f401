"""Exact solver of the absolute-error objective (least absolute deviations).

The objective ``f(theta) = sum_i w_i |a_i theta - y_i| + l2/2 ||P theta||^2``
(``a_i`` the row of ``[X, 1]``, ``P`` the penalized coordinates) has its
minimum at a kink, where gradient methods stall. Its optimality condition is
linear once we know which samples the fit interpolates (``Z``, zero
residual) and the signs ``s_i`` of the others' residuals::

    l2 P theta + A_Z^T u = -A_N^T (w_N s_N),   A_Z theta = y_Z,

with ``|u_i| <= w_i`` on ``Z``. The solver guesses ``Z`` from Huber
smoothings of shrinking width ``delta`` (each solved by Newton with the
generalized Hessian): the samples inside the band ``|r| <= delta`` are
``Z``. It then solves the linear system and accepts the result when the
conditions above hold, which makes it the exact minimiser. Without penalty
the minimiser interpolates ``n_params`` samples, and a basis exchange
(Barrodale and Roberts' simplex specialised to LAD) started from the first
smoothing reaches it in a few steps of ``O(n_samples * n_params)``.

Without L2 term (``l2 = 0``, with or without the L1 term) the problem is a
linear program, and it is solved as one by HiGHS (scipy's ``linprog``), on
its dual::

    max_d  y^T d   s.t.  |d_i| <= w_i,  (A^T d)_j = 0 (unpenalized j),
                         |(A^T d)_j| <= l1 (penalized j),

an LP with ``n_params`` constraints rather than the primal's
``n_samples``; the coefficients are the multipliers of those constraints.
QuantileRegressor solves the primal, with a dense ``n x 2n`` identity
block: the dual is an order of magnitude faster (benchmarks/RESULTS.md,
least absolute deviations against QuantileRegressor). The basis exchange remains for the record (and
as a fallback should HiGHS fail), the smoothing for ``l2 > 0``.
"""

import copy

import numpy as np
import scipy.sparse
import torch
from scipy.optimize import linprog

from .._callbacks import log_verbose, stopped_by_callback
from .._loss.losses import HuberLoss
from .._objective.linear import LinearObjective
from .optimizers import OptimizeResult, effective_tol, newton, stopped_stage_result

#: Width of the first Huber band, relative to the weighted mean |residual|.
_FIRST_DELTA = 0.1
#: Factor by which the band shrinks between stages.
_SHRINK = 0.1
#: Stages of smoothing before giving up on an exact answer.
_MAX_STAGES = 10
#: Newton iterations per stage: the guess of Z needs no exact smooth optimum.
_STAGE_ITER = 30


def _kkt_solution(objective, theta, delta):
    """Solve the optimality system for the guess ``Z = {|r| <= delta}``.

    Returns the solution when it satisfies the optimality conditions, else
    None.
    """
    A = objective.design.dense()
    y = objective.target[:, 0]
    w = objective.weight
    residual = A @ theta - y
    in_z = (residual.abs() <= delta) & (w > 0)
    sign = torch.sign(residual) * (~in_z)
    A_z = A[in_z]
    q, m = A.shape[1], A_z.shape[0]
    if m == 0:
        return None
    system = torch.zeros((q + m, q + m), dtype=A.dtype, device=A.device)
    system[:q, :q] = torch.diag(objective.penalty.l2_columns)
    system[:q, q:] = A_z.T
    system[q:, :q] = A_z
    rhs = torch.cat([-(A.T @ (w * sign)), y[in_z]])
    # Minimum-norm solution with a rank cut: tied or repeated samples in Z
    # make the system singular, and the minimum norm splits their
    # multipliers evenly, which is what the check below needs.
    rcond = 1e3 * torch.finfo(A.dtype).eps
    solution = torch.linalg.lstsq(
        system.cpu(), rhs.cpu().unsqueeze(1), rcond=rcond, driver="gelsd"
    ).solution
    solution = solution.squeeze(1).to(A.device)
    scale = 1e3 * torch.finfo(A.dtype).eps
    if not torch.isfinite(solution).all():
        return None
    if (system @ solution - rhs).abs().max() > scale * max(1.0, float(rhs.abs().max())):
        return None
    theta_new, u = solution[:q], solution[q:]
    if (u.abs() > w[in_z] * (1 + scale) + scale).any():
        return None
    new_residual = A @ theta_new - y
    y_scale = max(1.0, float(y.abs().max()))
    if (sign * new_residual < -scale * y_scale).any():
        return None
    return theta_new


def _simplex(objective, theta, max_iter):
    """Exact unpenalized LAD by basis exchange (Barrodale and Roberts, 1973).

    Starts from the ``n_params`` samples of smallest residual at ``theta`` and
    interpolates them; each step frees the basis sample whose multiplier
    breaks ``|u_k| <= w_k`` and moves along the descent edge to the
    minimising breakpoint of the piecewise-linear objective, whose sample
    enters the basis. Returns ``(theta, n_steps, verified)``.
    """
    A = objective.design.dense()
    y = objective.target[:, 0]
    w = objective.weight
    q = A.shape[1]
    distance = torch.where(w > 0, (A @ theta - y).abs(), torch.inf)
    if int((w > 0).sum()) < q:
        return theta, 0, False
    basis = torch.topk(distance, q, largest=False).indices
    try:
        theta = torch.linalg.solve(A[basis], y[basis])
    except RuntimeError:  # singular: collinear features or tied samples
        return theta, 0, False
    slack = 1e3 * torch.finfo(A.dtype).eps
    for step in range(max_iter):
        residual = A @ theta - y
        sign = torch.sign(residual)
        sign[basis] = 0.0
        A_basis = A[basis]
        u = torch.linalg.solve(A_basis.T, -(A.T @ (w * sign)))
        violation = u.abs() - w[basis] * (1 + slack)
        k = int(torch.argmax(violation))
        if float(violation[k]) <= slack * float(w.max()):
            return theta, step, True
        e_k = torch.zeros(q, dtype=A.dtype, device=A.device)
        e_k[k] = torch.sign(u[k])
        d = torch.linalg.solve(A_basis, e_k)
        c = A @ d
        t = -residual / c
        candidate = (c != 0) & (t > 0) & (w > 0)
        candidate[basis] = False
        index = torch.nonzero(candidate).squeeze(1)
        if index.numel() == 0:
            return theta, step, False
        order = index[torch.argsort(t[index])]
        slope = float(w[basis[k]] - u[k].abs()) + torch.cumsum(
            2 * w[order] * c[order].abs(), dim=0
        )
        position = int(torch.searchsorted(slope, torch.zeros(1, dtype=A.dtype)))
        entering = order[min(position, order.numel() - 1)]
        theta = theta + t[entering] * d
        basis[k] = entering
    return theta, max_iter, False


def _design_matrix(objective):
    """``[X, 1]`` (X without intercept) in float64, scipy sparse when X is."""
    if objective.is_sparse:
        A = objective.design.scipy_rows().astype(np.float64)
        if objective.fit_intercept:
            ones = np.ones((A.shape[0], 1))
            A = scipy.sparse.hstack([A, ones], format="csr")
        return A
    return objective.design.dense().detach().cpu().double().numpy()


def _linear_program(objective, theta, *, verbose=0, name="lad"):
    """Exact LAD without L2 term by HiGHS on the dual LP (see module).

    The weights are rescaled to mean 1 (the objective is a weighted mean,
    so single weights of ``1 / n`` would sit near HiGHS' absolute
    feasibility tolerance of 1e-7); the L1 strength is rescaled with them,
    which leaves the minimiser unchanged. Returns None when HiGHS does not
    report an optimum.
    """
    A = _design_matrix(objective)
    y = objective.target[:, 0].detach().cpu().double().numpy()
    w = objective.weight.detach().cpu().double().numpy()
    scale = w.size / w.sum()
    w = w * scale
    A_T = A.T.tocsr() if scipy.sparse.issparse(A) else np.ascontiguousarray(A.T)
    q = A_T.shape[0]
    penalized = np.ones(q, dtype=bool)
    if objective.fit_intercept:
        penalized[-1] = False
    l1 = objective.l1 * scale
    if l1 and penalized.any():
        A_P = A_T[penalized]
        stack = scipy.sparse.vstack if scipy.sparse.issparse(A_T) else np.vstack
        A_ub, b_ub = stack([A_P, -A_P]), np.full(2 * int(penalized.sum()), l1)
        A_eq = A_T[~penalized] if (~penalized).any() else None
    else:
        A_ub, b_ub, A_eq = None, None, A_T
    b_eq = None if A_eq is None else np.zeros(A_eq.shape[0])
    result = linprog(
        -y, A_ub=A_ub, b_ub=b_ub, A_eq=A_eq, b_eq=b_eq, bounds=np.c_[-w, w],
        method="highs", options={"disp": bool(verbose)},
    )
    if result.status != 0:
        return None
    # HiGHS' multipliers are d(objective)/d(rhs) of the minimisation of -y^T d:
    # minus the primal coefficients.
    solution = np.empty(q)
    if l1 and penalized.any():
        upper, lower = np.split(result.ineqlin.marginals, 2)
        solution[penalized] = lower - upper
        if (~penalized).any():
            solution[~penalized] = -result.eqlin.marginals
    else:
        solution[:] = -result.eqlin.marginals
    theta = torch.as_tensor(solution, dtype=theta.dtype, device=theta.device)
    if verbose:
        log_verbose(f"{name}: HiGHS dual simplex, {result.nit} iterations, {result.message}")
    return theta, int(result.nit)


def least_absolute_deviations(
    objective, theta, *, tol, max_iter, verbose=0, name="lad", monitor=None
):
    """Minimise an absolute-error :class:`LinearObjective` exactly (see module).

    Without L2 term the problem is a linear program, solved to optimality by
    HiGHS (``n_iter`` counts its simplex iterations; ``max_iter`` does not
    bound them). With an L2 term, ``max_iter`` bounds the Newton iterations
    over all stages of the smoothing; converged means the optimality
    conditions were verified, otherwise the best point found is returned.

    Raises
    ------
    ValueError
        With both an L1 and an L2 term (elastic net), which neither route
        solves exactly.
    """
    tol = effective_tol(tol, theta.dtype)
    if objective.offset is not None:
        # |x_i theta + o_i - y_i| = |x_i theta - (y_i - o_i)|: the offset moves into y.
        objective = copy.copy(objective)
        objective.target, objective.offset = objective.target - objective.offset, None
    if objective.l1 and objective.l2:
        raise ValueError(
            "loss='absolute_error' is solved exactly with an L2 penalty "
            "(l1_ratio=0) or an L1 penalty (l1_ratio=1), not with both "
            f"(elastic net, l1_ratio strictly between 0 and 1); got l1={objective.l1:g} "
            f"and l2={objective.l2:g}. Use l1_ratio=0 or l1_ratio=1."
        )
    if objective.l2 == 0:
        f0 = objective.full_value(theta)
        solved = _linear_program(objective, theta, verbose=verbose, name=name)
        if solved is not None:
            theta, n_iter = solved
            return OptimizeResult(
                theta=theta, n_iter=max(n_iter, 1), converged=True,
                objective_curve=[f0, objective.full_value(theta)], grad_max=0.0,
                stop_reason="linear program solved to optimality (HiGHS)",
            )
    f0 = float(objective.value(theta))
    curve = [f0]
    best_theta, best_f = theta, f0
    residual = objective.raw(theta)[:, 0] - objective.target[:, 0]
    delta = _FIRST_DELTA * max(float(objective.weight @ residual.abs()), 1e-12)
    n_iter = 0
    for _ in range(_MAX_STAGES):
        smooth = LinearObjective(
            objective.X, objective.target, objective.weight, HuberLoss(delta),
            objective.l2 * delta, objective.fit_intercept,
        )
        result = newton(
            smooth, theta, tol=tol * delta,
            max_iter=max(min(max_iter - n_iter, _STAGE_ITER), 1),
            verbose=verbose, name=f"{name}/huber(delta={delta:.3g})", monitor=monitor,
        )
        n_iter += result.n_iter
        theta = result.theta
        if stopped_by_callback(result.stop_reason):
            return stopped_stage_result(objective, theta, n_iter, curve, result)
        guesses = [_kkt_solution(objective, theta, delta)]
        if objective.l2 == 0 and guesses[0] is None:
            budget = max(max_iter - n_iter, 1)
            exact, steps, verified = _simplex(objective, theta, budget)
            n_iter += steps
            guesses.append(exact if verified else None)
        for candidate in (*guesses, theta):
            if candidate is None:
                continue
            f, grad, _ = objective.value_gradient(candidate)
            f = float(f)
            if f <= best_f:
                best_theta, best_f = candidate, f
            # The system's solution is verified; any point whose gradient
            # (sign(0) = 0, a subgradient) vanishes is a minimum too.
            if candidate is not theta or float(grad.abs().max()) <= tol:
                curve.append(f)
                return OptimizeResult(
                    theta=candidate, n_iter=max(n_iter, 1), converged=True,
                    objective_curve=curve, grad_max=0.0,
                    stop_reason="optimality conditions verified",
                )
        curve.append(best_f)
        if n_iter >= max_iter:
            break
        delta *= _SHRINK
    _, grad, _ = objective.value_gradient(best_theta)
    return OptimizeResult(
        theta=best_theta, n_iter=max(n_iter, 1), converged=False, objective_curve=curve,
        grad_max=float(grad.abs().max()),
        stop_reason="the optimality conditions of the absolute error could not be "
        "verified (degenerate data, or max_iter reached)",
    )
