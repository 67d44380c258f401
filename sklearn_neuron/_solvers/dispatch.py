"""Which solver minimises an objective, with which settings, and what to say when it stops early.

The estimators hand this module an objective
(:class:`~sklearn_neuron._objective.protocol.Objective`), their solver settings
(:class:`SolverSettings`, read from their public parameters), a start and a
:class:`~sklearn_neuron._callbacks.Monitor`; :func:`solve` picks the solver
and returns its result. It owns:

- the registry of solvers: the full-batch optimizers (:data:`OPTIMIZERS`:
  Newton, L-BFGS / OWL-QN, Hessian-free Newton), the minibatch family
  (:data:`~sklearn_neuron._solvers.stochastic.STOCHASTIC_OPTIMIZERS` or any
  ``torch.optim.Optimizer`` class), the hinge's exact continuation, least
  absolute deviations, and Firth's penalised likelihood (Fisher scoring: Newton);
- ``optimizer="auto"``'s choice (:func:`resolve_optimizer`: the cost model
  of :mod:`.cost` in memory, a rule by size on a cluster; Newton started as
  L-BFGS where :mod:`.hybrid` may finish sooner), the memory check
  of the dense Hessian, and the refusals of a solver that cannot minimise
  the objective;
- the minibatch settings (batch size, held-out validation, the generator);
- the convergence messages and their advice (:func:`convergence_message`).

The regularization path (a sequence of penalties, each fit warm-started from
the previous one) is :mod:`.path`'s, built on :func:`solve`.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Callable
from dataclasses import dataclass, fields, replace
from typing import Any, cast

import numpy as np
import torch
from sklearn.exceptions import ConvergenceWarning
from sklearn.model_selection import train_test_split
from sklearn.utils import check_random_state

from .._callbacks import Monitor, stopped_by_callback, stopped_message
from .._loss.losses import AbsoluteError, BinaryLogLoss, HingeLoss, MultinomialLogLoss
from .._objective.linear import LinearObjective
from .._objective.protocol import Objective, RowObjective, rows_of
from .cost import METHODS, Problem, choose, hessian_passes, tries_lbfgs_first
from .hinge import HINGE_UNVERIFIED, hinge_continuation, smoothed_newton
from .hybrid import lbfgs_then_newton
from .lad import least_absolute_deviations
from .memory import check_newton_memory, memory_budget, newton_fits_memory
from .newton_cg import newton_cg
from .optimizers import PRECISION_LIMIT, OptimizeResult, effective_tol, lbfgs, newton
from .stochastic import STOCHASTIC_OPTIMIZERS, StochasticResult, minibatch, one_pass

#: Full-batch optimizers by public name (the values of ``optimizer``).
OPTIMIZERS: dict[str, Callable[..., OptimizeResult]] = {
    "lbfgs": lbfgs,
    "newton": newton,
    "newton-cg": newton_cg,
}
#: Every full-batch solver by the name ``optimizer_`` reports: the public ones
#: and the absolute error's exact solver, which ``"auto"`` picks for it.
SOLVERS: dict[str, Callable[..., OptimizeResult]] = {
    **OPTIMIZERS,
    "lad": least_absolute_deviations,
}
#: Optimizers that need the loss's Hessian (or its products with vectors).
SECOND_ORDER = frozenset({"newton", "newton-cg"})
#: Optimizers that form the dense Hessian (its memory is checked first).
DENSE_HESSIAN = frozenset({"newton"})

#: On distributed data (dask arrays) ``optimizer="auto"`` chooses Newton while
#: one Hessian costs at most this many multiply-adds (n_samples * n_params**2),
#: L-BFGS beyond; where Newton's Hessian does not fit the memory budget, and in
#: memory, the cost model of :mod:`.cost` decides.
AUTO_NEWTON_MAX_WORK = 2e7
#: On data read at each evaluation (out of core), or reduced over a cluster's
#: workers, a pass costs the read or the round trip, and
#: Newton (one read per iteration, value, gradient and Hessian together) is
#: chosen up to this many parameters: a row's Hessian terms (n_params**2 / 2
#: multiply-adds) then cost less than reading and decoding the row.
AUTO_NEWTON_MAX_PARAMS_READING = 64


@dataclass(frozen=True)
class SolverSettings:
    """What a fit asks of its solver: the estimator's solver parameters, as given.

    The fields are the estimators' public parameters of the same names (an
    estimator without one, NeuronClassifierCV's missing minibatch parameters,
    leaves the default). ``name`` is the estimator's class name, for
    messages and log lines; ``validation_score(objective, theta)`` (higher
    is better) and ``stratify(objective)`` (labels or None) serve
    ``early_stopping``.
    """

    optimizer: str | type = "auto"
    optimizer_kwargs: dict | None = None
    tol: float = 1e-4
    max_iter: int = 100
    verbose: int = 0
    learning_rate: float | str = "auto"
    batch_size: int | str = "auto"
    shuffle: bool = True
    n_iter_no_change: int = 5
    early_stopping: bool = False
    validation_fraction: float = 0.1
    random_state: Any = None
    name: str = "NeuronClassifier"
    validation_score: Callable[[Any, torch.Tensor], float] | None = None
    stratify: Callable[[Any], np.ndarray | None] | None = None

    @classmethod
    def of(cls, estimator: Any, **extra: Any) -> SolverSettings:
        """The settings of ``estimator`` (its public parameters), plus ``extra`` fields."""
        params = vars(estimator)
        values = {
            f.name: params[f.name] for f in fields(cls) if f.name in params
        }
        return cls(**{**values, "name": type(estimator).__name__, **extra})

    @property
    def stochastic(self) -> bool:
        """Whether ``optimizer`` trains by minibatches (torch.optim)."""
        return isinstance(self.optimizer, type) or self.optimizer in STOCHASTIC_OPTIMIZERS

    @property
    def label(self) -> str:
        """``optimizer`` as a name (a torch.optim class by its class name)."""
        optimizer = self.optimizer
        return optimizer.__name__ if isinstance(optimizer, type) else optimizer

    def generator(self) -> torch.Generator:
        """A torch generator seeded from ``random_state`` (a new draw on each call)."""
        seed = check_random_state(self.random_state).randint(np.iinfo(np.int32).max)
        return torch.Generator().manual_seed(int(seed))


# -- the choice of the solver -------------------------------------------------------
def resolve_optimizer(
    name: str, n_samples: int, n_params: int, *, distributed: bool = False,
    newton_fits: bool = True, n_outputs: int = 1, itemsize: int = 8,
    nnz: float | None = None, gram_work: float | None = None, tol: float = 1e-4,
    budget: float = math.inf, candidates: tuple[str, ...] = METHODS,
    curvature_rows: int | None = None,
) -> str:
    """Name of the optimizer to run; resolves ``"auto"`` by the cost model.

    In memory, ``"auto"`` is the optimizer among ``candidates`` of least
    predicted time (:func:`~sklearn_neuron._solvers.cost.choose`: passes
    times cost per pass, from ``n_samples``, the ``n_params`` over
    ``n_outputs`` outputs, the ``itemsize`` of the dtype, the ``nnz`` stored
    entries of sparse X and its ``gram_work``, and ``tol``) whose memory
    estimate is within ``budget`` bytes. ``newton_fits``: whether one Newton
    iteration's temporaries fit the memory budget
    (:func:`~sklearn_neuron._solvers.memory.newton_fits_memory`); where they
    do not, ``"auto"`` never chooses Newton.

    ``distributed``: each evaluation is a reduction over a cluster's workers
    (dask arrays), a round trip whatever the arithmetic and, out of core, a
    read of the data; Newton starts from a subsample's fit there. That
    favours Newton's fewer passes (3 to 4 full ones from the warm start on
    2,000,000 x 20, against L-BFGS's 10 or more: benchmarks/RESULTS.md):
    Newton up to ``AUTO_NEWTON_MAX_PARAMS_READING`` parameters or
    ``AUTO_NEWTON_MAX_WORK``, else L-BFGS. Where Newton's Hessian does not fit
    (``newton_fits`` false) the cost model chooses among the other candidates,
    as in memory (Newton-CG or L-BFGS), each of its passes a round trip.
    """
    if name != "auto":
        return name
    if not newton_fits:
        candidates = tuple(m for m in candidates if m != "newton")
    if distributed and "newton" in candidates:
        if n_params <= AUTO_NEWTON_MAX_PARAMS_READING:
            return "newton"
        return "newton" if n_samples * n_params**2 <= AUTO_NEWTON_MAX_WORK else "lbfgs"
    # In memory, or on a cluster where Newton's Hessian does not fit: the
    # cost model, whose passes over the data are a cluster's round trips.
    problem = Problem(
        n_samples=n_samples, n_params_per_output=max(1, n_params // max(1, n_outputs)),
        n_outputs=n_outputs, itemsize=itemsize, nnz=nnz, gram_work=gram_work, tol=tol,
        curvature_rows=curvature_rows,
    )
    return choose(problem, budget, candidates)


def auto_candidates(objective: Any) -> tuple[str, ...]:
    """The optimizers ``"auto"`` may choose for a smooth ``objective`` without L1:
    all of :data:`~sklearn_neuron._solvers.cost.METHODS` in memory, Newton and
    L-BFGS for a loss differentiated by autograd (whose products Newton-CG
    does not take)."""
    if objective.loss.uses_autograd:
        return ("newton", "lbfgs")
    return METHODS


def _resolve_auto(
    objective: Any, settings: SolverSettings, candidates: tuple[str, ...] | None = None,
    *, lbfgs_first: bool = False,
) -> str:
    """``"auto"`` on ``objective``: :func:`resolve_optimizer` with its sizes,
    among ``candidates`` (by default :func:`auto_candidates`); ``lbfgs_first``:
    whether Newton would start as L-BFGS (:func:`~.cost.choose`)."""
    if objective.distributed:
        return resolve_optimizer(
            "auto", objective.X.shape[0], objective.n_params, distributed=True,
            newton_fits=newton_fits_memory(objective), n_outputs=objective.n_outputs,
            itemsize=torch.finfo(objective.dtype).bits // 8,
            tol=effective_tol(settings.tol, torch.float64),
            candidates=auto_candidates(objective) if candidates is None else candidates,
        )
    return choose(
        auto_problem(objective, settings), memory_budget(objective.device),
        auto_candidates(objective) if candidates is None else candidates,
        lbfgs_first=lbfgs_first,
    )


def auto_problem(objective: Any, settings: SolverSettings) -> Problem:
    """The sizes of an in-memory ``objective`` that the cost model prices (:mod:`.cost`)."""
    sparse = objective.is_sparse
    return Problem(
        n_samples=objective.X.shape[0], n_params_per_output=objective.n_params_per_output,
        n_outputs=objective.n_outputs, itemsize=torch.finfo(objective.dtype).bits // 8,
        nnz=float(objective.X.values().numel()) if sparse else None,
        gram_work=objective.gram_work if sparse else None,
        tol=effective_tol(settings.tol, torch.float64),
        curvature_rows=objective.hessian_rows,
    )


def lbfgs_first_problem(
    objective: Objective, settings: SolverSettings, optimizer: str
) -> Problem | None:
    """The sizes :mod:`.hybrid` prices with where ``"auto"``'s Newton starts as
    L-BFGS, else None: so where :func:`_may_start_as_lbfgs` and
    :func:`~.cost.tries_lbfgs_first` say so."""
    if not (optimizer == "newton" and _may_start_as_lbfgs(objective, settings)):
        return None
    problem = auto_problem(objective, settings)
    return problem if tries_lbfgs_first(problem) else None


def _may_start_as_lbfgs(objective: Objective, settings: SolverSettings) -> bool:
    """Whether ``"auto"``'s Newton on ``objective`` may start as L-BFGS: in
    memory, a twice-differentiable loss without Firth's penalty or an L1 term."""
    return (
        settings.optimizer == "auto"
        and not (objective.distributed or objective.firth or objective.l1)
        and objective.loss.twice_differentiable
    )


