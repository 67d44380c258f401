"""Targets of the losses: the classes a classifier fits, their encoding, and the
domain of a regression target.

What y must be for a loss, and how it becomes the ``target`` tensor the losses
of :mod:`~sklearn_neuron._loss.losses` take: the fitted classes (sorted, at
least two), class indices encoded as one 0/1 column (two classes, one sigmoid
unit) or one-hot (K softmax units), and the range of y a regression loss
accepts (:class:`TargetDomain`, declared by each loss) with the check and the
message that names it. The in-memory path checks y itself; the Dask path calls
:func:`target_range_error` on the per-block results of :func:`in_target_domain`
and ``min(y)``, so both say the same thing. Nothing here computes a loss.
"""

from __future__ import annotations

import math
from typing import NamedTuple, Protocol

import numpy as np
import torch
import torch.nn.functional as F
from sklearn.utils.multiclass import check_classification_targets

try:  # scikit-learn's own cache of a label array's distinct values (private)
    from sklearn.utils._unique import cached_unique
except ImportError:  # pragma: no cover - another scikit-learn layout
    cached_unique = np.unique

from .._validation import to_tensor

__all__ = [
    "ANY_REAL",
    "DomainLoss",
    "TargetDomain",
    "check_target",
    "encode_classes",
    "fitted_classes",
    "in_target_domain",
    "target_range_error",
]


class TargetDomain(NamedTuple):
    """The values of y a regression loss accepts: ``y > low`` or ``y >= low``.

    Attributes
    ----------
    low : float
        Lower bound of y; ``-inf`` for any real y.
    closed : bool
        Whether ``y == low`` is allowed.
    rule : str or None
        The rule in words, as error messages name it (None: any real y).
    """

    low: float = -math.inf
    closed: bool = True
    rule: str | None = None


#: The domain of a loss that takes any real y.
ANY_REAL = TargetDomain()


class DomainLoss(Protocol):
    """What the target checks read of a regression loss (the losses import this
    module, so it names no loss class)."""

    name: str
    target_domain: TargetDomain


def in_target_domain(domain: TargetDomain, y: np.ndarray) -> bool:
    """Whether every value of the numpy array ``y`` lies in ``domain``.

    Parameters
    ----------
    domain : TargetDomain
        The loss's domain (``loss.target_domain``).
    y : ndarray
        Target values (any shape).

    Returns
    -------
    bool
        True also for an empty ``y``, and for any ``y`` where ``low`` is ``-inf``.
    """
    if domain.low == -math.inf:
        return True
    return bool((y >= domain.low).all()) if domain.closed else bool((y > domain.low).all())


def target_range_error(loss: DomainLoss, y_min: float) -> ValueError:
    """The ValueError for y outside ``loss``'s domain, given the smallest y.

    Parameters
    ----------
    loss : DomainLoss
        The regression loss whose ``target_domain`` y breaks.
    y_min : float
        The smallest value of y (over all blocks, on Dask data).

    Returns
    -------
    ValueError
        The error to raise; it names the loss, its rule and ``min(y)``.
    """
    return ValueError(
        f"loss={loss.name!r} requires {loss.target_domain.rule}; y has values "
        f"outside that range (min(y) = {float(y_min):.6g})."
    )


def check_target(loss: DomainLoss, y: np.ndarray) -> None:
    """Raise :func:`target_range_error` when ``y`` is outside ``loss``'s domain.

    Parameters
    ----------
    loss : DomainLoss
        A regression loss (it declares ``target_domain``).
    y : ndarray
        The target, already validated as numeric.
    """
    if not in_target_domain(loss.target_domain, y):
        raise target_range_error(loss, y.min())


#: Integer labels at least this many, within a range at most ``_COUNTED_RANGE``
#: wide, have their distinct values found by counting (:func:`distinct_labels`).
_COUNTED_LABELS = 1 << 12
_COUNTED_RANGE = 1 << 16


