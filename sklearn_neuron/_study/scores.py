"""The study's measures: cross-validated scores and LogisticRegression's objective.

The classification scores of each fold (accuracy, log loss, ROC AUC, Brier),
their mean and spread over the folds, the regression scores, and the
objective on which every fit is set against LogisticRegression's optimum, with
the certificate (:func:`~sklearn_neuron.certify`) of a log-loss fit.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
from numpy.typing import ArrayLike
from scipy.special import logsumexp
from sklearn.base import BaseEstimator, clone
from sklearn.metrics import (
    accuracy_score,
    brier_score_loss,
    log_loss,
    mean_absolute_error,
    mean_gamma_deviance,
    mean_poisson_deviance,
    r2_score,
    roc_auc_score,
)
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from .. import certify
from .fitting import recorded_fit

#: The cross-validation folds: ``(train, test)`` index arrays.
Folds = Sequence[tuple[np.ndarray, np.ndarray]]

#: The cross-validated scores of a classification row; each has a ``_std`` twin.
CLASSIFICATION_SCORES = ("accuracy", "log_loss", "roc_auc", "brier")


def logistic_objective(
    coef: ArrayLike, intercept: np.ndarray, X: np.ndarray, y_index: np.ndarray, C: float
) -> float:
    """LogisticRegression's objective ``C * sum_i log_loss_i + ||W||^2 / 2``.

    With ``C=inf`` (no penalty) it is the summed log loss.
    """
    coef = np.atleast_2d(coef)
    raw = X @ coef.T + intercept
    if coef.shape[0] == 1:
        z = raw[:, 0]
        data = np.sum(np.logaddexp(0.0, z) - y_index * z)
    else:
        data = np.sum(logsumexp(raw, axis=1) - raw[np.arange(len(y_index)), y_index])
    if np.isinf(C):
        return float(data)
    return float(C * data + 0.5 * np.sum(coef**2))


def centred(coef: ArrayLike) -> np.ndarray:
    """Softmax coefficients shifted to sum to zero over classes (LogisticRegression's)."""
    coef = np.atleast_2d(coef)
    return coef if coef.shape[0] == 1 else coef - coef.mean(axis=0)


def proved(model: Any, X: ArrayLike, y: ArrayLike, C: float) -> dict[str, float]:
    """Row fields of a log-loss fit's certificate (:func:`~sklearn_neuron.certify`):
    its coefficients' proved distance from logistic regression's at ``C``, from above
    and from below."""
    result = certify(model, X, y, C=C)
    return {
        "proved_within": result.coef_distance_bound,
        "proved_at_least": result.coef_distance_lower,
    }


def _classification_scores(
    y_true: np.ndarray, proba: np.ndarray, classes: np.ndarray
) -> dict[str, float]:
    """Accuracy, log loss, ROC AUC (one-vs-rest for several classes) and Brier
    score; a binary problem's positive class is ``classes[1]``."""
    binary = classes.size == 2
    return {
        "accuracy": accuracy_score(y_true, classes[proba.argmax(axis=1)]),
        "log_loss": log_loss(y_true, proba, labels=classes),
        "roc_auc": roc_auc_score(y_true == classes[1], proba[:, 1])
        if binary
        else roc_auc_score(y_true, proba, multi_class="ovr", labels=classes),
        "brier": brier_score_loss(y_true, proba[:, 1], pos_label=classes[1])
        if binary
        else brier_score_loss(y_true, proba, labels=classes),
    }


def cross_validate_classifier(
    estimator: BaseEstimator, X: np.ndarray, y: np.ndarray, folds: Folds, classes: np.ndarray
) -> tuple[dict[str, float], float, np.ndarray, list[bool]]:
    """Scores over the folds, mean fit time, out-of-fold probabilities, and
    whether each fold's fit converged.

    Returns ``(scores, fit_time, oof, fold_converged)``: ``scores`` has the
    mean of each of :data:`CLASSIFICATION_SCORES` over the folds and, as
    ``<name>_std``, its standard deviation across them.
    """
    oof = np.zeros((len(y), classes.size))
    scores, times, converged = [], [], []
    for train, test in folds:
        model = make_pipeline(StandardScaler(), clone(estimator))
        seconds, fold_converged = recorded_fit(model, X[train], y[train])
        times.append(seconds)
        converged.append(fold_converged)
        proba = model.predict_proba(X[test])
        oof[test] = proba
        scores.append(_classification_scores(y[test], proba, classes))
    summary = {}
    for key in scores[0]:
        values = [s[key] for s in scores]
        summary[key] = float(np.mean(values))
        summary[f"{key}_std"] = float(np.std(values))
    return summary, float(np.mean(times)), oof, converged


def regression_scores(y_true: np.ndarray, pred: np.ndarray) -> dict[str, float | None]:
    """R², MAE and the mean Poisson and Gamma deviances (None where undefined:
    a Poisson deviance needs y >= 0, a Gamma deviance y > 0, both a positive
    prediction)."""
    positive = bool(np.all(pred > 0))
    return {
        "r2": r2_score(y_true, pred),
        "mae": mean_absolute_error(y_true, pred),
        "poisson_deviance": mean_poisson_deviance(y_true, pred)
        if positive and np.all(y_true >= 0)
        else None,
        "gamma_deviance": mean_gamma_deviance(y_true, pred)
        if positive and np.all(y_true > 0)
        else None,
    }


def mean_scores(scores: Sequence[dict[str, float | None]]) -> dict[str, float | None]:
    """The mean of each score over the folds; None where a fold has none."""
    return {
        key: None
        if any(s[key] is None for s in scores)
        else float(np.mean([s[key] for s in scores]))
        for key in scores[0]
    }
