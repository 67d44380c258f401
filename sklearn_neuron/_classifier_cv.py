"""NeuronClassifierCV: NeuronClassifier with ``C`` and ``l1_ratio`` chosen by cross-validation.

The cross-validation estimator of :class:`~sklearn_neuron.NeuronClassifier`,
as :class:`~sklearn.linear_model.LogisticRegressionCV` is LogisticRegression's.
Its speed comes from the regularization path
(:func:`~sklearn_neuron._solvers.path.regularization_path`, which ``fit`` uses
too): each training fold's data are validated and laid out once, as one
objective; the grid of ``Cs`` is then fitted from the strongest penalty to the
weakest, each fit starting from the previous solution and only the objective's
penalty strengths changed between fits. Folds run in parallel threads with
``n_jobs``.
"""

from __future__ import annotations

import inspect
import warnings
from numbers import Integral, Real
from typing import Any

import numpy as np
import torch
from joblib import Parallel, delayed, effective_n_jobs
from numpy.typing import ArrayLike
from sklearn.base import ClassifierMixin, clone
from sklearn.exceptions import ConvergenceWarning
from sklearn.metrics import get_scorer, get_scorer_names, make_scorer
from sklearn.model_selection import check_cv
from sklearn.utils import Bunch
from sklearn.utils._param_validation import Interval, StrOptions
from sklearn.utils.metadata_routing import (
    UNUSED,
    MetadataRouter,
    MethodMapping,
    _raise_for_params,
    _routing_enabled,
    process_routing,
)
from sklearn.utils.multiclass import check_classification_targets
from sklearn.utils.validation import _check_method_params

from ._array_api import tensor_inputs
from ._base import BaseNeuron
from ._callbacks import FitTask, Monitor
from ._classifier import (
    ClassifierParams,
    NeuronClassifier,
    SparseCoefMixin,
    classifier_objective,
    fitted_classifier,
)
from ._loss.losses import CLASSIFICATION_LOSSES, get_classification_loss
from ._solvers.dispatch import OPTIMIZERS, SolverSettings, convergence_message
from ._solvers.path import penalty_strengths, regularization_path
from ._validation import (
    check_labels,
    check_sample_weight,
    class_weights_of_labels,
    design_tensor,
    single_threaded,
    validate_arrays,
)

try:  # scikit-learn >= 1.6 names the decorator this way
    from sklearn.base import _fit_context
except ImportError:  # pragma: no cover
    from sklearn.utils._param_validation import _fit_context


#: Scorings computed without a scorer call along the path (see _FastScore).
_FAST_SCORES = {None: "accuracy", "accuracy": "accuracy", "neg_log_loss": "log_loss"}


