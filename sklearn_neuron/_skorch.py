"""The bridge to skorch: a fitted neuron as a skorch net, and a skorch net as a neuron.

:func:`to_skorch` turns a fitted :class:`~sklearn_neuron.NeuronClassifier` or
:class:`~sklearn_neuron.NeuronRegressor` into a skorch net holding a copy of
its weights, ready to predict or to train further with skorch's callbacks.
:func:`from_skorch` turns a skorch net whose module is one linear layer
(a :class:`~sklearn_neuron.NeuronModule`, a :class:`torch.nn.Linear`, or a
module made of one) into a fitted NeuronClassifier, with ``coef_``,
``intercept_`` and ``classes_`` set from the net's weights.

Inference (``summary``, ``inference``) is of a fitted model on its training
data, which a neuron checks against a fingerprint taken at ``fit``
(:mod:`sklearn_neuron._objective.fingerprint`). A net trained in skorch left no such
fingerprint, so :func:`from_skorch` takes it from the training data when
they are given (``X``, ``y``) and refuses inference otherwise. The
coefficients are not refitted: ``summary`` polishes them by Newton steps to
the optimum of the log likelihood, as it does for any fit stopped at its
tolerance, and :func:`from_skorch` warns when the net stopped far from it.

skorch is an optional dependency (``pip install 'sklearn-neuron[skorch]'``),
imported only when these functions run.
"""

from __future__ import annotations

import warnings
from typing import TYPE_CHECKING, Any

import numpy as np
import torch
from numpy.typing import ArrayLike
from sklearn.exceptions import ConvergenceWarning
from sklearn.utils.validation import check_is_fitted
from torch import nn

from ._classifier import NeuronClassifier
from ._module import NeuronModule
from ._objective.fingerprint import data_fingerprint
from ._regressor import NeuronRegressor
from ._solvers.optimizers import effective_tol

if TYPE_CHECKING:
    import skorch

#: The torch criterion of a regressor's loss, with its arguments.
_REGRESSION_CRITERIA = {
    "squared_error": (nn.MSELoss, {}),
    "poisson": (nn.PoissonNLLLoss, {"criterion__log_input": True}),
}
#: Rows of the probe on which from_skorch checks that the module is linear.
_PROBE_ROWS = 8


def _skorch():
    try:
        import skorch
    except ImportError as exc:  # pragma: no cover - skorch is in the tests extra
        raise ImportError(
            "The skorch bridge needs skorch: pip install 'sklearn-neuron[skorch]'."
        ) from exc
    return skorch


