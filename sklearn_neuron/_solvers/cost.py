"""``optimizer="auto"``'s cost model: the predicted time of each full-batch optimizer.

A fit's time is predicted as passes over the data times the cost of a pass,
for the three exact optimizers of a smooth objective in memory:

- ``"newton"``: ``NEWTON_ITERATIONS`` iterations, each a value-and-gradient
  pass, the Hessian (the Gram sum, ``gram_work`` multiply-adds: ``n (qK)^2``
  dense at ``GRAM_RATE`` plus ``HESSIAN_ENTRY_SECONDS`` per entry of X and
  output, ``sum_i nnz_i^2 K(K+1)/2`` sparse at ``SPARSE_GRAM_RATE`` plus
  ``SPARSE_ENTRY_SECONDS`` per entry of the result) and its
  Cholesky factor (``(qK)^3 / 3`` at ``CHOLESKY_RATE``);
- ``"newton-cg"``: ``NEWTON_CG_ITERATIONS`` outer iterations, each a
  value-and-gradient pass and the Hessian diagonal, and
  ``newton_cg_products`` Hessian-vector products in all, each two products
  with X like a gradient pass;
- ``"lbfgs"``: ``lbfgs_iterations`` value-and-gradient passes.

A pass over dense X costs ``2 n q K`` multiply-adds at ``GEMV_RATE`` (one
output: bandwidth-bound) or ``GEMM_RATE`` (several), over sparse X ``2 nnz K``
at ``SPARSE_RATE``; each also costs ``ELEMENT_SECONDS`` per row and output
(the loss and its derivatives) and ``PASS_SECONDS`` of fixed overhead.
The iteration counts grow with the classes and with the digits of ``tol``
asked for (``digits = log10(1 / tol)``): L-BFGS's linearly, Newton-CG's
products more slowly, Newton's barely (its convergence is quadratic). The
methods are compared at equal accuracy: Newton's and Newton-CG's last step
squares the distance to the optimum that ``max|grad| <= tol`` leaves, so
L-BFGS is costed at the digits of ``tol**2`` (:attr:`Problem.lbfgs_digits`).

The rates and overheads were measured on the reference machine by
``benchmarks/calibrate_auto.py`` (``benchmarks/RESULTS.md``, "The cost model
behind optimizer='auto'"); the iteration counts are set from the fits that
script runs. :func:`choose` returns the optimizer of least predicted time
among those whose memory estimate (:mod:`.memory`) is within the budget.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from functools import cached_property

import numpy as np

from .memory import lbfgs_peak_bytes, newton_cg_peak_bytes, newton_peak_bytes
from .optimizers import (
    CHORD_RATE_FACTOR,
    FINAL_STEP_MAX_PARAMS,
    FINAL_STEP_WORK_RATIO,
    RESOLUTION_EPS,
    chord_steps,
)

#: Multiply-adds per second by itemsize (8: float64, 4: float32), each
#: measured by ``benchmarks/calibrate_auto.py`` at one thread on the reference
#: machine (benchmarks/RESULTS.md, "The cost model behind optimizer='auto'"):
#: only their ratios decide, and at one thread they hold on a busy machine.
#: ``X @ w`` and ``X^T r`` of one output (reads X: bandwidth-bound).
GEMV_RATE = {8: 1.8e9, 4: 4.0e9}
#: ``X @ W^T`` and ``X^T G`` of several outputs.
GEMM_RATE = {8: 2.3e10, 4: 7.0e10}
#: The Hessian's Gram sum (``gram_work`` per second), and the seconds of its
#: pass per entry of dense X and output (the chunk's raw outputs, weights and
#: scaled rows): on 200,000 x 100 float64 that share is three quarters of the
#: Hessian's time. ``calibrate_auto.py`` solves the two from the Hessians of
#: 50,000 x 200 and 50,000 x 25 (float64: 8.1e10 and 3.8e-9 per entry); a
#: least-squares fit over seven shapes from 20,000 x 80 to 200,000 x 100 gave
#: 9.4e10 and 4.5e-9. The float64 entry cost is their mean.
GRAM_RATE = {8: 8.1e10, 4: 1.8e11}
HESSIAN_ENTRY_SECONDS = {8: 4.1e-9, 4: 1.8e-9}
#: The Cholesky factorisation of the Hessian (``n^3 / 3`` per second).
CHOLESKY_RATE = {8: 5.2e10, 4: 1.1e11}
#: A sparse X's products (stored entries times outputs per second).
SPARSE_RATE = {8: 1.2e9, 4: 1.9e9}
#: A sparse X's Hessian: ``gram_work`` (``sum_i nnz_i^2`` a pair of blocks)
#: per second, measured on 2,000 x 30 at 1/3 non-zeros; and seconds per entry
#: of the (qK)^2 result (scipy's sparse product made dense), from 100,000 x
#: 5,000 at 0.5% (benchmarks/RESULTS.md, the cost model's entry).
SPARSE_GRAM_RATE = {8: 3.3e8, 4: 3.3e8}
SPARSE_ENTRY_SECONDS = 3.3e-8
#: Seconds per row and output of a pass's pointwise work (loss, derivatives).
ELEMENT_SECONDS = {8: 6.4e-9, 4: 2.0e-9}
#: Fixed seconds of a value-and-gradient pass (torch and Python per call).
PASS_SECONDS = 3.0e-5
#: Fixed seconds of a Newton iteration beyond its pass (the Hessian's
#: assembly, the Cholesky call, the line search).
NEWTON_SECONDS = 8.0e-5
#: Fixed seconds of an L-BFGS iteration beyond its pass (the quasi-Newton
#: direction from the stored pairs, in float64 numpy).
LBFGS_SECONDS = 1.5e-4

#: Newton's iterations at the default tol (final step included), and per
#: further digit of tol (the fits of ``calibrate_auto.py``: 5 to 8, and 8
#: to 10 at tol=1e-10).
NEWTON_ITERATIONS = 7.0
NEWTON_PER_DIGIT = 0.4
#: Newton-CG's outer iterations at the default tol, and per further digit
#: (5 to 12; 9 to 16 at tol=1e-10).
NEWTON_CG_ITERATIONS = 8.0
NEWTON_CG_PER_DIGIT = 0.6
#: Newton-CG's Hessian-vector products in all at the default tol for one
#: output, the growth per doubling of the outputs, and per further digit
#: (25 to 46 for one output, 129 for digits' 10 classes; x1.6 to x2.7 at 1e-10).
NEWTON_CG_PRODUCTS = 35.0
NEWTON_CG_PER_DOUBLING = 0.5
NEWTON_CG_PRODUCTS_PER_DIGIT = 0.22
#: L-BFGS's iterations at the default tol for one output, the growth per
#: doubling of the outputs, and per further digit of tol. Its linear
#: convergence depends on the conditioning, which the sizes do not tell: the
#: calibration's well-conditioned fits take 11 to 21 for one output (34 for
#: digits; x2.2 to x5.8 at 1e-10), the ill-conditioned ones of
#: ``tests/test_float32_answers.py`` 190 to 390. 40 leans to the robust side:
#: Newton's iterations hardly depend on the conditioning.
LBFGS_ITERATIONS = 40.0
LBFGS_PER_DOUBLING = 0.3
LBFGS_PER_DIGIT = 0.4
#: The digits of the default tol (1e-4), from which the counts grow.
DEFAULT_DIGITS = 4.0
#: The most digits any optimizer reaches in float64 (the objective's rounding).
MAX_DIGITS = 14.0

#: In float32 the Hessian-free methods stop short where Newton's
#: Cholesky-solved last step does not: Newton-CG's products carry float32
#: rounding, L-BFGS's iterations on ill-conditioned data exceed ``max_iter``
#: (at the default tol, relative objective gaps of 2e-6 and 4e-3 against
#: Newton's 9e-10 on ``tests/test_float32_answers.py``'s sparse data). So in
#: float32 Newton is chosen while predicted at most this many times slower
#: than the fastest.
FLOAT32_NEWTON_MARGIN = 10.0

#: Newton is chosen wherever it is predicted to take at most this long: its
#: Cholesky-solved last step lands closest to the optimum at any tol (the
#: Hessian-free methods' answers at the default tol differ from it by more
#: than scikit-learn's sample-weight equivalence check allows, 1e-7).
NEWTON_ANYWAY_SECONDS = 0.01

#: Where Newton is predicted fastest, ``"auto"`` first tries L-BFGS (:mod:`.hybrid`)
#: if L-BFGS on well-conditioned data, this many iterations at the default tol
#: (the calibration's well-conditioned fits: 11 to 21), would be faster.
#: The iterations then tell how conditioned the data are, which the sizes do
#: not: L-BFGS goes on while its measured rate predicts that it finishes before
#: Newton would, and hands over to Newton otherwise.
LBFGS_WELL_CONDITIONED_ITERATIONS = 12.0
#: Their growth per further digit of tol (the low end of the calibration's
#: x2.2 to x5.8 at 1e-10: six digits more).
LBFGS_WELL_CONDITIONED_PER_DIGIT = 0.2
#: Newton's iterations, final step included, from the point where L-BFGS hands
#: over (3 to 5 after the hand-overs of ``benchmarks/bench_auto_switch.py``,
#: benchmarks/RESULTS.md, "auto: L-BFGS first, Newton where the data call for it").
NEWTON_FINISH_ITERATIONS = 4.0
#: Newton's convergence is counted as quadratic once the largest gradient
#: entry is below this share of the first L-BFGS iteration's, each step
#: squaring its ratio to that level: conservative against the fits of
#: ``benchmarks/bench_auto_switch.py`` (Newton's steps from an L-BFGS iterate
#: at 1e-4 of the start's gradient reached 2e-8 of it; Newton's own last
#: steps squared their ratio to 1/40 of the start's).
QUADRATIC_SCALE = 0.1
#: The gradient Newton's chord steps are priced to (:meth:`SwitchRule.newton_stage_seconds`):
#: the float64 rounding of an objective of at most 1.
CHORD_BAR = RESOLUTION_EPS * float(np.finfo(np.float64).eps)
#: L-BFGS iterations before its rate is trusted (the first is a steepest-descent step).
SWITCH_MIN_ITERATIONS = 3
#: The share of Newton's predicted time that L-BFGS may spend before handing
#: over whatever its rate predicts: bounds what the attempt costs on
#: ill-conditioned data (the fit then takes at most ``1 + SWITCH_BUDGET_SHARE``
#: times Newton's prediction, less the iterations Newton saves from the better start).
SWITCH_BUDGET_SHARE = 0.5

#: Where Newton starts as L-BFGS, it is chosen where that way is predicted
#: fastest (at its well-conditioned cost, :func:`lbfgs_first_seconds`) and
#: Newton outright within this factor of the fastest. On ill-conditioned
#: data the switching rule hands over to Newton, and the fit takes up to
#: ``1 + SWITCH_BUDGET_SHARE`` times Newton's time: at most 2.25 times the
#: fastest's prediction, where L-BFGS's iterations then run to hundreds and
#: Newton-CG's products multiply. On 200,000 x 20 with 3 classes (Newton 1.1
#: to 1.4 times the fastest's prediction) L-BFGS-then-Newton took 0.34 s at
#: ``tol=1e-6`` where Newton-CG took 1.3 s, and 0.45 s at the default tol
#: where L-BFGS took 0.53 s, 6e-13 from the optimum against its 4e-8.
LBFGS_FIRST_NEWTON_MARGIN = 1.5

#: The optimizers the model ranks, in the order ties are broken.
METHODS = ("newton", "newton-cg", "lbfgs")


@dataclass(frozen=True)
class Problem:
    """The sizes that decide an optimizer's time and memory.

    Parameters
    ----------
    n_samples : int
    n_params_per_output : int
        ``q``: features plus the intercept.
    n_outputs : int
        ``K``: output units (classes of a softmax; 1 for a binary fit).
    itemsize : int, default=8
        Bytes of the working dtype (4: float32).
    nnz : float, optional
        Stored entries of a sparse X; None for dense X.
    gram_work : float, optional
        Multiply-adds of one Hessian (the objective's ``gram_work`` where
        one is at hand); by default ``n (qK)^2`` dense, and sparse as if
        every row held the same number of non-zeros.
    tol : float, default=1e-4
        The stopping rule's tolerance.
    curvature_rows : int, optional
        Rows whose pointwise Hessians Newton holds at once (all by default).
    """

    n_samples: int
    n_params_per_output: int
    n_outputs: int = 1
    itemsize: int = 8
    nnz: float | None = None
    gram_work: float | None = None
    tol: float = 1e-4
    curvature_rows: int | None = None

    @property
    def n_params(self) -> int:
        """``q K``: the parameters."""
        return self.n_params_per_output * self.n_outputs

    @property
    def digits(self) -> float:
        """Digits of ``tol`` beyond the default's (0 at 1e-4 or looser)."""
        return max(0.0, min(-math.log10(self.tol), MAX_DIGITS) - DEFAULT_DIGITS)

    @property
    def lbfgs_digits(self) -> float:
        """The digits L-BFGS must reach to be as close to the optimum as Newton's
        methods at ``tol``: their last step squares the distance the stopping
        rule leaves (twice the digits of ``tol``, at most ``MAX_DIGITS``), L-BFGS
        converges linearly."""
        return max(0.0, min(-2.0 * math.log10(self.tol), MAX_DIGITS) - DEFAULT_DIGITS)

    @property
    def doublings(self) -> float:
        """``log2(K)``: how many times the outputs double from one."""
        return math.log2(self.n_outputs)