def distinct_labels(labels: np.ndarray) -> np.ndarray:
    """``np.unique(labels)``; by counting where the labels are many integers of a
    narrow range (on 200,000 labels a tenth of ``np.unique``'s 3 ms)."""
    if labels.dtype.kind in "iu" and labels.ndim == 1 and labels.size >= _COUNTED_LABELS:
        low, high = int(labels.min()), int(labels.max())
        bounds = np.iinfo(np.intp)
        if high - low < _COUNTED_RANGE and bounds.min <= low and high <= bounds.max:
            counts = np.bincount(np.subtract(labels, low, dtype=np.intp))
            return (np.flatnonzero(counts) + low).astype(labels.dtype)
    return np.unique(labels)


def attach_unique(labels: np.ndarray) -> np.ndarray:
    """A view of ``labels`` that carries its distinct values (:func:`distinct_labels`)
    where scikit-learn's target-type checks read them (``cached_unique``):
    they are found once per fit."""
    if not isinstance(labels, np.ndarray) or cached_unique is np.unique:
        return labels
    metadata = labels.dtype.metadata
    if metadata is not None and "unique" in metadata:
        return labels
    dtype = np.dtype(labels.dtype, metadata={"unique": distinct_labels(labels)})
    return labels.view(dtype=dtype)


def _binary_integers(labels: np.ndarray) -> bool:
    """Whether ``labels`` are a 1-D integer or boolean array of at most two
    distinct values: scikit-learn's ``type_of_target`` calls them "binary",
    which ``check_classification_targets`` accepts without a warning, so its
    check (0.2 ms of a 4 ms breast_cancer fit) is skipped."""
    return (
        isinstance(labels, np.ndarray) and labels.ndim == 1 and labels.dtype.kind in "iub"
        and cached_unique(labels).size <= 2
    )


def fitted_classes(labels: np.ndarray, classes: np.ndarray | None = None) -> np.ndarray:
    """The classes a classifier is fitted on: ``classes`` (sorted) or those of ``labels``.

    ``labels`` are the labels seen (y itself, or its distinct values found
    by a reduction). Refuses labels outside ``classes`` and fewer than two
    classes, with what to check.

    Parameters
    ----------
    labels : ndarray
        The labels seen.
    classes : array-like or None, default=None
        All the classes (``partial_fit``'s ``classes``); None: those of ``labels``.

    Returns
    -------
    ndarray
        The sorted distinct classes.
    """
    # The labels' distinct values, found once: the target-type check reuses them.
    labels = attach_unique(labels)
    if not _binary_integers(labels):
        check_classification_targets(labels)
    if classes is None:
        classes = np.asarray(cached_unique(labels))
    else:
        classes = np.unique(classes)
        unknown = np.setdiff1d(labels, classes)
        if unknown.size:
            raise ValueError(
                f"y has labels {unknown.tolist()} missing from classes={classes.tolist()}."
            )
    if classes.size < 2:
        raise ValueError(
            "NeuronClassifier needs samples of at least 2 classes in y, but the data "
            f"contain only one class: {classes[0]!r}. Check how y was built or subsampled."
        )
    return classes


def encode_classes(
    y_index: np.ndarray | torch.Tensor,
    n_classes: int,
    dtype: torch.dtype,
    device: torch.device | str | None,
) -> torch.Tensor:
    """Encode class indices as the target the classification losses take.

    Two classes give one 0/1 column (one sigmoid unit); K > 2 classes give a
    one-hot matrix (K softmax units).

    Parameters
    ----------
    y_index : ndarray or Tensor of shape (n_samples,)
        Index of each sample's class in the fitted classes.
    n_classes : int
        Number of classes.
    dtype : torch.dtype
        Floating dtype of the target.
    device : torch.device
        Where the target lives.

    Returns
    -------
    Tensor of shape (n_samples, 1) or (n_samples, n_classes)
    """
    index: torch.Tensor = to_tensor(y_index, device)  # read-only labels (pandas 3) too
    if n_classes <= 2:
        return index.to(dtype).unsqueeze(1)
    return F.one_hot(index.long(), n_classes).to(dtype)
