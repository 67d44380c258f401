"""torch.optim as the minibatch loop's step: the optimizers, their checks and their state.

The minibatch training of :mod:`.stochastic` hands each step of an optimizer
a gradient it computed; this module owns that adapter: the optimizers by
public name, the refusal of an optimizer the loop cannot take to the optimum
(:func:`check_optimizer`), building one with a previous call's state, one step
followed by the L1 term's proximal step (:func:`soft_threshold`), undoing a
rejected epoch, and Nesterov's momentum of ``learning_rate="auto"``.

The optimizers by name are :mod:`.eager_steps`' classes: torch's update and
state format without torch's compiler stack, which a ``torch.optim.Optimizer``
imports on first use. A ``torch.optim`` class passed by the user, or an
option only torch implements (``foreach=True``, ``fused``, ...), uses the
torch class (:func:`_optimizer_to_build` chooses); everything keyed by class
here treats an eager class as its torch class (:func:`.eager_steps.torch_counterpart`).
"""

from __future__ import annotations

import copy
import functools
import inspect
import math
import signal
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any, TypeAlias

import torch

from .eager_steps import EAGER_OPTIMIZERS, EagerOptimizer, torch_counterpart

#: The stochastic optimizers by public name (each stands for its torch.optim
#: class: :attr:`.eager_steps.EagerOptimizer.torch_class`).
STOCHASTIC_OPTIMIZERS: dict[str, type] = dict(EAGER_OPTIMIZERS)

#: An optimizer the minibatch loop steps: a torch.optim one or an eager one.
StepOptimizer: TypeAlias = torch.optim.Optimizer | EagerOptimizer

#: ``learning_rate="auto"`` for the optimizers whose step is not scaled by
#: the objective's smoothness (their update has the parameters' units), by
#: torch class (an eager class looks up its :func:`torch_counterpart`).
AUTO_LEARNING_RATES = {
    torch.optim.Adam: 0.05,
    torch.optim.AdamW: 0.05,
    torch.optim.RMSprop: 0.01,
    torch.optim.Adagrad: 0.5,
}


#: Factor by which the step shrinks after a rejected or stalled epoch.
STEP_DECREASE = 4.0


def soft_threshold(theta: torch.Tensor, threshold: float | torch.Tensor) -> torch.Tensor:
    """Proximal operator of ``threshold * |theta|`` (exact zeros below it)."""
    return torch.sign(theta) * torch.clamp(theta.abs() - threshold, min=0.0)


#: Largest momentum that ``learning_rate="auto"`` gives SGD.
MAX_AUTO_MOMENTUM = 0.99


def nesterov_momentum(step: float, strong_convexity: float) -> float:
    """Nesterov's momentum ``(sqrt(k) - 1) / (sqrt(k) + 1)`` for the condition
    number ``k = 1 / (step * mu)``, at most :data:`MAX_AUTO_MOMENTUM`."""
    if not strong_convexity > 0:
        return MAX_AUTO_MOMENTUM
    root = math.sqrt(max(1.0, 1.0 / (step * strong_convexity)))
    return min((root - 1.0) / (root + 1.0), MAX_AUTO_MOMENTUM)


def _optimizer_label(optimizer_class: type[Any]) -> str:
    """How the user named ``optimizer_class``: its name among
    :data:`STOCHASTIC_OPTIMIZERS`, else the class's full name."""
    for name, cls in STOCHASTIC_OPTIMIZERS.items():
        if cls is optimizer_class:
            return repr(name)
    module = optimizer_class.__module__
    if module.startswith("torch.optim.") and hasattr(torch.optim, optimizer_class.__name__):
        module = "torch.optim"  # as torch documents it: torch.optim.LBFGS
    return f"{module}.{optimizer_class.__qualname__}"


def _step_needs_closure(optimizer_class: type[Any]) -> bool:
    """Whether ``optimizer_class.step`` has a required ``closure`` argument
    (torch.optim.LBFGS: it re-evaluates the objective itself)."""
    try:
        parameters = inspect.signature(optimizer_class.step).parameters
    except (TypeError, ValueError):
        return False
    closure = parameters.get("closure")
    return closure is not None and closure.default is inspect.Parameter.empty


def _plain_steps(optimizer_class: type[Any], optimizer_kwargs: dict) -> bool:
    """Whether the optimizer steps along the gradient by ``lr`` (SGD's own
    ``step`` without momentum), the step a proximal step completes."""
    step = torch_counterpart(optimizer_class).step
    return step is torch.optim.SGD.step and not optimizer_kwargs.get("momentum", 0)


