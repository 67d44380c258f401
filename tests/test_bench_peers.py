"""benchmarks/bench_peers.py judges every fit fairly: one objective, and each peer's C.

The benchmark's gaps are only as good as two facts checked here: its
``lr_objective`` is LogisticRegression's objective as scikit-learn computes it
(``LinearModelLoss``, whose mean loss and ``l2_reg_strength = 1 / (C n)``
give the objective divided by ``C n``), and every peer's conversion of ``C``
(glum's and skglm's ``alpha = 1 / (C n)``) lands on LogisticRegression's
optimum when fitted tightly, while a wrong ``C`` does not.
"""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp
from _benchmarks import import_benchmark
from sklearn._loss.loss import HalfBinomialLoss, HalfMultinomialLoss
from sklearn.datasets import load_breast_cancer, load_iris
from sklearn.linear_model._linear_loss import LinearModelLoss
from sklearn.preprocessing import StandardScaler

bench_peers = import_benchmark("bench_peers")


def _data(name: str) -> tuple[np.ndarray, np.ndarray]:
    loader = {"breast_cancer": load_breast_cancer, "iris": load_iris}[name]
    X, y = loader(return_X_y=True)
    return StandardScaler().fit_transform(X), y


def _sklearn_objective(X, y, coef, intercept, C, l1_ratio):
    """LogisticRegression's objective / C, from scikit-learn's own LinearModelLoss."""
    n = X.shape[0]
    K = coef.shape[0]
    if K == 1:
        loss = LinearModelLoss(HalfBinomialLoss(), fit_intercept=True)
        packed = np.concatenate([coef[0], intercept])
    else:
        loss = LinearModelLoss(HalfMultinomialLoss(n_classes=K), fit_intercept=True)
        packed = np.hstack([coef, intercept[:, None]])
    mean = loss.loss(packed, X, y.astype(np.float64), l2_reg_strength=(1 - l1_ratio) / (C * n))
    return n * mean + l1_ratio * np.abs(coef).sum() / C


@pytest.mark.parametrize("l1_ratio", [0.0, 0.5, 1.0])
@pytest.mark.parametrize("name", ["breast_cancer", "iris"])
def test_objective_is_logistic_regressions(name, l1_ratio):
    X, y = _data(name)
    K = np.unique(y).size
    units = 1 if K == 2 else K
    rng = np.random.default_rng(0)
    coef = rng.standard_normal((units, X.shape[1]))
    intercept = rng.standard_normal(units)
    C = 0.3
    got = bench_peers.lr_objective(X, y, coef, intercept, C, l1_ratio)
    expected = _sklearn_objective(X, y, coef, intercept, C, l1_ratio)
    np.testing.assert_allclose(got, expected, rtol=1e-10)
    # And at a point that is not where the penalty or the loss alone is small.
    np.testing.assert_allclose(
        bench_peers.lr_objective(X, y, coef / 10, intercept, C, l1_ratio),
        _sklearn_objective(X, y, coef / 10, intercept, C, l1_ratio),
        rtol=1e-10,
    )


def test_objective_reads_any_storage_in_float64(monkeypatch):
    X, y = _data("iris")
    rng = np.random.default_rng(1)
    coef, intercept = rng.standard_normal((3, X.shape[1])), rng.standard_normal(3)
    X32 = X.astype(np.float32)
    whole = bench_peers.lr_objective(X32.astype(np.float64), y, coef, intercept, 2.0)
    # Chunks that split the rows unevenly (150 = 4 * 37 + 2) sum to the whole.
    monkeypatch.setattr(bench_peers, "CHUNK_ROWS", 37)
    np.testing.assert_allclose(
        bench_peers.lr_objective(X32, y, coef, intercept, 2.0), whole, rtol=1e-13
    )
    np.testing.assert_allclose(
        bench_peers.lr_objective(sp.csr_matrix(X32), y, coef, intercept, 2.0), whole, rtol=1e-13
    )


#: (peer as the benchmark names it, data, l1_ratio, C)
CONVERSIONS = [
    ("NeuronClassifier", "breast_cancer", 0.0, 1.0),
    ("NeuronClassifier", "iris", 0.0, 1.0),
    ("NeuronClassifier", "breast_cancer", 1.0, 0.1),
    ("scikit-learn-intelex", "breast_cancer", 0.0, 1.0),
    ("scikit-learn-intelex", "iris", 0.0, 1.0),
    ("glum", "breast_cancer", 0.0, 1.0),
    ("glum", "breast_cancer", 1.0, 0.1),
    # skglm's first fit in a process compiles its solver with numba (seconds).
    pytest.param(
        "skglm",
        "breast_cancer",
        1.0,
        0.1,
        marks=[
            pytest.mark.slow,
            pytest.mark.filterwarnings("ignore:.*faster on contiguous arrays"),
        ],
    ),
]
#: The benchmark's name of each optional peer's distribution.
DISTRIBUTIONS = {"scikit-learn-intelex": "sklearnex", "glum": "glum", "skglm": "skglm"}


def _the_fit(workload, peer):
    fits, _ = bench_peers.methods(workload, tight=True)
    (method,) = [m for m in fits if m.label.startswith(peer)]
    return method.make().fit(workload.X, workload.y)


@pytest.mark.parametrize(("peer", "name", "l1_ratio", "C"), CONVERSIONS)
def test_each_peer_reaches_logistic_regressions_optimum(peer, name, l1_ratio, C):
    if peer in DISTRIBUTIONS and DISTRIBUTIONS[peer] not in bench_peers.PEERS:
        pytest.skip(f"{peer}: {bench_peers.MISSING_PEERS.get(peer, 'not installed')}")
    X, y = _data(name)
    w = bench_peers.Workload(name, X, y, C=C, l1_ratio=l1_ratio, check_reference=True)
    F_star, _ = bench_peers.reference(w)
    assert bench_peers.gap(w, _the_fit(w, peer), F_star) < 1e-9
    # The check can fail: the same peer asked for another C ends elsewhere.
    other = bench_peers.Workload(name, X, y, C=2 * C, l1_ratio=l1_ratio)
    assert bench_peers.gap(w, _the_fit(other, peer), F_star) > 1e-5
