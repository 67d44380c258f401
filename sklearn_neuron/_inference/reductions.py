"""The sums over rows that inference is built on, as functions for ``objective.reduce``.

:meth:`Objective.reduce(function, *args) <sklearn_neuron._objective.protocol.Objective.reduce>`
applies ``function(objective, *args)`` to each in-memory part of the data (the
whole data in memory, each block of a Dask array on its worker) and adds the
tuples it returns. Every data-dependent statistic of
:class:`~.results.InferenceResults` is one of the functions below, so in-memory
and Dask fits share one code path. They are module-level (picklable) and read
the family of the objective's loss (:func:`~sklearn_neuron._loss.likelihood.likelihood_of`)
on the part itself. Sums come back as float64 numpy arrays; an :class:`At` says
where the raw output is evaluated.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from .._loss.likelihood import likelihood_of
from .._objective.protocol import RowObjective
from .._separation import MARGIN_STEP, SATURATED_MARGIN, count_rising_margins
from .robust import cluster_score_sums, leverage_meat, score_meat


@dataclass(frozen=True)
class At:
    """Where a reduction evaluates the raw output of each row.

    At parameters ``theta``; or at the raw outputs ``raw`` themselves, which
    only the objective of all rows holds (in memory: the fitted values kept
    from the second-order pass); or at the null model's ``constant`` (K,),
    plus each row's offset.
    """

    theta: torch.Tensor | None = None
    raw: torch.Tensor | None = None
    constant: torch.Tensor | None = None

    @classmethod
    def null(cls, null_raw: torch.Tensor) -> At:
        """The intercept-only model from ``objective.null_raw()``: the constant (K,),
        or in memory with an offset the rows' raw outputs (n, K)."""
        if null_raw.dim() == 2:
            return cls(raw=null_raw)
        return cls(constant=null_raw)

    def raw_on(self, objective: RowObjective) -> torch.Tensor:
        """The raw outputs (n, K) of ``objective``'s rows."""
        if self.raw is not None:
            return self.raw
        dtype, device = objective.dtype, objective.device
        if self.constant is not None:
            raw = self.constant.to(device=device, dtype=dtype).expand(
                objective.n_samples, objective.n_outputs
            )
            return raw if objective.offset is None else raw + objective.offset
        if self.theta is None:
            raise ValueError("At needs theta, raw or constant")
        return objective.raw(self.theta.to(device=device, dtype=dtype))


def _numpy(value: Any) -> np.ndarray:
    if torch.is_tensor(value):
        value = value.detach().cpu().numpy()
    return np.asarray(value)


def _frequency_sum(objective: RowObjective, values: torch.Tensor) -> np.ndarray:
    """``sum_i f_i values_i`` with ``f_i`` the frequency weights (a 0-d float64 array)."""
    weight = objective.weight.to(dtype=values.dtype, device=values.device)
    return np.asarray(float(objective.weight_sum) * float(torch.dot(weight, values)))


def second_order_terms(
    objective: RowObjective, theta: torch.Tensor, fisher: bool, keep_rows: bool
) -> tuple[Any, ...]:
    """Non-finite raw outputs, gradient and information of the data term at ``theta``.

    ``(n_not_finite, grad, H)`` without the penalty (added once to the sum),
    the information the expected one where ``fisher`` and the family has one
    (:attr:`~sklearn_neuron._loss.likelihood.Likelihood.fisher_information`).
    ``keep_rows`` (the objective of all rows): also the raw outputs, the
    weighted pointwise information ``c`` (n, K, K) and the mask of the rows of
    positive weight, for the statistics that read the rows again.
    """
    theta = theta.to(dtype=objective.dtype, device=objective.device)
    pointwise = likelihood_of(objective.loss).fisher_information if fisher else None
    data = objective.with_penalty(0.0) if objective.l2 or objective.l1 else objective
    raw, grad, H, c = data.second_order(theta, pointwise)
    n_bad = np.asarray(int((~torch.isfinite(raw)).sum()))
    if keep_rows:
        return n_bad, grad, H, raw, c, objective.weight > 0
    return n_bad, _numpy(grad), _numpy(H)


def loglike_sum(objective: RowObjective, at: At, scale: float) -> tuple[np.ndarray]:
    """The log-likelihood of the rows at the dispersion ``scale``."""
    likelihood = likelihood_of(objective.loss)
    raw = at.raw_on(objective)
    return (_frequency_sum(objective, likelihood.loglike_obs(raw, objective.target, scale)),)


