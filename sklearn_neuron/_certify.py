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

import math
import numbers
from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp
import torch

from ._dask.core import is_dask_collection
from ._validation import class_weights

#: Rows per chunk in the leverage pass (its K products of rows x n_params stay
#: small) and in densifying sparse X.
_CHUNK_ROWS = 2048
#: Coordinate-descent sweeps for the proximal Newton step of an L1 term.
_PROXIMAL_SWEEPS = 200
#: Below this ``x``, the gap bound's closed form cancels: its series is used.
_SERIES_BELOW = 1e-2
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


# -- the model -------------------------------------------------------------------
@dataclass
class _Linear:
    """A model's parameters as a ``(K, q)`` tensor, ``q = p + fit_intercept``."""

    theta: torch.Tensor  # rows (w_k, b_k); K = 1 for a sigmoid
    fit_intercept: bool
    classes: object  # labels of the outputs, or None: np.unique(y)
    C: object
    l1_ratio: object
    class_weight: object
    name: str
    n_alpha: object = None  # SGDClassifier's alpha: C = 1 / (alpha n)
    balanced_by_counts: bool = False  # SGDClassifier's "balanced" ignores sample_weight


def _as_tensor(value):
    if isinstance(value, torch.Tensor):
        return value.detach().to(torch.float64)
    return torch.as_tensor(np.asarray(value, dtype=np.float64))


def _from_coefficients(coef, intercept, name, **kwargs):
    coef = _as_tensor(coef)
    if coef.ndim == 1:
        coef = coef[None, :]
    if coef.ndim != 2:
        raise ValueError(
            f"coef must be of shape (n_features,), (1, n_features) or (n_classes, "
            f"n_features); got shape {tuple(coef.shape)}."
        )
    fit_intercept = intercept is not None
    if fit_intercept:
        intercept = _as_tensor(intercept).reshape(-1).to(coef.device)
        if intercept.numel() == 1 and coef.shape[0] > 1:
            raise ValueError(
                f"intercept has 1 entry for {coef.shape[0]} rows of coef; pass one "
                "intercept per row (class)."
            )
        intercept = intercept.expand(coef.shape[0]) if intercept.numel() == 1 else intercept
        if intercept.numel() != coef.shape[0]:
            raise ValueError(
                f"intercept has {intercept.numel()} entries for {coef.shape[0]} rows of "
                "coef; pass one per row (class)."
            )
        theta = torch.cat([coef, intercept[:, None]], dim=1)
    else:
        theta = coef
    if not bool(torch.isfinite(theta).all()):
        raise ValueError(
            f"The {name}'s coefficients hold NaN or inf: there is no fit to certify; "
            "refit the model."
        )
    return _Linear(theta, fit_intercept, name=name, **kwargs)


def _linear_module(module):
    from ._skorch import _check_forward_is_linear, _linear_layer

    linear = _linear_layer(module)
    _check_forward_is_linear(module, linear)
    return linear


