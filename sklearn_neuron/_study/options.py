"""The study's names and defaults that the command line offers and shows.

``sklearn-neuron --help`` prints them; this module imports nothing, so the
help is printed without importing numpy, scikit-learn or torch. The study's
modules (:mod:`~sklearn_neuron._study.runs` and the others) take them from here
and own what they mean.
"""

#: Bundled datasets by name: the task each is for (``_study`` loads them).
BUNDLED_TASKS = {
    "breast_cancer": "classification",
    "iris": "classification",
    "wine": "classification",
    "digits": "classification",
    "diabetes": "regression",
}

#: A combination "is" the reference model when its coefficients are this close.
DEFAULT_MATCH_TOL = 1e-3

#: Other models the study can add as rows (``peers=``), each when installed:
#: skorch training the neuron's module, and scikit-learn's MLPClassifier (a
#: network with a hidden layer: not logistic regression, but its output layer
#: is, at a stationary point, on the hidden layer's activations).
PEERS = ("skorch", "mlp")

#: A CSV target of integers with more distinct values is not taken for classes
#: unless ``task="classification"`` says so: counts and amounts look like that.
MAX_CLASSES = 20

#: The study's name for NeuronRegressor's exact solver of the absolute error
#: (``optimizer="auto"`` resolves to it): the default, and only, optimizer of
#: that loss unless others are asked for.
EXACT_LAD = "lad"

#: Decimals of the cross-validated scores in the table: the verdict compares
#: scores as the table prints them, so it never calls equal what reads different.
SCORE_DECIMALS = 4
