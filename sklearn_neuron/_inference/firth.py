"""Inference of a Firth fit, as logistf reports it.

Firth's penalized likelihood has a finite maximum also under separation; its
estimate is reported with Wald standard errors from the inverse Fisher
information there (as brglm2 and logistf), profile penalized-likelihood
confidence intervals and penalized likelihood-ratio tests (logistf's
defaults). :class:`FirthInferenceResults` is :class:`~.results.InferenceResults`
with those statistics; the fits it needs (the polish to a tight modified score,
the restricted fits of profiles and tests) are the Firth objective's own
(:class:`~sklearn_neuron._solvers.firth.FirthObjective`), so this module reads
no storage and imports no solver.
"""

from __future__ import annotations

import math
from functools import cached_property
from typing import Any

import numpy as np
import torch
from scipy import optimize, stats

from .._objective.protocol import PenalizedLikelihood
from .results import InferenceResults
from .summary import InferenceSummary

#: Above this many ``n_rows * n_params**2`` the summary's table shows Wald
#: statistics (:class:`FirthInferenceSummary`); profile intervals and
#: penalized likelihood-ratio tests stay available from the results.
PROFILE_SUMMARY_WORK = 1e7
#: Doublings of the distance from the estimate when bracketing a profile bound.
_MAX_BRACKET_DOUBLINGS = 40


class FirthInferenceResults(InferenceResults):
    """Inference of a Firth fit, as logistf reports it.

    ``params`` is Firth's estimate (polished to a tight modified score);
    ``bse`` the Wald standard errors from the inverse Fisher information
    there (as brglm2 and logistf); ``conf_int`` the profile
    penalized-likelihood intervals and ``pvalues`` the penalized
    likelihood-ratio tests of each parameter being zero (logistf's
    defaults); ``wald_conf_int`` and ``wald_pvalues`` the Wald ones. ``llf``
    is the (unpenalized) log-likelihood at the estimate,
    ``penalized_llf`` the penalized one; ``llr`` and ``llr_pvalue`` are the
    penalized likelihood-ratio test against the intercept-only model
    (logistf's "Likelihood ratio test"). Restricted fits keep the full
    design's penalty, as logistf's do.
    """

    def __init__(
        self, description: Any, objective: PenalizedLikelihood, theta: torch.Tensor, *,
        cov_type: str = "nonrobust", **kwargs: Any,
    ) -> None:
        #: The penalised likelihood's own fits (polish, profiles, tests).
        self._penalized = objective
        if cov_type != "nonrobust":
            raise ValueError(
                f"cov_type={cov_type!r} is not available for a Firth fit (firth=True): its "
                "standard errors are the inverse Fisher information at the penalized "
                "estimate, as logistf and brglm2 report them. Use cov_type='nonrobust'."
            )
        super().__init__(description, objective, theta, cov_type=cov_type, **kwargs)
        self.model_name = f"{self.model_name}, Firth-penalized"

    def _check_separation(self) -> bool:
        # Firth's estimate is finite under separation: the remedy, not the problem.
        return False

    def _polish(self) -> None:
        """Fisher-scoring steps on the modified score to a tight gradient."""
        self._second_order(self._penalized.polish(self.theta))

    # -- penalized likelihood ---------------------------------------------------
    @cached_property
    def penalized_llf(self) -> float:
        """Penalized log-likelihood ``llf + 1/2 log det I`` at the estimate."""
        return self._penalized.penalized_loglike(self.theta)

    def _theta_index(self) -> list[int]:
        """Index in ``theta`` of each reported parameter (a permutation for a binary logit)."""
        return self._parametrisation.matrix.argmax(dim=1).tolist()

    def _restricted(
        self, fixed_values: dict[int, float], start: torch.Tensor | None = None
    ) -> tuple[torch.Tensor, float]:
        """``(theta, penalized log-likelihood)`` with ``{theta index: value}`` held
        fixed, the others fitted from ``start`` (default: the estimate)."""
        theta = (self.theta if start is None else start).clone()
        fixed = torch.zeros_like(theta, dtype=torch.bool)
        for index, value in fixed_values.items():
            theta[index] = value
            fixed[index] = True
        return self._penalized.restricted_fit(theta, fixed)

    @cached_property
    def penalized_lr_statistics(self) -> np.ndarray:
        """Penalized likelihood-ratio chi2 (1 df) of each parameter being zero."""
        return np.array([
            max(2.0 * (self.penalized_llf - self._restricted({index: 0.0})[1]), 0.0)
            for index in self._theta_index()
        ])

    @cached_property
    def pvalues(self) -> np.ndarray:
        """p-values of the penalized likelihood-ratio tests (logistf's default)."""
        return stats.chi2.sf(self.penalized_lr_statistics, 1)

    @cached_property
    def wald_pvalues(self) -> np.ndarray:
        """Two-sided p-values of the Wald z statistics."""
        return 2.0 * stats.norm.sf(np.abs(self.zvalues))

    def wald_conf_int(self, alpha: float = 0.05) -> np.ndarray:
        """Wald confidence intervals, ``params +- z * bse``."""
        return InferenceResults.conf_int(self, alpha)

    def conf_int(self, alpha: float = 0.05) -> np.ndarray:
        """Profile penalized-likelihood confidence intervals (logistf's default).

        Each bound is where twice the drop of the profile penalized
        log-likelihood equals the chi2(1) quantile of ``1 - alpha``.

        Parameters
        ----------
        alpha : float, default=0.05
            One minus the confidence level.

        Returns
        -------
        ndarray of shape (n_params, 2)
        """
        if not 0 < alpha < 1:
            raise ValueError(f"alpha must be in (0, 1), got {alpha!r}.")
        cache = vars(self).setdefault("_profile_cache", {})
        if alpha not in cache:
            cache[alpha] = self._profile_intervals(alpha)
        return cache[alpha].copy()

    def _profile_intervals(self, alpha: float) -> np.ndarray:
        critical = stats.chi2.isf(alpha, 1)
        wald = InferenceResults.conf_int(self, alpha)
        bounds = np.empty((self.params.size, 2))
        for row, index in enumerate(self._theta_index()):
            estimate = float(self.theta[index])
            for side, sign in enumerate((-1.0, 1.0)):
                distance = max(abs(wald[row, side] - estimate), 1e-8)
                bounds[row, side] = self._profile_bound(index, estimate, sign, distance, critical)
        return bounds

    def _profile_bound(
        self, index: int, estimate: float, sign: float, distance: float, critical: float
    ) -> float:
        """The root of the profile's drop, ``2 (pl_hat - pl(b)) = critical``, on one side."""
        solutions = {estimate: self.theta}

        def excess(value: float) -> float:
            # The penalized likelihood need not be concave: far out the free
            # parameters can have two local maxima. The profile is the larger
            # of the fits from the estimate and from the nearest value
            # already fitted (continuation).
            nearest = min(solutions, key=lambda known: abs(known - value))
            theta, loglike = self._restricted({index: value})
            if nearest != estimate:
                other, other_loglike = self._restricted({index: value}, solutions[nearest])
                if other_loglike > loglike:
                    theta, loglike = other, other_loglike
            solutions[value] = theta
            return 2.0 * (self.penalized_llf - loglike) - critical

        inner = estimate
        for _ in range(_MAX_BRACKET_DOUBLINGS):
            outer = estimate + sign * distance
            if excess(outer) > 0:
                break
            inner, distance = outer, 2.0 * distance
        else:
            return sign * math.inf
        scale = max(abs(estimate), abs(outer), 1.0)
        return optimize.brentq(
            excess, min(inner, outer), max(inner, outer), xtol=1e-10 * scale
        )

    @cached_property
    def penalized_llnull(self) -> float:
        """Penalized log-likelihood with every coefficient but the intercept at zero."""
        index = self._theta_index()
        names = self._parametrisation.names
        return self._restricted({
            i: 0.0 for i, name in zip(index, names, strict=True) if name != "const"
        })[1]

    @cached_property
    def llr(self) -> float:
        """Penalized likelihood-ratio statistic against the intercept-only model."""
        return 2.0 * (self.penalized_llf - self.penalized_llnull)

    def summary(self, alpha: float = 0.05) -> FirthInferenceSummary:
        """Summary table (see :class:`FirthInferenceSummary`)."""
        return FirthInferenceSummary(self, alpha)


