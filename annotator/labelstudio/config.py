"""The Label Studio labeling config, and the validator for what annotators send back.

One table of controls (``CONTROLS``) gives both the XML the project is created with
and the pydantic model that checks annotation results on pull: Label Studio stores
whatever a client posts without checking it against the config, so the two must not
drift apart.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from typing import Any, Literal
from xml.sax.saxutils import quoteattr

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from extractors.errors import AnnotatorError

DEFAULT_PROJECT = "mer-annotator"

#: Task data keys (``$video``, ``$cue_card``) and bookkeeping keys of ours.
VIDEO_KEY = "video"
CUE_KEY = "cue_card"
CLIP_KEY = "clip_sha256"

DECISIONS = ("accept", "edit", "reject")
VALENCE_RANGE = (-1.0, 1.0)
AROUSAL_RANGE = (0.0, 1.0)
MAX_CAPTION = 3000
MAX_LABELS = 12
MAX_LABEL_CHARS = 40
MAX_NOTE = 2000


@dataclass(frozen=True)
class Control:
    """One control tag: its name (``from_name``), the result ``type`` it writes."""

    name: str
    type: Literal["textarea", "number", "choices"]
    xml: str


CONTROLS: tuple[Control, ...] = (
    Control(
        "caption",
        "textarea",
        '<TextArea name="caption" toName="video" editable="true" maxSubmissions="1" rows="5" '
        'showSubmitButton="false" placeholder="Describe the emotional state and the cues for it"/>',
    ),
    Control(
        "labels",
        "textarea",
        '<TextArea name="labels" toName="video" editable="true" maxSubmissions="1" rows="1" '
        'showSubmitButton="false" placeholder="open-vocabulary labels, comma-separated"/>',
    ),
    Control(
        "valence",
        "number",
        f'<Number name="valence" toName="video" min="{VALENCE_RANGE[0]}" '
        f'max="{VALENCE_RANGE[1]}" step="0.1"/>',
    ),
    Control(
        "arousal",
        "number",
        f'<Number name="arousal" toName="video" min="{AROUSAL_RANGE[0]}" '
        f'max="{AROUSAL_RANGE[1]}" step="0.1"/>',
    ),
    Control(
        "decision",
        "choices",
        '<Choices name="decision" toName="video" choice="single-radio" required="true" '
        'showInline="true">' + "".join(f'<Choice value="{d}"/>' for d in DECISIONS) + "</Choices>",
    ),
    Control(
        "note",
        "textarea",
        '<TextArea name="note" toName="video" editable="true" maxSubmissions="1" rows="2" '
        'showSubmitButton="false" placeholder="reason for a rejection, or a note"/>',
    ),
)
CONTROL_TYPES = {c.name: c.type for c in CONTROLS}


def labeling_config(title: str = "mer-annotator review") -> str:
    """The XML: the video, the readable cue card, then the draft's fields to verify."""
    headers = {
        "caption": "Caption (the draft, edit it)",
        "labels": "Emotion labels",
        "valence": "Valence (-1 negative .. 1 positive)",
        "arousal": "Arousal (0 calm .. 1 activated)",
        "decision": "Decision",
        "note": "Note",
    }
    parts = [
        "<View>",
        f"<Header value={quoteattr(title)}/>",
        f'<Video name="video" value="${VIDEO_KEY}" height="360"/>',
        '<View style="max-height: 240px; overflow-y: auto; font-family: monospace;">',
        f'<Text name="cue_card" value="${CUE_KEY}"/>',
        "</View>",
    ]
    for control in CONTROLS:
        parts.append(f'<Header value={quoteattr(headers[control.name])} size="6"/>')
        parts.append(control.xml)
    parts.append("</View>")
    return "\n".join(parts)


def split_labels(text: str) -> list[str]:
    """``"Happy, relieved\\nhappy"`` -> ``["happy", "relieved"]``: what the labels box holds."""
    out: list[str] = []
    for part in re.split(r"[,;\n]", text):
        word = part.strip().lower()
        if word and word not in out:
            out.append(word)
    return out


