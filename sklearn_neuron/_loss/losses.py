"""Pointwise losses of the neuron, on its raw (pre-activation) output.

A loss owns its output activation (the inverse link), its value, its gradient
with respect to the raw output and, where it is twice differentiable, its
pointwise Hessian, and declares its properties as class attributes (the flags
of :class:`NeuronLoss`: ``twice_differentiable``, ``is_log_likelihood``,
``uses_autograd``, ``shift_invariant``, ``max_curvature``,
``self_concordance``, and a regression loss's ``target_domain``), which
solvers and inference read as they are, never by probing. It knows nothing
of X, weights or penalties (the objective's job, :mod:`~sklearn_neuron._objective`),
nor of how y becomes its target (:mod:`~sklearn_neuron._loss.targets`). All
methods take and return torch tensors:

- ``raw``: shape (n_samples, n_outputs), the linear layer's output;
- ``target``: shape (n_samples, n_outputs), the encoded target
  (a 0/1 column for binary classification, one-hot for K classes).

``CLASSIFICATION_LOSSES`` maps a public ``loss=`` name to a factory taking the
number of classes, and ``REGRESSION_LOSSES`` the regressor's names to a
factory taking ``power`` and ``epsilon``, so that new losses plug in without
touching the estimators (``tests/test_loss_contract.py`` runs its contract over
every entry). A user's callable is wrapped by :class:`CallableLoss`, whose
derivatives come from autograd.

Margin losses (hinge, squared_hinge, modified_huber) act on the margin
``m = s * z`` of the single unit for two classes (``s = +1/-1``), and for K
classes one-vs-rest, as SGDClassifier does: unit k has margin
``m_k = s_k z_k`` with ``s_k = +1`` for the true class and ``-1`` otherwise,
and the loss is ``sum_k phi(m_k)``. Unlike the Crammer-Singer margin
``z_y - max_{j != y} z_j``, whose max has kinks wherever two rivals tie,
this keeps squared_hinge and modified_huber differentiable for K classes,
so that Newton and L-BFGS converge on them.
"""

from __future__ import annotations

import pickle
from abc import ABC, abstractmethod
from collections.abc import Callable
from typing import Any

import torch

from .activations import Activation, Exp, Sigmoid, Softmax

# The targets' encoding and checks live in targets.py; imported here so that
# ``from sklearn_neuron._loss.losses import encode_classes`` keeps working.
from .targets import (  # noqa: F401
    ANY_REAL,
    TargetDomain,
    encode_classes,
    fitted_classes,
)

Tensor = torch.Tensor


