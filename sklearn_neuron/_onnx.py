"""ONNX export: skl2onnx converters for NeuronClassifier and NeuronRegressor.

A fitted neuron is a linear map followed by its output activation, which
ONNX writes with standard operators: ``MatMul`` and ``Add`` for the layer,
then ``Sigmoid`` (two classes, on the logits ``[-z, z]``, so that the
probabilities are those of ``predict_proba``), ``Softmax`` (more classes),
``Exp`` (log-link regressors) or nothing (identity). The classifier's
outputs are skl2onnx's for LogisticRegression: the label (``ArgMax`` of the
scores, looked up in ``classes_``) and the probabilities (a tensor, or a
ZipMap of them with ``options={"zipmap": True}``). The graph computes in the
input's dtype (float32 or float64).

skl2onnx and onnxruntime are optional: ``pip install "sklearn-neuron[onnx]"``.
"""

from __future__ import annotations

import numbers
from typing import TYPE_CHECKING, Any

import numpy as np
import scipy.sparse
from numpy.typing import ArrayLike
from sklearn.utils.validation import check_is_fitted

if TYPE_CHECKING:
    import onnx

_INSTALL = 'pip install "sklearn-neuron[onnx]" (or: pip install skl2onnx onnxruntime)'


def _skl2onnx():
    try:
        import skl2onnx
    except ImportError as error:  # pragma: no cover - exercised without skl2onnx
        raise ImportError(
            f"ONNX export needs the optional dependency skl2onnx: {_INSTALL}."
        ) from error
    return skl2onnx


def register_onnx_converters():
    """Register the neuron estimators' shape calculators and converters with skl2onnx.

    After this call, ``skl2onnx.to_onnx`` and ``skl2onnx.convert_sklearn``
    convert NeuronClassifier and NeuronRegressor, alone or inside a
    Pipeline. :func:`to_onnx` calls it; calling it again is harmless.

    Raises
    ------
    ImportError
        When skl2onnx is not installed, naming the command that installs it.

    Examples
    --------
    >>> import numpy as np
    >>> from skl2onnx import to_onnx
    >>> from sklearn.pipeline import make_pipeline
    >>> from sklearn.preprocessing import StandardScaler
    >>> from sklearn_neuron import NeuronClassifier, register_onnx_converters
    >>> register_onnx_converters()
    >>> X = np.random.default_rng(0).standard_normal((50, 3)).astype(np.float32)
    >>> y = (X[:, 0] > 0).astype(int)
    >>> pipe = make_pipeline(StandardScaler(), NeuronClassifier()).fit(X, y)
    >>> onx = to_onnx(pipe, X[:1], options={"zipmap": False})
    >>> [output.name for output in onx.graph.output]
    ['label', 'probabilities']
    """
    skl2onnx = _skl2onnx()
    from skl2onnx.common.shape_calculator import (
        calculate_linear_classifier_output_shapes,
        calculate_linear_regressor_output_shapes,
    )

    from ._classifier import NeuronClassifier
    from ._regressor import NeuronRegressor

    skl2onnx.update_registered_converter(
        NeuronClassifier, "SklearnNeuronClassifier",
        calculate_linear_classifier_output_shapes, _convert_classifier,
        options={"zipmap": [True, False, "columns"], "nocl": [True, False]},
    )
    skl2onnx.update_registered_converter(
        NeuronRegressor, "SklearnNeuronRegressor",
        calculate_linear_regressor_output_shapes, _convert_regressor,
    )


def to_onnx(
    estimator: Any,
    X: ArrayLike,
    *,
    options: dict[str, Any] | None = None,
    target_opset: int | None = None,
) -> onnx.ModelProto:
    """Convert a fitted neuron estimator (or a Pipeline ending in one) to ONNX.

    Parameters
    ----------
    estimator : NeuronClassifier, NeuronRegressor or Pipeline
        A fitted estimator.
    X : {ndarray, sparse matrix} of shape (n_samples, n_features)
        A sample of the input, float32 or float64: its dtype and width fix
        the graph's input type (only its first row is read). A sparse sample
        gives the same model: ONNX's input is a dense tensor (pass
        ``X.toarray()`` to the session).
    options : dict, optional
        skl2onnx conversion options. For a classifier the default is
        ``{"zipmap": False}``: the probabilities are a tensor of shape
        (n_samples, n_classes), as ``predict_proba`` returns them; pass
        ``{"zipmap": True}`` for skl2onnx's list of dictionaries.
    target_opset : int, optional
        ONNX opset; skl2onnx's default when None.

    Returns
    -------
    onnx.ModelProto
        The model. Outputs ``label`` and ``probabilities`` for a classifier,
        ``variable`` of shape (n_samples, 1) for a regressor.

    Raises
    ------
    NotFittedError
        When ``estimator`` is not fitted.
    ImportError
        When skl2onnx is not installed, naming the command that installs it.

    Examples
    --------
    >>> import numpy as np
    >>> import onnxruntime as rt
    >>> from sklearn.datasets import load_iris
    >>> from sklearn_neuron import NeuronClassifier, to_onnx
    >>> X, y = load_iris(return_X_y=True)
    >>> X = X.astype(np.float32)
    >>> clf = NeuronClassifier(max_iter=200).fit(X, y)
    >>> session = rt.InferenceSession(to_onnx(clf, X).SerializeToString())
    >>> label, proba = session.run(None, {"X": X})
    >>> bool(np.abs(proba - clf.predict_proba(X)).max() < 1e-5)
    True
    >>> bool((label == clf.predict(X)).all())
    True
    """
    # skl2onnx would fail on the missing fitted attributes with its own words.
    check_is_fitted(estimator)
    skl2onnx = _skl2onnx()
    register_onnx_converters()
    if scipy.sparse.issparse(X):
        # Only the sample's dtype and width matter: one dense row has both.
        X = X[:1].toarray()
    X = np.asarray(X)
    if X.dtype not in (np.float32, np.float64):
        raise ValueError(
            f"X must be float32 or float64 to fix the ONNX input type, got {X.dtype}; "
            "pass X.astype(np.float32)."
        )
    if options is None and _is_classifier(estimator):
        options = {"zipmap": False}
    return skl2onnx.to_onnx(
        estimator, X[:1], options=options, target_opset=target_opset
    )


