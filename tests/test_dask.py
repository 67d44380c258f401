"""Fit, predict and inference on dask collections, against the in-memory results (issue 14).

A real ``distributed.LocalCluster`` (2 worker processes, so that everything
sent to the workers is pickled) is started once for the module. Every fit on
dask data runs with ``dask.array.Array.__array__`` patched to raise on the
driver (the ``no_gather`` fixture): any conversion of a whole dask array to
numpy there fails the test, while the workers (other processes) compute
their blocks as usual. Coefficients, predictions and inference are compared
with the in-memory fit of the same data at 1e-8 (absolute, on standardised
data whose coefficients are O(1)).
"""

import logging
import subprocess
import sys
import warnings

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

da = pytest.importorskip("dask.array")
distributed = pytest.importorskip("distributed")
dask_ml_wrappers = pytest.importorskip("dask_ml.wrappers")

import dask  # noqa: E402
import joblib  # noqa: E402
from sklearn.base import clone  # noqa: E402
from sklearn.datasets import make_classification, make_regression  # noqa: E402
from sklearn.exceptions import ConvergenceWarning  # noqa: E402
from sklearn.model_selection import GridSearchCV, KFold, cross_validate  # noqa: E402

from sklearn_neuron import NeuronClassifier, NeuronRegressor, likelihood_ratio_test  # noqa: E402
from sklearn_neuron._dask.detect import import_dask  # noqa: E402

ATOL = 1e-8
CHUNK = 400  # rows per block: the data below have 5-8 blocks


def _cluster(processes):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the cluster's own start-up notes
        return distributed.LocalCluster(
            n_workers=2, threads_per_worker=1, processes=processes, dashboard_address=None
        )


@pytest.fixture(scope="module")
def client():
    """Two single-threaded workers in threads of this process: quick to start and reach."""
    with _cluster(processes=False) as cluster, distributed.Client(cluster) as client:
        yield client


@pytest.fixture
def process_client():
    """Two worker processes: everything sent to the workers is pickled."""
    with _cluster(processes=True) as cluster, distributed.Client(cluster) as client:
        client.run(lambda: __import__("sklearn_neuron"))  # torch's import, once
        yield client


@pytest.fixture
def no_gather(client, monkeypatch):
    """Any ``np.asarray(dask_array)`` on the driver raises (workers are unaffected)."""

    monkeypatch.setattr(da.Array, "__array__", TestNoGather.refuse)
    return client


class TestNoGather:
    @staticmethod
    def refuse(self, *args, **kwargs):
        raise AssertionError(f"a dask array of shape {self.shape} was gathered on the driver")

    def test_the_patch_catches_gathering(self, no_gather):
        (X_d,) = _dask(np.ones((10, 2)))
        with pytest.raises(AssertionError, match="gathered on the driver"):
            np.asarray(X_d)


def _dask(*arrays, persist=True):
    """The arrays as dask arrays of CHUNK rows, persisted on the workers by default."""
    arrays = [None if a is None else da.from_array(a, chunks=CHUNK) for a in arrays]
    return list(dask.persist(*arrays)) if persist else arrays


def _classification(n_classes=2, n=2400, seed=0):
    X, y = make_classification(
        n_samples=n, n_features=6, n_informative=4, n_classes=n_classes,
        n_redundant=0, n_clusters_per_class=1, flip_y=0.1, random_state=seed,
    )
    return X, np.array(["a", "b", "c"])[y] if n_classes == 3 else y


def _regression(loss, n=2400, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, 5))
    if loss in ("squared_error", "huber"):
        X, y = make_regression(n_samples=n, n_features=5, noise=5.0, random_state=seed)
        return X, y / y.std()
    mu = np.exp(0.3 * X @ np.linspace(-1, 1, 5) + 0.5)
    if loss == "poisson":
        return X, rng.poisson(mu).astype(float)
    if loss == "gamma":
        return X, rng.gamma(2.0, mu / 2.0)
    # tweedie (power 1.5): compound Poisson-gamma, with exact zeros
    counts = rng.poisson(mu)
    return X, np.array([rng.gamma(2.0, 0.5, size=c).sum() for c in counts])


def _assert_same_fit(dask_model, memory_model):
    np.testing.assert_allclose(dask_model.coef_, memory_model.coef_, rtol=0, atol=ATOL)
    np.testing.assert_allclose(
        dask_model.intercept_, memory_model.intercept_, rtol=0, atol=ATOL
    )
    assert dask_model.n_features_in_ == memory_model.n_features_in_


# -- 1. fit -----------------------------------------------------------------------------
CLASSIFIER_CASES = {
    "binary-newton": (2, dict(optimizer="newton"), False),
    "binary-lbfgs": (2, dict(optimizer="lbfgs"), False),
    "multinomial-newton": (3, dict(optimizer="newton"), False),
    "multinomial-lbfgs": (3, dict(optimizer="lbfgs"), False),
    "sample_weight": (2, dict(optimizer="newton"), True),
    "class_weight-balanced": (3, dict(optimizer="lbfgs", class_weight="balanced"), True),
    "class_weight-dict": (2, dict(optimizer="newton", class_weight={0: 2.0, 1: 0.5}), False),
    # OWL-QN's orthant choices turn rounding-level differences into tol-level
    # ones at the default tol: both fits are run to the optimum.
    "l1-owlqn": (2, dict(optimizer="lbfgs", C=0.05, l1_ratio=1.0, tol=1e-10), False),
    "elasticnet-owlqn": (3, dict(optimizer="lbfgs", C=0.05, l1_ratio=0.5, tol=1e-10), True),
    "unpenalized": (2, dict(optimizer="newton", C=np.inf), False),
}


@pytest.mark.parametrize("case", list(CLASSIFIER_CASES))
def test_classifier_fit_equals_in_memory(no_gather, case):
    n_classes, params, weighted = CLASSIFIER_CASES[case]
    X, y = _classification(n_classes)
    w = np.random.default_rng(1).uniform(0.2, 3.0, size=len(y)) if weighted else None
    memory = NeuronClassifier(**params).fit(X, y, sample_weight=w)
    # Persisted (block objectives kept on the workers), and one case read afresh.
    model = NeuronClassifier(**params).fit(*_dask(X, y, w, persist=case != "binary-lbfgs"))
    _assert_same_fit(model, memory)
    np.testing.assert_array_equal(model.classes_, memory.classes_)
    assert model.optimizer_ == memory.optimizer_
    if params.get("l1_ratio"):
        assert (memory.coef_ == 0).any()  # the L1 term is active
        np.testing.assert_array_equal(model.coef_ == 0, memory.coef_ == 0)


@pytest.mark.parametrize("n_classes", [2, 3])
def test_balanced_with_sample_weight_is_logistic_regressions(no_gather, n_classes):
    """class_weight="balanced" with sample_weight on dask data: the weighted
    class counts, as LogisticRegression (and the in-memory fit) use them."""
    from sklearn.linear_model import LogisticRegression

    X, y = _classification(n_classes)
    w = np.random.default_rng(1).uniform(0.2, 3.0, size=len(y)) * (1 + (y == 0))
    params = dict(class_weight="balanced", tol=1e-10, max_iter=100)
    model = NeuronClassifier(optimizer="newton", **params).fit(*_dask(X, y, w))
    reference = LogisticRegression(solver="newton-cholesky", **params).fit(X, y, w)
    np.testing.assert_allclose(model.coef_, reference.coef_, rtol=0, atol=ATOL)
    np.testing.assert_allclose(model.intercept_, reference.intercept_, rtol=0, atol=ATOL)


