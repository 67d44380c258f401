"""Full-batch optimizers of a smooth convex objective: Newton and L-BFGS.

Each optimizer takes a :class:`~sklearn_neuron._objective.linear.LinearObjective`, a
starting point and a stopping rule, and returns an :class:`OptimizeResult`.
They share one stopping rule (:func:`_converged`): the largest absolute entry
of the objective's gradient is at most ``tol``, the criterion scikit-learn's
``lbfgs`` and ``newton-cholesky`` solvers use on the same (mean-loss) scale.

Both run entirely in torch on the objective's device; per iteration they call
the objective once for value and gradient (plus once for the Hessian in
Newton), and only fall back to more evaluations when the line search has to
shorten a step.

Hessian-free Newton (``"newton-cg"``) lives in :mod:`.newton_cg`; the
registry of every solver, and ``optimizer="auto"``'s choice among them, in
:mod:`.dispatch`.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import scipy.linalg
import torch

from .._callbacks import STOPPED_BY_CALLBACK, Monitor, log_verbose
from .._objective.design import null_projector
from .certificate import certify_newton_step
from .memory import newton_fits_memory

#: Armijo sufficient-decrease constant of the backtracking line search.
_ARMIJO = 1e-4
#: Curvature constant of the approximate Wolfe condition.
_WOLFE_CURVATURE = 0.9
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
    arithmetic : torch.dtype or None
        The dtype the last iterations computed in, where it differs from
        ``theta``'s (a float32 fit finished in float64); None otherwise.
    handed_over : tuple of (float, torch.Tensor) or None
        The objective and gradient at ``theta`` of an L-BFGS fit that handed
        over (:data:`SWITCHED`), for the next optimizer to start from
        without evaluating them again; None otherwise.
    hessian : torch.Tensor or None
        The last Hessian the fit's Newton steps (a final step included)
        solved with, computed at or near ``theta``: a later stage of the fit
        in another precision takes its first steps with it (``newton``'s
        ``hessian``); None where the fit computed none.
    """

    theta: torch.Tensor
    n_iter: int
    converged: bool
    objective_curve: list = field(default_factory=list)
    grad_max: float = float("nan")
    stop_reason: str = ""
    arithmetic: torch.dtype | None = None
    handed_over: tuple[float, torch.Tensor] | None = None
    hessian: torch.Tensor | None = None

    def followed_by(self, later: OptimizeResult, **changes: Any) -> OptimizeResult:
        """The result of a fit run in two stages, this one and then ``later``
        (started where this one ended): ``later``'s outcome, the iterations of
        both, one curve (``later``'s start is this one's end: its value there
        is ``later``'s, which a stage in float64 after one in float32
        evaluates more closely), ``changes`` applied."""
        curve = self.objective_curve
        if later.objective_curve:
            curve = [*curve[:-1], *later.objective_curve]
        return dataclasses.replace(
            later, n_iter=self.n_iter + later.n_iter, objective_curve=curve, **changes
        )


def _max_abs(tensor):
    return float(torch.linalg.vector_norm(tensor, ord=float("inf")))


#: Machine epsilons of ``max(|f|, 1)`` within which two objective values are
#: rounding apart (:func:`objective_resolution`).
RESOLUTION_EPS = 100


def objective_resolution(f, dtype):
    """The change of an objective value ``f`` that arithmetic in ``dtype`` cannot
    tell from rounding: ``RESOLUTION_EPS`` epsilons of ``max(|f|, 1)``. A step
    that raises the objective by no more is accepted as not raising it."""
    return RESOLUTION_EPS * torch.finfo(dtype).eps * max(abs(f), 1.0)


def effective_tol(tol, dtype):
    """Gradient tolerance that arithmetic in ``dtype`` can reach.

    A float32 objective's gradient is only accurate to a few hundred machine
    epsilons, so an optimizer's iterations in a dtype stop at ``tol`` floored
    at ``100 * eps`` of it (1.2e-5 for float32, 2.2e-14 for float64). A fit of
    float32 data in memory asked for less continues in float64 from there
    (:func:`~sklearn_neuron._solvers.dispatch.polish_in_float64`): its floor
    is float64's.
    """
    return max(float(tol), 100.0 * torch.finfo(dtype).eps)


class _Progress:
    """Records the objective per iteration and reports it to the fit's :class:`Monitor`
    (history, log lines when verbose, callbacks)."""

    def __init__(self, name, verbose, f0, grad_max0, monitor=None, theta=None):
        self.name = name
        self.monitor = Monitor(verbose) if monitor is None else monitor
        self.curve = [f0]
        self.monitor.report(name, 0, f0, grad_max0, theta=theta)

    def step(self, it, f, grad_max, step_size, theta=None):
        """Record iteration ``it`` (at the iterate ``theta``, where the fit's
        coefficients can be read from it); return whether a callback asked to stop."""
        self.curve.append(f)
        return self.monitor.report(self.name, it, f, grad_max, step_size, theta=theta)


