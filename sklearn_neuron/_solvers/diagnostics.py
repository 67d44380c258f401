"""Checks around a fit: whether a result is an optimum, and input checks that name a cause.

After an unpenalized fit, two results that the gradient test calls converged are told
apart from an optimum: classes the fitted coefficients separate, where the
maximum-likelihood estimate does not exist (:func:`check_separation`), and
columns whose squared scale underflows the dtype, whose coefficients the
curvature cannot see (:func:`check_underflow`). The input checks that name a
cause instead of "scale the features" live here too
(:func:`check_penalty_scale`, :func:`not_finite_message`). Whether a Newton
iteration fits in memory is :mod:`.memory`'s (its names stay importable from here).
"""

from __future__ import annotations

import math
import warnings
from typing import Any

import torch
from sklearn.exceptions import ConvergenceWarning

from .._separation import SATURATED_MARGIN, class_margins, count_rising_margins, has_margins
from .._warnings import SeparationWarning
from .memory import (  # noqa: F401 (the memory checks' former home)
    MEMORY_FRACTION,
    available_memory,
    check_newton_memory,
    memory_budget,
    newton_fits_memory,
    newton_peak_bytes,
    objective_newton_bytes,
)
from .optimizers import FINAL_STEP_MAX_PARAMS, newton_direction


# -- the penalty's scale and non-finite objectives --------------------------------
def check_penalty_scale(C_times_weight_sum, estimator_name):
    """Refuse a finite ``C * sum(sample_weight)`` whose inverse overflows float64.

    The objective is the public one divided by ``C * sum(sample_weight)``;
    where that product is below the smallest normal float64 (all-subnormal
    weights, say) the L2 strength is infinite and the fit would end in NaN.
    """
    if math.isfinite(C_times_weight_sum) and not (
        C_times_weight_sum >= torch.finfo(torch.float64).tiny
    ):
        raise ValueError(
            f"{estimator_name}: C * sum(sample_weight) = {C_times_weight_sum:.3g} is so "
            "small that the L2 strength 1 / (C * sum(sample_weight)) overflows float64 "
            "(every coefficient would be zero to float64 precision). Increase C or the "
            "sample weights: the objective is C * sum(sample_weight * loss) + "
            "||coef||^2 / 2, as LogisticRegression's."
        )


def not_finite_message(objective, head):
    """``head`` (a sentence saying the objective is not finite) and its cause, in one line.

    Names what overflows: the target (y) of a regression, the features, or
    neither, where the features are fine.
    """
    finfo = torch.finfo(objective.dtype)
    target_max = float(objective.target.abs().max()) if objective.target.numel() else 0.0
    dtype = str(objective.dtype).replace("torch.", "")
    # (Compared with square roots: a Python float's square raises on overflow.)
    largest = math.sqrt(finfo.max)
    if target_max > largest and objective.loss.activation.name == "identity":
        return (
            f"{head}: the target's scale (max |y| = {target_max:.3g}) makes the squared "
            f"error overflow {dtype}; the features are fine. Divide y by its scale and "
            "multiply the predictions back, e.g. with sklearn.compose."
            "TransformedTargetRegressor(regressor, transformer=MaxAbsScaler())."
        )
    if not objective.abs_max() <= largest:
        return (
            f"{head}: the features' scale (max |X| = {objective.abs_max():.3g}) overflows "
            f"{dtype}. Scale the features, e.g. with StandardScaler."
        )
    return (
        f"{head}, though X (max |X| = {objective.abs_max():.3g}) and the target are "
        f"within {dtype}'s range; check sample_weight and the penalty for extreme values."
    )


# -- after an unpenalized fit ----------------------------------------------------
def _unpenalized(objective):
    return objective.l2 == 0 and objective.l1 == 0


def column_abs_max(objective):
    """Largest absolute entry of each column of X, a (n_features,) tensor."""
    X = objective.X
    if objective.is_sparse:
        values = X.values().abs()
        out = torch.zeros(X.shape[1], dtype=X.dtype, device=X.device)
        return out.scatter_reduce(0, X.col_indices(), values, "amax")
    low, high = torch.aminmax(X, dim=0)
    return torch.maximum(-low, high)


