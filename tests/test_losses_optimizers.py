"""Loss and optimizer as hyperparameters: which choices are logistic regression, and which not.

Tolerances, stated per test:

- convex smooth losses (log_loss, squared_hinge, modified_huber): Newton and
  L-BFGS agree to 1e-6 in coefficients (tol=1e-10);
- log_loss with a minibatch optimizer: within 1e-2 of LogisticRegression's
  coefficients (the issue's bound for stochastic training);
- hinge (convex, not differentiable): L-BFGS and minibatch Adam reach
  objectives within 3% of each other;
- L1: within 1e-4 of LogisticRegression(solver="saga") with the same zeros;
- sparse X: within 1e-8 of the dense fit for every optimizer.
"""

import warnings

import numpy as np
import pytest
import scipy.sparse as sp
import torch
from _datasets import classification_dataset
from sklearn.exceptions import ConvergenceWarning
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import GridSearchCV, StratifiedKFold, cross_validate
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from sklearn_neuron import NeuronClassifier
from sklearn_neuron._solvers.stochastic import STOCHASTIC_OPTIMIZERS

TIGHT = dict(tol=1e-10, max_iter=5000)


@pytest.fixture(scope="module")
def binary():
    return classification_dataset("breast_cancer")


@pytest.fixture(scope="module")
def logreg(binary):
    return LogisticRegression(solver="newton-cholesky", tol=1e-10, max_iter=1000).fit(*binary)


@pytest.mark.parametrize("dataset", ["breast_cancer", "wine"])
@pytest.mark.parametrize("loss", ["log_loss", "squared_hinge", "modified_huber"])
def test_full_batch_optimizers_reach_the_same_optimum(dataset, loss):
    X, y = classification_dataset(dataset)
    newton = NeuronClassifier(loss=loss, optimizer="newton", **TIGHT).fit(X, y)
    lbfgs = NeuronClassifier(loss=loss, optimizer="lbfgs", **TIGHT).fit(X, y)
    assert newton.converged_ and lbfgs.converged_
    np.testing.assert_allclose(newton.coef_, lbfgs.coef_, rtol=0, atol=1e-6)
    assert newton.objective_ == pytest.approx(lbfgs.objective_, rel=1e-10)


@pytest.mark.parametrize("optimizer", sorted(STOCHASTIC_OPTIMIZERS))
def test_minibatch_log_loss_lands_on_logistic_regression(binary, logreg, optimizer):
    X, y = binary
    # A decaying step would converge exactly; a small constant step and a
    # large batch get within the stated 1e-2.
    learning_rate = {"sgd": 0.1, "adagrad": 0.3, "rmsprop": 0.001}.get(optimizer, 0.01)
    kwargs = {"momentum": 0.9} if optimizer == "sgd" else None
    neuron = NeuronClassifier(
        optimizer=optimizer,
        optimizer_kwargs=kwargs,
        learning_rate=learning_rate,
        batch_size=569,
        max_iter=3000,
        tol=1e-9,
        n_iter_no_change=50,
        random_state=0,
    ).fit(X, y)
    np.testing.assert_allclose(neuron.coef_, logreg.coef_, rtol=0, atol=1e-2)


def _svm_objective(coef, X, y, C):
    margin = (2 * y - 1) * (X @ coef.ravel())
    return C * np.maximum(0.0, 1.0 - margin).sum() + 0.5 * coef.ravel() @ coef.ravel()


