"""Every figure ``annotator stats`` shows, gathered once into one typed record."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from typing import Any

from sqlmodel import Session

from annotator.stats.agreement import (
    Alpha,
    PairStats,
    all_alphas,
    annotator_pairs,
)
from annotator.stats.data import finals, judgements, multi_rated, ratings, reviews_by_clip
from annotator.stats.quality import DayAcceptance, ModelQuality, acceptance_by_day, draft_quality
from annotator.stats.similarity import Embedder, Similarity, caption_similarity
from annotator.stats.wheel import emotion_set, normalise


@dataclass(frozen=True)
class StatsReport:
    n_clips_reviewed: int  # clips with at least one judged annotation
    n_clips_multi: int  # ... with two or more: the agreement units
    n_finals: int  # clips whose final review is accepted or edited
    alphas: dict[str, Alpha]
    caption_similarity: Similarity
    pairs: list[PairStats]
    quality: list[ModelQuality]
    acceptance_by_day: list[DayAcceptance]
    label_counts: dict[str, int]  # final labels' emotions (wheel), clips naming each
    unknown_labels: dict[str, int]  # final labels the wheel kept as themselves
    va_points: list[tuple[float, float, str]]  # final (valence, arousal, primary emotion)

    def to_dict(self) -> dict[str, Any]:
        return {
            "n_clips_reviewed": self.n_clips_reviewed,
            "n_clips_multi": self.n_clips_multi,
            "n_finals": self.n_finals,
            "alpha": {k: a.to_dict() for k, a in self.alphas.items()},
            "caption_similarity": self.caption_similarity.to_dict(),
            "pairs": [p.to_dict() for p in self.pairs],
            "draft_quality": [q.to_dict() for q in self.quality],
            "acceptance_by_day": [
                {"day": d.day.isoformat(), "n_reviewed": d.n_reviewed, "n_accepted": d.n_accepted}
                for d in self.acceptance_by_day
            ],
            "label_counts": self.label_counts,
            "unknown_labels": self.unknown_labels,
        }


def collect(
    session: Session, embedder: Embedder | None = None, resamples: int = 1000
) -> StatsReport:
    """Everything, read once; ``resamples``: bootstrap draws for the alpha intervals."""
    judged = ratings(session)
    multi = multi_rated(judged)
    final = finals(reviews_by_clip(session))
    label_counts: Counter[str] = Counter()
    unknown: Counter[str] = Counter()
    points: list[tuple[float, float, str]] = []
    for review in final.values():
        label_counts.update(emotion_set(review.labels))
        unknown.update({w.emotion for x in review.labels if not (w := normalise(x)).known})
        if review.valence is not None and review.arousal is not None:
            first = next((normalise(x).emotion for x in review.labels if x.strip()), "-")
            points.append((review.valence, review.arousal, first))
    return StatsReport(
        n_clips_reviewed=len(judged),
        n_clips_multi=len(multi),
        n_finals=len(final),
        alphas=all_alphas(multi, resamples, judgements(session)),
        caption_similarity=caption_similarity(multi, embedder),
        pairs=annotator_pairs(multi),
        quality=draft_quality(session),
        acceptance_by_day=acceptance_by_day(session),
        label_counts=dict(label_counts.most_common()),
        unknown_labels=dict(unknown.most_common()),
        va_points=points,
    )