class NeuronLoss(ABC):
    """Base class: a pointwise loss of the raw output, with its derivatives.

    Parameters
    ----------
    n_outputs : int
        Number of output units (columns of ``raw`` and ``target``).
    activation : Activation
        The output activation (inverse link) that turns ``raw`` into the
        prediction.
    """

    #: Name used in messages.
    name: str = "loss"
    #: Whether ``hessian`` is available (needed by the Newton optimizer).
    twice_differentiable: bool = True
    #: Whether the loss is a negative log-likelihood (needed for inference).
    is_log_likelihood: bool = False
    #: Whether adding one number to every output unit leaves the loss
    #: unchanged (a softmax): then the fit is centred over the classes.
    shift_invariant: bool = False
    #: Whether the derivatives come from autograd (a user's callable): full-
    #: batch fits of the others run in torch's inference mode.
    uses_autograd: bool = False
    #: Largest second derivative of the loss in the raw output (the largest
    #: eigenvalue of its pointwise Hessian) over all raw outputs and targets,
    #: or None where it is unbounded or unknown; sets the step of minibatch
    #: SGD (``learning_rate="auto"``).
    max_curvature: float | None = None
    #: ``nu`` with ``|D^3 l(z)[t, t, u]| <= nu * max|u| * t' D^2 l(z) t`` for all
    #: raw outputs ``z`` and directions ``t``, ``u`` (pseudo-self-concordance), or
    #: None where no such bound is known; it bounds a Newton step's outcome
    #: without an evaluation (:mod:`~sklearn_neuron._solvers.certificate`).
    self_concordance: float | None = None
    #: Whether :meth:`baseline_raw` reads the target only through its weighted
    #: mean (data on a cluster then give it by one reduction); False where it is
    #: a weighted median (Huber, the absolute error).
    baseline_from_mean: bool = True

    def __init__(self, n_outputs: int, activation: Activation) -> None:
        self.n_outputs = n_outputs
        self.activation = activation

    @abstractmethod
    def value(self, raw: Tensor, target: Tensor) -> Tensor:
        """Per-sample loss, shape (n_samples,)."""

    def baseline_raw(self, target: Tensor, weight: Tensor) -> Tensor:
        """Raw output of the best constant model, shape (n_outputs,).

        The optimizers start the intercepts here: an intercept-only fit is
        already solved, which saves iterations. ``weight`` sums to 1. The base
        class starts at 0.
        """
        return torch.zeros(self.n_outputs, dtype=target.dtype, device=target.device)

    @abstractmethod
    def value_gradient(self, raw: Tensor, target: Tensor) -> tuple[Tensor, Tensor]:
        """Per-sample loss and its gradient with respect to ``raw``."""

    def gradient(self, raw: Tensor, target: Tensor) -> Tensor:
        """Per-sample gradient with respect to ``raw`` (minibatch steps need no value).

        Losses whose gradient costs less than value and gradient override it.
        """
        return self.value_gradient(raw, target)[1]

    def hessian(self, raw: Tensor, target: Tensor) -> Tensor:
        """Per-sample Hessian with respect to ``raw``, shape (n, K, K)."""
        raise NotImplementedError(f"loss {self.name!r} has no Hessian")

    def gradient_hessian(self, raw: Tensor, target: Tensor) -> tuple[Tensor, Tensor]:
        """Per-sample gradient and Hessian (no value), for one-pass second order.

        Losses whose gradient and Hessian share work override it.
        """
        return self.value_gradient(raw, target)[1], self.hessian(raw, target)

    def __repr__(self) -> str:
        return f"{type(self).__name__}(n_outputs={self.n_outputs})"


class BinaryLogLoss(NeuronLoss):
    """Bernoulli negative log-likelihood of a sigmoid unit.

    ``loss(z, y) = log(1 + exp(z)) - y z`` for ``y`` in {0, 1}: the
    cross-entropy between ``y`` and ``sigmoid(z)``.
    """

    name = "log_loss"
    max_curvature = 0.25  # p (1 - p)
    self_concordance = 1.0  # third derivative p (1 - p) (1 - 2p): at most the second
    is_log_likelihood = True

    def __init__(self) -> None:
        super().__init__(n_outputs=1, activation=Sigmoid())

    def value(self, raw: Tensor, target: Tensor) -> Tensor:
        # log(1 + exp(z)) - y z = (max(z, 0) - y z) + log1p(exp(-|z|)): the
        # first term is exactly 0 for a well-classified row (y = 1, z > 0, or
        # y = 0, z < 0), so its small loss keeps full relative precision
        # (torch's softplus returns z above its threshold of 20, dropping
        # exp(-z), and z - y z then cancels).
        return (
            (torch.clamp(raw, min=0) - target * raw) + torch.log1p(torch.exp(-raw.abs()))
        ).sum(dim=1)

    def baseline_raw(self, target: Tensor, weight: Tensor) -> Tensor:
        p = torch.clamp(weight @ target, 1e-12, 1 - 1e-12)  # weighted positive rate
        return torch.log(p) - torch.log1p(-p)

    def value_gradient(self, raw: Tensor, target: Tensor) -> tuple[Tensor, Tensor]:
        return self.value(raw, target), torch.sigmoid(raw) - target

    def gradient(self, raw: Tensor, target: Tensor) -> Tensor:
        return torch.sigmoid(raw) - target

    def hessian(self, raw: Tensor, target: Tensor) -> Tensor:
        p = torch.sigmoid(raw)
        return (p * (1.0 - p)).unsqueeze(-1)

    def gradient_hessian(self, raw: Tensor, target: Tensor) -> tuple[Tensor, Tensor]:
        p = torch.sigmoid(raw)
        return p - target, (p * (1.0 - p)).unsqueeze(-1)


