"""Engine and sessions: SQLite (WAL) in the data dir by default, any SQLAlchemy URL otherwise.

The schema is migrated, not created: ``get_engine`` brings the database to the newest Alembic
revision (``db/migrations``) the first time a process opens it. See ``upgrade_to_head``.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

from sqlalchemy import event, inspect
from sqlalchemy import exc as sa_exc
from sqlalchemy.engine import Connection, Engine, make_url
from sqlmodel import Session, create_engine

from db import models  # noqa: F401  (registers the tables on SQLModel.metadata)
from db.migrations import CREATE_ALL_SCHEMA, HEAD, INITIAL
from extractors.errors import AnnotatorError

if TYPE_CHECKING:
    from alembic.config import Config

MIGRATIONS_DIR = Path(__file__).resolve().parent / "migrations"
VERSION_TABLE = "alembic_version"
# pg_advisory_xact_lock key that serialises migrations of one database (a constant: any bigint).
PG_MIGRATION_LOCK = 0x6D65722D616E6E  # "mer-ann"

# libpq-style query parameters that carry secrets (masked like the password).
_SECRET_QUERY_KEYS = frozenset({"password", "passwd", "pwd", "token", "api_key", "secret"})

_ENGINES: dict[str, Engine] = {}
_ENGINES_LOCK = threading.Lock()
# Alembic keeps the running migration in module globals (alembic.context, alembic.op): one
# migration at a time per process. Taken before the database's lock, always in that order.
_ALEMBIC_LOCK = threading.Lock()


class SchemaError(AnnotatorError, RuntimeError):
    """The database cannot be brought to this schema; the message says why and what to do."""

    code = "schema_mismatch"


class DatabaseUnavailableError(AnnotatorError, ConnectionError):
    """The database cannot be opened (server down, wrong host, refused login, no such file).
    The message names it with the password masked; the driver's own first line says why."""

    code = "db_unavailable"


class DatabaseUrlError(AnnotatorError, ValueError):
    """The database URL is not one SQLAlchemy can use (bad syntax, no such dialect/driver)."""

    code = "bad_db_url"


def sqlite_url(path: Path) -> str:
    return f"sqlite:///{path}"


def get_engine(url: str) -> Engine:
    """One engine per URL per process, its database migrated to the newest schema revision.

    SQLite gets WAL, a busy timeout and foreign keys. A database that cannot be reached raises
    ``DatabaseUnavailableError``, an unusable URL ``DatabaseUrlError``: one line each, naming
    the database with its password masked, never the driver's traceback.
    """
    engine = _ENGINES.get(url)
    if engine is not None:
        return engine
    with _ENGINES_LOCK:  # threads (Streamlit) opening the same URL at once migrate it once
        engine = _ENGINES.get(url)
        if engine is not None:
            return engine
        try:
            engine = _create(url)
        except (sa_exc.ArgumentError, ImportError, ValueError) as exc:
            raise DatabaseUrlError(
                f"{masked_url(url)}: not a usable database URL ({_first_line(exc)})"
            ) from None
        try:
            upgrade_to_head(engine)
        except (sa_exc.OperationalError, sa_exc.InterfaceError) as exc:
            engine.dispose()
            raise DatabaseUnavailableError(
                f"cannot open the database {masked_url(url)}: {_driver_reason(exc, url)}"
            ) from None
        except BaseException:
            engine.dispose()
            raise
        _ENGINES[url] = engine
        return engine


def _create(url: str) -> Engine:
    if url.startswith("sqlite"):
        engine = create_engine(url, connect_args={"check_same_thread": False, "timeout": 30})

        @event.listens_for(engine, "connect")
        def _sqlite_pragmas(dbapi_conn, _record):  # type: ignore[no-untyped-def]
            cur = dbapi_conn.cursor()
            cur.execute("PRAGMA journal_mode=WAL")
            cur.execute("PRAGMA synchronous=NORMAL")
            cur.execute("PRAGMA foreign_keys=ON")
            cur.close()

        return engine
    # connect_timeout: a host that drops packets fails in 10 s, not after the OS's minutes.
    parsed = make_url(url)
    args: dict[str, object] = {}
    driver = parsed.get_driver_name()
    if driver in ("psycopg", "psycopg2") and "connect_timeout" not in parsed.query:
        args["connect_timeout"] = 10
    return create_engine(parsed, pool_pre_ping=True, connect_args=args)


def masked_url(url: str) -> str:
    """``url`` fit to print: the password replaced by ``***`` (annotator.safety.mask_url
    does the same for any URL; db cannot import it)."""
    try:
        parsed = make_url(url)
        secret = {k: "***" for k in parsed.query if k.lower() in _SECRET_QUERY_KEYS}
        shown = parsed.update_query_dict(secret).render_as_string(hide_password=True)
        return shown.replace("%2A%2A%2A", "***")
    except Exception:  # not parseable: show the scheme only
        return url.split("://", 1)[0] + "://..."


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0].strip() if text else type(exc).__name__


def _driver_reason(exc: sa_exc.DBAPIError, url: str) -> str:
    """The driver's first line, without SQLAlchemy's wrapper and never with the password."""
    reason = _first_line(exc.orig) if exc.orig is not None else _first_line(exc)
    try:
        password = make_url(url).password
    except Exception:
        password = None
    if password:
        reason = reason.replace(str(password), "***")
    return reason