@pytest.mark.parametrize("dataset", ["breast_cancer", "wine", "iris"])
@pytest.mark.parametrize("optimizer", ["auto", "newton", "lbfgs"])
def test_hinge_is_solved_exactly_as_linear_svc(dataset, optimizer):
    # liblinear's dual coordinate descent is the reference, run to tol=1e-12:
    # our objective is never above its own, and where liblinear reached the
    # optimum (same objective to 1e-9) the coefficients equal it to 1e-4.
    # (The SVM's w is unique for C < inf, so a lower objective is the better fit.)
    from sklearn.svm import LinearSVC

    X, y = classification_dataset(dataset)
    y = (y == y.max()).astype(int) if dataset != "breast_cancer" else y
    ref = LinearSVC(loss="hinge", dual=True, fit_intercept=False, C=1.0, tol=1e-12,
                    max_iter=10**7).fit(X, y)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        neuron = NeuronClassifier(loss="hinge", optimizer=optimizer, fit_intercept=False)
        neuron.fit(X, y)
    warned = any(issubclass(w.category, ConvergenceWarning) for w in caught)
    if optimizer == "lbfgs" and not neuron.converged_:
        # L-BFGS may stop short on the sharpest smoothed stages: it must say so.
        assert warned
        return
    assert neuron.converged_ and not warned
    ours, theirs = _svm_objective(neuron.coef_, X, y, 1.0), _svm_objective(ref.coef_, X, y, 1.0)
    assert ours <= theirs * (1 + 1e-12)
    if theirs - ours <= 1e-9 * theirs:  # liblinear reached the optimum too
        gap = np.abs(neuron.coef_ - ref.coef_).max() / np.abs(ref.coef_).max()
        assert gap <= 1e-4


def test_hinge_with_an_intercept_satisfies_the_svm_conditions(binary):
    # Unpenalized intercept: the SVM's sum_i alpha_i s_i = 0, i.e. the
    # intercept's subgradient contains 0; a perturbation never lowers f.
    X, y = binary
    neuron = NeuronClassifier(loss="hinge").fit(X, y)
    assert neuron.converged_
    coef, b = neuron.coef_.ravel(), float(neuron.intercept_[0])

    def f(coef, b):
        margin = (2 * y - 1) * (X @ coef + b)
        return np.maximum(0.0, 1.0 - margin).sum() + 0.5 * coef @ coef

    base = f(coef, b)
    rng = np.random.default_rng(0)
    for _ in range(20):
        d = rng.normal(size=coef.size + 1) * 1e-4
        assert f(coef + d[:-1], b + d[-1]) >= base - 1e-9


def test_hinge_with_a_minibatch_optimizer_warns_or_reaches_it(binary):
    X, y = binary
    exact = NeuronClassifier(loss="hinge").fit(X, y)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        adam = NeuronClassifier(loss="hinge", optimizer="adam", random_state=0,
                                max_iter=50).fit(X, y)
    warned = any(issubclass(w.category, ConvergenceWarning) for w in caught)
    assert warned != adam.converged_
    if adam.converged_:
        np.testing.assert_allclose(adam.coef_, exact.coef_, atol=1e-4)
    assert adam.objective_ >= exact.objective_ - 1e-12


@pytest.mark.parametrize("max_iter", [3, 40])
def test_a_short_minibatch_hinge_fit_keeps_its_epoch_budget_and_names_no_nan(binary, max_iter):
    # The continuation's stages share max_iter's epochs, and its warning
    # names no learning rate (there is none for the whole fit) rather than NaN.
    X, y = binary
    with pytest.warns(ConvergenceWarning) as caught:
        model = NeuronClassifier(loss="hinge", optimizer="sgd", max_iter=max_iter,
                                 random_state=0).fit(X, y)
    assert model.n_iter_ <= max_iter
    message = " ".join(str(w.message) for w in caught)
    assert "nan" not in message.lower(), message
    assert f"after {model.n_iter_} epochs" in message
    assert f"now {max_iter}" in message


@pytest.mark.parametrize("loss", ["squared_error", "hinge"])
def test_other_losses_are_not_logistic_regression(binary, logreg, loss):
    X, y = binary
    neuron = NeuronClassifier(loss=loss, optimizer="lbfgs", max_iter=2000, tol=1e-8).fit(X, y)
    # Same network, same data, same C: a different objective, another optimum.
    gap = np.abs(neuron.coef_ - logreg.coef_).max()
    assert gap > 0.1, gap
    # ... yet a sensible classifier.
    assert neuron.score(X, y) > 0.95


