"""Per-stage wall time, x real time and peak RSS of the annotation pipeline on one clip.

Each stage runs in its own fresh subprocess (this script again, with ``--stage NAME``)
so its peak RSS (``getrusage(RUSAGE_SELF).ru_maxrss`` read in the child at the end) is
its own and model caches do not leak between stages. In the child the stage runs once
cold (imports + model load + run) and then ``--repeat`` times warm (run only); the
difference of the first call and the warm median is reported as the load time.

The stage's inputs are prepared in the child *before* timing and are not counted in
its time: face gets pre-decoded frames, voice and speech pre-decoded audio,
textualize the cues the extraction children pickled into the work folder, draft the
cue text the textualize child wrote (each computed in place if missing, e.g. when a
stage is run alone).

    .venv/bin/python benchmarks/run_stages.py                      # bundled demo clip
    .venv/bin/python benchmarks/run_stages.py --clip my.mp4 --repeat 3 --json out.json
    .venv/bin/python benchmarks/run_stages.py --skip-draft
    .venv/bin/python benchmarks/run_stages.py --stage face           # one stage, in this process
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import pickle
import platform
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime
from functools import partial
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

STAGES = (
    "probe",
    "decode_audio",
    "decode_frames",
    "face",
    "voice",
    "speech",
    "textualize",
    "draft",
)
LABELS = {
    "probe": "probe + sha256",
    "decode_audio": "decode audio",
    "decode_frames": "decode frames 5 fps",
    "face": "face landmarks",
    "voice": "voice opensmile",
    "speech": "speech whisper tiny.en",
    "textualize": "textualize",
    "draft": "draft SmolLM2-135M",
}
FRAME_RATE = 5.0  # the face backend's default
MAX_SIDE = 640  # the face backend's default
CHILD_TIMEOUT_S = 240  # per stage subprocess


def _maxrss_mib() -> float:
    # ru_maxrss is KiB on Linux (bytes on macOS).
    value = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return value / (1024 * 1024) if sys.platform == "darwin" else value / 1024


def _vmhwm_mib() -> float | None:
    """Peak RSS of this address space (Linux), a cross-check of ``ru_maxrss``."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return None


def _cpu_s() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def _quiet() -> None:
    import logging
    import warnings

    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    warnings.filterwarnings("ignore")
    for noisy in ("transformers", "faster_whisper", "urllib3", "httpx", "numba", "matplotlib"):
        logging.getLogger(noisy).setLevel(logging.ERROR)


def default_clip() -> Path:
    """``annotator.cli.sample_clip()`` without importing the CLI.

    The parent must stay small: Linux carries a process's RSS high-water mark into
    ``ru_maxrss`` across fork/exec, so a child's reading is at least the parent's peak
    at spawn time. Importing ``annotator.cli`` (~150 MiB) here would floor every
    stage's peak RSS; the bare parent stays near 20 MiB, below any stage.
    """
    from importlib import resources

    return Path(str(resources.files("annotator") / "samples" / "demo.mp4"))


# ----------------------------------------------------------------------------- child side


def _load_or(path: Path, make: Callable[[], Any]) -> tuple[Any, bool]:
    """Unpickle ``path`` if a previous stage left it, else compute it now (not timed)."""
    if path.is_file():
        with path.open("rb") as fh:
            return pickle.load(fh), True
    return make(), False


def _dump(path: Path, value: Any) -> None:
    with path.open("wb") as fh:
        pickle.dump(value, fh)


def _media(clip: Path) -> Any:
    from extractors.media import ClipMedia

    return ClipMedia(clip)


def _extract(kind: str, name: str, clip: Path) -> Any:
    from extractors import registry

    return registry.create(kind, name).extract(_media(clip))


