"""The Examples sections of the public docstrings run and print what they show."""

import doctest
import importlib

import pytest

MODULES = [
    "_callbacks", "_classifier", "_classifier_cv", "_regressor", "_inference", "_margins",
    "_module", "_onnx", "_hidden", "_certify",
    "_skorch", "_probe",
]
#: Optional dependencies an example needs (the test is skipped without them).
OPTIONAL = {
    "_onnx": ("skl2onnx", "onnxruntime"), "_callbacks": ("tqdm",), "_skorch": ("skorch",),
}


@pytest.mark.parametrize("name", MODULES)
def test_docstring_examples_run(name):
    for optional in OPTIONAL.get(name, ()):
        pytest.importorskip(optional)
    module = importlib.import_module(f"sklearn_neuron.{name}")
    result = doctest.testmod(module, optionflags=doctest.NORMALIZE_WHITESPACE)
    assert result.failed == 0
