"""Every design storage gives the same kernels (``sklearn_neuron._objective.design``).

One contract run over every storage: dense float64 in row-major order (numpy's
BLAS Gram sums, the fused chunked passes), column-major, the small-data
augmented ``[X, 1]`` copy, torch's chunk kernels (what a GPU takes), float32, and
sparse CSR. Each kernel (raw output, ``X^T r``, the weighted Gram with its side
product, the Hessian diagonal's squares, row access) is checked against the plain
float64 formula on the same random data, and the objective built on each storage
(with sample weights and an offset) against the dense float64 one: 1e-12 in
float64, float32's precision in float32.
"""

import numpy as np
import pytest
import scipy.sparse
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from sklearn_neuron._loss.losses import HalfPoissonLoss, MultinomialLogLoss, encode_classes
from sklearn_neuron._objective.design import DenseDesign, SparseDesign, make_design
from sklearn_neuron._objective.linear import LinearObjective
from sklearn_neuron._validation import sparse_tensor

STORAGES = [
    "dense", "column-major", "small-augmented", "torch-kernels", "float32", "sparse",
    "sparse-float32",
]
#: ... and dense data on a GPU, where one is present.
DEVICE_STORAGES = [
    *STORAGES,
    pytest.param("cuda", marks=pytest.mark.skipif(
        not torch.cuda.is_available(), reason="CUDA not available"
    )),
]
N_LARGE, N_SMALL, P = 5_000, 500, 6


def _data(n, seed=0):
    """X with a third of its entries zero (float64 numpy), and its CSR twin."""
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n, P)) * (rng.random((n, P)) > 0.3)
    return X, scipy.sparse.csr_matrix(X)


def _tensor(storage, X, X_csr):
    if storage.startswith("sparse"):
        dtype = torch.float32 if storage.endswith("float32") else torch.float64
        return sparse_tensor(X_csr, torch.device("cpu"), dtype)
    if storage == "float32":
        return torch.from_numpy(X.astype(np.float32))
    if storage == "column-major":
        return torch.from_numpy(np.asfortranarray(X))
    if storage == "cuda":
        return torch.from_numpy(X).to("cuda")
    return torch.from_numpy(X.copy())


def _design(storage, fit_intercept, n_outputs):
    """The storage's design over random data, and the data (float64 numpy)."""
    X, X_csr = _data(N_SMALL if storage == "small-augmented" else N_LARGE)
    tensor = _tensor(storage, X, X_csr)
    design = make_design(tensor, fit_intercept, n_outputs)
    # Several chunks of every chunked pass.
    design.gram_chunk_rows = 1024
    if design.fused_chunk_rows:
        design.fused_chunk_rows = 1024
    if storage == "torch-kernels":
        design.blas_gram = False  # torch's chunk products (the path of CUDA data)
    return design, X


def _tolerance(design):
    return {"rtol": 1e-5, "atol": 1e-5} if design.dtype == torch.float32 else {
        "rtol": 1e-12, "atol": 1e-12
    }


def _as64(tensor):
    return tensor.to(device="cpu", dtype=torch.float64)


def test_each_storage_takes_its_own_kernels():
    # The contract below would hold trivially if every storage took one path.
    kinds = {storage: _design(storage, True, 2)[0] for storage in STORAGES}
    sparse = [s for s in STORAGES if s.startswith("sparse")]
    assert all(isinstance(kinds[s], SparseDesign) and kinds[s].is_sparse for s in sparse)
    assert all(isinstance(kinds[s], DenseDesign) for s in STORAGES if s not in sparse)
    # float64 one-output products of all rows are scipy's, the others torch's.
    W = torch.zeros((1, P + 1), dtype=torch.float64)
    assert kinds["sparse"]._host_matrix(kinds["sparse"].X, 1, W) is not None
    assert kinds["sparse"]._host_matrix(kinds["sparse"].X, 2, W) is None
    assert kinds["sparse-float32"]._host_matrix(kinds["sparse-float32"].X, 1, W.float()) is None
    assert kinds["small-augmented"].augmented is not None
    assert kinds["small-augmented"].augmented.T.is_contiguous()  # column-major [X, 1]
    assert all(kinds[s].augmented is None for s in STORAGES if s != "small-augmented")
    assert kinds["dense"].blas_gram and kinds["dense"].fused_chunk_rows
    assert kinds["column-major"].blas_gram and not kinds["column-major"].fused_chunk_rows
    assert not kinds["torch-kernels"].blas_gram and not kinds["sparse"].blas_gram