_BLOCK_READS = []  # one entry per block read, by the threads of the in-process workers


def _read_block(block):
    _BLOCK_READS.append(block.shape[0])
    return block


def _count_block_reads(monkeypatch):
    """A list that receives ``(function name, blocks of X read)`` per reduction."""
    from sklearn_neuron._dask.objective import DaskObjective

    reductions = []
    reduce = DaskObjective.reduce

    def counting_reduce(self, function, *args, **kwargs):
        before = len(_BLOCK_READS)
        result = reduce(self, function, *args, **kwargs)
        reductions.append((function.__name__, len(_BLOCK_READS) - before))
        return result

    monkeypatch.setattr(DaskObjective, "reduce", counting_reduce)
    return reductions


@pytest.mark.parametrize("n_classes", [2, 3])
def test_out_of_core_auto_is_newton_reading_each_block_once_per_iteration(
    no_gather, monkeypatch, n_classes
):
    """Data read at each evaluation (not persisted): "auto" runs Newton, and
    each of its evaluations reads every block once for value, gradient and
    Hessian together (one reduction); the fit equals the in-memory Newton's."""

    X, y = _classification(n_classes)
    X_d = da.from_array(X, chunks=CHUNK).map_blocks(_read_block, dtype=X.dtype)
    (y_d,) = _dask(y, persist=False)
    reductions = _count_block_reads(monkeypatch)
    model = NeuronClassifier(verbose=0).fit(X_d, y_d)
    memory = NeuronClassifier(optimizer="newton").fit(X, y)
    assert model.optimizer_ == "newton"
    _assert_same_fit(model, memory)
    # The data fingerprint (for inference) comes with the first evaluation.
    names = [name for name, _ in reductions]
    assert names[0] == "_with_data_summaries", names
    assert set(names[1:]) == {"_value_gradient_hessian"}, names
    assert all(reads == X_d.npartitions for _, reads in reductions), reductions
    # The initial point, and one evaluation per accepted step at least but
    # the final one, certified without a pass (test_the_final_step_is_certified...).
    assert model.n_iter_ <= len(reductions) <= model.n_iter_ + 4
    # Persisted data keep the separate reductions (nothing is read again).
    assert NeuronClassifier().fit(*_dask(X, y)).optimizer_ == memory.optimizer_ == "newton"


CERTIFIED_CASES = {
    "binary": (NeuronClassifier, {}, lambda: _classification(2)),
    "multinomial": (NeuronClassifier, {}, lambda: _classification(3)),
    "weighted-unpenalized": (
        NeuronClassifier, dict(C=np.inf, class_weight="balanced"), lambda: _classification(3)
    ),
}


@pytest.mark.parametrize("case", list(CERTIFIED_CASES))
def test_the_final_step_is_certified_without_a_pass(no_gather, monkeypatch, caplog, case):
    """On dask data the converged fit's final Newton step is certified by
    the loss's Taylor-remainder bounds instead of evaluated: one pass fewer
    than the same fit with the step evaluated, the same coefficients (and
    the in-memory fit's to 1e-8), an objective within its stated error, and
    a reported max|grad| that bounds the one measured at the coefficients."""
    import sklearn_neuron._solvers.optimizers as optimizers

    Estimator, params, data = CERTIFIED_CASES[case]
    X, y = data()
    X_d = da.from_array(X, chunks=CHUNK).map_blocks(_read_block, dtype=X.dtype)
    (y_d,) = _dask(y, persist=False)
    reductions = _count_block_reads(monkeypatch)
    with caplog.at_level(logging.INFO, logger="sklearn_neuron"):
        model = Estimator(verbose=1, **params).fit(X_d, y_d)
    assert any("final step certified" in r.getMessage() for r in caplog.records)
    certified_passes = len(reductions)
    # The same fit with its final step evaluated.
    monkeypatch.setattr(optimizers, "_certificate_of", lambda *args: None)
    reductions.clear()
    evaluated = Estimator(**params).fit(X_d, y_d)
    assert len(reductions) == certified_passes + 1, reductions
    assert model.n_iter_ == evaluated.n_iter_
    np.testing.assert_allclose(model.coef_, evaluated.coef_, rtol=0, atol=1e-14)
    np.testing.assert_allclose(model.intercept_, evaluated.intercept_, rtol=0, atol=1e-14)
    _assert_same_fit(model, Estimator(**params).fit(X, y))
    # The model's objective: within CERTIFIED_VALUE_RTOL of the evaluated one.
    rtol = optimizers.CERTIFIED_VALUE_RTOL
    assert abs(model.objective_ - evaluated.objective_) <= rtol * max(1, abs(model.objective_))
    # The reported bound holds for the gradient measured at those coefficients
    # (up to that measurement's rounding), and meets the stopping rule.
    reported = model.history_[-1]["grad_max"]
    assert evaluated.history_[-1]["grad_max"] <= reported + 1e-15
    assert reported <= model.tol


@pytest.mark.parametrize("seed", [0, 1])
def test_a_warm_started_default_fit_certifies_its_final_step(
    no_gather, monkeypatch, caplog, small_warm_start, seed
):
    """The default fit on large data (tol=1e-4, Newton from the subsample's
    optimum) ends with the certified step, not a pass: a logistic model's
    data, Gaussian features; the coefficients those of the same fit with the
    step evaluated, as near the optimum as the in-memory default fit's."""
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(6400, 8))  # 16 blocks
    y = (X @ np.linspace(-1, 1, 8) + 0.3 + rng.logistic(size=6400) > 0).astype(int)
    reductions = _count_reductions(monkeypatch)
    with caplog.at_level(logging.INFO, logger="sklearn_neuron"):
        model = NeuronClassifier(verbose=1).fit(*_dask(X, y))
    assert model.optimizer_ == "newton"
    assert _warm_start_lines(caplog)
    assert any("final step certified" in r.getMessage() for r in caplog.records)
    # No evaluation after the last Hessian: it was the final step's.
    assert reductions[-1][0] == "_hessian", reductions
    # The same fit with that step evaluated: one pass more, the same point.
    import sklearn_neuron._solvers.optimizers as optimizers

    certified_passes = len(reductions)
    monkeypatch.setattr(optimizers, "_certificate_of", lambda *args: None)
    reductions.clear()
    evaluated = NeuronClassifier().fit(*_dask(X, y))
    assert len(reductions) == certified_passes + 1, reductions
    np.testing.assert_allclose(model.coef_, evaluated.coef_, rtol=0, atol=1e-14)
    assert evaluated.history_[-1]["grad_max"] <= model.history_[-1]["grad_max"] + 1e-15
    # Near the optimum (the in-memory Newton fit to tol=1e-12), as the default
    # fits in memory are: within the default tol over the curvature.
    optimum = NeuronClassifier(optimizer="newton", tol=1e-12).fit(X, y)
    memory = NeuronClassifier().fit(X, y)
    for fit in (model, memory):
        np.testing.assert_allclose(fit.coef_, optimum.coef_, rtol=0, atol=1e-5)


