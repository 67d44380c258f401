"""Statistical inference for fitted neuron estimators whose loss is a likelihood.

This module owns what a statistician asks of a fitted model after the fit:
the covariance of the coefficients (the inverse Fisher information, i.e. the
inverse Hessian of the total negative log-likelihood at the optimum, or a
sandwich: HC0/HC1, the leverage-corrected HC2/HC3 and the cluster-robust
CR1), standard errors, Wald z statistics, p-values and
confidence intervals, the log-likelihood of the fit and of the intercept-only
model, deviance, AIC, BIC, McFadden's pseudo-R2, likelihood-ratio tests and a
``summary()``. :class:`InferenceMixin` gives an estimator the ``inference``
and ``summary`` methods; the numbers live on :class:`InferenceResults`, as
derived, cached properties (the model/results split of statsmodels). It is
written against :class:`~sklearn_neuron._objective.linear.LinearObjective` and the
loss's flags, not against the classifier: the estimator-specific parts (the
log-likelihood's constants, the dispersion, the null model, the names of the
outputs) are small ``_inference_*`` hooks of the mixin. Sample weights are
frequency weights: a weight of 2 counts as the sample seen twice.
"""

import math
import warnings
from dataclasses import dataclass
from functools import cached_property

import numpy as np
import torch
from scipy import stats
from sklearn.utils.validation import check_is_fitted

from .._array_api import tensor_inputs
from .._objective.fingerprint import check_training_data
from .._solvers.optimizers import _null_projector

#: Samples whose margin (logit of their class minus the largest other) is
#: above this (probability of their class above ~0.999) are the candidates of
#: the separation check.
_SATURATED_MARGIN = math.log(999.0)
#: A Newton step that raises a candidate's margin by more than this shows the
#: fit still moving along a separating ray.
_MARGIN_STEP = 0.5
COV_TYPES = ("nonrobust", "HC0", "HC1", "HC2", "HC3", "cluster")


def count_rising_margins(model, objective, raw, margins, candidates, direction):
    """How many ``candidates`` a move of the parameters by ``direction`` pushes away.

    The separation test: the raw output changes by ``X direction`` on the
    candidate rows only, and a sample counts where its margin rises by more
    than ``_MARGIN_STEP`` (a fit still moving along a separating ray; at a
    true optimum a Newton step changes nothing). Used by inference in memory
    and per Dask block, and by the check at the end of a fit.
    """
    index = torch.nonzero(candidates).squeeze(1)
    stepped = raw.clone()
    stepped[index] += objective.raw(direction, objective.rows(index))
    rise = (model._inference_margins(objective, stepped) - margins)[candidates]
    return int((rise > _MARGIN_STEP).sum())
#: Covariances whose meat divides each score by its leverage ``1 - h_i``.
_LEVERAGE_COV_TYPES = ("HC2", "HC3")
#: Rows of X densified at once for the cluster sums and the leverages.
_CHUNK_ROWS = 4096
#: Newton steps of the polish stop once no parameter moves by more than this
#: share of its magnitude (at least 1): sqrt(eps) of float64, where
#: quadratic convergence puts the next step at rounding level.
_POLISH_RTOL = 1.5e-8
_MAX_POLISH_STEPS = 8


def check_df_resid(nobs, n_params, what, remedy):
    """Refuse a statistic that divides by non-positive residual degrees of freedom.

    statsmodels divides anyway and reports ``inf`` or ``nan`` with a
    RuntimeWarning (an OLS on as many samples as parameters); here no
    statistic is silently NaN, so this is a ValueError saying what to do.

    Parameters
    ----------
    nobs : float
        Number of observations (the sum of the frequency weights).
    n_params : int
        Number of estimated parameters.
    what : str
        The statistic, and how it uses ``df_resid``, as the message's subject.
    remedy : str
        What to do instead, as the message's end.
    """
    df_resid = nobs - n_params
    if not df_resid > 0:
        raise ValueError(
            f"{what} divides by the residual degrees of freedom, df_resid = nobs - "
            f"n_params = {format_count(nobs)} - {n_params} = {format_count(df_resid)}, "
            "which must be positive: "
            f"{remedy}."
        )


def format_count(value):
    """A count as the summary prints it: ``2,000,000`` when whole, else 6 digits.

    Counts are sums of frequency weights, floats even when whole (on Dask data
    always): ``{:g}`` would print 2,000,000 as ``2e+06``.
    """
    value = float(value)
    if value.is_integer():
        return f"{int(value):,}"
    return f"{value:.6g}"


def endog_name(y):
    """The name of ``y`` for the summary: a Series' name, else ``"y"``.

    Only a Series (pandas, Dask, polars: what has ``to_frame``) counts: a
    dask array's ``name`` is its graph key, not a variable's name.
    """
    name = getattr(y, "name", None) if hasattr(y, "to_frame") else None
    return "y" if name is None else str(name)


class PenalizedInferenceWarning(UserWarning):
    """Wald statistics were computed for a penalized fit, where they are not valid."""


class SeparationWarning(UserWarning):
    """The data are (quasi-)separated: the maximum-likelihood estimate is infinite."""


