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
    labels: tuple[str, ...] = ()
    valence: float = DEFAULT_VALENCE
    arousal: float = DEFAULT_AROUSAL
    notes: str = ""
    reject_reason: str = ""


def clean_labels(chips: list[str] | tuple[str, ...] | str) -> tuple[str, ...]:
    """Chips (or a comma-separated string) as stored labels: trimmed, lower case, unique."""
    text = chips if isinstance(chips, str) else ",".join(chips)
    return tuple(parse_labels(text))


def is_valid(draft: Draft | None) -> bool:
    return draft is not None and draft.status == DraftStatus.VALID and bool(draft.caption)


def draft_form(draft: Draft | None) -> FormValues:
    """The form as the draft fills it; empty for a missing or invalid draft."""
    if draft is None or not is_valid(draft):
        return FormValues()
    return FormValues(
        caption=draft.caption or "",
        labels=clean_labels(draft.labels or []),
        valence=snap(draft.valence, VALENCE_RANGE, DEFAULT_VALENCE),
        arousal=snap(draft.arousal, AROUSAL_RANGE, DEFAULT_AROUSAL),
    )


def prefill(review: Review | None, draft: Draft | None) -> FormValues:
    """The existing review when there is one, else the draft."""
    if review is None:
        return draft_form(draft)
    return FormValues(
        caption=review.caption or "",
        labels=clean_labels(review.labels or []),
        valence=snap(review.valence, VALENCE_RANGE, DEFAULT_VALENCE),
        arousal=snap(review.arousal, AROUSAL_RANGE, DEFAULT_AROUSAL),
        notes=review.notes or "",
        reject_reason=review.reject_reason or "",
    )


def unchanged(form: FormValues, draft: Draft | None) -> bool:
    """True when the form says what the (valid) draft says."""
    if not is_valid(draft):
        return False
    shown = draft_form(draft)
    return (
        form.caption.strip() == shown.caption.strip()
        and clean_labels(form.labels) == shown.labels
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
    draft). reject: the form as it stands and the reason, which is required. skip: the
    form as it stands, for the record.
    """
    if action not in ACTIONS:
        raise ValueError(f"unknown action {action!r}")
    if not annotator.strip():
        raise ReviewValidationError("Sign in before saving.")
    notes = form.notes.strip() or None
    reason = " ".join(form.reject_reason.split()) or None
    if action == "reject" and reason is None:
        raise ReviewValidationError("Say why you reject the draft (Reject reason), then Reject.")
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
        labels=list(clean_labels(form.labels)),
        valence=form.valence,
        arousal=form.arousal,
        notes=notes,
        time_spent_s=time_spent_s,
        reject_reason=reason if action == "reject" else None,
    )


def queue_label(
    clip_id: int, name: str, my_status: str | None, n_reviews: int = 0, flag: str | None = None
) -> str:
    """Unique per clip (the selectbox tells options apart by their label): my verdict, how
    many reviews the clip has, and an error or disagreement flag."""
    label = f"#{clip_id} {name} — {my_status or 'to review'}"
    if n_reviews:
        label += f" · {n_reviews} review{'s' if n_reviews > 1 else ''}"
    return label + (f" · {flag}" if flag else "")


_MD_SPECIAL = re.compile(r"([\\`*_{}\[\]()#+\-.!|~<>$:=^])")


def md_escape(text: str | None) -> str:
    """Text shown through ``st.markdown`` exactly as written: markdown, HTML, emoji
    shortcodes and colour directives in model or annotator text stay literal."""
    return _MD_SPECIAL.sub(r"\\\1", text or "").replace("\n", "  \n")


VERDICT = ("status", "caption", "labels", "valence", "arousal", "notes", "reject_reason")


def verdict_of(review: object) -> dict[str, object]:
    """The fields of a review (a Review row, a ReviewInput or a Side) a person decides on."""
    out: dict[str, object] = {}
    for name in VERDICT:
        value = getattr(review, name, None)
        if name == "labels":
            value = tuple(value or ())
        elif isinstance(value, str):
            value = value.strip() or None
        elif isinstance(value, float):
            value = round(value, 2)
        out[name] = value
    return out


def differing(a: object, b: object) -> list[str]:
    """Verdict fields in which two versions differ (the conflict view marks them)."""
    va, vb = verdict_of(a), verdict_of(b)
    return [name for name in VERDICT if va[name] != vb[name]]


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
        f":orange[{UNGROUNDED_MARK} {md_escape(clue)}]" if clue in flagged else md_escape(clue)
        for clue in split_clues(text)
    ]
    return " ".join(parts) or "-"


_HEADING = re.compile(r"^(#{1,6})\s+(.*)$")
_BULLET = re.compile(r"^(\s*)([-*]|\d+\.)\s+(.*)$")


def cue_markdown(text: str) -> str:
    """The textualizer's readable cue text as markdown that keeps only its own structure
    (headings, bullets, **bold** spans); everything else, transcript words included, is
    escaped, so ASR output cannot add links, HTML or directives."""

    def inline(part: str) -> str:
        spans = part.split("**")
        if len(spans) % 2 == 0:  # an unpaired **: no bold at all
            return md_escape(part)
        return "".join(
            f"**{md_escape(s)}**" if i % 2 and s.strip() else md_escape(s)
            for i, s in enumerate(spans)
        )

    lines = []
    for line in (text or "").splitlines():
        heading, bullet = _HEADING.match(line), _BULLET.match(line)
        if heading:
            lines.append(f"**{md_escape(heading.group(2))}**")
        elif bullet:
            indent = "  " * (len(bullet.group(1)) // 2)
            lines.append(f"{indent}- {inline(bullet.group(3))}")
        else:
            lines.append(inline(line))
    return "  \n".join(lines)  # hard breaks: the text's own line structure
