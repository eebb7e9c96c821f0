"""Pure helpers of the review app: parsing, prefilling and deciding what a button saves.

Nothing here touches Streamlit or the database, so it is unit-tested directly.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from db.models import Draft, DraftStatus, Review, ReviewStatus
from db.queries import ReviewInput
from extractors.errors import AnnotatorError

STEP = 0.05
VALENCE_RANGE = (-1.0, 1.0)
AROUSAL_RANGE = (0.0, 1.0)
DEFAULT_VALENCE = 0.0
DEFAULT_AROUSAL = 0.5

ACTIONS = ("accept", "edit", "reject", "skip")


class ReviewValidationError(AnnotatorError, ValueError):
    """What the annotator entered cannot be saved; the message says why."""

    code = "invalid_review"


def parse_labels(text: str) -> list[str]:
    """``"happy, Excited ,,"`` -> ``["happy", "excited"]``.

    Split on commas (or semicolons), trimmed, lower case, no blanks or repeats.
    """
    labels: list[str] = []
    for part in re.split(r"[,;，]", text or ""):
        label = " ".join(part.split()).lower()
        if label and label not in labels:
            labels.append(label)
    return labels


def format_labels(labels: list[str] | None) -> str:
    return ", ".join(labels or [])


def snap(value: float | None, bounds: tuple[float, float], default: float) -> float:
    """A value the slider can show: on the step grid, inside its bounds (``default`` for None)."""
    if value is None:
        return default
    lo, hi = bounds
    return round(min(max(round(value / STEP) * STEP, lo), hi), 2)


@dataclass(frozen=True)
class FormValues:
    caption: str = ""
    labels: str = ""
    valence: float = DEFAULT_VALENCE
    arousal: float = DEFAULT_AROUSAL
    notes: str = ""


def is_valid(draft: Draft | None) -> bool:
    return draft is not None and draft.status == DraftStatus.VALID and bool(draft.caption)


def draft_form(draft: Draft | None) -> FormValues:
    """The form as the draft fills it; empty for a missing or invalid draft."""
    if draft is None or not is_valid(draft):
        return FormValues()
    return FormValues(
        caption=draft.caption or "",
        labels=format_labels(draft.labels),
        valence=snap(draft.valence, VALENCE_RANGE, DEFAULT_VALENCE),
        arousal=snap(draft.arousal, AROUSAL_RANGE, DEFAULT_AROUSAL),
    )


def prefill(review: Review | None, draft: Draft | None) -> FormValues:
    """The existing review when there is one, else the draft."""
    if review is None:
        return draft_form(draft)
    return FormValues(
        caption=review.caption or "",
        labels=format_labels(review.labels),
        valence=snap(review.valence, VALENCE_RANGE, DEFAULT_VALENCE),
        arousal=snap(review.arousal, AROUSAL_RANGE, DEFAULT_AROUSAL),
        notes=review.notes or "",
    )


def unchanged(form: FormValues, draft: Draft | None) -> bool:
    """True when the form says what the (valid) draft says."""
    if not is_valid(draft):
        return False
    shown = draft_form(draft)
    return (
        form.caption.strip() == shown.caption.strip()
        and parse_labels(form.labels) == parse_labels(shown.labels)
        and abs(form.valence - shown.valence) < 1e-6
        and abs(form.arousal - shown.arousal) < 1e-6
    )


def _draft_as_is(draft: Draft, notes: str | None, time_spent_s: float | None) -> ReviewInput:
    return ReviewInput(
        status=ReviewStatus.ACCEPTED,
        caption=draft.caption,
        labels=list(draft.labels),
        valence=draft.valence,
        arousal=draft.arousal,
        notes=notes,
        time_spent_s=time_spent_s,
    )


def decide(
    action: str,
    annotator: str,
    form: FormValues,
    draft: Draft | None,
    time_spent_s: float | None = None,
) -> ReviewInput:
    """What a button saves, or ReviewValidationError when it must save nothing.

    accept: the draft as is. edit: the form (stored as accepted when it equals the
    draft). reject / skip: the form as it stands, for the record.
    """
    if action not in ACTIONS:
        raise ValueError(f"unknown action {action!r}")
    if not annotator.strip():
        raise ReviewValidationError("Enter your annotator name in the sidebar before saving.")
    notes = form.notes.strip() or None
    if action == "accept":
        if draft is None or not is_valid(draft):
            raise ReviewValidationError(
                "This clip has no valid draft to accept: write a caption and use Save edit, "
                "or Reject."
            )
        return _draft_as_is(draft, notes, time_spent_s)
    caption = form.caption.strip()
    if action == "edit":
        if not caption:
            raise ReviewValidationError("The caption is empty: write one, or Reject / Skip.")
        if draft is not None and unchanged(form, draft):
            return _draft_as_is(draft, notes, time_spent_s)
    status = {
        "edit": ReviewStatus.EDITED,
        "reject": ReviewStatus.REJECTED,
        "skip": ReviewStatus.SKIPPED,
    }[action]
    return ReviewInput(
        status=status,
        caption=caption or None,
        labels=parse_labels(form.labels),
        valence=form.valence,
        arousal=form.arousal,
        notes=notes,
        time_spent_s=time_spent_s,
    )


def queue_label(clip_id: int, name: str, review_status: str | None) -> str:
    """Unique per clip (the selectbox tells options apart by their label)."""
    return f"#{clip_id} {name} — {review_status or 'to review'}"


def next_clip(unreviewed: list[int], current: int) -> int | None:
    """The next unreviewed clip after ``current`` in queue order, wrapping round; None when done."""
    if not unreviewed:
        return None
    after = [c for c in unreviewed if c > current]
    return after[0] if after else unreviewed[0]


def missing_text(missing: dict[str, str] | None) -> str:
    """``{"voice": "no audio"}`` -> ``"voice (no audio)"``."""
    return ", ".join(f"{k} ({v})" if v else k for k, v in sorted((missing or {}).items()))


UNGROUNDED_MARK = "⚠ not in the cues:"


def marked_clues(text: str | None, ungrounded: list[str] | None) -> str:
    """A clue field for the review UI, each clue that names no cue of the cue text marked
    (``Draft.ungrounded_clues``, see ``annotator.drafting.grounding``)."""
    from annotator.drafting.grounding import split_clues

    flagged = set(ungrounded or [])
    parts = [
        f":orange[{UNGROUNDED_MARK} {clue}]" if clue in flagged else clue
        for clue in split_clues(text)
    ]
    return " ".join(parts) or "-"
