"""`annotator doctor` on this machine: the real checks, the real llama.cpp build, a real crash.

The portable-build test is the one that keeps `uv.lock`'s llama.cpp honest: the binary this
environment built must decode a token and carry no host-only feature (AVX-512, AMX).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from tests.utils import ANNOTATOR, ROOT, cli_env

#: Makes ``import llama_cpp`` read address 0 (SIGSEGV), only in the decode probe's process.
CRASHING_SITE = """
import ctypes, sys

class _CrashOnLlama:
    def find_spec(self, name, path=None, target=None):
        main = getattr(sys.modules.get("__main__"), "__spec__", None)
        if name == "llama_cpp" and getattr(main, "name", "") == "annotator.doctor":
            ctypes.string_at(0)
        return None

sys.meta_path.insert(0, _CrashOnLlama())
"""


def doctor(home: Path, *args: str, env: dict[str, str] | None = None) -> tuple[int, Any]:
    done = subprocess.run(
        [*ANNOTATOR, "doctor", "--json", "--home", str(home), *args],
        env=env or cli_env(home),
        capture_output=True,
        text=True,
        timeout=600,
    )
    return done.returncode, json.loads(done.stdout)


def by_name(report: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {check["name"]: check for check in report["checks"]}


@pytest.mark.slow
def test_doctor_reports_this_machine_and_a_portable_drafter(tmp_path: Path) -> None:
    home = tmp_path / "home"
    init = subprocess.run([*ANNOTATOR, "init", "--home", str(home)], env=cli_env(home), timeout=120)
    assert init.returncode == 0
    code, report = doctor(home)
    checks = by_name(report)
    assert code == 0 and report["ok"] is True, report
    assert list(checks) == [
        "platform", "cpu", "drafter", "models", "media", "database", "label studio", "disk",
        "gpu", "extras",
    ]  # fmt: skip
    assert checks["platform"]["data"]["python"] == ".".join(map(str, sys.version_info[:3]))
    assert checks["cpu"]["data"]["cores"] == os.cpu_count()

    drafter = checks["drafter"]
    assert drafter["status"] == "ok", drafter
    features = drafter["data"]["features_enabled"]
    assert {"AVX2", "FMA", "F16C"} <= set(features), features
    assert not [f for f in features if f.startswith(("AVX512", "AMX", "AVX_VNNI"))], features
    assert drafter["data"]["model"].endswith("qwen2.5-coder-1.5b-instruct-q4_k_m.gguf")

    files = checks["models"]["data"]["files"]
    assert files["face_landmarker.task"]["sha256"].startswith("64184e229b26")
    assert files["qwen2.5-coder-1.5b-instruct-q4_k_m.gguf"]["sha256"].startswith("cc324af070c2")
    assert "migrated to head" in checks["database"]["detail"]
    assert checks["database"]["data"]["revision"] == [checks["database"]["data"]["head"]]
    assert checks["label studio"]["status"] == "skip"  # LABEL_STUDIO_URL unset in tests
    assert checks["disk"]["data"]["free_gb"] > 0
    assert checks["media"]["data"]["ffmpeg"]  # installed by scripts/system-deps.sh
    # make test installs every extra (a missing one here is a broken install)
    extras = checks["extras"]["data"]["extras"]
    assert {k for k, ok in extras.items() if not ok} <= {"gpu"}, extras


@pytest.mark.slow
def test_doctor_survives_a_drafter_that_segfaults_and_exits_1(tmp_path: Path) -> None:
    site = tmp_path / "site"
    site.mkdir()
    (site / "sitecustomize.py").write_text(CRASHING_SITE)
    home = tmp_path / "home"
    env = {**cli_env(home), "PYTHONPATH": f"{site}{os.pathsep}{ROOT}"}
    code, report = doctor(home, env=env)
    drafter = by_name(report)["drafter"]
    assert code == 1 and report["ok"] is False
    assert drafter["status"] == "fail"
    assert drafter["detail"].startswith(
        "llama.cpp could not decode one token: signal 11 (segmentation fault); rebuild"
    ), drafter
    assert by_name(report)["media"]["status"] == "ok"  # the other checks still ran


def test_doctor_without_json_is_one_line_per_check(tmp_path: Path) -> None:
    home = tmp_path / "home"
    done = subprocess.run(
        [*ANNOTATOR, "doctor", "--no-decode", "--home", str(home)],
        env=cli_env(home),
        capture_output=True,
        text=True,
        timeout=300,
    )
    lines = done.stdout.strip().splitlines()
    assert done.returncode == 0, done.stdout + done.stderr
    assert [line.split()[1] for line in lines][:3] == ["platform", "cpu", "drafter"]
    assert len(lines) == 10 and "decode not tried" in lines[2]
    assert not home.exists()  # doctor creates nothing