def _backtrack(objective, theta, f, g, direction, step):
    """Backtracking line search from ``step``.

    A step is accepted when it satisfies the Armijo condition, or, once the
    change in the objective is below what the dtype can resolve, the
    approximate Wolfe conditions of Hager and Zhang (2005), which use the
    directional derivative instead: near the optimum, differences of
    objective values are rounding noise while gradients still carry
    information. Returns ``(theta, f, grad, raw, step)``, or None when no step
    was accepted (or ``direction`` is not a descent direction). A step too
    short to change ``theta`` in its dtype is never accepted: the objective
    there equals ``f`` and passes the Armijo test, and an optimizer taking
    it would repeat it until ``max_iter``.
    """
    slope = float(torch.dot(g, direction))
    if not slope < 0:
        return None
    resolution = objective_resolution(f, theta.dtype)
    for _ in range(_MAX_HALVINGS):
        candidate = theta + direction if step == 1.0 else theta + step * direction
        if torch.equal(candidate, theta):
            return None  # every shorter step leaves theta where it is too
        f_new, g_new, raw = objective.value_gradient(candidate)
        f_new = float(f_new)
        # A NaN objective fails both tests and shortens the step.
        if f_new <= f + _ARMIJO * step * slope:
            return candidate, f_new, g_new, raw, step
        if f_new <= f + resolution:
            slope_new = float(torch.dot(g_new, direction))
            if _WOLFE_CURVATURE * slope <= slope_new <= (2 * _ARMIJO - 1) * slope:
                return candidate, f_new, g_new, raw, step
        step *= 0.5
    return None


def stopped_stage_result(objective, theta, n_iter, curve, stage_result):
    """The result of a staged solver (hinge, LAD) whose stage a callback stopped.

    The objective at the stage's end closes ``curve`` (appended in place);
    the stage's gradient and stop reason are kept.
    """
    curve.append(float(objective.value(theta)))
    return OptimizeResult(
        theta=theta, n_iter=max(n_iter, 1), converged=False, objective_curve=curve,
        grad_max=stage_result.grad_max, stop_reason=stage_result.stop_reason,
    )


def _finish(theta, it, converged, progress, grad_max, reason, hessian=None):
    return OptimizeResult(
        theta=theta,
        n_iter=it,
        converged=converged,
        objective_curve=progress.curve,
        grad_max=grad_max,
        stop_reason=reason,
        hessian=hessian,
    )


class _HessianAlongside:
    """``objective`` whose every value-and-gradient evaluation also computes
    the Hessian at the same point, in the same pass over the data.

    For data read again at each evaluation (out-of-core dask arrays: see
    ``reads_per_evaluation``), reading costs more than the arithmetic, and a
    Newton iteration then reads the data once instead of twice: the Hessian
    at an accepted point is the one computed with its value and gradient.
    """

    def __init__(self, objective: Any) -> None:
        self._objective = objective
        self._last: tuple[torch.Tensor | None, torch.Tensor | None] = (None, None)
        #: False: evaluations are value and gradient only (the last Hessian kept).
        self.active = True
        # What Newton and its final step read of the objective, forwarded explicitly.
        self.loss = objective.loss
        self.l1 = objective.l1
        self.n_params = objective.n_params
        self.n_outputs = objective.n_outputs
        self.n_params_per_output = objective.n_params_per_output
        self.distributed = objective.distributed
        self.dtype = objective.dtype
        self.device = objective.device

    @property
    def X(self) -> Any:  # noqa: N802 (the objective's name; its memory estimate reads it)
        return self._objective.X

    @property
    def hessian_rows(self) -> int:
        return self._objective.hessian_rows

    def null_mask(self) -> torch.Tensor | None:
        return self._objective.null_mask()

    def row_bounds(self) -> Any:
        return self._objective.row_bounds()

    def value(self, theta: torch.Tensor, raw: torch.Tensor | None = None) -> torch.Tensor:
        return self._objective.value(theta, raw)

    def value_gradient(self, theta):
        if not self.active:
            return self._objective.value_gradient(theta)
        f, g, raw, H = self._objective.value_gradient_hessian(theta)
        self._last = (theta, H)
        return f, g, raw

    def hessian(self, theta, raw=None):
        point, H = self._last
        return H if point is theta else self._objective.hessian(theta, raw)


