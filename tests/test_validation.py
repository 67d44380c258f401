"""validate_arrays: scikit-learn's validate_data with a shortcut for plain numpy input.

The shortcut must be invisible: for every input, the same returned arrays,
the same fitted state, the same warnings and the same errors as
scikit-learn's ``validate_data`` called with the estimators' arguments.
"""

import warnings

import numpy as np
import pandas as pd
import pytest
import scipy.sparse
import sklearn
from hypothesis import given, settings
from hypothesis import strategies as st
from sklearn.utils.multiclass import type_of_target
from sklearn.utils.validation import validate_data

from sklearn_neuron import NeuronClassifier, NeuronRegressor, _validation
from sklearn_neuron._loss.targets import _binary_integers, distinct_labels, fitted_classes
from sklearn_neuron._validation import validate_arrays


def _reference(estimator, X, y, reset, ensure_all_finite, y_numeric):
    kwargs = dict(accept_sparse=["csr", "csc"], dtype=[np.float64, np.float32], reset=reset,
                  ensure_all_finite=ensure_all_finite)
    if isinstance(y, str):
        return validate_data(estimator, X, **kwargs)
    return validate_data(estimator, X, y, y_numeric=y_numeric, multi_output=False, **kwargs)


def _outcome(function, estimator, X, y, reset, ensure_all_finite, y_numeric):
    """(result or exception, warning categories and messages, fitted attributes)."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            result = function(estimator, X, y, reset=reset,
                              ensure_all_finite=ensure_all_finite, y_numeric=y_numeric)
        except Exception as exc:  # noqa: BLE001 - the exception is the outcome
            result = exc
    state = {name: getattr(estimator, name, None)
             for name in ("n_features_in_", "feature_names_in_")}
    return result, [(w.category, str(w.message)) for w in caught], state


def _assert_same(ours, theirs):
    result, warned, state = ours
    expected, expected_warned, expected_state = theirs
    if isinstance(expected, Exception):
        assert type(result) is type(expected)
        assert str(result) == str(expected)
    else:
        assert not isinstance(result, Exception), result
        result = result if isinstance(result, tuple) else (result,)
        expected = expected if isinstance(expected, tuple) else (expected,)
        for a, b in zip(result, expected, strict=True):
            if scipy.sparse.issparse(b):
                a, b = a.toarray(), b.toarray()
            assert type(a) is type(b)
            assert a.dtype == b.dtype and a.shape == b.shape
            np.testing.assert_array_equal(a, b)
    assert warned == expected_warned
    assert state["n_features_in_"] == expected_state["n_features_in_"]
    np.testing.assert_array_equal(state["feature_names_in_"], expected_state["feature_names_in_"])


def _compare(make_estimator, X, y, *, reset=True, ensure_all_finite=True, y_numeric=False,
             fitted_on=None):
    estimators = [make_estimator(), make_estimator()]
    if fitted_on is not None:
        for estimator in estimators:
            validate_data(estimator, fitted_on, reset=True)
    args = (X, y, reset, ensure_all_finite, y_numeric)
    _assert_same(_outcome(validate_arrays, estimators[0], *args),
                 _outcome(_reference, estimators[1], *args))


@st.composite
def _values(draw, size):
    """Finite floats, with one NaN, infinity or huge entry half of the time."""
    values = draw(st.lists(st.floats(-5, 5), min_size=size, max_size=size))
    if size and draw(st.booleans()):
        special = draw(st.sampled_from([1e300, -1e300, np.nan, np.inf, -np.inf]))
        values[draw(st.integers(0, size - 1))] = special
    return np.array(values, dtype=np.float64)


@st.composite
def _arrays(draw):
    n = draw(st.integers(0, 4))
    p = draw(st.integers(0, 3))
    ndim = draw(st.sampled_from([1, 2, 2, 2, 3]))
    shape = {1: (n,), 2: (n, p), 3: (n, p, 2)}[ndim]
    dtype = draw(st.sampled_from([np.float64, np.float32, np.int64, np.float16, bool]))
    values = draw(_values(int(np.prod(shape))))
    with np.errstate(invalid="ignore", over="ignore"):
        X = np.array(values, dtype=np.float64).reshape(shape).astype(dtype)
    if ndim == 2 and draw(st.booleans()):
        X = np.asfortranarray(X)
    return X


@st.composite
def _targets(draw, n):
    kind = draw(st.sampled_from(["float", "int", "bool", "str", "object", "complex",
                                 "column", "strided", "short", "absent"]))
    if kind == "absent":
        return "no_validation"
    length = max(n - 1, 0) if kind == "short" else n
    values = draw(_values(2 * length))
    y = values[:length]
    if kind == "int":
        y = np.clip(np.nan_to_num(y), -3, 3).astype(np.int64)
    elif kind == "bool":
        y = y > 0
    elif kind == "str":
        y = np.nan_to_num(y).astype(str)
    elif kind == "object":
        y = y.astype(object)
    elif kind == "complex":
        y = y.astype(complex)
    elif kind == "column":
        y = y.reshape(-1, 1)
    elif kind == "strided":
        y = values[::2]
    return y


@settings(max_examples=300, deadline=None)
@given(data=st.data(), reset=st.booleans(), ensure_all_finite=st.booleans(),
       y_numeric=st.booleans(), fitted_features=st.sampled_from([None, 0, 2, 3]))
def test_same_outcome_as_validate_data(data, reset, ensure_all_finite, y_numeric,
                                       fitted_features):
    """Property: any array input gives scikit-learn's result, warnings, errors and state."""
    X = data.draw(_arrays())
    y = data.draw(_targets(X.shape[0] if X.ndim else 0))
    fitted_on = None if fitted_features is None else np.zeros((2, fitted_features))
    if fitted_on is not None and fitted_features == 0:
        fitted_on = pd.DataFrame(np.zeros((2, 2)), columns=["a", "b"])
    _compare(NeuronRegressor, X, y, reset=reset, ensure_all_finite=ensure_all_finite,
             y_numeric=y_numeric, fitted_on=fitted_on)


