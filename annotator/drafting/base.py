"""Drafting backends: a small Protocol; they register in the shared backend registry."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar, Protocol, TypeVar, runtime_checkable

from extractors import registry
from extractors.base import Availability
from extractors.errors import AnnotatorError
from extractors.media import partial_hash
from extractors.schema import config_hash


@dataclass(frozen=True)
class Generation:
    """One completion: raw text always kept, plus what it cost."""

    text: str
    prompt_tokens: int | None
    completion_tokens: int | None
    latency_s: float
    finish_reason: str | None = None  # "stop", "length"...
    # temperature, top_p, seed, max_new_tokens as used for this completion (stored per draft)
    sampling: dict[str, Any] | None = None


T = TypeVar("T", bound=type)


@dataclass(frozen=True)
class DraftRequest:
    """One clip's prompt for ``generate_many``: the batch engines (vLLM, an OpenAI server
    with concurrent requests, batched transformers on CUDA) draft many clips at once."""

    key: str  # the caller's id for this request (a clip id), echoed in the result
    messages: list[dict[str, str]]
    json_schema: dict | None
    n: int = 1


@dataclass(frozen=True)
class DraftResult:
    """The generations for one request, or the typed error that stopped that request only."""

    key: str
    generations: list[Generation]
    error: AnnotatorError | None = None


@runtime_checkable
class DraftingBackend(Protocol):
    name: ClassVar[str]

    @property
    def model_id(self) -> str: ...

    def config(self) -> dict[str, Any]: ...

    def config_hash(self) -> str:
        """The draft stage's key for this backend: every option that changes output
        (model file fingerprint included), none that changes only speed."""
        ...

    def available(self) -> Availability: ...

    def generate(
        self, messages: list[dict[str, str]], json_schema: dict | None, n: int = 1
    ) -> list[Generation]: ...

    def generate_many(self, requests: Sequence[DraftRequest]) -> list[DraftResult]:
        """One result per request, in order; a failed request does not fail the others."""
        ...


def generate_each(backend: DraftingBackend, requests: Sequence[DraftRequest]) -> list[DraftResult]:
    """``generate_many`` for backends without a batch engine: one request after another."""
    results = []
    for request in requests:
        try:
            gens = backend.generate(request.messages, request.json_schema, n=request.n)
        except AnnotatorError as exc:
            results.append(DraftResult(request.key, [], exc))
        else:
            results.append(DraftResult(request.key, gens))
    return results


def drafter_key(backend: DraftingBackend) -> str:
    """``backend.config_hash()``; a hash of ``config()`` for a backend without one."""
    own = getattr(backend, "config_hash", None)
    if callable(own):
        return str(own())
    return config_hash({"backend": backend.name, **backend.config()})


_FINGERPRINTS: dict[tuple[str, int, int], str] = {}


def file_fingerprint(path: str | Path) -> str:
    """A model file's identity for the draft key: ``extractors.media.partial_hash`` (its size,
    first and last MiB: cheap on a 1 GB GGUF, and a changed or replaced file gets a new key),
    cached per (path, size, mtime) so a run hashes each file once."""
    p = Path(path)
    stat = p.stat()
    cache_key = (str(p.resolve()), stat.st_size, stat.st_mtime_ns)
    if cache_key not in _FINGERPRINTS:
        _FINGERPRINTS[cache_key] = partial_hash(p)[:16]
    return _FINGERPRINTS[cache_key]


registry.add_kind("drafting", "annotator.drafting.backends")


def register_drafting(name: str) -> Callable[[T], T]:
    """``@register_drafting("openai")``: the shared registry under the kind "drafting"."""
    return registry.register("drafting", name)


def drafting_names() -> list[str]:
    return registry.names("drafting")


def create_drafting(name: str, **options: Any) -> DraftingBackend:
    backend: DraftingBackend = registry.create("drafting", name, **options)
    return backend
