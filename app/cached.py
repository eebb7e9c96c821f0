"""What every render would otherwise recompute: label suggestions and model ids (aggregates
over every review and draft, slow on a large corpus) and a clip's timeline (Parquet reads).
Cached per process for a short while: a label first used a minute ago may not be suggested
yet, which costs nothing, while each click no longer scans the tables."""

from __future__ import annotations

from pathlib import Path

import streamlit as st
from sqlmodel import select

from app.cues import Timeline, load_timeline
from db import session_scope
from db.models import Draft
from db.review_queue import label_suggestions

N_SUGGESTIONS = 30


@st.cache_data(ttl=60, show_spinner=False)
def suggestions(url: str) -> list[str]:
    with session_scope(url) as s:
        return label_suggestions(s, "", N_SUGGESTIONS)


@st.cache_data(ttl=60, show_spinner=False)
def model_ids(url: str) -> list[str]:
    """Model ids that wrote drafts (a DISTINCT over the drafts: a handful of values)."""
    with session_scope(url) as s:
        return sorted(str(m) for m in s.exec(select(Draft.model_id).distinct()) if m)


@st.cache_data(ttl=300, max_entries=64, show_spinner=False)
def timeline(
    url: str, home: str, clip_id: int, duration_s: float, aus: tuple[str, ...]
) -> Timeline:
    with session_scope(url) as s:
        return load_timeline(s, Path(home), clip_id, duration_s, list(aus))
