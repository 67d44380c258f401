"""Minibatch, L1 and sparse training: NeuronClassifier against its peers, as ratios.

Three comparisons, each in one run (fits alternate in blocks, medians):

1. One epoch of minibatch Adam (batch 1024) on dense 200,000 x 100 against
   skorch's NeuralNetBinaryClassifier with the same linear module, batch size,
   optimizer and learning rate (target: at least 8x faster), and against one
   epoch of SGDClassifier(loss="log_loss").
2. An L1 fit against LogisticRegression(solver="saga") at the same tol
   (target ratio <= 1.0), with each fit's distance to a tight reference.
3. A sparse text-like problem (100,000 x 50,000, 0.05% non-zeros, Zipf
   column frequencies) against LogisticRegression's fastest suitable solver
   (target ratio <= 1.0).

Run: ``python benchmarks/bench_training.py [--quick]`` (skorch is needed for
the first row: ``pip install skorch``).
"""

import argparse
import time
import warnings
from functools import partial

import numpy as np
import scipy.sparse as sp
import torch
from _timing import machine_description, markdown_table, time_pair
from sklearn.datasets import load_breast_cancer, make_classification
from sklearn.exceptions import ConvergenceWarning
from sklearn.linear_model import LogisticRegression, SGDClassifier
from sklearn.preprocessing import StandardScaler

from sklearn_neuron import NeuronClassifier


def adam_epoch(quick, rows):
    n = 20_000 if quick else 200_000
    X, y = make_classification(n, 100, random_state=0)
    X = X.astype(np.float32)
    neuron = NeuronClassifier(
        optimizer="adam", batch_size=1024, learning_rate=1e-3, max_iter=1, random_state=0
    )
    sgd = SGDClassifier(loss="log_loss", max_iter=1, tol=None, random_state=0)
    t_sgd, t_nc = time_pair(lambda: sgd.fit(X, y), lambda: neuron.fit(X, y), 3)
    rows.append(
        [
            "Adam epoch, batch 1024",
            f"{n:,} x 100 float32",
            "SGDClassifier(log_loss), 1 epoch",
            f"{t_sgd * 1e3:.0f}",
            f"{t_nc * 1e3:.0f}",
            f"{t_nc / t_sgd:.2f}",
            "reported",
        ]
    )
    try:
        from skorch import NeuralNetBinaryClassifier
    except ImportError:
        rows.append(["Adam epoch, batch 1024", "", "skorch (not installed)", "", "", "", "skipped"])
        return

    class Linear(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.linear = torch.nn.Linear(100, 1)

        def forward(self, x):
            return self.linear(x).squeeze(-1)

    net = NeuralNetBinaryClassifier(
        Linear,
        optimizer=torch.optim.Adam,
        lr=1e-3,
        batch_size=1024,
        max_epochs=1,
        train_split=None,
        iterator_train__shuffle=True,
        verbose=0,
    )
    y32 = y.astype(np.float32)
    t_skorch, t_nc = time_pair(lambda: net.fit(X, y32), lambda: neuron.fit(X, y), 3)
    ratio = t_skorch / t_nc
    rows.append(
        [
            "Adam epoch, batch 1024",
            f"{n:,} x 100 float32",
            "skorch NeuralNetBinaryClassifier",
            f"{t_skorch * 1e3:.0f}",
            f"{t_nc * 1e3:.0f}",
            f"{t_nc / t_skorch:.3f} ({ratio:.1f}x faster)",
            "ok" if ratio >= 8 else "MISSED (target >= 8x faster)",
        ]
    )


def l1_fits(quick, rows):
    X, y = load_breast_cancer(return_X_y=True)
    cases = [("breast_cancer", StandardScaler().fit_transform(X), y, 20)]
    n = 20_000 if quick else 100_000
    Xs, ys = make_classification(n, 100, n_informative=10, random_state=1)
    cases.append((f"make_classification {n:,} x 100", Xs, ys, 2))
    for name, X, y, repeats in cases:
        C = 0.1
        saga = LogisticRegression(solver="saga", C=C, l1_ratio=1.0, tol=1e-4, max_iter=1000)
        neuron = NeuronClassifier(C=C, l1_ratio=1.0, tol=1e-4, max_iter=1000)
        t_saga, t_nc = time_pair(partial(saga.fit, X, y), partial(neuron.fit, X, y), repeats)
        ref = NeuronClassifier(C=C, l1_ratio=1.0, tol=1e-10, max_iter=10_000).fit(X, y)
        rows.append(
            [
                "L1 (l1_ratio=1, C=0.1), tol=1e-4",
                name,
                "LogisticRegression(saga)",
                f"{t_saga * 1e3:.0f}",
                f"{t_nc * 1e3:.0f}",
                f"{t_nc / t_saga:.2f}",
                ("ok" if t_nc <= t_saga else "MISSED")
                + f"; |coef - tight ref|: saga {np.abs(saga.coef_ - ref.coef_).max():.0e}, "
                f"neuron {np.abs(neuron.coef_ - ref.coef_).max():.0e}",
            ]
        )


def text_like(n, p, seed=0):
    """Sparse bag-of-words-like data: ~50 terms a row, Zipf term frequencies."""
    rng = np.random.default_rng(seed)
    counts = rng.poisson(50, size=n)
    indptr = np.concatenate([[0], np.cumsum(counts)])
    columns = (rng.zipf(1.3, size=indptr[-1]) - 1) % p
    X = sp.csr_matrix((np.ones(indptr[-1]), columns, indptr), shape=(n, p))
    X.sum_duplicates()
    X.data = np.log1p(X.data)
    X = X.multiply(1 / np.sqrt(X.multiply(X).sum(axis=1))).tocsr()  # unit rows, as tf-idf
    coef = rng.standard_normal(p) * (rng.random(p) < 0.05) * 10
    y = (X @ coef + rng.logistic(size=n) > 0).astype(int)
    return X, y


def sparse_fit(quick, rows):
    n, p = (20_000, 10_000) if quick else (100_000, 50_000)
    X, y = text_like(n, p)
    neuron = NeuronClassifier(tol=1e-4, max_iter=100)
    timings = {}
    for solver in ("lbfgs", "liblinear", "saga"):
        logreg = LogisticRegression(solver=solver, tol=1e-4, max_iter=100)
        timings[solver] = time_pair(partial(logreg.fit, X, y), partial(neuron.fit, X, y), 2)
    fastest = min(timings, key=lambda s: timings[s][0])
    t_lr, t_nc = timings[fastest]
    rows.append(
        [
            "sparse, default optimizer",
            f"{n:,} x {p:,}, {X.nnz / (n * p):.2%} non-zeros",
            f"LogisticRegression({fastest}), fastest of lbfgs/liblinear/saga",
            f"{t_lr * 1e3:.0f}",
            f"{t_nc * 1e3:.0f}",
            f"{t_nc / t_lr:.2f}",
            "ok" if t_nc <= t_lr else "MISSED",
        ]
    )


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="smaller data")
    args = parser.parse_args()
    warnings.simplefilter("ignore", ConvergenceWarning)
    rows = []
    for bench in (adam_epoch, l1_fits, sparse_fit):
        start = time.perf_counter()
        bench(args.quick, rows)
        print(f"{bench.__name__}: {time.perf_counter() - start:.0f} s", flush=True)
    print()
    print(machine_description())
    print()
    print(
        markdown_table(
            ["what", "data", "peer", "peer ms", "NeuronClassifier ms", "ratio", "verdict"], rows
        )
    )


if __name__ == "__main__":
    main()
