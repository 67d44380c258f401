"""The Tweedie family's density, which has no closed form.

:class:`~sklearn_neuron._loss.likelihood.Tweedie` (and the Gamma) evaluate their
log-likelihood with :func:`tweedie_loglike`, statsmodels' ``Tweedie(eql=False)``:
the compound Poisson-Gamma series of Dunn and Smyth for powers between 1 and 2,
the Poisson and Gamma at the ends, refused outside.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike
from scipy import special

#: Powers of the Tweedie variance whose log-likelihood is evaluated, as in
#: statsmodels' Tweedie family (NaN outside).
TWEEDIE_LOGLIKE_POWERS = (1.0, 2.0)


def tweedie_loglike(y: ArrayLike, mu: ArrayLike, power: float, scale: float) -> np.ndarray:
    """Per-observation log-likelihood of the Tweedie family, 1 <= power <= 2.

    statsmodels' ``Tweedie(var_power=power, eql=False).loglike_obs``: for
    1 < p < 2 the compound Poisson-Gamma log-density (Dunn and Smyth, 2005)::

        (y mu^(1-p) / (1-p) - mu^(2-p) / (2-p)) / phi + log c(y, phi)

    with ``c(0, phi) = 1`` and, for y > 0, ``c(y, phi) = W(a, 0, x) / y``,
    where ``W`` is Wright's generalized Bessel function,
    ``a = (2-p) / (p-1)`` and ``x = ((p-1) phi / y)^(-a) / ((2-p) phi)``.
    p = 2 is the Gamma log-density of shape ``1 / phi``; p = 1 is
    statsmodels' convention, the Poisson log-likelihood divided by ``phi``
    (a quasi-likelihood, not the density of ``phi`` times a Poisson count).

    Parameters
    ----------
    y : ndarray of shape (n_samples,)
        Non-negative targets (positive for p = 2).
    mu : ndarray of shape (n_samples,)
        Positive means.
    power : float
        Power p of the variance function, ``1 <= p <= 2``.
    scale : float
        The dispersion ``phi > 0``.

    Returns
    -------
    ndarray of shape (n_samples,)
        The log-likelihood of each observation, in float64.

    Raises
    ------
    ValueError
        If ``power`` is outside [1, 2], or if the log-likelihood of some
        observation is not finite (Wright's function under- or overflows,
        which happens for powers very close to 1 with small ``y / phi``).

    References
    ----------
    Dunn, P. K. and Smyth, G. K. (2005). Series evaluation of Tweedie
    exponential dispersion model densities. Statistics and Computing, 15,
    267-280.
    """
    p = float(power)
    low, high = TWEEDIE_LOGLIKE_POWERS
    if not low <= p <= high:
        raise ValueError(
            f"The Tweedie log-likelihood is evaluated for {low:g} <= power <= "
            f"{high:g}, got power={power!r}."
        )
    y = np.asarray(y, dtype=np.float64)
    mu = np.asarray(mu, dtype=np.float64)
    with np.errstate(all="ignore"):
        if p == 1.0:
            ll = (special.xlogy(y, mu) - mu - special.gammaln(y + 1.0)) / scale
        elif p == 2.0:
            ratio = y / (mu * scale)
            ll = np.log(ratio) / scale - ratio - special.gammaln(1.0 / scale) - np.log(y)
        else:
            ll = (y * mu ** (1.0 - p) / (1.0 - p) - mu ** (2.0 - p) / (2.0 - p)) / scale
            positive = y > 0
            yp = y[positive]
            a = (2.0 - p) / (p - 1.0)
            x = ((p - 1.0) * scale / yp) ** (-a) / ((2.0 - p) * scale)
            ll[positive] += _log_wright_bessel(a, x) - np.log(yp)
    n_bad = int(np.count_nonzero(~np.isfinite(ll)))
    if n_bad:
        raise ValueError(
            f"The Tweedie log-likelihood (power={p:g}, scale={scale:.6g}) is not "
            f"finite for {n_bad} of {ll.size} observations: Wright's generalized "
            "Bessel function in its density under- or overflows there (powers "
            "very close to 1 with targets small relative to the scale)."
        )
    return ll


def _log_wright_bessel(a: float, x: np.ndarray) -> np.ndarray:
    """``log W(a, 0, x)``; scipy < 1.14 has no log_wright_bessel (wider overflow)."""
    if hasattr(special, "log_wright_bessel"):
        return special.log_wright_bessel(a, 0.0, x)
    return np.log(special.wright_bessel(a, 0.0, x))  # pragma: no cover
