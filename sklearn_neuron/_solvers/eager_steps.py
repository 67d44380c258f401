"""torch.optim's SGD, Adam, AdamW, RMSprop and Adagrad without torch's compiler stack.

A ``torch.optim.Optimizer`` imports ``torch._dynamo`` (and sympy) the first
time one is built in a process: its constructor's ``add_param_group`` is
wrapped by ``torch._disable_dynamo`` and its ``step`` by
``_use_grad_for_differentiable``, which import it. The minibatch loop trains
one parameter tensor and needs none of that machinery, so the optimizers it
offers by name (:data:`EAGER_OPTIMIZERS`) are these plain classes: the same
update as torch's single-tensor path (``torch/optim/sgd.py``, ``adam.py``,
``adamw.py``, ``rmsprop.py``, ``adagrad.py`` of torch 2.13), operation for
operation, with torch's hyperparameters in ``param_groups`` and torch's
``state_dict()`` format, so that a state saved by either loads into the other.

What they do not implement (``foreach=True``, ``fused``, ``capturable``,
``differentiable``, complex parameters, tensor hyperparameters) is left to the
torch class: :meth:`EagerOptimizer.takes` says whether a call is theirs, and
the one place that chooses is
:func:`sklearn_neuron._solvers.torch_steps._make_optimizer`.
"""

from __future__ import annotations

import copy
from collections import defaultdict
from typing import Any, ClassVar

import torch

#: Options that only the torch classes implement, when set to a true value.
_TORCH_ONLY_OPTIONS = ("fused", "capturable", "differentiable")


def _scalar_dtype() -> torch.dtype:
    """The dtype of torch's ``step`` counters (``optimizer._get_scalar_dtype()``)."""
    return torch.float64 if torch.get_default_dtype() == torch.float64 else torch.float32


def _check(condition: bool, message: str) -> None:
    # torch's own checks and messages, so that a call fails as it would with torch.
    if not condition:
        raise ValueError(message)