def _resolve_model(model, C, l1_ratio):
    """The model's parameters, classes and objective, as a :class:`_Linear`."""
    name = type(model).__name__
    if isinstance(model, tuple):
        if len(model) != 2:
            raise ValueError(
                f"A model given as a tuple must be (coef, intercept); got {len(model)} items."
            )
        return _from_coefficients(
            *model, "(coef, intercept)", classes=None, C=C, l1_ratio=l1_ratio, class_weight=None
        )
    if isinstance(model, torch.nn.Module):
        linear = _linear_module(model)
        bias = None if linear.bias is None else linear.bias
        return _from_coefficients(
            linear.weight,
            bias,
            f"torch {name}",
            classes=None,
            C=C,
            l1_ratio=l1_ratio,
            class_weight=None,
        )
    if not hasattr(model, "coef_") and isinstance(getattr(model, "module_", None), torch.nn.Module):
        linear = _linear_module(model.module_)
        bias = None if linear.bias is None else linear.bias
        classes = getattr(model, "classes_", None)
        return _from_coefficients(
            linear.weight,
            bias,
            f"skorch {name}",
            classes=classes,
            C=C,
            l1_ratio=l1_ratio,
            class_weight=None,
        )
    if not (hasattr(model, "coef_") and hasattr(model, "classes_")):
        raise TypeError(
            f"certify takes a fitted linear classifier (NeuronClassifier, "
            f"LogisticRegression, SGDClassifier, a skorch net or torch module of one "
            f"linear layer) or a (coef, intercept) tuple; got a {name} with no coef_ "
            "and classes_ (is it fitted?)."
        )
    loss = getattr(model, "loss", "log_loss")
    if name == "SGDClassifier" or hasattr(model, "alpha") and not hasattr(model, "C"):
        return _resolve_sgd(model, C, l1_ratio, name)
    if loss != "log_loss":
        raise ValueError(
            f"{name} has loss={loss!r}: certify checks the log loss's objective, which "
            "only a model trained on loss='log_loss' minimises."
        )
    penalty = getattr(model, "penalty", "deprecated")
    if hasattr(model, "C_"):  # a CV estimator: the C (and l1_ratio) it chose
        model_C = float(np.mean(model.C_))
        ratios = np.ravel(getattr(model, "l1_ratio_", 0.0)).tolist()
        model_l1_ratio = float(np.mean([r or 0.0 for r in ratios]))
    else:
        model_C, model_l1_ratio = model.C, getattr(model, "l1_ratio", 0.0)
    if penalty is None or penalty == "none":
        model_C = np.inf
    elif penalty == "l1":
        model_l1_ratio = 1.0
    elif penalty == "l2":
        model_l1_ratio = 0.0
    intercept = model.intercept_ if model.fit_intercept else None
    return _from_coefficients(
        model.coef_,
        intercept,
        name,
        classes=model.classes_,
        C=model_C if C is None else C,
        l1_ratio=(model_l1_ratio or 0.0) if l1_ratio is None else l1_ratio,
        class_weight=getattr(model, "class_weight", None),
    )


def _resolve_sgd(model, C, l1_ratio, name):
    if model.loss != "log_loss":
        raise ValueError(
            f"{name} has loss={model.loss!r}: certify checks the log loss's objective; "
            "fit SGDClassifier(loss='log_loss')."
        )
    if len(model.classes_) > 2:
        raise ValueError(
            f"{name} with {len(model.classes_)} classes is one-vs-rest, not multinomial "
            "logistic regression: certify each binary problem, "
            "certify((model.coef_[k], model.intercept_[k]), X, y == model.classes_[k], "
            "C=1 / (model.alpha * n_samples))."
        )
    penalty = model.penalty
    model_l1_ratio = {"l2": 0.0, "l1": 1.0, "elasticnet": model.l1_ratio, None: 0.0}[penalty]
    unpenalized = penalty is None or model.alpha == 0
    intercept = model.intercept_ if model.fit_intercept else None
    return _from_coefficients(
        model.coef_,
        intercept,
        name,
        classes=model.classes_,
        C=(np.inf if unpenalized else None) if C is None else C,
        l1_ratio=model_l1_ratio if l1_ratio is None else l1_ratio,
        class_weight=model.class_weight,
        n_alpha=None if unpenalized or C is not None else model.alpha,
        balanced_by_counts=True,
    )


# -- the data --------------------------------------------------------------------
def _device_of(X, linear):
    if isinstance(X, torch.Tensor):
        return X.device
    return linear.theta.device if not is_dask_collection(X) else torch.device("cpu")


def _to_numpy(value):
    if isinstance(value, torch.Tensor):
        return value.detach().cpu().numpy()
    return np.asarray(value)


def _label_index(y, classes):
    """Index of each label of ``y`` in ``classes`` (sorted), or a ValueError."""
    y = _to_numpy(y).reshape(-1)
    index = np.searchsorted(classes, y)
    index = np.clip(index, 0, len(classes) - 1)
    unknown = classes[index] != y
    if unknown.any():
        raise ValueError(
            f"y holds labels {np.unique(y[unknown])[:5].tolist()} that are not among the "
            f"model's classes {list(classes)}; certify the model on its own training data."
        )
    return index