@dataclass(frozen=True)
class Parametrisation:
    """How the reported parameters derive from the objective's flat ``theta``.

    Attributes
    ----------
    matrix : torch.Tensor of shape (n_reported, n_params)
        ``reported = matrix @ theta``; a linear map, so that covariances map
        as ``matrix @ cov @ matrix.T``.
    names : list of str
        Term of each reported parameter ("const", feature names).
    equations : list of str or None
        Equation (output) of each reported parameter, or None with one output.
    n_equations : int
        Number of equations (outputs reported).
    note : str or None
        A line for the summary (e.g. which class is the reference).
    """

    matrix: torch.Tensor
    names: list
    equations: list
    n_equations: int
    note: str = None


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

    #: Set by :meth:`InferenceMixin.inference` from its arguments.
    endog_name = "y"
    weighted = False

    def __init__(self, model, objective, theta, *, cov_type="nonrobust", groups=None):
        if cov_type not in COV_TYPES:
            raise ValueError(f"cov_type must be one of {COV_TYPES}, got {cov_type!r}.")
        loss = objective.loss
        if cov_type in _LEVERAGE_COV_TYPES:
            _check_leverage_model(objective, cov_type)
        if not loss.is_log_likelihood:
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
        self.model = model
        self.objective = objective
        self.theta = theta
        self.cov_type = cov_type
        self.penalized = objective.l2 > 0
        par = model._inference_parametrisation(objective)
        self._parametrisation = par
        self.param_names = [
            name if eq is None else f"{eq}: {name}"
            for name, eq in zip(
                par.names, par.equations or [None] * len(par.names), strict=True
            )
        ]
        self.model_name = model._inference_model_name(objective)
        self.note = par.note
        # Every sample is seen weight times: S is the number of observations.
        self._sum_weight = float(model._inference_nobs(objective))
        if cov_type == "HC1":
            check_df_resid(
                self._sum_weight, par.matrix.shape[0],
                "cov_type='HC1' (HC0 times nobs / df_resid)",
                "use cov_type='HC0', or fit on more samples than parameters",
            )
        #: Group code of each row (0 .. n_groups - 1) for cov_type="cluster".
        self._groups, self.n_groups = None, None
        if cov_type == "cluster":
            self._groups, self.n_groups = self._group_codes(groups)
            check_df_resid(
                self._sum_weight, par.matrix.shape[0],
                "cov_type='cluster' (its correction G/(G-1) * (nobs-1) / df_resid)",
                "fit on more samples than parameters",
            )
        # The fitted raw output, then the information with the gradient (for
        # the separation check) in the same pass over X. The sandwich's
        # bread is the observed Hessian, as in statsmodels' robust
        # covariances (it differs from the expected information of a
        # non-canonical link, e.g. the Gamma's log link).
        pointwise = (
            model._inference_pointwise_information(objective)
            if cov_type == "nonrobust"
            else None
        )
        self.theta = self._second_order(theta, pointwise)
        separated = False
        if loss.is_log_likelihood and not self.penalized:
            # The observed information and its pointwise weights bound the
            # rows of X for the check (not those of a replacement).
            separated = self._check_separation(
                None if pointwise is not None else self._observed
            )
        if not separated:
            self._polish(pointwise)

    def _second_order(self, theta, pointwise):
        """Fitted values, gradient and information at ``theta``; returns ``theta``."""
        raw, self._grad, hessian, weights = self.objective.second_order(theta, pointwise)
        # X was validated without sklearn's finiteness pass: a NaN or
        # infinite entry makes its row's raw output non-finite.
        if not bool(torch.isfinite(raw).all()):
            _raise_not_finite(self.objective)
        self._raw, self._observed = raw, (hessian, weights)
        self._cov_theta_factor = self._information_solve(hessian)
        return theta

    def _newton_step(self):
        """The Newton (Fisher scoring, with the expected information) step at ``theta``."""
        g = self._grad.to(torch.float64) * self._sum_weight
        return self._solve(g.unsqueeze(1)).squeeze(1)

    def _polish(self, pointwise):
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
            self.theta = self._second_order((theta - step).to(objective.dtype), pointwise)

    # -- the heavy part: one Hessian, one Cholesky --------------------------
    def _information_solve(self, H):
        """``A^-1 J^T`` with ``A`` the information ``H`` (per unit weight) in theta."""
        objective = self.objective
        H = H.to(torch.float64)
        A = H * self._sum_weight
        projector = _null_projector(objective)
        if projector is not None:
            # Softmax directions that change no probability: make A invertible
            # along them; J maps them to zero, so the result does not depend on it.
            A = A + projector.to(torch.float64) * A.diagonal().mean()
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
        J = self._parametrisation.matrix.to(torch.float64)
        return self._solve(J.T)

    def _solve(self, B):
        """``A^-1 B`` for the information ``A``, by its equilibrated Cholesky factor."""
        scale = self._equilibration.unsqueeze(1)
        return torch.cholesky_solve(B * scale, self._cholesky) * scale

    def _information_bound(self, coef, intercept, observed):
        """``(a, b, c)`` with ``|x_i . w + b_k| <= a / sqrt(c_i) + b`` on every row.

        For the step ``|coef|``, ``|intercept|``, without reading X: the
        information's diagonal entry of feature j, ``H_jj = sum_i c_i
        x_ij^2`` with ``c_i >= 0`` the weighted pointwise Hessian, bounds
        ``|x_ij|`` by ``sqrt(H_jj / c_i)`` on every row with ``c_i > 0``, so
        ``a = max_k sum_j sqrt(H_jj) |w_kj|`` and ``b = max_k |b_k|``.
        Softmax: per row the output with the largest ``c_ikk``, per feature
        the largest ``H_jj`` over the outputs (looser, still valid). None
        when the information is not the loss's own (``observed``, the
        Hessian and its weighted pointwise Hessian, None).
        """
        if observed is None:
            return None
        hessian, weights = observed
        diagonal = hessian.diagonal()
        objective = self.objective
        K, q, p = objective.n_outputs, objective.n_params_per_output, objective.n_features
        scale = diagonal.view(K, q)[:, :p].amax(dim=0).clamp_min(0).sqrt()
        shift = float(intercept.max()) if intercept is not None else 0.0
        c = weights.diagonal(dim1=1, dim2=2).amax(dim=1)
        return float((coef @ scale).max()), shift, c

    def _check_separation(self, observed):
        """Warn when the fit is on its way to infinity along a separating direction.

        Separated samples have fitted probabilities of their class near 1 and
        a loss ``~ exp(-margin)``: a Newton step from the fit still raises
        their margin by O(1), however far the optimizer went, where at a true
        optimum it changes nothing. Strong but overlapping data have
        probabilities near 1 too, but no such step. Margins, not losses: the
        loss of a sample with a large margin is rounding noise. ``observed``:
        as for :meth:`_information_bound`.
        """
        objective = self.objective
        if not self.model._inference_has_margins(objective):
            return False
        step = self._newton_step().to(objective.dtype)
        # A margin (sigmoid: +-z; softmax: a difference of two outputs)
        # moves by at most twice the largest move of a raw output. At a true
        # optimum the step is rounding noise: bounds that read no row of X
        # settle it (first for all rows at once, then per candidate).
        coef, intercept = objective.unpack(step.abs())
        information = self._information_bound(coef, intercept, observed)
        positive = objective.weight > 0
        tiny = torch.finfo(objective.dtype).tiny
        if information is not None:
            a, b, c = information
            smallest = float(torch.where(positive, c, torch.inf).min())
            if 2.0 * (a / math.sqrt(max(smallest, tiny)) + b) <= _MARGIN_STEP:
                return False
        margins = self.model._inference_margins(objective, self._raw)
        candidates = (margins > _SATURATED_MARGIN) & positive
        if information is not None:
            candidates &= 2.0 * (a / c.clamp_min(tiny).sqrt() + b) > _MARGIN_STEP
        if not bool(candidates.any()):
            return False
        # |x_i . w + b| <= max_j |x_ij| ||w||_1 + |b|, with X's largest entry.
        bound = coef.sum(dim=1) * objective.abs_max()
        if intercept is not None:
            bound = bound + intercept
        if 2.0 * float(bound.max()) <= _MARGIN_STEP:
            return False
        # The Newton step moves the parameters by -step.
        n_separated = count_rising_margins(
            self.model, objective, self._raw, margins, candidates, -step
        )
        if n_separated == 0:
            return False
        n_positive = int(positive.sum())
        predicted = (
            self._raw.argmax(dim=1) if self._raw.shape[1] > 1 else (self._raw[:, 0] > 0)
        )
        observed = (
            objective.target.argmax(dim=1)
            if self._raw.shape[1] > 1
            else (objective.target[:, 0] > 0.5)
        )
        all_correct = bool((predicted == observed)[positive].all())
        _warn_separation(n_separated, n_positive, all_correct)
        return True

    # -- parameters and covariance -------------------------------------------
    @cached_property
    def params(self):
        """Estimated parameters, ndarray of shape (n_params,)."""
        J = self._parametrisation.matrix.to(torch.float64)
        return (J @ self.theta.to(torch.float64)).cpu().numpy()

    @cached_property
    def scale(self):
        """Dispersion multiplying the covariance (1 for Bernoulli and categorical)."""
        return float(self.model._inference_scale(self.objective, self._raw))

    @cached_property
    def cov_params(self):
        """Covariance matrix of ``params``, ndarray of shape (n_params, n_params)."""
        J = self._parametrisation.matrix.to(torch.float64)
        if self.cov_type == "nonrobust":
            cov = J @ self._cov_theta_factor * self.scale
        elif self.cov_type == "cluster":
            M = self._cov_theta_factor  # A^-1 J^T
            sums = self._cluster_scores()
            cov = (sums @ M).T @ (sums @ M) * self.cluster_correction
        elif self.cov_type in _LEVERAGE_COV_TYPES:
            cov = self._leverage_sandwich()
        else:
            cov = self._sandwich()
            if self.cov_type == "HC1":
                n, k = self.nobs, self.params.size
                cov = cov * (n / (n - k))
        cov = 0.5 * (cov + cov.T)
        return cov.cpu().numpy()

    @cached_property
    def cluster_correction(self):
        """Small-sample factor of ``cov_type="cluster"``: ``G/(G-1) (N-1)/(N-K)``.

        ``G`` groups (with positive weight), ``N = nobs`` observations and
        ``K`` parameters: CR1, the default of statsmodels (``use_correction=
        True``) and Stata, and R's ``sandwich::vcovCL(type="HC1")``; R's
        default for a ``glm``, ``type="HC0"``, is ``G/(G-1)`` alone. None for
        the other covariance types.
        """
        if self.cov_type != "cluster":
            return None
        G, n, k = self.n_groups, self.nobs, self.params.size
        return G / (G - 1.0) * (n - 1.0) / (n - k)

    def _group_codes(self, groups):
        """``(codes, n_groups)`` of ``groups`` (see :func:`group_labels`)."""
        objective = self.objective
        codes, n_labels = group_labels(groups, objective.X.shape[0])
        positive = (objective.weight > 0).cpu().numpy()
        return drop_empty_groups(codes, np.bincount(codes[positive], minlength=n_labels))

    def _cluster_scores(self):
        """Per-group sums of the frequency-weighted scores, shape (G, n_params) in theta."""
        return cluster_score_sums(self.objective, self._raw, self._groups, self.n_groups)

    def _leverage_sandwich(self):
        """HC2/HC3: ``A^-1 B A^-1`` mapped by J, B's scores divided by their leverage."""
        meat, n_high = leverage_meat(self.objective, self._raw, self._solve, self.cov_type)
        _check_leverage(n_high, self.cov_type)
        M = self._cov_theta_factor  # A^-1 J^T
        return M.T @ meat @ M

    def _sandwich(self):
        """``A^-1 B A^-1`` mapped by J, with B the frequency-weighted score products.

        The score of sample i is ``r_i (x) [x_i, 1]`` with ``r_i`` the loss's
        gradient in the raw output, so ``B`` has the Hessian's block form with
        ``w_i r_ik r_im`` in place of ``w_i h_ikm``: one pass over X.
        """
        objective = self.objective
        _, grad_raw = objective.loss.value_gradient(self._raw, objective.target)
        weighted = grad_raw * (objective.weight * self._sum_weight).unsqueeze(1)
        meat = objective.gram(weighted.unsqueeze(2) * grad_raw.unsqueeze(1))
        M = self._cov_theta_factor  # A^-1 J^T
        return M.T @ meat.to(torch.float64) @ M

    @cached_property
    def bse(self):
        """Standard errors of ``params``."""
        return np.sqrt(np.diag(self.cov_params))

    @cached_property
    def zvalues(self):
        """Wald z statistics ``params / bse``."""
        return self.params / self.bse

    @property
    def tvalues(self):
        """Alias of ``zvalues`` (statsmodels' name)."""
        return self.zvalues

    @cached_property
    def pvalues(self):
        """Two-sided p-values of the z statistics (normal reference distribution)."""
        return 2.0 * stats.norm.sf(np.abs(self.zvalues))

    def conf_int(self, alpha=0.05):
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
    def _require_likelihood(self, what):
        if not self.objective.loss.is_log_likelihood:
            raise ValueError(
                f"{what} needs a likelihood, and loss={self.objective.loss.name!r} is "
                "not a negative log-likelihood."
            )
        reason = self.model._inference_loglike_refusal(self.objective)
        if reason is not None:
            raise ValueError(f"{what} is not available: {reason}")

    @cached_property
    def nobs(self):
        """Number of observations: the sum of the (frequency) weights."""
        return self._sum_weight

    @cached_property
    def df_model(self):
        """Parameters beyond the null model's intercepts (the LR test's df).

        As in statsmodels, the null model has one intercept per equation also
        when the fit has none.
        """
        return self.params.size - self._parametrisation.n_equations

    @cached_property
    def df_resid(self):
        """``nobs`` minus the number of parameters."""
        return self.nobs - self.params.size

    @cached_property
    def llf(self):
        """Log-likelihood at the fitted parameters."""
        self._require_likelihood("The log-likelihood")
        return float(self.model._inference_loglike(self.objective, self._raw))

    @cached_property
    def llnull(self):
        """Log-likelihood of the intercept-only model, fitted on the same data."""
        self._require_likelihood("The null log-likelihood")
        objective = self.objective
        null_raw = self.model._inference_null_raw(objective)
        raw = null_raw.expand(objective.X.shape[0], objective.n_outputs)
        return float(self.model._inference_loglike(objective, raw, scale=self.scale))

    @cached_property
    def _llsaturated(self):
        return float(self.model._inference_saturated_loglike(self.objective))

    @cached_property
    def deviance(self):
        """``2 * (llf_saturated - llf)``; ``-2 llf`` for individual class labels.

        With a dispersion (GLM families) the unscaled deviance, as statsmodels.
        """
        deviance = self.model._inference_deviance(self.objective, self._raw)
        if deviance is not None:
            return float(deviance)
        return 2.0 * (self._llsaturated - self.llf)

    @cached_property
    def null_deviance(self):
        """Deviance of the intercept-only model."""
        objective = self.objective
        null_raw = self.model._inference_null_raw(objective)
        raw = null_raw.expand(objective.X.shape[0], objective.n_outputs)
        deviance = self.model._inference_deviance(objective, raw)
        if deviance is not None:
            return float(deviance)
        return 2.0 * (self._llsaturated - self.llnull)

    @cached_property
    def aic(self):
        """Akaike's information criterion ``-2 llf + 2 k``."""
        return -2.0 * self.llf + 2.0 * self.params.size

    @cached_property
    def bic(self):
        """Bayesian information criterion ``-2 llf + log(nobs) k``."""
        return -2.0 * self.llf + math.log(self.nobs) * self.params.size

    @cached_property
    def prsquared(self):
        """McFadden's pseudo-R2, ``1 - llf / llnull``."""
        return 1.0 - self.llf / self.llnull

    @cached_property
    def llr(self):
        """Likelihood-ratio statistic against the intercept-only model."""
        return 2.0 * (self.llf - self.llnull)

    @cached_property
    def llr_pvalue(self):
        """p-value of ``llr`` on ``df_model`` degrees of freedom."""
        return float(stats.chi2.sf(self.llr, self.df_model))

    def lr_test(self):
        """Likelihood-ratio test against the intercept-only model.

        Returns
        -------
        LikelihoodRatioTestResult
            ``statistic``, ``df`` and ``pvalue``.
        """
        return LikelihoodRatioTestResult(self.llr, self.df_model, self.llr_pvalue)

    # -- presentation -----------------------------------------------------------
    def summary(self, alpha=0.05):
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

    def __repr__(self):
        return (
            f"<{type(self).__name__}: {self.model_name}, {self.params.size} params, "
            f"nobs={format_count(self.nobs)}, cov_type={self.cov_type!r}>"
        )


