"""The data of the study's explanatory figures: loss landscapes and a 2-D problem.

Each loss's value along a line through LogisticRegression's optimum (a slice
with negative curvature proves a loss is not convex in the weights), and a
2-D problem with far-off mislabeled points on which the losses' boundaries
differ where it is easy to see.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import numpy as np
from numpy.typing import ArrayLike
from sklearn.base import BaseEstimator
from sklearn.datasets import make_classification
from sklearn.linear_model import LogisticRegression

from .. import NeuronClassifier
from .fitting import SEED, quiet_fit


def landscape_slice(
    X_std: ArrayLike,
    y_index: np.ndarray,
    coef: ArrayLike,
    intercept: ArrayLike,
    losses: Iterable[str],
    ts: ArrayLike | None = None,
) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """Each loss's mean value along the ray ``t * (coef, intercept)``.

    ``t = 1`` is LogisticRegression's optimum (without its penalty), ``t = 0``
    the all-zero model. Returns ``(ts, {loss: values})``. A convex function
    stays convex on every line, so a slice with negative curvature proves a
    loss is not convex in the weights.
    """
    import torch

    from .._loss.losses import encode_classes, get_classification_loss

    ts = np.linspace(-4.0, 6.0, 201) if ts is None else np.asarray(ts)
    n_classes = int(y_index.max()) + 1
    X_t = torch.from_numpy(np.asarray(X_std, dtype=np.float64))
    target = encode_classes(y_index, n_classes, torch.float64, X_t.device)
    W = torch.from_numpy(np.atleast_2d(coef).astype(np.float64))
    b = torch.from_numpy(np.asarray(intercept, dtype=np.float64))
    base = X_t @ W.T + b
    values = {}
    for name in losses:
        loss = get_classification_loss(name, n_classes)
        values[name] = np.array(
            [float(loss.value(t * base, target).mean()) for t in ts]
        )
    return ts, values


def min_curvature(ts: np.ndarray, values: np.ndarray) -> float:
    """Smallest second difference quotient of ``values`` on the grid ``ts``."""
    step = ts[1] - ts[0]
    return float(np.min(np.diff(values, 2)) / step**2)


def two_d_problem() -> tuple[np.ndarray, np.ndarray]:
    """A 2-D binary problem with a few far-off mislabeled points.

    The outliers pull the log loss's boundary and leave the bounded losses
    (squared error on the sigmoid) nearly unmoved: the losses disagree where
    it is easy to see.
    """
    X, y = make_classification(
        n_samples=300,
        n_features=2,
        n_redundant=0,
        n_informative=2,
        n_clusters_per_class=1,
        class_sep=1.2,
        flip_y=0.0,
        random_state=3,
    )
    rng = np.random.default_rng(SEED)
    outliers = rng.normal(loc=[6.0, 6.0], scale=0.5, size=(12, 2))
    X = np.vstack([X, outliers])
    y = np.concatenate([y, np.ones(12, dtype=y.dtype)])
    return X, y


def fit_two_d(
    losses: Sequence[str], C: float = 1.0
) -> tuple[np.ndarray, np.ndarray, dict[str, BaseEstimator]]:
    """Fit each loss and LogisticRegression on :func:`two_d_problem`."""
    X, y = two_d_problem()
    models = {"LogisticRegression": LogisticRegression(C=C).fit(X, y)}
    for loss in losses:
        neuron = NeuronClassifier(loss=loss, C=C, tol=1e-8, max_iter=1000)
        quiet_fit(neuron, X, y)
        models[loss] = neuron
    return X, y, models
