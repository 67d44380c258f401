"""The comparison study: each loss x optimizer of a neuron against scikit-learn.

For classification, every combination of ``loss`` and ``optimizer`` of
:class:`~sklearn_neuron.NeuronClassifier` is cross-validated (stratified
folds with a fixed seed, ``StandardScaler`` in a Pipeline) and fitted once on
the whole standardized data, and compared with
:class:`~sklearn.linear_model.LogisticRegression` fitted to its optimum
(``newton-cholesky``, ``tol=1e-10``): scores, the largest coefficient
difference, and the *objective gap* — the neuron's coefficients evaluated on
LogisticRegression's objective ``C * sum_i log_loss_i + ||W||^2 / 2`` minus
that objective at LogisticRegression's optimum. For regression,
``NeuronRegressor`` is compared, unpenalized, with the scikit-learn model of
the same loss (LinearRegression, PoissonRegressor, GammaRegressor,
TweedieRegressor).

Everything here is computation: no printing (progress goes to a callback),
no argument parsing (``_cli.py``) and no figures (``_plots.py``). Bad input
raises :class:`StudyInputError` with a message meant for the user.
"""

import time
import warnings
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from scipy.special import logsumexp
from sklearn.base import BaseEstimator, ClassifierMixin, clone
from sklearn.datasets import (
    load_breast_cancer,
    load_diabetes,
    load_digits,
    load_iris,
    load_wine,
    make_classification,
)
from sklearn.exceptions import ConvergenceWarning
from sklearn.linear_model import (
    GammaRegressor,
    LinearRegression,
    LogisticRegression,
    PoissonRegressor,
    TweedieRegressor,
)
from sklearn.metrics import (
    accuracy_score,
    brier_score_loss,
    log_loss,
    mean_absolute_error,
    r2_score,
)
from sklearn.model_selection import KFold, StratifiedKFold
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from ._certify import certify
from ._classifier import NeuronClassifier
from ._losses import CLASSIFICATION_LOSSES
from ._regressor import NeuronRegressor

#: Bundled datasets by name: (loader, task).
BUNDLED_DATASETS = {
    "breast_cancer": (load_breast_cancer, "classification"),
    "iris": (load_iris, "classification"),
    "wine": (load_wine, "classification"),
    "digits": (load_digits, "classification"),
    "diabetes": (load_diabetes, "regression"),
}

#: Optimizers that use the whole data at every step; the others are stochastic.
FULL_BATCH_OPTIMIZERS = ("newton", "lbfgs")

#: The default study: both full-batch optimizers and one minibatch optimizer,
#: SGD (accelerated SVRG with its automatic step and momentum: on breast_cancer
#: it reaches the optimum of the smooth convex losses within the study's
#: epochs, where Adam stops short on the piecewise-quadratic ones). Every
#: optimizer can be asked for with --optimizers.
DEFAULT_OPTIMIZERS = ("newton", "lbfgs", "sgd")

#: Epochs given to a minibatch optimizer in the study.
STUDY_EPOCHS = 300

#: Seed of the folds and of the stochastic optimizers.
SEED = 0

#: A combination "is" the reference model when its coefficients are this close.
DEFAULT_MATCH_TOL = 1e-3

#: Other models the study can add as rows (``peers=``), each when installed:
#: skorch training the neuron's module, and scikit-learn's MLPClassifier (a
#: network with a hidden layer: not logistic regression, but its output layer
#: is, at a stationary point, on the hidden layer's activations).
PEERS = ("skorch", "mlp")

#: The library each peer needs.
_PEER_MODULES = {"skorch": "skorch", "mlp": "sklearn"}

#: The MLP peer: hidden layer sizes, and how many seeds it is fitted from.
MLP_HIDDEN_LAYER_SIZES = (8,)
MLP_SEEDS = 5

#: Losses that are not convex in the coefficients: their optimizers may stop
#: at different points, and the verdict says by how much.
NON_CONVEX_LOSSES = ("squared_error",)

#: A non-numeric feature column with more distinct values is refused, not encoded.
MAX_CATEGORIES = 20


class StudyInputError(ValueError):
    """Input the study cannot use; the message says what to change."""


# -- data ------------------------------------------------------------------------
@dataclass
class Dataset:
    """Features, target and what was done to them on the way in."""

    name: str
    X: np.ndarray
    y: np.ndarray
    feature_names: list
    task: str
    notes: list = field(default_factory=list)


def _options(estimator_class, parameter):
    """The string options of ``parameter`` in the estimator's constraints."""
    for constraint in estimator_class._parameter_constraints.get(parameter, []):
        options = getattr(constraint, "options", None)
        if options:
            return set(options)
    return set()


def available_optimizers(estimator_class=NeuronClassifier):
    """Optimizer names the estimator accepts ("auto" excluded): full-batch first."""
    names = _options(estimator_class, "optimizer") - {"auto"}
    full = [name for name in FULL_BATCH_OPTIMIZERS if name in names]
    return full + sorted(names - set(full))


def classification_losses():
    """Loss names NeuronClassifier accepts, in the registry's order."""
    return list(CLASSIFICATION_LOSSES)


def regression_losses():
    """Loss names NeuronRegressor accepts, the GLM families first."""
    preferred = [
        "squared_error",
        "poisson",
        "gamma",
        "tweedie",
        "huber",
        "absolute_error",
    ]
    names = _options(NeuronRegressor, "loss")
    return [n for n in preferred if n in names] + sorted(names - set(preferred))