def pass_seconds(problem: Problem) -> float:
    """Predicted seconds of one value-and-gradient pass (or Hessian-vector product)."""
    n, K, size = problem.n_samples, problem.n_outputs, problem.itemsize
    if problem.nnz is not None:
        products = 2.0 * (problem.nnz + n) * K / SPARSE_RATE[size]
    else:
        rate = GEMV_RATE[size] if K == 1 else GEMM_RATE[size]
        products = 2.0 * n * problem.n_params / rate
    return products + n * K * ELEMENT_SECONDS[size] + PASS_SECONDS


def lbfgs_iteration_seconds(problem: Problem) -> float:
    """Predicted seconds of one L-BFGS iteration (a pass and the direction)."""
    return pass_seconds(problem) + LBFGS_SECONDS


def newton_iteration_seconds(problem: Problem) -> float:
    """Predicted seconds of one Newton iteration (pass, Hessian, Cholesky step)."""
    size, P = problem.itemsize, float(problem.n_params)
    gram = problem.gram_work
    if gram is None and problem.nnz is not None:  # rows of equal counts of non-zeros
        K = problem.n_outputs
        gram = (problem.nnz + problem.n_samples) ** 2 / problem.n_samples * K * (K + 1) / 2
    elif gram is None:
        gram = float(problem.n_samples) * P * P
    if problem.nnz is None:
        gram_seconds = gram / GRAM_RATE[size] + problem.n_samples * P * HESSIAN_ENTRY_SECONDS[size]
    else:
        gram_seconds = gram / SPARSE_GRAM_RATE[size] + P * P * SPARSE_ENTRY_SECONDS
    iteration = (
        pass_seconds(problem)
        + gram_seconds
        + problem.n_samples * problem.n_outputs**2 * ELEMENT_SECONDS[size]
        + P**3 / 3.0 / CHOLESKY_RATE[size]
        + NEWTON_SECONDS
    )
    return iteration


