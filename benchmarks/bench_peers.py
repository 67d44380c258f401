"""NeuronClassifier against the fastest exact logistic regressions on a CPU (issue #37).

Every fit is judged on one objective, LogisticRegression's at the same ``C``,
evaluated in float64 by :func:`lr_objective` for every model::

    F(W, b) = sum_i log_loss_i + (1 - l1_ratio) ||W||^2 / (2 C) + l1_ratio ||W||_1 / C

(intercepts unpenalized). Its optimum ``F*`` comes from a float64 reference
fit at ``tol=1e-12``: NeuronClassifier ``optimizer="newton"`` where the
Hessian fits in memory, ``"newton-cg"`` where it does not, OWL-QN
(``"lbfgs"``) with an L1 term; on the small rows it is checked against
LogisticRegression(newton-cholesky, tol=1e-12) and ``F*`` is the lower of the
two. The gap of a fit is ``(F - F*) / F*``.

Rows (``--rows``): breast_cancer 569 x 30 and digits 1797 x 64 (10 classes),
standardized; make_classification 200,000 x 100 float64 and 1,000,000 x 50
float32; sparse 100,000 x 5,000 at 0.5% non-zeros; L1 (``l1_ratio=1``,
``C=0.01``) on 20,000 x 500; and two linear-probe shapes, Gaussian class
clusters seen through a random embedding in float32 with ``C=10``:
20,000 x 256 x 50 classes and 100,000 x 512 x 100 classes. Each fit runs at
its defaults and at ``tol=1e-10`` (probe rows: ``1e-8``) with ``max_iter``
raised. Peers: LogisticRegression (lbfgs, newton-cholesky; saga with L1),
scikit-learn-intelex's LogisticRegression, glum (binary rows only) and skglm
(L1): ``pip install -e .[bench]``; a peer that is not installed is skipped
with the reason printed. On the first probe row NeuronClassifierCV(Cs=10)
also runs against LogisticRegressionCV(Cs=10) (same folds and scoring).

Timing: every method is first fitted once, untimed, on 1,000 rows (skglm's
numba compilation, oneDAL's start-up); then fits are interleaved in blocks,
round-robin over the methods, ``--repeats`` rounds (3; ``--quick``: 1); each
block starts after a 0.2 s pause, in which the previous library's threads
(OpenBLAS, oneDAL's TBB, OpenMP) stop spinning: without it a fit right after
scikit-learn-intelex's took 0.29 s where it took 0.22 s after a pause (and
scikit-learn-intelex's 0.27 s after LogisticRegression's, 0.23 s after a
pause), on 200,000 x 100; on the small rows a block is then one untimed fit
and several timed ones; a fit over ``SLOW_FACTOR`` times
the row's fastest and over 10 s is timed in the first round only; the median
is reported. The ratio of a NeuronClassifier fit is its time over
that of the fastest peer fit (either tolerance) whose gap is at most its own;
gaps under ``GAP_FLOOR`` count as equal.

Run: ``python benchmarks/bench_peers.py [--quick] [--rows name,...] [--repeats N]``
"""

from __future__ import annotations

import argparse
import datetime
import importlib.metadata
import logging
import shlex
import statistics
import sys
import time
import warnings
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

import numpy as np
import scipy.sparse as sp
from _timing import machine_description, markdown_table
from scipy.special import logsumexp
from sklearn.datasets import load_breast_cancer, load_digits, make_classification
from sklearn.exceptions import ConvergenceWarning
from sklearn.linear_model import LogisticRegression, LogisticRegressionCV
from sklearn.model_selection import StratifiedKFold
from sklearn.preprocessing import StandardScaler

from sklearn_neuron import NeuronClassifier, NeuronClassifierCV

