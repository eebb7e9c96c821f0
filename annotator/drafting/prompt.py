"""The versioned MER-Caption-style prompt.

Bump ``PROMPT_VERSION`` whenever the wording changes: it is part of the draft
stage's config hash, so a new prompt drafts again instead of reusing old drafts.
Older versions stay buildable (``PROMPTS``) so a stored draft's prompt can be redone.

``mer-caption-2`` (issue 6): the MER-Caption structure (clues per modality, then
reasoning, then a 2-4 sentence caption that does not repeat the reasoning), the scales
stated with their sign (small models gave anger +1 under version 1), missing modalities
named, clues that cite cue codes (AU numbers, prosody feature names, quoted words, so
``annotator.drafting.grounding`` can check them), and hints read as hints.
``emotion_prompt`` appends an EmotionPrompt-style sentence (Li et al. 2023), off by
default, to be measured.

``mer-caption-3``: version 2's system prompt plus rules for what the bundled 1.5B model
got wrong (cue lines with their percentages copied into the caption, "positive" or
"smile" as labels), and one worked example on an invented clip as a prior turn. On the
demo and the three clear-emotion clips, 3 of its 10 labels were no emotion of the clip,
against 7 of 10 under version 2; the example's content can leak (the demo's draft said
"lips pulled down", from the example). README, "Drafting".
"""

from __future__ import annotations

import json

PROMPT_VERSION = "mer-caption-3"

_SYSTEM_1 = (
    "You are an expert in multimodal emotion recognition. You receive textual cues "
    "extracted from a video clip: facial action units, vocal tone relative to the "
    "speaker's baseline, and the transcript with word times. Infer the speaker's "
    "emotional state the way an MER-Caption annotator would: first list the visual, "
    "acoustic and lexical clues that matter, then reason about how they combine, then "
    "write one descriptive caption. Base every statement on the cues; when a modality "
    "is missing, say so and lower your confidence. Answer with one JSON object only."
)

_FORMAT_1 = (
    "Return JSON with these keys: visual_clues, acoustic_clues, lexical_clues, "
    "reasoning, caption (one paragraph describing the emotion and its evidence), "
    "labels (1-6 open-vocabulary emotion words, most salient first), valence "
    "(-1 very negative to 1 very positive), arousal (0 calm to 1 highly activated), "
    "confidence (0 to 1)."
)

#: The valence scale, word for word in the prompt (tests check it is there).
VALENCE_SCALE = (
    "valence: a number from -1.0 to +1.0. -1.0 = very unpleasant/negative, 0 = neutral, "
    "+1.0 = very pleasant/positive. Anger, sadness, fear, disgust and contempt are "
    "negative (below 0); joy and happiness are positive (above 0)."
)
AROUSAL_SCALE = (
    "arousal: a number from 0.0 = calm, relaxed, sleepy to 1.0 = highly activated "
    "(excited, agitated, shouting)."
)

_SYSTEM_2 = (
    "You are an expert annotator of emotions in video (multimodal emotion recognition). "
    "You receive textual cues extracted from one clip: facial action units (AU codes of "
    "FACS), vocal prosody relative to a baseline, and a timed transcript. Lines marked "
    "[hint, ...] are automatic guesses by simple rules or small models: trust them only "
    "where the cues agree. Describe the speaker's emotional state as an MER-Caption "
    "annotator does, in this order:\n"
    "1. visual_clues, acoustic_clues, lexical_clues: short sentences, each citing the cue "
    "it rests on: an AU code (e.g. AU12), a prosody feature by name (pitch, loudness, "
    "speaking rate, pauses, jitter, shimmer, HNR), or the speaker's words in double quotes. "
    "Interpret the cues, do not copy cue lines. For a missing modality write "
    '"not available".\n'
    "2. reasoning: how the clues combine, where they agree or conflict, which is most "
    "reliable.\n"
    "3. caption: 2-4 sentences describing the emotional state and its evidence. Do not "
    "repeat the reasoning.\n"
    "4. labels: 1-4 emotion words, most salient first (e.g. happiness, anger, sadness, "
    "surprise, fear, disgust, contempt, neutral, or finer words such as relief or "
    "frustration).\n"
    f"5. {VALENCE_SCALE}\n"
    f"6. {AROUSAL_SCALE}\n"
    "7. confidence: 0.0 to 1.0, lower when cues are missing, weak or in conflict.\n"
    "Answer with one JSON object only."
)