def newton(
    objective, theta, *, tol, max_iter, verbose=0, name="newton", monitor=None, start=None,
    hessian_passes=None, hessian=None,
):
    """Damped Newton's method with Cholesky-solved steps.

    Each iteration solves ``H d = -g`` by a Cholesky factorisation of the
    exact Hessian and backtracks along ``d`` until the Armijo condition holds
    (the full step is accepted near the optimum, where convergence is
    quadratic). A Hessian that is not numerically positive definite gets a
    growing multiple of the identity added (Levenberg damping). For a softmax
    layer the Hessian is singular along the directions that do not change
    the probabilities; those are made positive definite by adding the
    projector onto them, which leaves the step in the identifiable subspace.
    On data read at each evaluation the Hessian comes with the value and
    gradient, in one read (:class:`_HessianAlongside`). ``start``, the
    objective and gradient at ``theta`` where the caller has them (an
    L-BFGS stage that handed over), saves their evaluation.
    ``hessian_passes``, the predicted cost of one Hessian in value-and-gradient
    passes (:func:`~sklearn_neuron._solvers.cost.hessian_passes`), allows chord
    steps on float64 data in memory: the last exact Hessian (its factor)
    reused where its steps are predicted to carry the gradient to the
    objective's rounding in no more passes than an exact iteration
    (:func:`_chord_steps_to_rounding`); None takes every step with the exact
    Hessian but the final one (which reuses the last where one step suffices).
    ``hessian``, a Hessian of the objective near ``theta`` (an earlier stage's,
    computed in float32: :func:`~sklearn_neuron._solvers.dispatch.polish_in_float64`),
    takes the first step as a chord step; in memory the next ones reuse it
    where that step's measured contraction qualifies them, as after any chord
    step, and on distributed data the next ones are exact.
    """
    warm_theta, first_hessian = _warm_start(
        objective, theta, tol=tol, max_iter=max_iter, verbose=verbose, name=name
    )
    # The caller's value and gradient serve where theta is still theirs and
    # no read of the data is to bring the Hessian along.
    if warm_theta is not theta or objective.reads_per_evaluation:
        start = None
    theta = warm_theta
    if first_hessian is None and hessian is not None:
        first_hessian = hessian
    # In memory the final step may reuse the last Hessian (see
    # _chord_steps_to_rounding); distributed data certify theirs with the exact one.
    in_memory = not (objective.distributed or objective.reads_per_evaluation)
    if objective.reads_per_evaluation:
        objective = _HessianAlongside(objective)
        first_hessian = None  # the exact one comes with the first evaluation
    elif first_hessian is not None and not in_memory:
        # The point the first step reaches needs its exact Hessian (for the
        # next step, or the final one): it comes with that point's value.
        objective = _HessianAlongside(objective)
        objective.active = False
    tol = effective_tol(tol, theta.dtype)
    if start is not None:
        (f, g), raw = start, None
    else:
        f, g, raw = objective.value_gradient(theta)
    f = float(f)
    grad_max = _max_abs(g)
    progress = _Progress(name, verbose, f, grad_max, monitor, theta)
    it = 0
    # The last Hessian solved with, its factor, and the predicted contraction
    # of a chord step with them.
    chords_allowed = hessian_passes is not None and in_memory
    H, factor, rate = None, None, None
    if (
        hessian is not None and first_hessian is hessian and in_memory and grad_max <= tol
        and max_iter > 0 and _takes_final_step(objective, 0)
    ):
        # The earlier stage met tol (and took its final step in its
        # precision): this stage's final step, with that stage's Hessian.
        theta, f, g, grad_max, it, H = _final_steps(
            objective, theta, f, g, raw, grad_max, it, progress, max_iter,
            chords=1, reused=(hessian, NewtonFactor.of(objective, hessian)),
        )
        return _finish(theta, it, True, progress, grad_max, "max|grad| <= tol", H)
    while it < max_iter:
        it += 1
        chord = first_hessian is not None or chords_allowed and _chord_steps_to_rounding(
            f, grad_max, rate, theta.dtype, hessian_passes
        ) is not None
        if first_hessian is not None or not chord:
            H = objective.hessian(theta, raw) if first_hessian is None else first_hessian
            factor = NewtonFactor.of(objective, H)
        direction = factor.direction(g)
        alongside = first_hessian is not None and isinstance(objective, _HessianAlongside)
        if alongside:
            objective.active = True
        accepted = _backtrack(objective, theta, f, g, direction, 1.0)
        if alongside:
            objective.active = False
        first_hessian = None
        full_step = accepted is not None and accepted[-1] == 1.0
        previous_grad_max = grad_max
        if accepted is None:
            # Not a descent direction (a non-convex loss) or a kink of a
            # margin loss: fall back to a steepest-descent step.
            first_step = min(1.0, 1.0 / max(float(g.abs().sum()), 1e-12))
            accepted = _backtrack(objective, theta, f, g, -g, first_step)
        if accepted is None:
            return _finish(
                theta, it, grad_max <= tol, progress, grad_max, _precision_reason(theta), H
            )
        theta, f, g, raw, step = accepted
        grad_max = _max_abs(g)
        rate = chord_rate(grad_max, previous_grad_max, chord) if full_step else None
        stop = progress.step(it, f, grad_max, step, theta)
        if grad_max <= tol:
            if it < max_iter and not stop and _takes_final_step(objective, 0):
                chords = _chord_steps_to_rounding(
                    f, grad_max, rate, theta.dtype, hessian_passes
                ) if in_memory else None
                theta, f, g, grad_max, it, H = _final_steps(
                    objective, theta, f, g, raw, grad_max, it, progress, max_iter,
                    chords=chords, reused=None if chords is None else (H, factor),
                )
            return _finish(theta, it, True, progress, grad_max, "max|grad| <= tol", H)
        if stop:
            return _finish(theta, it, False, progress, grad_max, _stopped_reason(it), H)
    return _finish(theta, it, False, progress, grad_max, "max_iter reached", H)


