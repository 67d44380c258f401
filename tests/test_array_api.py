"""torch tensors in and out, and scikit-learn's array-API estimator check (issue #16)."""

import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest
import scipy.sparse
import torch
from sklearn import config_context
from sklearn.datasets import load_breast_cancer, load_iris
from sklearn.preprocessing import StandardScaler

from sklearn_neuron import NeuronClassifier, NeuronClassifierCV, NeuronRegressor
from sklearn_neuron._array_api import to_numpy

pytest.importorskip("array_api_compat")


@pytest.fixture(scope="module")
def iris():
    X, y = load_iris(return_X_y=True)
    return StandardScaler().fit_transform(X).astype(np.float32), y


_CHECK = textwrap.dedent(
    """
    import sys, warnings
    import torch
    from sklearn.utils.estimator_checks import check_array_api_input
    from sklearn_neuron import NeuronClassifier, NeuronClassifierCV, NeuronRegressor
    devices = ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])
    estimators = [NeuronClassifier(), NeuronClassifier(optimizer="adam", max_iter=5),
                  NeuronClassifier(optimizer="lbfgs", l1_ratio=0.5), NeuronRegressor(),
                  NeuronRegressor(loss="poisson"), NeuronClassifierCV(Cs=3, cv=3)]
    ran = 0
    for estimator in estimators:
        for device in devices:
            for dtype in ["float32", "float64"]:
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore")
                    check_array_api_input(type(estimator).__name__, estimator, "torch",
                                          device, dtype, check_values=True,
                                          check_sample_weight=True)
                ran += 1
    print("checked", ran)
    """
)


def test_sklearn_array_api_check_passes_for_torch():
    # scikit-learn's own check: fitted attributes and every method's output in
    # torch, on the input's device, equal to the numpy fit's (check_values).
    # It needs SCIPY_ARRAY_API set before scipy is imported: a fresh process.
    env = {**os.environ, "SCIPY_ARRAY_API": "1"}
    out = subprocess.run(
        [sys.executable, "-c", _CHECK], capture_output=True, text=True, env=env, timeout=600
    )
    assert out.returncode == 0, out.stderr[-3000:]
    assert "checked" in out.stdout  # not skipped


def test_tags_declare_array_api_support():
    for estimator in (NeuronClassifier(), NeuronRegressor(), NeuronClassifierCV()):
        assert estimator.__sklearn_tags__().array_api_support


def test_float32_tensor_in_float32_tensor_out_without_dispatch(iris):
    X, y = iris
    X_t, y_t = torch.from_numpy(X), torch.from_numpy(y)
    model = NeuronClassifier().fit(X_t, y_t)
    reference = NeuronClassifier().fit(X, y)
    assert model.coef_.dtype == np.float32  # not upcast to float64
    np.testing.assert_array_equal(model.coef_, reference.coef_)
    proba = model.predict_proba(X_t)
    assert isinstance(proba, torch.Tensor) and proba.dtype == torch.float32
    np.testing.assert_array_equal(proba.numpy(), reference.predict_proba(X))
    for method in ("predict", "decision_function", "predict_log_proba"):
        out = getattr(model, method)(X_t)
        assert isinstance(out, torch.Tensor) and out.device == X_t.device
        np.testing.assert_array_equal(out.numpy(), getattr(reference, method)(X))
    assert isinstance(model.score(X_t, y_t), float)
    # Without dispatch the fitted state stays numpy (pickle, skops).
    assert isinstance(model.coef_, np.ndarray)


def test_dense_cpu_tensor_is_read_without_a_copy(iris):
    X, _ = iris
    X_t = torch.from_numpy(X.copy())
    assert np.shares_memory(to_numpy(X_t), X_t.numpy())


def test_tensor_that_requires_grad_is_accepted_and_left_alone(iris):
    X, y = iris
    X_t = torch.from_numpy(X.copy()).requires_grad_(True)
    before = X_t.detach().clone()
    model = NeuronClassifier().fit(X_t, torch.from_numpy(y))
    proba = model.predict_proba(X_t)
    assert not proba.requires_grad and X_t.grad is None
    torch.testing.assert_close(X_t.detach(), before, rtol=0, atol=0)
    np.testing.assert_allclose(
        model.coef_, NeuronClassifier().fit(X, y).coef_, rtol=0, atol=0
    )