def choose_optimizer(objective: Objective, settings: SolverSettings) -> str:
    """Name of the full-batch solver to run on ``objective``, checked against it.

    Firth's penalised likelihood is fitted by Fisher scoring (Newton,
    whatever the size); the absolute error's minimum is at a kink, which
    ``"auto"`` solves exactly (``"lad"``); otherwise :func:`resolve_optimizer`.
    """
    if objective.firth:  # Firth's fit is Fisher scoring: Newton whatever the size
        check_newton_memory(objective, "newton")
        return "newton"
    requested = settings.label  # a full-batch optimizer's name (or "auto")
    loss = objective.loss
    if requested == "auto" and isinstance(loss, AbsoluteError):
        if objective.distributed:
            raise ValueError(
                "loss='absolute_error' with optimizer='auto' is solved exactly by least "
                "absolute deviations, which reads the rows that dask arrays keep on their "
                "workers; on dask data pass optimizer='lbfgs' (it approaches the minimum "
                "at the kink, not exactly), or fit in-memory data (X.compute(), y.compute())."
            )
        return "lad"
    # The hinge is solved through smoothed problems, which Newton handles.
    smooth = loss.twice_differentiable or isinstance(loss, HingeLoss)
    if requested == "auto" and (objective.l1 or not smooth):
        return "lbfgs"
    name = requested if requested != "auto" else _resolve_auto(
        objective, settings, lbfgs_first=_may_start_as_lbfgs(objective, settings)
    )
    if name in SECOND_ORDER and not smooth:
        raise ValueError(
            f"optimizer={name!r} needs a twice-differentiable loss, "
            f"and loss={loss.name!r} is not; use optimizer='lbfgs'."
        )
    if name in SECOND_ORDER and objective.l1:
        raise ValueError(
            f"optimizer={name!r} does not handle the L1 term of l1_ratio > 0; "
            "use optimizer='lbfgs' (OWL-QN) or optimizer='sgd' (proximal steps)."
        )
    if name in DENSE_HESSIAN and requested != "auto":  # ("auto" checked it)
        check_newton_memory(objective, name)
    return name


