"""What every neuron estimator shares: parameters, the fit loops, fitted state.

An estimator subclass validates its data, builds a
:class:`~sklearn_neuron._objective.linear.LinearObjective` and hands it to
:meth:`BaseNeuron._fit_objective` (or :meth:`BaseNeuron._partial_fit_objective`),
which picks the optimizer, runs it, warns when it stopped early and stores
the fitted module and coefficients. Everything numerical lives elsewhere:
``_objective.py`` (value, gradient, Hessian), ``_optimizers.py`` (Newton,
L-BFGS, OWL-QN) and ``_stochastic.py`` (minibatch torch.optim training).
"""

import functools
import math
import warnings
from contextlib import contextmanager
from numbers import Integral, Real

import numpy as np
import scipy.sparse
import torch
from sklearn.base import BaseEstimator
from sklearn.exceptions import ConvergenceWarning
from sklearn.model_selection import train_test_split
from sklearn.utils import check_random_state
from sklearn.utils._param_validation import Interval, StrOptions, make_constraint
from sklearn.utils.validation import check_is_fitted

from ._array_api import to_numpy
from ._callbacks import (
    CallbackSupportMixin,
    FitTask,
    Monitor,
    iterate_attributes,
    stopped_by_callback,
    stopped_message,
)
from ._loss.losses import HingeLoss, loss_for_pickle
from ._module import NeuronModule
from ._objective.fingerprint import data_fingerprint
from ._solvers.diagnostics import (
    check_newton_memory,
    check_penalty_scale,
    check_separation,
    check_underflow,
    newton_fits_memory,
    not_finite_message,
)
from ._solvers.hinge import HINGE_UNVERIFIED, hinge_continuation, smoothed_newton
from ._solvers.optimizers import (
    DENSE_HESSIAN,
    OPTIMIZERS,
    PRECISION_LIMIT,
    SECOND_ORDER,
    effective_tol,
    resolve_optimizer,
)
from ._solvers.stochastic import STOCHASTIC_OPTIMIZERS, minibatch, one_pass
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
        # scikit-learn rebuilds every constraint object on each call (~50 us
        # for twenty parameters, a tenth of a small fit); the objects are
        # stateless, so they are built once per class. Any violation is
        # reported by scikit-learn's own validation, with its message.
        for name, constraints in _constraint_objects(type(self)):
            value = getattr(self, name)
            if not any(constraint.is_satisfied_by(value) for constraint in constraints):
                super()._validate_params()
                return

    # -- optimizer choice --------------------------------------------------------
    def _is_stochastic(self):
        """Whether ``optimizer`` trains by minibatches (torch.optim)."""
        return isinstance(self.optimizer, type) or self.optimizer in STOCHASTIC_OPTIMIZERS

    def _optimizer_class(self):
        if isinstance(self.optimizer, type):
            if not issubclass(self.optimizer, torch.optim.Optimizer):
                raise ValueError(
                    f"optimizer={self.optimizer!r} is a class but not a "
                    "torch.optim.Optimizer subclass; pass one (e.g. torch.optim.SGD) "
                    f"or a name among {sorted({'auto', *OPTIMIZERS, *STOCHASTIC_OPTIMIZERS})}."
                )
            return self.optimizer
        return STOCHASTIC_OPTIMIZERS[self.optimizer]

    def _resolve_optimizer(self, objective):
        """Name of the full-batch optimizer to run, checked against the objective."""
        loss = objective.loss
        # The hinge is solved through smoothed problems, which Newton handles.
        smooth = loss.twice_differentiable or isinstance(loss, HingeLoss)
        if self.optimizer == "auto" and (objective.l1 or not smooth):
            return "lbfgs"
        name = resolve_optimizer(
            self.optimizer, objective.X.shape[0], objective.n_params,
            distributed=getattr(objective, "distributed", False),
            newton_fits=self.optimizer != "auto" or newton_fits_memory(objective),
        )
        if name in SECOND_ORDER and not smooth:
            raise ValueError(
                f"optimizer={name!r} needs a twice-differentiable loss, "
                f"and loss={loss.name!r} is not; use optimizer='lbfgs'."
            )
        if name in SECOND_ORDER and objective.l1:
            raise ValueError(
                f"optimizer={name!r} does not handle the L1 term of l1_ratio > 0; "
                "use optimizer='lbfgs' (OWL-QN) or optimizer='sgd' (proximal steps)."
            )
        if name == "newton-cg" and getattr(objective, "distributed", False):
            raise ValueError(
                "optimizer='newton-cg' does not run on dask data yet; "
                "use optimizer='newton' or optimizer='lbfgs'."
            )
        if name in DENSE_HESSIAN and self.optimizer != "auto":  # ("auto" checked it)
            check_newton_memory(objective, name)
        return name

    def _refuse_optimizer_kwargs(self):
        """Full-batch optimizers take no keyword arguments: say so rather than ignore them."""
        if self.optimizer_kwargs:
            raise ValueError(
                f"optimizer_kwargs={self.optimizer_kwargs!r} is for the minibatch "
                f"(torch.optim) optimizers; optimizer={self.optimizer!r} takes none. "
                "Leave optimizer_kwargs=None, or choose a minibatch optimizer."
            )

    def _optimizer_label(self):
        return self.optimizer.__name__ if isinstance(self.optimizer, type) else self.optimizer

    # -- data ----------------------------------------------------------------------
    def _design(self, X, device, *, reset):
        """X as the tensor the objective uses, plus its scipy CSR form when sparse."""
        tensor = design_tensor(X, device)
        sparse_rows = X.tocsr() if scipy.sparse.issparse(X) else None
        return tensor, sparse_rows

    def _penalty_strengths(self, C_times_weight_sum):
        """(l2, l1) of the objective for an inverse strength ``C * sum(s_i)``."""
        if np.isinf(C_times_weight_sum):
            return 0.0, 0.0
        check_penalty_scale(C_times_weight_sum, type(self).__name__)
        return (1.0 - self.l1_ratio) / C_times_weight_sum, self.l1_ratio / C_times_weight_sum

    def _generator(self):
        seed = check_random_state(self.random_state).randint(np.iinfo(np.int32).max)
        return torch.Generator().manual_seed(int(seed))

    # -- fitting -------------------------------------------------------------------
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

    def _optimizer_function(self, name):
        """The function that runs full-batch optimizer ``name`` (a hook for estimators)."""
        return OPTIMIZERS[name]

    def _initial_theta(self, objective):
        """The previous solution when ``warm_start`` allows it, else a cold start."""
        if self.warm_start and hasattr(self, "coef_"):
            coef = self._dense_coef()
            if coef.size == objective.n_outputs * objective.n_features:
                intercept = to_numpy(self.intercept_) if objective.fit_intercept else None
                return objective.center(objective.pack(coef, intercept))
        return objective.initial_theta()

    def _fit_objective(self, objective, data=()):
        """Minimise ``objective`` and store the fitted state on ``self``.

        ``data``: ``(X, y, sample_weight)`` as passed to ``fit``, for
        scikit-learn's callbacks (``set_callbacks``).
        """
        name = f"{type(self).__name__}/{self._optimizer_label()}"
        theta = self._initial_theta(objective)
        monitor = Monitor.for_estimator(self, data=data)
        if monitor.task is not None and self._iterates_are_coefficients(objective):
            monitor.fitted_iterates(functools.partial(iterate_attributes, self, objective))
        one_thread = objective.is_sparse or self._is_stochastic() or objective.is_small
        with single_threaded(one_thread, objective.device):
            if isinstance(objective.loss, HingeLoss):
                optimizer, result = self._fit_hinge(objective, theta, name, monitor)
            elif self._is_stochastic():
                result = self._run_minibatch(objective, theta, self.max_iter, name, monitor=monitor)
                optimizer = self._optimizer_label()
            else:
                self._refuse_optimizer_kwargs()
                optimizer, result = self._run_full_batch(
                    objective, theta, type(self).__name__, monitor
                )
        monitor.end(result)
        # A non-finite end is refused by _store, which says why (not "iterate more").
        if not result.converged and np.isfinite(result.objective_curve[-1:]).all():
            warnings.warn(
                self._convergence_message(optimizer, result, theta.dtype),
                ConvergenceWarning,
                stacklevel=3,
            )
        self._store(objective, result, optimizer)
        # Unpenalized fits whose stopping rule holds away from an optimum.
        check_underflow(objective, type(self).__name__, stacklevel=4)
        check_separation(self, objective, result.theta, type(self).__name__, stacklevel=4)
        self.n_iter_ = int(result.n_iter)
        self.history_ = monitor.history
        self.training_fingerprint_ = data_fingerprint(objective)  # inference checks it
        monitor.fitted()
        return self

    def _iterates_are_coefficients(self, objective):
        """Whether each iterate of this fit is a model of ``objective`` (not so for
        the hinge's per-output stages and the absolute error's exact solver)."""
        if isinstance(objective.loss, HingeLoss):
            return False
        return self._is_stochastic() or self._resolve_optimizer(objective) != "lad"

    def _run_full_batch(self, objective, theta, name, monitor=None):
        """Run the resolved full-batch optimizer on ``objective``; ``(name, result)``.

        The hinge goes through its exact solver (:meth:`_fit_hinge`), so every
        caller (fit, NeuronClassifierCV's path and refit) solves it alike.
        """
        if isinstance(objective.loss, HingeLoss):
            return self._fit_hinge(objective, theta, name, monitor)
        optimizer = self._resolve_optimizer(objective)
        # Closed-form derivatives need no autograd bookkeeping: inference
        # mode cuts torch's per-call overhead by ~15%, which is what small
        # fits spend their time on.
        with torch.inference_mode(not objective.loss.uses_autograd):
            result = self._optimizer_function(optimizer)(
                objective,
                theta,
                tol=self.tol,
                max_iter=self.max_iter,
                verbose=self.verbose,
                name=f"{name}/{optimizer}",
                monitor=monitor,
            )
        return optimizer, result

    def _fit_hinge(self, objective, theta, name, monitor=None):
        """The hinge solved exactly, each smoothed stage by the chosen optimizer."""
        if self._is_stochastic():
            optimizer = self._optimizer_label()

            def stage(smooth, start, tol, budget, stage_name):
                # budget: the epochs of max_iter the earlier stages left
                return self._run_minibatch(
                    smooth, start, budget, stage_name, tol=tol, monitor=monitor,
                )

        else:
            optimizer = self._resolve_optimizer(objective)
            if self.optimizer == "auto" and not objective.l1:
                # Each output is solved as its own problem (per_output below):
                # a Hessian is of one output's parameters.
                optimizer = resolve_optimizer(
                    "auto", objective.X.shape[0], objective.n_params_per_output,
                    distributed=getattr(objective, "distributed", False),
                )
            # Newton with an exact line search (the smoothed hinge is piecewise quadratic).
            function = (
                smoothed_newton if optimizer == "newton" else self._optimizer_function(optimizer)
            )

            def stage(smooth, start, tol, budget, stage_name):
                with torch.inference_mode():
                    return function(
                        smooth, start, tol=tol, max_iter=budget, verbose=self.verbose,
                        name=stage_name, monitor=monitor,
                    )

        result = hinge_continuation(
            objective, theta, stage=stage, tol=self.tol, max_iter=self.max_iter,
            verbose=self.verbose, name=name, per_output=not self._is_stochastic(),
        )
        return optimizer, result

    def _partial_fit_objective(self, objective, first_call, data=()):
        """One pass of minibatch steps over this call's data, continuing the previous ones.

        Atomic: the fitted state (coefficients, optimizer state, counters)
        changes only once the pass has completed. ``data`` as for
        :meth:`_fit_objective`.
        """
        label = self._optimizer_label()
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
        name = f"{type(self).__name__}/{label}"
        with single_threaded(True, objective.device):
            result = one_pass(
                objective,
                theta,
                **self._minibatch_settings(objective),
                generator=self._generator(),
                optimizer_state=state,
                n_calls=n_calls,
                name=name,
                monitor=monitor,
            )
        monitor.end(result)
        self._store(objective, result, label)
        self.history_ = monitor.history
        vars(self).pop("training_fingerprint_", None)  # a stream: no one training set
        self.n_iter_ = n_calls + 1
        self.t_ = t + result.n_samples_seen
        monitor.fitted()
        return self

    def _first_partial_fit_theta(self, objective):
        """Cold start of a stream (the classifier refines it)."""
        return objective.initial_theta()

    def _batch_size(self, objective):
        if self.batch_size != "auto":
            return self.batch_size
        # At least ~50 steps an epoch on small data (each epoch then makes
        # progress), 200 rows at most (scikit-learn's MLP default).
        n_samples = objective.X.shape[0]
        return min(n_samples, 200, max(32, n_samples // 50))

    def _minibatch_settings(self, objective):
        """The arguments that ``fit``'s and ``partial_fit``'s minibatch loops share."""
        optimizer_class = self._optimizer_class()
        optimizer_kwargs = dict(self.optimizer_kwargs or {})
        if optimizer_class is torch.optim.AdamW:
            # C is the penalty; AdamW's own decay (0.01 by default) would
            # silently change the objective, so it is off unless asked for.
            optimizer_kwargs.setdefault("weight_decay", 0.0)
        return dict(
            optimizer_class=optimizer_class,
            optimizer_kwargs=optimizer_kwargs,
            learning_rate=self.learning_rate,
            batch_size=self._batch_size(objective),
            shuffle=self.shuffle,
            verbose=self.verbose,
        )

    def _run_minibatch(self, objective, theta, max_iter, name, tol=None, monitor=None):
        generator = self._generator()
        validation_score = None
        if self.early_stopping:
            objective, validation = self._split_validation(objective, generator)
            validation_score = lambda theta: self._validation_score(validation, theta)  # noqa: E731
            if monitor is not None:  # the history records each epoch's score
                validation_score = monitor.validation_score(validation_score)
        return minibatch(
            objective,
            theta,
            **self._minibatch_settings(objective),
            max_iter=max_iter,
            tol=self.tol if tol is None else tol,
            n_iter_no_change=self.n_iter_no_change,
            generator=generator,
            validation_score=validation_score,
            name=name,
            monitor=monitor,
        )

    def _split_validation(self, objective, generator):
        """Hold out ``validation_fraction`` of the rows (stratified where it applies)."""
        index = np.arange(objective.X.shape[0])
        seed = int(torch.randint(np.iinfo(np.int32).max, (1,), generator=generator))
        try:
            train, validation = train_test_split(
                index,
                test_size=self.validation_fraction,
                random_state=seed,
                stratify=self._stratify_labels(objective),
            )
        except ValueError as exc:  # too few rows (of a class) for the split
            raise ValueError(
                f"early_stopping=True cannot hold out validation_fraction="
                f"{self.validation_fraction} of {index.size} samples ("
                f"{str(exc).rstrip('.')}). Choose a validation_fraction that leaves "
                "samples (of every class) in both parts, fit on more samples, or set "
                "early_stopping=False."
            ) from exc
        return objective.subset(torch.from_numpy(train)), objective.subset(
            torch.from_numpy(validation)
        )

    def _stratify_labels(self, objective):
        return None

    def _validation_score(self, objective, theta):
        """Score of ``theta`` on held-out data (higher is better): minus its objective."""
        return -float(objective.value(theta))

    def _convergence_message(self, optimizer, result, dtype):
        if stopped_by_callback(result.stop_reason):
            return stopped_message(
                type(self).__name__, optimizer, result, effective_tol(self.tol, dtype),
                "epochs" if self._is_stochastic() else "iterations",
            )
        if result.stop_reason.startswith(HINGE_UNVERIFIED):
            # The hinge's fit is certified by its optimality conditions, not
            # by a gradient (its minimum is at a kink, where none exists).
            advice = (
                "Use a finite C." if "C=inf" in result.stop_reason else
                f"Increase max_iter (now {self.max_iter})"
                + (", or use optimizer='newton'." if optimizer != "newton" else ".")
            )
            return (
                f"{type(self).__name__} (optimizer={optimizer!r}) stopped after "
                f"{result.n_iter} {'epochs' if self._is_stochastic() else 'iterations'} "
                f"without certifying the minimum: {result.stop_reason}. {advice}"
            )
        if self._is_stochastic():
            # The hinge's continuation runs several minibatch fits and reports
            # no single learning rate: then none is named.
            learning_rate = getattr(result, "learning_rate", float("nan"))
            step = (
                f" (last learning rate {learning_rate:.3g})" if math.isfinite(learning_rate) else ""
            )
            return (
                f"{type(self).__name__} (optimizer={optimizer!r}) stopped after "
                f"{result.n_iter} epochs without reaching the tolerance: the full "
                f"gradient's largest entry is {result.grad_max:.3g} > tol = "
                f"{effective_tol(self.tol, dtype):.3g}, so the coefficients are not yet "
                f"at the optimum; reason: {result.stop_reason}{step}. "
                f"Increase max_iter (now {self.max_iter}), "
                "scale the features (e.g. with StandardScaler), "
                + ("" if self.learning_rate == "auto" else "use learning_rate='auto', ")
                + "or use a full-batch optimizer ('newton', 'lbfgs')."
            )
        return (
            f"{type(self).__name__} (optimizer={optimizer!r}) stopped after "
            f"{result.n_iter} iterations without reaching the tolerance: "
            f"max|gradient| = {result.grad_max:.3g} > tol = "
            f"{effective_tol(self.tol, dtype):.3g}; reason: {result.stop_reason}. "
            + self._convergence_advice(optimizer, result, dtype)
        )

    def _convergence_advice(self, optimizer, result, dtype):
        """What to change after a full-batch fit that stopped before ``tol``."""
        if result.stop_reason.startswith(PRECISION_LIMIT):
            # No step changes the coefficients: more iterations cannot help.
            options = ["loosen tol"]
            if dtype == torch.float32:
                options.append("pass float64 X (float32 X is fitted in float32)")
            if optimizer != "newton" and self.optimizer != "newton":
                options.append("try optimizer='newton'")
            return (
                "More iterations would not help: "
                + (", ".join(options[:-1]) + " or " + options[-1] if len(options) > 1
                   else options[0])
                + "."
            )
        return (
            f"Increase max_iter (now {self.max_iter}), scale the features (e.g. with "
            "StandardScaler), or loosen tol."
        )

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
