"""Small datasets shared by the tests (all shipped with scikit-learn or generated)."""

from functools import cache

import numpy as np
from sklearn.datasets import (
    load_breast_cancer,
    load_digits,
    load_iris,
    load_wine,
    make_classification,
)
from sklearn.preprocessing import StandardScaler


def _standardized(loader):
    X, y = loader(return_X_y=True)
    return StandardScaler().fit_transform(X), y


@cache
def classification_dataset(name):
    """(X, y) by name; X is standardized. "synthetic*" sets overlap: the MLE exists."""
    if name == "breast_cancer":
        return _standardized(load_breast_cancer)
    if name == "iris":
        return _standardized(load_iris)
    if name == "wine":
        return _standardized(load_wine)
    if name == "digits":
        return _standardized(load_digits)
    if name == "synthetic_binary":
        X, y = make_classification(
            n_samples=400,
            n_features=6,
            n_informative=4,
            n_redundant=0,
            flip_y=0.1,
            class_sep=0.7,
            weights=[0.7, 0.3],
            random_state=0,
        )
        return X, y
    if name == "synthetic_multiclass":
        X, y = make_classification(
            n_samples=600,
            n_features=5,
            n_informative=4,
            n_redundant=0,
            n_classes=3,
            n_clusters_per_class=1,
            flip_y=0.1,
            class_sep=0.8,
            random_state=1,
        )
        return X, y
    raise KeyError(name)


def sample_weight_for(y, seed=0):
    """Positive, uneven sample weights (some integer, some fractional)."""
    rng = np.random.default_rng(seed)
    return rng.uniform(0.2, 3.0, size=len(y)).round(1)


def binary_lr_objective(model, X, y, C=1.0):
    """LogisticRegression's objective at ``C`` of a fitted binary model, in
    float64: ``C * sum_i log(1 + exp(-s_i raw_i)) + ||w||^2 / 2`` (intercept
    unpenalized), ``s_i = +-1`` the label's side."""
    raw = X @ model.coef_.ravel() + model.intercept_[0]
    sign = np.where(y == model.classes_[1], 1.0, -1.0)
    return C * np.logaddexp(0.0, -sign * raw).sum() + 0.5 * np.sum(model.coef_**2)
