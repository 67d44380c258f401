"""The estimators' inference methods: ``inference``, ``summary``, ``marginal_effects``.

:class:`InferenceMixin` gives a fitted neuron estimator the statsmodels-like
methods. They are thin: build the objective on the training data (checked
against the fit's fingerprint), describe the estimator as data
(:func:`~.description.describe`) and hand both to
:class:`~.results.InferenceResults` (:class:`~.firth.FirthInferenceResults` for a
Firth fit). Inference never calls back into the estimator.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from numpy.typing import ArrayLike
from sklearn.utils.validation import check_is_fitted

from .._array_api import tensor_inputs
from .._objective.fingerprint import check_training_data
from .._warnings import PenalizedInferenceWarning
from .description import describe
from .firth import FirthInferenceResults
from .margins import MarginalEffects, check_margins_options
from .results import InferenceResults
from .robust import check_groups
from .summary import InferenceSummary


class InferenceMixin:
    """Give a fitted neuron estimator ``inference`` and ``summary`` methods.

    The estimator provides ``_build_objective(X, y, sample_weight, reset=False,
    check_finite=False)`` and ``_fitted_theta(objective)``; what inference
    reports of it (names, classes, penalty) is read from its public fitted
    attributes and parameters (:func:`~.description.describe`), and the
    statistics from the family of its loss. A softmax layer of K units is
    reported in the reference-class parametrisation (output 0 is the
    reference), in which it is identifiable. The mixin sets no attribute.
    """

    if TYPE_CHECKING:  # what the estimator provides
        l1_ratio: float | None
        _build_objective: Callable[..., Any]
        _fitted_theta: Callable[..., Any]

    @tensor_inputs
    def inference(
        self, X: ArrayLike, y: ArrayLike, sample_weight: ArrayLike | None = None, *,
        offset: ArrayLike | None = None, exposure: ArrayLike | None = None,
        cov_type: str = "nonrobust", groups: ArrayLike | None = None,
    ) -> InferenceResults:
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
        theta = self._fitted_theta(objective)
        weighted = sample_weight is not None or getattr(self, "class_weight", None) is not None
        description = describe(self, objective, y=y, weighted=weighted)
        if objective.l2 > 0:
            warnings.warn(
                f"{type(self).__name__} was fitted with a penalty ({description.penalty}): "
                "standard errors come from the penalized Hessian, and the Wald "
                "statistics, p-values and confidence intervals are not valid for "
                "penalized fits (the estimates are biased towards zero). Refit with "
                f"{description.penalty_off} for valid inference.",
                PenalizedInferenceWarning,
                stacklevel=2,
            )
        # Firth's penalized likelihood reports its own statistics (logistf's).
        results = FirthInferenceResults if objective.firth else InferenceResults
        return results(description, objective, theta, cov_type=cov_type, groups=groups)

    @tensor_inputs
    def summary(
        self, X: ArrayLike, y: ArrayLike, sample_weight: ArrayLike | None = None, *,
        offset: ArrayLike | None = None, exposure: ArrayLike | None = None,
        cov_type: str = "nonrobust", groups: ArrayLike | None = None, alpha: float = 0.05,
    ) -> InferenceSummary:
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
        self, X: ArrayLike, y: ArrayLike, sample_weight: ArrayLike | None = None, *,
        offset: ArrayLike | None = None, exposure: ArrayLike | None = None,
        at: str = "overall", method: str = "dydx", cov_type: str = "nonrobust",
        groups: ArrayLike | None = None, alpha: float = 0.05,
    ) -> MarginalEffects:
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
        check_margins_options(at, method, alpha)
        results = self.inference(
            X, y, sample_weight, offset=offset, exposure=exposure, cov_type=cov_type,
            groups=groups,
        )
        return MarginalEffects(results, at=at, method=method, alpha=alpha)