def _final_steps(
    objective, theta, f, g, raw, grad_max, it, progress, max_iter, *, chords, reused
):
    """A converged Newton fit's final step, or its chord steps in its place.

    ``chords`` None: one exact final step (:func:`_final_newton_step`).
    Otherwise up to ``chords`` chord steps with ``reused`` (a Hessian and its
    :class:`NewtonFactor`), until the gradient reaches the float64
    objective's rounding; a chord step that is not kept, or that contracts the
    gradient by less than ``CHORD_MAX_RATE`` above that rounding, is followed
    by one exact step, which ends them: its Hessian is too far from the exact
    one for the step to square the error (a float32 stage's Hessian on
    ill-conditioned data, whose smallest curvatures lie below float32's
    rounding of the largest). Not after a chord step that was not kept from a
    gradient within ``1 / CHORD_MAX_RATE`` of the rounding: there the
    gradient is at its own rounding (breast_cancer at ``tol=1e-10``: 2.5e-14
    against 2.2e-14), and the exact step was not kept either.
    Returns ``(theta, f, g, grad_max, it, hessian)``.
    """
    for _ in range(chords or 1):
        before, previous = it, grad_max
        theta, f, g, grad_max, it, hessian = _final_newton_step(
            objective, theta, f, g, raw, grad_max, it, progress,
            reused=None if chords is None else reused,
        )
        if chords is None or it >= max_iter:
            break
        resolution = objective_resolution(f, torch.float64)
        if grad_max <= resolution:
            break
        if it == before and CHORD_MAX_RATE * grad_max <= resolution:
            # Not kept where one chord step's contraction would have reached
            # the rounding: the gradient is at its own rounding, and an exact
            # step, judged alike, could do no better.
            break
        if it == before or grad_max > CHORD_MAX_RATE * previous:
            # (raw, the raw output the caller had, is theta's only if the chord step was not kept)
            theta, f, g, grad_max, it, hessian = _final_newton_step(
                objective, theta, f, g, raw if it == before else None, grad_max, it, progress
            )
            break
    return theta, f, g, grad_max, it, hessian


#: A chord step, Newton's step with the Hessian of an earlier point (its
#: factor reused), contracts the gradient linearly: after an exact step by
#: about this many times that step's own contraction (the Hessian has moved
#: by the step just taken; the exact step's quadratic term carries half of
#: that change), after a chord step by the contraction just measured.
CHORD_RATE_FACTOR = 2.0
#: Chord steps are taken only where each is predicted to contract the
#: gradient at least this much (far from the optimum the exact Hessian's
#: quadratic steps are worth their cost).
CHORD_MAX_RATE = 0.1


def chord_rate(grad_max, previous_grad_max, chord):
    """The predicted contraction of a chord step after a full step that took the
    largest gradient entry from ``previous_grad_max`` to ``grad_max`` (``chord``:
    whether that step was itself a chord step); None where unknown."""
    if not previous_grad_max > 0:
        return None
    rate = grad_max / previous_grad_max
    return rate if chord else CHORD_RATE_FACTOR * rate


def chord_steps(grad_max, rate, tol, hessian_passes):
    """Chord steps predicted to take ``grad_max`` to ``tol`` at ``rate`` each, or
    None where they are not worth taking.

    Each chord step costs one value-and-gradient pass (its line search's
    evaluation) where an exact Newton iteration costs that pass and a
    Hessian, ``hessian_passes`` passes more. Chord steps are taken where at
    most ``hessian_passes + 1`` of them, each at a rate of at most
    ``CHORD_MAX_RATE``, meet ``tol``: no more passes than one exact
    iteration. A prediction that fails costs one pass: the contraction is
    measured at each step, and the next step takes the exact Hessian where
    the measured one no longer qualifies.
    """
    if rate is None or not 0.0 < rate <= CHORD_MAX_RATE:
        return None
    if grad_max <= tol:
        return 0
    steps = math.ceil(math.log(tol / grad_max) / math.log(rate))
    return steps if steps <= hessian_passes + 1 else None


