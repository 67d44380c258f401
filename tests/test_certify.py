"""``certify``: its bounds hold against the true gap and distance to a tight
optimum, are tight near it, and read every kind of linear classifier and of data.

The reference optimum is computed here, independently of the code under test:
damped Newton in numpy (a pseudo-inverse across the softmax's constant
directions) to a gradient at rounding level, and for an L1 term L-BFGS-B on
the split ``w = w+ - w-`` followed by Newton on its support with the signs
fixed, accepted only where the KKT conditions hold to 1e-9.
"""

import math

import numpy as np
import pytest
import scipy.sparse as sp
import torch
from hypothesis import assume, example, given, settings
from hypothesis import strategies as st
from scipy.optimize import minimize
from scipy.special import log_expit, logsumexp
from sklearn.datasets import load_breast_cancer, load_iris
from sklearn.linear_model import LogisticRegression, SGDClassifier
from sklearn.preprocessing import StandardScaler

from sklearn_neuron import CertificateResult, NeuronClassifier, certify

#: Rounding allowance on objective values (relative to the objective).
VALUE_RTOL = 1e-12
#: Absolute allowance on distances (the reference optimum's own accuracy).
DISTANCE_ATOL = 1e-9


# -- an independent reference --------------------------------------------------------
def _design(X, fit_intercept):
    return np.hstack([X, np.ones((len(X), 1))]) if fit_intercept else X


def _smooth(theta, Xt, y, s, K, l2, mask, hessian=True):
    """``sum s loss + l2/2 ||w||^2``, gradient and Hessian (theta of shape (K, q))."""
    q = Xt.shape[1]
    W = theta.reshape(K, q)
    if K == 1:
        z = Xt @ W[0]
        value = np.sum(s * (-log_expit(z) * y - log_expit(-z) * (1 - y)))
        p = np.exp(log_expit(z))
        grad = Xt.T @ (s * (p - y))
        hess = Xt.T @ ((s * p * (1 - p))[:, None] * Xt) if hessian else None
    else:
        Z = Xt @ W.T
        lse = logsumexp(Z, axis=1)
        value = np.sum(s * (lse - Z[np.arange(len(y)), y]))
        P = np.exp(Z - lse[:, None])
        Y = np.eye(K)[y]
        grad = ((s[:, None] * (P - Y)).T @ Xt).reshape(-1)
        hess = np.zeros((K * q, K * q))
        for k in range(K if hessian else 0):
            for m in range(K):
                mix = s * (P[:, k] * ((k == m) - P[:, m]))
                hess[k * q : (k + 1) * q, m * q : (m + 1) * q] = Xt.T @ (mix[:, None] * Xt)
    t = theta.reshape(-1)
    value += 0.5 * l2 * np.sum((t * mask) ** 2)
    return value, grad + l2 * t * mask, hess + np.diag(l2 * mask) if hessian else None


def _newton(theta, fun, max_iter=100):
    """Damped Newton with a pseudo-inverse, until the value stops decreasing; a
    last full step is kept where it lowers the gradient (at rounding level)."""
    value, grad, hess = fun(theta)
    for _ in range(max_iter):
        step = -np.linalg.lstsq(hess, grad, rcond=1e-14)[0]
        decrease = -grad @ step
        t = 1.0
        while t > 1e-10:
            new = fun(theta + t * step)
            if new[0] < value - 1e-4 * t * decrease:
                break
            t /= 2
        else:
            new = fun(theta + step)
            if np.linalg.norm(new[1]) < np.linalg.norm(grad):
                theta, (value, grad, hess) = theta + step, new
                continue
            break
        theta, (value, grad, hess) = theta + t * step, new
    return theta, (value, grad, hess)


