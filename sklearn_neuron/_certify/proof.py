"""A proof, without a refit, of how far a fitted linear classifier is from logistic regression.

:func:`certify` takes any fitted linear classifier (a NeuronClassifier, a
LogisticRegression, an SGDClassifier on the log loss, a skorch net or a torch
module of one linear layer, or bare coefficients) and its training data, and
bounds how far its coefficients are from the optimum of LogisticRegression's
objective (``w`` are the coefficients, ``b`` the unpenalized intercepts,
``a`` is ``l1_ratio``)::

    F(w, b) = C * sum_i s_i * loss_i + (1 - a) / 2 * ||w||^2 + a * ||w||_1

(``sum_i s_i * loss_i`` alone at ``C=np.inf``). It owns the two passes over
the data this takes (gradient and Hessian, then the largest leverage) and the
bounds drawn from them; :class:`CertificateResult` holds what is proved.

Every bound rests on convexity and on the pseudo-self-concordance of the
log-likelihood (Bach, 2010; :mod:`sklearn_neuron._solvers.certificate`): along a
step ``d`` the Hessian of the data term changes at most by the factors
``exp(+-r)`` with ``r = max_i |x_i' d|`` (binary) or ``max_i range_k(x_i' d_k)``
(softmax: the third moment of a categorical variable is at most the range of
``u`` times its variance). In the norm of the Hessian ``H`` at the fit,
``r <= kappa * ||d||_H`` with ``kappa`` the largest leverage
``max_i ||x_i||_{H^-1}`` (of ``x_i`` placed in class ``k`` minus class ``l``
for a softmax), so with the Newton decrement ``lam = ||g||_{H^-1}`` of a
subgradient ``g`` (the gradient without an L1 term; with one, the subgradient
of least ``H^-1``-norm) and ``x = kappa * lam``, all of ``F / C`` (finite at
``C=np.inf``; gaps are reported on ``F``'s scale), for ``x < 1``:

- ``F(w) - F* <= lam^2 * (x + (1 - x) log(1 - x)) / x^2`` (about ``lam^2 / 2``);
- ``||H^(1/2) (w - w*)|| <= -log(1 - x) / kappa``, and without an L1 term
  ``||w - w*|| <= ||H^-1 g|| + e / (1 - e) * lam / sqrt(mu)`` with
  ``e`` the largest relative change of the Hessian on the way and ``mu``
  its smallest eigenvalue;
- ``F(w) - F* >= F(w) - F(w + t d)`` for the Newton direction ``d``, bounded
  above by the same law (with the step's own ``r``): a decrease any step
  proves;
- ``||w - w*|| >= (F(w) - F*) / ||g||`` by convexity (``g`` the subgradient
  nearest zero), and without an L1 term ``||H^(1/2) (w - w*)|| >=
  log(1 + x) / kappa``.

At ``x >= 1`` (far from the optimum, or no curvature in some direction) the
upper bounds are ``inf``: nothing is proved. Directions along which the
objective is constant — the softmax's common shift of the intercepts, and of
the coefficients where no penalty holds them — are quotiented out: distances
are to the nearest optimum, over coefficients and intercepts together. All
sums are in float64 on the data's device, and the gradient carries a bound on
its rounding.

References
----------
F. Bach (2010), "Self-concordant analysis for logistic regression",
Electronic Journal of Statistics 4, 384-414.
"""

from __future__ import annotations

import math
import numbers
from dataclasses import dataclass
from typing import Any

import numpy as np
import scipy.sparse as sp
import torch
from numpy.typing import ArrayLike

from .._dask.detect import is_dask_collection
from .bounds import (
    _complement,
    _descent_direction,
    _distance_bound,
    _gap_factor,
    _gap_lower,
    _least_dual_subgradient,
    _min_norm_subgradient,
    _null_space,
)
from .models import _resolve_model
from .passes import _curvature_pass, _Data, _device_of, _leverage_pass, _to_numpy

#: Distance under which a fit is logistic regression, unless ``tol`` is given.
DEFAULT_TOL = 1e-4


