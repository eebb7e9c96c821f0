"""Schema migrations (db/migrations, Alembic) on SQLite and on the throwaway PostgreSQL server.

``get_engine`` migrates a database to the newest revision the first time a process opens it.
The test that matters most when you change ``db/models.py`` is
``test_migrated_schema_matches_the_models``: it fails until a migration makes the same change.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import threading
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy.engine import Connection, Engine
from sqlmodel import SQLModel, create_engine, select

import db
import db.engine as db_engine
from db import Annotator, Clip, ClipPath, ReviewStatus, get_engine, session_scope
from db.engine import (
    MIGRATIONS_DIR,
    SchemaError,
    alembic_config,
    current_revisions,
    upgrade_to_head,
)
from db.migrations import CREATE_ALL_SCHEMA, HEAD, INITIAL
from db.queries import ReviewInput, review_for, save_review

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(params=["sqlite", "postgresql"])
def url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """An empty database: a new SQLite file, or a new database on the test PostgreSQL server."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'annotator.db'}"
    return str(request.getfixturevalue("pg_url"))


@pytest.fixture
def raw_engine(url: str) -> Iterator[Engine]:
    """An engine on ``url`` that is not get_engine's: it neither migrates nor caches."""
    engine = create_engine(url, poolclass=sa.pool.NullPool)
    yield engine
    engine.dispose()


def _forget(url: str) -> None:
    """Make get_engine open ``url`` again, as a new process would."""
    engine = db_engine._ENGINES.pop(url, None)
    if engine is not None:
        engine.dispose()


def _diffs(engine: Engine) -> list[Any]:
    with engine.connect() as conn:
        return list(compare_metadata(MigrationContext.configure(conn), SQLModel.metadata))


def _versions(engine: Engine) -> list[str]:
    with engine.connect() as conn:
        return [r[0] for r in conn.exec_driver_sql("SELECT version_num FROM alembic_version")]


def _schema(conn: Connection) -> dict[str, Any]:
    """Everything reflection sees of a schema, as plain comparable values."""
    insp = sa.inspect(conn)
    out: dict[str, Any] = {}
    for table in sorted(insp.get_table_names()):
        if table == "alembic_version":
            continue
        out[table] = {
            "columns": [
                (c["name"], c["type"].compile(conn.dialect), c["nullable"])
                for c in insp.get_columns(table)
            ],
            "pk": insp.get_pk_constraint(table)["constrained_columns"],
            "fks": sorted(
                (tuple(f["constrained_columns"]), f["referred_table"], tuple(f["referred_columns"]))
                for f in insp.get_foreign_keys(table)
            ),
            "indexes": sorted(
                (i["name"], tuple(i["column_names"]), bool(i["unique"]))
                for i in insp.get_indexes(table)
            ),
            "unique": sorted(
                (u["name"], tuple(u["column_names"])) for u in insp.get_unique_constraints(table)
            ),
        }
    return out


def _create_all_the_old_way(engine: Engine) -> None:
    """What get_engine did before migrations existed: create_all with the models of then
    (today's tables less the columns later revisions added, frozen in CREATE_ALL_SCHEMA)."""
    old = sa.MetaData()
    for table in SQLModel.metadata.sorted_tables:
        if table.name not in CREATE_ALL_SCHEMA:  # a table a later revision created
            continue
        copy = table.to_metadata(old)
        kept = CREATE_ALL_SCHEMA[table.name]
        for column in list(copy.columns):
            if column.name not in kept:
                copy._columns.remove(column)
        # Keys and indexes later revisions added or changed (0005: a review per annotator).
        for constraint in list(copy.constraints):
            if isinstance(constraint, sa.UniqueConstraint) and not (
                {c.name for c in constraint.columns} <= kept
            ):
                copy.constraints.remove(constraint)
        for index in list(copy.indexes):
            columns = {c.name for c in index.columns}
            if not columns <= kept or index.name in _LATER_INDEXES:
                copy.indexes.remove(index)
            elif index.name in _ONCE_UNIQUE_INDEXES:
                index.unique = True
    old.create_all(engine)


