"""NeuronRegressor("absolute_error") against QuantileRegressor(quantile=0.5, solver="highs").

Rows: make_regression(n, 20, noise=10) for n = 5,000 and 20,000 (seed 0),
unpenalized (``alpha=0`` on both) and L1-penalized (QuantileRegressor's
``alpha=a`` is NeuronRegressor's ``alpha=2a, l1_ratio=1``). Both solve the
same linear program with HiGHS: QuantileRegressor the primal (a dense
``n x (2p + 2n)`` equality matrix), NeuronRegressor its dual (``p + 1``
constraints). Fits are interleaved; medians; a ratio below 1 means
NeuronRegressor is faster.

Run: ``PYTHONPATH=. python benchmarks/bench_lad.py [--quick]``
"""

import argparse

import numpy as np
from _timing import machine_description, markdown_table, time_pair
from sklearn.datasets import make_regression
from sklearn.linear_model import QuantileRegressor

from sklearn_neuron import NeuronRegressor


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="only 5,000 samples")
    args = parser.parse_args()
    rows = []
    for n in [5_000] if args.quick else [5_000, 20_000]:
        X, y = make_regression(n, 20, noise=10.0, random_state=0)
        for a in [0.0, 0.01]:
            ref = QuantileRegressor(quantile=0.5, alpha=a, solver="highs")
            neuron = NeuronRegressor("absolute_error", alpha=2 * a, l1_ratio=1.0)
            t_ref, t_nn = time_pair(lambda ref=ref, X=X, y=y: ref.fit(X, y),
                                    lambda neuron=neuron, X=X, y=y: neuron.fit(X, y),
                                    repeats=1, rounds=2)
            rows.append([
                f"{n:,} x 20", f"{a:g}", f"{t_ref:.2f}", f"{t_nn:.3f}",
                f"{t_nn / t_ref:.3f}", f"{np.abs(ref.coef_ - neuron.coef_).max():.1e}",
            ])
            print(" | ".join(rows[-1]), flush=True)
    print()
    print(machine_description())
    print()
    header = ["data", "QuantileRegressor alpha", "QuantileRegressor s",
              "NeuronRegressor s", "ratio", "max |coef diff|"]
    print(markdown_table(header, rows))


if __name__ == "__main__":
    main()