def optimizer_class(optimizer: str | type) -> type:
    """The class of a minibatch ``optimizer``: a torch.optim class as given, a
    name's class of :mod:`.eager_steps` (which stands for its torch class)."""
    if isinstance(optimizer, type):
        if not issubclass(optimizer, torch.optim.Optimizer):
            raise ValueError(
                f"optimizer={optimizer!r} is a class but not a "
                "torch.optim.Optimizer subclass; pass one (e.g. torch.optim.SGD) "
                f"or a name among {sorted({'auto', *OPTIMIZERS, *STOCHASTIC_OPTIMIZERS})}."
            )
        return optimizer
    return STOCHASTIC_OPTIMIZERS[optimizer]


def iterates_are_coefficients(objective: Objective, settings: SolverSettings) -> bool:
    """Whether each iterate of this fit is a model of ``objective`` (not so for
    the hinge's per-output stages and the absolute error's exact solver)."""
    if isinstance(objective.loss, HingeLoss):
        return False
    return settings.stochastic or choose_optimizer(objective, settings) != "lad"


def _refuse_optimizer_kwargs(settings: SolverSettings) -> None:
    """Full-batch optimizers take no keyword arguments: say so rather than ignore them."""
    if settings.optimizer_kwargs:
        raise ValueError(
            f"optimizer_kwargs={settings.optimizer_kwargs!r} is for the minibatch "
            f"(torch.optim) optimizers; optimizer={settings.optimizer!r} takes none. "
            "Leave optimizer_kwargs=None, or choose a minibatch optimizer."
        )


