"""The skorch bridge both ways: to_skorch and from_skorch.

Tolerances: predictions across the bridge agree to 1e-12 in float64 (the
same weights, the same float64 matrix product; observed ~1e-16). Inference
on a from_skorch model against statsmodels' Logit/MNLogit as in
test_inference.py: params 1e-6 absolute, standard errors 1e-5 relative.
"""

import warnings

import numpy as np
import pytest
import torch
from sklearn.datasets import load_iris, make_classification
from sklearn.exceptions import ConvergenceWarning
from sklearn.preprocessing import StandardScaler
from torch import nn

from sklearn_neuron import (
    NeuronClassifier,
    NeuronModule,
    NeuronRegressor,
    from_skorch,
    to_skorch,
)

skorch = pytest.importorskip("skorch")
sm = pytest.importorskip("statsmodels.api")

ATOL = 1e-12
PARAMS_ATOL = 1e-6
BSE_RTOL = 1e-5


def binary_data(n=400, seed=0):
    X, y = make_classification(
        n, 4, n_informative=3, n_redundant=0, flip_y=0.2, random_state=seed
    )
    return StandardScaler().fit_transform(X), y


def multiclass_data(n=600, seed=0):
    X, y = make_classification(
        n, 4, n_informative=3, n_redundant=0, n_classes=3, flip_y=0.2, random_state=seed
    )
    return StandardScaler().fit_transform(X), y


def iris():
    X, y = load_iris(return_X_y=True)
    return StandardScaler().fit_transform(X), y


def trained_net(net_class, module, X, y, epochs=30, **kwargs):
    torch.manual_seed(0)
    net = net_class(
        module, max_epochs=epochs, lr=0.1, batch_size=64, train_split=None, verbose=0,
        optimizer=torch.optim.SGD, optimizer__momentum=0.9, **kwargs,
    )
    return net.fit(X, y)


# -- to_skorch -------------------------------------------------------------------------
@pytest.mark.parametrize("dataset", [binary_data, iris], ids=["binary", "multiclass"])
def test_to_skorch_predicts_as_the_neuron(dataset):
    X, y = dataset()
    clf = NeuronClassifier(tol=1e-8).fit(X, y)
    net = to_skorch(clf)
    expected = (
        skorch.NeuralNetBinaryClassifier if len(clf.classes_) == 2 else skorch.NeuralNetClassifier
    )
    assert type(net) is expected
    np.testing.assert_allclose(net.predict_proba(X), clf.predict_proba(X), rtol=0, atol=ATOL)
    np.testing.assert_array_equal(clf.classes_[net.predict(X)], clf.predict(X))


def test_to_skorch_copies_the_weights_and_trains_on_from_them():
    X, y = iris()
    clf = NeuronClassifier(tol=1e-8).fit(X, y)
    coef = clf.coef_.copy()
    net = to_skorch(clf, max_epochs=1, lr=1e-3)
    start = net.module_.linear.weight.detach().clone()
    np.testing.assert_array_equal(start.numpy(), coef)
    net.partial_fit(X, y)
    moved = net.module_.linear.weight.detach()
    # One epoch of small SGD steps from the neuron's optimum: moved, but a little.
    assert 0 < float((moved - start).abs().max()) < 0.05
    np.testing.assert_array_equal(clf.coef_, coef)  # the estimator is untouched


@pytest.mark.parametrize("loss", ["squared_error", "poisson"])
def test_to_skorch_regressor(loss):
    rng = np.random.default_rng(0)
    X = rng.normal(size=(200, 3))
    mean = np.exp(X @ [0.3, -0.2, 0.1] + 0.5)
    y = rng.poisson(mean).astype(float) if loss == "poisson" else X @ [1.0, 2.0, -1.0] + 3
    reg = NeuronRegressor(loss=loss, tol=1e-8).fit(X, y)
    net = to_skorch(reg)
    assert type(net) is skorch.NeuralNetRegressor
    np.testing.assert_allclose(net.predict(X)[:, 0], reg.predict(X), rtol=1e-12, atol=ATOL)
    net.partial_fit(X, y.reshape(-1, 1))  # the criterion takes the targets as given