#: mer-caption-3: what small models got wrong under version 2 (the bundled 1.5B model
#: copied cue lines with their percentages into the caption and named "positive" as an
#: emotion), said as rules, and one worked example of the form on an invented clip.
_RULES_3 = (
    "Rules for the caption and labels:\n"
    "- Write as a human annotator would, in plain words about the person: what the face, "
    "voice and words show and what the person most likely feels. No AU codes, no "
    "percentages, no frame counts and no copied cue lines in the caption.\n"
    "- Labels are emotions (e.g. sadness, relief, irritation), never positive, negative "
    "or neutral sentiment words unless the clip is really neutral.\n"
    "- When cues conflict (a smile while crying, calm words said in anger), say so and "
    "say which you trust and why.\n"
    "- The example below shows the form only: judge this clip's emotion, valence, arousal "
    "and confidence from its own cues, and call the person the speaker."
)

#: The worked example (an invented clip, unlike any real one) and its answer.
_EXAMPLE_CUES_3 = (
    "Clip: 5.0 s\n"
    "Visual cues:\n"
    "- held throughout: AU01 inner brow raiser, pronounced\n"
    "- AU15 lip corner depressor, slight, 1.0-3.5 s\n"
    "Acoustic cues:\n"
    "- speaking rate slow (2.4 syll/s)\n"
    "- getting quieter over the clip (-1.8 SD)\n"
    "Transcript:\n"
    "- [0.3-4.6] I really thought she would call back this time.\n"
    "Missing: none"
)
_EXAMPLE_ANSWER_3 = {
    "visual_clues": "Raised inner brows held throughout (AU01) and lip corners pulled down "
    "from 1.0 to 3.5 s (AU15): the classic brow and mouth of sadness.",
    "acoustic_clues": "Slow speaking rate and a voice that gets quieter: low energy.",
    "lexical_clues": 'The words "I really thought she would call back this time" tell of a '
    "hope that was let down.",
    "reasoning": "Face, voice and words agree on a low-energy, unpleasant state; the words "
    "point to disappointment rather than grief.",
    "caption": "The speaker talks slowly and ever more quietly, inner brows raised and the "
    "corners of the mouth turned down, admitting a hope for a call that did not come. "
    "The speaker seems disappointed and sad, more resigned than upset.",
    "labels": ["disappointment", "sadness", "resignation"],
    "valence": -0.6,
    "arousal": 0.2,
    "confidence": 0.7,
}

_FORMAT_2 = (
    "Return one JSON object with the keys visual_clues, acoustic_clues, lexical_clues, "
    "reasoning, caption, labels, valence, arousal, confidence."
)

#: EmotionPrompt's EP02 ("This is very important to my career."), as an option.
EMOTION_PROMPT = "This is very important to my career."

_MODALITY_NAMES = {"face": "face", "voice": "voice", "speech": "transcript"}


def _missing_2(missing: dict[str, str] | None) -> str:
    if not missing:
        return "All modalities are available: face, voice and transcript."
    gone = "; ".join(f"{_MODALITY_NAMES.get(k, k)} ({v})" for k, v in sorted(missing.items()))
    return (
        f'Missing modalities: {gone}. Write "not available" in the matching clue field '
        "and lower your confidence."
    )


#: mer-caption-3's worked example as the chat turns before the clip's own.
_EXAMPLE_TURNS_3 = [
    {
        "role": "user",
        "content": "\n".join(
            [
                "An example of the form, for an invented clip (not this one):",
                "Cues for this clip:",
                _EXAMPLE_CUES_3,
                "",
                _missing_2(None),
                _FORMAT_2,
            ]
        ),
    },
    {"role": "assistant", "content": json.dumps(_EXAMPLE_ANSWER_3)},
]


def build_messages(
    prompt_text: str,
    missing: dict[str, str] | None = None,
    *,
    version: str = PROMPT_VERSION,
    emotion_prompt: bool = False,
) -> list[dict[str, str]]:
    """Chat messages for one clip's cue text under prompt ``version``."""
    if version == "mer-caption-1":
        lines = ["Cues for this clip:", prompt_text.strip(), ""]
        if missing:
            gone = "; ".join(f"{k}: {v}" for k, v in sorted(missing.items()))
            lines.append(f"Note: some cues are missing ({gone}). Say so in your answer.")
        lines.append(_FORMAT_1)
        system = _SYSTEM_1
    elif version in ("mer-caption-2", "mer-caption-3"):
        lines = ["Cues for this clip:", prompt_text.strip(), "", _missing_2(missing), _FORMAT_2]
        system = _SYSTEM_2 if version == "mer-caption-2" else f"{_SYSTEM_2}\n{_RULES_3}"
    else:
        raise ValueError(f"unknown prompt version {version!r}; known: {', '.join(PROMPTS)}")
    if emotion_prompt:
        lines.append(EMOTION_PROMPT)
    example = _EXAMPLE_TURNS_3 if version == "mer-caption-3" else []
    return [
        {"role": "system", "content": system},
        *(dict(turn) for turn in example),  # copies: callers may change their messages
        {"role": "user", "content": "\n".join(lines)},
    ]


PROMPTS = ("mer-caption-1", "mer-caption-2", "mer-caption-3")
