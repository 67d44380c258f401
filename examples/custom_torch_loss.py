"""A custom torch loss: the focal loss, trained through autograd.

``loss`` also takes a callable ``loss(logits, target) -> per-sample losses``
on torch tensors (for two classes ``logits`` and ``target`` have shape
(n_samples, 1), the target a float 0/1). NeuronClassifier differentiates it
with autograd and minimises it with L-BFGS; the L2 penalty and ``C`` keep
their meaning. Here the focal loss of Lin et al. (2017), which down-weights
well-classified samples, is compared with the log loss (the focal loss with
``gamma = 0``) on an imbalanced problem.

Run: ``python examples/custom_torch_loss.py``
"""

import numpy as np
import torch
import torch.nn.functional as F
from sklearn.datasets import make_classification
from sklearn.metrics import balanced_accuracy_score, log_loss
from sklearn.model_selection import train_test_split
from sklearn.preprocessing import StandardScaler

from sklearn_neuron import NeuronClassifier


def focal_loss(gamma):
    """Binary focal loss ``-(1 - p_t)^gamma log(p_t)``, one value per sample."""

    def loss(logits, target):
        log_p_t = -F.binary_cross_entropy_with_logits(logits, target, reduction="none")
        return (-((1.0 - torch.exp(log_p_t)) ** gamma) * log_p_t).sum(dim=1)

    loss.__name__ = f"focal_loss_gamma{gamma}"
    return loss


def main():
    X, y = make_classification(
        n_samples=3000, n_features=10, weights=[0.9, 0.1], flip_y=0.02, random_state=0
    )
    X_train, X_test, y_train, y_test = train_test_split(
        X, y, stratify=y, random_state=0
    )
    scaler = StandardScaler().fit(X_train)
    X_train, X_test = scaler.transform(X_train), scaler.transform(X_test)

    reference = NeuronClassifier(loss="log_loss", tol=1e-8).fit(X_train, y_train)
    print(
        f"{'loss':<22}{'balanced acc.':>14}{'log loss':>10}{'max|coef - log_loss|':>22}"
    )
    for gamma in [0.0, 1.0, 2.0]:
        neuron = NeuronClassifier(loss=focal_loss(gamma), tol=1e-8, max_iter=500)
        neuron.fit(X_train, y_train)
        proba = neuron.predict_proba(X_test)
        diff = np.abs(neuron.coef_ - reference.coef_).max()
        print(
            f"{focal_loss(gamma).__name__:<22}"
            f"{balanced_accuracy_score(y_test, neuron.predict(X_test)):>14.4f}"
            f"{log_loss(y_test, proba):>10.4f}{diff:>22.1e}"
        )
    print("gamma = 0 is the log loss: the same coefficients, reached through autograd.")


if __name__ == "__main__":
    main()