def hessian_passes(problem: Problem) -> float:
    """A Newton iteration's cost beyond an L-BFGS iteration's, in L-BFGS
    iterations: what one Hessian costs in value-and-gradient passes (what
    Newton's chord steps are priced against, :func:`~.optimizers.chord_steps`);
    0 where the fixed costs make an L-BFGS iteration the dearer (small data)."""
    return max(0.0, newton_iteration_seconds(problem) / lbfgs_iteration_seconds(problem) - 1.0)


def newton_seconds(problem: Problem) -> float:
    """Predicted seconds of a Newton fit (dense Hessian, Cholesky steps)."""
    iterations = NEWTON_ITERATIONS + NEWTON_PER_DIGIT * problem.digits
    return iterations * newton_iteration_seconds(problem)


def newton_cg_products(problem: Problem) -> float:
    """Hessian-vector products a Newton-CG fit is predicted to spend in all."""
    return (
        NEWTON_CG_PRODUCTS
        * (1.0 + NEWTON_CG_PER_DOUBLING * problem.doublings)
        * (1.0 + NEWTON_CG_PRODUCTS_PER_DIGIT * problem.digits)
    )


def newton_cg_seconds(problem: Problem) -> float:
    """Predicted seconds of a Newton-CG fit: passes and products, no Hessian."""
    outer = NEWTON_CG_ITERATIONS + NEWTON_CG_PER_DIGIT * problem.digits
    # Each outer iteration: the gradient pass and the diagonal's pass.
    return (2.0 * outer + newton_cg_products(problem)) * pass_seconds(problem)


