"""Statistical inference for fitted neuron estimators whose loss is a likelihood.

This module owns :class:`InferenceResults`, what a statistician asks of a
fitted model after the fit: the covariance of the coefficients (the inverse
Fisher information, i.e. the inverse Hessian of the total negative
log-likelihood at the optimum, or a sandwich: HC0/HC1, the leverage-corrected
HC2/HC3 and the cluster-robust CR1), standard errors, Wald z statistics,
p-values and confidence intervals, the log-likelihood of the fit and of the
intercept-only model, deviance, AIC, BIC and McFadden's pseudo-R2, as derived,
cached properties (the model/results split of statsmodels). The numbers come
from the objective through its one reduction primitive (every sum over rows
is a function of :mod:`.reductions`, so in-memory and Dask fits share this
class) and from the family of its loss
(:class:`~sklearn_neuron._loss.likelihood.Likelihood`); what is specific to the
estimator (names, penalty) comes as data, a
:class:`~.description.ModelDescription`. Sample weights are frequency weights:
a weight of 2 counts as the sample seen twice.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import cached_property
from typing import Any

import numpy as np
import torch
from scipy import stats

from .._loss.likelihood import likelihood_of
from .._objective.design import null_projector
from .._objective.protocol import Objective
from .._warnings import PenalizedInferenceWarning, SeparationWarning
from .checks import check_df_resid, format_count, raise_not_finite
from .description import ModelDescription, Parametrisation, parametrisation
from .reductions import (
    At,
    cluster_sums,
    deviance_sum,
    leverage_sums,
    loglike_sum,
    meat_sum,
    pearson_sum,
    positive_rows,
    second_order_terms,
    separation_counts,
)
from .robust import (
    COV_TYPES,
    LEVERAGE_COV_TYPES,
    check_leverage,
    check_leverage_model,
    drop_empty_groups,
    group_labels,
)
from .separation import information_bound, settled_by_bound, warn_separation
from .summary import InferenceSummary

#: Newton steps of the polish stop once no parameter moves by more than this
#: share of its magnitude (at least 1): sqrt(eps) of float64, where
#: quadratic convergence puts the next step at rounding level.
_POLISH_RTOL = 1.5e-8
_MAX_POLISH_STEPS = 8


@dataclass(frozen=True)
class LikelihoodRatioTestResult:
    """A likelihood-ratio test: ``statistic`` ~ chi2(``df``) under the null."""

    statistic: float
    df: int
    pvalue: float


class InferenceResults:
    """Inference for one fitted model on its training data.

    Built by :meth:`InferenceMixin.inference`; not meant to be constructed
    directly. Every number is a cached property derived from the optimum
    (the fitted coefficients polished by Newton steps to a tight gradient),
    the Hessian of the objective there and (for the robust covariances) the
    per-sample scores. Sample weights are frequency weights.

    Attributes
    ----------
    cov_type : str
        ``"nonrobust"`` (inverse Fisher information), ``"HC0"``, ``"HC1"``,
        ``"HC2"``, ``"HC3"`` or ``"cluster"`` (see :meth:`InferenceMixin.inference`).
    n_groups : int or None
        Number of clusters (with positive weight) for ``cov_type="cluster"``.
    param_names : list of str
        Label of each entry of ``params`` (``"equation: term"`` with several
        equations).
    model_name : str
        What was fitted, in words.
    note : str or None
        What the summary says about the parametrisation, if anything.
    endog_name : str
        The dependent variable's name in the summary: the name of a ``y``
        Series, else ``"y"``.
    weighted : bool
        Whether the fit had sample or class weights (the summary then says
        that they count as frequency weights).
    description : ModelDescription
        The estimator-specific facts (names, penalty) the results report.
    likelihood : Likelihood
        The family of the loss.

    See Also
    --------
    likelihood_ratio_test : Compare two nested fitted models.

    Examples
    --------
    >>> import numpy as np
    >>> import statsmodels.api as sm
    >>> from sklearn_neuron import NeuronClassifier
    >>> data = sm.datasets.spector.load_pandas().data
    >>> X, y = data[["GPA", "TUCE", "PSI"]], data["GRADE"]
    >>> clf = NeuronClassifier(C=np.inf, optimizer="newton", tol=1e-10).fit(X, y)
    >>> res = clf.inference(X, y)
    >>> res.param_names
    ['const', 'GPA', 'TUCE', 'PSI']
    >>> res.params.round(4)
    array([-13.0213,   2.8261,   0.0952,   2.3787])
    >>> res.bse.round(4)
    array([4.9313, 1.2629, 0.1416, 1.0646])
    >>> round(res.llf, 4), round(res.prsquared, 4)
    (-12.8896, 0.374)
    """

    def __init__(
        self,
        description: ModelDescription,
        objective: Objective,
        theta: torch.Tensor,
        *,
        cov_type: str = "nonrobust",
        groups: Any = None,
    ) -> None:
        if cov_type not in COV_TYPES:
            raise ValueError(f"cov_type must be one of {COV_TYPES}, got {cov_type!r}.")
        loss = objective.loss
        if cov_type in LEVERAGE_COV_TYPES:
            check_leverage_model(objective, cov_type)
        _check_covariance_exists(loss, cov_type)
        self.description = description
        self.likelihood = likelihood_of(loss)
        self.objective = objective
        self.theta = theta
        self.cov_type = cov_type
        self.penalized = objective.l2 > 0
        #: The rows' fitted values are held where the objective has all the rows.
        self._keep_rows = not objective.distributed
        self._raw: torch.Tensor | None = None
        self._observed: tuple[Any, Any, Any] | None = None
        par = parametrisation(description, objective)
        self._parametrisation = par
        self.param_names = [
            name if eq is None else f"{eq}: {name}"
            for name, eq in zip(par.names, _equations(par), strict=True)
        ]
        self.model_name = description.model_name(objective, self.likelihood)
        self.note = par.note
        self.endog_name, self.weighted = description.endog_name, description.weighted
        # Every sample is seen weight times: S is the number of observations.
        self._sum_weight = float(objective.weight_sum)
        if cov_type == "HC1":
            check_df_resid(
                self._sum_weight, par.matrix.shape[0],
                "cov_type='HC1' (HC0 times nobs / df_resid)",
                "use cov_type='HC0', or fit on more samples than parameters",
            )
        #: Group code of each row (0 .. n_groups - 1) for cov_type="cluster".
        self._groups: np.ndarray | None = None
        self.n_groups: int | None = None
        if cov_type == "cluster":
            self._groups, self.n_groups = self._group_codes(groups)
            check_df_resid(
                self._sum_weight, par.matrix.shape[0],
                "cov_type='cluster' (its correction G/(G-1) * (nobs-1) / df_resid)",
                "fit on more samples than parameters",
            )
        # The gradient and information in one pass over X (the fitted values
        # and pointwise information with them, in memory). The sandwich's
        # bread is the observed Hessian, as in statsmodels' robust
        # covariances (it differs from the expected information of a
        # non-canonical link, e.g. the Gamma's log link).
        self._fisher = cov_type == "nonrobust" and self.likelihood.fisher_information is not None
        self._second_order(theta)
        separated = False
        if loss.is_log_likelihood and not self.penalized:
            separated = self._check_separation()
        if not separated:
            self._polish()

    # -- the optimum, its information ---------------------------------------
    def _second_order(self, theta: torch.Tensor) -> None:
        """Gradient and information at ``theta`` (it becomes :attr:`theta`)."""
        objective = self.objective
        terms = objective.reduce(second_order_terms, theta, self._fisher, self._keep_rows)
        n_bad, grad, H = terms[:3]
        # X was validated without sklearn's finiteness pass: a NaN or
        # infinite entry makes its row's raw output non-finite.
        if int(n_bad):
            raise_not_finite(objective)
        grad = torch.as_tensor(grad, dtype=objective.dtype, device=objective.device)
        H = torch.as_tensor(H, dtype=objective.dtype, device=objective.device)
        penalty = objective.penalty
        self._grad = penalty.penalized_gradient(grad, theta)
        H = penalty.add_hessian(H)
        if self._keep_rows:
            self._raw = terms[3]
            self._observed = None if self._fisher else (H, terms[4], terms[5])
        self.theta = theta
        self._cov_theta_factor = self._information_solve(H)

    def _at(self) -> At:
        """The fitted values, as the reductions take them."""
        return At(theta=self.theta, raw=self._raw)

    def _newton_step(self) -> torch.Tensor:
        """The Newton (Fisher scoring, with the expected information) step at ``theta``."""
        g = self._grad.to(torch.float64) * self._sum_weight
        return self._solve(g.unsqueeze(1)).squeeze(1)

    def _polish(self) -> None:
        """Newton steps from the fitted coefficients to the optimum, to a tight gradient.

        A fit stops at its ``tol`` (1e-4 by default), where coefficients and
        standard errors are still off in the digits a table prints; the
        covariance is only that of the maximum-likelihood estimate at the
        optimum itself. Each step costs one more pass over X (the fused
        second-order pass); from a fit already at the optimum none is taken.
        Stops when every parameter moves by less than ``_POLISH_RTOL`` of its
        magnitude (at least 1), or when the steps stop shrinking (the dtype's
        rounding floor).
        """
        objective = self.objective
        floor = max(_POLISH_RTOL, 100 * torch.finfo(objective.dtype).eps)
        previous = math.inf
        for _ in range(_MAX_POLISH_STEPS):
            step = self._newton_step()
            theta = self.theta.to(torch.float64)
            size = float((step.abs() / theta.abs().clamp_min(1.0)).max())
            if not size > floor or not size < 0.5 * previous:
                return
            previous = size
            self._second_order((theta - step).to(objective.dtype))

    def _information_solve(self, H: torch.Tensor) -> torch.Tensor:
        """``A^-1 J^T`` with ``A`` the information ``H`` (per unit weight) in theta."""
        objective = self.objective
        A = H.to(torch.float64) * self._sum_weight
        # Softmax directions that change no probability: make A invertible
        # along them; J maps them to zero, so the result does not depend on it.
        projector = null_projector(objective, A)
        if projector is not None:
            A = A + projector
        # Equilibrate to unit diagonal: the pivots then measure collinearity
        # whatever the scale of the features.
        scale = A.diagonal().clamp_min(torch.finfo(A.dtype).tiny).rsqrt()
        L, info = torch.linalg.cholesky_ex(A * scale[:, None] * scale[None, :])
        min_pivot = max(
            1e3 * torch.finfo(torch.float64).eps, 100 * torch.finfo(objective.dtype).eps
        )
        if int(info) != 0 or float(L.diagonal().min()) ** 2 < min_pivot:
            raise ValueError(
                "The Fisher information (Hessian of the negative log-likelihood) is "
                "singular at the fitted coefficients, so they have no finite "
                "covariance. Common causes: collinear or constant features (drop "
                "them), more parameters than observations, or perfect separation. "
                "A penalized fit (finite C) is identifiable."
            )
        self._cholesky, self._equilibration = L, scale
        return self._solve(self._parametrisation.matrix.to(torch.float64).T)

    def _solve(self, B: torch.Tensor) -> torch.Tensor:
        """``A^-1 B`` for the information ``A``, by its equilibrated Cholesky factor."""
        scale = self._equilibration.unsqueeze(1)
        return torch.cholesky_solve(B * scale, self._cholesky) * scale

    def _check_separation(self) -> bool:
        """Warn when the fit is on its way to infinity along a separating direction.

        Separated samples have fitted probabilities of their class near 1 and
        a loss ``~ exp(-margin)``: a Newton step from the fit still raises
        their margin by O(1), however far the optimizer went, where at a true
        optimum it changes nothing. Strong but overlapping data have
        probabilities near 1 too, but no such step. Margins, not losses: the
        loss of a sample with a large margin is rounding noise.
        """
        objective = self.objective
        if not self.likelihood.has_margins:
            return False
        step = self._newton_step().to(objective.dtype)
        # At a true optimum the step is rounding noise: a bound that reads no
        # row of X settles it (from the information, where its rows are held).
        coef, intercept = objective.unpack(step.abs())
        bound = information_bound(objective, coef, intercept, self._observed)
        if bound is not None and settled_by_bound(objective, bound):
            return False
        (counts,) = objective.reduce(separation_counts, self._at(), step, bound)
        n_separated, n_positive, correct = (int(v) for v in counts)
        if not n_separated:
            return False
        warn_separation(n_separated, n_positive, correct == n_positive)
        return True

    # -- parameters and covariance -------------------------------------------
    @cached_property
    def params(self) -> np.ndarray:
        """Estimated parameters, ndarray of shape (n_params,)."""
        J = self._parametrisation.matrix.to(torch.float64)
        return (J @ self.theta.to(torch.float64)).cpu().numpy()

    @cached_property
    def scale(self) -> float:
        """Dispersion multiplying the covariance (1 for Bernoulli and categorical).

        Pearson's chi2 / df_resid where the family has a dispersion,
        statsmodels GLM's default ``scale="X2"``.
        """
        if not self.likelihood.dispersion:
            return 1.0
        k = self.objective.n_params_per_output
        check_df_resid(
            self._sum_weight, k, "The dispersion (Pearson's chi2 / df_resid) in the covariance",
            "fit on more samples than parameters (or on fewer features)",
        )
        (chi2,) = self.objective.reduce(pearson_sum, self._at())
        return float(chi2) / (self._sum_weight - k)

    @cached_property
    def cov_params(self) -> np.ndarray:
        """Covariance matrix of ``params``, ndarray of shape (n_params, n_params)."""
        M = self._cov_theta_factor  # A^-1 J^T
        if self.cov_type == "nonrobust":
            J = self._parametrisation.matrix.to(torch.float64)
            cov = J @ M * self.scale
        elif self.cov_type == "cluster":
            sums = self._cluster_scores()
            cov = (sums @ M).T @ (sums @ M) * float(self.cluster_correction or 0.0)
        else:
            cov = M.T @ self._meat() @ M
            if self.cov_type == "HC1":
                n, k = self.nobs, self.params.size
                cov = cov * (n / (n - k))
        cov = 0.5 * (cov + cov.T)
        return cov.cpu().numpy()

    @cached_property
    def cluster_correction(self) -> float | None:
        """Small-sample factor of ``cov_type="cluster"``: ``G/(G-1) (N-1)/(N-K)``.

        ``G`` groups (with positive weight), ``N = nobs`` observations and
        ``K`` parameters: CR1, the default of statsmodels (``use_correction=
        True``) and Stata, and R's ``sandwich::vcovCL(type="HC1")``; R's
        default for a ``glm``, ``type="HC0"``, is ``G/(G-1)`` alone. None for
        the other covariance types.
        """
        if self.cov_type != "cluster" or self.n_groups is None:
            return None
        G, n, k = self.n_groups, self.nobs, self.params.size
        return G / (G - 1.0) * (n - 1.0) / (n - k)

    def _group_codes(self, groups: Any) -> tuple[np.ndarray, int]:
        """``(codes, n_groups)`` of ``groups`` (see :func:`.robust.group_labels`).

        Labels on a cluster (a dask array) are brought to the driver, one per
        row, to be numbered; the weights stay where the rows are.
        """
        labels = groups.compute() if hasattr(groups, "compute") else groups
        codes, n_labels = group_labels(labels, self.objective.n_samples)
        (counts,) = self.objective.reduce_rows(positive_rows, codes, n_labels)
        return drop_empty_groups(codes, counts)

    def _cluster_scores(self) -> torch.Tensor:
        """Per-group sums of the frequency-weighted scores, shape (G, n_params) in theta."""
        if self._groups is None:
            raise ValueError("cluster scores need cov_type='cluster' and its groups")
        (sums,) = self.objective.reduce_rows(
            cluster_sums, self._groups, self._at(), self.n_groups
        )
        return torch.as_tensor(sums, dtype=torch.float64, device=self.objective.device)

    def _meat(self) -> torch.Tensor:
        """The sandwich's meat: score products (HC0/HC1), leverage-corrected (HC2/HC3)."""
        objective = self.objective
        if self.cov_type in LEVERAGE_COV_TYPES:
            factor = (self._cholesky, self._equilibration)
            meat, n_high = objective.reduce(leverage_sums, self._at(), factor, self.cov_type)
            check_leverage(int(n_high), self.cov_type)
        else:
            (meat,) = objective.reduce(meat_sum, self._at())
        return torch.as_tensor(meat, dtype=torch.float64, device=objective.device)

    @cached_property
    def bse(self) -> np.ndarray:
        """Standard errors of ``params``.

        A negative variance (the sandwich's rounding where the information is
        nearly singular, as under quasi-complete separation) has no standard
        error: a ValueError says so and what to do, where ``sqrt`` gave NaN.
        """
        variance = np.diag(self.cov_params)
        bad = ~(variance >= 0)
        if bad.any():
            names = [self.param_names[i] for i in np.flatnonzero(bad)[:5]]
            raise ValueError(
                f"The {self.cov_type} covariance gives a negative or undefined variance for "
                f"{', '.join(map(str, names))}: the Fisher information is nearly singular at "
                "the fitted coefficients, so their standard errors are not defined. Common "
                "cause: (quasi-)complete separation, a class observed on one side of a "
                "feature's values only. Fit with firth=True or a finite C, or drop or merge "
                "the separating feature or class."
            )
        return np.sqrt(variance)

    @cached_property
    def zvalues(self) -> np.ndarray:
        """Wald z statistics ``params / bse``."""
        return self.params / self.bse

    @property
    def tvalues(self) -> np.ndarray:
        """Alias of ``zvalues`` (statsmodels' name)."""
        return self.zvalues

    @cached_property
    def pvalues(self) -> np.ndarray:
        """Two-sided p-values of the z statistics (normal reference distribution)."""
        return 2.0 * stats.norm.sf(np.abs(self.zvalues))

    def conf_int(self, alpha: float = 0.05) -> np.ndarray:
        """Wald confidence intervals.

        Parameters
        ----------
        alpha : float, default=0.05
            One minus the confidence level.

        Returns
        -------
        ndarray of shape (n_params, 2)
            Lower and upper bounds.
        """
        if not 0 < alpha < 1:
            raise ValueError(f"alpha must be in (0, 1), got {alpha!r}.")
        q = stats.norm.isf(alpha / 2)
        return np.column_stack([self.params - q * self.bse, self.params + q * self.bse])

    # -- likelihood-based statistics -----------------------------------------
    def _require_likelihood(self, what: str) -> None:
        if not self.likelihood.is_likelihood:
            raise ValueError(
                f"{what} needs a likelihood, and loss={self.objective.loss.name!r} is "
                "not a negative log-likelihood."
            )
        reason = self.likelihood.loglike_refusal()
        if reason is not None:
            raise ValueError(f"{what} is not available: {reason}")

    @cached_property
    def nobs(self) -> float:
        """Number of observations: the sum of the (frequency) weights."""
        return self._sum_weight

    @cached_property
    def df_model(self) -> int:
        """Parameters beyond the null model's intercepts (the LR test's df).

        As in statsmodels, the null model has one intercept per equation also
        when the fit has none.
        """
        return self.params.size - self._parametrisation.n_equations

    @cached_property
    def df_resid(self) -> float:
        """``nobs`` minus the number of parameters."""
        return self.nobs - self.params.size

    def _null_at(self) -> At:
        return At.null(self.objective.null_raw())

    @cached_property
    def llf(self) -> float:
        """Log-likelihood at the fitted parameters.

        With a dispersion, at the Pearson one; the Gaussian's is the
        concentrated log-likelihood, at ``deviance / nobs`` (statsmodels' llf).
        """
        self._require_likelihood("The log-likelihood")
        scale = self.deviance / self.nobs if self.likelihood.profiles_scale else self.scale
        (total,) = self.objective.reduce(loglike_sum, self._at(), scale)
        return float(total)

    @cached_property
    def llnull(self) -> float:
        """Log-likelihood of the intercept-only model, fitted on the same data."""
        self._require_likelihood("The null log-likelihood")
        (total,) = self.objective.reduce(loglike_sum, self._null_at(), self.scale)
        return float(total)

    @cached_property
    def deviance(self) -> float:
        """``2 * (llf_saturated - llf)``; ``-2 llf`` for individual class labels.

        With a dispersion (GLM families) the unscaled deviance, as statsmodels.
        """
        self._require_deviance()
        (total,) = self.objective.reduce(deviance_sum, self._at())
        return float(total)

    @cached_property
    def null_deviance(self) -> float:
        """Deviance of the intercept-only model."""
        self._require_deviance()
        (total,) = self.objective.reduce(deviance_sum, self._null_at())
        return float(total)

    def _require_deviance(self) -> None:
        if not self.likelihood.is_likelihood:
            self._require_likelihood("The log-likelihood")

    @cached_property
    def aic(self) -> float:
        """Akaike's information criterion ``-2 llf + 2 k``."""
        return -2.0 * self.llf + 2.0 * self.params.size

    @cached_property
    def bic(self) -> float:
        """Bayesian information criterion ``-2 llf + log(nobs) k``."""
        return -2.0 * self.llf + math.log(self.nobs) * self.params.size

    @cached_property
    def prsquared(self) -> float:
        """McFadden's pseudo-R2, ``1 - llf / llnull``."""
        return 1.0 - self.llf / self.llnull

    @cached_property
    def llr(self) -> float:
        """Likelihood-ratio statistic against the intercept-only model."""
        return 2.0 * (self.llf - self.llnull)

    @cached_property
    def llr_pvalue(self) -> float:
        """p-value of ``llr`` on ``df_model`` degrees of freedom."""
        return float(stats.chi2.sf(self.llr, self.df_model))

    def lr_test(self) -> LikelihoodRatioTestResult:
        """Likelihood-ratio test against the intercept-only model.

        Returns
        -------
        LikelihoodRatioTestResult
            ``statistic``, ``df`` and ``pvalue``.
        """
        return LikelihoodRatioTestResult(self.llr, self.df_model, self.llr_pvalue)

    # -- presentation -----------------------------------------------------------
    def summary(self, alpha: float = 0.05) -> InferenceSummary:
        """A table and the fit statistics, for reading at a glance.

        Parameters
        ----------
        alpha : float, default=0.05
            One minus the level of the confidence intervals.

        Returns
        -------
        InferenceSummary
            ``str()`` gives the text; ``.frame`` a pandas DataFrame (pandas
            needed); ``.table`` the rows as tuples.
        """
        return InferenceSummary(self, alpha)

    def __repr__(self) -> str:
        return (
            f"<{type(self).__name__}: {self.model_name}, {self.params.size} params, "
            f"nobs={format_count(self.nobs)}, cov_type={self.cov_type!r}>"
        )


