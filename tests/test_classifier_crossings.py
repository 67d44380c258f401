"""Issue #36, the classifier's items: every crossing is LogisticRegression, no fault is mute.

- ``class_weight="balanced"`` with ``sample_weight``: the weighted class
  counts, as scikit-learn's ``compute_class_weight`` and LogisticRegression
  (CV: computed once on all of y, as LogisticRegressionCV);
- ``sparsify`` / ``densify``, as LogisticRegression's;
- a meta tensor as X, object labels of mixed types, strings in the
  weights, an early-stopping split too small, a lambda ``loss`` in a pickle:
  errors that name the argument and what to do (or, for the lambda, a pickle
  that works).
"""

import pickle

import joblib
import numpy as np
import pytest
import scipy.sparse
import sklearn
import torch
from sklearn.base import clone
from sklearn.datasets import load_iris, make_classification
from sklearn.linear_model import LogisticRegression, LogisticRegressionCV
from sklearn.model_selection import KFold
from sklearn.preprocessing import StandardScaler

from sklearn_neuron import NeuronClassifier, NeuronClassifierCV, NeuronRegressor

#: LogisticRegression run to its optimum (the reference of every comparison).
EXACT = dict(tol=1e-12, max_iter=1000)


def _imbalanced(n_classes, n=300, seed=0):
    X, y = make_classification(
        n_samples=n, n_features=5, n_informative=3, n_redundant=0, n_classes=n_classes,
        n_clusters_per_class=1, weights=[0.6] + [0.4 / (n_classes - 1)] * (n_classes - 1),
        flip_y=0.05, random_state=seed,
    )
    # Weights that differ by class, so that weighted and plain counts disagree.
    weight = np.random.default_rng(seed).uniform(0.2, 3.0, n) * np.where(y == 0, 2.0, 1.0)
    return StandardScaler().fit_transform(X), y, weight


# -- item 1: "balanced" with sample_weight -------------------------------------------
@pytest.mark.parametrize("n_classes", [2, 3])
def test_balanced_with_sample_weight_equals_logistic_regression(n_classes):
    X, y, weight = _imbalanced(n_classes)
    reference = LogisticRegression(
        solver="newton-cholesky", class_weight="balanced", **EXACT
    ).fit(X, y, sample_weight=weight)
    model = NeuronClassifier(optimizer="newton", class_weight="balanced", tol=1e-12).fit(
        X, y, sample_weight=weight
    )
    np.testing.assert_allclose(model.coef_, reference.coef_, rtol=0, atol=1e-10)
    np.testing.assert_allclose(model.intercept_, reference.intercept_, rtol=0, atol=1e-10)


def test_balanced_weights_are_compute_class_weights():
    from sklearn.utils.class_weight import compute_class_weight

    from sklearn_neuron._validation import class_weights

    _, y, weight = _imbalanced(3)
    classes = np.unique(y)
    counts, sums = np.bincount(y), np.bincount(y, weights=weight)
    expected = compute_class_weight("balanced", classes=classes, y=y, sample_weight=weight)
    np.testing.assert_allclose(class_weights("balanced", classes, counts, sums), expected,
                               rtol=1e-15)
    # A class absent from y weighs 1; a present class of zero total weight, 0.
    classes4 = np.arange(4)
    got = class_weights("balanced", classes4, np.r_[counts, 0], np.r_[sums[:2], 0.0, 0.0])
    np.testing.assert_allclose(got, [sums[:2].sum() / (3 * sums[0]),
                                     sums[:2].sum() / (3 * sums[1]), 0.0, 1.0])


def test_cv_balanced_is_logistic_regression_cvs():
    """LogisticRegressionCV computes "balanced" once on all of y (with the
    sample weights) and uses those class weights in every fold: so does
    NeuronClassifierCV (refit=False averages the folds' own coefficients)."""
    X, y, weight = _imbalanced(3, n=240, seed=2)
    Cs = [0.01, 0.1, 1.0]
    common = dict(Cs=Cs, cv=KFold(4), scoring="neg_log_loss", refit=False,
                  class_weight="balanced")
    model = NeuronClassifierCV(optimizer="newton", tol=1e-12, max_iter=500, **common).fit(
        X, y, sample_weight=weight
    )
    reference = LogisticRegressionCV(
        solver="newton-cholesky", l1_ratios=(0.0,), use_legacy_attributes=False,
        **EXACT, **common,
    ).fit(X, y, sample_weight=weight)
    np.testing.assert_allclose(model.scores_, reference.scores_, rtol=0, atol=1e-10)
    np.testing.assert_allclose(model.coef_, reference.coef_, rtol=0, atol=1e-8)
    np.testing.assert_allclose(model.intercept_, reference.intercept_, rtol=0, atol=1e-8)


