"""Newton's final step: the exact Hessian's, or the last one's where that cannot matter.

Once ``max|grad| <= tol`` holds, Newton takes one more step, which squares the
distance the stopping rule leaves. At a tight tol the step that met the rule
was itself quadratic, and the Hessian of the point before it serves the final
step as well as the exact one would (``optimizers._reuses_last_hessian``): one
pass over the data fewer. Checked here: the rule's decisions, the Hessians a
fit computes, and that the answer is LogisticRegression's optimum either way.
"""

import numpy as np
import pytest
import torch
from _datasets import binary_lr_objective, classification_dataset
from sklearn.datasets import make_classification
from sklearn.linear_model import LogisticRegression

from sklearn_neuron import NeuronClassifier
from sklearn_neuron._objective.linear import LinearObjective
from sklearn_neuron._solvers.optimizers import _reuses_last_hessian


@pytest.mark.parametrize(
    "grad_max, previous, dtype, expected",
    [
        (6.8e-5, 1.0e-3, torch.float64, False),  # the default tol's last step: rho 0.07
        (9.6e-13, 6.3e-7, torch.float64, True),  # tol=1e-10: rho * grad = 1.5e-18
        (9.6e-13, 6.3e-7, torch.float32, False),  # float32 steps are always exact
        (1e-9, 1e-8, torch.float64, False),  # a linear step: rho = 0.1, 1e-10 above rounding
        (1e-12, 0.0, torch.float64, False),  # no previous gradient to read a contraction from
    ],
)
def test_the_rule_reuses_only_where_the_exact_hessian_buys_nothing(
    grad_max, previous, dtype, expected
):
    assert _reuses_last_hessian(0.13, grad_max, previous, dtype) is expected


def _counted_fit(monkeypatch, X, y, **params):
    """The fitted model and the number of Hessians its fit computed."""
    calls = []
    hessian = LinearObjective.hessian

    def counted(self, *args, **kwargs):
        calls.append(1)
        return hessian(self, *args, **kwargs)

    monkeypatch.setattr(LinearObjective, "hessian", counted)
    model = NeuronClassifier(optimizer="newton", **params).fit(X, y)
    monkeypatch.setattr(LinearObjective, "hessian", hessian)
    return model, len(calls)


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
    # Default tol: one Hessian per iteration, the final step's included.
    assert default_hessians == default.n_iter_
    # tol=1e-10: the final step (the last iteration) reused the one before.
    assert tight_hessians == tight.n_iter_ - 1
    assert abs(binary_lr_objective(tight, X, y) - F_star) / F_star <= 1e-15
    np.testing.assert_allclose(tight.coef_, reference.coef_, rtol=0, atol=1e-9)
    assert tight.history_[-1]["grad_max"] <= 1e-14
