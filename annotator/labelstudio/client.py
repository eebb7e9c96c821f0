"""The connection to a Label Studio server: URL and API key from options or the environment.

``LABEL_STUDIO_URL`` and ``LABEL_STUDIO_API_KEY`` are the SDK's own variable names. The key
is never printed; a server that cannot be reached or refuses the key gives one line that
names the URL.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any, TypeVar

from extractors.errors import AnnotatorError

ENV_URL = "LABEL_STUDIO_URL"
ENV_KEY = "LABEL_STUDIO_API_KEY"
DEFAULT_URL = "http://127.0.0.1:8080"
TIMEOUT_S = 60.0

T = TypeVar("T")


class LabelStudioError(AnnotatorError, RuntimeError):
    """Label Studio refused or failed a request; the message names the URL and the request."""

    code = "labelstudio_error"


class LabelStudioUnreachableError(LabelStudioError, ConnectionError):
    code = "labelstudio_unreachable"


class LabelStudioAuthError(LabelStudioError, PermissionError):
    code = "labelstudio_auth"


@dataclass(frozen=True)
class Connection:
    url: str
    api_key: str

    @classmethod
    def resolve(cls, url: str | None = None, api_key: str | None = None) -> Connection:
        """Options first, then the environment; a missing key is an error, not a guess."""
        url = (url or os.environ.get(ENV_URL) or DEFAULT_URL).rstrip("/")
        key = api_key or os.environ.get(ENV_KEY) or ""
        if not key:
            raise LabelStudioAuthError(
                f"no Label Studio API key for {url}: pass --api-key or set {ENV_KEY} "
                "(Account & Settings > Access Token in Label Studio)"
            )
        return cls(url=url, api_key=key)

    def __repr__(self) -> str:  # the key stays out of logs and tracebacks
        return f"Connection(url={self.url!r}, api_key=***)"


class LabelStudio:
    """The few calls the sync needs, over ``label_studio_sdk``; errors become ours."""

    def __init__(self, connection: Connection):
        from label_studio_sdk import LabelStudio as SdkClient

        self.connection = connection
        self.sdk = SdkClient(base_url=connection.url, api_key=connection.api_key, timeout=TIMEOUT_S)

    def call(self, what: str, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        """Run one SDK call; connection failures and HTTP errors become one-line errors."""
        import httpx
        from label_studio_sdk.core.api_error import ApiError

        from annotator.safety import mask_url

        url = mask_url(self.connection.url)  # a password in --url is never printed
        try:
            return fn(*args, **kwargs)
        except (httpx.ConnectError, httpx.ConnectTimeout, httpx.ReadTimeout) as exc:
            raise LabelStudioUnreachableError(
                f"cannot reach Label Studio at {url} ({type(exc).__name__}); is it running? "
                f"(--url or {ENV_URL})"
            ) from None
        except ApiError as exc:
            if exc.status_code in (401, 403):
                raise LabelStudioAuthError(
                    f"Label Studio at {url} refused the API key ({exc.status_code}) for {what}; "
                    f"check --api-key or {ENV_KEY}"
                ) from None
            body = str(exc.body)[:300].replace("\n", " ")
            raise LabelStudioError(
                f"Label Studio at {url}: {what} failed ({exc.status_code}): {body}"
            ) from None

    def whoami(self) -> Any:
        return self.call("whoami", self.sdk.users.whoami)

    def version(self) -> str:
        info = self.call("version", self.sdk.versions.get)
        release = getattr(info, "release", None)
        return str(release or "")

    def find_project(self, title: str) -> Any | None:
        pager: Any = self.call("list projects", self.sdk.projects.list, title=title)
        project: Any
        for project in self.call("list projects", list, pager):
            if project.title == title:
                return project
        return None

    def iter_tasks(
        self,
        project_id: int,
        page_size: int = 500,
        annotated_only: bool = False,
        id_range: tuple[int, int] | None = None,
    ) -> Iterator[dict[str, Any]]:
        """The project's tasks as dicts (id, data, predictions, annotations), page by page;
        ``annotated_only``: those with at least one submitted annotation; ``id_range``: those
        with an id in that closed range (Data Manager filters)."""
        items: list[dict[str, Any]] = []
        if annotated_only:
            items.append({"filter": "filter:tasks:total_annotations", "operator": "greater",
                          "type": "Number", "value": 0})  # fmt: skip
        if id_range is not None:
            items.append({"filter": "filter:tasks:id", "operator": "in", "type": "Number",
                          "value": {"min": id_range[0], "max": id_range[1]}})  # fmt: skip
        query = None
        if items:
            query = json.dumps({"filters": {"conjunction": "and", "items": items}})
        page = 1
        while True:
            response: Any = self.call(
                "list tasks",
                self.sdk.tasks.list,
                project=project_id,
                page=page,
                page_size=page_size,
                fields="all",
                query=query,
            )
            tasks = response.items or []
            for task in tasks:
                yield task.dict() if hasattr(task, "dict") else dict(task)
            if len(tasks) < page_size:  # the server answers 404 for a page past the end
                return
            page += 1

    def users_by_id(self) -> dict[int, str]:
        """User id -> email (or username): the annotator name a pulled review gets."""
        users = self.call("list users", self.sdk.users.list)
        return {u.id: (u.email or u.username or f"labelstudio-user-{u.id}") for u in users}
