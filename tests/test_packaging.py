"""Packaging: one version source, py.typed shipped, classifiers and project URLs.

The wheel is built from a copy of this checkout (``pip wheel --no-deps
--no-build-isolation``: no download; setuptools writes ``build/`` and
``*.egg-info`` beside the sources, so not in the checkout) and its metadata
read back.
``importlib.metadata`` reads the *installed* distribution: where that is
another checkout's editable install, the version test only passes once both
carry the same ``__version__``.
"""

import importlib.metadata
import shutil
import subprocess
import sys
import zipfile
from email.parser import Parser
from pathlib import Path

import pytest

import sklearn_neuron

ROOT = Path(__file__).parents[1]


def test_version_is_the_installed_distribution():
    assert sklearn_neuron.__version__ == importlib.metadata.version("sklearn-neuron")


@pytest.fixture(scope="module")
def wheel(tmp_path_factory):
    out = tmp_path_factory.mktemp("wheel")
    source = tmp_path_factory.mktemp("source") / "sklearn-neuron"
    shutil.copytree(
        ROOT, source,
        ignore=shutil.ignore_patterns(".git", "build", "site", "*.egg-info", "__pycache__",
                                      "out", ".pytest_cache"),
    )
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation",
         "--quiet", "-w", str(out), str(source)],
        check=True, capture_output=True, text=True, timeout=300, cwd=source,
    )
    (path,) = out.glob("sklearn_neuron-*.whl")
    return zipfile.ZipFile(path)


def _metadata(wheel):
    (name,) = [n for n in wheel.namelist() if n.endswith(".dist-info/METADATA")]
    return Parser().parsestr(wheel.read(name).decode())


@pytest.mark.slow
def test_wheel_ships_py_typed_and_the_one_version(wheel):
    assert "sklearn_neuron/py.typed" in wheel.namelist()
    metadata = _metadata(wheel)
    assert metadata["Version"] == sklearn_neuron.__version__
    assert metadata["License-Expression"] == "BSD-3-Clause"


@pytest.mark.slow
def test_wheel_metadata_classifiers_and_urls(wheel):
    metadata = _metadata(wheel)
    classifiers = metadata.get_all("Classifier")
    assert "Typing :: Typed" in classifiers
    assert any(c.startswith("Development Status ::") for c in classifiers)
    assert "Programming Language :: Python :: 3.10" in classifiers
    urls = dict(line.split(", ", 1) for line in metadata.get_all("Project-URL"))
    assert set(urls) >= {"Homepage", "Documentation", "Source", "Issues"}
    assert all(url.startswith("https://") for url in urls.values())