@settings(max_examples=200, deadline=None)
@given(data=st.data(), n=st.integers(1, 5), p=st.integers(1, 4),
       dtype=st.sampled_from([np.float64, np.float32]), fortran=st.booleans(),
       y_kind=st.sampled_from(["float", "int", "bool", "absent"]), reset=st.booleans(),
       ensure_all_finite=st.booleans())
def test_same_outcome_on_plain_arrays(data, n, p, dtype, fortran, y_kind, reset,
                                      ensure_all_finite):
    """Property: the inputs the shortcut is for (and their near misses) match too."""
    X = data.draw(_values(n * p)).reshape(n, p)
    with np.errstate(over="ignore"):
        X = X.astype(dtype)
    X = np.asfortranarray(X) if fortran else X
    y = data.draw(_values(n))
    y = {"float": y, "int": np.arange(n), "bool": np.arange(n) % 2 == 0,
         "absent": "no_validation"}[y_kind]
    fitted_on = None if reset else np.zeros((2, data.draw(st.sampled_from([p, p + 1]))))
    _compare(NeuronClassifier, X, y, reset=reset, ensure_all_finite=ensure_all_finite,
             fitted_on=fitted_on)


@pytest.mark.parametrize("reset", [True, False])
def test_dataframe_sparse_and_list_input_match(reset):
    frame = pd.DataFrame({"a": [1.0, 2.0, 3.0], "b": [0.5, 0.0, 1.0]})
    fitted = pd.DataFrame(np.zeros((2, 2)), columns=["a", "b"])
    for X in (frame, scipy.sparse.csr_matrix(frame.to_numpy()), frame.to_numpy().tolist(),
              frame.to_numpy()):
        for y in (np.array([0.0, 1.0, 2.0]), pd.Series([1, 2, 3]), [1.0, 2.0, 3.0]):
            _compare(NeuronClassifier, X, y, reset=reset, fitted_on=None if reset else fitted)


def test_reset_drops_feature_names_of_an_earlier_fit():
    X = np.arange(6.0).reshape(3, 2)
    estimator = NeuronRegressor()
    validate_data(estimator, pd.DataFrame(X, columns=["a", "b"]), reset=True)
    assert hasattr(estimator, "feature_names_in_")
    validate_arrays(estimator, X, np.ones(3), reset=True)
    assert not hasattr(estimator, "feature_names_in_")
    assert estimator.n_features_in_ == 2


