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
#: The VAD runs on chunks this long, so its memory does not grow with the clip (a
#: 20-minute clip in one piece took ~290 MB more, in chunks ~20 MB; speech running
#: through a cut stays one region).
CHUNK_S = 60.0


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
    step = int(CHUNK_S * AUDIO_SAMPLE_RATE)
    regions: list[tuple[float, float]] = []
    for offset in range(0, audio.size, step):
        part = audio[offset : offset + step]
        if part.size < 512:  # less than one VAD window
            break
        cut = offset / AUDIO_SAMPLE_RATE
        found = get_speech_timestamps(part, options, sampling_rate=AUDIO_SAMPLE_RATE)
        for i, c in enumerate(found):
            start = cut + c["start"] / AUDIO_SAMPLE_RATE
            end = cut + c["end"] / AUDIO_SAMPLE_RATE
            # Speech running through a cut: the region before it ends at the cut and this
            # one starts within a second (the VAD's state restarts at zero there).
            if i == 0 and regions and regions[-1][1] >= cut - 0.05 and start - cut <= 1.0:
                regions[-1] = (regions[-1][0], end)  # one region across the chunk cut
            else:
                regions.append((start, end))
    regions = [(round(b, 3), round(e, 3)) for b, e in regions]
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
