"""Output activations of the neuron (the inverse links of a GLM).

An activation maps the neuron's pre-activation ``raw = X @ W.T + b`` to the
quantity the model predicts: a probability (sigmoid, softmax) or a mean
(identity, exp). It owns nothing else; the losses that need one name it.
"""

import torch


class Activation:
    """Inverse link: maps the raw output of the linear layer to the prediction."""

    name = "identity"

    def __call__(self, raw):
        return raw

    def __repr__(self):
        return f"{type(self).__name__}()"


class Sigmoid(Activation):
    """Logistic function, the inverse of the logit link (one output unit)."""

    name = "sigmoid"

    def __call__(self, raw):
        return torch.sigmoid(raw)


class Softmax(Activation):
    """Softmax over the output units, the inverse of the multinomial logit link."""

    name = "softmax"

    def __call__(self, raw):
        return torch.softmax(raw, dim=-1)


class Exp(Activation):
    """Exponential, the inverse of the log link."""

    name = "exp"

    def __call__(self, raw):
        return torch.exp(raw)


ACTIVATIONS = {cls.name: cls for cls in (Activation, Sigmoid, Softmax, Exp)}


def get_activation(name):
    """Return the activation registered under ``name``."""
    return ACTIVATIONS[name]()
