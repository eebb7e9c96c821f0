"""Settings: where data lives and which backends run, read when asked (never at import time)."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from annotator.drafting.models import DEFAULT_DRAFT_MODEL
from annotator.drafting.prompt import PROMPT_VERSION
from db.engine import sqlite_url

ENV_HOME = "ANNOTATOR_HOME"
ENV_DB_URL = "ANNOTATOR_DB_URL"
ENV_CONTAIN = "ANNOTATOR_CONTAIN_CRASHES"


def default_home() -> Path:
    from platformdirs import user_data_dir

    return Path(user_data_dir("mer-annotator", appauthor=False))


@dataclass
class Settings:
    home: Path
    db_url: str
    face_backend: str = "mediapipe"
    voice_backend: str = "opensmile"
    speech_backend: str = "faster-whisper"
    drafting_backend: str = "llamacpp"  # with DEFAULT_DRAFT_MODEL: benchmarks/README.md
    hints: bool = True  # EMFACS, prosody-arousal and sentiment hints in the cue text
    emotion_prompt: bool = False  # EmotionPrompt-style suffix on the draft prompt
    prompt_version: str = PROMPT_VERSION  # an older one keeps drafts comparable
    face_options: dict[str, Any] = field(default_factory=dict)
    voice_options: dict[str, Any] = field(default_factory=dict)
    speech_options: dict[str, Any] = field(default_factory=dict)
    drafting_options: dict[str, Any] = field(default_factory=dict)
    samples: int = 1  # drafts per clip; >1 samples with temperature
    speaker_min_clips: int = 3  # other clips with speech before a speaker baseline is used
    # Native model runtimes (llama.cpp, transformers; the extractors in `annotator run`) run
    # in child processes, so a crash fails one clip (annotator/engines/contained.py).
    # ANNOTATOR_CONTAIN_CRASHES=0 runs them in-process (a debugger, a profile).
    contain_crashes: bool = True

    @classmethod
    def load(
        cls, home: str | Path | None = None, db_url: str | None = None, **overrides: Any
    ) -> Settings:
        """Command-line values first, then the environment (ANNOTATOR_HOME, ANNOTATOR_DB_URL,
        ANNOTATOR_<KIND>_BACKEND, ANNOTATOR_CONTAIN_CRASHES), then defaults."""
        home_path = Path(home or os.environ.get(ENV_HOME) or default_home()).expanduser()
        url = db_url or os.environ.get(ENV_DB_URL) or sqlite_url(home_path / "annotator.db")
        settings = cls(home=home_path, db_url=url)
        for kind in ("face", "voice", "speech", "drafting"):  # lhotse-style override
            env_name = os.environ.get(f"ANNOTATOR_{kind.upper()}_BACKEND")
            if env_name:
                setattr(settings, f"{kind}_backend", env_name)
        if os.environ.get(ENV_CONTAIN, "").strip().lower() in ("0", "false", "no"):
            settings.contain_crashes = False
        for key, value in overrides.items():
            if value is not None:
                setattr(settings, key, value)
        settings.drafting_options.setdefault("model", DEFAULT_DRAFT_MODEL)
        return settings

    def ensure_home(self) -> None:
        self.home.mkdir(parents=True, exist_ok=True)
        (self.home / "cues").mkdir(exist_ok=True)

    @property
    def cues_dir(self) -> Path:
        return self.home / "cues"
