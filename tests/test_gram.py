"""The chunked weighted Gram kernels against the plain sum ``X^T diag(w) X``."""

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from threadpoolctl import threadpool_info

from sklearn_neuron import _gram
from sklearn_neuron._gram import blas_chunk_grams, torch_chunk_grams


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
        weights[-1] = weights[-1] - 0.5  # no square root: the X^T (w X) form
    roots = [w.sqrt() if bool((w >= 0).all()) else None for w in weights]
    side = torch.randn(n, n_side, generator=generator, dtype=dtype) if n_side else None
    return X, weights, roots, side


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
    grams, side_products = blas_chunk_grams(X, weights, roots, side, 64, n_threads)
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
    blas = blas_chunk_grams(X, weights, roots, side, step, n_threads)
    torched = torch_chunk_grams(lambda rows: X[rows], n, weights, roots, side, step)
    for grams, side_products in (blas, torched):
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
    blas_chunk_grams(X, weights, roots, side, 2048, 2)
    after = [(info["filepath"], info["num_threads"]) for info in threadpool_info()]
    assert after == before


def test_inputs_are_not_modified():
    X, weights, roots, side = problem(500, 4, 2, 1, True, torch.float64, "row-major", 2)
    copies = [t.clone() for t in (X, *weights, side)]
    blas_chunk_grams(X, weights, roots, side, 64, 2)
    for original, copy in zip((X, *weights, side), copies, strict=True):
        assert torch.equal(original, copy)


def test_the_objective_uses_blas_on_dense_cpu_data_and_torch_on_sparse():
    import scipy.sparse

    from sklearn_neuron._losses import BinaryLogLoss, encode_classes
    from sklearn_neuron._objective import LinearObjective
    from sklearn_neuron._validation import sparse_tensor

    rng = np.random.default_rng(0)
    X = torch.from_numpy(rng.standard_normal((3_000, 5)))
    target = encode_classes(rng.integers(0, 2, 3_000), 2, torch.float64, X.device)
    weight = torch.ones(3_000, dtype=torch.float64)
    dense = LinearObjective(X, target, weight, BinaryLogLoss(), 0.0, True)
    X_sparse = sparse_tensor(scipy.sparse.csr_matrix(X.numpy()), X.device, X.dtype)
    sparse = LinearObjective(X_sparse, target, weight, BinaryLogLoss(), 0.0, True)
    assert dense._blas_gram and not sparse._blas_gram
    theta = torch.linspace(-1, 1, 6, dtype=torch.float64)
    torch.testing.assert_close(
        dense.hessian(theta, dense.raw(theta)), sparse.hessian(theta, sparse.raw(theta)),
        rtol=1e-12, atol=1e-14,
    )