def to_skorch(
    estimator: NeuronClassifier | NeuronRegressor, **net_kwargs: Any
) -> skorch.NeuralNet:
    """A skorch net holding a fitted neuron's weights.

    The net's module is a copy of ``estimator.module_`` (a
    :class:`~sklearn_neuron.NeuronModule`, whose ``forward`` returns the raw
    output), so training the net leaves the estimator as it was. The net is
    initialized: it predicts at once, and ``net.fit`` / ``net.partial_fit``
    continue from the neuron's weights.

    - Two classes: ``skorch.NeuralNetBinaryClassifier`` with
      ``BCEWithLogitsLoss`` (its predicted probability is the sigmoid).
    - More classes: ``skorch.NeuralNetClassifier`` with ``CrossEntropyLoss``
      (softmax), ``classes`` set to the estimator's ``classes_``.
    - A regressor: ``skorch.NeuralNetRegressor``, with ``MSELoss`` for
      ``loss="squared_error"`` and ``PoissonNLLLoss(log_input=True)`` for
      ``"poisson"`` (other losses: pass ``criterion``); for an exp output
      (Poisson, Gamma, Tweedie) ``predict_nonlinearity=torch.exp``, since
      the module returns the log of the mean. skorch's regression targets
      and predictions have shape (n_samples, 1).

    Parameters
    ----------
    estimator : NeuronClassifier or NeuronRegressor
        A fitted estimator.
    **net_kwargs
        Passed to the skorch net, over these defaults: ``criterion`` as
        above, ``train_split=None`` (skorch's default holds out 20% of the
        data), ``max_epochs=10``, ``batch_size=128``, ``lr=0.01``,
        ``device="cpu"``.

    Returns
    -------
    net : skorch.NeuralNet
        Initialized. Its predictions equal the estimator's (to rounding) on
        inputs of ``coef_``'s dtype (float64, or float32 for a float32 fit).
        skorch's targets are class indices (``0, ..., K-1`` for
        ``classes_``), and its ``predict`` returns indices.

    See Also
    --------
    from_skorch : The other way: a skorch net as a NeuronClassifier.

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn.datasets import load_iris
    >>> from sklearn_neuron import NeuronClassifier, to_skorch
    >>> X, y = load_iris(return_X_y=True)
    >>> clf = NeuronClassifier(tol=1e-8).fit(X, y)
    >>> net = to_skorch(clf)
    >>> type(net).__name__
    'NeuralNetClassifier'
    >>> bool(np.abs(net.predict_proba(X) - clf.predict_proba(X)).max() < 1e-12)
    True
    """
    skorch = _skorch()
    check_is_fitted(estimator)
    if not isinstance(estimator, (NeuronClassifier, NeuronRegressor)):
        raise TypeError(
            "to_skorch takes a fitted NeuronClassifier or NeuronRegressor, got "
            f"{type(estimator).__name__}."
        )
    source = estimator.module_
    module = NeuronModule.from_coefficients(
        source.linear.weight, source.linear.bias, source.activation_name, copy=True
    )
    defaults: dict[str, Any] = dict(
        train_split=None, max_epochs=10, batch_size=128, lr=0.01, device="cpu"
    )
    if isinstance(estimator, NeuronClassifier):
        if module.linear.out_features == 1:
            net_class = skorch.NeuralNetBinaryClassifier
            defaults["criterion"] = nn.BCEWithLogitsLoss
        else:
            net_class = skorch.NeuralNetClassifier
            defaults.update(criterion=nn.CrossEntropyLoss, classes=list(estimator.classes_))
    else:
        loss = estimator.loss if isinstance(estimator.loss, str) else None
        if loss not in _REGRESSION_CRITERIA and "criterion" not in net_kwargs:
            raise ValueError(
                f"No torch criterion is known here for loss={estimator.loss!r}; pass "
                "criterion=... (a torch loss of the module's raw output) to to_skorch."
            )
        net_class = skorch.NeuralNetRegressor
        if loss in _REGRESSION_CRITERIA:
            criterion, arguments = _REGRESSION_CRITERIA[loss]
            defaults.update(criterion=criterion, **arguments)
        if module.activation_name == "exp":  # the module returns the log of the mean
            defaults["predict_nonlinearity"] = torch.exp
    net = net_class(module, **{**defaults, **net_kwargs})
    return net.initialize()


def _linear_layer(module):
    """The one :class:`torch.nn.Linear` a module consists of, or a TypeError."""
    if isinstance(module, NeuronModule):
        return module.linear
    if isinstance(module, nn.Linear):
        return module
    layers = [m for m in module.modules() if isinstance(m, nn.Linear)]
    if len(layers) == 1:
        own = {id(p) for p in layers[0].parameters()}
        if all(id(p) in own for p in module.parameters()):
            return layers[0]
    raise TypeError(
        f"from_skorch needs a net whose module is one linear layer (a NeuronModule, "
        f"a torch.nn.Linear, or a module holding one and no other parameters); "
        f"net.module_ is a {type(module).__name__} with {len(layers)} Linear layers "
        "and parameters "
        f"{[name for name, _ in module.named_parameters()]}."
    )


def _check_forward_is_linear(module, linear):
    """Refuse a module whose output is not its linear layer's (an activation inside)."""
    generator = torch.Generator().manual_seed(0)
    weight = linear.weight
    probe = torch.randn(
        _PROBE_ROWS, linear.in_features, generator=generator, dtype=weight.dtype
    ).to(weight.device)
    was_training = module.training
    module.eval()
    try:
        with torch.no_grad():
            output = module(probe)
            expected = linear(probe)
    finally:
        module.train(was_training)
    if isinstance(output, tuple):
        output = output[0]
    output = output.reshape(expected.shape) if output.numel() == expected.numel() else output
    scale = float(expected.abs().max()) + 1.0
    eps = torch.finfo(weight.dtype).eps
    if output.shape != expected.shape or float((output - expected).abs().max()) > 1e3 * eps * scale:
        raise ValueError(
            f"net.module_ ({type(module).__name__}) does not return the raw output of "
            "its linear layer (an activation, dropout or scaling is applied in forward). "
            "from_skorch needs a module whose forward returns the logits, with the "
            "sigmoid/softmax in the criterion: BCEWithLogitsLoss for "
            "NeuralNetBinaryClassifier, CrossEntropyLoss for NeuralNetClassifier."
        )