def test_torch_optimizer_class_and_kwargs(binary):
    X, y = binary
    a = NeuronClassifier(
        optimizer=torch.optim.SGD, optimizer_kwargs={"momentum": 0.9}, random_state=0, max_iter=20
    ).fit(X, y)
    b = NeuronClassifier(
        optimizer="sgd", optimizer_kwargs={"momentum": 0.9}, random_state=0, max_iter=20
    ).fit(X, y)
    np.testing.assert_array_equal(a.coef_, b.coef_)
    with pytest.raises(ValueError, match="not a torch.optim.Optimizer subclass"):
        NeuronClassifier(optimizer=dict).fit(X, y)
    with pytest.raises(ValueError, match="nesterov_typo"):
        NeuronClassifier(optimizer="sgd", optimizer_kwargs={"nesterov_typo": True}).fit(X, y)


def test_minibatch_fits_are_reproducible_bit_for_bit(binary):
    X, y = binary
    fits = [
        NeuronClassifier(optimizer="adam", random_state=7, max_iter=30).fit(X, y) for _ in range(2)
    ]
    np.testing.assert_array_equal(fits[0].coef_, fits[1].coef_)
    np.testing.assert_array_equal(fits[0].loss_curve_, fits[1].loss_curve_)
    other = NeuronClassifier(optimizer="adam", random_state=8, max_iter=30).fit(X, y)
    assert not np.array_equal(other.coef_, fits[0].coef_)


def test_loss_curve_and_early_stopping(binary):
    X, y = binary
    model = NeuronClassifier(optimizer="adam", early_stopping=True, random_state=0).fit(X, y)
    # The curve holds the objective at the start and after each accepted epoch.
    assert len(model.validation_scores_) == model.n_iter_
    assert len(model.loss_curve_) <= model.n_iter_ + 1
    assert model.converged_ and model.n_iter_ < 100
    assert NeuronClassifier(optimizer="adam", max_iter=5).fit(X, y).validation_scores_ is None


def test_partial_fit_learns_incrementally(binary, logreg):
    X, y = binary
    model = NeuronClassifier(optimizer="adam", learning_rate=0.05, random_state=0)
    for epoch in range(60):
        for rows in np.array_split(np.arange(len(y)), 4):
            model.partial_fit(X[rows], y[rows], classes=[0, 1] if epoch == 0 else None)
    assert model.n_iter_ == 240 and model.t_ > 0
    assert model.score(X, y) > 0.97


def test_partial_fit_errors(binary):
    X, y = binary
    assert not hasattr(NeuronClassifier(optimizer="lbfgs"), "partial_fit")
    model = NeuronClassifier(optimizer="sgd")
    with pytest.raises(ValueError, match="classes must be passed on the first call"):
        model.partial_fit(X, y)
    assert not hasattr(model, "classes_")
    model.partial_fit(X, y, classes=[0, 1])
    coef = model.coef_.copy()
    with pytest.raises(ValueError, match=r"labels \[2\] that the model was not fitted on"):
        model.partial_fit(X[:3], [0, 1, 2])
    with pytest.raises(ValueError, match="differs from the classes of the first"):
        model.partial_fit(X, y, classes=[0, 1, 2])
    with pytest.raises(ValueError, match="X has 29 features"):
        model.partial_fit(X[:, 1:], y)
    np.testing.assert_array_equal(model.coef_, coef)  # nothing half-updated


@pytest.mark.parametrize("dataset", ["breast_cancer", "wine"])
@pytest.mark.parametrize("l1_ratio", [1.0, 0.5])
def test_l1_matches_saga_with_the_same_zeros(dataset, l1_ratio):
    X, y = classification_dataset(dataset)
    saga = LogisticRegression(
        solver="saga", C=0.3, l1_ratio=l1_ratio, tol=1e-10, max_iter=100_000
    ).fit(X, y)
    neuron = NeuronClassifier(C=0.3, l1_ratio=l1_ratio, **TIGHT).fit(X, y)
    assert neuron.optimizer_ == "lbfgs" and neuron.converged_
    np.testing.assert_allclose(neuron.coef_, saga.coef_, rtol=0, atol=1e-4)
    np.testing.assert_array_equal(neuron.coef_ == 0, saga.coef_ == 0)
    assert (neuron.coef_ == 0).any()


