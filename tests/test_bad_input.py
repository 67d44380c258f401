"""What happens on bad or unusual input: the defects of issue #15 at the defaults.

Each test fails on the code before its fix (the commit that added it says so).
"""

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def _run_python(code, *args, cwd=None):
    """Run ``code`` in a fresh interpreter with warnings as errors.

    torch warns about non-writable arrays once per process, so a warning
    already given earlier in the test session would hide a new one: each
    check gets a process of its own.
    """
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    return subprocess.run(
        [sys.executable, "-W", "error", *args, "-c", code] if code else [sys.executable, *args],
        capture_output=True, text=True, env=env, cwd=cwd or ROOT, timeout=300,
    )


# -- 7: no warning from torch on read-only inputs --------------------------------
_READ_ONLY_INPUTS = """
import os, tempfile, warnings
import numpy as np, pandas as pd
from sklearn.exceptions import ConvergenceWarning
warnings.simplefilter("ignore", ConvergenceWarning)
from sklearn_neuron import NeuronClassifier, NeuronRegressor
rng = np.random.default_rng(0)
X = rng.normal(size=(120, 3))
y = (X[:, 0] + rng.normal(size=120) > 0).astype(int)
folder = tempfile.mkdtemp()
Xm = np.memmap(os.path.join(folder, "X"), dtype=np.float64, mode="w+", shape=X.shape)
Xm[:] = X
ym = np.memmap(os.path.join(folder, "y"), dtype=np.int64, mode="w+", shape=y.shape)
ym[:] = y
Xm = np.memmap(os.path.join(folder, "X"), dtype=np.float64, mode="r", shape=X.shape)
ym = np.memmap(os.path.join(folder, "y"), dtype=np.int64, mode="r", shape=y.shape)
Xr, yr = X.copy(), y.copy()
Xr.setflags(write=False); yr.setflags(write=False)
frame = pd.DataFrame(X, columns=["a", "b", "c"])
csv = pd.read_csv(__import__("io").StringIO(frame.assign(t=y).to_csv(index=False)))
for X_, y_ in [(frame, pd.Series(y)), (Xm, ym), (Xr, yr), (csv[["a", "b", "c"]], csv["t"]),
               (X, pd.Series(y.astype(str)))]:
    for est in (NeuronClassifier(), NeuronClassifier(optimizer="adam", max_iter=2)):
        est.fit(X_, y_).predict_proba(X_)
    if y_.dtype.kind in "iuf":
        NeuronRegressor().fit(X_, y_).predict(X_)
        NeuronRegressor("poisson").fit(X_, y_).predict(X_)
NeuronClassifier(C=np.inf).fit(frame, pd.Series(y)).summary(frame, pd.Series(y))
print("ok")
"""


def test_read_only_inputs_give_no_torch_warning():
    result = _run_python(_READ_ONLY_INPUTS)
    assert result.returncode == 0, result.stderr[-3000:]
    assert "not writable" not in result.stderr


@pytest.mark.slow
@pytest.mark.parametrize("example", sorted(p.name for p in (ROOT / "examples").glob("*.py")))
def test_examples_print_no_warning(example, tmp_path):
    env = {**os.environ, "PYTHONPATH": str(ROOT), "MPLBACKEND": "Agg"}
    result = subprocess.run(
        [sys.executable, "-W", "error::UserWarning", str(ROOT / "examples" / example)],
        capture_output=True, text=True, env=env, cwd=tmp_path, timeout=600,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert "Warning" not in result.stderr, result.stderr[-3000:]
