"""The multinomial passes taken for speed equal the plain formulas, and fits through them
equal scikit-learn's (issue #37, item 4).

The softmax's elementwise passes (:meth:`MultinomialLogLoss.value_gradient`,
:meth:`~MultinomialLogLoss.probabilities`) against ``log_softmax`` / ``softmax``
and autograd; the Hessian-vector products from the probabilities against the
dense Hessian; the fused chunked pass over a large row-major X against the
separate kernels, with weights and offsets, dense and sparse; and fits against
LogisticRegression(newton-cholesky, tol=1e-12).
"""

import numpy as np
import pytest
import scipy.sparse
import torch
from sklearn.datasets import load_digits, load_iris
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import StratifiedKFold
from sklearn.preprocessing import StandardScaler

from sklearn_neuron import NeuronClassifier, NeuronClassifierCV
from sklearn_neuron._loss.losses import MultinomialLogLoss, encode_classes
from sklearn_neuron._objective.linear import LinearObjective
from sklearn_neuron._solvers.memory import available_memory

#: Tolerance of a kernel against its plain formula, by dtype.
KERNEL_TOL = {torch.float64: 1e-12, torch.float32: 1e-5}


def _raw_and_target(n, K, dtype, scale=3.0, seed=0):
    generator = torch.Generator().manual_seed(seed)
    raw = (torch.randn(n, K, generator=generator, dtype=torch.float64) * scale).to(dtype)
    y = torch.randint(0, K, (n,), generator=generator)
    return raw, encode_classes(y.numpy(), K, dtype, raw.device)


@pytest.mark.parametrize("dtype", [torch.float64, torch.float32])
@pytest.mark.parametrize("K", [3, 10, 15, 16, 50])
@pytest.mark.parametrize("scale", [1.0, 300.0])
def test_softmax_value_gradient_equals_log_softmax(dtype, K, scale):
    raw, target = _raw_and_target(500, K, dtype, scale)
    loss = MultinomialLogLoss(K)
    original = raw.clone()
    value, gradient = loss.value_gradient(raw, target)
    log_proba = torch.log_softmax(raw.double(), dim=1)
    tol = KERNEL_TOL[dtype]
    # The value relative to its size (it reaches hundreds at scale 300).
    torch.testing.assert_close(
        value.double(), -(target.double() * log_proba).sum(dim=1), rtol=tol, atol=tol
    )
    torch.testing.assert_close(
        gradient.double(), log_proba.exp() - target.double(), rtol=0, atol=tol
    )
    assert value.dtype == gradient.dtype == dtype
    assert torch.isfinite(value).all() and torch.isfinite(gradient).all()
    torch.testing.assert_close(raw, original, rtol=0, atol=0)  # input not changed


@pytest.mark.parametrize("dtype", [torch.float64, torch.float32])
@pytest.mark.parametrize("K", [3, 10, 50])
def test_softmax_probabilities_gradient_and_hessian_equal_torch_softmax(dtype, K):
    raw, target = _raw_and_target(300, K, dtype)
    loss = MultinomialLogLoss(K)
    p = torch.softmax(raw.double(), dim=1)
    tol = KERNEL_TOL[dtype]
    torch.testing.assert_close(loss.probabilities(raw).double(), p, rtol=0, atol=tol)
    torch.testing.assert_close(loss.gradient(raw, target).double(), p - target, rtol=0, atol=tol)
    hessian = torch.diag_embed(p) - p.unsqueeze(2) * p.unsqueeze(1)
    torch.testing.assert_close(loss.hessian(raw, target).double(), hessian, rtol=0, atol=tol)
    gradient, h = loss.gradient_hessian(raw, target)
    torch.testing.assert_close(gradient.double(), p - target, rtol=0, atol=tol)
    torch.testing.assert_close(h.double(), hessian, rtol=0, atol=tol)


@pytest.mark.parametrize("K", [3, 10])
def test_softmax_value_gradient_equals_autograd(K):
    raw, target = _raw_and_target(200, K, torch.float64)
    loss = MultinomialLogLoss(K)
    value, gradient = loss.value_gradient(raw, target)
    leaf = raw.clone().requires_grad_(True)
    reference = loss.value(leaf, target)
    (auto_gradient,) = torch.autograd.grad(reference.sum(), leaf)
    torch.testing.assert_close(value, reference.detach(), rtol=1e-12, atol=1e-12)
    torch.testing.assert_close(gradient, auto_gradient, rtol=0, atol=1e-12)
    # Under autograd (no in-place steps) the same numbers, and differentiable.
    tracked_value, _ = loss.value_gradient(leaf, target)
    torch.testing.assert_close(tracked_value.detach(), value, rtol=1e-12, atol=1e-12)
    (tracked_gradient,) = torch.autograd.grad(tracked_value.sum(), leaf)
    torch.testing.assert_close(tracked_gradient, auto_gradient, rtol=0, atol=1e-12)