@dataclass(frozen=True)
class LikelihoodRatioTestResult:
    """A likelihood-ratio test: ``statistic`` ~ chi2(``df``) under the null."""

    statistic: float
    df: int
    pvalue: float


def likelihood_ratio_test(restricted, full):
    """Likelihood-ratio test of a restricted model against a larger nested one.

    Parameters
    ----------
    restricted, full : InferenceResults
        Results of two fits on the same data (same observations and weights,
        same classes), ``restricted`` with fewer parameters.

    Returns
    -------
    LikelihoodRatioTestResult
        ``statistic = 2 (llf_full - llf_restricted)``, ``df`` the difference in
        the number of parameters, ``pvalue`` from the chi-squared distribution.

    Notes
    -----
    Nesting is checked as far as the results allow: same number of
    observations, same response, fewer parameters in ``restricted``, and
    ``restricted``'s terms among ``full``'s. That the restricted model's
    design is a linear restriction of the full one is the caller's promise.

    Examples
    --------
    >>> import numpy as np
    >>> import statsmodels.api as sm
    >>> from sklearn_neuron import NeuronClassifier, likelihood_ratio_test
    >>> data = sm.datasets.spector.load_pandas().data
    >>> y = data["GRADE"]
    >>> def fit(columns):
    ...     X = data[columns]
    ...     clf = NeuronClassifier(C=np.inf, optimizer="newton", tol=1e-10)
    ...     return clf.fit(X, y).inference(X, y)
    >>> test = likelihood_ratio_test(fit(["GPA", "TUCE"]), fit(["GPA", "TUCE", "PSI"]))
    >>> test.df, round(test.statistic, 3), round(test.pvalue, 4)
    (1, 6.204, 0.0127)
    """
    for res in (restricted, full):
        if not isinstance(res, InferenceResults):
            raise TypeError(
                "likelihood_ratio_test takes InferenceResults, got "
                f"{type(res).__name__}."
            )
        res._require_likelihood("A likelihood-ratio test")
    if not _same_observations(restricted, full):
        raise ValueError(
            "The two models were not fitted on the same observations (number of "
            "samples, response or weights differ), so they are not nested and the "
            "likelihood-ratio test does not apply."
        )
    df = full.params.size - restricted.params.size
    if df <= 0 or not set(restricted.param_names) <= set(full.param_names):
        raise ValueError(
            f"restricted has {restricted.params.size} parameters and full has "
            f"{full.params.size}; the restricted model must have fewer, with its terms "
            "among the full model's. Pass the smaller model first."
        )
    statistic = 2.0 * (full.llf - restricted.llf)
    return LikelihoodRatioTestResult(statistic, df, float(stats.chi2.sf(statistic, df)))


