"""ONNX export (``_onnx.py``), run by onnxruntime against the estimators.

Tolerances: probabilities within ``1e-5`` of ``predict_proba``, regression
outputs within ``1e-5 * max |predict|`` of ``predict``, in float32 and in
float64 (reached: ~1e-7 in float32, ~1e-15 in float64); labels identical.
"""

import numpy as np
import pytest
import scipy.sparse
from sklearn.datasets import load_breast_cancer, load_diabetes, load_iris
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from sklearn_neuron import NeuronClassifier, NeuronRegressor, to_onnx

skl2onnx = pytest.importorskip("skl2onnx")
rt = pytest.importorskip("onnxruntime")

TOL = 1e-5


def _run(model, X):
    session = rt.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    return session.run(None, {session.get_inputs()[0].name: X})


def _standardized(loader):
    X, y = loader(return_X_y=True)
    return StandardScaler().fit_transform(X), y


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("data", ["binary", "multiclass"])
@pytest.mark.parametrize("loss", ["log_loss", "squared_hinge"])
def test_classifier_probabilities_and_labels(dtype, data, loss):
    X, y = _standardized(load_breast_cancer if data == "binary" else load_iris)
    X = X.astype(dtype)
    clf = NeuronClassifier(loss, max_iter=500).fit(X, y)
    label, proba = _run(to_onnx(clf, X), X)
    np.testing.assert_allclose(proba, clf.predict_proba(X), rtol=0, atol=TOL)
    np.testing.assert_array_equal(label, clf.predict(X))


def test_string_labels_and_zipmap():
    X, y = _standardized(load_iris)
    names = np.array(["setosa", "versicolor", "virginica"])[y]
    X = X.astype(np.float32)
    clf = NeuronClassifier().fit(X, names)
    label, proba = _run(to_onnx(clf, X, options={"zipmap": True}), X)
    np.testing.assert_array_equal(label, clf.predict(X))
    expected = clf.predict_proba(X)
    got = np.array([[row[c] for c in clf.classes_] for row in proba])
    np.testing.assert_allclose(got, expected, rtol=0, atol=TOL)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("loss", ["squared_error", "poisson", "gamma", "absolute_error"])
@pytest.mark.parametrize("fit_intercept", [True, False])
def test_regressor_predictions(dtype, loss, fit_intercept):
    X, y = _standardized(load_diabetes)
    X = X.astype(dtype)
    reg = NeuronRegressor(loss, alpha=0.01, fit_intercept=fit_intercept).fit(X, y)
    (prediction,) = _run(to_onnx(reg, X), X)
    assert prediction.shape == (X.shape[0], 1)
    expected = reg.predict(X)
    np.testing.assert_allclose(
        prediction[:, 0], expected, rtol=0, atol=TOL * np.abs(expected).max()
    )


def test_pipeline_through_skl2onnx_directly():
    from sklearn_neuron import register_onnx_converters

    register_onnx_converters()
    X, y = load_breast_cancer(return_X_y=True)
    X = X.astype(np.float32)
    pipe = make_pipeline(StandardScaler(), NeuronClassifier()).fit(X, y)
    onx = skl2onnx.to_onnx(pipe, X[:1], options={"zipmap": False})
    label, proba = _run(onx, X)
    np.testing.assert_allclose(proba, pipe.predict_proba(X), rtol=0, atol=TOL)
    np.testing.assert_array_equal(label, pipe.predict(X))


def test_integer_input_is_refused_with_the_fix():
    X, y = _standardized(load_breast_cancer)
    clf = NeuronClassifier().fit(X, y)
    with pytest.raises(ValueError, match="astype"):
        to_onnx(clf, X.astype(np.int64))


# -- issue #36, item 24 -------------------------------------------------------------
@pytest.mark.parametrize(
    "estimator",
    [NeuronClassifier(), NeuronRegressor(), make_pipeline(StandardScaler(), NeuronClassifier())],
    ids=["classifier", "regressor", "pipeline"],
)
def test_unfitted_is_not_fitted_error(estimator):
    from sklearn.exceptions import NotFittedError

    X = np.zeros((2, 3), dtype=np.float32)
    with pytest.raises(NotFittedError, match="not fitted yet"):
        to_onnx(estimator, X)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("container", [scipy.sparse.csr_matrix, scipy.sparse.csc_array])
@pytest.mark.parametrize("kind", ["classifier", "regressor"])
def test_sparse_sample_gives_the_dense_model(dtype, container, kind):
    # A sparse sample fixes the dtype and width as a dense one does; the
    # session takes the rows dense, and answers as the model does on the
    # sparse rows (same tolerances as above).
    if kind == "classifier":
        X, y = _standardized(load_iris)
        estimator = NeuronClassifier()
    else:
        X, y = _standardized(load_diabetes)
        estimator = NeuronRegressor()
    X = np.where(np.abs(X) < 0.5, 0.0, X).astype(dtype)  # a third of the entries are 0
    X_sparse = container(X)
    estimator.fit(X_sparse, y)
    model = to_onnx(estimator, X_sparse)
    (onnx_input,) = model.graph.input
    assert onnx_input.type.tensor_type.shape.dim[1].dim_value == X.shape[1]
    outputs = _run(model, X)
    if kind == "classifier":
        label, proba = outputs
        np.testing.assert_allclose(proba, estimator.predict_proba(X_sparse), rtol=0, atol=TOL)
        np.testing.assert_array_equal(label, estimator.predict(X_sparse))
    else:
        expected = estimator.predict(X_sparse)
        np.testing.assert_allclose(
            outputs[0][:, 0], expected, rtol=0, atol=TOL * np.abs(expected).max()
        )
