"""scikit-learn's estimator contract: check_estimator and check_param_validation."""

import pytest
from sklearn.utils.estimator_checks import (
    check_param_validation,
    parametrize_with_checks,
)

from sklearn_neuron import NeuronClassifier, NeuronClassifierCV, NeuronRegressor
from sklearn_neuron._losses import CLASSIFICATION_LOSSES, REGRESSION_LOSSES
from sklearn_neuron._stochastic import STOCHASTIC_OPTIMIZERS

# Each loss with the default optimizer, each optimizer with the log loss
# (and with squared error for the regressor).
ESTIMATORS = (
    [NeuronClassifier(loss=loss) for loss in CLASSIFICATION_LOSSES]
    + [NeuronClassifier(optimizer=name) for name in ("lbfgs", "newton", *STOCHASTIC_OPTIMIZERS)
       if name != "adagrad"]
    # Weighted and repeated samples give the same model at the optimum; a
    # minibatch fit is there to its tol, so the slowest of them gets a tight one.
    + [NeuronClassifier(optimizer="adagrad", tol=1e-9, max_iter=2000)]
    + [NeuronClassifier(l1_ratio=0.5)]
    + [NeuronRegressor(loss=loss) for loss in REGRESSION_LOSSES]
    + [NeuronRegressor(optimizer=name) for name in ("lbfgs", "newton", "sgd", "adam")]
    + [NeuronRegressor(l1_ratio=0.5)]
    # A short grid and 3 folds keep the checks quick; the second covers OWL-QN paths.
    + [NeuronClassifierCV(Cs=3, cv=3), NeuronClassifierCV(Cs=2, cv=3, l1_ratios=(0.0, 0.5))]
)


@parametrize_with_checks(ESTIMATORS)
def test_sklearn_compatible_estimator(estimator, check):
    check(estimator)


@pytest.mark.parametrize("estimator", ESTIMATORS, ids=repr)
def test_check_param_validation(estimator):
    check_param_validation(type(estimator).__name__, estimator)
