"""Minibatch training with torch.optim that converges: SVRG steps and an honest stop.

Constant-step minibatch SGD or Adam does not converge: it hovers in a ball
around the optimum whose size is set by the gradient noise, and a stopping
rule on the epoch loss cannot tell that ball from the optimum. This module
removes the noise instead of averaging it away.

Variance reduction (SVRG, Johnson & Zhang, 2013). Each epoch starts at a
*snapshot* ``theta_s``, where the full objective, its full gradient ``mu``
and every sample's gradient in the raw output ``r_i(theta_s)`` are computed
in one pass over the data. Each minibatch ``B`` then gives the optimizer the
gradient

    g_B(theta) - g_B(theta_s) + mu,

an unbiased estimate of the full gradient whose noise vanishes as
``theta`` and ``theta_s`` approach the optimum. For a linear model the
snapshot term needs no second pass over ``X_B``: it is
``X_B^T (w_B * (r_B(theta) - r_B(theta_s)))``, one product per minibatch as in
plain SGD (the per-sample ``r_i`` are ``n_samples x n_outputs`` numbers). The
L2 term's gradient is exact. Any ``torch.optim.Optimizer`` whose ``step``
takes no closure steps on these gradients. An L1 term is a proximal step
(soft-thresholding by ``lr * l1``) after each step (prox-SVRG, Xiao & Zhang,
2014), which is the proximal gradient method only after a plain gradient
step: with an L1 term only SGD without momentum is offered
(:func:`.torch_steps.check_optimizer`).

The stopping rule is the full-batch optimizers': the largest absolute entry
of the full gradient (the pseudo-gradient with an L1 term) is at most
``tol``, checked at each epoch's snapshot, which computes it at no extra
cost; so ``tol`` means what it means for Newton and L-BFGS. Where the loss
has a Hessian (and it is affordable), the rule also asks the Newton step to
be within ``tol`` (the distance to the optimum), and it may follow up to
:data:`NEWTON_CHECK_STEPS` damped Newton steps from the snapshot (each halved
until it lowers the objective) to a point that meets it
(:func:`stopping_rule`). A check that does not get there keeps the descending
Newton iterates it took, and the epochs go on from the last. The minibatch
steps then only have to come near enough for a few Newton steps. A fit that
does not meet the rule in ``max_iter`` epochs says so, with how far it is.
A fit that meets it ends as the full-batch optimizers do: with one more
Newton step, kept if it lowers the objective and the gradient.

The step is adapted to the problem. ``learning_rate="auto"`` takes
``1 / L`` for SGD, where ``L`` estimates the objective's smoothness (the
loss's largest curvature times the largest eigenvalue of the weighted Gram
matrix of the rows: scikit-learn's ``sag`` takes the largest squared row
norm instead, the bound for single-sample steps), and a fixed step per
adaptive optimizer (:data:`AUTO_LEARNING_RATES`; Adam's ``beta2`` 0.99,
:data:`AUTO_OPTIMIZER_KWARGS`), whose update has the
parameters' units.
An epoch whose snapshot objective is not below the best one (the step was
too long: the iterates diverged or oscillate) is undone and the step
divided by :data:`STEP_DECREASE`. The fit therefore never ends worse than it started,
and a run whose step had to collapse to nothing stops and says so.

With ``early_stopping``, as in scikit-learn's MLP: training stops when the
validation score has not improved by ``tol`` for ``n_iter_no_change``
epochs, and the best parameters are restored.

``partial_fit`` (:func:`one_pass`) makes one pass of plain minibatch steps per
call over the data it is given (a stream has no full gradient to reduce the
variance with), with the step decreasing as ``1 / sqrt(k)`` over calls: the
optimizer's hyperparameters are the call's own, and only the per-parameter
state of an optimizer of the same kind carries over.

The optimizers by name (``"sgd"``, ``"adam"``, ...) are torch's updates
without torch's compiler stack (:mod:`.eager_steps`). A ``torch.optim`` class
imports it (``torch._dynamo``) lazily, in the first constructor of a process;
that import is made with Ctrl-C held
(:func:`.torch_steps._import_compiler_stack`), so an interrupt cannot leave it half done.

The data stay where they are: each epoch shuffles row indices and slices the
design matrix directly (never through a DataLoader).
"""

import math
from dataclasses import dataclass, field

import numpy as np
import scipy.sparse
import torch

