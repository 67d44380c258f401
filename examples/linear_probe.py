"""A linear probe: logistic regression on a frozen network's penultimate layer.

A small MLP (64 -> 64 -> 32 -> 10, ReLU, dropout) is trained with Adam for a
few epochs on three quarters of scikit-learn's digits (bundled, no download).
Its body, everything up to the output layer, is then frozen and becomes a
transformer, ``FrozenFeatures(body)``, and
``make_pipeline(FrozenFeatures(body), NeuronClassifierCV(Cs=10))`` fits the
probe: logistic regression on the 32 penultimate features, with ``C``
chosen by 5-fold cross-validation along a warm-started path (Newton,
tol=1e-8). Printed: the
probe's coefficients beside LogisticRegression's on the same features at
the same ``C``, and the held-out accuracy and log loss of the network's own
output layer, of the probe and of LogisticRegression on the raw pixels.

Run from the repository root: ``PYTHONPATH=. python examples/linear_probe.py``.
"""

import numpy as np
import torch
from sklearn.datasets import load_digits
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import accuracy_score, log_loss
from sklearn.model_selection import train_test_split
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from sklearn_neuron import FrozenFeatures, NeuronClassifierCV

EPOCHS, BATCH, SEED = 15, 64, 0
#: How close the probe's coefficients come to LogisticRegression's: float32
#: features are fitted in float32 (see the user guide on precision).
TOLERANCE = 1e-5


def train_network(X, y):
    """An MLP trained with Adam on minibatches (cross-entropy, weight decay 1e-4)."""
    torch.manual_seed(SEED)
    net = torch.nn.Sequential(
        torch.nn.Linear(X.shape[1], 64), torch.nn.ReLU(), torch.nn.Dropout(0.2),
        torch.nn.Linear(64, 32), torch.nn.ReLU(),
        torch.nn.Linear(32, 10),
    )
    optimizer = torch.optim.Adam(net.parameters(), lr=1e-2, weight_decay=1e-4)
    inputs = torch.as_tensor(X, dtype=torch.float32)
    target = torch.as_tensor(y)
    net.train()
    for _ in range(EPOCHS):
        for batch in torch.randperm(len(inputs)).split(BATCH):
            optimizer.zero_grad()
            torch.nn.functional.cross_entropy(net(inputs[batch]), target[batch]).backward()
            optimizer.step()
    return net.eval()


def report(name, proba, y):
    # In float64: log_loss clips float32 probabilities at float32's eps (1.2e-7),
    # which would cap the loss of a confident mistake (and checks sums to 1 in float64).
    proba = np.asarray(proba, dtype=np.float64)
    proba /= proba.sum(axis=1, keepdims=True)
    print(f"  {name:<38} accuracy {accuracy_score(y, proba.argmax(1)):.4f}   "
          f"log loss {log_loss(y, proba, labels=range(10)):.4f}")


def main():
    torch.set_num_threads(1)  # a small network: one thread is the fastest
    X, y = load_digits(return_X_y=True)
    X_train, X_test, y_train, y_test = train_test_split(
        X, y, test_size=0.25, stratify=y, random_state=SEED
    )
    scaler = StandardScaler().fit(X_train)
    X_train, X_test = scaler.transform(X_train), scaler.transform(X_test)

    net = train_network(X_train, y_train)
    body = net[:-1]  # everything up to the output layer

    # Newton: 33 x 10 coefficients make a small Hessian, and it reaches tol in
    # float32, where "auto" picks L-BFGS, which stops near 1e-4 of LogisticRegression.
    probe = make_pipeline(
        FrozenFeatures(body, batch_size=512),
        NeuronClassifierCV(Cs=10, optimizer="newton", tol=1e-8),
    )
    before = {name: p.clone() for name, p in body.state_dict().items()}
    probe.fit(X_train, y_train)
    cv = probe[-1]
    print(f"digits: {len(X_train)} training rows, {len(X_test)} held out; "
          f"network trained for {EPOCHS} epochs")
    print(f"probe: {cv.coef_.shape[1]} frozen features, C chosen by 5-fold CV over "
          f"{len(cv.Cs_)} Cs: C_ = {cv.C_:.4g} ({cv.optimizer_})")

    # LogisticRegression on the same float32 features, read in float64, at the same C.
    features = probe[0].transform(X_train).astype(np.float64)
    reference = LogisticRegression(
        C=cv.C_, solver="newton-cholesky", tol=1e-10, max_iter=1000
    ).fit(features, y_train)
    ours = np.hstack([cv.coef_, cv.intercept_[:, None]])
    theirs = np.hstack([reference.coef_, reference.intercept_[:, None]])
    gap = np.abs(ours - theirs).max() / np.abs(theirs).max()
    print(f"probe vs LogisticRegression(C={cv.C_:.4g}) on the same features: "
          f"max |coef difference| / max |coef| = {gap:.2e} "
          f"(within {TOLERANCE:g}: {gap <= TOLERANCE})")

    print("held out:")
    with torch.no_grad():
        head_logits = net(torch.as_tensor(X_test, dtype=torch.float32))
    report("the network's own output layer", torch.softmax(head_logits, 1).numpy(), y_test)
    report("linear probe on its penultimate layer", probe.predict_proba(X_test), y_test)
    report("LogisticRegression on the features", reference.predict_proba(
        probe[0].transform(X_test).astype(np.float64)), y_test)
    pixels = LogisticRegression(C=1.0, max_iter=10_000).fit(X_train, y_train)
    report("LogisticRegression on the pixels", pixels.predict_proba(X_test), y_test)
    unchanged = all(torch.equal(p, before[name]) for name, p in body.state_dict().items())
    print(f"the body's weights and batch statistics bitwise unchanged by the probe: {unchanged}")


if __name__ == "__main__":
    main()
