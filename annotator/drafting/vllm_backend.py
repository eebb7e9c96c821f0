"""Drafting with vLLM's offline engine, in-process, for corpora on GPUs.

``generate_many`` hands every pending clip to one ``LLM.chat`` call, so vLLM batches
them continuously; n samples come from ``SamplingParams(n=...)`` and JSON output is
enforced by guided decoding with the draft's schema. vLLM is an optional extra
(``uv sync --extra gpu``): it is imported only when a model is loaded, and without it
``available()`` says how to install it.
"""

from __future__ import annotations

import importlib.util
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
    file_fingerprint,
    register_drafting,
)
from annotator.drafting.models import (
    DEFAULT_DRAFT_MODEL,
    LocalModelDrafter,
    ResolvedModel,
    resolve_model,
)
from extractors.base import Availability
from extractors.errors import AnnotatorError, ModelNotAvailableError
from extractors.extras import install_command
from extractors.schema import config_hash

log = logging.getLogger(__name__)

INSTALL_HINT = f"{install_command('gpu')}; needs a CUDA GPU"

_ENGINES: dict[tuple[Any, ...], Any] = {}
_LOCK = threading.Lock()


class DraftingEngineError(AnnotatorError, RuntimeError):
    """The in-process engine failed on a batch (a prompt past max_model_len, CUDA OOM)."""

    code = "drafting_failed"


def vllm_installed() -> bool:
    return importlib.util.find_spec("vllm") is not None


def sampling_kwargs(
    *,
    max_new_tokens: int,
    temperature: float,
    seed: int,
    n: int,
    json_schema: dict | None,
) -> dict[str, Any]:
    """Keyword arguments for one request's ``SamplingParams`` (pure: no vLLM import).
    Several samples need sampling, so a zero temperature becomes 0.7 then, as in the
    transformers backend; ``json`` is the schema for guided decoding."""
    sampling = temperature > 0 or n > 1
    kwargs: dict[str, Any] = {
        "n": max(1, n),
        "max_tokens": max_new_tokens,
        "temperature": (temperature or 0.7) if sampling else 0.0,
        "seed": seed,
    }
    if sampling:
        kwargs["top_p"] = 0.95
    if json_schema is not None:
        kwargs["json"] = json_schema
    return kwargs


def engine_kwargs(
    resolved: ResolvedModel, max_model_len: int, gpu_memory_utilization: float, seed: int
) -> dict[str, Any]:
    """Keyword arguments for ``vllm.LLM``: a GGUF file is passed as the model path (vLLM
    reads its tokenizer from the file), a folder or hub id as it is."""
    model = os.path.join(resolved.path, resolved.gguf_file) if resolved.gguf_file else resolved.path
    return {
        "model": model,
        "max_model_len": max_model_len,
        "gpu_memory_utilization": gpu_memory_utilization,
        "seed": seed,
    }


def _sampling_params(kwargs: dict[str, Any]) -> Any:
    """``SamplingParams`` from ``sampling_kwargs``; guided JSON through
    ``GuidedDecodingParams`` (vLLM 0.10/0.11) or ``StructuredOutputsParams`` (later)."""
    from vllm import SamplingParams

    kwargs = dict(kwargs)
    schema = kwargs.pop("json", None)
    if schema is None:
        return SamplingParams(**kwargs)
    try:
        from vllm.sampling_params import GuidedDecodingParams

        return SamplingParams(**kwargs, guided_decoding=GuidedDecodingParams(json=schema))
    except ImportError:
        from vllm.sampling_params import StructuredOutputsParams  # type: ignore[attr-defined]

        # vllm >= 0.11 (the lock has 0.10.2, whose SamplingParams lacks the keyword)
        return SamplingParams(  # type: ignore[call-arg]
            **kwargs, structured_outputs=StructuredOutputsParams(json=schema)
        )