# -- running it --------------------------------------------------------------------
def solve(
    objective: Objective,
    theta: torch.Tensor,
    settings: SolverSettings,
    monitor: Monitor | None = None,
    *,
    name: str | None = None,
) -> tuple[str, OptimizeResult]:
    """Minimise ``objective`` from ``theta``; ``(optimizer_, result)``.

    ``name``: None for an estimator's fit, whose log lines are named
    ``"<estimator>/<optimizer>"``; a path's fits pass their own base name
    (and run full-batch solvers only).
    """
    if name is not None:
        return _solve_full_batch(objective, theta, settings, monitor, name)
    if isinstance(objective.loss, HingeLoss):
        return _solve_hinge(
            objective, theta, settings, monitor, f"{settings.name}/{settings.label}"
        )
    if settings.stochastic:
        result = run_minibatch(
            rows_of(objective, settings.label), theta, settings, settings.max_iter,
            f"{settings.name}/{settings.label}", monitor=monitor,
        )
        return settings.label, result
    _refuse_optimizer_kwargs(settings)
    return _solve_full_batch(
        objective, theta, settings, monitor, settings.name, first_stage=True
    )


def _solve_full_batch(
    objective: Objective, theta: torch.Tensor, settings: SolverSettings, monitor: Monitor | None,
    name: str, *, first_stage: bool = False,
) -> tuple[str, OptimizeResult]:
    """Run the resolved full-batch solver on ``objective``; ``(name, result)``.

    The hinge goes through its exact solver (:func:`_solve_hinge`), so every
    caller (fit, NeuronClassifierCV's path and refit) solves it alike.
    ``first_stage``: whether an ``"auto"`` fit of large float64 data may take
    its L-BFGS iterations on a float32 copy (:func:`float32_stage`; an
    estimator's fit, where the copy is made once, not a path's points).
    """
    if isinstance(objective.loss, HingeLoss):
        return _solve_hinge(objective, theta, settings, monitor, name)
    chosen = optimizer = choose_optimizer(objective, settings)
    problem = lbfgs_first_problem(objective, settings, optimizer)
    # Large float64 data: L-BFGS's iterations on a float32 copy (None otherwise).
    narrow = None
    if first_stage:
        narrow = float32_stage(objective, settings, optimizer, problem is not None)
    fitted = objective if narrow is None else narrow
    # Closed-form derivatives need no autograd bookkeeping: inference mode
    # cuts torch's per-call overhead, which is what small fits spend their
    # time on.
    with torch.inference_mode(not objective.loss.uses_autograd):
        start = theta.to(fitted.dtype)
        if problem is not None:
            optimizer, result = lbfgs_then_newton(
                fitted, start, tol=settings.tol, max_iter=settings.max_iter,
                problem=problem if narrow is None else replace(problem, itemsize=4),
                verbose=settings.verbose, name=name, monitor=monitor,
                newton_objective=objective,
            )
        else:
            result = SOLVERS[optimizer](
                fitted,
                start,
                tol=settings.tol,
                max_iter=settings.max_iter,
                verbose=settings.verbose,
                name=f"{name}/{optimizer}" + ("" if narrow is None else "/float32"),
                monitor=monitor,
                **_solver_options(fitted, settings, optimizer),
            )
        if narrow is not None and result.theta.dtype != objective.dtype:
            result = polish_in_float64(
                narrow, chosen, settings, result, monitor, name, wide=objective
            )
        elif polishes_in_float64(objective, optimizer, settings, result):
            result = polish_in_float64(objective, optimizer, settings, result, monitor, name)
        else:
            result = _at_float32_floor(objective, settings, result)
    # The last Hessian served the stages above; a path's points keep their
    # results, which need not hold it.
    return optimizer, replace(result, hessian=None)


def _solver_options(objective: Any, settings: SolverSettings, optimizer: str) -> dict[str, Any]:
    """Keyword arguments of ``SOLVERS[optimizer]`` beyond the common ones: in
    memory, Newton's chord steps priced by the cost model (``hessian_passes``)."""
    if optimizer != "newton" or objective.distributed or objective.firth:
        return {}
    return {"hessian_passes": hessian_passes(auto_problem(objective, settings))}


# -- float32 data, float64 answers ------------------------------------------------
def copy_bytes(objective: Any, dtype: torch.dtype) -> float:
    """Bytes of a copy of ``objective``'s data in ``dtype`` (:meth:`LinearObjective.astype`:
    :func:`float64_objective`'s, :func:`float32_stage`'s)."""
    n, K = objective.X.shape[0], objective.n_outputs
    entries = (
        2.0 * objective.X.values().numel() if objective.is_sparse
        else float(n) * objective.n_features
    )
    return torch.finfo(dtype).bits / 8 * (entries + (2.0 + K) * n)