class EagerOptimizer:
    """A torch.optim optimizer's update for one parameter tensor, without torch's wrappers.

    Parameters
    ----------
    params : iterable of torch.Tensor
        The parameters, one tensor (the minibatch loop trains one).
    **defaults
        The hyperparameters, as the subclass's constructor names them.

    Attributes
    ----------
    param_groups : list of dict
        One group: ``"params"`` and torch's hyperparameters for this optimizer.
    state : collections.defaultdict
        The per-parameter state, keyed by the parameter tensor, as torch keeps it.
    """

    #: The torch.optim class whose update, hyperparameters and state this one has.
    torch_class: ClassVar[type[torch.optim.Optimizer]]
    #: The hyperparameters torch's ``__setstate__`` fills in when a saved group lacks them.
    _setstate_defaults: ClassVar[dict[str, Any]] = {}

    def __init__(self, params: Any, **defaults: Any) -> None:
        parameters = [params] if isinstance(params, torch.Tensor) else list(params)
        if len(parameters) != 1 or not isinstance(parameters[0], torch.Tensor):
            raise ValueError(
                f"{type(self).__name__} trains one parameter tensor, got {len(parameters)} "
                f"parameters; use {self.torch_class.__module__}.{self.torch_class.__name__}."
            )
        self.defaults = defaults
        self.param_groups: list[dict[str, Any]] = [{"params": parameters, **defaults}]
        self.state: defaultdict[torch.Tensor, dict[str, Any]] = defaultdict(dict)

    @classmethod
    def takes(
        cls, parameter: torch.Tensor, learning_rate: Any, optimizer_kwargs: dict[str, Any]
    ) -> bool:
        """Whether this class runs ``optimizer_kwargs`` on ``parameter`` as
        torch's single-tensor path does (else the torch class must).

        Parameters
        ----------
        parameter : torch.Tensor
            The parameter tensor to train.
        learning_rate : float or torch.Tensor
            The learning rate.
        optimizer_kwargs : dict
            The constructor's other keyword arguments.

        Returns
        -------
        bool
        """
        if not parameter.is_floating_point():
            return False  # complex parameters: torch views them as real
        values = [learning_rate, *optimizer_kwargs.values()]
        values += list(optimizer_kwargs.get("betas") or ())
        if any(isinstance(value, torch.Tensor) for value in values):
            return False
        if any(optimizer_kwargs.get(name) for name in _TORCH_ONLY_OPTIONS):
            return False
        foreach = optimizer_kwargs.get("foreach")
        # torch chooses the multi-tensor path for foreach=None off the CPU.
        return foreach is False or (foreach is None and parameter.device.type == "cpu")

    def _parameter(self) -> torch.Tensor:
        return self.param_groups[0]["params"][0]

    def _check_group(self, group: dict[str, Any]) -> None:
        wrong = [name for name in _TORCH_ONLY_OPTIONS if group.get(name)]
        if group.get("foreach"):
            wrong.append("foreach")
        if wrong:
            name = f"{self.torch_class.__module__}.{self.torch_class.__name__}"
            raise ValueError(
                f"{type(self).__name__} does not implement {', '.join(wrong)}=True; "
                f"use {name}."
            )

    def step(self) -> None:
        """One update of the parameter along its ``.grad`` (none without one)."""
        group = self.param_groups[0]
        self._check_group(group)
        parameter = self._parameter()
        if parameter.grad is None:
            return
        with torch.no_grad():
            self._update(parameter, parameter.grad, self.state[parameter], group)

    def _update(
        self,
        param: torch.Tensor,
        grad: torch.Tensor,
        state: dict[str, Any],
        group: dict[str, Any],
    ) -> None:
        raise NotImplementedError

    def state_dict(self) -> dict[str, Any]:
        """The state and hyperparameters in ``torch.optim.Optimizer.state_dict()``'s format.

        Returns
        -------
        dict
            ``"state"``: the parameter's state keyed by its index 0 (the tensors
            themselves, as torch gives them); ``"param_groups"``: the group with
            ``"params": [0]``.
        """
        parameter = self._parameter()
        groups = [
            {**{k: v for k, v in group.items() if k != "params"}, "params": [0]}
            for group in self.param_groups
        ]
        state = {
            (0 if key is parameter else key): value for key, value in self.state.items()
        }
        return {"state": state, "param_groups": groups}

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        """Load a state saved by this class or by its torch class, as torch loads it.

        The state tensors are moved to the parameter's device and (if
        floating point) dtype, except ``step`` which torch keeps as saved
        (``fused`` or ``capturable`` groups: float32 on the parameter's
        device); the saved hyperparameters replace the current ones.

        Parameters
        ----------
        state_dict : dict
            From :meth:`state_dict` (of this class or of the torch class).
        """
        saved_groups = copy.deepcopy(state_dict["param_groups"])
        if len(saved_groups) != len(self.param_groups):
            raise ValueError("loaded state dict has a different number of parameter groups")
        if any(len(g["params"]) != len(s["params"])
               for g, s in zip(self.param_groups, saved_groups, strict=True)):
            raise ValueError(
                "loaded state dict contains a parameter group that doesn't match the "
                "size of optimizer's group"
            )
        parameter = self._parameter()
        index = saved_groups[0]["params"][0]
        on_device = any(g.get("fused") or g.get("capturable") for g in saved_groups)
        state: defaultdict[Any, dict[str, Any]] = defaultdict(dict)
        for key, value in state_dict["state"].items():
            if key == index:
                state[parameter] = {
                    name: self._cast(parameter, item, name == "step" and not on_device,
                                     name == "step")
                    for name, item in value.items()
                }
            else:
                state[key] = value
        for group, saved in zip(self.param_groups, saved_groups, strict=True):
            saved["params"] = group["params"]
        self.param_groups = saved_groups
        self.state = state
        self._setstate()

    @staticmethod
    def _cast(parameter: torch.Tensor, value: Any, keep: bool, step: bool) -> Any:
        if not isinstance(value, torch.Tensor) or keep:
            return value
        if step:
            return value.to(dtype=torch.float32, device=parameter.device)
        if parameter.is_floating_point():
            return value.to(dtype=parameter.dtype, device=parameter.device)
        return value.to(device=parameter.device)

    def _setstate(self) -> None:
        """torch's ``__setstate__``: missing hyperparameters, ``step`` as a tensor."""
        for group in self.param_groups:
            for name, value in self._setstate_defaults.items():
                group.setdefault(name, value)
            for parameter in group["params"]:
                state = self.state.get(parameter, {})
                if state and "step" in state and not torch.is_tensor(state["step"]):
                    device = parameter.device if group.get("capturable") else None
                    state["step"] = torch.tensor(
                        float(state["step"]), dtype=_scalar_dtype(), device=device
                    )

    @staticmethod
    def _counter() -> torch.Tensor:
        return torch.tensor(0.0, dtype=_scalar_dtype(), device="cpu")