def load_dataset(data, target=None, task="auto"):
    """A bundled dataset by name, or a CSV file with a ``target`` column.

    Non-numeric feature columns with at most :data:`MAX_CATEGORIES` distinct
    values are one-hot encoded (and the encoding is noted); others, and
    missing values, are refused with a :class:`StudyInputError`.
    """
    if data in BUNDLED_DATASETS:
        loader, bundled_task = BUNDLED_DATASETS[data]
        if target is not None:
            raise StudyInputError(
                f"--target applies to CSV files; the bundled dataset {data!r} "
                "has its own target"
            )
        bunch = loader()
        dataset = Dataset(
            data,
            np.asarray(bunch.data, dtype=float),
            np.asarray(bunch.target),
            [
                str(name)
                for name in getattr(bunch, "feature_names", range(bunch.data.shape[1]))
            ],
            bundled_task,
        )
    else:
        dataset = _read_csv(data, target)
    if task != "auto":
        dataset.task = task
    if dataset.task == "classification":
        classes = np.unique(dataset.y)
        if classes.size < 2:
            raise StudyInputError(
                f"the target {target or 'y'!r} of {dataset.name} has one class only "
                f"({classes[0]!r}); a classifier needs at least two"
            )
    elif not np.issubdtype(dataset.y.dtype, np.number):
        raise StudyInputError(
            f"the target {target!r} of {dataset.name} is not numeric, so it cannot be "
            "regressed on; use --task classification"
        )
    return dataset


def _read_csv(path, target):
    names = ", ".join(BUNDLED_DATASETS)
    path = Path(path)
    try:
        is_file = path.is_file()
    except OSError as exc:  # a path the system refuses to look at, e.g. too long
        raise StudyInputError(
            f"--data {str(path)!r}: {exc.strerror or exc}; give another path"
        ) from None
    if not is_file:
        raise StudyInputError(
            f"--data {str(path)!r}: no such file, and not a bundled dataset ({names})"
        )
    if target is None:
        raise StudyInputError(
            f"--data {str(path)!r} is a CSV file: name its target column with --target"
        )
    try:
        import pandas as pd
    except ImportError as exc:  # pragma: no cover - pandas ships with the tests extra
        raise StudyInputError(
            "reading a CSV file needs pandas: pip install pandas"
        ) from exc
    try:
        frame = pd.read_csv(path)
    except (ValueError, OSError, pd.errors.ParserError) as exc:
        raise StudyInputError(f"cannot read {str(path)!r} as CSV: {exc}") from exc
    if frame.empty:
        raise StudyInputError(f"{str(path)!r} has no rows")
    if target not in frame.columns:
        columns = ", ".join(map(str, frame.columns))
        raise StudyInputError(
            f"target column {target!r} is not in {str(path)!r}; "
            f"its columns are: {columns}"
        )
    y = frame.pop(target)
    if y.isna().any():
        raise StudyInputError(
            f"the target column {target!r} has {int(y.isna().sum())} missing values"
        )
    if frame.shape[1] == 0:
        raise StudyInputError(
            f"{str(path)!r} has no feature columns besides {target!r}"
        )
    missing = frame.columns[frame.isna().any()].tolist()
    if missing:
        raise StudyInputError(
            f"feature columns with missing values: {', '.join(map(str, missing))}; "
            "impute or drop them first"
        )
    numeric = frame.select_dtypes("number")
    infinite = numeric.columns[np.isinf(numeric.to_numpy(dtype=float)).any(axis=0)].tolist()
    if pd.api.types.is_numeric_dtype(y) and np.isinf(y.to_numpy(dtype=float)).any():
        infinite.append(f"{target} (the target)")
    if infinite:
        raise StudyInputError(
            f"columns with infinite values: {', '.join(map(str, infinite))}; "
            "replace or drop them first"
        )
    notes = []
    text = [c for c in frame.columns if not pd.api.types.is_numeric_dtype(frame[c])]
    too_many = [c for c in text if frame[c].nunique() > MAX_CATEGORIES]
    if too_many:
        raise StudyInputError(
            f"non-numeric feature columns with more than {MAX_CATEGORIES} "
            "distinct values: "
            f"{', '.join(map(str, too_many))}; drop them or encode them yourself"
        )
    if text:
        frame = pd.get_dummies(frame, columns=text, dtype=float)
        notes.append(
            f"one-hot encoded the non-numeric columns: {', '.join(map(str, text))}"
        )
    y = y.to_numpy()
    task = "classification"
    if np.issubdtype(y.dtype, np.floating) and (
        np.unique(y).size > 20 or np.any(y != np.round(y))
    ):
        task = "regression"
    return Dataset(
        path.name,
        frame.to_numpy(dtype=float),
        y,
        list(map(str, frame.columns)),
        task,
        notes,
    )


# -- results ---------------------------------------------------------------------
@dataclass
class StudyResult:
    """What a study found.

    ``rows`` are plain dicts (one per model, the reference first), ready for a
    table or JSON; ``verdict`` is a list of sentences; ``details`` holds
    arrays for the figures (coefficients, objective curves, out-of-fold
    probabilities).
    """

    task: str
    dataset: dict
    settings: dict
    rows: list
    verdict: list
    details: dict = field(default_factory=dict)

    def to_dict(self):
        """Everything but ``details``, JSON-ready."""
        return {
            "task": self.task,
            "dataset": self.dataset,
            "settings": self.settings,
            "rows": self.rows,
            "verdict": self.verdict,
        }


def _quiet_fit(estimator, X, y):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        start = time.perf_counter()
        estimator.fit(X, y)
        return time.perf_counter() - start


