"""sklearn-neuron: one torch neuron behind the scikit-learn API.

A network with no hidden layer and a sigmoid (softmax) output, trained on the
log loss, is logistic regression. :class:`NeuronClassifier` makes that
neuron a scikit-learn estimator with ``loss`` and ``optimizer`` as
hyperparameters and LogisticRegression's meaning of ``C``;
:class:`NeuronRegressor` does the same with an identity or exp output for
least squares and the GLMs (Poisson, Gamma, Tweedie), with ``alpha`` as in
scikit-learn's GLM regressors.
"""

from ._callbacks import ProgressBar, history_column
from ._certify import CertificateResult, certify
from ._classifier import NeuronClassifier
from ._classifier_cv import NeuronClassifierCV
from ._hidden import OutputLayerCertificate, certify_output_layer
from ._inference import (
    InferenceResults,
    InferenceSummary,
    PenalizedInferenceWarning,
    SeparationWarning,
    likelihood_ratio_test,
)
from ._margins import MarginalEffects
from ._module import NeuronModule
from ._onnx import register_onnx_converters, to_onnx
from ._regressor import NeuronRegressor
from ._skorch import from_skorch, to_skorch

__all__ = [
    "CertificateResult",
    "InferenceResults",
    "InferenceSummary",
    "MarginalEffects",
    "NeuronClassifier",
    "NeuronClassifierCV",
    "NeuronModule",
    "NeuronRegressor",
    "OutputLayerCertificate",
    "PenalizedInferenceWarning",
    "ProgressBar",
    "SeparationWarning",
    "certify",
    "certify_output_layer",
    "from_skorch",
    "history_column",
    "likelihood_ratio_test",
    "register_onnx_converters",
    "to_onnx",
    "to_skorch",
]
#: The package version; pyproject.toml reads it from here (the single source).
__version__ = "0.1.0"