def test_a_loss_without_a_constant_evaluates_its_final_step(no_gather, caplog):
    """Poisson's third derivative is not bounded by its second: the final
    step is evaluated, as before, and the fit equals the in-memory one."""
    X, y = _regression("poisson")
    X_d = da.from_array(X, chunks=CHUNK).map_blocks(_read_block, dtype=X.dtype)
    with caplog.at_level(logging.INFO, logger="sklearn_neuron"):
        model = NeuronRegressor(loss="poisson", verbose=1).fit(X_d, *_dask(y, persist=False))
    assert not any("certified" in r.getMessage() for r in caplog.records)
    _assert_same_fit(model, NeuronRegressor(loss="poisson").fit(X, y))


def test_least_squares_takes_no_final_pass(no_gather, monkeypatch):
    """Squared error is an exact quadratic: Newton's first step reaches the
    optimum to rounding, and the final step (which the certificate shows
    could not be told from rounding) is neither taken nor evaluated: two
    passes, the start's and the step's."""
    X, y = _regression("squared_error")
    X_d = da.from_array(X, chunks=CHUNK).map_blocks(_read_block, dtype=X.dtype)
    reductions = _count_block_reads(monkeypatch)
    model = NeuronRegressor().fit(X_d, *_dask(y, persist=False))
    assert model.n_iter_ == 1
    assert len(reductions) == 2, reductions
    _assert_same_fit(model, NeuronRegressor().fit(X, y))


@pytest.mark.parametrize("estimator", [NeuronClassifier(), NeuronRegressor()])
def test_validation_of_data_read_from_storage_does_not_read_X(no_gather, estimator):
    """Building the objective of data read from storage reads none of X's
    blocks: its finiteness is checked where the fit reads them (one pass of
    the store fewer); the label and weight sums read y and the weights only.
    Materialised X is checked by validation, as before."""
    X, y = _classification(2)
    X_d = da.from_array(X, chunks=CHUNK).map_blocks(_read_block, dtype=X.dtype)
    for persist in (False, True):  # y's blocks by dask's graph, or persisted on workers
        (y_d,) = _dask(y.astype(float), persist=persist)
        _BLOCK_READS.clear()
        objective = estimator._build_objective(X_d, y_d, None, reset=True)
        assert len(_BLOCK_READS) == 0
        assert objective._spec.check_finite
        assert objective.weight_sum == len(y)
    (X_p,) = _dask(X)
    assert not estimator._build_objective(X_p, y_d, None, reset=True)._spec.check_finite


@pytest.mark.parametrize("estimator", [NeuronClassifier(), NeuronRegressor()])
@pytest.mark.parametrize("optimizer", ["auto", "lbfgs"])
@pytest.mark.parametrize("row", [5, 3200])  # a first block; the subsample's middle one
def test_nan_in_data_read_from_storage_is_refused(
    no_gather, small_warm_start, estimator, optimizer, row
):
    """X read from storage with a NaN or an infinity: the same error as from
    validation, raised where a block is first read (the subsample's task or
    the first full evaluation), whichever optimizer runs."""
    X, y = _classification(2, n=6400)
    bad = X.copy()
    bad[row, 2] = np.nan if row == 5 else np.inf
    X_d = da.from_array(bad, chunks=CHUNK).map_blocks(_read_block, dtype=X.dtype)
    (y_d,) = _dask(y.astype(float), persist=False)
    model = clone(estimator).set_params(optimizer=optimizer)
    with pytest.raises(ValueError, match="Input X contains NaN or infinity"):
        model.fit(X_d, y_d)


@pytest.fixture
def small_warm_start(monkeypatch):
    """Newton's subsample warm start on the small data of these tests."""
    import sklearn_neuron._dask.warm_start as warm_start

    monkeypatch.setattr(warm_start, "WARM_START_MIN_ROWS", 1000)
    monkeypatch.setattr(warm_start, "WARM_START_SUBSAMPLE_MIN_ROWS", 200)
    # and the subsample's own start on every 4th of its rows
    monkeypatch.setattr(warm_start, "WARM_START_STRIDED_MIN_ROWS", 200)


def _count_prefetches(monkeypatch):
    """A list that receives, per submitted evaluation, whether it waits on the
    subsample fit (prefetched at its optimum)."""
    from sklearn_neuron._dask.objective import DaskObjective

    submitted = []
    submit = DaskObjective._submit

    def counting_submit(self, function, args, per_block, fitted=None):
        submitted.append(fitted is not None)
        return submit(self, function, args, per_block, fitted=fitted)

    monkeypatch.setattr(DaskObjective, "_submit", counting_submit)
    return submitted


def _count_reductions(monkeypatch):
    """A list that receives ``(function name, blocks reduced over)`` per reduction."""
    from sklearn_neuron._dask.objective import DaskObjective

    reductions = []
    reduce = DaskObjective.reduce

    def counting_reduce(self, function, *args, **kwargs):
        reductions.append((function.__name__, len(self._blocks)))
        return reduce(self, function, *args, **kwargs)

    monkeypatch.setattr(DaskObjective, "reduce", counting_reduce)
    return reductions


def _warm_start_lines(caplog):
    return [r.getMessage() for r in caplog.records if "warm start on" in r.getMessage()]


@pytest.mark.parametrize("n_classes", [2, 3])
def test_newton_starts_from_a_subsample_of_the_blocks(
    no_gather, monkeypatch, caplog, small_warm_start, n_classes
):
    """Large data: Newton first fits a few evenly spread blocks, in one task on
    a worker, then the full data from there, its first step with the
    subsample's Hessian (one Hessian reduction fewer than iterations); it
    ends where the in-memory Newton does, in fewer full iterations."""
    X, y = _classification(n_classes, n=6400)  # 16 blocks
    reductions = _count_reductions(monkeypatch)
    submitted = _count_prefetches(monkeypatch)
    with caplog.at_level(logging.INFO, logger="sklearn_neuron"):
        model = NeuronClassifier(optimizer="newton", tol=1e-8, verbose=1).fit(*_dask(X, y))
    memory = NeuronClassifier(optimizer="newton", tol=1e-8).fit(X, y)
    _assert_same_fit(model, memory)
    (line,) = _warm_start_lines(caplog)
    assert "warm start on 1 of 16 blocks, on a worker" in line and "max|grad| <= tol" in line
    assert {n for _, n in reductions} == {16}, reductions  # the subsample: no reduction
    # The first full evaluation went with the subsample fit, the others one by one.
    assert submitted == [True] + [False] * len(reductions), submitted
    # The point of the first step brings its exact Hessian with its value.
    hessians = [name for name, _ in reductions if "hessian" in name]
    assert hessians[0] == "_value_gradient_hessian", reductions
    assert len(hessians) == model.n_iter_ - 1, reductions
    assert model.n_iter_ < memory.n_iter_


def test_a_subsample_that_does_not_converge_leaves_the_cold_start(
    no_gather, monkeypatch, caplog, small_warm_start
):
    """Two iterations do not fit the subsample to tol: Newton then starts cold,
    and its two full iterations are the in-memory Newton's."""
    X, y = _classification(2, n=6400)
    reductions = _count_reductions(monkeypatch)
    with caplog.at_level(logging.INFO, logger="sklearn_neuron"):
        with pytest.warns(ConvergenceWarning):
            model = NeuronClassifier(optimizer="newton", max_iter=2, verbose=1).fit(
                *_dask(X, y)
            )
    with pytest.warns(ConvergenceWarning):
        memory = NeuronClassifier(optimizer="newton", max_iter=2).fit(X, y)
    assert any("did not converge: cold start" in m for m in _warm_start_lines(caplog))
    # The evaluation prefetched at the subsample's optimum was dropped: every
    # evaluation of the fit is a reduction of its own, from the cold start.
    assert reductions[0][0] == "_with_data_summaries", reductions
    hessians = sum(name == "_hessian" for name, _ in reductions)
    assert hessians == 2, reductions  # the exact Hessian from the first iteration
    _assert_same_fit(model, memory)
    assert model.n_iter_ == memory.n_iter_ == 2


