"""``optimizer="auto"``'s L-BFGS-then-Newton (``_solvers/hybrid.py``, ``cost.SwitchRule``).

Where Newton is predicted fastest but L-BFGS would win on well-conditioned
data, ``"auto"`` runs L-BFGS and hands over to Newton when its measured rate
says Newton finishes first. Checked here: the rule's decisions on gradient
sequences of known rate, which problems try L-BFGS first, and fits on a
well-conditioned and an ill-conditioned problem of the same size, each
against LogisticRegression's objective at its optimum.
"""

import dataclasses
import math

import numpy as np
import pytest
from _benchmarks import import_benchmark
from _datasets import binary_lr_objective
from sklearn.datasets import make_classification
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import log_loss

from sklearn_neuron import NeuronClassifier
from sklearn_neuron._solvers.cost import (
    QUADRATIC_SCALE,
    SWITCH_BUDGET_SHARE,
    SWITCH_MIN_ITERATIONS,
    Problem,
    SwitchRule,
    choose,
    lbfgs_iteration_seconds,
    newton_seconds,
    tries_lbfgs_first,
)

#: A problem where Newton is chosen and L-BFGS tried first (checked below).
PROBLEM = Problem(n_samples=200_000, n_params_per_output=101)
#: The relative objective gap the fits of ``"auto"`` reach at the default tol,
#: at most: as Newton's (both end with a Newton step).
GAP = 1e-9


def _decisions(rule, gradients):
    """The rule's answers along ``gradients`` (the largest entry after iterations 1, 2, ...)."""
    return [rule(it, g) for it, g in enumerate(gradients, start=1)]


def test_the_rule_keeps_a_fast_lbfgs():
    """Gradients falling tenfold an iteration from 0.5 toward tol=1e-4: L-BFGS
    finishes first, no hand-over (within the budget share, checked)."""
    gradients = [0.5 * 10.0**-k for k in range(4)]  # all above tol
    assert len(gradients) > SWITCH_MIN_ITERATIONS
    budget = SWITCH_BUDGET_SHARE * newton_seconds(PROBLEM) / lbfgs_iteration_seconds(PROBLEM)
    assert budget > len(gradients)
    assert not any(_decisions(SwitchRule(PROBLEM, tol=1e-4), gradients))


def test_the_rule_hands_a_slow_lbfgs_to_newton():
    """Gradients falling by 5% an iteration: hundreds of iterations left, handed
    over at the first iteration whose rate is trusted."""
    rule = SwitchRule(PROBLEM, tol=1e-4)
    answers = _decisions(rule, [0.5 * 0.95**k for k in range(10)])
    assert answers.index(True) == SWITCH_MIN_ITERATIONS - 1


def test_the_rule_hands_over_when_the_gradient_grows():
    rule = SwitchRule(PROBLEM, tol=1e-4)
    answers = _decisions(rule, [0.5, 0.2, 0.3, 0.4])
    assert answers == [False, False, True, True]


def test_the_rule_hands_over_once_its_budget_is_spent():
    """Many rows, few features: a Newton iteration costs little more than an
    L-BFGS one, so the budget is a few iterations. The same gradients, falling
    2.5-fold an iteration toward tol=1e-4 from outside Newton's quadratic
    region: L-BFGS's last ~7 iterations are priced below Newton's far-off
    ones, so the rule goes on, except at the first iteration past the
    budget's share of Newton's time, where it hands over whatever the rate says."""
    problem = Problem(n_samples=1_000_000, n_params_per_output=2)
    budget = SWITCH_BUDGET_SHARE * newton_seconds(problem) / lbfgs_iteration_seconds(problem)
    assert SWITCH_MIN_ITERATIONS < budget < 10
    for iteration, expected in [(math.ceil(budget) - 1, False), (math.ceil(budget), True)]:
        rule = SwitchRule(problem, tol=1e-4)
        assert _decisions(rule, [0.5, 0.2]) == [False, False]
        assert rule(iteration, 0.08) is expected


def test_the_rule_hands_over_late_at_a_tight_tol():
    """Gradients falling threefold an iteration: at the default tol L-BFGS
    finishes; at tol=1e-10 it goes on into Newton's quadratic region and hands
    over there (Newton's one or two steps beat L-BFGS's ten more), not early."""
    gradients = [0.5 * 0.3**k for k in range(30)]
    assert not any(_decisions(SwitchRule(PROBLEM, tol=1e-4), [g for g in gradients if g > 1e-4]))
    tight = Problem(n_samples=200_000, n_params_per_output=101, tol=1e-10)
    rule = SwitchRule(tight, tol=1e-10)
    answers = _decisions(rule, [g for g in gradients if g > 1e-10])
    handed = answers.index(True)
    assert handed > SWITCH_MIN_ITERATIONS
    assert gradients[handed] < QUADRATIC_SCALE * gradients[0]
    assert rule.newton_iterations(gradients[handed]) <= 2


