"""Measure the constants of ``optimizer="auto"``'s cost model (``sklearn_neuron/_solvers/cost.py``).

Rates (multiply-adds per second, by dtype) of the kernels a fit spends its
time in, each timed through the package's own objective where it has one:

- ``GEMV_RATE``: a binary fit's value-and-gradient pass over dense X
  (``X @ w`` and ``X^T r``), 200,000 x 100;
- ``GEMM_RATE``: a 50-class fit's pass (``X @ W^T``, ``X^T G``), 20,000 x 256;
- ``GRAM_RATE`` and ``HESSIAN_ENTRY_SECONDS``: the Hessian, 50,000 x 200 and
  50,000 x 25, solved for a rate of ``objective.gram_work`` and a cost per
  entry of X and output (its raw outputs, weights and scaled rows);
- ``CHOLESKY_RATE``: ``torch.linalg.cholesky`` of a 2,000-wide matrix (``n^3/3``);
- ``SPARSE_RATE``: a sparse pass, 100,000 x 5,000 at 0.5% (stored entries per second);
  ``SPARSE_GRAM_RATE``: a sparse Hessian's ``gram_work`` per second (2,000 x 30 at 1/3,
  3 classes), and ``SPARSE_ENTRY_SECONDS`` the rest of the large one's per entry;
- ``ELEMENT_SECONDS``: the softmax log-loss's value and gradient per row and class;
- ``PASS_SECONDS`` and ``NEWTON_SECONDS``: a pass's and a Newton iteration's fixed
  cost, on 50 x 3.

Then the iterations each optimizer takes (Newton, Newton-CG and its
Hessian-vector products, L-BFGS) on breast_cancer, digits, 20,000 x 100 and a
5,000 x 64 x 20-class float32 probe-like set, at tol 1e-4 and 1e-10: the
iteration constants of ``cost.py`` are set from them.

Run: ``PYTHONPATH=. python benchmarks/calibrate_auto.py`` (a few minutes);
the output is the section of ``benchmarks/RESULTS.md``.
"""

from __future__ import annotations

import functools
import re
import time
from collections.abc import Callable

import numpy as np
import scipy.sparse
import torch
from sklearn.datasets import load_breast_cancer, load_digits, make_classification
from sklearn.preprocessing import StandardScaler

from benchmarks._timing import machine_description
from sklearn_neuron import NeuronClassifier

REPEATS = 10


def seconds(function: Callable[[], object], repeats: int = REPEATS) -> float:
    """Least wall time of ``function`` over ``repeats`` calls after two untimed ones.

    The least, not the median: on a shared 2-core machine the other
    processes only ever add time, and the first calls pay for page faults.
    """
    function()
    function()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        function()
        times.append(time.perf_counter() - start)
    return min(times)


def objective_of(X: np.ndarray | scipy.sparse.csr_matrix, y: np.ndarray):
    """The package's objective of a default NeuronClassifier on ``X, y``."""
    return NeuronClassifier()._build_objective(X, y, None, reset=True)


def rates(dtype: type) -> dict[str, float]:
    """Every rate and per-entry cost of the model, in ``dtype``."""
    rng = np.random.default_rng(0)
    out = {}
    X = rng.standard_normal((200_000, 100)).astype(dtype)
    o = objective_of(X, rng.integers(0, 2, X.shape[0]))
    theta = o.initial_theta()
    out["GEMV_RATE"] = 2 * X.size / seconds(lambda: o.value_gradient(theta))
    X = rng.standard_normal((20_000, 256)).astype(dtype)
    o = objective_of(X, rng.integers(0, 50, X.shape[0]))
    theta = o.initial_theta()
    raw = o.raw(theta)
    G = torch.randn_like(raw)
    # The products alone (the pointwise work is ELEMENT_SECONDS').
    out["GEMM_RATE"] = 2 * X.size * 50 / seconds(lambda: (o.raw(theta), o.linear_gradient(G)))
    element = seconds(lambda: o.loss.value_gradient(raw, o.target))
    out["ELEMENT_SECONDS"] = element / raw.numel()
    # Two widths: time = gram_work / GRAM_RATE + n_entries * HESSIAN_ENTRY_SECONDS.
    sizes = []
    for width in (200, 25):
        X = rng.standard_normal((50_000, width)).astype(dtype)
        wide_o = objective_of(X, rng.integers(0, 2, X.shape[0]))
        hessian = functools.partial(wide_o.hessian, wide_o.initial_theta())
        sizes.append((wide_o.gram_work, X.shape[0] * wide_o.n_params, seconds(hessian, 5)))
    (work, entries, wide), (work_narrow, entries_narrow, narrow) = sizes
    per_work, per_entry = np.linalg.solve(
        [[work, entries], [work_narrow, entries_narrow]], [wide, narrow]
    )
    out["GRAM_RATE"] = 1.0 / per_work
    out["HESSIAN_ENTRY_SECONDS"] = per_entry
    A = torch.randn(2000, 2000, dtype=torch.from_numpy(X[:1]).dtype)
    A = A @ A.T + 2000 * torch.eye(2000, dtype=A.dtype)
    out["CHOLESKY_RATE"] = 2000**3 / 3 / seconds(lambda: torch.linalg.cholesky(A), 5)
    S = scipy.sparse.random(100_000, 5_000, density=0.005, format="csr", random_state=0,
                            dtype=dtype)
    o = objective_of(S, rng.integers(0, 2, S.shape[0]))
    theta = o.initial_theta()
    out["SPARSE_RATE"] = 2 * (S.nnz + S.shape[0]) / seconds(lambda: o.value_gradient(theta))
    hessian = seconds(lambda: o.hessian(theta), 3)
    S = scipy.sparse.random(2_000, 30, density=1 / 3, format="csr", random_state=0, dtype=dtype)
    small = objective_of(S, rng.integers(0, 3, S.shape[0]))
    start = small.initial_theta()
    out["SPARSE_GRAM_RATE"] = small.gram_work / seconds(lambda: small.hessian(start))
    # What the large one took beyond its gram_work: the (q K)^2 entries' share.
    out["SPARSE_ENTRY_SECONDS"] = max(
        0.0, hessian - o.gram_work / out["SPARSE_GRAM_RATE"]) / o.n_params**2
    return out