def test_the_subsample_of_data_read_from_storage_is_read_once(
    no_gather, monkeypatch, small_warm_start
):
    """Not persisted: the subsample's task reads its block once for all its
    Newton iterations, and the fit equals the in-memory Newton's."""

    X, y = _classification(2, n=6400)
    X_d = da.from_array(X, chunks=CHUNK).map_blocks(_read_block, dtype=X.dtype)
    (y_d,) = _dask(y, persist=False)
    reductions = _count_block_reads(monkeypatch)
    _BLOCK_READS.clear()
    model = NeuronClassifier(optimizer="newton", tol=1e-8).fit(X_d, y_d)
    memory = NeuronClassifier(optimizer="newton", tol=1e-8).fit(X, y)
    _assert_same_fit(model, memory)
    full_reads = [reads for _, reads in reductions]
    assert all(reads == X_d.npartitions for reads in full_reads), full_reads
    # The subsample's task reads its one block once; validation reads none.
    assert len(_BLOCK_READS) == sum(full_reads) + 1


def test_the_subsample_fit_runs_without_a_distributed_client(
    no_gather, monkeypatch, caplog, small_warm_start
):
    """Without a ``distributed`` client (dask's own scheduler and graphs), the
    subsample's Newton is one delayed task; the fit is the in-memory one."""
    import sklearn_neuron._dask.blocks as blocks
    import sklearn_neuron._dask.objective as objective

    # Both places the client is looked up: validation's and the objective's.
    monkeypatch.setattr(blocks, "_client", lambda: None)
    monkeypatch.setattr(objective, "_client", lambda: None)
    X, y = _classification(3, n=6400)
    with caplog.at_level(logging.INFO, logger="sklearn_neuron"):
        model = NeuronClassifier(optimizer="newton", tol=1e-8, verbose=1).fit(*_dask(X, y))
    memory = NeuronClassifier(optimizer="newton", tol=1e-8).fit(X, y)
    _assert_same_fit(model, memory)
    (line,) = _warm_start_lines(caplog)
    assert "max|grad| <= tol" in line


@pytest.mark.parametrize("n_classes", [2, 3])
def test_the_subsample_task_fits_its_rows_from_their_strided_optimum(
    small_warm_start, n_classes
):
    """On its worker the subsample fit starts from Newton on every 4th row,
    then takes one step on all of them: it meets the stopping rule of its own
    objective, and the Hessian it returns (the last one computed, one step
    before) is that at its optimum to within a few per cent."""
    import torch

    from sklearn_neuron._dask.warm_start import _joined_objective, _newton_on_objectives
    from sklearn_neuron._solvers.optimizers import newton

    X, y = _classification(n_classes, n=3200)
    objective = NeuronClassifier()._build_objective(X, y, None, reset=True)
    start = objective.initial_theta().numpy()
    tol = 1e-6
    result, hessian = _newton_on_objectives((objective.l2, 0.0, tol, 100), start, objective)
    assert result.converged and result.grad_max <= tol
    whole = _joined_objective([objective], objective.l2, 0.0)
    reference = newton(whole, torch.from_numpy(start), tol=1e-12, max_iter=100)
    theta = torch.from_numpy(result.theta)
    # grad <= tol bounds the distance to the optimum by tol / (smallest curvature)
    np.testing.assert_allclose(result.theta, reference.theta.numpy(), atol=1e-3)
    exact = whole.hessian(theta).numpy()
    assert np.abs(hessian - exact).max() <= 0.05 * np.abs(exact).max()


def test_validation_per_worker_equals_validation_per_block(no_gather):
    """Persisted blocks are validated by one task per worker over the blocks it
    holds; the per-block results, in block order, are those of dask's graph
    (a task per block) on the same data not persisted."""
    from sklearn_neuron._dask.blocks import _client, _held_blocks, _per_block
    from sklearn_neuron._dask.validation import _column_stats

    X, y = _classification(3, n=2800)
    w = np.random.default_rng(0).random(X.shape[0])
    persisted, lazy = _dask(X, y, w), _dask(X, y, w, persist=False)
    assert _held_blocks(_client(), *persisted) is not None
    assert _held_blocks(_client(), *lazy) is None
    by_worker = _per_block(_column_stats, persisted, True, True)
    by_block = _per_block(_column_stats, lazy, True, True)
    assert len(by_worker) == len(by_block) == persisted[0].npartitions
    for a, b in zip(by_worker, by_block, strict=True):
        assert a.keys() == b.keys()
        for key in a:
            np.testing.assert_array_equal(a[key], b[key])


@settings(max_examples=60, deadline=None)
@given(
    labels=st.lists(
        st.sampled_from([0, 1, 2, 7, 65535, 65536, -1, 0.5, 1e300]), min_size=1, max_size=40
    ),
    dtype=st.sampled_from([np.int64, np.int32, np.uint16, np.float64, np.float32]),
    weighted=st.booleans(),
)
def test_label_sums_equal_a_sort_of_the_labels(labels, dtype, weighted):
    """A block's distinct labels, their counts and weight sums (bincount where
    the labels are small non-negative integers, of any numeric dtype; a sort
    otherwise) equal np.unique's, with the labels in y's dtype."""
    from sklearn_neuron._dask.validation import _label_sums

    with np.errstate(over="ignore", invalid="ignore"):
        y = np.asarray(labels).astype(dtype)  # out-of-range values wrap or round
    w = np.linspace(0.5, 2.0, y.size) if weighted else None
    got_labels, counts, sums = _label_sums(y, w)
    expected, index = np.unique(y, return_inverse=True)
    assert got_labels.dtype == y.dtype
    np.testing.assert_array_equal(got_labels, expected)
    np.testing.assert_array_equal(counts, np.bincount(index))
    weight = np.ones(y.size) if w is None else w
    np.testing.assert_allclose(sums, np.bincount(index, weights=weight), rtol=1e-15)


def test_small_data_have_no_subsample(client):
    from sklearn_neuron._dask.warm_start import WARM_START_MIN_ROWS

    X, y = _classification(2)
    objective = NeuronClassifier()._build_objective(*_dask(X, y), None, reset=True)
    assert X.shape[0] < WARM_START_MIN_ROWS and objective.subsample() is None


