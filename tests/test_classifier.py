"""NeuronClassifier's behaviour: errors, warnings, fitted state, persistence, module."""

import io
import pickle
import re

import joblib
import numpy as np
import pytest
import torch
from _datasets import classification_dataset, sample_weight_for
from sklearn.exceptions import ConvergenceWarning, NotFittedError
from sklearn.linear_model import LogisticRegression
from sklearn.utils._param_validation import InvalidParameterError

from sklearn_neuron import NeuronClassifier, NeuronModule


@pytest.fixture
def binary():
    return classification_dataset("breast_cancer")


@pytest.fixture
def multiclass():
    return classification_dataset("iris")


# -- bad input ------------------------------------------------------------------
@pytest.mark.parametrize("bad, message", [(np.nan, "NaN"), (np.inf, "infinity")])
def test_non_finite_X_is_refused(binary, bad, message):
    X, y = binary
    X = X.copy()
    X[3, 2] = bad
    with pytest.raises(ValueError, match=message):
        NeuronClassifier().fit(X, y)


def test_empty_X_is_refused():
    with pytest.raises(ValueError, match="0 sample"):
        NeuronClassifier().fit(np.empty((0, 3)), np.empty(0))


def test_single_class_is_refused(binary):
    X, _ = binary
    with pytest.raises(ValueError, match="at least 2 classes.*only one class"):
        NeuronClassifier().fit(X, np.zeros(len(X)))


def test_continuous_y_is_refused(binary):
    X, _ = binary
    with pytest.raises(ValueError, match="Unknown label type: continuous"):
        NeuronClassifier().fit(X, np.linspace(0, 1, len(X)))


def test_wrong_number_of_features_at_predict(binary):
    X, y = binary
    model = NeuronClassifier().fit(X, y)
    for method in (
        "predict",
        "predict_proba",
        "predict_log_proba",
        "decision_function",
    ):
        with pytest.raises(
            ValueError, match="X has 29 features.*expecting 30 features"
        ):
            getattr(model, method)(X[:, :-1])


def test_negative_sample_weight_is_refused(binary):
    X, y = binary
    sample_weight = np.ones(len(y))
    sample_weight[5] = -1
    with pytest.raises(ValueError, match="sample_weight has negative values"):
        NeuronClassifier().fit(X, y, sample_weight=sample_weight)


def test_all_zero_sample_weight_is_refused(binary):
    X, y = binary
    with pytest.raises(ValueError, match="sample_weight sums to zero"):
        NeuronClassifier().fit(X, y, sample_weight=np.zeros(len(y)))


@pytest.mark.parametrize(
    "params, choices",
    [({"loss": "hinge_typo"}, "log_loss"), ({"optimizer": "adamm"}, "lbfgs")],
)
def test_unknown_loss_or_optimizer_lists_the_choices(binary, params, choices):
    X, y = binary
    with pytest.raises(InvalidParameterError, match=f"must be a str among.*{choices}"):
        NeuronClassifier(**params).fit(X, y)


def test_predict_before_fit_raises_not_fitted(binary):
    X, _ = binary
    with pytest.raises(NotFittedError):
        NeuronClassifier().predict(X)


def test_unavailable_cuda_device_is_explained(binary):
    if torch.cuda.is_available():
        pytest.skip("a CUDA device is present")
    X, y = binary
    with pytest.raises(ValueError, match="torch sees no CUDA device.*device='cpu'"):
        NeuronClassifier(device="cuda").fit(X, y)


def test_bad_device_string_is_explained(binary):
    X, y = binary
    with pytest.raises(ValueError, match="not a torch device"):
        NeuronClassifier(device="gpu0").fit(X, y)


@pytest.mark.parametrize("dataset", ["breast_cancer", "iris"])
def test_inputs_are_not_modified(dataset):
    X, y = classification_dataset(dataset)
    X = np.ascontiguousarray(X)
    sample_weight = sample_weight_for(y)
    copies = X.copy(), y.copy(), sample_weight.copy()
    model = NeuronClassifier(class_weight="balanced").fit(
        X, y, sample_weight=sample_weight
    )
    model.predict_proba(X)
    for original, copy in zip((X, y, sample_weight), copies, strict=True):
        np.testing.assert_array_equal(original, copy)


# -- convergence and progress ------------------------------------------------------
@pytest.mark.parametrize("optimizer", ["lbfgs", "newton"])
def test_stopping_early_warns_with_the_missed_tolerance(binary, optimizer):
    X, y = binary
    with pytest.warns(
        ConvergenceWarning, match=r"max\|gradient\| = .* > tol = 1e-08.*max_iter"
    ):
        model = NeuronClassifier(optimizer=optimizer, max_iter=2, tol=1e-8).fit(X, y)
    assert model.n_iter_ == 2 and not model.converged_