def _prepare(
    stage: str, clip: Path, work: Path, max_new_tokens: int, torch_threads: int | None = None
) -> tuple[Callable[[], Any], dict]:
    """Inputs for ``stage`` (untimed) and the callable that runs it once."""
    setup: dict[str, Any] = {}
    if stage == "probe":
        from extractors.media import probe

        return (lambda: probe(clip)), setup
    if stage == "decode_audio":
        from extractors.media import decode_audio

        return (lambda: decode_audio(clip)), setup
    if stage == "decode_frames":
        from extractors.media import iter_frames

        return (lambda: list(iter_frames(clip, FRAME_RATE, MAX_SIDE))), setup
    if stage in ("face", "voice", "speech"):
        media = _media(clip)
        if stage != "face":  # frames are streamed: the face stage's time includes decoding
            media.audio()
        names = {"face": "landmarks", "voice": "opensmile", "speech": "faster-whisper"}

        def run_extractor() -> Any:
            from extractors import registry  # imported inside: part of the first call

            return registry.create(stage, names[stage]).extract(media)

        return run_extractor, setup
    if stage == "textualize":
        from extractors.media import probe
        from extractors.schema import Cues

        parts: dict[str, Any] = {}
        for kind, name in (
            ("face", "landmarks"),
            ("voice", "opensmile"),
            ("speech", "faster-whisper"),
        ):
            parts[kind], reused = _load_or(
                work / f"{kind}.pkl", partial(_extract, kind, name, clip)
            )
            setup[f"{kind}_cues"] = "from stage child" if reused else "computed in setup"
        cues = Cues(media=probe(clip), **parts)
        cues.missing.update(cues.all_missing())

        def run_render() -> Any:
            from textualize import render

            return render(cues)

        return run_render, setup
    if stage == "draft":
        from annotator.drafting import build_messages, create_drafting, decoding_schema

        def make_text() -> tuple[str, dict]:
            from extractors.media import probe
            from extractors.schema import Cues
            from textualize import render

            cues = Cues(
                media=probe(clip),
                face=_extract("face", "landmarks", clip),
                voice=_extract("voice", "opensmile", clip),
                speech=_extract("speech", "faster-whisper", clip),
            )
            text = render(cues)
            return text.prompt_text, dict(text.missing)

        (prompt_text, missing), reused = _load_or(work / "cue_text.pkl", make_text)
        setup["cue_text"] = "from textualize child" if reused else "computed in setup"
        messages = build_messages(prompt_text, missing or None)
        schema = decoding_schema()
        drafter = create_drafting("transformers", max_new_tokens=max_new_tokens)

        def run_draft() -> Any:
            if torch_threads:  # torch is imported by the first call: part of its load time
                import torch

                torch.set_num_threads(torch_threads)
            return drafter.generate(messages, schema, n=1)[0]

        return run_draft, setup
    raise SystemExit(f"unknown stage {stage!r}; stages: {', '.join(STAGES)}")


def _describe(stage: str, result: Any) -> dict[str, Any]:
    """A few facts about the output (sanity check that the stage did real work)."""
    if stage == "probe":
        return {"duration_s": result.duration_s, "sha256": result.sha256[:12]}
    if stage == "decode_audio":
        return {"samples": int(result.size)}
    if stage == "decode_frames":
        return {"frames": len(result), "shape": list(result[0].rgb.shape) if result else None}
    if stage == "face":
        return {"frames": len(result.frames), "missing": result.missing_reason}
    if stage == "voice":
        return {"frames": len(result.frames), "missing": result.missing_reason}
    if stage == "speech":
        return {
            "words": len(result.words),
            "segments": len(result.segments),
            "text": result.text[:80],
            "missing": result.missing_reason,
        }
    if stage == "textualize":
        return {"prompt_chars": len(result.prompt_text), "partial": result.partial}
    if stage == "draft":
        from annotator.drafting import DraftParseError, parse_draft

        try:
            parse_draft(result.text)
            valid = True
        except DraftParseError:
            valid = False
        return {
            "prompt_tokens": result.prompt_tokens,
            "completion_tokens": result.completion_tokens,
            "finish_reason": result.finish_reason,
            "generate_s": result.latency_s,
            "tokens_per_s": round(result.completion_tokens / result.latency_s, 2)
            if result.completion_tokens and result.latency_s
            else None,
            "valid_json": valid,
            "torch_threads": _torch_threads(),
            "text_head": result.text[:300],
        }
    return {}