def _same_observations(restricted, full):
    """Whether two results were computed on the same observations, response and weights."""
    if hasattr(restricted, "same_observations"):  # data on a cluster: by a reduction
        return restricted.same_observations(full)
    if hasattr(full, "same_observations"):
        return False
    a, b = restricted.objective, full.objective
    return (
        a.X.shape[0] == b.X.shape[0]
        and math.isclose(restricted.nobs, full.nobs, rel_tol=1e-12)
        and a.target.shape == b.target.shape
        and bool(torch.equal(a.target, b.target))
        and bool(torch.allclose(a.weight, b.weight))
        and _same_offset(a.offset, b.offset)
    )


def _same_offset(a, b):
    """Whether two offsets (None: zeros) are the same: nested models share theirs."""
    if a is None or b is None:
        other = b if a is None else a
        return other is None or not bool(other.any())
    return a.shape == b.shape and bool(torch.equal(a, b))


class InferenceSummary:
    """The summary of :class:`InferenceResults`: header, coefficient table, notes.

    Attributes
    ----------
    header : list of (str, str)
        Fit statistics as label/value pairs.
    table : list of tuple
        One row per parameter: equation (or None), term, coef, std err, z,
        p-value, lower and upper bound.
    columns : list of str
        Column names of the numbers in ``table``.
    notes : list of str
        Lines printed under the table.
    frame : pandas.DataFrame
        The table as a DataFrame (an ImportError naming pandas without it).
    """

    def __init__(self, results, alpha=0.05):
        r = results
        ci = r.conf_int(alpha)
        self.alpha = alpha
        self.title = f"{r.model_name} Results"
        par = r._parametrisation
        equations = par.equations or [None] * len(par.names)
        self.columns = [
            "coef",
            "std err",
            "z",
            "P>|z|",
            f"[{alpha / 2:g}",
            f"{1 - alpha / 2:g}]",
        ]
        self.table = [
            (eq, name, *values)
            for eq, name, values in zip(
                equations,
                par.names,
                np.column_stack([r.params, r.bse, r.zvalues, r.pvalues, ci]).tolist(),
                strict=True,
            )
        ]
        likelihood = r.objective.loss.is_log_likelihood
        refusal = r.model._inference_loglike_refusal(r.objective) if likelihood else None
        self.header = [
            (
                "Dependent variable",
                r.model._inference_dependent(r.objective, r.endog_name),
            ),
            ("Model", r.model_name),
            ("No. observations", format_count(r.nobs)),
            ("Df model", format_count(r.df_model)),
            ("Df residuals", format_count(r.df_resid)),
            ("Covariance type", r.cov_type),
        ]
        if r.cov_type == "cluster":
            self.header.append(("No. groups", f"{r.n_groups:d}"))
        if likelihood and refusal is None:
            self.header += [
                ("Log-likelihood", f"{r.llf:.6g}"),
                ("LL-null", f"{r.llnull:.6g}"),
                ("Deviance", f"{r.deviance:.6g}"),
                ("AIC", f"{r.aic:.6g}"),
                ("BIC", f"{r.bic:.6g}"),
                ("Pseudo R-squ. (McFadden)", f"{r.prsquared:.4f}"),
                ("LLR p-value", f"{r.llr_pvalue:.4g}"),
            ]
        elif likelihood:  # a density not evaluated; its deviance still is
            self.header.append(("Deviance", f"{r.deviance:.6g}"))
        self.notes = []
        if r.weighted:
            self.notes.append(
                "Sample weights are frequency weights: No. observations is their sum."
            )
        if r.cov_type == "cluster":
            self.notes.append(
                f"Standard errors are robust to correlation within the {r.n_groups} "
                "clusters (CR1), with the small-sample correction G/(G-1) * "
                f"(N-1)/(N-K) = {r.cluster_correction:.6g} (statsmodels' default; R "
                "sandwich::vcovCL type='HC1')."
            )
        elif r.cov_type in _LEVERAGE_COV_TYPES:
            self.notes.append(
                f"Standard errors are heteroscedasticity robust ({r.cov_type}): each "
                "score divided by "
                + ("sqrt(1 - h_i)" if r.cov_type == "HC2" else "1 - h_i")
                + ", h_i the leverage from the IRLS hat matrix."
            )
        if refusal is not None:
            self.notes.append(f"No log-likelihood statistics: {refusal}")
        if r.note:
            self.notes.append(r.note)
        if getattr(r.objective, "offset", None) is not None:
            self.notes.append(
                "The linear predictor includes an offset (its coefficient fixed at 1), "
                "as statsmodels' offset= / exposure= (exposure: offset = log(exposure))."
            )
        if r.penalized:
            self.notes.append(
                "Penalized fit: standard errors use the penalized Hessian; the Wald "
                "statistics and p-values are NOT valid."
            )

    @property
    def frame(self):
        """The table as a pandas DataFrame (ImportError without pandas)."""
        try:
            import pandas as pd
        except ImportError as exc:
            raise ImportError(
                "InferenceSummary.frame needs pandas, which is not installed: "
                "pip install pandas (the text and .table need nothing)."
            ) from exc
        data = [row[2:] for row in self.table]
        if self.table[0][0] is None:
            index = pd.Index([row[1] for row in self.table], name="term")
        else:
            index = pd.MultiIndex.from_tuples(
                [row[:2] for row in self.table], names=["equation", "term"]
            )
        return pd.DataFrame(data, index=index, columns=self.columns)

    def as_text(self):
        """The summary as plain text."""
        label_width = max(len(label) for label, _ in self.header)
        lines = [self.title, "=" * 78]
        lines += [f"{label:<{label_width}}  {value}" for label, value in self.header]
        term_width = max(12, *(len(row[1]) for row in self.table))
        head = f"{'':<{term_width}}" + "".join(f"{c:>11}" for c in self.columns)
        rule = "-" * len(head)
        current = object()
        for row in self.table:
            if row[0] != current:
                current = row[0]
                lines += [rule if row[0] is None else f"{rule}\n{row[0]}", head, rule]
            coef, se, z, p, lo, hi = row[2:]
            lines.append(
                f"{row[1]:<{term_width}}{coef:>11.4f}{se:>11.4f}{z:>11.3f}"
                f"{p:>11.3f}{lo:>11.4f}{hi:>11.4f}"
            )
        lines.append("=" * len(head))
        lines += [f"Note: {note}" for note in self.notes]
        return "\n".join(lines)

    def __str__(self):
        return self.as_text()

    __repr__ = __str__

    def _repr_html_(self):
        import html

        header = "".join(
            f"<tr><th>{html.escape(k)}</th><td>{html.escape(v)}</td></tr>"
            for k, v in self.header
        )
        try:
            table = self.frame.to_html(float_format="%.4g")
        except ImportError:  # without pandas the notebook shows header and notes
            table = ""
        notes = "".join(f"<p>{html.escape(n)}</p>" for n in self.notes)
        return (
            f"<h4>{html.escape(self.title)}</h4><table>{header}</table>{table}{notes}"
        )


