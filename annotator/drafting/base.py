"""Drafting backends: a small Protocol; they register in the shared backend registry."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, ClassVar, Protocol, TypeVar, runtime_checkable

from extractors import registry
from extractors.base import Availability


@dataclass(frozen=True)
class Generation:
    """One completion: raw text always kept, plus what it cost."""

    text: str
    prompt_tokens: int | None
    completion_tokens: int | None
    latency_s: float
    finish_reason: str | None = None  # "stop", "length"...


T = TypeVar("T", bound=type)


@runtime_checkable
class DraftingBackend(Protocol):
    name: ClassVar[str]

    @property
    def model_id(self) -> str: ...

    def config(self) -> dict[str, Any]: ...

    def available(self) -> Availability: ...

    def generate(
        self, messages: list[dict[str, str]], json_schema: dict | None, n: int = 1
    ) -> list[Generation]: ...


def register_drafting(name: str) -> Callable[[T], T]:
    """``@register_drafting("openai")``: the shared registry under the kind "drafting"."""
    return registry.register("drafting", name)


def drafting_names() -> list[str]:
    return registry.names("drafting")


def create_drafting(name: str, **options: Any) -> DraftingBackend:
    backend: DraftingBackend = registry.create("drafting", name, **options)
    return backend
