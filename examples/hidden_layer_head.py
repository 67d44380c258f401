"""A network's output layer is logistic regression on its hidden layer, at a stationary point.

Holding its hidden layers fixed, a classification network's output layer
minimises logistic regression's objective on the last hidden layer's
activations. ``certify_output_layer`` reads those activations out of a
fitted network, proves how far the output layer is from that logistic
regression (``certify``, no refit), refits it exactly and says what the
refit changes. Three cases: scikit-learn's ``MLPClassifier`` as usually run
(lbfgs stops on its relative decrease, before a stationary point), a torch
network trained to a stationary point (gradient below 1e-10: its output
layer *is* logistic regression), and two seeds of that network (different
networks, each output layer logistic regression on its own hidden layer).

Run from the repository root: ``PYTHONPATH=. python examples/hidden_layer_head.py``.
"""

import textwrap
import warnings

import numpy as np
import torch
from sklearn.datasets import load_breast_cancer, load_iris
from sklearn.exceptions import ConvergenceWarning
from sklearn.model_selection import train_test_split
from sklearn.neural_network import MLPClassifier
from sklearn.preprocessing import StandardScaler

from sklearn_neuron import certify_output_layer

#: Weight decay of the torch network: mean log loss + LAM / 2 * ||weights||^2.
LAM = 1e-2


def mlp_output_layers():
    """MLPClassifier(8 hidden, lbfgs, alpha=1e-2, tol=1e-12): C = 1/alpha = 100."""
    for name, loader in [("breast_cancer", load_breast_cancer), ("iris", load_iris)]:
        X, y = loader(return_X_y=True)
        X_train, X_test, y_train, y_test = train_test_split(
            X, y, test_size=0.3, stratify=y, random_state=0
        )
        scaler = StandardScaler().fit(X_train)
        X_train, X_test = scaler.transform(X_train), scaler.transform(X_test)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            mlp = MLPClassifier(
                (8,), solver="lbfgs", alpha=1e-2, tol=1e-12, max_iter=10_000, random_state=0
            ).fit(X_train, y_train)
        report = certify_output_layer(mlp, X_train, y_train, X_test=X_test, y_test=y_test)
        head = np.append(report.coef, report.intercept)
        refit = np.append(report.refit.coef_, report.refit.intercept_)
        relative = np.linalg.norm(head - refit) / np.linalg.norm(refit)
        test_before, test_after = report.heldout_log_loss
        print(f"{name}: MLPClassifier stopped after {mlp.n_iter_} lbfgs iterations")
        print(textwrap.fill(report.verdict, 88, initial_indent="  ", subsequent_indent="  "))
        lower, upper = report.certificate.objective_gap_bounds
        print(f"  proved without the refit: {lower:.3g} <= objective gap <= {upper:.3g}")
        print(f"  output layer vs its refit: {relative:.1%} apart (relative, Euclidean)")
        print(f"  held-out log loss: {test_before:.4f} -> {test_after:.4f}")


def stationary_network(X, y, seed, hidden=6):
    """A tanh network trained in float64, full batch, to max|gradient| < 1e-10.

    L-BFGS gets near a minimum; exact Newton steps on all its weights finish.
    """
    torch.manual_seed(seed)
    net = torch.nn.Sequential(
        torch.nn.Linear(X.shape[1], hidden), torch.nn.Tanh(), torch.nn.Linear(hidden, 3)
    ).double()
    inputs, target = torch.as_tensor(X), torch.as_tensor(y)
    names = [name for name, _ in net.named_parameters()]
    shapes = [p.shape for p in net.parameters()]

    def objective(flat):
        params, start = {}, 0
        for name, shape in zip(names, shapes, strict=True):
            params[name] = flat[start : start + shape.numel()].view(shape)
            start += shape.numel()
        penalty = sum(params[n].square().sum() for n in names if n.endswith("weight"))
        logits = torch.func.functional_call(net, params, (inputs,))
        return torch.nn.functional.cross_entropy(logits, target) + LAM / 2 * penalty

    def gradient(point):
        point = point.detach().requires_grad_()
        return torch.autograd.grad(objective(point), point)[0]

    flat = torch.nn.utils.parameters_to_vector(net.parameters()).detach().requires_grad_()
    optimizer = torch.optim.LBFGS(
        [flat], max_iter=3000, tolerance_grad=1e-12, tolerance_change=0,
        history_size=50, line_search_fn="strong_wolfe",
    )

    def closure():
        optimizer.zero_grad()
        value = objective(flat)
        value.backward()
        return value

    optimizer.step(closure)
    point = flat.detach()
    for _ in range(20):
        g = gradient(point)
        if float(g.abs().max()) < 1e-10:
            break
        point = point - torch.linalg.solve(torch.autograd.functional.hessian(objective, point), g)
    torch.nn.utils.vector_to_parameters(point, net.parameters())
    return net, float(gradient(point).abs().max())


def torch_output_layers():
    X, y = load_iris(return_X_y=True)
    X = StandardScaler().fit_transform(X)
    C = 1.0 / (len(y) * LAM)  # mean loss + LAM/2 ||W||^2 is LR's objective / (C n)
    reports, probabilities = [], []
    for seed in (0, 1):
        net, grad_max = stationary_network(X, y, seed)
        report = certify_output_layer(net, X, y, C=C)
        reports.append(report)
        with torch.no_grad():
            probabilities.append(torch.softmax(net(torch.as_tensor(X)), dim=1).numpy())
        print(f"torch network, seed {seed}: max|gradient| {grad_max:.1e}")
        print(textwrap.fill(report.verdict, 88, initial_indent="  ", subsequent_indent="  "))
        print(f"  training objective {report.objective[0]:.10g} "
              f"(the refit's {report.objective[1]:.10g})")
    spread = np.abs(probabilities[0] - probabilities[1]).max()
    hidden = np.abs(reports[0].features - reports[1].features).max()
    print(textwrap.fill(
        f"two seeds: hidden activations differ by up to {hidden:.2f}, predicted "
        f"probabilities by up to {spread:.2g}; output layers' optima "
        f"{reports[0].objective[1]:.6g} and {reports[1].objective[1]:.6g}: two networks, "
        "each output layer logistic regression on its own hidden layer", 88,
    ))


def main():
    torch.set_num_threads(1)
    mlp_output_layers()
    print()
    torch_output_layers()


if __name__ == "__main__":
    main()