def check_optimizer(optimizer_class: type[Any], optimizer_kwargs: dict, l1: float) -> None:
    """Refuse an optimizer the minibatch loop cannot take to the optimum.

    The loop hands each step a gradient, so a ``step`` that needs a closure
    cannot run. With an L1 term, soft-thresholding by ``lr * l1`` after each
    step is the proximal gradient step (prox-SVRG) only after a plain
    gradient step of length ``lr``: after Adam's, RMSprop's or Adagrad's
    per-parameter steps, or a momentum step, the iterates hover around the
    exact zeros and the fit stops short of the optimum (on
    ``make_classification(100, 20)`` with ``l1_ratio=1``, Adam stopped at an
    objective 31% above OWL-QN's, with 20 nonzeros for its 9).
    """
    label = _optimizer_label(optimizer_class)
    if _step_needs_closure(optimizer_class):
        raise ValueError(
            f"optimizer={label} needs a closure in step() (it re-evaluates the "
            "objective itself), and minibatch training hands each step a gradient; "
            "use optimizer='lbfgs' (full-batch L-BFGS) or an optimizer whose step() "
            "takes no closure."
        )
    if l1 and not _plain_steps(optimizer_class, optimizer_kwargs):
        counterpart = torch_counterpart(optimizer_class)
        if counterpart.step is torch.optim.SGD.step:
            what = "momentum"
        elif issubclass(counterpart, tuple(AUTO_LEARNING_RATES)):
            what = "adaptive per-parameter steps"
        else:
            what = "own step()"
        raise ValueError(
            f"optimizer={label} does not reach the optimum of an L1 term (l1_ratio > 0): "
            f"the proximal step's exact zeros need plain gradient steps, and its {what} "
            "undo them. Use optimizer='lbfgs' (OWL-QN) or optimizer='sgd' without "
            "momentum, or set l1_ratio=0."
        )


@contextmanager
def _sigint_held() -> Iterator[None]:
    """Hold Ctrl-C (SIGINT) while the block runs, and deliver it after.

    Signals reach Python in the main thread only, so elsewhere there is
    nothing to hold; nor where the handler was not installed from Python
    (it could not be put back).
    """
    if (
        threading.current_thread() is not threading.main_thread()
        or signal.getsignal(signal.SIGINT) is None
    ):
        yield
        return
    received = []
    previous = signal.signal(signal.SIGINT, lambda signum, frame: received.append(signum))
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)
        if received:
            signal.raise_signal(signal.SIGINT)


def _import_compiler_stack() -> None:
    """Import ``torch._dynamo`` with Ctrl-C held until the import is done.

    torch imports it lazily, on the first call of a ``torch.optim``
    optimizer's constructor (``add_param_group`` is wrapped by
    ``torch._disable_dynamo``), so the first fit of a process with a torch
    class spends most of its time in that import (the eager classes of
    :mod:`.eager_steps` do not import it). A KeyboardInterrupt inside it
    leaves half-initialised modules in ``sys.modules`` and every later
    minibatch fit in the process fails; held, the Ctrl-C stops the fit as
    soon as the import is complete.
    Importing it with the package instead would make every
    ``import sklearn_neuron`` pay for it.
    """
    if "torch._dynamo" not in sys.modules:
        with _sigint_held():
            import torch._dynamo  # noqa: F401


def _optimizer_to_build(
    optimizer_class: type[Any], parameter: torch.Tensor, optimizer_kwargs: dict,
    learning_rate: Any,
) -> type[Any]:
    """The class to build: an eager class where it implements the call
    (:meth:`.eager_steps.EagerOptimizer.takes`) and nothing observes torch's
    optimizer steps (:func:`_observed_globally`: a global step hook or a
    profiler sees the torch class's steps), else its torch class; a class
    that is not eager, as it is. The one place that chooses."""
    if issubclass(optimizer_class, EagerOptimizer) and (
        _observed_globally()
        or not optimizer_class.takes(parameter, learning_rate, optimizer_kwargs)
    ):
        return optimizer_class.torch_class
    return optimizer_class


def _observed_globally() -> bool:
    """Whether a profiler runs or a global optimizer step hook is registered
    (``torch.optim.optimizer.register_optimizer_step_pre_hook``, ``..._post_hook``)."""
    from torch.optim import optimizer as torch_optimizer

    return bool(
        torch.autograd._profiler_enabled()
        or getattr(torch_optimizer, "_global_optimizer_pre_hooks", True)
        or getattr(torch_optimizer, "_global_optimizer_post_hooks", True)
    )


