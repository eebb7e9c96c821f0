"""`annotator review` hands its address to the app, which asks for tokens beyond loopback;
the database URL (and its password) goes to the app's environment, never to the console."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

import annotator.cli as cli
from app import auth


@pytest.mark.parametrize(("address", "tokens"), [("127.0.0.1", False), ("0.0.0.0", True)])
def test_review_passes_the_address_to_the_server_and_the_app(
    address: str, tokens: bool, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    started: dict[str, Any] = {}

    def fake_execve(path: str, argv: list[str], env: dict[str, str]) -> None:
        started.update(path=path, argv=argv, env=env)

    monkeypatch.setattr(cli.os, "execve", fake_execve)
    home = str(tmp_path / "home")
    result = CliRunner().invoke(
        cli.app, ["review", "--home", home, "--address", address, "--port", "8599"]
    )
    assert result.exit_code == 0, result.output
    argv = started["argv"]
    assert argv[argv.index("--server.address") + 1] == address
    assert argv[argv.index("--server.port") + 1] == "8599"
    env = started["env"]
    assert env["ANNOTATOR_REVIEW_ADDRESS"] == address
    assert auth.sign_in_required(env["ANNOTATOR_REVIEW_ADDRESS"]) is tokens
    assert env["ANNOTATOR_DB_URL"].startswith("sqlite:///")
    assert env["ANNOTATOR_DB_URL"] not in result.output
    assert f"http://{address}:8599" in result.output