def _warn_separation(n_separated, n_positive, all_correct):
    """The SeparationWarning of ``n_separated`` separated samples among ``n_positive``."""
    if all_correct:
        kind = "Perfect separation"
        what = "every sample is classified correctly"
    else:
        kind = "Quasi-complete separation"
        what = "part of the samples are separated from the other classes"
    what += (
        f"; {n_separated} of {n_positive} samples have a fitted probability of "
        "their class near 1 that a further Newton step still raises"
    )
    warnings.warn(
        f"{kind} detected: {what}. The maximum-likelihood estimate does not "
        "exist (some coefficients diverge), so the reported coefficients, "
        "standard errors, p-values and intervals are meaningless. Refit with "
        "firth=True (and C=np.inf) for Firth's finite estimate with valid "
        "inference, drop or merge the separating feature(s), or penalize the fit "
        "(finite C) and treat the results as descriptive.",
        SeparationWarning,
        stacklevel=4,
    )


def _check_leverage_model(objective, cov_type):
    """Refuse HC2/HC3 where the model has no hat matrix to take leverages from."""
    loss = objective.loss
    if objective.n_outputs != 1:
        raise ValueError(
            f"cov_type={cov_type!r} needs the leverages of one linear predictor (the "
            "hat matrix of a GLM's IRLS step), which a multinomial model with "
            f"{objective.n_outputs} outputs does not have (statsmodels' MNLogit "
            "silently returns HC0 for it): use cov_type='HC0', 'HC1' or 'cluster'."
        )
    if not loss.is_log_likelihood:
        raise ValueError(
            f"cov_type={cov_type!r} corrects the scores by the leverages of a GLM's "
            f"hat matrix, and loss={loss.name!r} is not a GLM's negative "
            "log-likelihood: use cov_type='HC0' or 'HC1'."
        )


def check_groups(groups, cov_type):
    """Refuse ``groups`` without ``cov_type="cluster"``, and the reverse."""
    if cov_type == "cluster" and groups is None:
        raise ValueError(
            "cov_type='cluster' needs groups: pass groups=g, an array of shape "
            "(n_samples,) with the cluster label of each training sample."
        )
    if cov_type != "cluster" and groups is not None:
        raise ValueError(
            f"groups is used only by cov_type='cluster', got cov_type={cov_type!r}: "
            "pass cov_type='cluster' for cluster-robust standard errors, or drop "
            "groups."
        )


def group_labels(groups, n_samples):
    """``(codes, n_labels)``: each sample's cluster as 0 .. n_labels - 1.

    Refuses groups of another shape than ``(n_samples,)``, missing labels
    (NaN, None) and labels that cannot be ordered.
    """
    labels = np.asarray(groups)
    if labels.ndim != 1 or labels.shape[0] != n_samples:
        raise ValueError(
            f"groups must have shape (n_samples,) = ({n_samples},), one cluster label "
            f"per training sample, got shape {labels.shape}."
        )
    if labels.dtype.kind == "O":
        missing = np.array([g is None or g != g for g in labels.tolist()], dtype=bool)
    elif labels.dtype.kind in "fc":
        missing = np.isnan(labels)
    else:
        missing = np.zeros(n_samples, dtype=bool)
    if missing.any():
        raise ValueError(
            f"groups contains {int(missing.sum())} missing labels (NaN or None); "
            "every training sample needs its cluster: impute them or drop those "
            "rows and refit."
        )
    try:
        values, codes = np.unique(labels, return_inverse=True)
    except TypeError as exc:
        raise ValueError(
            "groups mixes labels that cannot be compared (e.g. strings and "
            "numbers): give every sample a label of one type."
        ) from exc
    return codes.reshape(-1).astype(np.int64), values.size


