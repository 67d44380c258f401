"""Tests of ``_diagnostics``: Newton's memory, separation, underflow and the scale advice."""

import ctypes
import os
import warnings

import numpy as np
import pytest
import torch
from sklearn.compose import TransformedTargetRegressor
from sklearn.exceptions import ConvergenceWarning
from sklearn.linear_model import LinearRegression, LogisticRegression
from sklearn.preprocessing import MaxAbsScaler

from sklearn_neuron import NeuronClassifier, NeuronRegressor, SeparationWarning
from sklearn_neuron._solvers.diagnostics import (
    memory_budget,
    newton_peak_bytes,
    objective_newton_bytes,
)
from sklearn_neuron._solvers.dispatch import SolverSettings, choose_optimizer, resolve_optimizer


def _classes_data(n, p, K, seed=0):
    rng = np.random.default_rng(seed)
    return rng.normal(size=(n, p)), np.arange(n) % K


# -- the peak resident memory of this process (Linux) ------------------------
def _can_reset_peak():
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
        return True
    except OSError:
        return False


def _status(field):
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(field):
                return int(line.split()[1]) * 1024
    raise KeyError(field)


def _peak_increase(function):
    """Bytes by which ``function()`` raised this process's peak resident memory.

    Free heap memory is handed back to the system first (glibc's
    ``malloc_trim``): memory that earlier tests freed but the allocator kept
    would otherwise be reused without raising the resident size, and the
    measured rise would depend on what ran before.
    """
    try:
        ctypes.CDLL("libc.so.6").malloc_trim(0)
    except (OSError, AttributeError):  # not glibc: measured as it is
        pass
    with open("/proc/self/clear_refs", "w") as f:
        f.write("5")  # the peak (VmHWM) restarts from the current resident size
    base = _status("VmRSS")
    function()
    return _status("VmHWM") - base


needs_peak = pytest.mark.skipif(
    not (os.path.exists("/proc/self/status") and _can_reset_peak()),
    reason="needs Linux's resettable peak resident memory (/proc/self/clear_refs)",
)


# -- item 10: Newton's memory ----------------------------------------------------
def test_estimate_counts_the_temporaries_sizes():
    # The pointwise Hessian is (n, K, K) and the Hessian (Kq, Kq): the two
    # terms the estimate scales with, computed here.
    X, y = _classes_data(500, 4, 7)
    clf = NeuronClassifier()
    objective = clf._build_objective(X, y, None, reset=True)
    theta = objective.initial_theta()
    raw = objective.raw(theta)
    pointwise = objective.loss.hessian(raw, objective.target)
    hessian = objective.hessian(theta)
    n, K, q, size = 500, 7, 5, 8
    assert pointwise.numel() * size == n * K * K * size
    assert hessian.numel() * size == (K * q) ** 2 * size
    estimate = newton_peak_bytes(n, q, K, size)
    assert estimate >= 3 * pointwise.numel() * size + 5 * hessian.numel() * size
    assert objective_newton_bytes(objective) == estimate  # small data: all rows at once


@needs_peak
@pytest.mark.parametrize("n_samples", [1000, 2100])  # [X, 1] kept whole; the fused pass
def test_estimate_bounds_the_measured_peak(n_samples):
    # One Newton iteration on many classes: the measured rise of the peak
    # resident memory is within the estimate, and at least 60% of it.
    X, y = _classes_data(n_samples, 5, 100)
    clf = NeuronClassifier(optimizer="newton", max_iter=1)
    objective = clf._build_objective(X, y, None, reset=True)
    estimate = objective_newton_bytes(objective)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        clf.fit(X[:200], y[:200] % 5)  # first calls' one-off allocations out of the way
        peak = _peak_increase(lambda: clf.fit(X, y))
    assert 0.6 * estimate <= peak <= estimate + 32e6, (peak, estimate)