def test_to_skorch_refusals():
    with pytest.raises(Exception, match="fitted|fit"):
        to_skorch(NeuronClassifier())
    rng = np.random.default_rng(0)
    X = rng.normal(size=(50, 2))
    reg = NeuronRegressor(loss="gamma").fit(X, np.exp(X[:, 0]))
    with pytest.raises(ValueError, match="criterion"):
        to_skorch(reg)
    net = to_skorch(reg, criterion=nn.MSELoss)  # the user's criterion; predictions are means
    np.testing.assert_allclose(net.predict(X)[:, 0], reg.predict(X), rtol=1e-12)


# -- from_skorch -----------------------------------------------------------------------
def test_from_skorch_binary():
    X, y = binary_data()
    module = NeuronModule(X.shape[1], 1, "sigmoid", dtype=torch.float64)
    net = trained_net(skorch.NeuralNetBinaryClassifier, module, X, y.astype(float))
    clf = from_skorch(net)
    assert clf.coef_.shape == (1, X.shape[1]) and clf.intercept_.shape == (1,)
    np.testing.assert_array_equal(clf.classes_, [0, 1])
    np.testing.assert_array_equal(clf.coef_, module.linear.weight.detach().numpy())
    np.testing.assert_allclose(clf.predict_proba(X), net.predict_proba(X), rtol=0, atol=ATOL)
    np.testing.assert_array_equal(clf.predict(X), net.predict(X))
    assert clf.n_iter_ == 30


def test_from_skorch_multiclass_plain_linear_with_labels():
    X, y = iris()
    labels = np.array(["setosa", "versicolor", "virginica"])
    net = trained_net(
        skorch.NeuralNetClassifier,
        nn.Linear(4, 3, dtype=torch.float64),
        X,
        y,
        criterion=nn.CrossEntropyLoss,
    )
    clf = from_skorch(net, classes=labels)
    np.testing.assert_array_equal(clf.classes_, labels)
    np.testing.assert_allclose(clf.predict_proba(X), net.predict_proba(X), rtol=0, atol=ATOL)
    np.testing.assert_array_equal(clf.predict(X), labels[net.predict(X)])
    # Without classes, the net's own (inferred from y at fit).
    np.testing.assert_array_equal(from_skorch(net).classes_, [0, 1, 2])


def test_from_skorch_two_softmax_outputs_become_one_sigmoid():
    X, y = binary_data()
    net = trained_net(
        skorch.NeuralNetClassifier,
        nn.Sequential(nn.Linear(X.shape[1], 2, dtype=torch.float64)),
        X,
        y,
        criterion=nn.CrossEntropyLoss,
    )
    clf = from_skorch(net)
    assert clf.coef_.shape == (1, X.shape[1])
    np.testing.assert_allclose(clf.predict_proba(X), net.predict_proba(X), rtol=0, atol=ATOL)


@pytest.mark.parametrize("dataset", [binary_data, iris], ids=["binary", "multiclass"])
def test_round_trip_is_exact(dataset):
    X, y = dataset()
    clf = NeuronClassifier(tol=1e-8).fit(X, y)
    back = from_skorch(to_skorch(clf))
    np.testing.assert_array_equal(back.coef_, clf.coef_)
    np.testing.assert_array_equal(back.intercept_, clf.intercept_)
    np.testing.assert_array_equal(back.classes_, clf.classes_)
    np.testing.assert_allclose(back.predict_proba(X), clf.predict_proba(X), rtol=0, atol=0)


# -- inference on a from_skorch model --------------------------------------------------
def test_summary_needs_the_training_data():
    X, y = binary_data()
    module = NeuronModule(X.shape[1], 1, "sigmoid", dtype=torch.float64)
    net = trained_net(skorch.NeuralNetBinaryClassifier, module, X, y.astype(float))
    with pytest.raises(ValueError, match=r"from_skorch\(net, X, y\)"):
        from_skorch(net).summary(X, y)


