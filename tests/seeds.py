"""Databases seeded by hand for the review-queue and team tests: every kind of drafted clip
the queue's rules tell apart, and reviews saved as a person would."""

from __future__ import annotations

import uuid

from sqlmodel import Session

from db import Clip, CueTextRecord, Draft, DraftStatus, ReviewStatus, session_scope
from db.queries import ReviewInput, save_review
from db.review_queue import refresh_queue_keys

N = 30  # drafted clips; two more clips have no draft and never show
LABELS = [["happy"], ["happy", "excited"], ["sad"], ["calm", "happy"], ["hopeful"]]


def queue_draft(clip_id: int, cue: int, config: str, index: int, **kw: object) -> Draft:
    values: dict[str, object] = dict(
        clip_id=clip_id,
        cue_text_id=cue,
        config_hash=config,
        sample_index=index,
        backend="scripted",
        model_id="m-a",
        prompt_version="v2",
        caption="A calm voice.",
        labels=["calm"],
        valence=0.1,
        arousal=0.3,
        confidence=0.5,
    )
    values.update(kw)
    return Draft(**values)  # type: ignore[arg-type]


def seed(url: str, n: int = N) -> list[int]:
    """``n`` drafted clips of every kind the rule distinguishes, and two undrafted ones.

    i % 5 == 0: one invalid draft; == 1: an older run (chosen, confidence 0.99) and a newer
    3-sample run whose sample 2 is chosen; == 2: a newer run whose samples are all invalid
    but the first; others: one valid draft. Confidences are distinct, some None.
    """
    ids: list[int] = []
    with session_scope(url) as s:
        for i in range(n + 2):
            clip = Clip(sha256=uuid.uuid4().hex * 2, name=f"clip{i:03d}.mp4", source_uri="/x")
            clip.error_code = "decode_timeout" if i == 7 else None
            s.add(clip)
            s.flush()
            assert clip.id is not None
            if i >= n:
                continue
            ids.append(clip.id)
            cue = CueTextRecord(
                clip_id=clip.id,
                config_hash="c",
                textualizer_version="1",
                prompt_text="p",
                readable_text="r",
            )
            s.add(cue)
            s.flush()
            assert cue.id is not None
            conf = ((i * 7) % 31) / 31.0
            model = "m-a" if i % 2 == 0 else "m-b"
            labels = LABELS[i % len(LABELS)]
            if i % 5 == 0:
                s.add(
                    queue_draft(
                        clip.id,
                        cue.id,
                        "new",
                        0,
                        status=DraftStatus.INVALID,
                        caption=None,
                        labels=[],
                        confidence=None,
                        model_id=model,
                    )
                )
            elif i % 5 == 1:
                s.add(queue_draft(clip.id, cue.id, "old", 0, chosen=True, confidence=0.99))
                s.flush()
                for k in range(3):
                    s.add(
                        queue_draft(
                            clip.id,
                            cue.id,
                            "new",
                            k,
                            chosen=k == 2,
                            model_id=model,
                            confidence=conf if k == 2 else 0.01,
                            labels=labels,
                        )
                    )
            elif i % 5 == 2:
                s.add(queue_draft(clip.id, cue.id, "old", 0, chosen=True))
                s.flush()
                s.add(
                    queue_draft(
                        clip.id,
                        cue.id,
                        "new",
                        0,
                        model_id=model,
                        labels=labels,
                        confidence=None if i % 4 == 2 else conf,
                    )
                )
                s.add(
                    queue_draft(
                        clip.id,
                        cue.id,
                        "new",
                        1,
                        status=DraftStatus.INVALID,
                        chosen=True,
                        model_id=model,
                    )
                )
            else:
                s.add(
                    queue_draft(
                        clip.id,
                        cue.id,
                        "new",
                        0,
                        chosen=True,
                        model_id=model,
                        confidence=conf,
                        labels=labels,
                    )
                )
            s.flush()
        # Rows written by hand, not by the drafting stage: store the queue key the stage keeps.
        refresh_queue_keys(s)
    return ids


def review_as(s: Session, clip_id: int, who: str, caption: str = "ok", **kw: object) -> None:
    data = ReviewInput(
        status=kw.get("status", ReviewStatus.EDITED),  # type: ignore[arg-type]
        caption=caption,
        labels=kw.get("labels", ["happy"]),  # type: ignore[arg-type]
        valence=0.2,
        arousal=0.4,
    )
    save_review(s, clip_id, who, None, data, None)
