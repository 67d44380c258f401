"""Newton's chord steps and its final step: the last exact Hessian reused where it serves.

Once ``max|grad| <= tol`` holds, Newton takes one more step, which squares the
distance the stopping rule leaves. Near the optimum the Hessian of an earlier
point serves nearly as well as the exact one: a step with it (a chord step)
contracts the gradient linearly, at about twice the rate of the exact step
before it. Newton takes chord steps, in its last iterations and in the final
step's place, where they are predicted to carry the gradient to the float64
objective's rounding in no more passes over the data than an exact iteration
costs (``optimizers.chord_steps``, ``optimizers._chord_steps_to_rounding``).
Checked here: the rules' decisions, the Hessians a fit computes, and that the
answer is LogisticRegression's optimum either way.
"""

import math

import numpy as np
import pytest
import torch
from _datasets import binary_lr_objective, classification_dataset
from sklearn.datasets import load_breast_cancer, make_classification
from sklearn.linear_model import LogisticRegression

from sklearn_neuron import NeuronClassifier
from sklearn_neuron._objective.linear import LinearObjective
from sklearn_neuron._solvers.optimizers import (
    CHORD_MAX_RATE,
    CHORD_RATE_FACTOR,
    NewtonFactor,
    _chord_steps_to_rounding,
    _final_steps,
    _Progress,
    chord_rate,
    chord_steps,
    objective_resolution,
)


def test_a_chord_steps_rate_is_read_from_the_step_before():
    # After an exact step: twice its own contraction; after a chord step: its own.
    assert chord_rate(1e-6, 1e-3, chord=False) == pytest.approx(CHORD_RATE_FACTOR * 1e-3)
    assert chord_rate(1e-6, 1e-3, chord=True) == pytest.approx(1e-3)
    assert chord_rate(1e-6, 0.0, chord=False) is None


@pytest.mark.parametrize(
    "grad_max, rate, tol, passes, expected",
    [
        (1e-6, 1e-2, 1e-10, 5.0, 2),  # 1e-6 -> 1e-8 -> 1e-10
        (1e-6, 1e-2, 1e-10, 0.5, None),  # two passes cost more than the Hessian's 0.5 and 1
        (1e-6, 1e-3, 1e-10, 0.5, None),  # 1e-6 -> 1e-9 -> 1e-12: two steps again
        (1e-6, 1e-4, 1e-10, 0.5, 1),  # 1e-6 -> 1e-10: one
        (1e-6, 1e-2, 1e-10, 1.0, 2),  # two passes: as many as the exact iteration
        (1e-6, 0.5, 1e-10, 100.0, None),  # too slow a rate, however cheap the passes
        (1e-11, 1e-2, 1e-10, 1.0, 0),  # already at tol
    ],
)
def test_chord_steps_are_counted_against_the_hessians_passes(grad_max, rate, tol, passes, expected):
    assert chord_steps(grad_max, rate, tol, passes) == expected


def test_chord_steps_follow_the_logarithms():
    for grad_max, rate, tol in [(3e-5, 0.05, 1e-9), (1e-4, 1e-3, 1e-13), (2e-7, 0.09, 1e-12)]:
        steps = chord_steps(grad_max, rate, tol, math.inf)
        assert grad_max * rate**steps <= tol * (1 + 1e-12) < grad_max * rate ** (steps - 1)
    assert chord_steps(1e-5, CHORD_MAX_RATE * 1.01, 1e-10, math.inf) is None


@pytest.mark.parametrize(
    "grad_max, rate, dtype, passes, expected",
    [
        (6.8e-5, 2 * 0.07, torch.float64, 5.0, None),  # the default tol's last step: too slow
        (9.6e-13, 2 * 1.5e-6, torch.float64, None, 1),  # tol=1e-10: one step to rounding
        (9.6e-13, 2 * 1.5e-6, torch.float64, 0.2, 1),  # however cheap the Hessian
        (9.6e-13, 2 * 1.5e-6, torch.float32, 5.0, None),  # float32 steps are always exact
        (1e-9, 0.1, torch.float64, None, None),  # 1e-10 above rounding after one step
        (1e-9, 0.1, torch.float64, 5.0, 5),  # five steps to rounding: a Hessian's passes and one
        (1e-9, 0.1, torch.float64, 3.0, None),  # more than an exact iteration's four
        (1e-12, None, torch.float64, 5.0, None),  # no contraction to read
        (1e-15, 0.05, torch.float64, None, 1),  # at rounding already: still one step
    ],
)
def test_the_final_step_reuses_only_where_the_exact_hessian_buys_nothing(
    grad_max, rate, dtype, passes, expected
):
    f = 0.13
    assert _chord_steps_to_rounding(f, grad_max, rate, dtype, passes) == expected
    if expected:  # the steps reach the float64 objective's rounding
        assert grad_max * rate**expected <= objective_resolution(f, torch.float64)


