"""The robust covariances' data terms: score products, cluster sums, leverages.

The sandwich ``A^-1 B A^-1`` of :class:`~.results.InferenceResults` takes its
meat ``B`` from here: the frequency-weighted outer products of the
per-sample scores (HC0/HC1), the same with each score divided by its
leverage (HC2/HC3, :func:`leverage_meat`), or the outer products of the
per-cluster score sums (CR1, :func:`cluster_score_sums`). Each is a sum over
rows, computed on whatever rows an objective holds (the whole data in
memory, one block on a Dask worker). The group labels' checks and numbering
(:func:`check_groups`, :func:`group_labels`, :func:`drop_empty_groups`) and
the refusals of HC2/HC3 are here too.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, cast

import numpy as np
import torch

from .._objective.protocol import Objective, RowObjective

COV_TYPES = ("nonrobust", "HC0", "HC1", "HC2", "HC3", "cluster")
#: Covariances whose meat divides each score by its leverage ``1 - h_i``.
LEVERAGE_COV_TYPES = ("HC2", "HC3")
#: Rows of X densified at once for the cluster sums and the leverages.
_CHUNK_ROWS = 4096


def score_meat(objective: RowObjective, raw: torch.Tensor) -> torch.Tensor:
    """``B = sum_i f_i g_i g_i^T`` with ``g_i = r_i (x) [x_i, 1]`` the score, ``r_i``
    the loss's gradient in the raw output: the Hessian's block form with ``f_i r_ik
    r_im`` in place of ``f_i h_ikm``, one pass over X (n_params, n_params)."""
    _, grad_raw = objective.loss.value_gradient(raw, objective.target)
    weighted = grad_raw * (objective.weight * objective.weight_sum).unsqueeze(1)
    return cast(torch.Tensor, objective.gram(weighted.unsqueeze(2) * grad_raw.unsqueeze(1)))


def cluster_score_sums(
    objective: RowObjective, raw: torch.Tensor, codes: np.ndarray, n_groups: int
) -> torch.Tensor:
    """Per-group sums of the frequency-weighted scores, (n_groups, n_params) float64.

    A group's score sum is ``sum_i f_i r_i (x) [x_i, 1]`` over its rows
    (``codes``, a numpy array of 0 .. n_groups - 1 per row of ``objective``),
    ``r_i`` the loss's gradient in the raw output ``raw``: by chunks of rows
    (densified one at a time), added into their groups. On Dask data, a
    block's share of the sums.
    """
    _, grad_raw = objective.loss.value_gradient(raw, objective.target)
    frequency = objective.weight * objective.weight_sum
    weighted = (grad_raw * frequency.unsqueeze(1)).to(torch.float64)
    K, q, p = objective.n_outputs, objective.n_params_per_output, objective.n_features
    group = torch.as_tensor(codes, device=weighted.device)
    sums = torch.zeros((n_groups, K, q), dtype=torch.float64, device=weighted.device)
    n = objective.X.shape[0]
    for start in range(0, n, _CHUNK_ROWS):
        rows = slice(start, min(start + _CHUNK_ROWS, n))
        X = objective.design.dense_rows(rows).to(torch.float64)
        for k in range(K):
            sums[:, k, :p].index_add_(0, group[rows], X * weighted[rows, k : k + 1])
    if objective.fit_intercept:
        for k in range(K):
            sums[:, k, p].index_add_(0, group, weighted[:, k])
    return sums.reshape(n_groups, K * q)


def leverage_meat(
    objective: RowObjective,
    raw: torch.Tensor,
    solve: Callable[[torch.Tensor], torch.Tensor],
    cov_type: str,
) -> tuple[torch.Tensor, int]:
    """The meat of HC2/HC3 and the number of rows with leverage 1.

    Each row's score products are divided by ``1 - h_i`` (HC2) or ``(1 -
    h_i)^2`` (HC3), with ``h_i = c_i [x_i, 1]^T A^-1 [x_i, 1]`` the diagonal
    of the hat matrix of the Newton (IRLS) step, ``c_i`` the loss's
    pointwise Hessian and ``solve(B) = A^-1 B`` with ``A`` the information
    (the bread). Per observation, so a row of frequency weight f is f
    observations of leverage ``h_i`` each (the data with the row repeated).
    For a canonical link ``h_i`` is R's ``hatvalues`` of a ``glm``;
    otherwise statsmodels' ``get_hat_matrix_diag(observed=True)``. On Dask
    data, a block's share (with its count).
    """
    grad_raw, h = objective.loss.gradient_hessian(raw, objective.target)
    curvature = h[:, 0, 0].to(torch.float64)
    n = objective.X.shape[0]
    quadratic = torch.empty(n, dtype=torch.float64, device=curvature.device)
    for start in range(0, n, _CHUNK_ROWS):
        rows = slice(start, min(start + _CHUNK_ROWS, n))
        X = objective.design.dense_rows(rows).to(torch.float64)
        if objective.fit_intercept:
            X = torch.cat([X, torch.ones_like(X[:, :1])], dim=1)
        quadratic[rows] = (X * solve(X.T).T).sum(dim=1)
    leverage = curvature * quadratic
    high = (leverage >= 1.0 - 1e3 * torch.finfo(torch.float64).eps) & (objective.weight > 0)
    divisor = torch.where(high, 1.0, 1.0 - leverage)
    if cov_type == "HC3":
        divisor = divisor**2
    grad_raw = grad_raw.to(torch.float64)
    frequency = (objective.weight * objective.weight_sum).to(torch.float64)
    weighted = grad_raw * (frequency / divisor).unsqueeze(1)
    meat = objective.gram((weighted.unsqueeze(2) * grad_raw.unsqueeze(1)).to(objective.dtype))
    return cast(torch.Tensor, meat).to(torch.float64), int(high.sum())


def check_leverage(n_high: int, cov_type: str) -> None:
    """Refuse HC2/HC3 when a row has leverage 1 (its score would be divided by 0)."""
    if n_high:
        raise ValueError(
            f"cov_type={cov_type!r} divides each score by 1 - h_i, and {n_high} rows "
            "have leverage h_i = 1 (a parameter is determined by one observation "
            "alone): use cov_type='HC0' or 'HC1'."
        )


def check_leverage_model(objective: Objective, cov_type: str) -> None:
    """Refuse HC2/HC3 where the model has no hat matrix to take leverages from."""
    loss = objective.loss
    if objective.n_outputs != 1:
        raise ValueError(
            f"cov_type={cov_type!r} needs the leverages of one linear predictor (the "
            "hat matrix of a GLM's IRLS step), which a multinomial model with "
            f"{objective.n_outputs} outputs does not have (statsmodels' MNLogit "
            "silently returns HC0 for it): use cov_type='HC0', 'HC1' or 'cluster'."
        )
    if not loss.is_log_likelihood:
        raise ValueError(
            f"cov_type={cov_type!r} corrects the scores by the leverages of a GLM's "
            f"hat matrix, and loss={loss.name!r} is not a GLM's negative "
            "log-likelihood: use cov_type='HC0' or 'HC1'."
        )


def check_groups(groups: Any, cov_type: str) -> None:
    """Refuse ``groups`` without ``cov_type="cluster"``, and the reverse."""
    if cov_type == "cluster" and groups is None:
        raise ValueError(
            "cov_type='cluster' needs groups: pass groups=g, an array of shape "
            "(n_samples,) with the cluster label of each training sample."
        )
    if cov_type != "cluster" and groups is not None:
        raise ValueError(
            f"groups is used only by cov_type='cluster', got cov_type={cov_type!r}: "
            "pass cov_type='cluster' for cluster-robust standard errors, or drop "
            "groups."
        )


def group_labels(groups: Any, n_samples: int) -> tuple[np.ndarray, int]:
    """``(codes, n_labels)``: each sample's cluster as 0 .. n_labels - 1.

    Refuses groups of another shape than ``(n_samples,)``, missing labels
    (NaN, None) and labels that cannot be ordered.
    """
    labels = np.asarray(groups)
    if labels.ndim != 1 or labels.shape[0] != n_samples:
        raise ValueError(
            f"groups must have shape (n_samples,) = ({n_samples},), one cluster label "
            f"per training sample, got shape {labels.shape}."
        )
    if labels.dtype.kind == "O":
        missing = np.array([g is None or g != g for g in labels.tolist()], dtype=bool)
    elif labels.dtype.kind in "fc":
        missing = np.isnan(labels)
    else:
        missing = np.zeros(n_samples, dtype=bool)
    if missing.any():
        raise ValueError(
            f"groups contains {int(missing.sum())} missing labels (NaN or None); "
            "every training sample needs its cluster: impute them or drop those "
            "rows and refit."
        )
    try:
        values, codes = np.unique(labels, return_inverse=True)
    except TypeError as exc:
        raise ValueError(
            "groups mixes labels that cannot be compared (e.g. strings and "
            "numbers): give every sample a label of one type."
        ) from exc
    return codes.reshape(-1).astype(np.int64), values.size


def drop_empty_groups(codes: np.ndarray, positive_counts: Any) -> tuple[np.ndarray, int]:
    """``(codes, n_groups)`` without the groups that have no row of positive weight.

    Such groups are absent from the data (frequency weights), so they neither
    count in ``G`` nor add a score sum; their rows (of zero weight, adding
    nothing) go to group 0. ``positive_counts``: rows of positive weight per code.
    """
    keep = np.asarray(positive_counts) > 0
    n_groups = int(keep.sum())
    if n_groups < 2:
        raise ValueError(
            f"groups has {n_groups} cluster with positive weight; cluster-robust "
            "covariance needs at least 2 (its score sums vary between clusters): "
            "pass finer groups, or use cov_type='HC0' or 'HC1'."
        )
    if n_groups < keep.size:
        remap = np.cumsum(keep) - 1
        codes = np.where(keep[codes], remap[codes], 0)
    return codes, n_groups
