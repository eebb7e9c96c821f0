"""Storage defaults: SQLite in WAL mode under ANNOTATOR_HOME, any URL via ANNOTATOR_DB_URL."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import text

from annotator.config import Settings
from db import get_engine


def test_settings_read_the_environment_when_loaded(tmp_path: Path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.setenv("ANNOTATOR_HOME", str(tmp_path / "from-env"))
    monkeypatch.delenv("ANNOTATOR_DB_URL", raising=False)
    settings = Settings.load()
    assert settings.home == tmp_path / "from-env"
    assert settings.db_url == f"sqlite:///{tmp_path / 'from-env' / 'annotator.db'}"
    monkeypatch.setenv("ANNOTATOR_DB_URL", "sqlite:///elsewhere.db")
    assert Settings.load().db_url == "sqlite:///elsewhere.db"
    assert Settings.load(db_url="sqlite:///flag.db").db_url == "sqlite:///flag.db"  # flag wins


def test_sqlite_runs_in_wal_mode_with_foreign_keys(tmp_path: Path) -> None:
    engine = get_engine(f"sqlite:///{tmp_path / 'a.db'}")
    with engine.connect() as conn:
        assert conn.execute(text("PRAGMA journal_mode")).scalar() == "wal"
        assert conn.execute(text("PRAGMA foreign_keys")).scalar() == 1
