"""The fitted models :func:`~sklearn_neuron._certify.certify` reads, as coefficients.

LogisticRegression(CV), SGDClassifier on the log loss, NeuronClassifier(CV), a skorch
net or a torch module of one linear layer, or bare ``(coef, intercept)``: each becomes
the coefficients, intercepts, classes and the ``C`` / ``l1_ratio`` of the
LogisticRegression objective it is measured against.
"""

from dataclasses import dataclass

import numpy as np
import torch


# -- the model -------------------------------------------------------------------
@dataclass
class _Linear:
    """A model's parameters as a ``(K, q)`` tensor, ``q = p + fit_intercept``."""

    theta: torch.Tensor  # rows (w_k, b_k); K = 1 for a sigmoid
    fit_intercept: bool
    classes: object  # labels of the outputs, or None: np.unique(y)
    C: object
    l1_ratio: object
    class_weight: object
    name: str
    n_alpha: object = None  # SGDClassifier's alpha: C = 1 / (alpha n)
    balanced_by_counts: bool = False  # SGDClassifier's "balanced" ignores sample_weight


def _as_tensor(value):
    if isinstance(value, torch.Tensor):
        return value.detach().to(torch.float64)
    return torch.as_tensor(np.asarray(value, dtype=np.float64))


def _from_coefficients(coef, intercept, name, **kwargs):
    coef = _as_tensor(coef)
    if coef.ndim == 1:
        coef = coef[None, :]
    if coef.ndim != 2:
        raise ValueError(
            f"coef must be of shape (n_features,), (1, n_features) or (n_classes, "
            f"n_features); got shape {tuple(coef.shape)}."
        )
    fit_intercept = intercept is not None
    if fit_intercept:
        intercept = _as_tensor(intercept).reshape(-1).to(coef.device)
        if intercept.numel() == 1 and coef.shape[0] > 1:
            raise ValueError(
                f"intercept has 1 entry for {coef.shape[0]} rows of coef; pass one "
                "intercept per row (class)."
            )
        intercept = intercept.expand(coef.shape[0]) if intercept.numel() == 1 else intercept
        if intercept.numel() != coef.shape[0]:
            raise ValueError(
                f"intercept has {intercept.numel()} entries for {coef.shape[0]} rows of "
                "coef; pass one per row (class)."
            )
        theta = torch.cat([coef, intercept[:, None]], dim=1)
    else:
        theta = coef
    if not bool(torch.isfinite(theta).all()):
        raise ValueError(
            f"The {name}'s coefficients hold NaN or inf: there is no fit to certify; "
            "refit the model."
        )
    return _Linear(theta, fit_intercept, name=name, **kwargs)


def _linear_module(module):
    from .._skorch import _check_forward_is_linear, _linear_layer

    linear = _linear_layer(module)
    _check_forward_is_linear(module, linear)
    return linear


def _resolve_model(model, C, l1_ratio):
    """The model's parameters, classes and objective, as a :class:`_Linear`."""
    name = type(model).__name__
    if isinstance(model, tuple):
        if len(model) != 2:
            raise ValueError(
                f"A model given as a tuple must be (coef, intercept); got {len(model)} items."
            )
        return _from_coefficients(
            *model, "(coef, intercept)", classes=None, C=C, l1_ratio=l1_ratio, class_weight=None
        )
    if isinstance(model, torch.nn.Module):
        linear = _linear_module(model)
        bias = None if linear.bias is None else linear.bias
        return _from_coefficients(
            linear.weight,
            bias,
            f"torch {name}",
            classes=None,
            C=C,
            l1_ratio=l1_ratio,
            class_weight=None,
        )
    if not hasattr(model, "coef_") and isinstance(getattr(model, "module_", None), torch.nn.Module):
        linear = _linear_module(model.module_)
        bias = None if linear.bias is None else linear.bias
        classes = getattr(model, "classes_", None)
        return _from_coefficients(
            linear.weight,
            bias,
            f"skorch {name}",
            classes=classes,
            C=C,
            l1_ratio=l1_ratio,
            class_weight=None,
        )
    if not (hasattr(model, "coef_") and hasattr(model, "classes_")):
        raise TypeError(
            f"certify takes a fitted linear classifier (NeuronClassifier, "
            f"LogisticRegression, SGDClassifier, a skorch net or torch module of one "
            f"linear layer) or a (coef, intercept) tuple; got a {name} with no coef_ "
            "and classes_ (is it fitted?)."
        )
    loss = getattr(model, "loss", "log_loss")
    if name == "SGDClassifier" or hasattr(model, "alpha") and not hasattr(model, "C"):
        return _resolve_sgd(model, C, l1_ratio, name)
    if loss != "log_loss":
        raise ValueError(
            f"{name} has loss={loss!r}: certify checks the log loss's objective, which "
            "only a model trained on loss='log_loss' minimises."
        )
    penalty = getattr(model, "penalty", "deprecated")
    if hasattr(model, "C_"):  # a CV estimator: the C (and l1_ratio) it chose
        model_C = float(np.mean(model.C_))
        ratios = np.ravel(getattr(model, "l1_ratio_", 0.0)).tolist()
        model_l1_ratio = float(np.mean([r or 0.0 for r in ratios]))
    else:
        model_C, model_l1_ratio = model.C, getattr(model, "l1_ratio", 0.0)
    if penalty is None or penalty == "none":
        model_C = np.inf
    elif penalty == "l1":
        model_l1_ratio = 1.0
    elif penalty == "l2":
        model_l1_ratio = 0.0
    intercept = model.intercept_ if model.fit_intercept else None
    return _from_coefficients(
        model.coef_,
        intercept,
        name,
        classes=model.classes_,
        C=model_C if C is None else C,
        l1_ratio=(model_l1_ratio or 0.0) if l1_ratio is None else l1_ratio,
        class_weight=getattr(model, "class_weight", None),
    )


def _resolve_sgd(model, C, l1_ratio, name):
    if model.loss != "log_loss":
        raise ValueError(
            f"{name} has loss={model.loss!r}: certify checks the log loss's objective; "
            "fit SGDClassifier(loss='log_loss')."
        )
    if len(model.classes_) > 2:
        raise ValueError(
            f"{name} with {len(model.classes_)} classes is one-vs-rest, not multinomial "
            "logistic regression: certify each binary problem, "
            "certify((model.coef_[k], model.intercept_[k]), X, y == model.classes_[k], "
            "C=1 / (model.alpha * n_samples))."
        )
    penalty = model.penalty
    model_l1_ratio = {"l2": 0.0, "l1": 1.0, "elasticnet": model.l1_ratio, None: 0.0}[penalty]
    unpenalized = penalty is None or model.alpha == 0
    intercept = model.intercept_ if model.fit_intercept else None
    return _from_coefficients(
        model.coef_,
        intercept,
        name,
        classes=model.classes_,
        C=(np.inf if unpenalized else None) if C is None else C,
        l1_ratio=model_l1_ratio if l1_ratio is None else l1_ratio,
        class_weight=model.class_weight,
        n_alpha=None if unpenalized or C is not None else model.alpha,
        balanced_by_counts=True,
    )
