"""The Examples sections of the public docstrings run and print what they show."""

import doctest
import importlib
import pkgutil

import pytest

import sklearn_neuron

#: Every module of the package (relative names), so that a new module's examples run too.
MODULES = sorted(
    info.name.removeprefix("sklearn_neuron.")
    for info in pkgutil.walk_packages(sklearn_neuron.__path__, "sklearn_neuron.")
    if info.name != "sklearn_neuron.__main__"
)
#: Optional dependencies an example needs (the test is skipped without them).
OPTIONAL = {
    "_onnx": ("skl2onnx", "onnxruntime"), "_callbacks": ("tqdm",), "_skorch": ("skorch",),
    "_study.plots": ("matplotlib",),
}


def test_every_public_module_is_collected():
    assert {"_classifier", "_inference.results", "_inference.margins", "_certify"} <= set(MODULES)


@pytest.mark.parametrize("name", MODULES)
def test_docstring_examples_run(name):
    for optional in OPTIONAL.get(name, ()):
        pytest.importorskip(optional)
    module = importlib.import_module(f"sklearn_neuron.{name}")
    result = doctest.testmod(module, optionflags=doctest.NORMALIZE_WHITESPACE)
    assert result.failed == 0
