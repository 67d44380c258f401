"""The study's peers: other libraries' models set beside the neuron.

skorch training the neuron's own module (:class:`SkorchPeer`), and
scikit-learn's MLPClassifier with one hidden layer (:func:`mlp_peer`), whose
output layers are certified as logistic regression on their hidden layers
(:func:`mlp_row`). Each is used only where its library is installed
(:func:`peer_available`).
"""

from __future__ import annotations

import warnings
from collections.abc import Callable
from typing import Any

import numpy as np
from numpy.typing import ArrayLike
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.exceptions import ConvergenceWarning

from .fitting import SEED, STUDY_EPOCHS, quiet_fit
from .scores import Folds, cross_validate_classifier

#: The library each peer needs.
_PEER_MODULES = {"skorch": "skorch", "mlp": "sklearn"}

#: The MLP peer: hidden layer sizes, and how many seeds it is fitted from.
MLP_HIDDEN_LAYER_SIZES = (8,)

MLP_SEEDS = 5


def peer_available(name: str) -> bool:
    """Whether the library of peer ``name`` is installed."""
    import importlib.util

    return importlib.util.find_spec(_PEER_MODULES.get(name, name)) is not None


class SkorchPeer(ClassifierMixin, BaseEstimator):
    """skorch training the neuron's module, as an estimator the study cross-validates.

    A :class:`~sklearn_neuron.NeuronModule` trained by
    ``skorch.NeuralNetBinaryClassifier`` (two classes, ``BCEWithLogitsLoss``)
    or ``skorch.NeuralNetClassifier`` (``CrossEntropyLoss``) with
    ``torch.optim.SGD``, set up as NeuronClassifier's ``optimizer="sgd"`` in
    the study: the same objective (the mean log loss plus weight decay
    ``1 / (C n)`` on the weights, none on the intercepts: LogisticRegression's
    objective divided by ``C n``), the same batch size (the neuron's
    ``batch_size="auto"``), the same initial step (its ``learning_rate="auto"``,
    ``1 / L``), shuffled batches and ``max_epochs`` epochs (skorch has no
    stopping rule: it runs them all). ``coef_`` and ``intercept_`` are read by
    :func:`~sklearn_neuron.from_skorch`.
    """

    def __init__(
        self, *, C: float = 1.0, max_epochs: int = STUDY_EPOCHS, random_state: int = SEED
    ) -> None:
        self.C = C
        self.max_epochs = max_epochs
        self.random_state = random_state

    def fit(self, X: ArrayLike, y: ArrayLike) -> SkorchPeer:
        import skorch
        import torch

        from .. import NeuronModule, from_skorch

        # The library's internal pieces: no public name gives the neuron's
        # automatic batch size and step on given data.
        from .._classifier import ClassifierParams, classifier_objective
        from .._objective.protocol import rows_of
        from .._solvers.dispatch import batch_size as auto_batch_size
        from .._solvers.stochastic import auto_learning_rate

        X = np.asarray(X, dtype=np.float64)
        self.classes_, y_index = np.unique(y, return_inverse=True)
        # The neuron's own batch size and initial step on these data.
        objective = rows_of(classifier_objective(
            ClassifierParams(C=self.C), X, np.asarray(y), None, self.classes_
        ), "SkorchPeer")
        batch_size = auto_batch_size("auto", objective)
        lr = auto_learning_rate(objective, torch.optim.SGD)
        binary = self.classes_.size == 2
        torch.manual_seed(self.random_state)
        module = NeuronModule(
            X.shape[1],
            1 if binary else self.classes_.size,
            "sigmoid" if binary else "softmax",
            dtype=torch.float64,
        )
        decay = 0.0 if np.isinf(self.C) else 1.0 / (self.C * X.shape[0])
        settings = dict(
            optimizer=torch.optim.SGD,
            lr=lr,
            optimizer__weight_decay=decay,
            optimizer__param_groups=[("linear.bias", {"weight_decay": 0.0})],
            batch_size=batch_size,
            max_epochs=self.max_epochs,
            iterator_train__shuffle=True,
            train_split=None,
            verbose=0,
        )
        if binary:
            net = skorch.NeuralNetBinaryClassifier(module, **settings)
            target = y_index.astype(np.float64)
        else:
            net = skorch.NeuralNetClassifier(
                module, criterion=torch.nn.CrossEntropyLoss, **settings
            )
            target = y_index.astype(np.int64)
        self.net_ = net.fit(X, target)
        self.batch_size_, self.learning_rate_ = batch_size, lr
        neuron = from_skorch(net, classes=self.classes_)
        self.coef_, self.intercept_ = neuron.coef_, neuron.intercept_
        self.n_iter_ = neuron.n_iter_
        return self

    def predict_proba(self, X: ArrayLike) -> np.ndarray:
        return self.net_.predict_proba(np.asarray(X, dtype=np.float64))

    def predict(self, X: ArrayLike) -> np.ndarray:
        return self.classes_[self.predict_proba(X).argmax(axis=1)]


