"""Draft quality per model and prompt version: what reviewers did with the drafts.

- ``acceptance_rate``: annotations that accepted the draft unchanged / annotations that
  judged it (accepted + edited + rejected; skips are no judgement). Each annotator's
  review counts, attributed to the draft it was made on (``Review.draft_id``).
- ``edit_distance``: normalised Levenshtein distance (edits / longer length, 0..1) of the
  draft's caption to the clip's final caption (``db.queries.final_of``: the adjudication,
  or the annotations when they agree), over clips whose final is accepted or edited.
  ``rapidfuzz`` computes it when installed; else the same distance in numpy.
- ``label_precision`` / ``label_recall``: the draft's labels against the final's, both
  through the emotion wheel, micro-averaged (shared emotions summed over clips / draft
  emotions summed, / final emotions summed).
- ``grounding_rate``: mean ``Draft.grounding_rate`` (share of clue sentences that name a
  cue of the cue text) over the chosen drafts of that model and prompt, reviewed or not.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import asdict, dataclass, field
from datetime import date
from typing import Any

import numpy as np
from sqlmodel import Session, col, select

from annotator.stats.data import chosen_drafts, drafts_by_id, finals, reviews_by_clip
from annotator.stats.wheel import emotion_set
from db.models import Draft, Review, ReviewKind, ReviewStatus

JUDGEMENTS = (ReviewStatus.ACCEPTED, ReviewStatus.EDITED, ReviewStatus.REJECTED)


def _levenshtein_numpy(a: str, b: str) -> int:
    """Edit distance, one numpy row per character of ``a``; insertions are a running
    minimum (row[j] = j + cummin(tmp[k] - k))."""
    if not a or not b:
        return max(len(a), len(b))
    codes_b = np.frombuffer(b.encode("utf-32-le"), dtype=np.uint32)
    offsets = np.arange(len(b) + 1)
    row = offsets.copy()
    for i, ch in enumerate(a, start=1):
        cost = (codes_b != ord(ch)).astype(np.int64)
        tmp = np.empty_like(row)
        tmp[0] = i
        tmp[1:] = np.minimum(row[1:] + 1, row[:-1] + cost)
        row = offsets + np.minimum.accumulate(tmp - offsets)
    return int(row[-1])


def normalized_levenshtein(a: str, b: str) -> float:
    """Levenshtein distance / the longer length: 0 identical, 1 nothing in common."""
    if not a and not b:
        return 0.0
    try:
        from rapidfuzz.distance import Levenshtein
    except ImportError:
        return _levenshtein_numpy(a, b) / max(len(a), len(b))
    return float(Levenshtein.normalized_distance(a, b))


@dataclass
class ModelQuality:
    model_id: str
    prompt_version: str
    n_drafts: int = 0  # chosen drafts
    n_reviewed: int = 0  # annotations that judged one of its drafts
    n_accepted: int = 0
    n_edited: int = 0
    n_rejected: int = 0
    n_final: int = 0  # clips with an accepted/edited final made on one of its drafts
    edit_distance: float | None = None
    label_precision: float | None = None
    label_recall: float | None = None
    grounding_rate: float | None = None
    n_grounded: int = 0
    _distances: list[float] = field(default_factory=list, repr=False)
    _grounding: list[float] = field(default_factory=list, repr=False)
    _tp: int = field(default=0, repr=False)
    _n_draft_labels: int = field(default=0, repr=False)
    _n_final_labels: int = field(default=0, repr=False)

    @property
    def acceptance_rate(self) -> float | None:
        return self.n_accepted / self.n_reviewed if self.n_reviewed else None

    def finish(self) -> None:
        d = self._distances
        self.edit_distance = sum(d) / len(d) if d else None
        self.label_precision = self._tp / self._n_draft_labels if self._n_draft_labels else None
        self.label_recall = self._tp / self._n_final_labels if self._n_final_labels else None
        g = self._grounding
        self.grounding_rate = sum(g) / len(g) if g else None
        self.n_grounded = len(g)

    def to_dict(self) -> dict[str, Any]:
        out = {k: v for k, v in asdict(self).items() if not k.startswith("_")}
        out["acceptance_rate"] = self.acceptance_rate
        return out


def draft_quality(session: Session, distances: bool = True) -> list[ModelQuality]:
    """One row per (model id, prompt version), sorted by them. ``distances=False`` leaves
    the edit distance out (the dataset card needs only the counts; the distance costs a few
    ms per clip without rapidfuzz)."""
    by_clip = reviews_by_clip(session)
    final_by_clip = finals(by_clip)
    chosen = chosen_drafts(session)
    ids = {r.draft_id for rs in by_clip.values() for r in rs if r.draft_id is not None}
    drafts: dict[int, Draft] = drafts_by_id(session, ids)
    rows: dict[tuple[str, str], ModelQuality] = {}

    def row(d: Draft) -> ModelQuality:
        key = (d.model_id, d.prompt_version)
        if key not in rows:
            rows[key] = ModelQuality(model_id=d.model_id, prompt_version=d.prompt_version)
        return rows[key]

    for d in chosen:
        q = row(d)
        q.n_drafts += 1
        if d.grounding_rate is not None:
            q._grounding.append(d.grounding_rate)
    for reviews in by_clip.values():
        for r in reviews:
            draft = drafts.get(r.draft_id) if r.draft_id is not None else None
            if r.kind != ReviewKind.ANNOTATION or draft is None or r.status not in JUDGEMENTS:
                continue
            q = row(draft)
            q.n_reviewed += 1
            q.n_accepted += r.status == ReviewStatus.ACCEPTED
            q.n_edited += r.status == ReviewStatus.EDITED
            q.n_rejected += r.status == ReviewStatus.REJECTED
        final = final_by_clip.get(reviews[0].clip_id)
        if final is None:
            continue
        draft_id = final.draft_id or next((r.draft_id for r in reviews if r.draft_id), None)
        draft = drafts.get(draft_id) if draft_id is not None else None
        if draft is None:
            continue
        q = row(draft)
        q.n_final += 1
        if distances and draft.caption is not None and final.caption is not None:
            q._distances.append(
                normalized_levenshtein(draft.caption.strip(), final.caption.strip())
            )
        predicted, truth = emotion_set(draft.labels), emotion_set(final.labels)
        q._tp += len(predicted & truth)
        q._n_draft_labels += len(predicted)
        q._n_final_labels += len(truth)
    out = [rows[k] for k in sorted(rows)]
    for q in out:
        q.finish()
    return out


@dataclass(frozen=True)
class DayAcceptance:
    day: date
    n_reviewed: int
    n_accepted: int

    @property
    def rate(self) -> float:
        return self.n_accepted / self.n_reviewed


def acceptance_by_day(session: Session) -> list[DayAcceptance]:
    """Annotations that judged a draft, per day of their last save, oldest day first."""
    counts: dict[date, list[int]] = defaultdict(lambda: [0, 0])
    query = select(Review.updated_at, Review.status).where(
        Review.kind == str(ReviewKind.ANNOTATION),
        col(Review.status).in_([str(s) for s in JUDGEMENTS]),
        col(Review.draft_id).is_not(None),
    )
    for updated_at, status in session.exec(query).all():
        c = counts[updated_at.date()]
        c[0] += 1
        c[1] += status == ReviewStatus.ACCEPTED
    return [DayAcceptance(day, n, a) for day, (n, a) in sorted(counts.items())]