def reference_optimum(X, y_index, s, K, C, l1_ratio, fit_intercept):
    """``(theta*, F*)`` of LogisticRegression's objective (divided by C), or None."""
    Xt = _design(X, fit_intercept)
    q = Xt.shape[1]
    mask = np.ones((K, q))
    if fit_intercept:
        mask[:, -1] = 0
    mask = mask.reshape(-1)
    l2, l1 = (1 - l1_ratio) / C, l1_ratio / C
    P = K * q

    def smooth(theta, hessian=True):
        return _smooth(theta, Xt, y_index, s, K, l2, mask, hessian)

    if not l1:
        theta, (value, grad, _) = _newton(np.zeros(P), smooth)
        if np.abs(grad).max() > 1e-9 * (1 + s.sum()) or np.abs(theta).max() > 1e3:
            return None
        return theta, value
    pen = mask.astype(bool)

    def split(z):
        plus, minus = z[:P], z[P:]
        theta = plus - minus
        value, grad, _ = smooth(theta, hessian=False)
        value += l1 * np.sum((plus + minus)[pen])
        return value, np.concatenate([grad + l1 * pen, -grad + l1 * pen])

    bounds = [(0, None) if p else (None, None) for p in pen] + [
        (0, None) if p else (0, 0) for p in pen
    ]
    res = minimize(
        split, np.zeros(2 * P), jac=True, method="L-BFGS-B", bounds=bounds,
        options={"maxiter": 2000, "ftol": 1e-15, "gtol": 1e-9},
    )  # fmt: skip
    theta = res.x[:P] - res.x[P:]
    support = ~pen | (np.abs(theta) > 1e-7)
    signs = np.sign(theta) * pen

    def on_support(sub):
        full = np.zeros(P)
        full[support] = sub
        value, grad, hess = smooth(full)
        value += l1 * signs[support] @ sub
        return value, (grad + l1 * signs)[support], hess[np.ix_(support, support)]

    sub, _ = _newton(theta[support], on_support)
    theta = np.zeros(P)
    theta[support] = sub
    value, grad, _ = smooth(theta)
    value += l1 * np.abs(theta[pen]).sum()
    scale = 1 + s.sum()
    kkt_zero = np.abs(grad[~support]) <= l1 + 1e-9 * scale
    kkt_support = np.abs(grad[support] + l1 * signs[support]) <= 1e-9 * scale
    signs_kept = np.all(signs[support & pen] * theta[support & pen] > 0)
    if not (kkt_zero.all() and kkt_support.all() and signs_kept):
        return None
    return theta, value


def _quotient(theta, K, q, fit_intercept, penalized):
    """``theta`` with the softmax's constant directions projected out."""
    if K == 1:
        return theta
    W = theta.reshape(K, q).copy()
    columns = range(q) if not penalized else ([q - 1] if fit_intercept else [])
    for j in columns:
        W[:, j] -= W[:, j].mean()
    return W.reshape(-1)


def _data(seed, n, p, K, weighted):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, p)) * rng.uniform(0.3, 3.0, size=p)
    logits = X @ rng.normal(scale=0.5, size=(p, max(K, 2)))
    proba = np.exp(logits - logsumexp(logits, axis=1, keepdims=True))
    y = np.array([rng.choice(proba.shape[1], p=row) for row in proba])
    y[: proba.shape[1]] = np.arange(proba.shape[1])  # every class present
    s = rng.uniform(0.2, 3.0, size=n) if weighted else np.ones(n)
    return X, y, s, rng


