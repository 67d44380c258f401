"""The ``sklearn-neuron`` command: is this neuron logistic regression?

``python -m sklearn_neuron`` (or ``sklearn-neuron``) runs the study of
:mod:`sklearn_neuron._study.runs` — every loss x optimizer of NeuronClassifier,
cross-validated against LogisticRegression — prints a table and a verdict,
and writes figures and a report into ``--out``. This module owns the
arguments and the command's flow; the data are read by ``datasets.py``, the
computation lives in ``runs.py``, the tables and the report in ``report.py``
and the figures in ``plots.py``.

Bad input ends the command with a one-line ``error: ...`` on stderr and exit
status 2, as argparse does for bad arguments.

At import this module needs only the standard library (the parser's names and
defaults come from ``options.py``, the formatting from ``report.py``):
``--help`` and bad arguments are answered without importing numpy,
scikit-learn or torch, which the functions that need them import when called.
"""

from __future__ import annotations

import argparse
import errno
import os
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from . import options as _study_options
from .report import format_json, format_markdown, format_table, write_report

if TYPE_CHECKING:
    from .datasets import Dataset
    from .result import StudyResult

PROG = "sklearn-neuron"


class _UsageError(Exception):
    """Bad input: reported as ``error: ...`` with exit status 2."""


def _names(text: str) -> list[str]:
    return [name.strip() for name in text.split(",") if name.strip()]


def _positive_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
    if not value > 0:
        raise argparse.ArgumentTypeError(f"must be > 0 (or inf), got {text!r}")
    return value