def _chord_steps_to_rounding(f, grad_max, rate, dtype, hessian_passes):
    """Chord steps predicted to take the gradient to the float64 objective's
    rounding, or None where Newton's steps are to be exact.

    Newton's final step squares the distance the stopping rule leaves. Chord
    steps serve in its place, and in place of the iterations before it, only
    where they carry the fit to the float64 objective's rounding
    (:func:`objective_resolution`, where an exact step would buy nothing a
    float could hold) in no more passes over the data than an exact
    iteration costs (:func:`chord_steps`; one, for the final step only,
    where ``hessian_passes`` is not given). So the dearer a Hessian against
    a pass, the sooner they take over: at the default tol on small data every
    step is exact, the final one included, while on large data, and at a
    tight tol, where the step that met it was quadratic (``rate`` the
    predicted one of a step with its Hessian, :func:`chord_rate`), chord
    steps finish. Never in float32 (float32's rounding is not the bar: at its
    default tol a float32 fit's reused Hessian left 1.2e-8 of relative gap
    where the exact one left less than 1e-8, ``tests/test_float32_answers.py``).
    """
    if rate is None or dtype != torch.float64:
        return None
    steps = chord_steps(
        grad_max, rate, objective_resolution(f, torch.float64),
        0.0 if hessian_passes is None else hessian_passes,
    )
    return None if steps is None else max(steps, 1)


def _warm_start(objective, theta, *, tol, max_iter, verbose, name):
    """Newton's start ``(theta, hessian)``: ``theta`` and None, or the optimum of
    Newton on a subsample of the rows and an estimate of the full Hessian there
    (dask data; see :meth:`~sklearn_neuron._dask.objective.DaskObjective.subsample_newton`).

    Each full iteration on large distributed data is a pass over all of it;
    the subsample's optimum is within sampling error of the full one, and
    the full iterations from there are the last, quadratic ones. The
    subsample's Hessian, scaled to the full data, stands in for the first
    full Hessian (a pass saved): the backtracking line search keeps that
    step safe, and the later iterations use the exact Hessian. Only a
    subsample fit that converged is used; the full fit's result (and its
    iterations, ``n_iter_``) are those of the full objective either way.
    """
    subsample_newton = objective.subsample_newton
    if subsample_newton is None or max_iter <= 1:
        return theta, None
    warm = subsample_newton(theta, tol=tol, max_iter=max_iter)
    if warm is None:
        return theta, None
    result, hessian, stage = warm
    stage = f"{name}/{stage}"
    if verbose:
        curve = result.objective_curve
        log_verbose(
            f"[{stage}] {result.n_iter} iterations: objective {curve[0]:.10g} -> "
            f"{curve[-1]:.10g}, max|grad|={result.grad_max:.3e} ({result.stop_reason})"
        )
    if not result.converged:
        if verbose:
            log_verbose(f"[{stage}] did not converge: cold start")
        return theta, None
    return result.theta, hessian


#: After L-BFGS meets the stopping rule, the final Newton step is taken when
#: one Hessian costs at most this many times the value-and-gradient passes
#: already spent (a Hessian pass is ``n_params`` times a gradient pass).
FINAL_STEP_WORK_RATIO = 16
#: Above this many parameters no final Newton step is taken (its Hessian).
FINAL_STEP_MAX_PARAMS = 2048


#: A final Newton step is certified (not evaluated) only where the objective
#: it reports is known to this relative precision (it is the quadratic
#: model's value, off the true one by at most the certified remainder). The
#: coefficients are the step's, exactly; only ``objective_`` carries this
#: bound. 1e-9 lies far below what tells two fits apart (the final step
#: itself lowers the objective by ``g' H^-1 g / 2``, ~1e-7 relative at the
#: default tol) and inference evaluates its own log-likelihood. A tighter
#: bound (1e-12 was tried) missed the steps of ordinary default fits: on
#: 2,000,000 rows the remainder bound is ~1e-10 relative (the true error
#: ~1e-11), and the step was evaluated, a pass over all the data.
CERTIFIED_VALUE_RTOL = 1e-9


def _takes_final_step(objective, n_evaluations):
    """Whether a converged fit ends with one Newton step (see :func:`_final_newton_step`).

    ``n_evaluations`` of value and gradient were spent by the optimizer (0:
    the optimizer already paid for Hessians, so one more is affordable).
    """
    if not objective.loss.twice_differentiable or objective.l1:
        return False
    n_params = objective.n_params
    if n_params > FINAL_STEP_MAX_PARAMS or not newton_fits_memory(objective):
        return False
    return not n_evaluations or n_params <= FINAL_STEP_WORK_RATIO * n_evaluations


