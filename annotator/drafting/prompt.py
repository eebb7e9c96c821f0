"""The versioned MER-Caption-style prompt.

Bump ``PROMPT_VERSION`` whenever the wording changes: it is part of the draft
stage's config hash, so a new prompt drafts again instead of reusing old drafts.
"""

from __future__ import annotations

PROMPT_VERSION = "mer-caption-1"

SYSTEM_PROMPT = (
    "You are an expert in multimodal emotion recognition. You receive textual cues "
    "extracted from a video clip: facial action units, vocal tone relative to the "
    "speaker's baseline, and the transcript with word times. Infer the speaker's "
    "emotional state the way an MER-Caption annotator would: first list the visual, "
    "acoustic and lexical clues that matter, then reason about how they combine, then "
    "write one descriptive caption. Base every statement on the cues; when a modality "
    "is missing, say so and lower your confidence. Answer with one JSON object only."
)

_FORMAT = (
    "Return JSON with these keys: visual_clues, acoustic_clues, lexical_clues, "
    "reasoning, caption (one paragraph describing the emotion and its evidence), "
    "labels (1-6 open-vocabulary emotion words, most salient first), valence "
    "(-1 very negative to 1 very positive), arousal (0 calm to 1 highly activated), "
    "confidence (0 to 1)."
)


def build_messages(prompt_text: str, missing: dict[str, str] | None = None) -> list[dict[str, str]]:
    """Chat messages for one clip's cue text."""
    lines = ["Cues for this clip:", prompt_text.strip(), ""]
    if missing:
        gone = "; ".join(f"{k}: {v}" for k, v in sorted(missing.items()))
        lines.append(f"Note: some cues are missing ({gone}). Say so in your answer.")
    lines.append(_FORMAT)
    return [
        {"role": "system", "content": SYSTEM_PROMPT},
        {"role": "user", "content": "\n".join(lines)},
    ]
