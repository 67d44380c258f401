"""Output activations of the neuron (the inverse links of a GLM).

An activation maps the neuron's pre-activation ``raw = X @ W.T + b`` to the
quantity the model predicts: a probability (sigmoid, softmax) or a mean
(identity, exp); :meth:`Activation.link` maps a prediction back to a raw
output. It owns nothing else; the losses that need one name it.
"""

from __future__ import annotations

import torch


class Activation:
    """Inverse link: maps the raw output of the linear layer to the prediction.

    The base class is the identity (the identity link).
    """

    #: Name by which estimators and exports recognise the activation.
    name: str = "identity"

    def __call__(self, raw: torch.Tensor) -> torch.Tensor:
        """The prediction for ``raw``, of the same shape."""
        return raw

    def link(self, prediction: torch.Tensor) -> torch.Tensor:
        """The raw output that predicts ``prediction`` (the inverse of ``__call__``)."""
        return prediction

    def __repr__(self) -> str:
        return f"{type(self).__name__}()"


class Sigmoid(Activation):
    """Logistic function, the inverse of the logit link (one output unit)."""

    name = "sigmoid"

    def __call__(self, raw: torch.Tensor) -> torch.Tensor:
        return torch.sigmoid(raw)

    def link(self, prediction: torch.Tensor) -> torch.Tensor:
        """The logit ``log(p / (1 - p))``."""
        return torch.log(prediction) - torch.log1p(-prediction)


class Softmax(Activation):
    """Softmax over the output units, the inverse of the multinomial logit link."""

    name = "softmax"

    def __call__(self, raw: torch.Tensor) -> torch.Tensor:
        return torch.softmax(raw, dim=-1)

    def link(self, prediction: torch.Tensor) -> torch.Tensor:
        """``log(p)`` centred over the units: softmax is unchanged by a common shift,
        and the centred raw output is the one the fits return."""
        log_p = torch.log(prediction)
        return log_p - log_p.mean(dim=-1, keepdim=True)


class Exp(Activation):
    """Exponential, the inverse of the log link."""

    name = "exp"

    def __call__(self, raw: torch.Tensor) -> torch.Tensor:
        return torch.exp(raw)

    def link(self, prediction: torch.Tensor) -> torch.Tensor:
        """The log link."""
        return torch.log(prediction)


#: Activations by name.
ACTIVATIONS: dict[str, type[Activation]] = {
    cls.name: cls for cls in (Activation, Sigmoid, Softmax, Exp)
}


def get_activation(name: str) -> Activation:
    """Return the activation registered under ``name``."""
    return ACTIVATIONS[name]()