def _dense_rows(X, device):
    """``X`` as a float64 tensor on ``device`` (sparse X densified)."""
    if sp.issparse(X):
        X = X.toarray()
    if isinstance(X, torch.Tensor):
        X = X.to_dense() if X.is_sparse else X
        return X.detach().to(device=device, dtype=torch.float64)
    return torch.as_tensor(np.asarray(X, dtype=np.float64), device=device)


def _design(X, fit_intercept):
    if fit_intercept:
        return torch.cat([X, torch.ones(X.shape[0], 1, dtype=X.dtype, device=X.device)], 1)
    return X


class _Data:
    """The rows as blocks (one in memory; a dask array's chunks), each reduced where it lies."""

    def __init__(self, X, y, sample_weight, classes, class_weight, device, by_counts=False):
        self.dask = is_dask_collection(X) or is_dask_collection(y)
        self.device = device
        self.classes = classes
        if self.dask:
            import dask.array as da

            X = da.asarray(X)
            if X.ndim != 2:
                raise ValueError(f"X must be 2-d; got a dask array of {X.ndim} dimensions.")
            X = X.rechunk({1: -1})
            chunks = X.chunks[0]
            if any(math.isnan(c) for c in chunks):
                X.compute_chunk_sizes()
                chunks = X.chunks[0]
            y = da.asarray(y).rechunk({0: chunks})
            weight = (
                da.ones(X.shape[0], chunks=(chunks,))
                if sample_weight is None
                else da.asarray(sample_weight, dtype=np.float64).rechunk({0: chunks})
            )
            self.blocks = list(
                zip(X.to_delayed().ravel(), y.to_delayed(), weight.to_delayed(), strict=True)
            )
            self.n_samples = int(sum(chunks))
        else:
            n = X.shape[0]
            weight = (
                np.ones(n) if sample_weight is None else _to_numpy(sample_weight).astype(np.float64)
            )
            if weight.shape != (n,):
                raise ValueError(
                    f"sample_weight has shape {weight.shape}; it needs one weight per row of "
                    f"X ({n})."
                )
            # Sparse rows are densified a chunk at a time, never all at once.
            step = _CHUNK_ROWS if sp.issparse(X) else max(n, 1)
            X = X.tocsr() if sp.issparse(X) else X
            y = _to_numpy(y).reshape(-1)
            if y.shape != (n,):
                raise ValueError(f"y has {y.size} labels for the {n} rows of X; pass one a row.")
            self.blocks = [
                (X[start : start + step], y[start : start + step], weight[start : start + step])
                for start in range(0, max(n, 1), step)
            ]
            self.n_samples = n
        self.class_weight = None
        if class_weight is not None:
            counts, weight_sums = self.reduce(_class_counts, len(classes))
            weight_sums = counts if by_counts else weight_sums
            self.class_weight = np.asarray(
                class_weights(class_weight, np.asarray(classes), counts, weight_sums),
                dtype=np.float64,
            )

    def reduce(self, function, *args):
        """``function(X, y_index, weight, *args)`` of each block, summed (tuples entrywise)."""
        context = (self.classes, self.class_weight, self.device, function, args)
        if self.dask:
            import dask

            tasks = [dask.delayed(_run_block)(*block, *context) for block in self.blocks]
            parts = dask.compute(*tasks)
        else:
            parts = [_run_block(*block, *context) for block in self.blocks]
        return _combine(parts)


def _run_block(X, y, weight, classes, class_weight, device, function, args):
    """One block's part of a reduction: labels to indices, class weights into the weights."""
    y_index = _label_index(y, classes)
    weight = _to_numpy(weight).astype(np.float64).reshape(-1)
    if function is _class_counts:
        return function(None, y_index, weight, *args)
    if class_weight is not None:
        weight = weight * class_weight[y_index]
    X = _dense_rows(X, device)
    y_index = torch.as_tensor(y_index, device=device)
    weight = torch.as_tensor(weight, device=device)
    return function(X, y_index, weight, *args)


def _combine(parts):
    first = parts[0]
    if isinstance(first, tuple):
        return tuple(_combine([part[j] for part in parts]) for j in range(len(first)))
    if isinstance(first, dict):
        return {key: _combine([part[key] for part in parts]) for key in first}
    if isinstance(first, _Max):
        return _Max(max(part.value for part in parts))
    total = first
    for part in parts[1:]:
        total = total + (part.to(total.device) if isinstance(part, torch.Tensor) else part)
    return total


