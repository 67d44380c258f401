"""Pointwise losses of the neuron, on its raw (pre-activation) output.

A loss owns its output activation, its value, its gradient with respect to the
raw output and, where it is twice differentiable, its pointwise Hessian. It
knows nothing of X, weights or penalties: that is the objective's job
(``_objective.py``). All methods take and return torch tensors:

- ``raw``: shape (n_samples, n_outputs), the linear layer's output;
- ``target``: shape (n_samples, n_outputs), the encoded target
  (a 0/1 column for binary classification, one-hot for K classes).

``CLASSIFICATION_LOSSES`` maps a public ``loss=`` name to a factory taking the
number of classes, so that new losses plug in without touching the
estimators. A user's callable is wrapped by :class:`CallableLoss`, whose
derivatives come from autograd.

Margin losses (hinge, squared_hinge, modified_huber) act on the margin
``m = s * z`` of the single unit for two classes (``s = +1/-1``), and for K
classes on the Crammer-Singer margin ``m = z_y - max_{j != y} z_j``: the gap
between the true class's output and the strongest rival. Their value is
``phi(m)`` with ``phi`` the binary loss, so two classes and K classes agree.
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


class SquaredErrorProbaLoss(NeuronLoss):
    """Squared error between the predicted probabilities and the one-hot target.

    ``loss = sum_k (p_k - y_k)^2`` with ``p`` the sigmoid (as the two-class
    vector ``[1 - p, p]``, which gives ``2 (p - y)^2``) or softmax output: the
    Brier score of the sample. A sigmoid network trained on mean squared
    error; not convex in the weights, and not a likelihood.
    """

    name = "squared_error"

    def __init__(self, n_classes):
        binary = n_classes <= 2
        super().__init__(1 if binary else n_classes, Sigmoid() if binary else Softmax())

    def value(self, raw, target):
        scale = 2.0 if self.n_outputs == 1 else 1.0
        return scale * ((self.activation(raw) - target) ** 2).sum(dim=1)

    def value_gradient(self, raw, target):
        p = self.activation(raw)
        residual = p - target
        if self.n_outputs == 1:
            return 2.0 * (residual**2).sum(dim=1), 4.0 * residual * p * (1.0 - p)
        value = (residual**2).sum(dim=1)
        # Softmax Jacobian (diag(p) - p p^T) applied to 2 * residual.
        inner = (p * residual).sum(dim=1, keepdim=True)
        return value, 2.0 * p * (residual - inner)

    def hessian(self, raw, target):
        if self.n_outputs == 1:
            p = torch.sigmoid(raw)
            d = p * (1.0 - p)
            h = 4.0 * d * (d + (p - target) * (1.0 - 2.0 * p))
            return h.unsqueeze(-1)
        # Softmax: H = 2 J J + 2 sum_k r_k d2p_k with J = diag(p) - p p^T,
        # r = p - y and sum_k r_k d2p_k = diag(u - s p) - u p^T - p u^T
        # + 2 s p p^T for u = r * p, s = sum(u).
        p = torch.softmax(raw, dim=1)
        u = (p - target) * p
        s = u.sum(dim=1, keepdim=True)
        outer_pp = p.unsqueeze(2) * p.unsqueeze(1)
        jacobian = torch.diag_embed(p) - outer_pp
        curvature = (
            torch.diag_embed(u - s * p)
            - u.unsqueeze(2) * p.unsqueeze(1)
            - p.unsqueeze(2) * u.unsqueeze(1)
            + 2.0 * s.unsqueeze(2) * outer_pp
        )
        return 2.0 * (jacobian @ jacobian + curvature)


class MarginLoss(NeuronLoss):
    """A loss ``phi(m)`` of the classification margin (see the module docstring).

    Subclasses give ``phi``, its derivative and, where it exists, its second
    derivative (almost everywhere). ``predict_proba`` still applies the
    sigmoid/softmax to the raw output, which these losses do not calibrate.
    """

    def __init__(self, n_classes):
        binary = n_classes <= 2
        super().__init__(1 if binary else n_classes, Sigmoid() if binary else Softmax())

    def phi(self, m):
        raise NotImplementedError

    def dphi(self, m):
        raise NotImplementedError

    def d2phi(self, m):
        raise NotImplementedError(f"loss {self.name!r} has no second derivative")

    def _margin(self, raw, target):
        """Margin (n,) and its gradient with respect to raw (n, K)."""
        if self.n_outputs == 1:
            sign = 2.0 * target - 1.0
            return (sign * raw).squeeze(1), sign
        rival_raw = raw.masked_fill(target.bool(), float("-inf"))
        rival = rival_raw.argmax(dim=1)
        rival_value = rival_raw.gather(1, rival.unsqueeze(1)).squeeze(1)
        margin = (raw * target).sum(dim=1) - rival_value
        dmargin = target - F.one_hot(rival, self.n_outputs).to(raw.dtype)
        return margin, dmargin

    def value(self, raw, target):
        return self.phi(self._margin(raw, target)[0])

    def value_gradient(self, raw, target):
        margin, dmargin = self._margin(raw, target)
        return self.phi(margin), self.dphi(margin).unsqueeze(1) * dmargin

    def hessian(self, raw, target):
        margin, dmargin = self._margin(raw, target)
        return (
            self.d2phi(margin).view(-1, 1, 1)
            * dmargin.unsqueeze(2)
            * dmargin.unsqueeze(1)
        )


class HingeLoss(MarginLoss):
    """``max(0, 1 - m)``: the linear SVM's loss. Not differentiable at m = 1."""

    name = "hinge"
    twice_differentiable = False

    def phi(self, m):
        return torch.clamp(1.0 - m, min=0.0)

    def dphi(self, m):
        return -(m < 1.0).to(m.dtype)


