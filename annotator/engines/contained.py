"""Native code in a child process: a crash in a model runtime fails one clip, not the batch.

llama.cpp, CTranslate2, MediaPipe, onnxruntime and torch run native code that can die with
SIGSEGV or SIGILL (a build tuned for another CPU, an AMX path a VM does not allow) or be
killed for memory. In the process that runs the batch, that ends the batch with no message.

``ChildHost`` keeps one object (a drafter, the extraction side of a Runner) alive in a child
process started with ``spawn`` (no inherited threads, database connections or CUDA state),
so its models load once and stay loaded across clips. Each ``call`` sends a method name and
arguments down a pipe and waits for the answer or the child's death. A death becomes
``NativeCrashError`` with one line such as ``drafter process died: signal 11 (segmentation
fault); run 'annotator doctor'``; the next call starts a fresh child.
"""

from __future__ import annotations

import contextlib
import logging
import multiprocessing as mp
import os
import pickle
import signal
import traceback
from collections.abc import Callable
from multiprocessing.connection import Connection, wait
from multiprocessing.process import BaseProcess
from typing import Any

from extractors.errors import AnnotatorError, NativeCrashError, first_line

log = logging.getLogger(__name__)

#: What a signal that kills a model runtime usually means, for the one-line message.
_SIGNAL_HINTS = {
    signal.SIGSEGV: "segmentation fault",
    signal.SIGILL: "illegal instruction: a build for another CPU",
    signal.SIGBUS: "bus error",
    signal.SIGFPE: "floating-point exception",
    signal.SIGABRT: "aborted",
    signal.SIGKILL: "killed: out of memory?",
}
DOCTOR_HINT = "run 'annotator doctor'"


#: Signals a process gets from its own code going wrong (not a kill from outside).
CRASH_SIGNALS = frozenset(
    {signal.SIGSEGV, signal.SIGILL, signal.SIGBUS, signal.SIGFPE, signal.SIGABRT}
)


def crashed(exitcode: int | None) -> bool:
    """Whether a process ended by a crash signal of its own (see ``CRASH_SIGNALS``)."""
    return exitcode is not None and exitcode < 0 and -exitcode in CRASH_SIGNALS


def exit_description(exitcode: int | None) -> str:
    """``signal 11 (segmentation fault)`` for a negative exit code, ``exit 3`` otherwise."""
    if exitcode is None:
        return "still running"
    if exitcode < 0:
        number = -exitcode
        try:
            name = _SIGNAL_HINTS.get(signal.Signals(number)) or signal.Signals(number).name
        except ValueError:
            name = "unknown signal"
        return f"signal {number} ({name})"
    return f"exit {exitcode}"


class ChildHost:
    """One object served from a child process; see the module docstring.

    ``factory`` builds the object in the child and must pickle (a module-level function or
    class, a ``functools.partial`` of one). ``what`` names the process in messages.
    Not thread-safe: one call at a time.
    """

    def __init__(self, factory: Callable[[], Any], what: str):
        self.factory = factory
        self.what = what
        self._process: BaseProcess | None = None
        self._conn: Connection | None = None
        self.starts = 0  # children started (1 + one per death)
        self.last_exitcode: int | None = None  # of the last child that died

    @property
    def running(self) -> bool:
        return self._process is not None and self._process.is_alive()

    def call(self, method: str, *args: Any, on_event: Callable[[Any], None] | None = None) -> Any:
        """``getattr(obj, method)(*args)`` in the child. With ``on_event`` the method gets an
        ``emit`` keyword whose values reach ``on_event`` here while the call runs. Raises
        what the method raised, or ``NativeCrashError`` when the child died."""
        process, conn = self._ensure_started()
        try:
            conn.send((method, args, on_event is not None))
        except (BrokenPipeError, OSError):
            raise self._died() from None
        while True:
            ready = wait([conn, process.sentinel])
            if conn in ready:
                try:
                    kind, payload = conn.recv()
                except (EOFError, OSError):  # died after its last message
                    raise self._died() from None
                if kind == "event":
                    if on_event is not None:
                        on_event(payload)
                    continue
                if kind == "ok":
                    return payload
                raise payload
            raise self._died()

    def close(self) -> None:
        """Stop the child (a clean exit; SIGKILL after 5 s)."""
        process, conn = self._process, self._conn
        self._process = self._conn = None
        if process is None or conn is None:
            return
        with contextlib.suppress(BrokenPipeError, OSError):
            conn.send(None)
        process.join(5)
        if process.is_alive() and process.pid is not None:
            with contextlib.suppress(ProcessLookupError):
                os.kill(process.pid, signal.SIGKILL)
            process.join()
        conn.close()

    def __enter__(self) -> ChildHost:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _ensure_started(self) -> tuple[BaseProcess, Connection]:
        if self._process is not None and self._conn is not None and self._process.is_alive():
            return self._process, self._conn
        if self._process is not None:
            self.close()
        ctx = mp.get_context("spawn")
        parent, child = ctx.Pipe(duplex=True)
        process = ctx.Process(
            target=_serve,
            args=(self.factory, child, os.getpid()),
            name=f"annotator-{self.what}",
            daemon=True,
        )
        process.start()
        child.close()
        self._process, self._conn = process, parent
        self.starts += 1
        return process, parent

    def _died(self) -> NativeCrashError:
        process = self._process
        assert process is not None
        process.join(5)
        code = self.last_exitcode = process.exitcode
        if self._conn is not None:
            self._conn.close()
        self._process = self._conn = None
        log.info("%s process %s died (%s)", self.what, process.pid, exit_description(code))
        return NativeCrashError(
            f"{self.what} process died: {exit_description(code)}; {DOCTOR_HINT}"
        )


def _serve(factory: Callable[[], Any], conn: Connection, parent_pid: int) -> None:
    """The child: build the object once, then answer calls until told to stop."""
    from annotator.engines.processes import die_with

    die_with(parent_pid)
    obj: Any = None
    failed: BaseException | None = None
    try:
        obj = factory()
    except BaseException as exc:  # answer the first call with it (ModelNotAvailableError...)
        failed = exc

    def emit(value: Any) -> None:
        conn.send(("event", value))

    while True:
        try:
            message = conn.recv()
        except (EOFError, OSError):
            return
        if message is None:
            return
        method, args, events = message
        try:
            if failed is not None:
                raise failed
            result = getattr(obj, method)(*args, **({"emit": emit} if events else {}))
        except Exception as exc:
            conn.send(("error", _picklable(exc)))
        else:
            conn.send(("ok", result))


def _picklable(exc: Exception) -> Exception:
    """The exception itself when it crosses the pipe intact, else a plain one with its text
    (an error type whose constructor takes other arguments does not unpickle)."""
    try:
        pickle.loads(pickle.dumps(exc))
    except Exception:
        log.debug("%s", traceback.format_exc())
        if isinstance(exc, AnnotatorError):
            plain = AnnotatorError(first_line(exc))
            plain.code = exc.code
            return plain
        return RuntimeError(f"{type(exc).__name__}: {first_line(exc)}")
    return exc