def test_newton_refuses_many_classes_before_allocating():
    # 3000 x 50 with 1000 classes: the Hessian alone, (51,000)^2, is 21 GB (a
    # softmax layer's fused Hessian holds no pointwise Hessians: gram.softmax_chunk_gram).
    X, y = _classes_data(3000, 50, 1000)
    clf = NeuronClassifier(optimizer="newton")
    objective = clf._build_objective(X, y, None, reset=True)
    assert objective_newton_bytes(objective) > max(24e9, memory_budget())
    clf = NeuronClassifier(optimizer="newton")
    measure = _peak_increase if _can_reset_peak() else lambda f: f() or 0

    def fit():
        with pytest.raises(MemoryError, match=r"GB .*use optimizer='lbfgs'"):
            clf.fit(X, y)

    assert measure(fit) < 0.5e9  # refused before anything large was allocated
    assert not hasattr(clf, "coef_")


def test_auto_picks_lbfgs_with_many_classes():
    # A Hessian-free method: L-BFGS or Newton-CG, by the cost model.
    X, y = _classes_data(3000, 5, 1000)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        clf = NeuronClassifier(max_iter=2).fit(X, y)
    assert clf.optimizer_ in {"lbfgs", "newton-cg"}


@pytest.mark.parametrize(
    "n_samples, n_features, n_classes",
    [(3000, 5, 1000), (4500, 5, 2000), (3200, 1, 1500), (200, 5, 3), (500, 20, 2), (4000, 2, 40)],
)
def test_auto_never_picks_newton_over_budget(n_samples, n_features, n_classes):
    X, y = _classes_data(n_samples, n_features, n_classes)
    clf = NeuronClassifier()
    objective = clf._build_objective(X, y, None, reset=True)
    name = choose_optimizer(objective, SolverSettings.of(clf))
    over = objective_newton_bytes(objective) > memory_budget()
    assert not (name == "newton" and over)
    if n_classes <= 3:  # small problems: Newton, as before (the check is not vacuous)
        assert name == "newton" and not over


# -- item 11: separation at C=inf ----------------------------------------------------
def _separated(n_classes, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(200, 3))
    if n_classes == 2:
        return X, X[:, 0] > 0
    return X, np.argmax(X @ rng.normal(size=(3, n_classes)), axis=1)


def _quasi_separated(seed=0):
    # Every sample with x0 = 1 is of class 1; those with x0 = 0 overlap.
    rng = np.random.default_rng(seed)
    X = np.c_[rng.integers(0, 2, 300), rng.normal(size=300)]
    y = np.where(X[:, 0] == 1, 1, rng.normal(size=300) + X[:, 1] > 0)
    return X, y


@pytest.mark.parametrize("optimizer", ["newton", "lbfgs"])
@pytest.mark.parametrize("n_classes", [2, 3])
def test_separated_classes_warn_at_C_inf(optimizer, n_classes):
    X, y = _separated(n_classes)
    with pytest.warns(SeparationWarning, match=r"perfectly separated.*finite C"):
        NeuronClassifier(C=np.inf, optimizer=optimizer).fit(X, y)


@pytest.mark.parametrize("optimizer", ["newton", "lbfgs"])
def test_quasi_separated_classes_warn_at_C_inf(optimizer):
    X, y = _quasi_separated()
    with pytest.warns(SeparationWarning, match=r"quasi-completely separated.*finite C"):
        NeuronClassifier(C=np.inf, optimizer=optimizer).fit(X, y)


@pytest.mark.parametrize("optimizer", ["newton", "lbfgs"])
@pytest.mark.parametrize("n_classes", [2, 3])
def test_no_separation_warning_on_overlapping_classes(optimizer, n_classes):
    rng = np.random.default_rng(1)
    X = rng.normal(size=(300, 3))
    y = np.argmax(X @ rng.normal(size=(3, n_classes)) + 2 * rng.normal(size=(300, n_classes)), 1)
    with warnings.catch_warnings():
        warnings.simplefilter("error", SeparationWarning)
        clf = NeuronClassifier(C=np.inf, optimizer=optimizer, tol=1e-8).fit(X, y)
    ref = LogisticRegression(C=np.inf, tol=1e-10, max_iter=1000).fit(X, y)
    np.testing.assert_allclose(clf.coef_, ref.coef_, rtol=1e-4, atol=1e-6)


