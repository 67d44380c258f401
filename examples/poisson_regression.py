"""Poisson regression as a neuron with an exponential output.

NeuronRegressor with ``loss="poisson"`` is one linear unit with an ``exp``
output trained on the Poisson deviance: scikit-learn's PoissonRegressor (a
GLM with log link). Without a penalty both reach the same coefficients.

Run: ``python examples/poisson_regression.py``
"""

import numpy as np
from sklearn.linear_model import PoissonRegressor

from sklearn_neuron import NeuronRegressor


def main():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(2000, 4))
    y = rng.poisson(np.exp(0.3 + X @ np.array([0.5, -0.25, 0.1, 0.0])))

    glm = PoissonRegressor(alpha=0.0, solver="newton-cholesky", tol=1e-10).fit(X, y)
    neuron = NeuronRegressor(loss="poisson", alpha=0.0, tol=1e-10).fit(X, y)
    print(
        "PoissonRegressor coef:",
        np.round(glm.coef_, 6),
        "intercept:",
        round(glm.intercept_, 6),
    )
    print(
        "NeuronRegressor  coef:",
        np.round(np.ravel(neuron.coef_), 6),
        "intercept:",
        np.round(neuron.intercept_, 6),
    )
    diff = np.abs(np.ravel(neuron.coef_) - glm.coef_).max()
    print(f"largest coefficient difference: {diff:.1e}")


if __name__ == "__main__":
    main()
