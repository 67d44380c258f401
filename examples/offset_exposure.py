"""Offsets and exposure: rates, and a model on top of a known baseline.

A count observed over an exposure (population, years at risk) is modelled
as a rate: ``log E[y] = log(exposure) + X @ coef + intercept``, the log
exposure an *offset*, a term of the linear predictor whose coefficient is
fixed at 1. ``NeuronRegressor(loss="poisson").fit(X, y, exposure=e)`` fits
it as statsmodels' ``GLM(y, X, family=Poisson(), exposure=e)`` does; the
same numbers are printed for both. The data are statsmodels' breast-cancer
counts of 301 counties with their populations (they ship with statsmodels;
nothing is downloaded): does the rate grow with the county's size?

The second part takes a known baseline as an offset: a logistic model
fitted on some features, then a second one that learns only what other
features add to its log-odds (``offset=first.decision_function(X)``).

Run: ``python examples/offset_exposure.py``
"""

import numpy as np
import statsmodels.api as sm

from sklearn_neuron import NeuronClassifier, NeuronRegressor


def rates():
    data = sm.datasets.cancer.load_pandas().data
    y, population = data["cancer"].to_numpy(), data["population"].to_numpy()
    X = np.log(population / 1000).reshape(-1, 1)  # the rate's elasticity in the size
    model = NeuronRegressor(loss="poisson", alpha=0, optimizer="newton", tol=1e-10)
    model.fit(X, y, exposure=population)
    print(model.summary(X, y, exposure=population))
    glm = sm.GLM(y, sm.add_constant(X), family=sm.families.Poisson(), exposure=population)
    ref = glm.fit(tol=1e-12)
    res = model.inference(X, y, exposure=population)
    print("statsmodels GLM coef:", np.round(ref.params, 8), "std err:", np.round(ref.bse, 8))
    print("NeuronRegressor coef:", np.round(res.params, 8), "std err:", np.round(res.bse, 8))
    print(f"largest difference of a coefficient: {np.abs(res.params - ref.params).max():.1e}")
    # Expected counts of the first counties, and their rates per 1000 people.
    counts = model.predict(X[:3], exposure=population[:3])
    per_1000 = model.predict(X[:3], exposure=np.full(3, 1000.0))
    print("expected counts:", np.round(counts, 3), " per 1000 people:", np.round(per_1000, 4))


def baseline():
    rng = np.random.default_rng(0)
    n = 3000
    A, B = rng.normal(size=(n, 2)), rng.normal(size=(n, 2))
    logit = 0.3 + A @ [1.0, -0.5] + B @ [0.8, 0.0]
    y = (rng.uniform(size=n) < 1 / (1 + np.exp(-logit))).astype(int)
    first = NeuronClassifier(C=np.inf).fit(A, y)
    prior = first.decision_function(A)
    second = NeuronClassifier(C=np.inf).fit(B, y, offset=prior)
    print()
    print("what B adds to A's log-odds:", np.round(second.coef_.ravel(), 3))
    print(second.summary(B, y, offset=prior).frame.round(4))
    proba = second.predict_proba(B[:3], offset=first.decision_function(A[:3]))[:, 1]
    print("probabilities of the first three:", np.round(proba, 4))


def main():
    rates()
    baseline()


if __name__ == "__main__":
    main()