def _torch_threads() -> int | None:
    torch = sys.modules.get("torch")
    return torch.get_num_threads() if torch is not None else None


def _save_for_next(stage: str, result: Any, work: Path) -> None:
    if stage in ("face", "voice", "speech"):
        _dump(work / f"{stage}.pkl", result)
    elif stage == "textualize":
        _dump(work / "cue_text.pkl", (result.prompt_text, dict(result.missing)))


def run_child(
    stage: str,
    clip: Path,
    work: Path,
    repeat: int,
    max_new_tokens: int,
    torch_threads: int | None = None,
    emit: Callable[[dict[str, Any]], None] | None = None,
) -> dict[str, Any]:
    """Run one stage in this (fresh) process; return its timings and peak RSS.

    ``emit`` gets the numbers so far after every call, so a parent that kills a
    slow child still has the first call's numbers.
    """
    _quiet()
    rss_start = _maxrss_mib()
    t0 = time.perf_counter()
    call, setup = _prepare(stage, clip, work, max_new_tokens, torch_threads)
    setup_s = time.perf_counter() - t0
    rss_setup = _maxrss_mib()

    cpu0, t0 = _cpu_s(), time.perf_counter()
    result = call()
    first_s = time.perf_counter() - t0
    first_cpu = _cpu_s() - cpu0
    out: dict[str, Any] = {"first": _describe(stage, result)}
    _save_for_next(stage, result, work)
    steady: list[float] = []
    steady_cpu: list[float] = []

    def snapshot() -> dict[str, Any]:
        return {
            "stage": stage,
            "setup": setup,
            "setup_s": round(setup_s, 4),
            "first_s": round(first_s, 4),
            "first_cpu_s": round(first_cpu, 3),
            "steady_runs_asked": repeat,
            "steady_s": [round(s, 4) for s in steady],
            "steady_median_s": round(statistics.median(steady), 4) if steady else None,
            "steady_cpu_s": round(statistics.median(steady_cpu), 3) if steady_cpu else None,
            "rss_start_mib": round(rss_start, 1),
            "rss_after_setup_mib": round(rss_setup, 1),
            "peak_rss_mib": round(_maxrss_mib(), 1),
            "vmhwm_mib": None if (hwm := _vmhwm_mib()) is None else round(hwm, 1),
            "output": out,
        }

    if emit:
        emit(snapshot())
    for _ in range(repeat):
        cpu0, t0 = _cpu_s(), time.perf_counter()
        result = call()
        steady.append(time.perf_counter() - t0)
        steady_cpu.append(_cpu_s() - cpu0)
        out["steady"] = _describe(stage, result)
        if emit:
            emit(snapshot())
    return snapshot()


# ----------------------------------------------------------------------------- parent side


def _loadavg() -> list[float] | None:
    try:
        return [round(x, 2) for x in os.getloadavg()]
    except OSError:
        return None


def _busy_cpu_s() -> float | None:
    """CPU seconds all processes on the machine have used since boot (Linux /proc/stat)."""
    try:
        fields = Path("/proc/stat").read_text().splitlines()[0].split()
    except (OSError, IndexError):
        return None
    if fields[0] != "cpu":
        return None
    user, nice, system, _idle, _iowait, irq, softirq, steal = (int(x) for x in fields[1:9])
    return (user + nice + system + irq + softirq + steal) / os.sysconf("SC_CLK_TCK")


def _children_cpu_s() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def _git_rev() -> str | None:
    """The commit measured, with ``+dirty`` when the working tree has changes."""
    try:
        rev = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no"],
            cwd=ROOT,
            capture_output=True,
            text=True,
        ).stdout.strip()
    except OSError:
        return None
    return (rev + ("+dirty" if dirty else "")) or None


