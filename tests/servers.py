"""Small helpers for tests that start a real server on 127.0.0.1: a free port, and a bounded
wait until the server says it is healthy (or has exited, which fails at once)."""

from __future__ import annotations

import socket
import subprocess
import time
import urllib.request
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
