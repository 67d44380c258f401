"""``optimizer="auto"``'s cost model (``_solvers/cost.py``; issue #37, item 1).

The model predicts each optimizer's time (passes x cost per pass) and picks
the least among those whose memory estimate fits the budget. Tested here: the
budget is never exceeded, the choice follows the problem's shape in the
expected directions, and every choice ``auto`` makes runs and reaches
LogisticRegression's optimum (newton-cholesky, tol=1e-12) to the stated
tolerance.
"""

import itertools
import math
import warnings

import numpy as np
import pytest
from _benchmarks import import_benchmark
from sklearn.datasets import load_breast_cancer, load_digits, make_classification
from sklearn.exceptions import ConvergenceWarning
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import log_loss
from sklearn.preprocessing import StandardScaler

from sklearn_neuron import NeuronClassifier
from sklearn_neuron._solvers import memory
from sklearn_neuron._solvers.cost import (
    FLOAT32_NEWTON_MARGIN,
    LBFGS_FIRST_NEWTON_MARGIN,
    METHODS,
    NEWTON_ANYWAY_SECONDS,
    Problem,
    choose,
    lbfgs_first_seconds,
    newton_seconds,
    peak_bytes,
    predicted_seconds,
    tries_lbfgs_first,
)
from sklearn_neuron._solvers.dispatch import resolve_optimizer

#: Coefficients of an auto fit at tol=1e-10 against LogisticRegression's
#: optimum, relative to the largest coefficient.
RTOL = 1e-5

SHAPES = [
    # (n_samples, features + intercept, outputs, itemsize, stored entries of sparse X)
    (569, 31, 1, 8, None),
    (1797, 65, 10, 8, None),
    (50_000, 101, 1, 8, None),
    (200_000, 101, 1, 8, None),
    (1_000_000, 51, 1, 4, None),
    (100_000, 5001, 1, 8, 2.5e6),
    (20_000, 257, 50, 4, None),
    (100_000, 513, 100, 4, None),
    (1_281_167, 2049, 1000, 4, None),
]


def _problem(shape, tol=1e-4):
    n, q, K, itemsize, nnz = shape
    return Problem(n, q, K, itemsize, nnz, tol=tol)


@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("tol", [1e-4, 1e-10])
def test_auto_never_exceeds_the_memory_budget(shape, tol):
    problem = _problem(shape, tol)
    estimates = sorted(peak_bytes(m, problem) for m in METHODS)
    # Budgets below, between and above the three estimates.
    budgets = [estimates[0] / 2, *(math.sqrt(a * b) for a, b in itertools.pairwise(estimates)),
               2 * estimates[-1]]
    for budget in budgets:
        chosen = choose(problem, budget)
        fitting = [m for m in METHODS if peak_bytes(m, problem) <= budget]
        if fitting:
            assert chosen in fitting
            assert peak_bytes(chosen, problem) <= budget
            fastest = min(predicted_seconds(m, problem) for m in fitting)
            if chosen == "newton" and predicted_seconds(chosen, problem) > fastest:
                # Newton where it is cheap anyway, and in float32 within a margin.
                margin = FLOAT32_NEWTON_MARGIN if problem.itemsize == 4 else 1.0
                assert (predicted_seconds(chosen, problem) <= NEWTON_ANYWAY_SECONDS
                        or predicted_seconds(chosen, problem) <= margin * fastest)
            else:
                assert predicted_seconds(chosen, problem) == fastest
        else:  # nothing fits: the least memory (L-BFGS), as before
            assert chosen == "lbfgs"
        n, q, K, itemsize, nnz = shape
        assert resolve_optimizer(
            "auto", n, q * K, n_outputs=K, itemsize=itemsize, nnz=nnz, tol=tol, budget=budget
        ) == chosen


def test_newton_for_small_problems_and_hessian_free_for_large_ones():
    assert choose(_problem((569, 31, 1, 8, None))) == "newton"  # breast_cancer
    assert choose(_problem((178, 14, 3, 8, None))) == "newton"  # wine
    # 1,000,000 x 50 float32: n p^2 = 2.6e9, beyond the former rule's 2e7.
    assert choose(_problem((1_000_000, 51, 1, 4, None))) == "newton"
    # digits: a 650-wide Hessian over 1,797 rows costs more than Newton-CG's products.
    assert choose(_problem((1797, 65, 10, 8, None))) == "newton-cg"
    # (257 x 50)^2 Hessian entries (0.66 GB in float32), a 12,850-wide Cholesky.
    assert choose(_problem((20_000, 257, 50, 4, None)), math.inf) in {"newton-cg", "lbfgs"}
    assert choose(_problem((100_000, 5001, 1, 8, 2.5e6))) in {"newton-cg", "lbfgs"}
    # ImageNet probe shape: its Hessian (2049 x 1000)^2 would be 16 TB.
    imagenet = _problem((1_281_167, 2049, 1000, 4, None))
    assert choose(imagenet, memory.memory_budget()) in {"newton-cg", "lbfgs"}


