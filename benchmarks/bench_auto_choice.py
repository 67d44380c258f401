"""``optimizer="auto"``'s choice against every exact optimizer asked for by name.

On shapes where the cost model's predictions for L-BFGS, Newton-CG and
Newton lie close together (``sklearn_neuron/_solvers/cost.py``), each fit's
time and distance to the optimum: ``auto`` against ``"lbfgs"``,
``"newton-cg"`` and ``"newton"`` at the same ``tol``. The last column gives
``auto``'s time over the fastest named optimizer's at ``tol`` or tighter
whose objective gap is at most ``auto``'s (gaps under 1e-13 count as equal:
float64 rounding), so a faster fit that stops further from the optimum does
not count.

Data (float64, seeded ``make_classification``, ``n_informative=10``):
200,000 x 20 with 3 classes, 20,000 x 500 binary, 50,000 x 40 with 5 classes;
with ``--ill-conditioned`` the same with column ``j`` scaled by ``10^(-3 j / (p - 1))``
(scales 1 to 1e-3: L-BFGS's iterations multiply, what the choice risks).
Every fit at ``tol`` in 1e-4 (the default), 1e-6 and 1e-10, ``max_iter=1000``;
the objective is LogisticRegression's at C=1 (the summed log-loss plus
``||W||^2 / 2``) in float64, its gap relative to a Newton fit at ``tol=1e-12``.
Times are medians of ``--repeats`` fits, methods interleaved round-robin with
one untimed fit each first.

Run: ``python benchmarks/bench_auto_choice.py [--repeats N] [--ill-conditioned] [--quick]``
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
from scipy.special import logsumexp
from sklearn.datasets import make_classification
from sklearn.exceptions import ConvergenceWarning

from sklearn_neuron import NeuronClassifier

OPTIMIZERS = ("auto", "lbfgs", "newton-cg", "newton")
TOLS = (1e-4, 1e-6, 1e-10)
#: Objective gaps below this are float64 rounding and count as equal.
ROUNDING = 1e-13


def datasets(quick: bool, ill: bool = False) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """The problems, by label (smaller ones with ``quick``; columns on scales 1
    to 1e-3 with ``ill``)."""
    shapes = [(2_000, 20, 3), (1_000, 50, 2)] if quick else [
        (200_000, 20, 3), (20_000, 500, 2), (50_000, 40, 5)
    ]
    problems = {}
    for n, p, classes in shapes:
        X, y = make_classification(
            n, p, n_informative=10, n_classes=classes, random_state=0
        )
        label = f"{n:,} x {p}" + (f", {classes} classes" if classes > 2 else "")
        if ill:
            X = X * np.logspace(0, -3, p)
            label += ", scales 1 to 1e-3"
        problems[label] = (X, y)
    return problems


def objective(model: NeuronClassifier, X: np.ndarray, y: np.ndarray) -> float:
    """LogisticRegression's objective at C=1 in float64: the summed log-loss
    (binary or multinomial) plus ``||W||^2 / 2``, intercepts unpenalized."""
    coef = np.asarray(model.coef_, dtype=np.float64)
    raw = X @ coef.T + model.intercept_
    if raw.shape[1] == 1:  # binary: the logit of the second class
        raw = np.hstack([np.zeros_like(raw), raw])
    index = np.searchsorted(model.classes_, y)
    loss = logsumexp(raw, axis=1) - raw[np.arange(len(y)), index]
    return float(loss.sum() + 0.5 * np.sum(coef**2))


def run(X: np.ndarray, y: np.ndarray, repeats: int) -> list[list[str]]:
    """One row per tol and optimizer on ``(X, y)``."""
    F_star = objective(NeuronClassifier(optimizer="newton", tol=1e-12).fit(X, y), X, y)
    results = {}
    for tol in TOLS:
        times: dict[str, list[float]] = {name: [] for name in OPTIMIZERS}
        fitted = {}
        for name in OPTIMIZERS:  # untimed: the first fit's one-off costs
            NeuronClassifier(optimizer=name, tol=tol, max_iter=1000).fit(X, y)
        for _ in range(repeats):
            for name in OPTIMIZERS:
                start = time.perf_counter()
                fitted[name] = NeuronClassifier(optimizer=name, tol=tol, max_iter=1000).fit(X, y)
                times[name].append(time.perf_counter() - start)
        for name in OPTIMIZERS:
            model = fitted[name]
            gap = (objective(model, X, y) - F_star) / F_star
            results[tol, name] = (statistics.median(times[name]), gap, model)
    rows = []
    for tol in TOLS:
        for name in OPTIMIZERS:
            seconds, gap, model = results[tol, name]
            ratio = ""
            if name == "auto":
                peers = [
                    (results[t, other][0], other, t) for t in TOLS if t <= tol
                    for other in OPTIMIZERS[1:]
                    if results[t, other][1] <= max(gap, ROUNDING)
                ]
                if peers:
                    best, other, t = min(peers)
                    ratio = f"{seconds / best:.2f}x ({other}, tol {t:g})"
                else:
                    ratio = "no named optimizer at <= gap"
            stages = []
            for record in model.history_:
                stage = record["solver"].split("/", 1)[1]
                if not stages or stages[-1] != stage:
                    stages.append(stage)
            rows.append([f"{tol:g}", name, " then ".join(stages), model.n_iter_,
                         f"{seconds:.4g}", f"{gap:.1e}", ratio])
    return rows


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--quick", action="store_true", help="small data, one repeat")
    parser.add_argument("--ill-conditioned", action="store_true",
                        help="columns on scales 1 to 1e-3")
    args = parser.parse_args(argv)
    repeats = 1 if args.quick else args.repeats
    print(f"# {machine_description()}")
    print(f"# {datetime.datetime.now(datetime.timezone.utc):%Y-%m-%d %H:%M} UTC; "
          f"python {shlex.join(sys.argv)}")
    header = ["data", "tol", "optimizer", "stages", "iterations", "time (s)",
              "objective gap", "auto / fastest named at <= gap"]
    rows = []
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        for label, (X, y) in datasets(args.quick, args.ill_conditioned).items():
            for row in run(X, y, repeats):
                rows.append([label, *row])
                print(" | ".join(str(c) for c in rows[-1]), flush=True)
    print()
    print(markdown_table(header, rows))


if __name__ == "__main__":
    main()