def lbfgs_iterations(
    problem: Problem, digits: float | None = None, *,
    iterations: float = LBFGS_ITERATIONS, per_digit: float = LBFGS_PER_DIGIT,
) -> float:
    """Value-and-gradient passes an L-BFGS fit is predicted to spend to reach
    ``digits`` beyond the default's (by default :attr:`Problem.lbfgs_digits`):
    ``iterations`` at the default tol for one output (by default the robust
    count; :func:`tries_lbfgs_first` passes the well-conditioned one), grown
    with the outputs and by ``per_digit`` per further digit."""
    digits = problem.lbfgs_digits if digits is None else digits
    return (
        iterations
        * (1.0 + LBFGS_PER_DOUBLING * problem.doublings)
        * (1.0 + per_digit * digits)
    )


def lbfgs_takes_final_step(problem: Problem) -> bool:
    """Whether L-BFGS ends with a Newton step (as the optimizer does: at most
    ``FINAL_STEP_MAX_PARAMS`` parameters and ``FINAL_STEP_WORK_RATIO`` times
    its evaluations); that step squares its distance to the optimum too."""
    iterations = lbfgs_iterations(problem, problem.digits)
    return problem.n_params <= min(FINAL_STEP_MAX_PARAMS, FINAL_STEP_WORK_RATIO * iterations)