class SquaredHingeLoss(MarginLoss):
    """``max(0, 1 - m)^2``: differentiable; its generalized Hessian serves Newton."""

    name = "squared_hinge"

    def phi(self, m):
        return torch.clamp(1.0 - m, min=0.0) ** 2

    def dphi(self, m):
        return -2.0 * torch.clamp(1.0 - m, min=0.0)

    def d2phi(self, m):
        return 2.0 * (m < 1.0).to(m.dtype)


class ModifiedHuberLoss(MarginLoss):
    """``max(0, 1 - m)^2`` for ``m >= -1``, ``-4 m`` below: a smoothed hinge."""

    name = "modified_huber"

    def phi(self, m):
        return torch.where(m >= -1.0, torch.clamp(1.0 - m, min=0.0) ** 2, -4.0 * m)

    def dphi(self, m):
        return torch.where(
            m >= -1.0, -2.0 * torch.clamp(1.0 - m, min=0.0), -4.0 * torch.ones_like(m)
        )

    def d2phi(self, m):
        return 2.0 * ((m >= -1.0) & (m < 1.0)).to(m.dtype)


class CallableLoss(NeuronLoss):
    """A user's ``loss(logits, target) -> per-sample losses``, through autograd.

    ``logits`` has shape (n_samples, n_outputs): one column for two classes,
    K columns for K classes. ``target`` is what torch's own losses expect: a
    float 0/1 column of shape (n_samples, 1) for two classes (as
    ``BCEWithLogitsLoss``), class indices of shape (n_samples,) for K classes
    (as ``CrossEntropyLoss``). The function must return one loss per sample
    (use ``reduction="none"``).
    """

    twice_differentiable = False

    def __init__(self, function, n_classes):
        binary = n_classes <= 2
        super().__init__(1 if binary else n_classes, Sigmoid() if binary else Softmax())
        self.function = function
        self.name = getattr(function, "__name__", type(function).__name__)

    def _torch_target(self, target):
        return target if self.n_outputs == 1 else target.argmax(dim=1)

    def value(self, raw, target):
        value = self.function(raw, self._torch_target(target))
        if not isinstance(value, torch.Tensor) or value.numel() != raw.shape[0]:
            shape = (
                tuple(value.shape)
                if isinstance(value, torch.Tensor)
                else type(value).__name__
            )
            raise ValueError(
                f"The callable loss {self.name!r} returned {shape} for {raw.shape[0]} "
                "samples; it must return one loss per sample, shape (n_samples,). "
                "For torch's losses pass reduction='none'."
            )
        value = value.reshape(-1).to(raw.dtype)
        if not torch.isfinite(value).all():
            raise ValueError(
                f"The callable loss {self.name!r} returned NaN or infinite values; "
                "check it on these logits and targets, or scale the features."
            )
        return value

    def value_gradient(self, raw, target):
        with torch.enable_grad():
            leaf = raw.detach().requires_grad_(True)
            value = self.value(leaf, target)
            (grad,) = torch.autograd.grad(value.sum(), leaf)
        return value.detach(), grad


def _log_loss(n_classes):
    return BinaryLogLoss() if n_classes <= 2 else MultinomialLogLoss(n_classes)


#: Classification losses by public name: factory(n_classes) -> NeuronLoss.
CLASSIFICATION_LOSSES = {
    "log_loss": _log_loss,
    "squared_error": SquaredErrorProbaLoss,
    "hinge": HingeLoss,
    "squared_hinge": SquaredHingeLoss,
    "modified_huber": ModifiedHuberLoss,
}


def get_classification_loss(loss, n_classes):
    """Resolve the ``loss`` parameter (a name or a callable) for ``n_classes``."""
    if callable(loss):
        return CallableLoss(loss, n_classes)
    return CLASSIFICATION_LOSSES[loss](n_classes)


def encode_classes(y_index, n_classes, dtype, device):
    """Encode class indices as the target the classification losses take.

    Two classes give one 0/1 column (one sigmoid unit); K > 2 classes give a
    one-hot matrix (K softmax units).
    """
    y_index = torch.as_tensor(y_index, device=device)
    if n_classes <= 2:
        return y_index.to(dtype).unsqueeze(1)
    return F.one_hot(y_index.long(), n_classes).to(dtype)
