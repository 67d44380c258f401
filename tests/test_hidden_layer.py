"""The output layer of a network as logistic regression on its last hidden layer.

References: scikit-learn's LogisticRegression fitted (newton-cholesky,
tol=1e-12) on the network's own hidden activations, and MLPClassifier's own
``loss_`` and ``predict_proba``. Networks are trained here, in float64 and
full batch, to a stationary point where the test needs one.
"""

import warnings

import numpy as np
import pytest
import torch
from _datasets import classification_dataset
from sklearn.datasets import make_classification
from sklearn.exceptions import ConvergenceWarning
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import log_loss
from sklearn.neural_network import MLPClassifier
from sklearn.preprocessing import StandardScaler

from sklearn_neuron import certify_output_layer

#: Weight decay of the torch networks' objective: mean loss + LAM/2 ||W||^2.
LAM = 1e-2


def _torch_network(X, y, n_outputs, seed, hidden=6):
    """A tanh network trained in float64, full batch, to max|gradient| < 1e-10.

    Its objective is the mean log loss (BCEWithLogits on one output,
    cross-entropy on several) plus ``LAM / 2`` times the squared weights of
    every layer (no biases): the output layer's C is ``1 / (n * LAM)``.
    L-BFGS gets near a minimum; exact Newton steps on all the weights (a few
    dozen of them) finish where L-BFGS's line search stalls.
    """
    torch.manual_seed(seed)
    net = torch.nn.Sequential(
        torch.nn.Linear(X.shape[1], hidden), torch.nn.Tanh(), torch.nn.Linear(hidden, n_outputs)
    ).double()
    inputs = torch.as_tensor(X)
    if n_outputs == 1:
        target = torch.as_tensor(y, dtype=torch.float64).unsqueeze(1)
        criterion = torch.nn.BCEWithLogitsLoss()
    else:
        target = torch.as_tensor(y)
        criterion = torch.nn.CrossEntropyLoss()
    names = [name for name, _ in net.named_parameters()]
    shapes = [p.shape for p in net.parameters()]

    def objective(flat):
        params, start = {}, 0
        for name, shape in zip(names, shapes, strict=True):
            params[name] = flat[start : start + shape.numel()].view(shape)
            start += shape.numel()
        penalty = sum(params[name].square().sum() for name in names if name.endswith("weight"))
        output = torch.func.functional_call(net, params, (inputs,))
        return criterion(output, target) + LAM / 2 * penalty

    flat = torch.cat([p.detach().reshape(-1) for p in net.parameters()]).requires_grad_()
    optimizer = torch.optim.LBFGS(
        [flat], max_iter=3000, tolerance_grad=1e-12, tolerance_change=0,
        history_size=50, line_search_fn="strong_wolfe",
    )

    def closure():
        optimizer.zero_grad()
        value = objective(flat)
        value.backward()
        return value

    optimizer.step(closure)
    point = flat.detach()

    def gradient_at(point):
        point = point.detach().requires_grad_()
        return torch.autograd.grad(objective(point), point)[0]

    for _ in range(20):
        gradient = gradient_at(point)
        if float(gradient.abs().max()) < 1e-10:
            break
        hessian = torch.autograd.functional.hessian(objective, point)
        point = point - torch.linalg.solve(hessian, gradient)
    grad_max = float(gradient_at(point).abs().max())
    assert grad_max < 1e-10, grad_max  # the premise: a stationary point
    torch.nn.utils.vector_to_parameters(point, net.parameters())
    return net


def _reference(features, y, C):
    """LogisticRegression at C on the hidden activations, to its optimum."""
    return LogisticRegression(C=C, solver="newton-cholesky", tol=1e-12, max_iter=1000).fit(
        features, y
    )