def check_underflow(objective, estimator_name, stacklevel=3):
    """Warn where a column's square underflows: an unpenalized fit cannot see it.

    The curvature (Gram) of a column ``j``, ``sum_i s_i x_ij^2``, is at most
    ``max_i |x_ij|^2``; below the dtype's smallest normal number it is
    subnormal or zero, the gradient along that column is of the same order,
    and the optimizer stops at the intercept-only model with every test
    passed. Returns whether it warned.
    """
    if not _unpenalized(objective) or objective.distributed:
        return False
    scale = column_abs_max(objective)
    tiny = torch.finfo(objective.dtype).tiny
    under = (scale > 0) & (scale * scale < tiny)
    if not bool(under.any()):
        return False
    columns = torch.nonzero(under).squeeze(1).tolist()
    shown = ", ".join(str(j) for j in columns[:5]) + (", ..." if len(columns) > 5 else "")
    dtype = str(objective.dtype).replace("torch.", "")
    warnings.warn(
        f"{estimator_name}: {len(columns)} feature column(s) ({shown}) have entries so "
        f"small (largest {float(scale[columns].max()):.3g}) that their squares underflow "
        f"{dtype}: the fit cannot estimate their coefficients and they stay near zero. "
        "Scale the features, e.g. with StandardScaler.",
        ConvergenceWarning,
        stacklevel=stacklevel,
    )
    return True


def check_separation(
    objective: Any, theta: torch.Tensor, estimator_name: str, stacklevel: int = 3
) -> bool:
    """Warn where an unpenalized log-loss fit separates the classes.

    Every sample with positive weight on the right side of the fitted
    boundary, with a margin above rounding, is a certificate: scaling the
    coefficients up lowers the loss further, so the maximum-likelihood
    estimate does not exist and the optimizer stopped on a ray to infinity.
    Where only some samples are separated (quasi-complete separation), the
    test of :meth:`~sklearn_neuron._inference.results.InferenceResults._check_separation`
    is used (a Newton step still raises saturated margins), where one Newton
    step fits in memory. Returns whether it warned.
    """
    loss = objective.loss
    if (
        not _unpenalized(objective)
        or not loss.is_log_likelihood
        or objective.distributed
        or objective.firth  # finite under separation: the remedy
        or not has_margins(objective)
    ):
        return False
    raw = objective.raw(theta)
    margins = class_margins(objective, raw)
    positive = objective.weight > 0
    if not bool(positive.any()) or not bool(torch.isfinite(raw).all()):
        return False
    resolution = 1e3 * torch.finfo(raw.dtype).eps * max(float(raw.abs().max()), 1.0)
    separated = margins > resolution
    if bool(separated[positive].all()):
        kind, count = "perfectly separated", int(positive.sum())
    else:
        count = _quasi_separated(objective, theta, raw, margins, positive)
        if not count:
            return False
        kind = "quasi-completely separated"
    coef, _ = objective.unpack(theta)
    warnings.warn(
        f"{estimator_name}: the classes are {kind} by the fitted coefficients "
        f"({count} of {int(positive.sum())} samples on their class's side with a "
        "margin that grows with the coefficients), so the unpenalized "
        "maximum-likelihood estimate does not exist: the coefficients (largest "
        f"|coef| = {float(coef.abs().max()):.3g}) only reflect where the optimizer "
        "stopped. Use firth=True (with C=np.inf) for Firth's finite, bias-reduced "
        "estimate with valid inference, a finite C (e.g. C=1.0) for a finite, "
        "penalized solution, or drop or merge the separating feature(s).",
        SeparationWarning,
        stacklevel=stacklevel,
    )
    return True


def _quasi_separated(objective, theta, raw, margins, positive):
    """Samples a Newton step still pushes away (inference's separation test); 0 if none."""
    candidates = (margins > SATURATED_MARGIN) & positive
    if (
        not bool(candidates.any())
        or not objective.loss.twice_differentiable
        or objective.n_params > FINAL_STEP_MAX_PARAMS
        or not newton_fits_memory(objective)
    ):
        return 0
    _, gradient, _ = objective.value_gradient(theta)
    # (No raw: the Hessian pass then takes the rows by chunks where it can.)
    step = newton_direction(objective, objective.hessian(theta), gradient)
    return count_rising_margins(objective, raw, margins, candidates, step)