def _objective(n, p, K, dtype, *, sparse=False, offset=False, l2=0.05, seed=0):
    generator = torch.Generator().manual_seed(seed)
    X = torch.randn(n, p, generator=generator, dtype=torch.float64)
    if sparse:
        X = X * (torch.rand(n, p, generator=generator, dtype=torch.float64) < 0.3)
    y = torch.randint(0, K, (n,), generator=generator)
    y[:K] = torch.arange(K)
    weight = torch.rand(n, generator=generator, dtype=torch.float64) + 0.1
    shift = torch.randn(n, K, generator=generator, dtype=torch.float64) if offset else None
    X, weight = X.to(dtype), weight.to(dtype)
    shift = None if shift is None else shift.to(dtype)
    if sparse:
        X = X.to_sparse_csr()
    target = encode_classes(y.numpy(), K, dtype, X.device)
    objective = LinearObjective(
        X, target, weight, MultinomialLogLoss(K), l2, True, offset=shift
    )
    theta = (torch.randn(objective.n_params, generator=generator, dtype=torch.float64) * 0.3)
    return objective, theta.to(dtype)


def _plain_value_gradient(objective, theta):
    """The objective's value and gradient by autograd of the plain formulas, in float64."""
    X = objective.X.to_dense() if objective.X.layout == torch.sparse_csr else objective.X
    X = X.double()
    K, q = objective.n_outputs, objective.n_params_per_output
    leaf = theta.double().clone().requires_grad_(True)
    W = leaf.view(K, q)
    raw = X @ W[:, :-1].T + W[:, -1]
    if objective.offset is not None:
        raw = raw + objective.offset.double()
    target, weight = objective.target.double(), objective.weight.double()
    value = weight @ (torch.logsumexp(raw, dim=1) - (target * raw).sum(dim=1))
    value = value + objective.l2 / 2 * (W[:, :-1] ** 2).sum()
    (gradient,) = torch.autograd.grad(value, leaf)
    return value.detach(), gradient


STORAGES = [
    pytest.param(50, False, False, id="small-dense"),
    pytest.param(50, True, False, id="small-sparse"),
    pytest.param(50, False, True, id="small-dense-offset"),
    # Over 2,048 rows, row-major: the fused pass by chunks (fused.value_gradient).
    pytest.param(5000, False, True, id="chunked-dense-offset"),
    pytest.param(5000, True, True, id="large-sparse-offset"),
]


@pytest.mark.parametrize("dtype", [torch.float64, torch.float32])
@pytest.mark.parametrize("n, sparse, offset", STORAGES)
def test_value_gradient_equals_autograd_of_the_plain_formulas(n, sparse, offset, dtype):
    objective, theta = _objective(n, 7, 10, dtype, sparse=sparse, offset=offset)
    f, g, _ = objective.value_gradient(theta)
    value, gradient = _plain_value_gradient(objective, theta)
    tol = KERNEL_TOL[dtype]
    torch.testing.assert_close(f.double(), value, rtol=tol, atol=tol)
    torch.testing.assert_close(g.double(), gradient, rtol=0, atol=tol)


@pytest.mark.parametrize("dtype", [torch.float64, torch.float32])
@pytest.mark.parametrize("n, sparse, offset", STORAGES)
def test_hessian_vector_products_equal_the_dense_hessian(n, sparse, offset, dtype):
    objective, theta = _objective(n, 7, 10, dtype, sparse=sparse, offset=offset)
    curvature = objective.curvature(theta)
    H = objective.hessian(theta).double()
    generator = torch.Generator().manual_seed(1)
    V = torch.randn(3, objective.n_params, generator=generator, dtype=torch.float64)
    tol = KERNEL_TOL[dtype]
    scale = float(H.abs().max())
    for v in V:
        product = objective.hessian_vector_product(curvature, v.to(dtype)).double()
        torch.testing.assert_close(product, H @ v, rtol=0, atol=tol * scale * 10)
    diagonal = objective.hessian_diagonal(curvature).double()
    torch.testing.assert_close(diagonal, H.diagonal(), rtol=0, atol=tol * scale)


@pytest.fixture
def two_threads():
    threads = torch.get_num_threads()
    torch.set_num_threads(2)
    yield
    torch.set_num_threads(threads)