def test_a_float32_lbfgs_stage_prices_newton_in_float64():
    """L-BFGS on a float32 copy, Newton on the float64 data
    (``dispatch.float32_stage``): L-BFGS's iterations are priced in float32,
    Newton's and its chord steps in float64, so the cheaper passes keep
    L-BFGS going at least as long as a float64 rule would."""
    wide = Problem(n_samples=200_000, n_params_per_output=101, tol=1e-10)
    narrow = dataclasses.replace(wide, itemsize=4)
    rule = SwitchRule(narrow, tol=1e-10, newton_problem=wide)
    assert rule.hessian_passes == SwitchRule(wide, tol=1e-10).hessian_passes
    gradients = [0.5 * 0.3**k for k in range(30)]
    gradients = [g for g in gradients if g > 1e-10]
    handed = _decisions(rule, gradients).index(True)
    assert handed >= _decisions(SwitchRule(wide, tol=1e-10), gradients).index(True)


def test_newton_iterations_from_a_point():
    """Far from the optimum, the calibrated count; within the quadratic region,
    the squarings of ``g / s`` that reach tol; none at tol."""
    rule = SwitchRule(Problem(n_samples=200_000, n_params_per_output=101, tol=1e-10), tol=1e-10)
    rule(1, 0.5)
    scale = QUADRATIC_SCALE * 0.5
    far = rule.newton_iterations(0.4)
    assert far == rule.newton_iterations(scale)
    # 1e-1 -> 1e-2 -> 1e-4 -> 1e-8 -> 1e-16 of s (1e-8 s = 5e-10 is not yet tol):
    assert far > 4.0 and rule.newton_iterations(scale * 1e-1) == 4.0
    assert rule.newton_iterations(scale * 1e-5) == 1.0  # (1e-5)^2 = 1e-10 of s: below 1e-10 / s
    assert rule.newton_iterations(1e-10) == 0.0


@pytest.mark.parametrize(
    "problem, expected",
    [
        (PROBLEM, True),
        (Problem(n_samples=200_000, n_params_per_output=101, itemsize=4), True),
        (Problem(n_samples=569, n_params_per_output=31), False),  # Newton under 10 ms
    ],
    ids=["200k x 100 float64", "float32", "breast_cancer size"],
)
def test_which_problems_try_lbfgs_first(problem, expected):
    assert choose(problem) == "newton"
    assert tries_lbfgs_first(problem) is expected


def _well_conditioned():
    return make_classification(20_000, 80, random_state=0)


def _ill_conditioned():
    """Columns on scales 1 to 1e-3 with large coefficients on the small ones:
    L-BFGS needs over a hundred iterations, Newton five."""
    rng = np.random.default_rng(0)
    X = rng.standard_normal((20_000, 80)) * np.logspace(0, -3, 80)
    beta = rng.standard_normal(80) * np.logspace(0, 2, 80)
    y = (X @ beta + rng.logistic(size=20_000) > 0).astype(int)
    return X, y


@pytest.mark.parametrize(
    "data, optimizer", [(_well_conditioned, "lbfgs"), (_ill_conditioned, "newton")],
    ids=["well-conditioned", "ill-conditioned"],
)
def test_auto_reaches_the_optimum_by_the_optimizer_the_data_call_for(data, optimizer):
    X, y = data()
    reference = LogisticRegression(solver="newton-cholesky", tol=1e-12, max_iter=100).fit(X, y)
    F_star = binary_lr_objective(reference, X, y)
    model = NeuronClassifier().fit(X, y)
    assert model.optimizer_ == optimizer
    stages = [record["solver"].rsplit("/", 1)[-1] for record in model.history_]
    assert stages[0] == "lbfgs"  # both start as L-BFGS
    if optimizer == "newton":
        handed = stages.index("newton")
        assert set(stages[handed:]) == {"newton"}
        assert model.n_iter_ == len(stages) - 2  # both stages' iteration 0 recorded
    else:
        assert set(stages) == {"lbfgs"}
    assert (binary_lr_objective(model, X, y) - F_star) / F_star <= GAP
    # Repeatable: the rule reads predicted costs, not a clock.
    again = NeuronClassifier().fit(X, y)
    np.testing.assert_array_equal(again.coef_, model.coef_)
    assert again.n_iter_ == model.n_iter_


