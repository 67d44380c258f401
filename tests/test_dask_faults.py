"""A Dask worker killed during a fit, a prediction or a summary hangs none of them (issue 36).

A real ``distributed.LocalCluster`` of 2 worker processes under nannies, its
own (the killed worker must not disturb ``test_dask.py``'s clusters). A
worker plugin kills, with signal 9, the worker that starts the first task of
a given kind (an evaluation of the fit, a block's prediction), once: a real
loss at a known point, while the driver waits on the cluster. The nanny
restarts the worker under another address. Each call runs in a thread
bounded in wall time, so that a regression fails instead of hanging; its
results equal the undisturbed call's, at 1e-8 (absolute, on coefficients of
order 1: the lost blocks' terms are computed again, perhaps summed in
another order).
"""

import os
import signal
import threading
import warnings

import numpy as np
import pytest

da = pytest.importorskip("dask.array")
distributed = pytest.importorskip("distributed")

import dask  # noqa: E402

from sklearn_neuron import NeuronClassifier  # noqa: E402

ATOL = 1e-8
#: Seconds a call may take with a worker lost (undisturbed, a few).
BOUND = 90
CHUNK = 5_000  # 8 blocks of the data below, 4 on each worker

pytestmark = pytest.mark.slow  # two worker processes importing torch, restarted once a test


class KillOnce(distributed.WorkerPlugin):
    """Kills (signal 9) the worker that starts the first task whose key holds
    ``prefix``, after ``skip`` such tasks (of any worker: each creates a file
    to count); ``marker`` (created first) makes it the only one."""

    def __init__(self, prefix, marker, skip=0):
        self.prefix, self.marker, self.skip = prefix, str(marker), skip

    def transition(self, key, start, finish, **kwargs):
        if finish != "executing" or self.prefix not in str(key):
            return
        for count in range(self.skip):
            try:
                open(f"{self.marker}.{count}", "x").close()
                return  # the count-th task skipped
            except FileExistsError:
                continue
        try:
            open(self.marker, "x").close()
        except FileExistsError:  # killed one already (this is the restarted one, or another)
            return
        os.kill(os.getpid(), signal.SIGKILL)


@pytest.fixture(scope="module")
def cluster():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the cluster's own start-up notes
        with distributed.LocalCluster(
            n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None
        ) as cluster:
            yield cluster


@pytest.fixture
def client(cluster):
    """A client of two live workers (the previous test's killed one restarted)."""
    with distributed.Client(cluster) as client:
        client.wait_for_workers(2, timeout=BOUND)
        client.run(lambda: __import__("sklearn_neuron"))  # torch's import, before the clock
        yield client


@pytest.fixture
def kill_at(client, tmp_path):
    """``kill_at(prefix, skip=0)``: the task whose key holds ``prefix`` after
    ``skip`` such tasks kills its worker."""
    names = []

    def kill_at(prefix, skip=0):
        name = f"kill-once-{len(names)}"
        client.register_plugin(KillOnce(prefix, tmp_path / name, skip), name=name)
        names.append(name)
        return tmp_path / name

    yield kill_at
    for name in names:
        client.unregister_worker_plugin(name)


def _within(function, *args):
    """``function(*args)``, failing the test if it takes more than :data:`BOUND` seconds."""
    outcome = {}

    def run():
        try:
            outcome["value"] = function(*args)
        except BaseException as exc:  # re-raised on the test's thread
            outcome["error"] = exc

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    thread.join(BOUND)
    if thread.is_alive():
        pytest.fail(f"{function.__name__} did not return within {BOUND} s of a worker's loss")
    if "error" in outcome:
        raise outcome["error"]
    return outcome["value"]


def _read(block):
    """A block as read from storage (its graph is then more than its blocks)."""
    return block.copy()


def _data(persist=True):
    rng = np.random.default_rng(0)
    X = rng.standard_normal((40_000, 5))
    y = (X @ np.linspace(-1, 1, 5) + rng.standard_normal(X.shape[0]) > 0).astype(int)
    X_d, y_d = da.from_array(X, chunks=CHUNK), da.from_array(y, chunks=CHUNK)
    if persist:
        return dask.persist(X_d, y_d)
    return X_d.map_blocks(_read, dtype=X.dtype), y_d


@pytest.mark.parametrize(
    "persist, task",
    [(True, "_on_objectives"), (False, "_on_block")],
    ids=["persisted", "out-of-core"],
)
def test_a_killed_worker_does_not_hang_a_fit(client, kill_at, persist, task):
    X_d, y_d = _data(persist)
    model = NeuronClassifier(C=1.0, optimizer="newton")
    undisturbed = model.fit(X_d, y_d).coef_.copy()
    # At the first evaluation's first task (persisted: its block objectives built).
    marker = kill_at(task)
    recovered = _within(model.fit, X_d, y_d)
    assert marker.exists()  # a worker was killed
    np.testing.assert_allclose(recovered.coef_, undisturbed, rtol=0, atol=ATOL)


def test_a_killed_worker_does_not_hang_a_newton_cg_fit(client, kill_at):
    """A worker lost at Newton-CG's first Hessian-vector product (the third
    reduction of the fit, after the value and gradient and the Hessian
    diagonal, each a task per worker): its block objectives and the
    per-row curvature they kept are computed again elsewhere, from the point
    the product carries; the fit ends as undisturbed."""
    X_d, y_d = _data()
    model = NeuronClassifier(C=1.0, optimizer="newton-cg")
    undisturbed = model.fit(X_d, y_d).coef_.copy()
    marker = kill_at("_on_objectives", skip=4)
    recovered = _within(model.fit, X_d, y_d)
    assert marker.exists()
    np.testing.assert_allclose(recovered.coef_, undisturbed, rtol=0, atol=ATOL)


def test_a_killed_worker_does_not_hang_a_prediction(client, kill_at):
    X_d, y_d = _data()
    model = NeuronClassifier(C=1.0).fit(X_d, y_d)
    undisturbed = model.predict_proba(X_d).compute()
    marker = kill_at("_predict_block")
    recovered = _within(dask.compute, model.predict_proba(X_d))[0]
    assert marker.exists()
    np.testing.assert_allclose(recovered, undisturbed, rtol=0, atol=ATOL)


def test_a_killed_worker_does_not_hang_a_summary(client, kill_at):
    X_d, y_d = _data()
    model = NeuronClassifier(C=np.inf).fit(X_d, y_d)
    undisturbed = model.summary(X_d, y_d)
    marker = kill_at("_on_objectives")  # the summary's first reduction
    recovered = _within(model.summary, X_d, y_d)
    assert marker.exists()
    for got, want in zip(recovered.table, undisturbed.table, strict=True):
        assert got[:2] == want[:2]  # equation and term
        np.testing.assert_allclose(got[2:], want[2:], rtol=0, atol=ATOL)
