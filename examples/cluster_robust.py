"""Cluster-robust and HC3 standard errors on panel data, beside statsmodels'.

Grunfeld's investment panel (11 US firms, 20 years each, shipped with
statsmodels): a firm's investment regressed on its market value and capital
stock. The 20 yearly observations of one firm are not independent, so the
model-based standard errors are too small; ``cov_type="cluster"`` with
``groups=firm`` sums the scores within each firm first. It uses the CR1
correction ``G/(G-1) (N-1)/(N-K)`` (statsmodels' default and R's
``sandwich::vcovCL(type="HC1")``), which the summary states. The same errors
from statsmodels' OLS are printed beside ours; nothing is downloaded.

Run from the repository root: ``PYTHONPATH=. python examples/cluster_robust.py``
(or just ``python examples/cluster_robust.py`` once the package is installed).
"""

import numpy as np
import statsmodels.api as sm

from sklearn_neuron import NeuronRegressor


def main():
    data = sm.datasets.grunfeld.load_pandas().data
    X, y, firm = data[["value", "capital"]], data["invest"], data["firm"]
    reg = NeuronRegressor(alpha=0, optimizer="newton", tol=1e-10).fit(X, y)
    print(reg.summary(X, y, cov_type="cluster", groups=firm))
    print()

    ols = sm.OLS(y, sm.add_constant(X))
    rows = []
    for cov_type, kwds in [
        ("nonrobust", {}),
        ("HC3", {}),
        ("cluster", {"cov_kwds": {"groups": np.unique(firm, return_inverse=True)[1]}}),
    ]:
        ours = reg.inference(
            X, y, cov_type=cov_type, groups=firm if cov_type == "cluster" else None
        )
        theirs = ols.fit(cov_type=cov_type, **kwds)
        rows.append((cov_type, ours.bse, np.asarray(theirs.bse)))
    print("standard errors        const      value    capital")
    for cov_type, ours, theirs in rows:
        print(f"{cov_type:<10} ours  " + "".join(f"{v:>11.5f}" for v in ours))
        print(f"{'':<10} sm    " + "".join(f"{v:>11.5f}" for v in theirs))
    worst = max(np.max(np.abs(ours / theirs - 1)) for _, ours, theirs in rows)
    print(f"largest relative difference from statsmodels: {worst:.1e}")


if __name__ == "__main__":
    main()
