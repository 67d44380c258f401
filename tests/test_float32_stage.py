"""float64 data, a float32 first stage (``_solvers.dispatch.float32_stage``).

An ``optimizer="auto"`` fit of large dense float64 data at a ``tol`` tighter
than the default runs its L-BFGS iterations on a float32 copy, and then goes
on in float64: Newton's steps after a hand-over run on the float64 data (the
first with the copy's Hessian), and a float32 stage that met its tolerance is
followed by a float64 stage whose Newton steps start as chord steps with the
float32 stage's last Hessian. The answer must meet the stopping rule in
float64, as a fit in float64 throughout does, and be as close to the optimum.

The stage engages from ``FLOAT32_STAGE_MIN_ENTRIES`` entries; these tests
lower that bound so that small data take the same code paths, each path
named by the stages the fit's ``history_`` records. References: scikit-learn's
LogisticRegression (newton-cholesky, tol=1e-12) on the same float64 data, and
the same fit with the float32 stage off.
"""

import warnings

import numpy as np
import pytest
import scipy.sparse
import torch
from _benchmarks import import_benchmark
from scipy.special import logsumexp
from sklearn.datasets import make_classification
from sklearn.exceptions import ConvergenceWarning
from sklearn.linear_model import LogisticRegression

from sklearn_neuron import NeuronClassifier
from sklearn_neuron._loss.losses import BinaryLogLoss, SquaredHingeLoss
from sklearn_neuron._objective.linear import LinearObjective
from sklearn_neuron._solvers import dispatch
from sklearn_neuron._solvers.dispatch import SolverSettings, float32_stage
from sklearn_neuron._solvers.optimizers import newton

#: The relative objective gap to LogisticRegression's optimum asked of a
#: tol=1e-10 fit, with or without the float32 stage.
GAP = 1e-12

#: The paths through the stages, each by its data, its tol and the stages it
#: records: L-BFGS handing over to Newton (Newton on the float64 data, its
#: first step with the copy's Hessian); L-BFGS meeting tol in float32 with its
#: final Newton step (then float64 Newton from that Hessian); and without one
#: (then float64 L-BFGS). Where ``"auto"`` picks Newton outright, no stage.
HANDED_OVER = dict(n_samples=50000, n_features=20, n_informative=10)
#: A tol tighter than the default (which takes no stage: its fit keeps its
#: extra memory within LogisticRegression's) and looser than float32's floor
#: (1.2e-5), so that the float32 stage meets it.
LOOSE = 5e-5
FINAL_STEP = dict(n_samples=8000, n_features=100, n_informative=2)
LBFGS32, NEWTON = "NeuronClassifier/lbfgs/float32", "NeuronClassifier/newton"
PATHS = {
    "handed-over": (HANDED_OVER, 1e-10, {LBFGS32, NEWTON}),
    "handed-over-loose-tol": (HANDED_OVER, LOOSE, {LBFGS32, NEWTON}),
    "lbfgs-final-step": (FINAL_STEP, 1e-10, {LBFGS32, "NeuronClassifier/newton/float64"}),
    "lbfgs-final-step-loose-tol": (
        FINAL_STEP, LOOSE, {LBFGS32, "NeuronClassifier/newton/float64"}
    ),
    "lbfgs-loose-tol": (
        dict(n_samples=20000, n_features=200, n_informative=2), LOOSE,
        {LBFGS32, "NeuronClassifier/lbfgs/float64"},
    ),
    "newton-outright": (
        dict(n_samples=2000, n_features=20, n_informative=10, n_classes=3), 1e-10, {NEWTON}
    ),
}


def _lr_objective(model, X, y, weight):
    """LogisticRegression's objective at C=1 of a fitted model, in float64."""
    raw = X @ np.asarray(model.coef_, dtype=np.float64).T + model.intercept_
    if raw.shape[1] == 1:
        sign = np.where(y == model.classes_[1], 1.0, -1.0)
        loss = np.logaddexp(0.0, -sign * raw[:, 0])
    else:
        loss = logsumexp(raw, axis=1) - raw[np.arange(y.size), np.searchsorted(model.classes_, y)]
    return weight @ loss + 0.5 * np.sum(np.asarray(model.coef_, dtype=np.float64) ** 2)


@pytest.fixture
def stage_on(monkeypatch):
    """The float32 stage engaged on small data (its size bound lowered)."""
    monkeypatch.setattr(dispatch, "FLOAT32_STAGE_MIN_ENTRIES", 0)