class MultinomialLogLoss(NeuronLoss):
    """Categorical negative log-likelihood of a softmax layer of K units.

    ``loss(z, y) = logsumexp(z) - sum_k y_k z_k`` for one-hot ``y``.
    """

    name = "log_loss"
    max_curvature = 0.5  # largest eigenvalue of diag(p) - p p^T
    # D^3 l[t, t, u] = E_p[(t - E_p t)^2 (u - E_p u)], at most range(u) <= 2 max|u|
    # times Var_p(t) = t' D^2 l t.
    self_concordance = 2.0
    is_log_likelihood = True
    shift_invariant = True

    def __init__(self, n_classes: int) -> None:
        super().__init__(n_outputs=n_classes, activation=Softmax())

    def value(self, raw: Tensor, target: Tensor) -> Tensor:
        return torch.logsumexp(raw, dim=1) - (target * raw).sum(dim=1)

    def baseline_raw(self, target: Tensor, weight: Tensor) -> Tensor:
        log_p = torch.log(torch.clamp(weight @ target, min=1e-12))
        return log_p - log_p.mean()

    #: Below this many classes (and in float64 at any number) on the CPU, the
    #: softmax is taken by a few elementwise passes over the (n, K) array
    #: (row max, exp in place, row sum, one log per row): torch's
    #: ``log_softmax`` / ``softmax`` over a short last dimension run a
    #: scalar loop, several times slower; from this many float32 classes on
    #: their vectorised kernels are as fast or faster (benchmarks/RESULTS.md,
    #: History: the multinomial passes).
    elementwise_max_classes = 16

    def _elementwise(self, raw: Tensor) -> bool:
        """Whether :meth:`probabilities` and :meth:`value_gradient` take the elementwise passes
        (in-place steps: not on a tensor autograd records)."""
        return (
            raw.device.type == "cpu"
            and not raw.requires_grad
            and (raw.shape[1] < self.elementwise_max_classes or raw.dtype == torch.float64)
        )

    def probabilities(self, raw: Tensor) -> Tensor:
        """``softmax(raw)`` row by row, a new (n, K) tensor (the curvature's ``p``)."""
        if not self._elementwise(raw):
            return torch.softmax(raw, dim=1)
        proba = raw - raw.amax(dim=1, keepdim=True)
        torch.exp(proba, out=proba)
        proba /= proba.sum(dim=1, keepdim=True)
        return proba

    def value_gradient(self, raw: Tensor, target: Tensor) -> tuple[Tensor, Tensor]:
        """``logsumexp(z) - y.z`` and ``softmax(z) - y`` from one exp of the shifted raw
        output (rows of ``y`` sum to one, as :meth:`value` assumes)."""
        if not self._elementwise(raw):
            log_proba = torch.log_softmax(raw, dim=1)
            value = -(target * log_proba).sum(dim=1)
            return value, torch.exp(log_proba) - target
        shifted = raw - raw.amax(dim=1, keepdim=True)
        value = (target * shifted).sum(dim=1).neg_()
        proba = torch.exp(shifted, out=shifted)
        total = proba.sum(dim=1, keepdim=True)
        value += torch.log(total).squeeze(1)
        proba /= total
        return value, proba.sub_(target)

    def gradient(self, raw: Tensor, target: Tensor) -> Tensor:
        return self.probabilities(raw).sub_(target)

    def hessian(self, raw: Tensor, target: Tensor) -> Tensor:
        p = self.probabilities(raw)
        return torch.diag_embed(p) - p.unsqueeze(2) * p.unsqueeze(1)

    def gradient_hessian(self, raw: Tensor, target: Tensor) -> tuple[Tensor, Tensor]:
        p = self.probabilities(raw)
        return p - target, torch.diag_embed(p) - p.unsqueeze(2) * p.unsqueeze(1)