def polishes_in_float64(
    objective: Any, optimizer: str, settings: SolverSettings, result: OptimizeResult
) -> bool:
    """Whether a float32 fit continues in float64 to reach ``tol`` (:func:`polish_in_float64`).

    So where ``tol`` lies below what float32 arithmetic can reach
    (:func:`~sklearn_neuron._solvers.optimizers.effective_tol`), the float32
    iterations ended at that floor (converged or at the precision limit),
    iterations are left, and the data are on dask's workers (cast block by
    block as each evaluation reads them) or in memory with a float64 copy
    that fits the memory budget.
    """
    return (
        objective.dtype == torch.float32
        and not objective.firth
        and optimizer in OPTIMIZERS
        and settings.tol < effective_tol(settings.tol, torch.float32)
        and result.n_iter < settings.max_iter
        and (result.converged or result.stop_reason.startswith(PRECISION_LIMIT))
        and (objective.distributed or float64_copy_fits(objective))
    )


def float64_copy_fits(objective: Any) -> bool:
    """Whether a float64 copy of ``objective``'s data in memory fits the memory budget."""
    return copy_bytes(objective, torch.float64) <= memory_budget(objective.device)


#: How the stop reason starts of a float32 fit whose iterations ran out at
#: float32's floor, before the float64 ones that reach a lower ``tol``.
MAX_ITER_AT_FLOAT32_FLOOR = "max_iter reached at float32's floor"


def _at_float32_floor(
    objective: Any, settings: SolverSettings, result: OptimizeResult
) -> OptimizeResult:
    """``result`` of a float32 fit that ended at float32's floor above ``tol`` and did
    not go on in float64.

    Where its iterations ran out (``max_iter``), it has not converged: the
    float64 stage would have reached ``tol``, so the fit reports
    ``max_iter reached`` (and the estimator's ConvergenceWarning says to raise
    it). Otherwise (Firth's fit, or a float64 copy over the memory budget) it
    met the tolerance float32 can resolve, not the one asked for: a
    ConvergenceWarning says so and why.
    """
    floor = effective_tol(settings.tol, torch.float32)
    if not (
        objective.dtype == torch.float32 and settings.tol < floor
        and result.converged and result.grad_max > settings.tol
    ):
        return result
    if result.n_iter >= settings.max_iter and not objective.firth:
        return replace(
            result, converged=False,
            stop_reason=f"{MAX_ITER_AT_FLOAT32_FLOOR} (max|grad| <= {floor:.1e}), "
            "before the float64 iterations that reach tol",
        )
    why = (
        "Firth's fit runs in the data's dtype" if objective.firth
        else "a float64 copy of the data would exceed the memory budget"
    )
    warnings.warn(
        f"{settings.name}: tol={settings.tol:g} is below what float32 arithmetic resolves "
        f"in the gradient ({floor:.1e}); the fit stopped there, at max|grad| = "
        f"{result.grad_max:.1e}, and did not go on in float64 ({why}). Pass float64 data "
        f"(X.astype('float64')) to reach tol, or set tol >= {floor:.1e}.",
        ConvergenceWarning, stacklevel=2,
    )
    return result


def float64_objective(objective: Any, *, kept: bool = False) -> Any:
    """``objective`` on a float64 copy of its data (the same numbers, exactly);
    on dask data, cast block by block on the workers as they are read, or
    with ``kept`` once, into block objectives kept on them
    (:meth:`~sklearn_neuron._dask.objective.DaskObjective.in_float64`)."""
    if objective.distributed:
        return objective.in_float64(kept=kept)
    return objective.astype(torch.float64)


def _polishing_optimizer(
    wide: Any, optimizer: str, result: OptimizeResult, float64_data: bool
) -> str:
    """The optimizer of the float64 stage.

    Newton where the float32 stage left a Hessian (:attr:`OptimizeResult.hessian`:
    its steps start as chord steps with it). On float64 data
    (:func:`float32_stage`, whose first stage is L-BFGS's), else L-BFGS where
    that stage met its tolerance (the float64 stage checks it), and otherwise
    (it stopped short at float32's precision) ``optimizer``, the one
    ``"auto"`` chose for the data. On float32 data, ``optimizer`` where it is
    Newton's or the objective has an L1 term (OWL-QN), else Newton or
    Newton-CG by the cost model: from the float32 floor a Newton step or two
    reach ``tol``, where L-BFGS, whose convergence is linear, can take hundreds.
    """
    if result.hessian is not None:
        return "newton"
    if float64_data:
        return "lbfgs" if result.converged else optimizer
    if optimizer in SECOND_ORDER or wide.l1 or not wide.loss.twice_differentiable:
        return optimizer
    return _resolve_auto(wide, SolverSettings(tol=1e-4), ("newton", "newton-cg"))