# -- item 8: sparsify / densify --------------------------------------------------------
@pytest.fixture(scope="module")
def iris():
    X, y = load_iris(return_X_y=True)
    return StandardScaler().fit_transform(X), y


@pytest.mark.parametrize("Estimator", [NeuronClassifier, NeuronClassifierCV])
def test_sparsify_keeps_every_prediction(iris, Estimator):
    X, y = iris
    params = dict(C=0.05, l1_ratio=1.0) if Estimator is NeuronClassifier else dict(Cs=3)
    model = Estimator(**params).fit(X, y)
    dense = model.coef_.copy()
    outputs = {m: getattr(model, m)(X) for m in
               ("predict", "predict_proba", "predict_log_proba", "decision_function")}
    assert model.sparsify() is model
    assert scipy.sparse.issparse(model.coef_) and model.coef_.format == "csr"
    np.testing.assert_array_equal(model.coef_.toarray(), dense)
    for method, expected in outputs.items():
        np.testing.assert_array_equal(getattr(model, method)(X), expected)
    assert model.score(X, y) == pytest.approx((outputs["predict"] == y).mean(), abs=0)
    # Saved and loaded: still sparse, the same predictions.
    loaded = pickle.loads(pickle.dumps(model))
    assert scipy.sparse.issparse(loaded.coef_)
    np.testing.assert_array_equal(loaded.predict_proba(X), outputs["predict_proba"])
    assert model.densify() is model
    assert type(model.coef_) is np.ndarray
    np.testing.assert_array_equal(model.coef_, dense)
    np.testing.assert_array_equal(model.predict_proba(X), outputs["predict_proba"])


def test_sparsify_as_logistic_regression(iris):
    X, y = iris
    model = NeuronClassifier(C=0.05, l1_ratio=1.0).fit(X, y)
    reference = LogisticRegression(C=0.05, l1_ratio=1.0, solver="saga").fit(X, y)
    assert (model.coef_ == 0).any()  # the L1 term gives exact zeros
    assert type(model.sparsify().coef_) is type(reference.sparsify().coef_)
    assert model.coef_.nnz == np.count_nonzero(model.densify().coef_)
    with sklearn.config_context(sparse_interface="sparray"):
        assert type(model.sparsify().coef_) is type(reference.sparsify().coef_)


def test_sparsified_model_fits_on_and_explains(iris):
    X, y = iris
    model = NeuronClassifier(C=np.inf, tol=1e-8).fit(X[:, :2], y == 2)
    before = model.inference(X[:, :2], y == 2).bse
    coef = model.coef_.copy()
    model.sparsify()
    np.testing.assert_array_equal(model.inference(X[:, :2], y == 2).bse, before)
    model.set_params(warm_start=True, max_iter=3).fit(X[:, :2], y == 2)  # warm start reads it
    np.testing.assert_allclose(model.coef_, coef, rtol=0, atol=1e-7)
    module = NeuronClassifier().fit(X, y).sparsify().module_  # a dense copy, in torch
    assert not module.linear.weight.is_sparse


def test_sparsified_model_saves_with_skops(iris):
    """skops asks to trust scipy's csr_matrix, as for a sparsified LogisticRegression."""
    skops_io = pytest.importorskip("skops.io")
    X, y = iris
    model = NeuronClassifier().fit(X, y).sparsify()
    data = skops_io.dumps(model)
    untrusted = skops_io.get_untrusted_types(data=data)
    assert set(untrusted) == {"scipy.sparse._csr.csr_matrix",
                              "sklearn_neuron._classifier.NeuronClassifier"}
    loaded = skops_io.loads(data, trusted=untrusted)
    assert scipy.sparse.issparse(loaded.coef_)
    np.testing.assert_array_equal(loaded.predict_proba(X), model.predict_proba(X))


