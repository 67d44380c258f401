"""float64 data, a float32 first stage: ``optimizer="auto"`` with and without it.

Where ``"auto"`` fits dense float64 data of 2,097,152 entries and 16 features
or more with the log loss at a ``tol`` below the default, its L-BFGS
iterations run on a float32 copy of X and the fit goes on in float64
(``sklearn_neuron/_solvers/dispatch.py``, ``float32_stage``). This times the
same fit with the stage on and off (its size bound raised past the data), on
binary and 3-class ``make_classification`` data at ``tol=1e-6`` and
``tol=1e-10``, and one shape below the
feature bound (1,000,000 x 10, the stage forced on) that shows why the bound
is there. On and off alternate within each round (their order flips every
round), ``--repeats`` rounds, medians; the last column is the largest
coefficient difference between the two fits (both meet the stopping rule in
float64: at ``tol=1e-6`` that leaves room on data with redundant features).

Run: ``python benchmarks/bench_float32_stage.py [--repeats N] [--quick]``
"""

from __future__ import annotations

import argparse
import datetime
import shlex
import statistics
import sys
import time

import numpy as np
from _timing import machine_description, markdown_table
from sklearn.datasets import make_classification

from sklearn_neuron import NeuronClassifier
from sklearn_neuron._solvers import dispatch

#: (rows, features, classes, informative features, tol).
CASES = [
    (200_000, 100, 2, 2, 1e-6),
    (200_000, 100, 2, 2, 1e-10),
    (50_000, 100, 2, 10, 1e-10),
    (500_000, 20, 2, 10, 1e-6),
    (200_000, 20, 3, 10, 1e-6),
    (200_000, 20, 3, 10, 1e-10),
    (21_000, 100, 2, 10, 1e-6),
    (1_000_000, 10, 2, 5, 1e-6),
]
QUICK_CASES = [(30_000, 80, 2, 2, 1e-6), (30_000, 80, 2, 2, 1e-10)]


def _fit(X, y, tol, stage):
    """One fit, the stage on or off; ``(seconds, coef_)``."""
    entries, features = dispatch.FLOAT32_STAGE_MIN_ENTRIES, dispatch.FLOAT32_STAGE_MIN_FEATURES
    if not stage:
        dispatch.FLOAT32_STAGE_MIN_ENTRIES = sys.maxsize
    elif X.shape[1] < features:  # below the feature bound: forced on, to show the bound's reason
        dispatch.FLOAT32_STAGE_MIN_FEATURES = X.shape[1]
    try:
        start = time.perf_counter()
        model = NeuronClassifier(tol=tol).fit(X, y)
        return time.perf_counter() - start, model.coef_
    finally:
        dispatch.FLOAT32_STAGE_MIN_ENTRIES = entries
        dispatch.FLOAT32_STAGE_MIN_FEATURES = features


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--quick", action="store_true", help="small data, 2 rounds (a smoke run)")
    args = parser.parse_args(argv)
    cases, repeats = (QUICK_CASES, 2) if args.quick else (CASES, args.repeats)
    print(f"Machine: {machine_description()}")
    print(f"Date: {datetime.datetime.now(datetime.timezone.utc):%Y-%m-%d %H:%M} UTC")
    print(f"Command: python benchmarks/bench_float32_stage.py {shlex.join(argv or sys.argv[1:])}")
    rows = []
    for n, p, classes, informative, tol in cases:
        X, y = make_classification(
            n, p, n_informative=informative, n_classes=classes, random_state=0
        )
        _fit(X[:2000], y[:2000], tol, True)  # imports and first-call set-up, untimed
        times: dict[bool, list[float]] = {True: [], False: []}
        coefs = {}
        for r in range(repeats):
            for stage in (True, False) if r % 2 else (False, True):
                seconds, coefs[stage] = _fit(X, y, tol, stage)
                times[stage].append(seconds)
        off, on = (1e3 * statistics.median(times[s]) for s in (False, True))
        rows.append([
            f"{n:,} x {p}", classes, f"{tol:g}", f"{off:.0f}", f"{on:.0f}", f"{on / off:.2f}",
            f"{np.abs(coefs[True] - coefs[False]).max():.0e}",
        ])
        print(" | ".join(str(c) for c in rows[-1]), flush=True)
    print()
    print(markdown_table(
        ["data", "classes", "tol", "float64 throughout (ms)", "float32 first stage (ms)",
         "ratio", "coef max diff"],
        rows,
    ))


if __name__ == "__main__":
    main()