@pytest.mark.parametrize("value", [np.nan, np.inf])
def test_assume_finite_is_honoured(value):
    X = np.array([[1.0, value], [2.0, 3.0]])
    y = np.array([1.0, value])
    with sklearn.config_context(assume_finite=True):
        _compare(NeuronRegressor, X, y)
    _compare(NeuronRegressor, X, y)


def test_plain_arrays_take_the_shortcut(monkeypatch):
    """What the shortcut is for: plain float arrays never reach validate_data."""
    def fail(*args, **kwargs):
        raise AssertionError("validate_data was called")

    monkeypatch.setattr(_validation, "validate_data", fail)
    rng = np.random.default_rng(0)
    for dtype in (np.float64, np.float32):
        X = rng.standard_normal((20, 3)).astype(dtype)
        y = rng.standard_normal(20)
        regressor = NeuronRegressor().fit(X, y)
        regressor.predict(X)
        classifier = NeuronClassifier().fit(X, (y > 0).astype(int))
        classifier.predict_proba(X)
        Xv, yv = validate_arrays(regressor, X, y, reset=True)
        assert Xv is X and yv is y
    with pytest.raises(AssertionError, match="validate_data was called"):
        NeuronRegressor().fit(X.astype(np.int64), y)  # needs a conversion


@pytest.mark.parametrize("fitted_on", [np.zeros((2, 3)), np.zeros((2, 2)),
                                       pd.DataFrame(np.zeros((2, 2)), columns=["a", "b"])])
@pytest.mark.parametrize("with_y", [True, False])
def test_checks_against_the_fitted_features(fitted_on, with_y):
    """reset=False: a different number of features raises, missing names warn, as sklearn."""
    X = np.arange(4.0).reshape(2, 2)
    y = np.array([0.0, 1.0]) if with_y else "no_validation"
    _compare(NeuronRegressor, X, y, reset=False, fitted_on=fitted_on)


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
@pytest.mark.parametrize("where", ["X", "y"])
def test_non_finite_entries_are_refused_as_scikit_learn_does(bad, where):
    X, y = np.ones((3, 2)), np.array([0.0, 1.0, 2.0])
    (X if where == "X" else y)[1] = bad
    _compare(NeuronRegressor, X, y, y_numeric=True)
    with pytest.raises(ValueError, match=f"Input {where} contains"):
        validate_arrays(NeuronRegressor(), X, y, reset=True)


# -- one check, one message, for every storage -------------------------------------------
def _dask_case(name):
    """``(estimator, fit arguments)`` of a bad input named ``name``: 40 rows, 2 features."""
    rng = np.random.default_rng(0)
    X = rng.normal(size=(40, 2))
    y = np.arange(40) % 2
    counts = rng.poisson(1.0, size=40).astype(float)
    weights = np.ones(40)
    cases = {
        "negative weight": (NeuronClassifier(), (X, y, np.r_[-1.0, weights[1:]]), {}),
        "zero weight sum": (NeuronClassifier(), (X, y, np.zeros(40)), {}),
        "zero weight sum of a regressor": (NeuronRegressor(), (X, counts, np.zeros(40)), {}),
        "class weights summing to zero": (
            NeuronClassifier(class_weight={0: 0.0, 1: 0.0}), (X, y, None), {}
        ),
        "negative Poisson count": (
            NeuronRegressor(loss="poisson"), (X, np.r_[-2.0, counts[1:]], None), {}
        ),
        "zero Gamma target": (NeuronRegressor(loss="gamma"), (X, counts + 0.0, None), {}),
        "offset of the wrong shape": (
            NeuronClassifier(), (X, np.arange(40) % 3, None), {"offset": np.zeros(40)}
        ),
        "non-finite offset": (
            NeuronRegressor(loss="poisson"), (X, counts, None),
            {"offset": np.r_[np.nan, np.zeros(39)]},
        ),
        "exposure not positive": (
            NeuronRegressor(loss="poisson"), (X, counts, None),
            {"exposure": np.r_[0.0, np.ones(39)]},
        ),
    }
    return cases[name]