def _advancing(items, advance):
    """``items``, calling ``advance()`` once the loop's body is done with each."""
    for item in items:
        yield item
        if advance is not None:
            advance()


def _fit_or_skip(neuron, X, y, row, rows, progress, position):
    """Fit ``neuron`` on (X, y); return whether it was fitted.

    A ValueError means its loss and optimizer do not go together (Newton on
    hinge, say): the row is recorded as incompatible, with the first clause
    of the message, and the progress line says so.
    """
    try:
        _quiet_fit(neuron, X, y)
    except ValueError as exc:
        rows.append({**row, "status": "incompatible", "note": str(exc).split(";")[0]})
        progress(f"{position} {row['loss']} / {row['optimizer']}: skipped ({exc})")
        return False
    return True


def _neuron_params(estimator_class, optimizer, extra):
    """Settings for a study fit: full-batch optimizers run to a tight tolerance.

    Minibatch optimizers keep their own learning rate and ``tol`` and get
    ``STUDY_EPOCHS`` epochs: they are compared as a user would run them, and
    the verdict says how close that gets.
    """
    params = {"optimizer": optimizer, "random_state": SEED, **extra}
    if optimizer in FULL_BATCH_OPTIMIZERS:
        params.update(tol=1e-10, max_iter=500)
    else:
        params.update(max_iter=STUDY_EPOCHS)
    accepted = estimator_class().get_params()
    return {key: value for key, value in params.items() if key in accepted}


# -- peers -----------------------------------------------------------------------
def peer_available(name):
    """Whether the library of peer ``name`` is installed."""
    import importlib.util

    return importlib.util.find_spec(_PEER_MODULES.get(name, name)) is not None


class SkorchPeer(ClassifierMixin, BaseEstimator):
    """skorch training the neuron's module, as an estimator the study cross-validates.

    A :class:`~sklearn_neuron.NeuronModule` trained by
    ``skorch.NeuralNetBinaryClassifier`` (two classes, ``BCEWithLogitsLoss``)
    or ``skorch.NeuralNetClassifier`` (``CrossEntropyLoss``) with
    ``torch.optim.SGD``, set up as NeuronClassifier's ``optimizer="sgd"`` in
    the study: the same objective (the mean log loss plus weight decay
    ``1 / (C n)`` on the weights, none on the intercepts: LogisticRegression's
    objective divided by ``C n``), the same batch size (the neuron's
    ``batch_size="auto"``), the same initial step (its ``learning_rate="auto"``,
    ``1 / L``), shuffled batches and ``max_epochs`` epochs (skorch has no
    stopping rule: it runs them all). ``coef_`` and ``intercept_`` are read by
    :func:`~sklearn_neuron.from_skorch`.
    """

    def __init__(self, *, C=1.0, max_epochs=STUDY_EPOCHS, random_state=SEED):
        self.C = C
        self.max_epochs = max_epochs
        self.random_state = random_state

    def fit(self, X, y):
        import skorch
        import torch

        from ._base import BaseNeuron
        from ._module import NeuronModule
        from ._skorch import from_skorch
        from ._stochastic import auto_learning_rate

        X = np.asarray(X, dtype=np.float64)
        self.classes_, y_index = np.unique(y, return_inverse=True)
        # The neuron's own batch size and initial step on these data.
        objective = NeuronClassifier(C=self.C)._build_objective(X, y, None, reset=True)
        batch_size = BaseNeuron._batch_size(NeuronClassifier(), objective)
        lr = auto_learning_rate(objective, torch.optim.SGD)
        binary = self.classes_.size == 2
        torch.manual_seed(self.random_state)
        module = NeuronModule(
            X.shape[1],
            1 if binary else self.classes_.size,
            "sigmoid" if binary else "softmax",
            dtype=torch.float64,
        )
        decay = 0.0 if np.isinf(self.C) else 1.0 / (self.C * X.shape[0])
        settings = dict(
            optimizer=torch.optim.SGD,
            lr=lr,
            optimizer__weight_decay=decay,
            optimizer__param_groups=[("linear.bias", {"weight_decay": 0.0})],
            batch_size=batch_size,
            max_epochs=self.max_epochs,
            iterator_train__shuffle=True,
            train_split=None,
            verbose=0,
        )
        if binary:
            net = skorch.NeuralNetBinaryClassifier(module, **settings)
            target = y_index.astype(np.float64)
        else:
            net = skorch.NeuralNetClassifier(
                module, criterion=torch.nn.CrossEntropyLoss, **settings
            )
            target = y_index.astype(np.int64)
        self.net_ = net.fit(X, target)
        self.batch_size_, self.learning_rate_ = batch_size, lr
        neuron = from_skorch(net, classes=self.classes_)
        self.coef_, self.intercept_ = neuron.coef_, neuron.intercept_
        self.n_iter_ = neuron.n_iter_
        return self

    def predict_proba(self, X):
        return self.net_.predict_proba(np.asarray(X, dtype=np.float64))

    def predict(self, X):
        return self.classes_[self.predict_proba(X).argmax(axis=1)]


def mlp_peer(C, random_state=SEED):
    """scikit-learn's MLPClassifier as the study fits it: one hidden layer, its
    penalty at the study's ``C``.

    Full-batch L-BFGS with ``alpha = 1 / C`` (``0`` for ``C=inf``): its
    objective, the mean log loss plus ``alpha / (2 n)`` times the squared
    weights, is for the output layer LogisticRegression's at ``C`` divided
    by ``C n`` (see :func:`~sklearn_neuron.certify_output_layer`), the scale
    of the neuron's ``objective_``.
    """
    from sklearn.neural_network import MLPClassifier

    return MLPClassifier(
        MLP_HIDDEN_LAYER_SIZES,
        solver="lbfgs",
        alpha=0.0 if np.isinf(C) else 1.0 / C,
        tol=1e-10,
        max_iter=1000,
        random_state=random_state,
    )


