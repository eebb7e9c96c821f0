"""Backends registered by name, one registry per kind (face, voice, speech).

A backend class registers itself with ``@register("face", "landmarks")``; the CLI
and config pick backends by name with ``create("face", name, **options)``. An
unknown name lists the known ones.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

from extractors.errors import AnnotatorError

KINDS = ("face", "voice", "speech")
_REGISTRY: dict[str, dict[str, type]] = {kind: {} for kind in KINDS}

T = TypeVar("T", bound=type)


class UnknownBackendError(AnnotatorError, KeyError):
    code = "unknown_backend"

    def __str__(self) -> str:  # KeyError would quote the message
        return str(self.args[0])


def register(kind: str, name: str) -> Callable[[T], T]:
    if kind not in _REGISTRY:
        raise ValueError(f"unknown backend kind {kind!r}; known kinds: {', '.join(KINDS)}")

    def decorator(cls: T) -> T:
        cls.name = name  # type: ignore[attr-defined]
        _REGISTRY[kind][name] = cls
        return cls

    return decorator


def names(kind: str) -> list[str]:
    _load_builtin()
    return sorted(_REGISTRY[kind])


def backend_class(kind: str, name: str) -> type:
    _load_builtin()
    try:
        return _REGISTRY[kind][name]
    except KeyError:
        known = ", ".join(sorted(_REGISTRY.get(kind, {}))) or "none"
        raise UnknownBackendError(
            f"unknown {kind} backend {name!r}; known {kind} backends: {known}"
        ) from None


def create(kind: str, name: str, **options: Any) -> Any:
    return backend_class(kind, name)(**options)


def _load_builtin() -> None:
    """Import the built-in backend modules so they register (cheap: heavy imports are lazy)."""
    import extractors.face
    import extractors.speech
    import extractors.voice  # noqa: F401