@pytest.mark.parametrize("n_samples", [100, 2_000, 50_000, 1_000_000])
@pytest.mark.parametrize("itemsize", [4, 8])
@pytest.mark.parametrize("tol", [1e-4, 1e-10])
@pytest.mark.parametrize("lbfgs_first", [False, True])
def test_more_classes_or_features_never_return_to_newton(n_samples, itemsize, tol, lbfgs_first):
    # At a fixed number of rows, growing the features or the classes never
    # moves the choice from a Hessian-free method back to the dense Hessian.
    features = [2, 5, 10, 30, 64, 100, 200, 300, 500, 1000, 3000]
    classes = [1, 2, 3, 5, 10, 20, 50, 100, 1000]

    def chosen(p, K):
        return choose(Problem(n_samples, p + 1, K, itemsize, tol=tol), lbfgs_first=lbfgs_first)

    for K in classes:
        left_newton = False
        for p in features:
            assert not (left_newton and chosen(p, K) == "newton"), (K, p)
            left_newton = left_newton or chosen(p, K) != "newton"
    for p in features:
        left_newton = False
        for K in classes:
            assert not (left_newton and chosen(p, K) == "newton"), (K, p)
            left_newton = left_newton or chosen(p, K) != "newton"


def test_lbfgs_then_newton_is_priced_against_the_others():
    # 200,000 x 20, 3 classes: L-BFGS-then-Newton took 0.34 s at tol=1e-6,
    # where Newton-CG (chosen on Newton's own price) took 1.3 s, and 0.42 s at
    # the default tol, where L-BFGS took 0.53 s (docs/user_guide.md).
    for tol, alone in ((1e-4, "lbfgs"), (1e-6, "newton-cg")):
        problem = Problem(200_000, 21, 3, tol=tol)
        assert choose(problem) == alone
        assert choose(problem, lbfgs_first=True) == "newton"


@pytest.mark.parametrize("itemsize", [4, 8])
@pytest.mark.parametrize("tol", [1e-4, 1e-6, 1e-10])
def test_lbfgs_first_changes_a_choice_only_to_its_own_fastest_way(itemsize, tol):
    # Where Newton would start as L-BFGS, it is chosen over another optimizer
    # only where that way is predicted fastest and Newton outright within
    # LBFGS_FIRST_NEWTON_MARGIN of the fastest (what the switching rule's
    # fallback costs); in float32 Newton's own margin is the wider, so nothing changes.
    changed = 0
    for n, p, K in itertools.product(
        [500, 5_000, 50_000, 500_000], [5, 20, 60, 200, 500, 2000], [1, 3, 10, 50]
    ):
        problem = Problem(n, p + 1, K, itemsize, tol=tol)
        alone, first = choose(problem), choose(problem, lbfgs_first=True)
        if alone == first:
            continue
        changed += 1
        assert itemsize == 8 and first == "newton" and tries_lbfgs_first(problem)
        best = predicted_seconds(alone, problem)
        assert lbfgs_first_seconds(problem) < best < newton_seconds(problem)
        assert newton_seconds(problem) <= LBFGS_FIRST_NEWTON_MARGIN * best
    assert changed > 0 or itemsize == 4


@pytest.mark.parametrize("lbfgs_first", [False, True])
def test_a_tighter_tol_never_leaves_newton(lbfgs_first):
    # Newton converges quadratically: its iterations barely grow with the
    # digits of tol, L-BFGS's and Newton-CG's grow more.
    for shape in SHAPES + [(200_000, 21, 3, 8, None), (20_000, 501, 1, 8, None)]:
        chosen = [choose(_problem(shape, tol), lbfgs_first=lbfgs_first)
                  for tol in (1e-4, 1e-6, 1e-8, 1e-10, 1e-12)]
        if "newton" in chosen:
            first = chosen.index("newton")
            assert chosen[first:] == ["newton"] * (len(chosen) - first), (shape, chosen)


def _digits():
    X, y = load_digits(return_X_y=True)
    return StandardScaler().fit_transform(X), y


def _cancer():
    X, y = load_breast_cancer(return_X_y=True)
    return StandardScaler().fit_transform(X), y


def _budget_between(objective_bytes, monkeypatch):
    """Set the package's memory share so that the budget is ``objective_bytes``."""
    monkeypatch.setattr(memory, "MEMORY_FRACTION", objective_bytes / memory.available_memory())


