"""The MER-Caption-style draft: what the model must return, validated with pydantic.

The same model gives the JSON schema used for constrained decoding, so what the
decoder allows and what the parser accepts cannot drift apart.
"""

from __future__ import annotations

import json
import re

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from extractors.errors import AnnotatorError


class DraftParseError(AnnotatorError, ValueError):
    """The model's output is not a valid draft; the raw text is kept beside this error."""

    code = "invalid_model_output"


class DraftFields(BaseModel):
    model_config = ConfigDict(extra="ignore")

    visual_clues: str = Field(max_length=1000, description="What the face shows, with times.")
    acoustic_clues: str = Field(max_length=1000, description="What the voice shows.")
    lexical_clues: str = Field(max_length=1000, description="What the words say.")
    reasoning: str = Field(max_length=2000, description="How the clues combine.")
    caption: str = Field(
        min_length=1, max_length=3000, description="A descriptive emotion caption, one paragraph."
    )
    labels: list[str] = Field(
        min_length=1,
        max_length=6,
        description="Open-vocabulary emotion labels, most salient first.",
    )
    valence: float = Field(
        ge=-1.0,
        le=1.0,
        description="-1.0 very unpleasant/negative (anger, sadness) .. 0 neutral .. "
        "+1.0 very pleasant/positive (joy)",
    )
    arousal: float = Field(ge=0.0, le=1.0, description="0 calm .. 1 highly activated")
    confidence: float = Field(ge=0.0, le=1.0, description="How sure the model is, 0..1")

    @field_validator("labels")
    @classmethod
    def _clean_labels(cls, labels: list[str]) -> list[str]:
        cleaned: list[str] = []
        for label in labels:
            word = label.strip().lower()
            if word and word not in cleaned and len(word) <= 40:
                cleaned.append(word)
        if not cleaned:
            raise ValueError("no usable emotion label")
        return cleaned

    @field_validator("caption")
    @classmethod
    def _caption_is_text(cls, caption: str) -> str:
        caption = caption.strip()
        if not caption:
            raise ValueError("caption is empty")
        if caption.lower().startswith("error"):
            # An error string must never pass for a caption (a habit seen in the field).
            raise ValueError("caption looks like an error message")
        return caption


#: Numeric fields are decoded as one of these steps: the token-level JSON constraint
#: enforces enums but not minimum/maximum, and a tenth is finer than annotators agree on.
VALENCE_STEPS = [round(k / 10, 1) for k in range(-10, 11)]
UNIT_STEPS = [round(k / 10, 1) for k in range(0, 11)]


#: Decoding caps in characters: they keep a whole draft within ~450 tokens, so a
#: 512-token budget ends on a closed object instead of a cut-off string. Validation
#: (``DraftFields``) allows longer text from other backends.
DECODING_MAX_CHARS = {
    "visual_clues": 300,
    "acoustic_clues": 300,
    "lexical_clues": 300,
    "reasoning": 400,
    "caption": 600,
}


def decoding_schema() -> dict:
    """JSON schema for constrained decoding: the draft's fields, strings bounded,
    numbers drawn from fixed steps so the decoder cannot leave their range."""
    schema = DraftFields.model_json_schema()
    props = schema["properties"]
    for key, limit in DECODING_MAX_CHARS.items():
        props[key]["maxLength"] = limit
    props["valence"] = {"enum": VALENCE_STEPS, "description": props["valence"]["description"]}
    for key in ("arousal", "confidence"):
        props[key] = {"enum": UNIT_STEPS, "description": props[key]["description"]}
    # Labels are one or two lower-case words ("happy", "mildly anxious"), not phrases.
    props["labels"]["items"] = {"type": "string", "pattern": "^[a-z]{3,16}( [a-z]{3,16})?$"}
    props["labels"]["maxItems"] = 4
    return schema


_FENCE = re.compile(r"```(?:json)?\s*(.*?)```", re.DOTALL)


def parse_draft(raw: str) -> DraftFields:
    """Parse model output into ``DraftFields`` or raise ``DraftParseError`` (one line)."""
    text = raw.strip()
    fenced = _FENCE.search(text)
    if fenced:
        text = fenced.group(1).strip()
    start, end = text.find("{"), text.rfind("}")
    if start < 0 or end <= start:
        raise DraftParseError("model output holds no JSON object")
    try:
        data = json.loads(text[start : end + 1])
    except json.JSONDecodeError as exc:
        raise DraftParseError(
            f"model output is not valid JSON ({exc.msg} at char {exc.pos})"
        ) from exc
    if not isinstance(data, dict):
        raise DraftParseError("model output JSON is not an object")
    try:
        return DraftFields.model_validate(data)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"]) or "draft"
        raise DraftParseError(
            f"model output fails the draft schema: {where}: {first['msg']} "
            f"({exc.error_count()} problem(s))"
        ) from exc
