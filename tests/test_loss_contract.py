"""One contract, run over every pointwise loss of the package.

As scikit-learn's ``sklearn/_loss/tests/test_loss.py``: the cases are built by
iterating the registries (``CLASSIFICATION_LOSSES`` for two and three classes,
``REGRESSION_LOSSES`` at several Tweedie powers and Huber thresholds) plus
the wrappers of a user's callable, so that a loss added to a registry is
checked without touching this file; :func:`test_every_loss_class_is_covered`
fails for a loss class that no case builds.

What each loss must satisfy, all in float64:

- value, gradient and ``value_gradient`` agree with torch autograd of the
  value (rtol 1e-10) at random raw outputs and valid targets (continuous
  draws, so the kinks of hinge, Huber and absolute error are not hit);
- the Hessian agrees with autograd's (rtol 1e-10) where the loss declares
  ``twice_differentiable`` (a generalized Hessian for squared hinge,
  modified Huber and Huber, exact away from their kinks), and a loss that
  does not declare it refuses ``hessian``;
- ``gradient_hessian`` equals ``gradient`` and ``hessian``;
- for a likelihood, ``baseline_raw`` is the intercept-only optimum (the
  weighted mean gradient there is 0 to 1e-10), and the deviance (the loss
  minus its minimum over raw) is 0 at a perfect prediction;
- ``max_curvature`` bounds the largest eigenvalue of the pointwise Hessian on
  a grid of raw outputs;
- ``self_concordance`` ``nu`` satisfies the pseudo-self-concordance inequality
  the Newton certificate relies on (``_solvers/certificate.py``; Bach 2010):
  ``|D^3 l(z)[t, t, u]| <= nu * max|u| * t' D^2 l(z) t``, with the third
  derivative from autograd along random directions;
- ``shift_invariant`` holds where declared (a common shift of the units
  leaves the loss unchanged), and only there for the registered losses.
"""

from __future__ import annotations

import inspect

import numpy as np
import pytest
import torch

from sklearn_neuron._loss import losses as losses_module
from sklearn_neuron._loss.losses import (
    CLASSIFICATION_LOSSES,
    REGRESSION_LOSSES,
    NeuronLoss,
    get_classification_loss,
    get_regression_loss,
)
from sklearn_neuron._loss.targets import encode_classes, in_target_domain

RTOL = 1e-10
#: Tweedie powers: negative, the normal (0), Poisson (1), compound Poisson-Gamma,
#: Gamma (2) and beyond; the other regression losses ignore them.
POWERS = (-1.0, 0.0, 1.0, 1.5, 2.0, 3.0)
EPSILONS = (0.5, 1.35)
N = 64


def _cases() -> list:
    """One ``pytest.param((kind, loss))`` per distinct loss the registries build."""
    cases, seen = [], set()

    def add(kind, loss, name):
        key = (kind, repr(loss), loss.name)
        if key not in seen:
            seen.add(key)
            cases.append(pytest.param((kind, loss), id=f"{kind}-{name}-{loss!r}"))

    for name, factory in CLASSIFICATION_LOSSES.items():
        for n_classes in (2, 3):
            add("classification", factory(n_classes), name)
    for name, factory in REGRESSION_LOSSES.items():
        for power in POWERS:
            for epsilon in EPSILONS:
                add("regression", factory(power, epsilon), name)
    # A user's callable, differentiated by autograd.
    add("classification", get_classification_loss(
        torch.nn.BCEWithLogitsLoss(reduction="none"), 2), "callable")
    add("classification", get_classification_loss(
        torch.nn.CrossEntropyLoss(reduction="none"), 3), "callable")
    add("regression", get_regression_loss(torch.nn.MSELoss(reduction="none")), "callable")
    return cases


CASES = _cases()


def _n_classes(loss: NeuronLoss) -> int:
    return 2 if loss.n_outputs == 1 else loss.n_outputs


