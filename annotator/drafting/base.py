"""Drafting backends: a small Protocol and a registry by name."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, ClassVar, Protocol, TypeVar, runtime_checkable

from extractors.base import Availability
from extractors.registry import UnknownBackendError


@dataclass(frozen=True)
class Generation:
    """One completion: raw text always kept, plus what it cost."""

    text: str
    prompt_tokens: int | None
    completion_tokens: int | None
    latency_s: float
    finish_reason: str | None = None  # "stop", "length"...


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


_DRAFTING: dict[str, type] = {}
T = TypeVar("T", bound=type)


def register_drafting(name: str) -> Callable[[T], T]:
    def decorator(cls: T) -> T:
        cls.name = name  # type: ignore[attr-defined]
        _DRAFTING[name] = cls
        return cls

    return decorator


def drafting_names() -> list[str]:
    _load_builtin()
    return sorted(_DRAFTING)


def create_drafting(name: str, **options: Any) -> DraftingBackend:
    _load_builtin()
    try:
        cls = _DRAFTING[name]
    except KeyError:
        known = ", ".join(sorted(_DRAFTING))
        raise UnknownBackendError(
            f"unknown drafting backend {name!r}; known drafting backends: {known}"
        ) from None
    backend: DraftingBackend = cls(**options)
    return backend


def _load_builtin() -> None:
    import annotator.drafting.transformers_backend  # noqa: F401