def overheads() -> dict[str, float]:
    """Fixed seconds of a pass and of a Newton iteration beyond it (50 x 3)."""
    X, y = make_classification(50, 3, n_informative=2, n_redundant=0, random_state=0)
    o = objective_of(X, y)
    theta = o.initial_theta()
    pass_seconds = seconds(lambda: o.value_gradient(theta), 200)
    with torch.inference_mode():
        fit = seconds(lambda: NeuronClassifier(optimizer="newton", tol=1e-10).fit(X, y), 20)
    n_iter = NeuronClassifier(optimizer="newton", tol=1e-10).fit(X, y).n_iter_
    return {"PASS_SECONDS": pass_seconds,
            "NEWTON_SECONDS": max(0.0, fit / (n_iter + 1) - 2 * pass_seconds)}


def workloads() -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """The fits whose iterations are counted."""
    cancer = load_breast_cancer(return_X_y=True)
    digits = load_digits(return_X_y=True)
    dense = make_classification(20_000, 100, n_informative=20, n_redundant=0, random_state=1)
    rng = np.random.default_rng(0)
    centers = rng.standard_normal((20, 32)) * 1.5
    labels = rng.integers(0, 20, 5_000)
    hidden = centers[labels] + rng.standard_normal((5_000, 32))
    probe = np.tanh(hidden @ rng.standard_normal((32, 64)) / 4).astype(np.float32)
    return {
        "breast_cancer": (StandardScaler().fit_transform(cancer[0]), cancer[1]),
        "digits": (StandardScaler().fit_transform(digits[0]), digits[1]),
        "20,000 x 100": (StandardScaler().fit_transform(dense[0]), dense[1]),
        "probe 5,000 x 64 x 20 float32": (probe, labels),
    }


def iterations() -> list[tuple[str, str, float, int, str, float]]:
    """``(workload, optimizer, tol, n_iter, products, seconds)`` of every fit."""
    rows = []
    for name, (X, y) in workloads().items():
        for optimizer in ("newton", "newton-cg", "lbfgs"):
            for tol in (1e-4, 1e-10):
                model = NeuronClassifier(optimizer=optimizer, tol=tol, max_iter=2000)
                elapsed = seconds(lambda m=model, X=X, y=y: m.fit(X, y), 3)
                products = ""
                if optimizer == "newton-cg":
                    match = re.search(r"(\d+) Hessian-vector", _stop_reason(model, X, y, tol))
                    products = match.group(1) if match else "?"
                rows.append((name, optimizer, tol, model.n_iter_, products, elapsed))
    return rows


def _stop_reason(model: NeuronClassifier, X: np.ndarray, y: np.ndarray, tol: float) -> str:
    """The newton-cg fit's stop reason (it names the products spent)."""
    from sklearn_neuron._solvers.dispatch import SolverSettings, solve

    objective = model._build_objective(X, y, None, reset=True)
    settings = SolverSettings(optimizer="newton-cg", tol=tol, max_iter=2000)
    with torch.inference_mode():
        return solve(objective, objective.initial_theta(), settings)[1].stop_reason


def main() -> None:
    print(f"Machine: {machine_description()}; torch threads {torch.get_num_threads()}")
    print(f"Date: {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}\n")
    with torch.inference_mode():  # as the full-batch optimizers run
        measured = {8: rates(np.float64), 4: rates(np.float32)}
    print("| constant | float64 | float32 |\n|---|---|---|")
    for key in measured[8]:
        print(f"| {key} | {measured[8][key]:.3g} | {measured[4][key]:.3g} |")
    for key, value in overheads().items():
        print(f"| {key} | {value:.3g} | |")
    print("\n| workload | optimizer | tol | iterations | Hessian-vector products | seconds |")
    print("|---|---|---|---|---|---|")
    for name, optimizer, tol, n_iter, products, elapsed in iterations():
        print(f"| {name} | {optimizer} | {tol:g} | {n_iter} | {products} | {elapsed:.3f} |")


if __name__ == "__main__":
    main()
