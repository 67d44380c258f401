"""The chunked weighted Gram kernels against the plain sum ``X^T diag(w) X``."""

import contextlib

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from threadpoolctl import threadpool_info

from sklearn_neuron._objective import gram as _gram
from sklearn_neuron._objective.gram import blas_chunk_grams, torch_chunk_grams


def reference(X, weights, side):
    X64 = X.to(torch.float64)
    grams = [X64.T @ (w.to(torch.float64) * X64) for w in weights]
    return grams, None if side is None else side.to(torch.float64).T @ X64


def problem(n, p, n_weights, n_side, negative, dtype, layout, seed):
    generator = torch.Generator().manual_seed(seed)
    X = torch.randn(n, p, generator=generator, dtype=dtype)
    if layout == "column-major":
        X = X.T.contiguous().T
    weights = [torch.rand(n, 1, generator=generator, dtype=dtype) for _ in range(n_weights)]
    if negative:
        # Mixed signs: the X^T (w X) form. The first weight is negative in
        # the first third of the rows only: both forms within one sum.
        weights[-1] = weights[-1] - 0.5
        weights[0][: n // 3] -= 1.0
    roots = [w.sqrt() if bool((w >= 0).all()) else None for w in weights]
    side = torch.randn(n, n_side, generator=generator, dtype=dtype) if n_side else None
    return X, weights, roots, side


def blas(X, weights, side, step, n_threads):
    """blas_chunk_grams on whole-array weights and side columns."""
    arrays = [w.numpy() for w in weights]
    side_array = None if side is None else side.numpy()

    def terms(rows, X_chunk):
        return [w[rows] for w in arrays], None if side is None else side_array[rows]

    return blas_chunk_grams(X, terms, step, n_threads)


@pytest.fixture
def threads_for_any_work(monkeypatch):
    # Small test data would run on one thread: lift the thresholds so that
    # the threaded shares are exercised.
    monkeypatch.setattr(_gram, "_THREADED_WORK", 0)
    monkeypatch.setattr(_gram, "_CHUNKS_PER_THREAD", 1)


@pytest.mark.usefixtures("threads_for_any_work")
@pytest.mark.parametrize("layout", ["row-major", "column-major"])
@pytest.mark.parametrize("dtype, rtol", [(torch.float64, 1e-12), (torch.float32, 2e-5)])
@pytest.mark.parametrize("n_threads", [1, 2, 3])
def test_blas_grams_equal_the_plain_sums(layout, dtype, rtol, n_threads):
    # 1,000 rows in chunks of 64 (the last one short), two symmetric weights,
    # one of mixed sign, and two side columns. Tolerance: rounding of X's dtype.
    X, weights, roots, side = problem(1_000, 7, 3, 2, True, dtype, layout, 0)
    grams, side_products = blas(X, weights, side, 64, n_threads)
    expected, expected_side = reference(X, weights, side)
    for gram, want, root in zip(grams, expected, roots, strict=True):
        assert gram.dtype == dtype
        torch.testing.assert_close(gram.to(torch.float64), want, rtol=rtol, atol=rtol)
        if root is not None:  # the triangle-only product is mirrored exactly
            assert torch.equal(gram, gram.T)
    torch.testing.assert_close(side_products.to(torch.float64), expected_side, rtol=rtol,
                               atol=rtol)


@pytest.mark.usefixtures("threads_for_any_work")
@settings(max_examples=40, deadline=None)
@given(
    n=st.integers(1, 300),
    p=st.integers(1, 6),
    step=st.integers(1, 80),
    n_threads=st.integers(1, 4),
    n_weights=st.integers(1, 3),
    n_side=st.integers(0, 3),
    negative=st.booleans(),
    layout=st.sampled_from(["row-major", "column-major"]),
    seed=st.integers(0, 2**16),
)
def test_blas_and_torch_kernels_agree(n, p, step, n_threads, n_weights, n_side, negative,
                                      layout, seed):
    # Any row count, chunk size (one row up to more than all rows) and thread
    # count: both kernels give the plain sums to float64 rounding.
    X, weights, roots, side = problem(n, p, n_weights, n_side, negative, torch.float64,
                                      layout, seed)
    expected, expected_side = reference(X, weights, side)
    by_blas = blas(X, weights, side, step, n_threads)
    torched = torch_chunk_grams(lambda rows: X[rows], n, weights, roots, side, step)
    for grams, side_products in (by_blas, torched):
        for gram, want in zip(grams, expected, strict=True):
            torch.testing.assert_close(gram, want, rtol=1e-12, atol=1e-12)
        if side is None:
            assert side_products is None
        else:
            torch.testing.assert_close(side_products, expected_side, rtol=1e-12, atol=1e-12)


def test_blas_thread_limit_is_restored():
    # BLAS runs on one thread inside the kernel, as many as before after it.
    before = [(info["filepath"], info["num_threads"]) for info in threadpool_info()]
    X, weights, roots, side = problem(20_000, 50, 1, 1, False, torch.float64, "row-major", 1)
    blas(X, weights, side, 2048, 2)
    after = [(info["filepath"], info["num_threads"]) for info in threadpool_info()]
    assert after == before


def test_inputs_are_not_modified():
    X, weights, roots, side = problem(500, 4, 2, 1, True, torch.float64, "row-major", 2)
    copies = [t.clone() for t in (X, *weights, side)]
    blas(X, weights, side, 64, 2)
    for original, copy in zip((X, *weights, side), copies, strict=True):
        assert torch.equal(original, copy)


@pytest.mark.parametrize("n_classes", [2, 3])
@pytest.mark.parametrize("fit_intercept", [True, False])
def test_sparse_grams_equal_the_dense_ones(n_classes, fit_intercept):
    # scipy's sparse X^T diag(c) X (cost sum_i nnz_i^2) against the dense
    # objective's Gram, with the side vector inference asks for: 1e-12.
    import scipy.sparse

    from sklearn_neuron._loss.losses import BinaryLogLoss, MultinomialLogLoss, encode_classes
    from sklearn_neuron._objective.linear import LinearObjective
    from sklearn_neuron._validation import sparse_tensor

    rng = np.random.default_rng(1)
    X_csr = scipy.sparse.random(4_000, 30, density=0.1, format="csr", random_state=rng)
    X = torch.from_numpy(X_csr.toarray())
    target = encode_classes(rng.integers(0, n_classes, 4_000), n_classes, torch.float64, X.device)
    weight = torch.from_numpy(rng.random(4_000) + 0.5)
    loss = BinaryLogLoss() if n_classes == 2 else MultinomialLogLoss(n_classes)
    dense = LinearObjective(X, target, weight, loss, 0.1, fit_intercept)
    sparse = LinearObjective(
        sparse_tensor(X_csr, X.device, X.dtype), target, weight, loss, 0.1, fit_intercept
    )
    theta = torch.from_numpy(rng.standard_normal(dense.n_params))
    torch.testing.assert_close(sparse.hessian(theta), dense.hessian(theta), rtol=1e-12,
                               atol=1e-13)
    raw = dense.raw(theta)
    c = loss.hessian(raw, target) * weight.view(-1, 1, 1)
    vector = torch.from_numpy(rng.standard_normal((4_000, loss.n_outputs)))
    G_sparse, side_sparse = sparse.gram(c, None, vector)
    G_dense, side_dense = dense.gram(c, None, vector)
    torch.testing.assert_close(G_sparse, G_dense, rtol=1e-12, atol=1e-13)
    torch.testing.assert_close(side_sparse, side_dense, rtol=1e-12, atol=1e-13)
    nnz = np.diff(X_csr.indptr)
    K = loss.n_outputs
    assert sparse.gram_work == float(nnz @ nnz) * K * (K + 1) / 2
    assert dense.gram_work == 4_000 * dense.n_params**2


def test_the_objective_uses_blas_on_dense_cpu_data_and_torch_on_sparse():
    import scipy.sparse

    from sklearn_neuron._loss.losses import BinaryLogLoss, encode_classes
    from sklearn_neuron._objective.linear import LinearObjective
    from sklearn_neuron._validation import sparse_tensor

    rng = np.random.default_rng(0)
    X = torch.from_numpy(rng.standard_normal((3_000, 5)))
    target = encode_classes(rng.integers(0, 2, 3_000), 2, torch.float64, X.device)
    weight = torch.ones(3_000, dtype=torch.float64)
    dense = LinearObjective(X, target, weight, BinaryLogLoss(), 0.0, True)
    X_sparse = sparse_tensor(scipy.sparse.csr_matrix(X.numpy()), X.device, X.dtype)
    sparse = LinearObjective(X_sparse, target, weight, BinaryLogLoss(), 0.0, True)
    assert dense.design.blas_gram and not sparse.design.blas_gram
    theta = torch.linspace(-1, 1, 6, dtype=torch.float64)
    torch.testing.assert_close(
        dense.hessian(theta, dense.raw(theta)), sparse.hessian(theta, sparse.raw(theta)),
        rtol=1e-12, atol=1e-14,
    )


@pytest.mark.parametrize("threads", ["one", "shared"])
@pytest.mark.parametrize("n_classes", [2, 3])
@pytest.mark.parametrize("layout", ["row-major", "column-major"])
@pytest.mark.parametrize(
    "mode", [contextlib.nullcontext, torch.no_grad, torch.inference_mode],
    ids=["grad", "no_grad", "inference_mode"],
)
def test_fused_second_order_equals_separate_passes(threads, n_classes, layout, mode, request):
    # Inference's one pass (raw output, loss terms and Gram sums per chunk,
    # in one thread or chunks shared by threads) against value_gradient and
    # hessian: 1e-12.
    from test_objective import make_objective

    from sklearn_neuron._objective.linear import LinearObjective

    if threads == "shared":
        request.getfixturevalue("threads_for_any_work")

    objective = make_objective(5_000, 4, n_classes, 0.1, True)
    if layout == "column-major":
        objective = LinearObjective(
            objective.X.T.contiguous().T, objective.target, objective.weight, objective.loss,
            0.1, True,
        )
    objective.design.gram_chunk_rows = 1024  # several chunks (by default one, at this width)
    theta = torch.randn(objective.n_params, dtype=torch.float64) * 0.5
    _, grad, _ = objective.value_gradient(theta)
    raw = objective.raw(theta)
    # The pool's threads run the loss in the caller's torch mode (outputs
    # made in inference mode cannot be written outside it).
    with mode():
        raw_once, grad_once, hessian_once, weighted = objective.second_order(theta)
    torch.testing.assert_close(raw_once, raw, rtol=1e-12, atol=1e-12)
    torch.testing.assert_close(grad_once, grad, rtol=1e-12, atol=1e-12)
    torch.testing.assert_close(hessian_once, objective.hessian(theta, raw), rtol=1e-12,
                               atol=1e-12)
    # Without raw, the Hessian's own chunked pass (raw and curvature per chunk).
    with mode():
        hessian_chunked = objective.hessian(theta)
    torch.testing.assert_close(hessian_chunked, hessian_once, rtol=1e-12, atol=1e-12)
    h = objective.loss.hessian(raw, objective.target)
    torch.testing.assert_close(weighted, h * objective.weight.view(-1, 1, 1))