def _mlp_row(X, y, X_std, y_index, C, folds, classes, f_ref, details, progress):
    """The MLP peer's row: CV scores of seed ``SEED``, and its fits from
    :data:`MLP_SEEDS` seeds on the whole standardized data, each output layer
    certified as logistic regression on its own hidden layer."""
    from ._hidden import certify_output_layer

    scores, fit_time, oof = _cross_validate_classifier(
        mlp_peer(C), X, y, folds, classes
    )
    fits, certificates, seed_time = [], [], 0.0
    for seed in range(SEED, SEED + MLP_SEEDS):
        model = mlp_peer(C, seed)
        seed_time += _quiet_fit(model, X_std, y)
        fits.append(model)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            certificates.append(certify_output_layer(model, X_std, y))
    proba = np.stack([model.predict_proba(X_std) for model in fits])
    # The MLP's loss_ is its objective at the end, on the neuron's scale:
    # LogisticRegression's objective divided by C n (n for C=inf).
    objectives = [float(model.loss_) for model in fits]
    scale = len(y_index) * (1.0 if np.isinf(C) else C)
    heads = sum(c.is_logistic_regression for c in certificates)
    row = {
        "model": f"MLPClassifier{MLP_HIDDEN_LAYER_SIZES}",
        "loss": "log_loss",
        "optimizer": "lbfgs",
        "status": "peer",
        "peer": "mlp",
        **scores,
        "fit_time": fit_time,
        "n_iter": int(fits[0].n_iter_),
        "coef_diff": None,  # another model: no coefficients to set against LR's
        "objective_gap": None,
        "converged": heads == len(fits),
        "note": f"{MLP_SEEDS} seeds; output layer logistic regression on its hidden "
        f"layer in {heads} of {len(fits)}",
        "seeds": MLP_SEEDS,
        "proba_spread": float(np.max(proba.max(axis=0) - proba.min(axis=0))),
        "objectives": objectives,
        "neuron_objective": f_ref / scale,
        "head_distances": [c.coef_distance for c in certificates],
        "head_distance_bounds": [c.certificate.coef_distance_bound for c in certificates],
        "heads_logistic_regression": int(heads),
    }
    details["oof_proba"][(row["model"], "lbfgs")] = oof
    details["mlp_certificates"] = certificates
    progress(
        f"peer MLPClassifier: {len(folds)} folds in {fit_time * len(folds):.2f} s, "
        f"{MLP_SEEDS} seeds in {seed_time:.2f} s"
    )
    return row


def _centred(coef):
    """Softmax coefficients shifted to sum to zero over classes (LogisticRegression's)."""
    coef = np.atleast_2d(coef)
    return coef if coef.shape[0] == 1 else coef - coef.mean(axis=0)


# -- classification --------------------------------------------------------------
def logistic_objective(coef, intercept, X, y_index, C):
    """LogisticRegression's objective ``C * sum_i log_loss_i + ||W||^2 / 2``.

    With ``C=inf`` (no penalty) it is the summed log loss.
    """
    coef = np.atleast_2d(coef)
    raw = X @ coef.T + intercept
    if coef.shape[0] == 1:
        z = raw[:, 0]
        data = np.sum(np.logaddexp(0.0, z) - y_index * z)
    else:
        data = np.sum(logsumexp(raw, axis=1) - raw[np.arange(len(y_index)), y_index])
    if np.isinf(C):
        return float(data)
    return float(C * data + 0.5 * np.sum(coef**2))


def _proved(model, X, y, C):
    """Row fields of a log-loss fit's certificate (:func:`~sklearn_neuron.certify`):
    its coefficients' proved distance from logistic regression's at ``C``, from above
    and from below."""
    result = certify(model, X, y, C=C)
    return {
        "proved_within": result.coef_distance_bound,
        "proved_at_least": result.coef_distance_lower,
    }


def _proof(rows, reached):
    """The clause the certificates of log-loss fits add to a verdict ("" without them):
    the largest distance proved for fits that reached the optimum, else the
    smallest proved from below (and the largest from above, where one is proved)."""
    rows = [r for r in rows if "proved_within" in r]
    if not rows:
        return ""
    within = max(r["proved_within"] for r in rows)
    if reached and within < np.inf:
        return f"; proved within {within:.0e} of its optimum"
    least = min(r["proved_at_least"] for r in rows)
    if within < np.inf:
        return f"; proved {least:.2g} to {within:.2g} from its optimum"
    return f"; proved at least {least:.2g} from its optimum"


def _classification_scores(y_true, proba, classes):
    binary = classes.size == 2
    return {
        "accuracy": accuracy_score(y_true, classes[proba.argmax(axis=1)]),
        "log_loss": log_loss(y_true, proba, labels=classes),
        "brier": brier_score_loss(y_true, proba[:, 1], pos_label=classes[1])
        if binary
        else brier_score_loss(y_true, proba, labels=classes),
    }


def _cross_validate_classifier(estimator, X, y, folds, classes):
    """Mean scores over folds, mean fit time, and out-of-fold probabilities."""
    oof = np.zeros((len(y), classes.size))
    scores, times = [], []
    for train, test in folds:
        model = make_pipeline(StandardScaler(), clone(estimator))
        times.append(_quiet_fit(model, X[train], y[train]))
        proba = model.predict_proba(X[test])
        oof[test] = proba
        scores.append(_classification_scores(y[test], proba, classes))
    mean = {key: float(np.mean([s[key] for s in scores])) for key in scores[0]}
    return mean, float(np.mean(times)), oof


