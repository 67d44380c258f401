"""Likelihood-ratio tests of nested fitted models.

:func:`likelihood_ratio_test` compares two :class:`~.results.InferenceResults`
of nested models fitted on the same observations: twice the difference of
their log-likelihoods against the chi-squared distribution. Whether the
observations are the same (rows, response, weights, offset) is read from the
fingerprints of the two objectives' data, which every storage computes alike.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
from scipy import stats

from .._objective.fingerprint import data_fingerprint
from .results import InferenceResults, LikelihoodRatioTestResult

#: Relative tolerance of the comparison of two fits' observations: their
#: position-weighted sums match to rounding when the data are the same.
_SAME_RTOL = 1e-12


def likelihood_ratio_test(
    restricted: InferenceResults, full: InferenceResults
) -> LikelihoodRatioTestResult:
    """Likelihood-ratio test of a restricted model against a larger nested one.

    Parameters
    ----------
    restricted, full : InferenceResults
        Results of two fits on the same data (same observations and weights,
        same classes), ``restricted`` with fewer parameters.

    Returns
    -------
    LikelihoodRatioTestResult
        ``statistic = 2 (llf_full - llf_restricted)``, ``df`` the difference in
        the number of parameters, ``pvalue`` from the chi-squared distribution.

    Notes
    -----
    Nesting is checked as far as the results allow: same number of
    observations, same response, fewer parameters in ``restricted``, and
    ``restricted``'s terms among ``full``'s. That the restricted model's
    design is a linear restriction of the full one is the caller's promise.

    Examples
    --------
    >>> import numpy as np
    >>> import statsmodels.api as sm
    >>> from sklearn_neuron import NeuronClassifier, likelihood_ratio_test
    >>> data = sm.datasets.spector.load_pandas().data
    >>> y = data["GRADE"]
    >>> def fit(columns):
    ...     X = data[columns]
    ...     clf = NeuronClassifier(C=np.inf, optimizer="newton", tol=1e-10)
    ...     return clf.fit(X, y).inference(X, y)
    >>> test = likelihood_ratio_test(fit(["GPA", "TUCE"]), fit(["GPA", "TUCE", "PSI"]))
    >>> test.df, round(test.statistic, 3), round(test.pvalue, 4)
    (1, 6.204, 0.0127)
    """
    for res in (restricted, full):
        if not isinstance(res, InferenceResults):
            raise TypeError(
                "likelihood_ratio_test takes InferenceResults, got "
                f"{type(res).__name__}."
            )
        res._require_likelihood("A likelihood-ratio test")
    if not _same_observations(restricted, full):
        raise ValueError(
            "The two models were not fitted on the same observations (number of "
            "samples, response or weights differ), so they are not nested and the "
            "likelihood-ratio test does not apply."
        )
    df = full.params.size - restricted.params.size
    if df <= 0 or not set(restricted.param_names) <= set(full.param_names):
        raise ValueError(
            f"restricted has {restricted.params.size} parameters and full has "
            f"{full.params.size}; the restricted model must have fewer, with its terms "
            "among the full model's. Pass the smaller model first."
        )
    statistic = 2.0 * (full.llf - restricted.llf)
    return LikelihoodRatioTestResult(statistic, df, float(stats.chi2.sf(statistic, df)))


def _same_observations(restricted: Any, full: Any) -> bool:
    """Whether two results were computed on the same observations, response and weights.

    The fingerprints (:func:`~sklearn_neuron._objective.fingerprint.data_fingerprint`)
    of the two data: the number of rows, the weight sum, and position-weighted
    sums of the targets, weights and offsets (an absent offset is one of zeros:
    nested models share theirs).
    """
    a, b = data_fingerprint(restricted.objective), data_fingerprint(full.objective)
    return (
        int(a["shape"][0]) == int(b["shape"][0])
        and np.shape(a["target"]) == np.shape(b["target"])
        and math.isclose(restricted.nobs, full.nobs, rel_tol=_SAME_RTOL)
        and _close(a["target"], b["target"], a["target_scale"])
        and _close(a["weight"], b["weight"], np.abs(a["weight"]))
        and _close(a["offset"], b["offset"], np.maximum(a["offset_scale"], b["offset_scale"]))
    )


def _close(a: Any, b: Any, scale: Any) -> bool:
    difference = np.abs(np.asarray(a, dtype=np.float64) - np.asarray(b, dtype=np.float64))
    return bool(np.all(difference <= _SAME_RTOL * (np.asarray(scale) + 1e-300)))
