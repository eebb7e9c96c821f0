"""Where the speech is: Silero VAD as bundled in faster-whisper (the ONNX model ships in
the wheel, so it runs offline), used to keep prosody off music, noise and silence.

openSMILE's F0 tracker finds "voiced" frames in any periodic sound (a sung or played
note, a hum); only frames inside a VAD speech region count as voice.

Region rules (:class:`VadSettings`): 32 ms windows with a speech probability of at
least ``threshold`` start a region; it ends after ``min_silence_s`` below
``threshold - 0.15``; regions shorter than ``min_speech_s`` are dropped, the rest padded
by ``pad_s`` each side. A clip has speech when its regions add up to at least
``min_total_s`` (a tone or a plucked note can push a window or two over the threshold).
On the pyannote telephone sample the regions start at 7.6 s: the quiet first
"Hello?" at 6.7 s scores above 0.5 for only 0.13 s, exactly like the onset of a
plucked note before speech, and ``min_speech_s`` (0.2 s) drops both (0.1 s would keep
the word and describe the note as a voice). White noise, chords, a synthesized melody
and a replayed plucked-string recording give no regions.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from importlib import metadata

import numpy as np

from extractors.media import AUDIO_SAMPLE_RATE

#: Peak level (dBFS) under which audio without speech is called silence.
SILENCE_DBFS = -60.0


@dataclass(frozen=True)
class VadSettings:
    threshold: float = 0.5
    min_speech_s: float = 0.2
    min_silence_s: float = 0.3
    pad_s: float = 0.1
    min_total_s: float = 0.5

    def config(self) -> dict[str, float]:
        return asdict(self)


def vad_version() -> str:
    try:
        return f"silero-vad (faster-whisper {metadata.version('faster-whisper')})"
    except metadata.PackageNotFoundError:
        return "silero-vad (faster-whisper missing)"


def vad_available() -> tuple[bool, str]:
    try:
        from faster_whisper.vad import get_vad_model  # noqa: F401
    except Exception as exc:  # ImportError, or onnxruntime failing to load
        return (
            False,
            f"faster-whisper's Silero VAD not importable ({exc}); pip install faster-whisper",
        )
    return True, vad_version()


def speech_regions(
    audio: np.ndarray, settings: VadSettings | None = None
) -> list[tuple[float, float]]:
    """(start_s, end_s) of the speech in 16 kHz mono ``audio``; ``[]`` when it adds up to
    less than ``settings.min_total_s``."""
    from faster_whisper.vad import VadOptions, get_speech_timestamps

    s = settings or VadSettings()
    if audio.size == 0:
        return []
    options = VadOptions(
        threshold=s.threshold,
        min_speech_duration_ms=round(s.min_speech_s * 1000),
        min_silence_duration_ms=round(s.min_silence_s * 1000),
        speech_pad_ms=round(s.pad_s * 1000),
    )
    chunks = get_speech_timestamps(audio, options, sampling_rate=AUDIO_SAMPLE_RATE)
    regions = [
        (round(c["start"] / AUDIO_SAMPLE_RATE, 3), round(c["end"] / AUDIO_SAMPLE_RATE, 3))
        for c in chunks
    ]
    if sum(e - b for b, e in regions) < s.min_total_s:
        return []
    return regions


def peak_dbfs(audio: np.ndarray) -> float:
    """Peak level in dB re full scale; ``-inf`` for digital silence."""
    if audio.size == 0:
        return float("-inf")
    peak = float(np.max(np.abs(audio)))
    return 20.0 * float(np.log10(peak)) if peak > 0 else float("-inf")


def in_regions(times: np.ndarray, regions: list[tuple[float, float]]) -> np.ndarray:
    """Boolean mask: which ``times`` fall inside a region (start inclusive, end exclusive)."""
    if not regions:
        return np.zeros(len(times), bool)
    starts = np.array([r[0] for r in regions])
    ends = np.array([r[1] for r in regions])
    idx = np.searchsorted(starts, times, side="right") - 1
    ok = idx >= 0
    out = np.zeros(len(times), bool)
    out[ok] = times[ok] < ends[idx[ok]]
    return out
