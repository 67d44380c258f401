"""NeuronClassifierCV against GridSearchCV over NeuronClassifier and LogisticRegressionCV.

The same grid (``Cs=10``, i.e. ``np.logspace(-4, 4, 10)``), the same folds
(``StratifiedKFold(5)``), the same scoring (accuracy), ``tol=1e-4`` and
``max_iter=100`` everywhere, one job each. Rows (``--rows``): breast_cancer
(569 x 30) and digits (1797 x 64, 10 classes: the softmax path), standardized,
and a dense make_classification of 100,000 x 50 (``--quick``: 20,000 x 50).
LogisticRegressionCV runs with its default solver (lbfgs) and with
newton-cholesky, its fastest here. The fits are interleaved in rounds
and the median per method is reported; a ratio below 1 means
NeuronClassifierCV is faster.

Run: ``python benchmarks/bench_classifier_cv.py [--quick] [--rows digits,...]``
(``OMP_NUM_THREADS=1`` for the one-thread figures of issue #37).
"""

import argparse
import statistics
import time
import warnings

import numpy as np
from _timing import machine_description, markdown_table
from sklearn.datasets import load_breast_cancer, load_digits, make_classification
from sklearn.exceptions import ConvergenceWarning
from sklearn.linear_model import LogisticRegressionCV
from sklearn.model_selection import GridSearchCV, StratifiedKFold
from sklearn.preprocessing import StandardScaler

from sklearn_neuron import NeuronClassifier, NeuronClassifierCV

N_CS, N_FOLDS, TOL, MAX_ITER = 10, 5, 1e-4, 100


ROWS = ("breast_cancer", "digits", "synthetic")


def datasets(quick, rows=ROWS):
    """``(name, X, y, rounds, repeats)`` of each row named in ``rows``."""
    if "breast_cancer" in rows:
        X, y = load_breast_cancer(return_X_y=True)
        yield "breast_cancer 569 x 30", StandardScaler().fit_transform(X), y, 3, 5
    if "digits" in rows:
        X, y = load_digits(return_X_y=True)
        yield "digits 1797 x 64, 10 classes", StandardScaler().fit_transform(X), y, 3, 3
    if "synthetic" in rows:
        n = 20_000 if quick else 100_000
        X, y = make_classification(n, 50, random_state=0)
        yield f"make_classification {n:,} x 50", X, y, 1, 1


def methods():
    """(name, factory of an unfitted estimator, how to read its C)."""
    cv = StratifiedKFold(N_FOLDS)
    Cs = np.logspace(-4, 4, N_CS)

    def logreg(solver):
        return lambda: LogisticRegressionCV(
            Cs=N_CS, cv=cv, scoring="accuracy", solver=solver, tol=TOL, max_iter=MAX_ITER,
            l1_ratios=(0.0,), use_legacy_attributes=False,
        )

    return [
        ("NeuronClassifierCV", lambda: NeuronClassifierCV(
            N_CS, cv=cv, tol=TOL, max_iter=MAX_ITER), lambda m: m.C_),
        ("GridSearchCV(NeuronClassifier)", lambda: GridSearchCV(
            NeuronClassifier(tol=TOL, max_iter=MAX_ITER), {"C": Cs}, cv=cv),
            lambda m: m.best_params_["C"]),
        ("LogisticRegressionCV lbfgs", logreg("lbfgs"), lambda m: m.C_),
        ("LogisticRegressionCV newton-cholesky", logreg("newton-cholesky"), lambda m: m.C_),
    ]


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="small synthetic data")
    parser.add_argument(
        "--rows", default=",".join(ROWS), help=f"comma-separated rows of {', '.join(ROWS)}"
    )
    args = parser.parse_args()
    rows_wanted = args.rows.split(",")
    unknown = set(rows_wanted) - set(ROWS)
    if unknown:
        parser.error(f"unknown rows {sorted(unknown)}; the rows are {', '.join(ROWS)}")
    warnings.simplefilter("ignore", ConvergenceWarning)
    rows = []
    for data_name, X, y, rounds, repeats in datasets(args.quick, rows_wanted):
        times = {name: [] for name, _, _ in methods()}
        chosen = {}
        for _ in range(rounds):
            for name, make, read_C in methods():
                if repeats > 1:
                    make().fit(X, y)  # untimed: absorbs the previous method's threads
                for _ in range(repeats):
                    model = make()
                    start = time.perf_counter()
                    model.fit(X, y)
                    times[name].append(time.perf_counter() - start)
                chosen[name] = read_C(model)
        ours = statistics.median(times["NeuronClassifierCV"])
        for name, _, _ in methods():
            median = statistics.median(times[name])
            rows.append([
                data_name, name, f"{median:.3f}", f"{ours / median:.2f}", f"{chosen[name]:.4g}",
            ])
    print(machine_description())
    print()
    print(markdown_table(
        ["data", "method", "fit (s)", "NeuronClassifierCV / this", "C chosen"], rows
    ))


if __name__ == "__main__":
    main()
