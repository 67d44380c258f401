"""The bounds of a certificate, from the gradient, the Hessian and the largest leverage.

Pure numerics on small matrices (``n_params`` square): the self-concordant gap
and distance bounds, their series near zero, the null space of the softmax, and
the subgradients of an L1 term (see :mod:`sklearn_neuron._certify.proof`).
"""

import math

import numpy as np
import torch

#: Coordinate-descent sweeps for the proximal Newton step of an L1 term.
_PROXIMAL_SWEEPS = 200


#: Below this ``x``, the gap bound's closed form cancels: its series is used.
_SERIES_BELOW = 1e-2


# -- the bounds ------------------------------------------------------------------
def _gap_factor(x):
    """``(x + (1 - x) log(1 - x)) / x^2``: the gap bound over ``lam^2``; inf at ``x >= 1``."""
    if not x < 1:
        return math.inf
    if x < _SERIES_BELOW:
        # sum_k x^(k-2) / (k (k-1)) from k = 2, its tail above x^3 bounded by a geometric series.
        return 0.5 + x / 6 + x * x / 12 + x**3 / (20 * (1 - x))
    return (x + (1 - x) * math.log1p(-x)) / (x * x)


def _psi_plus(r):
    """``(exp(r) - r - 1) / r^2``: a quadratic term's factor after a step of change ``r``."""
    if r < 1e-4:
        return 0.5 + r / 6 + r * r / 24 * math.exp(r)
    if r > 700:
        return math.inf
    return math.expm1(r) / (r * r) - 1 / r


def _null_space(K, q, fit_intercept, penalized):
    """Orthonormal directions along which the objective is constant: a softmax's
    common shift of the intercepts, and of each coefficient where no penalty holds it."""
    if K == 1:
        return torch.zeros(K * q, 0, dtype=torch.float64)
    columns = range(q) if not penalized else ([q - 1] if fit_intercept else [])
    vectors = []
    for j in columns:
        v = torch.zeros(K, q, dtype=torch.float64)
        v[:, j] = 1 / math.sqrt(K)
        vectors.append(v.reshape(-1))
    if not vectors:
        return torch.zeros(K * q, 0, dtype=torch.float64)
    return torch.stack(vectors, dim=1)


def _complement(null):
    """Orthonormal basis of the complement of ``null``'s columns."""
    P = null.shape[0]
    if null.shape[1] == 0:
        return torch.eye(P, dtype=torch.float64)
    eigenvalues, vectors = torch.linalg.eigh(torch.eye(P, dtype=torch.float64) - null @ null.T)
    return vectors[:, eigenvalues > 0.5]


def _min_norm_subgradient(grad, theta, penalized, l1):
    """The smooth gradient plus the L1 subgradient nearest zero."""
    if not l1:
        return grad.clone()
    sub = grad.clone()
    w, g = theta[penalized], grad[penalized]
    nonzero = w != 0
    sub_w = torch.where(
        nonzero, g + l1 * torch.sign(w), torch.sign(g) * torch.clamp(g.abs() - l1, min=0.0)
    )
    sub[penalized] = sub_w
    return sub


def _least_dual_subgradient(sub, grad, theta, penalized, l1, whitening):
    """The subgradient of least ``H^-1``-norm (``sub`` without an L1 term).

    Every bound holds with any subgradient; at a coefficient at zero the
    subgradient's entry may be anything in ``grad +- l1``, and the one that
    gives the smallest Newton decrement is found by a box-constrained least
    squares (any point it stops at is a subgradient, so the bounds stay proved).
    """
    zero = penalized & (theta == 0)
    if not l1 or not bool(zero.any()):
        return sub
    from scipy.optimize import minimize

    fixed = (whitening[:, ~zero] @ sub[~zero]).numpy()
    columns = whitening[:, zero].numpy()
    g = grad[zero].numpy()

    def squared_norm(u):
        residual = fixed + columns @ u
        return residual @ residual, 2 * columns.T @ residual

    result = minimize(
        squared_norm, sub[zero].numpy(), jac=True, method="L-BFGS-B",
        bounds=list(zip(g - l1, g + l1, strict=True)),
    )  # fmt: skip
    dual = sub.clone()
    dual[zero] = torch.as_tensor(np.clip(result.x, g - l1, g + l1))
    return dual


def _descent_direction(hessian, grad, theta, penalized, l1, basis, cholesky):
    """The step minimising the objective's quadratic model: Newton's ``-H^-1 g``, or
    with an L1 term (kept exact, kinks included) a proximal Newton step found by
    coordinate descent. Any step gives a proved lower bound; this one a good one."""
    if not l1:
        return -(basis @ torch.cholesky_solve((basis.T @ grad)[:, None], cholesky)[:, 0])
    H, g, w = hessian.numpy(), grad.numpy(), theta.numpy()
    pen = penalized.numpy()
    step = np.zeros_like(g)
    Hd = np.zeros_like(g)
    diagonal = np.diag(H)
    tol = 1e-12 * (1.0 + np.abs(w).max())
    for _ in range(_PROXIMAL_SWEEPS):
        largest = 0.0
        for j in np.flatnonzero(diagonal > 0):
            b = g[j] + Hd[j] - diagonal[j] * step[j]
            if pen[j]:
                z = w[j] - b / diagonal[j]
                new = np.sign(z) * max(abs(z) - l1 / diagonal[j], 0.0) - w[j]
            else:
                new = -b / diagonal[j]
            change = new - step[j]
            if change:
                Hd += change * H[:, j]
                step[j] = new
                largest = max(largest, abs(change))
        if largest <= tol:
            break
    return torch.as_tensor(step)


def _distance_bound(x, kappa, decrement, mu, newton, rounding_norm, l1):
    """Upper bound on ``||w - w*||``; inf at ``x >= 1``."""
    if not x < 1:
        return math.inf
    r = -math.log1p(-x)  # kappa times the bound on ||w - w*||_H
    coarse = (decrement if kappa == 0 else r / kappa) / math.sqrt(mu)
    if l1 or r == 0:
        return coarse
    # Between the fit and the optimum the Hessian is within [e^-r, e^r] of
    # H's: the averaged one is H (I + E), ||E|| <= spread.
    spread = max(math.expm1(r) / r - 1, 1 - (-math.expm1(-r)) / r)
    if not spread < 1:
        return coarse
    near = float(torch.linalg.vector_norm(newton)) + rounding_norm / mu
    return min(coarse, near + spread / (1 - spread) * decrement / math.sqrt(mu))


def _gap_lower(grad_smooth, hessian, theta, penalized, l1, direction, change, rounding):
    """A decrease some step along ``direction`` is proved to make: a lower bound on the gap."""
    slope = float(grad_smooth @ direction)
    curvature = max(float(direction @ hessian @ direction), 0.0)
    slack = float(rounding @ direction.abs())
    best = 0.0
    for t in np.geomspace(1.0, 2.0**-40, 81):
        step = t * direction
        growth = _psi_plus(t * change)
        if math.isinf(growth):
            continue
        model = t * slope + t * t * curvature * growth + t * slack
        if l1:
            w, dw = theta[penalized], step[penalized]
            model += l1 * float((w + dw).abs().sum() - w.abs().sum())
        best = max(best, -float(model))
    return best