def run_classification_study(
    dataset,
    *,
    losses=None,
    optimizers=None,
    C=1.0,
    cv=5,
    match_tol=DEFAULT_MATCH_TOL,
    peers=(),
    progress=None,
    advance=None,
):
    """Compare each loss x optimizer of NeuronClassifier with LogisticRegression.

    Parameters
    ----------
    dataset : Dataset
    losses, optimizers : list of str, default=None
        ``None`` takes every loss and every optimizer the estimator accepts.
    C : float
        Inverse regularization strength, for both models.
    cv : int
        Number of stratified folds (shuffled with a fixed seed).
    match_tol : float
        Largest coefficient difference at which a combination is called
        logistic regression.
    peers : list of str, default=()
        Other libraries to add as rows, from :data:`PEERS`: ``"skorch"``
        trains the same module under the log loss as NeuronClassifier's
        ``"sgd"`` is trained (:class:`SkorchPeer`); ``"mlp"`` fits
        MLPClassifier with one hidden layer (:func:`mlp_peer`) from
        :data:`MLP_SEEDS` seeds and certifies each output layer as logistic
        regression on its hidden layer. Each must be installed.
    progress : callable(str), default=None
        Called with a line after each step.
    advance : callable(), default=None
        Called after each loss x optimizer combination, fitted or skipped
        (the command's progress bar).

    Returns
    -------
    StudyResult
    """
    progress = progress or (lambda line: None)
    for peer in peers:
        if peer not in PEERS:
            raise StudyInputError(f"unknown peer {peer!r}; choose from: {', '.join(PEERS)}")
        if not peer_available(peer):
            raise StudyInputError(
                f"peer {peer!r} is not installed: pip install 'sklearn-neuron[{peer}]'"
            )
    losses = list(losses or classification_losses())
    optimizers = list(optimizers or DEFAULT_OPTIMIZERS)
    X, y = dataset.X, dataset.y
    classes, y_index = np.unique(y, return_inverse=True)
    smallest = np.bincount(y_index).min()
    if smallest < cv:
        raise StudyInputError(
            f"the smallest class has {smallest} samples, fewer than the {cv} "
            "folds of --cv"
        )
    folds = list(StratifiedKFold(cv, shuffle=True, random_state=SEED).split(X, y))
    X_std = StandardScaler().fit_transform(X)

    reference = LogisticRegression(
        C=C, solver="newton-cholesky", tol=1e-10, max_iter=1000
    )
    _quiet_fit(reference, X_std, y)
    f_ref = logistic_objective(reference.coef_, reference.intercept_, X_std, y_index, C)
    ref_scores, ref_time, ref_oof = _cross_validate_classifier(
        reference, X, y, folds, classes
    )
    rows = [
        {
            "model": "LogisticRegression",
            "loss": "log_loss",
            "optimizer": "newton-cholesky",
            "status": "reference",
            **ref_scores,
            "fit_time": ref_time,
            "n_iter": int(np.max(reference.n_iter_)),
            "coef_diff": 0.0,
            "objective_gap": 0.0,
            "converged": True,
            "note": "",
        }
    ]
    details = {
        "reference_coef": reference.coef_.copy(),
        "reference_objective": f_ref,
        "oof_proba": {("LogisticRegression", ""): ref_oof},
        "coef": {},
        "curves": {},
        "y": y,
        "classes": classes,
        "X_std": X_std,
        "y_index": y_index,
        "reference_intercept": reference.intercept_.copy(),
    }
    progress(f"LogisticRegression (reference): {cv} folds in {ref_time * cv:.2f} s")

    combos = [(loss, optimizer) for loss in losses for optimizer in optimizers]
    for step, (loss, optimizer) in enumerate(_advancing(combos, advance), 1):
        params = _neuron_params(NeuronClassifier, optimizer, {"loss": loss, "C": C})
        neuron = NeuronClassifier(**params)
        row = {"model": "NeuronClassifier", "loss": loss, "optimizer": optimizer}
        if not _fit_or_skip(neuron, X_std, y, row, rows, progress, f"[{step}/{len(combos)}]"):
            continue
        scores, fit_time, oof = _cross_validate_classifier(neuron, X, y, folds, classes)
        f = logistic_objective(neuron.coef_, neuron.intercept_, X_std, y_index, C)
        rows.append(
            {
                **row,
                "status": "ok",
                **scores,
                "fit_time": fit_time,
                "n_iter": int(neuron.n_iter_),
                "coef_diff": float(np.max(np.abs(neuron.coef_ - reference.coef_))),
                "objective_gap": float(f - f_ref),
                "converged": bool(neuron.converged_),
                "note": "" if neuron.converged_ else "stopped before tol",
                **(_proved(neuron, X_std, y, C) if loss == "log_loss" else {}),
            }
        )
        details["coef"][(loss, optimizer)] = neuron.coef_.copy()
        details["curves"][(loss, optimizer)] = np.asarray(neuron.objective_curve_)
        details["oof_proba"][(loss, optimizer)] = oof
        progress(
            f"[{step}/{len(combos)}] {loss} / {optimizer}: {cv} folds in "
            f"{fit_time * cv:.2f} s, max|coef diff| {rows[-1]['coef_diff']:.1e}"
        )

    if "skorch" in peers:
        model = SkorchPeer(C=C)
        _quiet_fit(model, X_std, y)
        net_name = type(model.net_).__name__
        scores, fit_time, oof = _cross_validate_classifier(model, X, y, folds, classes)
        f = logistic_objective(model.coef_, model.intercept_, X_std, y_index, C)
        rows.append(
            {
                "model": f"skorch {net_name}",
                "loss": "log_loss",
                "optimizer": "sgd",
                "status": "peer",
                **scores,
                "fit_time": fit_time,
                "n_iter": int(model.n_iter_),
                "coef_diff": float(
                    np.max(np.abs(_centred(model.coef_) - reference.coef_))
                ),
                "objective_gap": float(f - f_ref),
                "converged": None,
                "note": f"batch {model.batch_size_}, lr {model.learning_rate_:.3g}, "
                f"{model.n_iter_} epochs",
                **_proved((model.coef_, model.intercept_), X_std, y, C),
            }
        )
        details["oof_proba"][(f"skorch {net_name}", "sgd")] = oof
        progress(f"peer skorch ({net_name}): {cv} folds in {fit_time * cv:.2f} s")

    if "mlp" in peers:
        rows.append(
            _mlp_row(X, y, X_std, y_index, C, folds, classes, f_ref, details, progress)
        )

    settings = {
        "C": C,
        "cv": cv,
        "seed": SEED,
        "match_tol": match_tol,
        "losses": losses,
        "optimizers": optimizers,
        "peers": list(peers),
        "reference": "LogisticRegression(solver='newton-cholesky', tol=1e-10)",
    }
    info = {
        "name": dataset.name,
        "n_samples": int(X.shape[0]),
        "n_features": int(X.shape[1]),
        "n_classes": int(classes.size),
        "notes": dataset.notes,
    }
    verdict = classification_verdict(rows, details, match_tol)
    return StudyResult("classification", info, settings, rows, verdict, details)


