"""What every neuron estimator shares: parameters, the fit's steps, fitted state.

An estimator subclass validates its data, builds its objective
(:class:`~sklearn_neuron._objective.protocol.Objective`) and hands it to
:meth:`BaseNeuron._fit_objective` (or :meth:`BaseNeuron._partial_fit_objective`),
which asks :mod:`~sklearn_neuron._solvers.dispatch` to minimise it (the
solver's choice, its settings and its convergence messages live there; a fit
is a regularization path of one point, :mod:`~sklearn_neuron._solvers.path`),
warns when it stopped early and stores the fitted coefficients. Everything
numerical lives elsewhere: ``_objective/`` (value, gradient, Hessian) and
``_solvers/`` (Newton, L-BFGS, OWL-QN, minibatch training, hinge, LAD).
"""

from __future__ import annotations

import functools
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from numbers import Integral, Real
from typing import Any

import numpy as np
import scipy.sparse
import torch
from sklearn.base import BaseEstimator
from sklearn.exceptions import ConvergenceWarning
from sklearn.utils._param_validation import Interval, StrOptions, make_constraint
from sklearn.utils.validation import check_is_fitted

from ._array_api import to_numpy
from ._callbacks import (
    CallbackSupportMixin,
    FitTask,
    Monitor,
    iterate_attributes,
)
from ._loss.losses import loss_for_pickle
from ._module import NeuronModule
from ._objective.fingerprint import data_fingerprint
from ._solvers.diagnostics import check_separation, check_underflow, not_finite_message
from ._solvers.dispatch import (
    OPTIMIZERS,
    SolverSettings,
    convergence_message,
    iterates_are_coefficients,
    minus_objective,
    run_one_pass,
)
from ._solvers.path import penalty_strengths, regularization_path
from ._solvers.stochastic import STOCHASTIC_OPTIMIZERS
from ._state import state_from_numpy, state_to_numpy
from ._validation import (
    check_offset,
    design_tensor,
    resolve_device,
    single_threaded,
    validate_arrays,
)


@functools.cache
def _param_names(cls):
    return tuple(BaseEstimator._get_param_names.__func__(cls))


@functools.cache
def _constraint_objects(cls):
    """``cls._parameter_constraints`` as constraint objects, per parameter of ``__init__``."""
    constraints = cls._parameter_constraints
    return tuple(
        (name, tuple(make_constraint(c) for c in constraints[name]))
        for name in _param_names(cls)
        if name in constraints and constraints[name] != "no_validation"
    )


