"""Grid search over the neuron's loss: which training criterion predicts best?

``loss`` is an ordinary hyperparameter of NeuronClassifier, so GridSearchCV can
choose it like ``C``. Each loss trains the same network (one sigmoid unit) to
a different model; only ``log_loss`` gives logistic regression and calibrated
probabilities, which is why the log-loss score favours it even where the
accuracies are close.

Run: ``python examples/grid_search_losses.py``
"""

from sklearn.datasets import load_breast_cancer
from sklearn.model_selection import GridSearchCV, StratifiedKFold
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from sklearn_neuron import NeuronClassifier


def main():
    X, y = load_breast_cancer(return_X_y=True, as_frame=True)
    search = GridSearchCV(
        make_pipeline(StandardScaler(), NeuronClassifier(tol=1e-6, max_iter=500)),
        {
            "neuronclassifier__loss": ["log_loss", "squared_error", "modified_huber"],
            "neuronclassifier__C": [0.1, 1.0],
        },
        cv=StratifiedKFold(n_splits=5, shuffle=True, random_state=0),
        scoring={"log_loss": "neg_log_loss", "accuracy": "accuracy"},
        refit="log_loss",
    )
    search.fit(X, y)
    results = search.cv_results_
    print(f"{'loss':<16}{'C':>6}{'CV log loss':>13}{'CV accuracy':>13}")
    for params, log_loss, accuracy in zip(
        results["params"],
        results["mean_test_log_loss"],
        results["mean_test_accuracy"],
        strict=True,
    ):
        print(
            f"{params['neuronclassifier__loss']:<16}{params['neuronclassifier__C']:>6}"
            f"{-log_loss:>13.4f}{accuracy:>13.4f}"
        )
    print(f"Best by log loss: {search.best_params_}")


if __name__ == "__main__":
    main()
