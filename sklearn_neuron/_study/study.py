"""The comparison study: each loss x optimizer of a neuron against scikit-learn.

For classification, every combination of ``loss`` and ``optimizer`` of
:class:`~sklearn_neuron.NeuronClassifier` is cross-validated (stratified
folds with a fixed seed, ``StandardScaler`` in a Pipeline) and fitted once on
the whole standardized data, and compared with
:class:`~sklearn.linear_model.LogisticRegression` fitted to its optimum
(``newton-cholesky``, ``tol=1e-10``): scores, the largest coefficient
difference, and the *objective gap* — the neuron's coefficients evaluated on
LogisticRegression's objective ``C * sum_i log_loss_i + ||W||^2 / 2`` minus
that objective at LogisticRegression's optimum. Every fit's convergence, the
full-data fit's and each CV fold's, is recorded in its row, and each verdict
rests on all of them; the settings, package versions and date travel with
the result. For regression,
``NeuronRegressor`` is compared, unpenalized, with the scikit-learn model of
the same loss (LinearRegression, PoissonRegressor, GammaRegressor,
TweedieRegressor, QuantileRegressor for the absolute error).

Everything here is computation: no printing (progress goes to a callback),
no argument parsing (``_cli.py``) and no figures (``_plots.py``). Bad input
raises :class:`StudyInputError` with a message meant for the user.
"""

import platform
import time
import warnings
from dataclasses import dataclass, field, replace
from datetime import datetime, timezone
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
    QuantileRegressor,
    TweedieRegressor,
)
from sklearn.metrics import (
    accuracy_score,
    brier_score_loss,
    log_loss,
    mean_absolute_error,
    mean_gamma_deviance,
    mean_poisson_deviance,
    r2_score,
    roc_auc_score,
)
from sklearn.model_selection import KFold, StratifiedKFold
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from .._certify import certify
from .._classifier import NeuronClassifier
from .._loss.losses import CLASSIFICATION_LOSSES
from .._regressor import NeuronRegressor
from .options import (
    BUNDLED_TASKS,
    DEFAULT_MATCH_TOL,
    EXACT_LAD,
    MAX_CLASSES,
    PEERS,
)

#: Each bundled dataset's loader; the names and tasks are ``BUNDLED_TASKS``
#: (in ``_study_options.py``, which ``--help`` reads without this module).
_BUNDLED_LOADERS = {
    "breast_cancer": load_breast_cancer,
    "iris": load_iris,
    "wine": load_wine,
    "digits": load_digits,
    "diabetes": load_diabetes,
}