@pytest.mark.parametrize("stored", [False, True])
def test_the_dask_objective_declares_the_objective_protocol(client, stored):
    """DaskObjective is an Objective by declaration (no delegation to a
    LinearObjective): its flags say what it is (data in the cluster's memory,
    or read at each evaluation), and its parameter layout and
    penalty (the in-memory objective's own objects) give the in-memory
    objective's results, here on a penalized three-class fit with L1."""
    import torch

    from sklearn_neuron._dask.objective import DaskObjective
    from sklearn_neuron._objective.protocol import Objective

    assert "__getattr__" not in vars(DaskObjective)
    X, y = _classification(3)
    estimator = NeuronClassifier(C=0.5, l1_ratio=0.5)
    X_d, y_d = _dask(X, y)
    if stored:  # read at each evaluation, as from storage
        X_d = da.from_array(X, chunks=CHUNK).map_blocks(_read_block, dtype=X.dtype)
    on_dask = estimator._build_objective(X_d, y_d, None, reset=True)
    in_memory = estimator._build_objective(X, y, None, reset=True)
    assert isinstance(on_dask, Objective)
    assert on_dask.distributed and not on_dask.firth
    assert on_dask.reads_per_evaluation == (1 if stored else 0)
    assert on_dask.hessian_rows == CHUNK
    assert (on_dask.l2, on_dask.l1) == (in_memory.l2, in_memory.l1)
    theta = torch.linspace(-1, 1, in_memory.n_params, dtype=torch.float64)
    np.testing.assert_array_equal(on_dask.l1_weights(), in_memory.l1_weights())
    np.testing.assert_array_equal(on_dask.center(theta), in_memory.center(theta))
    np.testing.assert_array_equal(on_dask.null_mask(), in_memory.null_mask())
    np.testing.assert_array_equal(on_dask.unpack(theta)[0], in_memory.unpack(theta)[0])
    np.testing.assert_allclose(on_dask.full_value(theta), in_memory.full_value(theta), rtol=1e-12)
    np.testing.assert_allclose(
        on_dask.hessian(theta), in_memory.hessian(theta), rtol=0, atol=1e-12
    )
    other = on_dask.with_penalty(2 * on_dask.l2, 0.0)
    assert (other.l2, other.l1, on_dask.l1) == (2 * on_dask.l2, 0.0, in_memory.l1)
    assert other.l1_weights() is None and on_dask.l1_weights() is not None


REGRESSOR_CASES = {
    "squared_error-newton": ("squared_error", dict(optimizer="newton")),
    "squared_error-lbfgs": ("squared_error", dict(optimizer="lbfgs", alpha=0.1)),
    "poisson-newton": ("poisson", dict(optimizer="newton", alpha=0.01)),
    "poisson-lbfgs": ("poisson", dict(optimizer="lbfgs", alpha=0.01)),
    "gamma": ("gamma", dict(optimizer="newton", alpha=0.01)),
    "tweedie": ("tweedie", dict(optimizer="lbfgs", alpha=0.01)),
    # The Huber loss's kink: at the default tol rounding moves the stop by 1e-7.
    "huber": ("huber", dict(optimizer="lbfgs", alpha=0.01, tol=1e-10)),
    "elasticnet": ("squared_error", dict(optimizer="lbfgs", alpha=0.05, l1_ratio=0.7)),
}


@pytest.mark.parametrize("case", list(REGRESSOR_CASES))
def test_regressor_fit_equals_in_memory(no_gather, case):
    loss, params = REGRESSOR_CASES[case]
    X, y = _regression(loss)
    w = np.random.default_rng(2).uniform(0.5, 2.0, size=len(y))
    memory = NeuronRegressor(loss=loss, **params).fit(X, y, sample_weight=w)
    model = NeuronRegressor(loss=loss, **params).fit(*_dask(X, y, w))
    _assert_same_fit(model, memory)


# -- Hessian-free Newton on dask data (issue 37) ------------------------------------------
#: Newton-CG's coefficients against in-memory Newton's, both at tol=1e-10, relative
#: to the largest coefficient: float64 to 1e-8; float32 data are fitted in float32
#: on the workers to float32's floor, then in float64 (each block cast as it is
#: read) and rounded: to float32's 6e-8, as in memory.
NEWTON_CG_RTOL = {np.float64: 1e-8, np.float32: 1e-7}
NEWTON_CG_CASES = {  # (classes, weighted, dtype, persisted)
    "binary": (2, False, np.float64, True),
    "binary-read-afresh": (2, False, np.float64, False),
    "multinomial": (3, False, np.float64, True),
    "sample_weight": (3, True, np.float64, True),
    "float32": (3, True, np.float32, True),
}


def _assert_close_fit(model, reference, rtol):
    scale = max(1.0, float(np.max(np.abs(reference.coef_))))
    np.testing.assert_allclose(model.coef_, reference.coef_, rtol=0, atol=rtol * scale)
    np.testing.assert_allclose(model.intercept_, reference.intercept_, rtol=0, atol=rtol * scale)


@pytest.mark.parametrize("case", list(NEWTON_CG_CASES))
def test_newton_cg_on_dask_equals_newton_in_memory(no_gather, case):
    """optimizer="newton-cg" runs on dask blocks (it was refused) and reaches
    in-memory Newton's optimum, as in-memory Newton-CG does."""
    n_classes, weighted, dtype, persist = NEWTON_CG_CASES[case]
    X, y = _classification(n_classes, n=1200)  # 3 blocks
    w = np.random.default_rng(1).uniform(0.2, 3.0, size=len(y)) if weighted else None
    params = dict(C=0.5, tol=1e-10)
    newton = NeuronClassifier(optimizer="newton", **params).fit(X, y, sample_weight=w)
    memory = NeuronClassifier(optimizer="newton-cg", **params).fit(
        X.astype(dtype), y, sample_weight=w
    )
    # In memory float32 fits end in float64 and are rounded: to float32's 6e-8.
    _assert_close_fit(memory, newton, 1e-8 if dtype == np.float64 else 1e-7)
    model = NeuronClassifier(optimizer="newton-cg", **params).fit(
        *_dask(X.astype(dtype), y, w, persist=persist)
    )
    assert model.optimizer_ == "newton-cg" and model.converged_
    assert model.coef_.dtype == dtype
    _assert_close_fit(model, newton, NEWTON_CG_RTOL[dtype])
    np.testing.assert_array_equal(model.classes_, newton.classes_)


def test_newton_cg_on_dask_with_an_offset_equals_newton_in_memory(no_gather):
    """A Poisson regressor's offset and sample weights, on dask blocks, as in memory."""
    X, y = _regression("poisson", n=1200)
    rng = np.random.default_rng(3)
    offset = rng.normal(scale=0.3, size=len(y))
    w = rng.uniform(0.5, 2.0, size=len(y))
    params = dict(loss="poisson", alpha=0.01, tol=1e-10)
    newton = NeuronRegressor(optimizer="newton", **params).fit(
        X, y, sample_weight=w, offset=offset
    )
    without = NeuronRegressor(optimizer="newton", **params).fit(X, y, sample_weight=w)
    X_d, y_d, w_d, o_d = _dask(X, y, w, offset)
    model = NeuronRegressor(optimizer="newton-cg", **params).fit(
        X_d, y_d, sample_weight=w_d, offset=o_d
    )
    assert model.optimizer_ == "newton-cg" and model.converged_
    _assert_close_fit(model, newton, 1e-8)
    assert np.max(np.abs(without.coef_ - newton.coef_)) > 1e-3  # the offset matters


