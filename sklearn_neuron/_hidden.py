"""The hidden layer: a network's output layer as logistic regression on its features.

A classification network ends in a linear layer with a sigmoid (one unit) or
softmax (K units) on the log loss. Hold the hidden layers fixed and that
layer's training objective is logistic regression's on the last hidden
layer's activations: at a stationary point of the network's objective with
an L2 penalty on the output weights (none on its biases), the output layer
*is* the logistic regression of the target on those activations, at the
matching ``C``. Away from one it is not, and by how much is measurable.

This module owns that question: reading the last hidden layer's activations
and the output layer out of a fitted network (scikit-learn's MLPClassifier,
a torch ``nn.Sequential`` ending in ``nn.Linear``, a skorch net on such a
module), the ``C`` its penalty corresponds to, and
:func:`certify_output_layer`, which certifies the output layer as logistic
regression on those features (:func:`~sklearn_neuron.certify`), refits that
logistic regression exactly and reports what the refit changes.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
import torch
from numpy.typing import ArrayLike
from scipy.special import expit, softmax
from sklearn.metrics import log_loss
from sklearn.utils.validation import check_array, check_is_fitted

from ._classifier import NeuronClassifier

if TYPE_CHECKING:
    from ._certify import CertificateResult

#: The refit's tolerance on the gradient of the mean objective: far below any
#: distance a user would call "the same model", above float64's floor (2.2e-14).
_REFIT_TOL = 1e-12
#: The refit's Newton iterations (it converges in a few dozen from zero).
_REFIT_MAX_ITER = 500
#: Default largest distance to the optimum (proved, Euclidean) at which the
#: output layer is called logistic regression.
DEFAULT_TOL = 1e-6

#: scikit-learn's MLP hidden activations, by their ``activation`` name.
_MLP_ACTIVATIONS = {
    "identity": lambda z: z,
    "logistic": expit,
    "tanh": np.tanh,
    "relu": lambda z: np.maximum(z, 0.0),
}


@dataclass(frozen=True)
class _Head:
    """A network read as hidden features plus an output layer.

    ``coef`` (n_outputs, n_hidden) and ``intercept`` (n_outputs,) or None are
    the output layer in LogisticRegression's layout: one row for two classes,
    K rows for K classes. ``features(X)`` gives the last hidden layer's
    activations in float64. ``C`` is the output layer's LogisticRegression C.
    """

    name: str
    features: object
    coef: np.ndarray
    intercept: object
    classes: np.ndarray
    C: float
    C_source: str


@dataclass(frozen=True, repr=False)
class OutputLayerCertificate:
    """What :func:`certify_output_layer` found about a network's output layer.

    Attributes
    ----------
    network : str
        The network, in words.
    C : float
        LogisticRegression's ``C`` of the output layer's objective.
    C_source : str
        Where ``C`` comes from (``1/alpha`` of an MLPClassifier, or given).
    classes : ndarray
        The class labels, in the order of the output units.
    features : ndarray of shape (n_samples, n_hidden)
        The last hidden layer's activations on the training data (float64).
    coef : ndarray of shape (1, n_hidden) or (n_classes, n_hidden)
        The network's output layer in LogisticRegression's layout.
    intercept : ndarray of shape (1,) or (n_classes,), or None
        Its biases (softmax biases centred to sum to zero, as the refit's:
        adding one number to all of them changes no prediction); None for an
        output layer without bias.
    certificate : CertificateResult
        :func:`~sklearn_neuron.certify` of ``(coef, intercept)`` on
        ``features`` at ``C``: proved bounds on the objective gap and on the
        (Euclidean) distance to the optimum, from the gradient and curvature
        at the network's output layer alone.
    refit : NeuronClassifier
        Logistic regression of ``y`` on ``features`` at ``C``, fitted by
        Newton's method to ``tol=1e-12``.
    coef_distance : float
        Largest absolute difference between the output layer's coefficients
        and (centred) intercepts and the refit's: the measured distance.
    objective : tuple of float
        LogisticRegression's objective ``C * sum_i s_i loss_i + ||W||^2 / 2``
        (the summed loss for ``C=inf``) at the network's output layer and at
        the refit: the refit's is the smallest there is.
    heldout_log_loss : tuple of float or None
        Log loss on the held-out data of the network and of the network with
        the refit as its output layer; None without held-out data.
    is_logistic_regression : bool
        Whether the output layer is proved within ``tol`` of the optimum.
    tol : float
        The distance at which the output layer is called logistic regression.
    """

    network: str
    C: float
    C_source: str
    classes: np.ndarray
    features: np.ndarray
    coef: np.ndarray
    intercept: object
    certificate: CertificateResult
    refit: NeuronClassifier
    coef_distance: float
    objective: tuple
    heldout_log_loss: object
    is_logistic_regression: bool
    tol: float

    @property
    def verdict(self):
        """One sentence: is the output layer logistic regression, and how far from it."""
        where = (
            f"on the {self.features.shape[1]} activations of its last hidden layer at "
            f"C={self.C:.6g} ({self.C_source})"
        )
        proved = self.certificate
        if self.is_logistic_regression:
            return (
                f"The output layer of {self.network} is logistic regression {where}: "
                f"proved within {proved.coef_distance_bound:.2g} of the optimum "
                f"(the refit is {self.coef_distance:.1e} away)."
            )
        before, after = self.objective
        lower = proved.coef_distance_lower
        return (
            f"The output layer of {self.network} is not logistic regression {where}: "
            f"{self.coef_distance:.3g} from the refit in coefficients"
            + (f" (proved at least {lower:.2g} away)" if lower > 0 else "")
            + f", training objective {before:.6g} against the optimum's {after:.6g}: "
            "the network is not at a stationary point of its training objective."
        )

    def __repr__(self):
        lower, upper = self.certificate.objective_gap_bounds
        lines = [
            f"OutputLayerCertificate({self.network}, C={self.C:.6g})",
            f"  {self.verdict}",
            f"  proved: {lower:.3g} <= objective gap <= {upper:.3g}; "
            f"{self.certificate.coef_distance_lower:.3g} <= distance to the optimum "
            f"<= {self.certificate.coef_distance_bound:.3g}",
        ]
        before, after = self.objective
        lines.append(f"  training objective: {before:.10g} -> {after:.10g} (refit)")
        if self.heldout_log_loss is not None:
            before, after = self.heldout_log_loss
            lines.append(f"  held-out log loss: {before:.6g} -> {after:.6g} (refit)")
        return "\n".join(lines) + ")"


# -- reading a network -------------------------------------------------------------
def _mlp_head(network, C, classes):
    check_is_fitted(network, "coefs_")
    if C is not None:
        raise ValueError(
            "C is not an argument for an MLPClassifier: its output layer's C is "
            f"1/alpha = 1/{network.alpha!r}; drop C."
        )
    if classes is not None:
        raise ValueError(
            "classes is not an argument for an MLPClassifier (it has classes_); drop it."
        )
    n_outputs = network.coefs_[-1].shape[1]
    if network.out_activation_ == "logistic" and n_outputs > 1:
        raise ValueError(
            f"the MLPClassifier was fitted on multilabel targets ({n_outputs} independent "
            "logistic outputs); certify_output_layer takes binary or multiclass ones."
        )
    if network.out_activation_ not in ("logistic", "softmax"):
        raise ValueError(
            f"the MLPClassifier's output activation is {network.out_activation_!r}; "
            "certify_output_layer needs a logistic or softmax output."
        )
    coefs = [np.asarray(c, dtype=np.float64) for c in network.coefs_]
    intercepts = [np.asarray(b, dtype=np.float64) for b in network.intercepts_]
    activation = _MLP_ACTIVATIONS[network.activation]

    def features(X):
        X = check_array(X, dtype=np.float64)
        if X.shape[1] != network.n_features_in_:
            raise ValueError(
                f"X has {X.shape[1]} features; the MLPClassifier takes {network.n_features_in_}."
            )
        for W, b in zip(coefs[:-1], intercepts[:-1], strict=True):
            X = activation(X @ W + b)
        return X

    # MLPClassifier minimises  1/S sum_i s_i loss_i + alpha / (2 S) * sum of the
    # squared weights of every layer (none on intercepts). Hidden layers held
    # fixed, times S / alpha that is  (1/alpha) sum_i s_i loss_i + ||W_out||^2 / 2
    # plus a constant: LogisticRegression's objective at C = 1 / alpha.
    C = math.inf if network.alpha == 0 else 1.0 / network.alpha
    return _Head(
        f"MLPClassifier(hidden_layer_sizes={network.hidden_layer_sizes!r}, "
        f"activation={network.activation!r})",
        features,
        coefs[-1].T.copy(),
        intercepts[-1].copy(),
        np.asarray(network.classes_),
        C,
        f"1/alpha, alpha={network.alpha:g}",
    )


def _output_layer(module):
    """The last layer of an ``nn.Sequential`` if it is an ``nn.Linear``, else None."""
    if isinstance(module, torch.nn.Sequential) and len(module):
        if isinstance(module[-1], torch.nn.Linear):
            return module[-1]
    return None


def _sequential_head(module, C, classes, y, name):
    linear = _output_layer(module)
    if linear is None:
        raise TypeError(
            f"certify_output_layer needs a torch.nn.Sequential whose last layer is a "
            f"torch.nn.Linear (the output layer, returning logits); got {type(module).__name__}."
        )
    if len(module) < 2:
        raise ValueError(
            "the nn.Sequential has no hidden layer (only its nn.Linear): it is one "
            "neuron; certify(module, X, y, C=...) checks it directly."
        )
    if C is None:
        raise ValueError(
            "give C, the output layer's LogisticRegression C: for a mean loss plus "
            "weight decay lam on the output weights (not their bias), C = 1 / (n_samples * lam)."
        )
    n_outputs = linear.out_features
    if classes is None:
        classes = np.unique(np.asarray(y))
    classes = np.asarray(classes)
    expected = 2 if n_outputs == 1 else n_outputs
    if classes.ndim != 1 or np.unique(classes).size != classes.size or classes.size != expected:
        raise ValueError(
            f"the output layer has {n_outputs} output(s), for {expected} classes; got "
            f"classes {classes.tolist()}: pass classes=... (the label of each output, in order)."
        )
    parameter = linear.weight

    def features(X):
        X = check_array(X, dtype=np.float64)
        first = module[0]
        if isinstance(first, torch.nn.Linear) and X.shape[1] != first.in_features:
            raise ValueError(
                f"X has {X.shape[1]} features; the network takes {first.in_features}."
            )
        inputs = torch.as_tensor(X, dtype=parameter.dtype, device=parameter.device)
        was_training = module.training
        module.eval()  # dropout off, batch norm on its running statistics
        try:
            with torch.no_grad():
                hidden = module[:-1](inputs)
        finally:
            module.train(was_training)
        return hidden.detach().cpu().numpy().astype(np.float64)

    weight = linear.weight.detach().cpu().numpy().astype(np.float64)
    bias = None if linear.bias is None else linear.bias.detach().cpu().numpy().astype(np.float64)
    paired = n_outputs == 2
    if paired:
        # Two softmax units are one sigmoid unit of their difference w = W1 - W0.
        # With ||W0||^2 + ||W1||^2 = ||w||^2 / 2 + ||W0 + W1||^2 / 2, the objective
        # C sum loss + (||W0||^2 + ||W1||^2) / 2 is, over the pairs with that
        # difference, (C' sum loss + ||w||^2 / 2) / 2 at C' = 2C: the difference
        # is logistic regression at 2C (and W0 + W1 = 0 at any stationary point).
        weight = weight[1:] - weight[:1]
        bias = None if bias is None else bias[1:] - bias[:1]
        C = 2.0 * C
    return _Head(
        name,
        features,
        weight,
        bias,
        classes,
        float(C),
        "given" + (", doubled for two softmax outputs read as one sigmoid" if paired else ""),
    )


def _skorch_head(net, C, classes, y):
    module = getattr(net, "module_", None)
    if module is None:
        raise ValueError(
            f"the {type(net).__name__} is not initialized (no module_); fit it first."
        )
    criterion = getattr(net, "criterion_", None)
    linear = _output_layer(module)
    n_outputs = None if linear is None else linear.out_features
    wanted = torch.nn.BCEWithLogitsLoss if n_outputs == 1 else torch.nn.CrossEntropyLoss
    if n_outputs is not None and not isinstance(criterion, wanted):
        raise ValueError(
            f"the net's criterion is {type(criterion).__name__}; an output layer of "
            f"{n_outputs} logit(s) is logistic regression under {wanted.__name__}: "
            "train the net with that criterion."
        )
    if classes is None and getattr(net, "classes_", None) is not None:
        classes = np.asarray(net.classes_)
        if n_outputs == 1 and classes.size != 2:
            classes = None
    return _sequential_head(module, C, classes, y, f"skorch {type(net).__name__}")


def _read_network(network, C, classes, y):
    from sklearn.neural_network import MLPClassifier

    if isinstance(network, MLPClassifier):
        return _mlp_head(network, C, classes)
    if isinstance(network, torch.nn.Module):
        return _sequential_head(network, C, classes, y, "torch nn.Sequential")
    if hasattr(network, "module_") and hasattr(network, "criterion_"):
        return _skorch_head(network, C, classes, y)
    raise TypeError(
        "certify_output_layer takes a fitted MLPClassifier, a torch.nn.Sequential ending "
        f"in nn.Linear, or a skorch net on one; got {type(network).__name__}."
    )


# -- the output layer as logistic regression ---------------------------------------
def _probabilities(coef, intercept, features):
    raw = features @ coef.T + (0.0 if intercept is None else intercept)
    if coef.shape[0] == 1:
        p = expit(raw[:, 0])
        return np.column_stack([1.0 - p, p])
    return softmax(raw, axis=1)


def _certify(coef, intercept, features, y, sample_weight, C, tol):
    """:func:`sklearn_neuron.certify` of the output layer as bare coefficients."""
    from ._certify import certify

    return certify((coef, intercept), features, y, sample_weight=sample_weight, C=C, tol=tol)


def certify_output_layer(
    network: Any,
    X: ArrayLike,
    y: ArrayLike,
    *,
    sample_weight: ArrayLike | None = None,
    C: float | None = None,
    classes: ArrayLike | None = None,
    X_test: ArrayLike | None = None,
    y_test: ArrayLike | None = None,
    tol: float = DEFAULT_TOL,
) -> OutputLayerCertificate:
    """Is a network's output layer logistic regression on its last hidden layer?

    Holding the hidden layers fixed, a network's output layer (a sigmoid
    unit, or K softmax units, on the log loss, with an L2 penalty on its
    weights and none on its biases) minimises LogisticRegression's objective
    ``C * sum_i s_i * log_loss_i + ||W||^2 / 2`` on the last hidden layer's
    activations. At a stationary point of the network's training objective
    the output layer is therefore that logistic regression exactly; a
    network stopped anywhere else is not. This function reads the
    activations and the output layer, certifies the output layer as
    logistic regression on them, refits that logistic regression and
    reports what the refit changes.

    Parameters
    ----------
    network : MLPClassifier, torch.nn.Sequential or skorch net
        A fitted network:

        - :class:`~sklearn.neural_network.MLPClassifier` (binary: one
          logistic output unit; multiclass: softmax). Its objective is the
          weighted mean log loss plus ``alpha / (2 S) * ||W||^2`` over every
          layer's weights (``S`` the sum of the sample weights, or
          ``n_samples``), which for the output layer is LogisticRegression's
          at ``C = 1 / alpha`` (``C=inf`` for ``alpha=0``).
        - a :class:`torch.nn.Sequential` whose last layer is a
          :class:`torch.nn.Linear` returning logits (one for
          ``BCEWithLogitsLoss``, K for ``CrossEntropyLoss``); everything
          before it is the hidden part, run in eval mode. ``C`` must be given.
          Two outputs under ``CrossEntropyLoss`` are read as one sigmoid unit
          of their difference, logistic regression at ``2 * C``.
        - a skorch ``NeuralNetBinaryClassifier`` or ``NeuralNetClassifier``
          whose ``module_`` is such a ``nn.Sequential``. ``C`` must be given.
    X : array-like of shape (n_samples, n_features)
        The network's training data (its input).
    y : array-like of shape (n_samples,)
        The training labels.
    sample_weight : array-like of shape (n_samples,), default=None
        The weights the network was trained with.
    C : float, default=None
        The output layer's LogisticRegression ``C``, for a torch or skorch
        network: with a mean loss plus weight decay ``lam`` on the output
        layer's weights (not its bias), ``C = 1 / (n_samples * lam)``;
        ``np.inf`` for none. Refused for an MLPClassifier (its ``C`` is
        ``1 / alpha``).
    classes : array-like, default=None
        The label of each output unit, in order, for a torch or skorch
        network (by default ``net.classes_``, else the sorted labels of ``y``).
    X_test, y_test : array-like, default=None
        Held-out data, on which the network's log loss is compared with the
        log loss of the network with the refit as its output layer.
    tol : float, default=1e-6
        The output layer is called logistic regression when its (Euclidean)
        distance to the optimum is proved at most ``tol``.

    Returns
    -------
    OutputLayerCertificate
        The hidden features, the certificate, the exact refit and what it
        changes (``objective``, ``heldout_log_loss``), a ``verdict`` in
        words and ``is_logistic_regression``.

    Raises
    ------
    TypeError
        When ``network`` is none of the kinds above.
    ValueError
        When ``C`` is missing (torch, skorch) or given (MLPClassifier), the
        output is multilabel, or the classes do not fit the output units.

    See Also
    --------
    NeuronClassifier : The refit: logistic regression as one neuron.

    Notes
    -----
    A network is not convex in its weights: two seeds end at different
    hidden layers, and each output layer is logistic regression on its own
    hidden layer's activations (a different problem for each), not one
    model for all. Only the output layer is certified: a stationary output
    layer says nothing about the hidden layers.

    Examples
    --------
    >>> import warnings
    >>> from sklearn.datasets import load_iris
    >>> from sklearn.neural_network import MLPClassifier
    >>> from sklearn.preprocessing import StandardScaler
    >>> from sklearn_neuron import certify_output_layer
    >>> X, y = load_iris(return_X_y=True)
    >>> X = StandardScaler().fit_transform(X)
    >>> with warnings.catch_warnings():
    ...     warnings.simplefilter("ignore")
    ...     mlp = MLPClassifier((8,), solver="lbfgs", alpha=1e-2, max_iter=20,
    ...                         random_state=0).fit(X, y)
    >>> report = certify_output_layer(mlp, X, y)
    >>> report.C, report.features.shape
    (100.0, (150, 8))
    >>> report.is_logistic_regression
    False
    >>> before, after = report.objective
    >>> bool(after < before)
    True
    """
    if (X_test is None) != (y_test is None):
        raise ValueError("give both X_test and y_test (held-out data), or neither.")
    if not (isinstance(tol, (int, float)) and tol > 0):
        raise ValueError(f"tol must be a positive number; got {tol!r}.")
    head = _read_network(network, C, classes, y)
    features = head.features(X)
    y = np.asarray(y)
    unknown = ~np.isin(y, head.classes)
    if unknown.any():
        raise ValueError(
            f"y has labels {np.unique(y[unknown]).tolist()} that are not the network's "
            f"classes {head.classes.tolist()}."
        )
    coef, intercept = head.coef, head.intercept
    if intercept is not None and coef.shape[0] > 1:
        # Adding one number to every softmax bias changes nothing: compare centred.
        intercept = intercept - intercept.mean()

    refit = NeuronClassifier(
        C=head.C,
        optimizer="newton",
        tol=_REFIT_TOL,
        max_iter=_REFIT_MAX_ITER,
        fit_intercept=intercept is not None,
    )
    refit.fit(features, y, sample_weight=sample_weight)
    if not np.array_equal(refit.classes_, head.classes):
        raise ValueError(
            f"y has the classes {refit.classes_.tolist()}; the network's output units are "
            f"for {head.classes.tolist()}: every class must appear in y."
        )

    certificate = _certify(coef, intercept, features, y, sample_weight, head.C, tol)
    weight_sum = float(np.sum(sample_weight)) if sample_weight is not None else len(y)
    # refit.objective_ is LogisticRegression's objective divided by C * S.
    scale = weight_sum * (1.0 if math.isinf(head.C) else head.C)
    objective_values = (float(certificate.objective), float(refit.objective_) * scale)

    distance = float(np.max(np.abs(coef - refit.coef_)))
    if intercept is not None:
        distance = max(distance, float(np.max(np.abs(intercept - refit.intercept_))))
    heldout = None
    if X_test is not None:
        test_features = head.features(X_test)
        heldout = (
            float(log_loss(y_test, _probabilities(coef, intercept, test_features),
                           labels=head.classes)),
            float(log_loss(y_test, refit.predict_proba(test_features), labels=head.classes)),
        )
    return OutputLayerCertificate(
        network=head.name,
        C=head.C,
        C_source=head.C_source,
        classes=head.classes,
        features=features,
        coef=coef,
        intercept=intercept,
        certificate=certificate,
        refit=refit,
        coef_distance=distance,
        objective=objective_values,
        heldout_log_loss=heldout,
        is_logistic_regression=bool(certificate.is_logistic_regression),
        tol=float(tol),
    )
