"""sklearn-neuron: one torch neuron behind the scikit-learn API.

A network with no hidden layer and a sigmoid (softmax) output, trained on the
log loss, is logistic regression. :class:`NeuronClassifier` makes that
neuron a scikit-learn estimator with ``loss`` and ``optimizer`` as
hyperparameters and LogisticRegression's meaning of ``C``.
"""

from ._classifier import NeuronClassifier
from ._inference import (
    InferenceResults,
    PenalizedInferenceWarning,
    SeparationWarning,
    likelihood_ratio_test,
)
from ._module import NeuronModule

__all__ = [
    "InferenceResults",
    "NeuronClassifier",
    "NeuronModule",
    "PenalizedInferenceWarning",
    "SeparationWarning",
    "likelihood_ratio_test",
]
__version__ = "0.1.0"
