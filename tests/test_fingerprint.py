"""The training-data fingerprint's sums: equal to the BLAS products they replace."""

import numpy as np
import scipy.sparse
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from sklearn_neuron._fingerprint import _spread, _weighted_sums, sampled_row_products

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
