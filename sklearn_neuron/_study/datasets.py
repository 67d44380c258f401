"""The study's data: bundled datasets and CSV files, loaded and checked.

A :class:`Dataset` holds the features, the target and what was done to them on
the way in (one-hot encoding, rescaling, dropped columns), with sentences on
what the user may want to act on. Input the study cannot use raises
:class:`StudyInputError`, with a message that says what to change.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
from sklearn.datasets import (
    load_breast_cancer,
    load_diabetes,
    load_digits,
    load_iris,
    load_wine,
)

from .options import BUNDLED_TASKS, MAX_CLASSES

if TYPE_CHECKING:
    import pandas as pd


#: A non-numeric feature column with more distinct values is refused, not encoded.
MAX_CATEGORIES = 20


class StudyInputError(ValueError):
    """Input the study cannot use; the message says what to change."""


@dataclass
class Dataset:
    """Features, target and what was done to them on the way in."""

    name: str
    X: np.ndarray
    y: np.ndarray
    feature_names: list[str]
    task: str
    notes: list[str] = field(default_factory=list)
    #: Names of the class labels where the data give them (bundled datasets):
    #: the report says "1 (benign)", not only "1".
    class_names: dict[Any, str] = field(default_factory=dict)
    #: What the user may want to act on (ID-like or constant columns), one
    #: sentence each: the command prints them on stderr and in the report.
    warnings: list[str] = field(default_factory=list)
    #: The target's column name (CSV files), and whether the task was inferred
    #: from its values rather than given or bundled.
    target: str | None = None
    task_inferred: bool = False


#: Each bundled dataset's loader; the names and tasks are ``BUNDLED_TASKS``
#: (in ``options.py``, which ``--help`` reads without this module).
_BUNDLED_LOADERS: dict[str, Callable[[], Any]] = {
    "breast_cancer": load_breast_cancer,
    "iris": load_iris,
    "wine": load_wine,
    "digits": load_digits,
    "diabetes": load_diabetes,
}

#: Bundled datasets by name: (loader, task).
BUNDLED_DATASETS: dict[str, tuple[Callable[[], Any], str]] = {
    name: (_BUNDLED_LOADERS[name], task) for name, task in BUNDLED_TASKS.items()
}


def load_dataset(
    data: str | Path,
    target: str | None = None,
    task: str = "auto",
    drop: Sequence[str] = (),
) -> Dataset:
    """A bundled dataset by name, or a CSV file with a ``target`` column.

    The feature columns named in ``drop`` are left out first. Non-numeric
    feature columns with at most :data:`MAX_CATEGORIES` distinct values are
    one-hot encoded (and the encoding is noted); others, and missing values,
    are refused with a :class:`StudyInputError`. ID-like and constant columns
    are kept, with a sentence in ``warnings``. With ``task="auto"`` a CSV
    target of integers with more than :data:`MAX_CLASSES` distinct values is
    refused: it may be a count as well as classes, and only the user knows.
    """
    if isinstance(data, str) and data in BUNDLED_DATASETS:
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


def _drop_features(dataset: Dataset, drop: Sequence[str]) -> Dataset:
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


def _refuse_count_target(dataset: Dataset) -> None:
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


def too_small_for_folds(dataset: Dataset, smallest: int, cv: int) -> str:
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


def _looks_like_id(column: pd.Series) -> bool:
    """Whether a feature column looks like a row identifier: integers, each
    of more than :data:`MAX_CATEGORIES` rows its own. (Such a column of
    strings is refused as too many categories.)"""
    import pandas as pd

    return (
        len(column) > MAX_CATEGORIES
        and pd.api.types.is_integer_dtype(column)
        and column.nunique() == len(column)
    )


def _column_warnings(frame: pd.DataFrame) -> list[str]:
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


def _read_csv(path: str | Path, target: str | None, drop: Sequence[str] = ()) -> Dataset:
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


#: Feature columns with entries beyond this are divided by a power of two
#: before the study: StandardScaler squares and sums them, which overflows
#: float64 from about 1e154 / sqrt(n_samples) on (and leaves NaN or zeros).
_LARGEST_FEATURE = 2.0**100


def rescale_large_features(dataset: Dataset) -> Dataset:
    """Divide the feature columns too large to standardize by a power of two.

    The study sees the features only through ``StandardScaler``, whose output
    a column's scale does not change; dividing by a power of two is exact
    (no rounding), so the results are those of the data as given, without
    the overflow. Each such column is brought to a largest magnitude in
    [0.5, 1); the dataset's notes say which.
    """
    X = np.asarray(dataset.X, dtype=float)
    largest = np.abs(X).max(axis=0)
    large = largest > _LARGEST_FEATURE
    if not large.any():
        return dataset
    _, exponent = np.frexp(largest)
    X = np.ldexp(X, np.where(large, -exponent, 0))
    names = [name for name, is_large in zip(dataset.feature_names, large, strict=True)
             if is_large]
    note = (
        f"divided the columns {', '.join(names)} (values beyond {_LARGEST_FEATURE:.3g}, "
        "too large for float64 standardization) by powers of two: the standardized "
        "data, and so every result, are unchanged"
    )
    return replace(dataset, X=X, notes=[*dataset.notes, note])
