"""Typed, timed cue records: the only thing extractors hand to the rest of the tool.

Frame-level series are pandas DataFrames (one row per sampled frame, a ``time_s``
column); the pipeline stores them as Parquet and keeps the small summaries in the
database. Everything else is a plain dataclass with ``to_dict``/``from_dict`` so
summaries round-trip through JSON.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
from dataclasses import dataclass, field
from typing import Any

import pandas as pd

#: Bump when a cue record changes shape; stored beside every cue record.
CUES_SCHEMA_VERSION = "2"


def config_hash(config: dict[str, Any]) -> str:
    """Stable short hash of a JSON-able config: the key that makes stages resumable."""
    blob = json.dumps(config, sort_keys=True, default=str, separators=(",", ":"))
    return hashlib.sha256(blob.encode()).hexdigest()[:16]


class _Record:
    """``to_dict``/``from_dict`` for the summary part of a record (frames excluded)."""

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for f in dataclasses.fields(self):  # type: ignore[arg-type]
            if f.name == "frames":
                continue
            value = getattr(self, f.name)
            out[f.name] = _plain(value)
        return out


def _plain(value: Any) -> Any:
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return value.to_dict() if isinstance(value, _Record) else dataclasses.asdict(value)
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    return value


@dataclass
class MediaInfo(_Record):
    """What the container says about a clip, plus its content hash (the clip identity)."""

    path: str
    sha256: str
    size_bytes: int
    duration_s: float
    has_video: bool
    has_audio: bool
    fps: float | None = None
    width: int | None = None
    height: int | None = None
    n_video_frames: int | None = None
    audio_sample_rate: int | None = None
    audio_channels: int | None = None
    container: str | None = None

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> MediaInfo:
        return cls(**d)


@dataclass
class AUEvent(_Record):
    """One activation of an action unit: where it starts, peaks and ends."""

    au: str  # "AU12"
    onset_s: float
    apex_s: float
    offset_s: float
    peak_intensity: float  # FACS-like 0-5 scale


@dataclass
class AUSummary(_Record):
    """What one AU showed over the frames with a face, in absolute terms (0-5 scale).

    ``fraction_present``: share of those frames at or above the presence level
    (1.0, a clearly visible trace); ``baseline``: the resting level the change
    events were measured against.
    """

    mean: float
    median: float
    p90: float
    max: float
    fraction_present: float
    baseline: float | None = None


@dataclass
class FaceCues(_Record):
    """Facial action units over time, in absolute terms and as change against rest.

    ``frames`` columns: ``time_s``, ``face_found`` (bool), ``n_faces`` (int, every
    face in view), ``box_x``, ``box_y``, ``box_w``, ``box_h`` (pixels of the target
    face, NaN without a face), optional ``pose_pitch``, ``pose_yaw``, ``pose_roll``
    (degrees), and one column per AU named ``AU01``, ``AU12``... with intensities on
    a 0-5 scale (NaN without a face: a gap, not a zero). Backends may add raw model
    columns with their own prefix (``bs_`` for blendshapes).

    ``au_summary``: per AU, what the face showed (a face held angry for the whole
    clip has AU04 present in most frames). ``events``: activations; with a
    ``baseline`` (schema 2) they are changes against it, ``peak_intensity`` still
    the absolute value at the apex. ``baseline_source``: ``"clip"`` (the clip's own
    low-percentile frames) or ``"speaker:<id>"``. ``blink_count``/
    ``blink_rate_per_min``: eye closures shorter than about half a second (longer
    ones are AU43 events); ``None`` when the backend does not count blinks.
    """

    backend: str
    backend_version: str
    config_hash: str
    frames: pd.DataFrame
    au_confidence: dict[str, float] = field(default_factory=dict)
    events: list[AUEvent] = field(default_factory=list)
    n_frames: int = 0
    n_frames_with_face: int = 0
    max_faces: int = 0
    warnings: list[str] = field(default_factory=list)
    missing_reason: str | None = None  # e.g. "no face found in 40 sampled frames"
    au_summary: dict[str, AUSummary] = field(default_factory=dict)
    baseline: dict[str, float] = field(default_factory=dict)
    baseline_source: str = "clip"
    blink_count: int | None = None
    blink_rate_per_min: float | None = None

    @property
    def au_names(self) -> list[str]:
        return [c for c in self.frames.columns if c.startswith("AU")]

    @classmethod
    def from_dict(cls, d: dict[str, Any], frames: pd.DataFrame) -> FaceCues:
        """Schema 1 summaries (no ``au_summary``/``baseline``) load with empty defaults."""
        d = dict(d)
        d["events"] = [AUEvent(**e) for e in d.get("events", [])]
        d["au_summary"] = {k: AUSummary(**v) for k, v in d.get("au_summary", {}).items()}
        return cls(frames=frames, **d)


@dataclass
class VoiceSegment(_Record):
    """Prosody summary of one stretch of voiced speech, relative to the baseline."""

    start_s: float
    end_s: float
    pitch_mean_st: float | None  # semitones re 27.5 Hz, voiced frames only
    pitch_slope_st_per_s: float | None  # linear trend within the segment
    pitch_z: float | None  # mean pitch vs baseline, in baseline std units
    loudness_mean: float | None
    loudness_z: float | None
    voiced_fraction: float


@dataclass
class SpeakerBaseline(_Record):
    """A speaker's voice, pooled from the voiced speech of their other clips.

    Means and standard deviations pool the clips' own statistics weighted by their
    voiced duration (the pooled SD includes the spread between clips). ``n_clips``
    counts the other clips with voiced speech; below ``min_clips`` the baseline is
    not used and prosody stays relative to the clip itself.
    """

    speaker_id: str
    n_clips: int
    voiced_s: float = 0.0
    pitch_mean: float | None = None  # semitones re 27.5 Hz
    pitch_std: float | None = None
    loudness_mean: float | None = None
    loudness_std: float | None = None
    speaking_rate_syll_per_s: float | None = None
    jitter_local: float | None = None
    shimmer_db: float | None = None
    hnr_db: float | None = None
    min_clips: int = 3

    @property
    def usable(self) -> bool:
        """Enough clips, and spreads to divide by."""
        return (
            self.n_clips >= self.min_clips
            and self.pitch_mean is not None
            and (self.pitch_std or 0.0) > 0
            and self.loudness_mean is not None
            and (self.loudness_std or 0.0) > 0
        )


@dataclass
class VoiceCues(_Record):
    """Vocal tone: eGeMAPS low-level descriptors over time plus a named summary.

    ``frames`` columns: ``time_s`` and eGeMAPSv02 LLD names (``F0semitoneFrom27.5Hz_sma3nz``,
    ``Loudness_sma3``, ``jitterLocal_sma3nz``, ``shimmerLocaldB_sma3nz``,
    ``HNRdBACF_sma3nz``...), one row per 10 ms frame of the whole clip.
    ``speech_regions``: (start_s, end_s) where a VAD heard speech; prosody (summary,
    segments, baseline) is taken over voiced frames inside them only.
    ``functionals``: the 88 eGeMAPSv02 functionals of the speech (empty unless asked for).
    ``summary``: named, unit-bearing numbers in absolute terms (pitch_mean_st,
    pitch_std_st, pitch_slope_st_per_s, loudness_mean, loudness_std, jitter_local,
    shimmer_db, hnr_db, voiced_s, speaking_rate_syll_per_s...).
    ``baseline``: what the segment z-scores were taken against, and
    ``baseline_source`` says whose ("clip" or "speaker:<id>"). ``speaker``: the
    speaker baseline considered when the cue text was made (set after extraction,
    never by an extractor); it was used when ``baseline_source`` is ``speaker:<id>``.
    """

    backend: str
    backend_version: str
    config_hash: str
    frames: pd.DataFrame
    functionals: dict[str, float] = field(default_factory=dict)
    summary: dict[str, float | None] = field(default_factory=dict)
    baseline: dict[str, float] = field(default_factory=dict)
    baseline_source: str = "clip"
    segments: list[VoiceSegment] = field(default_factory=list)
    speech_regions: list[tuple[float, float]] = field(default_factory=list)
    speaker: SpeakerBaseline | None = None
    warnings: list[str] = field(default_factory=list)
    missing_reason: str | None = None  # e.g. "no speech in the audio (music or noise)"

    @classmethod
    def from_dict(cls, d: dict[str, Any], frames: pd.DataFrame) -> VoiceCues:
        """Also reads records written before ``speech_regions`` and ``speaker`` existed."""
        d = dict(d)
        d["segments"] = [VoiceSegment(**s) for s in d.get("segments", [])]
        d["speech_regions"] = [(float(s), float(e)) for s, e in d.get("speech_regions", [])]
        speaker = d.get("speaker")
        d["speaker"] = SpeakerBaseline(**speaker) if speaker else None
        return cls(frames=frames, **d)


@dataclass
class Word(_Record):
    text: str
    start_s: float
    end_s: float
    probability: float | None = None
    speaker: str | None = None


@dataclass
class SpeechSegment(_Record):
    text: str
    start_s: float
    end_s: float
    speaker: str | None = None
    avg_logprob: float | None = None
    no_speech_prob: float | None = None


@dataclass
class SpeechCues(_Record):
    """An aligned transcript: segments and words with times and confidences."""

    backend: str
    backend_version: str
    config_hash: str
    model: str
    language: str | None
    words: list[Word] = field(default_factory=list)
    segments: list[SpeechSegment] = field(default_factory=list)
    aligned: bool = False  # True when a forced aligner refined word times
    alignment_note: str | None = None  # why alignment did not run, when it did not
    warnings: list[str] = field(default_factory=list)
    missing_reason: str | None = None  # e.g. "no speech detected"
    language_detected: bool = False  # True when the model chose the language, not the config
    language_probability: float | None = None  # the detector's probability, when detected

    @property
    def text(self) -> str:
        return " ".join(s.text.strip() for s in self.segments).strip()

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> SpeechCues:
        d = dict(d)
        d["words"] = [Word(**w) for w in d.get("words", [])]
        d["segments"] = [SpeechSegment(**s) for s in d.get("segments", [])]
        return cls(**d)


@dataclass
class Cues:
    """All cues of one clip. A modality is ``None`` when it could not be extracted;
    ``missing`` then says why (``{"face": "no video stream"}``)."""

    media: MediaInfo
    face: FaceCues | None = None
    voice: VoiceCues | None = None
    speech: SpeechCues | None = None
    missing: dict[str, str] = field(default_factory=dict)
    schema_version: str = CUES_SCHEMA_VERSION

    @property
    def partial(self) -> bool:
        return bool(self.all_missing())

    def all_missing(self) -> dict[str, str]:
        """Missing modalities, including those an extractor ran on but found nothing in."""
        out = dict(self.missing)
        for name, cue in (("face", self.face), ("voice", self.voice), ("speech", self.speech)):
            if cue is not None and cue.missing_reason:
                out.setdefault(name, cue.missing_reason)
        return out