def _final_newton_step(objective, theta, f, g, raw, grad_max, it, progress, reused=None):
    """One full Newton step from a point that met the stopping rule.

    ``max|grad| <= tol`` bounds the gradient, not the distance to the
    optimum: at the default ``tol`` the coefficients are still ~tol /
    (smallest curvature) away, 1e-4 to 1e-3 on ordinary data. Where Newton
    converges quadratically one more step squares that error, which is what
    scikit-learn's ``newton-cholesky`` gets from its Newton-decrement
    criterion. In float32 it also takes the fit from the gradient floor
    (``effective_tol``) down to the dtype's rounding. The step is kept only if
    it lowers the objective (to rounding) and the largest gradient entry.
    On distributed data, where that check is one more pass over all of it,
    the step is certified instead where the loss allows it
    (:func:`~sklearn_neuron._solvers.certificate.certify_newton_step`): bounds from
    its Taylor remainders guarantee both conditions without an evaluation,
    and the point's gradient (None) and largest entry (that bound) and its
    objective (the quadratic model's, within ``CERTIFIED_VALUE_RTOL`` of the
    true one) are reported instead of measured ones. An uncertified step is
    evaluated; a point whose gradient is already at the rounding of its
    coefficients takes no step (it could not be told from rounding).
    ``reused``, where given, is Newton's last Hessian and its
    :class:`NewtonFactor`, for a chord step
    (:func:`_chord_steps_to_rounding`; in memory, so never certified).
    Returns ``(theta, f, g, grad_max, it, hessian)``, ``hessian`` the one
    the step solved with (the step taken or not).
    """
    if reused is None:
        hessian = objective.hessian(theta, raw)
        direction = newton_direction(objective, hessian, g)
    else:
        hessian, factor = reused
        direction = factor.direction(g)
    candidate = theta + direction
    resolution = objective_resolution(f, theta.dtype)
    certificate = _certificate_of(objective, theta, f, g, hessian, direction)
    if certificate is not None and grad_max <= certificate.rounding:
        # Already at the coefficients' resolution (an exact quadratic's
        # first step, say): the step could not be told from rounding.
        return theta, f, g, grad_max, it, hessian
    if (
        certificate is not None
        and certificate.value_error <= CERTIFIED_VALUE_RTOL * max(abs(f), 1.0)
        and certificate.value + certificate.value_error <= f + resolution
        and certificate.grad_max <= grad_max
    ):
        if progress.monitor.verbose:
            log_verbose(
                f"[{progress.name}] final step certified without a pass: max|grad| <= "
                f"{certificate.grad_max:.3e}, objective within "
                f"{certificate.value_error:.1e} of {certificate.value:.10g}"
            )
        progress.step(it + 1, certificate.value, certificate.grad_max, 1.0, candidate)
        return candidate, certificate.value, None, certificate.grad_max, it + 1, hessian
    f_new, g_new, _ = objective.value_gradient(candidate)
    f_new = float(f_new)
    g_max_new = _max_abs(g_new)
    if not (f_new <= f + resolution and g_max_new <= grad_max):
        return theta, f, g, grad_max, it, hessian
    progress.step(it + 1, f_new, g_max_new, 1.0, candidate)
    return candidate, f_new, g_new, g_max_new, it + 1, hessian


def _certificate_of(objective, theta, f, g, hessian, direction):
    """The step's :class:`~sklearn_neuron._solvers.certificate.StepCertificate` on
    distributed data whose row bounds are known; None elsewhere (evaluating
    the step in memory costs less than a Hessian)."""
    if not objective.distributed:
        return None
    row_bound = objective.row_bounds()
    return certify_newton_step(objective, theta, f, g, hessian, direction, row_bound)


def newton_direction(objective, H, g):
    """The Newton step ``-H^-1 g`` of ``objective`` (Hessian ``H``, gradient ``g``)."""
    return NewtonFactor.of(objective, H).direction(g)


@dataclass(frozen=True)
class NewtonFactor:
    """The Cholesky factor of a Hessian that Newton's steps solve with; one
    factor serves every chord step with that Hessian.

    For a softmax layer ``H`` is singular along the directions that do not
    change the probabilities; adding the projector onto them (scaled to H)
    makes it positive definite and keeps the step out of them. A Hessian
    that is not numerically positive definite is damped by a growing
    multiple of the identity; ``L`` is None where that fails too (the step is
    then steepest descent, ``-g``).
    """

    L: torch.Tensor | None

    @classmethod
    def of(cls, objective, H):
        """The factor of ``objective``'s Hessian ``H``."""
        projector = null_projector(objective, H)
        if projector is not None:
            H = H + projector
        return cls(_cholesky_factor(H))

    def direction(self, g):
        """The step ``-H^-1 g``."""
        if self.L is None:
            return -g
        return torch.cholesky_solve(-g.unsqueeze(1), self.L).squeeze(1)


def _cholesky_factor(H):
    """The Cholesky factor of ``H``, damped until the factorisation succeeds
    (None where it never does)."""
    L, info = torch.linalg.cholesky_ex(H)
    if int(info) == 0:
        return L
    # Not numerically positive definite: add a growing multiple of I.
    eye = torch.eye(H.shape[0], dtype=H.dtype, device=H.device)
    damping = float(H.diagonal().abs().max() or 1.0) * torch.finfo(H.dtype).eps * 1e3
    for _ in range(20):
        L, info = torch.linalg.cholesky_ex(H + damping * eye)
        if int(info) == 0:
            return L
        damping *= 10.0
    return None


