"""The project's one error hierarchy: every error the tool raises on purpose is an
``AnnotatorError`` with a short ``code``.

This module imports nothing, so every package may import it, ``db`` and ``textualize``
included (the one exception to their "nothing of ours" rule). The ``code`` is stored on
the clip's stage record; the message fits on one line and names the file or model.
Subclasses also inherit the matching built-in, so ``except FileNotFoundError`` still
works for callers who do not know ours (the pattern of ``datasets.exceptions``).
"""

from __future__ import annotations


class AnnotatorError(Exception):
    """Base of every error this tool raises on purpose."""

    code = "error"


class MediaError(AnnotatorError, ValueError):
    """The file cannot be read as media (corrupt, truncated, not media at all)."""

    code = "unreadable_media"


class EmptyFileError(MediaError):
    code = "empty_file"


class MediaNotFoundError(AnnotatorError, FileNotFoundError):
    code = "file_not_found"


class NoUsableStreamError(MediaError):
    """The container opened but holds neither a decodable audio nor a video stream."""

    code = "no_usable_stream"


class ModelNotAvailableError(AnnotatorError, FileNotFoundError):
    """A model's weights are not on this machine; the message says how to get them."""

    code = "model_missing"


class ExtractionError(AnnotatorError, RuntimeError):
    """A backend failed on a clip it should have handled."""

    code = "extraction_failed"


class NativeCrashError(AnnotatorError, RuntimeError):
    """A model runtime's process died (SIGSEGV, SIGILL, killed for memory): the clip it was
    on fails with this, the batch goes on, and a rerun tries that clip again."""

    code = "native_crash"


def first_line(value: object) -> str:
    """The first line of an error's text (or its type name when it has none): what a
    one-line message, a stage record or a summary shows."""
    text = str(value).strip()
    return text.splitlines()[0] if text else type(value).__name__