def drop_empty_groups(codes, positive_counts):
    """``(codes, n_groups)`` without the groups that have no row of positive weight.

    Such groups are absent from the data (frequency weights), so they neither
    count in ``G`` nor add a score sum; their rows (of zero weight, adding
    nothing) go to group 0. ``positive_counts``: rows of positive weight per code.
    """
    keep = np.asarray(positive_counts) > 0
    n_groups = int(keep.sum())
    if n_groups < 2:
        raise ValueError(
            f"groups has {n_groups} cluster with positive weight; cluster-robust "
            "covariance needs at least 2 (its score sums vary between clusters): "
            "pass finer groups, or use cov_type='HC0' or 'HC1'."
        )
    if n_groups < keep.size:
        remap = np.cumsum(keep) - 1
        codes = np.where(keep[codes], remap[codes], 0)
    return codes, n_groups


def cluster_score_sums(objective, raw, codes, n_groups):
    """Per-group sums of the frequency-weighted scores, (n_groups, n_params) float64.

    A group's score sum is ``sum_i f_i r_i (x) [x_i, 1]`` over its rows
    (``codes``, a numpy array of 0 .. n_groups - 1 per row of ``objective``),
    ``r_i`` the loss's gradient in the raw output ``raw``: by chunks of rows
    (densified one at a time), added into their groups. On Dask data, a
    block's share of the sums.
    """
    _, grad_raw = objective.loss.value_gradient(raw, objective.target)
    frequency = objective.weight * objective.weight_sum
    weighted = (grad_raw * frequency.unsqueeze(1)).to(torch.float64)
    K, q, p = objective.n_outputs, objective.n_params_per_output, objective.n_features
    codes = torch.as_tensor(codes, device=weighted.device)
    sums = torch.zeros((n_groups, K, q), dtype=torch.float64, device=weighted.device)
    n = objective.X.shape[0]
    for start in range(0, n, _CHUNK_ROWS):
        rows = slice(start, min(start + _CHUNK_ROWS, n))
        X = objective._rows_dense(rows).to(torch.float64)
        for k in range(K):
            sums[:, k, :p].index_add_(0, codes[rows], X * weighted[rows, k : k + 1])
    if objective.fit_intercept:
        for k in range(K):
            sums[:, k, p].index_add_(0, codes, weighted[:, k])
    return sums.reshape(n_groups, K * q)


def leverage_meat(objective, raw, solve, cov_type):
    """The meat of HC2/HC3 and the number of rows with leverage 1.

    Each row's score products are divided by ``1 - h_i`` (HC2) or ``(1 -
    h_i)^2`` (HC3), with ``h_i = c_i [x_i, 1]^T A^-1 [x_i, 1]`` the diagonal
    of the hat matrix of the Newton (IRLS) step, ``c_i`` the loss's
    pointwise Hessian and ``solve(B) = A^-1 B`` with ``A`` the information
    (the bread). Per observation, so a row of frequency weight f is f
    observations of leverage ``h_i`` each (the data with the row repeated).
    For a canonical link ``h_i`` is R's ``hatvalues`` of a ``glm``;
    otherwise statsmodels' ``get_hat_matrix_diag(observed=True)``. On Dask
    data, a block's share (with its count).
    """
    grad_raw, h = objective.loss.gradient_hessian(raw, objective.target)
    curvature = h[:, 0, 0].to(torch.float64)
    n = objective.X.shape[0]
    quadratic = torch.empty(n, dtype=torch.float64, device=curvature.device)
    for start in range(0, n, _CHUNK_ROWS):
        rows = slice(start, min(start + _CHUNK_ROWS, n))
        X = objective._rows_dense(rows).to(torch.float64)
        if objective.fit_intercept:
            X = torch.cat([X, torch.ones_like(X[:, :1])], dim=1)
        quadratic[rows] = (X * solve(X.T).T).sum(dim=1)
    leverage = curvature * quadratic
    high = (leverage >= 1.0 - 1e3 * torch.finfo(torch.float64).eps) & (objective.weight > 0)
    divisor = torch.where(high, 1.0, 1.0 - leverage)
    if cov_type == "HC3":
        divisor = divisor**2
    grad_raw = grad_raw.to(torch.float64)
    frequency = (objective.weight * objective.weight_sum).to(torch.float64)
    weighted = grad_raw * (frequency / divisor).unsqueeze(1)
    meat = objective.gram((weighted.unsqueeze(2) * grad_raw.unsqueeze(1)).to(objective.dtype))
    return meat.to(torch.float64), int(high.sum())


def _check_leverage(n_high, cov_type):
    """Refuse HC2/HC3 when a row has leverage 1 (its score would be divided by 0)."""
    if n_high:
        raise ValueError(
            f"cov_type={cov_type!r} divides each score by 1 - h_i, and {n_high} rows "
            "have leverage h_i = 1 (a parameter is determined by one observation "
            "alone): use cov_type='HC0' or 'HC1'."
        )


def _raise_not_finite(objective):
    """Say why the fitted values are not finite: X, or an overflow."""
    if not math.isfinite(objective.abs_max()):
        raise ValueError(
            "Input X contains NaN or infinity; inference needs the finite training "
            "data of the fit. Drop or impute those entries (e.g. with "
            "sklearn.impute.SimpleImputer) as was done before fitting."
        )
    raise ValueError(
        "The fitted raw outputs X @ coef_.T + intercept_ overflow the dtype on these "
        "data, so no inference is possible; scale the features (e.g. with "
        "StandardScaler) and refit."
    )