def test_sparsified_model_exports_to_onnx(iris):
    pytest.importorskip("skl2onnx")
    rt = pytest.importorskip("onnxruntime")
    from sklearn_neuron import to_onnx

    X, y = iris
    X = X.astype(np.float32)
    model = NeuronClassifier(C=0.05, l1_ratio=1.0).fit(X, y)
    expected = model.predict_proba(X)
    onx = to_onnx(model.sparsify(), X[:1], options={"zipmap": False})
    session = rt.InferenceSession(onx.SerializeToString(), providers=["CPUExecutionProvider"])
    labels, proba = session.run(None, {session.get_inputs()[0].name: X})
    np.testing.assert_allclose(proba, expected, rtol=0, atol=1e-6)
    np.testing.assert_array_equal(labels, model.predict(X))


@pytest.mark.parametrize("method", ["sparsify", "densify"])
def test_sparsify_before_fit_is_refused(method):
    from sklearn.exceptions import NotFittedError

    with pytest.raises(NotFittedError, match=f"must be fitted before {method[:-1]}"):
        getattr(NeuronClassifier(), method)()


def test_regressor_has_no_sparsify():
    """As LinearRegression, Ridge and the GLMs: none (SGDRegressor is the exception)."""
    assert not hasattr(NeuronRegressor(), "sparsify")


# -- item 22: a meta tensor ------------------------------------------------------------
def test_meta_tensor_is_refused_by_name(iris):
    X, y = iris
    meta = torch.empty(X.shape, device="meta", dtype=torch.float64)
    with pytest.raises(ValueError, match=r"X is a torch tensor on the 'meta' device.*'cpu'"):
        NeuronClassifier().fit(meta, y)
    with pytest.raises(ValueError, match=r"sample_weight is a torch tensor on the 'meta'"):
        NeuronClassifier().fit(X, y, torch.empty(y.shape, device="meta"))
    with pytest.raises(ValueError, match=r"y is a torch tensor on the 'meta'"):
        NeuronRegressor().fit(X, torch.empty(y.shape, device="meta"))
    model = NeuronClassifier().fit(X, y)
    for method in ("predict", "predict_proba", "decision_function"):
        with pytest.raises(ValueError, match="X is a torch tensor on the 'meta' device"):
            getattr(model, method)(meta)


# -- item 23: object labels of mixed types ---------------------------------------------
MIXED_LABELS = {
    "int-first": [1, "a", 2],
    "none-first": [None, "a", "b"],
    "str-then-none": ["a", None, "b"],
    "str-then-int": ["a", 1, "b"],
}


@pytest.mark.parametrize("case", list(MIXED_LABELS))
@pytest.mark.parametrize("Estimator", [NeuronClassifier, NeuronClassifierCV])
def test_mixed_labels_give_scikit_learns_error(case, Estimator):
    X = np.random.default_rng(0).normal(size=(12, 2))
    y = np.array(MIXED_LABELS[case] * 4, dtype=object)
    with pytest.raises(Exception) as reference:
        LogisticRegression().fit(X, y)
    with pytest.raises(type(reference.value)) as raised:
        Estimator().fit(X, y)
    if isinstance(reference.value, ValueError):  # scikit-learn's own words
        assert "Unknown label type" in str(reference.value)
        assert str(raised.value) == str(reference.value)
    else:  # scikit-learn's is numpy's sort error; ours says what to do
        assert "not supported" in str(reference.value)
        assert "y mixes labels of types" in str(raised.value)
        assert "all strings or all numbers" in str(raised.value)


# -- item 26: faults that name their argument ------------------------------------------
def test_strings_in_sample_weight_name_it(iris):
    X, y = iris
    weight = np.array(["1.0"] * (len(y) - 1) + ["heavy"], dtype=object)
    with pytest.raises(ValueError, match=r"sample_weight must hold numbers.*'heavy'"):
        NeuronClassifier().fit(X, y, sample_weight=weight)
    with pytest.raises(ValueError, match=r"sample_weight must hold numbers"):
        NeuronRegressor().fit(X, y, sample_weight=weight)
    # Numeric strings convert, as in scikit-learn.
    numeric = weight.copy()
    numeric[-1] = "2"
    model = NeuronClassifier().fit(X, y, sample_weight=numeric)
    expected = NeuronClassifier().fit(X, y, sample_weight=numeric.astype(float))
    np.testing.assert_array_equal(model.coef_, expected.coef_)