def lbfgs_seconds(problem: Problem) -> float:
    """Predicted seconds of an L-BFGS fit as close to the optimum as Newton's:
    to ``tol`` and its final Newton step where it takes one, else to the
    digits of ``tol**2``."""
    per_iteration = lbfgs_iteration_seconds(problem)
    if lbfgs_takes_final_step(problem):
        return (lbfgs_iterations(problem, problem.digits) * per_iteration
                + newton_iteration_seconds(problem))
    return lbfgs_iterations(problem) * per_iteration


def predicted_seconds(method: str, problem: Problem) -> float:
    """Predicted seconds of ``method`` (one of :data:`METHODS`) on ``problem``."""
    return {"newton": newton_seconds, "newton-cg": newton_cg_seconds,
            "lbfgs": lbfgs_seconds}[method](problem)


def peak_bytes(method: str, problem: Problem) -> float:
    """Memory estimate of ``method`` on ``problem`` beyond the data (:mod:`.memory`)."""
    n, q, K, size = (
        problem.n_samples, problem.n_params_per_output, problem.n_outputs, problem.itemsize
    )
    if method == "newton":
        return newton_peak_bytes(n, q, K, size, curvature_rows=problem.curvature_rows)
    if method == "newton-cg":
        return newton_cg_peak_bytes(n, q, K, size)
    return lbfgs_peak_bytes(n, q, K, size)


def choose(
    problem: Problem, budget: float = math.inf, candidates: tuple[str, ...] = METHODS,
    *, lbfgs_first: bool = False,
) -> str:
    """The optimizer among ``candidates`` of least predicted time within ``budget``.

    Parameters
    ----------
    problem : Problem
    budget : float, default=inf
        Bytes the optimizer's temporaries may take
        (:func:`~sklearn_neuron._solvers.memory.memory_budget`).
    candidates : tuple of str, default=METHODS
        The optimizers that can minimise the objective.
    lbfgs_first : bool, default=False
        Whether Newton, if chosen, starts as L-BFGS where
        :func:`tries_lbfgs_first` says so (``"auto"``'s fits in memory of a
        twice-differentiable loss, :mod:`.hybrid`). Newton is then also
        chosen where L-BFGS-then-Newton is predicted fastest
        (:func:`lbfgs_first_seconds`) and Newton outright within
        ``LBFGS_FIRST_NEWTON_MARGIN`` of the fastest.

    Returns
    -------
    str
        The fastest candidate that fits; ``"lbfgs"`` where none does (its
        memory is the least: a few gradients and n-by-K outputs). Newton
        wherever it fits and is predicted to take at most
        ``NEWTON_ANYWAY_SECONDS``, or, in float32, at most
        ``FLOAT32_NEWTON_MARGIN`` times the fastest's time; with
        ``lbfgs_first``, also where it starts as L-BFGS and is fastest so.
    """
    fitting = [m for m in candidates if peak_bytes(m, problem) <= budget]
    if not fitting:
        return "lbfgs"
    fastest = min(fitting, key=lambda m: predicted_seconds(m, problem))
    if "newton" not in fitting:
        return fastest
    newton = predicted_seconds("newton", problem)
    best = predicted_seconds(fastest, problem)
    margin = FLOAT32_NEWTON_MARGIN if problem.itemsize == 4 else 1.0
    if newton <= NEWTON_ANYWAY_SECONDS or newton <= margin * best:
        return "newton"
    if (
        lbfgs_first and newton <= LBFGS_FIRST_NEWTON_MARGIN * best
        and tries_lbfgs_first(problem) and lbfgs_first_seconds(problem) < best
    ):
        return "newton"
    return fastest


