"""Self-consistency: of N samples, use the valid one most consistent with the others.

Similarity of two valid drafts (each term in 0..1)::

    sim(a, b) = 0.5 * jaccard(labels_a, labels_b)
              + 0.25 * (1 - |valence_a - valence_b| / 2)
              + 0.25 * (1 - |arousal_a - arousal_b|)

with labels normalised (lower case, inflections and near-synonyms folded:
"happy", "joyful" -> "happiness"). An invalid sample is similar to nothing (0).

Agreement of sample i among N: ``sum_{j != i} sim(i, j) / (N - 1)``. The chosen draft
is the valid sample with the highest agreement (ties: the lowest sample index); when
N > 1 its confidence is its agreement, so invalid or diverging samples lower it. With
one sample the model's own confidence stays.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

W_LABELS, W_VALENCE, W_AROUSAL = 0.5, 0.25, 0.25

#: Folded label words: inflections and near-synonyms of the basic emotions.
LABEL_FOLD: dict[str, str] = {
    "happy": "happiness", "joy": "happiness", "joyful": "happiness", "glad": "happiness",
    "cheerful": "happiness", "pleased": "happiness", "delighted": "happiness",
    "sad": "sadness", "unhappy": "sadness", "sorrow": "sadness", "sorrowful": "sadness",
    "angry": "anger", "mad": "anger", "furious": "anger", "rage": "anger",
    "irritated": "irritation", "annoyed": "irritation", "annoyance": "irritation",
    "afraid": "fear", "scared": "fear", "fearful": "fear", "frightened": "fear",
    "surprised": "surprise", "astonished": "surprise", "amazed": "surprise",
    "disgusted": "disgust", "contemptuous": "contempt",
    "anxious": "anxiety", "nervous": "anxiety", "worried": "anxiety", "worry": "anxiety",
    "calm": "calmness", "relaxed": "calmness", "excited": "excitement",
    "frustrated": "frustration", "neutrality": "neutral", "friendly": "friendliness",
    "curious": "curiosity", "confused": "confusion", "bored": "boredom",
}  # fmt: skip


#: Valence sign of folded labels, for :func:`valence_conflict` (labels not here: unknown).
LABEL_POLARITY: dict[str, int] = {
    **dict.fromkeys(
        ("happiness", "excitement", "friendliness", "gratitude", "pride", "love", "relief",
         "amusement", "contentment", "satisfaction", "enthusiasm", "delight", "hope"), 1),
    **dict.fromkeys(
        ("anger", "irritation", "frustration", "sadness", "fear", "anxiety", "disgust",
         "contempt", "aggression", "hostility", "grief", "shame", "guilt", "disappointment",
         "resentment", "hatred", "despair"), -1),
}  # fmt: skip
#: Valence beyond this, against the labels' sign, is a conflict.
CONFLICT_MARGIN = 0.2
#: A conflicting draft's confidence is at most this.
CONFLICT_CONFIDENCE = 0.2


def valence_conflict(labels: Sequence[str], valence: float | None) -> str | None:
    """A one-line note when the valence has the opposite sign of every polar label."""
    signs = {LABEL_POLARITY[w] for w in map(normalize_label, labels) if w in LABEL_POLARITY}
    if valence is None or len(signs) != 1:
        return None
    sign = signs.pop()
    if sign * valence < -CONFLICT_MARGIN:
        shown = ", ".join(labels)
        return f"valence {valence:+.1f} contradicts the labels ({shown}): check the sign"
    return None


@dataclass(frozen=True)
class Sample:
    """What consistency needs of one sample; ``None`` labels mean an invalid sample."""

    labels: list[str] | None
    valence: float | None = None
    arousal: float | None = None

    @property
    def conflict(self) -> bool:
        return self.labels is not None and valence_conflict(self.labels, self.valence) is not None


def normalize_label(label: str) -> str:
    word = " ".join(re.sub(r"[^a-z ]+", " ", label.lower()).split())
    return LABEL_FOLD.get(word, word)


def jaccard(a: Sequence[str], b: Sequence[str]) -> float:
    sa, sb = {normalize_label(x) for x in a}, {normalize_label(x) for x in b}
    sa.discard("")
    sb.discard("")
    if not sa and not sb:
        return 1.0
    return len(sa & sb) / len(sa | sb)


def similarity(a: Sample, b: Sample) -> float:
    if a.labels is None or b.labels is None:
        return 0.0
    score = W_LABELS * jaccard(a.labels, b.labels)
    if a.valence is not None and b.valence is not None:
        score += W_VALENCE * (1 - min(abs(a.valence - b.valence), 2.0) / 2)
    if a.arousal is not None and b.arousal is not None:
        score += W_AROUSAL * (1 - min(abs(a.arousal - b.arousal), 1.0))
    return score


def agreements(samples: Sequence[Sample]) -> list[float | None]:
    """Each valid sample's agreement with the others (None for invalid ones; 1.0 alone)."""
    n = len(samples)
    out: list[float | None] = []
    for i, s in enumerate(samples):
        if s.labels is None:
            out.append(None)
        elif n == 1:
            out.append(1.0)
        else:
            total = sum(similarity(s, t) for j, t in enumerate(samples) if j != i)
            out.append(round(total / (n - 1), 3))
    return out


def choose(samples: Sequence[Sample]) -> tuple[int | None, list[float | None]]:
    """(index of the chosen sample or None when none is valid, every sample's agreement)."""
    scores = agreements(samples)
    best: int | None = None
    for i, score in enumerate(scores):
        if score is None:
            continue
        # a sample whose valence contradicts its labels loses to any that does not
        rank = (not samples[i].conflict, score)
        if best is None or rank > (not samples[best].conflict, scores[best] or 0.0):
            best = i
    return best, scores
