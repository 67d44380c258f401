"""The study's conclusions in words: the verdict and which model to use.

Drawn from the rows of a study (plain dicts), one sentence per loss (and per
peer), with numbers compared as the table prints them, so a sentence never
calls equal what reads different.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

import numpy as np

from .options import DEFAULT_MATCH_TOL, SCORE_DECIMALS
from .result import Row
from .scores import CLASSIFICATION_SCORES

#: Losses that are not convex in the coefficients: their optimizers may stop
#: at different points, and the verdict says by how much.
NON_CONVEX_LOSSES = ("squared_error",)


def stopped_fits(row: Row) -> str:
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


def _every_fit_converged(row: Row) -> bool:
    return row.get("converged") is not False and all(row.get("fold_converged") or [])


def _proof(rows: Iterable[Row], reached: bool) -> str:
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


def _coef_spread(coefs: Sequence[np.ndarray]) -> float:
    """Largest difference between the coefficients of any two fits."""
    if len(coefs) < 2:
        return 0.0
    stacked = np.stack([np.ravel(c) for c in coefs])
    return float(np.max(stacked.max(axis=0) - stacked.min(axis=0)))


def _amount(value: float, spec: str = ".0e") -> str:
    """A difference in words: "0 (identical)" rather than "0e+00"."""
    return "0 (identical)" if value == 0 else format(value, spec)


def _shown(value: float) -> str:
    """A score as the table prints it."""
    return f"{value:.{SCORE_DECIMALS}f}"


def _cv_log_losses(ran: Sequence[Row]) -> str:
    """What the table's CV log losses of ``ran`` say, compared as printed (a clause)."""
    shown = sorted({_shown(r["log_loss"]) for r in ran if "log_loss" in r})
    if not shown:
        return ""
    std = max((r.get("log_loss_std", 0.0) for r in ran), default=0.0)
    spread = f" (across folds ± up to {std:.2g})" if std else ""
    if len(shown) == 1:
        return f"; their CV log losses are equal to {SCORE_DECIMALS} decimals ({shown[0]})"
    return f"; their CV log losses differ: {shown[0]} to {shown[-1]}{spread}"


def _agreement(loss: str, ran: Sequence[Row], details: dict[str, Any], match_tol: float) -> str:
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


def _stopped_clause(ran: Sequence[Row]) -> str:
    """Which fits of ``ran`` stopped before tol, full-data and CV folds (a clause)."""
    stopped = [f"{r['optimizer']}: {stopped_fits(r)}" for r in ran if stopped_fits(r)]
    if not stopped:
        return ""
    return (
        f"; stopped before tol — {'; '.join(stopped)} "
        "(the table's scores include these fits)"
    )


def _versus_reference(same: Sequence[Row], reference: Row) -> str:
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


def classification_verdict(
    rows: Sequence[Row], details: dict[str, Any], match_tol: float = DEFAULT_MATCH_TOL
) -> list[str]:
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


def classification_takeaway(
    rows: Sequence[Row], match_tol: float = DEFAULT_MATCH_TOL
) -> list[str]:
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
    best: dict[str, Row] = {}
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
        winners: dict[str, list[Row]] = {}
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


def _mlp_sentence(row: Row) -> str:
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


def regression_verdict(rows: Sequence[Row], match_tol: float = DEFAULT_MATCH_TOL) -> list[str]:
    """One sentence per loss of a regression study: its reference's model, and to within what."""
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
    return verdict
