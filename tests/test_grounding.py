"""Grounding of clues against a known cue text, and the self-consistency choice."""

from __future__ import annotations

import pytest

from annotator.drafting.consistency import Sample, agreements, choose, jaccard, similarity
from annotator.drafting.grounding import ground, split_clues, transcript_of

CUE_TEXT = """Clip: 12.0 s
Visual cues:
- face visible in 60 of 60 sampled frames
- AU12 lip corner puller, strong, 8.5-11.8 s (peak 4.3 at 10.6 s)
- AU04 brow lowerer, slight, 1.0-2.0 s (peak 1.8 at 1.5 s)
Acoustic cues:
- pitch slightly falling over the clip (-0.9 st/s)
- speaking rate fast (5.1 syll/s)
Transcript:
- language: en
- [6.4-12.0] Hello. I didn't know you were there. Okay, I thought, you know.
Timeline (2.0 s windows):
- 0.0-2.0 s: face AU04 brow lowerer (slight)
Missing: none"""

DRAFT = {
    "visual_clues": "AU12 lip corners pulled up strongly near 10.6 s. AU4 lowers the brows "
    "early on. The eyes look teary.",
    "acoustic_clues": "Pitch falls slightly over the clip; the speaking rate is fast. "
    "Jitter is high.",
    "lexical_clues": 'The speaker says "I didn\'t know you were there". '
    "Then says 'goodbye forever'.",
}


def test_grounding_rate_and_ungrounded_clues_of_a_known_draft() -> None:
    result = ground(DRAFT, CUE_TEXT)
    # 8 clues; grounded: AU12, AU4 (as AU04), pitch, speaking rate, the quoted words.
    assert result.n_clues == 8
    assert result.ungrounded == [
        "The eyes look teary.",
        "Jitter is high.",  # the cue text says nothing about jitter
        "Then says 'goodbye forever'.",  # not in the transcript
    ]
    assert result.rate == pytest.approx(5 / 8, abs=1e-3)


def test_au_codes_only_count_when_the_cue_text_has_them() -> None:
    result = ground({"visual_clues": "AU15 pulls the lip corners down."}, CUE_TEXT)
    assert result.rate == 0.0 and result.ungrounded == ["AU15 pulls the lip corners down."]


def test_a_missing_modality_statement_is_not_counted() -> None:
    result = ground(
        {"visual_clues": "Not available.", "acoustic_clues": "Loudness drops at the end."},
        CUE_TEXT,
    )
    # "loudness" is a prosody feature the cue text does not mention: one clue, ungrounded.
    assert result.n_clues == 1 and result.rate == 0.0
    assert ground({"visual_clues": "none"}, CUE_TEXT).rate is None


def test_clue_split_keeps_decimals_and_transcript_section_is_found() -> None:
    assert split_clues("Peak 4.3 at 10.6 s. Brows low; lips pressed") == [
        "Peak 4.3 at 10.6 s.",
        "Brows low;",
        "lips pressed",
    ]
    said = transcript_of(CUE_TEXT)
    assert "didn't know you were there" in said and "AU04" not in said


def test_consistency_picks_the_majority_and_agreement_is_the_formula() -> None:
    happy = Sample(["happy", "friendly"], 0.6, 0.5)
    happy2 = Sample(["happiness"], 0.5, 0.5)
    angry = Sample(["anger"], -0.7, 0.8)
    best, scores = choose([angry, happy, happy2])
    assert best == 2  # "happiness" agrees most with both others (0.506 against 0.5)
    assert scores[0] is not None and scores[1] is not None and scores[2] is not None
    assert scores[0] < min(scores[1], scores[2])
    # happy vs happy2: jaccard({happiness, friendliness}, {happiness}) = 0.5
    expected = 0.5 * 0.5 + 0.25 * (1 - 0.1 / 2) + 0.25 * 1.0
    assert similarity(happy, happy2) == pytest.approx(expected)
    assert jaccard(["Joyful"], ["happy"]) == 1.0


def test_invalid_samples_lower_agreement_and_are_never_chosen() -> None:
    good = Sample(["anger"], -0.6, 0.7)
    best, scores = choose([Sample(None), good, Sample(None)])
    assert best == 1 and scores == [None, 0.0, None]
    assert choose([Sample(None)]) == (None, [None])
    assert agreements([good]) == [1.0]


def test_review_ui_marks_exactly_the_ungrounded_clues() -> None:
    from app.logic import UNGROUNDED_MARK, marked_clues, md_escape

    result = ground(DRAFT, CUE_TEXT)
    shown = marked_clues(DRAFT["visual_clues"], result.ungrounded)
    assert shown.count(UNGROUNDED_MARK) == 1
    # model text is shown escaped (literal markdown): "10\.6 s\."
    assert f":orange[{UNGROUNDED_MARK} {md_escape('The eyes look teary.')}]" in shown
    assert shown.startswith(md_escape("AU12 lip corners pulled up strongly near 10.6 s."))
    assert "\\." in shown  # escaping really happened
    assert marked_clues(None, []) == "-"


def test_valence_that_contradicts_every_polar_label_is_flagged() -> None:
    from annotator.drafting.consistency import valence_conflict

    # measured: Qwen2.5-Coder-1.5B sampled at 0.7 labelled an angry clip "anger" at +1.0
    assert valence_conflict(["anger", "aggression"], 1.0) == (
        "valence +1.0 contradicts the labels (anger, aggression): check the sign"
    )
    assert valence_conflict(["joyful"], -0.5) is not None  # folded to happiness
    assert valence_conflict(["anger", "fear"], -0.8) is None
    assert valence_conflict(["anger"], 0.1) is None  # within the margin
    assert valence_conflict(["anger", "happiness"], 0.9) is None  # mixed: no single sign
    assert valence_conflict(["surprise"], -0.9) is None  # no known polarity
    assert valence_conflict(["anger"], None) is None


def test_a_consistent_sample_is_chosen_before_conflicting_ones() -> None:
    from annotator.drafting.consistency import Sample, choose

    # two samples agree with each other on a wrong sign; the third is right and is chosen
    samples = [
        Sample(["anger", "frustration"], 1.0, 0.6),
        Sample(["anger", "fear"], -0.8, 0.5),
        Sample(["anger", "frustration"], 0.9, 0.6),
    ]
    best, scores = choose(samples)
    assert best == 1
    assert scores[0] is not None and scores[1] is not None and scores[0] > scores[1]
    # all in conflict: still the most consistent one (the review sees its capped confidence)
    best_all, _ = choose([samples[0], samples[2], Sample(["anger"], 1.0, 0.6)])
    assert best_all == 0
