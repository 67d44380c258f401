"""NeuronClassifier on Dask arrays against the in-memory fit and dask_ml (issue 14).

On a ``distributed.LocalCluster`` of this machine (2 worker processes, 1
thread each):

1. **Persisted**: 2,000,000 x 20 float64 (320 MB) generated on the workers
   and persisted in their memory. Fit time of NeuronClassifier on the dask
   array against the same fit on the same data gathered into the driver
   (numpy), and against ``dask_ml.linear_model.LogisticRegression`` (solvers
   "admm" and "lbfgs", run once each: they are slow), with the largest
   coefficient gap of each to scikit-learn's LogisticRegression fitted on
   the gathered data. Every estimator has C=1 and fits an intercept.
2. **Driver memory**: the driver's peak RSS growth (sampled every 5 ms in a
   thread) during the dask fit, for several numbers of rows: it must not
   grow with them.
3. **Out of core**: a larger array written chunk by chunk to a zarr store
   on disk (larger than the cluster's memory limit) and read back by chunks
   at every evaluation (nothing persisted), against the in-memory fit of the
   same data loaded into the driver.

Run: ``PYTHONPATH=. python benchmarks/bench_dask.py`` (``--quick`` for a
small smoke run; ``--skip-dask-ml`` to leave out the slow dask_ml fits).
"""

import argparse
import contextlib
import os
import shutil
import statistics
import sys
import tempfile
import threading
import time
import warnings

import numpy as np
import psutil

sys.path.insert(0, os.path.dirname(__file__))
from _timing import machine_description, markdown_table  # noqa: E402


class PeakRSS:
    """Peak resident memory growth of this process while the block runs, in MB."""

    def __enter__(self):
        self._process = psutil.Process()
        self._base = self._process.memory_info().rss
        self._peak = self._base
        self._running = True
        self._thread = threading.Thread(target=self._sample, daemon=True)
        self._thread.start()
        return self

    def _sample(self):
        while self._running:
            self._peak = max(self._peak, self._process.memory_info().rss)
            time.sleep(0.005)

    def __exit__(self, *exc):
        self._running = False
        self._thread.join()
        self.mb = (self._peak - self._base) / 1e6


def make_data(da, n, d, chunk_rows, seed=0):
    """A logistic model's data, generated lazily block by block (never on the driver)."""
    rng = da.random.RandomState(seed)
    X = rng.normal(size=(n, d), chunks=(chunk_rows, d))
    beta = np.linspace(-1.0, 1.0, d)
    noise = rng.logistic(size=n, chunks=chunk_rows)
    y = ((X @ beta + 0.3 + noise) > 0).astype(np.int64)
    return X, y


@contextlib.contextmanager
def _warm_start_rows(rows):
    """Newton's subsample warm start from ``rows`` rows on (on the driver)."""
    from sklearn_neuron._dask import warm_start as _dask

    before, _dask.WARM_START_MIN_ROWS = _dask.WARM_START_MIN_ROWS, rows
    try:
        yield
    finally:
        _dask.WARM_START_MIN_ROWS = before


def timed(fit):
    start = time.perf_counter()
    result = fit()
    return time.perf_counter() - start, result


