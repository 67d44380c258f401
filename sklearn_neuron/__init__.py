"""sklearn-neuron: one torch neuron behind the scikit-learn API.

A network with no hidden layer and a sigmoid (softmax) output, trained on the
log loss, is logistic regression. :class:`NeuronClassifier` makes that
neuron a scikit-learn estimator with ``loss`` and ``optimizer`` as
hyperparameters and LogisticRegression's meaning of ``C``;
:class:`NeuronRegressor` does the same with an identity or exp output for
least squares and the GLMs (Poisson, Gamma, Tweedie), with ``alpha`` as in
scikit-learn's GLM regressors.
"""

from ._classifier import NeuronClassifier
from ._classifier_cv import NeuronClassifierCV
from ._inference import (
    InferenceResults,
    PenalizedInferenceWarning,
    SeparationWarning,
    likelihood_ratio_test,
)
from ._module import NeuronModule
from ._onnx import register_onnx_converters, to_onnx
from ._regressor import NeuronRegressor

__all__ = [
    "InferenceResults",
    "NeuronClassifier",
    "NeuronClassifierCV",
    "NeuronModule",
    "NeuronRegressor",
    "PenalizedInferenceWarning",
    "SeparationWarning",
    "likelihood_ratio_test",
    "register_onnx_converters",
    "to_onnx",
]
__version__ = "0.1.0"
