"""What happens on bad or unusual input: the defects of issue #15 at the defaults.

Each test fails on the code before its fix (the commit that added it says so).
"""

import os
import subprocess
import sys
import threading
import warnings
from pathlib import Path

import numpy as np
import pytest
import torch

from sklearn_neuron import NeuronClassifier, NeuronRegressor

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


# -- 11: the smaller ones ----------------------------------------------------------
def _binary():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(80, 3))
    return X, (X[:, 0] + rng.normal(size=80) > 0).astype(int)


def test_negative_class_weight_is_refused_like_negative_sample_weight():
    X, y = _binary()
    with pytest.raises(ValueError, match=r"class_weight has negative .* classes \[0\]"):
        NeuronClassifier(class_weight={0: -1.0, 1: 1.0}).fit(X, y)
    with pytest.raises(ValueError, match="class_weight sums to zero"):
        NeuronClassifier(class_weight={0: 0.0, 1: 0.0}).fit(X, y)
    with pytest.raises(ValueError, match="class_weight sums to zero"):
        NeuronClassifier(class_weight={0: 0.0, 1: 1.0}).fit(X, y, sample_weight=y == 0)


@pytest.mark.parametrize("device", ["meta", torch.device("meta")])
def test_device_without_data_is_a_clear_error(device):
    X, y = _binary()
    for model in (NeuronClassifier(device=device), NeuronRegressor(device=device)):
        with pytest.raises(ValueError, match="device='meta' holds tensors without data"):
            model.fit(X, y)


@pytest.mark.parametrize("optimizer", ["auto", "newton", "lbfgs"])
def test_optimizer_kwargs_of_a_full_batch_optimizer_are_refused(optimizer):
    X, y = _binary()
    for model in (NeuronClassifier, NeuronRegressor):
        with pytest.raises(ValueError, match="optimizer_kwargs=.*minibatch"):
            model(optimizer=optimizer, optimizer_kwargs={"momentum": 0.9}).fit(X, y)
        model(optimizer=optimizer, optimizer_kwargs={}).fit(X, y)  # nothing given: fine


def test_summary_frame_without_pandas_names_pandas(monkeypatch):
    X, y = _binary()
    summary = NeuronClassifier(C=np.inf).fit(X, y).summary(X, y)
    monkeypatch.setitem(sys.modules, "pandas", None)  # import pandas raises ImportError
    with pytest.raises(ImportError, match="needs pandas"):
        _ = summary.frame
    assert "coef" in str(summary) and summary.table  # the rest needs nothing
    assert "<table>" in summary._repr_html_()


@pytest.mark.parametrize("loss", ["poisson", "gamma", "tweedie"])
def test_glm_prediction_overflow_warns(loss):
    # pyproject turns RuntimeWarning into errors: numpy's overflow warning
    # would fail here; ours is a UserWarning that names the cause.
    X, y = _binary()
    model = NeuronRegressor(loss).fit(X, y + 1.0)
    with pytest.warns(UserWarning, match="overflow to inf"):
        prediction = model.predict(X * 1e4)
    assert np.isinf(prediction).any()
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        model.predict(X)  # no warning when nothing overflows


def test_concurrent_fits_in_threads_keep_one_torch_thread():
    # Thread A enters single_threaded, B enters, A leaves while B still runs:
    # B must still see one thread, and the count is restored when both left.
    from sklearn_neuron._validation import single_threaded

    previous = torch.get_num_threads()
    torch.set_num_threads(2)
    cpu = torch.device("cpu")
    a_in, b_in, a_out = threading.Event(), threading.Event(), threading.Event()
    seen = {}

    def first():
        with single_threaded(True, cpu):
            a_in.set()
            b_in.wait(10)
        a_out.set()

    def second():
        a_in.wait(10)
        with single_threaded(True, cpu):
            b_in.set()
            a_out.wait(10)
            seen["after A left"] = torch.get_num_threads()

    try:
        threads = [threading.Thread(target=first), threading.Thread(target=second)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(20)
        assert seen["after A left"] == 1
        assert torch.get_num_threads() == 2
    finally:
        torch.set_num_threads(previous)


def test_optimizer_kwargs_a_torch_optimizer_refuses_name_the_fix():
    from sklearn.datasets import load_breast_cancer

    X, y = load_breast_cancer(return_X_y=True)
    with pytest.raises(ValueError, match=r"torch\.optim.*Adam refused.*momentun"):
        NeuronClassifier(optimizer="adam", optimizer_kwargs={"momentun": 0.9}).fit(X, y)


def test_reversed_views_are_accepted():
    # torch.from_numpy refuses negative strides; a reversed view is ordinary input.
    from sklearn.datasets import load_breast_cancer

    X, y = load_breast_cancer(return_X_y=True)
    X = (X - X.mean(0)) / X.std(0)
    model = NeuronClassifier(C=1.0).fit(X[::-1], y[::-1])
    reference = NeuronClassifier(C=1.0).fit(X[::-1].copy(), y[::-1].copy())
    np.testing.assert_array_equal(model.coef_, reference.coef_)
    expected = reference.predict_proba(X[::-1].copy())
    np.testing.assert_array_equal(model.predict_proba(X[::-1]), expected)
    regressor = NeuronRegressor().fit(X[:, ::-1], X[:, 0])
    assert regressor.predict(X[:, ::-1]).shape == (X.shape[0],)
    with pytest.warns(UserWarning, match="penalty"):  # C=1: penalized inference
        model.summary(X[::-1], y[::-1])
