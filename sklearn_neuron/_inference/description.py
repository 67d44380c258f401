"""What inference reports of a model besides numbers: its names, its penalty, its parameters.

Inference never calls back into an estimator: :func:`describe` reads the
fitted estimator's public attributes and parameters once (its class name,
``classes_``, ``feature_names_in_``, ``C`` or ``alpha``) into a
:class:`ModelDescription`, and :func:`parametrisation` maps the objective's
flat ``theta`` to the reported parameters (intercept first, a softmax in the
reference-class parametrisation of statsmodels' MNLogit).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch
from sklearn.base import is_classifier

from .._loss.likelihood import Likelihood
from .._objective.protocol import Objective


@dataclass(frozen=True)
class ModelDescription:
    """The estimator-specific facts of a fitted model, as data.

    Attributes
    ----------
    estimator_name : str
        The estimator's class name.
    classes : list of str or None
        The class labels (a classifier), else None.
    feature_names : list of str
        Name of each feature (``feature_names_in_``, else ``x0``, ``x1`` ...).
    penalty : str
        The penalty's parameter and value, e.g. ``"C=1.0"``.
    penalty_off : str
        The setting without a penalty, e.g. ``"C=np.inf"``.
    endog_name : str
        The dependent variable's name: the name of a ``y`` Series, else ``"y"``.
    weighted : bool
        Whether the fit had sample or class weights.
    """

    estimator_name: str
    classes: list[str] | None
    feature_names: list[str]
    penalty: str
    penalty_off: str
    endog_name: str = "y"
    weighted: bool = False

    def term_names(self, objective: Objective) -> list[str]:
        """Terms of one output: ``"const"`` (with an intercept), then the features."""
        return (["const"] if objective.fit_intercept else []) + list(self.feature_names)

    def output_names(self, objective: Objective) -> list[str]:
        """Name of each output unit: its class, else ``y0``, ``y1`` ..."""
        if self.classes is not None and len(self.classes) == objective.n_outputs:
            return list(self.classes)
        return [f"y{k}" for k in range(objective.n_outputs)]

    def dependent(self, objective: Objective, name: str | None = None) -> str:
        """The summary's dependent variable: ``name`` (default :attr:`endog_name`)
        and what is modelled of it."""
        name = self.endog_name if name is None else name
        if self.classes is None:
            return name
        labels = self.classes
        if objective.n_outputs == 1:  # one sigmoid unit: the last class against the first
            modelled = f"{name} = {labels[-1]}"
            if objective.loss.is_log_likelihood:
                modelled = f"P({modelled})"
            return f"{modelled}, against {labels[0]}"
        against = labels[0] if objective.loss.activation.name == "softmax" else "the rest"
        return f"{name} in {{{', '.join(labels)}}}, each class against {against}"

    def model_name(self, objective: Objective, likelihood: Likelihood) -> str:
        """What was fitted, in words (statsmodels' model or GLM family)."""
        loss = objective.loss
        if self.classes is not None:
            kind = {"sigmoid": "Logit", "softmax": "MNLogit"}.get(
                loss.activation.name, loss.name
            )
            return f"{kind} ({self.estimator_name}, loss={loss.name!r})"
        if not likelihood.glm:
            return f"{self.estimator_name} (loss={loss.name!r})"
        return f"GLM {likelihood.family_name()}, {likelihood.link} link ({self.estimator_name})"


def endog_name(y: Any) -> str:
    """The name of ``y`` for the summary: a Series' name, else ``"y"``.

    Only a Series (pandas, Dask, polars: what has ``to_frame``) counts: a
    dask array's ``name`` is its graph key, not a variable's name.
    """
    name = getattr(y, "name", None) if hasattr(y, "to_frame") else None
    return "y" if name is None else str(name)


def describe(
    estimator: Any, objective: Objective, *, y: Any = None, weighted: bool = False
) -> ModelDescription:
    """The :class:`ModelDescription` of a fitted estimator, from its public attributes.

    Parameters
    ----------
    estimator : NeuronClassifier or NeuronRegressor
        The fitted estimator.
    objective : Objective
        Its objective on the training data (for the number of features).
    y : array-like, default=None
        The training targets as given (their name, if a Series).
    weighted : bool, default=False
        Whether the fit had sample or class weights.
    """
    classes = getattr(estimator, "classes_", None)
    names = getattr(estimator, "feature_names_in_", None)
    if names is None:
        names = [f"x{j}" for j in range(objective.n_features)]
    if is_classifier(estimator):
        penalty, off = f"C={estimator.C!r}", "C=np.inf"
    else:
        penalty, off = f"alpha={estimator.alpha!r}", "alpha=0"
    return ModelDescription(
        estimator_name=type(estimator).__name__,
        classes=None if classes is None else [str(c) for c in classes],
        feature_names=[str(n) for n in names],
        penalty=penalty,
        penalty_off=off,
        endog_name=endog_name(y),
        weighted=weighted,
    )


@dataclass(frozen=True)
class Parametrisation:
    """How the reported parameters derive from the objective's flat ``theta``.

    Attributes
    ----------
    matrix : torch.Tensor of shape (n_reported, n_params)
        ``reported = matrix @ theta``; a linear map, so that covariances map
        as ``matrix @ cov @ matrix.T``.
    names : list of str
        Term of each reported parameter ("const", feature names).
    equations : list of str or None
        Equation (output) of each reported parameter, or None with one output.
    n_equations : int
        Number of equations (outputs reported).
    note : str or None
        A line for the summary (e.g. which class is the reference).
    """

    matrix: torch.Tensor
    names: list[str]
    equations: list[str] | None
    n_equations: int
    note: str | None = None


def parametrisation(description: ModelDescription, objective: Objective) -> Parametrisation:
    """Reported parameters: intercept first; a softmax against output 0."""
    K, q = objective.n_outputs, objective.n_params_per_output
    # Column order of one output's reported terms: intercept (last in
    # theta) first, as statsmodels' add_constant puts it.
    order = ([q - 1] if objective.fit_intercept else []) + list(range(objective.n_features))
    perm = torch.zeros((q, q), dtype=torch.float64)
    perm[torch.arange(q), torch.tensor(order)] = 1.0
    terms = description.term_names(objective)
    outputs = description.output_names(objective)
    if objective.loss.activation.name != "softmax":
        matrix = torch.kron(torch.eye(K, dtype=torch.float64), perm)
        equations = None if K == 1 else [out for out in outputs for _ in terms]
        return Parametrisation(matrix.to(objective.device), terms * K, equations, K)
    contrast = torch.cat(
        [-torch.ones((K - 1, 1), dtype=torch.float64), torch.eye(K - 1, dtype=torch.float64)],
        dim=1,
    )
    matrix = torch.kron(contrast, perm)
    equations = [f"{out} vs {outputs[0]}" for out in outputs[1:] for _ in terms]
    note = (
        f"Reference-class parametrisation: each equation gives the log-odds of a "
        f"class against the reference class {outputs[0]!r} (coef_[k] - coef_[0]), "
        "as statsmodels' MNLogit; the K-unit softmax is not identifiable."
    )
    return Parametrisation(matrix.to(objective.device), terms * (K - 1), equations, K - 1, note)


__all__ = [
    "ModelDescription",
    "Parametrisation",
    "describe",
    "endog_name",
    "parametrisation",
]
