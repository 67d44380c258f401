"""Inference's separation check: bounds that skip the rows, and the warning.

Where an unpenalized log-loss fit separates the classes, the maximum-likelihood
estimate does not exist. The exact test (a Newton step still raises saturated
margins, :func:`~sklearn_neuron._separation.count_rising_margins`) runs per part
of the data in :func:`~.reductions.separation_counts`; this module owns the
bounds that settle it without reading X at a true optimum
(:func:`information_bound`) and the :class:`~sklearn_neuron._warnings.SeparationWarning`
it gives (:func:`warn_separation`).
"""

from __future__ import annotations

import math
import warnings
from typing import Any

import torch

from .._objective.protocol import Objective
from .._separation import MARGIN_STEP
from .._warnings import SeparationWarning


def information_bound(
    objective: Objective, coef: torch.Tensor, intercept: torch.Tensor | None, observed: Any
) -> tuple[float, float, torch.Tensor] | None:
    """``(a, b, c)`` with ``|x_i . w + b_k| <= a / sqrt(c_i) + b`` on every row.

    For the step ``|coef|``, ``|intercept|``, without reading X: the
    information's diagonal entry of feature j, ``H_jj = sum_i c_i
    x_ij^2`` with ``c_i >= 0`` the weighted pointwise Hessian, bounds
    ``|x_ij|`` by ``sqrt(H_jj / c_i)`` on every row with ``c_i > 0``, so
    ``a = max_k sum_j sqrt(H_jj) |w_kj|`` and ``b = max_k |b_k|``.
    Softmax: per row the output with the largest ``c_ikk``, per feature
    the largest ``H_jj`` over the outputs (looser, still valid); rows of
    no weight, which the check passes over, have ``c_i = inf``. None when
    the information is not the loss's own or its rows are not held
    (``observed``: the Hessian, its weighted pointwise Hessian and the mask
    of the rows of positive weight; None).
    """
    if observed is None:
        return None
    hessian, weights, positive = observed
    diagonal = hessian.diagonal()
    K, q, p = objective.n_outputs, objective.n_params_per_output, objective.n_features
    scale = diagonal.view(K, q)[:, :p].amax(dim=0).clamp_min(0).sqrt()
    shift = float(intercept.max()) if intercept is not None else 0.0
    c = weights.diagonal(dim1=1, dim2=2).amax(dim=1)
    c = torch.where(positive, c, torch.inf)
    return float((coef @ scale).max()), shift, c


def settled_by_bound(objective: Objective, bound: tuple[float, float, torch.Tensor]) -> bool:
    """Whether :func:`information_bound` clears every row of positive weight at once."""
    a, b, c = bound
    tiny = torch.finfo(objective.dtype).tiny
    smallest = float(c.min())  # (inf on the rows of no weight)
    return 2.0 * (a / math.sqrt(max(smallest, tiny)) + b) <= MARGIN_STEP


def warn_separation(n_separated: int, n_positive: int, all_correct: bool) -> None:
    """The SeparationWarning of ``n_separated`` separated samples among ``n_positive``."""
    if all_correct:
        kind = "Perfect separation"
        what = "every sample is classified correctly"
    else:
        kind = "Quasi-complete separation"
        what = "part of the samples are separated from the other classes"
    what += (
        f"; {n_separated} of {n_positive} samples have a fitted probability of "
        "their class near 1 that a further Newton step still raises"
    )
    warnings.warn(
        f"{kind} detected: {what}. The maximum-likelihood estimate does not "
        "exist (some coefficients diverge), so the reported coefficients, "
        "standard errors, p-values and intervals are meaningless. Refit with "
        "firth=True (and C=np.inf) for Firth's finite estimate with valid "
        "inference, drop or merge the separating feature(s), or penalize the fit "
        "(finite C) and treat the results as descriptive.",
        SeparationWarning,
        stacklevel=4,
    )