def gap(a, b):
    return float(np.abs(np.ravel(a) - np.ravel(b)).max())


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--skip-dask-ml", action="store_true")
    parser.add_argument("--skip-out-of-core", action="store_true")
    parser.add_argument("--only-out-of-core", action="store_true")
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument(
        "--dask-ml-solver", action="append", choices=["admm", "lbfgs"],
        help="run only this dask_ml solver (repeatable; default: both)",
    )
    parser.add_argument(
        "--dask-ml-rows", type=int, default=None,
        help="fit dask_ml (and, for the ratio, this package on dask) on the first N rows only",
    )
    parser.add_argument("--out-of-core-rows", type=int, default=16_000_000)
    # Each worker process holds torch (~0.3 GB) besides its chunks: below ~0.6 GiB
    # the nanny restarts it (the quick case's former 300MiB did).
    parser.add_argument("--out-of-core-limit", default="1GiB")
    args = parser.parse_args()

    import dask
    import dask.array as da
    from distributed import Client, LocalCluster
    from sklearn.linear_model import LogisticRegression

    from sklearn_neuron import NeuronClassifier

    n, d, chunk = (200_000, 20, 25_000) if args.quick else (2_000_000, 20, 125_000)
    memory_rows = (
        [50_000, 100_000, 200_000] if args.quick else [500_000, 1_000_000, 2_000_000, 4_000_000]
    )
    print(machine_description())
    if args.only_out_of_core:
        return out_of_core(args, da, dask, Client, LocalCluster, NeuronClassifier, d)
    cluster = LocalCluster(
        n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None,
        memory_limit="3GiB",
    )
    client = Client(cluster)
    print(f"cluster: {cluster}")

    # -- 1. persisted data ---------------------------------------------------------
    X, y = make_data(da, n, d, chunk)
    X, y = dask.persist(X, y)
    client.wait_for_workers(2)
    from distributed import wait

    wait([X, y])
    rows = []
    coefs = {}
    # One untimed fit first: the workers' first tasks (imports, caches) are not the fit's.
    NeuronClassifier().fit(X, y)
    # The two optimizers' fits interleaved: a slow spell of the machine falls on both.
    times, models = {"auto": [], "newton": []}, {}
    peaks = dict.fromkeys(times, 0.0)
    for _ in range(args.repeats):
        for optimizer in times:
            with PeakRSS() as memory:
                seconds, models[optimizer] = timed(
                    lambda: NeuronClassifier(optimizer=optimizer).fit(X, y)  # noqa: B023
                )
            times[optimizer].append(seconds)
            peaks[optimizer] = max(peaks[optimizer], memory.mb)
    for optimizer, model in models.items():
        coefs[f"dask {optimizer}"] = (model.coef_, model.intercept_)
        rows.append((f"NeuronClassifier({optimizer!r}) on dask",
                     statistics.median(times[optimizer]), model.optimizer_, model.n_iter_,
                     peaks[optimizer]))
    # The same data gathered into the driver.
    X_np, y_np = dask.compute(X, y)
    in_memory = {}
    for optimizer in ("auto", "newton"):
        times = []
        for _ in range(args.repeats):
            seconds, model = timed(
                lambda: NeuronClassifier(optimizer=optimizer).fit(X_np, y_np)  # noqa: B023
            )
            times.append(seconds)
        in_memory[optimizer] = statistics.median(times)
        coefs[f"numpy {optimizer}"] = (model.coef_, model.intercept_)
        rows.append((f"NeuronClassifier({optimizer!r}) in memory", in_memory[optimizer],
                     model.optimizer_, model.n_iter_, float("nan")))
    seconds, reference = timed(
        lambda: LogisticRegression(tol=1e-8, max_iter=1000).fit(X_np, y_np)
    )
    rows.append(("sklearn LogisticRegression (tol=1e-8) in memory", seconds, "lbfgs",
                 int(reference.n_iter_[0]), float("nan")))
    dask_ml_times = {}
    subset_note = ""
    if not args.skip_dask_ml:
        from dask_ml.linear_model import LogisticRegression as DaskLogisticRegression

        X_ml, y_ml = X, y
        if args.dask_ml_rows:
            # dask_ml is slow: on a subset, against this package's dask fit of it.
            m = args.dask_ml_rows
            X_ml, y_ml = dask.persist(X[:m], y[:m])
            wait([X_ml, y_ml])
            seconds, model = timed(lambda: NeuronClassifier().fit(X_ml, y_ml))
            dask_ml_times["NeuronClassifier (auto) on the subset"] = seconds
            subset_note = f" (dask_ml rows: the first {m:,} rows only)"
        for solver in args.dask_ml_solver or ("admm", "lbfgs"):
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                with PeakRSS() as memory:
                    seconds, model = timed(
                        lambda: DaskLogisticRegression(solver=solver, C=1.0).fit(  # noqa: B023
                            X_ml, y_ml  # noqa: B023
                        )
                    )
            dask_ml_times[solver] = seconds
            coefs[f"dask_ml {solver}"] = (model.coef_, model.intercept_)
            label = f"dask_ml LogisticRegression({solver!r})" + (
                f" on {args.dask_ml_rows:,} rows" if args.dask_ml_rows else ""
            )
            rows.append((label, seconds, solver, getattr(model, "n_iter_", ""), memory.mb))
    reference_subset = reference
    if args.dask_ml_rows and not args.skip_dask_ml:
        reference_subset = LogisticRegression(tol=1e-8, max_iter=1000).fit(
            X_np[: args.dask_ml_rows], y_np[: args.dask_ml_rows]
        )
    table = []
    for label, seconds, optimizer, n_iter, mb in rows:
        key = None
        for name in coefs:
            if (name.startswith("dask ") and "on dask" in label and f"'{name[5:]}'" in label) or (
                name.startswith("numpy ") and "in memory" in label and f"'{name[6:]}'" in label
            ) or (name.startswith("dask_ml") and "dask_ml" in label and name[8:] in label):
                key = name
        reference_ = reference_subset if key and key.startswith("dask_ml") else reference
        coef_gap = (
            f"{max(gap(coefs[key][0], reference_.coef_), gap(coefs[key][1], reference_.intercept_)):.1e}"  # noqa: E501
            if key else "0 (reference)"
        )
        table.append((label, f"{seconds:.2f}", optimizer, n_iter, coef_gap,
                      "" if np.isnan(mb) else f"{mb:.0f}"))
    print(f"\n### {n:,} x {d} float64, persisted on 2 workers, {len(X.chunks[0])} chunks\n")
    print(markdown_table(
        ["fit", "seconds", "optimizer", "iterations", "max |coef - sklearn|",
         "driver peak RSS growth MB"], table))
    print(subset_note)
    ours = dask_ml_times.pop("NeuronClassifier (auto) on the subset", None)
    for optimizer in ("auto", "newton"):
        label = f"NeuronClassifier({optimizer!r}) on dask"
        dask_seconds = next(r[1] for r in rows if r[0] == label)
        print(f"\n{optimizer}: dask / in-memory = {dask_seconds / in_memory[optimizer]:.2f}")
        base = ours if ours is not None else dask_seconds
        for solver, seconds in dask_ml_times.items():
            print(f"dask_ml {solver} / NeuronClassifier on dask, same rows = {seconds / base:.1f}"
                  + (f" (ours on the subset: {ours:.2f} s)" if ours is not None else ""))
    print(f"gap dask vs in-memory (auto): {gap(coefs['dask auto'][0], coefs['numpy auto'][0]):.1e}")
    X_np = y_np = None  # free the gathered copy

    X = y = None

    # -- 2. driver memory against the number of rows -------------------------------
    memory_table = []
    for m in memory_rows:
        X, y = make_data(da, m, d, chunk, seed=1)
        X, y = dask.persist(X, y)
        wait([X, y])
        with PeakRSS() as memory:
            seconds, model = timed(lambda: NeuronClassifier().fit(X, y))  # noqa: B023
        memory_table.append((f"{m:,}", f"{m * d * 8 / 1e6:.0f}", f"{seconds:.2f}",
                             f"{memory.mb:.0f}"))

        X = y = None
    print("\n### Driver memory during the dask fit\n")
    print(markdown_table(["rows", "data MB", "fit seconds", "driver peak RSS growth MB"],
                         memory_table))
    client.close()
    cluster.close()

    if not args.skip_out_of_core:
        out_of_core(args, da, dask, Client, LocalCluster, NeuronClassifier, d)


