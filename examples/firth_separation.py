"""Separation and its remedy: Firth's penalized logistic regression.

A small case-control study (generated, 60 subjects): a rare exposure is seen
only among the cases, so the exposure separates part of the cases from the
controls (quasi-complete separation). The maximum-likelihood estimate of its
log-odds ratio is infinite: the unpenalized fit stops wherever its optimizer
stops, with a SeparationWarning that names the remedy. Firth's penalized
likelihood (``firth=True``: the log-likelihood plus half the log-determinant
of the Fisher information, R's logistf and brglm2) gives a finite estimate,
with Wald standard errors, profile penalized-likelihood intervals and
penalized likelihood-ratio tests, as logistf reports them.

Run from the repository root: ``PYTHONPATH=. python examples/firth_separation.py``
(or just ``python examples/firth_separation.py`` once the package is installed).
"""

import warnings

import numpy as np
import pandas as pd

from sklearn_neuron import NeuronClassifier


def study(n=60, seed=0):
    """Age (standardized), a rare exposure seen only in cases, and case status."""
    rng = np.random.default_rng(seed)
    age = rng.normal(size=n)
    case = (0.8 * age + rng.logistic(size=n) > 0).astype(int)
    exposed = ((case == 1) & (rng.random(n) < 0.25)).astype(float)
    return pd.DataFrame({"age": age, "exposed": exposed}), case


def main():
    X, y = study()
    print(f"{int(X.exposed.sum())} exposed subjects, all of them cases\n")

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        ml = NeuronClassifier(C=np.inf, optimizer="newton", max_iter=200).fit(X, y)
    print("Maximum likelihood: coef_ =", ml.coef_.round(2))
    for warning in caught:  # its first and last sentence: what happened, what to do
        text = str(warning.message)
        print(f"  {type(warning.message).__name__}: {text.split(' (')[0]}. ...")
        print(f"  ... {text[text.index('Use firth=True'):]}")

    firth = NeuronClassifier(C=np.inf, firth=True, tol=1e-10).fit(X, y)
    print("\nFirth: coef_ =", firth.coef_.round(4), "\n")
    print(firth.summary(X, y))
    res = firth.inference(X, y)
    print(
        f"\nexposed: odds ratio {np.exp(res.params[2]):.2f}, 95% profile interval "
        f"{np.exp(res.conf_int()[2, 0]):.2f} to {np.exp(res.conf_int()[2, 1]):.1f}; "
        f"Wald interval {np.exp(res.wald_conf_int()[2, 0]):.2f} to "
        f"{np.exp(res.wald_conf_int()[2, 1]):.1f}"
    )


if __name__ == "__main__":
    main()
