"""Start-up: what a fresh interpreter imports for the command's help and the package.

Each check runs in a new Python process, since this test session has long
imported torch: the process reports the modules it ended with.
"""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).parents[1]

#: Libraries the help and a bare ``import sklearn_neuron`` must not import.
HEAVY = ("torch", "sklearn", "numpy", "scipy", "matplotlib", "dask", "distributed")

#: Run ``CODE`` (which may exit), then print the sorted imported modules as JSON
#: on the last line of stdout.
_WRAPPER = """
import atexit, json, sys
atexit.register(lambda: print("\\n" + json.dumps(sorted(sys.modules))))
{code}
"""


def _run(code):
    """Run ``code`` in a fresh interpreter: ``(returncode, stdout, stderr, modules)``."""
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    result = subprocess.run(
        [sys.executable, "-c", _WRAPPER.format(code=code)],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=120,
    )
    out, _, modules = result.stdout.rstrip("\n").rpartition("\n")
    return result.returncode, out, result.stderr, set(json.loads(modules))


def _heavy(modules):
    return sorted(name for name in modules if name.split(".")[0] in HEAVY)


@pytest.mark.parametrize(
    "code",
    [
        # python -m sklearn_neuron --help
        "import runpy; sys.argv = ['sklearn_neuron', '--help']; "
        "runpy.run_module('sklearn_neuron', run_name='__main__', alter_sys=True)",
        # the sklearn-neuron console script (its entry point is _cli:main)
        "from sklearn_neuron._study.cli import main; sys.argv = ['sklearn-neuron', '--help']; "
        "sys.exit(main())",
    ],
    ids=["python -m", "console script"],
)
def test_help_imports_no_torch_and_prints_the_parsers_help(code):
    from sklearn_neuron._study import cli as _cli

    returncode, out, err, modules = _run(code)
    assert returncode == 0, err
    assert "torch" not in modules
    assert _heavy(modules) == []
    # The same text as the parser the docs include (docs/gen_pages.py).
    assert out.rstrip("\n") == _cli.build_parser().format_help().rstrip("\n")


def test_a_usage_error_imports_no_torch():
    returncode, _, err, modules = _run(
        "from sklearn_neuron._study.cli import main; sys.exit(main(['--cv', '1']))"
    )
    assert returncode == 2
    assert "error: argument --cv: needs at least 2 folds" in err
    assert _heavy(modules) == []


def test_help_shows_the_studys_names_and_defaults():
    """The parser's names come from options.py; the study's modules use the same."""
    import inspect

    from sklearn_neuron._study import cli as _cli
    from sklearn_neuron._study import datasets as _datasets
    from sklearn_neuron._study import options as _options
    from sklearn_neuron._study import runs as _runs

    text = " ".join(_cli.build_parser().format_help().split())
    match_tol = inspect.signature(_runs.run_classification_study).parameters["match_tol"]
    assert f"a bundled dataset ({', '.join(_datasets.BUNDLED_DATASETS)})" in text
    assert f"(default: {match_tol.default:g})" in text
    assert f"installed: {', '.join(_options.PEERS)} " in text
    assert f"one of more than {_options.MAX_CLASSES} distinct integers" in text
    [(_, lad)] = _runs.regression_combinations(["absolute_error"])
    assert f"exact solver '{lad}' alone" in text
    assert _cli.build_parser().parse_args([]).match_tol == match_tol.default


def test_importing_the_package_does_not_import_torch():
    returncode, _, err, modules = _run("import sklearn_neuron")
    assert returncode == 0, err
    assert _heavy(modules) == []


def test_public_names_are_imported_on_first_use():
    import sklearn_neuron
    from sklearn_neuron._classifier import NeuronClassifier

    assert sklearn_neuron.NeuronClassifier is NeuronClassifier
    names = {}
    exec("from sklearn_neuron import *", names)  # every name of __all__ resolves
    assert sorted(set(names) - {"__builtins__"}) == sorted(sklearn_neuron.__all__)
    assert set(sklearn_neuron.__all__) <= set(dir(sklearn_neuron))
    with pytest.raises(AttributeError, match="has no attribute 'NoSuchName'"):
        sklearn_neuron.NoSuchName  # noqa: B018