# -- the bounds hold, and are tight near the optimum ----------------------------------
@settings(max_examples=60, deadline=None)
@given(
    seed=st.integers(0, 2**32 - 1),
    n=st.integers(30, 90),
    p=st.integers(1, 4),
    K=st.sampled_from([1, 3]),
    log_C=st.one_of(st.floats(-2, 2), st.just(math.inf)),
    l1_ratio=st.sampled_from([0.0, 0.0, 0.5, 1.0]),
    weighted=st.booleans(),
    fit_intercept=st.booleans(),
    log_distance=st.floats(-7, 0.5),
    start_C=st.sampled_from([1.0, 1.0, 0.2, 5.0]),
)
# Cases found before: logits past 20 (where torch's softplus is linear), a zero
# held at the optimum under a softmax's shift, a zero held off it, a zero whose
# KKT condition a step along the support breaks (the lower bound's L1 step).
@example(2551, 43, 3, 1, 2.0, 0.0, False, True, 0.0, 1.0)
@example(0, 30, 1, 3, 1.0, 0.5, False, False, -2.0, 1.0)
@example(4294967295, 30, 1, 3, 0.25, 0.5, True, False, -2.0, 1.0)
@example(1, 30, 1, 1, 0.0, 0.5, False, False, 0.0, 0.2)
def test_bounds_bracket_the_true_gap(
    seed, n, p, K, log_C, l1_ratio, weighted, fit_intercept, log_distance, start_C
):
    """At points from far (distance ~3) to near (1e-7) the optimum: the gap's
    bounds bracket the true ``F(w) - F*`` (to rounding), the distance bounds
    bracket the true distance, and near the optimum (leverage x Newton
    decrement < 0.1) both gap bounds are within 1.5x of the true gap (the
    issue asks 10x of the upper one). Points start from the optimum at ``C`` or, to
    hold coefficients at zeros that are not the optimum's, at ``start_C * C``."""
    C = 10.0**log_C
    if math.isinf(C):
        l1_ratio = 0.0  # no penalty at all
    X, y, s, rng = _data(seed, n, p, K, weighted)
    reference = reference_optimum(X, y, s, K, C, l1_ratio, fit_intercept)
    assume(reference is not None)
    theta_star, value_star = reference
    start = theta_star
    if start_C != 1.0 and l1_ratio:
        other = reference_optimum(X, y, s, K, C * start_C, l1_ratio, fit_intercept)
        assume(other is not None)
        start = other[0]
    q = p + fit_intercept
    direction = rng.normal(size=theta_star.size)
    pen = np.ones((K, q), dtype=bool)
    if fit_intercept:
        pen[:, -1] = False
    pen = pen.reshape(-1)
    if l1_ratio:
        # Moving an exact zero makes the gap first order in the distance,
        # where no bound from the curvature is tight: stay on the support.
        direction[pen & (start == 0)] = 0
    direction /= max(np.linalg.norm(direction), 1e-300)
    theta = start + 10.0**log_distance * direction
    W = theta.reshape(K, q)
    model = (W[:, :p], W[:, p] if fit_intercept else None)
    result = certify(model, X, y, sample_weight=s, C=C, l1_ratio=l1_ratio)

    scale = C if math.isfinite(C) else 1.0
    Xt = _design(X, fit_intercept)
    mask = pen.astype(float)
    value, _, _ = _smooth(theta, Xt, y, s, K, (1 - l1_ratio) / C, mask)
    value += l1_ratio / C * np.abs(theta[pen]).sum()
    true_gap = (value - value_star) * scale
    allowance = VALUE_RTOL * (1 + abs(value_star) * scale)
    lower, upper = result.objective_gap_bounds
    assert abs(result.objective - value * scale) <= allowance
    assert lower <= true_gap + allowance
    assert upper >= true_gap - allowance
    penalized = l1_ratio > 0 or (1 - l1_ratio) / C > 0
    true_distance = np.linalg.norm(_quotient(theta - theta_star, K, q, fit_intercept, penalized))
    assert result.coef_distance_bound >= true_distance - DISTANCE_ATOL
    assert result.coef_distance_lower <= true_distance + DISTANCE_ATOL
    x = result.leverage * result.newton_decrement
    if x < 0.1 and true_gap > 1e3 * allowance and start is theta_star:
        assert upper <= 1.5 * true_gap
        assert lower >= true_gap / 1.5


def test_tight_near_the_optimum_on_breast_cancer():
    """LogisticRegression stopped at tol=1e-6 on breast_cancer: both gap bounds within
    5% of the gap to a tight fit, and the coefficients proved within 1.1x their true
    distance."""
    X, y = load_breast_cancer(return_X_y=True)
    X = StandardScaler().fit_transform(X)
    ref = LogisticRegression(solver="newton-cholesky", tol=1e-14, max_iter=100).fit(X, y)
    model = LogisticRegression(tol=1e-6, max_iter=10_000).fit(X, y)
    result, exact = certify(model, X, y), certify(ref, X, y)
    gap = result.objective - exact.objective
    lower, upper = result.objective_gap_bounds
    assert gap / 1.05 <= lower <= gap <= upper <= 1.05 * gap
    distance = np.linalg.norm(np.c_[model.coef_ - ref.coef_, model.intercept_ - ref.intercept_])
    assert distance <= result.coef_distance_bound <= 1.1 * distance
    assert exact.coef_distance_bound < 1e-9