def machine_info() -> dict[str, Any]:
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    try:
        mem_kib = next(
            int(line.split()[1])
            for line in Path("/proc/meminfo").read_text().splitlines()
            if line.startswith("MemTotal")
        )
        mem_gib: float | None = round(mem_kib / 1024**2, 1)
    except (OSError, StopIteration):
        mem_gib = None
    versions = {}
    from importlib import metadata

    for dist in (
        "torch",
        "transformers",
        "faster-whisper",
        "ctranslate2",
        "opensmile",
        "av",
        "dlib-bin",
    ):
        with contextlib.suppress(metadata.PackageNotFoundError):
            versions[dist] = metadata.version(dist)
    return {
        "git": _git_rev(),
        "cpu": cpu,
        "logical_cpus": os.cpu_count(),
        "usable_cpus": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else None,
        "mem_gib": mem_gib,
        "gpu": "none (CPU only)",
        "os": platform.platform(),
        "python": platform.python_version(),
        "packages": versions,
    }


def run_stage_subprocess(
    stage: str,
    clip: Path,
    work: Path,
    repeat: int,
    max_new_tokens: int,
    timeout_s: float,
    torch_threads: int | None = None,
) -> dict[str, Any]:
    result_path = work / f"{stage}.result.json"
    cmd = [
        sys.executable, str(Path(__file__).resolve()), "--stage", stage, "--clip", str(clip),
        "--repeat", str(repeat), "--max-new-tokens", str(max_new_tokens),
        *(["--torch-threads", str(torch_threads)] if torch_threads else []),
        "--workdir", str(work), "--result", str(result_path),
    ]  # fmt: skip
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "TOKENIZERS_PARALLELISM": "false"}
    load_before = _loadavg()
    busy0, own0, t0 = _busy_cpu_s(), _children_cpu_s(), time.perf_counter()
    timed_out = False
    with subprocess.Popen(
        cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=str(ROOT)
    ) as proc:
        try:
            stdout, stderr = proc.communicate(timeout=timeout_s)
        except subprocess.TimeoutExpired:
            proc.kill()  # our own child, by its handle
            stdout, stderr = proc.communicate()
            timed_out = True
    process_s = time.perf_counter() - t0
    busy1, own1 = _busy_cpu_s(), _children_cpu_s()
    # CPU that other processes used while this stage ran, as a share of all CPUs:
    # a direct measure of how noisy the timing is (0 % = the machine was ours).
    other_pct = None
    if busy0 is not None and busy1 is not None and process_s > 0:
        other = max((busy1 - busy0) - (own1 - own0), 0.0)
        other_pct = round(100 * other / (process_s * (os.cpu_count() or 1)), 1)
    if timed_out and not result_path.is_file():
        return {"stage": stage, "error": f"timed out after {timeout_s:.0f} s (--timeout)"}
    if not timed_out and (proc.returncode != 0 or not result_path.is_file()):
        tail = (stderr or stdout).strip().splitlines()[-5:]
        return {"stage": stage, "error": f"exit {proc.returncode}: " + " | ".join(tail)}
    data = json.loads(result_path.read_text())
    if timed_out:  # numbers of the calls that finished; peak RSS is a lower bound
        data["incomplete"] = f"killed after {timeout_s:.0f} s (--timeout)"
    data["process_s"] = round(process_s, 2)  # interpreter start + setup + all calls
    data["loadavg_before"] = load_before
    data["loadavg_after"] = _loadavg()
    data["other_cpu_pct"] = other_pct
    return data


def _fmt(value: float | None, digits: int = 2) -> str:
    return "-" if value is None else f"{value:.{digits}f}"


def _xrt(duration: float, seconds: float | None) -> float | None:
    return round(duration / seconds, 2) if seconds and duration else None


def summarize(stages: list[dict[str, Any]], duration: float) -> None:
    for row in stages:
        if "error" in row:
            continue
        steady = row["steady_median_s"]
        row["load_s"] = round(max(row["first_s"] - steady, 0.0), 4) if steady is not None else None
        row["x_realtime_first"] = _xrt(duration, row["first_s"])
        row["x_realtime_steady"] = _xrt(duration, steady)
        row["rss_delta_mib"] = round(row["peak_rss_mib"] - row["rss_after_setup_mib"], 1)