class SquaredErrorProbaLoss(NeuronLoss):
    """Squared error between the predicted probabilities and the one-hot target.

    ``loss = sum_k (p_k - y_k)^2`` with ``p`` the sigmoid (as the two-class
    vector ``[1 - p, p]``, which gives ``2 (p - y)^2``) or softmax output: the
    Brier score of the sample. A sigmoid network trained on mean squared
    error; not convex in the weights, and not a likelihood.
    """

    name = "squared_error"
    max_curvature = 1.0  # 4 (s'^2 + |s - y| |s''|) <= 0.64 for a sigmoid s; softmax alike

    def __init__(self, n_classes: int) -> None:
        binary = n_classes <= 2
        super().__init__(1 if binary else n_classes, Sigmoid() if binary else Softmax())
        self.shift_invariant = not binary

    def value(self, raw: Tensor, target: Tensor) -> Tensor:
        scale = 2.0 if self.n_outputs == 1 else 1.0
        return scale * torch.square(self.activation(raw) - target).sum(dim=1)

    def value_gradient(self, raw: Tensor, target: Tensor) -> tuple[Tensor, Tensor]:
        p = self.activation(raw)
        residual = p - target
        if self.n_outputs == 1:
            return 2.0 * torch.square(residual).sum(dim=1), 4.0 * residual * p * (1.0 - p)
        value = torch.square(residual).sum(dim=1)
        # Softmax Jacobian (diag(p) - p p^T) applied to 2 * residual.
        inner = (p * residual).sum(dim=1, keepdim=True)
        return value, 2.0 * p * (residual - inner)

    def hessian(self, raw: Tensor, target: Tensor) -> Tensor:
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
    """A loss ``sum_k phi(m_k)`` of the classification margins (see the module docstring).

    Subclasses give ``phi``, its derivative and, where it exists, its second
    derivative (almost everywhere). ``predict_proba`` still applies the
    sigmoid/softmax to the raw output, which these losses do not calibrate.
    """

    def __init__(self, n_classes: int) -> None:
        binary = n_classes <= 2
        super().__init__(1 if binary else n_classes, Sigmoid() if binary else Softmax())

    @abstractmethod
    def phi(self, m: Tensor) -> Tensor:
        """The loss of each margin ``m``."""

    @abstractmethod
    def dphi(self, m: Tensor) -> Tensor:
        """The derivative of :meth:`phi` (a subgradient at a kink)."""

    def d2phi(self, m: Tensor) -> Tensor:
        """The second derivative of :meth:`phi`, almost everywhere."""
        raise NotImplementedError(f"loss {self.name!r} has no second derivative")

    def value(self, raw: Tensor, target: Tensor) -> Tensor:
        return self.phi((2.0 * target - 1.0) * raw).sum(dim=1)

    def value_gradient(self, raw: Tensor, target: Tensor) -> tuple[Tensor, Tensor]:
        sign = 2.0 * target - 1.0
        margin = sign * raw
        return self.phi(margin).sum(dim=1), self.dphi(margin) * sign

    def hessian(self, raw: Tensor, target: Tensor) -> Tensor:
        return torch.diag_embed(self.d2phi((2.0 * target - 1.0) * raw))


class HingeLoss(MarginLoss):
    """``max(0, 1 - m)``: the linear SVM's loss. Not differentiable at m = 1."""

    name = "hinge"
    twice_differentiable = False

    def phi(self, m: Tensor) -> Tensor:
        return torch.clamp(1.0 - m, min=0.0)

    def dphi(self, m: Tensor) -> Tensor:
        return -(m < 1.0).to(m.dtype)


class SquaredHingeLoss(MarginLoss):
    """``max(0, 1 - m)^2``: differentiable; its generalized Hessian serves Newton."""

    name = "squared_hinge"
    max_curvature = 2.0

    def phi(self, m: Tensor) -> Tensor:
        return torch.square(torch.clamp(1.0 - m, min=0.0))

    def dphi(self, m: Tensor) -> Tensor:
        return -2.0 * torch.clamp(1.0 - m, min=0.0)

    def d2phi(self, m: Tensor) -> Tensor:
        return 2.0 * (m < 1.0).to(m.dtype)


class ModifiedHuberLoss(MarginLoss):
    """``max(0, 1 - m)^2`` for ``m >= -1``, ``-4 m`` below: a smoothed hinge."""

    name = "modified_huber"
    max_curvature = 2.0

    def phi(self, m: Tensor) -> Tensor:
        return torch.where(m >= -1.0, torch.square(torch.clamp(1.0 - m, min=0.0)), -4.0 * m)

    def dphi(self, m: Tensor) -> Tensor:
        return torch.where(
            m >= -1.0, -2.0 * torch.clamp(1.0 - m, min=0.0), -4.0 * torch.ones_like(m)
        )

    def d2phi(self, m: Tensor) -> Tensor:
        return 2.0 * ((m >= -1.0) & (m < 1.0)).to(m.dtype)


