"""sklearn-neuron: one torch neuron behind the scikit-learn API.

A network with no hidden layer and a sigmoid (softmax) output, trained on the
log loss, is logistic regression. :class:`NeuronClassifier` makes that
neuron a scikit-learn estimator with ``loss`` and ``optimizer`` as
hyperparameters and LogisticRegression's meaning of ``C``;
:class:`NeuronRegressor` does the same with an identity or exp output for
least squares and the GLMs (Poisson, Gamma, Tweedie), with ``alpha`` as in
scikit-learn's GLM regressors.
"""

import importlib
from typing import TYPE_CHECKING

# The public names are imported on first use (PEP 562), not here: importing
# them pulls in torch and scikit-learn, which ``python -m sklearn_neuron
# --help`` does not need. The imports below are the same names for type
# checkers and the documentation's static analysis; at run time
# ``__getattr__`` imports each from the module named in ``_SOURCES``.
if TYPE_CHECKING:
    from ._callbacks import ProgressBar, history_column
    from ._certify import CertificateResult, certify
    from ._classifier import NeuronClassifier
    from ._classifier_cv import NeuronClassifierCV
    from ._hidden import OutputLayerCertificate, certify_output_layer
    from ._inference.lrtest import likelihood_ratio_test
    from ._inference.margins import MarginalEffects
    from ._inference.results import InferenceResults
    from ._inference.summary import InferenceSummary
    from ._module import NeuronModule
    from ._onnx import register_onnx_converters, to_onnx
    from ._probe import FrozenFeatures
    from ._regressor import NeuronRegressor
    from ._skorch import from_skorch, to_skorch
    from ._warnings import PenalizedInferenceWarning, SeparationWarning

#: The module (relative to this package) that defines each public name.
_SOURCES = {
    "CertificateResult": "._certify",
    "FrozenFeatures": "._probe",
    "InferenceResults": "._inference.results",
    "InferenceSummary": "._inference.summary",
    "MarginalEffects": "._inference.margins",
    "NeuronClassifier": "._classifier",
    "NeuronClassifierCV": "._classifier_cv",
    "NeuronModule": "._module",
    "NeuronRegressor": "._regressor",
    "OutputLayerCertificate": "._hidden",
    "PenalizedInferenceWarning": "._warnings",
    "ProgressBar": "._callbacks",
    "SeparationWarning": "._warnings",
    "certify": "._certify",
    "certify_output_layer": "._hidden",
    "from_skorch": "._skorch",
    "history_column": "._callbacks",
    "likelihood_ratio_test": "._inference.lrtest",
    "register_onnx_converters": "._onnx",
    "to_onnx": "._onnx",
    "to_skorch": "._skorch",
}


def __getattr__(name):
    """Import a public name from its module on first use (PEP 562)."""
    if name not in _SOURCES:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(_SOURCES[name], __name__), name)
    globals()[name] = value  # later look-ups skip __getattr__
    return value


def __dir__():
    """The module's names, the public ones not yet imported included."""
    return sorted({*globals(), *__all__})


__all__ = [
    "CertificateResult",
    "FrozenFeatures",
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