#: Bundled datasets by name: (loader, task).
BUNDLED_DATASETS = {
    name: (_BUNDLED_LOADERS[name], task) for name, task in BUNDLED_TASKS.items()
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

#: The library each peer needs.
_PEER_MODULES = {"skorch": "skorch", "mlp": "sklearn"}

#: The MLP peer: hidden layer sizes, and how many seeds it is fitted from.
MLP_HIDDEN_LAYER_SIZES = (8,)
MLP_SEEDS = 5

#: Losses that are not convex in the coefficients: their optimizers may stop
#: at different points, and the verdict says by how much.
NON_CONVEX_LOSSES = ("squared_error",)

#: Decimals of the cross-validated scores in the table: the verdict compares
#: scores as the table prints them, so it never calls equal what reads different.
SCORE_DECIMALS = 4

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
    #: Names of the class labels where the data give them (bundled datasets):
    #: the report says "1 (benign)", not only "1".
    class_names: dict = field(default_factory=dict)
    #: What the user may want to act on (ID-like or constant columns), one
    #: sentence each: the command prints them on stderr and in the report.
    warnings: list = field(default_factory=list)
    #: The target's column name (CSV files), and whether the task was inferred
    #: from its values rather than given or bundled.
    target: str = None
    task_inferred: bool = False


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


def load_dataset(data, target=None, task="auto", drop=()):
    """A bundled dataset by name, or a CSV file with a ``target`` column.

    The feature columns named in ``drop`` are left out first. Non-numeric
    feature columns with at most :data:`MAX_CATEGORIES` distinct values are
    one-hot encoded (and the encoding is noted); others, and missing values,
    are refused with a :class:`StudyInputError`. ID-like and constant columns
    are kept, with a sentence in ``warnings``. With ``task="auto"`` a CSV
    target of integers with more than :data:`MAX_CLASSES` distinct values is
    refused: it may be a count as well as classes, and only the user knows.
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
        if bundled_task == "classification" and hasattr(bunch, "target_names"):
            dataset.class_names = {
                label: str(name) for label, name in enumerate(bunch.target_names)
            }
        dataset = _drop_features(dataset, drop)
    else:
        dataset = _read_csv(data, target, drop)
    if task != "auto":
        dataset.task, dataset.task_inferred = task, False
    elif dataset.task_inferred and dataset.task == "classification":
        _refuse_count_target(dataset)
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


def _drop_features(dataset, drop):
    """``dataset`` without the feature columns named in ``drop``."""
    if not drop:
        return dataset
    unknown = [name for name in drop if name not in dataset.feature_names]
    if unknown:
        raise StudyInputError(
            f"--drop {','.join(unknown)}: no such feature column in {dataset.name}; "
            f"its feature columns are: {', '.join(dataset.feature_names)}"
        )
    keep = [i for i, name in enumerate(dataset.feature_names) if name not in drop]
    if not keep:
        raise StudyInputError(f"--drop leaves {dataset.name} no feature column")
    return replace(
        dataset,
        X=dataset.X[:, keep],
        feature_names=[dataset.feature_names[i] for i in keep],
    )


def _refuse_count_target(dataset):
    """Refuse an integer target of many values taken for classes by inference."""
    y = dataset.y
    if not np.issubdtype(y.dtype, np.number) or np.any(y != np.round(y)):
        return
    distinct = np.unique(y).size
    if distinct > MAX_CLASSES:
        raise StudyInputError(
            f"the target {dataset.target!r} of {dataset.name} has {distinct} distinct "
            "integer values: a count or an amount? pass --task regression (or "
            f"--task classification to study them as {distinct} classes)"
        )


def _too_small_for_folds(dataset, smallest, cv):
    """The error for a class with fewer samples than folds: what to do about it."""
    message = f"the smallest class has {smallest} samples, fewer than the {cv} folds of --cv"
    remedies = [f"give --cv {smallest}"] if smallest >= 2 else []
    y = dataset.y
    if (
        dataset.task_inferred
        and np.issubdtype(y.dtype, np.number)
        and np.unique(y).size > 2
    ):
        remedies.append(f"pass --task regression if {dataset.target!r} is a count")
    return message + (f"; {', or '.join(remedies)}" if remedies else "")


def _looks_like_id(column):
    """Whether a feature column looks like a row identifier: integers, each
    of more than :data:`MAX_CATEGORIES` rows its own. (Such a column of
    strings is refused as too many categories.)"""
    import pandas as pd

    return (
        len(column) > MAX_CATEGORIES
        and pd.api.types.is_integer_dtype(column)
        and column.nunique() == len(column)
    )


def _column_warnings(frame):
    """Sentences on the ID-like and the constant feature columns of ``frame``."""
    said = []
    ids = [str(c) for c in frame.columns if _looks_like_id(frame[c])]
    constant = [str(c) for c in frame.columns if frame[c].nunique() == 1]
    if ids:
        said.append(
            f"ID-like columns (every value a distinct integer): "
            f"{', '.join(ids)}; they are used as features: if they only name the rows, "
            f"drop them with --drop {','.join(ids)}"
        )
    if constant and len(frame) > 1:
        said.append(
            f"constant columns (one value in every row): {', '.join(constant)}; "
            f"they tell the model nothing: drop them with --drop {','.join(constant)}"
        )
    return said


def _read_csv(path, target, drop=()):
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
    if target in drop:
        raise StudyInputError(
            f"--drop {target}: that is the target column; --drop names feature columns"
        )
    unknown = [name for name in drop if name not in frame.columns]
    if unknown:
        raise StudyInputError(
            f"--drop {','.join(unknown)}: no such column in {str(path)!r}; its "
            f"feature columns are: {', '.join(map(str, frame.columns))}"
        )
    frame = frame.drop(columns=list(drop))
    if frame.shape[1] == 0:
        raise StudyInputError(
            f"{str(path)!r} has no feature columns besides {target!r}"
        )
    missing = frame.columns[frame.isna().any()].tolist()
    if missing:
        raise StudyInputError(
            f"feature columns with missing values: {', '.join(map(str, missing))}; "
            f"impute them first, or drop them with --drop {','.join(map(str, missing))}"
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
    notes, said = [], _column_warnings(frame)
    text = [c for c in frame.columns if not pd.api.types.is_numeric_dtype(frame[c])]
    too_many = [c for c in text if frame[c].nunique() > MAX_CATEGORIES]
    if too_many:
        raise StudyInputError(
            f"non-numeric feature columns with more than {MAX_CATEGORIES} "
            "distinct values: "
            f"{', '.join(map(str, too_many))}; drop them with "
            f"--drop {','.join(map(str, too_many))}, or encode them yourself"
        )
    if text:
        frame = pd.get_dummies(frame, columns=text, dtype=float)
        notes.append(
            f"one-hot encoded the non-numeric columns: {', '.join(map(str, text))}"
        )
    y = y.to_numpy()
    task = "classification"
    if np.issubdtype(y.dtype, np.floating) and (
        np.unique(y).size > MAX_CLASSES or np.any(y != np.round(y))
    ):
        task = "regression"
    return Dataset(
        path.name,
        frame.to_numpy(dtype=float),
        y,
        list(map(str, frame.columns)),
        task,
        notes,
        warnings=said,
        target=target,
        task_inferred=True,
    )


# -- results ---------------------------------------------------------------------
@dataclass
class StudyResult:
    """What a study found.

    ``rows`` are plain dicts (one per model, the reference first), ready for a
    table or JSON; ``verdict`` is a list of sentences; ``details`` holds
    arrays for the figures (coefficients, objective curves, out-of-fold
    probabilities); ``takeaway`` is a list of sentences saying which model
    or optimizer to use, drawn from the rows.
    """

    task: str
    dataset: dict
    settings: dict
    rows: list
    verdict: list
    details: dict = field(default_factory=dict)
    takeaway: list = field(default_factory=list)

    def to_dict(self):
        """Everything but ``details``, JSON-ready."""
        return {
            "task": self.task,
            "dataset": self.dataset,
            "settings": self.settings,
            "rows": self.rows,
            "verdict": self.verdict,
            "takeaway": self.takeaway,
        }


def environment():
    """Versions of the packages a study's numbers depend on, and the date (UTC)."""
    import sklearn
    import torch

    from .. import __version__

    return {
        "versions": {
            "sklearn-neuron": __version__,
            "torch": torch.__version__,
            "scikit-learn": sklearn.__version__,
            "numpy": np.__version__,
            "python": platform.python_version(),
        },
        "date": datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
    }


def iteration_unit(optimizer):
    """What ``n_iter_`` counts for ``optimizer``: iterations or epochs."""
    full_batch = (*FULL_BATCH_OPTIMIZERS, EXACT_LAD)  # lad: HiGHS's simplex iterations
    return "iterations" if optimizer in full_batch else "epochs"


def fit_settings(estimator_class, optimizers, overrides=None):
    """Per optimizer, the settings the study fits it with (and its unit of ``max_iter``)."""
    defaults = estimator_class().get_params()
    settings = {}
    for optimizer in optimizers:
        params = _neuron_params(
            estimator_class, optimizer, {}, (overrides or {}).get(optimizer)
        )
        shown = {
            key: params.get(key, defaults[key])
            for key in ("tol", "max_iter", "learning_rate", "batch_size")
            if key in defaults
            and (optimizer not in FULL_BATCH_OPTIMIZERS or key in ("tol", "max_iter"))
        }
        settings[optimizer] = {**shown, "max_iter_unit": iteration_unit(optimizer)}
    return settings


def _recorded_fit(estimator, X, y):
    """Fit ``estimator``; return ``(seconds, converged)``.

    A ConvergenceWarning is caught and recorded as ``converged=False`` (as is
    a final step whose ``converged_`` is False): the study shows every fit's
    convergence in its table and verdict rather than on stderr, once per
    fold. Other warnings pass through.
    """
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", ConvergenceWarning)
        start = time.perf_counter()
        estimator.fit(X, y)
        seconds = time.perf_counter() - start
    stopped = False
    for w in caught:
        if issubclass(w.category, ConvergenceWarning):
            stopped = True
        else:
            warnings.warn_explicit(w.message, w.category, w.filename, w.lineno)
    final = estimator[-1] if hasattr(estimator, "steps") else estimator
    converged = not stopped and getattr(final, "converged_", True) is not False
    return seconds, converged


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


def _neuron_params(estimator_class, optimizer, extra, overrides=None):
    """Settings for a study fit: full-batch optimizers run to a tight tolerance.

    Minibatch optimizers keep their own learning rate and ``tol`` and get
    ``STUDY_EPOCHS`` epochs: they are compared as a user would run them, and
    the verdict says how close that gets. ``overrides`` (a dict of
    parameters) replaces any of these.
    """
    params = {"optimizer": optimizer, "random_state": SEED, **extra}
    if optimizer == EXACT_LAD:
        # NeuronRegressor's "auto" solves the absolute error exactly: an LP
        # (unpenalized), with no tolerance to tighten.
        params["optimizer"] = "auto"
    elif optimizer in FULL_BATCH_OPTIMIZERS:
        params.update(tol=1e-10, max_iter=500)
    else:
        params.update(max_iter=STUDY_EPOCHS)
    params.update(overrides or {})
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

        from .._base import BaseNeuron
        from .._module import NeuronModule
        from .._skorch import from_skorch
        from .._solvers.stochastic import auto_learning_rate

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
    from .._hidden import certify_output_layer

    scores, fit_time, oof, fold_converged = _cross_validate_classifier(
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
        "iter_unit": "iterations",
        "coef_diff": None,  # another model: no coefficients to set against LR's
        "objective_gap": None,
        "converged": heads == len(fits),
        "fold_converged": fold_converged,
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


#: The cross-validated scores of a classification row; each has a ``_std`` twin.
CLASSIFICATION_SCORES = ("accuracy", "log_loss", "roc_auc", "brier")


def _classification_scores(y_true, proba, classes):
    """Accuracy, log loss, ROC AUC (one-vs-rest for several classes) and Brier
    score; a binary problem's positive class is ``classes[1]``."""
    binary = classes.size == 2
    return {
        "accuracy": accuracy_score(y_true, classes[proba.argmax(axis=1)]),
        "log_loss": log_loss(y_true, proba, labels=classes),
        "roc_auc": roc_auc_score(y_true == classes[1], proba[:, 1])
        if binary
        else roc_auc_score(y_true, proba, multi_class="ovr", labels=classes),
        "brier": brier_score_loss(y_true, proba[:, 1], pos_label=classes[1])
        if binary
        else brier_score_loss(y_true, proba, labels=classes),
    }


def _cross_validate_classifier(estimator, X, y, folds, classes):
    """Scores over the folds, mean fit time, out-of-fold probabilities, and
    whether each fold's fit converged.

    Returns ``(scores, fit_time, oof, fold_converged)``: ``scores`` has the
    mean of each of :data:`CLASSIFICATION_SCORES` over the folds and, as
    ``<name>_std``, its standard deviation across them.
    """
    oof = np.zeros((len(y), classes.size))
    scores, times, converged = [], [], []
    for train, test in folds:
        model = make_pipeline(StandardScaler(), clone(estimator))
        seconds, fold_converged = _recorded_fit(model, X[train], y[train])
        times.append(seconds)
        converged.append(fold_converged)
        proba = model.predict_proba(X[test])
        oof[test] = proba
        scores.append(_classification_scores(y[test], proba, classes))
    summary = {}
    for key in scores[0]:
        values = [s[key] for s in scores]
        summary[key] = float(np.mean(values))
        summary[f"{key}_std"] = float(np.std(values))
    return summary, float(np.mean(times)), oof, converged


def _stopped_fits(row):
    """Which of a row's fits stopped before tol, in words ("" when none did)."""
    stopped = []
    if row.get("converged") is False:
        stopped.append("the full-data fit")
    folds = row.get("fold_converged") or []
    short = [str(i) for i, ok in enumerate(folds, 1) if not ok]
    if short:
        stopped.append(
            f"fold{'s' if len(short) > 1 else ''} {', '.join(short)} of {len(folds)}"
        )
    return " and ".join(stopped)


def _every_fit_converged(row):
    return row.get("converged") is not False and all(row.get("fold_converged") or [])


def run_classification_study(
    dataset,
    *,
    losses=None,
    optimizers=None,
    C=1.0,
    cv=5,
    match_tol=DEFAULT_MATCH_TOL,
    peers=(),
    overrides=None,
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
    overrides : dict, default=None
        ``{optimizer: {parameter: value}}``: NeuronClassifier parameters that
        replace the study's fit settings for that optimizer (for example
        ``{"lbfgs": {"max_iter": 20}}``); the settings say so.
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
        raise StudyInputError(_too_small_for_folds(dataset, smallest, cv))
    folds = list(StratifiedKFold(cv, shuffle=True, random_state=SEED).split(X, y))
    X_std = StandardScaler().fit_transform(X)

    reference = LogisticRegression(
        C=C, solver="newton-cholesky", tol=1e-10, max_iter=1000
    )
    _, ref_converged = _recorded_fit(reference, X_std, y)
    f_ref = logistic_objective(reference.coef_, reference.intercept_, X_std, y_index, C)
    ref_scores, ref_time, ref_oof, ref_folds = _cross_validate_classifier(
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
            "iter_unit": "iterations",
            "coef_diff": 0.0,
            "objective_gap": 0.0,
            "converged": ref_converged,
            "fold_converged": ref_folds,
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
        params = _neuron_params(
            NeuronClassifier, optimizer, {"loss": loss, "C": C},
            (overrides or {}).get(optimizer),
        )
        neuron = NeuronClassifier(**params)
        row = {"model": "NeuronClassifier", "loss": loss, "optimizer": optimizer}
        if not _fit_or_skip(neuron, X_std, y, row, rows, progress, f"[{step}/{len(combos)}]"):
            continue
        scores, fit_time, oof, fold_converged = _cross_validate_classifier(
            neuron, X, y, folds, classes
        )
        f = logistic_objective(neuron.coef_, neuron.intercept_, X_std, y_index, C)
        rows.append(
            {
                **row,
                "status": "ok",
                **scores,
                "fit_time": fit_time,
                "n_iter": int(neuron.n_iter_),
                "iter_unit": iteration_unit(optimizer),
                "coef_diff": float(np.max(np.abs(neuron.coef_ - reference.coef_))),
                "objective_gap": float(f - f_ref),
                "converged": bool(neuron.converged_),
                "fold_converged": fold_converged,
                **(_proved(neuron, X_std, y, C) if loss == "log_loss" else {}),
            }
        )
        stopped = _stopped_fits(rows[-1])
        rows[-1]["note"] = f"stopped before tol: {stopped}" if stopped else ""
        details["coef"][(loss, optimizer)] = neuron.coef_.copy()
        details["curves"][(loss, optimizer)] = np.asarray(neuron.objective_curve_)
        details["oof_proba"][(loss, optimizer)] = oof
        progress(
            f"[{step}/{len(combos)}] {loss} / {optimizer}: {cv} folds in "
            f"{fit_time * cv:.2f} s, max|coef diff| {rows[-1]['coef_diff']:.1e}"
            + (f"; stopped before tol: {stopped}" if stopped else "")
        )

    if "skorch" in peers:
        model = SkorchPeer(C=C)
        _quiet_fit(model, X_std, y)
        net_name = type(model.net_).__name__
        scores, fit_time, oof, _ = _cross_validate_classifier(
            model, X, y, folds, classes
        )
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
                "iter_unit": "epochs",
                "coef_diff": float(
                    np.max(np.abs(_centred(model.coef_) - reference.coef_))
                ),
                "objective_gap": float(f - f_ref),
                # skorch has no stopping rule: it runs every epoch, converged or not.
                "converged": None,
                "fold_converged": None,
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
        "cv_splitter": "StratifiedKFold(shuffle=True), StandardScaler fitted per fold",
        "seed": SEED,
        "random_state": SEED,
        "match_tol": match_tol,
        "losses": losses,
        "optimizers": optimizers,
        "fits": fit_settings(NeuronClassifier, optimizers, overrides),
        "overrides": {key: dict(value) for key, value in (overrides or {}).items()},
        "peers": list(peers),
        "reference": "LogisticRegression(solver='newton-cholesky', tol=1e-10, "
        "max_iter=1000)",
        "roc_auc": "roc_auc" if classes.size == 2 else "roc_auc_ovr",
        **environment(),
    }
    counts = np.bincount(y_index)
    names = dataset.class_names
    info = {
        "name": dataset.name,
        "n_samples": int(X.shape[0]),
        "n_features": int(X.shape[1]),
        "n_classes": int(classes.size),
        "classes": [
            {"label": label.item() if hasattr(label, "item") else label,
             "name": names.get(label, None), "count": int(count)}
            for label, count in zip(classes, counts, strict=True)
        ],
        # LogisticRegression models P(y = classes_[1]) of a binary target.
        "positive_class": (classes[1].item() if hasattr(classes[1], "item")
                           else classes[1]) if classes.size == 2 else None,
        "notes": dataset.notes,
    }
    verdict = classification_verdict(rows, details, match_tol)
    takeaway = classification_takeaway(rows, match_tol)
    return StudyResult(
        "classification", info, settings, rows, verdict, details, takeaway
    )


def _coef_spread(coefs):
    """Largest difference between the coefficients of any two fits."""
    if len(coefs) < 2:
        return 0.0
    stacked = np.stack([np.ravel(c) for c in coefs])
    return float(np.max(stacked.max(axis=0) - stacked.min(axis=0)))


def _amount(value, spec=".0e"):
    """A difference in words: "0 (identical)" rather than "0e+00"."""
    return "0 (identical)" if value == 0 else format(value, spec)


def _shown(value):
    """A score as the table prints it."""
    return f"{value:.{SCORE_DECIMALS}f}"


def _cv_log_losses(ran):
    """What the table's CV log losses of ``ran`` say, compared as printed (a clause)."""
    shown = sorted({_shown(r["log_loss"]) for r in ran if "log_loss" in r})
    if not shown:
        return ""
    std = max((r.get("log_loss_std", 0.0) for r in ran), default=0.0)
    spread = f" (across folds ± up to {std:.2g})" if std else ""
    if len(shown) == 1:
        return f"; their CV log losses are equal to {SCORE_DECIMALS} decimals ({shown[0]})"
    return f"; their CV log losses differ: {shown[0]} to {shown[-1]}{spread}"


def _agreement(loss, ran, details, match_tol):
    """How the optimizers of one loss compare with each other (a clause).

    The coefficients compared are those of the full-data fits; the CV log
    losses are compared as the table prints them, so the clause never calls
    agreement what the table shows different.
    """
    if len(ran) < 2:
        return ""
    spread = _coef_spread([details["coef"][(loss, r["optimizer"])] for r in ran])
    cv = _cv_log_losses(ran)
    if loss in NON_CONVEX_LOSSES:
        return (
            f"; not convex in the coefficients (through the sigmoid), so optimizers may "
            f"stop at different points: here they differ by up to "
            f"{_amount(spread, '.2g')} in the coefficients of their full-data fits{cv}"
        )
    short = [r["optimizer"] for r in ran if not _every_fit_converged(r)]
    stopped = f" ({', '.join(short)} stopped before tol)" if short else ""
    if spread <= match_tol and not short:
        return (
            f"; its optimizers agree with each other to within {_amount(spread)} in the "
            f"coefficients of their full-data fits (a convex loss){cv}"
        )
    if spread <= match_tol:
        return (
            f"; its optimizers' full-data fits are within {_amount(spread)} of each "
            f"other, but not every fit met tol{stopped}{cv}"
        )
    return f"; its optimizers disagree with each other by up to {spread:.2g}{stopped}{cv}"


def _stopped_clause(ran):
    """Which fits of ``ran`` stopped before tol, full-data and CV folds (a clause)."""
    stopped = [f"{r['optimizer']}: {_stopped_fits(r)}" for r in ran if _stopped_fits(r)]
    if not stopped:
        return ""
    return (
        f"; stopped before tol — {'; '.join(stopped)} "
        "(the table's scores include these fits)"
    )


def _versus_reference(same, reference):
    """How the CV scores of ``same`` compare with the reference's, as printed (a clause)."""
    keys = [k for k in CLASSIFICATION_SCORES if k in reference]
    differ = [
        k for k in keys if any(_shown(r[k]) != _shown(reference[k]) for r in same if k in r)
    ]
    if not keys:
        return ""
    if not differ:
        return f"; CV scores equal LogisticRegression's to {SCORE_DECIMALS} decimals"
    parts = []
    for key in differ:
        values = sorted({_shown(r[key]) for r in same if key in r})
        parts.append(
            f"CV {key.replace('_', ' ')} {values[0]}"
            + (f" to {values[-1]}" if len(values) > 1 else "")
            + f" vs LogisticRegression's {_shown(reference[key])}"
        )
    return "; " + ", ".join(parts)


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
                f"{loss} with {who}: logistic regression to within {_amount(diff)} in "
                f"the coefficients of the full-data fit (objective gap "
                f"{_amount(gap)}{_proof(same, True)}){_versus_reference(same, reference)}"
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
        sentence = "; ".join(parts) + _stopped_clause(ran)
        sentences.append(sentence + ".")
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


def classification_takeaway(rows, match_tol=DEFAULT_MATCH_TOL):
    """Which to use, drawn from the measured rows (a list of sentences).

    The fastest optimizer that reached LogisticRegression under the log loss
    in every fit, full-data and CV folds (by mean fit time of a fold); and
    the losses ranked by their best CV log loss, saying whether the runner-up
    is within one standard deviation across folds of the best.
    """
    reference = rows[0]
    ran = [r for r in rows[1:] if r.get("status") == "ok"]
    sentences = []
    log_rows = [r for r in ran if r["loss"] == "log_loss"]
    reached = [
        r for r in log_rows if r["coef_diff"] <= match_tol and _every_fit_converged(r)
    ]
    if reached:
        fastest = min(reached, key=lambda r: r["fit_time"])
        others = [r for r in reached if r is not fastest]
        against = "".join(
            f", {r['optimizer']} {1000 * r['fit_time']:.1f} ms" for r in others
        )
        sentences.append(
            f"For logistic regression: optimizer={fastest['optimizer']!r} is the "
            f"fastest that reached LogisticRegression's coefficients (within "
            f"{match_tol:g}) in every fit: {1000 * fastest['fit_time']:.1f} ms a fold"
            f"{against}; LogisticRegression {1000 * reference['fit_time']:.1f} ms."
        )
    elif log_rows:
        sentences.append(
            "For logistic regression: no optimizer reached LogisticRegression's "
            f"coefficients (within {match_tol:g}) in every fit; raise max_iter or "
            "loosen --match-tol."
        )
    best = {}
    for r in ran:
        if r["loss"] not in best or r["log_loss"] < best[r["loss"]]["log_loss"]:
            best[r["loss"]] = r
    ranked = sorted(best.values(), key=lambda r: r["log_loss"])
    if len(ranked) > 1:
        top, second = ranked[0], ranked[1]
        listing = ", ".join(
            f"{r['loss']} {_shown(r['log_loss'])} ± {_shown(r.get('log_loss_std', 0.0))}"
            for r in ranked
        )
        close = second["log_loss"] - top["log_loss"] <= top.get("log_loss_std", 0.0)
        sentences.append(
            f"For probabilities: the best CV log loss by loss is {listing} (mean ± "
            f"std across folds); {top['loss']} is best"
            + (
                f", but {second['loss']} is within one std of it: the folds do not "
                "separate them."
                if close
                else f", ahead of {second['loss']} by more than one std across folds."
            )
        )
        # Ties as the table prints them: every model with the best printed accuracy.
        top_accuracy = max(_shown(r["accuracy"]) for r in ran)
        winners = {}
        for r in ran:
            if _shown(r["accuracy"]) == top_accuracy:
                winners.setdefault(r["loss"], []).append(r)
        who = "; ".join(
            f"{loss} ({', '.join(r['optimizer'] for r in group)}) ± "
            f"{_shown(group[0].get('accuracy_std', 0.0))}"
            for loss, group in winners.items()
        )
        sentences.append(
            f"For labels: the best CV accuracy is {top_accuracy}, by {who}; "
            f"LogisticRegression's is {_shown(reference['accuracy'])}."
        )
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

    from .._loss.losses import encode_classes, get_classification_loss

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
    if loss == "absolute_error":
        # The median regression: the same minimiser as the mean absolute error.
        return (
            "QuantileRegressor",
            QuantileRegressor(quantile=0.5, alpha=0.0, solver="highs"),
            True,
        )
    # Huber has no twin (HuberRegressor fits a scale too): compare to least squares.
    return "LinearRegression", LinearRegression(), loss == "squared_error"


def regression_combinations(losses, optimizers=None):
    """The (loss, optimizer) pairs the regression study fits, in order.

    ``optimizers=None`` gives every loss the full-batch optimizers, except
    the absolute error: its minimum is at a kink, where they stall short of
    it, so it gets NeuronRegressor's exact solver (:data:`EXACT_LAD`) alone.
    Optimizers that are given run for every loss, as given.
    """
    if optimizers is not None:
        return [(loss, optimizer) for loss in losses for optimizer in optimizers]
    return [
        (loss, optimizer)
        for loss in losses
        for optimizer in (
            (EXACT_LAD,) if loss == "absolute_error" else FULL_BATCH_OPTIMIZERS
        )
    ]


def _regression_scores(y_true, pred):
    """R², MAE and the mean Poisson and Gamma deviances (None where undefined:
    a Poisson deviance needs y >= 0, a Gamma deviance y > 0, both a positive
    prediction)."""
    positive = bool(np.all(pred > 0))
    return {
        "r2": r2_score(y_true, pred),
        "mae": mean_absolute_error(y_true, pred),
        "poisson_deviance": mean_poisson_deviance(y_true, pred)
        if positive and np.all(y_true >= 0)
        else None,
        "gamma_deviance": mean_gamma_deviance(y_true, pred)
        if positive and np.all(y_true > 0)
        else None,
    }


def _mean_scores(scores):
    """The mean of each score over the folds; None where a fold has none."""
    return {
        key: None
        if any(s[key] is None for s in scores)
        else float(np.mean([s[key] for s in scores]))
        for key in scores[0]
    }


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
    combos = regression_combinations(losses, optimizers)
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
            scores.append(_regression_scores(y[test], model.predict(X[test])))
        return _mean_scores(scores), float(np.mean(times))

    rows, references, details = [], {}, {"coef": {}, "curves": {}, "reference_coef": {}}
    for step, (loss, optimizer) in enumerate(_advancing(combos, advance), 1):
        row = {"model": "NeuronRegressor", "loss": loss, "optimizer": optimizer}
        reason = _target_fits(loss, y)
        if optimizer == EXACT_LAD and loss != "absolute_error":
            reason = f"{EXACT_LAD!r} is the exact solver of loss 'absolute_error' only"
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
        "combinations": [f"{loss} / {optimizer}" for loss, optimizer in combos],
        "penalty": "none",
    }
    info = {
        "name": dataset.name,
        "n_samples": int(X.shape[0]),
        "n_features": int(X.shape[1]),
        "notes": dataset.notes,
    }
    return StudyResult("regression", info, settings, rows, verdict, details)