@pytest.mark.parametrize("dtype", [torch.float64, torch.float32])
@pytest.mark.parametrize("fit_intercept", [True, False])
@pytest.mark.parametrize("n, p, K", [(5000, 7, 10), (20000, 30, 5)])
def test_softmax_gram_hessian_equals_the_blocks_of_the_pointwise_hessian(
    n, p, K, fit_intercept, dtype, two_threads
):
    # Over 2,048 rows in CPU memory: the fused Hessian (fused.hessian) by the
    # softmax's symmetric product (gram.softmax_chunk_gram), several chunks,
    # two threads on the larger one; against the K (K + 1) / 2 blocks of the
    # plain formula, sum_i w_i h_ikm xa_i xa_i^T, from the dense pointwise Hessian.
    objective, theta = _objective(n, p, K, dtype, offset=True)
    if not fit_intercept:
        objective = LinearObjective(
            objective.X, objective.target, objective.weight, objective.loss, 0.05, False,
            offset=objective.offset,
        )
        theta = theta[: objective.n_params]
    assert objective.design.blas_gram and objective.design.augmented is None
    H = objective.hessian(theta)
    X = objective.X.double()
    if fit_intercept:
        X = torch.cat([X, torch.ones(n, 1, dtype=torch.float64)], dim=1)
    raw = X @ theta.double().view(K, -1).T + objective.offset.double()
    c = objective.loss.hessian(raw, None) * objective.weight.double().view(-1, 1, 1)
    q = X.shape[1]
    reference = torch.einsum("ikm,ia,ib->kamb", c, X, X).reshape(K * q, K * q)
    penalty = torch.diag(objective.penalty.l2_columns.double())
    reference += torch.kron(torch.eye(K, dtype=torch.float64), penalty)
    assert H.dtype == dtype and H.shape == (K * q, K * q)
    scale = float(reference.abs().max())
    torch.testing.assert_close(H.double(), reference, rtol=0, atol=KERNEL_TOL[dtype] * scale)
    torch.testing.assert_close(H, H.T, rtol=0, atol=0)


def test_hessian_equals_autograd_of_the_plain_formulas():
    objective, theta = _objective(60, 5, 10, torch.float64, offset=True)

    def plain(t):
        X, K = objective.X, objective.n_outputs
        W = t.view(K, -1)
        raw = X @ W[:, :-1].T + W[:, -1] + objective.offset
        losses = torch.logsumexp(raw, dim=1) - (objective.target * raw).sum(dim=1)
        return objective.weight @ losses + objective.l2 / 2 * (W[:, :-1] ** 2).sum()

    reference = torch.autograd.functional.hessian(plain, theta)
    torch.testing.assert_close(objective.hessian(theta), reference, rtol=0, atol=1e-12)


def test_available_memory_is_read_again_after_its_interval():
    first = available_memory()
    assert first > 0 and available_memory() == first  # within the interval: the same read
    from sklearn_neuron._solvers import memory

    memory._host_memory_read[0] -= 2 * memory._HOST_MEMORY_SECONDS  # the read ages
    assert available_memory() > 0
    assert memory._host_memory_read[0] > 0  # read again, now


def _standardized(loader):
    X, y = loader(return_X_y=True)
    return StandardScaler().fit_transform(X), y


@pytest.fixture(scope="module")
def digits():
    return _standardized(load_digits)


@pytest.fixture(scope="module")
def iris():
    return _standardized(load_iris)


def _reference(X, y, C=1.0):
    return LogisticRegression(C=C, solver="newton-cholesky", tol=1e-12, max_iter=1000).fit(X, y)


@pytest.mark.parametrize("data", ["iris", "digits"])
@pytest.mark.parametrize("optimizer", ["lbfgs", "newton", "newton-cg"])
def test_fits_equal_logistic_regression(data, optimizer, request):
    X, y = request.getfixturevalue(data)
    reference = _reference(X, y)
    model = NeuronClassifier(optimizer=optimizer, tol=1e-12, max_iter=2000).fit(X, y)
    np.testing.assert_allclose(model.coef_, reference.coef_, rtol=0, atol=1e-8)
    np.testing.assert_allclose(model.intercept_, reference.intercept_, rtol=0, atol=1e-8)


def test_fit_on_float32_digits_is_near_logistic_regression(digits):
    X, y = digits
    reference = _reference(X, y)
    model = NeuronClassifier(optimizer="lbfgs", tol=1e-6, max_iter=2000).fit(
        X.astype(np.float32), y
    )
    proba = model.predict_proba(X.astype(np.float32))
    np.testing.assert_allclose(proba, reference.predict_proba(X), rtol=0, atol=1e-4)


def test_cv_path_equals_logistic_regression_on_each_fold(iris):
    X, y = iris
    Cs, cv = np.logspace(-2, 2, 4), StratifiedKFold(3)
    model = NeuronClassifierCV(Cs, cv=cv, tol=1e-12, max_iter=2000).fit(X, y)
    for fold, (train, _) in enumerate(cv.split(X, y)):
        for j, C in enumerate(Cs):
            reference = _reference(X[train], y[train], C)
            coefs = model.coefs_paths_[fold, 0, j]
            np.testing.assert_allclose(coefs[:, :-1], reference.coef_, rtol=0, atol=1e-8)
            np.testing.assert_allclose(coefs[:, -1], reference.intercept_, rtol=0, atol=1e-8)


def test_sparse_fit_equals_dense_fit(digits):
    X, y = digits
    X = np.where(np.abs(X) > 1.0, X, 0.0)
    dense = NeuronClassifier(optimizer="lbfgs", tol=1e-10, max_iter=2000).fit(X, y)
    sparse = NeuronClassifier(optimizer="lbfgs", tol=1e-10, max_iter=2000).fit(
        scipy.sparse.csr_matrix(X), y
    )
    np.testing.assert_allclose(sparse.coef_, dense.coef_, rtol=0, atol=1e-7)