@pytest.mark.parametrize("n_classes", [2, 3])
def test_no_separation_warning_with_finite_C(n_classes):
    X, y = _separated(n_classes)
    with warnings.catch_warnings():
        warnings.simplefilter("error", SeparationWarning)
        clf = NeuronClassifier(C=1.0, tol=1e-8).fit(X, y)
    ref = LogisticRegression(C=1.0, tol=1e-10, max_iter=1000).fit(X, y)
    np.testing.assert_allclose(clf.coef_, ref.coef_, rtol=1e-4, atol=1e-6)


# -- item 14: features whose squares underflow -------------------------------------
def _overlapping(seed=0):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(200, 3))
    return X, X[:, 0] + rng.normal(size=200) > 0


@pytest.mark.parametrize("optimizer", ["newton", "lbfgs", "sgd"])
def test_underflowing_columns_warn_classifier(optimizer):
    X, y = _overlapping()
    with pytest.warns(ConvergenceWarning, match=r"3 feature column\(s\) \(0, 1, 2\).*Scale the"):
        NeuronClassifier(C=np.inf, optimizer=optimizer, max_iter=20).fit(X * 1e-300, y)


def test_underflowing_column_warns_regressor():
    X, _ = _overlapping()
    y = X @ [1.0, 2.0, 3.0]
    tiny = X * [1.0, 1e-300, 1.0]  # one column only
    with pytest.warns(ConvergenceWarning, match=r"1 feature column\(s\) \(1\).*Scale the"):
        NeuronRegressor(alpha=0).fit(tiny, y)
    # Scaled, the same data fit as LinearRegression does, without the warning.
    with warnings.catch_warnings():
        warnings.simplefilter("error", ConvergenceWarning)
        reg = NeuronRegressor(alpha=0, tol=1e-10).fit(X, y)
    np.testing.assert_allclose(reg.coef_, LinearRegression().fit(X, y).coef_, rtol=1e-8)


def test_no_underflow_warning_for_small_normal_squares():
    # 1e-150 squared is 1e-300: small, but a normal float64.
    X, y = _overlapping()
    with warnings.catch_warnings():
        warnings.simplefilter("error", ConvergenceWarning)
        NeuronClassifier(C=np.inf).fit(X * 1e-150, y)
        NeuronRegressor(alpha=0).fit(X * 1e-150, X @ [1.0, 2.0, 3.0])


def test_no_underflow_warning_with_a_penalty():
    X, y = _overlapping()
    with warnings.catch_warnings():
        warnings.simplefilter("error", ConvergenceWarning)
        NeuronClassifier(C=1.0).fit(X * 1e-300, y)


def test_underflow_check_on_sparse_columns():
    import scipy.sparse

    X, y = _overlapping()
    X[:, 2] *= 1e-300
    with pytest.warns(ConvergenceWarning, match=r"1 feature column\(s\) \(2\)"):
        NeuronClassifier(C=np.inf).fit(scipy.sparse.csr_matrix(X), y)


# -- item 25: the scale advice where the features are fine ----------------------------
@pytest.mark.parametrize("optimizer", ["newton", "lbfgs"])
def test_subnormal_weights_with_finite_C_say_so(optimizer):
    X, y = _overlapping()
    weight = np.full(200, 5e-324)
    with pytest.raises(ValueError, match=r"C \* sum\(sample_weight\) = 9.88e-322") as info:
        NeuronClassifier(C=1.0, optimizer=optimizer).fit(X, y, sample_weight=weight)
    assert "Scale the features" not in str(info.value)
    # What LogisticRegression makes of it: every coefficient zero, as the message says.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ref = LogisticRegression(C=1.0).fit(X, y, sample_weight=weight)
    assert np.all(ref.coef_ == 0)


