"""The statistical model behind each loss: log-likelihood, deviance, dispersion, information.

A loss that is a negative log-likelihood belongs to a family (glum's
``_distribution.py``, statsmodels' ``family.py``): Bernoulli and the
multinomial for the classifier, and statsmodels' GLM families Gaussian,
Poisson, Gamma and Tweedie for the regressor. A :class:`Likelihood` is that
family bound to its loss. It gives per-row functions of the raw output and
the encoded target (log-likelihood, deviance, squared Pearson residual,
observed and expected information, saturated log-likelihood, margins), so
that a statistic is a frequency-weighted sum over rows: the sums over the
blocks of a Dask array add up to the whole's with no correction term.
Losses that are not a likelihood (hinge, squared hinge, modified Huber,
Huber, absolute error, users' callables) get :class:`NoLikelihood`, which
says so. :func:`likelihood_of` looks the family up from the loss, in the one
registry :data:`LIKELIHOODS`.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import torch

from .families import TWEEDIE_LOGLIKE_POWERS, tweedie_loglike
from .losses import (
    BinaryLogLoss,
    HalfGammaLoss,
    HalfPoissonLoss,
    HalfSquaredError,
    HalfTweedieLoss,
    MultinomialLogLoss,
    NeuronLoss,
)


class Likelihood:
    """A loss that is the negative log-likelihood of each row, with unit dispersion.

    The base class is the likelihood of Bernoulli and the multinomial (one
    label per row): ``loglike_i = -loss_i``, a saturated log-likelihood of
    0 and a deviance of ``2 loss_i``. GLM families override what differs.

    Parameters
    ----------
    loss : NeuronLoss
        The loss the family belongs to (its link and derivatives).

    Attributes
    ----------
    name : str or None
        The family's name in statsmodels (``"Binomial"`` ...), None without one.
    link : str or None
        The link's name (``"logit"``, ``"log"``, ``"identity"``).
    glm : bool
        Whether the model is reported as a statsmodels GLM (its name and link
        in the summary, the deviance from the loss).
    dispersion : bool
        Whether the dispersion is estimated (Pearson's chi2 / df_resid).
    variance_power : float
        ``p`` of the variance function ``V(mu) = mu^p``.
    profiles_scale : bool
        Whether ``llf`` is the concentrated log-likelihood, at the dispersion's
        maximum-likelihood estimate ``deviance / nobs`` (the Gaussian, as
        statsmodels) rather than at the Pearson dispersion.
    has_margins : bool
        Whether the outputs are class probabilities, which can separate.
    """

    name: str | None = None
    link: str | None = None
    glm = False
    dispersion = False
    variance_power = 0.0
    profiles_scale = False
    has_margins = False

    def __init__(self, loss: NeuronLoss) -> None:
        self.loss = loss

    def family_name(self) -> str:
        """The family as the summary names it."""
        return str(self.name)

    @property
    def is_likelihood(self) -> bool:
        """Whether the loss is a negative log-likelihood (inference needs it)."""
        return bool(self.loss.is_log_likelihood)

    # -- per-row functions of (raw, target) ---------------------------------
    def loglike_obs(
        self, raw: torch.Tensor, target: torch.Tensor, scale: float = 1.0
    ) -> torch.Tensor:
        """Log-likelihood of each row (n,) at the dispersion ``scale``."""
        return -self.loss.value(raw, target)

    def deviance_obs(self, raw: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        """Unit deviance of each row (n,): twice the loss (a half deviance)."""
        return 2.0 * self.loss.value(raw, target)

    def saturated_loglike_obs(
        self, raw: torch.Tensor, target: torch.Tensor, scale: float = 1.0
    ) -> torch.Tensor:
        """Log-likelihood of each row under the saturated model (``mu = y``).

        ``loglike + deviance / (2 scale)``: an exponential-dispersion density
        is ``exp(-d(y, mu) / (2 phi)) c(y, phi)``, and ``c`` is the saturated
        model's. 0 for one class label per row.
        """
        loglike = self.loglike_obs(raw, target, scale).to(torch.float64)
        return loglike + self.deviance_obs(raw, target).to(torch.float64) / (2.0 * scale)

    def pearson_obs(self, raw: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        """Squared Pearson residual ``(y - mu)^2 / V(mu)`` of each row (n,)."""
        mu = self.loss.activation(raw)[:, 0]
        residual2 = (target[:, 0] - mu) ** 2
        if self.variance_power != 0:
            residual2 = residual2 / mu**self.variance_power
        return residual2

    def observed_information(self, raw: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        """The loss's Hessian in the raw output per row, (n, K, K)."""
        return self.loss.hessian(raw, target)

    def expected_information(self, raw: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        """The Fisher information per row in the raw output (n, K, K).

        The observed one for a canonical link (where they are equal).
        """
        return self.observed_information(raw, target)

    @property
    def fisher_information(
        self,
    ) -> Callable[[torch.Tensor, torch.Tensor], torch.Tensor] | None:
        """What the covariance's information uses in place of the loss's Hessian.

        None: the observed information (the loss's Hessian). A non-canonical
        link gives :meth:`expected_information`, as statsmodels' IRLS does.
        """
        return None

    def margins(self, raw: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        """Per-row margin of the observed class (see :attr:`has_margins`)."""
        raise ValueError(f"loss={self.loss.name!r} has no class margins.")

    def loglike_refusal(self) -> str | None:
        """Why the log-likelihood is not evaluated, or None where it is.

        A reason refuses llf, llnull, AIC, BIC, the pseudo-R2 and
        likelihood-ratio tests; the Wald statistics and the deviance do not
        depend on it.
        """
        return None

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.loss!r})"


class Bernoulli(Likelihood):
    """One sigmoid unit: the log-likelihood of a binary label (statsmodels' Logit)."""

    name, link = "Binomial", "logit"
    has_margins = True

    def margins(self, raw: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        """``(2 y - 1) z``: the logit of the observed class."""
        return (2.0 * target[:, 0] - 1.0) * raw[:, 0]


class Multinomial(Likelihood):
    """A softmax layer: the log-likelihood of one of K labels (statsmodels' MNLogit)."""

    name, link = "Multinomial", "softmax"
    has_margins = True

    def margins(self, raw: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        """``z_y - max_{k != y} z_k``: the observed class's logit over the best other."""
        observed = (raw * target).sum(dim=1)
        others = raw.masked_fill(target > 0.5, -torch.inf).amax(dim=1)
        return observed - others


class _GLMFamily(Likelihood):
    """A statsmodels GLM family: the loss is its half unit deviance."""

    glm = True


class Gaussian(_GLMFamily):
    """Least squares: the normal density at the dispersion ``scale``, identity link."""

    name, link = "Gaussian", "identity"
    dispersion = True
    variance_power = 0.0
    profiles_scale = True

    def loglike_obs(
        self, raw: torch.Tensor, target: torch.Tensor, scale: float = 1.0
    ) -> torch.Tensor:
        residual2 = (target[:, 0].to(torch.float64) - raw[:, 0].to(torch.float64)) ** 2
        return -0.5 * (residual2 / scale + math.log(2.0 * math.pi * scale))


class Poisson(_GLMFamily):
    """Counts: the Poisson probability ``mu^y e^-mu / y!``, log link."""

    name, link = "Poisson", "log"
    variance_power = 1.0

    def loglike_obs(
        self, raw: torch.Tensor, target: torch.Tensor, scale: float = 1.0
    ) -> torch.Tensor:
        # The loss is the half deviance; log y! - y log y + y turns it into -llf.
        y = target[:, 0].to(torch.float64)
        constant = torch.lgamma(y + 1.0) - torch.xlogy(y, y) + y
        return -self.loss.value(raw, target).to(torch.float64) - constant

    def expected_information(self, raw: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        # statsmodels' IRLS weights 1 / (V(mu) g'(mu)^2) = mu^(2-p) for the
        # log link; the observed Hessian is (2-p) mu^(2-p) - (1-p) y mu^(1-p)
        # (Gamma: 1 against y / mu). Canonical (Poisson): the same thing.
        return torch.exp((2.0 - self.variance_power) * raw).unsqueeze(-1)

    @property
    def fisher_information(
        self,
    ) -> Callable[[torch.Tensor, torch.Tensor], torch.Tensor] | None:
        return self.expected_information


class Tweedie(Poisson):
    """Compound Poisson-Gamma and its limits: the Tweedie density, log link.

    Its log-likelihood is evaluated for ``1 <= power <= 2`` (statsmodels'
    ``Tweedie(eql=False)``; see :func:`~sklearn_neuron._loss.families.tweedie_loglike`)
    and refused elsewhere (:meth:`loglike_refusal`).
    """

    name = "Tweedie"
    dispersion = True

    def __init__(self, loss: HalfTweedieLoss) -> None:
        super().__init__(loss)
        self.variance_power = float(loss.power)

    def family_name(self) -> str:
        return f"{self.name} (power={self.variance_power:g})"

    def loglike_obs(
        self, raw: torch.Tensor, target: torch.Tensor, scale: float = 1.0
    ) -> torch.Tensor:
        y = target[:, 0].to(torch.float64)
        mu = self.loss.activation(raw)[:, 0].to(torch.float64)
        ll = tweedie_loglike(y.cpu().numpy(), mu.cpu().numpy(), self.variance_power, scale)
        return torch.from_numpy(ll).to(raw.device)

    def loglike_refusal(self) -> str | None:
        low, high = TWEEDIE_LOGLIKE_POWERS
        if low <= self.variance_power <= high:
            return None
        return (
            f"loss='tweedie' has its log-likelihood evaluated for {low:g} <= power <= "
            f"{high:g} only (compound Poisson-Gamma; Poisson at 1, Gamma at 2), not "
            f"for power={self.variance_power:g}, like statsmodels' Tweedie family, "
            "whose llf is NaN there (the other powers' densities are infinite "
            "series, or the normal at 0 and inverse Gaussian at 3, which neither "
            "evaluates under this family). llf, llnull, AIC, BIC, the pseudo-R2 and "
            "likelihood-ratio tests need it; the coefficients, standard errors, "
            "p-values, confidence intervals, scale and deviance do not."
        )


class Gamma(Tweedie):
    """Positive amounts: the Gamma density of shape ``1 / scale``, log link."""

    name = "Gamma"

    def __init__(self, loss: NeuronLoss) -> None:
        Likelihood.__init__(self, loss)
        self.variance_power = 2.0

    def family_name(self) -> str:
        return self.name


class NoLikelihood(Likelihood):
    """A loss that is no negative log-likelihood: an M-estimator's criterion.

    Hinge, squared hinge, modified Huber, Huber, absolute error (least
    absolute deviations) and users' callables. Its sandwich covariance exists
    where the loss is twice differentiable; nothing likelihood-based does.
    """

    @property
    def is_likelihood(self) -> bool:
        return False

    def loglike_obs(
        self, raw: torch.Tensor, target: torch.Tensor, scale: float = 1.0
    ) -> torch.Tensor:
        raise ValueError(self.loglike_refusal())

    def deviance_obs(self, raw: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        raise ValueError(self.loglike_refusal())

    def loglike_refusal(self) -> str | None:
        return f"loss={self.loss.name!r} is not a negative log-likelihood."


#: The family of each likelihood loss, by loss class; any other loss has
#: :class:`NoLikelihood`. The one place a new family is registered.
LIKELIHOODS: dict[type, type[Likelihood]] = {
    BinaryLogLoss: Bernoulli,
    MultinomialLogLoss: Multinomial,
    HalfSquaredError: Gaussian,
    HalfPoissonLoss: Poisson,
    HalfGammaLoss: Gamma,
    # statsmodels' Tweedie family estimates the dispersion at every power,
    # Poisson's p = 1 included.
    HalfTweedieLoss: Tweedie,
}


def likelihood_of(loss: NeuronLoss) -> Likelihood:
    """The :class:`Likelihood` of ``loss`` (looked up by its class in :data:`LIKELIHOODS`).

    A loss flagged ``is_log_likelihood`` outside the registry is taken as
    the negative log-likelihood of each row with unit dispersion (the base
    class); any other loss has :class:`NoLikelihood`.
    """
    for cls in type(loss).__mro__:
        if cls in LIKELIHOODS:
            return LIKELIHOODS[cls](loss)
    return Likelihood(loss) if loss.is_log_likelihood else NoLikelihood(loss)
