"""Sign-in tokens as stored in ``annotator.token_hash``: made, hashed and checked here.

The hash format is the column's format, so it lives beside the tables (``db``): the CLI
(`annotator team`) writes hashes and the review app checks them, and neither imports the
other. Standard library only.
"""

from __future__ import annotations

import base64
import functools
import hashlib
import hmac
import secrets

ALGORITHM = "pbkdf2_sha256"
ITERATIONS = 600_000  # OWASP's 2023 figure for PBKDF2-HMAC-SHA256
SALT_BYTES = 16


def new_token() -> str:
    """A fresh random token (256 bits, URL-safe): what a person types or pastes to sign in."""
    return secrets.token_urlsafe(32)


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).decode("ascii").rstrip("=")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def hash_token(token: str, iterations: int = ITERATIONS) -> str:
    """``pbkdf2_sha256$iterations$salt$digest``: salted, slow, and self-describing, so the
    iteration count can grow later without breaking stored hashes."""
    salt = secrets.token_bytes(SALT_BYTES)
    digest = hashlib.pbkdf2_hmac("sha256", token.encode("utf-8"), salt, iterations)
    return f"{ALGORITHM}${iterations}${_b64(salt)}${_b64(digest)}"


def verify_token(token: str, hashed: str | None) -> bool:
    """True when ``token`` is the one ``hashed`` was made from; False for anything malformed.
    The digests are compared in constant time."""
    if not token or not hashed:
        return False
    try:
        algorithm, iterations, salt, digest = hashed.split("$")
        if algorithm != ALGORITHM or not 0 < int(iterations) <= 10_000_000:
            return False
        expected = _unb64(digest)
        actual = hashlib.pbkdf2_hmac("sha256", token.encode("utf-8"), _unb64(salt), int(iterations))
    except (ValueError, TypeError):
        return False
    return hmac.compare_digest(actual, expected)


@functools.cache
def _dummy_hash() -> str:
    """A hash no token matches, checked when the name is unknown so that a wrong name and a
    wrong token take the same time (no probing for names); made once, on first need."""
    return hash_token(secrets.token_urlsafe(16))