def _net_classes(net, classes, n_outputs):
    if classes is None:
        try:
            classes = net.classes_
        except AttributeError:
            classes = None
    if classes is None:
        if n_outputs > 1:
            raise ValueError(
                f"The net has {n_outputs} outputs and no classes_; pass classes=... "
                "(the label of each output, in order)."
            )
        classes = [0, 1]
    classes = np.asarray(classes)
    expected = 2 if n_outputs == 1 else n_outputs
    if classes.ndim != 1 or classes.size != expected or np.unique(classes).size != expected:
        raise ValueError(
            f"classes must hold {expected} distinct labels, one per class of the net's "
            f"{n_outputs} output(s); got {classes.tolist()}."
        )
    if not np.array_equal(classes, np.sort(classes)):
        raise ValueError(
            f"classes={classes.tolist()} are not sorted; a NeuronClassifier's classes_ "
            "are sorted (np.unique) and its outputs follow them. Encode y with the "
            "sorted labels (e.g. sklearn.preprocessing.LabelEncoder) before training "
            "the net."
        )
    return classes


def _check_criterion(net, n_outputs):
    criterion = getattr(net, "criterion_", None)
    wanted = nn.BCEWithLogitsLoss if n_outputs == 1 else nn.CrossEntropyLoss
    if not isinstance(criterion, wanted):
        raise ValueError(
            f"The net's criterion is {type(criterion).__name__}; a net with "
            f"{n_outputs} output(s) on the logits of a linear layer is logistic "
            f"regression with {wanted.__name__} (from_skorch reads predict_proba as "
            "its sigmoid/softmax). Train the net with that criterion."
        )


