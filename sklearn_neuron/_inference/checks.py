"""Refusals shared by the inference statistics, and how they print counts.

A statistic that divides by the residual degrees of freedom refuses
non-positive ones (:func:`check_df_resid`), non-finite fitted values are
explained (:func:`raise_not_finite`), and counts, which are sums of frequency
weights, print as the summary prints them (:func:`format_count`).
"""

from __future__ import annotations

import math

from .._objective.protocol import Objective


def check_df_resid(nobs: float, n_params: int, what: str, remedy: str) -> None:
    """Refuse a statistic that divides by non-positive residual degrees of freedom.

    statsmodels divides anyway and reports ``inf`` or ``nan`` with a
    RuntimeWarning (an OLS on as many samples as parameters); here no
    statistic is silently NaN, so this is a ValueError saying what to do.

    Parameters
    ----------
    nobs : float
        Number of observations (the sum of the frequency weights).
    n_params : int
        Number of estimated parameters.
    what : str
        The statistic, and how it uses ``df_resid``, as the message's subject.
    remedy : str
        What to do instead, as the message's end.
    """
    df_resid = nobs - n_params
    if not df_resid > 0:
        raise ValueError(
            f"{what} divides by the residual degrees of freedom, df_resid = nobs - "
            f"n_params = {format_count(nobs)} - {n_params} = {format_count(df_resid)}, "
            "which must be positive: "
            f"{remedy}."
        )


def format_count(value: float) -> str:
    """A count as the summary prints it: ``2,000,000`` when whole, else 6 digits.

    Counts are sums of frequency weights, floats even when whole (on Dask data
    always): ``{:g}`` would print 2,000,000 as ``2e+06``.
    """
    value = float(value)
    if value.is_integer():
        return f"{int(value):,}"
    return f"{value:.6g}"


def raise_not_finite(objective: Objective) -> None:
    """Say why the fitted values are not finite: X, or an overflow."""
    if not math.isfinite(objective.abs_max()):
        raise ValueError(
            "Input X contains NaN or infinity; inference needs the finite training "
            "data of the fit. Drop or impute those entries (e.g. with "
            "sklearn.impute.SimpleImputer) as was done before fitting."
        )
    raise ValueError(
        "The fitted raw outputs X @ coef_.T + intercept_ overflow the dtype on these "
        "data, so no inference is possible; scale the features (e.g. with "
        "StandardScaler) and refit."
    )
