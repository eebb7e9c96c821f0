"""The scripted drafter: fixed output, so the pipeline's handling of model output can be pinned
down. Registered as "scripted" when this module is imported (as a plugin would be)."""

from __future__ import annotations

import json
from typing import Any

from annotator.drafting.base import Generation, generate_each, register_drafting
from extractors.base import Availability
from extractors.schema import config_hash

VALID_DRAFT = {
    "visual_clues": "lip corners pulled up 1.2-2.8 s",
    "acoustic_clues": "pitch high and rising",
    "lexical_clues": "says hello twice",
    "reasoning": "smile with lively voice",
    "caption": "The speaker greets warmly and sounds pleased.",
    "labels": ["Happy", "friendly", "happy"],
    "valence": 0.6,
    "arousal": 0.5,
    "confidence": 0.7,
}


@register_drafting("scripted")
class ScriptedDrafter:
    """Returns fixed text, so the pipeline's handling of model output can be pinned down."""

    name = "scripted"

    def __init__(self, outputs: list[str] | None = None, **_: Any):
        self.outputs = outputs or [json.dumps(VALID_DRAFT)]
        self.prompts: list[str] = []
        self.batches: list[int] = []

    @property
    def model_id(self) -> str:
        return "scripted-test-model"

    def config(self) -> dict[str, Any]:
        return {"outputs": self.outputs}

    def available(self) -> Availability:
        return Availability(True, "in the test")

    def config_hash(self) -> str:
        return config_hash(self.config())

    def generate(self, messages, json_schema, n=1):  # type: ignore[no-untyped-def]
        self.prompts.append(messages[-1]["content"])
        return [
            Generation(self.outputs[i % len(self.outputs)], 10, 20, 0.01, "stop") for i in range(n)
        ]

    def generate_many(self, requests):  # type: ignore[no-untyped-def]
        self.batches.append(len(requests))
        return generate_each(self, requests)


def scripted(settings, outputs: list[str] | None = None):  # type: ignore[no-untyped-def]
    settings.drafting_backend = "scripted"
    settings.drafting_options = {"outputs": outputs or [json.dumps(VALID_DRAFT)]}
    return settings
