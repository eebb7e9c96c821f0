"""Backends that crash their process for real (a NULL read: SIGSEGV), to test containment.

Each crashes once: when its ``crash_file`` exists it deletes the file, then dies; a rerun
therefore succeeds. The drafter crashes on its ``crash_on``-th request in a process, so the
crash lands in the middle of a batch; the face backend crashes on a clip whose file name
contains ``crash``, and otherwise is the real MediaPipe backend.
"""

from __future__ import annotations

import ctypes
import json
import os
from pathlib import Path
from typing import Any, ClassVar

from annotator.drafting.base import Generation, generate_each, register_drafting
from extractors import registry
from extractors.base import Availability
from extractors.face.mediapipe_backend import MediaPipeFaceBackend
from extractors.schema import config_hash

#: The crash file when none is given (the CLI passes no such option).
CRASH_FILE_ENV = "SEGFAULT_TEST_CRASH_FILE"

DRAFT = {
    "visual_clues": "lip corners pulled up 1.2-2.8 s",
    "acoustic_clues": "pitch high and rising",
    "lexical_clues": "says hello twice",
    "reasoning": "smile with lively voice",
    "caption": "The speaker greets warmly and sounds pleased.",
    "labels": ["happy"],
    "valence": 0.6,
    "arousal": 0.5,
    "confidence": 0.7,
}


def segfault() -> None:
    """Read address 0: a real SIGSEGV in native code, as a broken runtime would die."""
    ctypes.string_at(0)


def _take(crash_file: str | None) -> bool:
    """True once: when the file exists (it is removed first, so a rerun does not crash)."""
    if crash_file and Path(crash_file).exists():
        Path(crash_file).unlink()
        return True
    return False


@register_drafting("segfault-test")
class SegfaultDrafter:
    """A valid draft for every request, except the ``crash_on``-th of its process."""

    name: ClassVar[str] = "segfault-test"
    in_process_native: ClassVar[bool] = True

    def __init__(
        self,
        crash_file: str | None = None,
        crash_on: int = 2,
        max_new_tokens: int = 512,  # the options `annotator run` gives a local drafter
        threads: int = 0,
        model: str = "segfault-test-model",
    ):
        self.crash_file = crash_file or os.environ.get(CRASH_FILE_ENV)
        self.crash_on = crash_on
        self.calls = 0

    @property
    def model_id(self) -> str:
        return "segfault-test-model"

    def config(self) -> dict[str, Any]:
        return {"crash_on": self.crash_on}

    def config_hash(self) -> str:
        return config_hash(self.config())

    def available(self) -> Availability:
        return Availability(True, "in the test")

    def generate(self, messages, json_schema, n=1):  # type: ignore[no-untyped-def]
        self.calls += 1
        if self.calls == self.crash_on and _take(self.crash_file):
            segfault()
        return [Generation(json.dumps(DRAFT), 10, 20, 0.01, "stop", {"pid": os.getpid()})]

    def generate_many(self, requests):  # type: ignore[no-untyped-def]
        return generate_each(self, requests)


@registry.register("face", "segfault-test")
class SegfaultFace(MediaPipeFaceBackend):
    """MediaPipe, but a clip whose file name contains ``crash`` kills the process."""

    def __init__(self, crash_file: str | None = None, **options: Any):
        super().__init__(**options)
        self.crash_file = crash_file or os.environ.get(CRASH_FILE_ENV)

    def extract(self, media, *args, **kwargs):  # type: ignore[no-untyped-def]
        if "crash" in Path(str(media.path)).name and _take(self.crash_file):
            segfault()
        return super().extract(media, *args, **kwargs)
