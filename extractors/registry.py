"""One registry for every backend kind: face, voice, speech and drafting.

A backend class registers itself with ``@register("face", "mediapipe")``; the CLI
and settings pick backends by name with ``create("face", name, **options)``. An
unknown name lists the known ones. Built-in backends are imported on first
lookup from the module named for their kind; the drafting kind is added by
``annotator.drafting`` (``add_kind``), so this module names nothing above
``extractors``. ``ANNOTATOR_<KIND>_BACKEND`` in the environment overrides a kind's
default name (read by ``annotator.config.Settings.load``, as lhotse lets an environment
variable pick its audio backend).

Backends of your own: put them in a module that registers them on import and name it in
``ANNOTATOR_PLUGINS`` (comma-separated modules). Every lookup imports those modules first,
in this process and in the child processes a run starts, so ``--face mine`` works there too.
"""

from __future__ import annotations

import importlib
import os
from collections.abc import Callable
from typing import Any, TypeVar

from extractors.errors import AnnotatorError
from extractors.extras import missing_extra

#: kind -> module that registers the built-in backends of that kind when imported. A package
#: above this one adds its own kind with ``add_kind`` ("drafting", from annotator.drafting),
#: so this module never names a higher floor.
BUILTIN_MODULES: dict[str, str] = {
    "face": "extractors.face",
    "voice": "extractors.voice",
    "speech": "extractors.speech",
}
#: Environment variable naming modules with backends of one's own (imported on lookup).
ENV_PLUGINS = "ANNOTATOR_PLUGINS"
#: The kinds an extractor stage runs (drafting is the LLM stage).
EXTRACTOR_KINDS = ("face", "voice", "speech")
_REGISTRY: dict[str, dict[str, type]] = {kind: {} for kind in BUILTIN_MODULES}

T = TypeVar("T", bound=type)


class UnknownBackendError(AnnotatorError, KeyError):
    code = "unknown_backend"

    def __str__(self) -> str:  # KeyError would quote the message
        return str(self.args[0])


def add_kind(kind: str, builtin_module: str) -> None:
    """A backend kind of a higher package, whose built-ins register when ``builtin_module``
    is imported (idempotent)."""
    BUILTIN_MODULES.setdefault(kind, builtin_module)
    _REGISTRY.setdefault(kind, {})


def _check_kind(kind: str) -> None:
    if kind not in _REGISTRY:
        known = ", ".join(_REGISTRY)
        raise UnknownBackendError(f"unknown backend kind {kind!r}; known kinds: {known}")


def register(kind: str, name: str) -> Callable[[T], T]:
    _check_kind(kind)

    def decorator(cls: T) -> T:
        cls.name = name  # type: ignore[attr-defined]
        _REGISTRY[kind][name] = cls
        return cls

    return decorator


def names(kind: str) -> list[str]:
    _check_kind(kind)
    _load_builtin(kind)
    return sorted(_REGISTRY[kind])


def backend_class(kind: str, name: str) -> type:
    _check_kind(kind)
    _load_builtin(kind)
    try:
        return _REGISTRY[kind][name]
    except KeyError:
        known = ", ".join(sorted(_REGISTRY[kind])) or "none"
        raise UnknownBackendError(
            f"unknown {kind} backend {name!r}; known {kind} backends: {known}"
        ) from None


def missing_extra_of(kind: str, name: str) -> str | None:
    """One line when backend ``name`` declares an extra (``extra = "whisperx"``) that is not
    installed, naming the command that installs it; None otherwise."""
    extra = getattr(backend_class(kind, name), "extra", None)
    return missing_extra(extra, f"the {name} {kind} backend") if extra else None


def create(kind: str, name: str, **options: Any) -> Any:
    return backend_class(kind, name)(**options)


def _load_builtin(kind: str) -> None:
    """Import the kind's built-in backend modules so they register (cheap: heavy imports
    are lazy inside each backend)."""
    importlib.import_module(BUILTIN_MODULES[kind])
    for module in os.environ.get(ENV_PLUGINS, "").split(","):
        if module.strip():
            try:
                importlib.import_module(module.strip())
            except ImportError as exc:
                raise UnknownBackendError(
                    f"{ENV_PLUGINS} names {module.strip()!r}, which does not import: {exc}"
                ) from None
