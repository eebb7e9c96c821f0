"""Number and text formatting shared by the textualize modules (pure helpers)."""

from __future__ import annotations

import math
import unicodedata
from collections.abc import Iterable
from typing import Any


def num(value: Any) -> float | None:
    """``value`` as a finite float, or ``None`` (``None``, NaN, inf, non-numbers)."""
    if value is None or isinstance(value, bool):
        return None
    try:
        out = float(value)
    except (TypeError, ValueError):
        return None
    return out if math.isfinite(out) else None


def r1(value: float) -> float:
    """Round to 1 decimal, the precision everything is shown (and classified) at."""
    out = round(value, 1)
    return 0.0 if out == 0 else out  # no "-0.0"


def f1(value: float) -> str:
    """``1.25 -> '1.2'`` (1 decimal, never ``-0.0``)."""
    return f"{r1(value):.1f}"


def signed(value: float, digits: int = 1) -> str:
    """``1.26 -> '+1.3'``, ``-0.4 -> '-0.4'``, ``0 -> '+0.0'``."""
    out = round(value, digits)
    if out == 0:
        out = 0.0
    return f"{out:+.{digits}f}"


def span(start_s: float, end_s: float) -> str:
    """``'1.2-2.8 s'``."""
    return f"{f1(start_s)}-{f1(end_s)} s"


def _is_cjk(ch: str) -> bool:
    if not ch:
        return False
    name = unicodedata.name(ch, "")
    return name.startswith(("CJK", "HIRAGANA", "KATAKANA", "HANGUL", "THAI", "FULLWIDTH"))


_NO_SPACE_BEFORE = set(",.;:!?%)]}…、。，！？；：）」』")
_NO_SPACE_AFTER = set("([{¿¡「『（")


def join_words(texts: Iterable[str]) -> str:
    """Join recogniser word tokens into running text.

    Tokens are stripped; a space goes between two tokens unless both sides of the
    joint are CJK/Thai characters (no spaces in those scripts), the next token starts
    with closing punctuation, or the previous ends with opening punctuation.
    """
    out = ""
    for raw in texts:
        tok = raw.strip()
        if not tok:
            continue
        if not out:
            out = tok
            continue
        a, b = out[-1], tok[0]
        if (_is_cjk(a) and _is_cjk(b)) or b in _NO_SPACE_BEFORE or a in _NO_SPACE_AFTER:
            out += tok
        else:
            out += " " + tok
    return out