class CallableLoss(NeuronLoss):
    """A user's ``loss(logits, target) -> per-sample losses``, differentiated by autograd.

    ``logits`` has shape (n_samples, n_outputs): one column for two classes,
    K columns for K classes. ``target`` is what torch's own losses expect: a
    float 0/1 column of shape (n_samples, 1) for two classes (as
    ``BCEWithLogitsLoss``), class indices of shape (n_samples,) for K classes
    (as ``CrossEntropyLoss``). The function must return one loss per sample
    (use ``reduction="none"``).
    """

    twice_differentiable = False
    uses_autograd = True

    def __init__(self, function: Callable[[Tensor, Tensor], Tensor], n_classes: int) -> None:
        binary = n_classes <= 2
        super().__init__(1 if binary else n_classes, Sigmoid() if binary else Softmax())
        self.function = function
        self.name = getattr(function, "__name__", type(function).__name__)

    def _torch_target(self, target: Tensor) -> Tensor:
        return target if self.n_outputs == 1 else target.argmax(dim=1)

    def value(self, raw: Tensor, target: Tensor) -> Tensor:
        value = self.function(raw, self._torch_target(target))
        if not isinstance(value, torch.Tensor) or value.numel() != raw.shape[0]:
            shape = tuple(value.shape) if isinstance(value, torch.Tensor) else type(value).__name__
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

    def value_gradient(self, raw: Tensor, target: Tensor) -> tuple[Tensor, Tensor]:
        with torch.enable_grad():
            leaf = raw.detach().requires_grad_(True)
            value = self.value(leaf, target)
            (grad,) = torch.autograd.grad(value.sum(), leaf)
        return value.detach(), grad


def _log_loss(n_classes: int) -> NeuronLoss:
    return BinaryLogLoss() if n_classes <= 2 else MultinomialLogLoss(n_classes)


#: Classification losses by public name: factory(n_classes) -> NeuronLoss.
CLASSIFICATION_LOSSES: dict[str, Callable[[int], NeuronLoss]] = {
    "log_loss": _log_loss,
    "squared_error": SquaredErrorProbaLoss,
    "hinge": HingeLoss,
    "squared_hinge": SquaredHingeLoss,
    "modified_huber": ModifiedHuberLoss,
}


def loss_for_pickle(loss: Any) -> Any:
    """The ``loss`` parameter as an estimator's pickle holds it.

    Names, torch loss objects and module-level functions are pickled as they
    are (a function by its name). A callable that pickle cannot find by
    name - a lambda, a function defined inside another - is carried by
    value with cloudpickle, as joblib and dask send such functions to their
    workers: it unpickles as the function again, under the same Python
    version. One that cannot be pickled even so is refused, naming ``loss``.
    """
    if isinstance(loss, str) or not callable(loss):
        return loss
    failures = (pickle.PicklingError, AttributeError, TypeError)
    try:
        pickle.dumps(loss)
        return loss
    except failures:
        pass
    try:
        return _PickledByValue(_cloudpickle().dumps(loss))
    except failures as exc:
        raise pickle.PicklingError(
            f"loss={loss!r} cannot be pickled ({exc}), so neither can the estimator. "
            "A callable loss must be picklable: a function defined at the top level "
            "of a module, or a torch loss object such as "
            "torch.nn.BCEWithLogitsLoss(reduction='none')."
        ) from exc


class _PickledByValue:
    """A callable pickled by cloudpickle, which unpickles as the callable itself."""

    def __init__(self, payload: bytes) -> None:
        self.payload = payload

    def __reduce__(self) -> tuple[Callable[[bytes], Any], tuple[bytes]]:
        return pickle.loads, (self.payload,)


def _cloudpickle() -> Any:
    try:
        import cloudpickle
    except ImportError:  # pragma: no cover - older joblib vendors it instead
        from joblib.externals import cloudpickle
    return cloudpickle


