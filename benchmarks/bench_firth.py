"""Firth's fit against a plain Newton fit, on 100,000 x 50 in float64.

Data: ``make_classification(100_000, 50, n_redundant=0, random_state=0)``
(classes overlap: both estimates exist).

Timed with interleaved repeats and the median, both from a cold start with
the default ``tol``:

- ``NeuronClassifier(C=np.inf, optimizer="newton")``: the maximum-likelihood
  fit, Newton with the exact Hessian;
- ``NeuronClassifier(C=np.inf, firth=True)``: Firth's penalized fit, Newton
  (Fisher scoring) on the modified score, whose every evaluation adds a
  Cholesky factor's log-determinant and one pass over X for the hat
  diagonal.

The target is a ratio (Firth / plain) of at most 3 (benchmarks/RESULTS.md).

Run from the repository root (so that this checkout is imported):
``PYTHONPATH=. python benchmarks/bench_firth.py [--quick]``
"""

import argparse

import numpy as np
from _timing import machine_description, markdown_table, time_pair
from sklearn.datasets import make_classification

from sklearn_neuron import NeuronClassifier


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="20,000 rows, one round")
    args = parser.parse_args()
    n = 20_000 if args.quick else 100_000
    X, y = make_classification(n, 50, n_redundant=0, random_state=0)
    plain = NeuronClassifier(C=np.inf, optimizer="newton")
    firth = NeuronClassifier(C=np.inf, firth=True)
    t_plain, t_firth = time_pair(
        lambda: plain.fit(X, y), lambda: firth.fit(X, y),
        repeats=1 if args.quick else 3, rounds=1 if args.quick else 3,
    )
    rows = [
        ("plain Newton", f"{t_plain * 1e3:.0f}", plain.n_iter_, "1.00"),
        ("firth=True", f"{t_firth * 1e3:.0f}", firth.n_iter_, f"{t_firth / t_plain:.2f}"),
    ]
    print(f"{n:,} x 50 float64; {machine_description()}")
    print(markdown_table(["fit", "median ms", "iterations", "ratio"], rows))
    print(
        f"RESULT bench_firth: {n:,} x 50, Firth {t_firth * 1e3:.0f} ms / plain Newton "
        f"{t_plain * 1e3:.0f} ms = {t_firth / t_plain:.2f}x (target <= 3x)"
    )


if __name__ == "__main__":
    main()