# -- verdicts and errors --------------------------------------------------------------
def test_verdicts_in_words():
    X, y = load_iris(return_X_y=True)
    X = StandardScaler().fit_transform(X)
    ref = LogisticRegression(C=2.0, tol=1e-12, max_iter=10_000).fit(X, y)
    near = certify(ref, X, y)
    assert near.is_logistic_regression
    assert near.verdict.startswith(
        "LogisticRegression is logistic regression at C=2 to within "
    ) and near.verdict.endswith(" in coefficients (proved).")
    assert f"to within {near.coef_distance_bound:.2g} " in near.verdict
    far = certify((ref.coef_ + 0.5, ref.intercept_), X, y, C=2.0)
    assert not far.is_logistic_regression
    assert far.verdict.startswith("(coef, intercept) is not logistic regression at C=2: at least ")
    assert far.coef_distance_lower > far.tol
    elastic = certify(ref, X, y, l1_ratio=0.5)
    assert "at C=2, l1_ratio=0.5" in elastic.verdict
    between = math.sqrt(near.coef_distance_lower * near.coef_distance_bound)
    unsure = certify(ref, X, y, tol=between)
    assert (
        f"is not proved to be logistic regression at C=2 to within tol={between:.2g}: between "
        f"{near.coef_distance_lower:.2g} and {near.coef_distance_bound:.2g} from it"
    ) in unsure.verdict
    text = repr(near)
    assert text.startswith("CertificateResult(LogisticRegression is logistic regression")
    assert "<= F(w) - F* <=" in text and "<= ||w - w*|| <=" in text
    assert isinstance(near, CertificateResult)


def test_vacuous_far_away_says_so():
    """Far from the optimum, on raw (unscaled) breast_cancer, nothing is proved
    and the verdict says why; the gap's lower bound still holds."""
    X, y = load_breast_cancer(return_X_y=True)
    ref = LogisticRegression(solver="newton-cholesky", tol=1e-14).fit(X, y)
    result = certify((ref.coef_ * 0.5, ref.intercept_), X, y, C=1.0, tol=1.0)
    assert math.isinf(result.objective_gap_bounds[1]) and math.isinf(result.coef_distance_bound)
    assert "too far from its optimum for the bounds to reach" in result.verdict
    gap = result.objective - certify(ref, X, y).objective
    assert 0 < result.objective_gap_bounds[0] <= gap


def test_errors_say_what_to_do():
    X, y = load_iris(return_X_y=True)
    with pytest.raises(ValueError, match=r"carries no C: pass C=\.\.\."):
        certify((np.zeros(4), 0.0), X, y == 0)
    with pytest.raises(ValueError, match="carries no C"):
        certify(torch.nn.Linear(4, 3), X, y)
    with pytest.raises(TypeError, match="certify takes a fitted linear classifier"):
        certify(SGDClassifier(loss="log_loss"), X, y)


def test_other_errors():
    X, y = load_iris(return_X_y=True)
    with pytest.raises(ValueError, match="one-vs-rest"):
        certify(SGDClassifier(loss="log_loss", max_iter=5, tol=None).fit(X, y), X, y)
    with pytest.raises(ValueError, match="loss='hinge'"):
        certify(SGDClassifier(max_iter=5, tol=None).fit(X, y == 0), X, y == 0)
    with pytest.raises(ValueError, match="so 2 classes, but y has 3"):
        certify((np.zeros(4), 0.0), X, y, C=1.0)
    with pytest.raises(ValueError, match="X has 3 features but the model has 4"):
        certify((np.zeros((3, 4)), np.zeros(3)), X[:, :3], y, C=1.0)
    with pytest.raises(ValueError, match="not among the model's classes"):
        certify(LogisticRegression(max_iter=1000).fit(X, y), X, y + 1)


# -- every kind of model --------------------------------------------------------------
@pytest.fixture(scope="module")
def iris():
    X, y = load_iris(return_X_y=True)
    return StandardScaler().fit_transform(X), y


