"""NeuronRegressor against scikit-learn's regressors, in one run, as time ratios.

Rows: diabetes (442 x 10, standardized) and a dense synthetic problem of
200,000 x 100 in float64, with a target drawn from each family (fixed
seed). Each comparison uses the same objective (same alpha; Ridge's alpha =
n_samples * alpha), the same ``tol`` and ``max_iter`` and the same kind of
solver where both have it (newton vs newton-cholesky, lbfgs vs lbfgs); fits
are interleaved and the median is reported. A ratio below 1 means
NeuronRegressor is faster.

Run: ``python benchmarks/bench_regressor.py [--quick]``
"""

import argparse
import warnings

import numpy as np
from _timing import machine_description, markdown_table, time_pair
from sklearn.datasets import load_diabetes
from sklearn.exceptions import ConvergenceWarning
from sklearn.linear_model import (
    GammaRegressor,
    LinearRegression,
    PoissonRegressor,
    Ridge,
    TweedieRegressor,
)
from sklearn.preprocessing import StandardScaler

from sklearn_neuron import NeuronRegressor


def synthetic(n_samples, seed=0):
    """X (n x 100) and one target per family, all with mean exp(X @ coef)."""
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n_samples, 100))
    coef = rng.normal(scale=0.3 / np.sqrt(100), size=100)
    mu = np.exp(X @ coef + 1.0)
    p, phi = 1.5, 1.0
    counts = rng.poisson(mu ** (2 - p) / (phi * (2 - p)))
    shape = (2 - p) / (p - 1)
    tweedie = np.where(counts > 0, rng.gamma(np.maximum(counts * shape, 1e-12),
                                              phi * (p - 1) * mu ** (p - 1)), 0.0)
    return X, {
        "squared_error": X @ coef + rng.standard_normal(n_samples),
        "poisson": rng.poisson(mu).astype(float),
        "gamma": rng.gamma(2.0, mu / 2.0),
        "tweedie": tweedie,
    }


def datasets(quick):
    X, y = load_diabetes(return_X_y=True)
    X = StandardScaler().fit_transform(X)
    targets = {"squared_error": y, "poisson": y, "gamma": y, "tweedie": y}
    yield "diabetes", X, targets, 50
    n_big = 20_000 if quick else 200_000
    X, targets = synthetic(n_big)
    yield f"synthetic {n_big:,} x 100 float64", X, targets, 1


def comparisons(n_samples):
    """(loss, label, reference factory, NeuronRegressor kwargs)."""
    fit = dict(tol=1e-4, max_iter=100)
    yield ("squared_error", "alpha=1 vs Ridge(alpha=n)",
           lambda: Ridge(alpha=float(n_samples), tol=1e-4), dict(alpha=1.0, **fit))
    yield ("squared_error", "alpha=0 vs LinearRegression",
           LinearRegression, dict(alpha=0.0, **fit))
    glms = {"poisson": PoissonRegressor, "gamma": GammaRegressor,
            "tweedie": lambda **kw: TweedieRegressor(power=1.5, link="log", **kw)}
    for loss, glm in glms.items():
        for label, solver, optimizer in [
            ("default vs default", "lbfgs", "auto"),
            ("newton vs newton-cholesky", "newton-cholesky", "newton"),
            ("lbfgs vs lbfgs", "lbfgs", "lbfgs"),
        ]:
            def make(glm=glm, solver=solver):
                return glm(solver=solver, **fit)

            yield loss, label, make, dict(optimizer=optimizer, **fit)


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="small synthetic data")
    args = parser.parse_args()
    warnings.simplefilter("ignore", ConvergenceWarning)
    rows = []
    for data_name, X, targets, repeats in datasets(args.quick):
        for loss, label, make_ref, kwargs in comparisons(X.shape[0]):
            y = targets[loss]
            ref = make_ref()
            neuron = NeuronRegressor(loss, **kwargs)

            def fit_ref(ref=ref, y=y, X=X):
                ref.fit(X, y)

            def fit_neuron(neuron=neuron, y=y, X=X):
                neuron.fit(X, y)

            t_ref, t_nn = time_pair(fit_ref, fit_neuron, repeats,
                                    rounds=3 if repeats > 1 else 2)
            ratio = t_nn / t_ref
            ref_iter = getattr(ref, "n_iter_", None)
            rows.append([
                data_name, loss, label, type(ref).__name__, f"{t_ref * 1e3:.1f}",
                f"{t_nn * 1e3:.1f}", f"{ratio:.2f}", "ok" if ratio <= 1.0 else "MISSED",
                f"{ref_iter if ref_iter is not None else '-'} / {neuron.n_iter_} "
                f"({neuron.optimizer_})",
                f"{np.abs(ref.coef_ - neuron.coef_).max():.1e}",
            ])
            print(" | ".join(rows[-1]), flush=True)
    print()
    print(machine_description())
    print()
    header = ["data", "loss", "comparison", "reference", "reference ms",
              "NeuronRegressor ms", "ratio", "<= 1.0", "iterations ref / NR",
              "max |coef diff|"]
    print(markdown_table(header, rows))


if __name__ == "__main__":
    main()