#: Seconds of rest before each block of fits: the previous library's threads
#: stop spinning and leave the cores to the next (see the module's docstring).
HANDOVER_PAUSE = 0.2
#: Relative gaps below this are float64 rounding in F, not distance to the optimum.
GAP_FLOOR = 1e-13
#: Largest dense Hessian (bytes) that a Newton fit, ours or newton-cholesky, may form.
HESSIAN_BUDGET = 2**30
#: ``max_iter`` of the tight-tolerance fits (saga: epochs; glum, skglm: outer iterations).
TIGHT_MAX_ITER = {"default": 10_000, "saga": 1_000, "glum": 100, "skglm": 1_000}
#: A fit this many times slower than the row's fastest (and over 10 s) is timed once.
SLOW_FACTOR = 20
#: Rows of F's float64 evaluation at a time: bounds the float64 copy of a float32 X.
CHUNK_ROWS = 65_536


# --------------------------------------------------------------------------- objective
def lr_objective(
    X: np.ndarray | sp.spmatrix,
    y: np.ndarray,
    coef: np.ndarray,
    intercept: np.ndarray | float,
    C: float,
    l1_ratio: float = 0.0,
) -> float:
    """LogisticRegression's objective divided by ``C``, evaluated in float64.

    Parameters
    ----------
    X : ndarray or sparse matrix of shape (n_samples, n_features)
        Data, of any float dtype; read in float64 chunks of ``CHUNK_ROWS`` rows.
    y : ndarray of shape (n_samples,)
        Class codes ``0 .. K-1`` in the order of the model's ``classes_``.
    coef : ndarray of shape (n_features,), (1, n_features) or (K, n_features)
        One row (a sigmoid unit, ``K = 2``) or one row per class (softmax).
    intercept : float or ndarray of shape (1,) or (K,)
        Unpenalized intercepts.
    C : float
        Inverse regularization strength, LogisticRegression's meaning.
    l1_ratio : float, default=0.0
        Elastic-net mixing, as LogisticRegression's ``l1_ratio``.

    Returns
    -------
    float
        ``sum_i log_loss_i + (1 - l1_ratio) ||W||^2 / (2 C) + l1_ratio ||W||_1 / C``.
    """
    W = np.atleast_2d(np.asarray(coef, dtype=np.float64))
    b = np.broadcast_to(np.asarray(intercept, dtype=np.float64).reshape(-1), (W.shape[0],))
    y = np.asarray(y)
    total = 0.0
    for start in range(0, X.shape[0], CHUNK_ROWS):
        rows = slice(start, start + CHUNK_ROWS)
        Z = X[rows] @ W.T if sp.issparse(X) else np.asarray(X[rows], dtype=np.float64) @ W.T
        Z = np.asarray(Z, dtype=np.float64) + b
        codes = y[rows]
        if W.shape[0] == 1:
            z = Z[:, 0]
            total += float(np.sum(np.logaddexp(0.0, z) - codes * z))
        else:
            total += float(np.sum(logsumexp(Z, axis=1) - Z[np.arange(Z.shape[0]), codes]))
    penalty = 0.0
    if C != np.inf:
        penalty = ((1 - l1_ratio) * 0.5 * np.sum(W * W) + l1_ratio * np.sum(np.abs(W))) / C
    return total + float(penalty)


def coefficients(model: Any) -> tuple[np.ndarray, np.ndarray]:
    """``(coef (K', p), intercept (K',))`` of any fitted model here, in float64.

    scikit-learn, scikit-learn-intelex, skglm and sklearn-neuron keep
    ``coef_`` as (1, p) or (K, p); glum keeps (p,) and a scalar intercept.
    """
    coef = np.atleast_2d(np.asarray(model.coef_, dtype=np.float64))
    intercept = np.asarray(model.intercept_, dtype=np.float64).reshape(-1)
    return coef, np.broadcast_to(intercept, (coef.shape[0],)).copy()


# --------------------------------------------------------------------------- workloads
@dataclass
class Workload:
    """One row of the table: data, penalty and how to time it."""

    name: str
    X: np.ndarray | sp.spmatrix
    y: np.ndarray
    C: float = 1.0
    l1_ratio: float = 0.0
    tight_tol: float = 1e-10
    inner: int = 1
    check_reference: bool = False
    cv: bool = False

    @property
    def n_classes(self) -> int:
        return int(np.unique(self.y).size)

    @property
    def n_params(self) -> int:
        """Coefficients and intercepts of the model (one unit for two classes)."""
        units = 1 if self.n_classes == 2 else self.n_classes
        return units * (self.X.shape[1] + 1)

    @cached_property
    def codes(self) -> np.ndarray:
        """Class codes ``0 .. K-1`` in the order of the sorted labels (``classes_``)."""
        return np.unique(self.y, return_inverse=True)[1]