def test_float32_tolerance_is_floored(binary):
    X, y = binary
    model = NeuronClassifier(optimizer="newton", tol=1e-12).fit(X.astype(np.float32), y)
    assert model.coef_.dtype == np.float32
    reference = NeuronClassifier(optimizer="newton", tol=1e-12).fit(X, y)
    scale = np.abs(reference.coef_).max()
    np.testing.assert_allclose(model.coef_, reference.coef_, rtol=0, atol=1e-4 * scale)


def test_verbose_logs_each_iteration(binary, caplog):
    # The lines go to the "sklearn_neuron" logger (tests/test_callbacks.py).
    X, y = binary
    caplog.set_level("INFO", logger="sklearn_neuron")
    model = NeuronClassifier(optimizer="newton", verbose=1).fit(X, y)
    lines = [line for line in caplog.messages if "objective=" in line]
    assert len(lines) == model.n_iter_ + 1
    assert re.search(r"iter \d+: objective=[\d.e+-]+\s+max\|grad\|=", lines[-1])


@pytest.mark.parametrize("optimizer", ["lbfgs", "newton"])
def test_objective_curve_decreases_to_objective(multiclass, optimizer):
    X, y = multiclass
    model = NeuronClassifier(optimizer=optimizer).fit(X, y)
    curve = model.objective_curve_
    assert curve.shape == (model.n_iter_ + 1,)
    assert np.all(np.diff(curve) <= 1e-12)
    assert model.objective_ == pytest.approx(curve[-1], rel=1e-12)


def test_objective_is_logistic_regression_objective_over_C_S(binary):
    X, y = binary
    C = 0.5
    sample_weight = sample_weight_for(y)
    model = NeuronClassifier(C=C, tol=1e-10).fit(X, y, sample_weight=sample_weight)
    proba = model.predict_proba(X)[:, 1]
    loss = -(y * np.log(proba) + (1 - y) * np.log1p(-proba))
    lr_objective = C * np.sum(sample_weight * loss) + 0.5 * np.sum(model.coef_**2)
    assert model.objective_ == pytest.approx(
        lr_objective / (C * sample_weight.sum()), rel=1e-10
    )


def test_warm_start_resumes_from_previous_solution(binary):
    X, y = binary
    model = NeuronClassifier(optimizer="lbfgs", tol=1e-8, warm_start=True).fit(X, y)
    first = model.coef_.copy()
    model.fit(X, y)
    assert model.n_iter_ <= 2
    np.testing.assert_allclose(model.coef_, first, atol=1e-6)
    cold = NeuronClassifier(optimizer="lbfgs", tol=1e-8).fit(X, y)
    assert cold.n_iter_ > 5


def test_auto_optimizer_picks_by_problem_size(binary):
    X, y = binary
    assert NeuronClassifier().fit(X, y).optimizer_ == "newton"
    digits = classification_dataset("digits")
    # 10 classes x 65: a 650-wide Hessian over 1797 rows costs more than
    # Newton-CG's products (the cost model of _solvers/cost.py; was lbfgs).
    assert NeuronClassifier().fit(*digits).optimizer_ == "newton-cg"


# -- fitted state and predictions --------------------------------------------------
def test_fitted_attributes_shapes(binary, multiclass):
    model = NeuronClassifier().fit(*binary)
    assert model.coef_.shape == (1, 30) and model.intercept_.shape == (1,)
    assert model.decision_function(binary[0]).shape == (len(binary[1]),)
    model = NeuronClassifier().fit(*multiclass)
    assert model.coef_.shape == (3, 4) and model.intercept_.shape == (3,)
    np.testing.assert_allclose(model.coef_.sum(axis=0), 0, atol=1e-10)
    np.testing.assert_allclose(model.intercept_.sum(), 0, atol=1e-10)


def test_string_labels_and_probability_consistency(multiclass):
    X, y = multiclass
    labels = np.array(["setosa", "versicolor", "virginica"])[y]
    model = NeuronClassifier().fit(X, labels)
    proba = model.predict_proba(X)
    np.testing.assert_allclose(proba.sum(axis=1), 1)
    np.testing.assert_allclose(np.exp(model.predict_log_proba(X)), proba, rtol=1e-12)
    np.testing.assert_array_equal(
        model.predict(X), model.classes_[proba.argmax(axis=1)]
    )


def test_no_intercept_gives_zero_intercept(binary):
    model = NeuronClassifier(fit_intercept=False).fit(*binary)
    np.testing.assert_array_equal(model.intercept_, [0.0])