def tries_lbfgs_first(problem: Problem) -> bool:
    """Whether ``"auto"``, having chosen Newton, first tries L-BFGS (:mod:`.hybrid`).

    So where Newton takes longer than ``NEWTON_ANYWAY_SECONDS`` and L-BFGS on
    well-conditioned data is predicted faster than Newton, by the cheaper of
    two ways to ``tol``: L-BFGS all the way
    (``LBFGS_WELL_CONDITIONED_ITERATIONS``, grown per further digit, then the
    final Newton step it takes), or L-BFGS to the default tol and Newton's
    quadratic steps from there (:func:`quadratic_finish_iterations`, then
    the final step), which is how :class:`SwitchRule` finishes a tight tol.
    In float32 too: what makes Newton the float32 choice
    (``FLOAT32_NEWTON_MARGIN``) is L-BFGS running out of iterations on
    ill-conditioned data, which is where the switching rule hands over to
    Newton.
    """
    newton = newton_seconds(problem)
    return newton > NEWTON_ANYWAY_SECONDS and lbfgs_first_seconds(problem) < newton


def lbfgs_first_seconds(problem: Problem) -> float:
    """Predicted seconds of Newton started as L-BFGS on well-conditioned data
    (:func:`tries_lbfgs_first`'s two ways to ``tol``, the cheaper, and the final
    Newton step)."""
    lbfgs_step, newton_step = lbfgs_iteration_seconds(problem), newton_iteration_seconds(problem)
    well = {"iterations": LBFGS_WELL_CONDITIONED_ITERATIONS,
            "per_digit": LBFGS_WELL_CONDITIONED_PER_DIGIT}
    linear = lbfgs_iterations(problem, problem.digits, **well) * lbfgs_step
    quadratic = (lbfgs_iterations(problem, 0.0, **well) * lbfgs_step
                 + quadratic_finish_iterations(problem) * newton_step)
    return min(linear, quadratic) + newton_step


def quadratic_finish_iterations(problem: Problem) -> float:
    """Newton's steps from the default tol to ``problem.tol`` by its quadratic
    convergence, each doubling the digits: ``ceil(log2(digits of tol / 4))``
    (0 at the default tol, 2 at 1e-10), its final step not counted."""
    return float(math.ceil(math.log2((DEFAULT_DIGITS + problem.digits) / DEFAULT_DIGITS)))


