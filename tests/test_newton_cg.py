"""Hessian-free Newton (``optimizer="newton-cg"``): its products and its fits.

The Hessian-vector products and the diagonal are checked against the dense
Hessian (:meth:`LinearObjective.hessian`, itself checked against autograd in
``test_objective.py``); the fits against Newton's (Cholesky-solved steps) on
the same objective, where both run.
"""

import warnings

import numpy as np
import pytest
import scipy.sparse
import torch
from sklearn.datasets import load_breast_cancer, load_iris, make_classification
from sklearn.exceptions import ConvergenceWarning

from sklearn_neuron import NeuronClassifier, NeuronClassifierCV, NeuronRegressor
from sklearn_neuron._loss.losses import BinaryLogLoss, MultinomialLogLoss, encode_classes
from sklearn_neuron._objective.linear import LinearObjective
from sklearn_neuron._solvers.diagnostics import memory_budget, objective_newton_bytes
from sklearn_neuron._validation import sparse_tensor

#: Relative agreement of newton-cg and newton coefficients at tol=1e-10 (float64).
RTOL = 1e-8


def _relative_error(a, b):
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    return np.max(np.abs(a - b)) / max(np.max(np.abs(b)), 1e-300)


def _assert_same_fit(fitted, reference, rtol=RTOL):
    assert _relative_error(fitted.coef_, reference.coef_) <= rtol
    if np.ndim(reference.intercept_):
        scale = max(np.max(np.abs(reference.coef_)), np.max(np.abs(reference.intercept_)))
        assert np.max(np.abs(fitted.intercept_ - reference.intercept_)) <= rtol * scale


def _both(estimator_class, X, y, sample_weight=None, **params):
    """The fits by newton-cg and by newton, tol=1e-10."""
    fits = []
    for optimizer in ("newton-cg", "newton"):
        estimator = estimator_class(optimizer=optimizer, tol=1e-10, max_iter=200, **params)
        fits.append(estimator.fit(X, y, sample_weight=sample_weight))
    return fits


def _iris():
    return load_iris(return_X_y=True)


def _breast_cancer_subset():
    X, y = load_breast_cancer(return_X_y=True)
    return X[:200], y[:200]  # unscaled: features from 1e-3 to 1e3


def _multiclass():
    return make_classification(
        n_samples=400, n_features=12, n_informative=6, n_redundant=0, n_classes=3,
        random_state=0,
    )


def _binary():
    return make_classification(
        n_samples=400, n_features=10, n_redundant=0, flip_y=0.2, random_state=1
    )


DATASETS = {
    "iris": _iris,
    "breast_cancer": _breast_cancer_subset,
    "make_classification-3": _multiclass,
    "make_classification-2": _binary,
}


# -- the objective's products ------------------------------------------------------
def _objective(n_samples, n_classes, l2, fit_intercept, sparse=False):
    generator = torch.Generator().manual_seed(0)
    X = torch.randn(n_samples, 5, generator=generator, dtype=torch.float64)
    sparse_rows = None
    if sparse:
        X = X * (torch.rand(X.shape, generator=generator, dtype=torch.float64) < 0.4)
        sparse_rows = scipy.sparse.csr_matrix(X.numpy())
        X = sparse_tensor(sparse_rows, torch.device("cpu"), torch.float64)
    y = torch.randint(0, n_classes, (n_samples,), generator=generator)
    y[:n_classes] = torch.arange(n_classes)
    weight = torch.rand(n_samples, generator=generator, dtype=torch.float64) + 0.1
    loss = BinaryLogLoss() if n_classes == 2 else MultinomialLogLoss(n_classes)
    target = encode_classes(y.numpy(), n_classes, torch.float64, torch.device("cpu"))
    return LinearObjective(
        X, target, weight, loss, l2, fit_intercept, sparse_rows=sparse_rows
    )


