"""Safety: unreachable databases in one masked line, secrets never printed, media paths held to
the folders named, a 4 GB non-media file refused in small memory, no shell, test isolation.

The CLI tests run the real ``annotator`` in a subprocess and assert on what it printed.
"""

from __future__ import annotations

import ast
import json
import os
import socket
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from sqlmodel import select

from annotator.ingest import ingest
from annotator.safety import AllowedRoots, PathNotAllowedError, mask_url
from db import Clip, IngestFailure, session_scope
from db.engine import DatabaseUnavailableError, DatabaseUrlError, get_engine, masked_url

ROOT = Path(__file__).resolve().parents[1]


def _closed_port() -> int:
    """A port on 127.0.0.1 where nothing listens (bound, then released)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _cli(
    *args: str, env: dict[str, str] | None = None, timeout: float = 120
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "annotator.cli", *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        cwd=ROOT,
        env={**os.environ, **(env or {})},
    )


# ---- secrets masked -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        ("postgresql://user:secret@127.0.0.1:1/x", "postgresql://user:***@127.0.0.1:1/x"),
        (
            "postgresql+psycopg://u:p%40ss@db:5432/x?sslmode=require&password=zz",
            "postgresql+psycopg://u:***@db:5432/x?sslmode=require&password=***",
        ),
        ("http://admin:hunter2@[::1]:8080/api", "http://admin:***@[::1]:8080/api"),
        ("sqlite:////data/annotator.db", "sqlite:////data/annotator.db"),
        ("postgresql://user@db/x", "postgresql://user@db/x"),
    ],
)
def test_mask_url_hides_passwords_and_secret_parameters(url: str, shown: str) -> None:
    assert mask_url(url) == shown
    if "sqlite" not in url and "[" not in url:  # db's own masking (SQLAlchemy URLs) agrees
        db_shown = masked_url(url)  # (SQLAlchemy sorts the query parameters)
        assert db_shown.split("?")[0] == shown.split("?")[0]
        assert sorted(db_shown.partition("?")[2].split("&")) == sorted(
            shown.partition("?")[2].split("&")
        )


@pytest.mark.parametrize(
    "command",
    [
        ["init"],
        ["status"],
        ["speakers"],
        ["ingest", "annotator/samples/demo.mp4"],
        ["run", "--no-draft"],
        ["export", "OUT"],
        ["review", "--port", "1"],
    ],
    ids=lambda c: c[0],
)
def test_command_on_a_stopped_postgres_prints_one_masked_line(
    command: list[str], tmp_path: Path
) -> None:
    port = _closed_port()
    args = [a.replace("OUT", str(tmp_path / "out")) for a in command]
    url = f"postgresql://user:secret@127.0.0.1:{port}/x"
    out = _cli(*args, "--home", str(tmp_path / "home"), "--db", url)
    assert out.returncode == 1, out
    lines = out.stderr.strip().splitlines()
    assert len(lines) == 1, out.stderr
    assert lines[0].startswith(
        f"✗ cannot open the database postgresql://user:***@127.0.0.1:{port}/x"
    )
    assert "Connection refused" in lines[0] and lines[0].endswith("(db_unavailable)")
    assert "secret" not in out.stdout + out.stderr and "Traceback" not in out.stderr
    assert out.stdout == ""
    assert not (tmp_path / "out").exists()


def test_db_url_from_a_file_is_used_and_not_printed(tmp_path: Path) -> None:
    port = _closed_port()
    secret = tmp_path / "db-url"
    secret.write_text(f"postgresql+psycopg://annotator:s3cr3t@127.0.0.1:{port}/annotator\n")
    out = _cli("status", "--home", str(tmp_path / "h"), env={"ANNOTATOR_DB_URL_FILE": str(secret)})
    assert out.returncode == 1
    assert f"postgresql+psycopg://annotator:***@127.0.0.1:{port}/annotator" in out.stderr
    assert "s3cr3t" not in out.stdout + out.stderr
    missing = _cli("status", env={"ANNOTATOR_DB_URL_FILE": str(tmp_path / "nope")})
    assert missing.returncode == 1
    assert missing.stderr.strip().endswith("(secret_file)")
    assert len(missing.stderr.strip().splitlines()) == 1


def test_bad_urls_raise_typed_one_line_errors(tmp_path: Path) -> None:
    with pytest.raises(DatabaseUrlError, match=r"^foo://a:\*\*\*@c/d: not a usable database URL"):
        get_engine("foo://a:b@c/d")
    with pytest.raises(DatabaseUnavailableError, match="unable to open database file") as exc:
        get_engine(f"sqlite:///{tmp_path}/no/such/dir/x.db")
    assert "\n" not in str(exc.value) and exc.value.code == "db_unavailable"


def test_init_on_a_live_postgres_prints_the_url_masked(pg_server: str, tmp_path: Path) -> None:
    # The test server trusts 127.0.0.1, so any password is accepted and must not be shown.
    url = pg_server.replace("postgres@", "postgres:hunter2@")
    out = _cli("init", "--home", str(tmp_path / "h"), "--db", url)
    assert out.returncode == 0, out.stderr
    assert f"database:    {url.replace('hunter2', '***')}" in out.stdout
    assert "hunter2" not in out.stdout + out.stderr


def test_no_command_prints_a_database_url_unmasked() -> None:
    """Every f-string in the CLI and app that shows ``…db_url`` goes through mask_url."""
    offenders = []
    for path in [*(ROOT / "annotator").rglob("*.py"), *(ROOT / "app").rglob("*.py")]:
        tree = ast.parse(path.read_text())
        for node in ast.walk(tree):
            if isinstance(node, ast.FormattedValue):
                text = ast.unparse(node.value)
                if text.endswith("db_url") or text.endswith("DB_URL"):
                    offenders.append(f"{path.relative_to(ROOT)}:{node.lineno}: {text}")
    assert offenders == []


# ---- path safety ----------------------------------------------------------------------------


@pytest.fixture
def media_tree(tmp_path: Path, demo_clip: Path) -> Path:
    """clips/ok.mp4, clips/link.mp4 -> ../outside/secret.mp4 (the same bytes: one clip), and
    clips/spk.csv naming ../outside/secret.mp4 by traversal."""
    (tmp_path / "clips").mkdir()
    (tmp_path / "outside").mkdir()
    (tmp_path / "clips" / "ok.mp4").write_bytes(demo_clip.read_bytes())
    secret = tmp_path / "outside" / "secret.mp4"
    secret.write_bytes(demo_clip.read_bytes())
    (tmp_path / "clips" / "link.mp4").symlink_to("../outside/secret.mp4")
    (tmp_path / "clips" / "spk.csv").write_text(
        "file,speaker\n../outside/secret.mp4,s1\nok.mp4,s1\n"
    )
    return tmp_path


def test_ingest_refuses_a_symlink_out_of_the_folder_and_keeps_the_rest(
    settings,
    media_tree: Path,  # type: ignore[no-untyped-def]
) -> None:
    result = ingest(settings, [media_tree / "clips"])
    assert result.added == [str(media_tree / "clips" / "ok.mp4")]
    assert [(p, code) for p, code, _ in result.failed] == [
        (str(media_tree / "clips" / "link.mp4"), "path_not_allowed")
    ]
    message = result.failed[0][2]
    assert "\n" not in message and str(media_tree / "outside" / "secret.mp4") in message
    with session_scope(settings.db_url) as s:
        assert [c.name for c in s.exec(select(Clip)).all()] == ["ok.mp4"]
        failures = s.exec(select(IngestFailure)).all()
        assert [f.error_code for f in failures] == ["path_not_allowed"]
    # --allow-root (here: the library's AllowedRoots) lets the same link in.
    allowed = AllowedRoots.for_inputs([media_tree / "clips"], [media_tree / "outside"])
    again = ingest(settings, [media_tree / "clips"], allowed=allowed)
    assert again.failed == [] and len(again.duplicates) == 2


def test_allowed_roots_refuse_traversal_and_accept_inside(tmp_path: Path) -> None:
    (tmp_path / "a" / "b").mkdir(parents=True)
    roots = AllowedRoots.of([tmp_path / "a"])
    assert roots.check(tmp_path / "a" / "b" / ".." / "x.mp4") == tmp_path / "a" / "x.mp4"
    with pytest.raises(PathNotAllowedError, match="is outside the allowed folders"):
        roots.check(tmp_path / "a" / ".." / "x.mp4")
    with pytest.raises(PathNotAllowedError):
        roots.check(tmp_path / "ab" / "x.mp4")  # a sibling sharing the prefix is not inside


def test_cli_ingest_refuses_csv_traversal_one_line_per_file(media_tree: Path) -> None:
    home = media_tree / "home"
    out = _cli(
        "ingest", "--home", str(home), "--speakers-csv", str(media_tree / "clips" / "spk.csv")
    )
    assert out.returncode == 1
    refused = [line for line in out.stderr.splitlines() if "(path_not_allowed)" in line]
    assert refused == [
        f"✗ {media_tree / 'outside' / 'secret.mp4'}: is outside the allowed folders "
        f"({media_tree / 'clips'}); refused (ingest --allow-root FOLDER to allow it) "
        "(path_not_allowed)"
    ]
    assert "ingested 1 new, 0 already known, 1 failed" in out.stdout
    allowed = _cli(
        "ingest", "--home", str(home), str(media_tree / "clips"),
        "--allow-root", str(media_tree / "outside"),
    )  # fmt: skip
    assert allowed.returncode == 0, allowed.stderr
    assert "ingested 0 new, 2 already known, 0 failed" in allowed.stdout


# ---- big input ------------------------------------------------------------------------------


def test_a_4gb_sparse_non_media_file_fails_in_one_line_with_small_memory(tmp_path: Path) -> None:
    big = tmp_path / "big.mp4"
    with big.open("wb") as fh:
        fh.truncate(4 << 30)  # sparse: 4 GiB long, no blocks on disk
    assert big.stat().st_size == 4 << 30
    # A wrapper process reports its child's peak RSS (the CLI's own, no other test's).
    wrapper = textwrap.dedent(
        f"""
        import json, resource, subprocess, sys
        p = subprocess.run([sys.executable, "-m", "annotator.cli", "ingest", "--home",
                            {str(tmp_path / "home")!r}, {str(big)!r}],
                           capture_output=True, text=True, timeout=300)
        peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss  # KiB on Linux
        print(json.dumps({{"rc": p.returncode, "err": p.stderr, "out": p.stdout,
                           "peak_mib": peak / 1024}}))
        """
    )
    run = subprocess.run(
        [sys.executable, "-c", wrapper], capture_output=True, text=True, timeout=330, cwd=ROOT
    )
    result = json.loads(run.stdout)
    assert result["rc"] == 1
    assert result["err"].strip().splitlines() == [
        f"✗ {big}: not readable as media (Invalid data found when processing input) "
        "(unreadable_media)"
    ]
    assert "ingested 0 new, 0 already known, 1 failed" in result["out"]
    assert result["peak_mib"] < 400, result  # the CLI's imports are ~190 MiB; 4 GiB never read in


# ---- no shell -------------------------------------------------------------------------------


def test_no_code_of_ours_runs_a_shell() -> None:
    """Media paths reach subprocesses only as argv items: no shell=True, os.system, popen."""
    found = []
    for folder in ("annotator", "extractors", "textualize", "db", "app", "benchmarks", "scripts"):
        for path in (ROOT / folder).rglob("*.py"):
            for node in ast.walk(ast.parse(path.read_text())):
                if isinstance(node, ast.Call):
                    name = ast.unparse(node.func)
                    shell = any(
                        k.arg == "shell"
                        and not (isinstance(k.value, ast.Constant) and not k.value.value)
                        for k in node.keywords
                    )
                    if shell or name in ("os.system", "os.popen", "subprocess.getoutput"):
                        found.append(f"{path.relative_to(ROOT)}:{node.lineno}: {name}")
    assert found == []


# ---- test isolation -------------------------------------------------------------------------


def test_the_suite_sees_no_user_database_or_label_studio() -> None:
    leaked = [
        k
        for k in os.environ
        if (k.startswith("ANNOTATOR_") and k != "ANNOTATOR_CACHE")
        or k in ("LABEL_STUDIO_URL", "LABEL_STUDIO_API_KEY")
    ]
    assert leaked == []


def test_isolation_clears_user_variables_in_a_fresh_pytest(tmp_path: Path) -> None:
    probe = tmp_path / "test_probe.py"
    probe.write_text(
        "import os\n"
        "def test_env():\n"
        "    assert 'ANNOTATOR_DB_URL' not in os.environ\n"
        "    assert 'LABEL_STUDIO_API_KEY' not in os.environ\n"
        "    assert os.environ['ANNOTATOR_CACHE'] == '/kept'\n"
    )
    env = {
        "ANNOTATOR_DB_URL": "postgresql://me:pw@prod/db",
        "ANNOTATOR_HOME": "/home/me/real",
        "ANNOTATOR_CACHE": "/kept",
        "LABEL_STUDIO_API_KEY": "real-token",
    }
    out = _pytest(probe, env)
    assert out.returncode == 0, out.stdout + out.stderr
    assert "1 passed" in out.stdout


def _pytest(test_file: Path, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    """A tiny pytest run with this suite's conftest loaded as a plugin."""
    return subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-p", "tests.conftest",
         "--rootdir", str(test_file.parent), "-c", os.devnull, str(test_file)],
        capture_output=True, text=True, timeout=120, cwd=ROOT, env={**os.environ, **env},
    )  # fmt: skip