class NeuronClassifierCV(SparseCoefMixin, ClassifierMixin, BaseNeuron):
    """NeuronClassifier with ``C`` and ``l1_ratio`` chosen by cross-validation.

    The analogue of :class:`~sklearn.linear_model.LogisticRegressionCV`: every
    pair of ``C`` in ``Cs`` and ``l1_ratio`` in ``l1_ratios`` is fitted on the
    training part of each fold of ``cv`` and scored on its test part; the pair
    with the best score summed over folds is then refitted on all the data
    (``refit=True``). The result is what
    :class:`~sklearn.model_selection.GridSearchCV` over
    :class:`~sklearn_neuron.NeuronClassifier` with the same folds and scoring
    selects, computed faster: per fold the data are prepared once and the
    ``Cs`` are fitted as a path, from the strongest penalty to the weakest,
    each fit warm-started from the previous one.

    Parameters
    ----------
    Cs : int or array-like of float, default=10
        Inverse regularization strengths to try, with NeuronClassifier's (and
        LogisticRegression's) meaning of ``C``. An int ``n`` gives
        ``np.logspace(-4, 4, n)``. Values must be positive; ``np.inf`` means
        no penalty.

    l1_ratios : array-like of float, default=(0.0,)
        Elastic-net mixing parameters to try, each in [0, 1], as
        NeuronClassifier's ``l1_ratio``. Any positive value is fitted by
        OWL-QN (``optimizer="lbfgs"``).

    loss : {"log_loss", "squared_error", "hinge", "squared_hinge", \
            "modified_huber"} or callable, default="log_loss"
        Pointwise loss, as in NeuronClassifier.

    optimizer : {"auto", "lbfgs", "newton", "newton-cg"}, default="auto"
        Full-batch optimizer of each fit, as in NeuronClassifier; ``"auto"``
        resolves per fit (``"lbfgs"`` where ``l1_ratio > 0``). The minibatch
        optimizers are not offered: a path of noisy fits does not warm-start
        usefully.

    cv : int, cross-validation generator or iterable, default=None
        Folds, as in GridSearchCV: None for 5-fold, an int for that many
        folds (:class:`~sklearn.model_selection.StratifiedKFold`), a splitter,
        or an iterable of (train, test) index arrays.

    scoring : str, callable or None, default=None
        Score maximised over the grid, a scorer name or a callable
        ``scorer(estimator, X, y)``; None means accuracy. With
        ``sample_weight``, each test fold is scored with its weights, as in
        LogisticRegressionCV.

    refit : bool, default=True
        Whether to refit the best ``(C, l1_ratio)`` on all the data, starting
        from the mean of the folds' coefficients there. Otherwise each fold
        picks its own best pair and the coefficients, ``C_`` and
        ``l1_ratio_`` are the means over folds of those fold's best, as in
        LogisticRegressionCV.

    fit_intercept : bool, default=True
        Whether the layer has an (unpenalized) intercept.

    class_weight : dict or "balanced", default=None
        Weights of the classes, as in NeuronClassifier. ``"balanced"`` is
        computed once, on all of y (weighted by ``sample_weight``), and the
        same class weights serve every fold and the refit, as in
        LogisticRegressionCV (GridSearchCV over NeuronClassifier computes
        them on each training fold instead).

    tol : float, default=1e-4
        Gradient tolerance of each fit, as in NeuronClassifier.

    max_iter : int, default=100
        Maximum optimizer iterations of each fit.

    n_jobs : int, default=None
        Number of folds fitted at the same time, in threads (torch releases
        the GIL in its kernels); None means 1 unless in a
        :func:`joblib.parallel_backend` context, -1 all processors. With more
        than one job, torch runs one thread per fit.

    verbose : int, default=0
        When positive, each fit logs its objective per iteration to the
        ``"sklearn_neuron"`` logger (see NeuronClassifier).

    callbacks : list of callable or None, default=None
        Callbacks of the final refit on all the data (``refit=True``), as
        in :class:`NeuronClassifier`; the cross-validation fits, which may
        run in parallel threads, do not call them.

    device : str or torch.device, default="cpu"
        Where the data and the fits live: "cpu", or "cuda" where torch sees
        a GPU.

    Attributes
    ----------
    classes_ : ndarray of shape (n_classes,)
        Class labels.
    coef_ : ndarray of shape (1, n_features) or (n_classes, n_features)
        Coefficients of the refitted neuron (or the mean of the folds' best
        with ``refit=False``).
    intercept_ : ndarray of shape (1,) or (n_classes,)
        Intercepts, likewise (zero without ``fit_intercept``).
    module_ : NeuronModule
        The torch module of ``coef_`` and ``intercept_``.
    C_ : float
        The chosen ``C`` (with ``refit=False``, the mean of the folds' best).
    l1_ratio_ : float
        The chosen ``l1_ratio`` (likewise).
    Cs_ : ndarray of shape (n_cs,)
        The grid of ``C``.
    l1_ratios_ : ndarray of shape (n_l1_ratios,)
        The grid of ``l1_ratio``.
    scores_ : ndarray of shape (n_folds, n_l1_ratios, n_cs)
        Test score of each fold and grid point (LogisticRegressionCV's
        layout with ``use_legacy_attributes=False``).
    coefs_paths_ : ndarray of shape (n_folds, n_l1_ratios, n_cs, n_outputs, n_dof)
        Coefficients fitted on each fold's training part, the intercept last
        (``n_dof = n_features + fit_intercept``; ``n_outputs`` is 1 for two
        classes, ``n_classes`` otherwise).
    n_iter_ : ndarray of shape (n_folds, n_l1_ratios, n_cs)
        Optimizer iterations of each fit on the path.
    history_ : list of dict
        With ``refit=True``: the refit's record per iteration (see
        NeuronClassifier); not set with ``refit=False``.
    optimizer_ : str
        The optimizer of the refit (``"auto"`` resolved); with ``refit=False``
        those of the fits averaged, joined by ", " if they differ.
    objective_ : float
        ``refit=True`` only: the refit's final objective, as NeuronClassifier's.
    objective_curve_ : ndarray
        ``refit=True`` only: the refit's objective per iteration.
    converged_ : bool
        ``refit=True`` only: whether the refit met ``tol``.
    n_features_in_ : int
        Number of features seen during fit.
    feature_names_in_ : ndarray of shape (n_features_in_,)
        Names of the features, when X has string column names.

    See Also
    --------
    NeuronClassifier : The estimator whose ``C`` and ``l1_ratio`` this chooses.
    sklearn.linear_model.LogisticRegressionCV : The same search over
        LogisticRegression.

    Notes
    -----
    Scores along the path agree with GridSearchCV's to within what ``tol``
    leaves between a warm-started and a cold-started fit; a tight ``tol``
    makes them equal. Statistical inference after choosing ``C`` by
    cross-validation is not offered: refit ``NeuronClassifier(C=C_)`` for
    ``summary()``, knowing that its p-values ignore the selection.

    Examples
    --------
    >>> from sklearn.datasets import load_breast_cancer
    >>> from sklearn.preprocessing import StandardScaler
    >>> from sklearn_neuron import NeuronClassifierCV
    >>> X, y = load_breast_cancer(return_X_y=True)
    >>> X = StandardScaler().fit_transform(X)
    >>> clf = NeuronClassifierCV(Cs=5, cv=5, scoring="neg_log_loss").fit(X, y)
    >>> float(clf.C_)
    1.0
    >>> clf.scores_.shape
    (5, 1, 5)
    >>> clf.predict(X[:3])
    array([0, 0, 0])
    """

    # score's sample_weight goes to the scorer only, as in LogisticRegressionCV:
    # with metadata routing on, a scorer that does not request it is an error,
    # not a silent unweighted score.
    __metadata_request__score = {"sample_weight": UNUSED}

    _parameter_constraints: dict = {
        "Cs": [Interval(Integral, 1, None, closed="left"), "array-like"],
        "l1_ratios": ["array-like"],
        "loss": [StrOptions(set(CLASSIFICATION_LOSSES)), callable],
        "optimizer": [StrOptions({"auto", *OPTIMIZERS})],
        "cv": ["cv_object"],
        "scoring": [StrOptions(set(get_scorer_names())), callable, None],
        "refit": ["boolean"],
        "fit_intercept": ["boolean"],
        "class_weight": [dict, StrOptions({"balanced"}), None],
        "tol": [Interval(Real, 0, None, closed="left")],
        "max_iter": [Interval(Integral, 1, None, closed="left")],
        "n_jobs": [Integral, None],
        "verbose": ["verbose"],
        "callbacks": [list, None],
        "device": [str, torch.device],
    }

    def __init__(
        self,
        Cs=10,
        *,
        l1_ratios=(0.0,),
        loss="log_loss",
        optimizer="auto",
        cv=None,
        scoring=None,
        refit=True,
        fit_intercept=True,
        class_weight=None,
        tol=1e-4,
        max_iter=100,
        n_jobs=None,
        verbose=0,
        callbacks=None,
        device="cpu",
    ):
        self.Cs = Cs
        self.l1_ratios = l1_ratios
        self.loss = loss
        self.optimizer = optimizer
        self.cv = cv
        self.scoring = scoring
        self.refit = refit
        self.fit_intercept = fit_intercept
        self.class_weight = class_weight
        self.tol = tol
        self.max_iter = max_iter
        self.n_jobs = n_jobs
        self.verbose = verbose
        self.callbacks = callbacks
        self.device = device

    @tensor_inputs
    @_fit_context(prefer_skip_nested_validation=True)
    def fit(
        self,
        X: ArrayLike,
        y: ArrayLike,
        sample_weight: ArrayLike | None = None,
        offset: ArrayLike | None = None,
        **params: Any,
    ) -> NeuronClassifierCV:
        """Cross-validate the grid of ``Cs`` and ``l1_ratios``, then refit the best.

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)
            Training data.
        y : array-like of shape (n_samples,)
            Class labels.
        sample_weight : array-like of shape (n_samples,), default=None
            Non-negative weights of the samples, used by every fit and, as in
            LogisticRegressionCV, by the scoring of each test fold.
        offset : array-like of shape (n_samples,) or (n_samples, n_classes), default=None
            The samples' offsets (see :meth:`NeuronClassifier.fit`), split
            with the rows: each fold is fitted with its training rows'
            offsets and scored with its test rows'.
        **params : dict
            Parameters of the splitter (e.g. ``groups``) and the scorer, with
            metadata routing enabled.

        Returns
        -------
        self : NeuronClassifierCV
            The fitted estimator.
        """
        _raise_for_params(params, self, "fit")
        Cs, l1_ratios = self._grid()
        with self._discard_state_on_error():
            X, y_valid = validate_arrays(self, X, y, reset=True)
            y = y_valid
            check_labels(y_valid)  # mixed label types: what to do, not numpy's sort error
            check_classification_targets(y)
            classes = np.unique(y)
            if classes.size < 2:
                raise ValueError(
                    "NeuronClassifierCV needs samples of at least 2 classes in y, but "
                    f"the data contain only one class: {classes[0]!r}. Check how y "
                    "was built or subsampled."
                )
            if sample_weight is not None:
                sample_weight = check_sample_weight(sample_weight, X, X.dtype)
            builder = self._builder()
            n_outputs = get_classification_loss(self.loss, classes.size).n_outputs
            offset = self._offset_array(offset, None, X.shape[0], n_outputs, X.dtype)
            routed = self._route(sample_weight, params)
            folds = list(check_cv(self.cv, y, classifier=True).split(X, y, **routed.splitter.split))
            # scikit-learn's callback protocol: the folds (their grid points
            # below them), then the refit, are the subtasks of the fit.
            task = FitTask.root(
                self, X, y, sample_weight, max_subtasks=len(folds) + bool(self.refit),
                sequential_subtasks=False,
            )
            if isinstance(self.class_weight, str) and self.class_weight == "balanced":
                # As LogisticRegressionCV: computed once on all of y and sample_weight,
                # then the same weights in every fold and the refit (the scorers
                # keep the plain sample_weight).
                sample_weight = _balanced_sample_weight(classes, y, sample_weight)
                builder.set_params(class_weight=None)
            scorer = _scorer_with_labels(self._get_scorer(), classes)
            n_jobs = effective_n_jobs(self.n_jobs)
            # torch's thread count is process-wide: set once here for parallel
            # folds, per fold (small or sparse data) otherwise.
            with single_threaded(n_jobs > 1, self._device()):
                paths = Parallel(n_jobs=n_jobs, prefer="threads")(
                    delayed(_fold_path)(
                        builder, X, y, sample_weight, train, test, classes, Cs, l1_ratios,
                        scorer, _check_method_params(X, routed.scorer.score, indices=test),
                        offset=offset,
                        fast_kind=_FAST_SCORES.get(self.scoring)
                        if self.scoring is None or isinstance(self.scoring, str)
                        else None,
                        per_fold_threads=n_jobs == 1,
                        task=None if task is None else task.subtask(
                            "fold", task_id=k, max_subtasks=Cs.size * l1_ratios.size, rows=train
                        ),
                    )
                    for k, (train, test) in enumerate(folds)
                )
            self.classes_ = classes
            self.Cs_ = Cs
            self.l1_ratios_ = l1_ratios
            self.coefs_paths_ = np.stack([path.coefs for path in paths])
            self.scores_ = np.stack([path.scores for path in paths])
            # Per fold and grid point, where BaseNeuron's is one count.
            self.n_iter_ = np.stack([path.n_iter for path in paths])  # type: ignore[assignment]
            self._warn_path_convergence(np.stack([path.converged for path in paths]))
            if self.refit:
                refit_task = None if task is None else task.subtask("refit", task_id=len(folds))
                self._refit(builder, X, y, sample_weight, offset, refit_task)
            else:
                optimizers = np.stack([path.optimizers for path in paths])
                self._average_best(paths[0].activation, optimizers)
            if task is not None:
                task.end(fitted=True)
        return self

    def _grid(self):
        """``Cs`` and ``l1_ratios`` as checked float arrays."""
        if isinstance(self.Cs, Integral):
            Cs = np.logspace(-4, 4, self.Cs)
        else:
            Cs = np.asarray(self.Cs, dtype=float).reshape(-1)
            if Cs.size == 0 or not np.all(Cs > 0) or np.isnan(Cs).any():
                raise ValueError(
                    f"Cs must be an int or a non-empty list of positive floats (np.inf "
                    f"for no penalty); got Cs={self.Cs!r}."
                )
        l1_ratios = np.asarray(self.l1_ratios, dtype=float).reshape(-1)
        if l1_ratios.size == 0 or not np.all((l1_ratios >= 0) & (l1_ratios <= 1)):
            raise ValueError(
                "l1_ratios must be a non-empty list of floats between 0 and 1; got "
                f"l1_ratios={self.l1_ratios!r}."
            )
        return Cs, l1_ratios

    def _route(self, sample_weight, params):
        """Metadata of the splitter and the scorer, as LogisticRegressionCV routes them."""
        if _routing_enabled():
            return process_routing(self, "fit", sample_weight=sample_weight, **params)
        score = dict(params)
        if sample_weight is not None:
            score["sample_weight"] = sample_weight
        return Bunch(splitter=Bunch(split={}), scorer=Bunch(score=score))

    def _builder(self):
        """The NeuronClassifier whose objective each fit minimises (C and l1_ratio aside)."""
        return NeuronClassifier(
            self.loss,
            optimizer=self.optimizer,
            fit_intercept=self.fit_intercept,
            class_weight=self.class_weight,
            tol=self.tol,
            max_iter=self.max_iter,
            verbose=self.verbose,
            device=self.device,
        )

    def _warn_path_convergence(self, converged):
        if converged.all():
            return
        warnings.warn(
            f"{int((~converged).sum())} of the {converged.size} fits on the "
            f"cross-validation path stopped after max_iter={self.max_iter} "
            f"iterations (or at the dtype's precision) without reaching tol={self.tol:g}; "
            "their scores may be off. Increase max_iter, scale the features (e.g. "
            "with StandardScaler), or loosen tol.",
            ConvergenceWarning,
            stacklevel=3,
        )

    def _refit(self, builder, X, y, sample_weight, offset=None, task=None):
        """Refit the best grid point on all the data, from the folds' mean coefficients.

        ``task``: the refit's task of scikit-learn's callback protocol (not begun), or None.
        """
        totals = self.scores_.sum(axis=0).T  # (n_cs, n_l1_ratios): C-major ties, as sklearn
        best_c, best_l1 = np.unravel_index(np.argmax(totals), totals.shape)
        self.C_ = float(self.Cs_[best_c])
        self.l1_ratio_ = float(self.l1_ratios_[best_l1])
        params = ClassifierParams.of(builder, C=self.C_, l1_ratio=self.l1_ratio_)
        objective = classifier_objective(
            params, X, y, sample_weight, self.classes_, offset=offset
        )
        start = np.mean(self.coefs_paths_[:, best_l1, best_c], axis=0)
        theta = objective.center(
            torch.as_tensor(start.reshape(-1), dtype=objective.dtype, device=objective.device)
        )
        settings = SolverSettings.of(self)
        with single_threaded(objective.is_sparse or objective.is_small, objective.device):
            monitor = Monitor.for_estimator(self, task=None if task is None else task.begin())
            (point,) = regularization_path(
                objective, [None], settings, start=theta, monitor=lambda _: monitor,
                name=settings.name,
            )
        optimizer, result = point.optimizer, point.result
        monitor.end(result)
        if not result.converged:
            warnings.warn(
                convergence_message(settings, optimizer, result, theta.dtype),
                ConvergenceWarning,
                stacklevel=3,
            )
        self._store(objective, result, optimizer)
        self.history_ = monitor.history
        monitor.fitted()

    def _average_best(self, activation, optimizers):
        """``refit=False``: the mean over folds of each fold's best coefficients."""
        n_folds, n_l1, n_cs = self.scores_.shape
        # Each fold's best, C-major like LogisticRegressionCV (its ties alike).
        best = np.argmax(self.scores_.transpose(0, 2, 1).reshape(n_folds, -1), axis=1)
        best_c, best_l1 = np.unravel_index(best, (n_cs, n_l1))
        coefs = self.coefs_paths_[np.arange(n_folds), best_l1, best_c].mean(axis=0)
        self.C_ = float(np.mean(self.Cs_[best_c]))
        self.l1_ratio_ = float(np.mean(self.l1_ratios_[best_l1]))
        coef = coefs[:, : self.n_features_in_]
        intercept = coefs[:, -1] if self.fit_intercept else np.zeros(coefs.shape[0])
        self._set_coefficients(
            torch.as_tensor(np.ascontiguousarray(coef)),
            torch.as_tensor(np.ascontiguousarray(intercept, dtype=coef.dtype)),
            activation,
        )
        # The optimizers of the points averaged ("lbfgs, newton" if they differ).
        self.optimizer_ = ", ".join(sorted(set(optimizers[np.arange(n_folds), best_l1, best_c])))

    # Prediction is NeuronClassifier's, on the chosen coefficients.
    decision_function = NeuronClassifier.decision_function
    predict = NeuronClassifier.predict
    predict_log_proba = NeuronClassifier.predict_log_proba
    predict_proba = NeuronClassifier.predict_proba

    @tensor_inputs
    def score(
        self,
        X: ArrayLike,
        y: ArrayLike,
        sample_weight: ArrayLike | None = None,
        offset: ArrayLike | None = None,
        **score_params: Any,
    ) -> float:
        """Score of the fitted model on (X, y) by ``scoring`` (accuracy for None).

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
        y : array-like of shape (n_samples,)
        sample_weight : array-like of shape (n_samples,), default=None
        offset : array-like of shape (n_samples,) or (n_samples, n_classes), default=None
            The samples' offsets, added to the logits the scorer reads.
        **score_params : dict
            Parameters of the scorer, with metadata routing enabled.

        Returns
        -------
        score : float
        """
        _raise_for_params(score_params, self, "score")
        if sample_weight is not None:
            score_params["sample_weight"] = sample_weight
        scorer = self._get_scorer()
        if _routing_enabled():
            score_params = process_routing(self, "score", **score_params).scorer.score
        return scorer(self if offset is None else _WithOffset(self, offset), X, y, **score_params)

    def _get_scorer(self):
        return get_scorer("accuracy" if self.scoring is None else self.scoring)

    def get_metadata_routing(self):
        """Metadata routing of this estimator: to the splitter and the scorer.

        Returns
        -------
        routing : MetadataRouter
        """
        return (
            MetadataRouter(owner=self)
            .add_self_request(self)
            .add(
                splitter=self.cv,
                method_mapping=MethodMapping().add(caller="fit", callee="split"),
            )
            .add(
                scorer=self._get_scorer(),
                method_mapping=MethodMapping()
                .add(caller="score", callee="score")
                .add(caller="fit", callee="score"),
            )
        )