def test_strings_in_class_weight_name_it(iris):
    X, y = iris
    with pytest.raises(ValueError, match=r"class_weight has the non-numeric weight 'high' "
                                         r"for class 1; class weights must be numbers"):
        NeuronClassifier(class_weight={0: 1.0, 1: "high", 2: 1.0}).fit(X, y)
    with pytest.raises(ValueError, match=r"class_weight has the non-numeric weight None"):
        NeuronClassifierCV(Cs=2, class_weight={0: None, 1: 1.0, 2: 1.0}).fit(X, y)


@pytest.mark.parametrize("n, fraction", [(10, 0.1), (10, 0.9), (3, 0.1)])
def test_early_stopping_split_too_small_names_the_parameters(n, fraction):
    X = np.random.default_rng(0).normal(size=(n, 2))
    y = np.arange(n) % 2
    model = NeuronClassifier(optimizer="adam", early_stopping=True,
                             validation_fraction=fraction, max_iter=2)
    with pytest.raises(ValueError, match=r"early_stopping=True cannot hold out "
                                         rf"validation_fraction={fraction} of {n} samples.*"
                                         r"set early_stopping=False"):
        model.fit(X, y)
    assert not hasattr(model, "classes_")  # no half-fitted state left behind


def _bce(logits, target):
    return torch.nn.functional.binary_cross_entropy_with_logits(logits, target, reduction="none")


ROUND_TRIPS = {
    "pickle": lambda model: pickle.loads(pickle.dumps(model)),
    "joblib": lambda model: _joblib_round_trip(model),
    "deepcopy": lambda model: __import__("copy").deepcopy(model),
}


def _joblib_round_trip(model):
    import io

    buffer = io.BytesIO()
    joblib.dump(model, buffer)
    buffer.seek(0)
    return joblib.load(buffer)


@pytest.mark.parametrize("how", list(ROUND_TRIPS))
def test_lambda_loss_is_saved_by_value(iris, how):
    X, y = iris
    scale = 2.0  # a closure too
    loss = lambda logits, target: scale * _bce(logits, target)  # noqa: E731
    model = NeuronClassifier(loss, optimizer="lbfgs", tol=1e-8).fit(X, y == 2)
    loaded = ROUND_TRIPS[how](model)
    z, t = torch.linspace(-2, 2, 5).reshape(-1, 1), torch.tensor([[0.0], [1], [0], [1], [1]])
    torch.testing.assert_close(loaded.loss(z, t), loss(z, t), rtol=0, atol=0)
    np.testing.assert_array_equal(loaded.predict_proba(X), model.predict_proba(X))
    np.testing.assert_array_equal(clone(loaded).fit(X, y == 2).coef_, model.coef_)
    regressor = NeuronRegressor(lambda raw, target: (raw - target) ** 2).fit(X, y)
    np.testing.assert_array_equal(ROUND_TRIPS[how](regressor).predict(X), regressor.predict(X))


def test_module_level_loss_is_pickled_by_name(iris):
    X, y = iris
    model = NeuronClassifier(_bce, optimizer="lbfgs").fit(X, y == 2)
    assert pickle.loads(pickle.dumps(model)).loss is _bce


def test_unpicklable_loss_is_refused_by_name(iris):
    import threading

    X, y = iris
    lock = threading.Lock()

    def locked_loss(logits, target):
        with lock:
            return _bce(logits, target)

    model = NeuronClassifier(locked_loss, optimizer="lbfgs").fit(X, y == 2)
    with pytest.raises(pickle.PicklingError,
                       match=r"loss=<function .*locked_loss.* cannot be pickled .*lock.*"
                             r"A callable loss must be picklable: a function defined at "
                             r"the top level of a module, or a torch loss object"):
        pickle.dumps(model)