def _targets(kind: str, loss: NeuronLoss, n: int, rng: np.random.Generator) -> torch.Tensor:
    """Valid targets: encoded classes, or y drawn inside the loss's declared domain."""
    if kind == "classification":
        k = _n_classes(loss)
        return encode_classes(rng.integers(0, k, n), k, torch.float64, "cpu")
    domain = loss.target_domain
    if domain.low == -np.inf:
        y = rng.normal(0.0, 2.0, n)
    else:
        y = domain.low + rng.gamma(2.0, 1.0, n)
        if domain.closed:
            y[: n // 4] = domain.low  # the boundary itself (zero counts)
    assert in_target_domain(domain, y)
    return torch.as_tensor(y, dtype=torch.float64).reshape(-1, 1)


def _raw(loss: NeuronLoss, n: int, rng: np.random.Generator, scale: float = 2.0):
    return torch.as_tensor(rng.normal(0.0, scale, (n, loss.n_outputs)), dtype=torch.float64)


def _autograd_derivatives(loss, raw, target, *, second: bool):
    """Per-sample gradient (n, K) and, with ``second``, Hessian (n, K, K) by autograd."""
    leaf = raw.detach().clone().requires_grad_(True)
    with torch.enable_grad():
        (grad,) = torch.autograd.grad(loss.value(leaf, target).sum(), leaf, create_graph=second)
        if not second:
            return grad.detach(), None
        # Rows are independent: differentiating the sum of column k of the
        # gradient gives row i's Hessian row k at row i.
        rows = [
            torch.autograd.grad(grad[:, k].sum(), leaf, retain_graph=True)[0]
            for k in range(raw.shape[1])
        ]
    return grad.detach(), torch.stack(rows, dim=1)


def _setup(case, seed=0, n=N):
    kind, loss = case
    rng = np.random.default_rng(seed)
    return kind, loss, rng, _raw(loss, n, rng), _targets(kind, loss, n, rng)


def test_the_registries_are_not_empty():
    assert CLASSIFICATION_LOSSES and REGRESSION_LOSSES
    assert len(CASES) >= len(CLASSIFICATION_LOSSES) + len(REGRESSION_LOSSES)


def test_every_loss_class_is_covered():
    """Every concrete loss class of ``_loss/losses.py`` is built by some case."""
    def subclasses(cls):
        for sub in cls.__subclasses__():
            yield sub
            yield from subclasses(sub)

    defined = {
        cls for cls in subclasses(NeuronLoss)
        if cls.__module__ == losses_module.__name__ and not inspect.isabstract(cls)
    }
    covered = {type(case.values[0][1]) for case in CASES}
    assert defined, "no loss class found"
    missing = sorted(cls.__name__ for cls in defined - covered)
    assert not missing, f"losses that no case checks: {missing}"


@pytest.mark.parametrize("case", CASES)
def test_value_and_gradient_match_autograd(case):
    _, loss, _, raw, target = _setup(case)
    value = loss.value(raw, target)
    assert value.shape == (N,) and value.dtype == torch.float64
    auto_grad, _ = _autograd_derivatives(loss, raw, target, second=False)
    both_value, both_grad = loss.value_gradient(raw, target)
    np.testing.assert_allclose(both_value, value, rtol=RTOL, atol=1e-14)
    np.testing.assert_allclose(both_grad, auto_grad, rtol=RTOL, atol=1e-14)
    np.testing.assert_allclose(loss.gradient(raw, target), auto_grad, rtol=RTOL, atol=1e-14)


@pytest.mark.parametrize("case", CASES)
def test_float32_stays_float32(case):
    """The losses compute in the dtype they are given (float32 fits stay float32)."""
    _, loss, _, raw, target = _setup(case, seed=8)
    raw, target = raw.float(), target.float()
    value, grad = loss.value_gradient(raw, target)
    assert value.dtype == grad.dtype == torch.float32
    if loss.twice_differentiable:
        assert loss.hessian(raw, target).dtype == torch.float32
    weight = torch.full((N,), 1.0 / N)
    assert loss.baseline_raw(target, weight).dtype == torch.float32


@pytest.mark.parametrize("case", CASES)
def test_hessian_matches_autograd_or_is_refused(case):
    _, loss, _, raw, target = _setup(case)
    if not loss.twice_differentiable:
        with pytest.raises(NotImplementedError):
            loss.hessian(raw, target)
        return
    _, auto_hessian = _autograd_derivatives(loss, raw, target, second=True)
    hessian = loss.hessian(raw, target)
    K = loss.n_outputs
    assert hessian.shape == (N, K, K)
    np.testing.assert_allclose(hessian, auto_hessian, rtol=RTOL, atol=1e-14)


@pytest.mark.parametrize("case", CASES)
def test_gradient_hessian_equals_its_parts(case):
    _, loss, _, raw, target = _setup(case, seed=1)
    if not loss.twice_differentiable:
        pytest.skip(f"{loss!r} declares no Hessian")
    grad, hessian = loss.gradient_hessian(raw, target)
    np.testing.assert_allclose(grad, loss.gradient(raw, target), rtol=1e-14, atol=0)
    np.testing.assert_allclose(hessian, loss.hessian(raw, target), rtol=1e-14, atol=0)


@pytest.mark.parametrize("case", CASES)
def test_baseline_is_the_intercept_only_optimum(case):
    kind, loss, rng, _, target = _setup(case, seed=2)
    weight = torch.as_tensor(rng.uniform(0.1, 2.0, N), dtype=torch.float64)
    weight = weight / weight.sum()
    baseline = loss.baseline_raw(target, weight)
    assert baseline.shape == (loss.n_outputs,) and bool(torch.isfinite(baseline).all())
    if not loss.is_log_likelihood:
        return  # a good start, not declared optimal (e.g. Huber's median)
    raw = baseline.expand(N, loss.n_outputs)
    mean_gradient = weight @ loss.gradient(raw, target)
    np.testing.assert_allclose(mean_gradient, 0.0, atol=1e-10)


@pytest.mark.parametrize("case", CASES)
def test_zero_deviance_at_a_perfect_prediction(case):
    kind, loss, rng, raw, target = _setup(case, seed=3)
    if not loss.is_log_likelihood:
        pytest.skip(f"{loss!r} is not a likelihood")
    if kind == "classification":
        # The perfect probability 0 or 1 is at raw = -inf or +inf: come within delta.
        delta = 1e-13
        prediction = target * (1 - 2 * delta) + delta if loss.n_outputs == 1 else (
            target * (1 - delta) + delta / loss.n_outputs
        )
        perfect = loss.activation.link(prediction)
        floor, atol = 0.0, 10 * delta  # the infimum of the loss over raw is 0
    else:
        target = torch.as_tensor(rng.uniform(0.5, 3.0, (N, 1)), dtype=torch.float64)
        perfect = loss.activation.link(target)
        floor, atol = 0.0, 1e-12
        np.testing.assert_allclose(loss.gradient(perfect, target), 0.0, atol=1e-12)
    np.testing.assert_allclose(loss.value(perfect, target), floor, atol=atol)
    # ... and it is the minimum: any other raw output does no better.
    assert bool((loss.value(raw, target) >= loss.value(perfect, target) - 1e-12).all())


def _raw_grid(loss: NeuronLoss, rng: np.random.Generator) -> torch.Tensor:
    if loss.n_outputs == 1:
        return torch.linspace(-30.0, 30.0, 4001, dtype=torch.float64).reshape(-1, 1)
    scales = np.repeat([0.1, 1.0, 3.0, 10.0, 30.0], 400)[:, None]
    return torch.as_tensor(rng.normal(size=(scales.size, loss.n_outputs)) * scales)


@pytest.mark.parametrize("case", CASES)
def test_max_curvature_bounds_the_hessian(case):
    kind, loss, rng, _, _ = _setup(case, seed=4)
    if loss.max_curvature is None:
        pytest.skip(f"{loss!r} declares no curvature bound")
    assert loss.twice_differentiable
    raw = _raw_grid(loss, rng)
    n = raw.shape[0]
    if kind == "classification":
        targets = [encode_classes(np.full(n, c), _n_classes(loss), torch.float64, "cpu")
                   for c in range(_n_classes(loss))]
    else:  # residuals over the whole grid: targets near and far from it
        targets = [_targets(kind, loss, n, rng) * s for s in (0.0, 1.0, 10.0)]
    largest = max(float(torch.linalg.eigvalsh(loss.hessian(raw, t)).max()) for t in targets)
    assert largest <= loss.max_curvature * (1 + 1e-12)


@pytest.mark.parametrize("case", CASES)
def test_pseudo_self_concordance(case):
    kind, loss, rng, _, _ = _setup(case, seed=5)
    nu = loss.self_concordance
    if nu is None:
        pytest.skip(f"{loss!r} declares no self-concordance constant")
    assert loss.twice_differentiable
    n = 2000
    raw = _raw(loss, n, rng, scale=4.0).requires_grad_(True)
    target = _targets(kind, loss, n, rng)
    t = torch.as_tensor(rng.normal(size=raw.shape))
    u = torch.as_tensor(rng.normal(size=raw.shape))
    with torch.enable_grad():
        (grad,) = torch.autograd.grad(loss.value(raw, target).sum(), raw, create_graph=True)
        (hessian_t,) = torch.autograd.grad((grad * t).sum(), raw, create_graph=True)
        curvature = (hessian_t * t).sum(dim=1)  # t' D^2 l t, per row
        (third,) = torch.autograd.grad(curvature.sum(), raw)  # D^3 l[t, t, .]
    lhs = (third * u).sum(dim=1).abs()
    rhs = nu * u.abs().amax(dim=1) * curvature.detach()
    assert bool((lhs <= rhs * (1 + 1e-10) + 1e-15).all())
    if nu > 0:  # the bound is not vacuous: some rows come near it
        assert float((lhs / rhs).max()) > 0.3 * nu


@pytest.mark.parametrize("case", CASES)
def test_shift_invariance_is_declared(case):
    kind, loss, rng, raw, target = _setup(case, seed=6)
    shifted = raw + torch.as_tensor(rng.normal(0.0, 3.0, (N, 1)))
    invariant = torch.allclose(loss.value(shifted, target), loss.value(raw, target),
                               rtol=1e-12, atol=1e-12)
    if loss.shift_invariant:
        assert invariant
    elif not loss.uses_autograd:  # a user's callable may be invariant unknowingly
        assert not invariant


@pytest.mark.parametrize("case", CASES)
def test_declared_flags_are_consistent(case):
    kind, loss, _, _, _ = _setup(case, seed=7)
    assert isinstance(loss.name, str) and loss.name
    assert loss.activation(torch.zeros(1, loss.n_outputs, dtype=torch.float64)).shape == (
        1, loss.n_outputs)
    if loss.is_log_likelihood or loss.self_concordance is not None:
        assert loss.twice_differentiable
    if loss.uses_autograd:
        assert not loss.twice_differentiable  # Newton needs an analytic Hessian
    if kind == "regression":
        assert loss.n_outputs == 1
