"""What an export is asked for: format, filters, splits, media handling.

One frozen record travels from the CLI to the writers, so every writer applies the same
filters and no writer reads the environment or the command line itself.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path

from extractors.errors import AnnotatorError

FORMATS = ("hf", "jsonl", "mer-csv", "sharegpt", "preference")
#: Review statuses a clip's standing review may have to be exported (``--status``).
REVIEW_STATUSES = ("accepted", "edited", "rejected")
DEFAULT_STATUSES = ("accepted", "edited")
SPEAKER_SPLITS = ("train", "validation", "test")


class ExportError(AnnotatorError, ValueError):
    """The export cannot be written as asked (bad option, unsafe media, not an export)."""

    code = "export_failed"


@dataclass(frozen=True)
class ExportOptions:
    """Filters and layout of one export. ``include_drafts`` adds clips with no standing
    review (unreviewed, or annotators who disagree) from their chosen draft, flagged
    ``reviewed = False``; they never enter the ``track2``/``track3`` configurations."""

    statuses: tuple[str, ...] = DEFAULT_STATUSES
    include_drafts: bool = False
    min_agreement: float | None = None
    models: tuple[str, ...] = ()  # fnmatch patterns over the draft's model id
    since_date: date | None = None
    until_date: date | None = None
    since: Path | None = None  # an earlier export: write only clips changed since
    split_by_speaker: bool = False
    split_fractions: tuple[float, float, float] = (0.8, 0.1, 0.1)
    seed: int = 0
    copy_media: bool = True
    embed_media: bool = False
    link_media: bool = False
    media_roots: tuple[Path, ...] = ()  # extra folders a symlinked clip may point into
    shard_rows: int = 5000
    shard_bytes: int = 400 * 2**20  # embedded media: a shard stays under this
    with_stats: bool = True  # agreement figures in the card when annotator.stats has them
    extra: dict[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        unknown = [s for s in self.statuses if s not in REVIEW_STATUSES]
        if unknown or not self.statuses:
            raise ExportError(
                f"unknown review status {', '.join(unknown) or '(none)'}; "
                f"known: {', '.join(REVIEW_STATUSES)}"
            )
        fractions = self.split_fractions
        if len(fractions) != 3 or any(f < 0 for f in fractions) or abs(sum(fractions) - 1) > 1e-6:
            raise ExportError(
                f"split fractions must be three non-negative numbers that sum to 1, got {fractions}"
            )
        if self.min_agreement is not None and not 0 <= self.min_agreement <= 1:
            raise ExportError(f"--min-agreement must be within 0..1, got {self.min_agreement}")
        if self.since_date and self.until_date and self.since_date > self.until_date:
            raise ExportError("--since-date is after --until-date")
        if self.shard_rows < 1:
            raise ExportError("shard rows must be at least 1")


def parse_statuses(text: str) -> tuple[str, ...]:
    return tuple(s.strip().lower() for s in text.split(",") if s.strip())


def parse_fractions(text: str) -> tuple[float, float, float]:
    try:
        parts = tuple(float(p) for p in text.split(","))
    except ValueError as exc:
        raise ExportError(f"split fractions {text!r}: three numbers like 0.8,0.1,0.1") from exc
    if len(parts) != 3:
        raise ExportError(f"split fractions {text!r}: three numbers like 0.8,0.1,0.1")
    return (parts[0], parts[1], parts[2])


def split_name(value: str | None) -> str:
    """A Hub split name (letters, digits, underscores) for a clip's ``split`` field."""
    cleaned = re.sub(r"\W+", "_", (value or "").strip()).strip("_")
    return cleaned or "train"