def mlp_peer(C: float, random_state: int = SEED) -> BaseEstimator:
    """scikit-learn's MLPClassifier as the study fits it: one hidden layer, its
    penalty at the study's ``C``.

    Full-batch L-BFGS with ``alpha = 1 / C`` (``0`` for ``C=inf``): its
    objective, the mean log loss plus ``alpha / (2 n)`` times the squared
    weights, is for the output layer LogisticRegression's at ``C`` divided
    by ``C n`` (see :func:`~sklearn_neuron.certify_output_layer`), the scale
    of the neuron's ``objective_``.
    """
    from sklearn.neural_network import MLPClassifier

    return MLPClassifier(
        MLP_HIDDEN_LAYER_SIZES,
        solver="lbfgs",
        alpha=0.0 if np.isinf(C) else 1.0 / C,
        tol=1e-10,
        max_iter=1000,
        random_state=random_state,
    )


def mlp_row(
    X: np.ndarray,
    y: np.ndarray,
    X_std: np.ndarray,
    y_index: np.ndarray,
    C: float,
    folds: Folds,
    classes: np.ndarray,
    f_ref: float,
    details: dict[str, Any],
    progress: Callable[[str], object],
) -> dict[str, Any]:
    """The MLP peer's row: CV scores of seed ``SEED``, and its fits from
    :data:`MLP_SEEDS` seeds on the whole standardized data, each output layer
    certified as logistic regression on its own hidden layer."""
    from .. import certify_output_layer

    scores, fit_time, oof, fold_converged = cross_validate_classifier(
        mlp_peer(C), X, y, folds, classes
    )
    fits, certificates, seed_time = [], [], 0.0
    for seed in range(SEED, SEED + MLP_SEEDS):
        model = mlp_peer(C, seed)
        seed_time += quiet_fit(model, X_std, y)
        fits.append(model)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            certificates.append(certify_output_layer(model, X_std, y))
    proba = np.stack([model.predict_proba(X_std) for model in fits])
    # The MLP's loss_ is its objective at the end, on the neuron's scale:
    # LogisticRegression's objective divided by C n (n for C=inf).
    objectives = [float(model.loss_) for model in fits]
    scale = len(y_index) * (1.0 if np.isinf(C) else C)
    heads = sum(c.is_logistic_regression for c in certificates)
    row = {
        "model": f"MLPClassifier{MLP_HIDDEN_LAYER_SIZES}",
        "loss": "log_loss",
        "optimizer": "lbfgs",
        "status": "peer",
        "peer": "mlp",
        **scores,
        "fit_time": fit_time,
        "n_iter": int(fits[0].n_iter_),
        "iter_unit": "iterations",
        "coef_diff": None,  # another model: no coefficients to set against LR's
        "objective_gap": None,
        "converged": heads == len(fits),
        "fold_converged": fold_converged,
        "note": f"{MLP_SEEDS} seeds; output layer logistic regression on its hidden "
        f"layer in {heads} of {len(fits)}",
        "seeds": MLP_SEEDS,
        "proba_spread": float(np.max(proba.max(axis=0) - proba.min(axis=0))),
        "objectives": objectives,
        "neuron_objective": f_ref / scale,
        "head_distances": [c.coef_distance for c in certificates],
        "head_distance_bounds": [c.certificate.coef_distance_bound for c in certificates],
        "heads_logistic_regression": int(heads),
    }
    details["oof_proba"][(row["model"], "lbfgs")] = oof
    details["mlp_certificates"] = certificates
    progress(
        f"peer MLPClassifier: {len(folds)} folds in {fit_time * len(folds):.2f} s, "
        f"{MLP_SEEDS} seeds in {seed_time:.2f} s"
    )
    return row
