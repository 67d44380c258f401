"""Average marginal effects with delta-method standard errors (statsmodels' get_margeff).

A logistic coefficient is a change in log-odds; what an applied researcher
reports is how much the probability itself moves. ``marginal_effects``
gives the derivative of the predicted probability (or, for a regressor, of
the predicted mean) in each feature, averaged over the observations, with
standard errors from the covariance of the fit by the delta method. Three
data sets that ship with statsmodels (nothing is downloaded):

- Spector & Mazzeo (32 students; did the PSI teaching method raise grades?):
  binary logit, average effects, then elasticities at the mean observation;
- RAND health insurance experiment (20,190 person-years): Poisson model of
  the number of doctor visits, average effects on the expected count;
- 1996 American National Election Study (944 voters): multinomial logit of
  party identification (7 classes), average effects on each class's probability.

Each table equals statsmodels' ``get_margeff()`` to 1e-8
(``tests/test_margins.py``).

Run from the repository root: ``PYTHONPATH=. python examples/marginal_effects.py``
(or just ``python examples/marginal_effects.py`` once the package is installed).
"""

import numpy as np
import statsmodels.api as sm

from sklearn_neuron import NeuronClassifier, NeuronRegressor


def main():
    unpenalized = dict(optimizer="newton", tol=1e-10)

    data = sm.datasets.spector.load_pandas().data
    X, y = data[["GPA", "TUCE", "PSI"]], data["GRADE"].astype(int)
    clf = NeuronClassifier(C=np.inf, **unpenalized).fit(X, y)
    print(clf.marginal_effects(X, y))
    print()
    elasticities = clf.marginal_effects(X, y, at="mean", method="eyex")
    print("Elasticities of P(grade improved) at the mean student:")
    print(elasticities.frame.round(4))
    print()

    rand = sm.datasets.randhie.load_pandas().data
    X, y = rand[["lncoins", "idp", "lpi", "fmde", "physlm", "disea"]], rand["mdvis"]
    poisson = NeuronRegressor("poisson", alpha=0, **unpenalized).fit(X, y)
    print(poisson.marginal_effects(X, y, cov_type="HC0"))
    print()

    anes = sm.datasets.anes96.load_pandas().data
    X, y = anes[["logpopul", "selfLR", "age", "educ", "income"]], anes["PID"].astype(int)
    mnlogit = NeuronClassifier(C=np.inf, **unpenalized).fit(X, y)
    margins = mnlogit.marginal_effects(X, y)
    print("Average effect of each feature on P(party identification), per class:")
    table = margins.frame["dy/dx"].unstack("equation").loc[list(X.columns)]
    print(table.round(4))


if __name__ == "__main__":
    main()