from .._callbacks import STOPPED_BY_CALLBACK, Monitor
from .diagnostics import not_finite_message
from .eager_steps import torch_counterpart
from .optimizers import (
    OptimizeResult,
    _pseudo_gradient,
    effective_tol,
    newton_direction,
    objective_resolution,
)
from .torch_steps import (
    AUTO_LEARNING_RATES,
    MAX_AUTO_MOMENTUM,  # noqa: F401 (documented here)
    STEP_DECREASE,  # noqa: F401 (documented here)
    STOCHASTIC_OPTIMIZERS,  # noqa: F401 (importable from here, as before the move)
    _make_optimizer,
    _step,
    _undo_epoch,
    check_optimizer,
    nesterov_momentum,
)

#: ``learning_rate="auto"``'s keyword arguments for these optimizers, unless
#: ``optimizer_kwargs`` sets them. Adam's second-moment average with
#: ``beta2 = 0.99`` forgets in ~100 steps instead of ~1000: it then follows the
#: variance-reduced gradients as they shrink, instead of dividing late steps
#: by the early, large gradients (default fits to tol on iris, wine and
#: breast_cancer: 133, 100 and 76 epochs with 0.999, 78, 60 and 71 with 0.99;
#: digits within 8e-4 of the optimum after 100 epochs, against 1.3e-3).
AUTO_OPTIMIZER_KWARGS = {
    torch.optim.Adam: {"betas": (0.9, 0.99)},
    torch.optim.AdamW: {"betas": (0.9, 0.99)},
}

#: The fit gives up once the step has shrunk by this factor.
SMALLEST_STEP_FRACTION = 1e-10


@dataclass
class StochasticResult(OptimizeResult):
    """:class:`OptimizeResult` plus what minibatch training records."""

    validation_scores: list = field(default_factory=list)
    optimizer_state: dict = field(default_factory=dict)
    n_samples_seen: int = 0
    learning_rate: float = float("nan")
    #: The full objective (with L1) at ``theta`` where known, NaN where not.
    final_value: float = float("nan")


#: Rows (evenly spaced) and power iterations that estimate the smoothness.
_SMOOTHNESS_ROWS = 4096
_POWER_ITERATIONS = 12


