"""Separation of the classes by a fitted linear layer: margins and the Newton-step test.

A sample's margin is the logit of its class minus the largest other logit. Where
an unpenalized log-loss fit leaves samples with saturated margins that a Newton
step still raises, the fit is moving along a separating ray and the
maximum-likelihood estimate does not exist. The end-of-fit check of the solvers
(:func:`~sklearn_neuron._solvers.diagnostics.check_separation`) and inference
(in memory and per Dask block) share this one test; it depends only on an
objective's loss, target and rows, so it sits below both.
"""

from __future__ import annotations

import math
from typing import Any

import torch

from ._loss.likelihood import likelihood_of

#: Samples whose margin (logit of their class minus the largest other) is
#: above this (probability of their class above ~0.999) are the candidates of
#: the separation check.
SATURATED_MARGIN = math.log(999.0)
#: A Newton step that raises a candidate's margin by more than this shows the
#: fit still moving along a separating ray.
MARGIN_STEP = 0.5


def has_margins(objective: Any) -> bool:
    """Whether ``objective``'s outputs are class probabilities (and so can separate):
    its loss's family says so (:attr:`~sklearn_neuron._loss.likelihood.Likelihood.has_margins`)."""
    return likelihood_of(objective.loss).has_margins


def class_margins(objective: Any, raw: torch.Tensor) -> torch.Tensor:
    """Per-sample margin of the observed class, (n_samples,): the family's
    (:meth:`~sklearn_neuron._loss.likelihood.Likelihood.margins`; sigmoid
    ``(2 y - 1) z``, softmax ``z_y - max_{k != y} z_k``)."""
    return likelihood_of(objective.loss).margins(raw, objective.target)


def count_rising_margins(
    objective: Any,
    raw: torch.Tensor,
    margins: torch.Tensor,
    candidates: torch.Tensor,
    direction: torch.Tensor,
) -> int:
    """How many ``candidates`` a move of the parameters by ``direction`` pushes away.

    The separation test: the raw output changes by ``X direction`` on the
    candidate rows only, and a sample counts where its margin
    (:func:`class_margins`) rises by more than ``MARGIN_STEP`` (a fit still
    moving along a separating ray; at a true optimum a Newton step changes
    nothing). Used by inference in memory and per Dask block, and by the
    check at the end of a fit.
    """
    index = torch.nonzero(candidates).squeeze(1)
    stepped = raw.clone()
    stepped[index] += objective.raw(direction, objective.rows(index))
    rise = (class_margins(objective, stepped) - margins)[candidates]
    return int((rise > MARGIN_STEP).sum())
