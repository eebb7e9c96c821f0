"""What whisperX can load on this machine, found without touching the network.

* **VAD**: ``pyannote`` weights ship in the whisperx wheel; ``silero`` comes from
  the torch hub cache only.
* **Alignment** (wav2vec2 CTC), from ``align_model`` when given: a torchaudio
  bundle checkpoint file (``wav2vec2_fairseq_base_ls960_asr_ls960.pth``...), a folder
  holding one, a Hugging Face-style folder (``config.json``, ``vocab.json``,
  ``preprocessor_config.json``) or a hub id already in the HF cache. Without it:
  whisperX's default for the language, from the torch hub checkpoints folder or the
  HF cache, and for English also ``facebook/wav2vec2-base-960h`` (what
  ``annotator models fetch whisperx-align-en`` downloads).
* **Diarization**: a pyannote pipeline folder with ``config.yaml`` (``diarize_model``)
  or the hub id in the HF cache (``annotator models fetch whisperx-diarize``).

Every "missing" detail is one line naming what is missing and the command that
fetches it.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from extractors.packages import package_dir

VAD_METHODS = ("pyannote", "silero")
SILERO_HUB_DIR = "snakers4_silero-vad_master"
DEFAULT_DIARIZE_MODEL = "pyannote/speaker-diarization-community-1"
#: The HF-format English aligner `annotator models fetch whisperx-align-en` downloads.
EN_ALIGN_REPO = "facebook/wav2vec2-base-960h"
FETCH_ALIGN = "annotator models fetch whisperx-align-en"
FETCH_DIARIZE = "annotator models fetch whisperx-diarize"
#: whisperX's default torchaudio alignment bundles, by language: checkpoint file names.
TORCHAUDIO_ALIGN_FILES = {
    "en": ("WAV2VEC2_ASR_BASE_960H", "wav2vec2_fairseq_base_ls960_asr_ls960.pth"),
    "fr": ("VOXPOPULI_ASR_BASE_10K_FR", "wav2vec2_voxpopuli_base_10k_asr_fr.pt"),
    "de": ("VOXPOPULI_ASR_BASE_10K_DE", "wav2vec2_voxpopuli_base_10k_asr_de.pt"),
    "es": ("VOXPOPULI_ASR_BASE_10K_ES", "wav2vec2_voxpopuli_base_10k_asr_es.pt"),
    "it": ("VOXPOPULI_ASR_BASE_10K_IT", "wav2vec2_voxpopuli_base_10k_asr_it.pt"),
}
#: Files a Hugging Face wav2vec2 CTC folder needs for ``Wav2Vec2Processor`` + the model.
HF_ALIGN_FILES = ("config.json", "vocab.json", "preprocessor_config.json")


@dataclass(frozen=True)
class AlignModel:
    """Arguments for ``whisperx.load_align_model``: a torchaudio bundle name with the
    folder holding its checkpoint, or an HF id / folder (``model_dir`` then ``None``)."""

    model_name: str
    model_dir: str | None
    detail: str


def torch_home() -> Path:
    """``torch.hub._get_torch_home()`` without importing torch."""
    default = os.path.join(os.getenv("XDG_CACHE_HOME", "~/.cache"), "torch")
    return Path(os.path.expanduser(os.getenv("TORCH_HOME", default)))


def hf_cached(repo_id: str, filename: str) -> str | None:
    """Path of ``filename`` of ``repo_id`` in the local HF cache, else ``None`` (no network)."""
    try:
        from huggingface_hub import try_to_load_from_cache
    except ImportError:  # pragma: no cover
        return None
    try:
        found = try_to_load_from_cache(repo_id, filename)
    except Exception:  # malformed repo id
        return None
    return found if isinstance(found, str) else None


def vad_status(vad_method: str) -> tuple[bool, str]:
    """(usable offline, where it is / what is missing and how to get it)."""
    if vad_method == "pyannote":
        wx = package_dir("whisperx")
        if wx is None:
            return False, "whisperx is not installed (pip install whisperx)"
        weights = wx / "assets" / "pytorch_model.bin"
        if not weights.is_file():
            return False, f"pyannote VAD weights missing at {weights} (reinstall whisperx)"
        if package_dir("pyannote.audio") is None:
            return False, "pyannote VAD needs pyannote.audio (pip install pyannote.audio)"
        return True, f"pyannote VAD weights bundled with whisperx ({weights})"
    if vad_method == "silero":
        repo = torch_home() / "hub" / SILERO_HUB_DIR
        if (repo / "hubconf.py").is_file():
            return True, f"silero VAD in the torch hub cache ({repo})"
        return False, (
            f"silero VAD for whisperx is fetched by torch.hub from GitHub (snakers4/silero-vad) "
            f"and is not cached at {repo}: run whisperx once with vad_method='silero' on a "
            "connected machine and copy that folder, or use vad_method='pyannote' "
            "(weights ship in the whisperx wheel)"
        )
    return False, f"unknown vad_method {vad_method!r}; known: {', '.join(VAD_METHODS)}"


def _bundle_for_file(name: str) -> str | None:
    return next((b for b, f in TORCHAUDIO_ALIGN_FILES.values() if f == name), None)


def _from_path(path: Path, language: str) -> tuple[AlignModel | None, str]:
    if path.is_file():
        bundle = _bundle_for_file(path.name)
        if bundle is None:
            known = ", ".join(f for _, f in TORCHAUDIO_ALIGN_FILES.values())
            return None, f"{path} is not a torchaudio wav2vec2 bundle checkpoint (known: {known})"
        return AlignModel(bundle, str(path.parent), f"torchaudio {bundle} ({path})"), ""
    if (path / "config.json").is_file():
        missing = [f for f in HF_ALIGN_FILES if not (path / f).is_file()]
        if not any(path.glob("*.safetensors")) and not (path / "pytorch_model.bin").is_file():
            missing.append("model.safetensors or pytorch_model.bin")
        if missing:
            return None, f"wav2vec2 folder {path} is incomplete (missing {', '.join(missing)})"
        return AlignModel(str(path), None, f"local wav2vec2 CTC model {path}"), ""
    own = TORCHAUDIO_ALIGN_FILES.get(language)
    names = [own[1]] if own else []
    names += [f for _, f in TORCHAUDIO_ALIGN_FILES.values() if f not in names]
    for name in names:
        if (path / name).is_file():
            return _from_path(path / name, language)
    return None, (
        f"{path} holds neither a wav2vec2 CTC model (config.json) nor a torchaudio bundle "
        "checkpoint"
    )


def find_align_model(
    language: str | None, align_model: str | None
) -> tuple[AlignModel | None, str]:
    """(what to load, or ``None`` with one line saying what is missing and how to get it)."""
    if not language:
        return None, "alignment needs a known language"
    if align_model:
        path = Path(align_model).expanduser()
        if path.exists():
            return _from_path(path, language)
        if hf_cached(align_model, "config.json"):
            return AlignModel(align_model, None, f"{align_model} in the Hugging Face cache"), ""
        return None, (
            f"alignment model {align_model!r} is neither a local file or folder nor in the "
            f"Hugging Face cache (for English: `{FETCH_ALIGN}` on a machine with the network)"
        )
    if language in TORCHAUDIO_ALIGN_FILES:
        bundle, filename = TORCHAUDIO_ALIGN_FILES[language]
        ckpt = torch_home() / "hub" / "checkpoints" / filename
        if ckpt.is_file():
            return AlignModel(bundle, str(ckpt.parent), f"torchaudio {bundle} ({ckpt})"), ""
        if language == "en" and hf_cached(EN_ALIGN_REPO, "config.json"):
            return AlignModel(EN_ALIGN_REPO, None, f"{EN_ALIGN_REPO} in the Hugging Face cache"), ""
        how = (
            f"`{FETCH_ALIGN}`" if language == "en" else f"torchaudio.pipelines.{bundle}.get_model()"
        )
        return None, (
            f"no {language!r} alignment model on disk (torchaudio {bundle} not at {ckpt}"
            + (f", {EN_ALIGN_REPO} not in the Hugging Face cache" if language == "en" else "")
            + f"): run {how} on a machine with the network, or pass --align-model PATH"
        )
    from whisperx.alignment import DEFAULT_ALIGN_MODELS_HF

    repo = DEFAULT_ALIGN_MODELS_HF.get(language)
    if repo is None:
        return None, (
            f"whisperx has no default alignment model for {language!r}: pass --align-model PATH "
            "(a wav2vec2 CTC model for that language)"
        )
    if hf_cached(repo, "config.json"):
        return AlignModel(repo, None, f"{repo} in the Hugging Face cache"), ""
    return None, (
        f"{repo} (whisperx's {language!r} aligner) is not in the Hugging Face cache: run "
        f"`annotator models fetch {repo}` on a machine with the network, or pass --align-model PATH"
    )


def align_status(language: str | None, align_model: str | None) -> tuple[bool, str]:
    """(alignment can run offline, detail)."""
    found, missing = find_align_model(language, align_model)
    return (True, found.detail) if found else (False, missing)


def find_diarize_model(diarize_model: str) -> tuple[str | None, str]:
    """(what to pass to pyannote's ``Pipeline.from_pretrained``, detail)."""
    path = Path(diarize_model).expanduser()
    if path.is_dir() and (path / "config.yaml").is_file():
        return str(path / "config.yaml"), f"diarization pipeline {path}"
    if path.is_file() and path.suffix in (".yaml", ".yml"):
        return str(path), f"diarization pipeline {path}"
    cached = hf_cached(diarize_model, "config.yaml")
    if cached:
        return cached, f"{diarize_model} in the Hugging Face cache"
    return None, (
        f"diarization pipeline {diarize_model} is neither a local folder with config.yaml nor "
        f"in the Hugging Face cache: run `{FETCH_DIARIZE}` on a machine with the network (gated: "
        "accept its terms on the hub, set HF_TOKEN) and pass --diarize-model <that folder>"
    )


def diarize_status(diarize_model: str) -> tuple[bool, str]:
    found, detail = find_diarize_model(diarize_model)
    return found is not None, detail
