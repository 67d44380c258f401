"""The training-data fingerprint's sums: equal to the BLAS products they replace."""

import numpy as np
import scipy.sparse
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from sklearn_neuron._objective.fingerprint import _spread, _weighted_sums, sampled_row_products

finite = st.floats(-1e6, 1e6, allow_nan=False, allow_infinity=False)


@settings(max_examples=50, deadline=None)
@given(arrays(np.float64, st.tuples(st.integers(1, 300), st.integers(1, 4)), elements=finite))
def test_weighted_sums_equal_the_matrix_product(a):
    # Tolerance: the sums are summed in another order than BLAS's (rounding only).
    u = _spread(a.shape[0], 0.6180339887498949)
    scale = np.abs(u) @ np.abs(a) + 1.0
    np.testing.assert_array_less(np.abs(_weighted_sums(u, a) - u @ a), 1e-12 * scale)
    np.testing.assert_allclose(
        _weighted_sums(u, a[:, 0]), u @ a[:, 0], rtol=1e-12, atol=1e-12 * scale[0]
    )


def test_sampled_row_products_dense_and_sparse_agree():
    rng = np.random.default_rng(0)
    rows = rng.standard_normal((256, 40)) * (rng.random((256, 40)) < 0.2)
    v = _spread(40, 0.4142135623730951)
    dense = sampled_row_products(rows)
    sparse = sampled_row_products(scipy.sparse.csr_matrix(rows))
    for got, want in zip(dense, (rows @ v, np.abs(rows) @ v), strict=True):
        np.testing.assert_allclose(got, want, rtol=1e-13, atol=1e-13)
    for got, want in zip(sparse, dense, strict=True):
        np.testing.assert_allclose(got, want, rtol=1e-13, atol=1e-13)


def test_sampled_rows_are_the_rounded_even_spacing():
    # Exact: round(i (n - 1) / (k - 1)), halves up, by rational arithmetic.
    from fractions import Fraction

    from sklearn_neuron._objective.fingerprint import _SAMPLED_ROWS, sampled_rows

    for n in (1, 2, 3, 255, 256, 257, 33_087, 200_000, 10**9 + 7):
        k = min(n, _SAMPLED_ROWS)
        want = [int(Fraction(i * (n - 1), max(k - 1, 1)) + Fraction(1, 2)) for i in range(k)]
        np.testing.assert_array_equal(sampled_rows(n), want)
        assert np.unique(sampled_rows(n)).size == k


def test_inference_accepts_its_training_data_under_another_default_dtype():
    # Issue 36, item 15: at this row count a float32 linspace rounds one
    # sampled row to another than a float64 one did.
    import torch

    from sklearn_neuron import NeuronClassifier

    rng = np.random.default_rng(0)
    X = rng.standard_normal((33_087, 2))
    y = (X[:, 0] + rng.standard_normal(X.shape[0]) > 0).astype(int)
    default = torch.get_default_dtype()
    try:
        torch.set_default_dtype(torch.float32)
        model = NeuronClassifier(C=np.inf).fit(X, y)
        under_float32 = str(model.summary(X, y))
        torch.set_default_dtype(torch.float64)
        assert str(model.summary(X, y)) == under_float32
        refit = NeuronClassifier(C=np.inf).fit(X, y)
        torch.set_default_dtype(torch.float32)
        refit.summary(X, y)  # fit under float64, inference under float32
    finally:
        torch.set_default_dtype(default)
