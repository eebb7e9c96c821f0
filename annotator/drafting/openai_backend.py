"""Drafting through any OpenAI-compatible chat server (vLLM, llama.cpp, Ollama, TGI, APIs).

One ``httpx.Client`` shared by a thread pool: ``generate_many`` sends up to
``concurrency`` requests at once (one per sample, so servers that ignore ``n`` still
give n drafts). JSON output is asked for with ``response_format`` (JSON schema);
a server that rejects that (400/422) is asked again with ``json_object`` plus the
schema (llama-cpp-python's server, older llama.cpp), then vLLM's ``guided_json``, then
with the prompt alone, and the first mode that works is kept. Output that fails the
draft parser gets one repair request. 429, 5xx and dropped connections are retried
with exponential backoff, honouring ``Retry-After``. The API key comes from
``OPENAI_API_KEY``, goes out as a bearer token and is never logged, hashed or stored.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

import httpx

from annotator.drafting.base import DraftRequest, DraftResult, Generation, register_drafting
from annotator.drafting.openai_http import (
    DraftingServerError,
    Rejected,
    call,
    normalise_base_url,
    retry_after,
)
from annotator.drafting.schema import DraftParseError, parse_draft
from extractors.base import Availability
from extractors.errors import AnnotatorError
from extractors.schema import config_hash

log = logging.getLogger(__name__)

ENV_BASE_URL = "OPENAI_BASE_URL"
ENV_API_KEY = "OPENAI_API_KEY"
#: How JSON output is asked for, strongest first; "auto" starts at the first.
#: json_object comes before guided_json: llama-cpp-python's server ignores unknown
#: fields, so guided_json would be accepted there and constrain nothing.
STRUCTURED_MODES = ("json_schema", "json_object", "guided_json", "prompt")


class DraftingConfigError(AnnotatorError, ValueError):
    """A drafting option is missing or wrong (no base URL, bad mode)."""

    code = "drafting_config"


@dataclass(frozen=True)
class RepairedGeneration(Generation):
    """A draft that needed the repair request: ``text`` is the repaired output, the
    costs are both calls' together, and the invalid first output is kept."""

    first_text: str = ""
    first_error: str = ""


def repair_messages(
    messages: list[dict[str, str]], invalid: str, error: str
) -> list[dict[str, str]]:
    """The conversation plus the invalid reply and the parser's one-line complaint."""
    return [
        *messages,
        {"role": "assistant", "content": invalid},
        {
            "role": "user",
            "content": f"That reply is not a valid draft: {error}. Reply again with the "
            "corrected JSON object only, with every key and every value in range.",
        },
    ]


