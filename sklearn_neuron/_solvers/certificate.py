"""Bounds on a Newton step's outcome that need no evaluation of the objective.

On distributed data every evaluation is a pass over all of it. A converged
Newton fit ends with one more full step (see
:func:`~sklearn_neuron._solvers.optimizers._final_newton_step`), whose evaluation, only
to check that the step helped, is then a whole pass. For a loss whose third
derivative is bounded by its second, the gradient and the objective after a
step ``d`` are bounded by quantities known before it is taken: this module
computes those bounds, and accepts the step where they guarantee what the
evaluation would have checked.

The law used is pseudo-self-concordance (Bach, 2010): a pointwise loss
``l(z)`` of the raw outputs ``z`` is ``nu``-pseudo-self-concordant when, for
all ``z``, ``t`` and ``u``::

    |D^3 l(z)[t, t, u]| <= nu * ||u||_inf * t' D^2 l(z) t.

The Bernoulli log-likelihood of a sigmoid has ``nu = 1``
(``l''' = p (1 - p) (1 - 2p)``); the categorical one of a softmax has
``nu = 2`` (its third derivative is a third central moment of ``t`` under the
class probabilities, at most ``range(u) <= 2 ||u||_inf`` times their
variance, which is ``t' D^2 l t``); squared error with the identity has
``nu = 0`` (its Taylor expansion is exact). Along the step,
``phi(s) = t' D^2 l(z + s t) t`` grows at most as ``exp(nu ||t||_inf s)``,
and integrating Taylor's remainders gives, for each row ``i`` with raw change
``t_i = d @ x_i`` (``x_i`` with its intercept column)::

    |grad_k l(z + t) - grad_k l(z) - (D^2 l(z) t)_k| <= nu / 2 * exp(nu s) * phi_i(0)
    |l(z + t) - l(z) - grad l(z) t - phi_i(0) / 2| <= nu s exp(nu s) / 6 * phi_i(0)

with ``s >= ||t_i||_inf``. Summed with the (non-negative, normalised) sample
weights, the objective's gradient is off its quadratic model by at most
``nu / 2 * R * exp(nu s) * lambda2`` in every entry, where ``R`` bounds the
design's entries, ``s = L * ||d||_inf`` with ``L`` the largest L1 norm of a
row, and ``lambda2 = d' H d`` (the L2 penalty is quadratic: exact). These
two data constants are maxima over the rows, taken along a pass the fit
makes anyway.

References
----------
F. Bach (2010), "Self-concordant analysis for logistic regression",
Electronic Journal of Statistics 4, 384-414.
"""

import math
from dataclasses import dataclass

import torch

#: Rows per chunk when finding a block's row bounds: the chunk's absolute
#: values stay in cache, and one buffer serves every chunk (chunks below the
#: mmap threshold, each allocated anew, took twice as long on a dask worker).
_CHUNK_ROWS = 8192
#: Largest ``nu * s`` at which a step is certified: beyond it the step is not a
#: final, small one, and the bounds grow fast.
_MAX_EXPONENT = 1.0


@dataclass(frozen=True)
class StepCertificate:
    """What a certified Newton step is known to reach.

    Attributes
    ----------
    value : float
        The quadratic model's objective after the step (``f + g'd + d'Hd/2``);
        the true objective is within ``value_error`` of it.
    value_error : float
        Bound on ``|f(theta + d) - value|``.
    grad_max : float
        Bound on ``max|gradient|`` after the step.
    rounding : float
        The part of ``grad_max`` owed to rounding the step's point to the
        dtype: a gradient this small is at the coefficients' resolution.
    """

    value: float
    value_error: float
    grad_max: float
    rounding: float


def row_bounds(X, fit_intercept):
    """``(largest |entry|, largest row L1 norm)`` of the design ``[X, 1]`` (dense X).

    The intercept's column of ones is included where ``fit_intercept``; NaN
    propagates. Both are 0 for a design with no entries.
    """
    abs_max = l1_max = 0.0
    n, p = X.shape
    if n and p:
        # Each chunk's |X| and row sums go into buffers made once: no
        # allocation per chunk, which where glibc's mmap threshold is fixed
        # (dask's nanny fixes it) is an mmap page-faulted afresh each time.
        step = min(n, _CHUNK_ROWS)
        absolute = torch.empty((step, p), dtype=X.dtype, device=X.device)
        row_sums = torch.empty(step, dtype=X.dtype, device=X.device)
        for start in range(0, n, step):
            chunk = X[start : start + step]
            m = chunk.shape[0]
            torch.abs(chunk, out=absolute[:m])
            torch.sum(absolute[:m], dim=1, out=row_sums[:m])
            chunk_abs, chunk_l1 = float(absolute[:m].max()), float(row_sums[:m].max())
            if math.isnan(chunk_abs) or math.isnan(chunk_l1):
                return math.nan, math.nan
            abs_max, l1_max = max(abs_max, chunk_abs), max(l1_max, chunk_l1)
    if n and fit_intercept:
        abs_max, l1_max = max(abs_max, 1.0), l1_max + 1.0
    return abs_max, l1_max


def taylor_remainders(nu, abs_max, l1_max, direction, curvature):
    """Bounds on how far the gradient (entry-wise) and the objective after
    ``direction`` are from their quadratic model.

    ``curvature`` is ``direction' H direction`` for a Hessian ``H`` at least
    the data term's (the L2 penalty's part adds nothing to the remainders).
    Returns ``(gradient_bound, value_bound)``.
    """
    exponent = nu * l1_max * float(torch.linalg.vector_norm(direction, ord=float("inf")))
    growth = math.exp(exponent)
    return 0.5 * nu * abs_max * growth * curvature, exponent * growth * curvature / 6.0


def certify_newton_step(objective, theta, f, g, hessian, direction, row_bound):
    """A :class:`StepCertificate` of ``theta + direction``, or None where none holds.

    ``hessian`` is the exact Hessian at ``theta`` (penalty included), ``g``
    the gradient there, ``row_bound`` the pair of :func:`row_bounds` (or None).
    The gradient's bound holds at the point as stored: besides the linear
    model's residual ``g + H d`` (which carries the solve's rounding) and
    the Taylor remainder, it adds the gradient's change under the rounding
    of ``theta + d`` to the dtype (``eps * |H| (|theta| + |d|)``).
    None for a loss with no known pseudo-self-concordance constant, for a
    float32 objective (whose evaluated gradient carries rounding that no
    bound on exact arithmetic shows), and for a step too long to be certified.
    """
    nu = objective.loss.self_concordance
    if nu is None or row_bound is None or g.dtype != torch.float64:
        return None
    abs_max, l1_max = row_bound
    if not (math.isfinite(abs_max) and math.isfinite(l1_max)):
        return None
    Hd = hessian @ direction
    curvature = max(float(direction @ Hd), 0.0)
    step_norm = float(torch.linalg.vector_norm(direction, ord=float("inf")))
    if not nu * l1_max * step_norm <= _MAX_EXPONENT:
        return None
    grad_error, value_error = taylor_remainders(nu, abs_max, l1_max, direction, curvature)
    eps = torch.finfo(g.dtype).eps
    rounding = eps * float((hessian.abs() @ (theta.abs() + direction.abs())).max())
    residual = float(torch.linalg.vector_norm(g + Hd, ord=float("inf"))) + rounding
    value = float(f) + float(g @ direction) + 0.5 * curvature
    certificate = StepCertificate(value, value_error, residual + grad_error, rounding)
    if not all(map(math.isfinite, (certificate.value, value_error, certificate.grad_max))):
        return None
    return certificate
