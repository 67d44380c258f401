"""NeuronClassifier: a single layer of sigmoid/softmax neurons as a classifier."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, fields
from numbers import Real
from typing import Any

import numpy as np
import scipy.sparse
import torch
from numpy.typing import ArrayLike
from sklearn import get_config
from sklearn.base import ClassifierMixin
from sklearn.utils._param_validation import Interval, StrOptions
from sklearn.utils.metaestimators import available_if
from sklearn.utils.validation import check_is_fitted

from ._array_api import TensorScoreMixin, tensor_inputs, tensor_outputs, to_numpy
from ._base import BaseNeuron
from ._callbacks import with_callbacks
from ._dask.build import classifier_objective as dask_classifier_objective
from ._dask.detect import any_dask
from ._dask.predict import maps_dask_blocks
from ._inference.mixin import InferenceMixin
from ._loss.losses import (
    CLASSIFICATION_LOSSES,
    encode_classes,
    fitted_classes,
    get_classification_loss,
)
from ._objective.linear import LinearObjective
from ._objective.protocol import Objective
from ._solvers.firth import FirthObjective, check_firth_settings, firth_objective
from ._solvers.path import penalty_strengths
from ._validation import (
    check_known_labels,
    check_labels,
    check_offset,
    check_sample_weight,
    check_weight_sum,
    class_weights_of_labels,
    design_tensor,
    resolve_device,
    to_tensor,
    validate_arrays,
)
from ._validation import class_indices as _class_indices  # its home is _validation

try:  # scikit-learn >= 1.6 names the decorator this way
    from sklearn.base import _fit_context
except ImportError:  # pragma: no cover
    from sklearn.utils._param_validation import _fit_context


@dataclass(frozen=True)
class ClassifierParams:
    """The parameters of a :class:`NeuronClassifier` that define its objective.

    The fields are the estimator's public parameters of the same names;
    ``name`` is the estimator's class name, for messages.
    """

    loss: str | Callable[..., Any] = "log_loss"
    C: float = 1.0
    l1_ratio: float = 0.0
    fit_intercept: bool = True
    class_weight: dict | str | None = None
    firth: bool = False
    optimizer: str | type = "auto"
    device: str | torch.device = "cpu"
    name: str = "NeuronClassifier"

    @classmethod
    def of(cls, estimator: Any, **changes: Any) -> ClassifierParams:
        """The parameters of ``estimator`` (those it has), with ``changes``."""
        params = vars(estimator)
        values = {f.name: params[f.name] for f in fields(cls) if f.name in params}
        return cls(**{**values, "name": type(estimator).__name__, **changes})


def classifier_objective(
    params: ClassifierParams,
    X: np.ndarray | scipy.sparse.spmatrix,
    y: np.ndarray,
    sample_weight: ArrayLike | None,
    classes: np.ndarray,
    *,
    offset: ArrayLike | None = None,
) -> Objective:
    """The objective a classifier with ``params`` minimises on data in memory.

    ``X`` and ``y`` are validated (:func:`~sklearn_neuron._validation.validate_arrays`)
    and ``classes`` are the fitted classes, sorted; every label of ``y`` must be
    one of them. Sample weights are checked and multiplied by the class
    weights; the penalty is ``C`` and ``l1_ratio`` on the scale of the mean
    loss (:func:`~sklearn_neuron._solvers.path.penalty_strengths`). Used by
    :meth:`NeuronClassifier.fit` (through ``_build_objective``), by each fold
    and the refit of :class:`~sklearn_neuron.NeuronClassifierCV`, and by the
    comparison command.

    Parameters
    ----------
    params : ClassifierParams
        The classifier's loss, penalty, intercept, class weights, Firth and
        device (:meth:`ClassifierParams.of` an estimator).
    X : ndarray or scipy sparse matrix of shape (n_samples, n_features)
        Validated float data.
    y : ndarray of shape (n_samples,)
        Validated labels.
    sample_weight : array-like of shape (n_samples,) or None
        Non-negative weights (not modified).
    classes : ndarray of shape (n_classes,)
        The fitted classes, sorted.
    offset : array-like of shape (n_samples,) or (n_samples, n_outputs), default=None
        Known raw-output terms per row.

    Returns
    -------
    Objective
        A :class:`~sklearn_neuron._objective.linear.LinearObjective`, wrapped
        in Firth's penalty where ``params.firth``.
    """
    y_index, known = _class_indices(classes, y)
    if not known.all():
        # Every label must be a class (which also rejects a continuous y).
        check_known_labels(np.unique(y[~known]), classes)
    weights: np.ndarray = check_sample_weight(sample_weight, X, X.dtype)
    if params.class_weight is not None:
        class_weight = class_weights_of_labels(params.class_weight, classes, y_index, weights)
        weights = weights * class_weight[y_index]
        check_weight_sum(weights, "sample_weight times class_weight")
    device = resolve_device(params.device)
    X_t = design_tensor(X, device)
    sparse_rows = None if isinstance(X, np.ndarray) else X.tocsr()
    loss = get_classification_loss(params.loss, classes.size)
    target = encode_classes(y_index, classes.size, X_t.dtype, device)
    weight = to_tensor(weights, device, X_t.dtype)
    l2, l1 = penalty_strengths(params.C * float(weights.sum()), params.l1_ratio, params.name)
    offset = check_offset(to_numpy(offset, "offset"), X.shape[0], loss.n_outputs, X.dtype)
    objective = LinearObjective(
        X_t, target, weight, loss, l2, params.fit_intercept, l1=l1, sparse_rows=sparse_rows,
        offset=None if offset is None else to_tensor(offset, device, X_t.dtype),
    )
    if params.firth:
        check_firth_settings(params, classes.size, name=params.name)
        return FirthObjective(objective)
    return objective


def fitted_classifier(
    classifier: NeuronClassifier,
    coef: torch.Tensor,
    intercept: torch.Tensor | None,
    *,
    classes: np.ndarray,
    n_features: int,
    activation: str,
) -> NeuronClassifier:
    """``classifier`` made a fitted model of ``classes`` with these coefficients.

    NeuronClassifierCV scores each point of its path with a scikit-learn
    scorer this way.

    Parameters
    ----------
    classifier : NeuronClassifier
        Changed in place: ``classes_``, ``n_features_in_``, ``coef_`` and
        ``intercept_`` are set.
    coef : torch.Tensor of shape (n_outputs, n_features)
    intercept : torch.Tensor of shape (n_outputs,) or None
        As :meth:`~sklearn_neuron._objective.protocol.Objective.unpack` gives them.
    classes : ndarray of shape (n_classes,)
    n_features : int
    activation : str
        The loss's output activation (``"sigmoid"``, ``"softmax"``).

    Returns
    -------
    NeuronClassifier
        ``classifier``, fitted.
    """
    classifier.classes_ = classes
    classifier.n_features_in_ = n_features
    classifier._set_coefficients(coef, intercept, activation)
    return classifier


class SparseCoefMixin:
    """``sparsify`` and ``densify``: ``coef_`` as a scipy sparse matrix and back.

    As scikit-learn's LogisticRegression and SGDClassifier have them. Only
    the storage of ``coef_`` changes: every method that reads the
    coefficients (predictions, ``partial_fit``, warm starts, inference,
    export) reads a dense copy of a sparse ``coef_``.
    """

    def sparsify(self):
        """Store ``coef_`` as a scipy sparse CSR matrix.

        For coefficients that are mostly zeros (``l1_ratio > 0``), a sparse
        ``coef_`` takes less memory and storage; for others it may take
        more. Predictions are unchanged. ``intercept_`` stays dense, and
        ``module_`` is rebuilt from a dense copy, so that it no longer
        shares memory with ``coef_``. The sparse class follows
        scikit-learn's ``sparse_interface`` configuration (``csr_matrix``
        by default).

        Returns
        -------
        self : object
            The fitted estimator, with a sparse ``coef_``.

        See Also
        --------
        densify : Store ``coef_`` as a dense array again.

        Examples
        --------
        >>> from sklearn.datasets import load_iris
        >>> from sklearn.preprocessing import StandardScaler
        >>> from sklearn_neuron import NeuronClassifier
        >>> X, y = load_iris(return_X_y=True)
        >>> X = StandardScaler().fit_transform(X)
        >>> model = NeuronClassifier(C=0.05, l1_ratio=1.0).fit(X, y)
        >>> dense = model.predict_proba(X)
        >>> type(model.sparsify().coef_).__name__
        'csr_matrix'
        >>> bool((model.predict_proba(X) == dense).all())
        True
        """
        check_is_fitted(self, msg="Estimator, %(name)s, must be fitted before sparsifying.")
        coef = scipy.sparse.csr_matrix(to_numpy(self.coef_))
        if get_config().get("sparse_interface") == "sparray":
            coef = scipy.sparse.csr_array(coef)
        vars(self).pop("_module", None)  # it shared the dense coef_'s memory
        self.coef_ = coef
        return self

    def densify(self):
        """Store ``coef_`` as a dense numpy array again (after :meth:`sparsify`).

        A no-op on a dense ``coef_``.

        Returns
        -------
        self : object
            The fitted estimator, with ``coef_`` a numpy array.

        See Also
        --------
        sparsify : Store ``coef_`` as a scipy sparse matrix.

        Examples
        --------
        >>> from sklearn.datasets import load_iris
        >>> from sklearn_neuron import NeuronClassifier
        >>> X, y = load_iris(return_X_y=True)
        >>> model = NeuronClassifier().fit(X, y).sparsify()
        >>> type(model.densify().coef_).__name__
        'ndarray'
        """
        check_is_fitted(self, msg="Estimator, %(name)s, must be fitted before densifying.")
        if scipy.sparse.issparse(self.coef_):
            vars(self).pop("_module", None)
            self.coef_ = self.coef_.toarray()
        return self


class NeuronClassifier(
    SparseCoefMixin, TensorScoreMixin, ClassifierMixin, InferenceMixin, BaseNeuron
):
    """One torch neuron as a classifier: logistic regression under log loss.

    A network with no hidden layer: one sigmoid unit for two classes, or K
    softmax units for K > 2 classes (multinomial). Trained on the log loss,
    it minimises exactly :class:`~sklearn.linear_model.LogisticRegression`'s
    objective, with the same meaning of ``C``, so every optimizer ends at
    logistic regression's coefficients::

        C * sum_i s_i * loss_i + 1/2 * ||W||_F^2

    where ``s_i`` is ``sample_weight`` times ``class_weight`` and the
    intercept is not penalized.

    Parameters
    ----------
    loss : {"log_loss", "squared_error", "hinge", "squared_hinge", \
            "modified_huber"} or callable, default="log_loss"
        Pointwise loss on the neuron's output. Only ``"log_loss"`` makes
        the neuron logistic regression; the others train the same network
        to a different model:

        - ``"log_loss"``: Bernoulli (binary) or categorical (multiclass)
          negative log-likelihood. Convex; logistic regression.
        - ``"squared_error"``: squared error between the sigmoid/softmax
          probabilities and the one-hot target (the Brier score of each
          sample). Not convex in the weights: the classic "sigmoid network
          trained on MSE".
        - ``"hinge"``, ``"squared_hinge"``, ``"modified_huber"``: margin
          losses on the raw output, as in SGDClassifier. For two classes the
          margin is ``(2y - 1) * z``; for K classes the
          margins are one-vs-rest, ``sum_k phi(s_k z_k)`` with ``s_k = +1``
          for the true class and ``-1`` for the others (as SGDClassifier),
          which keeps them differentiable. ``"hinge"`` is not differentiable:
          it is solved exactly through smoothed problems (see the user
          guide); the other two have a generalized Hessian.
        - a callable ``loss(logits, target) -> per-sample losses`` taking
          torch tensors: ``logits`` of shape (n_samples, 1) with a float 0/1
          ``target`` of the same shape for two classes, or (n_samples, K)
          with class indices ``target`` of shape (n_samples,) for K classes —
          what ``BCEWithLogitsLoss(reduction="none")`` and
          ``CrossEntropyLoss(reduction="none")`` take. Trained through
          autograd; not with ``optimizer="newton"``.

        ``predict_proba`` is the sigmoid/softmax output for every loss, but
        only ``"log_loss"`` makes it a calibrated probability.

    optimizer : {"auto", "lbfgs", "newton", "newton-cg", "sgd", "adam", "adamw", \
            "rmsprop", "adagrad"} or torch.optim.Optimizer subclass, default="auto"
        How the objective is minimised. For a convex loss all reach the same
        optimum (the minibatch ones too: see below); they differ in
        speed. Full batch:

        - ``"newton"``: Newton's method with the exact Hessian solved by
          Cholesky, the classical way to fit logistic regression (IRLS).
          Few iterations (quadratic convergence), each costing
          ``O(n_samples * n_params**2)``; best for few features and classes.
        - ``"newton-cg"``: Hessian-free (truncated) Newton: each step
          solved by conjugate gradients on exact Hessian-vector products
          (two passes over X each), preconditioned by the Hessian's
          diagonal, to a relative residual that tightens near the optimum.
          Newton's few iterations without forming the Hessian: memory of a
          few gradients, for many features and classes. Not with
          ``l1_ratio > 0``, a loss without Hessian, or dask data.
        - ``"lbfgs"``: limited-memory BFGS with a backtracking line search;
          usually one value-and-gradient evaluation per iteration. Cheap
          iterations; best for many features or classes.
        - ``"auto"``: in memory, the one of ``"newton"``, ``"newton-cg"``
          and ``"lbfgs"`` of least predicted time to the same closeness to
          the optimum (passes times cost per pass, from the sizes, sparsity,
          dtype, classes and ``tol``) whose memory estimate fits the budget
          (the user guide's "How auto chooses").
          ``optimizer_`` tells which ran. With ``l1_ratio > 0`` or a loss
          without Hessian, ``"lbfgs"``. On dask data that are not persisted
          (read from storage at every evaluation), ``"newton"`` up to 64
          parameters: it reads the data once per iteration, for value,
          gradient and Hessian together, and needs fewer iterations. On
          dask data of 1,000,000 rows or more Newton starts from its fit on a
          subsample of the blocks (``docs/dask.md``).

        Minibatch (``max_iter`` counts epochs): ``"sgd"``, ``"adam"``,
        ``"adamw"``, ``"rmsprop"``, ``"adagrad"`` (the updates and state of the
        torch.optim classes of those names, without importing torch's compiler
        stack, which a ``torch.optim`` class imports on its first use in a
        process) or any ``torch.optim.Optimizer`` subclass, with
        ``learning_rate`` as ``lr`` and ``optimizer_kwargs`` for the rest
        (one whose ``step`` needs a closure, as ``torch.optim.LBFGS``, is
        refused: use "lbfgs"). The penalty is ``C``'s alone: AdamW's decoupled weight decay is set
        to 0 unless ``optimizer_kwargs`` gives one.

    optimizer_kwargs : dict, default=None
        Keyword arguments of a minibatch optimizer besides ``lr``, e.g.
        ``{"momentum": 0.9}`` for "sgd". Searchable by GridSearchCV as a list
        of dicts.

    learning_rate : float or "auto", default="auto"
        Initial step size (``lr``) of the minibatch optimizers; also the step
        of the proximal L1 update. "auto": ``1 / L`` for "sgd", with ``L`` an
        estimate of the objective's smoothness (the loss's largest curvature
        times the largest eigenvalue of the weighted Gram matrix of the rows)
        and, unless ``optimizer_kwargs`` sets ``momentum`` (or with L1), Nesterov momentum
        for the condition number ``L / l2`` (at most 0.99); 0.05 for
        "adam"/"adamw" (with ``betas=(0.9, 0.99)`` unless ``optimizer_kwargs``
        sets them), 0.01 for "rmsprop", 0.5 for "adagrad". An epoch that
        raises the full objective is undone: the first such epoch after an
        accepted one restarts the optimizer's state, a second in a row
        divides the step by 4, so a too-long step never makes the fit worse
        than its start.

    batch_size : int or "auto", default="auto"
        Rows per minibatch; "auto" is ``min(200, max(32, n_samples // 50))``
        (at most ``n_samples``): about 50 steps an epoch on small data.

    shuffle : bool, default=True
        Whether minibatch training shuffles the rows each epoch.

    n_iter_no_change : int, default=10
        With ``early_stopping``, minibatch training stops when the validation
        score has not improved by ``tol`` for this many epochs.

    early_stopping : bool, default=False
        Minibatch training holds out ``validation_fraction`` of the data
        (stratified), stops on its accuracy and keeps the best parameters.

    validation_fraction : float, default=0.1
        Share of the data held out for early stopping.

    l1_ratio : float, default=0.0
        Elastic-net mixing, as in LogisticRegression: the penalty is
        ``(1 - l1_ratio) / 2 * ||W||^2 + l1_ratio * ||W||_1``. ``l1_ratio > 0``
        gives exact zeros: OWL-QN for "lbfgs", a proximal step after plain
        "sgd" steps ("newton", the adaptive optimizers, a momentum and any
        other ``torch.optim`` class refuse it: they stop short of the optimum).

    C : float, default=1.0
        Inverse regularization strength, as in LogisticRegression: smaller
        values mean a stronger L2 penalty. ``C=np.inf`` means no penalty.

    fit_intercept : bool, default=True
        Whether the layer has a bias (intercept), which is never penalized.

    class_weight : dict or "balanced", default=None
        Weights of the classes, multiplied into ``sample_weight``.
        ``"balanced"`` uses ``n_samples / (n_classes * np.bincount(y))``;
        with ``sample_weight``, the weighted counts:
        ``sum(sample_weight) / (n_classes * np.bincount(y, sample_weight))``,
        as LogisticRegression weighs its classes (the same on dask data).
        ``n_classes`` counts the classes present in y.

    firth : bool, default=False
        Fit Firth's bias-reduced logistic regression: maximise the
        log-likelihood plus ``1/2 log det I(beta)`` (the Jeffreys prior),
        whose estimate is finite also where the classes are (quasi-)separated
        and the maximum-likelihood one does not exist, with less small-sample
        bias (Firth, 1993; R's logistf and brglm2). Fitted by Newton (Fisher
        scoring on the modified score) on dense, sparse, torch and dask
        data; needs ``C=np.inf``, ``loss="log_loss"``, ``optimizer`` "auto"
        or "newton" and two classes, and refuses anything else with a
        ValueError. ``inference`` and ``summary`` then report Wald standard
        errors, profile penalized-likelihood intervals and penalized
        likelihood-ratio tests, as logistf; ``objective_`` is the penalized
        objective.

    tol : float, default=1e-4
        Full-batch optimizers stop when the largest absolute entry of the
        gradient (the pseudo-gradient with an L1 term) of the
        objective divided by ``C * sum(s_i)`` (a weighted mean loss plus
        ``||W||^2 / (2 C sum(s_i))``) is at most ``tol``. This is the scale on
        which LogisticRegression's ``lbfgs`` and ``newton-cholesky`` solvers
        apply their ``tol``, so the same ``tol`` asks for the same accuracy.
        The tolerance is floored at 100 machine epsilons of the data's dtype
        (1.2e-5 in float32), the accuracy of a gradient in that dtype; a
        full-batch fit of float32 data in memory asked for less continues
        in float64 from there (``coef_`` stays float32). The minibatch
        optimizers apply the same rule at each epoch's full
        gradient, and also ask the Newton step there to be within ``tol``
        of the coefficients' scale, where it is affordable. Up to four damped
        Newton steps from the epoch's point may be taken to reach such a
        point; if they do not, the epochs go on from where they led (see the
        user guide, "Optimizers").

    max_iter : int, default=100
        Maximum number of optimizer iterations (epochs for the minibatch
        optimizers). When it ends the fit before
        ``tol`` is met, a :class:`~sklearn.exceptions.ConvergenceWarning`
        says so.

    warm_start : bool, default=False
        Start from the previous fit's coefficients when their shape fits.

    random_state : int, RandomState instance or None, default=None
        Seed of the shuffling and of the early-stopping split of minibatch
        training; CPU fits with a fixed seed are reproducible bit for bit.
        The full-batch optimizers are deterministic and start from zero
        coefficients (intercepts of the best constant model), so it has no
        effect on them.

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
        Where the data and the module live: "cpu", or "cuda" where torch
        sees a GPU.

    Attributes
    ----------
    classes_ : ndarray of shape (n_classes,)
        Class labels.
    coef_ : ndarray of shape (1, n_features) or (n_classes, n_features)
        Weights of the layer: one row for two classes, one per class
        otherwise (summing to zero over classes, as in LogisticRegression).
    intercept_ : ndarray of shape (1,) or (n_classes,)
        Biases of the layer (zero when ``fit_intercept=False``).
    module_ : NeuronModule
        The fitted torch module, on the CPU, built on first access from
        ``coef_`` and ``intercept_`` and sharing their memory (training it
        further in torch moves them; it is not saved with the estimator).
        Its ``forward`` returns **logits** (the raw
        output ``x @ W.T + b``); ``module_.predict_mean(x)`` applies the
        sigmoid or softmax.
    n_features_in_ : int
        Number of features seen during fit.
    feature_names_in_ : ndarray of shape (n_features_in_,)
        Names of the features, when X has string column names.
    n_iter_ : int
        Number of optimizer iterations run.
    objective_ : float
        Final objective, ``sum_i s_i loss_i / S + ||W||^2 / (2 C S)`` with
        ``S = sum_i s_i`` (LogisticRegression's objective divided by ``C S``).
        On dask data a final Newton step may be certified instead of
        evaluated (docs/dask.md): the value is then the step's quadratic
        model, within 1e-9 relative of the objective at ``coef_``.
    objective_curve_ : ndarray
        Full batch: the objective at the start and after each iteration.
        Minibatch: the mean objective of each epoch (as ``loss_curve_``).
    converged_ : bool
        Whether the fit met ``tol``.
    optimizer_ : str
        The optimizer that ran (``"auto"`` resolved).
    loss_curve_ : ndarray of shape (n_iter_,)
        Minibatch optimizers only: mean objective of each epoch.
    validation_scores_ : list of float or None
        Minibatch optimizers only: validation accuracy of each epoch with
        ``early_stopping``, else None.
    optimizer_state_ : dict
        Minibatch optimizers only: the torch optimizer's state, which
        ``partial_fit`` continues from, as numpy arrays and Python values
        (saved with pickle or skops and loaded on any device).
    t_ : int
        Minibatch optimizers only: number of samples seen in training.
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
    sklearn.linear_model.LogisticRegression : The same model, fitted by
        scikit-learn's solvers.

    Notes
    -----
    Data in float32 is fitted in float32; anything else in float64, as
    LogisticRegression does. Only ``loss="log_loss"`` makes ``predict_proba``
    a calibrated probability.

    Examples
    --------
    >>> from sklearn.datasets import load_breast_cancer
    >>> from sklearn.linear_model import LogisticRegression
    >>> from sklearn.preprocessing import StandardScaler
    >>> from sklearn_neuron import NeuronClassifier
    >>> X, y = load_breast_cancer(return_X_y=True)
    >>> X = StandardScaler().fit_transform(X)
    >>> neuron = NeuronClassifier(tol=1e-8).fit(X, y)
    >>> logreg = LogisticRegression(tol=1e-8, max_iter=1000).fit(X, y)
    >>> bool(abs(neuron.coef_ - logreg.coef_).max() < 1e-4)
    True
    >>> neuron.predict_proba(X[:2]).round(3)
    array([[1., 0.],
           [1., 0.]])
    """

    _parameter_constraints: dict = {
        **BaseNeuron._parameter_constraints,
        "loss": [StrOptions(set(CLASSIFICATION_LOSSES)), callable],
        "C": [Interval(Real, 0, None, closed="right")],
        "class_weight": [dict, StrOptions({"balanced"}), None],
        "firth": ["boolean"],
    }

    def __init__(
        self,
        loss="log_loss",
        *,
        optimizer="auto",
        C=1.0,
        l1_ratio=0.0,
        optimizer_kwargs=None,
        learning_rate="auto",
        batch_size="auto",
        shuffle=True,
        n_iter_no_change=10,
        early_stopping=False,
        validation_fraction=0.1,
        fit_intercept=True,
        class_weight=None,
        firth=False,
        tol=1e-4,
        max_iter=100,
        warm_start=False,
        random_state=None,
        verbose=0,
        callbacks=None,
        device="cpu",
    ):
        self.loss = loss
        self.optimizer = optimizer
        self.C = C
        self.l1_ratio = l1_ratio
        self.optimizer_kwargs = optimizer_kwargs
        self.learning_rate = learning_rate
        self.batch_size = batch_size
        self.shuffle = shuffle
        self.n_iter_no_change = n_iter_no_change
        self.early_stopping = early_stopping
        self.validation_fraction = validation_fraction
        self.fit_intercept = fit_intercept
        self.class_weight = class_weight
        self.firth = firth
        self.tol = tol
        self.max_iter = max_iter
        self.warm_start = warm_start
        self.random_state = random_state
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
    ) -> NeuronClassifier:
        """Fit the neuron to the training data.

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)
            Training data. Sparse X (CSR/CSC) is used as torch sparse
            tensors, never densified.
        y : array-like of shape (n_samples,)
            Class labels.
        sample_weight : array-like of shape (n_samples,), default=None
            Non-negative weights of the samples; ``None`` weighs all equally.
        offset : array-like of shape (n_samples,) or (n_samples, n_classes), default=None
            A known term added to each sample's logit with coefficient 1
            (statsmodels' ``Logit(y, X, offset=o)``): shape (n_samples,) for
            two classes (the second class's log-odds), (n_samples, n_classes)
            for more, one column per class of ``classes_`` (only differences
            between the columns matter).

        Returns
        -------
        self : NeuronClassifier
            The fitted estimator.
        """
        with self._discard_state_on_error():
            objective = self._build_objective(X, y, sample_weight, reset=True, offset=offset)
            return self._fit_objective(objective, data=(X, y, sample_weight))

    @available_if(BaseNeuron._is_stochastic)
    @tensor_inputs
    @with_callbacks
    def partial_fit(
        self,
        X: ArrayLike,
        y: ArrayLike,
        classes: ArrayLike | None = None,
        sample_weight: ArrayLike | None = None,
        offset: ArrayLike | None = None,
    ) -> NeuronClassifier:
        """One epoch of minibatch training on (X, y), continuing the previous ones.

        Only for the minibatch optimizers. Plain steps (``optimizer_kwargs``'
        momentum only, not ``fit``'s automatic one); the optimizer's state
        (momentum, Adam's moments) carries over between calls of the same
        optimizer, and starts afresh after a fit by another.

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)
        y : array-like of shape (n_samples,)
        classes : array-like of shape (n_classes,), default=None
            All the classes; required on the first call, optional (and
            checked) afterwards.
        sample_weight : array-like of shape (n_samples,), default=None
        offset : array-like, default=None
            This batch's offsets, as in :meth:`fit`.

        Returns
        -------
        self : NeuronClassifier
        """
        first_call = not hasattr(self, "classes_")
        if first_call:
            self._validate_params()
            if classes is None:
                raise ValueError(
                    "classes must be passed on the first call to partial_fit: the "
                    "list of all classes, since one batch may not contain them all."
                )
            with self._discard_state_on_error():
                objective = self._build_objective(
                    X, y, sample_weight, reset=True, classes=classes, offset=offset
                )
                return self._partial_fit_objective(
                    objective, first_call=True, data=(X, y, sample_weight)
                )
        if classes is not None and not np.array_equal(np.unique(classes), self.classes_):
            raise ValueError(
                f"classes={np.unique(classes).tolist()} differs from the classes of the "
                f"first partial_fit call, {self.classes_.tolist()}; a neuron's outputs "
                "are fixed at the first call. Refit from scratch to change them."
            )
        objective = self._build_objective(X, y, sample_weight, reset=False, offset=offset)
        return self._partial_fit_objective(
            objective, first_call=False, data=(X, y, sample_weight)
        )

    def _build_objective(
        self, X, y, sample_weight, *, reset, classes=None, check_finite=True, offset=None,
        exposure=None,
    ):
        """Validate the data and build the objective this estimator minimises.

        With ``reset=True`` (fit) the classes and features are learnt; with
        ``reset=False`` the data are checked against the fitted ones, which
        is how inference rebuilds the fitted objective on the training data.
        ``check_finite=False`` leaves the finiteness of X to the caller. The
        objective itself is :func:`classifier_objective`'s.
        """
        if exposure is not None:
            raise ValueError(self._exposure_refusal())
        if self.firth:
            check_firth_settings(self)
        if any_dask(X, y, sample_weight, offset):  # reductions, never gathered
            objective = dask_classifier_objective(
                self, X, y, sample_weight, reset=reset, classes=classes,
                check_finite=check_finite, offset=offset,
            )
            return firth_objective(self, objective) if self.firth else objective
        X, y = validate_arrays(self, X, y, reset=reset, ensure_all_finite=check_finite)
        check_labels(y)
        if reset:
            self.classes_ = fitted_classes(y, classes)
        return classifier_objective(
            ClassifierParams.of(self), X, y, sample_weight, self.classes_, offset=offset
        )

    def _first_partial_fit_theta(self, objective):
        # The first batch's class frequencies start the intercepts only when
        # it holds every class: a missing class would start at -inf.
        share = objective.weight @ objective.target
        if objective.n_outputs == 1:
            share = torch.cat([share, 1.0 - share])
        if bool((share > 0).all()):
            return objective.initial_theta()
        return objective.zeros()

    def _stratify_labels(self, objective):
        target = objective.target
        return (target[:, 0] if target.shape[1] == 1 else target.argmax(dim=1)).cpu().numpy()

    def _validation_score(self, objective, theta):
        """Weighted accuracy of ``theta`` on a held-out objective's data."""
        raw = objective.raw(theta)
        if raw.shape[1] == 1:
            correct = (raw[:, 0] > 0).to(raw.dtype) == objective.target[:, 0]
        else:
            correct = raw.argmax(dim=1) == objective.target.argmax(dim=1)
        return float(torch.dot(objective.weight, correct.to(raw.dtype)))

    @tensor_outputs
    @maps_dask_blocks
    def decision_function(self, X: ArrayLike, offset: ArrayLike | None = None) -> np.ndarray:
        """Raw output of the neuron (logits) for each sample.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
        offset : array-like of shape (n_samples,) or (n_samples, n_classes), default=None
            The samples' offsets, as in :meth:`fit`.

        Returns
        -------
        scores : ndarray of shape (n_samples,) or (n_samples, n_classes)
            The logit of the second class for two classes; the logit of each
            class otherwise.
        """
        raw = self._raw_output(X, offset)
        return raw[:, 0] if raw.shape[1] == 1 else raw

    @tensor_outputs
    @maps_dask_blocks
    def predict(self, X: ArrayLike, offset: ArrayLike | None = None) -> np.ndarray:
        """Predict the class of each sample.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
        offset : array-like of shape (n_samples,) or (n_samples, n_classes), default=None
            The samples' offsets, as in :meth:`fit`.

        Returns
        -------
        y_pred : ndarray of shape (n_samples,)
        """
        raw = self._raw_output(X, offset)
        index = (raw[:, 0] > 0).astype(int) if raw.shape[1] == 1 else raw.argmax(axis=1)
        return self.classes_[index]

    @tensor_outputs
    @maps_dask_blocks
    def predict_log_proba(self, X: ArrayLike, offset: ArrayLike | None = None) -> np.ndarray:
        """Log of the neuron's sigmoid / softmax output, computed stably.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
        offset : array-like of shape (n_samples,) or (n_samples, n_classes), default=None
            The samples' offsets, as in :meth:`fit`.

        Returns
        -------
        log_proba : ndarray of shape (n_samples, n_classes)
        """
        raw = torch.from_numpy(self._raw_output(X, offset))
        if raw.shape[1] == 1:
            raw = torch.cat([-raw, raw], dim=1)
            return torch.nn.functional.logsigmoid(raw).numpy()
        return torch.log_softmax(raw, dim=1).numpy()

    @tensor_outputs
    @maps_dask_blocks
    def predict_proba(self, X: ArrayLike, offset: ArrayLike | None = None) -> np.ndarray:
        """The neuron's sigmoid / softmax output: class probabilities.

        Calibrated probabilities only for ``loss="log_loss"``.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
        offset : array-like of shape (n_samples,) or (n_samples, n_classes), default=None
            The samples' offsets, as in :meth:`fit`.

        Returns
        -------
        proba : ndarray of shape (n_samples, n_classes)
            Columns follow ``classes_``.
        """
        raw = torch.from_numpy(self._raw_output(X, offset))
        if raw.shape[1] == 1:
            return torch.sigmoid(torch.cat([-raw, raw], dim=1)).numpy()
        return torch.softmax(raw, dim=1).numpy()
