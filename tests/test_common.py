"""scikit-learn's estimator contract: check_estimator and check_param_validation."""

import pytest
from sklearn.utils.estimator_checks import check_param_validation, parametrize_with_checks

from sklearn_neuron import NeuronClassifier, NeuronRegressor

ESTIMATORS = [
    NeuronClassifier(),
    NeuronClassifier(optimizer="lbfgs"),
    NeuronClassifier(optimizer="newton"),
    NeuronRegressor(),
    NeuronRegressor(loss="poisson"),
    NeuronRegressor(loss="gamma"),
    NeuronRegressor(loss="tweedie"),
    NeuronRegressor(loss="huber"),
    NeuronRegressor(loss="absolute_error"),
]


@parametrize_with_checks(ESTIMATORS)
def test_sklearn_compatible_estimator(estimator, check):
    check(estimator)


@pytest.mark.parametrize("estimator", ESTIMATORS, ids=repr)
def test_check_param_validation(estimator):
    check_param_validation(type(estimator).__name__, estimator)
