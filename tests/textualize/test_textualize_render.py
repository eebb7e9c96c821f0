import dataclasses
import subprocess
import sys
from pathlib import Path

import pytest
from textualize_cues import face, full_cues, media, speech, voice

from extractors.schema import AUEvent, Cues, Word
from textualize import TEXTUALIZER_VERSION, CueText, render, timeline

REPO = Path(__file__).resolve().parents[2]

# Changing this text means changing what the LLM sees: bump TEXTUALIZER_VERSION too.
FULL_PROMPT = """\
Clip: 6.0 s
Visual cues:
- face visible in 38 of 40 sampled frames
- AU12 lip corner puller, strong, 1.2-2.8 s (peak 4.1 at 2.0 s)
- AU06 cheek raiser, slight, 1.4-2.6 s (peak 2.0 at 2.0 s)
Acoustic cues:
- pitch high and rising for this speaker (+1.3 SD, +2.1 st/s)
- loud for this speaker (+1.0 SD)
- speaking rate fast (5.1 syll/s)
- voiced segments, for this speaker:
  - 0.4-2.1 s: pitch high and rising (+1.3 SD, +2.1 st/s), loud (+1.1 SD)
Transcript:
- language: en
- [0.5-2.2] I can't believe it!
- [3.0-3.6] (Really?)
- (words in parentheses: low recognition confidence)
Timeline (2.0 s windows):
- 0.0-2.0 s: face AU12 lip corner puller (strong), AU06 cheek raiser (slight); \
voice pitch high and rising, loud; speech "I can't believe it!"
- 2.0-4.0 s: face AU12 lip corner puller (strong, peak), AU06 cheek raiser (slight, peak); \
speech "(Really?)"
Missing: none"""


def test_full_prompt_text() -> None:
    out = render(full_cues())
    assert out.prompt_text == FULL_PROMPT
    assert out.partial is False
    assert out.missing == {}
    assert out.version == TEXTUALIZER_VERSION


def test_version_string() -> None:
    major, minor = TEXTUALIZER_VERSION.split(".")
    assert major.isdigit() and minor.isdigit()


def test_cuetext_is_frozen() -> None:
    out = render(full_cues())
    assert isinstance(out, CueText)
    with pytest.raises(dataclasses.FrozenInstanceError):
        out.prompt_text = "x"  # type: ignore[misc]


def test_sections_in_order() -> None:
    lines = render(full_cues()).prompt_text.splitlines()
    heads = [line for line in lines if not line.startswith(("-", " "))]
    assert heads == [
        "Clip: 6.0 s",
        "Visual cues:",
        "Acoustic cues:",
        "Transcript:",
        "Timeline (2.0 s windows):",
        "Missing: none",
    ]


def test_missing_modalities_listed_and_partial() -> None:
    cues = Cues(
        media=media(has_video=False),
        face=None,
        voice=voice(baseline_source="clip"),
        speech=speech([], missing_reason="no speech detected"),
        missing={"face": "no video stream"},
    )
    out = render(cues)
    assert out.partial is True
    assert out.missing == {"face": "no video stream", "speech": "no speech detected"}
    lines = out.prompt_text.splitlines()
    assert lines[-1] == "Missing: face (no video stream); speech (no speech detected)"
    assert "- not available: no video stream" in lines
    assert lines[lines.index("Transcript:") + 1] == "- no speech detected"
    assert "**Missing:** face: no video stream; speech: no speech detected" in out.readable_text


def test_none_modality_without_reason_is_missing() -> None:
    out = render(Cues(media=media(), face=face(), voice=voice(), speech=None))
    assert out.missing == {"speech": "not extracted"}
    assert out.partial is True
    assert "Transcript:\n- not available: not extracted" in out.prompt_text


def test_nothing_at_all_never_raises() -> None:
    out = render(Cues(media=media(duration_s=0.0, has_video=False)))
    assert out.partial is True
    assert out.prompt_text.splitlines()[0] == "Clip: duration unknown"
    assert out.prompt_text.endswith(
        "Missing: face (not extracted); voice (not extracted); speech (not extracted)"
    )
    assert "- nothing timed" in out.prompt_text


def test_empty_transcript_says_no_speech() -> None:
    out = render(Cues(media=media(), face=face(), voice=voice(), speech=speech([])))
    assert "Transcript:\n- no speech detected\n" in out.prompt_text
    assert out.partial is False


def test_speaker_vs_clip_baseline_in_render() -> None:
    speaker = render(full_cues()).prompt_text
    assert "pitch high and rising for this speaker (+1.3 SD, +2.1 st/s)" in speaker
    cues = full_cues()
    cues.voice = voice(baseline_source="clip")
    clip = render(cues).prompt_text
    assert "for this speaker" not in clip
    assert "- voiced segments, relative to this clip:" in clip