@pytest.mark.parametrize("n_classes", [2, 3])
def test_dask_hessian_vector_products_equal_in_memory(client, n_classes):
    """The Dask objective's Hessian-vector product and Hessian diagonal (with the
    L2 term, sample weights and an offset) equal the in-memory objective's to
    1e-12, and each worker keeps one curvature per block, at the last point:
    the products at one point reuse it, a new point replaces it."""
    import torch

    from sklearn_neuron._dask import tasks
    from sklearn_neuron._objective.protocol import HessianFree

    X, y = _classification(n_classes, n=1200)
    w = np.random.default_rng(1).uniform(0.2, 3.0, size=len(y))
    rng = np.random.default_rng(2)
    offset = rng.normal(scale=0.5, size=len(y) if n_classes == 2 else (len(y), n_classes))
    estimator = NeuronClassifier(C=0.5)
    on_dask = estimator._build_objective(*_dask(X, y, w), reset=True, offset=_dask(offset)[0])
    in_memory = estimator._build_objective(X, y, w, reset=True, offset=offset)
    assert isinstance(on_dask, HessianFree)
    theta = torch.linspace(-1, 1, in_memory.n_params, dtype=torch.float64)
    v = torch.cos(torch.arange(in_memory.n_params, dtype=torch.float64))
    expected = in_memory.hessian(theta) @ v

    def kept_at(point):  # block objective -> its kept curvature, for those at point
        return {
            id(block): id(curvature) for block, (at, curvature) in list(tasks._CURVATURES.items())
            if np.array_equal(at, point.numpy())
        }

    curvature = on_dask.curvature(theta)
    np.testing.assert_allclose(
        on_dask.hessian_diagonal(curvature), torch.diagonal(in_memory.hessian(theta)),
        rtol=0, atol=1e-12,
    )
    np.testing.assert_allclose(
        on_dask.hessian_vector_product(curvature, v), expected, rtol=0, atol=1e-12
    )
    kept = kept_at(theta)
    assert len(kept) == 3  # one per block
    on_dask.hessian_vector_product(curvature, 2 * v)
    assert kept_at(theta) == kept  # the same curvature, not computed again
    other = on_dask.curvature(theta + 0.1)
    np.testing.assert_allclose(
        on_dask.hessian_vector_product(other, v), in_memory.hessian(theta + 0.1) @ v,
        rtol=0, atol=1e-12,
    )
    assert not kept_at(theta) and len(kept_at(theta + 0.1)) == 3  # one point per block


def test_auto_on_dask_takes_newton_cg_where_newtons_hessian_does_not_fit(
    no_gather, monkeypatch
):
    """Where Newton's Hessian exceeds the memory budget, "auto" on dask data
    chooses by the in-memory cost model among Newton-CG and L-BFGS (it took
    L-BFGS), here Newton-CG, which reaches Newton's optimum (to 1e-8)."""
    from sklearn_neuron._solvers import memory
    from sklearn_neuron._solvers.dispatch import resolve_optimizer

    X, y = _classification(3, n=1200)
    newton = NeuronClassifier(optimizer="newton", tol=1e-10).fit(X, y)
    X_d, y_d = _dask(X, y)
    estimator = NeuronClassifier(tol=1e-10)
    objective = estimator._build_objective(X_d, y_d, None, reset=True)
    needed = memory.objective_newton_bytes(objective)
    monkeypatch.setattr(memory, "MEMORY_FRACTION", 0.5 * needed / memory.available_memory())
    assert not memory.newton_fits_memory(objective)
    expected = resolve_optimizer(
        "auto", len(y), objective.n_params, distributed=True, newton_fits=False,
        n_outputs=3, tol=1e-10,
    )
    assert expected == "newton-cg"
    model = estimator.fit(X_d, y_d)
    assert model.optimizer_ == "newton-cg" and model.converged_
    _assert_close_fit(model, newton, 1e-8)


def test_dataframe_feature_names(no_gather):
    pd = pytest.importorskip("pandas")
    dd = pytest.importorskip("dask.dataframe")
    X, y = _classification()
    frame = pd.DataFrame(X, columns=[f"f{j}" for j in range(X.shape[1])])
    memory = NeuronClassifier(optimizer="newton").fit(frame, y)
    X_dd = dd.from_pandas(frame, npartitions=5)
    y_dd = dd.from_pandas(pd.Series(y), npartitions=5)
    model = NeuronClassifier(optimizer="newton").fit(X_dd, y_dd)
    _assert_same_fit(model, memory)
    np.testing.assert_array_equal(model.feature_names_in_, frame.columns)
    proba = model.predict_proba(X_dd)
    assert dask.is_dask_collection(proba)
    np.testing.assert_allclose(proba.compute(), memory.predict_proba(frame), atol=ATOL)


def test_dask_input_errors(no_gather):
    X, y = _classification()
    X_d, y_d = _dask(X, y)
    with pytest.raises(ValueError, match="minibatches"):
        NeuronClassifier(optimizer="sgd").fit(X_d, y_d)
    bad = X.copy()
    bad[5, 2] = np.nan
    with pytest.raises(ValueError, match="NaN or infinity"):
        NeuronClassifier().fit(da.from_array(bad, chunks=CHUNK), y_d)
    with pytest.raises(ValueError, match="negative"):
        NeuronClassifier().fit(X_d, y_d, sample_weight=da.from_array(-np.ones(len(y))))
    with pytest.raises(ValueError, match="at least 2 classes"):
        NeuronClassifier().fit(X_d, da.zeros(len(y), chunks=CHUNK, dtype=int))
    with pytest.raises(ValueError, match="requires"):
        NeuronRegressor(loss="poisson").fit(X_d, da.from_array(-np.ones(len(y))))
    with pytest.raises(ValueError, match="least absolute deviations, which reads the rows"):
        NeuronRegressor(loss="absolute_error", alpha=0.0).fit(
            X_d, da.from_array(y.astype(float))
        )


@pytest.mark.slow  # two worker processes importing torch: ~15-30 s on 2 busy cores
def test_worker_processes(process_client, monkeypatch):
    """Fit, predictions and inference with every block objective pickled to processes."""
    monkeypatch.setattr(da.Array, "__array__", TestNoGather.refuse)
    X, y = _classification(3)
    w = np.random.default_rng(4).integers(1, 3, size=len(y)).astype(float)
    X_d, y_d, w_d = _dask(X, y, w)
    memory = NeuronClassifier(optimizer="newton", C=np.inf).fit(X, y, sample_weight=w)
    model = NeuronClassifier(optimizer="newton", C=np.inf).fit(X_d, y_d, sample_weight=w_d)
    _assert_same_fit(model, memory)
    proba = model.predict_proba(X_d)
    assert isinstance(proba, da.Array)
    np.testing.assert_allclose(proba.compute(), memory.predict_proba(X), rtol=0, atol=ATOL)
    _assert_same_inference(
        model.inference(X_d, y_d, w_d, cov_type="HC0"),
        memory.inference(X, y, w, cov_type="HC0"),
    )
    reg = NeuronRegressor(loss="poisson", optimizer="lbfgs", alpha=0.01)
    X_r, y_r = _regression("poisson")
    _assert_same_fit(reg.fit(*_dask(X_r, y_r)), clone_fit(reg, X_r, y_r))


def clone_fit(estimator, X, y):
    from sklearn.base import clone

    return clone(estimator).fit(X, y)


# -- 2. predictions ---------------------------------------------------------------------
@pytest.mark.parametrize("n_classes", [2, 3])
def test_predictions_lazy_and_equal(no_gather, n_classes):
    X, y = _classification(n_classes)
    (X_d,) = _dask(X)
    model = NeuronClassifier(optimizer="newton").fit(X, y)
    for name in ("predict", "predict_proba", "predict_log_proba", "decision_function"):
        lazy = getattr(model, name)(X_d)
        assert isinstance(lazy, da.Array), name
        expected = getattr(model, name)(X)
        assert lazy.shape == expected.shape
        got = lazy.compute()
        if name == "predict":
            np.testing.assert_array_equal(got, expected)
        else:
            np.testing.assert_allclose(got, expected, rtol=0, atol=ATOL)
    reg = NeuronRegressor(loss="poisson", alpha=0.01).fit(*_regression("poisson"))
    X_r, _ = _regression("poisson")
    lazy = reg.predict(da.from_array(X_r, chunks=CHUNK))
    assert isinstance(lazy, da.Array)
    np.testing.assert_allclose(lazy.compute(), reg.predict(X_r), rtol=1e-12)