# Indexes of today's models that revision INITIAL did not make, and ones it made unique.
_LATER_INDEXES = {"ix_review_annotator_id", "uq_review_one_adjudication", "ix_review_kind"}
_ONCE_UNIQUE_INDEXES = {"ix_review_clip_id"}


# ----------------------------------------------------------------------------- revisions


def test_head_constant_is_the_newest_revision() -> None:
    """``db.migrations.HEAD`` lets get_engine skip Alembic; it must name the real head."""
    script = ScriptDirectory.from_config(alembic_config())
    assert script.get_heads() == [HEAD], (
        "a migration was added (or removed) without updating db.migrations.HEAD, "
        "or the history has branched: alembic -c db/alembic.ini heads"
    )
    assert script.get_bases() == [INITIAL]


def test_migrations_ship_inside_the_db_package(tmp_path: Path) -> None:
    """Found through the package (what a wheel install has), not the working directory."""
    package_dir = Path(db.__file__).resolve().parent
    assert package_dir / "migrations" == MIGRATIONS_DIR
    probe = (
        "import db.engine as e\n"
        "from alembic.script import ScriptDirectory\n"
        "r = ScriptDirectory.from_config(e.alembic_config()).get_revision('0001')\n"
        "print(r.module.__file__)\n"
    )
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    out = subprocess.run(
        [sys.executable, "-c", probe],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert out.returncode == 0, out.stderr
    assert Path(out.stdout.strip()) == MIGRATIONS_DIR / "versions" / "0001_initial.py"


def test_compare_metadata_sees_a_model_change_without_a_migration(tmp_path: Path) -> None:
    """The check below has teeth: a column in the models and not in the database is reported."""
    engine = get_engine(f"sqlite:///{tmp_path / 'a.db'}")
    changed = sa.MetaData(naming_convention=SQLModel.metadata.naming_convention)
    for table in SQLModel.metadata.tables.values():
        table.to_metadata(changed)
    changed.tables["clip"].append_column(sa.Column("language", sa.String(), nullable=True))
    with engine.connect() as conn:
        diffs = compare_metadata(MigrationContext.configure(conn), changed)
    assert [(d[0], d[2], d[3].name) for d in diffs] == [("add_column", "clip", "language")]


# ----------------------------------------------------------------------------- a, b, d


def test_migrated_schema_matches_the_models(url: str) -> None:
    """get_engine on an empty database creates a schema with no difference from the models.

    This is the test that fails when someone changes ``db/models.py`` without adding a
    migration (or adds one that does something else). Write the migration with
    ``alembic -c db/alembic.ini revision --autogenerate`` (see db/migrations/__init__.py),
    review it, and bump ``db.migrations.HEAD``. The differences are in the assertion message.
    """
    engine = get_engine(url)
    assert _diffs(engine) == []
    assert _versions(engine) == [HEAD]  # d. alembic_version holds the head
    with engine.connect() as conn:
        assert set(_schema(conn)) == set(SQLModel.metadata.tables)


def test_migrations_make_exactly_what_create_all_made(url: str, raw_engine: Engine) -> None:
    """Columns, types, keys, indexes and unique constraints equal to create_all's, on this
    database: so a database an earlier version made with create_all really is revision 0001."""
    _create_all_the_old_way(raw_engine)
    with raw_engine.connect() as conn:
        old = _schema(conn)
    SQLModel.metadata.drop_all(raw_engine)

    cfg = alembic_config()
    with raw_engine.begin() as conn:
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, INITIAL)
    with raw_engine.connect() as conn:
        new = {t: s for t, s in _schema(conn).items() if t != "alembic_version"}
    assert new == old
    assert {t: {c[0] for c in s["columns"]} for t, s in new.items()} == CREATE_ALL_SCHEMA