@pytest.mark.parametrize("optimizer", ["newton", "lbfgs"])
def test_subnormal_weights_unpenalized_fit_as_unit_weights(optimizer):
    # Without a penalty the optimum does not depend on the weights' scale.
    X, y = _overlapping()
    clf = NeuronClassifier(C=np.inf, optimizer=optimizer, tol=1e-8)
    clf.fit(X, y, sample_weight=np.full(200, 5e-324))
    ref = LogisticRegression(C=np.inf, tol=1e-10).fit(X, y)
    np.testing.assert_allclose(clf.coef_, ref.coef_, rtol=1e-5)
    np.testing.assert_allclose(clf.intercept_, ref.intercept_, rtol=1e-5, atol=1e-7)


@pytest.mark.parametrize("optimizer", ["newton", "lbfgs", "sgd"])
def test_huge_target_names_the_target(optimizer):
    X, _ = _overlapping()
    y = (X @ [1.0, 2.0, 3.0] + 0.1) * 1e200
    with pytest.raises(ValueError, match=r"max \|y\| = .*TransformedTargetRegressor") as info:
        with warnings.catch_warnings():
            warnings.simplefilter("error", ConvergenceWarning)  # no "iterate more" first
            NeuronRegressor(alpha=0, optimizer=optimizer).fit(X, y)
    assert "Scale the features" not in str(info.value)
    # The remedy the message names fits it as LinearRegression does.
    model = TransformedTargetRegressor(
        NeuronRegressor(alpha=0, tol=1e-10), transformer=MaxAbsScaler()
    ).fit(X, y)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # its residuals' squares overflow
        ref = LinearRegression().fit(X, y)
    np.testing.assert_allclose(model.predict(X), ref.predict(X), rtol=1e-8)


def test_newton_estimate_is_in_bytes_of_the_dtype():
    # float32 data: half the bytes of float64.
    X, y = _classes_data(300, 3, 10)
    clf = NeuronClassifier()
    o64 = clf._build_objective(X, y, None, reset=True)
    o32 = clf._build_objective(X.astype(np.float32), y, None, reset=True)
    assert o32.dtype == torch.float32
    assert objective_newton_bytes(o32) == objective_newton_bytes(o64) / 2


def test_resolve_optimizer_auto_avoids_newton_that_does_not_fit():
    # Distributed data pick Newton by parameter count alone; not over budget.
    assert resolve_optimizer("auto", 10**7, 64, distributed=True) == "newton"
    assert resolve_optimizer("auto", 10**7, 64, distributed=True, newton_fits=False) == "lbfgs"
    assert resolve_optimizer("auto", 100, 4, newton_fits=False) in {"lbfgs", "newton-cg"}
    assert resolve_optimizer("newton", 100, 4, newton_fits=False) == "newton"  # refused later


@pytest.mark.slow
def test_auto_avoids_newton_on_large_dask_blocks():
    # One block of 1,000,000 rows and 64 classes: ~100 GB of pointwise Hessians.
    dask = pytest.importorskip("dask")
    da = pytest.importorskip("dask.array")
    n, K = 1_000_000, 64
    with dask.config.set(scheduler="synchronous"), warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # "unique classes" of the probe
        X = da.random.default_rng(0).normal(size=(n, 1), chunks=(n, 1))
        y = da.arange(n, chunks=n) % K
        clf = NeuronClassifier(fit_intercept=False)
        objective = clf._build_objective(X, y, None, reset=True)
        assert objective.n_params == 64 and objective_newton_bytes(objective) > memory_budget()
        # Newton's Hessian does not fit: the cost model chooses among the
        # Hessian-free methods (Newton-CG, L-BFGS), as in memory.
        assert choose_optimizer(objective, SolverSettings.of(clf)) in ("newton-cg", "lbfgs")
        with pytest.raises(MemoryError, match="optimizer='lbfgs'"):
            choose_optimizer(objective, SolverSettings(optimizer="newton"))