def _optimum_value(X, y, C, l1_ratio=0.0, s=None, K=None):
    classes, y_index = np.unique(y, return_inverse=True)
    K = (1 if len(classes) == 2 else len(classes)) if K is None else K
    s = np.ones(len(y)) if s is None else s
    _, value = reference_optimum(X, y_index, s, K, C, l1_ratio, True)
    return value * (C if math.isfinite(C) else 1.0)


def _brackets(result, optimum):
    gap = result.objective - optimum
    allowance = VALUE_RTOL * (1 + abs(optimum))
    lower, upper = result.objective_gap_bounds
    return lower <= gap + allowance and gap - allowance <= upper


@pytest.mark.parametrize("binary", [True, False])
def test_neuron_classifier(iris, binary):
    X, y = iris
    y = y == 2 if binary else y
    neuron = NeuronClassifier(C=0.5, optimizer="lbfgs", tol=1e-8, max_iter=500).fit(X, y)
    result = certify(neuron, X, y)
    assert result.C == 0.5 and result.is_logistic_regression
    assert _brackets(result, _optimum_value(X, y, 0.5))


def test_neuron_classifier_class_weight(iris):
    X, y = iris
    s = np.random.default_rng(0).uniform(0.5, 2, size=len(y))
    neuron = NeuronClassifier(class_weight="balanced", optimizer="newton", tol=1e-10)
    neuron.fit(X[:120], y[:120], sample_weight=s[:120])
    result = certify(neuron, X[:120], y[:120], sample_weight=s[:120])
    counts = np.bincount(y[:120], weights=s[:120])
    weights = s[:120] * (s[:120].sum() / (3 * counts))[y[:120]]
    assert _brackets(result, _optimum_value(X[:120], y[:120], 1.0, s=weights))
    assert result.is_logistic_regression


def test_cv_estimators_are_certified_at_the_C_they_chose(iris):
    from sklearn_neuron import NeuronClassifierCV

    X, y = iris
    model = NeuronClassifierCV(Cs=3, cv=3, tol=1e-10).fit(X, y)
    result = certify(model, X, y)
    assert result.C == model.C_ and result.is_logistic_regression
    assert _brackets(result, _optimum_value(X, y, model.C_))


def test_logistic_regression_elastic_net(iris):
    """saga's elastic net: the certificate brackets its gap to the optimum."""
    X, y = iris
    model = LogisticRegression(l1_ratio=0.5, C=0.3, solver="saga", tol=1e-6, max_iter=5000)
    model.fit(X, y)
    result = certify(model, X, y)
    assert result.l1_ratio == 0.5
    assert _brackets(result, _optimum_value(X, y, 0.3, l1_ratio=0.5))
    assert result.coef_distance_bound < 1e-2


def test_sgd_classifier_against_logistic_regression_at_its_C():
    """SGDClassifier's alpha is C = 1 / (alpha n): its certificate brackets its
    gap to LogisticRegression fitted at that C, proves it near that optimum, and
    proves it far (by more than that) from the optima at 4 C and C / 4."""
    X, y = load_breast_cancer(return_X_y=True)
    X = StandardScaler().fit_transform(X)
    alpha = 1e-2
    sgd = SGDClassifier(loss="log_loss", alpha=alpha, max_iter=200, tol=None, random_state=0)
    sgd.fit(X, y)
    C = 1 / (alpha * len(y))
    ref = LogisticRegression(C=C, solver="newton-cholesky", tol=1e-14).fit(X, y)
    result = certify(sgd, X, y)
    assert result.C == pytest.approx(C, rel=1e-15)
    assert _brackets(result, certify(ref, X, y).objective)
    distance = np.linalg.norm(np.c_[sgd.coef_ - ref.coef_, sgd.intercept_ - ref.intercept_])
    assert result.coef_distance_lower <= distance <= result.coef_distance_bound < 0.01
    for other in (4 * C, C / 4):
        assert certify(sgd, X, y, C=other).coef_distance_lower > 10 * result.coef_distance_bound


