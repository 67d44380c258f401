"""Saving and loading fitted estimators (pickle, joblib, skops), and ``module_``.

Fitted state is numpy on the CPU: ``module_`` is built from ``coef_`` and
``intercept_`` on demand (sharing their memory) and ``optimizer_state_`` is
kept as numpy (``_state.py``). Round trips must give identical outputs,
identical summaries and an identical continuation of ``partial_fit``.
"""

import io
import pickle
import warnings

import joblib
import numpy as np
import pytest
import torch

from sklearn_neuron import NeuronClassifier, NeuronRegressor

skops_io = pytest.importorskip("skops.io")

pytestmark = pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")


def _data(kind):
    rng = np.random.default_rng(0)
    X = rng.normal(size=(150, 3))
    if kind == "binary":
        return X, (X[:, 0] + rng.normal(size=150) > 0).astype(int)
    if kind == "multiclass":
        return X, np.digitize(X[:, 0] + rng.normal(size=150), [-0.5, 0.5])
    return X, np.exp(0.2 * X[:, 0]) + rng.random(150)


CASES = {
    "classifier-newton": (NeuronClassifier(C=np.inf), "binary"),
    "classifier-lbfgs-multiclass": (NeuronClassifier(optimizer="lbfgs"), "multiclass"),
    "classifier-sgd": (NeuronClassifier(optimizer="sgd", max_iter=5, random_state=0), "binary"),
    "classifier-adam-multiclass": (
        NeuronClassifier(optimizer="adam", max_iter=5, random_state=0), "multiclass"),
    "regressor-newton": (NeuronRegressor(alpha=0), "regression"),
    "regressor-poisson": (NeuronRegressor("poisson", alpha=0), "regression"),
    "regressor-sgd": (NeuronRegressor(optimizer="sgd", max_iter=5, random_state=0),
                      "regression"),
    "regressor-adam": (NeuronRegressor(optimizer="adam", max_iter=5, random_state=0),
                       "regression"),
}


def _skops(model):
    data = skops_io.dumps(model)
    untrusted = skops_io.get_untrusted_types(data=data)
    assert untrusted and all(name.startswith("sklearn_neuron.") for name in untrusted), untrusted
    return skops_io.loads(data, trusted=untrusted)


def _joblib(model):
    buffer = io.BytesIO()
    joblib.dump(model, buffer)
    buffer.seek(0)
    return joblib.load(buffer)


ROUND_TRIPS = {"pickle": lambda m: pickle.loads(pickle.dumps(m)), "joblib": _joblib,
               "skops": _skops}


def _outputs(model, X, y):
    out = [model.predict(X)]
    if hasattr(model, "predict_proba"):
        out += [model.predict_proba(X), model.decision_function(X)]
    if not model._is_stochastic():
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # penalized fits warn
            out.append(str(model.summary(X, y)))
    return out


@pytest.mark.parametrize("trip", ROUND_TRIPS)
@pytest.mark.parametrize("case", CASES)
def test_round_trip_gives_identical_outputs(case, trip):
    template, kind = CASES[case]
    X, y = _data(kind)
    model = template.fit(X, y)
    _ = model.module_  # a built module is not saved, and is rebuilt after loading
    loaded = ROUND_TRIPS[trip](model)
    assert "_module" not in vars(loaded)
    for before, after in zip(_outputs(model, X, y), _outputs(loaded, X, y), strict=True):
        if isinstance(before, str):
            assert before == after
        else:
            np.testing.assert_array_equal(before, after)
    np.testing.assert_array_equal(
        loaded.module_.linear.weight.detach().numpy().reshape(loaded.coef_.shape), model.coef_
    )
    if model._is_stochastic():
        assert all(
            not isinstance(v, torch.Tensor)
            for state in model.optimizer_state_["state"].values() for v in state.values()
        )
        # partial_fit continues from the loaded state exactly as from the original
        extra = {"classes": model.classes_} if hasattr(model, "classes_") else {}
        model.partial_fit(X, y, **extra)
        loaded.partial_fit(X, y, **extra)
        np.testing.assert_array_equal(loaded.coef_, model.coef_)
        np.testing.assert_array_equal(loaded.intercept_, model.intercept_)


def test_module_shares_the_fitted_coefficients():
    X, y = _data("binary")
    model = NeuronClassifier().fit(X, y)
    before = model.predict_proba(X)
    module = model.module_
    assert module is model.module_  # built once
    optimizer = torch.optim.SGD(module.parameters(), lr=0.5)
    X_t, y_t = torch.from_numpy(X), torch.from_numpy(y).double()
    for _ in range(3):  # push it away from the optimum, in torch
        optimizer.zero_grad()
        (-torch.nn.functional.binary_cross_entropy_with_logits(module(X_t)[:, 0], y_t)).backward()
        optimizer.step()
    np.testing.assert_array_equal(model.coef_, module.linear.weight.detach().numpy())
    np.testing.assert_array_equal(model.intercept_, module.linear.bias.detach().numpy())
    assert np.abs(model.predict_proba(X) - before).max() > 1e-3  # predictions follow
    with torch.no_grad():
        expected = torch.sigmoid(module(X_t)[:, 0]).numpy()
    np.testing.assert_allclose(model.predict_proba(X)[:, 1], expected, rtol=1e-12)


def test_module_before_fit_is_not_fitted():
    from sklearn.exceptions import NotFittedError

    for model in (NeuronClassifier(), NeuronRegressor()):
        assert not hasattr(model, "module_")
        with pytest.raises(NotFittedError):
            _ = model.module_


def test_refit_builds_a_new_module():
    X, y = _data("binary")
    model = NeuronClassifier().fit(X, y)
    first = model.module_
    model.set_params(C=0.01).fit(X, y)
    assert model.module_ is not first
    np.testing.assert_array_equal(model.coef_, model.module_.linear.weight.detach().numpy())


def test_fingerprint_survives_a_round_trip():
    X, y = _data("binary")
    loaded = _skops(NeuronClassifier(C=np.inf).fit(X, y))
    loaded.inference(X, y)
    with pytest.raises(ValueError, match="y differs"):
        loaded.inference(X, y[::-1].copy())
