"""Every solver x penalty x weights x dtype x storage reaches the same optimum.

One parametrized matrix over NeuronClassifier's log-loss fits, binary and
multinomial: the full-batch solvers ``newton``, ``newton-cg`` and ``lbfgs``
(OWL-QN with an L1 term) and the minibatch ``sgd`` (which ends in Newton steps
without L1 and proximal steps with it), under no penalty (``C=inf``, on data
whose classes overlap so that the optimum is finite), L2, L1 and the elastic
net, unweighted and with sample weights, in float64 and float32, on a dense
numpy array, a scipy CSR matrix and a torch tensor. Each fit is compared with
scikit-learn's ``LogisticRegression(tol=1e-12)`` on the same objective
(``newton-cholesky`` for L2 and none, ``saga`` for L1 and the elastic net), in
float64:

- float64: ``max |coef - ref| <= 1e-6 * max |ref|`` (coefficients and
  intercepts together), with the same exact zeros under L1;
- float32: the same with ``1e-3`` (the tolerance is floored at 100 float32
  epsilons, and the data themselves are rounded to float32).

A solver that cannot reach an L1 optimum (``newton``, ``newton-cg``, the
adaptive minibatch optimizers) refuses ``l1_ratio > 0`` with the documented
ValueError. Dask storage is covered by ``tests/test_dask.py``.
"""

from __future__ import annotations

import functools
import warnings

import numpy as np
import pytest
import scipy.sparse as sp
import torch
from _datasets import classification_dataset, sample_weight_for
from sklearn.linear_model import LogisticRegression

from sklearn_neuron import NeuronClassifier

#: Data whose classes overlap, so that the unpenalized optimum is finite.
PROBLEMS = {"binary": "synthetic_binary", "multinomial": "synthetic_multiclass"}
PENALTIES = {
    "none": dict(C=np.inf),
    "l2": dict(C=0.5),
    "l1": dict(C=0.05, l1_ratio=1.0),
    "elasticnet": dict(C=0.05, l1_ratio=0.5),
}
#: The penalties each solver supports; the others must be refused.
SUPPORTED = {
    "newton": ("none", "l2"),
    "newton-cg": ("none", "l2"),
    "lbfgs": ("none", "l2", "l1", "elasticnet"),
    "sgd": ("none", "l2", "l1", "elasticnet"),
}
RTOL = {np.float64: 1e-6, np.float32: 1e-3}
FIT = {np.float64: dict(tol=1e-10), np.float32: dict(tol=1e-6)}
STORAGES = ("numpy", "csr", "torch")


@functools.cache
def _data(problem: str, weighted: bool):
    X, y = classification_dataset(PROBLEMS[problem])
    return X, y, (sample_weight_for(y) if weighted else None)


@functools.cache
def _reference(problem: str, penalty: str, weighted: bool) -> tuple[np.ndarray, np.ndarray]:
    """LogisticRegression's float64 optimum: coefficients and intercepts."""
    X, y, sample_weight = _data(problem, weighted)
    params = PENALTIES[penalty]
    solver = "saga" if params.get("l1_ratio", 0) > 0 else "newton-cholesky"
    ref = LogisticRegression(solver=solver, tol=1e-12, max_iter=100_000, **params)
    ref.fit(X, y, sample_weight=sample_weight)
    return ref.coef_, ref.intercept_


def _stored(X: np.ndarray, storage: str, dtype: type):
    X = X.astype(dtype)
    if storage == "csr":
        return sp.csr_matrix(X)
    if storage == "torch":
        return torch.from_numpy(X)
    return X


def _cells():
    for solver, penalties in SUPPORTED.items():
        for penalty in penalties:
            yield solver, penalty


@pytest.mark.parametrize("storage", STORAGES)
@pytest.mark.parametrize("dtype", [np.float64, np.float32], ids=["float64", "float32"])
@pytest.mark.parametrize("weighted", [False, True], ids=["unweighted", "weighted"])
@pytest.mark.parametrize("problem", sorted(PROBLEMS))
@pytest.mark.parametrize(("solver", "penalty"), list(_cells()))
def test_every_solver_reaches_the_same_optimum(solver, penalty, problem, weighted, dtype,
                                               storage):
    X, y, sample_weight = _data(problem, weighted)
    ref_coef, ref_intercept = _reference(problem, penalty, weighted)
    model = NeuronClassifier(
        optimizer=solver, max_iter=5000, random_state=0, **FIT[dtype], **PENALTIES[penalty]
    )
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no ConvergenceWarning, no other surprise
        model.fit(_stored(X, storage, dtype), y, sample_weight=sample_weight)
    assert model.optimizer_ == solver and model.converged_
    assert model.coef_.dtype == dtype  # fitted in the data's dtype
    coef = np.asarray(model.coef_, dtype=np.float64)
    intercept = np.asarray(model.intercept_, dtype=np.float64)
    assert coef.shape == ref_coef.shape
    got, want = np.hstack([coef, intercept[:, None]]), np.hstack([ref_coef, ref_intercept[:, None]])
    scale = np.abs(want).max()
    np.testing.assert_allclose(got, want, rtol=0, atol=RTOL[dtype] * scale)
    if dtype == np.float64 and penalty in ("l1", "elasticnet"):
        np.testing.assert_array_equal(coef == 0, ref_coef == 0)
        assert (coef == 0).any()


def _refused():
    for solver in ("newton", "newton-cg", "adam"):
        for penalty in ("l1", "elasticnet"):
            if penalty not in SUPPORTED.get(solver, ()):
                yield solver, penalty


@pytest.mark.parametrize("problem", sorted(PROBLEMS))
@pytest.mark.parametrize(("solver", "penalty"), list(_refused()))
def test_an_unsupported_penalty_is_refused(solver, penalty, problem):
    X, y, _ = _data(problem, False)
    message = (
        "does not reach the optimum of an L1 term" if solver == "adam"
        else "does not handle the L1 term"
    )
    with pytest.raises(ValueError, match=message):
        NeuronClassifier(optimizer=solver, **PENALTIES[penalty]).fit(X, y)


def test_the_matrix_covers_every_penalty_and_the_references_differ():
    """Each penalty has a solver, and the references of the four penalties, with and
    without weights, are eight different optima (the matrix would not notice a
    penalty or the weights ignored otherwise)."""
    assert {p for penalties in SUPPORTED.values() for p in penalties} == set(PENALTIES)
    for problem in PROBLEMS:
        refs = [
            _reference(problem, penalty, weighted)[0]
            for penalty in PENALTIES for weighted in (False, True)
        ]
        for i in range(len(refs)):
            for j in range(i):
                assert np.abs(refs[i] - refs[j]).max() > 1e-2 * np.abs(refs[i]).max()
