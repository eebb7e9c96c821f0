"""Safety rules shared by the commands: secrets masked before printing, media paths kept inside
the folders a user named, non-media refused before it is hashed.

Why here and not in each command: one rule, one place to test it. ``db`` cannot import this
module (db imports nothing of ours), so ``db.engine`` masks with SQLAlchemy's own
``render_as_string(hide_password=True)``, which writes the same ``***``.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from extractors.errors import AnnotatorError, MediaError

MASK = "***"
#: Query parameters whose values are secrets (libpq's ``password=``, API tokens).
SECRET_KEYS = frozenset({"password", "passwd", "pwd", "token", "api_key", "apikey", "secret"})
DB_URL_FILE_ENV = "ANNOTATOR_DB_URL_FILE"


def mask_url(url: str) -> str:
    """``url`` with its password (and secret query values) replaced by ``***``, fit to print.

    >>> mask_url("postgresql+psycopg://user:secret@db:5432/x?sslmode=require")
    'postgresql+psycopg://user:***@db:5432/x?sslmode=require'
    >>> mask_url("sqlite:////data/annotator.db")
    'sqlite:////data/annotator.db'
    """
    try:
        parts = urlsplit(url)
    except ValueError:  # e.g. an unbalanced "[" in the host: mask by pattern instead
        return re.sub(r"(//[^:/@]*:)[^@/]*@", rf"\1{MASK}@", url)
    netloc = parts.netloc
    if "@" in netloc:
        userinfo, _, hostport = netloc.rpartition("@")
        if ":" in userinfo:
            user = userinfo.split(":", 1)[0]
            netloc = f"{user}:{MASK}@{hostport}"
    query = parts.query
    if query:
        pairs = parse_qsl(query, keep_blank_values=True)
        if any(k.lower() in SECRET_KEYS for k, _ in pairs):
            masked = [(k, MASK if k.lower() in SECRET_KEYS else v) for k, v in pairs]
            query = urlencode(masked, safe="*/:")
    if netloc == parts.netloc and query == parts.query:
        return url
    return urlunsplit((parts.scheme, netloc, parts.path, query, parts.fragment))


def db_url_from_file(env: dict[str, str] | None = None) -> str | None:
    """The database URL kept in the file ``ANNOTATOR_DB_URL_FILE`` names (Docker secrets, a
    0600 file), so the password need not sit in the environment or on a command line."""
    env = dict(os.environ) if env is None else env
    name = env.get(DB_URL_FILE_ENV)
    if not name:
        return None
    try:
        text = Path(name).read_text().strip()
    except OSError as exc:
        reason = exc.strerror or type(exc).__name__
        raise SecretFileError(f"{DB_URL_FILE_ENV}={name}: cannot read it ({reason})") from None
    if not text:
        raise SecretFileError(f"{DB_URL_FILE_ENV}={name}: the file is empty")
    return text


class SecretFileError(AnnotatorError, OSError):
    """A file that should hold a secret (the database URL) is missing or empty."""

    code = "secret_file"


class PathNotAllowedError(AnnotatorError, PermissionError):
    """A media path resolves (through ``..`` or a symlink) outside every allowed folder."""

    code = "path_not_allowed"


@dataclass(frozen=True)
class AllowedRoots:
    """Folders media may come from, resolved: what the user named, plus ``--allow-root``.

    A folder given to ingest is a root; a file given by name allows its own folder; files
    listed in a speakers CSV are held to the CSV's folder. A symlink or a ``..`` that leads
    anywhere else is refused, one line per file, and the other files go on.
    """

    roots: tuple[Path, ...]

    @classmethod
    def of(cls, folders: Iterable[str | Path]) -> AllowedRoots:
        return cls(tuple(dict.fromkeys(Path(os.path.realpath(f)) for f in folders)))

    @classmethod
    def for_inputs(
        cls, paths: Iterable[str | Path], extra: Iterable[str | Path] = ()
    ) -> AllowedRoots:
        """Each folder in ``paths`` and each file's own folder, plus ``extra``."""
        folders: list[Path] = []
        for raw in paths:
            path = Path(raw)
            folders.append(path if path.is_dir() else path.absolute().parent)
        return cls.of([*folders, *extra])

    def check(self, path: str | Path) -> Path:
        """The real path of ``path`` when it lies under a root; else ``PathNotAllowedError``."""
        real = Path(os.path.realpath(path))
        if any(real == root or real.is_relative_to(root) for root in self.roots):
            return real
        shown = ", ".join(str(r) for r in self.roots) or "none"
        where = "is" if real == Path(path).absolute() else f"leads to {real}, which is"
        raise PathNotAllowedError(
            f"{path}: {where} outside the allowed folders ({shown}); refused "
            "(ingest --allow-root FOLDER to allow it)"
        )


def refuse_non_media(path: str | Path) -> None:
    """Open the container before anything reads the whole file: a 4 GB file that is not
    media fails in milliseconds instead of after its full sha256. Streams are not checked
    here (``probe`` does that)."""
    import av

    try:
        with av.open(str(path)):
            return
    except av.error.FFmpegError as exc:
        reason = (getattr(exc, "strerror", None) or str(exc) or type(exc).__name__).splitlines()
        raise MediaError(f"{path}: not readable as media ({reason[0].strip()})") from None