# -- 3. inference -----------------------------------------------------------------------
def _assert_same_inference(a, b):
    for name in ("params", "bse", "zvalues", "pvalues"):
        np.testing.assert_allclose(getattr(a, name), getattr(b, name), rtol=0, atol=ATOL)
    np.testing.assert_allclose(a.cov_params, b.cov_params, rtol=0, atol=ATOL)
    np.testing.assert_allclose(a.conf_int(), b.conf_int(), rtol=0, atol=ATOL)
    for name in ("llf", "llnull", "deviance", "null_deviance", "aic", "bic", "prsquared"):
        if hasattr(b, name):
            np.testing.assert_allclose(
                getattr(a, name), getattr(b, name), rtol=1e-10, atol=ATOL, err_msg=name
            )
    assert a.nobs == pytest.approx(b.nobs, rel=1e-12)


@pytest.mark.parametrize("n_classes", [2, 3])
def test_classifier_inference_equals_in_memory(no_gather, n_classes):
    X, y = _classification(n_classes)
    w = np.random.default_rng(3).integers(1, 4, size=len(y)).astype(float)
    X_d, y_d, w_d = _dask(X, y, w)
    params = dict(C=np.inf, optimizer="lbfgs")  # stops at tol: inference polishes both
    memory = NeuronClassifier(**params).fit(X, y, sample_weight=w)
    model = NeuronClassifier(**params).fit(X_d, y_d, sample_weight=w_d)
    for cov_type in ("nonrobust", "HC0", "HC1"):
        _assert_same_inference(
            model.inference(X_d, y_d, w_d, cov_type=cov_type),
            memory.inference(X, y, w, cov_type=cov_type),
        )
    assert str(model.summary(X_d, y_d, w_d)) == str(memory.summary(X, y, w))


@pytest.mark.parametrize("default_dtype", ["float32", "float64"])
def test_inference_in_memory_on_the_data_of_a_dask_fit(no_gather, default_dtype):
    """Issue 36, item 15: the dask fit's fingerprint reads the same rows as the
    in-memory one, under either default dtype of torch (at this row count a
    float32 linspace rounds one sampled row to another than float64's)."""
    import torch

    rng = np.random.default_rng(5)
    X = rng.standard_normal((33_087, 2))
    y = (X[:, 0] + rng.standard_normal(X.shape[0]) > 0).astype(int)
    X_d, y_d = (da.from_array(a, chunks=4_000) for a in (X, y))
    X_d, y_d = dask.persist(X_d, y_d)
    model = NeuronClassifier(C=np.inf).fit(X_d, y_d)
    on_blocks = str(model.summary(X_d, y_d))
    default = torch.get_default_dtype()
    try:
        torch.set_default_dtype(getattr(torch, default_dtype))
        assert str(model.summary(X, y)) == on_blocks
        memory = NeuronClassifier(C=np.inf).fit(X, y).training_fingerprint_
    finally:
        torch.set_default_dtype(default)
    # The same sampled rows: the sums agree to rounding (blocks summed in another order).
    for name, value in model.training_fingerprint_.items():
        np.testing.assert_allclose(value, memory[name], rtol=1e-12, atol=0, err_msg=name)


@pytest.mark.parametrize("loss", ["squared_error", "poisson", "gamma", "tweedie"])
def test_regressor_inference_equals_in_memory(no_gather, loss):
    X, y = _regression(loss)
    X_d, y_d = _dask(X, y)
    memory = NeuronRegressor(loss=loss, alpha=0.0).fit(X, y)
    model = NeuronRegressor(loss=loss, alpha=0.0).fit(X_d, y_d)
    for cov_type in ("nonrobust", "HC0", "HC1"):
        _assert_same_inference(
            model.inference(X_d, y_d, cov_type=cov_type),
            memory.inference(X, y, cov_type=cov_type),
        )


def test_likelihood_ratio_test_equals_in_memory(no_gather):
    X, y = _classification()
    restricted_cols = X[:, :3]
    full = [NeuronClassifier(C=np.inf).fit(X, y), NeuronClassifier(C=np.inf).fit(*_dask(X, y))]
    small = [
        NeuronClassifier(C=np.inf).fit(restricted_cols, y),
        NeuronClassifier(C=np.inf).fit(*_dask(restricted_cols, y)),
    ]
    memory = likelihood_ratio_test(small[0].inference(restricted_cols, y), full[0].inference(X, y))
    X_d, y_d = _dask(X, y)
    R_d, _ = _dask(restricted_cols, y)
    got = likelihood_ratio_test(small[1].inference(R_d, y_d), full[1].inference(X_d, y_d))
    assert got.df == memory.df
    assert got.statistic == pytest.approx(memory.statistic, rel=1e-9, abs=ATOL)
    assert got.pvalue == pytest.approx(memory.pvalue, rel=1e-8, abs=1e-300)
    other_y = da.from_array(np.roll(y, 1), chunks=CHUNK)
    with pytest.raises(ValueError, match="not the training data"):
        full[1].inference(X_d, other_y)


# -- 4. stochastic training: Incremental and ParallelPostFit ----------------------------
def test_incremental_partial_fit_per_block(client):
    X, y = _classification()
    X_d, y_d = _dask(X, y)
    est = NeuronClassifier(optimizer="sgd", random_state=0)
    inc = dask_ml_wrappers.Incremental(est, scoring="accuracy", shuffle_blocks=False)
    inc.fit(X_d, y_d, classes=np.unique(y))
    # The same partial_fit calls, one per block in order, in memory.
    expected = NeuronClassifier(optimizer="sgd", random_state=0)
    for start in range(0, len(y), CHUNK):
        rows = slice(start, start + CHUNK)
        expected.partial_fit(X[rows], y[rows], classes=np.unique(y))
    np.testing.assert_allclose(inc.estimator_.coef_, expected.coef_, rtol=0, atol=ATOL)
    np.testing.assert_allclose(inc.estimator_.intercept_, expected.intercept_, atol=ATOL)
    assert inc.score(X_d, y_d) > 0.8
    lazy = inc.predict_proba(X_d)
    assert isinstance(lazy, da.Array)
    np.testing.assert_allclose(lazy.compute(), expected.predict_proba(X), atol=ATOL)


def test_parallel_post_fit(client):
    X, y = _classification(3)
    X_d, _ = _dask(X, y)
    wrapped = dask_ml_wrappers.ParallelPostFit(NeuronClassifier(optimizer="newton"))
    wrapped.fit(X, y)
    memory = NeuronClassifier(optimizer="newton").fit(X, y)
    for name in ("predict", "predict_proba", "predict_log_proba"):
        lazy = getattr(wrapped, name)(X_d)
        assert isinstance(lazy, da.Array)
        got, expected = lazy.compute(), getattr(memory, name)(X)
        if name == "predict":
            np.testing.assert_array_equal(got, expected)
        else:
            np.testing.assert_allclose(got, expected, rtol=0, atol=ATOL)
    reg = dask_ml_wrappers.ParallelPostFit(NeuronRegressor(loss="gamma", alpha=0.01))
    X_r, y_r = _regression("gamma")
    reg.fit(X_r, y_r)
    np.testing.assert_allclose(
        reg.predict(da.from_array(X_r, chunks=CHUNK)).compute(),
        NeuronRegressor(loss="gamma", alpha=0.01).fit(X_r, y_r).predict(X_r),
        rtol=1e-12,
    )


