"""Logistic-regression inference with a neuron: a statsmodels-style summary.

Fits ``NeuronClassifier(C=np.inf)`` (unpenalized: the maximum-likelihood
logistic regression) on statsmodels' Spector & Mazzeo data (32 students:
did a new teaching method, PSI, improve grades?), prints the summary with
model-based and robust (HC1) standard errors, and a likelihood-ratio test of
PSI. The data ship with statsmodels; nothing is downloaded.

Run from the repository root: ``PYTHONPATH=. python examples/inference_summary.py``
(or just ``python examples/inference_summary.py`` once the package is installed).
"""

import numpy as np
import statsmodels.api as sm

from sklearn_neuron import NeuronClassifier, likelihood_ratio_test


def main():
    data = sm.datasets.spector.load_pandas().data
    X, y = data[["GPA", "TUCE", "PSI"]], data["GRADE"].astype(int)
    clf = NeuronClassifier(C=np.inf, optimizer="newton", tol=1e-10).fit(X, y)
    print(clf.summary(X, y))
    print()
    print(clf.summary(X, y, cov_type="HC1", alpha=0.1).frame.round(4))
    print()
    without_psi = X[["GPA", "TUCE"]]
    restricted = NeuronClassifier(C=np.inf, optimizer="newton", tol=1e-10)
    restricted.fit(without_psi, y)
    test = likelihood_ratio_test(
        restricted.inference(without_psi, y), clf.inference(X, y)
    )
    print(
        f"LR test of PSI: chi2({test.df}) = {test.statistic:.3f}, "
        f"p = {test.pvalue:.4f}"
    )


if __name__ == "__main__":
    main()
