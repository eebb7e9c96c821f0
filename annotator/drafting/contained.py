"""A drafter whose model runs in a child process (``annotator.engines.contained``).

The in-process native drafters (llama.cpp, transformers) declare ``in_process_native``;
the Runner wraps them in ``ContainedDrafter``. The wrapper answers everything that loads
no model (name, key, config, availability) from a copy of the backend in this process and
sends the generation to the child, which loads the model once and keeps it. A child that
dies fails the request it was on with ``NativeCrashError``; the next request starts a new
child. After ``MAX_CRASHES_IN_A_ROW`` deaths with no success in between the drafter is
taken to be unable to run here, and the batch's other requests fail at once with the
same advice instead of each paying a model load and a crash.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from typing import Any

from annotator.drafting.base import DraftingBackend, DraftRequest, DraftResult, Generation
from annotator.engines.contained import DOCTOR_HINT, ChildHost
from extractors.base import Availability
from extractors.errors import NativeCrashError

MAX_CRASHES_IN_A_ROW = 3


def _build(cls: type, options: dict[str, Any]) -> Any:
    return cls(**options)


class ContainedDrafter:
    """``backend`` (built from ``options``) drafting in a child process."""

    def __init__(self, backend: DraftingBackend, options: dict[str, Any]):
        self.inner = backend
        self.name = backend.name
        self.host = ChildHost(functools.partial(_build, type(backend), dict(options)), "drafter")
        # Requests per call to the child: the backend's own batch size where it has one (a
        # batch engine on CUDA), one otherwise, so a crash loses no finished draft.
        self.chunk = max(1, int(getattr(backend, "batch_size", 1) or 1))
        self.crashes_in_a_row = 0

    @property
    def model_id(self) -> str:
        return self.inner.model_id

    def config(self) -> dict[str, Any]:
        return self.inner.config()

    def config_hash(self) -> str:
        return self.inner.config_hash()

    def available(self) -> Availability:
        return self.inner.available()

    def generate(
        self, messages: list[dict[str, str]], json_schema: dict | None, n: int = 1
    ) -> list[Generation]:
        result: list[Generation] = self.host.call("generate", messages, json_schema, n)
        return result

    def generate_many(self, requests: Sequence[DraftRequest]) -> list[DraftResult]:
        results: list[DraftResult] = []
        for start in range(0, len(requests), self.chunk):
            chunk = list(requests[start : start + self.chunk])
            answered = self._try(chunk)
            if answered is None and len(chunk) > 1:  # find the request that crashed
                answered = [r for request in chunk for r in self._try([request]) or []]
            results.extend(answered or [])
        return results

    def _try(self, chunk: list[DraftRequest]) -> list[DraftResult] | None:
        """The chunk's results; a crashed single request gets its error; None when a
        chunk of several crashed (the caller retries them one by one)."""
        if self.crashes_in_a_row >= MAX_CRASHES_IN_A_ROW:
            error = NativeCrashError(
                f"not drafted: the drafter process died {self.crashes_in_a_row} times in a "
                f"row; {DOCTOR_HINT}"
            )
            return [DraftResult(r.key, [], error) for r in chunk]
        try:
            answered: list[DraftResult] = self.host.call("generate_many", chunk)
        except NativeCrashError as exc:
            self.crashes_in_a_row += 1
            if len(chunk) > 1:
                return None
            return [DraftResult(chunk[0].key, [], exc)]
        self.crashes_in_a_row = 0
        return answered

    def close(self) -> None:
        self.host.close()


def contain(backend: DraftingBackend, options: dict[str, Any]) -> DraftingBackend:
    """``backend`` in a child process when it runs native code in-process, else itself."""
    if getattr(type(backend), "in_process_native", False):
        return ContainedDrafter(backend, options)  # type: ignore[return-value]
    return backend
