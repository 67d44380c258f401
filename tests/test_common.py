"""scikit-learn's estimator contract: check_estimator and check_param_validation."""

import warnings

import pytest
from sklearn.exceptions import ConvergenceWarning
from sklearn.utils.estimator_checks import (
    check_param_validation,
    parametrize_with_checks,
)

from sklearn_neuron import NeuronClassifier, NeuronClassifierCV, NeuronRegressor
from sklearn_neuron._loss.losses import CLASSIFICATION_LOSSES, REGRESSION_LOSSES
from sklearn_neuron._solvers.stochastic import STOCHASTIC_OPTIMIZERS

# Each loss with the default optimizer, each optimizer with the log loss
# (and with squared error for the regressor).
ESTIMATORS = (
    [NeuronClassifier(loss=loss) for loss in CLASSIFICATION_LOSSES]
    + [NeuronClassifier(optimizer=name)
       for name in ("lbfgs", "newton", "newton-cg", *STOCHASTIC_OPTIMIZERS)
       if name != "adagrad"]
    # Weighted and repeated samples give the same model at the optimum; a
    # minibatch fit is there to its tol, so the slowest of them gets a tight one.
    + [NeuronClassifier(optimizer="adagrad", tol=1e-9, max_iter=2000)]
    + [NeuronClassifier(l1_ratio=0.5)]
    + [NeuronRegressor(loss=loss) for loss in REGRESSION_LOSSES]
    + [NeuronRegressor(optimizer=name)
       for name in ("lbfgs", "newton", "newton-cg", "sgd", "adam")]
    + [NeuronRegressor(l1_ratio=0.5)]
    # A short grid and 3 folds keep the checks quick; the second covers OWL-QN paths.
    + [NeuronClassifierCV(Cs=3, cv=3), NeuronClassifierCV(Cs=2, cv=3, l1_ratios=(0.0, 0.5))]
)


def _stops_short(estimator, optimizer, unit="iterations", before="reaching the tolerance"):
    """The message of ``estimator``'s ConvergenceWarning when ``optimizer`` stops at max_iter."""
    return rf"{estimator} \(optimizer='{optimizer}'\) stopped after \d+ {unit} without {before}"


#: The ConvergenceWarnings each estimator is expected to give on the checks'
#: data (small, unscaled sets, fitted at the default max_iter of 100
#: iterations or epochs): the minibatch optimizers, and on some sets L-BFGS,
#: OWL-QN, the hinge's Newton stages and LAD, stop there short of tol. Each is
#: silenced for its estimator only (by repr), so that any other warning of
#: the checks stands out.
EXPECTED_CONVERGENCE_WARNINGS = {
    repr(estimator): message
    for estimator, message in [
        (NeuronClassifier(loss="hinge"),
         _stops_short("NeuronClassifier", "newton", before="certifying the minimum")),
        (NeuronClassifier(optimizer="lbfgs"), _stops_short("NeuronClassifier", "lbfgs")),
        (NeuronClassifier(l1_ratio=0.5), _stops_short("NeuronClassifier", "lbfgs")),
        *[
            (NeuronClassifier(optimizer=name), _stops_short("NeuronClassifier", name, "epochs"))
            for name in STOCHASTIC_OPTIMIZERS if name != "adagrad"
        ],
        (NeuronClassifier(optimizer="adagrad", tol=1e-9, max_iter=2000),
         _stops_short("NeuronClassifier", "adagrad", "epochs")),
        (NeuronRegressor(loss="absolute_error"), _stops_short("NeuronRegressor", "lad")),
        *[
            (NeuronRegressor(optimizer=name), _stops_short("NeuronRegressor", name, "epochs"))
            for name in ("sgd", "adam")
        ],
        (NeuronClassifierCV(Cs=2, cv=3, l1_ratios=(0.0, 0.5)),
         r"\d+ of the \d+ fits on the cross-validation path stopped after max_iter="),
    ]
}


@parametrize_with_checks(ESTIMATORS)
def test_sklearn_compatible_estimator(estimator, check):
    with warnings.catch_warnings():
        expected = EXPECTED_CONVERGENCE_WARNINGS.get(repr(estimator))
        if expected is not None:
            warnings.filterwarnings("ignore", message=expected, category=ConvergenceWarning)
        check(estimator)


@pytest.mark.parametrize("estimator", ESTIMATORS, ids=repr)
def test_check_param_validation(estimator):
    check_param_validation(type(estimator).__name__, estimator)