@pytest.mark.parametrize("data", [_cancer, _digits], ids=["breast_cancer", "digits"])
@pytest.mark.parametrize("limit", [None, "no-newton", "lbfgs-only"])
def test_every_choice_runs_and_reaches_the_optimum(data, limit, monkeypatch):
    X, y = data()
    n, p = X.shape
    K = 1 if np.unique(y).size == 2 else np.unique(y).size
    problem = Problem(n, p + 1, K, 8, tol=1e-10)
    estimates = {m: peak_bytes(m, problem) for m in METHODS}
    if limit == "no-newton":  # between Newton's estimate and the others'
        _budget_between(math.sqrt(estimates["newton"] * max(
            estimates["newton-cg"], estimates["lbfgs"])), monkeypatch)
    elif limit == "lbfgs-only":  # between L-BFGS's estimate and Newton-CG's
        _budget_between(math.sqrt(estimates["lbfgs"] * estimates["newton-cg"]), monkeypatch)
    expected = choose(problem, memory.memory_budget())
    if limit == "no-newton":
        assert expected != "newton"
    if limit == "lbfgs-only":
        assert expected == "lbfgs"
    with warnings.catch_warnings():
        warnings.simplefilter("error", ConvergenceWarning)
        model = NeuronClassifier(tol=1e-10, max_iter=1000).fit(X, y)
    assert model.optimizer_ == expected
    assert model.converged_
    reference = LogisticRegression(solver="newton-cholesky", tol=1e-12, max_iter=1000).fit(X, y)
    scale = max(1.0, np.max(np.abs(reference.coef_)))
    np.testing.assert_allclose(model.coef_, reference.coef_, rtol=0, atol=RTOL * scale)
    np.testing.assert_allclose(model.intercept_, reference.intercept_, rtol=0, atol=RTOL * scale)


def test_auto_starts_newton_as_lbfgs_where_that_way_is_fastest():
    # 20,000 x 500: L-BFGS and Newton-CG are each predicted faster than Newton,
    # L-BFGS-then-Newton faster still. At the default tol L-BFGS alone stopped
    # 1.5e-4 from the optimum in the coefficients; L-BFGS-then-Newton ends with
    # Newton's step.
    X, y = make_classification(20_000, 500, n_informative=10, random_state=0)
    problem = Problem(len(y), X.shape[1] + 1)
    assert choose(problem) == "lbfgs" and choose(problem, lbfgs_first=True) == "newton"
    model = NeuronClassifier().fit(X, y)
    stages = [record["solver"] for record in model.history_]
    assert stages[0].endswith("/lbfgs") and stages[-1].endswith("/newton")
    assert model.optimizer_ == "newton" and model.converged_
    reference = LogisticRegression(solver="newton-cholesky", tol=1e-12, max_iter=100).fit(X, y)
    scale = np.max(np.abs(reference.coef_))
    np.testing.assert_allclose(model.coef_, reference.coef_, rtol=0, atol=1e-9 * scale)
    # An explicit optimizer is left as asked.
    assert NeuronClassifier(optimizer="lbfgs").fit(X, y).optimizer_ == "lbfgs"


def test_distributed_keeps_its_rule():
    # Dask data: Newton up to 64 parameters or 2e7 multiply-adds, else
    # L-BFGS, whatever the cost model says; where Newton's Hessian does not
    # fit, the cost model chooses among the others, as in memory.
    assert resolve_optimizer("auto", 10**7, 64, distributed=True) == "newton"
    assert resolve_optimizer("auto", 10**7, 200, distributed=True) == "lbfgs"
    assert resolve_optimizer("auto", 100, 200, distributed=True) == "newton"
    assert resolve_optimizer("auto", 10**7, 64, distributed=True, newton_fits=False) == choose(
        Problem(10**7, 64), candidates=("newton-cg", "lbfgs")
    )


@pytest.mark.parametrize("classes", [2, 3])
def test_the_choice_benchmark_judges_by_logistic_regressions_objective(classes):
    """benchmarks/bench_auto_choice.py's objective is LogisticRegression's at
    C=1 (the summed log-loss plus ||W||^2 / 2), binary and multinomial."""
    bench = import_benchmark("bench_auto_choice")
    X, y = make_classification(500, 6, n_informative=4, n_classes=classes, random_state=0)
    model = NeuronClassifier(tol=1e-10).fit(X, y)
    expected = log_loss(y, model.predict_proba(X), normalize=False) + 0.5 * np.sum(model.coef_**2)
    assert bench.objective(model, X, y) == pytest.approx(expected, rel=1e-10)


@pytest.mark.parametrize("options", [[], ["--ill-conditioned"]])
def test_the_choice_benchmark_runs(capsys, options):
    bench = import_benchmark("bench_auto_choice")
    bench.main(["--quick", *options])
    table = capsys.readouterr().out.split("\n\n")[-1]
    rows = [line for line in table.splitlines() if line.startswith("| ") and "---" not in line]
    # header, then 2 datasets x tols x optimizers; auto's rows carry a ratio
    assert len(rows) == 1 + 2 * len(bench.TOLS) * len(bench.OPTIMIZERS)
    assert all("x (" in row or "no named" in row for row in rows if "| auto |" in row)
