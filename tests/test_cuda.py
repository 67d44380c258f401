"""The estimators on a CUDA device give what they give on the CPU.

Skipped where torch sees no CUDA device (CI here has none); run on a GPU
machine with ``python -m pytest tests/test_cuda.py``. Tolerances: the same
optimizer on the same data differs between devices only by the order of
floating-point sums, so coefficients agree to 1e-6 relative to their scale
in float64 (Newton, L-BFGS, OWL-QN, LAD) and 1e-3 in float32; minibatch
training draws the same batches on both devices (the generator is a CPU
one), so it agrees to 1e-6 too.
"""

import pickle

import numpy as np
import pytest
import scipy.sparse
import torch
from _datasets import classification_dataset
from sklearn.datasets import load_diabetes, make_classification
from sklearn.preprocessing import StandardScaler

from sklearn_neuron import NeuronClassifier, NeuronClassifierCV, NeuronRegressor

pytestmark = pytest.mark.skipif(
    not torch.cuda.is_available(), reason="torch sees no CUDA device"
)


def _fit_both(make, X, y, **fit_params):
    cpu = make(device="cpu").fit(X, y, **fit_params)
    gpu = make(device="cuda").fit(X, y, **fit_params)
    return cpu, gpu


def _assert_same_coefficients(cpu, gpu, rtol):
    scale = max(np.abs(cpu.coef_).max(), 1.0)
    np.testing.assert_allclose(gpu.coef_, cpu.coef_, rtol=0, atol=rtol * scale)
    np.testing.assert_allclose(gpu.intercept_, cpu.intercept_, rtol=0, atol=rtol * scale)


@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
@pytest.mark.parametrize("optimizer", ["newton", "lbfgs", "adam"])
@pytest.mark.parametrize("dataset", ["breast_cancer", "wine"])
def test_classifier_on_cuda_matches_cpu(dataset, optimizer):
    X, y = classification_dataset(dataset)
    kwargs = {"max_iter": 20, "random_state": 0} if optimizer == "adam" else {"tol": 1e-8}
    cpu, gpu = _fit_both(
        lambda device: NeuronClassifier(optimizer=optimizer, device=device, **kwargs), X, y
    )
    _assert_same_coefficients(cpu, gpu, 1e-6)
    # Fitted state is numpy on the CPU (it loads anywhere); module_ shares it.
    assert gpu.module_.linear.weight.device.type == "cpu"
    assert isinstance(gpu.coef_, np.ndarray)
    np.testing.assert_allclose(gpu.predict_proba(X), cpu.predict_proba(X), atol=1e-7)
    np.testing.assert_array_equal(gpu.predict(X), cpu.predict(X))


@pytest.mark.parametrize("dtype, rtol", [(np.float64, 1e-6), (np.float32, 1e-3)])
@pytest.mark.parametrize("optimizer", ["newton", "lbfgs"])
def test_large_problem_on_cuda_matches_cpu(optimizer, dtype, rtol):
    # 20,000 rows: the chunked Hessian and the column-major paths of the CPU
    # against whatever CUDA does.
    X, y = make_classification(20_000, 30, n_redundant=0, random_state=0)
    X = X.astype(dtype)
    cpu, gpu = _fit_both(lambda device: NeuronClassifier(optimizer=optimizer, device=device), X, y)
    assert gpu.coef_.dtype == dtype
    _assert_same_coefficients(cpu, gpu, rtol)


def test_l1_sparse_and_class_weight_on_cuda():
    X, y = classification_dataset("breast_cancer")
    cpu, gpu = _fit_both(
        lambda device: NeuronClassifier(
            C=0.1, l1_ratio=1.0, tol=1e-8, max_iter=1000, device=device
        ),
        X,
        y,
    )
    _assert_same_coefficients(cpu, gpu, 1e-6)
    np.testing.assert_array_equal(gpu.coef_ == 0, cpu.coef_ == 0)
    sparse = scipy.sparse.csr_matrix(np.where(np.abs(X) > 1, X, 0.0))
    cpu, gpu = _fit_both(
        lambda device: NeuronClassifier(class_weight="balanced", tol=1e-8, device=device),
        sparse,
        y,
    )
    _assert_same_coefficients(cpu, gpu, 1e-6)
    np.testing.assert_allclose(gpu.predict_proba(sparse), cpu.predict_proba(sparse), atol=1e-7)


@pytest.mark.parametrize("cov_type", ["nonrobust", "HC0"])
def test_inference_on_cuda_matches_cpu(cov_type):
    X, y = make_classification(3_000, 5, n_redundant=0, random_state=1)
    cpu, gpu = _fit_both(
        lambda device: NeuronClassifier(C=np.inf, tol=1e-10, device=device), X, y
    )
    res_cpu = cpu.inference(X, y, cov_type=cov_type)
    res_gpu = gpu.inference(X, y, cov_type=cov_type)
    np.testing.assert_allclose(res_gpu.bse, res_cpu.bse, rtol=1e-6)
    np.testing.assert_allclose(res_gpu.pvalues, res_cpu.pvalues, rtol=1e-6, atol=1e-12)
    assert res_gpu.llf == pytest.approx(res_cpu.llf, rel=1e-10)


@pytest.mark.parametrize(
    "loss, params",
    [
        ("squared_error", {}),
        ("poisson", {}),
        ("gamma", {}),
        ("tweedie", {"power": 1.5}),
        ("huber", {}),
        ("absolute_error", {}),
    ],
)
def test_regressor_on_cuda_matches_cpu(loss, params):
    X, y = load_diabetes(return_X_y=True)
    X = StandardScaler().fit_transform(X)
    cpu, gpu = _fit_both(
        lambda device: NeuronRegressor(loss, alpha=0.01, tol=1e-8, device=device, **params), X, y
    )
    scale = max(np.abs(cpu.coef_).max(), 1.0)
    np.testing.assert_allclose(gpu.coef_, cpu.coef_, rtol=0, atol=1e-6 * scale)
    np.testing.assert_allclose(gpu.predict(X), cpu.predict(X), rtol=1e-6)


def test_partial_fit_pickle_and_warm_start_on_cuda():
    X, y = classification_dataset("breast_cancer")
    gpu = NeuronClassifier(optimizer="sgd", device="cuda", random_state=0)
    for _ in range(3):
        gpu.partial_fit(X, y, classes=np.unique(y))
    restored = pickle.loads(pickle.dumps(gpu))
    np.testing.assert_array_equal(restored.predict(X), gpu.predict(X))
    warm = NeuronClassifier(device="cuda", warm_start=True, max_iter=100).fit(X, y)
    first = warm.n_iter_
    warm.fit(X, y)
    assert warm.n_iter_ <= first


@pytest.mark.parametrize(
    "scoring, refit", [(None, True), ("neg_log_loss", False), ("roc_auc", True)]
)
def test_classifier_cv_on_cuda_matches_cpu(scoring, refit):
    X, y = classification_dataset("breast_cancer")
    cpu, gpu = _fit_both(
        lambda device: NeuronClassifierCV(
            Cs=4, cv=3, scoring=scoring, refit=refit, tol=1e-8, device=device
        ),
        X,
        y,
    )
    assert gpu.C_ == cpu.C_
    np.testing.assert_allclose(gpu.scores_, cpu.scores_, rtol=0, atol=1e-6)
    _assert_same_coefficients(cpu, gpu, 1e-6)
    np.testing.assert_array_equal(gpu.predict(X), cpu.predict(X))
