"""NeuronClassifier(loss="log_loss") is LogisticRegression: the same coefficients.

Reference: ``LogisticRegression(solver="newton-cholesky", tol=1e-10)``.
Tolerances (stated by the NeuronClassifier issue):

- ``coef_`` and ``intercept_``: ``max |a - b| <= 1e-5 * max(1, max |coef|)``
  (1e-5 relative to the scale of the coefficients);
- ``predict_proba``: ``max |a - b| <= 1e-6``.

C = inf (no penalty) is tested only on the synthetic sets, whose classes
overlap: on the standardized real sets the classes are (quasi-)separable and
the maximum-likelihood estimate does not exist.
"""

from functools import cache

import numpy as np
import pytest
from _datasets import classification_dataset, sample_weight_for
from sklearn.linear_model import LogisticRegression

from sklearn_neuron import NeuronClassifier

COEF_RTOL = 1e-5
PROBA_ATOL = 1e-6
FIT = dict(tol=1e-10, max_iter=10_000)

REAL = ["breast_cancer", "iris", "wine", "digits"]
SYNTHETIC = ["synthetic_binary", "synthetic_multiclass"]
CASES = [(d, C) for d in REAL + SYNTHETIC for C in (0.01, 1.0, 100.0)]
CASES += [(d, np.inf) for d in SYNTHETIC]
WEIGHTINGS = ["none", "sample_weight", "balanced"]


def _fit_kwargs(dataset, weighting):
    X, y = classification_dataset(dataset)
    sample_weight = sample_weight_for(y) if weighting == "sample_weight" else None
    class_weight = "balanced" if weighting == "balanced" else None
    return X, y, sample_weight, class_weight


@cache
def reference(dataset, C, fit_intercept, weighting):
    X, y, sample_weight, class_weight = _fit_kwargs(dataset, weighting)
    model = LogisticRegression(
        solver="newton-cholesky",
        C=C,
        fit_intercept=fit_intercept,
        class_weight=class_weight,
        tol=1e-10,
        max_iter=1000,
    )
    return model.fit(X, y, sample_weight=sample_weight)


def _marks(dataset, optimizer):
    slow = dataset == "digits" and optimizer == "lbfgs"
    return [pytest.mark.slow] if slow else []


PARAMS = [
    pytest.param(
        d, C, opt, fi, w, marks=_marks(d, opt), id=f"{d}-C={C}-{opt}-fi={fi}-{w}"
    )
    for d, C in CASES
    for opt in ("newton", "lbfgs")
    for fi in (True, False)
    for w in WEIGHTINGS
]


@pytest.mark.parametrize("dataset, C, optimizer, fit_intercept, weighting", PARAMS)
def test_matches_logistic_regression(dataset, C, optimizer, fit_intercept, weighting):
    X, y, sample_weight, class_weight = _fit_kwargs(dataset, weighting)
    ref = reference(dataset, C, fit_intercept, weighting)
    neuron = NeuronClassifier(
        optimizer=optimizer,
        C=C,
        fit_intercept=fit_intercept,
        class_weight=class_weight,
        **FIT,
    ).fit(X, y, sample_weight=sample_weight)

    assert neuron.converged_
    scale = max(1.0, np.abs(ref.coef_).max())
    np.testing.assert_allclose(neuron.coef_, ref.coef_, rtol=0, atol=COEF_RTOL * scale)
    np.testing.assert_allclose(
        neuron.intercept_,
        ref.intercept_,
        rtol=0,
        atol=COEF_RTOL * max(1.0, np.abs(ref.intercept_).max()),
    )
    np.testing.assert_allclose(
        neuron.predict_proba(X), ref.predict_proba(X), rtol=0, atol=PROBA_ATOL
    )
    np.testing.assert_array_equal(neuron.predict(X), ref.predict(X))
