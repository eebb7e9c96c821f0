"""Chat records for fine-tuning: ShareGPT conversations (cue card in, verified caption JSON
out) and preference pairs in the conversational form TRL's ``DPOTrainer`` reads
(``prompt``, ``chosen``, ``rejected`` lists of messages).

The prompt is rebuilt with ``build_messages`` under the draft's own prompt version, so a
record shows the model exactly what the drafter was shown.
"""

from __future__ import annotations

import json
from typing import Any

from annotator.drafting.prompt import PROMPT_VERSION, PROMPTS, build_messages
from annotator.export.collect import VERIFIED, ClipExport
from db import Draft, Review

#: Key order of the JSON answer (the decoding schema's).
ANSWER_KEYS = (
    "visual_clues", "acoustic_clues", "lexical_clues", "reasoning", "caption", "labels",
    "valence", "arousal", "confidence",
)  # fmt: skip


def prompt_messages(item: ClipExport) -> list[dict[str, str]] | None:
    if item.cue_text is None:
        return None
    draft = item.draft
    version = draft.prompt_version if draft and draft.prompt_version in PROMPTS else PROMPT_VERSION
    return build_messages(
        item.cue_text.prompt_text,
        item.cue_text.missing_json or None,
        version=version,
        emotion_prompt=item.emotion_prompt,
    )


def answer(draft: Draft | None, review: Review | None = None) -> str:
    """The answer JSON: the draft's clues and reasoning, the review's caption, labels and
    scales where a review is given (its confidence stays the draft's)."""
    values: dict[str, Any] = {
        "visual_clues": (draft.visual_clues or "") if draft else "",
        "acoustic_clues": (draft.acoustic_clues or "") if draft else "",
        "lexical_clues": (draft.lexical_clues or "") if draft else "",
        "reasoning": (draft.reasoning or "") if draft else "",
        "caption": (draft.caption or "") if draft else "",
        "labels": list(draft.labels or []) if draft else [],
        "valence": draft.valence if draft else None,
        "arousal": draft.arousal if draft else None,
        "confidence": draft.confidence if draft else None,
    }
    if review is not None:
        values.update(
            caption=review.caption or "",
            labels=list(review.labels or []),
            valence=review.valence,
            arousal=review.arousal,
        )
    return json.dumps({k: values[k] for k in ANSWER_KEYS}, ensure_ascii=False)


#: Chat roles as ShareGPT names them.
_SHAREGPT_ROLE = {"system": "system", "user": "human", "assistant": "gpt"}


def sharegpt_records(items: list[ClipExport]) -> list[dict[str, Any]]:
    """One conversation per verified clip: the prompt's turns as the drafter saw them
    (system; the worked example, from mer-caption-3 on; human: the cue card), then gpt:
    the verified answer."""
    records = []
    for item in items:
        messages = prompt_messages(item)
        if messages is None or not item.verified:
            continue
        turns = [{"from": _SHAREGPT_ROLE[m["role"]], "value": m["content"]} for m in messages]
        turns.append({"from": "gpt", "value": answer(item.draft, item.final)})
        records.append({"id": item.name, "conversations": turns})
    return records


def _differs(a: str, b: str) -> bool:
    return json.loads(a) != json.loads(b)


def _pair(
    name: str, prompt: list[dict[str, str]], chosen: str, rejected: str, kind: str, other: Draft
) -> dict[str, Any]:
    """One DPO record; ``pair`` says which kind (edited: final over the draft it edited;
    sample: the accepted sample over another), ``rejected_draft_id`` which draft lost."""
    return {
        "id": f"{name}:{kind}:{other.id}",
        "prompt": prompt,
        "chosen": [{"role": "assistant", "content": chosen}],
        "rejected": [{"role": "assistant", "content": rejected}],
        "pair": kind,
        "model_id": other.model_id,
        "rejected_draft_id": other.id,
    }


def preference_records(items: list[ClipExport]) -> list[dict[str, Any]]:
    """Pairs: the human-edited final over the draft it edited; and, where an annotator
    accepted one of several self-consistency samples, that sample over each other one
    (an invalid sample's raw output counts as rejected text)."""
    records = []
    for item in items:
        messages = prompt_messages(item)
        final, draft = item.final, item.draft
        if messages is None or final is None or draft is None or final.status not in VERIFIED:
            continue
        chosen = answer(draft, final)

        if final.status == "edited" and _differs(chosen, answer(draft)):
            records.append(_pair(item.name, messages, chosen, answer(draft), "edited", draft))
        if final.status == "accepted":
            others = [
                d for d in item.samples
                if d.config_hash == draft.config_hash and d.id != draft.id
            ]  # fmt: skip
            for other in others:
                text = answer(other) if other.status == "valid" else other.raw_output.strip()
                if text and (other.status != "valid" or _differs(chosen, text)):
                    records.append(_pair(item.name, messages, chosen, text, "sample", other))
    return records