def get_classification_loss(loss: str | Callable[..., Tensor], n_classes: int) -> NeuronLoss:
    """Resolve the ``loss`` parameter (a name or a callable) for ``n_classes``."""
    if callable(loss):
        return CallableLoss(loss, n_classes)
    return CLASSIFICATION_LOSSES[loss](n_classes)


# -- regression ------------------------------------------------------------------
# One output unit; ``target`` is y as a float column of shape (n_samples, 1) and
# ``raw`` the linear layer's output z. The GLM losses are *half* unit deviances,
# as scikit-learn's ``HalfSquaredError``, ``HalfPoissonLoss``, ``HalfGammaLoss``
# and ``HalfTweedieLoss`` (sklearn/_loss/loss.py): the same objective then has
# the same ``alpha``. Unlike scikit-learn's they keep the constant terms, so a
# sample's loss is 0 exactly when the prediction equals its target and the
# fitted ``objective_`` reads as half the mean deviance (plus the penalty).


def _weighted_median(values: Tensor, weight: Tensor) -> Tensor:
    """Weighted median of a column ``values`` (n, 1) with weights summing to 1."""
    order = torch.argsort(values[:, 0])
    cumulative = torch.cumsum(weight[order], dim=0)
    index = int(torch.searchsorted(cumulative, cumulative[-1] * 0.5))
    return values[order[min(index, values.shape[0] - 1)]]


class RegressionLoss(NeuronLoss):
    """Base class of the regression losses: one output unit, one target domain.

    ``target_domain`` declares the values of y the loss accepts; the check and
    its message are :func:`~sklearn_neuron._loss.targets.check_target`'s.
    """

    #: The values of y the loss accepts.
    target_domain: TargetDomain = ANY_REAL

    def __init__(self, activation: Activation) -> None:
        super().__init__(n_outputs=1, activation=activation)

    def __repr__(self) -> str:
        return f"{type(self).__name__}()"


class HalfSquaredError(RegressionLoss):
    """``(y - z)^2 / 2`` with the identity output: least squares.

    Half the Gaussian unit deviance, with a unit Hessian.
    """

    name = "squared_error"
    max_curvature = 1.0
    self_concordance = 0.0  # quadratic: its Taylor expansion is exact
    is_log_likelihood = True

    def __init__(self) -> None:
        super().__init__(Activation())

    def value(self, raw: Tensor, target: Tensor) -> Tensor:
        return 0.5 * torch.square(raw - target).sum(dim=1)

    def baseline_raw(self, target: Tensor, weight: Tensor) -> Tensor:
        return weight @ target

    def value_gradient(self, raw: Tensor, target: Tensor) -> tuple[Tensor, Tensor]:
        residual = raw - target
        return torch.square(residual).mul_(0.5)[:, 0], residual

    def gradient(self, raw: Tensor, target: Tensor) -> Tensor:
        return raw - target

    def hessian(self, raw: Tensor, target: Tensor) -> Tensor:
        return torch.ones_like(raw).unsqueeze(-1)


class _LogLinkLoss(RegressionLoss):
    """A half deviance with the exp output (log link); starts at log of mean y."""

    is_log_likelihood = True

    def __init__(self) -> None:
        super().__init__(Exp())

    def baseline_raw(self, target: Tensor, weight: Tensor) -> Tensor:
        mean = weight @ target
        return torch.log(torch.clamp(mean, min=torch.finfo(target.dtype).tiny))


class HalfPoissonLoss(_LogLinkLoss):
    """Half Poisson deviance with the exp output.

    ``y log(y / mu) - y + mu`` with ``mu = exp(z)``; its gradient is
    ``mu - y`` and its Hessian ``mu``.
    """

    name = "poisson"
    target_domain = TargetDomain(0.0, True, "y >= 0 (Poisson counts or rates)")

    def value_gradient(self, raw: Tensor, target: Tensor) -> tuple[Tensor, Tensor]:
        mu = torch.exp(raw)
        value = (torch.xlogy(target, target) - target * raw - target + mu)[:, 0]
        return value, mu - target

    def value(self, raw: Tensor, target: Tensor) -> Tensor:
        return self.value_gradient(raw, target)[0]

    def hessian(self, raw: Tensor, target: Tensor) -> Tensor:
        return torch.exp(raw).unsqueeze(-1)


