"""Batched faster-whisper in pause-cut windows (long clips): the windows, their word
times against one unwindowed run on pyannote's sample.wav, and one language detection."""

from __future__ import annotations

import difflib
import itertools
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from extractors.media import AUDIO_SAMPLE_RATE, ClipMedia
from extractors.schema import SpeechCues, Word
from extractors.speech.faster_whisper_backend import (
    FasterWhisperSpeechBackend,
    speech_windows,
)
from extractors.speech.models import resolve_whisper_model


def _norm(text: str) -> str:
    return re.sub(r"[^a-z']", "", text.lower())


def _pairs(a: SpeechCues, b: SpeechCues) -> list[tuple[Word, Word]]:
    """Words heard by both runs, matched in order."""
    x = [_norm(w.text) for w in a.words]
    y = [_norm(w.text) for w in b.words]
    ops = difflib.SequenceMatcher(a=x, b=y, autojunk=False).get_opcodes()
    return [
        (a.words[i + k], b.words[j + k])
        for tag, i, i2, j, _j2 in ops
        if tag == "equal"
        for k in range(i2 - i)
    ]


def test_windows_cut_in_pauses(sample_clip: ClipMedia) -> None:
    audio = sample_clip.audio()
    assert speech_windows(audio, 0) == [(0, audio.size)]
    assert speech_windows(audio, 120.0) == [(0, audio.size)]  # 30 s: one window
    windows = speech_windows(audio, 12.0)
    # Contiguous, covering the audio, each cut in the last quarter of a 12 s window.
    assert windows[0][0] == 0 and windows[-1][1] == audio.size
    assert all(a[1] == b[0] for a, b in itertools.pairwise(windows))
    for start, end in windows[:-1]:
        assert 9.0 <= (end - start) / AUDIO_SAMPLE_RATE <= 12.0
        # The cut is quieter than the speech around it (a pause, not a word).
        around = audio[max(0, end - 4 * AUDIO_SAMPLE_RATE) : end + 4 * AUDIO_SAMPLE_RATE]
        cut = audio[end - 800 : end + 800]
        assert np.sqrt(np.mean(cut**2)) < 0.5 * np.sqrt(np.mean(around**2))
    with pytest.raises(ValueError, match="window_s"):
        FasterWhisperSpeechBackend(window_s=2)


def test_windowed_words_match_unwindowed(sample_clip: ClipMedia) -> None:
    """Windows of 12 s cut sample.wav's dialogue at 11.7 s and 21.7 s, inside the speech.
    Measured: 73 of 77 words matched in order, 2 starts more than 0.3 s off (0.48 s: the
    overlapped "Oh, hello" and the next "Okay", decoded in another chunk), none near a cut."""
    whole = FasterWhisperSpeechBackend(window_s=0).extract(sample_clip)
    windowed = FasterWhisperSpeechBackend(window_s=12.0).extract(sample_clip)
    cuts = [end / AUDIO_SAMPLE_RATE for _s, end in speech_windows(sample_clip.audio(), 12.0)[:-1]]
    assert len(cuts) == 2 and all(7.0 < c < 29.0 for c in cuts)  # inside the dialogue

    starts = [w.start_s for w in windowed.words]
    assert starts == sorted(starts), "word starts go backwards"
    assert all(w.end_s >= w.start_s for w in windowed.words)
    # Words on both sides of each cut, so the cut fell inside the speech.
    for c in cuts:
        assert any(c - 2.0 < s < c for s in starts) and any(c < s < c + 2.0 for s in starts)

    pairs = _pairs(whole, windowed)
    assert len(pairs) >= 0.9 * len(whole.words), (len(pairs), len(whole.words))
    off = [(x, y) for x, y in pairs if abs(x.start_s - y.start_s) > 0.3]
    assert len(off) <= 0.05 * len(pairs), off
    assert max(abs(x.start_s - y.start_s) for x, y in pairs) < 0.6
    near_cut = [(x, y) for x, y in pairs if any(abs(x.start_s - c) < 1.0 for c in cuts)]
    assert near_cut and all(abs(x.start_s - y.start_s) <= 0.3 for x, y in near_cut), near_cut
    assert windowed.language == "en" and windowed.language_detected is False


def test_language_detected_once_across_windows(
    espeak: Callable[..., Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    """A multilingual model detects the language on the first window only; the later
    windows are decoded in that language."""
    from extractors.speech import faster_whisper_backend as fwb

    text = (
        "Guten Morgen. Ich habe gestern mit meiner Schwester in Berlin Kaffee getrunken. "
        "Danach sind wir lange durch den Park gegangen und haben über die Arbeit gesprochen."
    )
    german = ClipMedia(espeak("german_long", text, "-v", "de", "-g", "12"))
    windows = speech_windows(german.audio(), 5.0)
    assert len(windows) >= 2
    backend = FasterWhisperSpeechBackend(model=resolve_whisper_model("bundled:base"), window_s=5.0)
    whisper = fwb.load_whisper_model(
        resolve_whisper_model("bundled:base"),
        backend.device,
        backend.compute_type,
        backend.cpu_threads,
    )
    calls: list[Any] = []
    original = whisper.detect_language

    def counting(*args: Any, **kwargs: Any) -> Any:
        calls.append(1)
        return original(*args, **kwargs)

    monkeypatch.setattr(whisper, "detect_language", counting)
    cues = backend.extract(german)
    assert len(calls) == 1
    assert cues.language == "de" and cues.language_detected
    assert cues.language_probability is not None and cues.language_probability > 0.5
    heard = {_norm(w.text): w.start_s for w in cues.words}
    assert {"berlin", "durch"} <= set(heard), heard
    assert heard["durch"] > windows[0][1] / AUDIO_SAMPLE_RATE  # German in a later window
    starts = [w.start_s for w in cues.words]
    assert starts == sorted(starts)