def probe_embeddings(n: int, dim: int, n_classes: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Gaussian class clusters seen through a random embedding, in float32.

    Class centres are drawn at a distance of about 5 noise standard
    deviations from each other (overlapping classes: the optimum is finite),
    then every point is mapped by a random rotation with singular values
    ``j ** -0.5``: embeddings' features are correlated and unevenly scaled.
    """
    rng = np.random.default_rng(seed)
    y = rng.permutation(np.arange(n) % n_classes)
    centres = rng.standard_normal((n_classes, dim)) * (5.0 / np.sqrt(2 * dim))
    Z = centres[y] + rng.standard_normal((n, dim))
    rotation, _ = np.linalg.qr(rng.standard_normal((dim, dim)))
    scales = np.arange(1, dim + 1) ** -0.5
    return ((Z * scales) @ rotation).astype(np.float32), y


def sparse_design(n: int, p: int, density: float, seed: int) -> tuple[sp.csr_matrix, np.ndarray]:
    """Uniformly placed Gaussian non-zeros; labels from a logistic model on them."""
    rng = np.random.default_rng(seed)
    X = sp.random(
        n, p, density=density, format="csr", random_state=rng, data_rvs=rng.standard_normal
    )
    coef = rng.standard_normal(p)
    y = (X @ coef + rng.logistic(size=n) > 0).astype(int)
    return X, y


def _standardized(loader: Callable) -> tuple[np.ndarray, np.ndarray]:
    X, y = loader(return_X_y=True)
    return StandardScaler().fit_transform(X), y


def workload(key: str, quick: bool) -> Workload:
    """The row named ``key``; ``quick`` shrinks the synthetic ones."""
    if key == "breast_cancer":
        X, y = _standardized(load_breast_cancer)
        return Workload("breast_cancer 569 x 30", X, y, inner=20, check_reference=True)
    if key == "digits":
        X, y = _standardized(load_digits)
        return Workload("digits 1797 x 64, 10 classes", X, y, inner=3, check_reference=True)
    if key == "dense64":
        n = 20_000 if quick else 200_000
        X, y = make_classification(n, 100, random_state=0)
        return Workload(f"make_classification {n:,} x 100 float64", X, y)
    if key == "dense32":
        n = 100_000 if quick else 1_000_000
        X, y = make_classification(n, 50, random_state=0)
        return Workload(f"make_classification {n:,} x 50 float32", X.astype(np.float32), y)
    if key == "sparse":
        n, p = (20_000, 2_000) if quick else (100_000, 5_000)
        X, y = sparse_design(n, p, 0.005, seed=0)
        return Workload(f"sparse {n:,} x {p:,}, 0.5% non-zeros", X, y)
    if key == "l1":
        n, p = (5_000, 200) if quick else (20_000, 500)
        X, y = make_classification(n, p, n_informative=10, random_state=1)
        return Workload(f"L1 {n:,} x {p}, C=0.01", X, y, C=0.01, l1_ratio=1.0)
    if key == "probe50":
        n, dim, k = (5_000, 128, 20) if quick else (20_000, 256, 50)
        X, y = probe_embeddings(n, dim, k, seed=0)
        return Workload(
            f"probe {n:,} x {dim} x {k} classes float32, C=10",
            X,
            y,
            C=10.0,
            tight_tol=1e-8,
            cv=True,
        )
    if key == "probe100":
        n, dim, k = (10_000, 256, 50) if quick else (100_000, 512, 100)
        X, y = probe_embeddings(n, dim, k, seed=1)
        return Workload(
            f"probe {n:,} x {dim} x {k} classes float32, C=10", X, y, C=10.0, tight_tol=1e-8
        )
    raise ValueError(f"unknown row {key!r}; the rows are {', '.join(ROWS)}")


ROWS = ("breast_cancer", "digits", "dense64", "dense32", "sparse", "l1", "probe50", "probe100")


# --------------------------------------------------------------------------- methods
def _optional_peers() -> tuple[dict[str, Any], dict[str, str]]:
    """The optional peers' estimator classes, and why each missing one is missing."""
    found, missing = {}, {}
    try:
        from sklearnex.linear_model import LogisticRegression as IntelexLogisticRegression

        found["sklearnex"] = IntelexLogisticRegression
    except ImportError as exc:
        missing["scikit-learn-intelex"] = f"not installed ({exc}); pip install -e .[bench]"
    try:
        from glum import GeneralizedLinearRegressor

        found["glum"] = GeneralizedLinearRegressor
    except ImportError as exc:
        missing["glum"] = f"not installed ({exc}); pip install -e .[bench]"
    try:
        from skglm import SparseLogisticRegression

        found["skglm"] = SparseLogisticRegression
    except ImportError as exc:
        missing["skglm"] = f"not installed ({exc}); pip install -e .[bench]"
    return found, missing


PEERS, MISSING_PEERS = _optional_peers()


@dataclass
class Method:
    """One fit of the table: a label, its tolerance and a factory of the estimator."""

    label: str
    tol: str
    make: Callable[[], Any]
    ours: bool = False


def methods(w: Workload, tight: bool) -> tuple[list[Method], list[str]]:
    """Every fit of row ``w`` at its defaults or at ``w.tight_tol``, and skip notes.

    This is where each peer's regularization is converted to
    LogisticRegression's ``C``: glum and skglm minimise a mean loss plus
    ``alpha`` times their penalty, so ``alpha = 1 / (C n)``.
    """
    C, l1, n = w.C, w.l1_ratio, w.X.shape[0]
    tol = w.tight_tol if tight else None
    label = f"{tol:g}" if tight else "default"
    binary = w.n_classes == 2

    def tight_kw(name: str, tol_name: str = "tol") -> dict[str, Any]:
        if not tight:
            return {}
        return {tol_name: tol, "max_iter": TIGHT_MAX_ITER.get(name, TIGHT_MAX_ITER["default"])}

    out = [
        Method(
            "NeuronClassifier",
            label,
            lambda: NeuronClassifier(C=C, l1_ratio=l1, **tight_kw("default")),
            ours=True,
        ),
    ]
    notes = []
    if l1 == 0:
        out.append(
            Method(
                "LogisticRegression lbfgs",
                label,
                lambda: LogisticRegression(C=C, **tight_kw("default")),
            )
        )
        if 8 * w.n_params**2 <= HESSIAN_BUDGET:
            out.append(
                Method(
                    "LogisticRegression newton-cholesky",
                    label,
                    lambda: LogisticRegression(
                        C=C, solver="newton-cholesky", **tight_kw("default")
                    ),
                )
            )
        elif not tight:
            notes.append(
                f"newton-cholesky skipped: its Hessian of {w.n_params:,}^2 float64 "
                f"exceeds {HESSIAN_BUDGET / 2**30:g} GiB"
            )
        if "sklearnex" in PEERS:
            out.append(
                Method(
                    "scikit-learn-intelex",
                    label,
                    lambda: PEERS["sklearnex"](C=C, **tight_kw("default")),
                )
            )
    else:
        out.append(
            Method(
                "LogisticRegression saga",
                label,
                lambda: LogisticRegression(
                    C=C, l1_ratio=l1, solver="saga", random_state=0, **tight_kw("saga")
                ),
            )
        )
        if "skglm" in PEERS and binary and l1 == 1:
            out.append(
                Method(
                    "skglm SparseLogisticRegression",
                    label,
                    lambda: PEERS["skglm"](alpha=1 / (C * n), **tight_kw("skglm")),
                )
            )
    if "glum" in PEERS and binary:
        out.append(
            Method(
                "glum",
                label,
                lambda: PEERS["glum"](
                    family="binomial",
                    alpha=1 / (C * n),
                    l1_ratio=l1,
                    **tight_kw("glum", "gradient_tol"),
                ),
            )
        )
    elif "glum" in PEERS and not tight:
        notes.append("glum skipped: its binomial family is for two classes")
    return out, notes


# --------------------------------------------------------------------------- timing
class _FallbackLog(logging.Handler):
    """Remembers whether scikit-learn-intelex fell back to scikit-learn."""

    def __init__(self) -> None:
        super().__init__(logging.INFO)
        self.fell_back = False

    def emit(self, record: logging.LogRecord) -> None:
        if "fallback" in record.getMessage():
            self.fell_back = True


@contextmanager
def _watching_intelex(active: bool) -> Iterator[_FallbackLog]:
    """Catch scikit-learn-intelex's INFO lines, unprinted, while ``active``.

    Only a method's first fit is watched: the logging would otherwise be
    inside the timed fits.
    """
    watch = _FallbackLog()
    logger = logging.getLogger("sklearnex")
    saved = logger.handlers[:], logger.level, logger.propagate
    if active:
        logger.handlers, logger.propagate = [watch], False
        logger.setLevel(logging.INFO)
    try:
        yield watch
    finally:
        logger.handlers, logger.propagate = saved[0], saved[2]
        logger.setLevel(saved[1])


@dataclass
class Timing:
    """Times and last fitted model of one method, or why it failed."""

    method: Method
    times: list[float] = field(default_factory=list)
    model: Any = None
    error: str = ""
    note: str = ""
    once: bool = False

    def fit(self, X: Any, y: np.ndarray) -> float:
        """One fit of a fresh estimator; its wall time in seconds."""
        model = self.method.make()
        with _watching_intelex(self.model is None) as watch:
            start = time.perf_counter()
            model.fit(X, y)
            seconds = time.perf_counter() - start
        if watch.fell_back:
            self.note = " (fell back to scikit-learn)"
        self.model = model
        return seconds


def warm_up(fits: list[Method], w: Workload, rows: int = 1_000) -> None:
    """Fit every method once, untimed, on the first ``rows`` rows of ``w``.

    First calls pay one-off costs that a user pays once per process, not per
    fit: skglm compiles its solver with numba (seconds) for the dtype and
    storage of X, scikit-learn-intelex initializes oneDAL.
    """
    for method in fits:
        try:
            method.make().fit(w.X[:rows], w.y[:rows])
        except Exception:  # the timed fits report it
            pass


def time_interleaved(
    fits: list[Method], X: Any, y: np.ndarray, rounds: int, inner: int
) -> list[Timing]:
    """Fit every method in blocks, round-robin, ``rounds`` times.

    A block starts after a pause of ``HANDOVER_PAUSE`` seconds, then one
    untimed fit (when ``inner > 1``: on small problems numpy's and torch's
    threads spin on after a call, and the next library would pay for it) and
    ``inner`` timed fits. A method that raises is reported with
    its error and left out of later rounds.
    """
    results = [Timing(m) for m in fits]
    for round_ in range(rounds):
        for result in results:
            if result.error or result.once:
                continue
            try:
                time.sleep(HANDOVER_PAUSE)
                if inner > 1:
                    result.fit(X, y)
                result.times += [result.fit(X, y) for _ in range(inner)]
            except Exception as exc:  # a peer's failure is a result, not a crash
                result.error = f"failed: {type(exc).__name__}: {str(exc)[:80]}"
        if round_ == 0 and rounds > 1:
            # A fit 20x slower than the fastest is far from any ratio near 1, and
            # a second and third round of it could take the run hours (glum at
            # tol=1e-10 on float32 data runs to max_iter: float32 floors its gradient).
            fastest = min((r.times[0] for r in results if r.times), default=np.inf)
            for result in results:
                if result.times and result.times[0] > max(SLOW_FACTOR * fastest, 10.0):
                    result.once = True
                    result.note += f" (timed once: over {SLOW_FACTOR}x the fastest fit)"
    return results


# --------------------------------------------------------------------------- reference
def reference(w: Workload, C: float | None = None) -> tuple[float, str]:
    """``F*`` of row ``w`` (at ``C`` if given) and a line saying how it was found."""
    C = w.C if C is None else C
    X64 = w.X.astype(np.float64, copy=False)
    if w.l1_ratio > 0:
        optimizer = "lbfgs"
    elif 8 * w.n_params**2 <= HESSIAN_BUDGET:
        optimizer = "newton"
    else:
        optimizer = "newton-cg"
    start = time.perf_counter()
    ref = NeuronClassifier(
        C=C, l1_ratio=w.l1_ratio, optimizer=optimizer, tol=1e-12, max_iter=100_000
    ).fit(X64, w.y)
    seconds = time.perf_counter() - start
    F_ours = lr_objective(w.X, w.codes, *coefficients(ref), C, w.l1_ratio)
    line = (
        f"F* at C={C:g}: NeuronClassifier(optimizer={optimizer!r}, tol=1e-12) in float64, "
        f"{ref.n_iter_} iterations, {seconds:.2f} s, F = {F_ours:.15g}"
    )
    if not w.check_reference or w.l1_ratio > 0:
        return F_ours, line
    check = LogisticRegression(C=C, solver="newton-cholesky", tol=1e-12, max_iter=1000)
    F_check = lr_objective(w.X, w.codes, *coefficients(check.fit(X64, w.y)), C)
    line += (
        f"; LogisticRegression(newton-cholesky, tol=1e-12): F = {F_check:.15g} "
        f"(relative difference {(F_ours - F_check) / F_check:.1e})"
    )
    return min(F_ours, F_check), line


def gap(w: Workload, model: Any, F_star: float, C: float | None = None) -> float:
    """Relative objective gap ``(F - F*) / F*`` of a fitted model."""
    C = w.C if C is None else C
    return (lr_objective(w.X, w.codes, *coefficients(model), C, w.l1_ratio) - F_star) / F_star


# --------------------------------------------------------------------------- rows
def run_row(w: Workload, rounds: int) -> tuple[list[list[str]], list[str]]:
    """Time and judge every fit of one row; the table's rows and the notes."""
    F_star, ref_line = reference(w)
    notes = [f"{w.name}: {ref_line}"]
    fits = []
    for tight in (False, True):
        more, skipped = methods(w, tight)
        fits += more
        notes += [f"{w.name}: {line}" for line in skipped]
    warm_up(fits, w)
    timings = time_interleaved(fits, w.X, w.y, rounds, w.inner)
    judged = []
    for t in timings:
        if t.error:
            judged.append((t, None, None))
        else:
            judged.append((t, statistics.median(t.times), gap(w, t.model, F_star)))
    peers = [(s, g, t) for t, s, g in judged if s is not None and not t.method.ours]
    rows = []
    for t, seconds, g in judged:
        if seconds is None:
            rows.append([w.name, t.method.label, t.method.tol, "", t.error, ""])
            continue
        ratio = ""
        if t.method.ours:
            at_gap = [(s, p) for s, pg, p in peers if max(pg, GAP_FLOOR) <= max(g, GAP_FLOOR)]
            if at_gap:
                s, p = min(at_gap, key=lambda pair: pair[0])
                ratio = f"{seconds / s:.2f}x ({p.method.label}, tol {p.method.tol})"
            else:
                ratio = "no peer at <= gap"
        rows.append(
            [w.name, t.method.label + t.note, t.method.tol, f"{seconds:.4g}", f"{g:.1e}", ratio]
        )
        print(" | ".join(rows[-1]), flush=True)
    return rows, notes


def run_cv(w: Workload, rounds: int) -> list[list[str]]:
    """NeuronClassifierCV(Cs=10) against LogisticRegressionCV(Cs=10) on row ``w``."""
    cv = StratifiedKFold(5)
    fits = [
        Method(
            "NeuronClassifierCV(Cs=10)",
            "default",
            lambda: NeuronClassifierCV(10, cv=cv, scoring="accuracy"),
            ours=True,
        ),
        Method(
            "LogisticRegressionCV(Cs=10)",
            "default",
            lambda: LogisticRegressionCV(
                Cs=10, cv=cv, scoring="accuracy", l1_ratios=(0.0,), use_legacy_attributes=False
            ),
        ),
    ]
    timings = time_interleaved(fits, w.X, w.y, rounds, 1)
    seconds = {t.method.label: statistics.median(t.times) for t in timings if not t.error}
    rows, optima = [], {}
    for t in timings:
        if t.error:
            rows.append([w.name, t.method.label, "", "", t.error, ""])
            continue
        if t.model.C_ not in optima:
            optima[t.model.C_] = reference(w, C=t.model.C_)[0]
        F_star = optima[t.model.C_]
        ours = seconds.get("NeuronClassifierCV(Cs=10)")
        rows.append(
            [
                w.name,
                t.method.label,
                f"{seconds[t.method.label]:.4g}",
                f"{t.model.C_:.4g}",
                f"{gap(w, t.model, F_star, C=t.model.C_):.1e}",
                "" if ours is None else f"{ours / seconds[t.method.label]:.2f}",
            ]
        )
        print(" | ".join(rows[-1]), flush=True)
    return rows


# --------------------------------------------------------------------------- report
def header_lines() -> list[str]:
    """Machine, threads, versions, date and command of this run."""
    from threadpoolctl import threadpool_info

    pools = ", ".join(
        sorted(
            {
                f"{p['prefix']} ({p['internal_api']}) {p['num_threads']} threads"
                for p in threadpool_info()
            }
        )
    )
    try:  # scikit-learn-intelex runs on oneDAL's own (TBB) threads
        import daal4py

        pools += f", oneDAL {daal4py.num_threads()} threads"
    except ImportError:
        pass
    versions = []
    for dist in ("scikit-learn-intelex", "daal", "glum", "tabmat", "skglm", "scipy"):
        try:
            versions.append(f"{dist} {importlib.metadata.version(dist)}")
        except importlib.metadata.PackageNotFoundError:
            versions.append(f"{dist} not installed")
    return [
        f"Machine: {machine_description()}",
        f"Thread pools: {pools}",
        f"Peers: {'; '.join(versions)}",
        f"Date: {datetime.datetime.now(datetime.timezone.utc):%Y-%m-%d %H:%M} UTC",
        f"Command: python {' '.join(shlex.quote(a) for a in sys.argv)}",
    ] + [f"Skipped peer {name}: {why}" for name, why in MISSING_PEERS.items()]


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--quick", action="store_true", help="smaller synthetic rows and one round (a smoke run)"
    )
    parser.add_argument(
        "--rows", default=",".join(ROWS), help=f"comma-separated rows among {', '.join(ROWS)}"
    )
    parser.add_argument(
        "--repeats",
        type=int,
        default=None,
        help="rounds of interleaved blocks (default 3; --quick: 1)",
    )
    args = parser.parse_args(argv)
    rounds = args.repeats or (1 if args.quick else 3)
    keys = [key.strip() for key in args.rows.split(",") if key.strip()]
    for key in keys:
        if key not in ROWS:
            parser.error(f"unknown row {key!r}; the rows are {', '.join(ROWS)}")
    warnings.simplefilter("ignore", ConvergenceWarning)
    warnings.simplefilter("ignore", FutureWarning)
    warnings.filterwarnings("ignore", module="skglm")
    warnings.filterwarnings("ignore", module="numba")
    header = header_lines()
    print("\n".join(header), flush=True)
    rows, cv_rows, notes = [], [], []
    for key in keys:
        start = time.perf_counter()
        w = workload(key, args.quick)
        more, more_notes = run_row(w, rounds)
        rows += more
        notes += more_notes
        if w.cv:
            cv_rows += run_cv(w, rounds)
        print(f"{key}: {time.perf_counter() - start:.0f} s", flush=True)
    print()
    print("\n".join(header))
    print()
    print(
        markdown_table(
            [
                "workload",
                "fit",
                "tol",
                "time (s)",
                "objective gap",
                "ratio to the fastest peer at <= gap",
            ],
            rows,
        )
    )
    if cv_rows:
        print()
        print(
            markdown_table(
                [
                    "workload",
                    "fit",
                    "time (s)",
                    "C chosen",
                    "objective gap at C",
                    "NeuronClassifierCV / this",
                ],
                cv_rows,
            )
        )
    print()
    print("\n".join(f"- {line}" for line in notes))


if __name__ == "__main__":
    main()
