"""The study's runs: each loss x optimizer cross-validated against scikit-learn.

:func:`run_classification_study` sets every loss x optimizer of
NeuronClassifier (and the peers asked for) against LogisticRegression;
:func:`run_regression_study` sets NeuronRegressor against the scikit-learn
model of the same loss. Each returns a :class:`StudyResult`: the rows, the
settings and environment, the verdict and the arrays the figures draw.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
from sklearn.base import BaseEstimator, clone
from sklearn.linear_model import (
    GammaRegressor,
    LinearRegression,
    LogisticRegression,
    PoissonRegressor,
    QuantileRegressor,
    TweedieRegressor,
)
from sklearn.model_selection import KFold, StratifiedKFold
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from .. import NeuronClassifier, NeuronRegressor
from .datasets import Dataset, StudyInputError, too_small_for_folds
from .fitting import (
    DEFAULT_OPTIMIZERS,
    FULL_BATCH_OPTIMIZERS,
    SEED,
    advancing,
    classification_losses,
    environment,
    fit_or_skip,
    fit_settings,
    iteration_unit,
    neuron_params,
    quiet_fit,
    recorded_fit,
    regression_losses,
)
from .options import DEFAULT_MATCH_TOL, EXACT_LAD, PEERS
from .peers import SkorchPeer, mlp_row, peer_available
from .result import Row, StudyResult
from .scores import (
    centred,
    cross_validate_classifier,
    logistic_objective,
    mean_scores,
    proved,
    regression_scores,
)
from .verdict import (
    classification_takeaway,
    classification_verdict,
    regression_verdict,
    stopped_fits,
)


def run_classification_study(
    dataset: Dataset,
    *,
    losses: Sequence[str] | None = None,
    optimizers: Sequence[str] | None = None,
    C: float = 1.0,
    cv: int = 5,
    match_tol: float = DEFAULT_MATCH_TOL,
    peers: Sequence[str] = (),
    overrides: dict[str, dict[str, Any]] | None = None,
    progress: Callable[[str], object] | None = None,
    advance: Callable[[], object] | None = None,
) -> StudyResult:
    """Compare each loss x optimizer of NeuronClassifier with LogisticRegression.

    Parameters
    ----------
    dataset : Dataset
    losses, optimizers : list of str, default=None
        ``None`` takes every loss and every optimizer the estimator accepts.
    C : float
        Inverse regularization strength, for both models.
    cv : int
        Number of stratified folds (shuffled with a fixed seed).
    match_tol : float
        Largest coefficient difference at which a combination is called
        logistic regression.
    peers : list of str, default=()
        Other libraries to add as rows, from :data:`PEERS`: ``"skorch"``
        trains the same module under the log loss as NeuronClassifier's
        ``"sgd"`` is trained (:class:`SkorchPeer`); ``"mlp"`` fits
        MLPClassifier with one hidden layer (:func:`mlp_peer`) from
        :data:`MLP_SEEDS` seeds and certifies each output layer as logistic
        regression on its hidden layer. Each must be installed.
    overrides : dict, default=None
        ``{optimizer: {parameter: value}}``: NeuronClassifier parameters that
        replace the study's fit settings for that optimizer (for example
        ``{"lbfgs": {"max_iter": 20}}``); the settings say so.
    progress : callable(str), default=None
        Called with a line after each step.
    advance : callable(), default=None
        Called after each loss x optimizer combination, fitted or skipped
        (the command's progress bar).

    Returns
    -------
    StudyResult
    """
    progress = progress or (lambda line: None)
    for peer in peers:
        if peer not in PEERS:
            raise StudyInputError(f"unknown peer {peer!r}; choose from: {', '.join(PEERS)}")
        if not peer_available(peer):
            raise StudyInputError(
                f"peer {peer!r} is not installed: pip install 'sklearn-neuron[{peer}]'"
            )
    losses = list(losses or classification_losses())
    optimizers = list(optimizers or DEFAULT_OPTIMIZERS)
    X, y = dataset.X, dataset.y
    classes, y_index = np.unique(y, return_inverse=True)
    smallest = np.bincount(y_index).min()
    if smallest < cv:
        raise StudyInputError(too_small_for_folds(dataset, smallest, cv))
    folds = list(StratifiedKFold(cv, shuffle=True, random_state=SEED).split(X, y))
    X_std = StandardScaler().fit_transform(X)

    reference = LogisticRegression(
        C=C, solver="newton-cholesky", tol=1e-10, max_iter=1000
    )
    _, ref_converged = recorded_fit(reference, X_std, y)
    f_ref = logistic_objective(reference.coef_, reference.intercept_, X_std, y_index, C)
    ref_scores, ref_time, ref_oof, ref_folds = cross_validate_classifier(
        reference, X, y, folds, classes
    )
    rows = [
        {
            "model": "LogisticRegression",
            "loss": "log_loss",
            "optimizer": "newton-cholesky",
            "status": "reference",
            **ref_scores,
            "fit_time": ref_time,
            "n_iter": int(np.max(reference.n_iter_)),
            "iter_unit": "iterations",
            "coef_diff": 0.0,
            "objective_gap": 0.0,
            "converged": ref_converged,
            "fold_converged": ref_folds,
            "note": "",
        }
    ]
    details = {
        "reference_coef": reference.coef_.copy(),
        "reference_objective": f_ref,
        "oof_proba": {("LogisticRegression", ""): ref_oof},
        "coef": {},
        "curves": {},
        "y": y,
        "classes": classes,
        "X_std": X_std,
        "y_index": y_index,
        "reference_intercept": reference.intercept_.copy(),
    }
    progress(f"LogisticRegression (reference): {cv} folds in {ref_time * cv:.2f} s")

    combos = [(loss, optimizer) for loss in losses for optimizer in optimizers]
    for step, (loss, optimizer) in enumerate(advancing(combos, advance), 1):
        params = neuron_params(
            NeuronClassifier, optimizer, {"loss": loss, "C": C},
            (overrides or {}).get(optimizer),
        )
        neuron = NeuronClassifier(**params)
        row = {"model": "NeuronClassifier", "loss": loss, "optimizer": optimizer}
        if not fit_or_skip(neuron, X_std, y, row, rows, progress, f"[{step}/{len(combos)}]"):
            continue
        scores, fit_time, oof, fold_converged = cross_validate_classifier(
            neuron, X, y, folds, classes
        )
        f = logistic_objective(neuron.coef_, neuron.intercept_, X_std, y_index, C)
        rows.append(
            {
                **row,
                "status": "ok",
                **scores,
                "fit_time": fit_time,
                "n_iter": int(neuron.n_iter_),
                "iter_unit": iteration_unit(optimizer),
                "coef_diff": float(np.max(np.abs(neuron.coef_ - reference.coef_))),
                "objective_gap": float(f - f_ref),
                "converged": bool(neuron.converged_),
                "fold_converged": fold_converged,
                **(proved(neuron, X_std, y, C) if loss == "log_loss" else {}),
            }
        )
        stopped = stopped_fits(rows[-1])
        rows[-1]["note"] = f"stopped before tol: {stopped}" if stopped else ""
        details["coef"][(loss, optimizer)] = neuron.coef_.copy()
        details["curves"][(loss, optimizer)] = np.asarray(neuron.objective_curve_)
        details["oof_proba"][(loss, optimizer)] = oof
        progress(
            f"[{step}/{len(combos)}] {loss} / {optimizer}: {cv} folds in "
            f"{fit_time * cv:.2f} s, max|coef diff| {rows[-1]['coef_diff']:.1e}"
            + (f"; stopped before tol: {stopped}" if stopped else "")
        )

    if "skorch" in peers:
        model = SkorchPeer(C=C)
        quiet_fit(model, X_std, y)
        net_name = type(model.net_).__name__
        scores, fit_time, oof, _ = cross_validate_classifier(
            model, X, y, folds, classes
        )
        f = logistic_objective(model.coef_, model.intercept_, X_std, y_index, C)
        rows.append(
            {
                "model": f"skorch {net_name}",
                "loss": "log_loss",
                "optimizer": "sgd",
                "status": "peer",
                **scores,
                "fit_time": fit_time,
                "n_iter": int(model.n_iter_),
                "iter_unit": "epochs",
                "coef_diff": float(
                    np.max(np.abs(centred(model.coef_) - reference.coef_))
                ),
                "objective_gap": float(f - f_ref),
                # skorch has no stopping rule: it runs every epoch, converged or not.
                "converged": None,
                "fold_converged": None,
                "note": f"batch {model.batch_size_}, lr {model.learning_rate_:.3g}, "
                f"{model.n_iter_} epochs",
                **proved((model.coef_, model.intercept_), X_std, y, C),
            }
        )
        details["oof_proba"][(f"skorch {net_name}", "sgd")] = oof
        progress(f"peer skorch ({net_name}): {cv} folds in {fit_time * cv:.2f} s")

    if "mlp" in peers:
        rows.append(
            mlp_row(X, y, X_std, y_index, C, folds, classes, f_ref, details, progress)
        )

    settings = {
        "C": C,
        "cv": cv,
        "cv_splitter": "StratifiedKFold(shuffle=True), StandardScaler fitted per fold",
        "seed": SEED,
        "random_state": SEED,
        "match_tol": match_tol,
        "losses": losses,
        "optimizers": optimizers,
        "fits": fit_settings(NeuronClassifier, optimizers, overrides),
        "overrides": {key: dict(value) for key, value in (overrides or {}).items()},
        "peers": list(peers),
        "reference": "LogisticRegression(solver='newton-cholesky', tol=1e-10, "
        "max_iter=1000)",
        "roc_auc": "roc_auc" if classes.size == 2 else "roc_auc_ovr",
        **environment(),
    }
    counts = np.bincount(y_index)
    names = dataset.class_names
    info = {
        "name": dataset.name,
        "n_samples": int(X.shape[0]),
        "n_features": int(X.shape[1]),
        "n_classes": int(classes.size),
        "classes": [
            {"label": label.item() if hasattr(label, "item") else label,
             "name": names.get(label, None), "count": int(count)}
            for label, count in zip(classes, counts, strict=True)
        ],
        # LogisticRegression models P(y = classes_[1]) of a binary target.
        "positive_class": (classes[1].item() if hasattr(classes[1], "item")
                           else classes[1]) if classes.size == 2 else None,
        "notes": dataset.notes,
    }
    verdict = classification_verdict(rows, details, match_tol)
    takeaway = classification_takeaway(rows, match_tol)
    return StudyResult(
        "classification", info, settings, rows, verdict, details, takeaway
    )


def _regression_reference(loss: str, power: float) -> tuple[str, BaseEstimator, bool]:
    """The scikit-learn model of the same loss (unpenalized), or LinearRegression."""
    glm = {"tol": 1e-10, "max_iter": 1000, "alpha": 0.0, "solver": "newton-cholesky"}
    if loss == "poisson":
        return "PoissonRegressor", PoissonRegressor(**glm), True
    if loss == "gamma":
        return "GammaRegressor", GammaRegressor(**glm), True
    if loss == "tweedie":
        return (
            "TweedieRegressor",
            TweedieRegressor(power=power, link="log", **glm),
            True,
        )
    if loss == "absolute_error":
        # The median regression: the same minimiser as the mean absolute error.
        return (
            "QuantileRegressor",
            QuantileRegressor(quantile=0.5, alpha=0.0, solver="highs"),
            True,
        )
    # Huber has no twin (HuberRegressor fits a scale too): compare to least squares.
    return "LinearRegression", LinearRegression(), loss == "squared_error"


def regression_combinations(
    losses: Sequence[str], optimizers: Sequence[str] | None = None
) -> list[tuple[str, str]]:
    """The (loss, optimizer) pairs the regression study fits, in order.

    ``optimizers=None`` gives every loss the full-batch optimizers, except
    the absolute error: its minimum is at a kink, where they stall short of
    it, so it gets NeuronRegressor's exact solver (:data:`EXACT_LAD`) alone.
    Optimizers that are given run for every loss, as given.
    """
    if optimizers is not None:
        return [(loss, optimizer) for loss in losses for optimizer in optimizers]
    return [
        (loss, optimizer)
        for loss in losses
        for optimizer in (
            (EXACT_LAD,) if loss == "absolute_error" else FULL_BATCH_OPTIMIZERS
        )
    ]


def _target_fits(loss: str, y: np.ndarray) -> str | None:
    if loss in ("poisson", "tweedie") and np.any(y < 0):
        return f"loss {loss!r} needs a target >= 0"
    if loss == "gamma" and np.any(y <= 0):
        return "loss 'gamma' needs a target > 0"
    return None


def run_regression_study(
    dataset: Dataset,
    *,
    losses: Sequence[str] | None = None,
    optimizers: Sequence[str] | None = None,
    cv: int = 5,
    match_tol: float = DEFAULT_MATCH_TOL,
    progress: Callable[[str], object] | None = None,
    advance: Callable[[], object] | None = None,
) -> StudyResult:
    """Cross-validate each loss x optimizer of NeuronRegressor against scikit-learn.

    Both sides are fitted without a penalty (``alpha=0``), so the comparison
    needs no mapping of regularization strengths. ``progress`` and
    ``advance`` are as in :func:`run_classification_study`.
    """
    regressor = NeuronRegressor
    progress = progress or (lambda line: None)
    losses = list(losses or regression_losses())
    combos = regression_combinations(losses, optimizers)
    optimizers = list(optimizers or FULL_BATCH_OPTIMIZERS)
    X, y = dataset.X, np.asarray(dataset.y, dtype=float)
    folds = list(KFold(cv, shuffle=True, random_state=SEED).split(X))
    X_std = StandardScaler().fit_transform(X)
    accepted = regressor().get_params()
    unpenalized = (
        {"alpha": 0.0}
        if "alpha" in accepted
        else {"C": np.inf}
        if "C" in accepted
        else {}
    )
    power = accepted.get("power", 1.5)

    def cross_validate(estimator: BaseEstimator) -> tuple[dict[str, float | None], float]:
        scores, times = [], []
        for train, test in folds:
            model = make_pipeline(StandardScaler(), clone(estimator))
            times.append(quiet_fit(model, X[train], y[train]))
            scores.append(regression_scores(y[test], model.predict(X[test])))
        return mean_scores(scores), float(np.mean(times))

    rows: list[Row] = []
    references: dict[str, BaseEstimator] = {}
    details: dict[str, Any] = {"coef": {}, "curves": {}, "reference_coef": {}}
    for step, (loss, optimizer) in enumerate(advancing(combos, advance), 1):
        row: Row = {"model": "NeuronRegressor", "loss": loss, "optimizer": optimizer}
        reason = _target_fits(loss, y)
        if optimizer == EXACT_LAD and loss != "absolute_error":
            reason = f"{EXACT_LAD!r} is the exact solver of loss 'absolute_error' only"
        if reason:
            rows.append({**row, "status": "incompatible", "note": reason})
            continue
        ref_name, reference, same_model = _regression_reference(loss, power)
        if ref_name not in references:
            quiet_fit(reference, X_std, y)
            scores, fit_time = cross_validate(reference)
            references[ref_name] = reference
            details["reference_coef"][ref_name] = np.ravel(reference.coef_).copy()
            rows.insert(
                len(references) - 1,
                {
                    "model": ref_name,
                    "loss": loss,
                    "optimizer": "scikit-learn",
                    "status": "reference",
                    **scores,
                    "fit_time": fit_time,
                    "n_iter": int(np.max(getattr(reference, "n_iter_", 0))),
                    "coef_diff": 0.0,
                    "converged": True,
                    "reference": ref_name,
                    "note": "",
                },
            )
        reference = references[ref_name]
        params = neuron_params(regressor, optimizer, {"loss": loss, **unpenalized})
        neuron = regressor(**params)
        if not fit_or_skip(neuron, X_std, y, row, rows, progress, f"[{step}/{len(combos)}]"):
            continue
        scores, fit_time = cross_validate(neuron)
        diff = float(np.max(np.abs(np.ravel(neuron.coef_) - np.ravel(reference.coef_))))
        rows.append(
            {
                **row,
                "status": "ok",
                **scores,
                "fit_time": fit_time,
                "n_iter": int(getattr(neuron, "n_iter_", 0)),
                "coef_diff": diff,
                "converged": bool(getattr(neuron, "converged_", True)),
                "reference": ref_name,
                "same_objective": same_model,
                "note": "",
            }
        )
        details["coef"][(loss, optimizer)] = np.ravel(neuron.coef_).copy()
        if hasattr(neuron, "objective_curve_"):
            details["curves"][(loss, optimizer)] = np.asarray(neuron.objective_curve_)
        progress(
            f"[{step}/{len(combos)}] {loss} / {optimizer}: {cv} folds in "
            f"{fit_time * cv:.2f} s, max|coef diff| vs {ref_name} {diff:.1e}"
        )

    verdict = regression_verdict(rows, match_tol)
    settings = {
        "cv": cv,
        "seed": SEED,
        "match_tol": match_tol,
        "losses": losses,
        "optimizers": optimizers,
        "combinations": [f"{loss} / {optimizer}" for loss, optimizer in combos],
        "penalty": "none",
    }
    info = {
        "name": dataset.name,
        "n_samples": int(X.shape[0]),
        "n_features": int(X.shape[1]),
        "notes": dataset.notes,
    }
    return StudyResult("regression", info, settings, rows, verdict, details)
