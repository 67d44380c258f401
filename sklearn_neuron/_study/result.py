"""What a study returns: its rows and the result that holds them.

A row is a plain dict (one model's scores, fit and note: JSON-ready values); a
:class:`StudyResult` holds the rows with the study's settings, verdict and the
arrays the figures draw. Only the standard library is imported here, so the
command's formatting (``report.py``) reads results without numpy.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

#: A study's row: one model's scores, fit and note (plain, JSON-ready values).
Row = dict[str, Any]


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
    dataset: dict[str, Any]
    settings: dict[str, Any]
    rows: list[Row]
    verdict: list[str]
    details: dict[str, Any] = field(default_factory=dict)
    takeaway: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        """Everything but ``details``, JSON-ready."""
        return {
            "task": self.task,
            "dataset": self.dataset,
            "settings": self.settings,
            "rows": self.rows,
            "verdict": self.verdict,
            "takeaway": self.takeaway,
        }