@pytest.mark.parametrize("n_samples", [60, 5000], ids=["kept-design", "chunked"])
@pytest.mark.parametrize("sparse", [False, True], ids=["dense", "sparse"])
@pytest.mark.parametrize(
    "n_classes, l2, fit_intercept",
    [(2, 0.0, True), (2, 0.3, False), (4, 0.0, False), (4, 0.2, True)],
    ids=["binary", "binary-l2", "multinomial", "multinomial-l2"],
)
def test_hessian_vector_product_and_diagonal_match_the_hessian(
    n_classes, l2, fit_intercept, sparse, n_samples
):
    objective = _objective(n_samples, n_classes, l2, fit_intercept, sparse)
    objective.design.gram_chunk_rows = 1024  # several chunks of the diagonal's pass
    generator = torch.Generator().manual_seed(1)
    theta = torch.randn(objective.n_params, generator=generator, dtype=torch.float64)
    _, _, raw = objective.value_gradient(theta)
    hessian = objective.hessian(theta)
    curvature = objective.curvature(theta, raw)
    for _ in range(3):
        v = torch.randn(objective.n_params, generator=generator, dtype=torch.float64)
        torch.testing.assert_close(
            objective.hessian_vector_product(curvature, v), hessian @ v, rtol=1e-12, atol=1e-13
        )
    torch.testing.assert_close(
        objective.hessian_diagonal(curvature), hessian.diagonal(), rtol=1e-12, atol=1e-13
    )


# -- fits: newton-cg equals newton --------------------------------------------------
@pytest.mark.parametrize("dataset", DATASETS)
def test_classifier_equals_newton(dataset):
    X, y = DATASETS[dataset]()
    fitted, reference = _both(NeuronClassifier, X, y)
    assert fitted.optimizer_ == "newton-cg"
    _assert_same_fit(fitted, reference)
    np.testing.assert_allclose(fitted.objective_, reference.objective_, rtol=1e-12)


@pytest.mark.parametrize("dataset", ["iris", "make_classification-2"])
def test_classifier_equals_newton_with_sample_weight(dataset):
    X, y = DATASETS[dataset]()
    sample_weight = np.random.RandomState(0).uniform(0.1, 3.0, size=len(y))
    kept = sample_weight.copy()
    fitted, reference = _both(NeuronClassifier, X, y, sample_weight=sample_weight)
    _assert_same_fit(fitted, reference)
    np.testing.assert_array_equal(sample_weight, kept)


@pytest.mark.parametrize("dataset", ["make_classification-3", "make_classification-2"])
def test_classifier_equals_newton_on_sparse_x(dataset):
    X, y = DATASETS[dataset]()
    X = scipy.sparse.csr_matrix(np.where(np.abs(X) > 1.0, X, 0.0))
    fitted, reference = _both(NeuronClassifier, X, y)
    _assert_same_fit(fitted, reference)


@pytest.mark.parametrize("dataset", ["iris", "make_classification-2"])
def test_classifier_equals_newton_on_torch_tensors(dataset):
    X, y = DATASETS[dataset]()
    fitted, _ = _both(NeuronClassifier, torch.from_numpy(X), torch.from_numpy(y))
    _, reference = _both(NeuronClassifier, X, y)
    _assert_same_fit(fitted, reference)


@pytest.mark.parametrize("dataset", ["make_classification-3", "make_classification-2"])
def test_float32_fit_is_as_close_to_the_float64_optimum_as_newton(dataset):
    X, y = DATASETS[dataset]()
    _, exact = _both(NeuronClassifier, X, y)  # float64
    fitted, newton32 = _both(NeuronClassifier, X.astype(np.float32), y)
    assert fitted.coef_.dtype == np.float32
    # float32 ends at its gradient floor (100 eps): both within a few 1e-5.
    error = _relative_error(fitted.coef_, exact.coef_)
    assert error <= 2e-4
    assert error <= 5 * max(_relative_error(newton32.coef_, exact.coef_), 1e-6)


@pytest.mark.parametrize("n_classes", [2, 3])
def test_unpenalized_fit_equals_newton(n_classes):
    # Overlapping classes (flip_y): the unpenalized optimum exists; for the
    # softmax every column is then a free direction (the projector's case).
    X, y = make_classification(
        n_samples=500, n_features=6, n_informative=4, n_redundant=0, n_classes=n_classes,
        flip_y=0.3, random_state=0,
    )
    fitted, reference = _both(NeuronClassifier, X, y, C=np.inf)
    _assert_same_fit(fitted, reference)