class EagerSGD(EagerOptimizer):
    """:class:`torch.optim.SGD`'s single-tensor update (see :class:`EagerOptimizer`)."""

    torch_class = torch.optim.SGD
    _setstate_defaults: ClassVar[dict[str, Any]] = {
        "nesterov": False, "maximize": False, "foreach": None,
        "differentiable": False, "fused": False,
    }

    def __init__(
        self,
        params: Any,
        lr: float = 1e-3,
        momentum: float = 0,
        dampening: float = 0,
        weight_decay: float = 0,
        nesterov: bool = False,
        *,
        maximize: bool = False,
        foreach: bool | None = None,
        differentiable: bool = False,
        fused: bool | None = None,
    ) -> None:
        _check(lr >= 0.0, f"Invalid learning rate: {lr}")
        _check(momentum >= 0.0, f"Invalid momentum value: {momentum}")
        _check(weight_decay >= 0.0, f"Invalid weight_decay value: {weight_decay}")
        _check(not nesterov or (momentum > 0 and dampening == 0),
               "Nesterov momentum requires a momentum and zero dampening")
        super().__init__(
            params, lr=lr, momentum=momentum, dampening=dampening,
            weight_decay=weight_decay, nesterov=nesterov, maximize=maximize,
            foreach=foreach, differentiable=differentiable, fused=fused,
        )

    def step(self) -> None:
        """One update of the parameter along its ``.grad`` (none without one)."""
        # torch's SGD keeps a state only with momentum.
        group = self.param_groups[0]
        self._check_group(group)
        parameter = self._parameter()
        if parameter.grad is None:
            return
        state = self.state[parameter] if group["momentum"] != 0 else {}
        with torch.no_grad():
            self._update(parameter, parameter.grad, state, group)

    def _update(
        self, param: torch.Tensor, grad: torch.Tensor, state: dict[str, Any],
        group: dict[str, Any],
    ) -> None:
        momentum, weight_decay = group["momentum"], group["weight_decay"]
        if group["maximize"]:
            grad = -grad
        if weight_decay != 0:
            grad = grad.add(param, alpha=weight_decay)
        if momentum != 0:
            buffer = state.get("momentum_buffer")
            if buffer is None:
                buffer = grad.detach().clone()
            else:
                buffer.mul_(momentum).add_(grad, alpha=1 - group["dampening"])
            state["momentum_buffer"] = buffer
            grad = grad.add(buffer, alpha=momentum) if group["nesterov"] else buffer
        param.add_(grad, alpha=-group["lr"])


class EagerAdam(EagerOptimizer):
    """:class:`torch.optim.Adam`'s single-tensor update (see :class:`EagerOptimizer`)."""

    torch_class: ClassVar[type[torch.optim.Optimizer]] = torch.optim.Adam
    _setstate_defaults: ClassVar[dict[str, Any]] = {
        "amsgrad": False, "maximize": False, "foreach": None, "capturable": False,
        "differentiable": False, "decoupled_weight_decay": False, "fused": None,
    }

    def __init__(
        self,
        params: Any,
        lr: float = 1e-3,
        betas: tuple[float, float] = (0.9, 0.999),
        eps: float = 1e-8,
        weight_decay: float = 0,
        amsgrad: bool = False,
        *,
        foreach: bool | None = None,
        maximize: bool = False,
        capturable: bool = False,
        differentiable: bool = False,
        fused: bool | None = None,
        decoupled_weight_decay: bool = False,
    ) -> None:
        _check(0.0 <= lr, f"Invalid learning rate: {lr}")
        _check(0.0 <= eps, f"Invalid epsilon value: {eps}")
        _check(0.0 <= betas[0] < 1.0, f"Invalid beta parameter at index 0: {betas[0]}")
        _check(0.0 <= betas[1] < 1.0, f"Invalid beta parameter at index 1: {betas[1]}")
        _check(0.0 <= weight_decay, f"Invalid weight_decay value: {weight_decay}")
        _check(isinstance(betas[0], float) and isinstance(betas[1], float),
               "betas must be either both floats or both Tensors")
        super().__init__(
            params, lr=lr, betas=tuple(betas), eps=eps, weight_decay=weight_decay,
            amsgrad=amsgrad, maximize=maximize, foreach=foreach, capturable=capturable,
            differentiable=differentiable, fused=fused,
            decoupled_weight_decay=decoupled_weight_decay,
        )

    def _update(
        self, param: torch.Tensor, grad: torch.Tensor, state: dict[str, Any],
        group: dict[str, Any],
    ) -> None:
        lr, (beta1, beta2), eps = group["lr"], group["betas"], group["eps"]
        weight_decay, amsgrad = group["weight_decay"], group["amsgrad"]
        if not state:
            state["step"] = self._counter()
            state["exp_avg"] = torch.zeros_like(param, memory_format=torch.preserve_format)
            state["exp_avg_sq"] = torch.zeros_like(param, memory_format=torch.preserve_format)
            if amsgrad:
                state["max_exp_avg_sq"] = torch.zeros_like(
                    param, memory_format=torch.preserve_format
                )
        if group["maximize"]:
            grad = -grad
        exp_avg, exp_avg_sq = state["exp_avg"], state["exp_avg_sq"]
        state["step"] += 1
        if weight_decay != 0:
            if group["decoupled_weight_decay"]:
                param.mul_(1 - lr * weight_decay)
            else:
                grad = grad.add(param, alpha=weight_decay)
        exp_avg.lerp_(grad, 1 - beta1)
        exp_avg_sq.mul_(beta2).addcmul_(grad, grad, value=1 - beta2)
        step = state["step"].item()
        bias_correction1 = 1 - beta1**step
        bias_correction2 = 1 - beta2**step
        step_size = lr / bias_correction1
        bias_correction2_sqrt = bias_correction2**0.5
        if amsgrad:
            maximum = state["max_exp_avg_sq"]
            torch.maximum(maximum, exp_avg_sq, out=maximum)
            denom = (maximum.sqrt() / bias_correction2_sqrt).add_(eps)
        else:
            denom = (exp_avg_sq.sqrt() / bias_correction2_sqrt).add_(eps)
        param.addcdiv_(exp_avg, denom, value=-step_size)