@pytest.mark.parametrize(
    "data, n_outputs",
    [("iris", 3), ("synthetic_binary", 1), ("synthetic_binary", 2)],
    ids=["softmax", "sigmoid", "two-softmax"],
)
def test_stationary_network_output_layer_is_logistic_regression(data, n_outputs):
    X, y = classification_dataset(data)
    X, y = X[:150], y[:150]
    net = _torch_network(X, y, n_outputs, seed=0)
    C = 1.0 / (len(y) * LAM)
    report = certify_output_layer(net, X, y, C=C)
    with torch.no_grad():
        hidden = net[:-1](torch.as_tensor(X)).numpy()
    np.testing.assert_array_equal(report.features, hidden)
    # Two softmax outputs are one sigmoid of their difference at 2C.
    reference = _reference(hidden, y, 2 * C if n_outputs == 2 else C)
    assert report.C == pytest.approx(reference.C, rel=1e-15)
    np.testing.assert_allclose(report.coef, reference.coef_, rtol=0, atol=1e-6)
    np.testing.assert_allclose(report.intercept, reference.intercept_, rtol=0, atol=1e-6)
    np.testing.assert_allclose(report.refit.coef_, reference.coef_, rtol=0, atol=1e-8)
    assert report.coef_distance <= 1e-6
    assert report.is_logistic_regression
    # Proved without the refit, and the proof holds for the measured distance
    # (up to the reference's own accuracy, about 1e-11 at its tol).
    measured = np.sqrt(
        np.sum((report.coef - reference.coef_) ** 2)
        + np.sum((report.intercept - reference.intercept_) ** 2)
    )
    assert measured <= report.certificate.coef_distance_bound + 1e-10
    assert report.certificate.coef_distance_bound <= 1e-6
    assert "is logistic regression" in report.verdict
    before, after = report.objective
    assert before == pytest.approx(after, rel=1e-12)  # the optimum's, to rounding


def test_early_stopped_mlp_is_not_logistic_regression():
    X, y = classification_dataset("iris")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        mlp = MLPClassifier((8,), solver="lbfgs", alpha=1e-2, max_iter=15, random_state=0)
        mlp.fit(X, y)
    report = certify_output_layer(mlp, X, y, X_test=X[::2], y_test=y[::2])
    assert report.C == 100.0
    reference = _reference(report.features, y, report.C)
    distance = max(
        np.abs(report.coef - reference.coef_).max(),
        np.abs(report.intercept - reference.intercept_).max(),
    )
    assert report.coef_distance == pytest.approx(distance, rel=1e-6)
    assert report.coef_distance > 1e-2
    assert not report.is_logistic_regression
    assert "is not logistic regression" in report.verdict
    before, after = report.objective
    assert before - after > 1e-3
    # The certificate proves it away from the optimum, and brackets the true gap.
    lower, upper = report.certificate.objective_gap_bounds
    assert 0 < lower <= before - after <= upper
    assert report.certificate.coef_distance_lower > 0
    # The network's own held-out log loss, as scikit-learn computes it.
    network_loss = log_loss(y[::2], mlp.predict_proba(X[::2]))
    assert report.heldout_log_loss[0] == pytest.approx(network_loss, rel=1e-9)


@pytest.mark.parametrize("weighted", [False, True], ids=["unweighted", "weighted"])
def test_mlp_objective_maps_to_C_is_one_over_alpha(weighted):
    """MLPClassifier's loss_ = alpha / S * (LR objective at C=1/alpha) + hidden penalty."""
    X, y = classification_dataset("iris")
    weight = np.random.default_rng(0).uniform(0.5, 2.0, len(y)) if weighted else None
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        mlp = MLPClassifier((5,), solver="lbfgs", alpha=0.3, max_iter=50, random_state=1)
        mlp.fit(X, y, sample_weight=weight)
    report = certify_output_layer(mlp, X, y, sample_weight=weight)
    S = len(y) if weight is None else weight.sum()
    hidden_penalty = sum(float(np.sum(W**2)) for W in mlp.coefs_[:-1])
    rebuilt = mlp.alpha / S * report.objective[0] + mlp.alpha / (2 * S) * hidden_penalty
    assert rebuilt == pytest.approx(mlp.loss_, rel=1e-9)
    raw = report.features @ report.coef.T + report.intercept
    proba = np.exp(raw - raw.max(axis=1, keepdims=True))
    np.testing.assert_allclose(proba / proba.sum(axis=1, keepdims=True),
                               mlp.predict_proba(X), rtol=0, atol=1e-12)
    # The refit minimises the same weighted objective as LogisticRegression.
    reference = LogisticRegression(C=report.C, solver="newton-cholesky", tol=1e-12).fit(
        report.features, y, sample_weight=weight
    )
    np.testing.assert_allclose(report.refit.coef_, reference.coef_, rtol=0, atol=1e-7)