def test_multinomial_without_intercept_equals_newton():
    X, y = _multiclass()
    fitted, reference = _both(NeuronClassifier, X, y, fit_intercept=False, C=0.1)
    _assert_same_fit(fitted, reference)


@pytest.mark.parametrize("loss", ["poisson", "gamma", "squared_error"])
def test_regressor_equals_newton(loss):
    rng = np.random.RandomState(0)
    X = rng.randn(300, 6)
    eta = X @ rng.randn(6) * 0.3
    y = {
        "poisson": lambda: rng.poisson(np.exp(eta)),
        "gamma": lambda: rng.gamma(2.0, np.exp(eta) / 2.0),
        "squared_error": lambda: eta + rng.randn(300),
    }[loss]()
    fitted, reference = _both(NeuronRegressor, X, y, loss=loss, alpha=0.1)
    assert fitted.optimizer_ == "newton-cg"
    _assert_same_fit(fitted, reference)
    assert abs(fitted.intercept_ - reference.intercept_) <= RTOL * np.max(np.abs(reference.coef_))


# -- stopping and refusals --------------------------------------------------------------
def test_stopping_early_warns_with_the_products_spent():
    X, y = _breast_cancer_subset()
    with pytest.warns(ConvergenceWarning, match=r"max_iter reached \(\d+ Hessian-vector"):
        fitted = NeuronClassifier(optimizer="newton-cg", max_iter=2).fit(X, y)
    assert fitted.n_iter_ == 2


def test_converged_fit_gives_no_warning_and_counts_outer_iterations():
    X, y = _iris()
    with warnings.catch_warnings():
        warnings.simplefilter("error", ConvergenceWarning)
        fitted = NeuronClassifier(optimizer="newton-cg", tol=1e-8).fit(X, y)
    assert fitted.n_iter_ == len(fitted.history_) - 1
    assert fitted.history_[-1]["grad_max"] <= 1e-8


def test_refuses_l1():
    X, y = _binary()
    with pytest.raises(ValueError, match="optimizer='newton-cg' does not handle the L1 term"):
        NeuronClassifier(optimizer="newton-cg", l1_ratio=0.5).fit(X, y)


def test_refuses_a_loss_without_hessian():
    X, y = _binary()
    with pytest.raises(ValueError, match="optimizer='newton-cg' needs a twice-differentiable"):
        NeuronRegressor(optimizer="newton-cg", loss="absolute_error").fit(X, y.astype(float))


def test_runs_on_dask_data_without_a_cluster():
    # Dask's own scheduler (no distributed client): the in-memory fit's
    # coefficients to 1e-8 at tol=1e-10 (tests/test_dask.py: on a cluster).
    da = pytest.importorskip("dask.array")
    X, y = _binary()
    memory = NeuronClassifier(optimizer="newton-cg", tol=1e-10).fit(X, y)
    model = NeuronClassifier(optimizer="newton-cg", tol=1e-10).fit(
        da.from_array(X, chunks=200), da.from_array(y, chunks=200)
    )
    assert model.optimizer_ == "newton-cg" and model.converged_
    np.testing.assert_allclose(model.coef_, memory.coef_, rtol=0, atol=1e-8)
    np.testing.assert_allclose(model.intercept_, memory.intercept_, rtol=0, atol=1e-8)


def test_fits_where_newtons_hessian_would_not():
    # 3000 x 50 with 1000 classes: Newton's Hessian alone, (51,000)^2, is 21 GB
    # and Newton is refused; the products need a few n x K arrays.
    rng = np.random.default_rng(0)
    X, y = rng.normal(size=(3000, 50)), np.arange(3000) % 1000
    objective = NeuronClassifier()._build_objective(X, y, None, reset=True)
    assert objective_newton_bytes(objective) > memory_budget()
    with pytest.raises(MemoryError, match="optimizer='newton' would need"):
        NeuronClassifier(optimizer="newton").fit(X, y)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        fitted = NeuronClassifier(optimizer="newton-cg", max_iter=2).fit(X, y)
    assert fitted.optimizer_ == "newton-cg"
    assert fitted.objective_ < fitted.history_[0]["objective"]