class HalfGammaLoss(_LogLinkLoss):
    """Half Gamma deviance with the exp output.

    ``log(mu / y) + y / mu - 1`` with ``mu = exp(z)``; gradient
    ``1 - y / mu``, Hessian ``y / mu``.
    """

    name = "gamma"
    target_domain = TargetDomain(0.0, False, "y > 0 (Gamma-distributed targets are positive)")

    def value_gradient(self, raw: Tensor, target: Tensor) -> tuple[Tensor, Tensor]:
        ratio = target / torch.exp(raw)  # y / mu
        return (ratio - torch.log(ratio)).sub_(1.0)[:, 0], 1.0 - ratio

    def value(self, raw: Tensor, target: Tensor) -> Tensor:
        return self.value_gradient(raw, target)[0]

    def hessian(self, raw: Tensor, target: Tensor) -> Tensor:
        return (target / torch.exp(raw)).unsqueeze(-1)


class HalfTweedieLoss(_LogLinkLoss):
    """Half Tweedie deviance of ``power`` p with the exp output.

    For p not in {1, 2}, with ``mu = exp(z)``::

        max(y, 0)^(2-p) / ((1-p)(2-p)) - y mu^(1-p) / (1-p) + mu^(2-p) / (2-p)

    At p = 0 that is half the squared error ``(y - mu)^2 / 2`` on the log
    link, so its first term is ``y^2 / 2`` also where y < 0 (as in
    scikit-learn's and statsmodels' Tweedie deviances); p = 1 is the Poisson
    and p = 2 the Gamma deviance, to which it delegates. Gradient
    ``mu^(1-p) (mu - y)``, Hessian
    ``(2-p) mu^(2-p) - (1-p) y mu^(1-p)``, negative for some p and y (the
    loss is then not convex in z; Newton damps such Hessians).
    """

    name = "tweedie"

    def __init__(self, power: float) -> None:
        super().__init__()
        self.power = float(power)
        special = {1.0: HalfPoissonLoss, 2.0: HalfGammaLoss}.get(self.power)
        self._special: NeuronLoss | None = None if special is None else special()
        if self.power <= 0:
            self.target_domain = TargetDomain(rule=f"any real y for power={power}")
        elif self.power < 2:
            self.target_domain = TargetDomain(
                0.0, True, f"y >= 0 for power={power} (between 0 and 2)"
            )
        else:
            self.target_domain = TargetDomain(0.0, False, f"y > 0 for power={power} (2 or more)")

    def value_gradient(self, raw: Tensor, target: Tensor) -> tuple[Tensor, Tensor]:
        if self._special is not None:
            return self._special.value_gradient(raw, target)
        p = self.power
        mu_1p = torch.exp((1.0 - p) * raw)  # mu^(1-p)
        mu_2p = mu_1p * torch.exp(raw)  # mu^(2-p)
        # The constant makes the loss 0 at mu = y; max(y, 0) keeps y^(2-p)
        # real for p < 0, where negative y are allowed.
        base = target if p == 0 else torch.clamp(target, min=0.0)
        constant = torch.pow(base, 2.0 - p) / ((1.0 - p) * (2.0 - p))
        value = constant - target * mu_1p / (1.0 - p) + mu_2p / (2.0 - p)
        return value.sum(dim=1), mu_2p - target * mu_1p

    def value(self, raw: Tensor, target: Tensor) -> Tensor:
        if self._special is not None:
            return self._special.value(raw, target)
        return self.value_gradient(raw, target)[0]

    def hessian(self, raw: Tensor, target: Tensor) -> Tensor:
        if self._special is not None:
            return self._special.hessian(raw, target)
        p = self.power
        mu_1p = torch.exp((1.0 - p) * raw)
        h = (2.0 - p) * mu_1p * torch.exp(raw) - (1.0 - p) * target * mu_1p
        return h.unsqueeze(-1)

    def __repr__(self) -> str:
        return f"{type(self).__name__}(power={self.power})"


