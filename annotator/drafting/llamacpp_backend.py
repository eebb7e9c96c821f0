"""In-process drafting with llama.cpp (llama-cpp-python): the fast CPU path for GGUF models.

A Q4 GGUF runs as it ships (no dequantising), several times faster than transformers on
a CPU, and the draft's JSON schema becomes a llama.cpp grammar, so every completion
parses. The model loads once per process; llama.cpp's own logging is silenced.
"""

from __future__ import annotations

import atexit
import logging
import os
import threading
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any, ClassVar

from annotator.drafting.base import (
    DraftRequest,
    DraftResult,
    Generation,
    generate_each,
    register_drafting,
)
from annotator.drafting.model_cache import quick_fingerprint
from annotator.drafting.models import (
    DEFAULT_DRAFT_MODEL,
    LocalModelDrafter,
    ResolvedModel,
    resolve_model,
)
from extractors.base import Availability
from extractors.errors import AnnotatorError, ModelNotAvailableError
from extractors.schema import config_hash

log = logging.getLogger(__name__)

INSTALL_HINT = "pip install llama-cpp-python (builds from source in about 5 minutes)"

_LOADED: dict[tuple[str, int, int], Any] = {}
_LOCK = threading.Lock()
_AUTO_THREADS: int | None = None


class LlamaCppError(AnnotatorError, RuntimeError):
    """llama.cpp failed on a request (prompt past the context window, bad grammar)."""

    code = "drafting_engine_error"


@atexit.register
def _close_all() -> None:
    """Free the models before interpreter shutdown: left to ``Llama.__del__`` they print
    an ignored TypeError once llama.cpp's module globals are gone."""
    with _LOCK:
        for llm in _LOADED.values():
            llm.close()
        _LOADED.clear()


def llamacpp_installed() -> bool:
    import importlib.util

    return importlib.util.find_spec("llama_cpp") is not None


def auto_threads() -> int:
    """Threads for ``threads=0``: the cores the 1-minute load average leaves free, at
    least one; decided once per process. llama.cpp's threads wait for each other at
    every layer, so on a busy machine 2 threads were >20x slower than 1 (measured: a
    40-token answer took 14 s with 1 thread and did not finish in 4 min with 2)."""
    global _AUTO_THREADS
    if _AUTO_THREADS is None:
        cores = os.cpu_count() or 1
        free = cores - os.getloadavg()[0]
        _AUTO_THREADS = max(1, min(cores, int(free + 0.5)))
    return _AUTO_THREADS


def _gguf(resolved: ResolvedModel) -> Path:
    if resolved.gguf_path is None:
        raise ModelNotAvailableError(
            f"the llamacpp drafter needs a .gguf file; {resolved.spec!r} is a "
            "transformers folder: use --drafter transformers, or pass a .gguf path"
        )
    return resolved.gguf_path


def _load(path: Path, n_ctx: int, threads: int) -> Any:
    key = (str(path), n_ctx, threads)
    with _LOCK:
        if key not in _LOADED:
            if not llamacpp_installed():
                raise ModelNotAvailableError(f"the llamacpp drafter needs {INSTALL_HINT}")
            from llama_cpp import Llama

            log.info("loading %s into llama.cpp (%d threads)", path.name, threads)
            try:
                _LOADED[key] = Llama(
                    model_path=str(path),
                    n_ctx=n_ctx,
                    n_threads=threads,
                    n_threads_batch=threads,
                    n_gpu_layers=0,
                    verbose=False,
                )
            except ValueError as exc:
                raise ModelNotAvailableError(
                    f"llama.cpp could not load {path}: {str(exc).splitlines()[0]}"
                ) from exc
        return _LOADED[key]


