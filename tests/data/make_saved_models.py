"""Write the fitted models that tests/test_saved_models.py loads.

Run once per release from the repository root
(``PYTHONPATH=. python tests/data/make_saved_models.py``): it fits a fixed set of
estimators on bundled data and saves each with pickle and skops, beside the
predictions it made on its training data, into ``tests/data/saved_<version>/``.
The files are kept in git so that a later version is tested against models saved
by an earlier one.
"""
import pathlib
import pickle

import numpy as np
import skops.io as sio
from sklearn.datasets import load_breast_cancer, load_diabetes, load_iris
from sklearn.preprocessing import StandardScaler

import sklearn_neuron
from sklearn_neuron import NeuronClassifier, NeuronClassifierCV, NeuronRegressor


def models():
    Xb, yb = load_breast_cancer(return_X_y=True)
    Xb = StandardScaler().fit_transform(Xb)
    Xi, yi = load_iris(return_X_y=True)
    Xd, yd = load_diabetes(return_X_y=True)
    yield "binary", NeuronClassifier().fit(Xb, yb), Xb
    yield "multinomial", NeuronClassifier(C=10.0).fit(Xi, yi), Xi
    yield "hinge", NeuronClassifier(loss="hinge").fit(Xb, yb), Xb
    yield "sparsified_l1", NeuronClassifier(l1_ratio=1.0, C=0.1).fit(Xb, yb).sparsify(), Xb
    yield "cv", NeuronClassifierCV(Cs=4).fit(Xi, yi), Xi
    yield "poisson", NeuronRegressor(loss="poisson").fit(Xd, np.round(yd / 10)), Xd
    yield "squared_error", NeuronRegressor().fit(Xd, yd), Xd


def main():
    folder = pathlib.Path(__file__).parent / f"saved_{sklearn_neuron.__version__}"
    folder.mkdir(exist_ok=True)
    for name, model, X in models():
        if hasattr(model, "predict_proba"):
            expected = model.predict_proba(X)
        else:
            expected = model.predict(X)
        (folder / f"{name}.pkl").write_bytes(pickle.dumps(model))
        sio.dump(model, folder / f"{name}.skops")
        np.save(folder / f"{name}_expected.npy", expected)


if __name__ == "__main__":
    main()