def _coef_spread(coefs):
    """Largest difference between the coefficients of any two fits."""
    if len(coefs) < 2:
        return 0.0
    stacked = np.stack([np.ravel(c) for c in coefs])
    return float(np.max(stacked.max(axis=0) - stacked.min(axis=0)))


def _agreement(loss, ran, details, match_tol):
    """How the optimizers of one loss compare with each other (a clause)."""
    if len(ran) < 2:
        return ""
    spread = _coef_spread([details["coef"][(loss, r["optimizer"])] for r in ran])
    if loss in NON_CONVEX_LOSSES:
        return (
            f"; not convex in the coefficients (through the sigmoid), so optimizers may "
            f"stop at different points: here they differ by up to {spread:.2g}"
        )
    if spread <= match_tol:
        return f"; its optimizers agree with each other to within {spread:.0e} (a convex loss)"
    short = [r["optimizer"] for r in ran if not r["converged"]]
    stopped = f" ({', '.join(short)} stopped before tol)" if short else ""
    return f"; its optimizers disagree with each other by up to {spread:.2g}{stopped}"


def classification_verdict(rows, details, match_tol=DEFAULT_MATCH_TOL):
    """One plain sentence per loss: is it logistic regression, and to within what."""
    reference = rows[0]
    peers = [row for row in rows[1:] if row["status"] == "peer"]
    rows = [rows[0]] + [row for row in rows[1:] if row["status"] != "peer"]
    sentences = []
    for loss in dict.fromkeys(row["loss"] for row in rows[1:]):
        ran = [r for r in rows[1:] if r["loss"] == loss and r["status"] == "ok"]
        skipped = [r for r in rows[1:] if r["loss"] == loss and r["status"] != "ok"]
        parts = []
        same = [r for r in ran if r["coef_diff"] <= match_tol]
        other = [r for r in ran if r["coef_diff"] > match_tol]
        everyone = (
            "every optimizer" if not skipped and len(same) == len(ran) > 1 else None
        )
        if same:
            who = everyone or ", ".join(r["optimizer"] for r in same)
            diff = max(r["coef_diff"] for r in same)
            gap = max(abs(r["objective_gap"]) for r in same)
            parts.append(
                f"{loss} with {who}: logistic regression to within {diff:.0e} in "
                f"coefficients (objective gap {gap:.0e}{_proof(same, True)})"
            )
        if other:
            diff = max(r["coef_diff"] for r in other)
            gap = min(r["objective_gap"] for r in other)
            names = ", ".join(r["optimizer"] for r in other)
            if loss == "log_loss":
                parts.append(
                    f"{loss} with {names}: logistic regression's objective, not "
                    f"reached — coefficients off by up to {diff:.2g}, objective "
                    f"gap at least {gap:.2g}{_proof(other, False)}"
                )
            else:
                worst = max(other, key=lambda r: r["log_loss"])
                low, high = (f(r["accuracy"] for r in other) for f in (min, max))
                accuracy = (
                    f"{low:.3f}"
                    if f"{low:.3f}" == f"{high:.3f}"
                    else f"{low:.3f}–{high:.3f}"
                )
                parts.append(
                    f"{loss}: a different model — coefficients differ by up to "
                    f"{diff:.2g} "
                    f"(objective gap at least {gap:.2g} on LogisticRegression's scale; "
                    f"CV log loss up to {worst['log_loss']:.3g} vs "
                    f"{reference['log_loss']:.3g}, "
                    f"CV accuracy {accuracy} vs {reference['accuracy']:.3f})"
                )
                parts[-1] += _agreement(loss, ran, details, match_tol)
        for r in skipped:
            parts.append(f"with {r['optimizer']}: not run ({r['note']})")
        sentences.append("; ".join(parts) + ".")
    for r in peers:
        if r.get("peer") == "mlp":
            sentences.append(_mlp_sentence(r))
            continue
        sentence = (
            f"{r['model']} (the same module and log loss, trained by SGD as the "
            f"neuron's sgd: {r['note']}): coefficients within {r['coef_diff']:.2g} of "
            f"LogisticRegression's, objective gap {r['objective_gap']:.2g}"
            f"{_proof([r], r['coef_diff'] <= match_tol)}, {1000 * r['fit_time']:.0f} ms a fit"
        )
        sgd = [row for row in rows if row.get("optimizer") == "sgd"
               and row["loss"] == "log_loss" and row["status"] == "ok"]
        if sgd:
            sentence += (
                f" (NeuronClassifier sgd: {1000 * sgd[0]['fit_time']:.0f} ms, "
                f"{sgd[0]['n_iter']} epochs)"
            )
        sentences.append(sentence + ".")
    return sentences