def test_pandas_input_records_feature_names():
    pd = pytest.importorskip("pandas")
    X, y = classification_dataset("wine")
    frame = pd.DataFrame(X, columns=[f"f{i}" for i in range(X.shape[1])])
    model = NeuronClassifier().fit(frame, pd.Series(y))
    np.testing.assert_array_equal(model.feature_names_in_, frame.columns)
    reference = NeuronClassifier().fit(X, y)
    np.testing.assert_allclose(model.predict_proba(frame), reference.predict_proba(X))


def test_module_works_on_its_own(binary, multiclass):
    for X, y in (binary, multiclass):
        model = NeuronClassifier().fit(X, y)
        assert isinstance(model.module_, NeuronModule)
        with torch.no_grad():
            logits = model.module_(torch.from_numpy(X)).numpy()
            mean = model.module_.predict_mean(torch.from_numpy(X)).numpy()
        np.testing.assert_allclose(logits.squeeze(), model.decision_function(X))
        expected = model.predict_proba(X)
        expected = expected[:, 1:] if expected.shape[1] == 2 else expected
        np.testing.assert_allclose(mean, expected, atol=1e-15)


@pytest.mark.parametrize("optimizer", ["newton", "lbfgs"])
def test_fitted_module_trains_on_with_autograd(binary, optimizer):
    # The optimizers run in torch's inference mode; the fitted module must
    # still be an ordinary module that torch can fine-tune.
    X, y = binary
    model = NeuronClassifier(optimizer=optimizer).fit(X, y)
    assert not any(p.is_inference() for p in model.module_.parameters())
    logits = model.module_(torch.from_numpy(X))
    target = torch.from_numpy(y.astype(float)).unsqueeze(1)
    torch.nn.functional.binary_cross_entropy_with_logits(logits, target).backward()
    assert all(p.grad is not None for p in model.module_.parameters())
    torch.optim.SGD(model.module_.parameters(), lr=0.1).step()


@pytest.mark.parametrize("dump", ["pickle", "joblib"])
def test_persistence_round_trip(multiclass, dump):
    X, y = multiclass
    model = NeuronClassifier().fit(X, y)
    buffer = io.BytesIO()
    if dump == "pickle":
        restored = pickle.loads(pickle.dumps(model))
    else:
        joblib.dump(model, buffer)
        buffer.seek(0)
        restored = joblib.load(buffer)
    np.testing.assert_array_equal(restored.predict_proba(X), model.predict_proba(X))
    np.testing.assert_array_equal(restored.predict(X), model.predict(X))


def test_defaults_agree_with_logistic_regression_defaults():
    # Both stop at max|gradient| <= 1e-4 on the same objective scale, so the
    # defaults agree to the accuracy that tolerance gives, not more.
    X, y = classification_dataset("wine")
    neuron = NeuronClassifier(C=0.3).fit(X, y)
    logreg = LogisticRegression(C=0.3).fit(X, y)
    np.testing.assert_allclose(neuron.coef_, logreg.coef_, atol=1e-2)
    np.testing.assert_allclose(
        neuron.predict_proba(X), logreg.predict_proba(X), atol=1e-3
    )


# -- other losses ------------------------------------------------------------------
def test_callable_torch_losses_are_logistic_regression_too(binary, multiclass):
    for (X, y), torch_loss in (
        (binary, torch.nn.BCEWithLogitsLoss(reduction="none")),
        (multiclass, torch.nn.CrossEntropyLoss(reduction="none")),
    ):
        custom = NeuronClassifier(loss=torch_loss, tol=1e-9, max_iter=2000).fit(X, y)
        builtin = NeuronClassifier(tol=1e-9, max_iter=2000).fit(X, y)
        assert custom.optimizer_ == "lbfgs"
        np.testing.assert_allclose(custom.coef_, builtin.coef_, atol=1e-6)


@pytest.mark.parametrize(
    "bad_loss, message",
    [
        (
            torch.nn.BCEWithLogitsLoss(),
            "returned \\(\\) for 569 samples.*reduction='none'",
        ),
        (lambda logits, target: logits.sum(dim=1) * float("nan"), "NaN or infinite"),
    ],
)
def test_bad_callable_loss_is_explained_and_leaves_nothing_fitted(
    binary, bad_loss, message
):
    X, y = binary
    model = NeuronClassifier(loss=bad_loss)
    with pytest.raises(ValueError, match=message):
        model.fit(X, y)
    assert not hasattr(model, "classes_") and not hasattr(model, "n_features_in_")
    with pytest.raises(NotFittedError):
        model.predict(X)


def test_newton_refuses_a_loss_without_hessian(binary):
    X, y = binary

    def hinge(logits, target):
        return torch.clamp(1 - (2 * target - 1) * logits, min=0).sum(dim=1)

    with pytest.raises(
        ValueError, match="optimizer='newton' needs a twice-differentiable loss"
    ):
        NeuronClassifier(loss=hinge, optimizer="newton").fit(X, y)