class HuberLoss(RegressionLoss):
    """Huber's loss of the residual ``r = y - z`` with threshold ``epsilon``.

    ``r^2 / 2`` for ``|r| <= epsilon``, ``epsilon (|r| - epsilon / 2)``
    beyond: squared error near the fit, absolute error far from it.
    ``epsilon`` is in the units of y (see NeuronRegressor's ``epsilon``).
    Once differentiable; its generalized Hessian, 1 inside the threshold and
    0 outside, serves Newton.
    """

    name = "huber"
    max_curvature = 1.0
    baseline_from_mean = False

    def __init__(self, epsilon: float) -> None:
        super().__init__(Activation())
        self.epsilon = float(epsilon)

    def value_gradient(self, raw: Tensor, target: Tensor) -> tuple[Tensor, Tensor]:
        residual = raw - target
        absolute = residual.abs()
        inside = absolute <= self.epsilon
        value = torch.where(
            inside, 0.5 * torch.square(residual), self.epsilon * (absolute - 0.5 * self.epsilon)
        )
        return value.sum(dim=1), torch.clamp(residual, -self.epsilon, self.epsilon)

    def value(self, raw: Tensor, target: Tensor) -> Tensor:
        return self.value_gradient(raw, target)[0]

    def baseline_raw(self, target: Tensor, weight: Tensor) -> Tensor:
        return _weighted_median(target, weight)

    def hessian(self, raw: Tensor, target: Tensor) -> Tensor:
        return ((raw - target).abs() <= self.epsilon).to(raw.dtype).unsqueeze(-1)

    def __repr__(self) -> str:
        return f"{type(self).__name__}(epsilon={self.epsilon})"


class AbsoluteError(RegressionLoss):
    """``|y - z|``: least absolute deviations (median regression).

    Not differentiable where a residual is 0, which is where its minimum
    lies; no Newton. The gradient used is the subgradient ``sign(z - y)``.
    """

    name = "absolute_error"
    twice_differentiable = False
    baseline_from_mean = False

    def __init__(self) -> None:
        super().__init__(Activation())

    def value(self, raw: Tensor, target: Tensor) -> Tensor:
        return (raw - target).abs().sum(dim=1)

    def value_gradient(self, raw: Tensor, target: Tensor) -> tuple[Tensor, Tensor]:
        residual = raw - target
        return residual.abs().sum(dim=1), torch.sign(residual)

    def baseline_raw(self, target: Tensor, weight: Tensor) -> Tensor:
        return _weighted_median(target, weight)


class CallableRegressionLoss(CallableLoss):
    """A user's ``loss(raw, target) -> per-sample losses`` for regression.

    ``raw`` and ``target`` both have shape (n_samples, 1), what
    ``MSELoss(reduction="none")`` and ``L1Loss(reduction="none")`` take; the
    prediction is the raw output (identity activation).
    """

    #: Any real y (the user's loss decides what it accepts).
    target_domain: TargetDomain = ANY_REAL

    def __init__(self, function: Callable[[Tensor, Tensor], Tensor]) -> None:
        NeuronLoss.__init__(self, n_outputs=1, activation=Activation())
        self.function = function
        self.name = getattr(function, "__name__", type(function).__name__)

    def _torch_target(self, target: Tensor) -> Tensor:
        return target


#: Regression losses by public name: factory(power=..., epsilon=...) -> NeuronLoss.
REGRESSION_LOSSES: dict[str, Callable[[float, float], NeuronLoss]] = {
    "squared_error": lambda power, epsilon: HalfSquaredError(),
    "poisson": lambda power, epsilon: HalfPoissonLoss(),
    "gamma": lambda power, epsilon: HalfGammaLoss(),
    "tweedie": lambda power, epsilon: HalfTweedieLoss(power),
    "huber": lambda power, epsilon: HuberLoss(epsilon),
    "absolute_error": lambda power, epsilon: AbsoluteError(),
}


def get_regression_loss(
    loss: str | Callable[..., Tensor], *, power: float = 1.5, epsilon: float = 1.35
) -> NeuronLoss:
    """Resolve the regressor's ``loss`` parameter (a name or a callable)."""
    if callable(loss):
        return CallableRegressionLoss(loss)
    return REGRESSION_LOSSES[loss](power, epsilon)
