"""Minibatch training with torch.optim: SGD, Adam and friends on one neuron.

The data stay where they are: each epoch shuffles row indices and slices the
design matrix directly (never through a DataLoader, whose per-batch Python
machinery costs several times the arithmetic on tabular data). Gradients are
the objective's closed-form ones (autograd only for a callable loss), set on a
flat parameter that any :class:`torch.optim.Optimizer` then steps.

Stopping follows scikit-learn's MLP and SGD estimators: ``max_iter`` counts
epochs; training stops when the epoch's mean objective has not improved by
``tol`` for ``n_iter_no_change`` epochs, or, with early stopping, when the
validation score has not improved by ``tol`` for as many epochs (the best
parameters are then restored). An L1 term is handled by a proximal step
(soft-thresholding by ``learning_rate * l1``) after each optimizer step.
"""

from dataclasses import dataclass, field

import torch

from ._optimizers import OptimizeResult

#: The stochastic optimizers by public name.
STOCHASTIC_OPTIMIZERS = {
    "sgd": torch.optim.SGD,
    "adam": torch.optim.Adam,
    "adamw": torch.optim.AdamW,
    "rmsprop": torch.optim.RMSprop,
    "adagrad": torch.optim.Adagrad,
}


@dataclass
class StochasticResult(OptimizeResult):
    """:class:`OptimizeResult` plus what minibatch training records."""

    validation_scores: list = field(default_factory=list)
    optimizer_state: dict = field(default_factory=dict)
    n_samples_seen: int = 0


def soft_threshold(theta, threshold):
    """Proximal operator of ``threshold * |theta|`` (exact zeros below it)."""
    return torch.sign(theta) * torch.clamp(theta.abs() - threshold, min=0.0)


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
    optimizer_state=None,
    verbose=0,
    name="minibatch",
):
    """Train ``theta`` on ``objective`` by minibatch steps of ``optimizer_class``.

    Parameters
    ----------
    objective : LinearObjective
    theta : torch.Tensor
        Starting parameters (not modified).
    optimizer_class : type of torch.optim.Optimizer
    optimizer_kwargs : dict
        Extra keyword arguments of the optimizer (``lr`` comes from
        ``learning_rate``).
    batch_size : int
    shuffle : bool
        Whether to shuffle the rows each epoch (with ``generator``).
    max_iter : int
        Number of epochs at most.
    tol, n_iter_no_change : float, int
        Stopping rule (see the module docstring).
    generator : torch.Generator
        Source of the shuffling; fixes the result bit for bit on the CPU.
    validation_score : callable, optional
        ``theta -> score`` (higher is better); turns on early stopping.
    optimizer_state : dict, optional
        A previous run's optimizer state to continue from (``partial_fit``).

    Returns
    -------
    StochasticResult
        ``objective_curve`` holds each epoch's mean minibatch objective.
    """
    parameter = torch.nn.Parameter(theta.detach().clone())
    optimizer = optimizer_class([parameter], lr=learning_rate, **optimizer_kwargs)
    if optimizer_state:
        optimizer.load_state_dict(optimizer_state)
    l1_weights = objective.l1_weights()
    n_samples = objective.X.shape[0]
    batch_size = max(1, min(int(batch_size), n_samples))
    weight = objective.weight

    curve, scores = [], []
    best_loss, best_score, best_theta = float("inf"), -float("inf"), None
    stall, converged, epoch = 0, False, 0
    for epoch in range(1, max_iter + 1):
        if shuffle:
            order = torch.randperm(n_samples, generator=generator).to(objective.device)
        else:
            order = torch.arange(n_samples, device=objective.device)
        epoch_loss = 0.0
        for start in range(0, n_samples, batch_size):
            index = order[start : start + batch_size]
            f, grad, _ = objective.value_gradient(parameter.detach(), index)
            parameter.grad = grad
            optimizer.step()
            if l1_weights is not None:
                with torch.no_grad():
                    parameter.copy_(soft_threshold(parameter, _step_size(optimizer) * l1_weights))
            epoch_loss += float(f) * float(weight.index_select(0, index).sum())
        if l1_weights is not None:
            epoch_loss += float(torch.dot(l1_weights, parameter.detach().abs()))
        if epoch_loss != epoch_loss or epoch_loss == float("inf"):
            raise ValueError(
                f"{name}: the training objective became {epoch_loss} in epoch {epoch}; "
                "lower learning_rate or scale the features (e.g. with StandardScaler)."
            )
        curve.append(epoch_loss)
        message = f"[{name}] epoch {epoch}: mean objective={epoch_loss:.10g}"
        if validation_score is not None:
            score = float(validation_score(parameter.detach()))
            scores.append(score)
            message += f"  validation score={score:.6g}"
            if score > best_score:
                best_theta = parameter.detach().clone()
            stall = stall + 1 if score < best_score + tol else 0
            best_score = max(best_score, score)
        else:
            stall = stall + 1 if epoch_loss > best_loss - tol else 0
            best_loss = min(best_loss, epoch_loss)
        if verbose:
            print(message)
        if stall >= n_iter_no_change:
            converged = True
            break
    final = best_theta if best_theta is not None else parameter.detach().clone()
    return StochasticResult(
        theta=final,
        n_iter=epoch,
        converged=converged,
        objective_curve=curve,
        grad_max=float("nan"),
        stop_reason=(
            f"no improvement of more than tol={tol} in {n_iter_no_change} epochs"
            if converged
            else "max_iter epochs reached"
        ),
        validation_scores=scores,
        optimizer_state=optimizer.state_dict(),
        n_samples_seen=epoch * n_samples,
    )


def _step_size(optimizer):
    return float(optimizer.param_groups[0]["lr"])