def _mlp_sentence(row):
    """The verdict on the MLP peer: non-convex fits, and where it is still logistic regression."""
    low, high = min(row["objectives"]), max(row["objectives"])
    heads = row["heads_logistic_regression"]
    sentence = (
        f"{row['model']} (a hidden layer; not convex in its weights): from "
        f"{row['seeds']} seeds its training objectives end between {low:.6g} and "
        f"{high:.6g} (logistic regression's one optimum: {row['neuron_objective']:.6g} "
        f"on the same scale) and its predicted probabilities differ by up to "
        f"{row['proba_spread']:.2g}; "
    )
    if heads == row["seeds"]:
        return sentence + (
            "each output layer is logistic regression on its own hidden layer's "
            f"activations (proved within {max(row['head_distance_bounds']):.2g})."
        )
    who = "no fit's output layer is" if heads == 0 else f"{heads} of {row['seeds']} are"
    return sentence + (
        f"{who} proved logistic regression on its own hidden layer's activations: "
        f"the fits stopped up to {max(row['head_distances']):.2g} (in coefficients) "
        "from it, short of a stationary point."
    )


# -- figures' data (classification) ------------------------------------------------
def landscape_slice(X_std, y_index, coef, intercept, losses, ts=None):
    """Each loss's mean value along the ray ``t * (coef, intercept)``.

    ``t = 1`` is LogisticRegression's optimum (without its penalty), ``t = 0``
    the all-zero model. Returns ``(ts, {loss: values})``. A convex function
    stays convex on every line, so a slice with negative curvature proves a
    loss is not convex in the weights.
    """
    import torch

    from ._losses import encode_classes, get_classification_loss

    ts = np.linspace(-4.0, 6.0, 201) if ts is None else np.asarray(ts)
    n_classes = int(y_index.max()) + 1
    X_t = torch.from_numpy(np.asarray(X_std, dtype=np.float64))
    target = encode_classes(y_index, n_classes, torch.float64, X_t.device)
    W = torch.from_numpy(np.atleast_2d(coef).astype(np.float64))
    b = torch.from_numpy(np.asarray(intercept, dtype=np.float64))
    base = X_t @ W.T + b
    values = {}
    for name in losses:
        loss = get_classification_loss(name, n_classes)
        values[name] = np.array(
            [float(loss.value(t * base, target).mean()) for t in ts]
        )
    return ts, values


def min_curvature(ts, values):
    """Smallest second difference quotient of ``values`` on the grid ``ts``."""
    step = ts[1] - ts[0]
    return float(np.min(np.diff(values, 2)) / step**2)


def two_d_problem():
    """A 2-D binary problem with a few far-off mislabeled points.

    The outliers pull the log loss's boundary and leave the bounded losses
    (squared error on the sigmoid) nearly unmoved: the losses disagree where
    it is easy to see.
    """
    X, y = make_classification(
        n_samples=300,
        n_features=2,
        n_redundant=0,
        n_informative=2,
        n_clusters_per_class=1,
        class_sep=1.2,
        flip_y=0.0,
        random_state=3,
    )
    rng = np.random.default_rng(SEED)
    outliers = rng.normal(loc=[6.0, 6.0], scale=0.5, size=(12, 2))
    X = np.vstack([X, outliers])
    y = np.concatenate([y, np.ones(12, dtype=y.dtype)])
    return X, y


def fit_two_d(losses, C=1.0):
    """Fit each loss and LogisticRegression on :func:`two_d_problem`."""
    X, y = two_d_problem()
    models = {"LogisticRegression": LogisticRegression(C=C).fit(X, y)}
    for loss in losses:
        neuron = NeuronClassifier(loss=loss, C=C, tol=1e-8, max_iter=1000)
        _quiet_fit(neuron, X, y)
        models[loss] = neuron
    return X, y, models


# -- regression ------------------------------------------------------------------
def _regression_reference(loss, power):
    """The scikit-learn model of the same loss (unpenalized), or LinearRegression."""
    glm = {"tol": 1e-10, "max_iter": 1000, "alpha": 0.0, "solver": "newton-cholesky"}
    if loss == "poisson":
        return "PoissonRegressor", PoissonRegressor(**glm), True
    if loss == "gamma":
        return "GammaRegressor", GammaRegressor(**glm), True
    if loss == "tweedie":
        return (
            "TweedieRegressor",
            TweedieRegressor(power=power, link="log", **glm),
            True,
        )
    # Huber and absolute error have no closed-form twin: compare to least squares.
    return "LinearRegression", LinearRegression(), loss == "squared_error"