def _check_covariance_exists(loss: Any, cov_type: str) -> None:
    """Refuse a covariance the loss does not define."""
    if loss.is_log_likelihood:
        return
    if cov_type == "nonrobust":
        raise ValueError(
            f"loss={loss.name!r} is not a negative log-likelihood, so the "
            "model has no likelihood and hence no Fisher information: the "
            "model-based covariance, likelihood-ratio tests, AIC and BIC do "
            "not exist. Use cov_type='HC0' or 'HC1' for the sandwich "
            "(M-estimator) covariance, or fit with a log-likelihood loss "
            "('log_loss' for a classifier; 'squared_error', 'poisson', "
            "'gamma' or 'tweedie' for a regressor)."
        )
    if not loss.twice_differentiable:
        raise ValueError(
            f"loss={loss.name!r} is neither a log-likelihood nor twice "
            "differentiable, so no covariance of its coefficients is defined "
            "here (the sandwich covariance needs the loss's Hessian)."
        )


__all__ = [
    "InferenceResults",
    "InferenceSummary",
    "LikelihoodRatioTestResult",
    "Parametrisation",
    "PenalizedInferenceWarning",
    "SeparationWarning",
]


def _equations(par: Any) -> list[str | None]:
    """Each reported parameter's equation (None where there is one equation)."""
    return list(par.equations) if par.equations else [None] * len(par.names)
