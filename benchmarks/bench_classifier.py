"""NeuronClassifier against LogisticRegression, in one run, as time ratios.

Rows: breast_cancer (569 x 30, fixed overhead dominates), digits (1797 x 64,
10 classes), and a dense synthetic problem of 200,000 x 100 in float64 and in
float32. Each comparison uses the same kind of solver, the same ``tol`` and
``max_iter`` and the same dtype; fits are interleaved and the median is
reported. A ratio below 1 means NeuronClassifier is faster.

Run: ``python benchmarks/bench_classifier.py [--quick]``
"""

import argparse
import warnings
from functools import partial

import numpy as np
from _timing import machine_description, markdown_table, time_pair
from sklearn.datasets import load_breast_cancer, load_digits, make_classification
from sklearn.exceptions import ConvergenceWarning
from sklearn.linear_model import LogisticRegression
from sklearn.preprocessing import StandardScaler

from sklearn_neuron import NeuronClassifier


def datasets(quick):
    n_big = 20_000 if quick else 200_000
    for name, loader, repeats in [
        ("breast_cancer", load_breast_cancer, 100),
        ("digits", load_digits, 5),
    ]:
        X, y = loader(return_X_y=True)
        yield name, StandardScaler().fit_transform(X), y, repeats
    X, y = make_classification(n_big, 100, random_state=0)
    yield f"make_classification {n_big:,} x 100 float64", X, y, 3
    yield f"make_classification {n_big:,} x 100 float32", X.astype(np.float32), y, 3


#: (label, LogisticRegression kwargs, NeuronClassifier kwargs, target ratio)
COMPARISONS = [
    ("default vs default", {}, {}, 1.0),
    (
        "newton vs newton-cholesky",
        {"solver": "newton-cholesky"},
        {"optimizer": "newton"},
        1.0,
    ),
    ("lbfgs vs lbfgs", {"solver": "lbfgs"}, {"optimizer": "lbfgs"}, None),
]


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="small synthetic data")
    args = parser.parse_args()
    warnings.simplefilter("ignore", ConvergenceWarning)
    rows = []
    for data_name, X, y, repeats in datasets(args.quick):
        for label, lr_kwargs, nc_kwargs, target in COMPARISONS:
            if "float32" in data_name and label == "lbfgs vs lbfgs":
                target = 0.5
            logreg = LogisticRegression(tol=1e-4, max_iter=100, **lr_kwargs)
            neuron = NeuronClassifier(tol=1e-4, max_iter=100, **nc_kwargs)
            t_lr, t_nc = time_pair(
                partial(logreg.fit, X, y), partial(neuron.fit, X, y), repeats
            )
            ratio = t_nc / t_lr
            verdict = "" if target is None else ("ok" if ratio <= target else "MISSED")
            rows.append(
                [
                    data_name,
                    label,
                    f"{t_lr * 1e3:.1f}",
                    f"{t_nc * 1e3:.1f}",
                    f"{ratio:.2f}",
                    "" if target is None else f"<= {target}",
                    verdict,
                    f"{int(np.max(logreg.n_iter_))} / {neuron.n_iter_}",
                    f"{np.abs(logreg.coef_ - neuron.coef_).max():.1e}",
                ]
            )
            print(" | ".join(rows[-1]), flush=True)
    print()
    print(machine_description())
    print()
    header = [
        "data",
        "comparison",
        "LogisticRegression ms",
        "NeuronClassifier ms",
        "ratio",
        "target",
        "",
        "iterations LR / NC",
        "max |coef diff|",
    ]
    print(markdown_table(header, rows))


if __name__ == "__main__":
    main()
