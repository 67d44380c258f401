"""``optimizer="auto"``'s L-BFGS-then-Newton: conditioning measured, not guessed.

The cost model (:mod:`.cost`) predicts Newton's time well from the sizes
alone: its iterations hardly depend on the data. L-BFGS's do: a dozen
iterations on well-conditioned data, hundreds on ill-conditioned data, and
the sizes do not tell which. Where Newton is predicted fastest but L-BFGS
would win on well-conditioned data (:func:`~.cost.tries_lbfgs_first`),
``"auto"`` runs L-BFGS and watches its rate: it goes on while the rate
predicts that it finishes before Newton would, and otherwise hands its
iterate to Newton (:class:`~.cost.SwitchRule`). The attempt is not lost: Newton
starts closer to the optimum and needs fewer iterations than from the start.
Both end with a Newton step, so the answers are equally close to the optimum.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import torch

from .cost import Problem, SwitchRule
from .optimizers import SWITCHED, OptimizeResult, effective_tol, lbfgs, newton

#: After L-BFGS on a float32 copy, Newton's first step takes the copy's
#: Hessian where Newton is predicted to need at most this many exact
#: iterations from the hand-over (:meth:`~.cost.SwitchRule.newton_iterations`):
#: its chord steps then end before float32's rounding of the Hessian shows.
#: On 200,000 x 100 (2 predicted) and 50,000 x 100 (3) they did, and the fit
#: took 0.82 and 0.81 of the float64 fit's time; on 200,000 x 20 with 3
#: classes (5 predicted) six chord steps ran on, the last contracting 8-fold
#: where 50-fold was due, and an exact final step followed (1.03: the float32
#: Hessian spent for nothing). ``benchmarks/RESULTS.md``, "float64 data, a
#: float32 first stage".
FLOAT32_HESSIAN_ITERATIONS = 3.0


def lbfgs_then_newton(
    objective: Any, theta: torch.Tensor, *, tol: float, max_iter: int, problem: Problem,
    verbose: int = 0, name: str = "auto", monitor: Any = None, newton_objective: Any = None,
) -> tuple[str, OptimizeResult]:
    """Minimise ``objective`` by L-BFGS, handing over to Newton where its rate says so.

    Parameters
    ----------
    objective : Objective
        A twice-differentiable objective without an L1 term, in memory.
    theta : torch.Tensor
        Starting point.
    tol : float
        The stopping rule's ``max|gradient| <= tol``.
    max_iter : int
        Iterations of both stages together.
    problem : Problem
        The sizes the switching rule prices the two optimizers with.
    verbose : int, default=0
    name : str, default="auto"
        Base of the stages' log names (``"<name>/lbfgs"``, ``"<name>/newton"``;
        ``"<name>/lbfgs/float32"`` on a float32 copy).
    monitor : Monitor, optional
    newton_objective : Objective, optional
        The objective of the Newton stage where it is not ``objective``: the
        float64 data of a fit whose L-BFGS stage ran on a float32 copy
        (:func:`~sklearn_neuron._solvers.dispatch.float32_stage`). Newton's
        chord steps serve in float64, not in float32, so its steps are
        float64's: the L-BFGS iterate is handed over in float64, with the
        copy's Hessian there for its first step.

    Returns
    -------
    optimizer : str
        ``"lbfgs"`` where L-BFGS met the stopping rule (or stopped for any
        reason other than the hand-over), else ``"newton"``.
    result : OptimizeResult
        The iterations, curve and stop reason of both stages together.
    """
    wide = objective if newton_objective is None else newton_objective
    newton_problem = None
    if wide is not objective:  # Newton on the float64 data
        newton_problem = replace(problem, itemsize=torch.finfo(wide.dtype).bits // 8)
    rule = SwitchRule(problem, effective_tol(tol, wide.dtype), newton_problem=newton_problem)
    # (On a float32 copy, the stage's log name says so.)
    stage = f"{name}/lbfgs" if wide is objective else f"{name}/lbfgs/float32"
    first = lbfgs(
        objective, theta, tol=tol, max_iter=max_iter, verbose=verbose,
        name=stage, monitor=monitor, switch=rule,
    )
    if first.stop_reason != SWITCHED:
        return "lbfgs", first
    # After L-BFGS on a float32 copy, near the optimum, Newton's first step
    # takes the copy's Hessian (the cheaper Gram sum, as good as the exact one
    # for a step from there): a chord step, which its measured contraction
    # lets the next steps reuse. Further out the chord steps run on past
    # where float32's rounding of that Hessian shows, and the exact one is
    # computed instead.
    hessian = None
    near = rule.newton_iterations(first.grad_max) <= FLOAT32_HESSIAN_ITERATIONS
    if wide is not objective and near:
        hessian = objective.hessian(first.theta).to(wide.dtype)
    second = newton(
        wide, first.theta.to(wide.dtype), tol=tol, max_iter=max_iter - first.n_iter,
        verbose=verbose, name=f"{name}/newton", monitor=monitor,
        start=first.handed_over if wide is objective else None,
        hessian_passes=rule.hessian_passes, hessian=hessian,
    )
    return "newton", first.followed_by(
        second, stop_reason=f"{second.stop_reason} (after {first.n_iter} L-BFGS iterations)"
    )