def test_json_columns_are_json_on_postgres(pg_url: str) -> None:
    engine = get_engine(pg_url)
    with engine.connect() as conn:
        rows = conn.exec_driver_sql(
            "SELECT table_name, column_name, data_type FROM information_schema.columns "
            "WHERE table_schema = 'public' AND (column_name LIKE '%%_json' OR column_name = "
            "'labels') ORDER BY 1, 2"
        ).fetchall()
    assert {r[2] for r in rows} == {"json"}
    assert len(rows) == sum(
        1
        for t in SQLModel.metadata.tables.values()
        for c in t.columns
        if c.name.endswith("_json") or c.name == "labels"
    )


def test_downgrade_to_base_and_up_again(url: str, raw_engine: Engine) -> None:
    upgrade_to_head(raw_engine)
    cfg = alembic_config()
    with raw_engine.begin() as conn:
        cfg.attributes["connection"] = conn
        command.downgrade(cfg, "base")
    with raw_engine.connect() as conn:
        assert sa.inspect(conn).get_table_names() == ["alembic_version"]
        assert current_revisions(conn) == set()
    upgrade_to_head(raw_engine)
    assert _versions(raw_engine) == [HEAD]
    assert _diffs(raw_engine) == []


LATER_MIGRATION = """
\"\"\"A later migration, for the test: clip gains a column and changes another.\"\"\"

import sqlalchemy as sa
from alembic import op

revision = "9001"
down_revision = "{head}"
branch_labels = None
depends_on = None


def upgrade():
    # altering a column: ALTER TABLE on PostgreSQL, a copy of the whole table on SQLite
    with op.batch_alter_table("clip") as batch:
        batch.add_column(sa.Column("language", sa.String(), nullable=True))
        batch.alter_column("speaker_id", existing_type=sa.String(), type_=sa.String(200))
    op.execute("UPDATE clip SET language = 'und'")


def downgrade():
    with op.batch_alter_table("clip") as batch:
        batch.alter_column("speaker_id", existing_type=sa.String(200), type_=sa.String())
        batch.drop_column("language")
"""


