"""Models saved by an earlier release load and predict identically.

``tests/data/saved_<version>/`` holds estimators fitted and saved (pickle and skops) by
``tests/data/make_saved_models.py`` at that version, with the predictions they made then.
Pickle and skops record each class's module path, so a layout change that moved an
estimator or anything in its fitted state would break these loads.
"""
import pathlib
import pickle
import sys
import warnings

import numpy as np
import pytest

DATA = pathlib.Path(__file__).parent / "data"
sys.path.insert(0, str(DATA))
from make_saved_models import models  # noqa: E402

sys.path.remove(str(DATA))

skops_io = pytest.importorskip("skops.io")
SAVED = sorted(DATA.glob("saved_*/*.pkl"))
TRAINING_DATA = {name: X for name, _, X in models()}


def _load_skops(path):
    untrusted = skops_io.get_untrusted_types(file=path)
    known = ("sklearn_neuron.", "numpy.", "builtins.", "scipy.sparse.")
    assert all(t.startswith(known) for t in untrusted), untrusted
    return skops_io.load(path, trusted=untrusted)


@pytest.mark.parametrize("path", SAVED, ids=lambda p: f"{p.parent.name}/{p.stem}")
@pytest.mark.parametrize("loader", ["pickle", "skops"])
def test_saved_model_predicts_as_when_saved(path, loader):
    assert SAVED, "no saved models found"
    if loader == "pickle":
        model = pickle.loads(path.read_bytes())
    else:
        model = _load_skops(path.with_suffix(".skops"))
    expected = np.load(path.with_name(f"{path.stem}_expected.npy"))
    X = TRAINING_DATA[path.stem]
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        got = model.predict_proba(X) if hasattr(model, "predict_proba") else model.predict(X)
    # The same coefficients on the same data: equal to rounding of the matrix product.
    np.testing.assert_allclose(got, expected, rtol=1e-12, atol=1e-14)


def test_saved_models_cover_every_estimator():
    names = {p.stem for p in SAVED}
    assert {"binary", "multinomial", "cv", "poisson", "squared_error"} <= names
