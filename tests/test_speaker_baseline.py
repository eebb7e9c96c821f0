"""Speaker baselines: ingest --speaker / --speakers-csv, pooling the speaker's other clips,
and the cue text of a raised-pitch clip against the speaker vs against itself.

Speech is synthesised with espeak-ng (apt): three clips of one speaker at a normal pitch
(-p 40) and one with a raised pitch (-p 80).
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest
from sqlmodel import select
from typer.testing import CliRunner

from annotator.cli import app
from annotator.config import Settings
from annotator.ingest import ingest
from annotator.pipeline import Runner
from annotator.speakers import (
    SpeakersCsvError,
    pool,
    read_speakers_csv,
    speaker_baseline,
    speaker_counts,
)
from db import Clip, CueRecord, CueTextRecord, session_scope
from db.queries import find_clip

SENTENCES = [
    "I walked to the market this morning and bought some bread.",
    "The weather was mild, so we sat outside and talked for a while.",
    "After lunch she called her brother and told him the news.",
    "We finally finished the project and everyone went home early.",
]


def _espeak(path: Path, text: str, pitch: int) -> Path:
    exe = shutil.which("espeak-ng")
    if exe is None:
        pytest.skip("espeak-ng is not installed (apt-get install espeak-ng)")
    subprocess.run(
        [exe, "-p", str(pitch), "-w", str(path), text], check=True, timeout=60, capture_output=True
    )
    return path


@pytest.fixture(scope="module")
def voices(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """normal0-2.wav (-p 40) and raised.wav (-p 80) in one folder."""
    folder = tmp_path_factory.mktemp("voices")
    for i, text in enumerate(SENTENCES[:3]):
        _espeak(folder / f"normal{i}.wav", text, 40)
    _espeak(folder / "raised.wav", SENTENCES[3], 80)
    return folder


# -- pooling ---------------------------------------------------------------------------
def test_pool_weights_by_voiced_duration_and_includes_between_clip_spread() -> None:
    summaries = [
        {"pitch_mean_st": 30.0, "pitch_std_st": 1.0, "loudness_mean": 0.5, "loudness_std": 0.1,
         "voiced_s": 2.0, "hnr_db": 10.0},
        {"pitch_mean_st": 34.0, "pitch_std_st": 2.0, "loudness_mean": 1.0, "loudness_std": 0.2,
         "voiced_s": 6.0, "hnr_db": 6.0},
        # No voiced speech (music): not part of the speaker's voice.
        {"pitch_mean_st": None, "pitch_std_st": None, "voiced_s": 0.0},
        # A record from before voiced_s: voiced fraction x duration = 2 s.
        {"pitch_mean_st": 33.0, "pitch_std_st": 0.0, "loudness_mean": 0.75, "loudness_std": 0.0,
         "voiced_fraction": 0.5, "duration_s": 4.0},
    ]  # fmt: skip
    b = pool("spk1", summaries, min_clips=3)
    assert b.n_clips == 3 and b.voiced_s == 10.0 and b.usable
    # mean = (2*30 + 6*34 + 2*33) / 10 = 33.0
    # var = (2*(1+900) + 6*(4+1156) + 2*(0+1089)) / 10 - 33^2 = 5.0
    assert b.pitch_mean == pytest.approx(33.0)
    assert b.pitch_std == pytest.approx(5.0**0.5, abs=1e-4)
    assert b.loudness_mean == pytest.approx((2 * 0.5 + 6 * 1.0 + 2 * 0.75) / 10)
    assert b.hnr_db == pytest.approx((2 * 10.0 + 6 * 6.0) / 8)  # only clips that have it
    assert not pool("spk1", summaries[:2], min_clips=3).usable  # two clips: too few
    assert pool("spk1", [], min_clips=3).n_clips == 0


def test_speaker_baseline_query_pools_only_the_speakers_other_clips_with_speech(
    tmp_path: Path,
) -> None:
    settings = Settings.load(home=tmp_path / "home", db_url=None)
    settings.ensure_home()

    def summary(pitch: float) -> dict[str, object]:
        s = {"pitch_mean_st": pitch, "pitch_std_st": 1.0, "loudness_mean": 1.0,
             "loudness_std": 0.1, "voiced_s": 2.0}  # fmt: skip
        return {"summary": s}

    with session_scope(settings.db_url) as session:
        rows = [  # (name, speaker, voice summary, missing reason, config hash)
            ("me.wav", "spk1", summary(40.0), None, "cfg"),
            ("a.wav", "spk1", summary(30.0), None, "cfg"),
            ("b.wav", "spk1", summary(32.0), None, "cfg"),
            ("music.wav", "spk1", {"summary": {"voiced_s": 0.0}}, "no speech", "cfg"),
            ("old.wav", "spk1", summary(90.0), None, "other-backend-config"),
            ("c.wav", "spk2", summary(60.0), None, "cfg"),
            ("d.wav", None, summary(70.0), None, "cfg"),
        ]
        ids = {}
        for i, (name, spk, summ, missing, cfg) in enumerate(rows):
            clip = Clip(sha256=f"{i:064d}", name=name, source_uri=name, speaker_id=spk)
            session.add(clip)
            session.flush()
            assert clip.id is not None
            ids[name] = clip.id
            session.add(
                CueRecord(clip_id=clip.id, modality="voice", backend="opensmile",
                          backend_version="x", config_hash=cfg, schema_version="1",
                          summary_json=summ, missing_reason=missing)
            )  # fmt: skip
    with session_scope(settings.db_url) as session:
        b = speaker_baseline(session, ids["me.wav"], "cfg", min_clips=2)
        assert b is not None and (b.speaker_id, b.n_clips, b.voiced_s) == ("spk1", 2, 4.0)
        assert b.pitch_mean == pytest.approx(31.0) and b.usable
        assert b.pitch_std == pytest.approx(2.0**0.5, abs=1e-4)  # sqrt(1 + 1)
        assert speaker_baseline(session, ids["d.wav"], "cfg") is None  # no speaker
        alone = speaker_baseline(session, ids["c.wav"], "cfg")
        assert alone is not None and alone.n_clips == 0 and not alone.usable


# -- speakers CSV and ingest -------------------------------------------------------------
def test_speakers_csv_relative_absolute_and_missing(voices: Path, tmp_path: Path) -> None:
    sub = tmp_path / "lists"
    sub.mkdir()
    csv_path = sub / "speakers.csv"
    rel = os.path.relpath(voices / "normal0.wav", sub)  # relative to the CSV's folder
    csv_path.write_text(f"file,speaker\n{rel}\n")  # malformed: no speaker
    with pytest.raises(SpeakersCsvError, match="both a file and a speaker"):
        read_speakers_csv(csv_path)
    shutil.copy(voices / "normal1.wav", sub / "copy.wav")
    csv_path.write_text(
        "File,Speaker\n"
        f"{rel},spk1\n"
        f"{voices / 'normal2.wav'},spk1\n"
        "copy.wav,spk2\n"
        "nowhere.wav,spk3\n"
    )
    table = read_speakers_csv(csv_path)
    assert table.by_path == {
        str((voices / "normal0.wav").resolve()): "spk1",
        str((voices / "normal2.wav").resolve()): "spk1",
        str((sub / "copy.wav").resolve()): "spk2",
    }
    assert table.missing == [str(sub / "nowhere.wav")]
    (sub / "bad.csv").write_text("path,who\nx.wav,a\n")
    with pytest.raises(SpeakersCsvError, match="columns file,speaker"):
        read_speakers_csv(sub / "bad.csv")


def test_ingest_cli_sets_and_reports_speakers(voices: Path, tmp_path: Path) -> None:
    home = tmp_path / "home"
    csv_path = voices / "speakers.csv"
    csv_path.write_text("file,speaker\nnormal0.wav,spk1\nnormal1.wav,spk1\nghost.wav,spk9\n")
    runner = CliRunner()
    out = runner.invoke(app, ["ingest", "--home", str(home), "--speakers-csv", str(csv_path)])
    assert out.exit_code == 0, out.output
    assert "ingested 2 new" in out.output
    assert "no such file" in out.output and "ghost.wav" in out.output

    # --speaker for every file of a call; normal0 moves from spk1 to spk2, reported.
    out = runner.invoke(
        app,
        ["ingest", "--home", str(home), "--speaker", "spk2",
         str(voices / "normal0.wav"), str(voices / "raised.wav")],
    )  # fmt: skip
    assert out.exit_code == 0, out.output
    assert re.search(r"normal0\.wav: speaker spk1 -> spk2", out.output), out.output
    settings = Settings.load(home=home)
    with session_scope(settings.db_url) as session:
        ids = {c.name: c.speaker_id for c in session.exec(select(Clip)).all()}
        assert ids == {"normal0.wav": "spk2", "normal1.wav": "spk1", "raised.wav": "spk2"}
        assert speaker_counts(session) == [("spk1", 1), ("spk2", 2)]
    listed = runner.invoke(app, ["speakers", "--home", str(home)])
    assert listed.exit_code == 0
    assert re.search(r"spk1\s*│\s*1", listed.output) and re.search(r"spk2\s*│\s*2", listed.output)


# -- end to end: the raised clip against the speaker, and against itself ---------------------
def _text(settings: Settings, name: str) -> tuple[str, int]:
    with session_scope(settings.db_url) as session:
        clip = find_clip(session, name)
        assert clip is not None
        rows = session.exec(select(CueTextRecord).where(CueTextRecord.clip_id == clip.id)).all()
        latest = max(rows, key=lambda r: r.id or 0)
        return latest.prompt_text, len(rows)


def _acoustic(text: str) -> list[str]:
    body = text.split("Acoustic cues:\n", 1)[1].split("\nTranscript:", 1)[0]
    return [line[2:] for line in body.splitlines() if line.startswith("- ")]


@pytest.mark.slow
def test_raised_clip_reads_high_for_this_speaker_and_typical_alone(
    voices: Path, tmp_path: Path
) -> None:
    settings = Settings.load(home=tmp_path / "spk", db_url=None)
    files = [voices / f"normal{i}.wav" for i in range(3)] + [voices / "raised.wav"]
    assert not ingest(settings, files, speaker="spk1").failed
    runner = Runner(settings, draft=False)
    runner.run()
    # Every clip's cues are stored before any is worded, so one run gives each clip the
    # speaker's other clips: the raised clip three normal ones, normal0 two normal ones and
    # the raised one (the raised clip is ingested last and still counts for the others).
    raised, n_texts = _text(settings, "raised.wav")
    lines = _acoustic(raised)
    assert re.fullmatch(
        r"baseline: 3 other clips of speaker spk1 \(\d\.\d s of voiced speech\)", lines[0]
    )
    pitch = next(line for line in lines if line.startswith("pitch ") and "SD" in line)
    z = float(re.search(r"\(([+-]\d+\.\d) SD", pitch).group(1))  # type: ignore[union-attr]
    # espeak-ng -p 80 vs -p 40 is about 7 semitones up; the speaker's SD is about 2 st.
    assert z >= 2.0 and pitch.startswith("pitch very high") and "for this speaker" in pitch
    assert "voiced segments, for this speaker:" in lines
    first, n_first = _text(settings, "normal0.wav")
    assert n_first == 1
    lines0 = _acoustic(first)
    assert lines0[0].startswith("baseline: 3 other clips of speaker spk1")
    assert not any(line.startswith("pitch very high") for line in lines0)

    # A second run changes nothing: no baseline moved, so no text is redone.
    runner.run()
    assert _text(settings, "raised.wav") == (raised, n_texts)
    assert _text(settings, "normal0.wav") == (first, 1)

    # The same raised clip alone (no speaker): worded against itself, pitch not high.
    alone = Settings.load(home=tmp_path / "alone", db_url=None)
    assert not ingest(alone, [voices / "raised.wav"]).failed
    Runner(alone, draft=False).run()
    text, _ = _text(alone, "raised.wav")
    lines = _acoustic(text)
    assert lines[0] == "baseline: this clip"
    assert not any("for this speaker" in line or "very high" in line for line in lines)
    assert "voiced segments, relative to this clip:" in lines
