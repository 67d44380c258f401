"""What every neuron estimator shares: parameters, the fit loop, fitted state.

An estimator subclass validates its data, builds a
:class:`~sklearn_neuron._objective.LinearObjective` and hands it to
:meth:`BaseNeuron._fit_objective`, which runs the optimizer, warns when it
stopped early and stores the fitted module and coefficients.
"""

import warnings
from contextlib import contextmanager
from numbers import Integral, Real

import numpy as np
import torch
from sklearn.base import BaseEstimator
from sklearn.exceptions import ConvergenceWarning
from sklearn.utils._param_validation import Interval, StrOptions
from sklearn.utils.validation import check_is_fitted, validate_data

from ._module import NeuronModule
from ._optimizers import OPTIMIZERS, SECOND_ORDER, effective_tol, resolve_optimizer
from ._validation import resolve_device, to_tensor


class BaseNeuron(BaseEstimator):
    """Base class of the neuron estimators (not for direct use)."""

    _parameter_constraints: dict = {
        "optimizer": [StrOptions({"auto", *OPTIMIZERS})],
        "fit_intercept": ["boolean"],
        "tol": [Interval(Real, 0, None, closed="left")],
        "max_iter": [Interval(Integral, 1, None, closed="left")],
        "warm_start": ["boolean"],
        "random_state": ["random_state"],
        "verbose": ["verbose"],
        "device": [str, torch.device],
    }

    # -- fitting -------------------------------------------------------------
    @contextmanager
    def _discard_state_on_error(self):
        """Leave no half-fitted state behind when a fit fails.

        Validation sets ``n_features_in_`` and ``classes_`` before the
        optimizer runs; if anything then fails, every fitted attribute is
        removed, so that the estimator reads as unfitted rather than as a
        fit that never happened.
        """
        try:
            yield
        except BaseException:
            for name in [n for n in vars(self) if n.endswith("_") and not n.startswith("__")]:
                delattr(self, name)
            raise

    def _resolve_optimizer(self, objective):
        """The optimizer to run for this objective, checked against its loss."""
        loss = objective.loss
        if self.optimizer == "auto" and not loss.twice_differentiable:
            return "lbfgs"
        name = resolve_optimizer(self.optimizer, objective.X.shape[0], objective.n_params)
        if name in SECOND_ORDER and not loss.twice_differentiable:
            raise ValueError(
                f"optimizer={name!r} needs a twice-differentiable loss, "
                f"and loss={loss.name!r} is not; use optimizer='lbfgs'."
            )
        return name

    def _optimizer_function(self, name):
        """The function that runs optimizer ``name`` (a hook for estimator-specific ones)."""
        return OPTIMIZERS[name]

    def _initial_theta(self, objective):
        """The previous solution when ``warm_start`` allows it, else a cold start."""
        if self.warm_start and hasattr(self, "coef_"):
            coef = np.asarray(self.coef_)
            if coef.size == objective.n_outputs * objective.n_features:
                intercept = self.intercept_ if objective.fit_intercept else None
                return objective.center(objective.pack(coef, intercept))
        return objective.initial_theta()

    def _fit_objective(self, objective):
        """Minimise ``objective`` and store the fitted state on ``self``."""
        optimizer = self._resolve_optimizer(objective)
        result = self._optimizer_function(optimizer)(
            objective,
            self._initial_theta(objective),
            tol=self.tol,
            max_iter=self.max_iter,
            verbose=self.verbose,
            name=f"{type(self).__name__}/{optimizer}",
        )
        theta = objective.center(result.theta)
        if not np.isfinite(result.objective_curve[-1]):
            raise ValueError(
                f"The objective of {type(self).__name__} is not finite "
                f"({result.objective_curve[-1]}) after fitting; the data may "
                "overflow the dtype. Scale the features, e.g. with StandardScaler."
            )
        if not result.converged:
            warnings.warn(
                f"{type(self).__name__} (optimizer={optimizer!r}) stopped after "
                f"{result.n_iter} iterations without reaching the tolerance: "
                f"max|gradient| = {result.grad_max:.3g} > tol = "
                f"{effective_tol(self.tol, theta.dtype):.3g}; reason: "
                f"{result.stop_reason}. Increase max_iter (now {self.max_iter}), "
                "scale the features (e.g. with StandardScaler), or loosen tol.",
                ConvergenceWarning,
            )
        coef, intercept = objective.unpack(theta)
        self.module_ = NeuronModule.from_coefficients(
            coef, intercept, objective.loss.activation.name
        )
        self.coef_ = coef.detach().cpu().numpy().copy()
        self.intercept_ = (
            intercept.detach().cpu().numpy().copy()
            if intercept is not None
            else np.zeros(objective.n_outputs, dtype=self.coef_.dtype)
        )
        self.n_iter_ = int(result.n_iter)
        self.objective_curve_ = np.asarray(result.objective_curve, dtype=float)
        self.objective_ = float(self.objective_curve_[-1])
        self.converged_ = bool(result.converged)
        self.optimizer_ = optimizer
        return self

    def _fitted_theta(self, objective):
        """The fitted coefficients and intercepts as ``objective``'s flat ``theta``."""
        check_is_fitted(self)
        intercept = self.intercept_ if objective.fit_intercept else None
        return objective.pack(self.coef_, intercept)

    # -- prediction ------------------------------------------------------------
    def _raw_output(self, X):
        """Validated X through ``module_``: raw output, numpy (n_samples, n_outputs)."""
        check_is_fitted(self)
        X = validate_data(self, X, dtype=[np.float64, np.float32], reset=False)
        parameter = self.module_.linear.weight
        with torch.no_grad():
            raw = self.module_(to_tensor(X, parameter.device, parameter.dtype))
        return raw.cpu().numpy()

    def _device(self):
        return resolve_device(self.device)