def test_under_ci_only_gpu_and_hub_weight_tests_may_skip(tmp_path: Path) -> None:
    probe = tmp_path / "test_probe.py"
    probe.write_text(
        "import pytest\n"
        "def test_browser():\n"
        "    pytest.skip('Debian chromium is not installed (apt-get install chromium)')\n"
        "def test_pg():\n"
        "    pytest.skip('PostgreSQL cannot be installed on this machine')\n"
        "def test_extra():\n"
        "    pytest.skip(\"this test needs the 'whisperx' extra (whisperx missing)\")\n"
        "def test_weights():\n"
        "    pytest.skip('py-feat weights not cached')\n"
        "def test_gpu():\n"
        "    pytest.skip('needs vllm (uv sync --extra gpu) and a CUDA GPU')\n"
        "def test_diarize():\n"
        "    pytest.skip('no pyannote diarization pipeline on disk')\n"
    )
    local = _pytest(probe, {"CI": ""})
    assert local.returncode == 0 and "6 skipped" in local.stdout, local.stdout
    ci = _pytest(probe, {"CI": "true"})
    assert ci.returncode == 1, ci.stdout
    assert "3 failed, 3 skipped" in ci.stdout
    assert "CI=true: only CUDA, vLLM and hub-weight tests may skip, not: " in ci.stdout
    assert ci.stdout.count("may skip, not") >= 3  # browser, PostgreSQL and the extra