class _WaldView:
    """:class:`FirthInferenceResults` as the base summary reads it, with the
    Wald p-values and intervals (the profile ones are put in afterwards,
    where affordable)."""

    def __init__(self, results: FirthInferenceResults) -> None:
        self._results = results

    def __getattr__(self, name: str) -> Any:
        return getattr(self._results, name)

    @property
    def pvalues(self) -> np.ndarray:
        return self._results.wald_pvalues

    def conf_int(self, alpha: float = 0.05) -> np.ndarray:
        return self._results.wald_conf_int(alpha)


class FirthInferenceSummary(InferenceSummary):
    """logistf's table: coefficients, Wald standard errors, penalized
    likelihood-ratio chi2 and p-values, profile penalized-likelihood intervals.

    Those take two restricted fits per parameter and bound, each a few
    passes over the data: on data with ``n_rows * n_params**2`` above
    ``PROFILE_SUMMARY_WORK`` the table shows the Wald z, p-values and
    intervals instead, and a note says how to ask for the others.
    """

    def __init__(self, results: FirthInferenceResults, alpha: float = 0.05) -> None:
        super().__init__(_WaldView(results), alpha)
        r = results
        self.header += [("Penalized log-likelihood", f"{r.penalized_llf:.6g}")]
        note = (
            "Firth-penalized fit (firth=True: log-likelihood + 1/2 log det I, the "
            "Jeffreys prior): std err are Wald, from the inverse Fisher information at "
            "the penalized estimate; LLR p-value is the penalized likelihood-ratio test "
            "against the intercept-only model, as logistf's."
        )
        n_rows, n_params = r.objective.n_samples, r.params.size
        if n_rows * n_params**2 > PROFILE_SUMMARY_WORK:
            self.notes.append(
                f"{note} z, P>|z| and the intervals are Wald's: on {n_rows} rows the "
                "penalized likelihood-ratio tests and profile intervals cost "
                f"{2 * n_params} restricted fits and more; results.pvalues and "
                "results.conf_int() compute them."
            )
            return
        profile = r.conf_int(alpha)
        self.columns = ["coef", "std err", "chi2", "P>chi2", *self.columns[4:]]
        self.table = [
            (*row[:4], chi2, p, low, high)
            for row, chi2, p, (low, high) in zip(
                self.table, r.penalized_lr_statistics.tolist(), r.pvalues.tolist(),
                profile.tolist(), strict=True,
            )
        ]
        self.notes.append(
            f"{note} chi2 and P>chi2 are penalized likelihood-ratio tests and the "
            "intervals profile penalized likelihood, as logistf's."
        )