def _folds(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not an integer: {text!r}") from None
    if value < 2:
        raise argparse.ArgumentTypeError(f"needs at least 2 folds, got {value}")
    return value


def build_parser() -> argparse.ArgumentParser:
    """The command's argument parser."""
    bundled = ", ".join(_study_options.BUNDLED_TASKS)
    parser = argparse.ArgumentParser(
        prog=PROG,
        description=(
            "Cross-validate a single torch neuron (NeuronClassifier) for each loss x "
            "optimizer against LogisticRegression, print a table and a verdict, and "
            "write figures and a report. Under log loss the neuron is logistic "
            "regression; under other losses it is a different model, and the table "
            "says by how much."
        ),
    )
    parser.add_argument(
        "--data",
        default="breast_cancer",
        help=f"a bundled dataset ({bundled}) or a CSV file (default: breast_cancer)",
    )
    parser.add_argument("--target", help="the target column of a CSV file")
    parser.add_argument(
        "--drop",
        type=_names,
        default=[],
        metavar="COLS",
        help="comma-separated feature columns to leave out before the study (an ID, "
        "a constant, a leak)",
    )
    parser.add_argument(
        "--task",
        choices=["auto", "classification", "regression"],
        default="auto",
        help="regression compares NeuronRegressor with LinearRegression, "
        "PoissonRegressor, GammaRegressor, TweedieRegressor, QuantileRegressor "
        "(default: from the dataset; a CSV target with many distinct float values "
        f"is regression, one of more than {_study_options.MAX_CLASSES} distinct integers "
        "needs --task)",
    )
    parser.add_argument("--losses", type=_names, help="comma-separated (default: all)")
    parser.add_argument(
        "--optimizers",
        type=_names,
        help="comma-separated, any the estimator accepts (default: newton, lbfgs "
        "and sgd for classification; newton and lbfgs for regression, and for "
        f"absolute_error its exact solver '{_study_options.EXACT_LAD}' alone)",
    )
    parser.add_argument(
        "--C",
        type=_positive_float,
        default=1.0,
        help="inverse regularization strength, LogisticRegression's (default: 1)",
    )
    parser.add_argument(
        "--cv", type=_folds, default=5, help="number of stratified folds (default: 5)"
    )
    parser.add_argument(
        "--out",
        default="out",
        help="folder for the figures and report.html / report.md (default: out)",
    )
    parser.add_argument(
        "--no-figures", action="store_true", help="write the report without figures"
    )
    parser.add_argument(
        "--format",
        choices=["table", "markdown", "json"],
        default="table",
        help="how the results are printed on stdout (default: table)",
    )
    parser.add_argument(
        "--match-tol",
        type=_positive_float,
        default=_study_options.DEFAULT_MATCH_TOL,
        help="largest coefficient difference still called the same model "
        f"(default: {_study_options.DEFAULT_MATCH_TOL:g})",
    )
    parser.add_argument(
        "--peers",
        type=_names,
        default=[],
        help="comma-separated other libraries to add as rows, when installed: "
        f"{', '.join(_study_options.PEERS)} (skorch trains the same module under the log loss "
        "with SGD as the neuron's sgd: same batch size, step and epochs; mlp fits "
        "MLPClassifier with one hidden layer at alpha=1/C from several seeds and "
        "certifies each output layer as logistic regression on its hidden layer; "
        "classification only)",
    )
    parser.add_argument(
        "-q", "--quiet", action="store_true", help="no progress lines on stderr"
    )
    parser.add_argument(
        "--progress",
        action="store_true",
        help="a progress bar over the fits on stderr (needs tqdm; default: shown "
        "when stderr is a terminal and tqdm is installed, never with --quiet)",
    )
    return parser


def _check_names(kind: str, given: Sequence[str], known: Sequence[str]) -> None:
    unknown = [name for name in given if name not in known]
    if unknown:
        raise _UsageError(
            f"unknown {kind} {', '.join(map(repr, unknown))}; choose from: "
            f"{', '.join(known)}"
        )


def check_out(out: str | Path) -> None:
    """Refuse an ``--out`` that cannot become a writable folder, before any work.

    The study takes minutes; a report that cannot be written must say so at
    once, not in a traceback at the end. Nothing is created here.
    """
    try:
        _check_out(out)
    except OSError as exc:  # a path the system refuses to look at, e.g. too long
        raise _UsageError(f"--out {str(out)!r}: {_os_reason(exc)}") from None


def _os_reason(exc: OSError) -> str:
    """What an OSError on a path given on the command line says to do, in words."""
    if exc.errno == errno.ENAMETOOLONG:
        return f"{exc.strerror}; give a shorter path (or names of fewer characters)"
    return f"cannot be used ({exc.strerror or exc}); give another path"


def _check_out(out: str | Path) -> None:
    path = Path(out)
    if path.exists():
        if not path.is_dir():
            raise _UsageError(f"--out {str(out)!r} is a file, not a folder; give a folder")
        existing = path
    else:
        existing = path.absolute().parent
        while not existing.exists():
            existing = existing.parent
        if not existing.is_dir():
            raise _UsageError(
                f"--out {str(out)!r} cannot be created: {str(existing)!r} is a file, "
                "not a folder"
            )
    if not os.access(existing, os.W_OK | os.X_OK):
        raise _UsageError(
            f"--out {str(out)!r}: the folder {str(existing)!r} is not writable; "
            "give a folder you can write to"
        )


def run(
    args: argparse.Namespace, progress: Callable[[str], object]
) -> tuple[StudyResult, dict[str, str], Path]:
    """Load the data, run the study, write figures and report; return the outputs."""
    from .. import NeuronRegressor
    from . import datasets as _datasets
    from . import fitting as _fitting
    from . import peers as _peers
    from . import runs as _runs

    check_out(args.out)
    dataset = _datasets.rescale_large_features(
        _datasets.load_dataset(args.data, args.target, args.task, args.drop)
    )
    for note in dataset.notes:
        progress(f"note: {note}")
    for said in dataset.warnings:  # shown under --quiet too: the user may act on it
        print(f"{PROG}: warning: {said}", file=sys.stderr)
    if dataset.task == "regression":
        losses, offered = (
            _fitting.regression_losses(),
            [*_fitting.available_optimizers(NeuronRegressor), _study_options.EXACT_LAD],
        )
    else:
        losses = _fitting.classification_losses()
        offered = _fitting.available_optimizers()
    if args.losses:
        _check_names("loss", args.losses, losses)
        losses = args.losses
    optimizers: list[str] | None
    if args.optimizers:
        _check_names("optimizer", args.optimizers, offered)
        optimizers = args.optimizers
    elif dataset.task == "classification":
        optimizers = list(_fitting.DEFAULT_OPTIMIZERS)
    else:
        optimizers = None  # the study's per-loss defaults (the exact LAD solver)
    if args.peers:
        _check_names("peer", args.peers, _study_options.PEERS)
        if dataset.task == "regression":
            raise _UsageError("--peers is for classification; drop it for --task regression")
        missing = [name for name in args.peers if not _peers.peer_available(name)]
        if missing:
            raise _UsageError(
                f"--peers {','.join(missing)}: not installed; pip install "
                + " ".join(f"'sklearn-neuron[{name}]'" for name in missing)
            )
    if dataset.task == "regression":
        combinations = len(_runs.regression_combinations(losses, optimizers))
        plan = f"{len(losses)} losses, {combinations} loss x optimizer combinations"
    else:
        assert optimizers is not None  # set above for classification
        combinations = len(losses) * len(optimizers)
        plan = f"{len(losses)} losses x {len(optimizers)} optimizers"
    progress(f"{dataset.name} ({dataset.task}): {plan}, {args.cv}-fold CV")
    bar = _progress_bar(args, combinations)
    try:
        result = _run_study(
            args, dataset, losses, optimizers,
            progress if bar is None else bar.lines(progress),
            None if bar is None else bar.update,
        )
    finally:
        if bar is not None:
            bar.close()
    result.dataset["warnings"] = list(dataset.warnings)
    return result, *_outputs(args, result, progress)


def _run_study(
    args: argparse.Namespace,
    dataset: Dataset,
    losses: Sequence[str],
    optimizers: Sequence[str] | None,
    progress: Callable[[str], object],
    advance: Callable[[], object] | None,
) -> StudyResult:
    """The classification or regression study of ``dataset``."""
    from . import runs as _runs

    if dataset.task == "regression":
        result = _runs.run_regression_study(
            dataset,
            losses=losses,
            optimizers=optimizers,
            cv=args.cv,
            match_tol=args.match_tol,
            progress=progress,
            advance=advance,
        )
    else:
        result = _runs.run_classification_study(
            dataset,
            losses=losses,
            optimizers=optimizers,
            C=args.C,
            cv=args.cv,
            match_tol=args.match_tol,
            peers=args.peers,
            progress=progress,
            advance=advance,
        )
    return result


def _outputs(
    args: argparse.Namespace, result: StudyResult, progress: Callable[[str], object]
) -> tuple[dict[str, str], Path]:
    """Figures and the report of ``result``; returns ``(figures, report)``."""
    from . import plots as _plots

    figures: dict[str, str] | None = {}
    if args.no_figures:
        progress("figures skipped (--no-figures)")
    elif not _plots.matplotlib_available():
        progress(
            "figures skipped: matplotlib is not installed "
            "(pip install 'sklearn-neuron[plots]')"
        )
    else:
        progress("drawing figures")
        figures = None
    try:
        if figures is None:
            figures = _plots.save_figures(result, args.out)
        report = write_report(result, args.out, figures)
    except OSError as exc:  # the folder changed while the study ran (checked before)
        raise _UsageError(
            f"cannot write the report into --out {str(args.out)!r}: {exc}"
        ) from exc
    return figures, report


class _ProgressBar:
    """A tqdm bar over the study's fits on stderr, with the progress lines above it."""

    def __init__(self, tqdm: Any, total: int) -> None:
        self._bar = tqdm(total=total, desc=PROG, unit="fit", file=sys.stderr, leave=False)

    def lines(self, progress: Callable[[str], object]) -> Callable[[str], None]:
        """``progress`` writing its lines above the bar instead of through it."""

        def write(line: str) -> None:
            self._bar.clear()
            progress(line)
            self._bar.refresh()

        return write

    def update(self) -> None:
        self._bar.update(1)

    def close(self) -> None:
        self._bar.close()


def _progress_bar(args: argparse.Namespace, total: int) -> _ProgressBar | None:
    """The study's progress bar, or None (``--quiet``, no terminal, no tqdm)."""
    if args.quiet or not (args.progress or sys.stderr.isatty()):
        return None
    try:
        from tqdm import tqdm
    except ImportError:
        if not args.progress:
            return None
        raise _UsageError(
            "--progress needs tqdm, which is not installed: "
            "pip install 'sklearn-neuron[progress]' (or pip install tqdm)"
        ) from None
    return _ProgressBar(tqdm, total)


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of ``sklearn-neuron`` and ``python -m sklearn_neuron``."""
    parser = build_parser()
    args = parser.parse_args(argv)
    start = time.perf_counter()
    # Only now, with the arguments good, the study's machinery (torch and
    # scikit-learn): --help and a usage error exit above without it.
    import torch

    from .datasets import StudyInputError

    # The study fits small problems many times: there torch's thread pool costs
    # more than it gains (most on a machine shared with other work), so the
    # command runs its fits on one thread.
    torch.set_num_threads(1)

    def progress(line: str) -> None:
        if not args.quiet:
            print(
                f"[{PROG} {time.perf_counter() - start:5.1f}s] {line}", file=sys.stderr
            )

    try:
        result, figures, report = run(args, progress)
    except (_UsageError, StudyInputError) as exc:
        print(f"{PROG}: error: {exc}", file=sys.stderr)
        return 2

    if args.format == "json":
        print(format_json(result, figures, report))
    elif args.format == "markdown":
        print(format_markdown(result))
    else:
        print(format_table(result))
    progress(f"report: {report}")
    return 0