@dataclass(frozen=True)
class SwitchRule:
    """When L-BFGS hands over to Newton: its measured rate against Newton's cost.

    Called after each L-BFGS iteration with the largest gradient entry, it
    estimates L-BFGS's linear rate ``r`` from the iterations so far (the
    slower of the rate since the first iteration and over the last four) and
    prices three ways on from the current point ``g`` to ``tol``, each with
    its final step:

    - Newton now, :meth:`newton_stage_seconds` ``(g)`` (its exact
      iterations, chord steps and final step);
    - L-BFGS to the end, ``log(tol / g) / log(r)`` iterations and an exact
      final Newton step;
    - L-BFGS for ``k`` more iterations, then Newton from ``g r^k``, for
      every ``k`` short of the end.

    It hands over when Newton now is the cheapest (strictly): early on
    ill-conditioned data, where ``r`` is close to 1, and at a tight ``tol``
    late, where Newton's quadratic finish (an exact step or two, then chord
    steps) beats L-BFGS's linear one. It also hands over once L-BFGS has spent
    ``SWITCH_BUDGET_SHARE`` of Newton's predicted time, or when the gradient
    grows. Deterministic: it reads predicted costs, never a clock, so a fit is
    repeatable.

    Parameters
    ----------
    problem : Problem
        The sizes (:func:`choose`'s).
    tol : float
        The stopping rule's tolerance the fit runs with.
    newton_problem : Problem, optional
        The sizes Newton's stage is priced with where they differ from
        ``problem``'s: its float64 data after an L-BFGS stage on a float32
        copy (:func:`~sklearn_neuron._solvers.dispatch.float32_stage`).
    """

    problem: Problem
    tol: float
    history: list = field(default_factory=list)
    newton_problem: Problem | None = None

    @cached_property
    def _newton(self) -> Problem:
        return self.problem if self.newton_problem is None else self.newton_problem

    @cached_property
    def _lbfgs_step(self) -> float:
        return lbfgs_iteration_seconds(self.problem)

    @cached_property
    def _newton_step(self) -> float:
        return newton_iteration_seconds(self._newton)

    @cached_property
    def hessian_passes(self) -> float:
        """:func:`hessian_passes` of Newton's problem (what its chord steps are
        priced against, in this rule and in the Newton stage)."""
        return hessian_passes(self._newton)

    def newton_iterations(self, grad_max: float) -> float:
        """Newton's iterations from a point with largest gradient entry
        ``grad_max`` until ``max|grad| <= tol`` (its final step not counted).

        Far from the optimum, ``NEWTON_FINISH_ITERATIONS - 1`` (and
        ``NEWTON_PER_DIGIT`` per further digit of tol). Within
        ``QUADRATIC_SCALE`` of the first iteration's gradient, its quadratic
        convergence: each step squares ``grad_max / s`` (``s`` that scale),
        so ``ceil(log2(log(tol / s) / log(grad_max / s)))`` steps, where
        fewer.
        """
        if grad_max <= self.tol:
            return 0.0
        far = NEWTON_FINISH_ITERATIONS + NEWTON_PER_DIGIT * self.problem.digits - 1.0
        scale = QUADRATIC_SCALE * self.history[0] if self.history else 0.0
        if not self.tol < grad_max < scale:
            return far
        squarings = math.log(self.tol / scale) / math.log(grad_max / scale)
        return min(far, float(math.ceil(math.log2(squarings))) if squarings > 1.0 else 1.0)

    def newton_stage_seconds(self, grad_max: float) -> float:
        """Predicted seconds of Newton from a point with largest gradient entry
        ``grad_max`` until ``max|grad| <= tol``, its final step included.

        :meth:`newton_iterations` exact iterations and an exact final step,
        except that within the quadratic region, after each exact step,
        Newton's chord steps (the last Hessian reused, one pass each) finish
        where Newton takes them: where they reach the float64 objective's
        rounding, the final step's place included, in no more passes than an
        exact iteration (:func:`~.optimizers.chord_steps`; the rounding of an
        objective of at most 1, the mean log-loss from its start; in float64
        only). Their rate is predicted from the exact step's own contraction
        as Newton predicts it.
        """
        newton_step = self._newton_step
        exact = self.newton_iterations(grad_max) + 1.0  # the final step
        scale = QUADRATIC_SCALE * self.history[0] if self.history else 0.0
        if not self.tol < grad_max < scale or self._newton.itemsize != 8:
            return exact * newton_step
        lbfgs_step = self._lbfgs_step
        g = grad_max
        for steps in range(1, int(exact)):
            after = scale * (g / scale) ** 2
            rate = CHORD_RATE_FACTOR * after / g
            chords = chord_steps(after, rate, CHORD_BAR, self.hessian_passes)
            if chords is not None:
                return min(exact * newton_step, steps * newton_step + max(chords, 1) * lbfgs_step)
            g = after
        return exact * newton_step

    def __call__(self, iteration: int, grad_max: float) -> bool:
        """Whether to hand over after ``iteration`` (largest gradient entry ``grad_max``)."""
        g = self.history
        g.append(grad_max)
        lbfgs_step = self._lbfgs_step
        budget = SWITCH_BUDGET_SHARE * newton_seconds(self._newton) / lbfgs_step  # iterations
        if iteration >= budget:
            return True
        if iteration < SWITCH_MIN_ITERATIONS:
            return False
        first = g[0]
        window = g[max(0, len(g) - 5)]
        rates = [
            (g[-1] / start) ** (1.0 / steps)
            for start, steps in ((first, len(g) - 1), (window, min(4, len(g) - 1)))
            if start > 0
        ]
        rate = max(rates, default=1.0)
        if not rate < 1.0:
            return True
        left = math.log(self.tol / grad_max) / math.log(rate)
        on = left * lbfgs_step + self._newton_step  # and its final step
        # (No hand-over is priced past the budget, where it is made anyway.)
        for k in range(1, min(math.ceil(left), math.ceil(budget) - iteration + 1)):
            on = min(on, k * lbfgs_step + self.newton_stage_seconds(grad_max * rate**k))
        return self.newton_stage_seconds(grad_max) < on
