"""Face beside voice+speech in two threads gives the rows the serial path gives.

The demo clip (a face and speech) is run twice from scratch, once serial and once with
the stages side by side; every cue record, stage key and the cue text must be equal.
"""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from sqlmodel import select

import extractors.media as media_module
from annotator.config import Settings
from annotator.extraction import thread_budget
from annotator.ingest import ingest
from annotator.pipeline import Runner
from db import CueRecord, CueTextRecord, StageRun, session_scope


def _rows(settings: Settings) -> dict[str, Any]:
    with session_scope(settings.db_url) as session:
        cues = {
            r.modality: (
                r.backend,
                r.config_hash,
                r.summary_json,
                r.missing_reason,
                None
                if r.frames_path is None
                else pd.read_parquet(settings.home / r.frames_path).to_dict("list"),
            )
            for r in session.exec(select(CueRecord))
        }
        runs = sorted((r.stage, r.config_hash, r.status) for r in session.exec(select(StageRun)))
        texts = [(t.config_hash, t.prompt_text) for t in session.exec(select(CueTextRecord))]
    return {"cues": cues, "runs": runs, "texts": texts}


def _run(tmp_path: Path, clip: Path, parallel: bool, monkeypatch: pytest.MonkeyPatch) -> Any:
    settings = Settings.load(home=tmp_path / f"home-{parallel}")
    ingest(settings, [clip])
    runner = Runner(settings, draft=False, parallel_stages=parallel)
    threads: dict[str, str] = {}
    for stage in ("face", "voice", "speech"):
        backend = runner._backend(stage)
        real = backend.extract

        def spy(media: Any, _stage: str = stage, _real: Any = real) -> Any:
            threads[_stage] = threading.current_thread().name
            return _real(media)

        monkeypatch.setattr(backend, "extract", spy)
    decodes: list[str] = []
    real_decode = media_module.decode_audio

    def counted(path: Any, *args: Any, **kwargs: Any) -> Any:
        decodes.append(str(path))
        return real_decode(path, *args, **kwargs)

    with monkeypatch.context() as patch:  # undone after the run: the next wraps the real one
        patch.setattr(media_module, "decode_audio", counted)
        (outcome,) = runner.run().outcomes
    return settings, runner, outcome, threads, decodes


def test_side_by_side_stages_store_what_the_serial_path_stores(  # type: ignore[no-untyped-def]
    tmp_path: Path, demo_clip: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    serial = _run(tmp_path, demo_clip, False, monkeypatch)
    parallel = _run(tmp_path, demo_clip, True, monkeypatch)

    s_settings, s_runner, s_outcome, s_threads, s_decodes = serial
    p_settings, p_runner, p_outcome, p_threads, p_decodes = parallel
    assert s_outcome.status == p_outcome.status == "done"
    assert (s_outcome.missing, s_outcome.errors) == (p_outcome.missing, p_outcome.errors)
    s_rows, p_rows = _rows(s_settings), _rows(p_settings)
    assert set(s_rows["cues"]) == {"face", "voice", "speech"}
    assert s_rows["cues"]["speech"][2]["words"], "the demo clip has speech"
    assert p_rows == s_rows

    # where each side ran: serial all in the main thread; parallel face in its worker
    main = threading.main_thread().name
    assert s_threads == {"face": main, "voice": main, "speech": main}
    assert p_threads["voice"] == p_threads["speech"] == main
    assert p_threads["face"].startswith("face-stage")
    # the audio is decoded once per clip, shared by voice and speech
    assert len(s_decodes) == len(p_decodes) == 1
    # the speech side gets the audio budget (1 thread of 2 cores) only when side by side
    assert p_runner.threads.parallel and not s_runner.threads.parallel
    assert p_runner.speech.cpu_threads == p_runner.threads.audio
    assert s_runner.speech.cpu_threads == 0


def test_thread_budget_splits_the_cores() -> None:
    assert thread_budget(None, cpus=1).parallel is False
    two = thread_budget(None, cpus=2)
    assert (two.parallel, two.face, two.audio) == (True, 1, 1)
    eight = thread_budget(None, cpus=8)
    assert (eight.face, eight.audio) == (1, 7)
    assert thread_budget(False, cpus=8).parallel is False
    assert thread_budget(True, cpus=1).audio == 1


@pytest.mark.parametrize("parallel", [False, True])
def test_a_clip_past_its_time_limit_fails_with_code_timeout(  # type: ignore[no-untyped-def]
    tmp_path: Path, feat_data: Path, parallel: bool
) -> None:
    settings = Settings.load(home=tmp_path / "home")
    ingest(settings, [feat_data / "single_face.mp4"])
    # a limit already spent: decoding stops before the first frame of either stream
    runner = Runner(settings, draft=False, parallel_stages=parallel, clip_timeout=1e-9)
    (outcome,) = runner.run().outcomes
    assert outcome.status == "failed"
    assert [code for code, _ in outcome.errors] == ["timeout"] * 3
    assert all("time limit" in message and "single_face.mp4" in message
               for _, message in outcome.errors)  # fmt: skip
    with session_scope(settings.db_url) as session:
        runs = {r.stage: (r.status, r.error_code) for r in session.exec(select(StageRun))}
    for stage in ("face", "voice", "speech"):
        assert runs[stage] == ("failed", "timeout")
    # a limit the clip fits in changes nothing: the rerun redoes the failed stages
    (again,) = (
        Runner(settings, draft=False, parallel_stages=parallel, clip_timeout=600).run().outcomes
    )
    assert again.status != "failed" and again.errors == []
