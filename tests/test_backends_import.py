"""Every backend's library imports in this environment: a broken dependency
resolution (torch / torchcodec / py-feat / whisperX) fails here, not for a user."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.utils import ROOT, feat_file

HEAVY = ["torch", "torchaudio", "torchvision", "torchcodec", "av", "dlib", "opensmile",
         "faster_whisper", "ctranslate2", "whisperx", "feat", "transformers", "gguf",
         "lmformatenforcer", "datasets", "streamlit", "label_studio_sdk", "sqlmodel"]  # fmt: skip


def test_every_backend_library_imports() -> None:
    # In a fresh interpreter, so what this test process imported earlier cannot hide a failure;
    # one interpreter for all, as each import of torch costs seconds.
    code = (
        "import importlib, traceback\n"
        f"for name in {HEAVY!r}:\n"
        "    try:\n"
        "        importlib.import_module(name)\n"
        "    except Exception as exc:\n"
        "        print(f'FAILED {name}: {type(exc).__name__}: {str(exc).splitlines()[0][:300]}')\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=600)
    failures = [line for line in proc.stdout.splitlines() if line.startswith("FAILED")]
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert failures == []


def test_torch_is_the_pinned_release_and_torchcodec_loads_its_ffmpeg() -> None:
    import torch
    import torchcodec

    assert torch.__version__.startswith("2.8.")
    assert torchcodec.__version__.startswith("0.7.")
    from torchcodec.decoders import VideoDecoder  # loads libtorchcodec + system FFmpeg

    frame = VideoDecoder(str(feat_file("single_face.mp4")))[0]  # py-feat's video reader path
    assert tuple(frame.shape[:1]) == (3,) and frame.shape[1] > 100 and frame.shape[2] > 100


def test_every_registered_backend_is_listed() -> None:
    from annotator.drafting import drafting_names
    from extractors import registry

    assert registry.names("face") == ["landmarks", "mediapipe", "openface", "pyfeat"]
    assert registry.names("voice") == ["opensmile"]
    assert registry.names("speech") == ["faster-whisper", "whisperx"]
    # tests register scripted drafters of their own: the built-in ones must all be there
    assert {"llamacpp", "openai", "transformers", "vllm"} <= set(drafting_names())


def test_unknown_backend_names_the_known_ones() -> None:
    from extractors import registry
    from extractors.registry import UnknownBackendError

    with pytest.raises(
        UnknownBackendError, match="known face backends: landmarks, mediapipe, openface, pyfeat"
    ):
        registry.create("face", "nope")
    with pytest.raises(UnknownBackendError, match="known kinds: face, voice, speech, drafting"):
        registry.create("gaze", "nope")


def test_environment_overrides_a_default_backend(monkeypatch: pytest.MonkeyPatch) -> None:
    """lhotse-style: ANNOTATOR_<KIND>_BACKEND picks the default; a command-line value wins."""
    from annotator.config import Settings

    monkeypatch.setenv("ANNOTATOR_FACE_BACKEND", "landmarks")
    monkeypatch.setenv("ANNOTATOR_DRAFTING_BACKEND", "openai")
    settings = Settings.load(home="/tmp/unused-home", db_url="sqlite://")
    assert (settings.face_backend, settings.drafting_backend) == ("landmarks", "openai")
    assert Settings.load(home="/tmp/unused-home", face_backend="openface").face_backend == (
        "openface"
    )
    monkeypatch.delenv("ANNOTATOR_FACE_BACKEND")
    assert Settings.load(home="/tmp/unused-home").face_backend == "mediapipe"


def test_layering_extractors_and_textualize_do_not_import_db_or_annotator() -> None:
    code = (
        "import sys, extractors.registry as r, textualize; r.names('face'); "
        "print(sorted({m.split('.')[0] for m in sys.modules}\n"
        "             & {'db', 'annotator', 'app', 'sqlmodel'}))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.stdout.strip() == "[]", out.stderr[-1000:]


def test_layering_db_imports_only_the_error_module_of_ours() -> None:
    """db sits below everything: of our modules it may load only extractors.errors (a leaf
    with no imports, the one error hierarchy), never a backend, textualize or annotator."""
    code = (
        "import sys, db, db.queries; "
        "print(sorted(m for m in sys.modules if m.split('.')[0] in "
        "{'extractors', 'textualize', 'annotator', 'app'}))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.stdout.strip() == "['extractors', 'extractors.errors']", out.stderr[-1000:]


def test_modules_import_without_side_effects(tmp_path: Path) -> None:
    """Importing the main modules writes no file, makes no folder (data home, model cache,
    database) and sets no ANNOTATOR_* variable: settings are read when asked, never at import."""
    code = (
        "import importlib, os\n"
        "for name in ['annotator.cli', 'annotator.pipeline', 'annotator.export', 'db.queries',"
        " 'app.logic']:\n"
        "    importlib.import_module(name)\n"
        "print(sorted(k for k in os.environ if k.startswith('ANNOTATOR_')))\n"
    )
    home = tmp_path / "home"
    home.mkdir()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("ANNOTATOR_", "XDG_"))}
    env.update(HOME=str(home), PYTHONPATH=str(ROOT))
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=300, cwd=tmp_path, env=env)  # fmt: skip
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.strip() == "[]"
    assert sorted(p.name for p in tmp_path.rglob("*")) == ["home"]


def test_cli_help_loads_no_data_or_model_library() -> None:
    """`annotator --help` (and so every command's start-up) imports neither pandas nor
    numpy nor a model runtime: they cost seconds and a command needs them only when it
    works on media or data (``annotator.drafting`` loads its names lazily for this)."""
    code = (
        "import sys\n"
        "sys.argv = ['annotator', '--help']\n"
        "import annotator.cli as cli\n"
        "try:\n"
        "    cli.app()\n"
        "except SystemExit:\n"
        "    pass\n"
        "heavy = ['pandas', 'numpy', 'torch', 'mediapipe', 'av', 'opensmile', 'ctranslate2']\n"
        "print('LOADED', [m for m in heavy if m in sys.modules])\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "Usage: annotator" in proc.stdout
    assert proc.stdout.splitlines()[-1] == "LOADED []"