def _stopped_reason(it):
    return f"{STOPPED_BY_CALLBACK} at iteration {it}"


#: How the ``stop_reason`` starts when no step could change the parameters.
#: The stop reason of an L-BFGS fit whose ``switch`` handed over to another optimizer.
SWITCHED = "handed over to Newton"
PRECISION_LIMIT = "the line search could not decrease the objective any further"


def _precision_reason(theta):
    return f"{PRECISION_LIMIT}, the limit of {str(theta.dtype).replace('torch.', '')} precision"


def lbfgs(
    objective, theta, *, tol, max_iter, verbose=0, history=10, name="lbfgs", monitor=None,
    switch=None,
):
    """Limited-memory BFGS with a backtracking Armijo line search.

    The quasi-Newton direction comes from the last ``history`` steps in the
    compact representation of Byrd, Nocedal and Schnabel (1994): a handful of
    small matrix products per iteration instead of the two-loop recursion's
    ``4 * history`` vector operations, which is what decides the speed on
    small data. The initial scaling ``s.y / y.y`` makes the unit step the
    natural first try, so that most iterations cost one evaluation of value
    and gradient. Pairs with non-positive curvature are skipped, which keeps
    the direction a descent direction.

    ``switch``, a callable ``(iteration, grad_max) -> bool`` or None, is asked
    after each iteration that did not meet the stopping rule whether to hand
    over to another optimizer (:mod:`.hybrid`); where it says so the fit
    ends, not converged, with the stop reason :data:`SWITCHED`.
    """
    if objective.l1:
        return owlqn(
            objective,
            theta,
            tol=tol,
            max_iter=max_iter,
            verbose=verbose,
            history=history,
            name=name,
            monitor=monitor,
        )
    tol = effective_tol(tol, theta.dtype)
    f, g, _ = objective.value_gradient(theta)
    f = float(f)
    grad_max = _max_abs(g)
    progress = _Progress(name, verbose, f, grad_max, monitor, theta)
    s_hist, y_hist = [], []
    it = evaluations = 0
    while it < max_iter:
        it += 1
        accepted = None
        if s_hist:
            direction = _quasi_newton_direction(g, s_hist, y_hist)
            accepted = _backtrack(objective, theta, f, g, direction, 1.0)
        if accepted is None:
            # First iteration, or a stale quasi-Newton model: steepest descent.
            s_hist.clear(), y_hist.clear()
            first_step = min(1.0, 1.0 / max(float(g.abs().sum()), 1e-12))
            accepted = _backtrack(objective, theta, f, g, -g, first_step)
        if accepted is None:
            return _finish(theta, it, grad_max <= tol, progress, grad_max, _precision_reason(theta))
        theta_new, f, g_new, raw, step = accepted
        evaluations += 1 + round(-math.log2(step)) if step < 1 else 1
        _remember_pair(s_hist, y_hist, theta_new - theta, g_new - g, history)
        theta, g = theta_new, g_new
        grad_max = _max_abs(g)
        stop = progress.step(it, f, grad_max, step, theta)
        if grad_max <= tol:
            hessian = None
            if it < max_iter and not stop and _takes_final_step(objective, evaluations):
                theta, f, g, grad_max, it, hessian = _final_newton_step(
                    objective, theta, f, g, raw, grad_max, it, progress
                )
            return _finish(theta, it, True, progress, grad_max, "max|grad| <= tol", hessian)
        if stop:
            return _finish(theta, it, False, progress, grad_max, _stopped_reason(it))
        if switch is not None and it < max_iter and switch(it, grad_max):
            result = _finish(theta, it, False, progress, grad_max, SWITCHED)
            result.handed_over = (f, g)
            return result
    return _finish(theta, it, False, progress, grad_max, "max_iter reached")


def _pseudo_gradient(theta, g, l1):
    """OWL-QN's pseudo-gradient of ``f + sum(l1 * |theta|)``: the steepest
    one-sided slope at each coordinate (zero where 0 is optimal for it)."""
    right, left = g + l1, g - l1
    at_zero = torch.where(right < 0, right, torch.where(left > 0, left, torch.zeros_like(g)))
    return torch.where(theta > 0, right, torch.where(theta < 0, left, at_zero))


