"""Small helpers for tests that start a real server on 127.0.0.1: a free port, a bounded
wait until the server says it is healthy (or has exited, which fails at once), and ``Stub``,
an OpenAI-shaped chat server in a thread."""

from __future__ import annotations

import json
import socket
import subprocess
import threading
import time
import urllib.request
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_streamlit_healthy(
    url: str, server: subprocess.Popen[Any], seconds: float = 90, what: str = "review app"
) -> None:
    """Poll Streamlit's ``/_stcore/health`` until it answers ``ok``, at most ``seconds``."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise AssertionError(f"{what} exited with {server.returncode}")
        try:
            with urllib.request.urlopen(url + "/_stcore/health", timeout=2) as resp:
                if resp.read() == b"ok":
                    return
        except OSError:
            time.sleep(0.5)
    raise AssertionError(f"{what} not healthy after {seconds} s")


# -- an OpenAI-shaped chat server (the openai drafter, the stack test)

GOOD = {
    "visual_clues": "AU12 strong", "acoustic_clues": "loud, rising pitch",
    "lexical_clues": "we won", "reasoning": "all point to joy",
    "caption": "Elated after a win.", "labels": ["joy"],
    "valence": 0.9, "arousal": 0.8, "confidence": 0.6,
}  # fmt: skip


def completion(content: str, model: str = "stub-model-7b", usage: tuple[int, int] = (10, 5)):
    return {
        "id": "chatcmpl-1",
        "object": "chat.completion",
        "model": model,
        "choices": [
            {
                "index": 0,
                "message": {"role": "assistant", "content": content},
                "finish_reason": "stop",
            }
        ],
        "usage": {"prompt_tokens": usage[0], "completion_tokens": usage[1]},
    }


# A scripted answer: (status, headers, JSON body), or "drop" to close without answering.
Answer = tuple[int, dict[str, str], Any] | str


class Stub:
    """A tiny OpenAI-shaped HTTP server in a thread: records every request, answers
    chat completions from a script (then with a valid draft), lists one model."""

    def __init__(self, script: list[Callable[[dict], Answer]], delay: Callable[[dict], float]):
        self.script = list(script)
        self.delay = delay
        self.requests: list[tuple[str, str, dict[str, str], dict]] = []
        self.inflight = 0
        self.max_inflight = 0
        self.lock = threading.Lock()
        stub = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: Any) -> None:  # quiet
                pass

            def _answer(self, status: int, headers: dict[str, str], body: Any) -> None:
                blob = json.dumps(body).encode()
                self.send_response(status)
                for k, v in {**headers, "Content-Type": "application/json"}.items():
                    self.send_header(k, v)
                self.send_header("Content-Length", str(len(blob)))
                self.end_headers()
                self.wfile.write(blob)

            def do_GET(self) -> None:
                stub.record(self, {})
                self._answer(200, {}, {"object": "list", "data": [{"id": "stub-model-7b"}]})

            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length", 0))
                body = json.loads(self.rfile.read(length) or b"{}")
                stub.record(self, body)
                with stub.lock:
                    step = stub.script.pop(0) if stub.script else None
                    stub.inflight += 1
                    stub.max_inflight = max(stub.max_inflight, stub.inflight)
                try:
                    time.sleep(stub.delay(body))
                    answer = step(body) if step else (200, {}, completion(json.dumps(GOOD)))
                finally:
                    with stub.lock:
                        stub.inflight -= 1
                if answer == "drop":
                    self.close_connection = True
                    return
                assert not isinstance(answer, str)
                self._answer(*answer)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/v1"

    def record(self, handler: BaseHTTPRequestHandler, body: dict) -> None:
        with self.lock:
            self.requests.append((handler.command, handler.path, dict(handler.headers), body))

    def posts(self) -> list[dict]:
        return [body for method, _, _, body in self.requests if method == "POST"]

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(timeout=5)