def _scorer_with_labels(scorer, classes):
    """``scorer`` told all the classes, as LogisticRegressionCV tells it.

    A test fold may lack a class (unshuffled folds of sorted labels); a
    metric that takes ``labels`` (log loss, Brier score, F1, ...) then
    refuses the fold or sizes its classes from it. Such a scorer is rebuilt
    with ``labels=classes`` and, for two classes, ``pos_label=classes[-1]``,
    as :func:`sklearn.linear_model._logistic._log_reg_scoring_path` does;
    arguments the scorer already has take precedence. Other scorers are
    returned as they are.
    """
    score_func = getattr(scorer, "_score_func", None)
    if score_func is None:
        return scorer
    signature = inspect.signature(score_func).parameters
    if "labels" not in signature:
        return scorer
    kwargs = {"labels": classes}
    if classes.size <= 2 and "pos_label" in signature:
        kwargs["pos_label"] = classes[-1]
    kwargs.update(getattr(scorer, "_kwargs", {}))
    return make_scorer(
        score_func,
        greater_is_better=scorer._sign == 1,
        response_method=scorer._response_method,
        **kwargs,
    )


def _balanced_sample_weight(classes, y, sample_weight):
    """``sample_weight`` times the "balanced" weight of each sample's class in all of y."""
    y_index = np.searchsorted(classes, y)
    weight = np.ones(y.shape[0]) if sample_weight is None else sample_weight
    return weight * class_weights_of_labels("balanced", classes, y_index, weight)[y_index]


