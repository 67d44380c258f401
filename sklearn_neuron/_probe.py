"""The linear probe's features: a frozen torch module as a scikit-learn transformer.

A linear probe is logistic regression on the embeddings of a trained network
whose weights stay fixed. This module owns the step before the fit:
:class:`FrozenFeatures` runs the frozen module over X in batches, in
evaluation mode and without autograd, on the device and in the dtype of the
module's parameters, and returns one row of features per row of X (trailing
dimensions flattened), so that
``make_pipeline(FrozenFeatures(body), NeuronClassifierCV())`` fits an exact
probe along a warm-started path of ``C``. It never trains, moves or casts
the module.
"""

from numbers import Integral

import numpy as np
import torch
from sklearn import get_config
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.utils._param_validation import Interval
from sklearn.utils.validation import _check_feature_names_in, check_is_fitted, validate_data

from ._array_api import to_numpy

try:  # scikit-learn >= 1.8
    from sklearn.base import _fit_context
except ImportError:  # pragma: no cover
    from sklearn.utils._param_validation import _fit_context


class FrozenFeatures(TransformerMixin, BaseEstimator):
    """Features from a frozen torch module, computed in batches without gradients.

    ``transform`` puts ``module`` in evaluation mode (dropout off, batch norm
    on its running statistics), runs it on X in batches of ``batch_size`` rows
    under :func:`torch.inference_mode`, on the device and in the floating
    dtype of the module's parameters (float32 for a module as torch builds
    it; ``cpu`` and float32 for one without parameters), restores every
    submodule's training flag and returns the outputs with their trailing
    dimensions flattened: one row of features per row of X. The module is
    never trained, moved or cast: its parameters, their ``requires_grad``
    flags and its training flags are as they were.

    Parameters
    ----------
    module : torch.nn.Module
        The frozen network (e.g. a trained network up to its penultimate
        layer). It takes a float tensor of shape ``(batch, n_features_in_)``
        and returns a tensor of shape ``(batch, ...)``. Move it to a device
        (``module.to("cuda")``) before passing it: it runs where its
        parameters are. Lazy modules must be run once first (their
        parameters are created on the first call, which would change them).
    batch_size : int, default=256
        Rows of X per forward pass; the last batch holds the remainder.
        Larger batches are faster up to the device's memory.

    Attributes
    ----------
    n_features_in_ : int
        Number of features seen during ``fit``.
    feature_names_in_ : ndarray of shape (n_features_in_,)
        Names of features seen during ``fit``. Defined only when ``X``
        has feature names that are all strings.
    n_features_out_ : int
        Number of features ``transform`` returns (the module's flattened
        output width, read by running it on the first row of X in ``fit``).

    See Also
    --------
    NeuronClassifierCV : The exact probe on these features, along a
        warm-started path of ``C``.
    sklearn.preprocessing.FunctionTransformer : A stateless transformer from
        any function (no batching, no evaluation mode).

    Notes
    -----
    The output is a numpy array: float64 for a float64 module, float32
    otherwise (half-precision outputs are widened to float32). A torch
    tensor X gives a tensor on X's device instead when scikit-learn's
    ``array_api_dispatch`` is on. ``fit`` learns nothing; ``transform``
    also runs without it (the transformer is stateless), checking X's
    width and feature names against ``fit``'s only after a fit.

    ``clone`` (and so ``GridSearchCV``, ``cross_validate`` ...) deep-copies
    ``module``, as scikit-learn does every parameter that is not an
    estimator: each clone holds its own copy of the weights, on the same
    device, and computes the same features. For a network too large to
    copy, compute the features once with ``transform`` and cross-validate
    the classifier on them. The transformer pickles with its module.

    Examples
    --------
    >>> import torch
    >>> from sklearn.datasets import load_iris
    >>> from sklearn.pipeline import make_pipeline
    >>> from sklearn_neuron import FrozenFeatures, NeuronClassifierCV
    >>> X, y = load_iris(return_X_y=True)
    >>> _ = torch.manual_seed(0)
    >>> body = torch.nn.Sequential(torch.nn.Linear(4, 8), torch.nn.Tanh())
    >>> FrozenFeatures(body, batch_size=64).fit_transform(X).shape
    (150, 8)
    >>> probe = make_pipeline(FrozenFeatures(body), NeuronClassifierCV(Cs=5))
    >>> probe.fit(X, y).predict(X[:3])
    array([0, 0, 0])
    """

    _parameter_constraints: dict = {
        "module": [torch.nn.Module],
        "batch_size": [Interval(Integral, 1, None, closed="left")],
    }

    def __init__(self, module, *, batch_size=256):
        self.module = module
        self.batch_size = batch_size

    @_fit_context(prefer_skip_nested_validation=True)
    def fit(self, X, y=None):
        """Check X and the module; learn nothing from X's values.

        Records ``n_features_in_`` (and ``feature_names_in_``) and the
        output width ``n_features_out_``, by running the module on X's first
        row: a module that cannot take X fails here.

        Parameters
        ----------
        X : array-like or torch.Tensor of shape (n_samples, n_features)
            Input samples.
        y : None
            Ignored.

        Returns
        -------
        self : FrozenFeatures
            The transformer.
        """
        X = validate_data(self, to_numpy(X, "X"), dtype=(np.float32, np.float64))
        self.n_features_out_ = _run(self.module, X[:1], 1).shape[1]
        return self

    def transform(self, X):
        """The module's outputs on X, one row of flattened features per row.

        Parameters
        ----------
        X : array-like or torch.Tensor of shape (n_samples, n_features)
            Input samples.

        Returns
        -------
        features : ndarray of shape (n_samples, n_features_out)
            float32 (float64 for a float64 module); a tensor on X's device
            when X is a tensor and ``array_api_dispatch`` is on.
        """
        self._validate_params()
        numpy_X = validate_data(
            self, to_numpy(X, "X"), dtype=(np.float32, np.float64), reset=False
        )
        features = _run(self.module, numpy_X, self.batch_size)
        if isinstance(X, torch.Tensor) and get_config()["array_api_dispatch"]:
            return torch.from_numpy(features).to(X.device)
        return features

    def get_feature_names_out(self, input_features=None):
        """Output feature names: ``frozenfeatures0``, ``frozenfeatures1``, ...

        Parameters
        ----------
        input_features : array-like of str or None, default=None
            Only checked against the names seen in ``fit``.

        Returns
        -------
        feature_names_out : ndarray of str objects
            One name per output feature.
        """
        check_is_fitted(self, "n_features_out_")
        _check_feature_names_in(self, input_features, generate_names=False)
        prefix = type(self).__name__.lower()
        return np.asarray([f"{prefix}{i}" for i in range(self.n_features_out_)], dtype=object)

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        # Stateless: fit learns nothing that transform needs.
        tags.requires_fit = False
        dtype = _module_dtype(self.module) if isinstance(self.module, torch.nn.Module) else None
        tags.transformer_tags.preserves_dtype = ["float64"] if dtype == torch.float64 else [
            "float32"
        ]
        return tags


