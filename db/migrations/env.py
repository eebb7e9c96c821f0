"""Alembic environment: the target schema is ``SQLModel.metadata``, as ``db.models`` defines it.

Two ways in:

* Programmatic, what the tool does (``db.engine.upgrade_to_head``, run by ``get_engine``): the
  caller puts an open ``Connection`` in ``config.attributes["connection"]``, already inside the
  transaction it will commit and holding the migration lock. It is used as it is.
* The alembic command line (``alembic -c db/alembic.ini ...``): the database is ``-x url=...``,
  else ``sqlalchemy.url`` from the config, else ``ANNOTATOR_DB_URL``. ``--sql`` (offline) works.

Autogenerate renders batch operations (``render_as_batch``) whatever database it compares
against: SQLite can only alter a table by copying it, and batch operations do that there while
they are plain ALTER TABLE statements on PostgreSQL, so one migration serves both.
"""

from __future__ import annotations

import logging.config
import os
from typing import Any

from alembic import context
from sqlalchemy import create_engine, pool
from sqlalchemy.engine import Connection
from sqlmodel import SQLModel

import db.models  # noqa: F401  (registers the tables on SQLModel.metadata)

config = context.config
target_metadata = SQLModel.metadata

ENV_DB_URL = "ANNOTATOR_DB_URL"  # same variable as annotator.config (db imports nothing of ours)


def _configure(**kwargs: Any) -> None:
    context.configure(
        target_metadata=target_metadata, render_as_batch=True, compare_type=True, **kwargs
    )


def _url() -> str:
    url = (
        context.get_x_argument(as_dictionary=True).get("url")
        or config.get_main_option("sqlalchemy.url")
        or os.environ.get(ENV_DB_URL)
    )
    if not url:
        raise SystemExit(
            "which database? pass -x url=postgresql+psycopg://... (or sqlite:///path) "
            f"or set {ENV_DB_URL}"
        )
    return url


def _run(connection: Connection) -> None:
    _configure(connection=connection)
    with context.begin_transaction():
        context.run_migrations()


def run_migrations_offline() -> None:
    """``--sql``: write the SQL for a DBA to run instead of running it."""
    _configure(url=_url(), literal_binds=True, dialect_opts={"paramstyle": "named"})
    with context.begin_transaction():
        context.run_migrations()


def run_migrations_online() -> None:
    given = config.attributes.get("connection")
    if given is not None:
        _run(given)
        return
    # The command line: its own short-lived engine (not db.engine.get_engine, which migrates).
    # The migration lock is taken as upgrade_to_head takes it, so a CLI upgrade and a starting
    # app do not both create the tables.
    from db.engine import migration_lock

    engine = create_engine(_url(), poolclass=pool.NullPool)
    try:
        with engine.connect() as connection, migration_lock(connection):
            _configure(connection=connection)
            context.run_migrations()
    finally:
        engine.dispose()


if config.config_file_name is not None and config.attributes.get("connection") is None:
    logging.config.fileConfig(config.config_file_name, disable_existing_loggers=False)

if context.is_offline_mode():
    run_migrations_offline()
else:
    run_migrations_online()