# -- 5. model selection on the dask joblib backend --------------------------------------
@pytest.mark.slow  # loky's worker processes import torch: ~15-40 s on 2 busy cores
def test_grid_search_and_cross_validate_on_dask_backend(client):
    X, y = _classification(n=400)
    cv = KFold(3, shuffle=True, random_state=0)
    grid = {"C": [0.1, 1.0], "l1_ratio": [0.0, 0.5]}
    results = {}
    for backend in ("loky", "dask"):
        with joblib.parallel_backend(backend, n_jobs=2):
            search = GridSearchCV(NeuronClassifier(optimizer="lbfgs"), grid, cv=cv, n_jobs=2)
            search.fit(X, y)
            scores = cross_validate(
                NeuronClassifier(optimizer="newton"), X, y, cv=cv, n_jobs=2,
                scoring=["accuracy", "neg_log_loss"],
            )
        results[backend] = (search, scores)
    (s_loky, c_loky), (s_dask, c_dask) = results["loky"], results["dask"]
    assert s_dask.best_params_ == s_loky.best_params_
    np.testing.assert_allclose(
        s_dask.cv_results_["mean_test_score"], s_loky.cv_results_["mean_test_score"],
        rtol=0, atol=1e-12,
    )
    np.testing.assert_allclose(s_dask.best_estimator_.coef_, s_loky.best_estimator_.coef_)
    for key in ("test_accuracy", "test_neg_log_loss"):
        np.testing.assert_allclose(c_dask[key], c_loky[key], rtol=0, atol=1e-12)


# -- 6. dask stays optional -------------------------------------------------------------
@pytest.mark.slow  # a fresh interpreter importing torch
def test_package_imports_without_dask():
    code = (
        "import sys\n"
        "for name in ('dask', 'distributed', 'dask_ml'):\n"
        "    sys.modules[name] = None\n"
        "import numpy as np, sklearn_neuron\n"
        "from sklearn_neuron import NeuronClassifier\n"
        "X = np.random.default_rng(0).normal(size=(50, 3)); y = (X[:, 0] > 0).astype(int)\n"
        "NeuronClassifier().fit(X, y).predict(X)\n"
        "assert 'dask' not in sys.modules or sys.modules['dask'] is None\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


def test_missing_dask_names_the_extra(monkeypatch):
    monkeypatch.setitem(sys.modules, "dask.array", None)
    with pytest.raises(ImportError, match=r'pip install "sklearn-neuron\[dask\]"'):
        import_dask()


@pytest.mark.parametrize(
    "estimator, match",
    [
        (NeuronClassifier(loss="hinge"), "loss='squared_hinge'"),
        (NeuronClassifier(loss="hinge", optimizer="lbfgs"), "loss='squared_hinge'"),
        (NeuronRegressor(loss="absolute_error"), "optimizer='lbfgs'"),
    ],
    ids=["hinge-auto", "hinge-lbfgs", "absolute_error-auto"],
)
def test_exact_solvers_that_read_rows_refuse_dask_data_saying_what_runs(estimator, match):
    """The hinge's exact continuation and the absolute error's exact solver read
    rows; on dask arrays they refuse with the way out (before: AttributeError)."""
    rng = np.random.default_rng(0)
    X = rng.standard_normal((400, 3))
    y = (X[:, 0] > 0).astype(int) if isinstance(estimator, NeuronClassifier) else X[:, 0] + 0.5
    with dask.config.set(scheduler="synchronous"):
        Xd, yd = da.from_array(X, chunks=100), da.from_array(y, chunks=100)
        with pytest.raises(ValueError, match=match):
            clone(estimator).fit(Xd, yd)
        if isinstance(estimator, NeuronClassifier):
            # The way out runs: the smooth squared hinge, as in memory.
            fitted = NeuronClassifier(loss="squared_hinge").fit(Xd, yd)
            in_memory = NeuronClassifier(loss="squared_hinge").fit(X, y)
            np.testing.assert_allclose(fitted.coef_, in_memory.coef_, rtol=1e-8, atol=1e-10)


@pytest.mark.parametrize("optimizer", ["newton", "lbfgs", "newton-cg"])
@pytest.mark.parametrize("persist", [True, False])
def test_a_float32_fit_on_dask_below_float32s_floor_goes_on_in_float64(
    no_gather, optimizer, persist
):
    """tol below what float32 resolves (1.2e-5): the float32 iterations on the
    workers stop at that floor and the fit goes on in float64, each block cast
    on its worker as it is read (before: it stopped at the floor with a
    ConvergenceWarning), to the in-memory float32 fit's answer; the blocks
    stay float32, and above the floor nothing is added."""
    X, y = make_classification(2000, 10, flip_y=0.2, random_state=0)
    X = X.astype(np.float32)
    w = np.random.default_rng(0).uniform(0.5, 2.0, size=len(y))
    with warnings.catch_warnings():
        warnings.simplefilter("error", ConvergenceWarning)
        in_memory = NeuronClassifier(tol=1e-10, optimizer=optimizer).fit(X, y, sample_weight=w)
        Xd, yd, wd = _dask(X, y, w, persist=persist)
        model = NeuronClassifier(tol=1e-10, optimizer=optimizer).fit(Xd, yd, sample_weight=wd)
    assert Xd.dtype == np.float32 and model.coef_.dtype == np.float32
    assert model.converged_ and model.history_[-1]["grad_max"] <= 1e-10
    assert model.history_[-1]["solver"].endswith("/float64")
    assert model.history_[0]["solver"] != model.history_[-1]["solver"]  # a float32 stage first
    # Both are the float64 optimum rounded to float32 (6e-8 relative).
    _assert_close_fit(model, in_memory, 1e-7)
    default = NeuronClassifier().fit(Xd, yd, sample_weight=wd)  # above the floor
    assert not any(record["solver"].endswith("/float64") for record in default.history_)


def test_the_float64_stage_keeps_its_blocks_for_newton_cg_only(no_gather):
    """The float64 stage of a float32 fit on persisted blocks: cast at each read
    (nothing kept: the data are read as if not persisted), or, for Newton-CG,
    whose every product reads them, cast once into block objectives kept on
    the workers; either way in float64, without a subsample warm start."""
    import torch

    from sklearn_neuron._solvers.dispatch import float64_objective

    X, y = make_classification(2000, 6, random_state=0)
    Xd, yd = _dask(X.astype(np.float32), y)
    objective = NeuronClassifier()._build_objective(Xd, yd, None, reset=True)
    assert objective.dtype == torch.float32 and objective.reads_per_evaluation == 0
    read, kept = float64_objective(objective), float64_objective(objective, kept=True)
    assert read.reads_per_evaluation == 1 and kept.reads_per_evaluation == 0
    theta = objective.initial_theta().to(torch.float64) + 0.01
    f_read, g_read, _ = read.value_gradient(theta)
    f_kept, g_kept, _ = kept.value_gradient(theta)
    assert f_read.dtype == torch.float64 and g_kept.dtype == torch.float64
    torch.testing.assert_close(f_read, f_kept, rtol=1e-15, atol=0)
    torch.testing.assert_close(g_read, g_kept, rtol=1e-13, atol=1e-16)
    assert read.subsample() is None and kept.subsample() is None
    assert objective.reads_per_evaluation == 0  # the float32 objective is left as it was