def _module_dtype(module):
    """The floating dtype of ``module``'s first floating parameter or buffer (float32 if none)."""
    for tensor in (*module.parameters(), *module.buffers()):
        if tensor.is_floating_point():
            return tensor.dtype
    return torch.float32


def _module_device(module):
    """The device of ``module``'s first parameter or buffer (the CPU if it has none)."""
    for tensor in (*module.parameters(), *module.buffers()):
        return tensor.device
    return torch.device("cpu")


def _run(module, X, batch_size):
    """``module`` on the rows of numpy ``X`` in batches, frozen: a 2-D numpy array.

    Every submodule's training flag is restored afterwards, each its own
    (``module.train(flag)`` would set them all alike).
    """
    if any(isinstance(p, torch.nn.parameter.UninitializedParameter) for p in module.parameters()):
        raise ValueError(
            "module has uninitialized (lazy) parameters, which its first call would create; "
            "run it once on a batch of X before passing it to FrozenFeatures."
        )
    dtype, device = _module_dtype(module), _module_device(module)
    out_dtype = np.float64 if dtype == torch.float64 else np.float32
    modes = [(sub, sub.training) for sub in module.modules()]
    module.eval()
    try:
        with torch.inference_mode():
            batches = [
                _batch_features(module, X[start : start + batch_size], dtype, device, start)
                for start in range(0, X.shape[0], batch_size)
            ]
    finally:
        for sub, training in modes:
            sub.training = training
    widths = {batch.shape[1] for batch in batches}
    if len(widths) > 1:
        raise ValueError(
            f"module returned {sorted(widths)} features on different batches of X; it must "
            f"return the same number of features for every row."
        )
    return np.concatenate(batches).astype(out_dtype, copy=False)


def _batch_features(module, batch, dtype, device, start):
    """One batch's flattened outputs, checked, as numpy."""
    if not batch.flags.writeable:  # torch warns on read-only memory it would share
        batch = batch.copy()
    inputs = torch.as_tensor(batch, dtype=dtype, device=device)
    try:
        output = module(inputs)
    except RuntimeError as error:
        raise ValueError(
            f"module failed on a batch of X of shape {tuple(inputs.shape)} "
            f"({error}); pass X with the number of features the module takes."
        ) from error
    if not isinstance(output, torch.Tensor):
        raise TypeError(
            f"module returned a {type(output).__name__}, not a tensor; wrap it in a module "
            f"that returns the features tensor (e.g. the embedding of a tuple or dict)."
        )
    if output.ndim < 2 or output.shape[0] != inputs.shape[0]:
        raise ValueError(
            f"module returned shape {tuple(output.shape)} for a batch of {inputs.shape[0]} "
            f"rows; it must return one row of features per row, shape ({inputs.shape[0]}, ...)."
        )
    output = output.reshape(output.shape[0], -1)
    finite = torch.isfinite(output).all(dim=1)
    if not bool(finite.all()):
        row = start + int(torch.nonzero(~finite)[0, 0])
        raise ValueError(
            f"module returned NaN or infinite features (first at row {row} of X); check the "
            f"module and X's scale, since a probe cannot be fitted on them."
        )
    if output.dtype not in (torch.float32, torch.float64):
        output = output.to(torch.float32)
    return output.cpu().numpy()
