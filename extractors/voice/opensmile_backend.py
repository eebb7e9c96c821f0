"""Vocal tone with openSMILE eGeMAPSv02, over speech only: prosody over time, a named
clip summary, per-stretch values.

openSMILE runs offline (the feature set configs ship in the ``opensmile`` wheel), and so
does the Silero VAD bundled in faster-whisper, so this backend is always available once
the packages import.

What comes out (see ``VoiceCues``; the numbers are in :mod:`extractors.voice.summary`):

* ``frames``: one row per 10 ms frame of the whole clip, ``time_s`` = frame start, then
  the 25 eGeMAPSv02 low-level descriptors; ``speech_regions``: where the VAD heard
  speech. Only voiced frames inside those regions are voice: a sung note, an instrument
  or a hum has an F0 too.
* ``summary``: named numbers over the voiced speech frames, computed from the LLDs (one
  openSMILE pass); ``functionals``: the 88 eGeMAPSv02 functionals of the speech
  regions, only with ``functionals=True`` (a second pass, about as long as the first).
* ``segments``: pitch and loudness per voiced stretch, in absolute units and as
  z-scores against the clip's own voiced speech (``baseline_source="clip"``) or a
  baseline the caller passes. Speaker baselines are applied later, from stored
  summaries of the speaker's other clips (``textualize.prosody.with_speaker_baseline``).
* a clip with audio but no speech gets ``missing_reason`` "no speech in the audio
  (music or noise)", or "silence (...)" when nothing reaches -60 dBFS; its frames are
  kept, its summary has no pitch or loudness, and no segments.
"""

from __future__ import annotations

from importlib import metadata
from typing import Any, ClassVar

import numpy as np

from extractors.base import Availability, usable_cpus
from extractors.errors import ExtractionError, ModelNotAvailableError
from extractors.media import AUDIO_SAMPLE_RATE, ClipMedia
from extractors.registry import register
from extractors.schema import VoiceCues, config_hash

from . import lld
from .lld import F0_COL, HOP_S, LOUDNESS_COL, empty_frames, num
from .summary import (
    SEGMENT_GAP_S,
    SEGMENT_MIN_S,
    SLOPE_MAX_ST_PER_S,
    clip_baseline,
    count_syllable_nuclei,
    implausible_slopes,
    segment_prosody,
    summarize,
    voiced_mask,
    voiced_stretches,
)
from .vad import SILENCE_DBFS, VadSettings, peak_dbfs, speech_regions, vad_available

__all__ = [
    "F0_COL",
    "HOP_S",
    "LOUDNESS_COL",
    "SEGMENT_GAP_S",
    "SEGMENT_MIN_S",
    "OpenSmileVoiceBackend",
    "clip_baseline",
    "count_syllable_nuclei",
    "segment_prosody",
    "summarize",
    "voiced_stretches",
]

NO_SPEECH = "no speech in the audio (music or noise)"
SILENCE = f"silence (no speech, nothing above {SILENCE_DBFS:.0f} dBFS)"
VADS = ("silero", "none")


def _version() -> str:
    try:
        return f"opensmile-{metadata.version('opensmile')}"
    except metadata.PackageNotFoundError:  # pragma: no cover - a core dependency
        return "opensmile-missing"