def test_minibatch_l1_gives_exact_zeros(binary):
    X, y = binary
    model = NeuronClassifier(optimizer="sgd", C=0.05, l1_ratio=1.0, random_state=0).fit(X, y)
    assert (model.coef_ == 0).any()


def test_newton_refuses_l1(binary):
    with pytest.raises(ValueError, match="does not handle the L1 term"):
        NeuronClassifier(optimizer="newton", l1_ratio=0.5).fit(*binary)


OPTIMIZERS = ["newton", "lbfgs", *sorted(STOCHASTIC_OPTIMIZERS)]


@pytest.mark.parametrize("fmt", ["csr", "csc"])
@pytest.mark.parametrize("optimizer", OPTIMIZERS)
def test_sparse_input_equals_dense(optimizer, fmt):
    X, y = classification_dataset("wine")
    X = np.where(np.abs(X) < 0.5, 0.0, X)  # really sparse
    params = dict(
        optimizer=optimizer,
        random_state=0,
        max_iter=200 if optimizer in STOCHASTIC_OPTIMIZERS else 5000,
        tol=1e-10,
    )
    dense = NeuronClassifier(**params).fit(X, y)
    sparse = NeuronClassifier(**params).fit(sp.csr_matrix(X).asformat(fmt), y)
    np.testing.assert_allclose(sparse.coef_, dense.coef_, rtol=0, atol=1e-8)
    np.testing.assert_allclose(
        sparse.predict_proba(sp.csr_matrix(X)), dense.predict_proba(X), atol=1e-8
    )


def test_grid_search_over_loss_optimizer_and_C_against_logistic_regression():
    X, y = classification_dataset("breast_cancer")
    cv = StratifiedKFold(3, shuffle=True, random_state=0)
    search = GridSearchCV(
        make_pipeline(StandardScaler(), NeuronClassifier(max_iter=500)),
        {
            "neuronclassifier__loss": ["log_loss", "squared_error", "squared_hinge"],
            "neuronclassifier__optimizer": ["lbfgs", "adam"],
            "neuronclassifier__C": [0.1, 1.0],
        },
        cv=cv,
        scoring="accuracy",
    ).fit(X, y)
    assert len(search.cv_results_["params"]) == 12
    assert search.best_score_ > 0.95
    neuron = cross_validate(
        make_pipeline(StandardScaler(), NeuronClassifier(tol=1e-10)),
        X,
        y,
        cv=cv,
        scoring="neg_log_loss",
    )
    logreg = cross_validate(
        make_pipeline(StandardScaler(), LogisticRegression(tol=1e-10, max_iter=1000)),
        X,
        y,
        cv=cv,
        scoring="neg_log_loss",
    )
    np.testing.assert_allclose(neuron["test_score"], logreg["test_score"], rtol=1e-6)


def test_binary_log_loss_value_is_exact_beyond_softplus_threshold():
    """log(1 + exp(z)) - y z to rounding for every z, also where torch's
    softplus switches to z (above 20) and drops exp(-z), and where exp(z)
    overflows: the small loss of a well-classified row keeps its relative
    precision (1e-15 relative, 1e-300 absolute)."""
    from sklearn_neuron._loss.losses import BinaryLogLoss

    z = np.concatenate([np.linspace(-800, 800, 4001), [19.5, 20.5, 25.0, 36.0, 40.0]])
    for y in (0.0, 1.0):
        target = np.full_like(z, y)
        value = BinaryLogLoss().value(
            torch.from_numpy(z[:, None]), torch.from_numpy(target[:, None])
        ).numpy()
        # The exact value without cancellation: log1p(exp(-|z|)) plus the
        # margin's linear part, zero on the well-classified side.
        expected = np.log1p(np.exp(-np.abs(z))) + np.where(
            (z > 0) == (y == 1.0), 0.0, np.abs(z)
        )
        np.testing.assert_allclose(value, expected, rtol=1e-15, atol=1e-300)
