"""Agreement and draft-quality metrics on real SQLite databases filled through
``db.queries.save_review`` (several annotators per clip), against values known by hand."""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Iterator, Sequence
from pathlib import Path

import krippendorff
import numpy as np
import pytest
from sqlmodel import Session

from annotator.stats import card_summary, clip_agreement
from annotator.stats.agreement import all_alphas
from annotator.stats.data import multi_rated, ratings
from db import Clip, CueTextRecord, Draft, get_engine
from db.models import ReviewKind, ReviewStatus
from db.queries import ReviewInput, save_review

# Krippendorff (2011), "Computing Krippendorff's Alpha-Reliability", example C: four
# observers, twelve units, values 1..5, None = not coded. Published: nominal 0.743,
# interval 0.849. Unit 12 has one value only (unpairable).
KRIPPENDORFF_C: list[list[int | None]] = [
    [1, 2, 3, 3, 2, 1, 4, 1, 2, None, None, None],
    [1, 2, 3, 3, 2, 2, 4, 1, 2, 5, None, 3],
    [None, 3, 3, 3, 2, 3, 4, 2, 2, 5, 1, None],
    [1, 2, 3, 3, 2, 4, 4, 1, 2, 5, 1, None],
]
OBSERVERS = ["A", "B", "C", "D"]
# One value -> one emotion word each, written in different forms by different observers
# (the wheel must fold them back to five categories).
WORDS = {
    1: ["angry", "anger", "furious", "Anger"],
    2: ["sad", "sadness", "Sad", "grief"],
    3: ["happy", "joy", "joyful", "happiness"],
    4: ["afraid", "fear", "scared", "fearful"],
    5: ["surprised", "surprise", "Surprise", "surprises"],
}


@pytest.fixture
def session(tmp_path: Path) -> Iterator[Session]:
    engine = get_engine(f"sqlite:///{tmp_path / 'stats.db'}")
    with Session(engine, expire_on_commit=False) as s:
        yield s
        s.commit()


def add_clip(
    session: Session,
    name: str,
    *,
    model: str = "qwen-1.5b",
    prompt: str = "mer-caption-2",
    caption: str = "He speaks calmly.",
    labels: Sequence[str] = ("neutral",),
    grounding: float | None = None,
) -> tuple[int, int]:
    """A clip row with its cue text and one chosen draft: (clip id, draft id)."""
    clip = Clip(sha256=hashlib.sha256(name.encode()).hexdigest(), name=name, source_uri=name)
    session.add(clip)
    session.flush()
    assert clip.id is not None
    cue = CueTextRecord(
        clip_id=clip.id, config_hash="c", textualizer_version="1", prompt_text="p",
        readable_text="r",
    )  # fmt: skip
    session.add(cue)
    session.flush()
    assert cue.id is not None
    draft = Draft(
        clip_id=clip.id, cue_text_id=cue.id, config_hash="d", backend="scripted", model_id=model,
        prompt_version=prompt, caption=caption, labels=list(labels), valence=0.0, arousal=0.5,
        chosen=True, grounding_rate=grounding,
    )  # fmt: skip
    session.add(draft)
    session.flush()
    assert draft.id is not None
    return clip.id, draft.id


def review(
    session: Session,
    clip_draft: tuple[int, int],
    who: str,
    status: ReviewStatus = ReviewStatus.EDITED,
    caption: str | None = "A caption.",
    labels: Sequence[str] = (),
    valence: float | None = None,
    arousal: float | None = None,
    kind: str = ReviewKind.ANNOTATION,
) -> None:
    clip_id, draft_id = clip_draft
    data = ReviewInput(status, caption, list(labels), valence, arousal)
    save_review(session, clip_id, who, draft_id, data, expected_version=None, kind=kind)


def fill_krippendorff_c(session: Session) -> None:
    """Example C as reviews: label = the value's word, valence = (v - 3) / 2 (-1..1),
    arousal = (v - 1) / 4 (0..1); linear maps leave interval alpha unchanged."""
    for unit in range(12):
        cd = add_clip(session, f"unit{unit + 1}.mp4")
        for obs, row in zip(OBSERVERS, KRIPPENDORFF_C, strict=True):
            v = row[unit]
            if v is None:
                continue
            word = WORDS[v][OBSERVERS.index(obs)]
            review(session, cd, obs, labels=[word], valence=(v - 3) / 2, arousal=(v - 1) / 4)
    session.commit()


def test_alpha_reproduces_krippendorff_2011_example_c(session: Session) -> None:
    fill_krippendorff_c(session)
    multi = multi_rated(ratings(session))
    assert len(multi) == 11  # unit 12 has a single review
    alphas = all_alphas(multi)
    assert round(alphas["labels"].value or 0, 3) == 0.743
    assert round(alphas["valence"].value or 0, 3) == 0.849
    assert round(alphas["arousal"].value or 0, 3) == 0.849
    # Exactly the package's value on the published matrix (NaN for not coded).
    matrix = np.array([[np.nan if v is None else v for v in row] for row in KRIPPENDORFF_C])
    nominal = krippendorff.alpha(reliability_data=matrix, level_of_measurement="nominal")
    interval = krippendorff.alpha(reliability_data=matrix, level_of_measurement="interval")
    assert alphas["labels"].value == pytest.approx(nominal, abs=1e-12)
    assert alphas["valence"].value == pytest.approx(interval, abs=1e-12)
    assert alphas["labels"].n_clips == 11 and alphas["labels"].n_values == 40  # as in the paper
    # One label per review: MASI distance of singletons is the nominal distance.
    assert alphas["labels_masi"].value == pytest.approx(nominal, abs=1e-12)


def test_card_summary_and_clip_agreement_on_example_c(session: Session) -> None:
    fill_krippendorff_c(session)
    card = card_summary(session)
    assert card["n_clips_multi"] == 11 and card["n_annotators"] == 4
    assert round(card["alpha"]["labels"]["value"], 3) == 0.743
    assert card["alpha"]["valence"]["n_clips"] == 11
    assert card["caption_similarity"]["n_clips"] == 11
    assert card["caption_similarity"]["value"] == pytest.approx(1.0)  # same caption everywhere
    json.dumps(card)  # a dataset card can embed it as is
    # Unit 3: all four say value 3 -> labels, valence, arousal identical.
    assert clip_agreement(session, 3) == pytest.approx(1.0)
    # Unit 12: one review only.
    assert clip_agreement(session, 12) is None
    # Unit 6: values 1, 2, 3, 4 -> every pair disjoint labels (0), valence 1 - |dv|/2,
    # arousal 1 - |da| with dv = (vi - vj) / 2 and da = (vi - vj) / 4.
    diffs = [abs(a - b) for i, a in enumerate([1, 2, 3, 4]) for b in [1, 2, 3, 4][i + 1 :]]
    expected = sum((0 + (1 - d / 4) + (1 - d / 4)) / 3 for d in diffs) / len(diffs)
    assert clip_agreement(session, 6) == pytest.approx(expected)
    assert not math.isnan(expected)