def deviance_sum(objective: RowObjective, at: At) -> tuple[np.ndarray]:
    """The deviance of the rows."""
    likelihood = likelihood_of(objective.loss)
    raw = at.raw_on(objective)
    return (_frequency_sum(objective, likelihood.deviance_obs(raw, objective.target)),)


def pearson_sum(objective: RowObjective, at: At) -> tuple[np.ndarray]:
    """Pearson's chi2 of the rows, ``sum_i f_i (y_i - mu_i)^2 / V(mu_i)``."""
    likelihood = likelihood_of(objective.loss)
    raw = at.raw_on(objective)
    return (_frequency_sum(objective, likelihood.pearson_obs(raw, objective.target)),)


def meat_sum(objective: RowObjective, at: At) -> tuple[np.ndarray]:
    """The sandwich's meat of the rows (HC0, HC1)."""
    return (_numpy(score_meat(objective, at.raw_on(objective)).to(torch.float64)),)


def cluster_sums(
    objective: RowObjective, at: At, n_groups: int, codes: np.ndarray
) -> tuple[np.ndarray]:
    """The rows' shares of the per-group score sums (``codes``: their groups)."""
    return (_numpy(cluster_score_sums(objective, at.raw_on(objective), codes, n_groups)),)


def positive_rows(objective: RowObjective, n_labels: int, codes: np.ndarray) -> tuple[np.ndarray]:
    """The count of rows of positive weight per group."""
    positive = (objective.weight > 0).cpu().numpy()
    return (np.bincount(codes[positive], minlength=n_labels),)


def leverage_sums(
    objective: RowObjective, at: At, factor: tuple[torch.Tensor, torch.Tensor], cov_type: str
) -> tuple[np.ndarray, np.ndarray]:
    """The rows' share of the HC2/HC3 meat, and their count of rows of leverage 1.

    ``factor``: the information's equilibrated Cholesky factor and its scaling
    (``A^-1 B`` by :func:`cholesky_solve`).
    """
    L, scale = (t.to(objective.device) for t in factor)
    scale = scale.unsqueeze(1)

    def solve(B: torch.Tensor) -> torch.Tensor:
        return torch.cholesky_solve(B * scale, L) * scale

    meat, n_high = leverage_meat(objective, at.raw_on(objective), solve, cov_type)
    return _numpy(meat), np.asarray(n_high)


def separation_counts(
    objective: RowObjective, at: At, step: torch.Tensor, row_bound: Any = None
) -> tuple[np.ndarray]:
    """``[separated, positive-weight, correctly classified]`` counts of the rows.

    The separation test (:func:`~sklearn_neuron._separation.count_rising_margins`)
    on the rows whose margin is saturated; ``row_bound``: ``(a, b, c)`` of
    :meth:`~.results.InferenceResults._information_bound`, which clears rows the
    Newton step ``-step`` cannot move by ``MARGIN_STEP`` (the objective of all
    rows only), else None.
    """
    step = step.to(dtype=objective.dtype, device=objective.device)
    raw = at.raw_on(objective)
    margins = likelihood_of(objective.loss).margins(raw, objective.target)
    positive = objective.weight > 0
    candidates = (margins > SATURATED_MARGIN) & positive
    if row_bound is not None:
        a, b, c = row_bound
        tiny = torch.finfo(objective.dtype).tiny
        candidates &= 2.0 * (a / c.clamp_min(tiny).sqrt() + b) > MARGIN_STEP
    n_separated = 0
    if bool(candidates.any()):
        # |x_i . w + b| <= max_j |x_ij| ||w||_1 + |b|, with X's largest entry.
        coef, intercept = objective.unpack(step.abs())
        bound = coef.sum(dim=1) * objective.abs_max()
        if intercept is not None:
            bound = bound + intercept
        if 2.0 * float(bound.max()) > MARGIN_STEP:
            # The Newton step moves the parameters by -step.
            n_separated = count_rising_margins(objective, raw, margins, candidates, -step)
    if raw.shape[1] > 1:
        predicted, observed = raw.argmax(dim=1), objective.target.argmax(dim=1)
    else:
        predicted, observed = raw[:, 0] > 0, objective.target[:, 0] > 0.5
    correct = int((predicted == observed)[positive].sum())
    return (np.array([n_separated, int(positive.sum()), correct]),)