@register_drafting("vllm")
class VLLMDraftingBackend(LocalModelDrafter):
    name = "vllm"
    extra: ClassVar[str] = "gpu"

    def __init__(
        self,
        model: str = DEFAULT_DRAFT_MODEL,
        max_new_tokens: int = 512,
        temperature: float = 0.0,
        seed: int = 0,
        max_model_len: int = 4096,
        gpu_memory_utilization: float = 0.85,
    ):
        self.model_spec = model
        self.max_new_tokens = max_new_tokens
        self.temperature = temperature
        self.seed = seed
        # Speed and memory only (left out of config()).
        self.max_model_len = max_model_len
        self.gpu_memory_utilization = gpu_memory_utilization

    def config(self) -> dict[str, Any]:
        return {
            "backend": self.name,
            "model": self.model_id,
            "max_new_tokens": self.max_new_tokens,
            "temperature": self.temperature,
            "seed": self.seed,
        }

    def config_hash(self) -> str:
        """``config()`` plus a fingerprint of the model's files (a replaced file drafts
        again); memory and length limits left out."""
        resolved = self.resolved
        folder = Path(resolved.path)
        if resolved.gguf_file:
            files = [folder / resolved.gguf_file]
        else:
            patterns = ("*.safetensors", "*.bin", "config.json", "tokenizer.json")
            files = sorted({f for pat in patterns for f in folder.glob(pat) if f.is_file()})
        fingerprints = {f.name: file_fingerprint(f) for f in files}
        return config_hash({**self.config(), "model_files": fingerprints})

    def available(self) -> Availability:
        if not vllm_installed():
            return Availability(False, f"vllm is not installed: {INSTALL_HINT}")
        try:
            resolved = resolve_model(self.model_spec, join=False)  # no 1 GB join to check
        except ModelNotAvailableError as exc:
            return Availability(False, str(exc))
        return Availability(True, engine_kwargs(resolved, 0, 0.0, 0)["model"])

    def _engine(self) -> Any:
        if not vllm_installed():
            raise ModelNotAvailableError(f"the vllm drafter needs vllm: {INSTALL_HINT}")
        kwargs = engine_kwargs(
            self.resolved, self.max_model_len, self.gpu_memory_utilization, self.seed
        )
        key = tuple(sorted(kwargs.items()))
        with _LOCK:
            if key not in _ENGINES:
                from vllm import LLM

                log.info("loading %s into vLLM", kwargs["model"])
                _ENGINES[key] = LLM(**kwargs)
            return _ENGINES[key]

    def generate(
        self, messages: list[dict[str, str]], json_schema: dict | None, n: int = 1
    ) -> list[Generation]:
        result = self.generate_many([DraftRequest("one", messages, json_schema, n)])[0]
        if result.error is not None:
            raise result.error
        return result.generations

    def generate_many(self, requests: Sequence[DraftRequest]) -> list[DraftResult]:
        """All requests in one ``LLM.chat`` call. Latency on each generation is the
        batch's wall time shared out evenly over its requests."""
        if not requests:
            return []
        try:
            engine = self._engine()
        except AnnotatorError as exc:
            return [DraftResult(r.key, [], exc) for r in requests]
        all_kwargs = [
            sampling_kwargs(
                max_new_tokens=self.max_new_tokens,
                temperature=self.temperature,
                seed=self.seed + index,
                n=r.n,
                json_schema=r.json_schema,
            )
            for index, r in enumerate(requests)
        ]
        params = [_sampling_params(kwargs) for kwargs in all_kwargs]
        start = time.perf_counter()
        try:
            outputs = engine.chat([r.messages for r in requests], params, use_tqdm=False)
        except (ValueError, RuntimeError) as exc:  # a prompt past max_model_len, CUDA OOM
            first = (str(exc).splitlines() or [""])[0]
            error = DraftingEngineError(f"vllm drafting failed: {type(exc).__name__}: {first}")
            return [DraftResult(r.key, [], error) for r in requests]
        share = (time.perf_counter() - start) / len(requests)
        return [
            DraftResult(request.key, _generations(output, share, kwargs))
            for request, output, kwargs in zip(requests, outputs, all_kwargs, strict=True)
        ]


def _generations(output: Any, latency: float, kwargs: dict[str, Any]) -> list[Generation]:
    """``Generation``s from one vLLM ``RequestOutput`` (its n completions); ``kwargs``
    are the request's ``sampling_kwargs``, stored with each as its sampling."""
    max_new_tokens = kwargs["max_tokens"]
    sampling = {
        "temperature": kwargs["temperature"],
        "top_p": kwargs.get("top_p"),
        "seed": kwargs["seed"],
        "max_new_tokens": max_new_tokens,
    }
    prompt_tokens = len(output.prompt_token_ids or [])
    return [
        Generation(
            text=completion.text,
            prompt_tokens=prompt_tokens,
            completion_tokens=len(completion.token_ids),
            latency_s=round(latency, 3),
            finish_reason=completion.finish_reason
            or ("length" if len(completion.token_ids) >= max_new_tokens else "stop"),
            sampling=sampling,
        )
        for completion in output.outputs
    ]
