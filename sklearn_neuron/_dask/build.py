"""The estimators' objectives on Dask data: validation by reductions, then a DaskObjective.

:func:`classifier_objective` and :func:`regressor_objective` are the Dask
analogues of the estimators' in-memory ``_build_objective``: the same checks
in the same order, with the same functions (:mod:`sklearn_neuron._validation`,
:mod:`sklearn_neuron._loss.targets`) called on the blocks' reduced statistics
(:mod:`.validation`), the same class weights, and per-block encodings of the
target and the weights (picklable: they run on the workers) that equal the
in-memory ones row for row. They read only public estimator parameters and the
few methods every estimator has; they import no estimator.
"""

from __future__ import annotations

import functools
from typing import Any

import numpy as np
import torch

from .._loss.losses import get_classification_loss
from .._loss.targets import encode_classes, fitted_classes, target_range_error
from .._validation import check_known_labels, check_weight_sum, class_indices, class_weights
from .blocks import _per_block
from .objective import DaskObjective
from .validation import (
    _as_offset,
    _check_finite,
    _check_weights,
    _column_stats,
    _finiteness_check_of,
    _prepare,
    _regression_stats,
)


# -- the per-block encodings of the target and the weights -------------------------
def _classifier_encoding(
    classes: np.ndarray, class_weight: np.ndarray | None, y_b: np.ndarray,
    w_b: np.ndarray | None, dtype: torch.dtype,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Target and weights of one block of a classifier's data (as in memory)."""
    y_index, _ = class_indices(classes, y_b)
    target = encode_classes(y_index, classes.size, dtype, torch.device("cpu"))
    if w_b is None and class_weight is None:
        return target, _equal_weights(y_b.shape[0], dtype)
    weight = np.ones(y_b.shape[0]) if w_b is None else np.asarray(w_b, dtype=np.float64)
    if class_weight is not None:
        weight = weight * class_weight[y_index]
    return target, torch.as_tensor(weight, dtype=dtype)


def _equal_weights(n: int, dtype: torch.dtype) -> torch.Tensor:
    """n equal weights as one number seen n times, as in memory (no n-length
    vector to allocate, and fault in, per block)."""
    return torch.ones(1, dtype=dtype).expand(n)


def _regressor_encoding(
    y_b: np.ndarray, w_b: np.ndarray | None, dtype: torch.dtype
) -> tuple[torch.Tensor, torch.Tensor]:
    """Target and weights of one block of a regressor's data (as in memory)."""
    target = torch.as_tensor(np.asarray(y_b), dtype=dtype).reshape(-1, 1)
    if w_b is None:
        return target, _equal_weights(y_b.shape[0], dtype)
    return target, torch.as_tensor(np.asarray(w_b, dtype=np.float64), dtype=dtype)


def _torch_dtype(X: Any) -> torch.dtype:
    return torch.from_numpy(np.empty(0, dtype=X.dtype)).dtype


# -- the objectives ----------------------------------------------------------------------
def classifier_objective(
    estimator: Any, X: Any, y: Any, sample_weight: Any, *, reset: bool,
    classes: Any, check_finite: bool, offset: Any = None,
) -> DaskObjective:
    """NeuronClassifier's objective on dask data: validation by reductions, then
    a :class:`~.objective.DaskObjective` (the analogue of its in-memory
    ``_build_objective``; with ``reset`` it sets ``classes_``)."""
    X, y, sample_weight = _prepare(estimator, X, y, sample_weight, reset=reset)
    X_checked, when_read = _finiteness_check_of(X, check_finite)
    check_finite = X_checked is not None
    stats = _per_block(_column_stats, (X_checked, y, sample_weight), check_finite, True)
    _check_finite(stats, check_finite)
    labels = np.unique(np.concatenate([s["labels"] for s in stats]))
    if reset:
        estimator.classes_ = fitted_classes(labels, classes)
    classes = estimator.classes_
    check_known_labels(np.setdiff1d(labels, classes), classes)
    # Each block's label counts and weight sums, added up by class.
    counts, weight_sums = np.zeros(classes.size), np.zeros(classes.size)
    for block in stats:
        index = np.searchsorted(classes, block["labels"])
        np.add.at(counts, index, block["counts"])
        np.add.at(weight_sums, index, block["sums"])
    if sample_weight is not None:
        _check_weights(stats, float(weight_sums.sum()))
    class_weight = None
    if estimator.class_weight is not None:  # from the summed weights, as in memory
        class_weight = class_weights(estimator.class_weight, classes, counts, weight_sums)
        weight_sums = weight_sums * class_weight
        check_weight_sum(weight_sums, "sample_weight times class_weight")
    weight_sum = float(weight_sums.sum())
    dtype = _torch_dtype(X)
    share = weight_sums / weight_sum  # the weighted share of each class
    mean_target = share[1:] if classes.size == 2 else share
    loss = get_classification_loss(estimator.loss, classes.size)
    l2, l1 = estimator._penalty_strengths(estimator.C * weight_sum)
    encode = functools.partial(_classifier_encoding, classes, class_weight)
    return DaskObjective(
        X, y, sample_weight, encode, loss, l2, estimator.fit_intercept, l1=l1,
        weight_sum=weight_sum, mean_target=torch.as_tensor(mean_target, dtype=dtype),
        check_finite=when_read, offset=_as_offset(estimator, offset, None, X, loss.n_outputs),
    )


def regressor_objective(
    estimator: Any, X: Any, y: Any, sample_weight: Any, *, reset: bool,
    check_finite: bool, offset: Any = None, exposure: Any = None,
) -> DaskObjective:
    """NeuronRegressor's objective on dask data (its ``_build_objective``'s analogue)."""
    X, y, sample_weight = _prepare(estimator, X, y, sample_weight, reset=reset)
    if y.dtype.kind not in "biuf":
        raise ValueError(f"y has dtype {y.dtype}; a regressor needs a numeric target.")
    loss = estimator._get_loss()
    X_checked, when_read = _finiteness_check_of(X, check_finite)
    check_finite = X_checked is not None
    results = _per_block(
        _regression_stats, (X_checked, y, sample_weight), check_finite, loss, X.dtype
    )
    stats, sums = [r[0] for r in results], [r[1] for r in results]
    _check_finite(stats, check_finite)
    if not all(s[0] for s in sums):
        raise target_range_error(loss, min(s[1] for s in sums))
    weight_sum = float(sum(s[2] for s in sums))
    if sample_weight is not None:
        _check_weights(stats, weight_sum)
    mean_target = torch.tensor([sum(s[3] for s in sums) / weight_sum], dtype=_torch_dtype(X))
    return DaskObjective(
        X, y, sample_weight, _regressor_encoding, loss,
        estimator.alpha * (1 - estimator.l1_ratio), estimator.fit_intercept,
        l1=estimator.alpha * estimator.l1_ratio, weight_sum=weight_sum,
        mean_target=mean_target, check_finite=when_read,
        offset=_as_offset(estimator, offset, exposure, X, 1),
    )
