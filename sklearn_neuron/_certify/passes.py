"""The passes over the data a certificate takes: in memory, in chunks, or over Dask blocks.

Each pass is a function of one block of rows whose results add up (sums) or take
the maximum across blocks, so that the same code runs on a cluster.
"""

import math
from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp
import torch

from .._dask.detect import is_dask_collection
from .._validation import class_weights

#: Rows per chunk in the leverage pass (its K products of rows x n_params stay
#: small) and in densifying sparse X.
_CHUNK_ROWS = 2048


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