def _note(row: dict[str, Any]) -> str:
    note = _stage_note(row)
    if row.get("incomplete"):
        note = f"[yellow]{row['incomplete']}[/]; " + note
    return note


def _stage_note(row: dict[str, Any]) -> str:
    out = row.get("output", {}).get("steady") or row.get("output", {}).get("first") or {}
    stage = row["stage"]
    if stage == "probe":
        return f"{out.get('duration_s')} s clip"
    if stage == "decode_audio":
        return f"{out.get('samples')} samples"
    if stage == "decode_frames":
        return f"{out.get('frames')} frames {out.get('shape')}"
    if stage in ("face", "voice"):
        return f"{out.get('frames')} rows" + (
            f", missing: {out['missing']}" if out.get("missing") else ""
        )
    if stage == "speech":
        return f"{out.get('words')} words" + (
            f", missing: {out['missing']}" if out.get("missing") else ""
        )
    if stage == "textualize":
        return f"{out.get('prompt_chars')} chars"
    if stage == "draft":
        return (
            f"{out.get('completion_tokens')} tok @ {out.get('tokens_per_s')} tok/s, "
            f"prompt {out.get('prompt_tokens')} tok, {out.get('finish_reason')}, "
            f"{'valid' if out.get('valid_json') else 'INVALID'} JSON"
        )
    return ""