def polish_in_float64(
    objective: Any, optimizer: str, settings: SolverSettings, result: OptimizeResult,
    monitor: Monitor | None, name: str, *, wide: Any = None,
) -> OptimizeResult:
    """Continue a float32 fit in float64 until ``tol``; the float64 optimum.

    The float32 iterations end where float32 arithmetic stops resolving the
    gradient (``100 * eps``, 1.2e-5), or at ``tol`` above that; from there
    Newton's steps (or another optimizer: :func:`_polishing_optimizer`) run on
    ``wide``, the float64 objective: the data's own where they are float64
    (:func:`float32_stage`), else a float64 copy (:func:`float64_objective`),
    a few iterations, to ``tol``. Newton's first steps reuse the float32
    stage's last Hessian as chord steps, where it left one. The coefficients
    are returned in the data's dtype (float32 data: the float64 answer
    rounded); the curve, the iterations and the gradient are those of both
    stages together. A float32 stage that a callback stopped ends the fit
    there, its objective evaluated in float64.
    """
    float64_data = wide is not None
    if wide is None:
        # Newton-CG's stage reads the data at every product: on dask data its
        # float64 blocks are kept rather than cast at each read.
        wide = float64_objective(objective, kept=optimizer == "newton-cg")
    theta = result.theta.to(torch.float64)
    if stopped_by_callback(result.stop_reason):
        curve = [*result.objective_curve[:-1], float(wide.value(theta))]
        return replace(result, theta=theta, objective_curve=curve)
    polisher = _polishing_optimizer(wide, optimizer, result, float64_data)
    options = _solver_options(wide, settings, polisher)
    if result.hessian is not None:  # (the polisher is Newton)
        options["hessian"] = result.hessian.to(torch.float64)
    polished = SOLVERS[polisher](
        wide, theta, tol=settings.tol,
        max_iter=settings.max_iter - result.n_iter, verbose=settings.verbose,
        name=f"{name}/{polisher}/float64", monitor=monitor, **options,
    )
    if float64_data:
        return result.followed_by(polished)
    return result.followed_by(
        polished, theta=polished.theta.to(objective.dtype), arithmetic=torch.float64
    )


#: ``"auto"`` fits dense float64 data of at least this many entries (rows
#: times features) with their L-BFGS iterations on a float32 copy
#: (:func:`float32_stage`): below, the copy costs more than its passes save.
FLOAT32_STAGE_MIN_ENTRIES = 2**21
#: ... and of at least this many features: with fewer, a pass's work per row
#: (the loss and its derivatives) outweighs reading the row, and float32
#: saves little of it (12.3 against 10.8 ms a pass on 1,000,000 x 10, 4.4
#: against 2.2 on 100,000 x 100).
FLOAT32_STAGE_MIN_FEATURES = 16
#: ... and only where ``tol`` is below this (the estimators' default): a fit
#: at the default ``tol`` keeps its extra memory within LogisticRegression's
#: (issue #15: 39 against 61 MB on 2,000,000 x 20 float64), and the copy is
#: half of X. A tighter ``tol`` asks for more than the default's accuracy and
#: gets the copy within the memory budget, as float32 data get their float64 copy.
FLOAT32_STAGE_MAX_TOL = 1e-4


def float32_stage(
    objective: Any, settings: SolverSettings, optimizer: str, starts_as_lbfgs: bool
) -> Any:
    """The float32 copy of ``objective`` whose L-BFGS iterations an ``"auto"``
    fit of float64 data runs on; None where it runs on the data as given.

    A value-and-gradient pass over dense X reads all of it: in float32 it
    reads half the bytes and costs about half the time (5.5 against 11.2 ms
    on 200,000 x 100). So where ``"auto"`` resolved to L-BFGS, or to Newton
    started as L-BFGS (``starts_as_lbfgs``: :mod:`.hybrid`), at a ``tol``
    below :data:`FLOAT32_STAGE_MAX_TOL`, for the log loss (binary or
    multinomial: bounded derivatives, nothing to overflow in float32) without
    an L1 term or Firth's penalty, on dense float64 data in this process's
    CPU memory of at least :data:`FLOAT32_STAGE_MIN_ENTRIES` entries and
    :data:`FLOAT32_STAGE_MIN_FEATURES` features, whose float32 copy fits the
    memory budget, the L-BFGS iterations run on the copy, to ``tol`` (or
    float32's floor). Newton's iterations, where L-BFGS hands over, run on
    the data as given (:mod:`.hybrid`: their chord steps serve in float64);
    where the float32 stage met its tolerance the fit goes on in float64
    (:func:`polish_in_float64`): the float64 gradient evaluated, and Newton's
    steps started as chord steps with the float32 stage's final Hessian. So
    the answer meets the stopping rule in float64, as a fit in float64
    throughout does, a few float64 passes after the float32 ones. Newton's
    own iterations never run on the copy: in float32 a Hessian of
    ill-conditioned data is damped into slow, linear steps (100 iterations
    where float64 takes 7, on features scaled over 3 decades at C=1e4).
    """
    if not (
        _may_start_as_lbfgs(objective, settings) and settings.tol < FLOAT32_STAGE_MAX_TOL
        and (optimizer == "lbfgs" or optimizer == "newton" and starts_as_lbfgs)
        and isinstance(objective, LinearObjective)
        and objective.dtype == torch.float64 and objective.device.type == "cpu"
        and not objective.is_sparse
        and isinstance(objective.loss, (BinaryLogLoss, MultinomialLogLoss))
        and objective.n_features >= FLOAT32_STAGE_MIN_FEATURES
        and objective.n_samples * objective.n_features >= FLOAT32_STAGE_MIN_ENTRIES
        and copy_bytes(objective, torch.float32) <= memory_budget(objective.device)
    ):
        return None
    return objective.astype(torch.float32)