@register("voice", "opensmile")
class OpenSmileVoiceBackend:
    """eGeMAPSv02 prosody over VAD speech regions: frames, summary, segments."""

    name: ClassVar[str] = "opensmile"
    version: ClassVar[str] = _version()

    def __init__(
        self,
        feature_set: str = "eGeMAPSv02",
        vad: str = "silero",
        functionals: bool = False,
        vad_settings: VadSettings | None = None,
        cpu_threads: int = 0,
    ):
        if feature_set != lld.FEATURE_SET:
            # The summary and segment code reads eGeMAPSv02 column names.
            raise ValueError(
                f"feature_set {feature_set!r} is not supported; the voice summary reads "
                "eGeMAPSv02 columns (use feature_set='eGeMAPSv02')"
            )
        if vad not in VADS:
            raise ValueError(f"unknown vad {vad!r}; known: {', '.join(VADS)}")
        self.feature_set = feature_set
        self.vad = vad
        self.functionals = functionals
        self.vad_settings = vad_settings or VadSettings()
        # Threads for openSMILE (pieces of the audio side by side); 0: the usable cores.
        # Speed only: not in the config hash (the frames are the same, see lld).
        self.cpu_threads = int(cpu_threads)

    def _threads(self) -> int:
        return self.cpu_threads if self.cpu_threads > 0 else usable_cpus()

    def config(self) -> dict[str, Any]:
        cfg: dict[str, Any] = {
            "feature_set": self.feature_set,
            "vad": self.vad,
            "functionals": self.functionals,
        }
        if self.vad != "none":
            cfg["vad_settings"] = self.vad_settings.config()
        return cfg

    def config_hash(self) -> str:
        return config_hash({"backend": self.name, "version": self.version, **self.config()})

    def available(self) -> Availability:
        try:
            import opensmile
        except Exception as exc:  # ImportError, or a broken native library
            return Availability(False, f"opensmile not importable ({exc}); pip install opensmile")
        detail = (
            f"opensmile {opensmile.__version__}, {self.feature_set} (configs ship in the wheel)"
        )
        if self.vad == "none":
            return Availability(True, detail + ", no VAD")
        ok, vad_detail = vad_available()
        return Availability(ok, f"{detail}; {vad_detail}")

    # -- extraction ---------------------------------------------------------------------
    def _cues(self, frames: Any, **kw: Any) -> VoiceCues:
        return VoiceCues(
            backend=self.name,
            backend_version=self.version,
            config_hash=self.config_hash(),
            frames=frames,
            **kw,
        )

    def _speech_regions(self, signal: np.ndarray) -> list[tuple[float, float]]:
        duration_s = round(signal.size / AUDIO_SAMPLE_RATE, 3)
        if self.vad == "none":
            return [(0.0, duration_s)]
        try:
            return speech_regions(signal, self.vad_settings)
        except ImportError as exc:
            raise ModelNotAvailableError(
                f"Silero VAD (faster-whisper) not importable ({exc}); pip install "
                "faster-whisper, or run the voice backend with vad='none'"
            ) from exc

    def extract(
        self,
        clip: ClipMedia,
        *,
        baseline: dict[str, float] | None = None,
        baseline_source: str | None = None,
    ) -> VoiceCues:
        """Run eGeMAPSv02 on the clip's audio and keep the speech part.

        ``baseline`` (keys ``pitch_mean``, ``pitch_std``, ``loudness_mean``,
        ``loudness_std``) replaces the clip's own voiced speech as the reference of the
        segment z-scores; ``baseline_source`` then says whose it is (default
        ``"external"``).
        """
        audio = clip.audio() if clip.info.has_audio else np.zeros(0, np.float32)
        if audio.size == 0:
            return self._cues(empty_frames(), missing_reason="no audio stream")
        duration_s = audio.size / AUDIO_SAMPLE_RATE
        if audio.size < lld.MIN_SAMPLES:
            return self._cues(
                empty_frames(), missing_reason=f"audio too short for prosody ({duration_s:.3f} s)"
            )
        signal = lld.clean_signal(audio)
        try:
            frames = lld.low_level_descriptors(signal, self.feature_set, threads=self._threads())
        except Exception as exc:
            raise ExtractionError(f"{clip.path}: openSMILE failed ({exc})") from exc
        regions = self._speech_regions(signal)

        warnings_out: list[str] = []
        if signal is not audio and not np.isfinite(audio).all():  # a copy: NaN/inf or float64
            warnings_out.append("audio contained NaN/inf samples (replaced by 0)")
        stretches = voiced_stretches(frames, regions=regions)
        summary = summarize(frames, stretches, duration_s, regions)
        functionals: dict[str, float | None] = {}
        if self.functionals and regions:
            functionals = lld.functionals(_cut(signal, regions), self.feature_set)
        own = clip_baseline(frames, regions)
        if baseline is None:
            used_baseline, source = own, "clip"
        else:
            used_baseline = {k: float(v) for k, v in baseline.items() if num(v) is not None}
            source = baseline_source or "external"
        segments = segment_prosody(frames, used_baseline, stretches, regions)
        dropped = implausible_slopes(frames, stretches, regions)
        if dropped:
            worst = max(dropped, key=lambda d: abs(d[2]))
            warnings_out.append(
                f"pitch slope left out in {len(dropped)} segment(s) as implausible "
                f"(up to {worst[2]:+.0f} st/s at {worst[0]:.1f}-{worst[1]:.1f} s; "
                f"limit {SLOPE_MAX_ST_PER_S:.0f}): likely F0 octave jumps"
            )

        missing = None
        if not regions:
            missing = SILENCE if peak_dbfs(signal) < SILENCE_DBFS else NO_SPEECH
            used_baseline = {}
        elif not voiced_mask(frames, regions).any():
            missing = "no voiced frames in the speech (whisper or unvoiced sounds only)"
        elif not segments:
            warnings_out.append(
                f"no voiced stretch of at least {SEGMENT_MIN_S} s; segments are empty"
            )
        return self._cues(
            frames,
            functionals=functionals,
            summary=summary,
            baseline=used_baseline,
            baseline_source=source,
            segments=segments,
            speech_regions=regions,
            warnings=warnings_out,
            missing_reason=missing,
        )


def _cut(signal: np.ndarray, regions: list[tuple[float, float]]) -> np.ndarray:
    """The samples of ``regions``, joined: what the functionals describe."""
    parts = [
        signal[round(s * AUDIO_SAMPLE_RATE) : round(e * AUDIO_SAMPLE_RATE)] for s, e in regions
    ]
    return np.concatenate(parts) if parts else signal[:0]