def _stages(model):
    return {record["solver"] for record in model.history_}


def _data(path):
    X, y = make_classification(**PATHS[path][0], random_state=0)
    weight = np.random.default_rng(0).uniform(0.5, 2.0, y.size)
    return X, y, weight


@pytest.mark.parametrize("path", PATHS)
def test_the_staged_fit_meets_the_stopping_rule_in_float64(stage_on, monkeypatch, path):
    X, y, weight = _data(path)
    _, tol, stages = PATHS[path]
    X_before = X.copy()
    model = NeuronClassifier(tol=tol).fit(X, y, sample_weight=weight)
    assert _stages(model) == stages  # the path this case is named for
    assert model.converged_ and model.coef_.dtype == np.float64
    np.testing.assert_array_equal(X, X_before)  # the data are copied, not cast in place
    # The same fit in float64 throughout.
    monkeypatch.setattr(dispatch, "FLOAT32_STAGE_MIN_ENTRIES", np.inf)
    plain = NeuronClassifier(tol=tol).fit(X, y, sample_weight=weight)
    assert not any(stage.endswith(("/float32", "/float64")) for stage in _stages(plain))
    reference = LogisticRegression(solver="newton-cholesky", tol=1e-12, max_iter=100)
    best = _lr_objective(reference.fit(X, y, sample_weight=weight), X, y, weight)
    gaps = [(_lr_objective(m, X, y, weight) - best) / best for m in (model, plain)]
    if tol == 1e-10:
        assert max(gaps) <= GAP, gaps
        np.testing.assert_allclose(model.coef_, plain.coef_, rtol=0, atol=1e-7)
        # objective_ is the float64 objective's (the curve's last value).
        assert model.objective_ == pytest.approx(plain.objective_, rel=1e-12)
    else:
        # Both meet max|grad| <= tol in float64, and the staged fit is as
        # close to the optimum (its float32 stage ended with a Newton step, or
        # as L-BFGS whose float64 stage checks the gradient again).
        assert gaps[0] <= max(2.0 * gaps[1], 1e-13), gaps


def test_a_stage_stopped_at_max_iter_warns_and_reports_float64(stage_on):
    X, y, weight = _data("lbfgs-loose-tol")
    with pytest.warns(ConvergenceWarning, match="max_iter"):
        model = NeuronClassifier(tol=LOOSE, max_iter=3).fit(X, y, sample_weight=weight)
    assert model.n_iter_ == 3 and not model.converged_
    assert model.coef_.dtype == np.float64
    # The objective reported is the float64 objective at the coefficients
    # (LogisticRegression's divided by the weight sum, C=1).
    expected = _lr_objective(model, X, y, weight) / weight.sum()
    assert model.objective_ == pytest.approx(expected, rel=1e-12)


def test_a_callback_that_stops_the_float32_stage_ends_the_fit(stage_on):
    X, y, weight = _data("lbfgs-loose-tol")
    model = NeuronClassifier(tol=LOOSE, callbacks=[lambda info: info["iteration"] == 2])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        model.fit(X, y, sample_weight=weight)
    assert model.n_iter_ == 2 and not model.converged_
    assert _stages(model) == {LBFGS32}  # no float64 stage ran
    expected = _lr_objective(model, X, y, weight) / weight.sum()
    assert model.objective_ == pytest.approx(expected, rel=1e-12)


def _objective(X, loss=None, l1=0.0, n_outputs=1):
    X = torch.as_tensor(X)
    loss = BinaryLogLoss() if loss is None else loss
    target = torch.zeros(X.shape[0], n_outputs, dtype=X.dtype if not X.is_sparse else torch.float64)
    target[::2] = 1.0
    weight = torch.ones(1, dtype=target.dtype).expand(X.shape[0])  # no weights given
    return LinearObjective(X, target, weight, loss, 1e-3, True, l1=l1)