@dataclass
class _Max:
    value: float


def _class_counts(X, y_index, weight, n_classes):
    counts = np.bincount(y_index, minlength=n_classes).astype(np.float64)
    return counts, np.bincount(y_index, weights=weight, minlength=n_classes)


# -- the passes ----------------------------------------------------------------------
def _curvature_pass(X, y_index, weight, theta, fit_intercept):
    """Sums of ``s_i loss_i``, gradient, Hessian and |gradient terms| on one block."""
    theta = theta.to(X.device)
    K, q = theta.shape
    Xt = _design(X, fit_intercept)
    if K == 1:
        z = Xt @ theta[0]
        target = y_index.to(z.dtype)
        # Not softplus: above its threshold (20) it returns z, off by up to 2e-9 a row.
        value = torch.sum(weight * (torch.logaddexp(torch.zeros_like(z), z) - target * z))
        proba = torch.sigmoid(z)
        residual = weight * (proba - target)
        grad = Xt.T @ residual
        abs_terms = Xt.abs().T @ (weight * (proba + target))
        curvature = weight * proba * (1 - proba)
        hessian = Xt.T @ (curvature[:, None] * Xt)
    else:
        Z = Xt @ theta.T
        log_norm = torch.logsumexp(Z, dim=1)
        value = torch.sum(weight * (log_norm - Z.gather(1, y_index[:, None])[:, 0]))
        proba = torch.softmax(Z, dim=1)
        onehot = torch.nn.functional.one_hot(y_index, K).to(Z.dtype)
        grad = ((weight[:, None] * (proba - onehot)).T @ Xt).reshape(-1)
        abs_terms = ((weight[:, None] * (proba + onehot)).T @ Xt.abs()).reshape(-1)
        hessian = torch.empty(K * q, K * q, dtype=Z.dtype, device=Z.device)
        for k in range(K):
            for m in range(k, K):
                mix = -proba[:, k] * proba[:, m] + (proba[:, k] if k == m else 0.0)
                block = Xt.T @ ((weight * mix)[:, None] * Xt)
                hessian[k * q : (k + 1) * q, m * q : (m + 1) * q] = block
                hessian[m * q : (m + 1) * q, k * q : (k + 1) * q] = block.T
    return {
        "value": float(value),
        "grad": grad.cpu(),
        "abs_terms": abs_terms.cpu(),
        "hessian": hessian.cpu(),
        "weight": float(weight.sum()),
        "rows": X.shape[0],
    }


def _leverage_pass(X, y_index, weight, fit_intercept, whitened, direction):
    """Largest leverage (``max_i ||x_i||_{H^-1}``, of class differences for a
    softmax) and largest change ``r`` of a row's outputs along ``direction``, on one block.

    ``whitened`` is ``L^-1`` restricted as a list of ``(P', q)`` blocks, one per class.
    """
    leverage = change = 0.0
    K = len(whitened)
    blocks = [w.to(X.device) for w in whitened]
    direction = direction.to(X.device)
    for start in range(0, X.shape[0], _CHUNK_ROWS):
        Xt = _design(X[start : start + _CHUNK_ROWS], fit_intercept)
        outputs = Xt @ direction.T
        if K == 1:
            lev = torch.linalg.vector_norm(Xt @ blocks[0].T, dim=1)
            moved = outputs[:, 0].abs()
        else:
            images = [Xt @ block.T for block in blocks]
            lev = torch.zeros(Xt.shape[0], dtype=Xt.dtype, device=Xt.device)
            for k in range(K):
                for m in range(k + 1, K):
                    lev = torch.maximum(lev, torch.linalg.vector_norm(images[k] - images[m], dim=1))
            moved = outputs.max(dim=1).values - outputs.min(dim=1).values
        if lev.numel():
            leverage = max(leverage, float(lev.max()))
            change = max(change, float(moved.max()))
    return _Max(leverage), _Max(change)


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


def certify(model, X, y, *, sample_weight=None, C=None, l1_ratio=None, tol=DEFAULT_TOL):
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