def _is_classifier(estimator):
    from sklearn.base import is_classifier

    return is_classifier(estimator)


def _linear_scores(scope, operator, container, coef, intercept, name):
    """Add ``X @ coef.T + intercept`` in the input's dtype; return the output's name."""
    from skl2onnx.common.data_types import guess_numpy_type, guess_proto_type

    proto_dtype = guess_proto_type(operator.inputs[0].type)
    dtype = guess_numpy_type(operator.inputs[0].type)
    coef = np.asarray(coef, dtype=np.float64).T.astype(dtype)
    intercept = np.asarray(intercept, dtype=np.float64).reshape(1, -1).astype(dtype)
    coef_name = scope.get_unique_variable_name("coef")
    intercept_name = scope.get_unique_variable_name("intercept")
    container.add_initializer(coef_name, proto_dtype, coef.shape, coef.ravel().tolist())
    container.add_initializer(
        intercept_name, proto_dtype, intercept.shape, intercept.ravel().tolist()
    )
    product = scope.get_unique_variable_name("product")
    scores = scope.get_unique_variable_name(name)
    container.add_node(
        "MatMul", [operator.inputs[0].full_name, coef_name], product,
        name=scope.get_unique_operator_name("MatMul"),
    )
    container.add_node(
        "Add", [product, intercept_name], scores, name=scope.get_unique_operator_name("Add")
    )
    return scores


def _convert_classifier(scope, operator, container):
    """skl2onnx converter of NeuronClassifier: label and probabilities."""
    from skl2onnx.common.utils_classifier import get_label_classes
    from skl2onnx.proto import onnx_proto

    model = operator.raw_operator
    coef, intercept = model._dense_coef(), np.asarray(model.intercept_)  # sparsify()'d too
    if coef.shape[0] == 1:  # two classes: logits [-z, z], probabilities sigmoid of each
        coef, intercept = np.vstack([-coef, coef]), np.concatenate([-intercept, intercept])
    scores = _linear_scores(scope, operator, container, coef, intercept, "logits")
    activation = "Sigmoid" if model.coef_.shape[0] == 1 else "Softmax"
    attrs = {} if activation == "Sigmoid" else {"axis": 1}
    container.add_node(
        activation, scores, operator.outputs[1].full_name,
        name=scope.get_unique_operator_name(activation), **attrs,
    )
    index = scope.get_unique_variable_name("class_index")
    container.add_node(
        "ArgMax", scores, index, name=scope.get_unique_operator_name("ArgMax"),
        axis=1, keepdims=0,
    )
    classes = np.asarray(get_label_classes(scope, model))
    if classes.dtype.kind in "OUS" and all(isinstance(c, str) for c in classes):
        labels, proto = [str(c) for c in classes], onnx_proto.TensorProto.STRING
    elif all(
        isinstance(c, (numbers.Integral, np.bool_)) or float(c).is_integer() for c in classes
    ):
        labels, proto = [int(c) for c in classes], onnx_proto.TensorProto.INT64
    else:  # pragma: no cover - scikit-learn accepts no other classification target
        raise ValueError(
            "ONNX labels are integers or strings; classes_ "
            f"{classes.tolist()!r} are neither. Encode y with LabelEncoder before fitting, "
            "or convert with options={'nocl': True} (labels are then class indices)."
        )
    labels_name = scope.get_unique_variable_name("classes")
    container.add_initializer(labels_name, proto, [len(labels)], labels)
    container.add_node(
        "Gather", [labels_name, index], operator.outputs[0].full_name,
        name=scope.get_unique_operator_name("Gather"), axis=0,
    )


def _convert_regressor(scope, operator, container):
    """skl2onnx converter of NeuronRegressor: the prediction, shape (N, 1)."""
    model = operator.raw_operator
    coef = np.asarray(model.coef_, dtype=np.float64).reshape(1, -1)
    intercept = np.asarray([model.intercept_], dtype=np.float64)
    activation = model.module_.activation_name
    output = operator.outputs[0].full_name
    if activation == "identity":
        scores = _linear_scores(scope, operator, container, coef, intercept, "raw")
        container.add_node(
            "Identity", scores, output, name=scope.get_unique_operator_name("Identity")
        )
    elif activation == "exp":
        scores = _linear_scores(scope, operator, container, coef, intercept, "raw")
        container.add_node("Exp", scores, output, name=scope.get_unique_operator_name("Exp"))
    else:  # pragma: no cover - every regression loss has one of the two
        raise ValueError(f"No ONNX conversion for the output activation {activation!r}.")
