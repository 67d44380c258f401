"""The skorch bridge: a neuron into a skorch net, and a skorch net back into a neuron.

Fits ``NeuronClassifier`` on breast cancer (standardized), hands it to skorch
with ``to_skorch`` (same probabilities; training continues from the neuron's
weights), then trains a ``NeuronModule`` in ``skorch.NeuralNetBinaryClassifier``
and turns it into a fitted ``NeuronClassifier`` with ``from_skorch``, given
the net's training data so that its statsmodels-style ``summary`` is allowed.
Needs skorch (``pip install 'sklearn-neuron[skorch]'``).

Run from the repository root: ``PYTHONPATH=. python examples/skorch_bridge.py``.
"""

import numpy as np
import torch
from sklearn.datasets import load_breast_cancer
from sklearn.preprocessing import StandardScaler
from skorch import NeuralNetBinaryClassifier

from sklearn_neuron import NeuronClassifier, NeuronModule, from_skorch, to_skorch


def main():
    X, y = load_breast_cancer(return_X_y=True)
    X = StandardScaler().fit_transform(X)[:, :5]  # five features: an identifiable MLE

    neuron = NeuronClassifier(C=np.inf, optimizer="newton", tol=1e-10).fit(X, y)
    net = to_skorch(neuron, max_epochs=2, lr=1e-3, verbose=0)
    gap = np.abs(net.predict_proba(X) - neuron.predict_proba(X)).max()
    print(f"to_skorch: {type(net).__name__}, max|proba difference| = {gap:.1e}")

    torch.manual_seed(0)
    trained = NeuralNetBinaryClassifier(
        NeuronModule(X.shape[1], 1, "sigmoid", dtype=torch.float64),
        max_epochs=5,  # full-batch L-BFGS: 5 epochs of 20 iterations
        lr=1.0,
        optimizer=torch.optim.LBFGS,
        optimizer__line_search_fn="strong_wolfe",
        batch_size=-1,
        train_split=None,
        verbose=0,
    ).fit(X, y.astype(np.float64))
    back = from_skorch(trained, X, y)
    gap = np.abs(back.predict_proba(X) - trained.predict_proba(X)).max()
    print(f"from_skorch: coef_ {back.coef_.shape}, max|proba difference| = {gap:.1e}")
    print(f"the net's weights at the optimum to tol: {back.converged_}")
    print()
    print(back.summary(X, y))


if __name__ == "__main__":
    main()
