"""How close a default fit lands to the optimum, in float64 and in float32 (issue #15, point 6).

The reference is the float64 optimum: LogisticRegression(solver="newton-cholesky",
tol=1e-12). The gap is the largest coefficient difference relative to
max(1, max|coef|), as in the rest of the suite.
"""

import numpy as np
import pytest
from sklearn.datasets import load_breast_cancer, load_wine, make_classification
from sklearn.linear_model import LogisticRegression
from sklearn.preprocessing import StandardScaler

from sklearn_neuron import NeuronClassifier


def _data(name):
    if name == "breast_cancer":
        X, y = load_breast_cancer(return_X_y=True)
    elif name == "wine":
        X, y = load_wine(return_X_y=True)
    else:  # an L-BFGS-sized problem (auto picks lbfgs): 101 parameters, 20,000 rows
        X, y = make_classification(
            20_000, 100, n_informative=20, n_redundant=0, random_state=1
        )
    return StandardScaler().fit_transform(X), y


def _theta(model):
    return np.r_[model.coef_.ravel(), np.ravel(model.intercept_)].astype(np.float64)


def _gap(model, reference):
    ref = _theta(reference)
    return np.max(np.abs(_theta(model) - ref)) / max(1.0, np.max(np.abs(ref)))


@pytest.fixture(scope="module", params=["breast_cancer", "wine", "classification"])
def problem(request):
    X, y = _data(request.param)
    optimum = LogisticRegression(solver="newton-cholesky", tol=1e-12, max_iter=1000).fit(X, y)
    return X, y, optimum


def test_float32_default_fit_is_as_close_as_newton_cholesky(problem):
    # Before the final Newton step, 20,000 x 100 landed 5.4e-4 from the optimum
    # where newton-cholesky's float32 fit lands 1.5e-4.
    X, y, optimum = problem
    X32 = X.astype(np.float32)
    model = NeuronClassifier().fit(X32, y)
    assert model.coef_.dtype == np.float32  # fitted at float32 speed, not upcast
    newton_cholesky = LogisticRegression(solver="newton-cholesky").fit(X32, y)
    assert _gap(model, optimum) <= _gap(newton_cholesky, optimum)


def test_float64_default_fit_ends_near_the_optimum(problem):
    # tol bounds the gradient (1e-4), not the distance: before the final
    # Newton step the default fits were 8.9e-3 (wine) and 5.4e-4 (20,000 x
    # 100) away; the step squares the distance (wine: 6.2e-5, the others ~1e-6).
    X, y, optimum = problem
    model = NeuronClassifier().fit(X, y)
    assert _gap(model, optimum) <= 1e-4
