"""The package's warning classes, in the bottom layer so that every layer can raise them.

Solvers warn of separation at the end of a fit and inference warns of penalized or
separated fits; both import the classes from here (they are public as
``sklearn_neuron.SeparationWarning`` and ``sklearn_neuron.PenalizedInferenceWarning``).
"""

from __future__ import annotations


class PenalizedInferenceWarning(UserWarning):
    """Wald statistics were computed for a penalized fit, where they are not valid."""


class SeparationWarning(UserWarning):
    """The data are (quasi-)separated: the maximum-likelihood estimate is infinite."""
