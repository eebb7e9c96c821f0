"""HTTP for the ``openai`` drafter: one call with bounded retries and one-line errors.

429, 5xx and dropped connections are tried again with exponential backoff, honouring
``Retry-After``; a read timeout is not (the server is slow, not gone). 400/422 mean
the request must change (``Rejected``): the drafter steps down its JSON mode.
"""

from __future__ import annotations

import email.utils
import logging
import re
import time
from collections.abc import Callable
from typing import Any
from urllib.parse import urlsplit

import httpx

from extractors.errors import AnnotatorError

log = logging.getLogger(__name__)

_RETRY_STATUS = frozenset({429, 500, 502, 503, 504})
_MAX_RETRY_WAIT_S = 60.0
_FORMAT_COMPLAINT = re.compile(r"response_format|json_schema|json_object|guided_json", re.I)


class DraftingServerError(AnnotatorError, ConnectionError):
    """The drafting server could not be reached, or refused the request."""

    code = "drafting_server_error"


class Rejected(Exception):
    """The server answered 400/422: the structured-output mode may be what it rejects."""

    def __init__(self, status: int, detail: str):
        super().__init__(f"HTTP {status}: {detail}")
        self.status = status
        self.detail = detail


def normalise_base_url(url: str) -> str:
    """``http://host:8000`` -> ``http://host:8000/v1`` (the OpenAI client's convention)."""
    url = url.rstrip("/")
    if urlsplit(url).path in ("", "/"):
        url += "/v1"
    return url


def retry_after(value: str | None, attempt: int, backoff_s: float) -> float:
    """Seconds to wait before the next attempt: the server's Retry-After (seconds or an
    HTTP date) when it gives one, else exponential backoff; capped either way."""
    if value:
        try:
            return min(max(float(value), 0.0), _MAX_RETRY_WAIT_S)
        except ValueError:
            try:
                when = email.utils.parsedate_to_datetime(value).timestamp()
            except (ValueError, TypeError):
                pass  # unreadable: back off as if none was given
            else:
                return min(max(when - time.time(), 0.0), _MAX_RETRY_WAIT_S)
    return min(backoff_s * (2**attempt), _MAX_RETRY_WAIT_S)


def _one_line(text: str, limit: int = 200) -> str:
    line = " ".join(text.split())
    return line if len(line) <= limit else line[: limit - 3] + "..."


def _error_detail(response: httpx.Response) -> str:
    try:
        body = response.json()
    except ValueError:
        return _one_line(response.text) or response.reason_phrase
    error = body.get("error", body) if isinstance(body, dict) else body
    if isinstance(error, dict):
        return _one_line(str(error.get("message") or error.get("detail") or error))
    return _one_line(str(error))


def call(
    client: httpx.Client,
    method: str,
    path: str,
    body: dict | None,
    *,
    retries: int,
    backoff: float,
    timeout: float,
    sleep: Callable[[float], Any],
) -> dict[str, Any]:
    """One API call with bounded retries; 400/422 (and a 5xx that complains about the
    response format) raise ``Rejected``, anything else that does not succeed raises
    ``DraftingServerError`` (one line; headers, so the key, never in it)."""
    where = f"{client.base_url}".rstrip("/") + path
    for attempt in range(retries + 1):
        last = attempt == retries
        try:
            response = client.request(method, path, json=body)
        except (httpx.ReadTimeout, httpx.WriteTimeout, httpx.PoolTimeout):
            # The server is slow, not gone: sending the request again only adds load.
            raise DraftingServerError(
                f"drafting server {where} did not answer within {timeout:g} s (option timeout)"
            ) from None
        except httpx.TransportError as exc:  # refused, dropped, reset: try again
            if last:
                raise DraftingServerError(
                    f"drafting server {where} unreachable after {attempt + 1} "
                    f"attempt(s): {type(exc).__name__}: {_one_line(str(exc)) or 'no reply'}"
                ) from None
            wait = retry_after(None, attempt, backoff)
            log.info("%s %s: %s, retry in %.1fs", method, path, type(exc).__name__, wait)
            sleep(wait)
            continue
        if response.status_code >= 500 and _FORMAT_COMPLAINT.search(response.text):
            # llama-cpp-python (and ik_llama) answer an unknown response_format with
            # 500, not 400: a request to change, not one to send again.
            raise Rejected(response.status_code, _error_detail(response))
        if response.status_code in _RETRY_STATUS and not last:
            wait = retry_after(response.headers.get("retry-after"), attempt, backoff)
            log.info("%s %s: HTTP %d, retry in %.1fs", method, path, response.status_code, wait)
            sleep(wait)
            continue
        if response.status_code in (400, 422):
            raise Rejected(response.status_code, _error_detail(response))
        if response.status_code >= 400:
            raise DraftingServerError(
                f"drafting server {where} answered HTTP {response.status_code}: "
                f"{_error_detail(response)}"
            )
        try:
            data = response.json()
        except ValueError:
            raise DraftingServerError(f"drafting server {where} sent no JSON") from None
        if not isinstance(data, dict):
            raise DraftingServerError(f"drafting server {where} sent unexpected JSON")
        return data
    raise AssertionError("unreachable")  # the loop returns or raises
