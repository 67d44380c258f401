"""Inference on a fitted neuron: standard errors, z-values, p-values.

Under the log loss the neuron is logistic regression, a maximum-likelihood
model, so the usual Wald inference applies to its coefficients.
``NeuronClassifier.summary()`` prints them as a statistician's table (the
same numbers as statsmodels' Logit on unpenalized data).

Run: ``python examples/inference_summary.py``
"""

import numpy as np
from sklearn.datasets import load_breast_cancer
from sklearn.preprocessing import StandardScaler

from sklearn_neuron import NeuronClassifier


def main():
    if not hasattr(NeuronClassifier, "summary"):
        print("This version of NeuronClassifier has no summary() yet; nothing to run.")
        return
    data = load_breast_cancer(as_frame=True)
    columns = ["mean radius", "mean texture", "mean smoothness", "mean symmetry"]
    X = (
        StandardScaler()
        .set_output(transform="pandas")
        .fit_transform(data.data[columns])
    )
    neuron = NeuronClassifier(C=np.inf, optimizer="newton", tol=1e-10).fit(
        X, data.target
    )
    print(neuron.summary())


if __name__ == "__main__":
    main()
