"""The Examples sections of the public docstrings run and print what they show."""

import doctest
import importlib

import pytest

MODULES = ["_classifier", "_classifier_cv", "_regressor", "_inference", "_module"]


@pytest.mark.parametrize("name", MODULES)
def test_docstring_examples_run(name):
    module = importlib.import_module(f"sklearn_neuron.{name}")
    result = doctest.testmod(module, optionflags=doctest.NORMALIZE_WHITESPACE)
    assert result.failed == 0
