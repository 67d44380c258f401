"""NeuronRegressor: one neuron with an identity or exp output as a regressor (a GLM)."""

from __future__ import annotations

import warnings
from numbers import Real

import numpy as np
import torch
from numpy.typing import ArrayLike
from sklearn.base import RegressorMixin
from sklearn.utils._param_validation import Interval, StrOptions
from sklearn.utils.metaestimators import available_if

from ._array_api import TensorScoreMixin, tensor_inputs, tensor_outputs
from ._base import BaseNeuron
from ._callbacks import with_callbacks
from ._dask.build import regressor_objective
from ._dask.detect import any_dask
from ._dask.predict import maps_dask_blocks
from ._inference.mixin import InferenceMixin
from ._loss.activations import get_activation
from ._loss.losses import REGRESSION_LOSSES, get_regression_loss
from ._loss.targets import check_target, in_target_domain
from ._objective.linear import LinearObjective
from ._validation import check_sample_weight, to_tensor, validate_arrays

try:  # scikit-learn >= 1.6 names the decorator this way
    from sklearn.base import _fit_context
except ImportError:  # pragma: no cover
    from sklearn.utils._param_validation import _fit_context


class NeuronRegressor(TensorScoreMixin, RegressorMixin, InferenceMixin, BaseNeuron):
    """One torch neuron as a regressor: a generalized linear model.

    A network with no hidden layer and one output unit whose activation is
    the inverse link of a GLM: the identity for ``"squared_error"``,
    ``"huber"`` and ``"absolute_error"``, the exponential (log link) for
    ``"poisson"``, ``"gamma"`` and ``"tweedie"``. It minimises, with the
    convention of scikit-learn's GLM regressors (PoissonRegressor,
    GammaRegressor, TweedieRegressor)::

        1 / (2 S) * sum_i s_i * deviance_i + alpha / 2 * ||w||_2^2

    where ``s_i`` is ``sample_weight``, ``S = sum_i s_i`` and the intercept
    is not penalized. The losses are half deviances (``deviance_i / 2``),
    so the same ``alpha`` gives the same coefficients as those estimators.

    **Mapping to Ridge**: for ``loss="squared_error"`` the objective times
    ``2 S`` is ``sum_i s_i (y_i - x_i w - b)^2 + S * alpha * ||w||^2``, which
    is :class:`~sklearn.linear_model.Ridge`'s objective with::

        alpha_ridge = S * alpha   (= n_samples * alpha without sample_weight)

    and ``alpha=0`` is :class:`~sklearn.linear_model.LinearRegression`.

    Parameters
    ----------
    loss : {"squared_error", "poisson", "gamma", "tweedie", "huber", \
            "absolute_error"} or callable, default="squared_error"
        Pointwise loss on the neuron's output, which fixes its activation:

        - ``"squared_error"``: ``(y - z)^2 / 2``, identity output; least
          squares (Ridge, LinearRegression).
        - ``"poisson"``: half Poisson deviance, exp output; y >= 0.
        - ``"gamma"``: half Gamma deviance, exp output; y > 0.
        - ``"tweedie"``: half Tweedie deviance of ``power``, exp output;
          y >= 0 for 0 < power < 2, y > 0 for power >= 2, any y for
          power <= 0.
        - ``"huber"``: ``(y - z)^2 / 2`` for ``|y - z| <= epsilon``,
          ``epsilon * (|y - z| - epsilon / 2)`` beyond; identity output.
        - ``"absolute_error"``: ``|y - z|``, identity output; median
          regression. Not differentiable: solved exactly (see Notes); no
          Newton.
        - a callable ``loss(raw, target) -> per-sample losses`` on torch
          tensors of shape (n_samples, 1), e.g.
          ``torch.nn.MSELoss(reduction="none")``; identity output, trained
          through autograd, not with ``optimizer="newton"``.

    power : float, default=1.5
        Power of the Tweedie deviance (``loss="tweedie"`` only): 0 is the
        squared error on the log link, 1 Poisson, 1.5 a compound
        Poisson-Gamma, 2 Gamma, 3 inverse Gaussian. Values in (0, 1), for
        which no Tweedie distribution exists, are refused.

    epsilon : float, default=1.35
        Threshold of the Huber loss (``loss="huber"`` only), **in the units
        of y**: residuals larger than ``epsilon`` count linearly. Unlike
        HuberRegressor's ``epsilon`` it is not relative to a fitted scale;
        standardize y, or set it from the residuals' spread.

    optimizer : {"auto", "lbfgs", "newton", "newton-cg"}, default="auto"
        How the objective is minimised, on the full batch. ``"newton"``
        (Newton with Cholesky-solved steps, i.e. IRLS) needs a loss with a
        (generalized) Hessian: every built-in loss but ``"absolute_error"``.
        ``"newton-cg"`` (Hessian-free Newton: steps solved by preconditioned
        conjugate gradients on exact Hessian-vector products, no Hessian
        formed) needs the same, and does not run on dask data.
        ``"auto"`` picks, in memory, the one of Newton, Newton-CG and L-BFGS
        of least predicted time whose memory estimate fits the budget
        (the user guide's "How auto chooses"), L-BFGS for losses without Hessian;
        ``optimizer_`` tells which ran. On dask data that are not persisted
        (read from storage at every evaluation), Newton up to 64 parameters:
        it reads the data once per iteration, for value, gradient and Hessian
        together, and needs fewer iterations. On dask data of 1,000,000 rows
        or more Newton starts from its fit on a subsample of the blocks
        (``docs/dask.md``).

    alpha : float, default=1.0
        Strength of the L2 penalty, with the meaning it has in
        scikit-learn's GLM regressors (whose default, 1.0, it shares);
        ``alpha=0`` is no penalty. See above for Ridge's ``alpha``.

    fit_intercept : bool, default=True
        Whether the layer has a bias (intercept), which is never penalized.

    tol : float, default=1e-4
        Stop when the largest absolute entry of the gradient of the
        objective above is at most ``tol``: the criterion and scale of the
        GLM regressors' ``lbfgs`` and ``newton-cholesky`` solvers. Floored at
        100 machine epsilons of the data's dtype; a full-batch fit of float32
        data in memory asked for less continues in float64 from there.

    max_iter : int, default=100
        Maximum number of optimizer iterations; a
        :class:`~sklearn.exceptions.ConvergenceWarning` says when it ended
        the fit before ``tol`` was met.

    warm_start : bool, default=False
        Start from the previous fit's coefficients.

    random_state : int, RandomState instance or None, default=None
        Seed of the stochastic parts of fitting; no effect on the
        full-batch optimizers.

    verbose : int, default=0
        When positive, log the objective and gradient at every iteration
        (epoch) to the ``"sklearn_neuron"`` logger, shown on stderr unless
        logging is configured otherwise (see the user guide, "Progress,
        history and callbacks").

    callbacks : list of callable or None, default=None
        Called after every iteration (epoch) with a dict: ``iteration``,
        ``objective``, ``grad_max`` (largest entry of the full gradient),
        ``step``, ``validation_score`` (with ``early_stopping``),
        ``elapsed`` (seconds) and ``solver``. A callable ``info -> bool``,
        or an object with ``on_iteration(info)`` (and optionally
        ``on_fit_begin`` / ``on_fit_end``) such as
        :class:`~sklearn_neuron.ProgressBar`. One that returns True stops
        the fit there, with a ConvergenceWarning; the coefficients reached
        are kept.

    device : str or torch.device, default="cpu"
        Where the data and the module live: "cpu", or "cuda".

    Attributes
    ----------
    coef_ : ndarray of shape (n_features,)
        Weights of the layer.
    intercept_ : float
        Bias of the layer (0.0 when ``fit_intercept=False``).
    module_ : NeuronModule
        The fitted torch module, on the CPU, built on first access from
        ``coef_`` (whose memory its weight shares; the bias is a copy of the
        float ``intercept_``), not saved with the estimator; ``forward`` returns the raw output
        ``x @ w + b``, ``module_.predict_mean(x)`` applies the activation.
    n_features_in_ : int
        Number of features seen during fit.
    feature_names_in_ : ndarray of shape (n_features_in_,)
        Names of the features, when X has string column names.
    n_iter_ : int
        Number of optimizer iterations run.
    objective_ : float
        Final value of the objective above (half the mean deviance plus the
        penalty; each loss includes its constant terms, so it is 0 for a
        perfect fit without penalty).
        On dask data a final Newton step may be certified instead of
        evaluated (docs/dask.md): the value is then the step's quadratic
        model, within 1e-9 relative of the objective at ``coef_``.
    objective_curve_ : ndarray of shape (n_iter_ + 1,)
        Objective at the start and after each iteration (for the exact
        absolute-error solver, ``optimizer_ == "lad"``, after each stage).
    converged_ : bool
        Whether the fit met ``tol``.
    optimizer_ : str
        The optimizer that ran (``"auto"`` resolved).
    history_ : list of dict
        One record per iteration (epoch) of the fit, the starting point
        first, with the keys the callbacks receive; ``partial_fit`` appends
        one per call. :func:`~sklearn_neuron.history_column` takes a
        column as an array.
    training_fingerprint_ : dict
        A few sums of the training data of ``fit`` (not ``partial_fit``), by
        which ``inference`` and ``summary`` check that they are given the
        data the model was fitted on.

    See Also
    --------
    sklearn.linear_model.Ridge, sklearn.linear_model.PoissonRegressor,
    sklearn.linear_model.GammaRegressor, sklearn.linear_model.TweedieRegressor,
    sklearn.linear_model.QuantileRegressor : The same models, fitted by
        scikit-learn.

    Notes
    -----
    Data in float32 is fitted in float32, anything else in float64.
    ``score`` is the coefficient of determination R^2 (RegressorMixin), not
    the GLM regressors' D^2.

    ``inference`` and ``summary`` (unpenalized fits) match statsmodels' GLM
    with the family of the loss: Gaussian (identity link), Poisson, Gamma and
    Tweedie of ``power`` (log link), the dispersion estimated as Pearson's
    chi2 / df_resid (except Poisson's, 1) and the covariance the inverse
    expected information times it. The Tweedie log-likelihood (llf, AIC,
    BIC, pseudo-R2, likelihood-ratio tests) exists for ``1 <= power <= 2``
    only, like statsmodels' Tweedie family (at ``power=1`` its convention,
    the Poisson log-likelihood divided by the dispersion); for other powers
    those statistics raise a ValueError and the Wald statistics and the
    deviance remain. Sample weights are frequency weights.

    ``loss="absolute_error"`` has its minimum at a kink and is solved
    exactly (``optimizer_ == "lad"``): without L2 term (``alpha=0``, or
    ``l1_ratio=1``: QuantileRegressor(quantile=0.5, alpha=alpha / 2)) as a
    linear program by HiGHS, on its dual; with an L2 term (``l1_ratio=0``)
    by Huber smoothings whose optimality conditions are then verified
    exactly. ``0 < l1_ratio < 1`` is refused there.

    Examples
    --------
    >>> from sklearn.datasets import load_diabetes
    >>> from sklearn.linear_model import PoissonRegressor
    >>> from sklearn.preprocessing import StandardScaler
    >>> from sklearn_neuron import NeuronRegressor
    >>> X, y = load_diabetes(return_X_y=True)
    >>> X = StandardScaler().fit_transform(X)
    >>> neuron = NeuronRegressor("poisson", alpha=0.01, tol=1e-8).fit(X, y)
    >>> glm = PoissonRegressor(alpha=0.01, tol=1e-8).fit(X, y)
    >>> bool(abs(neuron.coef_ - glm.coef_).max() < 1e-6)
    True
    """

    _parameter_constraints: dict = {
        **BaseNeuron._parameter_constraints,
        "loss": [StrOptions(set(REGRESSION_LOSSES)), callable],
        "power": [
            Interval(Real, None, 0, closed="right"),
            Interval(Real, 1, None, closed="left"),
        ],
        "epsilon": [Interval(Real, 0, None, closed="neither")],
        "alpha": [Interval(Real, 0, None, closed="left")],
    }

    def __init__(
        self,
        loss="squared_error",
        *,
        power=1.5,
        epsilon=1.35,
        optimizer="auto",
        alpha=1.0,
        l1_ratio=0.0,
        optimizer_kwargs=None,
        learning_rate="auto",
        batch_size="auto",
        shuffle=True,
        n_iter_no_change=10,
        early_stopping=False,
        validation_fraction=0.1,
        fit_intercept=True,
        tol=1e-4,
        max_iter=100,
        warm_start=False,
        random_state=None,
        verbose=0,
        callbacks=None,
        device="cpu",
    ):
        self.loss = loss
        self.power = power
        self.epsilon = epsilon
        self.optimizer = optimizer
        self.alpha = alpha
        self.l1_ratio = l1_ratio
        self.optimizer_kwargs = optimizer_kwargs
        self.learning_rate = learning_rate
        self.batch_size = batch_size
        self.shuffle = shuffle
        self.n_iter_no_change = n_iter_no_change
        self.early_stopping = early_stopping
        self.validation_fraction = validation_fraction
        self.fit_intercept = fit_intercept
        self.tol = tol
        self.max_iter = max_iter
        self.warm_start = warm_start
        self.random_state = random_state
        self.verbose = verbose
        self.callbacks = callbacks
        self.device = device

    def _get_loss(self):
        return get_regression_loss(self.loss, power=self.power, epsilon=self.epsilon)

    @tensor_inputs
    @_fit_context(prefer_skip_nested_validation=True)
    def fit(
        self,
        X: ArrayLike,
        y: ArrayLike,
        sample_weight: ArrayLike | None = None,
        offset: ArrayLike | None = None,
        exposure: ArrayLike | None = None,
    ) -> NeuronRegressor:
        """Fit the neuron to the training data.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Training data.
        y : array-like of shape (n_samples,)
            Target values.
        sample_weight : array-like of shape (n_samples,), default=None
            Non-negative weights of the samples; ``None`` weighs all equally.
        offset : array-like of shape (n_samples,), default=None
            A known term added to each sample's linear predictor, with
            coefficient 1 (statsmodels' GLM ``offset``): the mean is
            ``inverse_link(X @ coef_ + intercept_ + offset)``.
        exposure : array-like of shape (n_samples,), default=None
            For the log-link losses ("poisson", "gamma", "tweedie"): positive
            exposures (time at risk, population), the offset ``log(exposure)``,
            so that the model is of the rate ``y / exposure``. Not with ``offset``.

        Returns
        -------
        self : NeuronRegressor
            The fitted estimator.
        """
        with self._discard_state_on_error():
            objective = self._build_objective(
                X, y, sample_weight, reset=True, offset=offset, exposure=exposure
            )
            return self._fit_objective(objective, data=(X, y, sample_weight))

    @available_if(BaseNeuron._is_stochastic)
    @tensor_inputs
    @with_callbacks
    def partial_fit(
        self,
        X: ArrayLike,
        y: ArrayLike,
        sample_weight: ArrayLike | None = None,
        offset: ArrayLike | None = None,
    ) -> NeuronRegressor:
        """One epoch of minibatch training on (X, y), continuing the previous ones.

        Only for the minibatch optimizers; plain steps, whose state carries
        over between calls of the same optimizer (a fit by another leaves none).

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)
        y : array-like of shape (n_samples,)
        sample_weight : array-like of shape (n_samples,), default=None
        offset : array-like, default=None
            This batch's offsets, as in :meth:`fit`.

        Returns
        -------
        self : NeuronRegressor
        """
        first_call = not hasattr(self, "coef_")
        if first_call:
            self._validate_params()
            with self._discard_state_on_error():
                objective = self._build_objective(
                    X, y, sample_weight, reset=True, offset=offset
                )
                return self._partial_fit_objective(
                    objective, first_call=True, data=(X, y, sample_weight)
                )
        objective = self._build_objective(X, y, sample_weight, reset=False, offset=offset)
        return self._partial_fit_objective(
            objective, first_call=False, data=(X, y, sample_weight)
        )

    def _exposure_refusal(self):
        if self._get_loss().activation.name == "exp":
            return None
        return (
            f"exposure is the offset log(exposure) of a log link; loss={self.loss!r} "
            "has the identity link. Pass offset= (on the scale of y) instead, or use "
            "a log-link loss ('poisson', 'gamma', 'tweedie')."
        )

    def _shape_coefficients(self):
        """One output unit: scikit-learn regressors' shapes for coef_ and intercept_."""
        self.coef_ = self.coef_.reshape(-1)
        self.intercept_ = float(self.intercept_.reshape(-1)[0])

    def _build_objective(
        self, X, y, sample_weight, *, reset, check_finite=True, offset=None, exposure=None
    ):
        """Validate the data and build the objective this estimator minimises.

        With ``reset=True`` (fit) the features are learnt; with
        ``reset=False`` the data are checked against the fitted ones (how
        inference rebuilds the fitted objective on the training data).
        ``check_finite=False`` leaves the finiteness of X to the caller.
        """
        if exposure is not None and self._exposure_refusal() is not None:
            raise ValueError(self._exposure_refusal())
        if any_dask(X, y, sample_weight, offset, exposure):  # reductions, never gathered
            return regressor_objective(
                self, X, y, sample_weight, reset=reset, check_finite=check_finite,
                offset=offset, exposure=exposure,
            )
        X, y = validate_arrays(
            self, X, y, reset=reset, ensure_all_finite=check_finite, y_numeric=True
        )
        y = np.asarray(y, dtype=X.dtype)
        loss = self._get_loss()
        check_target(loss, y)
        sample_weight = check_sample_weight(sample_weight, X, X.dtype)

        device = self._device()
        X_t, sparse_rows = self._design(X, device, reset=reset)
        target = to_tensor(y, device).reshape(-1, 1)  # y may be read-only (pandas 3)
        weight = to_tensor(sample_weight, device, X_t.dtype)
        offset = self._offset_array(offset, exposure, X.shape[0], 1, X.dtype)
        # sum_i s_i loss_i / S + alpha/2 ||w||^2 is the GLM objective itself;
        # l1_ratio splits alpha as in ElasticNet.
        return LinearObjective(
            X_t,
            target,
            weight,
            loss,
            self.alpha * (1 - self.l1_ratio),
            self.fit_intercept,
            l1=self.alpha * self.l1_ratio,
            sparse_rows=sparse_rows,
            offset=None if offset is None else to_tensor(offset, device, X_t.dtype),
        )

    @tensor_outputs
    @maps_dask_blocks
    def predict(
        self, X: ArrayLike, offset: ArrayLike | None = None, exposure: ArrayLike | None = None
    ) -> np.ndarray:
        """Predicted mean of y: the neuron's activated output.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
        offset : array-like of shape (n_samples,), default=None
            Added to the linear predictor, as in :meth:`fit`.
        exposure : array-like of shape (n_samples,), default=None
            The offset ``log(exposure)`` (log-link losses), as in :meth:`fit`:
            the predicted mean count is then the rate times the exposure.

        Returns
        -------
        y_pred : ndarray of shape (n_samples,)
        """
        raw = torch.from_numpy(self._raw_output(X, offset, exposure)[:, 0])
        mean = get_activation(self._activation)(raw)
        if not bool(torch.isfinite(mean).all()):
            overflow = int((torch.isfinite(raw) & ~torch.isfinite(mean)).sum())
            if overflow:
                warnings.warn(
                    f"{overflow} predicted means overflow to inf: exp(X @ coef_ + "
                    f"intercept_) exceeds {raw.dtype} range for those samples (raw "
                    f"output up to {float(raw.max()):.4g}). Check the scale of X "
                    "against the training data's (e.g. the same StandardScaler).",
                    UserWarning,
                    stacklevel=2,
                )
        return mean.numpy()

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        try:
            loss = self._get_loss()
            tags.target_tags.positive_only = not in_target_domain(
                loss.target_domain, np.array([-1.0])
            )
        except (KeyError, TypeError, ValueError):  # invalid parameters: default tags
            pass
        return tags
