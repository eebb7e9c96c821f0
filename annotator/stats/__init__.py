"""Agreement between annotators and the quality of the model's drafts.

``card_summary`` (the dataset card's figures) and ``clip_agreement`` (the export's
``--min-agreement`` filter) are the public entry points; ``annotator stats`` shows the
full set. Labels are compared after the emotion wheel (``annotator.stats.wheel``).
"""

from __future__ import annotations

from typing import Any

from sqlmodel import Session

from annotator.stats.agreement import Alpha, all_alphas, ratings_agreement
from annotator.stats.data import judgements, multi_rated, ratings


def clip_agreement(session: Session, clip_id: int) -> float | None:
    """How much the clip's judged annotations agree, 0..1 (mean over annotator pairs of
    ``agreement.pair_agreement``: label sets by MASI after the wheel, valence, arousal);
    None when fewer than two annotators accepted or edited it."""
    rs = ratings(session, clip_id).get(clip_id, [])
    return ratings_agreement(rs) if len(rs) >= 2 else None


def card_summary(session: Session, resamples: int = 1000) -> dict[str, Any]:
    """The figures a dataset card reports: clips with two or more annotations, Krippendorff's
    alpha of labels, valence and arousal (each with the number of clips it rests on and a
    95% bootstrap interval over clips from ``resamples`` draws),
    caption similarity between annotators (and the method), acceptance per model."""
    from annotator.stats.quality import draft_quality
    from annotator.stats.similarity import caption_similarity

    multi = multi_rated(ratings(session))
    alphas: dict[str, Alpha] = all_alphas(multi, resamples, judgements(session))
    similarity = caption_similarity(multi)
    quality = draft_quality(session, distances=False)
    return {
        "n_clips_multi": len(multi),
        "n_annotations_multi": sum(len(rs) for rs in multi.values()),
        "n_annotators": len({r.annotator for rs in multi.values() for r in rs}),
        "alpha": {name: a.to_dict() for name, a in alphas.items()},
        "caption_similarity": similarity.to_dict(),
        "acceptance": [
            {
                "model_id": q.model_id,
                "prompt_version": q.prompt_version,
                "acceptance_rate": q.acceptance_rate,
                "n_reviewed": q.n_reviewed,
            }
            for q in quality
        ],
    }


__all__ = ["card_summary", "clip_agreement"]
