"""NeuronClassifier: a single layer of sigmoid/softmax neurons as a classifier."""

from numbers import Real

import numpy as np
import torch
from sklearn.base import ClassifierMixin
from sklearn.utils._param_validation import Interval, StrOptions
from sklearn.utils.class_weight import compute_class_weight
from sklearn.utils.multiclass import check_classification_targets
from sklearn.utils.validation import validate_data

from ._base import BaseNeuron
from ._inference import InferenceMixin
from ._losses import CLASSIFICATION_LOSSES, encode_classes
from ._objective import LinearObjective
from ._validation import check_sample_weight, design_tensor

try:  # scikit-learn >= 1.6 names the decorator this way
    from sklearn.base import _fit_context
except ImportError:  # pragma: no cover
    from sklearn.utils._param_validation import _fit_context


class NeuronClassifier(ClassifierMixin, InferenceMixin, BaseNeuron):
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
    loss : {"log_loss"}, default="log_loss"
        Pointwise loss on the neuron's output. ``"log_loss"`` is the
        Bernoulli (binary) or categorical (multiclass) negative
        log-likelihood: logistic regression.

    optimizer : {"auto", "lbfgs", "newton"}, default="auto"
        How the objective is minimised, always on the full batch. All reach
        the same optimum; they differ in speed:

        - ``"newton"``: Newton's method with the exact Hessian solved by
          Cholesky, the classical way to fit logistic regression (IRLS).
          Few iterations (quadratic convergence), each costing
          ``O(n_samples * n_params**2)``; best for few features and classes.
        - ``"lbfgs"``: limited-memory BFGS with a backtracking line search;
          usually one value-and-gradient evaluation per iteration. Cheap
          iterations; best for many features or classes.
        - ``"auto"``: ``"newton"`` when one Hessian costs at most ``2e7``
          multiply-adds (``n_samples * n_params**2``, with ``n_params`` the
          number of coefficients and intercepts), ``"lbfgs"`` otherwise:
          the faster of the two on each row of ``benchmarks/RESULTS.md``.
          ``optimizer_`` tells which ran.

    C : float, default=1.0
        Inverse regularization strength, as in LogisticRegression: smaller
        values mean a stronger L2 penalty. ``C=np.inf`` means no penalty.

    fit_intercept : bool, default=True
        Whether the layer has a bias (intercept), which is never penalized.

    class_weight : dict or "balanced", default=None
        Weights of the classes, multiplied into ``sample_weight``.
        ``"balanced"`` uses ``n_samples / (n_classes * np.bincount(y))``.

    tol : float, default=1e-4
        Stop when the largest absolute entry of the gradient of the
        objective divided by ``C * sum(s_i)`` (a weighted mean loss plus
        ``||W||^2 / (2 C sum(s_i))``) is at most ``tol``. This is the scale on
        which LogisticRegression's ``lbfgs`` and ``newton-cholesky`` solvers
        apply their ``tol``, so the same ``tol`` asks for the same accuracy.
        The tolerance is floored at 100 machine epsilons of the data's dtype
        (1.2e-5 in float32), the accuracy of a gradient in that dtype.

    max_iter : int, default=100
        Maximum number of optimizer iterations. When it ends the fit before
        ``tol`` is met, a :class:`~sklearn.exceptions.ConvergenceWarning`
        says so.

    warm_start : bool, default=False
        Start from the previous fit's coefficients when their shape fits.

    random_state : int, RandomState instance or None, default=None
        Seed of the stochastic parts of fitting. The full-batch optimizers
        ("lbfgs", "newton") are deterministic and start from zero, so it has
        no effect on them.

    verbose : int, default=0
        When positive, print the objective and gradient at every iteration.

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
        The fitted torch module. Its ``forward`` returns **logits** (the raw
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
    objective_curve_ : ndarray of shape (n_iter_ + 1,)
        Objective at the start and after each iteration.
    converged_ : bool
        Whether the fit met ``tol``.
    optimizer_ : str
        The optimizer that ran (``"auto"`` resolved).

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
        "loss": [StrOptions(set(CLASSIFICATION_LOSSES))],
        "C": [Interval(Real, 0, None, closed="right")],
        "class_weight": [dict, StrOptions({"balanced"}), None],
    }

    def __init__(
        self,
        loss="log_loss",
        *,
        optimizer="auto",
        C=1.0,
        fit_intercept=True,
        class_weight=None,
        tol=1e-4,
        max_iter=100,
        warm_start=False,
        random_state=None,
        verbose=0,
        device="cpu",
    ):
        self.loss = loss
        self.optimizer = optimizer
        self.C = C
        self.fit_intercept = fit_intercept
        self.class_weight = class_weight
        self.tol = tol
        self.max_iter = max_iter
        self.warm_start = warm_start
        self.random_state = random_state
        self.verbose = verbose
        self.device = device

    @_fit_context(prefer_skip_nested_validation=True)
    def fit(self, X, y, sample_weight=None):
        """Fit the neuron to the training data.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Training data.
        y : array-like of shape (n_samples,)
            Class labels.
        sample_weight : array-like of shape (n_samples,), default=None
            Non-negative weights of the samples; ``None`` weighs all equally.

        Returns
        -------
        self : NeuronClassifier
            The fitted estimator.
        """
        return self._fit_objective(self._build_objective(X, y, sample_weight, reset=True))

    def _build_objective(self, X, y, sample_weight, *, reset):
        """Validate the data and build the objective this estimator minimises.

        With ``reset=True`` (fit) the classes and features are learnt; with
        ``reset=False`` the data are checked against the fitted ones, which
        is how inference rebuilds the fitted objective on the training data.
        """
        X, y = validate_data(self, X, y, dtype=[np.float64, np.float32], reset=reset)
        check_classification_targets(y)
        if reset:
            classes, y_index = np.unique(y, return_inverse=True)
            if classes.size < 2:
                raise ValueError(
                    "NeuronClassifier needs samples of at least 2 classes in y, but "
                    f"the data contain only one class: {classes[0]!r}. Check how y "
                    "was built or subsampled."
                )
            self.classes_ = classes
        else:
            unknown = np.setdiff1d(y, self.classes_)
            if unknown.size:
                raise ValueError(
                    f"y has labels {unknown.tolist()} that the model was not fitted "
                    f"on; its classes are {self.classes_.tolist()}."
                )
            y_index = np.searchsorted(self.classes_, y)
        classes = self.classes_
        sample_weight = check_sample_weight(sample_weight, X, X.dtype)
        if self.class_weight is not None:
            class_weight = compute_class_weight(self.class_weight, classes=classes, y=y)
            sample_weight = sample_weight * class_weight[y_index]

        device = self._device()
        X_t = design_tensor(X, device)
        loss = CLASSIFICATION_LOSSES[self.loss](classes.size)
        target = encode_classes(y_index, classes.size, X_t.dtype, device)
        weight = torch.as_tensor(sample_weight, dtype=X_t.dtype, device=device)
        l2 = 0.0 if np.isinf(self.C) else 1.0 / (self.C * float(sample_weight.sum()))
        return LinearObjective(X_t, target, weight, loss, l2, self.fit_intercept)

    def decision_function(self, X):
        """Raw output of the neuron (logits) for each sample.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)

        Returns
        -------
        scores : ndarray of shape (n_samples,) or (n_samples, n_classes)
            The logit of the second class for two classes; the logit of each
            class otherwise.
        """
        raw = self._raw_output(X)
        return raw[:, 0] if raw.shape[1] == 1 else raw

    def predict(self, X):
        """Predict the class of each sample.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)

        Returns
        -------
        y_pred : ndarray of shape (n_samples,)
        """
        raw = self._raw_output(X)
        index = (raw[:, 0] > 0).astype(int) if raw.shape[1] == 1 else raw.argmax(axis=1)
        return self.classes_[index]

    def predict_log_proba(self, X):
        """Log of the neuron's sigmoid / softmax output, computed stably.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)

        Returns
        -------
        log_proba : ndarray of shape (n_samples, n_classes)
        """
        raw = torch.from_numpy(self._raw_output(X))
        if raw.shape[1] == 1:
            raw = torch.cat([-raw, raw], dim=1)
            return torch.nn.functional.logsigmoid(raw).numpy()
        return torch.log_softmax(raw, dim=1).numpy()

    def predict_proba(self, X):
        """The neuron's sigmoid / softmax output: class probabilities.

        Calibrated probabilities only for ``loss="log_loss"``.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)

        Returns
        -------
        proba : ndarray of shape (n_samples, n_classes)
            Columns follow ``classes_``.
        """
        raw = torch.from_numpy(self._raw_output(X))
        if raw.shape[1] == 1:
            return torch.sigmoid(torch.cat([-raw, raw], dim=1)).numpy()
        return torch.softmax(raw, dim=1).numpy()