@pytest.mark.parametrize("name", [
    "negative weight", "zero weight sum", "zero weight sum of a regressor",
    "class weights summing to zero", "negative Poisson count", "zero Gamma target",
    "offset of the wrong shape", "non-finite offset", "exposure not positive",
])
def test_dask_and_memory_refuse_with_the_same_message(name):
    """Data in memory and the same data as Dask arrays (checked by reductions
    over the blocks) are refused by the same check, with the same words."""
    da = pytest.importorskip("dask.array")
    import dask

    estimator, (X, y, w), kwargs = _dask_case(name)
    with pytest.raises(ValueError) as memory:
        sklearn.clone(estimator).fit(X, y, sample_weight=w, **kwargs)

    def chunked(a):
        return None if a is None else da.from_array(a, chunks=15)  # 3 blocks

    kwargs = {key: chunked(value) for key, value in kwargs.items()}
    with dask.config.set(scheduler="synchronous"), pytest.raises(ValueError) as on_dask:
        sklearn.clone(estimator).fit(chunked(X), chunked(y), sample_weight=chunked(w), **kwargs)
    assert str(on_dask.value) == str(memory.value)


def test_dask_and_memory_refuse_unknown_labels_with_the_same_message():
    """Labels outside the fitted classes, checked against a fitted classifier
    (as inference rebuilds its objective): the same message for both storages."""
    da = pytest.importorskip("dask.array")
    import dask

    X = np.random.default_rng(0).normal(size=(40, 2))
    model = NeuronClassifier().fit(X, np.arange(40) % 2)
    y = np.arange(40) % 4  # 2 and 3 were never seen
    with pytest.raises(ValueError, match=r"labels \[2, 3\]") as memory:
        model._build_objective(X, y, None, reset=False)
    with dask.config.set(scheduler="synchronous"), pytest.raises(ValueError) as on_dask:
        model._build_objective(
            da.from_array(X, chunks=15), da.from_array(y, chunks=15), None, reset=False
        )
    assert str(on_dask.value) == str(memory.value)


@settings(max_examples=60, deadline=None)
@given(
    dtype=st.sampled_from([np.int8, np.uint8, np.int32, np.int64, np.uint64]),
    low=st.integers(-(2**63), 2**64 - 1),
    span=st.integers(0, 70_000),
    size=st.integers(1, 9_000),
    seed=st.integers(0, 2**32 - 1),
)
def test_distinct_labels_are_numpys_unique(dtype, low, span, size, seed):
    """Counting (many integer labels of a narrow range) or np.unique, the
    distinct values and their dtype are np.unique's, for any integer labels."""
    info = np.iinfo(dtype)
    low = min(max(low, int(info.min)), int(info.max))
    high = min(low + span, int(info.max))
    labels = np.random.default_rng(seed).integers(low, high, size, endpoint=True, dtype=dtype)
    distinct = distinct_labels(labels)
    expected = np.unique(labels)
    np.testing.assert_array_equal(distinct, expected)
    assert distinct.dtype == expected.dtype


@settings(max_examples=60, deadline=None)
@given(
    dtype=st.sampled_from([np.bool_, np.int8, np.uint8, np.int32, np.int64, np.uint64]),
    values=st.lists(st.integers(0, 255), min_size=1, max_size=3, unique=True),
    size=st.integers(1, 300),
    seed=st.integers(0, 2**32 - 1),
)
def test_binary_integer_labels_skip_only_what_scikit_learn_accepts(dtype, values, size, seed):
    """fitted_classes skips scikit-learn's target-type check for 1-D integer or
    boolean labels of at most two values: those scikit-learn calls "binary"
    (accepted, no warning). Labels of three values are checked (multiclass)."""
    values = np.array(values).astype(dtype)
    labels = np.random.default_rng(seed).choice(np.unique(values), size)
    skipped = _binary_integers(labels)
    assert skipped == (np.unique(labels).size <= 2)
    if skipped:
        assert type_of_target(labels) == "binary"
    if np.unique(labels).size >= 2:
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            np.testing.assert_array_equal(fitted_classes(labels), np.unique(labels))


def test_labels_scikit_learn_refuses_are_still_refused():
    # Float labels are not skipped: continuous values are refused as before.
    with pytest.raises(ValueError, match="Unknown label type: continuous"):
        fitted_classes(np.array([0.5, 1.5, 0.5, 2.0]))
    assert not _binary_integers(np.array([0.0, 1.0]))
    assert not _binary_integers(np.array([[0, 1], [1, 0]]))  # 2-D: multilabel, checked