def smoothness(objective):
    """An estimate of the smoothness ``L`` of the objective (the largest
    eigenvalue of its Hessian, bounded over all parameters).

    ``c * lambda_max(sum_i w_i xa_i xa_i^T) + l2`` with ``xa_i = [x_i, 1]``
    and ``c`` the loss's largest curvature in the raw output
    (:attr:`NeuronLoss.max_curvature`); the eigenvalue by power iteration on
    at most :data:`_SMOOTHNESS_ROWS` evenly spaced rows. A loss without such
    a bound (a log link, a callable) uses twice its largest curvature at the
    starting point. An estimate that is too low gives too long a step, which
    the first epochs undo (see the module docstring).
    """
    n = objective.X.shape[0]
    stride = max(1, n // _SMOOTHNESS_ROWS)
    index = torch.arange(0, n, stride, device=objective.device)
    weight = objective.weight.index_select(0, index)
    if not weight.any():  # the sampled rows all weigh nothing: all rows instead
        index = torch.arange(n, device=objective.device)
        weight = objective.weight
    weight = (weight / weight.sum()).unsqueeze(1)
    if objective.is_sparse:
        # Kept sparse (scipy): a dense copy of the rows costs more than the fit's epochs.
        X = objective.design.scipy_rows(index.cpu().numpy())
        if objective.fit_intercept:
            X = scipy.sparse.hstack([X, np.ones((X.shape[0], 1))], format="csr")
        XT = X.T.tocsr()
        weight_np = weight.cpu().numpy()[:, 0].astype(X.dtype)

        def product(v):
            w = XT @ (weight_np * (X @ v.cpu().numpy()))
            return torch.from_numpy(np.asarray(w)).to(objective.weight)
    else:
        X = objective.rows(index)
        if objective.fit_intercept:
            X = torch.cat([X, torch.ones((X.shape[0], 1), dtype=X.dtype, device=X.device)], 1)

        def product(v):
            return X.T @ (weight * (X @ v).unsqueeze(1)).squeeze(1)

    v = torch.ones(X.shape[1], dtype=objective.weight.dtype, device=objective.weight.device)
    eigenvalue = 0.0
    for _ in range(_POWER_ITERATIONS):
        w = product(v)
        eigenvalue = float(torch.linalg.vector_norm(w))
        if not (eigenvalue > 0 and math.isfinite(eigenvalue)):
            break  # zero, or overflowed (inf or NaN, which the caller refuses)
        v = w / eigenvalue
    curvature = objective.loss.max_curvature
    if curvature is None:
        curvature = 1.0
        if objective.loss.twice_differentiable:
            theta = objective.initial_theta()
            h = objective.loss.hessian(objective.raw(theta), objective.target)
            curvature = 2.0 * float(h.abs().amax()) or 1.0
    return curvature * eigenvalue + objective.l2


def auto_learning_rate(objective, optimizer_class, name="minibatch"):
    """The step of ``learning_rate="auto"``: ``1 / L`` for SGD, else the class's default."""
    return _auto_settings(objective, optimizer_class, {}, name)[0]


def _auto_settings(objective, optimizer_class, optimizer_kwargs, name="minibatch"):
    """``learning_rate="auto"``'s step, optimizer keyword arguments, and
    whether the momentum is automatic (then it follows the step).

    SGD: step ``1 / L`` (:func:`smoothness`) and, unless the user set a
    momentum (and without an L1 term), Nesterov's momentum for the condition number ``L / l2``
    (:func:`nesterov_momentum`; the L2 penalty bounds the objective's strong
    convexity from below, up to the unpenalized intercept). An ``L`` that
    overflows the dtype is refused as the full-batch fits refuse a
    non-finite objective: no step follows from it.
    """
    kwargs = dict(optimizer_kwargs)
    optimizer_class = torch_counterpart(optimizer_class)  # an eager class: its torch class
    if issubclass(optimizer_class, torch.optim.SGD):
        lipschitz = smoothness(objective)
        if not math.isfinite(lipschitz):
            dtype = str(objective.dtype).replace("torch.", "")
            raise ValueError(
                f"{name}: the features' scale (max |X| = {objective.abs_max():.3g}) "
                f"overflows {dtype} in the objective's smoothness (the largest eigenvalue "
                "of the rows' Gram matrix), which sets the automatic step. Scale the "
                "features, e.g. with StandardScaler."
            )
        # Zero only where the objective is flat (all-zero rows, no intercept
        # or penalty): any step is as good, and the first epoch ends the fit.
        step = 1.0 / lipschitz if lipschitz > 0 else 1.0
        # No automatic momentum with an L1 term: the proximal step is made
        # for plain (prox-SVRG) steps, and momentum carries the iterates
        # through the exact zeros it would set.
        automatic = "momentum" not in kwargs and not objective.l1
        if automatic:
            kwargs.update(momentum=nesterov_momentum(step, objective.l2), nesterov=True)
        return step, kwargs, automatic
    for cls in optimizer_class.__mro__:
        if cls in AUTO_LEARNING_RATES:
            for name, value in AUTO_OPTIMIZER_KWARGS.get(cls, {}).items():
                kwargs.setdefault(name, value)
            return AUTO_LEARNING_RATES[cls], kwargs, False
    return 1e-3, kwargs, False


@dataclass
class _Snapshot:
    """The full-data quantities at one point (see the module docstring)."""

    theta: torch.Tensor
    value: float  # objective, L1 term included
    data_gradient: torch.Tensor  # gradient of the weighted mean loss, no penalty
    grad_raw: torch.Tensor  # each sample's loss gradient in its raw output
    measure: float  # max |gradient| (pseudo-gradient with L1) of the objective


def _snapshot(objective, theta, l1_weights):
    value, gradient, grad_raw = objective.value_gradient_pointwise(theta)
    data_gradient = gradient
    if objective.l2:
        data_gradient = gradient - objective.l2_gradient(theta)
    value = float(value)
    if l1_weights is not None:
        value += float(torch.dot(l1_weights, theta.abs()))
        gradient = _pseudo_gradient(theta, gradient, l1_weights)
    measure = float(torch.linalg.vector_norm(gradient, ord=float("inf")))
    if not math.isfinite(measure):
        value = float("nan")
    return _Snapshot(theta, value, data_gradient, grad_raw, measure)


#: The distance to the optimum is measured by a Newton step up to this many
#: parameters, and while the Hessian's cost (``n_samples * n_params**2``
#: multiply-adds; ``sum_i nnz_i**2`` on sparse CPU data, see
#: :attr:`LinearObjective.gram_work`) is at most :data:`DISTANCE_MAX_WORK`;
#: beyond, it costs more than many epochs and only the gradient is checked.
DISTANCE_MAX_PARAMS = 2048
DISTANCE_MAX_WORK = 2e9


def newton_checkable(objective):
    """Whether :func:`distance_to_optimum` is computed for ``objective``:
    a twice-differentiable loss without an L1 term, at most
    :data:`DISTANCE_MAX_PARAMS` parameters and a Hessian of at most
    :data:`DISTANCE_MAX_WORK`."""
    return (
        objective.loss.twice_differentiable
        and not objective.l1
        and objective.n_params <= DISTANCE_MAX_PARAMS
        and objective.gram_work <= DISTANCE_MAX_WORK
    )


def distance_to_optimum(objective, snapshot):
    """``(distance, step)``: the Newton step ``-H^-1 g`` at the snapshot and
    its largest entry relative to ``max(1, max|theta|)``, the distance to the
    optimum to second order.

    None where it is not computed (see :func:`newton_checkable`).
    """
    if not newton_checkable(objective):
        return None
    theta = snapshot.theta
    gradient = snapshot.data_gradient
    if objective.l2:
        gradient = gradient + objective.l2_gradient(theta)
    step = newton_direction(objective, objective.hessian(theta), gradient)
    scale = max(1.0, float(theta.abs().max()))
    return float(step.abs().max()) / scale, step


#: Newton steps the stopping rule may take from an epoch's snapshot.
NEWTON_CHECK_STEPS = 4

#: A Newton step of the stopping rule that does not lower the objective is
#: halved, at most this many times (a backtracking line search).
NEWTON_STEP_HALVINGS = 6


@dataclass
class StoppingCheck:
    """What :func:`stopping_rule` found.

    ``point`` is the snapshot that meets the rule (None if none did),
    ``path`` the Newton iterates that led to it or, when none met the rule,
    the descending iterates the check followed (the fit goes on from the
    last: they are progress), ``fractions`` the fraction of the full Newton
    step each of them took (1.0, or a halving of it), ``distance`` and
    ``step`` the Newton step at the last point looked at (both None where
    no Newton step is computed, :func:`newton_checkable`).
    """

    point: object
    path: list
    fractions: list
    distance: object
    step: object


def _descending_newton_point(objective, current, step):
    """``(fraction, snapshot)`` of the longest of ``step``, ``step / 2``, ...
    (:data:`NEWTON_STEP_HALVINGS` halvings) that lowers the objective; None if
    none does.

    The full step may leave the objective unchanged to rounding (near the
    optimum it cannot do better); a shortened one must lower it.
    """
    resolution = objective_resolution(current.value, step.dtype)
    fraction = 1.0
    for _ in range(NEWTON_STEP_HALVINGS + 1):
        candidate = _snapshot(objective, current.theta + fraction * step, None)
        bound = current.value + resolution if fraction == 1.0 else current.value
        if candidate.value <= bound and math.isfinite(candidate.measure):  # False for NaN
            return fraction, candidate
        fraction /= 2
    return None


def stopping_rule(objective, snapshot, tol, newton_steps=NEWTON_CHECK_STEPS):
    """Does ``snapshot``, or a Newton iterate from it, meet ``tol``?

    A point meets the rule where its full gradient's largest entry is at
    most ``tol`` and, where a Newton step is computed
    (:func:`newton_checkable`), so is that step's largest relative entry
    (the distance to the optimum, :func:`distance_to_optimum`). From the
    snapshot, up to ``newton_steps`` Newton steps are followed, each
    shortened by halving until it lowers the objective (damped Newton). So
    the minibatch iterates need only come near enough for a few Newton
    steps to finish. For the piecewise quadratic losses (squared hinge,
    modified Huber), a full step lands on the optimum once the margins fall
    on the optimum's side of the loss's kinks, long before the minibatch
    steps themselves get within ``tol``. A check that does not meet the rule
    returns the descending iterates it followed, and the fit goes on from
    the last of them.
    """
    if not newton_checkable(objective):
        point = snapshot if snapshot.measure <= tol else None
        return StoppingCheck(point, [], [], None, None)
    current, path, fractions = snapshot, [], []
    while True:
        distance, step = distance_to_optimum(objective, current)
        if current.measure <= tol and distance <= tol:
            return StoppingCheck(current, path, fractions, distance, step)
        if len(path) >= newton_steps:
            break
        found = _descending_newton_point(objective, current, step)
        if found is None:
            break
        fractions.append(found[0])
        path.append(found[1])
        current = found[1]
    return StoppingCheck(None, path, fractions, distance, step)


def _final_step(objective, snapshot, step):
    """The snapshot after the Newton step ``step``, if it lowers the objective
    (to rounding) and the largest gradient entry; else None.

    The full-batch optimizers end the same way (``_final_newton_step``): a
    fit that met ``tol`` is still about ``tol`` from the optimum, and one
    Newton step, whose Hessian the stopping rule has already paid for, squares
    that distance.
    """
    candidate = _snapshot(objective, snapshot.theta + step, None)
    resolution = objective_resolution(snapshot.value, step.dtype)
    if candidate.value <= snapshot.value + resolution and candidate.measure <= snapshot.measure:
        return candidate
    return None


def _batch_products(objective):
    """``(design, rows, raw, gradient)`` for the minibatches of an epoch.

    ``design(order)`` prepares the epoch's rows (``order`` a permutation, or
    None); ``rows(design, slice)`` is a minibatch of them; ``raw(theta,
    X_batch)`` its raw output; ``gradient(weighted_grad_raw, X_batch, base)``
    ``base`` plus the data term's gradient, laid out as ``theta``.

    Dense rows on the CPU are gathered minibatch by minibatch as ``[X, 1]``
    into one small buffer (:class:`_AugmentedRows`): each minibatch's raw
    output and gradient are then one product each, and no epoch allocates
    (and faults in) a copy of X. Sparse data on the CPU stay scipy CSR
    matrices: a row slice of CSR is cheap, and scipy multiplies both
    ``X_B @ W.T`` and ``X_B.T @ r`` directly, where torch would need a CSR
    tensor and a transposed copy of each minibatch.
    """
    if objective.is_sparse and objective.device.type == "cpu":
        return (objective.reordered,) + _sparse_batch_products(objective)
    if objective.is_sparse:
        def gradient(weighted_grad_raw, X_batch, base):
            return objective.linear_gradient(weighted_grad_raw, X_batch).reshape(-1) + base

        return objective.reordered, objective.row_slice, objective.raw, gradient
    K = objective.n_outputs

    def raw(theta, X_batch):
        if K == 1:
            return torch.mv(X_batch, theta).unsqueeze(1)
        return X_batch @ theta.view(K, -1).T

    def gradient(weighted_grad_raw, X_batch, base):
        if K == 1:
            return torch.addmv(base, X_batch.T, weighted_grad_raw[:, 0])
        return torch.addmm(base.view(K, -1), weighted_grad_raw.T, X_batch).reshape(-1)

    rows = _AugmentedRows(objective)
    return rows.epoch, rows.batch, raw, gradient


class _AugmentedRows:
    """The rows ``[X, 1][order]`` (``[X]`` without an intercept) of an
    epoch's minibatches, dense.

    On the CPU each minibatch is gathered by numpy's ``take`` (faster than
    torch's ``index_select`` into a strided view) into a buffer of one
    minibatch that every step reuses and that stays in cache: an epoch never
    holds a copy of X. Elsewhere (a GPU) the epoch's rows are gathered once.
    """

    def __init__(self, objective):
        self.X = objective.X
        self.fit_intercept = objective.fit_intercept
        self.numpy = self.X.device.type == "cpu" and self.X.dtype in (
            torch.float32, torch.float64,
        )
        self.source = self.X.numpy() if self.numpy else None
        self.buffer = None
        self.order = None

    def epoch(self, order):
        """Prepare the rows of an epoch in ``order`` (None: their own order)."""
        X, n = self.X, self.X.shape[0]
        if self.numpy:
            self.order = None if order is None else order.numpy()
            return X
        rows = X if order is None else X.index_select(0, order)
        if not self.fit_intercept:
            return rows
        return torch.cat([rows, torch.ones((n, 1), dtype=X.dtype, device=X.device)], 1)

    def batch(self, X_epoch, index):
        """The minibatch ``index`` (a slice) of the epoch's rows."""
        if not self.numpy or (self.order is None and not self.fit_intercept):
            return X_epoch[index]
        if self.buffer is None:
            size = index.stop - index.start
            d = self.X.shape[1]
            self.buffer = torch.empty((size, d + self.fit_intercept), dtype=self.X.dtype)
            if self.fit_intercept:
                self.buffer[:, -1] = 1.0
            self.out = self.buffer.numpy()[:, :d]
        m = min(index.stop, self.source.shape[0]) - index.start
        out = self.out if m == self.out.shape[0] else self.out[:m]
        if self.order is None:
            np.copyto(out, self.source[index])
        else:
            # mode="clip" (the indices are valid) lets numpy write into the
            # strided view without buffering.
            np.take(self.source, self.order[index], axis=0, out=out, mode="clip")
        return self.buffer if m == self.buffer.shape[0] else self.buffer[:m]


def _sparse_batch_products(objective):
    dtype = objective.dtype

    def rows(reordered, index):
        return reordered[index]

    def raw(theta, X_batch):
        coef, intercept = objective.unpack(theta)
        out = torch.from_numpy(np.asarray(X_batch @ coef.numpy().T)).to(dtype)
        return out if intercept is None else out + intercept

    def gradient(weighted_grad_raw, X_batch, base):
        grad = torch.empty((objective.n_outputs, objective.n_params_per_output), dtype=dtype)
        product = np.asarray(X_batch.T @ weighted_grad_raw.numpy())
        grad[:, : objective.n_features] = torch.from_numpy(product).T
        if objective.fit_intercept:
            torch.sum(weighted_grad_raw, dim=0, out=grad[:, -1])
        return grad.reshape(-1).add_(base)

    return rows, raw, gradient


def _epoch_order(n_samples, shuffle, generator, device):
    """The rows' order in an epoch: a permutation, or None for the data's own."""
    if shuffle:
        return torch.randperm(n_samples, generator=generator).to(device)
    return None


def minibatch(
    objective,
    theta,
    *,
    optimizer_class,
    optimizer_kwargs,
    learning_rate,
    batch_size,
    shuffle,
    max_iter,
    tol,
    n_iter_no_change,
    generator,
    validation_score=None,
    verbose=0,
    name="minibatch",
    monitor=None,
):
    """Minimise ``objective`` from ``theta`` by variance-reduced minibatch steps.

    Parameters
    ----------
    objective : LinearObjective
    theta : torch.Tensor
        Starting parameters (not modified).
    optimizer_class : type of torch.optim.Optimizer
    optimizer_kwargs : dict
        Extra keyword arguments of the optimizer (``lr`` comes from
        ``learning_rate``).
    learning_rate : float or "auto"
        The initial step (see :func:`auto_learning_rate`).
    batch_size : int
    shuffle : bool
        Whether to shuffle the rows each epoch (with ``generator``).
    max_iter : int
        Number of epochs at most.
    tol : float
        Gradient tolerance of the stopping rule (floored for the dtype as in
        :func:`~sklearn_neuron._solvers.optimizers.effective_tol`).
    n_iter_no_change : int
        Patience of early stopping.
    generator : torch.Generator
        Source of the shuffling; fixes the result bit for bit on the CPU.
    validation_score : callable, optional
        ``theta -> score`` (higher is better); turns on early stopping.
    monitor : Monitor, optional
        Where each epoch is reported (history, log lines, callbacks); by
        default one that logs when ``verbose``. A callback can stop the fit.

    Returns
    -------
    StochasticResult
        ``objective_curve`` holds the objective at the start and after each
        accepted epoch; ``grad_max`` the largest gradient entry at ``theta``.
    """
    tol = effective_tol(tol, theta.dtype)
    check_optimizer(optimizer_class, optimizer_kwargs, objective.l1)
    automatic_momentum = False
    if learning_rate == "auto":
        learning_rate, optimizer_kwargs, automatic_momentum = _auto_settings(
            objective, optimizer_class, optimizer_kwargs, name
        )
    step = first_step = float(learning_rate)
    parameter = torch.nn.Parameter(theta.detach().clone())
    optimizer = _make_optimizer(parameter, optimizer_class, optimizer_kwargs, step, None)
    l1_weights = objective.l1_weights()
    n_samples = objective.X.shape[0]
    batch_size = max(1, min(int(batch_size), n_samples))
    batches = [slice(start, start + batch_size) for start in range(0, n_samples, batch_size)]
    weight, target, loss = objective.weight, objective.target, objective.loss
    # Minibatch weights that make each minibatch gradient an unbiased estimate
    # (the last, shorter minibatch included: sizes are fixed across epochs).
    sizes = torch.tensor([b.stop - b.start for b in batches], dtype=weight.dtype)
    sizes[-1] = n_samples - batches[-1].start
    per_row_size = torch.repeat_interleave(sizes, sizes.long()).to(weight.device)
    scaled_weight = (weight * n_samples).unsqueeze(1)
    epoch_design, batch_rows, batch_raw, batch_gradient = _batch_products(objective)

    best = _snapshot(objective, parameter.detach().clone(), l1_weights)
    if not math.isfinite(best.value):
        raise ValueError(
            not_finite_message(objective, f"{name}: the objective is not finite at the start")
        )
    rejected = 0
    accepted_last = True
    curve, scores = [best.value], []
    best_score, best_theta, no_improvement = -float("inf"), None, 0
    monitor = Monitor(verbose) if monitor is None else monitor
    _report(monitor, name, 0, best, step)
    converged, reason, epoch = False, "", 0
    distance = newton_step = None
    # Early stopping keeps the epoch with the best validation score, so its
    # stopping rule checks the snapshot itself (no Newton iterates).
    newton_steps = NEWTON_CHECK_STEPS if validation_score is None else 0
    # A check costs up to NEWTON_CHECK_STEPS + 1 Hessians: it runs once the
    # gradient is within sqrt(tol) (tol where no Newton iterate is tried) and,
    # after a check that failed, once the gradient has halved from where that
    # check left the fit.
    gate = tol if newton_steps == 0 or not newton_checkable(objective) else math.sqrt(tol)
    checked = math.inf  # the gradient at the last check that failed

    def report_newton_step(point, fraction=1.0):
        """Record a Newton iterate; return whether a callback asked to stop."""
        curve.append(point.value)
        return monitor.report(
            name, epoch, point.value, point.measure, fraction, unit="Newton step",
            theta=point.theta,
        )

    while True:
        if best.measure <= gate and best.measure <= checked / 2:
            check = stopping_rule(objective, best, tol, newton_steps)
            distance, newton_step = check.distance, check.step
            if check.point is not None:
                for point, fraction in zip(check.path, check.fractions, strict=True):
                    report_newton_step(point, fraction)  # the fit ends here anyway
                best = check.point
                converged, reason = True, _converged_reason(distance, len(check.path))
                break
            stop = False
            for point, fraction in zip(check.path, check.fractions, strict=True):
                # The Newton steps lowered the objective: the epochs go on from
                # there (or the fit stops there, if a callback says so).
                best = point
                stop = report_newton_step(point, fraction)
                if stop:
                    if point is not check.path[-1]:
                        distance = newton_step = None  # measured at another point
                    break
            if check.path:
                with torch.no_grad():
                    parameter.copy_(best.theta)
                optimizer.state.clear()  # a restart, as after an undone epoch
            if stop:
                reason = f"{STOPPED_BY_CALLBACK} at epoch {epoch} (in its Newton steps)"
                break
            checked = best.measure
        if epoch >= max_iter:
            break
        epoch += 1
        anchor = best
        order = _epoch_order(n_samples, shuffle, generator, objective.device)
        X_epoch = epoch_design(order)
        # The offset (if any) is a per-row term like the target: sliced with the rows.
        terms = (target, anchor.grad_raw, scaled_weight, objective.offset)
        if order is not None:
            terms = tuple(None if t is None else t.index_select(0, order) for t in terms)
        target_epoch, anchor_epoch, weight_epoch, offset_epoch = terms
        weight_epoch = weight_epoch / per_row_size.unsqueeze(1)
        # The snapshot's term of each row's weighted gradient difference.
        anchor_epoch = -(anchor_epoch * weight_epoch)
        # Each minibatch's slices of the per-row terms, cut in one call each.
        split = [t.split(batch_size) for t in (target_epoch, anchor_epoch, weight_epoch)]
        offsets = [None] * len(batches) if offset_epoch is None else offset_epoch.split(batch_size)
        for rows, target_b, anchor_b, weight_b, offset_b in zip(
            batches, *split, offsets, strict=True
        ):
            X_batch = batch_rows(X_epoch, rows)
            current = parameter.detach()
            raw_b = batch_raw(current, X_batch)
            if offset_b is not None:
                raw_b = raw_b + offset_b
            grad_raw = loss.gradient(raw_b, target_b)
            difference = torch.addcmul(anchor_b, grad_raw, weight_b)
            gradient = batch_gradient(difference, X_batch, anchor.data_gradient)
            if objective.l2:
                objective.add_l2_gradient_(gradient, current)
            _step(optimizer, parameter, gradient, step, l1_weights)
        candidate = _snapshot(objective, parameter.detach().clone(), l1_weights)
        resolution = objective_resolution(best.value, theta.dtype)
        improved = candidate.value <= best.value + resolution  # False for NaN
        if improved:
            best = candidate
            curve.append(best.value)
        else:
            rejected += 1
            step = _undo_epoch(
                optimizer, parameter, best.theta, step, shrink=not accepted_last,
                momentum_mu=objective.l2 if automatic_momentum else None,
            )
        accepted_last = improved
        if _report(monitor, name, epoch, best, step):
            reason = f"{STOPPED_BY_CALLBACK} at epoch {epoch}"
            break
        if step < first_step * SMALLEST_STEP_FRACTION:
            reason = (
                f"the step shrank from {first_step:.3g} to {step:.3g} without reaching tol "
                f"({rejected} epochs undone because the objective grew)"
            )
            break
        if validation_score is not None:
            score = float(validation_score(best.theta))
            scores.append(score)
            if score > best_score:
                best_theta = best.theta
            no_improvement = no_improvement + 1 if score < best_score + tol else 0
            best_score = max(best_score, score)
            if no_improvement >= n_iter_no_change:
                converged = True
                reason = (
                    f"validation score did not improve by more than tol={tol:g} "
                    f"in {n_iter_no_change} epochs"
                )
                break
    if converged and newton_step is not None and validation_score is None:
        polished = _final_step(objective, best, newton_step)
        if polished is not None:
            best = polished
            reason += "; then the Newton step, as the full-batch optimizers end"
            report_newton_step(best)
    if not reason:
        reason = f"max_iter={max_iter} epochs reached"
    if not converged and distance is not None:
        reason += f"; the Newton step's largest relative entry is {distance:.2g}"
    final = best_theta if best_theta is not None and validation_score is not None else best.theta
    return StochasticResult(
        theta=final.clone(),
        n_iter=epoch,
        converged=converged,
        objective_curve=curve,
        grad_max=best.measure,
        stop_reason=reason,
        validation_scores=scores,
        optimizer_state=optimizer.state_dict(),
        n_samples_seen=epoch * n_samples,
        learning_rate=step,
        final_value=best.value if final is best.theta else float("nan"),
    )


def _converged_reason(distance, newton_steps=0):
    if distance is None:
        return "max|grad| <= tol"
    where = (
        f", {newton_steps} Newton step{'s' if newton_steps > 1 else ''} after the last epoch"
        if newton_steps else ""
    )
    return (
        f"max|grad| <= tol and the Newton step's largest relative entry {distance:.2g} <= tol"
        + where
    )


def _report(monitor, name, epoch, snapshot, step):
    """Report an epoch to the monitor; return whether a callback asked to stop."""
    return monitor.report(
        name, epoch, snapshot.value, snapshot.measure, step, unit="epoch", theta=snapshot.theta
    )


def one_pass(
    objective,
    theta,
    *,
    optimizer_class,
    optimizer_kwargs,
    learning_rate,
    batch_size,
    shuffle,
    generator,
    optimizer_state=None,
    n_calls=0,
    verbose=0,
    name="partial_fit",
    monitor=None,
):
    """One pass of plain minibatch steps over ``objective``'s data (``partial_fit``).

    The step is ``learning_rate / sqrt(n_calls + 1)``: it decreases over
    calls, so that the iterates settle instead of hovering in a noise ball of
    fixed size. ``optimizer_state`` (a previous call's) is copied, never
    changed; only its per-parameter state (moment estimates, a momentum
    buffer) carries over, and only into an optimizer of the same kind: the
    hyperparameters are this call's (``optimizer_kwargs``), so the steps are
    plain ones even after a ``fit`` whose automatic momentum the state records.
    Returns a :class:`StochasticResult` whose ``objective_curve``
    is the objective after the pass (on this call's data).
    """
    check_optimizer(optimizer_class, optimizer_kwargs, objective.l1)
    if learning_rate == "auto":
        learning_rate = auto_learning_rate(objective, optimizer_class, name)
    step = float(learning_rate) / math.sqrt(n_calls + 1)
    parameter = torch.nn.Parameter(theta.detach().clone())
    optimizer = _make_optimizer(
        parameter, optimizer_class, optimizer_kwargs, step, optimizer_state
    )
    l1_weights = objective.l1_weights()
    n_samples = objective.X.shape[0]
    batch_size = max(1, min(int(batch_size), n_samples))
    order = _epoch_order(n_samples, shuffle, generator, objective.device)
    if order is None:
        order = torch.arange(n_samples, device=objective.device)
    # Which batches carry weight, read once (not a device synchronisation per
    # batch): a batch of zero sample weights carries nothing to step on.
    batch_weights = objective.weight.index_select(0, order).split(batch_size)
    carries = (torch.stack([w.sum() for w in batch_weights]) > 0).tolist()
    for start, carried in zip(range(0, n_samples, batch_size), carries, strict=True):
        if not carried:
            continue
        batch = order[start : start + batch_size]
        _, gradient, _ = objective.value_gradient(parameter.detach(), batch)
        _step(optimizer, parameter, gradient, step, l1_weights)
    result = _snapshot(objective, parameter.detach().clone(), l1_weights)
    if not math.isfinite(result.value):
        raise ValueError(
            f"{name}: the objective became {result.value} in this pass; lower "
            "learning_rate or scale the features (e.g. with StandardScaler)."
        )
    _report(Monitor(verbose) if monitor is None else monitor, name, n_calls + 1, result, step)
    return StochasticResult(
        theta=result.theta,
        n_iter=1,
        converged=False,
        objective_curve=[result.value],
        grad_max=result.measure,
        stop_reason="one pass (partial_fit)",
        optimizer_state=optimizer.state_dict(),
        n_samples_seen=n_samples,
        learning_rate=step,
        final_value=result.value,
    )