class EagerAdamW(EagerAdam):
    """:class:`torch.optim.AdamW`'s single-tensor update (see :class:`EagerOptimizer`)."""

    torch_class = torch.optim.AdamW

    def __init__(
        self,
        params: Any,
        lr: float = 1e-3,
        betas: tuple[float, float] = (0.9, 0.999),
        eps: float = 1e-8,
        weight_decay: float = 1e-2,
        amsgrad: bool = False,
        *,
        maximize: bool = False,
        foreach: bool | None = None,
        capturable: bool = False,
        differentiable: bool = False,
        fused: bool | None = None,
    ) -> None:
        super().__init__(
            params, lr, betas, eps, weight_decay, amsgrad, foreach=foreach,
            maximize=maximize, capturable=capturable, differentiable=differentiable,
            fused=fused, decoupled_weight_decay=True,
        )

    def _setstate(self) -> None:
        super()._setstate()
        for group in self.param_groups:
            group["decoupled_weight_decay"] = True


class EagerRMSprop(EagerOptimizer):
    """:class:`torch.optim.RMSprop`'s single-tensor update (see :class:`EagerOptimizer`)."""

    torch_class = torch.optim.RMSprop
    _setstate_defaults: ClassVar[dict[str, Any]] = {
        "momentum": 0, "centered": False, "foreach": None, "maximize": False,
        "differentiable": False, "capturable": False,
    }

    def __init__(
        self,
        params: Any,
        lr: float = 1e-2,
        alpha: float = 0.99,
        eps: float = 1e-8,
        weight_decay: float = 0,
        momentum: float = 0,
        centered: bool = False,
        capturable: bool = False,
        foreach: bool | None = None,
        maximize: bool = False,
        differentiable: bool = False,
    ) -> None:
        _check(0.0 <= lr, f"Invalid learning rate: {lr}")
        _check(0.0 <= eps, f"Invalid epsilon value: {eps}")
        _check(0.0 <= momentum, f"Invalid momentum value: {momentum}")
        _check(0.0 <= weight_decay, f"Invalid weight_decay value: {weight_decay}")
        _check(0.0 <= alpha, f"Invalid alpha value: {alpha}")
        super().__init__(
            params, lr=lr, momentum=momentum, alpha=alpha, eps=eps, centered=centered,
            weight_decay=weight_decay, capturable=capturable, foreach=foreach,
            maximize=maximize, differentiable=differentiable,
        )

    def _update(
        self, param: torch.Tensor, grad: torch.Tensor, state: dict[str, Any],
        group: dict[str, Any],
    ) -> None:
        alpha, momentum = group["alpha"], group["momentum"]
        if not state:
            state["step"] = torch.zeros((), dtype=_scalar_dtype())
            state["square_avg"] = torch.zeros_like(param, memory_format=torch.preserve_format)
            if momentum > 0:
                state["momentum_buffer"] = torch.zeros_like(
                    param, memory_format=torch.preserve_format
                )
            if group["centered"]:
                state["grad_avg"] = torch.zeros_like(param, memory_format=torch.preserve_format)
        if group["maximize"]:
            grad = -grad
        square_avg = state["square_avg"]
        state["step"] += 1
        if group["weight_decay"] != 0:
            grad = grad.add(param, alpha=group["weight_decay"])
        square_avg.mul_(alpha).addcmul_(grad, grad, value=1 - alpha)
        if group["centered"]:
            grad_avg = state["grad_avg"]
            grad_avg.lerp_(grad, 1 - alpha)
            avg = square_avg.addcmul(grad_avg, grad_avg, value=-1).sqrt_()
        else:
            avg = square_avg.sqrt()
        avg = avg.add_(group["eps"])
        if momentum > 0:
            buffer = state["momentum_buffer"]
            buffer.mul_(momentum).addcdiv_(grad, avg)
            param.add_(buffer, alpha=-group["lr"])
        else:
            param.addcdiv_(grad, avg, value=-group["lr"])