@dataclass(frozen=True)
class CertificateResult:
    """What :func:`certify` proves about a model's coefficients.

    Attributes
    ----------
    objective : float
        LogisticRegression's objective ``F`` at the model's coefficients
        (``sum_i s_i * loss_i`` at ``C=np.inf``).
    objective_gap_bounds : tuple of float
        ``(lower, upper)`` with ``lower <= F(w) - F* <= upper``; ``upper`` is
        ``inf`` where the bounds do not reach (far from the optimum).
    coef_distance_bound : float
        Upper bound on the Euclidean distance from the model's parameters
        (coefficients and intercepts together) to the nearest optimum.
    coef_distance_lower : float
        Lower bound on that distance: the model is at least this far from
        logistic regression.
    C, l1_ratio : float
        The objective's parameters.
    newton_decrement : float
        ``||g||_{H^-1}`` of the minimum-norm subgradient (objective divided by
        ``C``), with its rounding bound.
    leverage : float
        ``kappa``, the largest leverage: the bounds hold while
        ``kappa * newton_decrement < 1``.
    tol : float
        The distance under which the verdict calls the model logistic regression.
    n_classes : int
    model : str
        What was certified.
    """

    objective: float
    objective_gap_bounds: tuple
    coef_distance_bound: float
    coef_distance_lower: float
    C: float
    l1_ratio: float
    newton_decrement: float
    leverage: float
    tol: float
    n_classes: int
    model: str

    @property
    def is_logistic_regression(self):
        """Whether the distance to the optimum is proved at most ``tol``."""
        return self.coef_distance_bound <= self.tol

    @property
    def verdict(self):
        """One sentence: is the model logistic regression at this C, and to within what."""
        at = f"logistic regression at C={_number(self.C)}" + (
            f", l1_ratio={_number(self.l1_ratio)}" if self.l1_ratio else ""
        )
        within, least = self.coef_distance_bound, self.coef_distance_lower
        if within <= self.tol:
            return f"{self.model} is {at} to within {within:.2g} in coefficients (proved)."
        if least > self.tol:
            return (
                f"{self.model} is not {at}: at least {least:.2g} from it in coefficients (proved)."
            )
        if math.isinf(within):
            return (
                f"{self.model} is not proved to be {at}: too far from its optimum for the "
                f"bounds to reach (leverage x Newton decrement = "
                f"{self.leverage * self.newton_decrement:.2g} >= 1); at least {least:.2g} "
                "from it in coefficients."
            )
        return (
            f"{self.model} is not proved to be {at} to within tol={self.tol:.2g}: between "
            f"{least:.2g} and {within:.2g} from it in coefficients."
        )

    def __repr__(self):
        lower, upper = self.objective_gap_bounds
        return (
            f"CertificateResult({self.verdict}\n"
            f"  objective F(w) = {self.objective:.10g}\n"
            f"  {lower:.3g} <= F(w) - F* <= {upper:.3g}\n"
            f"  {self.coef_distance_lower:.3g} <= ||w - w*|| <= {self.coef_distance_bound:.3g}\n"
            f"  Newton decrement {self.newton_decrement:.3g}, leverage {self.leverage:.3g})"
        )


def _number(value):
    return "inf" if math.isinf(value) else f"{value:.6g}"