def _solve_hinge(
    objective: Objective, theta: torch.Tensor, settings: SolverSettings, monitor: Monitor | None,
    name: str,
) -> tuple[str, OptimizeResult]:
    """The hinge solved exactly, each smoothed stage by the chosen optimizer."""
    if objective.distributed:
        raise ValueError(
            "loss='hinge' is solved exactly through smoothed problems built from the "
            "rows, which dask arrays keep on their workers; on dask data use "
            "loss='squared_hinge' (smooth: it runs there), or fit in-memory data "
            "(X.compute(), y.compute())."
        )
    if settings.stochastic:
        optimizer = settings.label

        def stage(smooth, start, tol, budget, stage_name):
            # budget: the epochs of max_iter the earlier stages left
            return run_minibatch(smooth, start, settings, budget, stage_name, tol=tol,
                                 monitor=monitor)

    else:
        optimizer = choose_optimizer(objective, settings)
        if settings.optimizer == "auto" and not objective.l1:
            # Each output is solved as its own problem (per_output below):
            # a Hessian is of one output's parameters.
            optimizer = resolve_optimizer(
                "auto", objective.X.shape[0], objective.n_params_per_output,
                distributed=objective.distributed,
                itemsize=torch.finfo(objective.dtype).bits // 8,
                tol=effective_tol(settings.tol, torch.float64),
                budget=memory_budget(objective.device), candidates=("newton", "lbfgs"),
            )
        # Newton with an exact line search (the smoothed hinge is piecewise quadratic).
        function = smoothed_newton if optimizer == "newton" else SOLVERS[optimizer]

        def stage(smooth, start, tol, budget, stage_name):
            with torch.inference_mode():
                return function(
                    smooth, start, tol=tol, max_iter=budget, verbose=settings.verbose,
                    name=stage_name, monitor=monitor,
                )

    # float32 data: solved on a float64 copy (the same numbers) where it fits
    # the memory budget, and the float64 minimiser rounded to float32. The
    # optimality conditions that certify it cannot be checked in float32:
    # its rounding of the margins (1e-7 of their size) cannot tell the
    # samples on the margin from those off it.
    solved, start = objective, theta
    if objective.dtype == torch.float32 and float64_copy_fits(objective):
        solved, start = float64_objective(objective), theta.to(torch.float64)
    result = hinge_continuation(
        solved, start, stage=stage, tol=settings.tol, max_iter=settings.max_iter,
        verbose=settings.verbose, name=name, per_output=not settings.stochastic,
    )
    if solved is not objective:
        result = replace(result, theta=result.theta.to(objective.dtype), arithmetic=solved.dtype)
    return optimizer, result