def test_balanced_class_weight_as_each_model_computes_it(iris):
    """LogisticRegression balances by weighted class counts, SGDClassifier by
    plain counts: a tight LogisticRegression is proved within 1e-8, and SGD's
    long run within 0.01."""
    X, y = iris
    s = np.random.default_rng(0).uniform(0.2, 3, len(y))
    logreg = LogisticRegression(class_weight="balanced", solver="newton-cholesky", tol=1e-12)
    logreg.fit(X, y, sample_weight=s)
    assert certify(logreg, X, y, sample_weight=s).coef_distance_bound < 1e-8
    sgd = SGDClassifier(
        loss="log_loss", class_weight="balanced", alpha=1e-2, max_iter=300, tol=None,
        random_state=0,
    )  # fmt: skip
    sgd.fit(X, y == 1, sample_weight=s)
    assert certify(sgd, X, y == 1, sample_weight=s).coef_distance_bound < 0.01


def test_torch_linear_and_skorch(iris):
    X, y = iris
    ref = LogisticRegression(C=np.inf, solver="newton-cholesky", tol=1e-14).fit(X, y == 1)
    linear = torch.nn.Linear(4, 1).double()
    with torch.no_grad():
        linear.weight.copy_(torch.as_tensor(ref.coef_))
        linear.bias.copy_(torch.as_tensor(ref.intercept_))
    assert certify(linear, X, y == 1, C=np.inf).is_logistic_regression
    assert certify(torch.nn.Sequential(linear), X, y == 1, C=np.inf).is_logistic_regression

    skorch = pytest.importorskip("skorch")
    torch.manual_seed(0)
    net = skorch.NeuralNetClassifier(
        torch.nn.Linear, module__in_features=4, module__out_features=3,
        criterion=torch.nn.CrossEntropyLoss, max_epochs=20, lr=0.1, train_split=None,
        verbose=0,
    )  # fmt: skip
    net.fit(X.astype(np.float32), y)
    result = certify(net, X, y, C=10.0)
    assert _brackets(result, _optimum_value(X, y, 10.0))


# -- every kind of data ----------------------------------------------------------------
def _same(a, b, rtol=1e-10):
    for name in ("objective", "coef_distance_bound", "coef_distance_lower", "leverage"):
        assert getattr(a, name) == pytest.approx(getattr(b, name), rel=rtol)
    assert a.objective_gap_bounds == pytest.approx(b.objective_gap_bounds, rel=rtol)


def test_torch_tensors_and_sparse_matrices(iris):
    X, y = iris
    model = LogisticRegression(tol=1e-4).fit(X, y)
    expected = certify(model, X, y)
    Xt = torch.as_tensor(X, dtype=torch.float32)
    _same(certify(model, Xt, torch.as_tensor(y)), certify(model, Xt.numpy(), y))
    _same(certify(model, torch.as_tensor(X), torch.as_tensor(y)), expected)
    _same(certify(model, sp.csr_matrix(X), y), expected)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_cuda_tensors_give_the_cpu_certificate(iris):
    """Data on CUDA are reduced there (no copy to the host), to the CPU's result."""
    X, y = iris
    model = LogisticRegression(tol=1e-4).fit(X, y)
    expected = certify(model, X, y)
    _same(certify(model, torch.as_tensor(X, device="cuda"), y), expected, rtol=1e-9)
    layer = torch.nn.Linear(4, 3).double().cuda()
    with torch.no_grad():
        layer.weight.copy_(torch.as_tensor(model.coef_))
        layer.bias.copy_(torch.as_tensor(model.intercept_))
    _same(certify(layer, torch.as_tensor(X, device="cuda"), y, C=1.0), expected, rtol=1e-9)


def test_dask_arrays_in_one_reduction(iris):
    """A dask array, reduced chunk by chunk (synchronous scheduler), gives the
    in-memory certificate."""
    da = pytest.importorskip("dask.array")
    import dask

    X, y = iris
    s = np.random.default_rng(1).uniform(0.5, 2, size=len(y))
    model = LogisticRegression(tol=1e-4, class_weight="balanced").fit(X, y, sample_weight=s)
    expected = certify(model, X, y, sample_weight=s)
    with dask.config.set(scheduler="synchronous"):
        result = certify(
            model, da.from_array(X, chunks=(40, 2)), da.from_array(y, chunks=50),
            sample_weight=da.from_array(s, chunks=60),
        )  # fmt: skip
    _same(result, expected)