def certify(
    model: Any,
    X: ArrayLike,
    y: ArrayLike,
    *,
    sample_weight: ArrayLike | None = None,
    C: float | None = None,
    l1_ratio: float | None = None,
    tol: float = DEFAULT_TOL,
) -> CertificateResult:
    """Prove how far a fitted linear classifier is from logistic regression.

    From one evaluation of the gradient and the Hessian of LogisticRegression's
    objective at the model's coefficients (and one more pass for the largest
    leverage), with no refit, bounds the objective gap ``F(w) - F*`` from
    both sides and the distance from the coefficients to the optimum's, where::

        F(w, b) = C * sum_i s_i * loss_i + (1 - l1_ratio) / 2 * ||w||^2
                  + l1_ratio * ||w||_1

    with the intercepts ``b`` unpenalized, ``s_i`` the sample weight times the
    model's class weight, and ``loss_i`` the Bernoulli (one output, sigmoid)
    or categorical (K outputs, softmax) negative log-likelihood. The bounds are
    proved from the pseudo-self-concordance of the log-likelihood (Bach,
    2010): see the module's docstring.

    Parameters
    ----------
    model : estimator, torch module or tuple
        A fitted :class:`~sklearn_neuron.NeuronClassifier`,
        :class:`~sklearn.linear_model.LogisticRegression`,
        :class:`~sklearn.linear_model.SGDClassifier` (``loss="log_loss"``,
        binary: its objective ``mean_i s_i loss_i + alpha R(w)`` is ``F``
        divided by ``C n`` with ``C = 1 / (alpha n)``), a skorch net or a
        :class:`torch.nn.Module` made of one :class:`torch.nn.Linear` (its
        output the logits: one for a sigmoid, K for a softmax), or a tuple
        ``(coef, intercept)`` with ``coef`` of shape (n_features,),
        (1, n_features) or (K, n_features) and ``intercept`` None for none.
    X : {array-like, sparse matrix, torch.Tensor, dask array} of shape (n_samples, n_features)
        The model's training data. A torch tensor is used on its device; a
        dask array is reduced chunk by chunk where it lies.
    y : array-like of shape (n_samples,)
        Labels: among the model's ``classes_``, or, for a model without
        them, its ``np.unique(y)`` (one per output; two for one output).
    sample_weight : array-like of shape (n_samples,), default=None
        Weights ``s_i``; the model's ``class_weight`` multiplies them.
    C : float, default=None
        Inverse regularization strength; by default the model's (required for
        a torch module, a skorch net and bare coefficients). ``np.inf`` is the
        unpenalized log-likelihood.
    l1_ratio : float, default=None
        Elastic-net mixing; by default the model's, else 0. The L1 term enters
        through a subgradient: the one of least ``H^-1``-norm for the upper
        bounds, the one nearest zero for the lower ones.
    tol : float, default=1e-4
        The verdict calls the model logistic regression when its distance to
        the optimum is proved at most ``tol``.

    Returns
    -------
    CertificateResult
        ``objective_gap_bounds``, ``coef_distance_bound``,
        ``coef_distance_lower``, ``objective`` and a ``verdict`` in words.

    Notes
    -----
    Far from the optimum (leverage times Newton decrement at least 1, or a
    direction with no curvature: collinear features at ``C=np.inf``, a
    softmax with only an L1 term) the upper bounds are ``inf`` and the
    verdict says nothing is proved. Near it the gap's upper bound tends to
    ``lam^2 / 2``, the quadratic model's gap, so it is tight.

    References
    ----------
    F. Bach (2010), "Self-concordant analysis for logistic regression",
    Electronic Journal of Statistics 4, 384-414.

    Examples
    --------
    >>> from sklearn.datasets import load_iris
    >>> from sklearn.linear_model import LogisticRegression
    >>> from sklearn_neuron import certify
    >>> X, y = load_iris(return_X_y=True)
    >>> model = LogisticRegression(tol=1e-10, max_iter=1000).fit(X, y)
    >>> certificate = certify(model, X, y)
    >>> certificate.is_logistic_regression
    True
    """
    linear = _resolve_model(model, C, l1_ratio)
    if not (isinstance(X, torch.Tensor) or sp.issparse(X) or is_dask_collection(X)):
        X = np.asarray(X)
    device = _device_of(X, linear)
    theta = linear.theta.to(device)
    K, q = theta.shape
    classes = _classes(linear, y, K)
    data = _Data(
        X, y, sample_weight, classes, linear.class_weight, device, linear.balanced_by_counts
    )
    n_features = X.shape[1]
    if n_features != q - linear.fit_intercept:
        raise ValueError(
            f"X has {n_features} features but the model has {q - linear.fit_intercept} "
            "coefficients per output."
        )
    C, ratio = _objective_parameters(linear, data.n_samples)
    l2, l1 = (1 - ratio) / C, ratio / C  # the objective divided by C

    stats = data.reduce(_curvature_pass, theta, linear.fit_intercept)
    theta = theta.cpu().reshape(-1)
    penalized = torch.ones(K, q, dtype=torch.bool)
    if linear.fit_intercept:
        penalized[:, -1] = False
    penalized = penalized.reshape(-1)
    grad_smooth = stats["grad"] + l2 * theta * penalized
    hessian = stats["hessian"] + torch.diag(l2 * penalized.to(torch.float64))
    value = stats["value"] + 0.5 * l2 * float(theta[penalized] @ theta[penalized])
    value += l1 * float(theta[penalized].abs().sum())
    sub = _min_norm_subgradient(grad_smooth, theta, penalized, l1)
    eps = torch.finfo(torch.float64).eps
    rounding = (
        eps
        * (4 + math.log2(stats["rows"] + 1))
        * (stats["abs_terms"] + l2 * theta.abs() * penalized + l1 * penalized)
    )
    rounding_norm = float(torch.linalg.vector_norm(rounding))

    basis = _complement(_null_space(K, q, linear.fit_intercept, l2 > 0 or l1 > 0))
    reduced = basis.T @ hessian @ basis
    reduced = 0.5 * (reduced + reduced.T)
    g_red = basis.T @ sub
    scale = C if math.isfinite(C) else 1.0
    objective = value * scale
    if not (math.isfinite(value) and bool(torch.isfinite(reduced).all())):
        raise ValueError(
            "The objective is not finite at the model's coefficients: X holds NaN or "
            "inf, or the coefficients overflow it; check the data."
        )
    eigenvalues = torch.linalg.eigvalsh(reduced) if reduced.numel() else torch.ones(1)
    mu, top = float(eigenvalues[0]), float(eigenvalues[-1])
    cholesky, info = torch.linalg.cholesky_ex(reduced)
    # Curvature below the Hessian's rounding is none: no direction is proved.
    if int(info) != 0 or not mu > eps * reduced.shape[0] * top:
        return _vacuous(linear, objective, C, ratio, tol, K)
    whitening = torch.linalg.solve_triangular(cholesky, basis.T, upper=False)  # L^-1 B^T
    dual = _least_dual_subgradient(sub, grad_smooth, theta, penalized, l1, whitening)
    decrement_exact = float(torch.linalg.vector_norm(whitening @ dual))
    decrement = decrement_exact + rounding_norm / math.sqrt(mu)
    newton = basis @ torch.cholesky_solve(g_red[:, None], cholesky)[:, 0]  # H^-1 g
    direction = _descent_direction(hessian, grad_smooth, theta, penalized, l1, basis, cholesky)
    whitened = [whitening.reshape(-1, K, q)[:, k, :] for k in range(K)]
    leverage, change = data.reduce(
        _leverage_pass, linear.fit_intercept, whitened, direction.reshape(K, q)
    )
    kappa, change = leverage.value, change.value
    x = kappa * decrement

    upper = decrement**2 * _gap_factor(x)
    distance = _distance_bound(x, kappa, decrement, mu, newton, rounding_norm, l1)
    lower = _gap_lower(grad_smooth, hessian, theta, penalized, l1, direction, change, rounding)
    lower = min(lower, upper)
    least = lower / (float(torch.linalg.vector_norm(sub)) + rounding_norm) if lower > 0 else 0.0
    if not l1:
        decrement_low = max(decrement_exact - rounding_norm / math.sqrt(mu), 0.0)
        a = decrement_low if kappa == 0 else math.log1p(kappa * decrement_low) / kappa
        least = max(least, a / math.sqrt(top))
    least = min(least, distance)
    return CertificateResult(
        objective=objective,
        objective_gap_bounds=(lower * scale, upper * scale),
        coef_distance_bound=distance,
        coef_distance_lower=least,
        C=float(C),
        l1_ratio=float(ratio),
        newton_decrement=decrement,
        leverage=kappa,
        tol=tol,
        n_classes=len(classes),
        model=linear.name,
    )