def _fold_path(builder, X, y, sample_weight, train, test, classes, Cs, l1_ratios, scorer,
               score_params, *, fast_kind, per_fold_threads, offset=None, task=None):
    """Fit and score the whole grid on one fold.

    The fold's objective is built once; for each ``l1_ratio`` the ``Cs`` run
    from the smallest (strongest penalty) to the largest, each fit starting
    where the previous one ended. Returns the coefficients, scores, iteration
    counts and convergence of every grid point, in the grid's order. ``task``:
    the fold's task of scikit-learn's callback protocol (not begun), or None;
    each grid point is a subtask of it, with its iterations below.
    """
    if task is not None:
        task.begin()
    builder = clone(builder)
    weights = None if sample_weight is None else sample_weight[train]
    offsets = (None, None) if offset is None else (offset[train], offset[test])
    objective = classifier_objective(
        ClassifierParams.of(builder), X[train], y[train], weights, classes, offset=offsets[0]
    )
    K, q = objective.n_outputs, objective.n_params_per_output
    shape = (l1_ratios.size, Cs.size)
    coefs = np.empty((*shape, K, q), dtype=objective.zeros().cpu().numpy().dtype)
    scores, n_iter = np.empty(shape), np.empty(shape, dtype=int)
    converged = np.empty(shape, dtype=bool)
    optimizers = np.empty(shape, dtype=object)
    X_test, y_test = X[test], y[test]
    activation = objective.loss.activation.name
    fast = _FastScore.make(
        fast_kind, score_params, X_test, y_test, classes, objective, offsets[1]
    )
    scored = builder if offset is None else _WithOffset(builder, offsets[1])
    settings = SolverSettings.of(builder)
    order = np.argsort(Cs, kind="stable")  # the strongest penalty first
    one_thread = per_fold_threads and (objective.is_sparse or objective.is_small)
    with single_threaded(one_thread, objective.device):
        for i, l1_ratio in enumerate(l1_ratios):
            penalties = (
                penalty_strengths(
                    Cs[j] * objective.weight_sum, float(l1_ratio), type(builder).__name__
                )
                for j in order
            )
            point_tasks = []

            def monitor(index, l1_ratio=l1_ratio, point_tasks=point_tasks):
                if task is None:
                    return None
                point_tasks.append(
                    task.subtask(f"C={Cs[order[index]]:.4g}, l1_ratio={l1_ratio:g}").begin()
                )
                return Monitor(settings.verbose, task=point_tasks[-1])

            path = regularization_path(
                objective, penalties, settings, monitor=monitor, name="NeuronClassifierCV"
            )
            for j, point in zip(order, path, strict=True):
                if point_tasks:
                    point_tasks.pop().end()
                result, fitted = point.result, point.theta
                coefs[i, j] = fitted.view(K, q).cpu().numpy()
                n_iter[i, j], optimizers[i, j] = result.n_iter, point.optimizer
                converged[i, j] = result.converged
                if fast is not None:
                    scores[i, j] = fast(point.objective, fitted)
                    continue
                coef, intercept = point.objective.unpack(fitted)
                fitted_classifier(
                    builder, coef, intercept, classes=classes,
                    n_features=objective.n_features, activation=activation,
                )
                scores[i, j] = scorer(scored, X_test, y_test, **score_params)
    if task is not None:
        task.end()
    return Bunch(
        coefs=coefs,
        scores=scores,
        n_iter=n_iter,
        converged=converged,
        optimizers=optimizers,
        activation=activation,
    )