def test_a_later_migration_upgrades_a_database_in_use(
    url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """What a team's months-old database goes through when a release adds a migration: the
    rows stay, foreign keys stay valid (SQLite rebuilds ``clip``, which four tables point at),
    and get_engine moves it to the new head on the next start."""
    get_engine(url)
    with session_scope(url) as session:
        clip = Clip(sha256="b" * 64, name="kept.mp4", source_uri="/m/kept.mp4")
        session.add(clip)
        session.flush()
        assert clip.id is not None
        session.add(ClipPath(clip_id=clip.id, path="/m/kept.mp4"))
        save_review(
            session,
            clip.id,
            "bob",
            None,
            ReviewInput(ReviewStatus.EDITED, "kept", ["calm"], 0.0, 0.1),
            None,
        )

    migrations = tmp_path / "migrations"
    shutil.copytree(MIGRATIONS_DIR, migrations, ignore=shutil.ignore_patterns("__pycache__"))
    (migrations / "versions" / "9001_clip_language.py").write_text(
        LATER_MIGRATION.replace("{head}", HEAD)
    )
    monkeypatch.setattr(db_engine, "MIGRATIONS_DIR", migrations)
    monkeypatch.setattr(db_engine, "HEAD", "9001")
    _forget(url)  # a new release starts

    engine = get_engine(url)
    assert _versions(engine) == ["9001"]
    with engine.connect() as conn:
        assert conn.exec_driver_sql("SELECT name, language FROM clip").all() == [
            ("kept.mp4", "und")
        ]
        speaker_id = next(
            c for c in sa.inspect(conn).get_columns("clip") if c["name"] == "speaker_id"
        )
        assert getattr(speaker_id["type"], "length", None) == 200
        assert conn.exec_driver_sql(
            "SELECT c.name FROM clippath p JOIN clip c ON c.id = p.clip_id"
        ).all() == [("kept.mp4",)]
        if conn.dialect.name == "sqlite":
            assert conn.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1
            assert conn.exec_driver_sql("PRAGMA foreign_key_check").all() == []
    with session_scope(url) as session:
        review = review_for(session, clip.id)
        assert review is not None and review.caption == "kept" and review.version == 1


# ----------------------------------------------------------------------------- c. old databases


def test_database_made_with_create_all_is_stamped_and_keeps_its_rows(
    url: str, raw_engine: Engine
) -> None:
    _create_all_the_old_way(raw_engine)
    with raw_engine.begin() as conn:  # SQL of then: today's model has columns it lacked
        conn.execute(
            sa.text(
                "INSERT INTO clip (sha256, name, source_uri, duration_s, has_audio, has_video,"
                " media_json, split, status, partial, missing_json, created_at) VALUES"
                " (:sha, 'old.mp4', '/old/old.mp4', 0, false, false, '{}', 'train', 'drafted',"
                " false, '{}', CURRENT_TIMESTAMP)"
            ),
            {"sha": "a" * 64},
        )

    engine = get_engine(url)

    assert _versions(engine) == [HEAD]
    assert _diffs(engine) == []
    with session_scope(url) as session:
        clip = session.exec(select(Clip)).one()
        assert clip.name == "old.mp4" and clip.id is not None
        save_review(
            session,
            clip.id,
            "alice",
            None,
            ReviewInput(ReviewStatus.ACCEPTED, "ok", ["happy"], 0.1, 0.2),
            None,
        )
    with session_scope(url) as session:
        review = review_for(session, clip.id)
        assert review is not None and review.labels == ["happy"]
        assert session.exec(select(Annotator.name)).all() == ["alice"]

    _forget(url)  # the next start: up to date, nothing to do
    assert _versions(get_engine(url)) == [HEAD]


def test_database_with_only_some_tables_is_refused(url: str, raw_engine: Engine) -> None:
    _create_all_the_old_way(raw_engine)
    SQLModel.metadata.tables["labelstudiolink"].drop(raw_engine)
    with raw_engine.begin() as conn:
        # a column added by hand is fine; one missing is not
        conn.exec_driver_sql("ALTER TABLE job ADD COLUMN extra INTEGER")
        conn.exec_driver_sql("ALTER TABLE annotator DROP COLUMN created_at")
    try:
        with pytest.raises(SchemaError) as err:
            get_engine(url)
        assert "lacks annotator.created_at, labelstudiolink." in str(err.value)
        assert url not in db_engine._ENGINES
        with raw_engine.connect() as conn:
            assert current_revisions(conn) is None  # nothing was written
    finally:
        SQLModel.metadata.drop_all(raw_engine)  # pg_url's teardown opens it with get_engine


def test_unrelated_tables_do_not_count_as_an_old_database(url: str, raw_engine: Engine) -> None:
    with raw_engine.begin() as conn:
        conn.exec_driver_sql("CREATE TABLE notes (id INTEGER PRIMARY KEY, body TEXT)")
        conn.exec_driver_sql("INSERT INTO notes VALUES (1, 'kept')")
    engine = get_engine(url)
    assert _versions(engine) == [HEAD]
    with engine.connect() as conn:
        assert conn.exec_driver_sql("SELECT body FROM notes").scalar_one() == "kept"


def test_database_from_a_newer_version_is_refused(url: str) -> None:
    engine = get_engine(url)
    with engine.begin() as conn:
        conn.exec_driver_sql("UPDATE alembic_version SET version_num = '9999'")
    _forget(url)
    try:
        with pytest.raises(SchemaError, match=r"revision '9999'.*Upgrade mer-annotator"):
            get_engine(url)
    finally:
        engine = create_engine(url, poolclass=sa.pool.NullPool)
        with engine.begin() as conn:
            conn.exec_driver_sql(f"UPDATE alembic_version SET version_num = '{HEAD}'")
        engine.dispose()


# ----------------------------------------------------------------------------- concurrency, speed


_RACER = """
import os, sys, time
import sqlalchemy as sa
from sqlmodel import create_engine
from db.engine import upgrade_to_head
engine = create_engine(sys.argv[1], poolclass=sa.pool.NullPool)
print("ready", flush=True)
deadline = time.monotonic() + 60
while not os.path.exists(sys.argv[2]) and time.monotonic() < deadline:
    time.sleep(0.002)
upgrade_to_head(engine)
"""


def test_processes_opening_a_new_database_at_once_migrate_it_once(url: str, tmp_path: Path) -> None:
    """The review app and a batch run starting together on an empty database: all succeed.

    Without the migration lock most of them fail (tables or alembic_version already exist)."""
    go = tmp_path / "go"
    racers = [
        subprocess.Popen(
            [sys.executable, "-c", _RACER, url, str(go)],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            cwd=ROOT,
        )
        for _ in range(4)
    ]
    try:
        for racer in racers:
            assert racer.stdout is not None
            assert racer.stdout.readline().strip() == "ready"
        go.touch()
        results = [racer.communicate(timeout=120) for racer in racers]
    finally:
        for racer in racers:
            if racer.poll() is None:
                racer.kill()
    assert [r.returncode for r in racers] == [0] * len(racers), [err for _, err in results]
    engine = get_engine(url)
    assert _versions(engine) == [HEAD]
    assert _diffs(engine) == []


def test_threads_migrating_different_databases_at_once(tmp_path: Path) -> None:
    """Alembic keeps its running migration in globals: one at a time per process."""
    urls = [f"sqlite:///{tmp_path / f'{i}.db'}" for i in range(3)]
    barrier = threading.Barrier(len(urls))
    errors: list[BaseException] = []

    def open_it(url: str) -> None:
        engine = create_engine(url, poolclass=sa.pool.NullPool)
        try:
            barrier.wait(timeout=30)
            upgrade_to_head(engine)
        except BaseException as exc:
            errors.append(exc)
        finally:
            engine.dispose()

    threads = [threading.Thread(target=open_it, args=(u,)) for u in urls]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    assert not any(t.is_alive() for t in threads), "a migration hung"
    assert not errors, errors
    for url in urls:
        assert _versions(get_engine(url)) == [HEAD]


def test_opening_an_up_to_date_database_does_not_load_alembic(tmp_path: Path) -> None:
    """The path every start after the first takes: one query, no Alembic import (~0.5 s)."""
    url = f"sqlite:///{tmp_path / 'a.db'}"
    get_engine(url)
    probe = (
        "import sys, time\n"
        "from db import get_engine\n"
        "t = time.perf_counter()\n"
        f"get_engine({url!r})\n"
        "print('alembic' in sys.modules, time.perf_counter() - t)\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, timeout=120, cwd=ROOT
    )
    assert out.returncode == 0, out.stderr
    loaded, seconds = out.stdout.split()
    assert loaded == "False"
    assert float(seconds) < 1.0


def test_alembic_command_line_config(tmp_path: Path) -> None:
    """db/alembic.ini, for people: works from any directory, on the same revisions."""
    url = f"sqlite:///{tmp_path / 'a.db'}"
    get_engine(url)
    ini = str(ROOT / "db" / "alembic.ini")
    out = subprocess.run(
        [sys.executable, "-m", "alembic", "-c", ini, "-x", f"url={url}", "current"],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=tmp_path,
    )
    assert out.returncode == 0, out.stderr
    assert f"{HEAD} (head)" in out.stdout


def test_get_engine_is_cached_per_url(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / f'{uuid.uuid4().hex}.db'}"
    assert get_engine(url) is get_engine(url)