@pytest.mark.filterwarnings("ignore:Sparse CSR tensor support is in beta")
def test_the_stage_engages_only_where_it_is_meant_to(monkeypatch):
    rng = np.random.default_rng(0)
    X = rng.standard_normal((4096, 512))  # 2**21 entries, 512 features
    auto = SolverSettings(tol=1e-6)
    objective = _objective(X)
    narrow = float32_stage(objective, auto, "newton", True)
    assert narrow is not None and narrow.dtype == torch.float32
    assert torch.equal(narrow.X, objective.X.to(torch.float32))
    assert narrow.weight.stride(0) == 0  # equal weights stay one number
    assert float32_stage(objective, auto, "lbfgs", False) is not None
    # Not at the default tol, whose fit needs no more memory than LogisticRegression's.
    assert float32_stage(objective, SolverSettings(), "lbfgs", False) is None
    # Not where the optimizer was asked for, for Newton picked outright (its
    # float32 Hessians damp ill-conditioned steps), nor for Newton-CG's products.
    explicit = SolverSettings(optimizer="lbfgs", tol=1e-6)
    assert float32_stage(objective, explicit, "lbfgs", False) is None
    assert float32_stage(objective, auto, "newton", False) is None
    assert float32_stage(objective, auto, "newton-cg", False) is None
    # Not below the size bound (entries or features), nor for float32 data.
    assert float32_stage(_objective(X[:-1]), auto, "newton", True) is None
    assert float32_stage(_objective(np.tile(X[:, :15], (35, 1))), auto, "newton", True) is None
    assert float32_stage(_objective(X.astype(np.float32)), auto, "newton", True) is None
    # Not for sparse data, an L1 term, or a loss other than the log loss.
    sparse = torch.as_tensor(X).to_sparse_csr()
    assert float32_stage(_objective(sparse), auto, "lbfgs", True) is None
    assert float32_stage(_objective(X, l1=1e-3), auto, "lbfgs", True) is None
    assert float32_stage(_objective(X, SquaredHingeLoss(2)), auto, "newton", True) is None
    # Not where the float32 copy would exceed the memory budget.
    monkeypatch.setattr(dispatch, "memory_budget", lambda device=None: 1e6)
    assert float32_stage(objective, auto, "newton", True) is None


def test_newton_from_another_precisions_hessian_reaches_the_optimum():
    rng = np.random.default_rng(1)
    X = rng.standard_normal((3000, 8)) * np.logspace(-1, 1, 8)
    objective = _objective(X)
    theta0 = objective.initial_theta()
    exact = newton(objective, theta0, tol=1e-12, max_iter=50, hessian_passes=4.0)
    near = exact.theta + 1e-3 * torch.as_tensor(rng.standard_normal(exact.theta.shape))
    for hessian in (
        objective.astype(torch.float32).hessian(near.float()).double(),  # float32's, nearby
        10.0 * objective.hessian(near),  # far off: steps too short by 10x
    ):
        result = newton(
            objective, near, tol=1e-12, max_iter=50, hessian_passes=4.0, hessian=hessian
        )
        assert result.converged
        torch.testing.assert_close(result.theta, exact.theta, rtol=0, atol=1e-9)
    # From a point that meets tol, one final step with the given Hessian.
    result = newton(
        objective, exact.theta, tol=1e-6, max_iter=50, hessian_passes=4.0,
        hessian=objective.hessian(exact.theta),
    )
    assert result.n_iter <= 1 and result.converged
    assert result.hessian is not None
    # A final chord step that does not contract (its Hessian 10x off) is
    # followed by an exact one: the answer is the exact final step's.
    close = exact.theta + 1e-8 * torch.as_tensor(rng.standard_normal(exact.theta.shape))
    result = newton(
        objective, close, tol=1e-6, max_iter=50, hessian_passes=4.0,
        hessian=10.0 * objective.hessian(close),
    )
    assert result.n_iter == 2 and result.grad_max <= 1e-14
    torch.testing.assert_close(result.theta, exact.theta, rtol=0, atol=1e-12)


def test_sparse_float64_data_are_fitted_in_float64(stage_on):
    X, y = make_classification(3000, 40, random_state=0)
    X[np.abs(X) < 1.0] = 0.0
    model = NeuronClassifier(tol=1e-10).fit(scipy.sparse.csr_matrix(X), y)
    assert not any(stage.endswith("/float64") for stage in _stages(model))