# -- the minibatch family ------------------------------------------------------------
def batch_size(requested: int | str, objective: RowObjective) -> int:
    """The minibatch size: ``requested``, or for ``"auto"`` one by the data's size."""
    if requested != "auto":
        return cast(int, requested)
    # At least ~50 steps an epoch on small data (each epoch then makes
    # progress), 200 rows at most (scikit-learn's MLP default).
    n_samples = objective.X.shape[0]
    return min(n_samples, 200, max(32, n_samples // 50))


def minibatch_settings(objective: RowObjective, settings: SolverSettings) -> dict[str, Any]:
    """The arguments that ``fit``'s and ``partial_fit``'s minibatch loops share."""
    # (AdamW's own weight decay is turned off where the optimizer is built:
    # torch_steps._make_optimizer.)
    return dict(
        optimizer_class=optimizer_class(settings.optimizer),
        optimizer_kwargs=dict(settings.optimizer_kwargs or {}),
        learning_rate=settings.learning_rate,
        batch_size=batch_size(settings.batch_size, objective),
        shuffle=settings.shuffle,
        verbose=settings.verbose,
    )


def run_minibatch(
    objective: RowObjective,
    theta: torch.Tensor,
    settings: SolverSettings,
    max_iter: int,
    name: str,
    tol: float | None = None,
    monitor: Monitor | None = None,
) -> StochasticResult:
    """``fit``'s minibatch training (:func:`~.stochastic.minibatch`), with early stopping."""
    generator = settings.generator()
    validation_score = None
    if settings.early_stopping:
        objective, validation = _split_validation(objective, settings, generator)
        score = settings.validation_score or minus_objective
        validation_score = lambda theta: score(validation, theta)  # noqa: E731
        if monitor is not None:  # the history records each epoch's score
            validation_score = monitor.validation_score(validation_score)
    return minibatch(
        objective,
        theta,
        **minibatch_settings(objective, settings),
        max_iter=max_iter,
        tol=settings.tol if tol is None else tol,
        n_iter_no_change=settings.n_iter_no_change,
        generator=generator,
        validation_score=validation_score,
        name=name,
        monitor=monitor,
    )


def run_one_pass(
    objective: RowObjective,
    theta: torch.Tensor,
    settings: SolverSettings,
    *,
    optimizer_state: dict | None,
    n_calls: int,
    monitor: Monitor | None,
) -> StochasticResult:
    """``partial_fit``'s pass of plain minibatch steps (:func:`~.stochastic.one_pass`)."""
    return one_pass(
        objective,
        theta,
        **minibatch_settings(objective, settings),
        generator=settings.generator(),
        optimizer_state=optimizer_state,
        n_calls=n_calls,
        name=f"{settings.name}/{settings.label}",
        monitor=monitor,
    )


def minus_objective(objective: Objective, theta: torch.Tensor) -> float:
    """Score of ``theta`` on held-out data (higher is better): minus its objective."""
    return -float(objective.value(theta))


def _split_validation(
    objective: RowObjective, settings: SolverSettings, generator: torch.Generator
) -> tuple[RowObjective, RowObjective]:
    """Hold out ``validation_fraction`` of the rows (stratified where it applies)."""
    index = np.arange(objective.X.shape[0])
    seed = int(torch.randint(np.iinfo(np.int32).max, (1,), generator=generator))
    try:
        train, validation = train_test_split(
            index,
            test_size=settings.validation_fraction,
            random_state=seed,
            stratify=None if settings.stratify is None else settings.stratify(objective),
        )
    except ValueError as exc:  # too few rows (of a class) for the split
        raise ValueError(
            f"early_stopping=True cannot hold out validation_fraction="
            f"{settings.validation_fraction} of {index.size} samples ("
            f"{str(exc).rstrip('.')}). Choose a validation_fraction that leaves "
            "samples (of every class) in both parts, fit on more samples, or set "
            "early_stopping=False."
        ) from exc
    return objective.subset(torch.from_numpy(train)), objective.subset(
        torch.from_numpy(validation)
    )


# -- what to say when a fit stops early -----------------------------------------------
def convergence_message(
    settings: SolverSettings, optimizer: str, result: OptimizeResult, dtype: torch.dtype
) -> str:
    """The ConvergenceWarning's text for a fit that stopped before ``tol``."""
    name = settings.name
    tol = effective_tol(settings.tol, result.arithmetic or dtype)
    if result.stop_reason.startswith(MAX_ITER_AT_FLOAT32_FLOOR):
        tol = settings.tol  # what the float64 iterations would have reached
    if stopped_by_callback(result.stop_reason):
        return stopped_message(
            name, optimizer, result, tol, "epochs" if settings.stochastic else "iterations",
        )
    if result.stop_reason.startswith(HINGE_UNVERIFIED):
        # The hinge's fit is certified by its optimality conditions, not
        # by a gradient (its minimum is at a kink, where none exists).
        advice = (
            "Use a finite C." if "C=inf" in result.stop_reason else
            f"Increase max_iter (now {settings.max_iter})"
            + (", or use optimizer='newton'." if optimizer != "newton" else ".")
        )
        return (
            f"{name} (optimizer={optimizer!r}) stopped after "
            f"{result.n_iter} {'epochs' if settings.stochastic else 'iterations'} "
            f"without certifying the minimum: {result.stop_reason}. {advice}"
        )
    if settings.stochastic:
        # The hinge's continuation runs several minibatch fits and reports
        # no single learning rate: then none is named.
        learning_rate = getattr(result, "learning_rate", float("nan"))
        step = f" (last learning rate {learning_rate:.3g})" if math.isfinite(learning_rate) else ""
        return (
            f"{name} (optimizer={optimizer!r}) stopped after "
            f"{result.n_iter} epochs without reaching the tolerance: the full "
            f"gradient's largest entry is {result.grad_max:.3g} > tol = "
            f"{tol:.3g}, so the coefficients are not yet "
            f"at the optimum; reason: {result.stop_reason}{step}. "
            f"Increase max_iter (now {settings.max_iter}), "
            "scale the features (e.g. with StandardScaler), "
            + ("" if settings.learning_rate == "auto" else "use learning_rate='auto', ")
            + "or use a full-batch optimizer ('newton', 'lbfgs')."
        )
    return (
        f"{name} (optimizer={optimizer!r}) stopped after "
        f"{result.n_iter} iterations without reaching the tolerance: "
        f"max|gradient| = {result.grad_max:.3g} > tol = "
        f"{tol:.3g}; reason: {result.stop_reason}. "
        + convergence_advice(settings, optimizer, result, dtype)
    )


def convergence_advice(
    settings: SolverSettings, optimizer: str, result: OptimizeResult, dtype: torch.dtype
) -> str:
    """What to change after a full-batch fit that stopped before ``tol``."""
    if result.stop_reason.startswith(PRECISION_LIMIT):
        # No step changes the coefficients: more iterations cannot help.
        options = ["loosen tol"]
        if dtype == torch.float32:
            options.append("pass float64 X (float32 X is fitted in float32)")
        if optimizer != "newton" and settings.optimizer != "newton":
            options.append("try optimizer='newton'")
        return (
            "More iterations would not help: "
            + (", ".join(options[:-1]) + " or " + options[-1] if len(options) > 1
               else options[0])
            + "."
        )
    return (
        f"Increase max_iter (now {settings.max_iter}), scale the features (e.g. with "
        "StandardScaler), or loosen tol."
    )