# ---- Label Studio unreachable ---------------------------------------------------------------


def _ls_push_unreachable(tmp_path: Path) -> tuple[subprocess.CompletedProcess[str], int]:
    port = _closed_port()
    (tmp_path / "media").mkdir()
    out = _cli(
        "ls", "push", "--home", str(tmp_path / "h"), "--url", f"http://admin:pw-9f3@127.0.0.1:{port}",
        "--api-key", "key-0d1e", "--media-root", str(tmp_path / "media"),
    )  # fmt: skip
    return out, port


def test_an_unreachable_label_studio_is_one_line_naming_it(tmp_path: Path) -> None:
    out, port = _ls_push_unreachable(tmp_path)
    assert out.returncode == 1
    lines = out.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in out.stderr
    assert lines[0].startswith("✗ cannot reach Label Studio at http://admin:")
    assert f"@127.0.0.1:{port}" in lines[0] and "key-0d1e" not in out.stdout + out.stderr


def test_an_unreachable_label_studio_url_is_printed_masked(tmp_path: Path) -> None:
    out, port = _ls_push_unreachable(tmp_path)
    assert f"http://admin:***@127.0.0.1:{port}" in out.stderr
    assert "pw-9f3" not in out.stdout + out.stderr


def test_a_database_lost_mid_command_is_one_line_not_a_traceback() -> None:
    """``main()`` turns an OperationalError escaping a command (the server went away after
    the command had opened it) into one line with the code and exit status 1."""
    script = (
        "import sys\n"
        "from sqlalchemy.exc import OperationalError\n"
        "import annotator.cli as cli\n"
        "@cli.app.command('boom')\n"
        "def boom() -> None:\n"
        "    raise OperationalError('SELECT 1', {}, Exception("
        "'server closed the connection unexpectedly\\nmore'))\n"
        "sys.argv = ['annotator', 'boom']\n"
        "cli.main()\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=120, check=False
    )
    assert out.returncode == 1, out.stderr
    assert "Traceback" not in out.stderr
    lines = [line for line in out.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, out.stderr
    assert "lost the database during the command: server closed the connection" in lines[0]
    assert "(db_unavailable)" in lines[0]
