"""Pointwise losses of the neuron, on its raw (pre-activation) output.

A loss owns its output activation, its value, its gradient with respect to the
raw output and, where it is twice differentiable, its pointwise Hessian. It
knows nothing of X, weights or penalties: that is the objective's job
(``_objective.py``). All methods take and return torch tensors:

- ``raw``: shape (n_samples, n_outputs), the linear layer's output;
- ``target``: shape (n_samples, n_outputs), the encoded target
  (a 0/1 column for binary classification, one-hot for K classes).

``LOSSES`` maps a public ``loss=`` name to a factory taking the number of
classes, so that new losses plug in without touching the estimators.
"""

import torch
import torch.nn.functional as F

from ._activations import Sigmoid, Softmax


class NeuronLoss:
    """Base class: a pointwise loss of the raw output, with its derivatives."""

    #: Name used in messages.
    name = "loss"
    #: Whether ``hessian`` is available (needed by the Newton optimizer).
    twice_differentiable = True
    #: Whether the loss is a negative log-likelihood (needed for inference).
    is_log_likelihood = False

    def __init__(self, n_outputs, activation):
        self.n_outputs = n_outputs
        self.activation = activation

    def value(self, raw, target):
        """Per-sample loss, shape (n_samples,)."""
        raise NotImplementedError

    def baseline_raw(self, target, weight):
        """Raw output of the best constant model, shape (n_outputs,).

        The optimizers start the intercepts here: an intercept-only fit is
        already solved, which saves iterations. The base class starts at 0.
        """
        return torch.zeros(self.n_outputs, dtype=target.dtype, device=target.device)

    def value_gradient(self, raw, target):
        """Per-sample loss and its gradient with respect to ``raw``."""
        raise NotImplementedError

    def hessian(self, raw, target):
        """Per-sample Hessian with respect to ``raw``, shape (n, K, K)."""
        raise NotImplementedError(f"loss {self.name!r} has no Hessian")

    def __repr__(self):
        return f"{type(self).__name__}(n_outputs={self.n_outputs})"


class BinaryLogLoss(NeuronLoss):
    """Bernoulli negative log-likelihood of a sigmoid unit.

    ``loss(z, y) = log(1 + exp(z)) - y z`` for ``y`` in {0, 1}: the
    cross-entropy between ``y`` and ``sigmoid(z)``.
    """

    name = "log_loss"
    is_log_likelihood = True

    def __init__(self):
        super().__init__(n_outputs=1, activation=Sigmoid())

    def value(self, raw, target):
        return (F.softplus(raw) - target * raw).sum(dim=1)

    def baseline_raw(self, target, weight):
        p = torch.clamp(weight @ target, 1e-12, 1 - 1e-12)  # weighted positive rate
        return torch.log(p) - torch.log1p(-p)

    def value_gradient(self, raw, target):
        return self.value(raw, target), torch.sigmoid(raw) - target

    def hessian(self, raw, target):
        p = torch.sigmoid(raw)
        return (p * (1.0 - p)).unsqueeze(-1)


class MultinomialLogLoss(NeuronLoss):
    """Categorical negative log-likelihood of a softmax layer of K units.

    ``loss(z, y) = logsumexp(z) - sum_k y_k z_k`` for one-hot ``y``.
    """

    name = "log_loss"
    is_log_likelihood = True

    def __init__(self, n_classes):
        super().__init__(n_outputs=n_classes, activation=Softmax())

    def value(self, raw, target):
        return torch.logsumexp(raw, dim=1) - (target * raw).sum(dim=1)

    def baseline_raw(self, target, weight):
        log_p = torch.log(torch.clamp(weight @ target, min=1e-12))
        return log_p - log_p.mean()

    def value_gradient(self, raw, target):
        log_proba = torch.log_softmax(raw, dim=1)
        value = -(target * log_proba).sum(dim=1)
        return value, torch.exp(log_proba) - target

    def hessian(self, raw, target):
        p = torch.softmax(raw, dim=1)
        return torch.diag_embed(p) - p.unsqueeze(2) * p.unsqueeze(1)


def _log_loss(n_classes):
    return BinaryLogLoss() if n_classes <= 2 else MultinomialLogLoss(n_classes)


#: Classification losses by public name: factory(n_classes) -> NeuronLoss.
CLASSIFICATION_LOSSES = {"log_loss": _log_loss}


def encode_classes(y_index, n_classes, dtype, device):
    """Encode class indices as the target the classification losses take.

    Two classes give one 0/1 column (one sigmoid unit); K > 2 classes give a
    one-hot matrix (K softmax units).
    """
    y_index = torch.as_tensor(y_index, device=device)
    if n_classes <= 2:
        return y_index.to(dtype).unsqueeze(1)
    return F.one_hot(y_index.long(), n_classes).to(dtype)