@register_drafting("llamacpp")
class LlamaCppDraftingBackend(LocalModelDrafter):
    name: ClassVar[str] = "llamacpp"
    #: Native code in this process: the Runner drafts through a child process (contained.py).
    in_process_native: ClassVar[bool] = True

    def __init__(
        self,
        model: str = DEFAULT_DRAFT_MODEL,
        max_new_tokens: int = 512,
        temperature: float = 0.0,
        repetition_penalty: float = 1.0,
        constrained: bool = True,
        seed: int = 0,
        threads: int = 0,
        n_ctx: int = 4096,
        cache_dir: str | None = None,
    ):
        self.model_spec = model
        self.max_new_tokens = max_new_tokens
        self.temperature = temperature
        self.repetition_penalty = repetition_penalty
        self.constrained = constrained
        self.seed = seed
        # Speed only, left out of config(): CPU threads (0: ``auto_threads``) and the
        # context window (a prompt that does not fit fails instead of drafting otherwise).
        self.threads = threads
        self.n_ctx = n_ctx
        self.cache_dir = Path(cache_dir) if cache_dir else None
        self._fingerprint: str | None = None

    def config(self) -> dict[str, Any]:
        return {
            "backend": self.name,
            "model": self.model_id,
            "max_new_tokens": self.max_new_tokens,
            "temperature": self.temperature,
            "repetition_penalty": self.repetition_penalty,
            "constrained": self.constrained,
            "seed": self.seed,
        }

    def model_fingerprint(self) -> str:
        """The pinned sha256 where known, else size plus the first and last MiB."""
        if self._fingerprint is None:
            resolved = self.resolved
            self._fingerprint = resolved.sha256 or quick_fingerprint(_gguf(resolved))
        return self._fingerprint

    def config_hash(self) -> str:
        """The draft stage key: the settings that change a draft plus the model file's
        identity, so a swapped file under the same name drafts again."""
        return config_hash({**self.config(), "model_file": self.model_fingerprint()})

    def available(self) -> Availability:
        if not llamacpp_installed():
            return Availability(False, f"llama-cpp-python is not installed: {INSTALL_HINT}")
        try:
            resolved = resolve_model(self.model_spec, cache_dir=self.cache_dir, join=False)
            path = _gguf(resolved)
        except ModelNotAvailableError as exc:
            return Availability(False, str(exc))
        return Availability(True, str(path))

    def _threads(self) -> int:
        return self.threads if self.threads > 0 else auto_threads()

    def generate(
        self, messages: list[dict[str, str]], json_schema: dict | None, n: int = 1
    ) -> list[Generation]:
        llm = _load(_gguf(self.resolved), self.n_ctx, self._threads())
        kwargs: dict[str, Any] = {
            "max_tokens": self.max_new_tokens,
            "repeat_penalty": self.repetition_penalty,
        }
        if self.constrained and json_schema is not None:
            kwargs["response_format"] = {"type": "json_object", "schema": json_schema}
        sampling = self.temperature > 0 or n > 1
        if sampling:
            kwargs.update(temperature=self.temperature or 0.7, top_p=0.95)
        else:
            kwargs.update(temperature=0.0, top_k=1)
        out: list[Generation] = []
        for index in range(n):
            start = time.perf_counter()
            try:
                response = llm.create_chat_completion(
                    messages=messages, seed=self.seed + index, **kwargs
                )
            except (ValueError, RuntimeError) as exc:  # prompt past n_ctx, grammar failure
                first = (str(exc).splitlines() or [""])[0]
                raise LlamaCppError(f"llama.cpp drafting failed: {first}") from exc
            latency = time.perf_counter() - start
            choice = response["choices"][0]
            usage = response.get("usage") or {}
            out.append(
                Generation(
                    text=choice["message"]["content"] or "",
                    prompt_tokens=usage.get("prompt_tokens"),
                    completion_tokens=usage.get("completion_tokens"),
                    latency_s=round(latency, 3),
                    finish_reason=choice.get("finish_reason"),
                )
            )
        return out

    def generate_many(self, requests: Sequence[DraftRequest]) -> list[DraftResult]:
        return generate_each(self, requests)