class EagerAdagrad(EagerOptimizer):
    """:class:`torch.optim.Adagrad`'s single-tensor update (see :class:`EagerOptimizer`)."""

    torch_class = torch.optim.Adagrad
    _setstate_defaults: ClassVar[dict[str, Any]] = {
        "foreach": None, "maximize": False, "differentiable": False, "fused": None,
    }

    def __init__(
        self,
        params: Any,
        lr: float = 1e-2,
        lr_decay: float = 0,
        weight_decay: float = 0,
        initial_accumulator_value: float = 0,
        eps: float = 1e-10,
        foreach: bool | None = None,
        *,
        maximize: bool = False,
        differentiable: bool = False,
        fused: bool | None = None,
    ) -> None:
        _check(0.0 <= lr, f"Invalid learning rate: {lr}")
        _check(0.0 <= lr_decay, f"Invalid lr_decay value: {lr_decay}")
        _check(0.0 <= weight_decay, f"Invalid weight_decay value: {weight_decay}")
        _check(0.0 <= initial_accumulator_value,
               f"Invalid initial_accumulator_value value: {initial_accumulator_value}")
        _check(0.0 <= eps, f"Invalid epsilon value: {eps}")
        super().__init__(
            params, lr=lr, lr_decay=lr_decay, eps=eps, weight_decay=weight_decay,
            initial_accumulator_value=initial_accumulator_value, foreach=foreach,
            maximize=maximize, differentiable=differentiable, fused=fused,
        )
        # torch's Adagrad fills its state in the constructor.
        self._initial_state(self._parameter(), self.state[self._parameter()])

    def _initial_state(self, param: torch.Tensor, state: dict[str, Any]) -> None:
        state["step"] = self._counter()
        state["sum"] = torch.full_like(
            param, self.defaults["initial_accumulator_value"],
            memory_format=torch.preserve_format,
        )

    def _update(
        self, param: torch.Tensor, grad: torch.Tensor, state: dict[str, Any],
        group: dict[str, Any],
    ) -> None:
        if not state:
            self._initial_state(param, state)
        state["step"] += 1
        step = state["step"].item()
        if group["maximize"]:
            grad = -grad
        if group["weight_decay"] != 0:
            grad = grad.add(param, alpha=group["weight_decay"])
        lr = group["lr"] / (1 + (step - 1) * group["lr_decay"])
        state_sum = state["sum"]
        state_sum.addcmul_(grad, grad, value=1)
        std = state_sum.sqrt().add_(group["eps"])
        param.addcdiv_(grad, std, value=-lr)


#: The eager optimizers by public name (``optimizer="adam"``, ...).
EAGER_OPTIMIZERS: dict[str, type[EagerOptimizer]] = {
    "sgd": EagerSGD,
    "adam": EagerAdam,
    "adamw": EagerAdamW,
    "rmsprop": EagerRMSprop,
    "adagrad": EagerAdagrad,
}


def torch_counterpart(optimizer_class: type[Any]) -> type[Any]:
    """The torch.optim class that ``optimizer_class`` stands for: an eager
    class's :attr:`~EagerOptimizer.torch_class`, else the class itself."""
    if issubclass(optimizer_class, EagerOptimizer):
        return optimizer_class.torch_class
    return optimizer_class