class _FastScore:
    """Accuracy or minus the log loss of a point of the path, without a scorer call.

    A scikit-learn scorer validates its targets and the estimator's input on
    each call, which on small data costs more than the fit it scores
    (benchmarks/RESULTS.md, NeuronClassifierCV). For the two scorers used
    most, the test fold is laid out once and each point is scored from its
    raw output, computed as scikit-learn computes them: ``accuracy_score``
    (``np.average`` of the hits) and
    ``log_loss`` (probabilities clipped to ``[eps, 1 - eps]`` of their
    dtype). Both are per-sample sums over all of ``classes``, so a test
    fold missing a class is scored as scikit-learn scores it when told
    ``labels=classes`` (see :func:`_scorer_with_labels`). Any other scorer
    or extra scoring parameters take the scorer.
    """

    def __init__(self, kind, X_test, y_index, weights, offset=None):
        self.kind, self.X_test, self.y_index, self.weights = kind, X_test, y_index, weights
        self.offset = offset

    @classmethod
    def make(cls, kind, score_params, X_test, y_test, classes, objective, offset=None):
        if kind is None or set(score_params) - {"sample_weight"}:
            return None
        y_index = np.searchsorted(classes, y_test)
        weights = score_params.get("sample_weight")
        X_t = design_tensor(X_test, objective.device)
        if offset is not None:
            offset = torch.as_tensor(offset, dtype=objective.dtype, device=objective.device)
        return cls(kind, X_t, torch.as_tensor(y_index, device=objective.device), weights, offset)

    def __call__(self, objective, theta):
        raw = objective.raw(theta, self.X_test)
        if self.offset is not None:
            raw = raw + self.offset
        if raw.shape[1] == 1:  # softmax of (0, z) is (1 - sigmoid(z), sigmoid(z))
            raw = torch.cat([torch.zeros_like(raw), raw], dim=1)
        if self.kind == "accuracy":
            per_sample = (raw.argmax(dim=1) == self.y_index).cpu().numpy()
            return float(np.average(per_sample, weights=self.weights))
        eps = torch.finfo(raw.dtype).eps
        proba = torch.softmax(raw, dim=1).gather(1, self.y_index.unsqueeze(1))[:, 0]
        loss = -torch.log(proba.clamp(eps, 1 - eps)).cpu().numpy()
        return -float(np.average(loss, weights=self.weights))


class _WithOffset:
    """A fitted classifier as a scorer sees it, its predictions on a test set
    made with that set's offsets (a scorer passes only X to the estimator)."""

    def __init__(self, estimator, offset):
        self.estimator, self.offset = estimator, offset

    @property
    def classes_(self):
        return self.estimator.classes_

    def __sklearn_tags__(self):
        return self.estimator.__sklearn_tags__()

    def decision_function(self, X):
        return self.estimator.decision_function(X, offset=self.offset)

    def predict(self, X):
        return self.estimator.predict(X, offset=self.offset)

    def predict_proba(self, X):
        return self.estimator.predict_proba(X, offset=self.offset)

    def predict_log_proba(self, X):
        return self.estimator.predict_log_proba(X, offset=self.offset)