def test_stationary_binary_mlp_output_layer_is_logistic_regression():
    """A binary MLPClassifier (one logistic unit) run by lbfgs until it stops moving."""
    X, y = make_classification(80, 4, n_informative=3, n_redundant=0, random_state=0)
    X = StandardScaler().fit_transform(X)
    mlp = MLPClassifier(
        (6,), activation="logistic", solver="lbfgs", alpha=0.1, tol=1e-15,
        max_iter=100_000, max_fun=10**7, random_state=0, warm_start=True,
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        for _ in range(100):  # each call stops on scipy's relative decrease (ftol)
            mlp.fit(X, y)
    report = certify_output_layer(mlp, X, y)
    assert report.coef.shape == (1, 6)
    reference = _reference(report.features, y, 10.0)
    np.testing.assert_allclose(report.coef, reference.coef_, rtol=0, atol=1e-6)
    np.testing.assert_allclose(report.intercept, reference.intercept_, rtol=0, atol=1e-6)
    assert report.is_logistic_regression


def test_two_seeds_two_networks_each_head_certified_on_its_own_features():
    X, y = classification_dataset("iris")
    C = 1.0 / (len(y) * LAM)
    nets = [_torch_network(X, y, 3, seed) for seed in (0, 1)]
    reports = [certify_output_layer(net, X, y, C=C) for net in nets]
    # Non-convex: two different stationary points, not one model.
    assert np.abs(reports[0].features - reports[1].features).max() > 0.1
    assert reports[0].objective[1] != pytest.approx(reports[1].objective[1], rel=1e-6)
    for report in reports:
        reference = _reference(report.features, y, C)
        np.testing.assert_allclose(report.coef, reference.coef_, rtol=0, atol=1e-6)
        assert report.is_logistic_regression
    # One network's output layer on the other's hidden layer is not its optimum.
    swapped = torch.nn.Sequential(nets[0][0], nets[0][1], nets[1][2])
    crossed = certify_output_layer(swapped, X, y, C=C)
    assert crossed.coef_distance > 1e-2 and not crossed.is_logistic_regression


def test_skorch_net_output_layer():
    skorch = pytest.importorskip("skorch")
    X, y = classification_dataset("iris")
    torch.manual_seed(0)
    module = torch.nn.Sequential(
        torch.nn.Linear(4, 5), torch.nn.ReLU(), torch.nn.Linear(5, 3)
    ).double()
    net = skorch.NeuralNetClassifier(
        module, criterion=torch.nn.CrossEntropyLoss, max_epochs=3, lr=0.1,
        train_split=None, verbose=0,
    ).fit(X, y)
    report = certify_output_layer(net, X, y, C=1.0)
    np.testing.assert_array_equal(report.classes, [0, 1, 2])
    raw = report.features @ report.coef.T + report.intercept
    proba = np.exp(raw - raw.max(axis=1, keepdims=True))
    np.testing.assert_allclose(proba / proba.sum(axis=1, keepdims=True),
                               net.predict_proba(X), rtol=0, atol=1e-12)
    assert not report.is_logistic_regression  # 3 epochs of SGD
    wrong = skorch.NeuralNetClassifier(module, criterion=torch.nn.NLLLoss).initialize()
    with pytest.raises(ValueError, match="criterion is NLLLoss"):
        certify_output_layer(wrong, X, y, C=1.0)


def test_bad_input_is_refused_in_one_line():
    X, y = classification_dataset("iris")
    net = torch.nn.Sequential(torch.nn.Linear(4, 3), torch.nn.Tanh(), torch.nn.Linear(3, 3))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        mlp = MLPClassifier((3,), max_iter=5, random_state=0).fit(X, y)
        multilabel = MLPClassifier((3,), max_iter=5, random_state=0).fit(
            X, np.column_stack([y == 0, y == 1])
        )
    cases = [
        (lambda: certify_output_layer(net, X, y), ValueError, "give C"),
        (lambda: certify_output_layer(mlp, X, y, C=1.0), ValueError, "1/alpha"),
        (lambda: certify_output_layer(multilabel, X, y), ValueError, "multilabel"),
        (lambda: certify_output_layer(torch.nn.Linear(4, 3), X, y, C=1.0), TypeError,
         "nn.Sequential"),
        (lambda: certify_output_layer(net, X, y, C=1.0, classes=[0, 1]), ValueError,
         "pass classes="),
        (lambda: certify_output_layer(mlp, X[:, :3], y), ValueError, "3 features"),
        (lambda: certify_output_layer(mlp, X, y, X_test=X), ValueError, "y_test"),
    ]
    for call, error, message in cases:
        with pytest.raises(error, match=message) as info:
            call()
        assert "\n" not in str(info.value)


def test_inputs_are_not_mutated():
    X, y = classification_dataset("iris")
    X, y = X.copy(), y.copy()
    X_before, y_before = X.copy(), y.copy()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        mlp = MLPClassifier((4,), solver="lbfgs", max_iter=20, random_state=0).fit(X, y)
    coefs = [W.copy() for W in mlp.coefs_]
    certify_output_layer(mlp, X, y, X_test=X, y_test=y)
    np.testing.assert_array_equal(X, X_before)
    np.testing.assert_array_equal(y, y_before)
    for W, W_before in zip(mlp.coefs_, coefs, strict=True):
        np.testing.assert_array_equal(W, W_before)
