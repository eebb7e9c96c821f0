"""Which llama.cpp build should `uv sync` produce? Tokens per second of builds side by side.

Each build is a folder holding a ``llama_cpp`` package (an installed one, or a wheel
unpacked); each measurement is a fresh child with that folder first on ``PYTHONPATH``. The
child loads the default draft model (``bundled:qwen2.5-coder-1.5b``, Q4_K_M) as the
llamacpp drafter does, and drafts the demo clip's real prompt (system prompt, worked
example, cue text) with the draft schema as a grammar, greedy, ``--repeat`` times with the
KV cache cleared between runs. It reports prompt tokens/s (a 1-token completion) and
generation tokens/s (the rest of a full draft), and llama.cpp's own system info line.

    .venv/bin/python benchmarks/llamacpp_build.py \\
        --build installed=.venv/lib/python3.11/site-packages \\
        --build avx2=/tmp/llb/avx2-site --threads 2 --json benchmarks/results-llamacpp-build.json
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from benchmarks.common import machine_info  # noqa: E402


def cue_text() -> str:
    """The demo clip's cue text, made by the pipeline itself in a throwaway data folder."""
    annotator = str(ROOT / ".venv" / "bin" / "annotator")
    with tempfile.TemporaryDirectory() as home:
        env = {**os.environ, "ANNOTATOR_HOME": home, "HF_HUB_OFFLINE": "1"}
        from annotator.cli import sample_clip

        for args in (["ingest", str(sample_clip())], ["run", "--no-draft"]):
            subprocess.run([annotator, *args], env=env, check=True, capture_output=True)
        done = subprocess.run(
            [annotator, "cues", "1"], env=env, check=True, capture_output=True, text=True
        )
    return done.stdout


def child(cue: str, threads: int, repeat: int) -> dict[str, Any]:
    """Runs in the measured build's process: load, then time prompt and generation."""
    import llama_cpp

    from annotator.drafting.models import DEFAULT_DRAFT_MODEL, resolve_model
    from annotator.drafting.prompt import build_messages
    from annotator.drafting.schema import decoding_schema

    path = str(resolve_model(DEFAULT_DRAFT_MODEL).gguf_path)
    start = time.perf_counter()
    llm = llama_cpp.Llama(
        model_path=path, n_ctx=4096, n_threads=threads, n_threads_batch=threads, verbose=False
    )
    load_s = time.perf_counter() - start
    messages = build_messages(cue)
    fmt = {"type": "json_object", "schema": decoding_schema()}

    def draft(max_tokens: int) -> tuple[float, dict[str, Any]]:
        llm.reset()  # no prefix reuse from the previous run
        t0 = time.perf_counter()
        out = llm.create_chat_completion(
            messages=messages, response_format=fmt, temperature=0.0, top_k=1,
            max_tokens=max_tokens, seed=0,
        )  # fmt: skip
        return time.perf_counter() - t0, out

    prompt_s, full_s, usage = [], [], {}
    text = ""
    for _ in range(repeat):
        seconds, _out = draft(1)
        prompt_s.append(seconds)
        seconds, out = draft(512)
        full_s.append(seconds)
        usage = out["usage"]
        text = out["choices"][0]["message"]["content"]
    p, f = statistics.median(prompt_s), statistics.median(full_s)
    gen_tokens = usage["completion_tokens"] - 1
    return {
        "system_info": llama_cpp.llama_print_system_info().decode().strip(),
        "load_s": round(load_s, 2),
        "prompt_tokens": usage["prompt_tokens"],
        "completion_tokens": usage["completion_tokens"],
        "prompt_s": round(p, 2),
        "draft_s": round(f, 2),
        "prompt_tok_s": round(usage["prompt_tokens"] / p, 1),
        "gen_tok_s": round(gen_tokens / max(f - p, 1e-6), 2),
        "runs": {
            "prompt_s": [round(x, 2) for x in prompt_s],
            "draft_s": [round(x, 2) for x in full_s],
        },
        "output": text,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--build", action="append", default=[], metavar="NAME=DIR")
    parser.add_argument("--threads", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--repeat", type=int, default=2)
    parser.add_argument("--json", type=Path)
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--cue-file", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        result = child(args.cue_file.read_text(), args.threads, args.repeat)
        print(json.dumps(result))
        return
    builds = dict(b.split("=", 1) for b in args.build) or {
        "installed": str(Path(sys.prefix) / "lib" / "python3.11" / "site-packages")
    }
    results: dict[str, Any] = {"machine": machine_info(), "threads": args.threads, "builds": {}}
    with tempfile.NamedTemporaryFile("w", suffix=".txt") as cue:
        cue.write(cue_text())
        cue.flush()
        for name, folder in builds.items():
            env = {**os.environ, "PYTHONPATH": f"{folder}{os.pathsep}{ROOT}", "HF_HUB_OFFLINE": "1"}
            done = subprocess.run(
                [sys.executable, __file__, "--child", "--cue-file", cue.name,
                 "--threads", str(args.threads), "--repeat", str(args.repeat)],
                env=env, capture_output=True, text=True, timeout=1800,
            )  # fmt: skip
            if done.returncode != 0:
                results["builds"][name] = {"error": f"exit {done.returncode}: {done.stderr[-500:]}"}
            else:
                results["builds"][name] = json.loads(done.stdout.strip().splitlines()[-1])
            row = results["builds"][name]
            print(name, {k: v for k, v in row.items() if k not in ("output", "runs")}, flush=True)
    if args.json:
        args.json.write_text(json.dumps(results, indent=2) + "\n")


if __name__ == "__main__":
    main()