def test_at_a_tight_tol_auto_hands_over_late_and_evaluates_no_point_twice(monkeypatch):
    """Well-conditioned 20,000 x 100 at tol=1e-10: L-BFGS runs into Newton's
    quadratic region (over half its iterations to the default tol), Newton
    finishes from the gradient L-BFGS handed over (no second evaluation of that
    point), and the fit is at LogisticRegression's optimum to 1e-13."""
    from sklearn_neuron._objective.linear import LinearObjective

    X, y = make_classification(20_000, 100, random_state=0)
    assert tries_lbfgs_first(Problem(len(y), X.shape[1] + 1, tol=1e-10))
    reference = LogisticRegression(solver="newton-cholesky", tol=1e-12, max_iter=100).fit(X, y)
    F_star = binary_lr_objective(reference, X, y)
    points = []
    evaluate = LinearObjective.value_gradient

    def recorded(self, theta, *args, **kwargs):
        points.append(theta.clone())
        return evaluate(self, theta, *args, **kwargs)

    monkeypatch.setattr(LinearObjective, "value_gradient", recorded)
    model = NeuronClassifier(tol=1e-10).fit(X, y)
    stages = [record["solver"].rsplit("/", 1)[-1] for record in model.history_]
    assert model.optimizer_ == "newton" and stages[0] == "lbfgs"
    handed = stages.index("newton") - 1  # L-BFGS's iterations (its iteration 0 recorded)
    assert handed >= 5
    assert model.history_[handed + 1]["grad_max"] < QUADRATIC_SCALE * model.history_[0]["grad_max"]
    assert all(not bool((a == b).all()) for a, b in zip(points[:-1], points[1:], strict=True))
    assert abs(binary_lr_objective(model, X, y) - F_star) / F_star <= 1e-13


def test_explicit_newton_does_not_start_as_lbfgs():
    X, y = _well_conditioned()
    model = NeuronClassifier(optimizer="newton").fit(X, y)
    assert {record["solver"].rsplit("/", 1)[-1] for record in model.history_} == {"newton"}


def test_the_switch_benchmark_runs_and_judges_by_the_objective(capsys):
    """benchmarks/bench_auto_switch.py --quick: every method's row, and its
    objective function is LogisticRegression's (checked on one fit)."""
    bench = import_benchmark("bench_auto_switch")
    X, y = _well_conditioned()
    X, y = X[:2000], y[:2000]
    model = NeuronClassifier(optimizer="newton", tol=1e-10).fit(X, y)
    # LogisticRegression's objective at C=1: the summed log-loss plus ||w||^2 / 2.
    expected = log_loss(y, model.predict_proba(X), normalize=False) + 0.5 * np.sum(model.coef_**2)
    assert bench.objective(model, X, y) == pytest.approx(expected, rel=1e-10)
    bench.main(["--quick"])
    table = capsys.readouterr().out.split("\n\n")[-1]
    rows = [line for line in table.splitlines() if line.startswith("| ") and "---" not in line]
    assert len(rows) == 1 + 3 * len(bench.METHODS)  # header, 3 datasets x methods


def test_a_float32_fit_that_starts_as_lbfgs_is_finished_in_float64():
    """float32 data with tol=1e-6, below float32's floor (1.2e-5): the L-BFGS
    stage ends at that floor and the fit goes on in float64, as every float32
    fit does (to LogisticRegression's float64 optimum within 1e-10)."""
    X, y = _well_conditioned()
    reference = LogisticRegression(solver="newton-cholesky", tol=1e-12, max_iter=100).fit(X, y)
    F_star = binary_lr_objective(reference, X, y)
    assert tries_lbfgs_first(Problem(len(y), X.shape[1] + 1, itemsize=4, tol=1e-6))
    model = NeuronClassifier(tol=1e-6, max_iter=1000).fit(X.astype(np.float32), y)
    stages = [record["solver"] for record in model.history_]
    assert stages[0].endswith("/lbfgs") and stages[-1].endswith("/float64")
    assert model.coef_.dtype == np.float32 and model.converged_
    assert (binary_lr_objective(model, X, y) - F_star) / F_star <= 1e-10