class InferenceMixin:
    """Give a fitted neuron estimator ``inference`` and ``summary`` methods.

    The estimator provides ``_build_objective(X, y, sample_weight, reset=False,
    check_finite=False)`` and ``_fitted_theta(objective)``; the
    ``_inference_*`` methods are hooks with defaults for losses that are an
    exact negative log-likelihood with unit dispersion (Bernoulli,
    categorical). A softmax layer of K units is reported in the
    reference-class parametrisation (output 0 is the reference), in which it
    is identifiable. The mixin sets no attribute.
    """

    @tensor_inputs
    def inference(
        self, X, y, sample_weight=None, *, offset=None, exposure=None, cov_type="nonrobust",
        groups=None,
    ):
        """Statistical inference on the fitted coefficients.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            The training data of the fit (the same rows in the same order,
            in any container, layout or float dtype). Other data are refused
            with a ValueError: the inference is of the fitted model on its
            training data, as in statsmodels; for other data fit a model on
            them (``clone(model).fit(X, y).inference(X, y)``).
        y : array-like of shape (n_samples,)
            The training targets.
        sample_weight : array-like of shape (n_samples,), default=None
            The weights of the fit, taken as frequency weights.
        offset, exposure : array-like, default=None
            The offset (or, for log-link regressors, exposure) of the fit:
            part of the training data, checked with them.
        cov_type : {"nonrobust", "HC0", "HC1", "HC2", "HC3", "cluster"}, \
                default="nonrobust"
            ``"nonrobust"``: the inverse Fisher information (inverse Hessian
            of the total negative log-likelihood; for a GLM the expected
            information times the dispersion, as statsmodels' GLM). ``"HC0"``:
            the sandwich ``A^-1 B A^-1`` with ``A`` the observed Hessian and
            ``B`` the weighted sum of per-sample score outer products, as
            statsmodels' ``cov_type="HC0"``. ``"HC1"``: HC0 times
            ``nobs / (nobs - n_params)``, the small-sample correction of
            statsmodels' OLS; its maximum-likelihood models (Logit, MNLogit,
            GLM) apply it only when asked, through
            ``cov_kwds={"scaling_factor": nobs / (nobs - n_params)}``.
            ``"HC2"``, ``"HC3"``: each score divided by ``sqrt(1 - h_i)``
            (HC2) or ``1 - h_i`` (HC3), ``h_i`` the leverage (the diagonal of
            the IRLS hat matrix), as R's ``sandwich::vcovHC`` of a ``glm``
            and statsmodels' OLS; for one linear predictor with a
            log-likelihood loss only (statsmodels' Logit and GLM return HC0
            under these names). ``"cluster"``: cluster-robust (CR1), ``B``
            the sum over the ``G`` groups of the outer products of the
            groups' score sums, times ``G/(G-1) (nobs-1)/(nobs-n_params)``:
            statsmodels' ``cov_type="cluster"`` (``use_correction=True``)
            and R's ``sandwich::vcovCL(type="HC1")``.
        groups : array-like of shape (n_samples,), default=None
            The cluster label of each sample, for ``cov_type="cluster"``
            only (any comparable labels; no missing ones). A sample of
            frequency weight f counts as f samples of its group. With Dask
            data, a dask array (or an in-memory one) of the same rows: its
            labels are brought to the driver to be numbered, and the scores
            are summed per group on the workers.

        Returns
        -------
        InferenceResults
            Its ``params`` are those of the optimum: the fitted coefficients
            after Newton steps to a tight gradient (none when the fit is
            already there), so that a fit stopped at its ``tol`` (or a
            minibatch fit) reports the maximum-likelihood estimate and its
            covariance there. ``coef_`` itself is not changed.

        Raises
        ------
        NotFittedError
            Before ``fit``.
        ValueError
            For data other than the training data of the fit (checked
            against ``training_fingerprint_``), or a model trained by
            ``partial_fit`` (no one training set). For an elastic-net fit
            (``l1_ratio > 0``); for a loss that is not a log-likelihood with
            ``cov_type="nonrobust"``; for a singular Fisher information. For
            ``cov_type="HC1"`` or ``"cluster"``, or a dispersion estimated by
            Pearson's chi2 (when the covariance is asked for), with no
            residual degrees of freedom (``nobs <= n_params``). For
            ``groups`` missing with ``cov_type="cluster"`` or given with
            another one, of the wrong length, with missing labels or one
            group only; for ``"HC2"``/``"HC3"`` on a multinomial model or a
            loss that is not a log-likelihood.

        Warns
        -----
        PenalizedInferenceWarning
            For a penalized fit (finite ``C``): the covariance is the inverse
            penalized Hessian and the Wald statistics are not valid.
        SeparationWarning
            When the data are perfectly or quasi-completely separated.
        """
        check_is_fitted(self)
        check_groups(groups, cov_type)
        if getattr(self, "l1_ratio", 0) or 0:
            raise ValueError(
                f"{type(self).__name__} was fitted with an L1 penalty (l1_ratio="
                f"{self.l1_ratio}); no Wald inference is defined for it (the L1 "
                "penalty is not differentiable at zero and selects the model). Refit "
                "with l1_ratio=0 and C=np.inf for valid inference."
            )
        # X's finiteness is checked on the fitted values instead (a NaN or
        # infinite entry makes its row's non-finite): one pass over X less.
        objective = self._build_objective(
            X, y, sample_weight, reset=False, check_finite=False, offset=offset,
            exposure=exposure,
        )
        check_training_data(self, objective)
        self._inference_validate(objective, cov_type)
        theta = self._fitted_theta(objective)
        if objective.l2 > 0:
            penalty, remedy = self._inference_penalty()
            warnings.warn(
                f"{type(self).__name__} was fitted with a penalty ({penalty}): "
                "standard errors come from the penalized Hessian, and the Wald "
                "statistics, p-values and confidence intervals are not valid for "
                "penalized fits (the estimates are biased towards zero). Refit with "
                f"{remedy} for valid inference.",
                PenalizedInferenceWarning,
                stacklevel=2,
            )
        # Data spread over a cluster (a DaskObjective) bring their own results class.
        results = getattr(objective, "inference_results_class", InferenceResults)
        results = results(self, objective, theta, cov_type=cov_type, groups=groups)
        # What the summary says of y and the weights comes from the arguments.
        results.endog_name = endog_name(y)
        results.weighted = (
            sample_weight is not None or getattr(self, "class_weight", None) is not None
        )
        return results

    @tensor_inputs
    def summary(
        self, X, y, sample_weight=None, *, offset=None, exposure=None, cov_type="nonrobust",
        groups=None, alpha=0.05,
    ):
        """Summary table of the fit on its training data.

        Shorthand for ``self.inference(X, y, sample_weight, offset=offset,
        exposure=exposure, cov_type=cov_type, groups=groups).summary(alpha)``.

        Parameters
        ----------
        X, y, sample_weight, offset, exposure, cov_type, groups
            As in :meth:`inference`.
        alpha : float, default=0.05
            One minus the level of the confidence intervals.

        Returns
        -------
        InferenceSummary
        """
        return self.inference(
            X, y, sample_weight, offset=offset, exposure=exposure, cov_type=cov_type,
            groups=groups,
        ).summary(alpha)

    @tensor_inputs
    def marginal_effects(
        self, X, y, sample_weight=None, *, offset=None, exposure=None, at="overall",
        method="dydx", cov_type="nonrobust", groups=None, alpha=0.05,
    ):
        """Marginal effects on the predicted mean, with delta-method standard errors.

        statsmodels' ``get_margeff``: the derivative of the predicted
        probability of each class (classifier) or of the predicted mean
        (regressor) in each feature, averaged over the training observations
        with their frequency weights. The numerics are in
        :mod:`sklearn_neuron._inference.margins`.

        Parameters
        ----------
        X, y, sample_weight, offset, exposure, cov_type, groups
            As in :meth:`inference`, whose covariance the standard errors
            come from. An offset is part of each observation's predicted mean.
        at : {"overall", "mean"}, default="overall"
            ``"overall"``: the average of the effects at each observation
            (average marginal effects); ``"mean"``: the effects at the
            (weighted) mean observation.
        method : {"dydx", "eydx", "dyex", "eyex"}, default="dydx"
            ``dy/dx``; the semi-elasticities ``d(ln y)/dx`` and
            ``dy/d(ln x)``; the elasticity ``d(ln y)/d(ln x)``, transformed at
            each observation before averaging, as statsmodels.
        alpha : float, default=0.05
            One minus the level of the confidence intervals.

        Returns
        -------
        MarginalEffects
            The table: ``str()`` gives the text, ``.frame`` a DataFrame;
            ``effects``, ``bse``, ``cov_effects``, ``pvalues``, ``conf_int()``.

        Raises
        ------
        ValueError
            As :meth:`inference`; for an unknown ``at`` or ``method``; for
            ``"eydx"``/``"eyex"`` where a predicted mean is zero.

        Warns
        -----
        PenalizedInferenceWarning, SeparationWarning
            As :meth:`inference`.
        """
        from .margins import MarginalEffects, check_margins_options

        check_margins_options(at, method, alpha)
        results = self.inference(
            X, y, sample_weight, offset=offset, exposure=exposure, cov_type=cov_type,
            groups=groups,
        )
        return MarginalEffects(results, at=at, method=method, alpha=alpha)

    # -- hooks ------------------------------------------------------------------
    def _inference_validate(self, objective, cov_type):
        """Raise a ValueError for a model the inference does not cover."""

    def _inference_penalty(self):
        """The penalty's parameter and the setting without it, for the warning."""
        return f"C={self.C!r}", "C=np.inf"

    def _inference_pointwise_information(self, objective):
        """Pointwise information replacing the loss's Hessian, or None for it.

        None: the observed information (the objective's Hessian). A
        non-canonical link may return a function ``(raw, target) -> (n, K, K)``
        giving the expected (Fisher) one instead, as statsmodels' IRLS does.
        """
        return None

    def _inference_deviance(self, objective, raw):
        """The deviance at ``raw``, or None for ``2 (llf_saturated - llf)``."""
        return None

    def _inference_loglike_refusal(self, objective):
        """Why the log-likelihood of a likelihood loss is not evaluated, or None.

        A reason refuses llf, llnull, AIC, BIC, the pseudo-R2 and
        likelihood-ratio tests with a ValueError that gives it; the Wald
        statistics and the deviance do not depend on it.
        """
        return None

    def _inference_output_names(self, objective):
        classes = getattr(self, "classes_", None)
        if classes is not None and len(classes) == objective.n_outputs:
            return [str(c) for c in classes]
        return [f"y{k}" for k in range(objective.n_outputs)]

    def _inference_dependent(self, objective, name="y"):
        """The summary's dependent variable: ``name`` and what is modelled of it."""
        classes = getattr(self, "classes_", None)
        if classes is None:
            return name
        labels = [str(c) for c in classes]
        if objective.n_outputs == 1:  # one sigmoid unit: the last class against the first
            modelled = f"{name} = {labels[-1]}"
            if objective.loss.is_log_likelihood:
                modelled = f"P({modelled})"
            return f"{modelled}, against {labels[0]}"
        against = labels[0] if objective.loss.activation.name == "softmax" else "the rest"
        return f"{name} in {{{', '.join(labels)}}}, each class against {against}"

    def _inference_model_name(self, objective):
        kind = {"sigmoid": "Logit", "softmax": "MNLogit"}.get(
            objective.loss.activation.name, objective.loss.name
        )
        return f"{kind} ({type(self).__name__}, loss={objective.loss.name!r})"

    def _inference_term_names(self, objective):
        names = getattr(self, "feature_names_in_", None)
        if names is None:
            names = [f"x{j}" for j in range(objective.n_features)]
        names = [str(n) for n in names]
        return (["const"] if objective.fit_intercept else []) + names

    def _inference_parametrisation(self, objective):
        """Reported parameters: intercept first; softmax against output 0."""
        K, q = objective.n_outputs, objective.n_params_per_output
        # Column order of one output's reported terms: intercept (last in
        # theta) first, as statsmodels' add_constant puts it.
        order = ([q - 1] if objective.fit_intercept else []) + list(
            range(objective.n_features)
        )
        perm = torch.zeros((q, q), dtype=torch.float64)
        perm[torch.arange(q), torch.tensor(order)] = 1.0
        terms = self._inference_term_names(objective)
        if objective.loss.activation.name != "softmax":
            matrix = torch.kron(torch.eye(K, dtype=torch.float64), perm)
            equations = (
                None
                if K == 1
                else [
                    out
                    for out in self._inference_output_names(objective)
                    for _ in terms
                ]
            )
            return Parametrisation(matrix.to(objective.device), terms * K, equations, K)
        outputs = self._inference_output_names(objective)
        contrast = torch.cat(
            [
                -torch.ones((K - 1, 1), dtype=torch.float64),
                torch.eye(K - 1, dtype=torch.float64),
            ],
            dim=1,
        )
        matrix = torch.kron(contrast, perm)
        equations = [f"{out} vs {outputs[0]}" for out in outputs[1:] for _ in terms]
        note = (
            f"Reference-class parametrisation: each equation gives the log-odds of a "
            f"class against the reference class {outputs[0]!r} (coef_[k] - coef_[0]), "
            "as statsmodels' MNLogit; the K-unit softmax is not identifiable."
        )
        return Parametrisation(
            matrix.to(objective.device), terms * (K - 1), equations, K - 1, note
        )

    def _inference_nobs(self, objective):
        """Number of observations: the sum of the frequency weights."""
        return objective.weight_sum

    def _inference_loglike(self, objective, raw, scale=None):
        """Total log-likelihood: frequency-weighted sum of ``-loss``.

        ``scale`` is the dispersion to evaluate it at (None: the fit's own);
        unused without a dispersion.
        """
        S = self._inference_nobs(objective)
        return -S * float(
            torch.dot(objective.weight, objective.loss.value(raw, objective.target))
        )

    def _inference_has_margins(self, objective):
        """Whether the outputs are class probabilities (and so can separate)."""
        return objective.loss.activation.name in ("sigmoid", "softmax")

    def _inference_margins(self, objective, raw):
        """Per-sample margin of the observed class (see :meth:`_inference_has_margins`).

        Sigmoid: ``(2 y - 1) z``; softmax: ``z_y - max_{k != y} z_k``.
        """
        target = objective.target
        if objective.loss.activation.name == "sigmoid":
            return (2.0 * target[:, 0] - 1.0) * raw[:, 0]
        observed = (raw * target).sum(dim=1)
        others = raw.masked_fill(target > 0.5, -torch.inf).amax(dim=1)
        return observed - others

    def _inference_saturated_loglike(self, objective):
        return 0.0

    def _inference_null_raw(self, objective):
        return objective.null_raw()

    def _inference_scale(self, objective, raw):
        return 1.0