def test_max_words_truncation_is_said() -> None:
    words = [Word(f"w{i}", i * 0.1, i * 0.1 + 0.08, 0.9) for i in range(50)]
    cues = full_cues()
    cues.speech = speech(words)
    out = render(cues, max_words=10)
    assert "- [transcript truncated: first 10 of 50 words shown]" in out.prompt_text
    assert "w9" in out.prompt_text
    assert "w10" not in out.prompt_text  # not in the transcript nor the timeline


def test_max_events_keeps_most_intense_by_onset() -> None:
    events = [
        AUEvent("AU04", i * 0.5, i * 0.5 + 0.1, i * 0.5 + 0.3, 1.0 + i * 0.2) for i in range(6)
    ]
    cues = full_cues()
    cues.face = face(events)
    lines = render(cues, max_events=2).prompt_text.splitlines()
    au_lines = [line for line in lines if line.startswith("- AU04")]
    assert au_lines == [
        "- AU04 brow lowerer, slight, 2.0-2.3 s (peak 1.8 at 2.1 s)",
        "- AU04 brow lowerer, slight, 2.5-2.8 s (peak 2.0 at 2.6 s)",
    ]
    assert "- (2 of 6 events shown, the most intense)" in lines


def test_deterministic() -> None:
    a, b = render(full_cues()), render(full_cues())
    assert a == b
    assert a.readable_text == b.readable_text


def test_readable_text_markdown() -> None:
    text = render(full_cues()).readable_text
    assert text.startswith("## Emotion cues: sample\\_001.mp4 (6.0 s)\n")
    for head in ("### Visual cues", "### Acoustic cues", "### Transcript", "### Timeline"):
        assert head in text
    assert "- **0.5-2.2 s** I can't believe it!" in text
    assert "  - **0.4-2.1 s**: pitch high and rising (+1.3 SD, +2.1 st/s), loud (+1.1 SD)" in text
    assert "- baseline: speaker alice" in text
    assert "- AU detector confidence: AU06 0.90, AU12 0.95" in text


def test_timeline_windows() -> None:
    assert timeline(full_cues(), window_s=2.0) == [
        "0.0-2.0 s: face AU12 lip corner puller (strong), AU06 cheek raiser (slight); "
        'voice pitch high and rising, loud; speech "I can\'t believe it!"',
        "2.0-4.0 s: face AU12 lip corner puller (strong, peak), AU06 cheek raiser (slight, peak); "
        'speech "(Really?)"',
    ]
    one = timeline(full_cues(), window_s=1.0)
    assert one[0] == '0.0-1.0 s: voice pitch high and rising, loud; speech "I can\'t believe"'
    assert one[1].startswith("1.0-2.0 s: face AU12 lip corner puller (strong)")
    # The 0.4-2.1 s segment spills 0.1 s into 2.0-3.0 s: too little to be listed there.
    assert "voice" not in one[2]
    with pytest.raises(ValueError):
        timeline(full_cues(), window_s=0)


def test_timeline_last_window_ends_at_clip_end() -> None:
    cues = full_cues()
    cues.speech = speech([Word("late", 5.5, 5.9, 0.9)])
    assert timeline(cues, window_s=4.0)[-1] == '4.0-6.0 s: speech "late"'
    cues.media.duration_s = 5.0
    assert timeline(cues, window_s=4.0)[-1] == '4.0-5.9 s: speech "late"'


def test_timeline_can_be_left_out() -> None:
    out = render(full_cues(), timeline_window_s=None)
    assert "Timeline" not in out.prompt_text
    assert "Timeline" not in out.readable_text


def test_import_is_light() -> None:
    heavy = "{'torch','av','opensmile','faster_whisper','dlib','sqlmodel','transformers'}"
    code = (
        "import textualize, sys; "
        f"print(sorted(m for m in sys.modules if m.split('.')[0] in {heavy}))"
    )
    res = subprocess.run(
        [sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, check=True
    )
    assert res.stdout.strip() == "[]"


def test_long_clip_timeline_widens_windows_to_stay_short() -> None:
    # One word every 3 s across an hour: 2 s windows would give 1200 timeline lines.
    words = [Word(f"w{i}", 3.0 * i, 3.0 * i + 0.4, 0.9) for i in range(1200)]
    cues = Cues(media=media(3600.0), speech=speech(words))
    text = render(cues, max_words=2000).prompt_text
    assert "Timeline (120.0 s windows):" in text
    lines = text.split("Timeline (120.0 s windows):")[1].splitlines()
    timeline_lines = [line for line in lines if line.startswith("- ") and " s: " in line]
    assert 0 < len(timeline_lines) <= 30