def from_skorch(
    net: skorch.NeuralNet,
    X: ArrayLike | None = None,
    y: ArrayLike | None = None,
    *,
    classes: ArrayLike | None = None,
    sample_weight: ArrayLike | None = None,
    **params: Any,
) -> NeuronClassifier:
    """A fitted NeuronClassifier holding the weights of a skorch net.

    The net's module must be one linear layer whose ``forward`` returns the
    logits (a :class:`~sklearn_neuron.NeuronModule`, a
    :class:`torch.nn.Linear`, or a module that consists of one), trained
    with ``BCEWithLogitsLoss`` on one output (``NeuralNetBinaryClassifier``)
    or ``CrossEntropyLoss`` on K outputs (``NeuralNetClassifier``). A layer
    of two softmax outputs becomes the one-output sigmoid layer of a
    two-class NeuronClassifier (the difference of the two rows). The
    weights are copied: ``predict_proba`` equals the net's.

    Parameters
    ----------
    net : skorch.NeuralNetBinaryClassifier or skorch.NeuralNetClassifier
        An initialized (usually trained) net.
    X, y : array-like, default=None
        The net's training data (``y`` the labels, of ``classes``). Given,
        the estimator records them as its training data, so that
        ``summary(X, y)`` and ``inference(X, y)`` work on them (and only on
        them), and a ConvergenceWarning says when the net's weights are not
        at the optimum of the objective to the estimator's ``tol``. Not given,
        inference is refused with a ValueError saying why.
    classes : array-like, default=None
        The label of each class, sorted; by default ``net.classes_`` where
        the net has it, else ``[0, 1]`` for one output, else the labels of
        ``y``.
    sample_weight : array-like of shape (n_samples,), default=None
        The weights of training, with ``X`` and ``y``.
    **params
        Parameters of the NeuronClassifier (over ``C=np.inf``: a net trained
        on the plain mean log loss is unpenalized logistic regression; give
        the ``C`` its weight decay corresponds to, if any).

    Returns
    -------
    NeuronClassifier
        Fitted: ``coef_``, ``intercept_``, ``classes_``, ``n_features_in_``,
        ``n_iter_`` (the net's epochs); with ``X`` and ``y`` also
        ``objective_``, ``converged_`` and ``training_fingerprint_``. Calling
        its ``fit`` refits it from scratch on the data it is given.

    Raises
    ------
    TypeError
        When the net's module is not one linear layer.
    ValueError
        When its forward applies anything to the logits, its criterion is
        not the log loss, or the classes do not fit its outputs.

    See Also
    --------
    to_skorch : The other way: a fitted neuron as a skorch net.

    Examples
    --------
    >>> import numpy as np
    >>> import torch
    >>> from skorch import NeuralNetBinaryClassifier
    >>> from sklearn.datasets import load_breast_cancer
    >>> from sklearn.preprocessing import StandardScaler
    >>> from sklearn_neuron import NeuronModule, from_skorch
    >>> X, y = load_breast_cancer(return_X_y=True)
    >>> X = StandardScaler().fit_transform(X)
    >>> torch.manual_seed(0)  # doctest: +ELLIPSIS
    <torch._C.Generator object at ...>
    >>> net = NeuralNetBinaryClassifier(
    ...     NeuronModule(30, 1, "sigmoid", dtype=torch.float64), max_epochs=5,
    ...     lr=0.1, train_split=None, verbose=0,
    ... ).fit(X, y.astype(np.float64))
    >>> clf = from_skorch(net)
    >>> clf.coef_.shape, clf.classes_
    ((1, 30), array([0, 1]))
    >>> bool(np.abs(clf.predict_proba(X) - net.predict_proba(X)).max() < 1e-12)
    True
    """
    _skorch()
    if (X is None) != (y is None):
        raise ValueError("Give both X and y (the net's training data), or neither.")
    module = getattr(net, "module_", None)
    if module is None:
        raise ValueError(
            f"The {type(net).__name__} is not initialized (no module_); fit it or call "
            "net.initialize() first."
        )
    linear = _linear_layer(module)
    _check_forward_is_linear(module, linear)
    n_outputs = linear.out_features
    _check_criterion(net, n_outputs)
    weight = linear.weight.detach().cpu().numpy().copy()
    bias = (
        np.zeros(n_outputs, dtype=weight.dtype)
        if linear.bias is None
        else linear.bias.detach().cpu().numpy().copy()
    )
    if n_outputs == 2:  # two softmax outputs are one sigmoid of their difference
        weight, bias = weight[1:] - weight[:1], bias[1:] - bias[:1]
    if classes is None and y is not None and getattr(net, "classes", None) is None:
        classes = np.unique(np.asarray(y))
    classes = _net_classes(net, classes, n_outputs)

    estimator = NeuronClassifier(
        **{"C": np.inf, "fit_intercept": linear.bias is not None, **params}
    )
    estimator._validate_params()
    if X is not None:
        objective = estimator._build_objective(
            X, y, sample_weight, reset=True, classes=classes
        )
        if objective.n_features != weight.shape[1]:
            raise ValueError(
                f"X has {objective.n_features} features; the net's layer takes "
                f"{weight.shape[1]}."
            )
    else:
        estimator.n_features_in_ = weight.shape[1]
        objective = None
    estimator.classes_ = classes
    estimator.coef_ = weight
    estimator.intercept_ = bias
    estimator._activation = "sigmoid" if weight.shape[0] == 1 else "softmax"
    estimator.n_iter_ = len(getattr(net, "history", []))
    if objective is not None:
        _record_training_data(estimator, objective)
    return estimator


def _record_training_data(estimator, objective):
    """Objective, convergence and fingerprint of the net's weights on its training data."""
    theta = estimator._fitted_theta(objective).to(objective.dtype)
    with torch.no_grad():
        f, grad, _ = objective.value_gradient(theta)
    grad_max = float(grad.abs().max())
    tol = effective_tol(estimator.tol, objective.dtype)
    estimator.objective_ = float(f)
    estimator.converged_ = grad_max <= tol
    estimator.training_fingerprint_ = data_fingerprint(objective)
    if not estimator.converged_:
        warnings.warn(
            f"The net's weights are not at the optimum of the NeuronClassifier's "
            f"objective on these data (C={estimator.C!r}): max|gradient| = "
            f"{grad_max:.3g} > tol = {tol:.3g}. predict_proba is the net's; summary() "
            "and inference() polish the coefficients by Newton steps to the optimum "
            "first, which from far away may not get there: train the net longer, or "
            "refit with NeuronClassifier(C=...).fit(X, y).",
            ConvergenceWarning,
            stacklevel=3,
        )
