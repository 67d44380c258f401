"""The summary table of inference results: header, coefficient table and notes.

:class:`InferenceSummary` lays out what :class:`~.results.InferenceResults`
computed, as statsmodels' ``summary()``: the fit statistics a statistician
reads at a glance, one row per parameter, and notes on the weights, the
covariance, the parametrisation and the penalty; as text, HTML or a DataFrame.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from .checks import format_count
from .robust import LEVERAGE_COV_TYPES


class InferenceSummary:
    """The summary of :class:`InferenceResults`: header, coefficient table, notes.

    Attributes
    ----------
    header : list of (str, str)
        Fit statistics as label/value pairs.
    table : list of tuple
        One row per parameter: equation (or None), term, coef, std err, z,
        p-value, lower and upper bound.
    columns : list of str
        Column names of the numbers in ``table``.
    notes : list of str
        Lines printed under the table.
    frame : pandas.DataFrame
        The table as a DataFrame (an ImportError naming pandas without it).
    """

    def __init__(self, results: Any, alpha: float = 0.05) -> None:
        r = results
        ci = r.conf_int(alpha)
        self.alpha = alpha
        self.title = f"{r.model_name} Results"
        par = r._parametrisation
        equations = par.equations or [None] * len(par.names)
        self.columns = [
            "coef",
            "std err",
            "z",
            "P>|z|",
            f"[{alpha / 2:g}",
            f"{1 - alpha / 2:g}]",
        ]
        self.table = [
            (eq, name, *values)
            for eq, name, values in zip(
                equations,
                par.names,
                np.column_stack([r.params, r.bse, r.zvalues, r.pvalues, ci]).tolist(),
                strict=True,
            )
        ]
        likelihood = r.likelihood.is_likelihood
        refusal = r.likelihood.loglike_refusal() if likelihood else None
        self.header = [
            (
                "Dependent variable",
                r.description.dependent(r.objective, r.endog_name),
            ),
            ("Model", r.model_name),
            ("No. observations", format_count(r.nobs)),
            ("Df model", format_count(r.df_model)),
            ("Df residuals", format_count(r.df_resid)),
            ("Covariance type", r.cov_type),
        ]
        if r.cov_type == "cluster":
            self.header.append(("No. groups", f"{r.n_groups:d}"))
        if likelihood and refusal is None:
            self.header += [
                ("Log-likelihood", f"{r.llf:.6g}"),
                ("LL-null", f"{r.llnull:.6g}"),
                ("Deviance", f"{r.deviance:.6g}"),
                ("AIC", f"{r.aic:.6g}"),
                ("BIC", f"{r.bic:.6g}"),
                ("Pseudo R-squ. (McFadden)", f"{r.prsquared:.4f}"),
                ("LLR p-value", f"{r.llr_pvalue:.4g}"),
            ]
        elif likelihood:  # a density not evaluated; its deviance still is
            self.header.append(("Deviance", f"{r.deviance:.6g}"))
        self.notes = []
        if r.weighted:
            self.notes.append(
                "Sample weights are frequency weights: No. observations is their sum."
            )
        if r.cov_type == "cluster":
            self.notes.append(
                f"Standard errors are robust to correlation within the {r.n_groups} "
                "clusters (CR1), with the small-sample correction G/(G-1) * "
                f"(N-1)/(N-K) = {r.cluster_correction:.6g} (statsmodels' default; R "
                "sandwich::vcovCL type='HC1')."
            )
        elif r.cov_type in LEVERAGE_COV_TYPES:
            self.notes.append(
                f"Standard errors are heteroscedasticity robust ({r.cov_type}): each "
                "score divided by "
                + ("sqrt(1 - h_i)" if r.cov_type == "HC2" else "1 - h_i")
                + ", h_i the leverage from the IRLS hat matrix."
            )
        if refusal is not None:
            self.notes.append(f"No log-likelihood statistics: {refusal}")
        if r.note:
            self.notes.append(r.note)
        if r.objective.offset is not None:
            self.notes.append(
                "The linear predictor includes an offset (its coefficient fixed at 1), "
                "as statsmodels' offset= / exposure= (exposure: offset = log(exposure))."
            )
        if r.penalized:
            self.notes.append(
                "Penalized fit: standard errors use the penalized Hessian; the Wald "
                "statistics and p-values are NOT valid."
            )

    @property
    def frame(self) -> Any:
        """The table as a pandas DataFrame (ImportError without pandas)."""
        try:
            import pandas as pd
        except ImportError as exc:
            raise ImportError(
                "InferenceSummary.frame needs pandas, which is not installed: "
                "pip install pandas (the text and .table need nothing)."
            ) from exc
        data = [row[2:] for row in self.table]
        if self.table[0][0] is None:
            index = pd.Index([row[1] for row in self.table], name="term")
        else:
            index = pd.MultiIndex.from_tuples(
                [row[:2] for row in self.table], names=["equation", "term"]
            )
        return pd.DataFrame(data, index=index, columns=self.columns)

    def as_text(self) -> str:
        """The summary as plain text."""
        label_width = max(len(label) for label, _ in self.header)
        lines = [self.title, "=" * 78]
        lines += [f"{label:<{label_width}}  {value}" for label, value in self.header]
        term_width = max(12, *(len(row[1]) for row in self.table))
        head = f"{'':<{term_width}}" + "".join(f"{c:>11}" for c in self.columns)
        rule = "-" * len(head)
        current = object()
        for row in self.table:
            if row[0] != current:
                current = row[0]
                lines += [rule if row[0] is None else f"{rule}\n{row[0]}", head, rule]
            coef, se, z, p, lo, hi = row[2:]
            lines.append(
                f"{row[1]:<{term_width}}{coef:>11.4f}{se:>11.4f}{z:>11.3f}"
                f"{p:>11.3f}{lo:>11.4f}{hi:>11.4f}"
            )
        lines.append("=" * len(head))
        lines += [f"Note: {note}" for note in self.notes]
        return "\n".join(lines)

    def __str__(self) -> str:
        return self.as_text()

    __repr__ = __str__

    def _repr_html_(self) -> str:
        import html

        header = "".join(
            f"<tr><th>{html.escape(k)}</th><td>{html.escape(v)}</td></tr>"
            for k, v in self.header
        )
        try:
            table = self.frame.to_html(float_format="%.4g")
        except ImportError:  # without pandas the notebook shows header and notes
            table = ""
        notes = "".join(f"<p>{html.escape(n)}</p>" for n in self.notes)
        return (
            f"<h4>{html.escape(self.title)}</h4><table>{header}</table>{table}{notes}"
        )