def owlqn(
    objective, theta, *, tol, max_iter, verbose=0, history=10, name="lbfgs", monitor=None
):
    """Orthant-wise limited-memory quasi-Newton (Andrew & Gao, 2007) for an L1 term.

    L-BFGS on the pseudo-gradient of ``f + l1 * ||W||_1``, with the step kept
    in the orthant of the current point: coordinates that would change sign
    are set to exactly zero, which is how the L1 fit gets its exact zeros.
    Stops when the largest pseudo-gradient entry is at most ``tol``.
    """
    tol = effective_tol(tol, theta.dtype)
    l1 = objective.l1_weights()
    f, g, _ = objective.value_gradient(theta)
    F = float(f) + float(torch.dot(l1, theta.abs()))
    pg = _pseudo_gradient(theta, g, l1)
    grad_max = _max_abs(pg)
    progress = _Progress(name, verbose, F, grad_max, monitor, theta)
    s_hist, y_hist = [], []
    it = 0
    while it < max_iter:
        it += 1
        if grad_max <= tol:
            return _finish(theta, it - 1 or 1, True, progress, grad_max, "max|grad| <= tol")
        direction = _quasi_newton_direction(pg, s_hist, y_hist) if s_hist else -pg
        direction = torch.where(direction * pg < 0, direction, torch.zeros_like(direction))
        orthant = torch.where(theta != 0, torch.sign(theta), -torch.sign(pg))
        step = 1.0 if s_hist else min(1.0, 1.0 / max(float(pg.abs().sum()), 1e-12))
        accepted = None
        resolution = objective_resolution(F, theta.dtype)
        for _ in range(_MAX_HALVINGS):
            candidate = theta + step * direction
            candidate = torch.where(
                torch.sign(candidate) == orthant, candidate, torch.zeros_like(candidate)
            )
            f_new, g_new, _ = objective.value_gradient(candidate)
            F_new = float(f_new) + float(torch.dot(l1, candidate.abs()))
            decrease = float(torch.dot(pg, candidate - theta))
            if F_new <= F + _ARMIJO * decrease or (F_new <= F + resolution and decrease < 0):
                accepted = candidate, F_new, g_new
                break
            step *= 0.5
        if accepted is None:
            if s_hist:
                s_hist.clear(), y_hist.clear()
                it -= 1  # retry from steepest descent without counting
                continue
            return _finish(theta, it, grad_max <= tol, progress, grad_max, _precision_reason(theta))
        candidate, F, g_new = accepted
        _remember_pair(s_hist, y_hist, candidate - theta, g_new - g, history)
        theta, g = candidate, g_new
        pg = _pseudo_gradient(theta, g, l1)
        grad_max = _max_abs(pg)
        if progress.step(it, F, grad_max, step, theta) and grad_max > tol:
            return _finish(theta, it, False, progress, grad_max, _stopped_reason(it))
    converged = grad_max <= tol
    return _finish(
        theta,
        it,
        converged,
        progress,
        grad_max,
        "max|grad| <= tol" if converged else "max_iter reached",
    )


def _remember_pair(s_hist, y_hist, s, y, history):
    """Keep the step ``s`` and gradient change ``y`` in the last ``history`` pairs.

    Pairs without positive curvature (``s.y <= eps * y.y``) are skipped: they
    would make the quasi-Newton matrix indefinite.
    """
    if float(torch.dot(s, y)) > torch.finfo(s.dtype).eps * float(torch.dot(y, y)):
        if len(s_hist) == history:
            s_hist.pop(0), y_hist.pop(0)
        s_hist.append(s)
        y_hist.append(y)


def _quasi_newton_direction(g, s_hist, y_hist):
    """Return ``-H g`` for the L-BFGS inverse Hessian ``H`` in compact form.

    With ``S``, ``Y`` the stacked steps and gradient changes, ``R`` the upper
    triangle of ``S Y^T``, ``D`` its diagonal and ``gamma = s.y / y.y`` of the
    newest pair (Nocedal & Wright, eq. 7.24)::

        H g = gamma g + S^T p1 + gamma Y^T p2,
        p2 = -R^-1 S g,
        p1 = R^-T ((D + gamma Y Y^T) R^-1 S g - gamma Y g).

    In numpy, in float64: the products are of at most ``history`` vectors,
    far too small for threads, and torch hands even a 10 x 51 product to its
    thread pool, which on a machine whose other cores are busy waits for a
    descheduled thread, orders of magnitude longer than the product itself.
    """
    S = torch.stack(s_hist).detach().cpu().double().numpy()
    Y = torch.stack(y_hist).detach().cpu().double().numpy()
    g64 = g.detach().cpu().double().numpy()
    SY = S @ Y.T
    YY = Y @ Y.T
    gamma = SY[-1, -1] / YY[-1, -1]
    # R is the upper triangle of SY: LAPACK's triangular solve reads no other
    # entry. Its diagonal, the pairs' s.y, is positive (_remember_pair). Called
    # directly: scipy's solve_triangular checks and converts its operands at a
    # cost above the solve's at these sizes.
    r_inv_sg, _ = scipy.linalg.lapack.dtrtrs(SY, S @ g64, lower=0, trans=0)
    inner = np.diag(SY) * r_inv_sg + gamma * (YY @ r_inv_sg) - gamma * (Y @ g64)
    p1, _ = scipy.linalg.lapack.dtrtrs(SY, inner, lower=0, trans=1)
    Hg = gamma * g64 + S.T @ p1 - gamma * (Y.T @ r_inv_sg)
    return torch.from_numpy(-Hg).to(dtype=g.dtype, device=g.device)
