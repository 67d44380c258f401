"""Is this fitted model logistic regression? A proof for any linear classifier.

Solvers disagree: on breast_cancer scikit-learn's solvers at their default
tolerances, SGDClassifier, a torch layer trained by Adam and the neuron land
at different coefficients, and comparing two fits only says they differ.
:func:`sklearn_neuron.certify` answers for each fit alone, from one pass of
gradient and curvature at its coefficients (no refit): bounds, proved, on its
objective gap to logistic regression's optimum and on its distance from the
optimum's coefficients, and a verdict in words.

Run from the repository root: ``PYTHONPATH=. python examples/certify_any_model.py``
(or just ``python examples/certify_any_model.py`` once the package is installed).
"""

import warnings

import torch
from sklearn.datasets import load_breast_cancer, load_iris
from sklearn.exceptions import ConvergenceWarning
from sklearn.linear_model import LogisticRegression, SGDClassifier
from sklearn.preprocessing import StandardScaler

from sklearn_neuron import NeuronClassifier, certify


def adam_linear(X, y, C, steps=300):
    """A torch nn.Linear trained by full-batch Adam on LogisticRegression's objective."""
    torch.manual_seed(0)
    X, y = torch.as_tensor(X), torch.as_tensor(y, dtype=torch.float64)
    layer = torch.nn.Linear(X.shape[1], 1).double()
    optimizer = torch.optim.Adam(layer.parameters(), lr=0.05)
    for _ in range(steps):
        optimizer.zero_grad()
        loss = torch.nn.functional.binary_cross_entropy_with_logits(
            layer(X)[:, 0], y, reduction="sum"
        )
        (C * loss + 0.5 * layer.weight.square().sum()).backward()
        optimizer.step()
    return layer


def show(name, result):
    lower, upper = result.objective_gap_bounds
    print(
        f"{name:<34} {lower:9.2g} {upper:9.2g} {result.coef_distance_lower:9.2g} "
        f"{result.coef_distance_bound:9.2g}"
    )


def main():
    X, y = load_breast_cancer(return_X_y=True)
    X = StandardScaler().fit_transform(X)
    n = len(y)
    print("breast_cancer, LogisticRegression's objective at C=1")
    print(f"{'model':<34} {'gap >=':>9} {'gap <=':>9} {'dist >=':>9} {'dist <=':>9}")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        models = {
            "LogisticRegression(lbfgs)": LogisticRegression().fit(X, y),
            "LogisticRegression(newton-cg)": LogisticRegression(solver="newton-cg").fit(X, y),
            "LogisticRegression(saga)": LogisticRegression(solver="saga").fit(X, y),
            "LogisticRegression(tol=1e-10)": LogisticRegression(
                solver="newton-cholesky", tol=1e-10
            ).fit(X, y),
            "NeuronClassifier(newton)": NeuronClassifier(optimizer="newton").fit(X, y),
            "NeuronClassifier(sgd)": NeuronClassifier(optimizer="sgd", random_state=0).fit(X, y),
        }
    results = {name: certify(model, X, y) for name, model in models.items()}
    alpha = 1 / n  # SGDClassifier's alpha for C=1: C = 1 / (alpha n)
    sgd = SGDClassifier(loss="log_loss", alpha=alpha, random_state=0).fit(X, y)
    results["SGDClassifier(alpha=1/n)"] = certify(sgd, X, y)
    results["torch nn.Linear + Adam (300 steps)"] = certify(adam_linear(X, y, 1.0), X, y, C=1.0)
    for name, result in results.items():
        show(name, result)
    print()
    for result in results.values():
        print(result.verdict)

    print()
    X, y = load_iris(return_X_y=True)
    X = StandardScaler().fit_transform(X)
    model = LogisticRegression(C=10.0).fit(X, y)
    print("iris (multinomial), the default LogisticRegression at C=10:")
    print(certify(model, X, y))


if __name__ == "__main__":
    main()