def print_table(report: dict[str, Any]) -> None:
    from rich.console import Console
    from rich.table import Table

    duration = report["clip"]["duration_s"]
    table = Table(
        title=f"{Path(report['clip']['path']).name}: {duration:.2f} s, "
        f"repeat {report['repeat']}, {report['machine']['logical_cpus']} CPUs",
        caption="x RT = clip duration / wall time (>1: faster than real time). "
        "load = first call - steady. peak RSS: whole child process; "
        "+stage: peak over the RSS after inputs were prepared. other CPU %: CPU used by "
        "other processes while the stage ran (noise).",
    )
    for column in ("stage", "first call s", "steady s", "load s", "x RT steady", "x RT first",
                   "peak RSS MiB", "+stage MiB", "other CPU %", "notes"):  # fmt: skip
        table.add_column(column, justify="left" if column in ("stage", "notes") else "right")
    total_first = total_steady = 0.0
    peak = 0.0
    for row in report["stages"]:
        if "error" in row:
            table.add_row(LABELS[row["stage"]], *["-"] * 8, f"[red]{row['error']}[/]")
            continue
        total_first += row["first_s"]
        total_steady += row["steady_median_s"] or row["first_s"]
        peak = max(peak, row["peak_rss_mib"])
        table.add_row(
            LABELS[row["stage"]],
            _fmt(row["first_s"], 3),
            _fmt(row["steady_median_s"], 3),
            _fmt(row["load_s"], 3),
            _fmt(row["x_realtime_steady"]),
            _fmt(row["x_realtime_first"]),
            _fmt(row["peak_rss_mib"], 0),
            _fmt(row["rss_delta_mib"], 0),
            _fmt(row.get("other_cpu_pct"), 0),
            _note(row),
        )
    table.add_section()
    table.add_row(
        "all stages (sum)", _fmt(total_first, 3), _fmt(total_steady, 3),
        _fmt(total_first - total_steady, 3), _fmt(_xrt(duration, total_steady)),
        _fmt(_xrt(duration, total_first)), f"max {peak:.0f}", "", "", "",
    )  # fmt: skip
    console = Console(highlight=False)
    if not console.is_terminal:
        console = Console(highlight=False, width=200)
    console.print(table)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--clip", type=Path, default=None, help="Media file (default: bundled demo clip)."
    )
    parser.add_argument(
        "--repeat", type=int, default=1, help="Steady-state runs after the first call."
    )
    parser.add_argument("--max-new-tokens", type=int, default=512, help="Draft length cap.")
    parser.add_argument("--skip-draft", action="store_true", help="Leave out the draft stage.")
    parser.add_argument("--stages", default=",".join(STAGES), help="Comma-separated subset to run.")
    parser.add_argument(
        "--timeout", type=float, default=CHILD_TIMEOUT_S, help="Seconds per stage process."
    )
    parser.add_argument(
        "--torch-threads",
        type=int,
        default=None,
        help="torch.set_num_threads for the draft stage (default: torch's own, one per core).",
    )
    parser.add_argument(
        "--json", type=Path, default=None, help="Write all numbers to this JSON file."
    )
    parser.add_argument(
        "--stage", choices=STAGES, help="Run one stage in this process (child mode)."
    )
    parser.add_argument("--workdir", type=Path, default=None, help=argparse.SUPPRESS)
    parser.add_argument("--result", type=Path, default=None, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.repeat < 0:
        parser.error("--repeat must be 0 or more")
    clip = (args.clip or default_clip()).resolve()
    if not clip.is_file():
        parser.error(f"{clip}: no such file")

    if args.stage:  # child mode (or a single stage run by hand)
        with tempfile.TemporaryDirectory() as tmp:
            work = args.workdir or Path(tmp)
            result_path = args.result

            def emit(snapshot: dict[str, Any]) -> None:
                if result_path is not None:
                    tmp_path = result_path.with_suffix(".tmp")
                    tmp_path.write_text(json.dumps(snapshot, indent=2))
                    tmp_path.replace(result_path)  # atomic: the parent never reads half

            data = run_child(
                args.stage,
                clip,
                work,
                args.repeat,
                args.max_new_tokens,
                args.torch_threads,
                emit,
            )
        if args.result:
            args.result.write_text(json.dumps(data, indent=2))
        else:
            print(json.dumps(data, indent=2))
        return 0

    _quiet()
    stages = [s.strip() for s in args.stages.split(",") if s.strip()]
    unknown = [s for s in stages if s not in STAGES]
    if unknown:
        parser.error(f"unknown stage(s) {', '.join(unknown)}; stages: {', '.join(STAGES)}")
    if args.skip_draft:
        stages = [s for s in stages if s != "draft"]
    stages = [s for s in STAGES if s in stages]  # pipeline order: later stages reuse outputs

    report: dict[str, Any] = {
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": machine_info(),
        "clip": {"path": str(clip)},
        "repeat": args.repeat,
        "max_new_tokens": args.max_new_tokens,
        "torch_threads": args.torch_threads,
        "loadavg_start": _loadavg(),
        "stages": [],
    }
    t0 = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="mer-bench-") as tmp:
        for stage in stages:
            print(f"  {stage} ...", file=sys.stderr, flush=True)
            report["stages"].append(
                run_stage_subprocess(
                    stage,
                    clip,
                    Path(tmp),
                    args.repeat,
                    args.max_new_tokens,
                    args.timeout,
                    args.torch_threads,
                )
            )
    report["total_wall_s"] = round(time.perf_counter() - t0, 1)
    report["loadavg_end"] = _loadavg()
    report["parent_peak_rss_mib"] = round(_maxrss_mib(), 1)
    # Probed only now, after the children ran (see default_clip for why).
    from extractors.media import probe

    info = probe(clip)
    report["clip"].update(duration_s=info.duration_s, size_bytes=info.size_bytes,
                          width=info.width, height=info.height, fps=info.fps)  # fmt: skip
    summarize(report["stages"], info.duration_s)
    print_table(report)
    noisy = [r["stage"] for r in report["stages"] if (r.get("other_cpu_pct") or 0) > 10]
    if noisy:
        print(f"warning: other processes used >10 % of the CPUs during {', '.join(noisy)}: "
              "those timings are inflated; rerun on an idle machine", file=sys.stderr)  # fmt: skip
    print(
        f"benchmark wall time {report['total_wall_s']} s; load average "
        f"{report['loadavg_start']} -> {report['loadavg_end']} (1/5/15 min)",
        file=sys.stderr,
    )
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(report, indent=2))
        print(f"wrote {args.json}", file=sys.stderr)
    return 1 if any("error" in row for row in report["stages"]) else 0


if __name__ == "__main__":
    raise SystemExit(main())