def _classes(linear, y, K):
    if linear.classes is not None:
        classes = np.asarray(linear.classes)
    elif is_dask_collection(y):
        import dask.array as da

        classes = np.asarray(da.unique(da.asarray(y)).compute())
    else:
        classes = np.unique(_to_numpy(y))
    expected = 2 if K == 1 else K
    if classes.size != expected:
        raise ValueError(
            f"The model has {K} output(s), so {expected} classes, but y has "
            f"{classes.size} ({classes[:10].tolist()}); pass the model's training labels."
        )
    return classes


def _objective_parameters(linear, n_samples):
    C, ratio = linear.C, linear.l1_ratio
    if C is None and linear.n_alpha is not None:
        C = 1.0 / (linear.n_alpha * n_samples)
    if C is None:
        raise ValueError(
            f"A {linear.name} carries no C: pass C=... (LogisticRegression's inverse "
            "regularization strength; C=np.inf for no penalty)."
        )
    ratio = 0.0 if ratio is None else ratio
    if not (isinstance(C, numbers.Real) and C > 0):
        raise ValueError(f"C must be a positive number or np.inf; got {C!r}.")
    if not (isinstance(ratio, numbers.Real) and 0 <= ratio <= 1):
        raise ValueError(f"l1_ratio must be in [0, 1]; got {ratio!r}.")
    return float(C), float(ratio)


def _vacuous(linear, objective, C, ratio, tol, K):
    n_classes = 2 if K == 1 else K
    return CertificateResult(
        objective, (0.0, math.inf), math.inf, 0.0, float(C), float(ratio),
        math.inf, math.inf, tol, n_classes, linear.name,
    )  # fmt: skip