def upgrade_to_head(engine: Engine) -> None:
    """``alembic upgrade head`` on ``engine``'s database, or nothing when it is already there.

    * Up to date (``alembic_version`` holds ``HEAD``): one small query, and Alembic is not even
      imported. This is the path every start after the first takes.
    * Empty database: every migration runs, creating the schema.
    * A database made by a version of this tool from before migrations (it called
      ``SQLModel.metadata.create_all``, so there is no ``alembic_version`` table): when every
      table and column that revision ``INITIAL`` creates is there, it is stamped at ``INITIAL``
      (recorded as migrated, nothing changed) and the later migrations run. If only some are
      there, ``SchemaError`` names what is missing rather than guessing.
    * At a revision this code does not know (migrated by a newer version): ``SchemaError``.

    Migrating runs in one transaction holding a lock (``migration_lock``), so processes starting
    at once on a new database (the review app and a batch run) migrate it once; the others wait,
    then find it done. On PostgreSQL a failed migration leaves the database as it was.
    """
    with engine.connect() as conn:
        if current_revisions(conn) == {HEAD}:
            return
    from alembic import command

    cfg = alembic_config()
    with _ALEMBIC_LOCK, engine.connect() as conn, migration_lock(conn):
        current = current_revisions(conn)  # again, under the lock: another process may have won
        if current == {HEAD}:
            return
        if current is None:
            ours, missing = _compare_with_create_all_schema(conn)
            if ours and not missing:
                cfg.attributes["connection"] = conn
                command.stamp(cfg, INITIAL)
            elif ours:
                raise SchemaError(
                    f"{_safe_url(engine)} has mer-annotator tables but no {VERSION_TABLE} "
                    "table, and is not the schema that versions before migrations made: it "
                    f"lacks {', '.join(sorted(missing))}. Bring it there by hand and stamp it "
                    f"(alembic -c db/alembic.ini stamp {INITIAL}), or use an empty database."
                )
        else:
            _check_known(engine, current, cfg)
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, "head")


def alembic_config() -> Config:
    """Alembic's configuration, built in code: no alembic.ini is read at run time."""
    from alembic.config import Config

    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS_DIR))
    cfg.set_main_option("path_separator", "os")
    return cfg


def current_revisions(conn: Connection) -> set[str] | None:
    """The revisions in ``alembic_version``, or None when the table does not exist."""
    if not inspect(conn).has_table(VERSION_TABLE):
        return None
    return {row[0] for row in conn.exec_driver_sql(f"SELECT version_num FROM {VERSION_TABLE}")}


@contextmanager
def migration_lock(conn: Connection) -> Iterator[Connection]:
    """One transaction, held alone, around a migration; committed when the block succeeds.

    PostgreSQL: a transaction-scoped advisory lock (DDL is transactional there). SQLite:
    ``BEGIN IMMEDIATE`` takes the write lock up front (the driver would otherwise run DDL
    outside any transaction), with foreign keys off while tables are rebuilt in batch mode, as
    SQLite's ALTER TABLE procedure asks, and ``PRAGMA foreign_key_check`` before committing.
    """
    if conn.in_transaction():
        conn.commit()
    sqlite = conn.dialect.name == "sqlite"
    if sqlite:
        foreign_keys = conn.exec_driver_sql("PRAGMA foreign_keys").scalar()
        conn.exec_driver_sql("PRAGMA foreign_keys=OFF")  # a no-op inside a transaction
        conn.commit()
        conn.exec_driver_sql("BEGIN IMMEDIATE")
    else:
        conn.begin()
    try:
        if conn.dialect.name == "postgresql":
            conn.exec_driver_sql(f"SELECT pg_advisory_xact_lock({PG_MIGRATION_LOCK})")
        yield conn
        if sqlite:
            broken = conn.exec_driver_sql("PRAGMA foreign_key_check").fetchall()
            if broken:
                raise SchemaError(f"the migration broke foreign keys (table, rowid, ...): {broken}")
        conn.commit()
    except BaseException:
        conn.rollback()
        raise
    finally:
        if sqlite:
            conn.exec_driver_sql(f"PRAGMA foreign_keys={'ON' if foreign_keys else 'OFF'}")
            conn.commit()


def _compare_with_create_all_schema(conn: Connection) -> tuple[set[str], set[str]]:
    """Tables of revision INITIAL in the database, and what of it is not: ``table`` or
    ``table.column``. Other tables (someone else's, in a shared database) are ignored."""
    insp = inspect(conn)
    ours = set(insp.get_table_names()) & set(CREATE_ALL_SCHEMA)
    missing: set[str] = set(CREATE_ALL_SCHEMA) - ours if ours else set()
    for table in ours:
        have = {c["name"] for c in insp.get_columns(table)}
        missing.update(f"{table}.{c}" for c in CREATE_ALL_SCHEMA[table] - have)
    return ours, missing


def _check_known(engine: Engine, current: set[str], cfg: Config) -> None:
    from alembic.script import ScriptDirectory
    from alembic.util import CommandError

    script = ScriptDirectory.from_config(cfg)
    for rev in current:
        try:
            script.get_revision(rev)
        except CommandError:
            raise SchemaError(
                f"{_safe_url(engine)} is at schema revision {rev!r}, which this version of "
                f"mer-annotator does not know (its newest is {HEAD!r}): a newer version migrated "
                "it. Upgrade mer-annotator to use this database."
            ) from None


def _safe_url(engine: Engine) -> str:
    return engine.url.render_as_string(hide_password=True)


@contextmanager
def session_scope(url: str) -> Iterator[Session]:
    """A session that commits on success and rolls back on error."""
    session = Session(get_engine(url), expire_on_commit=False)
    try:
        yield session
        session.commit()
    except Exception:
        session.rollback()
        raise
    finally:
        session.close()