def _target_fits(loss, y):
    if loss in ("poisson", "tweedie") and np.any(y < 0):
        return f"loss {loss!r} needs a target >= 0"
    if loss == "gamma" and np.any(y <= 0):
        return "loss 'gamma' needs a target > 0"
    return None


def run_regression_study(
    dataset,
    *,
    losses=None,
    optimizers=None,
    cv=5,
    match_tol=DEFAULT_MATCH_TOL,
    progress=None,
    advance=None,
):
    """Cross-validate each loss x optimizer of NeuronRegressor against scikit-learn.

    Both sides are fitted without a penalty (``alpha=0``), so the comparison
    needs no mapping of regularization strengths. ``progress`` and
    ``advance`` are as in :func:`run_classification_study`.
    """
    regressor = NeuronRegressor
    progress = progress or (lambda line: None)
    losses = list(losses or regression_losses())
    optimizers = list(optimizers or FULL_BATCH_OPTIMIZERS)
    X, y = dataset.X, np.asarray(dataset.y, dtype=float)
    folds = list(KFold(cv, shuffle=True, random_state=SEED).split(X))
    X_std = StandardScaler().fit_transform(X)
    accepted = regressor().get_params()
    unpenalized = (
        {"alpha": 0.0}
        if "alpha" in accepted
        else {"C": np.inf}
        if "C" in accepted
        else {}
    )
    power = accepted.get("power", 1.5)

    def cross_validate(estimator):
        scores, times = [], []
        for train, test in folds:
            model = make_pipeline(StandardScaler(), clone(estimator))
            times.append(_quiet_fit(model, X[train], y[train]))
            pred = model.predict(X[test])
            scores.append((r2_score(y[test], pred), mean_absolute_error(y[test], pred)))
        r2, mae = np.mean(scores, axis=0)
        return {"r2": float(r2), "mae": float(mae)}, float(np.mean(times))

    rows, references, details = [], {}, {"coef": {}, "curves": {}, "reference_coef": {}}
    combos = [(loss, optimizer) for loss in losses for optimizer in optimizers]
    for step, (loss, optimizer) in enumerate(_advancing(combos, advance), 1):
        row = {"model": "NeuronRegressor", "loss": loss, "optimizer": optimizer}
        reason = _target_fits(loss, y)
        if reason:
            rows.append({**row, "status": "incompatible", "note": reason})
            continue
        ref_name, reference, same_model = _regression_reference(loss, power)
        if ref_name not in references:
            _quiet_fit(reference, X_std, y)
            scores, fit_time = cross_validate(reference)
            references[ref_name] = reference
            details["reference_coef"][ref_name] = np.ravel(reference.coef_).copy()
            rows.insert(
                len(references) - 1,
                {
                    "model": ref_name,
                    "loss": loss,
                    "optimizer": "scikit-learn",
                    "status": "reference",
                    **scores,
                    "fit_time": fit_time,
                    "n_iter": int(np.max(getattr(reference, "n_iter_", 0))),
                    "coef_diff": 0.0,
                    "converged": True,
                    "reference": ref_name,
                    "note": "",
                },
            )
        reference = references[ref_name]
        params = _neuron_params(regressor, optimizer, {"loss": loss, **unpenalized})
        neuron = regressor(**params)
        if not _fit_or_skip(neuron, X_std, y, row, rows, progress, f"[{step}/{len(combos)}]"):
            continue
        scores, fit_time = cross_validate(neuron)
        diff = float(np.max(np.abs(np.ravel(neuron.coef_) - np.ravel(reference.coef_))))
        rows.append(
            {
                **row,
                "status": "ok",
                **scores,
                "fit_time": fit_time,
                "n_iter": int(getattr(neuron, "n_iter_", 0)),
                "coef_diff": diff,
                "converged": bool(getattr(neuron, "converged_", True)),
                "reference": ref_name,
                "same_objective": same_model,
                "note": "",
            }
        )
        details["coef"][(loss, optimizer)] = np.ravel(neuron.coef_).copy()
        if hasattr(neuron, "objective_curve_"):
            details["curves"][(loss, optimizer)] = np.asarray(neuron.objective_curve_)
        progress(
            f"[{step}/{len(combos)}] {loss} / {optimizer}: {cv} folds in "
            f"{fit_time * cv:.2f} s, max|coef diff| vs {ref_name} {diff:.1e}"
        )

    verdict = []
    for loss in dict.fromkeys(r["loss"] for r in rows if r["status"] != "reference"):
        ran = [r for r in rows if r["loss"] == loss and r["status"] == "ok"]
        if not ran:
            notes = {r["note"] for r in rows if r["loss"] == loss}
            verdict.append(f"{loss}: not run ({'; '.join(sorted(notes))}).")
            continue
        diff, ref_name = max(r["coef_diff"] for r in ran), ran[0]["reference"]
        if diff <= match_tol:
            verdict.append(f"{loss}: {ref_name} to within {diff:.0e} in coefficients.")
        elif ran[0]["same_objective"]:
            verdict.append(
                f"{loss}: {ref_name}'s objective, coefficients off by up to {diff:.2g}."
            )
        else:
            verdict.append(
                f"{loss}: a different model from {ref_name} — coefficients "
                f"differ by up to {diff:.2g}."
            )
    settings = {
        "cv": cv,
        "seed": SEED,
        "match_tol": match_tol,
        "losses": losses,
        "optimizers": optimizers,
        "penalty": "none",
    }
    info = {
        "name": dataset.name,
        "n_samples": int(X.shape[0]),
        "n_features": int(X.shape[1]),
        "notes": dataset.notes,
    }
    return StudyResult("regression", info, settings, rows, verdict, details)