@pytest.mark.parametrize("storage", DEVICE_STORAGES)
@pytest.mark.parametrize("n_outputs", [1, 3])
@pytest.mark.parametrize("fit_intercept", [True, False])
def test_kernels_equal_the_plain_formulas(storage, n_outputs, fit_intercept):
    design, X = _design(storage, fit_intercept, n_outputs)
    n = X.shape[0]
    Xa = np.hstack([X, np.ones((n, 1))]) if fit_intercept else X
    q = Xa.shape[1]
    assert design.n_columns == q and design.n_samples == n and design.n_features == P
    rng = np.random.default_rng(1)
    like = {"dtype": design.dtype, "device": design.device}
    W = rng.standard_normal((n_outputs, q))
    tol = _tolerance(design)

    # Raw output of all rows and of a minibatch's rows.
    raw = design.raw(torch.tensor(W, **like))
    torch.testing.assert_close(_as64(raw), torch.from_numpy(Xa @ W.T), **tol)
    index = torch.from_numpy(rng.choice(n, 300, replace=False)).to(design.device)
    rows_raw = design.rows_raw(torch.tensor(W, **like), design.rows(index))
    torch.testing.assert_close(
        _as64(rows_raw), torch.from_numpy(Xa[index.cpu().numpy()] @ W.T), **tol
    )

    # X^T r, of all rows and of the minibatch's.
    r = rng.standard_normal((n, n_outputs))
    torch.testing.assert_close(
        _as64(design.linear_gradient(torch.tensor(r, **like))),
        torch.from_numpy(r.T @ Xa), **tol,
    )
    r_rows = r[index.cpu().numpy()]
    torch.testing.assert_close(
        _as64(design.linear_gradient(torch.tensor(r_rows, **like), design.rows(index))),
        torch.from_numpy(r_rows.T @ Xa[index.cpu().numpy()]), **tol,
    )

    # The weighted Gram (symmetric per-row weights, some negative: the general
    # product beside the B^T B one), its L2 block, and the side product.
    c = rng.standard_normal((n, n_outputs, n_outputs))
    c = (c + c.transpose(0, 2, 1)) / 2
    c[: n // 2] = np.abs(c[: n // 2])
    block = np.diag(rng.random(q))
    vector = rng.standard_normal((n, n_outputs))
    expected = np.einsum("ikm,ia,ib->kamb", c, Xa, Xa).reshape(n_outputs * q, -1)
    expected += np.kron(np.eye(n_outputs), block)
    G, side = design.gram(
        torch.tensor(c, **like), torch.tensor(block, **like), torch.tensor(vector, **like)
    )
    scale = float(np.abs(expected).max())
    gram_tol = {"rtol": tol["rtol"], "atol": tol["atol"] * scale}
    torch.testing.assert_close(_as64(G), torch.from_numpy(expected), **gram_tol)
    torch.testing.assert_close(_as64(side), torch.from_numpy(vector.T @ Xa), **gram_tol)
    assert design.gram_work(n_outputs) > 0

    # The Hessian diagonal's sum_i d_ik xa_ij^2.
    d = rng.random((n, n_outputs))
    torch.testing.assert_close(
        _as64(design.weighted_squares(torch.tensor(d, **like))),
        torch.from_numpy(d.T @ Xa**2), **gram_tol,
    )


def test_sparse_products_by_scipy_equal_torchs_and_keep_autograd():
    # With autograd through the raw output, torch's CSR kernels take it
    # (scipy's would cut the graph): both ways give the same numbers, and the
    # gradient through torch's raw output is scipy's X^T r.
    design, X = _design("sparse", True, 1)
    W = torch.from_numpy(np.random.default_rng(2).standard_normal((1, P + 1)))
    W_grad = W.clone().requires_grad_(True)
    assert design._host_matrix(design.X, 1, W) is not None
    assert design._host_matrix(design.X, 1, W_grad) is None
    raw = design.raw(W_grad)
    torch.testing.assert_close(design.raw(W), raw.detach(), rtol=1e-13, atol=1e-13)
    r = torch.from_numpy(np.random.default_rng(3).standard_normal((X.shape[0], 1)))
    (raw * r).sum().backward()
    torch.testing.assert_close(W_grad.grad, design.linear_gradient(r), rtol=1e-13, atol=1e-13)


@settings(max_examples=60, deadline=None)
@given(
    n=st.integers(1, 40), p=st.integers(1, 8), density=st.sampled_from([0.0, 0.1, 0.5, 1.0]),
    fit_intercept=st.booleans(), seed=st.integers(0, 2**16),
)
def test_sparse_kernels_equal_the_dense_formulas_for_any_pattern(
    n, p, density, fit_intercept, seed
):
    # scipy's products of all rows (float64, one output) and torch's (several
    # outputs) against the dense formulas, whatever the pattern: empty rows
    # and columns, no non-zeros at all, a full matrix. 1e-12.
    rng = np.random.default_rng(seed)
    X = scipy.sparse.random(n, p, density=density, format="csr", random_state=rng)
    dense = X.toarray()
    Xa = np.hstack([dense, np.ones((n, 1))]) if fit_intercept else dense
    for n_outputs in (1, 3):
        design = make_design(sparse_tensor(X, torch.device("cpu"), torch.float64),
                             fit_intercept, n_outputs)
        W = rng.standard_normal((n_outputs, Xa.shape[1]))
        r = rng.standard_normal((n, n_outputs))
        d = rng.random((n, n_outputs))
        tol = {"rtol": 1e-12, "atol": 1e-12}
        torch.testing.assert_close(design.raw(torch.from_numpy(W)), torch.from_numpy(Xa @ W.T),
                                   **tol)
        torch.testing.assert_close(design.linear_gradient(torch.from_numpy(r)),
                                   torch.from_numpy(r.T @ Xa), **tol)
        torch.testing.assert_close(design.weighted_squares(torch.from_numpy(d)),
                                   torch.from_numpy(d.T @ Xa**2), **tol)


@pytest.mark.parametrize("storage", STORAGES)
def test_rows_are_the_data_rows(storage):
    design, X = _design(storage, True, 1)
    n = X.shape[0]
    X_t = torch.from_numpy(X).to(design.dtype)
    index = torch.tensor([n - 1, 0, 17, 17, 3])

    def dense(rows):
        return rows.to_dense() if rows.layout == torch.sparse_csr else rows

    torch.testing.assert_close(dense(design.rows(index)), X_t[index], rtol=0, atol=0)
    torch.testing.assert_close(design.dense_rows(slice(10, 20)), X_t[10:20], rtol=0, atol=0)
    torch.testing.assert_close(
        design.dense_rows(slice(n - 3, n + 1000)), X_t[n - 3 :], rtol=0, atol=0
    )
    host = design.host_rows(index.numpy())
    host = host.toarray() if scipy.sparse.issparse(host) else host
    np.testing.assert_array_equal(host, X_t[index].numpy())
    order = torch.randperm(n, generator=torch.Generator().manual_seed(0))
    reordered = design.reordered(order)
    torch.testing.assert_close(
        dense(design.row_slice(reordered, slice(5, 50))), X_t[order[5:50]], rtol=0, atol=0
    )
    whole = torch.cat([X_t, torch.ones((n, 1), dtype=design.dtype)], dim=1)
    torch.testing.assert_close(design.dense(), whole, rtol=0, atol=0)
    assert design.abs_max() == float(np.abs(X_t.numpy()).max())
    if storage.startswith("sparse"):
        rows = scipy.sparse.csr_matrix(X[index].astype(design.scipy_rows().dtype))
        assert (design.scipy_rows(index.numpy()) != rows).nnz == 0


def _objective(storage, loss_name, fit_intercept):
    """An objective with sample weights and an offset on the storage's design."""
    X, X_csr = _data(N_SMALL if storage == "small-augmented" else N_LARGE, seed=2)
    n = X.shape[0]
    rng = np.random.default_rng(3)
    tensor = _tensor(storage, X, X_csr)
    dtype = tensor.dtype
    if loss_name == "multinomial":
        loss = MultinomialLogLoss(3)
        target = encode_classes(rng.integers(0, 3, n), 3, dtype, tensor.device)
    else:
        loss = HalfPoissonLoss()
        target = torch.from_numpy(rng.poisson(1.5, (n, 1)).astype(np.float64)).to(dtype)
    weight = torch.from_numpy(rng.random(n) + 0.2).to(dtype)
    offset = torch.from_numpy(0.3 * rng.standard_normal((n, loss.n_outputs))).to(dtype)
    objective = LinearObjective(tensor, target, weight, loss, 0.05, fit_intercept, offset=offset)
    objective.design.gram_chunk_rows = 1024
    if objective.design.fused_chunk_rows:
        objective.design.fused_chunk_rows = 1024
    if storage == "torch-kernels":
        objective.design.blas_gram = False
    return objective


@pytest.mark.parametrize(
    "storage", [s for s in STORAGES if s not in ("dense", "small-augmented")]
)
@pytest.mark.parametrize("loss_name", ["multinomial", "poisson"])
@pytest.mark.parametrize("fit_intercept", [True, False])
def test_objectives_agree_across_storages(storage, loss_name, fit_intercept):
    # value, gradient, Hessian (with and without raw), the one-pass second
    # order, the Hessian-vector product and diagonal, against dense float64
    # (small data, other rows: the last test).
    reference = _objective("dense", loss_name, fit_intercept)
    objective = _objective(storage, loss_name, fit_intercept)
    tol = _tolerance(objective.design)
    rng = np.random.default_rng(4)
    theta64 = torch.from_numpy(0.3 * rng.standard_normal(reference.n_params))
    theta = theta64.to(objective.dtype)
    v = torch.from_numpy(rng.standard_normal(reference.n_params))

    f_ref, g_ref, raw_ref = reference.value_gradient(theta64)
    f, g, raw = objective.value_gradient(theta)
    torch.testing.assert_close(_as64(f), f_ref, **tol)
    torch.testing.assert_close(_as64(g), g_ref, **tol)
    H_ref = reference.hessian(theta64)
    torch.testing.assert_close(_as64(objective.hessian(theta)), H_ref, **tol)
    torch.testing.assert_close(_as64(objective.hessian(theta, raw)), H_ref, **tol)
    raw_once, g_once, H_once, _ = objective.second_order(theta)
    torch.testing.assert_close(_as64(raw_once), reference.raw(theta64), **tol)
    torch.testing.assert_close(_as64(g_once), g_ref, **tol)
    torch.testing.assert_close(_as64(H_once), H_ref, **tol)
    curvature = objective.curvature(theta)
    torch.testing.assert_close(
        _as64(objective.hessian_vector_product(curvature, v.to(objective.dtype))),
        H_ref @ v, **tol,
    )
    torch.testing.assert_close(
        _as64(objective.hessian_diagonal(curvature)), H_ref.diagonal(), **tol
    )
    minibatch = torch.arange(0, reference.X.shape[0], 7)
    f_b_ref, g_b_ref, _ = reference.value_gradient(theta64, minibatch)
    f_b, g_b, _ = objective.value_gradient(theta, minibatch)
    torch.testing.assert_close(_as64(f_b), f_b_ref, **tol)
    torch.testing.assert_close(_as64(g_b), g_b_ref, **tol)


def test_small_data_objective_equals_its_chunked_twin():
    # The augmented [X, 1] copy (one product each) against the same rows
    # read by chunks (the design of a larger X, cut to the small one's rows).
    small = _objective("small-augmented", "multinomial", True)
    assert small.design.augmented is not None
    X = small.X.repeat(5, 1)  # 2,500 rows: no augmented copy
    chunked = LinearObjective(
        X, small.target.repeat(5, 1), small.weight.repeat(5), small.loss, small.l2, True,
        offset=small.offset.repeat(5, 1),
    )
    assert chunked.design.augmented is None
    theta = torch.linspace(-0.5, 0.5, small.n_params, dtype=torch.float64)
    f, g, raw = small.value_gradient(theta)
    f_c, g_c, _ = chunked.value_gradient(theta)
    torch.testing.assert_close(f, f_c, rtol=1e-12, atol=1e-12)
    torch.testing.assert_close(g, g_c, rtol=1e-12, atol=1e-12)
    torch.testing.assert_close(
        small.hessian(theta, raw), chunked.hessian(theta), rtol=1e-12, atol=1e-12
    )