def test_the_stage_benchmark_runs_and_restores_the_bounds(capsys):
    """benchmarks/bench_float32_stage.py --quick: a row per case, the same
    answer on and off at tol=1e-10, and the size bounds as they were."""
    bench = import_benchmark("bench_float32_stage")
    bounds = dispatch.FLOAT32_STAGE_MIN_ENTRIES, dispatch.FLOAT32_STAGE_MIN_FEATURES
    bench.main(["--quick"])
    assert (dispatch.FLOAT32_STAGE_MIN_ENTRIES, dispatch.FLOAT32_STAGE_MIN_FEATURES) == bounds
    table = capsys.readouterr().out.split("\n\n")[-1]
    rows = [line.split(" | ") for line in table.splitlines() if line.startswith("| 30,000")]
    assert len(rows) == len(bench.QUICK_CASES)
    tight = next(row for row in rows if row[2] == "1e-10")
    assert float(tight[-1].rstrip(" |")) <= 1e-6


@pytest.mark.parametrize(
    "params",
    [
        dict(class_weight="balanced"),
        dict(fit_intercept=False),
        dict(C=1e4),
        dict(warm_start=True),
    ],
    ids=["balanced-and-weights", "no-intercept", "weak-penalty", "warm-start"],
)
def test_the_stage_crossed_with_other_options(stage_on, monkeypatch, params):
    """Each option as it crosses the stage: the same float64 answer as the
    fit in float64 throughout (3 classes, sample weights, tol=1e-10)."""
    # No redundant features, so the optimum is well determined; at C=1e4 its
    # smallest curvature lies below float32's rounding of the largest, where
    # the float32 stage's Hessian cannot finish (an exact final step does).
    X, y = make_classification(
        20000, 20, n_informative=10, n_redundant=0, n_classes=3, weights=[0.6, 0.3],
        random_state=0,
    )
    weight = np.random.default_rng(0).uniform(0.5, 2.0, y.size)
    staged = NeuronClassifier(tol=1e-10, **params)
    if params.get("warm_start"):
        staged.set_params(C=0.1).fit(X, y, sample_weight=weight)  # a refit starts from here
        staged.set_params(C=1.0)
    staged.fit(X, y, sample_weight=weight)
    assert LBFGS32 in _stages(staged)
    monkeypatch.setattr(dispatch, "FLOAT32_STAGE_MIN_ENTRIES", np.inf)
    plain = NeuronClassifier(tol=1e-10, **params).fit(X, y, sample_weight=weight)
    np.testing.assert_allclose(staged.coef_, plain.coef_, rtol=0, atol=1e-8)
    np.testing.assert_allclose(staged.intercept_, plain.intercept_, rtol=0, atol=1e-8)
    assert staged.converged_


@pytest.mark.parametrize("seed", [1, 2, 3, 7, 11])
@pytest.mark.parametrize("tol", [LOOSE, 1e-10])
def test_on_ill_conditioned_data_the_stage_is_as_close_as_float64(stage_on, monkeypatch, seed, tol):
    """Features on scales over three decades, C from 1 to 1e4, 2 or 3 classes:
    the staged fit's coefficients are as close to LogisticRegression's optimum
    (newton-cholesky, tol=1e-12) as the fit in float64 throughout, to 10x."""
    K, C = (2, 3)[seed % 2], (1e-2, 1.0, 1e2, 1e4)[seed % 4]
    X, y = make_classification(
        20000, 20, n_informative=8, n_redundant=0, n_classes=K, class_sep=0.8, random_state=seed
    )
    X = X * np.logspace(-1.5, 1.5, 20)[np.random.default_rng(seed).permutation(20)]
    reference = LogisticRegression(C=C, tol=1e-12, max_iter=10_000, solver="newton-cholesky")
    best = reference.fit(X, y).coef_
    staged = NeuronClassifier(C=C, tol=tol).fit(X, y)
    monkeypatch.setattr(dispatch, "FLOAT32_STAGE_MIN_ENTRIES", np.inf)
    plain = NeuronClassifier(C=C, tol=tol).fit(X, y)
    scale = max(1.0, np.abs(best).max())
    errors = [np.abs(m.coef_ - best).max() / scale for m in (staged, plain)]
    assert errors[0] <= 10.0 * errors[1] + 1e-12, errors
    assert staged.converged_


def test_a_default_fit_makes_no_float32_copy(stage_on):
    """At the default tol the fit stays in float64 (its extra memory within
    LogisticRegression's, issue #15), on data the stage takes at a tighter tol."""
    X, y, weight = _data("handed-over")
    model = NeuronClassifier().fit(X, y, sample_weight=weight)
    assert not any(stage.endswith(("/float32", "/float64")) for stage in _stages(model))
    tighter = NeuronClassifier(tol=LOOSE).fit(X, y, sample_weight=weight)
    assert LBFGS32 in _stages(tighter)