def _make_optimizer(
    parameter: torch.Tensor,
    optimizer_class: Any,
    optimizer_kwargs: dict,
    learning_rate: float,
    state: dict | None,
) -> StepOptimizer:
    named = torch_counterpart(optimizer_class)
    if named is torch.optim.AdamW:
        # C is the penalty; AdamW's own decay (0.01 by default) would
        # silently change the objective, so it is off unless asked for.
        optimizer_kwargs = {"weight_decay": 0.0, **optimizer_kwargs}
    if "foreach" not in optimizer_kwargs and _takes_foreach(optimizer_class):
        # One parameter tensor: the multi-tensor kernels have nothing to
        # batch, and choosing between them costs each step time
        # (benchmarks/RESULTS.md, one minibatch epoch against skorch).
        optimizer_kwargs = {**optimizer_kwargs, "foreach": False}
    optimizer_class = _optimizer_to_build(
        optimizer_class, parameter, optimizer_kwargs, learning_rate
    )
    if not issubclass(optimizer_class, EagerOptimizer):
        _import_compiler_stack()
    try:
        optimizer = optimizer_class([parameter], lr=learning_rate, **optimizer_kwargs)
    except TypeError as exc:
        raise ValueError(
            f"{named.__module__}.{named.__qualname__} refused the keyword "
            f"arguments {optimizer_kwargs!r} (optimizer_kwargs, plus the momentum that "
            f"learning_rate='auto' sets for sgd when none is given): {exc}. Pass only "
            "keyword arguments its constructor takes (see its documentation); the "
            "learning rate is set by learning_rate."
        ) from exc
    if state and _same_kind(optimizer, state):
        # A copy: the optimizer updates its state tensors in place, and the
        # caller's state must stay as it was if this call fails. The
        # hyperparameters are this call's: the saved ones may be a fit's
        # automatic momentum, which partial_fit's plain steps do not take.
        state = copy.deepcopy(state)
        state["param_groups"] = [
            {**group, "params": saved["params"]}
            for group, saved in zip(
                optimizer.state_dict()["param_groups"], state["param_groups"], strict=True
            )
        ]
        optimizer.load_state_dict(state)
    return optimizer


def _same_kind(optimizer: StepOptimizer, state: dict) -> bool:
    """Whether ``state`` (a state dict) was saved by an optimizer of this
    kind: the same hyperparameter names (SGD's state loaded into Adam fails
    on its first step)."""
    saved, groups = state.get("param_groups", []), optimizer.param_groups
    return len(saved) == len(groups) and all(
        set(a) == set(b) for a, b in zip(saved, groups, strict=True)
    )


@functools.cache
def _takes_foreach(optimizer_class: Any) -> bool:
    try:
        return "foreach" in inspect.signature(optimizer_class).parameters
    except (TypeError, ValueError):
        return False


def _step(
    optimizer: StepOptimizer,
    parameter: torch.Tensor,
    gradient: torch.Tensor,
    step: float,
    l1_weights: torch.Tensor | None,
) -> None:
    """One optimizer step on ``gradient``, then the L1 term's proximal step."""
    parameter.grad = gradient
    _unobserved_step(optimizer)
    if l1_weights is not None:
        with torch.no_grad():
            parameter.copy_(soft_threshold(parameter, step * l1_weights))


def _unobserved_step(optimizer: StepOptimizer) -> None:
    """``optimizer.step()``, without torch's wrapper when nothing observes it.

    torch wraps every optimizer's ``step`` in a profiler range and the calls
    of its step hooks, about half of a step's time on a single neuron's few
    parameters (benchmarks/RESULTS.md, one minibatch epoch against skorch).
    With no profiler running and no hook registered (globally or on this
    optimizer) that wrapper does nothing, and the step it wraps is called
    directly; otherwise (or for an optimizer class torch did not wrap)
    ``step()`` itself. An eager optimizer's ``step`` has no wrapper.
    """
    if isinstance(optimizer, EagerOptimizer):
        optimizer.step()
        return
    step = type(optimizer).step
    inner = getattr(step, "__wrapped__", None)
    if (
        inner is None
        or not getattr(step, "hooked", False)
        or optimizer._optimizer_step_pre_hooks
        or optimizer._optimizer_step_post_hooks
        or _observed_globally()
    ):
        optimizer.step()
    else:
        inner(optimizer)


def _undo_epoch(
    optimizer: StepOptimizer,
    parameter: torch.Tensor,
    theta: torch.Tensor,
    step: float,
    *,
    shrink: bool,
    momentum_mu: float | None,
) -> float:
    """Undo an epoch that raised the objective; returns the step to go on with.

    The optimizer's state (momentum, moment estimates) is forgotten: a
    restart, as in O'Donoghue & Candes (2015), which is all a first
    rejection after an accepted epoch does (momentum methods are not
    monotone). A second one in a row means the step is too long: it is divided by
    :data:`STEP_DECREASE` and an automatic momentum follows it.
    """
    with torch.no_grad():
        parameter.copy_(theta)
    optimizer.state.clear()
    if shrink:
        step /= STEP_DECREASE
        _set_step(optimizer, step)
        if momentum_mu is not None:
            for group in optimizer.param_groups:
                group["momentum"] = nesterov_momentum(step, momentum_mu)
    return step


def _set_step(optimizer: StepOptimizer, learning_rate: float) -> None:
    for group in optimizer.param_groups:
        group["lr"] = learning_rate
