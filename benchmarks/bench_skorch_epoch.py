"""Time of one minibatch epoch: NeuronClassifier against skorch on the same module.

Both train a single linear layer under the log loss with the same torch
optimizer, learning rate, batch size and number of epochs; skorch feeds its
batches through a DataLoader (``iterator_train__shuffle=True``,
``train_split=None``), the neuron slices shuffled indices of in-memory
tensors. Reported: the time per epoch of each (a fit of ``epochs`` epochs
divided by ``epochs``, so that the fixed cost of a fit is spread) and the
ratio. Two setups:

1. large: ``make_classification(200_000, 100)`` float32, Adam, lr 1e-3,
   batch 1024, 3 epochs (the setup of ``bench_training.py``'s first row);
2. study: breast_cancer standardized (569 x 30) float64, SGD with the
   neuron's ``learning_rate="auto"`` step and ``batch_size="auto"`` (32),
   30 epochs: the row ``python -m sklearn_neuron --peers skorch`` adds.

Run: ``PYTHONPATH=. python benchmarks/bench_skorch_epoch.py [--quick]``.
"""

import argparse
import warnings

import numpy as np
import torch
from _timing import machine_description, markdown_table, time_pair
from sklearn.datasets import load_breast_cancer, make_classification
from sklearn.exceptions import ConvergenceWarning
from sklearn.preprocessing import StandardScaler
from skorch import NeuralNetBinaryClassifier

from sklearn_neuron import NeuronClassifier, NeuronModule
from sklearn_neuron._study.peers import SkorchPeer


def setup_large(quick):
    n = 50_000 if quick else 200_000
    X, y = make_classification(n, 100, n_informative=20, random_state=0)
    return dict(
        name="large", data=f"{n:,} x 100 float32", X=X.astype(np.float32), y=y,
        optimizer="adam", torch_optimizer=torch.optim.Adam, lr=1e-3, batch_size=1024,
        epochs=3, dtype=torch.float32,
    )


def setup_study(quick):
    X, y = load_breast_cancer(return_X_y=True)
    X = StandardScaler().fit_transform(X)
    peer = SkorchPeer(C=1.0, max_epochs=1).fit(X, y)  # the study's step and batch size
    return dict(
        name="study", data="breast_cancer 569 x 30 float64", X=X, y=y, optimizer="sgd",
        torch_optimizer=torch.optim.SGD, lr=peer.learning_rate_,
        batch_size=peer.batch_size_, epochs=10 if quick else 30, dtype=torch.float64,
    )


def measure(case):
    X, y, epochs = case["X"], case["y"], case["epochs"]
    neuron = NeuronClassifier(
        optimizer=case["optimizer"], learning_rate=case["lr"], batch_size=case["batch_size"],
        max_iter=epochs, tol=1e-12, n_iter_no_change=epochs + 1, random_state=0,
    )

    def net_fit():
        torch.manual_seed(0)
        module = NeuronModule(X.shape[1], 1, "sigmoid", dtype=case["dtype"])
        return NeuralNetBinaryClassifier(
            module, optimizer=case["torch_optimizer"], lr=case["lr"],
            batch_size=case["batch_size"], max_epochs=epochs, train_split=None,
            iterator_train__shuffle=True, verbose=0,
        ).fit(X, y.astype(X.dtype))

    t_skorch, t_neuron = time_pair(net_fit, lambda: neuron.fit(X, y), 2)
    assert neuron.n_iter_ == epochs
    return [
        case["name"], case["data"], f"{case['optimizer']}, batch {case['batch_size']}",
        epochs, f"{1e3 * t_skorch / epochs:.2f}", f"{1e3 * t_neuron / epochs:.2f}",
        f"{t_skorch / t_neuron:.1f}x",
    ]


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="smaller data, fewer epochs")
    args = parser.parse_args()
    warnings.simplefilter("ignore", ConvergenceWarning)
    rows = [measure(setup(args.quick)) for setup in (setup_large, setup_study)]
    print(machine_description())
    print()
    print(markdown_table(
        ["setup", "data", "optimizer", "epochs", "skorch ms/epoch", "NeuronClassifier ms/epoch",
         "NeuronClassifier faster by"],
        rows,
    ))


if __name__ == "__main__":
    main()
