"""The small Protocols every backend of a kind satisfies.

A backend is constructed with keyword options (its config), loads its model
lazily on first use, once per process, and exposes ``config()`` so the pipeline
can hash it into the stage key. ``available()`` says whether its model is on
this machine, and how to get it when not, without loading it.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any, ClassVar, Protocol, runtime_checkable

from extractors.media import ClipMedia
from extractors.schema import FaceCues, SpeechCues, VoiceCues


@dataclass(frozen=True)
class Availability:
    ok: bool
    detail: str  # where the model was found, or what is missing and how to get it


@runtime_checkable
class Backend(Protocol):
    name: ClassVar[str]
    version: ClassVar[str]

    def config(self) -> dict[str, Any]: ...

    def config_hash(self) -> str: ...

    def available(self) -> Availability: ...


@runtime_checkable
class FaceBackend(Backend, Protocol):
    def extract(self, clip: ClipMedia) -> FaceCues: ...


@runtime_checkable
class VoiceBackend(Backend, Protocol):
    def extract(self, clip: ClipMedia) -> VoiceCues: ...


@runtime_checkable
class SpeechBackend(Backend, Protocol):
    def extract(self, clip: ClipMedia) -> SpeechCues: ...


def usable_cpus() -> int:
    """The CPUs this process may run on (its affinity mask; the CPU count elsewhere)."""
    try:
        return len(os.sched_getaffinity(0)) or 1
    except AttributeError:  # not Linux
        return os.cpu_count() or 1