@pytest.mark.parametrize("layout", ["coo", "csr"])
def test_sparse_tensors_fit_like_scipy_sparse(layout):
    X, y = load_breast_cancer(return_X_y=True)
    X = StandardScaler().fit_transform(X)
    X[np.abs(X) < 0.5] = 0.0
    dense = torch.from_numpy(X)
    X_t = dense.to_sparse() if layout == "coo" else dense.to_sparse_csr()
    model = NeuronClassifier().fit(X_t, y)
    reference = NeuronClassifier().fit(scipy.sparse.csr_matrix(X), y)
    np.testing.assert_allclose(model.coef_, reference.coef_, rtol=1e-12, atol=1e-12)
    proba = model.predict_proba(X_t)
    assert isinstance(proba, torch.Tensor)
    np.testing.assert_allclose(proba.numpy(), reference.predict_proba(X), atol=1e-12)


def test_string_labels_come_back_as_numpy(iris):
    X, y = iris
    labels = np.array(["setosa", "versicolor", "virginica"])[y]
    model = NeuronClassifier().fit(torch.from_numpy(X), labels)
    predicted = model.predict(torch.from_numpy(X))
    assert isinstance(predicted, np.ndarray)  # torch holds no strings
    np.testing.assert_array_equal(predicted, NeuronClassifier().fit(X, labels).predict(X))


def test_dispatch_fit_stores_tensors_and_predicts_like_numpy(iris):
    X, y = iris
    X64 = X.astype(np.float64)
    reference = NeuronClassifier().fit(X64, y)
    with config_context(array_api_dispatch=True):
        model = NeuronClassifier().fit(torch.from_numpy(X64), torch.from_numpy(y))
        assert isinstance(model.coef_, torch.Tensor) and isinstance(model.intercept_, torch.Tensor)
        assert isinstance(model.classes_, np.ndarray)
        proba = model.predict_proba(torch.from_numpy(X64))
    np.testing.assert_allclose(model.coef_.numpy(), reference.coef_, rtol=0, atol=1e-12)
    np.testing.assert_allclose(proba.numpy(), reference.predict_proba(X64), atol=1e-12)
    # numpy in gives numpy out even from tensor coefficients; module_ follows them.
    np.testing.assert_allclose(model.predict_proba(X64), reference.predict_proba(X64), atol=1e-12)
    assert model.module_.linear.weight.shape == (3, 4)


def test_partial_fit_and_summary_take_tensors():
    X, y = load_breast_cancer(return_X_y=True)
    X = StandardScaler().fit_transform(X[:, :5])
    X_t, y_t = torch.from_numpy(X), torch.from_numpy(y)
    streamed = NeuronClassifier(optimizer="sgd", random_state=0)
    streamed.partial_fit(X_t, y_t, classes=[0, 1])
    reference = NeuronClassifier(optimizer="sgd", random_state=0)
    reference.partial_fit(X, y, classes=[0, 1])
    np.testing.assert_array_equal(streamed.coef_, reference.coef_)

    model = NeuronClassifier(C=np.inf).fit(X_t, y_t)
    expected = NeuronClassifier(C=np.inf).fit(X, y).inference(X, y).bse
    np.testing.assert_allclose(model.inference(X_t, y_t).bse, expected, rtol=1e-12)
    assert str(model.summary(X_t, y_t)) == str(NeuronClassifier(C=np.inf).fit(X, y).summary(X, y))


def test_regressor_tensor_round_trip():
    from sklearn.datasets import load_diabetes

    X, y = load_diabetes(return_X_y=True)
    X_t, y_t = torch.from_numpy(X.astype(np.float32)), torch.from_numpy(y.astype(np.float32))
    model = NeuronRegressor().fit(X_t, y_t)
    predicted = model.predict(X_t)
    assert isinstance(predicted, torch.Tensor) and predicted.dtype == torch.float32
    expected = NeuronRegressor().fit(X.astype(np.float32), y.astype(np.float32)).predict(
        X.astype(np.float32)
    )
    np.testing.assert_array_equal(predicted.numpy(), expected)