def _counted(monkeypatch, call):
    """``call()``'s result and the number of Hessians it computed."""
    calls = []
    hessian = LinearObjective.hessian

    def counted(self, *args, **kwargs):
        calls.append(1)
        return hessian(self, *args, **kwargs)

    monkeypatch.setattr(LinearObjective, "hessian", counted)
    try:
        return call(), len(calls)
    finally:
        monkeypatch.setattr(LinearObjective, "hessian", hessian)


def _counted_fit(monkeypatch, X, y, **params):
    """The fitted model and the number of Hessians its fit computed."""
    return _counted(monkeypatch, lambda: NeuronClassifier(optimizer="newton", **params).fit(X, y))


@pytest.mark.parametrize(
    "data",
    [
        lambda: classification_dataset("breast_cancer"),
        lambda: make_classification(20_000, 40, random_state=0),
    ],
    ids=["breast_cancer", "20,000 x 40"],
)
def test_a_tight_fit_saves_the_final_hessian_and_lands_on_the_optimum(monkeypatch, data):
    X, y = data()
    reference = LogisticRegression(solver="newton-cholesky", tol=1e-12, max_iter=100).fit(X, y)
    F_star = binary_lr_objective(reference, X, y)
    tight, tight_hessians = _counted_fit(monkeypatch, X, y, tol=1e-10)
    default, default_hessians = _counted_fit(monkeypatch, X, y)
    # At most one Hessian per iteration, the final step's included.
    assert default_hessians <= default.n_iter_
    # tol=1e-10: the final step (the last iteration) at least reused one before.
    assert tight_hessians <= tight.n_iter_ - 1
    assert abs(binary_lr_objective(tight, X, y) - F_star) / F_star <= 1e-15
    np.testing.assert_allclose(tight.coef_, reference.coef_, rtol=0, atol=1e-9)
    assert tight.history_[-1]["grad_max"] <= objective_resolution(1.0, torch.float64)


def test_chord_steps_finish_a_tight_multinomial_fit_on_the_optimum(monkeypatch):
    """digits, 10 classes, 650 parameters: a Hessian costs many passes, so at
    tol=1e-10 Newton's last iterations reuse one (fewer Hessians than
    iterations by more than the final step) and the fit lands where exact
    Newton steps land, to 1e-10 in the coefficients."""
    X, y = classification_dataset("digits")
    chords, hessians = _counted_fit(monkeypatch, X, y, tol=1e-10)
    assert hessians < chords.n_iter_ - 1
    exact = NeuronClassifier(optimizer="newton", tol=1e-13, max_iter=100)
    monkeypatch.setattr(
        "sklearn_neuron._solvers.dispatch._solver_options", lambda *args: {}
    )  # no hessian_passes: every step exact
    exact.fit(X, y)
    np.testing.assert_allclose(chords.coef_, exact.coef_, rtol=0, atol=1e-10)
    assert chords.history_[-1]["grad_max"] <= 1e-13


@pytest.mark.parametrize("at_rounding", [True, False])
def test_a_refused_chord_step_is_followed_by_an_exact_one_only_above_rounding(
    monkeypatch, at_rounding
):
    """A final chord step that is not kept is followed by one exact step,
    except where the gradient is within one chord contraction of the
    objective's rounding: there it is at its own rounding, and the exact step
    could do no better (breast_cancer at tol=1e-10 ended at 2.5e-14 against a
    rounding of 2.2e-14, and both steps were refused, a Hessian for nothing).
    The chord step is refused here by a Hessian three times too small (the
    step overshoots: the gradient doubles)."""
    X, y = load_breast_cancer(return_X_y=True)
    model = NeuronClassifier(optimizer="newton", tol=1e-13, max_iter=100).fit(X, y)
    objective = model._build_objective(X, y, None, reset=True)
    with torch.inference_mode():
        theta = objective.pack(
            torch.from_numpy(model.coef_), torch.from_numpy(model.intercept_)
        ).reshape(-1)
        if not at_rounding:
            theta = theta + 1e-9 * torch.linspace(-1.0, 1.0, theta.numel(), dtype=theta.dtype)
        f, g, raw = objective.value_gradient(theta)
        f, grad_max = float(f), float(g.abs().max())
        H = objective.hessian(theta, raw)
        resolution = objective_resolution(f, torch.float64)
        assert (CHORD_MAX_RATE * grad_max <= resolution) is at_rounding
        progress = _Progress("newton", 0, f, grad_max)
        steps, hessians = _counted(monkeypatch, lambda: _final_steps(
            objective, theta, f, g, raw, grad_max, 0, progress, 10,
            chords=1, reused=(H, NewtonFactor.of(objective, H / 3)),
        ))
        end, f_end, _, grad_end, it, _ = steps
    if at_rounding:  # refused, and nothing after it
        assert hessians == 0 and it == 0 and torch.equal(end, theta)
    else:  # refused, then the exact step: near the rounding
        assert hessians == 1 and it == 1
        assert grad_end < 1e-3 * grad_max and f_end <= f + resolution