def prediction_result(
    draft_id: int,
    caption: str | None,
    labels: list[str],
    valence: float | None,
    arousal: float | None,
) -> list[dict[str, Any]]:
    """A draft as Label Studio result items; each region id names the draft (``d12-caption``),
    and annotations started from the prediction keep those ids, so pull knows the draft."""

    def item(name: str, value: dict[str, Any]) -> dict[str, Any]:
        return {
            "id": f"d{draft_id}-{name}",
            "from_name": name,
            "to_name": "video",
            "type": CONTROL_TYPES[name],
            "value": value,
        }

    result = [item("caption", {"text": [caption or ""]})]
    result.append(item("labels", {"text": [", ".join(labels)]}))
    if valence is not None:
        result.append(item("valence", {"number": valence}))
    if arousal is not None:
        result.append(item("arousal", {"number": arousal}))
    return result


def draft_id_of(result: list[dict[str, Any]]) -> int | None:
    """The draft an annotation started from, from its region ids (see ``prediction_result``)."""
    for item in result if isinstance(result, list) else []:
        match = (
            re.fullmatch(r"d(\d+)-\w+", str(item.get("id", ""))) if isinstance(item, dict) else None
        )
        if match:
            return int(match.group(1))
    return None


class AnnotationValues(BaseModel):
    """An annotation's result, checked against ``CONTROLS``; None: the control was left out."""

    model_config = ConfigDict(extra="forbid")

    caption: str | None = Field(default=None, max_length=MAX_CAPTION)
    labels: list[str] | None = Field(default=None, max_length=MAX_LABELS)
    valence: float | None = Field(default=None, ge=VALENCE_RANGE[0], le=VALENCE_RANGE[1])
    arousal: float | None = Field(default=None, ge=AROUSAL_RANGE[0], le=AROUSAL_RANGE[1])
    decision: Literal["accept", "edit", "reject"] | None = None
    note: str | None = Field(default=None, max_length=MAX_NOTE)

    @field_validator("caption")
    @classmethod
    def _caption(cls, caption: str | None) -> str | None:
        if caption is not None and caption.strip().lower().startswith("error"):
            raise ValueError("caption looks like an error message")
        return caption.strip() if caption is not None else None

    @field_validator("labels")
    @classmethod
    def _labels(cls, labels: list[str] | None) -> list[str] | None:
        for label in labels or []:
            if len(label) > MAX_LABEL_CHARS:
                raise ValueError(f"label {label[:20]!r}... is over {MAX_LABEL_CHARS} characters")
        return labels

    @field_validator("valence", "arousal")
    @classmethod
    def _finite(cls, value: float | None) -> float | None:
        if value is not None and not math.isfinite(value):
            raise ValueError("not a finite number")
        return value


class MalformedResultError(AnnotatorError, ValueError):
    """An annotation result that does not fit the labeling config; the message says where."""

    code = "malformed_annotation"


def _one_text(name: str, value: Any) -> str:
    texts = value.get("text") if isinstance(value, dict) else None
    if not isinstance(texts, list) or not all(isinstance(t, str) for t in texts):
        raise MalformedResultError(f"{name}: value.text must be a list of strings")
    return "\n".join(texts)


def parse_result(result: Any) -> AnnotationValues:
    """Label Studio result items -> ``AnnotationValues``, or ``MalformedResultError``."""
    if not isinstance(result, list):
        raise MalformedResultError("result is not a list")
    fields: dict[str, Any] = {}
    for item in result:
        if not isinstance(item, dict):
            raise MalformedResultError("a result item is not an object")
        name, kind, value = item.get("from_name"), item.get("type"), item.get("value")
        if name not in CONTROL_TYPES:
            raise MalformedResultError(
                f"unknown control {name!r}; known: {', '.join(CONTROL_TYPES)}"
            )
        if kind != CONTROL_TYPES[name]:
            raise MalformedResultError(f"{name}: type {kind!r}, expected {CONTROL_TYPES[name]!r}")
        if name in fields:
            raise MalformedResultError(f"{name}: given twice")
        if kind == "textarea":
            text = _one_text(name, value)
            fields[name] = split_labels(text) if name == "labels" else text
        elif kind == "number":
            number = value.get("number") if isinstance(value, dict) else None
            if isinstance(number, bool) or not isinstance(number, int | float):
                raise MalformedResultError(f"{name}: value.number must be a number")
            fields[name] = float(number)
        else:
            choices = value.get("choices") if isinstance(value, dict) else None
            if not isinstance(choices, list) or len(choices) != 1:
                raise MalformedResultError(f"{name}: value.choices must hold exactly one choice")
            fields[name] = choices[0]
    try:
        return AnnotationValues(**fields)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"])
        raise MalformedResultError(f"{where}: {first['msg']}") from None