def out_of_core(args, da, dask, Client, LocalCluster, NeuronClassifier, d):
    """A zarr store larger than the cluster's memory, read at every evaluation.

    Written twice: with zarr's default compressor and uncompressed (reading
    then costs a copy from the page cache or the disk, not a decompression).
    Each store is fitted with the default optimizer ("auto": Newton, one read
    of each block per iteration, on data read per evaluation) and L-BFGS.
    """
    big_n = 400_000 if args.quick else args.out_of_core_rows
    big_chunk = 50_000 if args.quick else 250_000
    limit = "700MiB" if args.quick else args.out_of_core_limit
    store = tempfile.mkdtemp(prefix="bench_dask_", dir=os.environ.get("BENCH_DIR", "/tmp"))
    stores = {"zarr, default compressor": {}, "zarr, uncompressed": {"compressors": None}}
    size_gb = big_n * d * 8 / 1e9
    try:
        X, y = make_data(da, big_n, d, big_chunk, seed=2)
        with dask.config.set(scheduler="threads", num_workers=2):
            for i, kwargs in enumerate(stores.values()):
                da.to_zarr(X, os.path.join(store, f"X{i}"), **kwargs)
                da.to_zarr(y, os.path.join(store, f"y{i}"), **kwargs)
        cluster = LocalCluster(
            n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None,
            memory_limit=limit,
        )
        client = Client(cluster)
        client.run(lambda: __import__("sklearn_neuron"))  # torch's import, not timed
        ooc, dask_times, coefs, plain_reads = [], {}, {}, {}
        from sklearn_neuron._dask import warm_start as _dask

        warm_start_rows = _dask.WARM_START_MIN_ROWS
        for i, label in enumerate(stores):
            X = da.from_zarr(os.path.join(store, f"X{i}"))
            y = da.from_zarr(os.path.join(store, f"y{i}"))
            # The floor of any fit on this store: one plain read of it (a
            # reduction that only adds), which each full pass of a fit repeats.
            seconds, _ = timed(lambda: dask.compute(X.sum(axis=0), y.sum()))  # noqa: B023
            plain_reads[label] = seconds
            ooc.append((f"a plain read of the store ({label}): X.sum(axis=0), y.sum()",
                        f"{seconds:.1f}", "", "", ""))
            print(" | ".join(map(str, ooc[-1])), flush=True)
            for variant in ("auto", "auto, cold start", "lbfgs"):
                optimizer = variant.split(",")[0]
                # "cold start": Newton without its subsample warm start (the
                # threshold raised on the driver, where Newton runs).
                threshold = sys.maxsize if "cold" in variant else warm_start_rows
                with PeakRSS() as memory, _warm_start_rows(threshold):
                    seconds, model = timed(
                        lambda: NeuronClassifier(optimizer=optimizer).fit(X, y)  # noqa: B023
                    )
                dask_times[label, variant] = seconds
                coefs[label, variant] = model.coef_
                ooc.append((f"NeuronClassifier({optimizer!r}) on dask ({label})"
                            + (" without the warm start" if "cold" in variant else ""),
                            f"{seconds:.1f}", model.optimizer_, model.n_iter_,
                            f"{memory.mb:.0f}"))
                print(" | ".join(map(str, ooc[-1])), flush=True)
        print(f"\n### Out of core: {big_n:,} x {d} float64 = {size_gb:.2f} GB in zarr, "
              f"{len(X.chunks[0])} chunks; 2 workers with memory_limit={limit} each\n")
        client.close()
        cluster.close()
        with dask.config.set(scheduler="threads", num_workers=2):
            X_np, y_np = dask.compute(X, y)
        in_memory = {}
        for optimizer in ("auto", "newton"):
            seconds_np, model = timed(
                lambda: NeuronClassifier(optimizer=optimizer).fit(X_np, y_np)  # noqa: B023
            )
            in_memory[optimizer] = seconds_np, model
            ooc.append((f"NeuronClassifier({optimizer!r}) in memory (same data loaded)",
                        f"{seconds_np:.1f}", model.optimizer_, model.n_iter_, ""))
        exact = NeuronClassifier(optimizer="newton", tol=1e-12).fit(X_np, y_np)
        print(markdown_table(["fit", "seconds", "optimizer", "iterations",
                              "driver peak RSS growth MB"], ooc))
        seconds_np = in_memory["auto"][0]
        for (label, variant), seconds in dask_times.items():
            same = in_memory["newton" if variant.startswith("auto") else "auto"][1]
            print(f"out of core, {label}, {variant}: dask / in-memory default fit = "
                  f"{seconds / seconds_np:.2f}; coef gap to the in-memory {same.optimizer_} "
                  f"fit {gap(coefs[label, variant], same.coef_):.1e}, to the optimum "
                  f"(in-memory newton, tol=1e-12) {gap(coefs[label, variant], exact.coef_):.1e}")
        for label, seconds in plain_reads.items():
            print(f"out of core, {label}: one plain read / in-memory default fit = "
                  f"{seconds / seconds_np:.2f} (two reads, the fewest a warm-started Newton "
                  f"fit makes: {2 * seconds / seconds_np:.2f})")
        for optimizer, (_, model) in in_memory.items():
            print(f"in memory, {optimizer}: coef gap to the optimum "
                  f"{gap(model.coef_, exact.coef_):.1e}")
    finally:
        shutil.rmtree(store, ignore_errors=True)


if __name__ == "__main__":
    main()