@pytest.mark.parametrize("dataset", [binary_data, multiclass_data], ids=["binary", "multiclass"])
def test_summary_with_training_data_matches_statsmodels(dataset):
    X, y = dataset()
    K = np.unique(y).size
    outputs = 1 if K == 2 else K
    net = trained_net(
        skorch.NeuralNetBinaryClassifier if K == 2 else skorch.NeuralNetClassifier,
        NeuronModule(X.shape[1], outputs, "sigmoid" if K == 2 else "softmax",
                     dtype=torch.float64),
        X,
        y.astype(float) if K == 2 else y,
        epochs=200,
        **({} if K == 2 else {"criterion": nn.CrossEntropyLoss}),
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)  # SGD stops short of tol
        clf = from_skorch(net, X, y)
    np.testing.assert_allclose(clf.predict_proba(X), net.predict_proba(X), rtol=0, atol=ATOL)
    result = clf.inference(X, y)
    exog = sm.add_constant(X)
    model = sm.Logit(y, exog) if K == 2 else sm.MNLogit(y, exog)
    reference = model.fit(method="newton", disp=0, tol=1e-12, maxiter=100)
    params = np.asarray(reference.params).T.ravel()
    np.testing.assert_allclose(result.params, params, rtol=0, atol=PARAMS_ATOL)
    np.testing.assert_allclose(result.bse, np.asarray(reference.bse).T.ravel(), rtol=BSE_RTOL)
    assert "const" in str(clf.summary(X, y))
    # Other data are refused, as for any fitted neuron.
    with pytest.raises(ValueError, match="not the training data"):
        clf.inference(X[::-1].copy(), y[::-1].copy())


def test_from_skorch_warns_far_from_the_optimum():
    X, y = binary_data()
    module = NeuronModule(X.shape[1], 1, "sigmoid", dtype=torch.float64)
    net = trained_net(skorch.NeuralNetBinaryClassifier, module, X, y.astype(float), epochs=1)
    with pytest.warns(ConvergenceWarning, match="not at the optimum"):
        clf = from_skorch(net, X, y)
    assert not clf.converged_
    polished = NeuronClassifier(C=np.inf, optimizer="newton", tol=1e-10).fit(X, y)
    assert clf.objective_ > polished.objective_


# -- refusals --------------------------------------------------------------------------
class _TwoLayers(nn.Module):
    def __init__(self):
        super().__init__()
        self.a, self.b = nn.Linear(4, 4, dtype=torch.float64), nn.Linear(4, 1, dtype=torch.float64)

    def forward(self, x):
        return self.b(self.a(x))


def _initialized(net_class, module, **kwargs):
    return net_class(module, train_split=None, **kwargs).initialize()


def test_from_skorch_refusals():
    with pytest.raises(ValueError, match="not initialized"):
        from_skorch(skorch.NeuralNetBinaryClassifier(nn.Linear(4, 1)))
    with pytest.raises(TypeError, match="one linear layer"):
        from_skorch(_initialized(skorch.NeuralNetBinaryClassifier, _TwoLayers()))
    squashed = nn.Sequential(nn.Linear(4, 3, dtype=torch.float64), nn.Softmax(dim=1))
    with pytest.raises(ValueError, match="does not return the raw output"):
        from_skorch(_initialized(skorch.NeuralNetClassifier, squashed, classes=[0, 1, 2]))
    with pytest.raises(ValueError, match="criterion is NLLLoss"):
        from_skorch(
            _initialized(skorch.NeuralNetClassifier, nn.Linear(4, 3), classes=[0, 1, 2])
        )
    net = _initialized(
        skorch.NeuralNetClassifier, nn.Linear(4, 3), criterion=nn.CrossEntropyLoss
    )
    with pytest.raises(ValueError, match="pass classes"):
        from_skorch(net)
    with pytest.raises(ValueError, match="not sorted"):
        from_skorch(net, classes=["b", "a", "c"])
    with pytest.raises(ValueError, match="3 distinct labels"):
        from_skorch(net, classes=[0, 1])
    X, y = iris()
    with pytest.raises(ValueError, match="both X and y"):
        from_skorch(net, X)
    with pytest.raises(ValueError, match="features"):
        from_skorch(net, X[:, :3], y)
    with pytest.raises(ValueError, match="missing from classes"):
        from_skorch(net, X, y, classes=[0, 1, 5])
