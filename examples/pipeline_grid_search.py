"""A neuron in a Pipeline: search C and optimizer, CV against LogisticRegression.

NeuronClassifier is a scikit-learn estimator, so it goes wherever
LogisticRegression goes. Under the log loss both minimise the same objective
with the same ``C``, so their cross-validated scores agree; the optimizer
changes only how fast the optimum is reached.

Run: ``python examples/pipeline_grid_search.py``
"""

import numpy as np
from sklearn.datasets import load_breast_cancer
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import GridSearchCV, StratifiedKFold, cross_val_score
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from sklearn_neuron import NeuronClassifier


def main():
    X, y = load_breast_cancer(return_X_y=True, as_frame=True)
    cv = StratifiedKFold(n_splits=5, shuffle=True, random_state=0)

    neuron = make_pipeline(StandardScaler(), NeuronClassifier(tol=1e-8, max_iter=1000))
    search = GridSearchCV(
        neuron,
        {
            "neuronclassifier__C": [0.01, 0.1, 1.0, 10.0],
            "neuronclassifier__optimizer": ["lbfgs", "newton"],
        },
        cv=cv,
        scoring="neg_log_loss",
    )
    search.fit(X, y)
    print("Grid search over C x optimizer (5-fold CV, log loss):")
    for params, score in zip(
        search.cv_results_["params"],
        search.cv_results_["mean_test_score"],
        strict=True,
    ):
        print(
            f"  C={params['neuronclassifier__C']:<6} "
            f"optimizer={params['neuronclassifier__optimizer']:<7} "
            f"log loss={-score:.6f}"
        )
    best_C = search.best_params_["neuronclassifier__C"]
    print(f"Best: {search.best_params_}")

    print(f"\nSide by side at C={best_C} (5-fold CV):")
    logreg = make_pipeline(
        StandardScaler(), LogisticRegression(C=best_C, tol=1e-8, max_iter=1000)
    )
    neuron = make_pipeline(
        StandardScaler(), NeuronClassifier(C=best_C, tol=1e-8, max_iter=1000)
    )
    for scoring in ("accuracy", "neg_log_loss"):
        a = cross_val_score(neuron, X, y, cv=cv, scoring=scoring)
        b = cross_val_score(logreg, X, y, cv=cv, scoring=scoring)
        print(
            f"  {scoring:<13} NeuronClassifier {a.mean():.6f}  "
            f"LogisticRegression {b.mean():.6f}  "
            f"largest fold difference {np.abs(a - b).max():.1e}"
        )

    neuron.fit(X, y)
    logreg.fit(X, y)
    gap = np.abs(neuron[-1].coef_ - logreg[-1].coef_).max()
    print(f"\nLargest coefficient difference on the full data: {gap:.1e}")
    print("Verdict: under the log loss the neuron *is* logistic regression.")


if __name__ == "__main__":
    main()
