"""``optimizer="auto"``'s L-BFGS-then-Newton against Newton and L-BFGS alone.

Where Newton is predicted fastest, ``"auto"`` starts as L-BFGS and hands over
to Newton when L-BFGS's measured rate predicts that Newton finishes first
(``sklearn_neuron/_solvers/hybrid.py``). This measures what that gains on
well-conditioned data and what it costs on ill-conditioned data, at two sizes,
against ``optimizer="newton"`` and ``optimizer="lbfgs"`` on the same data.

Data (binary, float64, seeded): ``make_classification`` as it comes
(well-conditioned); ``make_classification`` with ``class_sep=0.3``,
``flip_y=0.2`` and 30 informative features (harder); Gaussian columns on
scales from 1 to 1e-3 with large coefficients on the small ones
(ill-conditioned). Each fit at its defaults (``tol=1e-4``, or ``--tol``;
L-BFGS with ``max_iter=10000``); the time is the median of ``--repeats`` fits, methods
interleaved in blocks (``_timing.time_pair``'s scheme); the objective gap is
relative to a float64 Newton fit at ``tol=1e-12``.

Run: ``python benchmarks/bench_auto_switch.py [--repeats N] [--tol T] [--quick]``
"""

from __future__ import annotations

import argparse
import datetime
import shlex
import statistics
import sys
import time
import warnings

import numpy as np
from _timing import machine_description, markdown_table
from sklearn.datasets import make_classification
from sklearn.exceptions import ConvergenceWarning

from sklearn_neuron import NeuronClassifier

METHODS = {
    "auto": {},
    "newton": {"optimizer": "newton"},
    "lbfgs": {"optimizer": "lbfgs", "max_iter": 10_000},
}


def datasets(n: int, p: int) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """The three problems of ``n`` rows and ``p`` features."""
    rng = np.random.default_rng(0)
    X_ill = rng.standard_normal((n, p)) * np.logspace(0, -3, p)
    beta = rng.standard_normal(p) * np.logspace(0, 2, p)
    y_ill = (X_ill @ beta + rng.logistic(size=n) > 0).astype(int)
    return {
        "well-conditioned": make_classification(n, p, random_state=0),
        "harder": make_classification(
            n, p, n_informative=30, class_sep=0.3, flip_y=0.2, random_state=1
        ),
        "ill-conditioned": (X_ill, y_ill),
    }


def objective(model: NeuronClassifier, X: np.ndarray, y: np.ndarray) -> float:
    """LogisticRegression's objective at C=1, in float64."""
    raw = X @ model.coef_.ravel() + model.intercept_[0]
    sign = np.where(y == model.classes_[1], 1.0, -1.0)
    return float(np.logaddexp(0.0, -sign * raw).sum() + 0.5 * np.sum(model.coef_**2))


def run(X: np.ndarray, y: np.ndarray, repeats: int, tol: float = 1e-4) -> list[list[str]]:
    F_star = objective(NeuronClassifier(optimizer="newton", tol=1e-12).fit(X, y), X, y)
    times: dict[str, list[float]] = {name: [] for name in METHODS}
    fitted: dict[str, NeuronClassifier] = {}
    for _ in range(3):  # rounds; each block: one untimed fit, then the timed ones
        for name, params in METHODS.items():
            NeuronClassifier(**params, tol=tol).fit(X, y)
            for _ in range(max(1, repeats // 3)):
                start = time.perf_counter()
                fitted[name] = NeuronClassifier(**params, tol=tol).fit(X, y)
                times[name].append(time.perf_counter() - start)
    newton = statistics.median(times["newton"])
    rows = []
    for name in METHODS:
        model, median = fitted[name], statistics.median(times[name])
        stages = [record["solver"].rsplit("/", 1)[-1] for record in model.history_]
        lbfgs_part = stages.count("lbfgs") - 1 if "lbfgs" in stages else 0
        how = model.optimizer_
        if name == "auto":
            how = (f"L-BFGS {lbfgs_part} iterations, then Newton" if model.optimizer_ == "newton"
                   else "L-BFGS to the end")
        gap = (objective(model, X, y) - F_star) / F_star
        rows.append([name, how, model.n_iter_, f"{median:.4g}", f"{median / newton:.2f}",
                     f"{gap:.1e}"])
    return rows


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--repeats", type=int, default=6)
    parser.add_argument("--tol", type=float, default=1e-4, help="every fit's tol")
    parser.add_argument("--quick", action="store_true", help="small data, one repeat")
    args = parser.parse_args(argv)
    sizes = [(5_000, 40)] if args.quick else [(50_000, 100), (200_000, 100)]
    repeats = 1 if args.quick else args.repeats
    print(f"# {machine_description()}")
    print(f"# {datetime.datetime.now(datetime.timezone.utc):%Y-%m-%d %H:%M} UTC; "
          f"python {shlex.join(sys.argv)}")
    header = ["data", "optimizer", "how it ran", "iterations", "time (s)", "time / Newton's",
              "objective gap"]
    rows = []
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        for n, p in sizes:
            for label, (X, y) in datasets(n, p).items():
                for row in run(X, y, repeats, args.tol):
                    rows.append([f"{label} {n:,} x {p}", *row])
                    print(" | ".join(str(c) for c in rows[-1]), flush=True)
    print()
    print(markdown_table(header, rows))


if __name__ == "__main__":
    main()
