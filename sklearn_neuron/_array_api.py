"""torch tensors in, torch tensors out: the estimators' array-API support.

The estimators compute in torch whatever they are given, so a torch tensor
needs no conversion beyond a view: a dense CPU tensor becomes a numpy array
sharing its memory (``Tensor.numpy()``), a tensor that requires grad is
detached first (nothing is differentiated through a fit), a sparse tensor
becomes a scipy CSR matrix, and a tensor on another device is copied to the
host for validation. Outputs computed for a tensor input are returned as
tensors on that tensor's device, in the dtype the estimator computes in
(float32 stays float32), sharing memory on the CPU.

Under ``sklearn.config_context(array_api_dispatch=True)`` a fit on tensors
also stores its fitted arrays (``coef_``, ``intercept_``, curves ...) as
tensors on the input's device, as scikit-learn's array-API estimators do
(``classes_`` stays numpy, which also holds string labels). Without
dispatch the fitted state stays numpy, which pickle and skops save.
"""

from __future__ import annotations

import functools
import inspect
import warnings

import numpy as np
import scipy.sparse
import torch
from numpy.typing import ArrayLike
from sklearn import get_config

_SPARSE_LAYOUTS = (torch.sparse_coo, torch.sparse_csr, torch.sparse_csc)


def to_numpy(value, name="X"):
    """``value`` as numpy (or scipy sparse) when it is a torch tensor; else unchanged.

    ``name`` is the argument it was passed as, for the error on a tensor
    that holds no data (torch's "meta" device).
    """
    if not isinstance(value, torch.Tensor):
        return value
    if value.is_meta:
        raise ValueError(
            f"{name} is a torch tensor on the 'meta' device, which holds shapes but "
            f"no data; pass {name} with its data on a real device ('cpu' or 'cuda')."
        )
    tensor = value.detach()
    if tensor.layout in _SPARSE_LAYOUTS:
        with warnings.catch_warnings():  # torch: "Sparse CSR tensor support is in beta"
            warnings.simplefilter("ignore", UserWarning)
            csr = tensor.to_sparse_csr().cpu()
        return scipy.sparse.csr_matrix(
            (
                _host_numpy(csr.values()),
                csr.col_indices().numpy(),
                csr.crow_indices().numpy(),
            ),
            shape=tuple(csr.shape),
        )
    return _host_numpy(tensor)


def _host_numpy(tensor):
    tensor = tensor.resolve_conj().resolve_neg()
    if tensor.dtype == torch.bfloat16:  # numpy has no bfloat16
        tensor = tensor.to(torch.float32)
    return tensor.cpu().numpy()


def like_input(result, reference):
    """``result`` (numpy) as a tensor on ``reference``'s device if that is a tensor.

    Arrays torch cannot hold (strings, objects: e.g. string class labels)
    stay numpy; scalars and other values are returned unchanged.
    """
    if not isinstance(reference, torch.Tensor) or not isinstance(result, np.ndarray):
        return result
    if result.dtype.kind not in "biuf":
        return result
    return torch.from_numpy(np.ascontiguousarray(result)).to(reference.device)


def tensor_outputs(method):
    """Decorate a prediction method ``method(self, X, ...)``: tensors in, tensors out."""

    @functools.wraps(method)
    def wrapper(self, X, *args, **kwargs):
        if not isinstance(X, torch.Tensor):
            return method(self, X, *args, **kwargs)
        return like_input(method(self, to_numpy(X, "X"), *args, **kwargs), X)

    return wrapper


def tensor_inputs(method):
    """Decorate ``fit``/``partial_fit``/inference: tensor arguments are read as numpy.

    After a fit on a tensor X under ``array_api_dispatch``, the fitted
    arrays move to X's namespace and device (see the module docstring).
    """

    # The names of the positional arguments after X, for the errors of to_numpy.
    names = list(inspect.signature(method).parameters)[2:]

    @functools.wraps(method)
    def wrapper(self, X, *args, **kwargs):
        padded = names + ["argument"] * len(args)
        args = [to_numpy(a, name) for a, name in zip(args, padded, strict=False)]
        kwargs = {key: to_numpy(a, key) for key, a in kwargs.items()}
        result = method(self, to_numpy(X, "X"), *args, **kwargs)
        if result is self and method.__name__ in ("fit", "partial_fit"):
            if isinstance(X, torch.Tensor) and get_config()["array_api_dispatch"]:
                fitted_arrays_to_tensors(self, X.device)
        return result

    return wrapper


def fitted_arrays_to_tensors(estimator, device):
    """Every numeric fitted ndarray attribute (except ``classes_``) as a tensor on ``device``."""
    vars(estimator).pop("_module", None)  # rebuilt from the moved coefficients
    for key, value in list(vars(estimator).items()):
        if (
            key.endswith("_")
            and not key.startswith("_")
            and key != "classes_"
            and isinstance(value, np.ndarray)
            and value.dtype.kind in "biuf"
        ):
            setattr(estimator, key, torch.from_numpy(np.ascontiguousarray(value)).to(device))


class TensorScoreMixin:
    """``score`` that takes tensors and computes in float64 (before sklearn's mixin)."""

    @tensor_inputs
    def score(
        self, X: ArrayLike, y: ArrayLike, sample_weight: ArrayLike | None = None
    ) -> float:
        """Return the mean accuracy (classifier) or R^2 (regressor) on the given data.

        As scikit-learn's ``ClassifierMixin`` / ``RegressorMixin`` compute it,
        in float64 whatever the input: torch tensors are read as numpy, so
        that the score of a fit on tensors equals that of the same fit on
        arrays.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
        y : array-like of shape (n_samples,)
        sample_weight : array-like of shape (n_samples,), default=None

        Returns
        -------
        score : float
        """
        # A mixin: ClassifierMixin / RegressorMixin follow it in the estimators' MRO.
        return super().score(X, y, sample_weight=sample_weight)  # type: ignore[misc]