class BaseNeuron(CallbackSupportMixin, BaseEstimator):
    """Base class of the neuron estimators (not for direct use)."""

    _parameter_constraints: dict = {
        "optimizer": [StrOptions({"auto", *OPTIMIZERS, *STOCHASTIC_OPTIMIZERS}), type],
        "optimizer_kwargs": [dict, None],
        "learning_rate": [Interval(Real, 0, None, closed="neither"), StrOptions({"auto"})],
        "batch_size": [Interval(Integral, 1, None, closed="left"), StrOptions({"auto"})],
        "shuffle": ["boolean"],
        "n_iter_no_change": [Interval(Integral, 1, None, closed="left")],
        "early_stopping": ["boolean"],
        "validation_fraction": [Interval(Real, 0, 1, closed="neither")],
        "l1_ratio": [Interval(Real, 0, 1, closed="both")],
        "fit_intercept": ["boolean"],
        "tol": [Interval(Real, 0, None, closed="left")],
        "max_iter": [Interval(Integral, 1, None, closed="left")],
        "warm_start": ["boolean"],
        "random_state": ["random_state"],
        "verbose": ["verbose"],
        "callbacks": [list, None],
        "device": [str, torch.device],
    }

    @classmethod
    def _get_param_names(cls):
        # scikit-learn reads the signature of __init__ on every get_params
        # call (each fit validates the parameters through it); it does not
        # change, so it is read once per class.
        return list(_param_names(cls))

    def _validate_params(self):
        # scikit-learn rebuilds every constraint object on each call, a
        # noticeable share of a small fit (benchmarks/RESULTS.md, NeuronClassifier
        # vs LogisticRegression); the objects are stateless, so they are built
        # once per class. Any violation is
        # reported by scikit-learn's own validation, with its message.
        for name, constraints in _constraint_objects(type(self)):
            value = getattr(self, name)
            if not any(constraint.is_satisfied_by(value) for constraint in constraints):
                super()._validate_params()
                return

    # -- the solver's settings -------------------------------------------------------
    def _is_stochastic(self) -> bool:
        """Whether ``optimizer`` trains by minibatches (torch.optim)."""
        return isinstance(self.optimizer, type) or self.optimizer in STOCHASTIC_OPTIMIZERS

    def _optimizer_label(self) -> str:
        return self.optimizer.__name__ if isinstance(self.optimizer, type) else self.optimizer

    def _solver_settings(self) -> SolverSettings:
        """This estimator's solver parameters, for :mod:`~sklearn_neuron._solvers.dispatch`."""
        return SolverSettings.of(
            self, validation_score=self._validation_score, stratify=self._stratify_labels
        )

    def _stratify_labels(self, objective: Any) -> np.ndarray | None:
        """Labels that early stopping's held-out split keeps the proportions of (none here)."""
        return None

    def _validation_score(self, objective: Any, theta: torch.Tensor) -> float:
        """Score of ``theta`` on held-out data (higher is better): minus its objective."""
        return minus_objective(objective, theta)

    # -- data ----------------------------------------------------------------------
    def _design(self, X, device, *, reset):
        """X as the tensor the objective uses, plus its scipy CSR form when sparse."""
        tensor = design_tensor(X, device)
        sparse_rows = X.tocsr() if scipy.sparse.issparse(X) else None
        return tensor, sparse_rows

    def _penalty_strengths(self, C_times_weight_sum: float) -> tuple[float, float]:
        """(l2, l1) of the objective for an inverse strength ``C * sum(s_i)``."""
        return penalty_strengths(C_times_weight_sum, self.l1_ratio, type(self).__name__)

    # -- fitting -------------------------------------------------------------------
    @contextmanager
    def _discard_state_on_error(self) -> Iterator[None]:
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

    def _initial_theta(self, objective: Any) -> torch.Tensor:
        """The previous solution when ``warm_start`` allows it, else a cold start."""
        if self.warm_start and hasattr(self, "coef_"):
            coef = self._dense_coef()
            if coef.size == objective.n_outputs * objective.n_features:
                intercept = to_numpy(self.intercept_) if objective.fit_intercept else None
                return objective.center(objective.pack(coef, intercept))
        return objective.initial_theta()

    def _fit_objective(self, objective: Any, data: tuple = ()) -> BaseNeuron:
        """Minimise ``objective`` and store the fitted state on ``self``.

        The fit is the regularization path of one point, the objective's own
        penalty, from :meth:`_initial_theta` (``warm_start``). ``data``:
        ``(X, y, sample_weight)`` as passed to ``fit``, for scikit-learn's
        callbacks (``set_callbacks``).
        """
        settings = self._solver_settings()
        theta = self._initial_theta(objective)
        monitor = Monitor.for_estimator(self, data=data)
        if monitor.task is not None and iterates_are_coefficients(objective, settings):
            monitor.fitted_iterates(functools.partial(iterate_attributes, self, objective))
        one_thread = objective.is_sparse or settings.stochastic or objective.is_small
        with single_threaded(one_thread, objective.device):
            (point,) = regularization_path(
                objective, [None], settings, start=theta, monitor=lambda _: monitor
            )
        optimizer, result = point.optimizer, point.result
        monitor.end(result)
        # A non-finite end is refused by _store, which says why (not "iterate more").
        if not result.converged and np.isfinite(result.objective_curve[-1:]).all():
            warnings.warn(
                convergence_message(settings, optimizer, result, theta.dtype),
                ConvergenceWarning,
                stacklevel=3,
            )
        self._store(objective, result, optimizer)
        # Unpenalized fits whose stopping rule holds away from an optimum.
        check_underflow(objective, type(self).__name__, stacklevel=4)
        check_separation(objective, result.theta, type(self).__name__, stacklevel=4)
        self.n_iter_ = int(result.n_iter)
        self.history_ = monitor.history
        self.training_fingerprint_ = data_fingerprint(objective)  # inference checks it
        monitor.fitted()
        return self

    def _partial_fit_objective(
        self, objective: Any, first_call: bool, data: tuple = ()
    ) -> BaseNeuron:
        """One pass of minibatch steps over this call's data, continuing the previous ones.

        Atomic: the fitted state (coefficients, optimizer state, counters)
        changes only once the pass has completed. ``data`` as for
        :meth:`_fit_objective`.
        """
        settings = self._solver_settings()
        label = settings.label
        if first_call:
            theta = self._first_partial_fit_theta(objective)
            state, n_calls, t = None, 0, 0
        else:
            theta = self._fitted_theta(objective)
            # After a fit by another optimizer (set_params in between) there is
            # no state to continue: this one starts afresh from the coefficients.
            state = None
            if self.optimizer_ == label and hasattr(self, "optimizer_state_"):
                state = state_from_numpy(self.optimizer_state_)
            n_calls, t = self.n_iter_, getattr(self, "t_", 0)
        # One record per call, after the previous calls' (a copy: atomic).
        monitor = Monitor.for_estimator(
            self, history=None if first_call else list(getattr(self, "history_", [])),
            # One pass is one leaf task of scikit-learn's callback protocol
            # (as StandardScaler.partial_fit's), with no iteration subtasks.
            task=FitTask.root(self, *data, max_subtasks=0),
        )
        with single_threaded(True, objective.device):
            result = run_one_pass(
                objective, theta, settings, optimizer_state=state, n_calls=n_calls,
                monitor=monitor,
            )
        monitor.end(result)
        self._store(objective, result, label)
        self.history_ = monitor.history
        self.__dict__.pop("training_fingerprint_", None)  # a stream: no one training set
        self.n_iter_ = n_calls + 1
        self.t_ = t + result.n_samples_seen
        monitor.fitted()
        return self

    def _first_partial_fit_theta(self, objective: Any) -> torch.Tensor:
        """Cold start of a stream (the classifier refines it)."""
        return objective.initial_theta()

    def _store(self, objective, result, optimizer):
        """Store the fitted state of ``result`` (all fitted attributes are set here)."""
        theta = objective.center(result.theta)
        if optimizer in OPTIMIZERS and result.objective_curve:
            # Newton, L-BFGS: the last value is the objective at theta (centring
            # moves only along directions the objective does not see).
            objective_value = float(result.objective_curve[-1])
        elif np.isfinite(getattr(result, "final_value", np.nan)):
            # A minibatch fit's last full-batch snapshot is at theta.
            objective_value = result.final_value
        else:
            # Another solver's curve, or early stopping's best epoch: evaluate.
            objective_value = objective.full_value(theta)
        if not np.isfinite(objective_value):
            raise ValueError(not_finite_message(
                objective,
                f"The objective of {type(self).__name__} is not finite ({objective_value}) "
                "after fitting",
            ))
        coef, intercept = objective.unpack(theta)
        self._set_coefficients(coef, intercept, objective.loss.activation.name)
        self.objective_curve_ = np.asarray(result.objective_curve, dtype=float)
        self.objective_ = objective_value
        self.converged_ = bool(result.converged)
        self.optimizer_ = optimizer
        if self._is_stochastic():
            self.loss_curve_ = self.objective_curve_
            # (The hinge's solver returns a plain OptimizeResult.)
            self.validation_scores_ = list(getattr(result, "validation_scores", [])) or None
            self.optimizer_state_ = state_to_numpy(getattr(result, "optimizer_state", {}))
            self.t_ = getattr(result, "n_samples_seen", 0)

    def _set_coefficients(self, coef, intercept, activation):
        """Store ``coef_``/``intercept_`` (numpy copies, on the CPU) from (K, q) and (K,) tensors.

        The fitted state is numpy; ``module_`` is built from it on demand,
        sharing its memory (see the ``module_`` property).
        """
        vars(self).pop("_module", None)
        self._activation = activation
        self.coef_ = torch.as_tensor(coef).detach().cpu().numpy().copy()
        self.intercept_ = (
            torch.as_tensor(intercept).detach().cpu().numpy().copy()
            if intercept is not None
            else np.zeros(self.coef_.shape[0], dtype=self.coef_.dtype)
        )
        self._shape_coefficients()

    def _shape_coefficients(self):
        """Give ``coef_`` and ``intercept_`` the estimator's public shapes.

        They are stored as (n_outputs, n_features) and (n_outputs,), the
        classifier's shapes; a subclass with other conventions reshapes here.
        """

    def _fitted_theta(self, objective):
        """The fitted coefficients and intercepts as ``objective``'s flat ``theta``."""
        check_is_fitted(self)
        intercept = self.intercept_ if objective.fit_intercept else None
        return objective.pack(self._dense_coef(), intercept)

    def _dense_coef(self):
        """``coef_`` as a numpy array, also after ``sparsify`` (a dense copy then)."""
        coef = to_numpy(self.coef_)
        return coef.toarray() if scipy.sparse.issparse(coef) else coef

    # -- the torch module and prediction -------------------------------------------
    def _coefficient_arrays(self):
        """``coef_`` as (n_outputs, n_features) and the intercepts (n_outputs,) or None.

        Views of the fitted arrays where their shapes allow (``coef_`` unless
        sparsified; the classifier's ``intercept_``); the regressor's float
        ``intercept_`` is a new one-element array.
        """
        coef = self._dense_coef().reshape(-1, self.n_features_in_)
        if not self.fit_intercept:
            return coef, None
        intercept = to_numpy(self.intercept_)
        if isinstance(intercept, np.ndarray):
            return coef, intercept.reshape(-1)
        return coef, np.array([intercept], dtype=coef.dtype)

    @property
    def module_(self):
        """The fitted torch module (:class:`NeuronModule`), on the CPU.

        Built on first access from ``coef_`` and ``intercept_``, whose memory
        its weight (and the classifier's bias) shares: training the module
        further in torch moves ``coef_``, and predictions, computed from the
        fitted arrays, follow. It is not saved with the estimator (pickle,
        joblib, skops keep the numpy arrays), so a model fitted on CUDA loads
        and predicts on a machine without one.
        """
        module = vars(self).get("_module")
        if module is None:
            check_is_fitted(self)
            coef, intercept = self._coefficient_arrays()
            module = NeuronModule.from_coefficients(
                torch.from_numpy(coef),
                None if intercept is None else torch.from_numpy(intercept),
                self._activation,
                copy=False,
            )
            vars(self)["_module"] = module
        return module

    def __getstate__(self):
        state = super().__getstate__()
        return {
            # A lambda loss is carried by value, or refused by name (loss_for_pickle).
            name: loss_for_pickle(value) if name == "loss" else value
            for name, value in state.items()
            if name != "_module"
        }

    def _prediction_device(self):
        """The device of the fit, or the CPU where this machine lacks it."""
        try:
            return resolve_device(self.device)
        except ValueError:
            return torch.device("cpu")

    def _offset_array(self, offset, exposure, n_samples, n_outputs, dtype):
        """The validated offset (n_samples, n_outputs) as numpy, or None (see ``check_offset``).

        ``exposure`` is taken only by estimators whose ``_exposure_refusal``
        is None (log links, where it is the offset ``log(exposure)``).
        """
        if exposure is not None:
            refusal = self._exposure_refusal()
            if refusal is not None:
                raise ValueError(refusal)
        return check_offset(
            to_numpy(offset, "offset"), n_samples, n_outputs, dtype,
            exposure=to_numpy(exposure, "exposure"),
        )

    def _exposure_refusal(self):
        """Why ``exposure`` is refused, or None where the link is the log."""
        return (
            f"exposure is for models with a log link, where it is the offset "
            f"log(exposure); {type(self).__name__} has none. Pass offset= instead."
        )

    def _raw_output(self, X, offset=None, exposure=None):
        """Validated X times the fitted coefficients, plus ``offset``: raw output,
        numpy (n_samples, n_outputs)."""
        check_is_fitted(self)
        X = validate_arrays(self, X, reset=False)
        coef, intercept = self._coefficient_arrays()
        offset = self._offset_array(offset, exposure, X.shape[0], coef.shape[0], coef.dtype)
        device = self._prediction_device()
        weight = torch.from_numpy(coef).to(device)
        bias = None if intercept is None else torch.from_numpy(intercept).to(device)
        X_t = design_tensor(X, device).to(weight.dtype)
        with torch.no_grad():
            raw = X_t @ weight.T
            raw = raw if bias is None else raw + bias
            if offset is not None:
                raw = raw + torch.from_numpy(offset).to(device)
        return raw.cpu().numpy()

    def _device(self):
        return resolve_device(self.device)

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.sparse = True
        tags.array_api_support = True  # torch tensors in and out (_array_api)
        return tags