def test_cross_validated_path_equals_newtons():
    X, y = _multiclass()
    fits = [
        NeuronClassifierCV(optimizer=optimizer, Cs=3, cv=3, tol=1e-10).fit(X, y)
        for optimizer in ("newton-cg", "newton")
    ]
    np.testing.assert_array_equal(fits[0].C_, fits[1].C_)
    _assert_same_fit(*fits)


def test_poisson_with_offset_equals_newton():
    # The curvature is at the raw outputs with the offset; directions have none.
    rng = np.random.RandomState(0)
    X, offset = rng.randn(300, 4), rng.rand(300)
    y = rng.poisson(np.exp(X @ [0.2, 0.1, -0.3, 0.0] + offset))
    fitted, reference = [
        NeuronRegressor(loss="poisson", optimizer=optimizer, tol=1e-10, alpha=0.01).fit(
            X, y, offset=offset
        )
        for optimizer in ("newton-cg", "newton")
    ]
    _assert_same_fit(fitted, reference)
    assert abs(fitted.intercept_ - reference.intercept_) <= RTOL * np.max(np.abs(reference.coef_))


def test_the_final_step_is_skipped_at_rounding_and_taken_above_it():
    """A point whose gradient is at the rounding of the start's takes no final
    step (no product, the point unchanged); one at tol=1e-4's distance takes it
    and gets closer (a smaller largest gradient entry)."""
    from sklearn_neuron._solvers import newton_cg as module
    from sklearn_neuron._solvers.optimizers import _Progress

    X, y = _multiclass()
    objective = NeuronClassifier()._build_objective(X, y, None, reset=True)
    optimum = NeuronClassifier(optimizer="newton-cg", tol=1e-12).fit(X, y)
    near = NeuronClassifier(optimizer="newton-cg", tol=1e-3).fit(X, y)
    g0_norm = float(torch.linalg.vector_norm(
        objective.value_gradient(objective.initial_theta())[1]))
    for model, taken in ((optimum, False), (near, True)):
        theta = torch.as_tensor(np.hstack([model.coef_, model.intercept_[:, None]]).ravel())
        f, g, raw = objective.value_gradient(theta)
        grad_max = float(g.abs().max())
        at_rounding = float(torch.linalg.vector_norm(g)) / g0_norm <= (
            module._ROUNDING_FORCING * torch.finfo(torch.float64).eps)
        assert at_rounding is not taken
        solver = module._InnerSolver(objective)
        progress = _Progress("newton-cg", 0, float(f), grad_max)
        out = module._final_step(objective, solver, theta, float(f), g, raw, grad_max, 1,
                                 progress, g0_norm)
        assert (solver.products > 0) is taken
        assert (out[4] == 2) is taken  # the iteration count
        if taken:
            assert out[3] < grad_max
        else:
            assert out[0] is theta


@pytest.mark.parametrize("sparse", [False, True])
def test_multinomial_on_features_of_very_different_scales(sparse):
    """Columns of scales 1e-3 to 1e3, 10 classes, intercepts unpenalized: the
    projector that keeps the steps out of the intercepts' free direction was
    scaled to the whole diagonal's mean (1e6 times the intercepts' curvature),
    and the preconditioner took it in. The default fit ended 2.3e-3 (relative)
    from the optimum after 3,486 products, where LogisticRegression
    (newton-cholesky) at its default tol ends 1e-4 from it; now within 1e-5 of
    it (1e-6 measured, 1,188 products), and within 1e-8 at tol=1e-8."""
    from sklearn.linear_model import LogisticRegression

    rng = np.random.default_rng(35)
    X = rng.standard_normal((90, 16)) * 10.0 ** rng.uniform(-3, 3, 16)
    scores = (X / X.std(0)) @ rng.standard_normal((16, 10)) * 0.7
    y = (scores + rng.gumbel(size=(90, 10))).argmax(1)
    reference = LogisticRegression(C=0.3, solver="newton-cholesky", tol=1e-12, max_iter=1000)
    reference.fit(X, y)
    data = scipy.sparse.csr_matrix(X) if sparse else X
    for tol, bound in ((1e-4, 1e-5), (1e-8, 1e-8)):
        model = NeuronClassifier(C=0.3, optimizer="newton-cg", tol=tol).fit(data, y)
        assert model.converged_
        assert _relative_error(model.coef_, reference.coef_) <= bound, tol