@register_drafting("openai")
class OpenAIDraftingBackend:
    name = "openai"

    def __init__(
        self,
        base_url: str | None = None,
        model: str | None = None,
        max_new_tokens: int = 512,
        temperature: float = 0.0,
        seed: int = 0,
        structured: str = "auto",
        repair: bool = True,
        concurrency: int = 8,
        timeout: float = 120.0,
        retries: int = 4,
        backoff: float = 1.0,
    ):
        if structured != "auto" and structured not in STRUCTURED_MODES:
            raise DraftingConfigError(
                f"structured={structured!r}; known: auto, {', '.join(STRUCTURED_MODES)}"
            )
        self._base_url = base_url
        self.model_spec = model
        self.max_new_tokens = max_new_tokens
        self.temperature = temperature
        self.seed = seed
        self.structured = structured
        self.repair = repair
        # Speed only (left out of config()): how many requests are in flight, how long
        # one may take, how often a failed one is tried again.
        self.concurrency = max(1, concurrency)
        self.timeout = timeout
        self.retries = max(0, retries)
        self.backoff = backoff
        self._api_key = os.environ.get(ENV_API_KEY) or None
        self._mode = STRUCTURED_MODES[0] if structured == "auto" else structured
        self._model: str | None = model
        self._served_model: str | None = None  # the id the server answers with
        self._client: httpx.Client | None = None
        self._lock = threading.Lock()
        self._model_lock = threading.Lock()  # held while asking the server (uses _lock)
        self._sleep = time.sleep  # the wait between retries (tests record it instead)

    def __repr__(self) -> str:  # never the key
        return f"OpenAIDraftingBackend(base_url={self._base_url!r}, model={self.model_spec!r})"

    # ------------------------------------------------------------ configuration

    @property
    def base_url(self) -> str:
        url = self._base_url or os.environ.get(ENV_BASE_URL)
        if not url:
            raise DraftingConfigError(
                f"the openai drafter needs a server: pass --base-url (option base_url) "
                f"or set {ENV_BASE_URL}, e.g. http://127.0.0.1:8000/v1"
            )
        return normalise_base_url(url)

    @property
    def model(self) -> str:
        """The model asked for: the option, else the server's first listed model."""
        if self._model is None:
            with self._model_lock:
                if self._model is None:
                    self._model = self._first_model()
        return self._model

    @property
    def model_id(self) -> str:
        """The id the server answered with (stored on drafts); the asked-for name before
        the first answer."""
        return self._served_model or self.model

    def config(self) -> dict[str, Any]:
        # No key, URL or speed settings: the same model drafts the same wherever served.
        return {
            "backend": self.name,
            "model": self.model,
            "max_new_tokens": self.max_new_tokens,
            "temperature": self.temperature,
            "seed": self.seed,
            "structured": self.structured,
            "repair": self.repair,
        }

    def config_hash(self) -> str:
        return config_hash(self.config())

    def available(self) -> Availability:
        try:
            url = self.base_url
            # One quick look (no retries): `annotator models` should not wait on a dead server.
            model = self._model or self._first_model(retries=0)
        except AnnotatorError as exc:
            return Availability(False, str(exc))
        return Availability(True, f"{url}: {model}")

    # ------------------------------------------------------------ HTTP

    def _http(self) -> httpx.Client:
        with self._lock:
            if self._client is None:
                headers = {"Authorization": f"Bearer {self._api_key}"} if self._api_key else {}
                limits = httpx.Limits(max_connections=self.concurrency)
                self._client = httpx.Client(
                    base_url=self.base_url, headers=headers, timeout=self.timeout, limits=limits
                )
            return self._client

    def close(self) -> None:
        with self._lock:
            if self._client is not None:
                self._client.close()
                self._client = None

    def _call(
        self, method: str, path: str, body: dict | None = None, retries: int | None = None
    ) -> dict[str, Any]:
        return call(
            self._http(),
            method,
            path,
            body,
            retries=self.retries if retries is None else retries,
            backoff=self.backoff,
            timeout=self.timeout,
            sleep=self._sleep,
        )

    def _first_model(self, retries: int | None = None) -> str:
        try:
            data = self._call("GET", "/models", retries=retries)
        except Rejected as exc:
            raise DraftingServerError(f"{self.base_url}/models: {exc}") from None
        models = [m.get("id") for m in data.get("data", []) if isinstance(m, dict)]
        if not models or not models[0]:
            raise DraftingServerError(
                f"{self.base_url}/models lists no model: pass --model (option model)"
            )
        return str(models[0])

    # ------------------------------------------------------------ one completion

    def request_body(
        self,
        messages: list[dict[str, str]],
        json_schema: dict | None,
        mode: str,
        seed: int,
        temperature: float,
    ) -> dict[str, Any]:
        """The chat-completions body for one sample under one structured-output mode."""
        body: dict[str, Any] = {
            "model": self.model,
            "messages": messages,
            "max_tokens": self.max_new_tokens,
            "temperature": temperature,
            "seed": seed,
        }
        if json_schema is not None and mode == "json_schema":
            body["response_format"] = {
                "type": "json_schema",
                "json_schema": {"name": "draft", "schema": json_schema},
            }
        elif json_schema is not None and mode == "json_object":
            body["response_format"] = {"type": "json_object", "schema": json_schema}
        elif json_schema is not None and mode == "guided_json":
            body["guided_json"] = json_schema
        return body

    def _complete(
        self,
        messages: list[dict[str, str]],
        json_schema: dict | None,
        seed: int,
        temperature: float,
    ) -> Generation:
        """One completion, stepping down the structured-output modes on 400/422; the
        first mode that a server accepts is kept for the next requests."""
        start = time.perf_counter()
        mode = self._mode
        modes = STRUCTURED_MODES[STRUCTURED_MODES.index(mode) :] if json_schema else ("prompt",)
        if self.structured != "auto":
            modes = modes[:1]
        for index, mode in enumerate(modes):
            try:
                data = self._call(
                    "POST",
                    "/chat/completions",
                    self.request_body(messages, json_schema, mode, seed, temperature),
                )
            except Rejected as exc:
                if index + 1 < len(modes):
                    log.info("server rejected %s (%s); trying %s", mode, exc, modes[index + 1])
                    continue
                raise DraftingServerError(
                    f"drafting server {self.base_url}/chat/completions rejected the request: {exc}"
                ) from None
            if json_schema is not None and mode != self._mode:
                with self._lock:
                    self._mode = mode
            sampling = {
                "temperature": temperature,
                "seed": seed,
                "max_new_tokens": self.max_new_tokens,
                "structured": mode if json_schema is not None else None,
            }
            return self._generation(data, time.perf_counter() - start, sampling)
        raise AssertionError("unreachable")

    def _generation(
        self, data: dict[str, Any], latency: float, sampling: dict[str, Any]
    ) -> Generation:
        choices = data.get("choices") or []
        if not choices or not isinstance(choices[0], dict):
            raise DraftingServerError(f"drafting server {self.base_url} sent no choices")
        message = choices[0].get("message") or {}
        usage = data.get("usage") or {}
        if data.get("model"):
            self._served_model = str(data["model"])
        return Generation(
            text=str(message.get("content") or ""),
            prompt_tokens=usage.get("prompt_tokens"),
            completion_tokens=usage.get("completion_tokens"),
            latency_s=round(latency, 3),
            finish_reason=choices[0].get("finish_reason"),
            sampling=sampling,
        )

    def _sample(
        self,
        messages: list[dict[str, str]],
        json_schema: dict | None,
        seed: int,
        temperature: float,
    ) -> Generation:
        """One sample, repaired once when a draft was asked for and the output fails."""
        first = self._complete(messages, json_schema, seed, temperature)
        if json_schema is None or not self.repair:
            return first
        try:
            parse_draft(first.text)
        except DraftParseError as exc:
            error = str(exc)
            log.info("draft failed to parse (%s); one repair request", error)
            second = self._complete(
                repair_messages(messages, first.text, error), json_schema, seed, temperature
            )
            return RepairedGeneration(
                text=second.text,
                prompt_tokens=_add(first.prompt_tokens, second.prompt_tokens),
                completion_tokens=_add(first.completion_tokens, second.completion_tokens),
                latency_s=round(first.latency_s + second.latency_s, 3),
                finish_reason=second.finish_reason,
                sampling={**(second.sampling or {}), "repaired": True},
                first_text=first.text,
                first_error=error,
            )
        return first

    # ------------------------------------------------------------ protocol

    def generate(
        self, messages: list[dict[str, str]], json_schema: dict | None, n: int = 1
    ) -> list[Generation]:
        result = self.generate_many([DraftRequest("one", messages, json_schema, n)])[0]
        if result.error is not None:
            raise result.error
        return result.generations

    def generate_many(self, requests: Sequence[DraftRequest]) -> list[DraftResult]:
        """Every sample of every request through one thread pool (``concurrency`` at
        once); one result per request, in order; a failed request fails alone."""
        jobs = [(r, index) for r in requests for index in range(max(1, r.n))]
        try:
            self.model  # noqa: B018 - resolve the model once, before the threads start
        except AnnotatorError as exc:
            return [DraftResult(r.key, [], exc) for r in requests]
        with ThreadPoolExecutor(max_workers=min(self.concurrency, max(1, len(jobs)))) as pool:
            futures = [
                pool.submit(
                    self._sample_or_error,
                    r.messages,
                    r.json_schema,
                    self.seed + index,
                    # Several samples need sampling: 0 becomes 0.7, as in the other drafters.
                    self.temperature if r.n <= 1 else (self.temperature or 0.7),
                )
                for r, index in jobs
            ]
            outcomes = [f.result() for f in futures]
        results: list[DraftResult] = []
        position = 0
        for request in requests:
            mine = outcomes[position : position + max(1, request.n)]
            position += len(mine)
            gens = [o for o in mine if isinstance(o, Generation)]
            errors = [o for o in mine if isinstance(o, AnnotatorError)]
            if gens:
                if errors:
                    log.warning(
                        "%s: %d of %d samples failed: %s",
                        request.key,
                        len(errors),
                        len(mine),
                        errors[0],
                    )
                results.append(DraftResult(request.key, gens))
            else:
                results.append(DraftResult(request.key, [], errors[0]))
        return results

    def _sample_or_error(
        self,
        messages: list[dict[str, str]],
        json_schema: dict | None,
        seed: int,
        temperature: float,
    ) -> Generation | AnnotatorError:
        try:
            return self._sample(messages, json_schema, seed, temperature)
        except AnnotatorError as exc:
            return exc


def _add(a: int | None, b: int | None) -> int | None:
    return None if a is None and b is None else (a or 0) + (b or 0)


__all__ = [
    "DraftingConfigError",
    "DraftingServerError",
    "OpenAIDraftingBackend",
    "RepairedGeneration",
    "repair_messages",
    "retry_after",
]
