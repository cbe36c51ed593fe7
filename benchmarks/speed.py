"""How fast voxemo recognises emotion on CPU, measured on the RAVDESS speech files.

    python benchmarks/speed.py                          # all 1440 files, the bundled default model
    python benchmarks/speed.py --limit 100              # a quick run
    python benchmarks/speed.py --models default fast accurate runs/cnn   # several models side by side
    python benchmarks/speed.py --threads 1 2 --repeats 3                 # torch/ONNX at 1 and 2 threads

``--models`` takes bundled names and bundle folders; a name that is not installed is skipped with
the reason printed. Stages, each in its own subprocess (so every stage's peak memory is its own):

- ``decode``: ``voxemo.audio.load_audio`` over every file, in the same thread pool as the
  recogniser (the floor: nothing that reads the files can be faster);
- ``egemaps``: openSMILE eGeMAPS v02 functionals (``Smile.process_file``) on one core;

and for each model:

- ``frontend``: the model's log-mel front end (torch) over the decoded audio, in batches
  (models without one, e.g. Whisper-encoder heads, report n/a);
- ``predict-torch`` / ``predict-onnx``: ``Recognizer.predict_batch`` (what ``voxemo predict``
  runs) from file paths to predictions, torch or onnxruntime backend, at each ``--threads`` count
  (torch threads, or onnxruntime intra-op threads); a model that cannot be exported to ONNX
  reports n/a. The peak memory of these rows is the RSS high-water mark of the process that
  loaded the model and predicted every file;
- ``stream``: latency of each hop of ``Recognizer.stream(window=2.0, hop=0.5)``.

Each predict row also gives the two ratios of the deployment target: how many times faster than
eGeMAPS, and how many times the decoding time. With ``--repeats R`` every timed stage runs R times,
interleaved (decode, each model, eGeMAPS, then again), and the fastest run counts: other jobs on the
machine only ever slow a run down. Writes ``benchmarks/results/speed.json`` and ``speed.md`` and the
README table between ``<!-- speed-table:start -->`` and ``<!-- speed-table:end -->``.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
DEFAULT_ROOT = Path(os.environ.get("VOXEMO_DATASETS", REPO.parent / "shared" / "datasets")) / "ravdess"
RESULTS = REPO / "benchmarks" / "results"
README = REPO / "README.md"
START, END = "<!-- speed-table:start -->", "<!-- speed-table:end -->"
BATCH_SIZE = 16
#: What the issue asks of the pipeline.
TARGET_VS_EGEMAPS = 20.0  # predict at least this many times faster than openSMILE eGeMAPS
TARGET_VS_DECODE = 3.0  # predict within this factor of plain decoding
TARGET_HOP_MS = 50.0  # streaming latency per hop (p95)
STREAM_WINDOW, STREAM_HOP = 2.0, 0.5

#: Stages measured once per run (the references the models are compared with).
REFERENCE_TITLES = {
    "decode": "decoding alone: `load_audio` (soundfile + soxr)",
    "egemaps": "openSMILE eGeMAPS v02 functionals (`Smile.process_file`, 1 core)",
}
#: Stages measured for every model.
MODEL_STAGES = ("frontend", "predict-torch", "predict-onnx", "stream")
STAGES = (*REFERENCE_TITLES, *MODEL_STAGES)
#: Stages timed at every ``--threads`` count (the others use the first count).
THREADED_STAGES = ("predict-torch", "predict-onnx")


class StageUnavailable(Exception):
    """A stage that does not apply to a model (no log-mel front end, no ONNX export)."""


# ---------------------------------------------------------------------------- stages (in a child)


def peak_rss_mb() -> float:
    """Peak resident memory (RSS high-water mark) of this process; Linux reports ru_maxrss in KiB."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


class Clock:
    """Wall time, CPU time of the whole process (every thread) and of the calling thread.

    CPU seconds suffer far less than wall time when other jobs share the machine, so they are kept
    next to every wall time: ``cpu_s`` compares the work of two models even on a busy machine.
    """

    def __enter__(self) -> Clock:
        self._start = (time.perf_counter(), time.process_time(), time.thread_time())
        return self

    def __exit__(self, *exc: object) -> None:
        wall, cpu, thread = self._start
        self.times = {
            "wall_s": time.perf_counter() - wall,
            "cpu_s": time.process_time() - cpu,
            "main_thread_cpu_s": time.thread_time() - thread,
        }


def set_threads(threads: int) -> None:
    """Threads for torch and for onnxruntime sessions opened from now on (what ``voxemo predict`` sets)."""
    import torch

    from voxemo.export.runtime import set_default_threads

    torch.set_num_threads(threads)
    set_default_threads(threads)


def stage_decode(files: list[str], args: argparse.Namespace) -> dict[str, Any]:
    from voxemo.audio import load_audio

    with Clock() as clock, ThreadPoolExecutor(max_workers=args.workers) as pool:
        samples = sum(x.size for x in pool.map(load_audio, files))
    return {**clock.times, "samples": int(samples)}


def decode_all(files: list[str], workers: int) -> list[Any]:
    from voxemo.audio import load_audio

    with ThreadPoolExecutor(max_workers=workers) as pool:
        return list(pool.map(load_audio, files))


def stage_frontend(files: list[str], args: argparse.Namespace) -> dict[str, Any]:
    import numpy as np
    import torch

    from voxemo.inference import resolve_model
    from voxemo.inference.backends import pad_batch
    from voxemo.training.checkpoint import load_bundle

    set_threads(args.threads[0])
    model, _ = load_bundle(resolve_model(args.stage_model))
    frontend = getattr(model, "frontend", None)
    if frontend is None:
        raise StageUnavailable(f"{type(model).__name__} has no log-mel front end")
    waves = decode_all(files, args.workers)
    order = np.argsort([w.size for w in waves], kind="stable")
    batches = [order[i : i + BATCH_SIZE] for i in range(0, len(order), BATCH_SIZE)]
    frames = 0
    with Clock() as clock, torch.inference_mode():
        for batch in batches:
            x, lengths = pad_batch([waves[i] for i in batch])
            _, n = frontend(torch.from_numpy(x), torch.from_numpy(lengths))
            frames += int(n.sum())
    return {**clock.times, "frames": frames}


def stage_predict(backend: str) -> Callable[[list[str], argparse.Namespace], dict[str, Any]]:
    def run(files: list[str], args: argparse.Namespace) -> dict[str, Any]:
        from voxemo.errors import VoxemoError
        from voxemo.inference import Prediction, load_model

        set_threads(args.threads[0])
        began = time.perf_counter()
        try:
            recognizer = load_model(
                args.stage_model, backend=backend, workers=args.workers, batch_size=BATCH_SIZE
            )
        except VoxemoError as exc:
            # e.g. a Whisper-encoder head: no ONNX export (ModelError), or its extra not installed.
            raise StageUnavailable(f"cannot load it with the {backend} backend: {exc}") from None
        recognizer.predict(files[0])  # warm-up: first-call allocations, not per-file cost
        load_s = time.perf_counter() - began
        with Clock() as clock:
            results = recognizer.predict_batch(files)
        failed = sum(not isinstance(r, Prediction) for r in results)
        return {**clock.times, "load_s": load_s, "failed": failed}

    return run


def stage_egemaps(files: list[str], args: argparse.Namespace) -> dict[str, Any]:
    import opensmile

    smile = opensmile.Smile(
        feature_set=opensmile.FeatureSet.eGeMAPSv02, feature_level=opensmile.FeatureLevel.Functionals
    )
    smile.process_file(files[0])  # warm-up, like the predict stages
    with Clock() as clock:
        for path in files:
            smile.process_file(path)
    return clock.times


def stage_stream(files: list[str], args: argparse.Namespace) -> dict[str, Any]:
    import numpy as np

    from voxemo.inference import load_model

    set_threads(args.threads[0])
    recognizer = load_model(args.stage_model)
    rate = recognizer.sample_rate
    hop = round(STREAM_HOP * rate)
    needed = hop * args.hops + round(STREAM_WINDOW * rate)
    waves, total = [], 0
    for wave in decode_all(files[: max(1, needed // rate)], args.workers):
        waves.append(wave)
        total += wave.size
        if total >= needed:
            break
    signal = np.concatenate(waves)
    signal = np.tile(signal, int(np.ceil(needed / signal.size)))[:needed]  # few files: loop them
    session = recognizer.stream(window=STREAM_WINDOW, hop=STREAM_HOP)
    latencies = []
    for offset in range(0, signal.size - hop + 1, hop):
        start = time.perf_counter()
        predictions = session.feed(signal[offset : offset + hop])
        elapsed = time.perf_counter() - start
        if predictions:  # feeds before the first full window only buffer
            latencies.append(1000 * elapsed / len(predictions))
    latencies = latencies[1:] or latencies  # the first window pays one-off allocations
    return {
        "hops": len(latencies),
        "median_ms": statistics.median(latencies),
        "p95_ms": float(np.percentile(latencies, 95)),
        "max_ms": max(latencies),
    }


STAGE_RUNNERS: dict[str, Callable[[list[str], argparse.Namespace], dict[str, Any]]] = {
    "decode": stage_decode,
    "frontend": stage_frontend,
    "predict-torch": stage_predict("torch"),
    "predict-onnx": stage_predict("onnx"),
    "egemaps": stage_egemaps,
    "stream": stage_stream,
}


def run_stage_here(args: argparse.Namespace) -> int:
    """Child process: run one stage, print its result as one JSON line (n/a stages included)."""
    from voxemo.errors import VoxemoError

    files = Path(args.files_from).read_text(encoding="utf-8").splitlines()
    try:
        result = STAGE_RUNNERS[args.stage](files, args)
    except StageUnavailable as exc:
        result = {"unavailable": str(exc)}
    except VoxemoError as exc:  # the model cannot run this stage: n/a with the reason, not a crash
        result = {"unavailable": f"{type(exc).__name__}: {exc}"}
    result["peak_rss_mb"] = peak_rss_mb()
    print(json.dumps(result))
    return 0


# ---------------------------------------------------------------------------- orchestration (parent)


def ravdess_files(root: Path, limit: int | None) -> list[Path]:
    files = sorted(root.glob("Actor_*/*.flac")) + sorted(root.glob("Actor_*/*.wav"))
    if not files:
        raise SystemExit(f"no RAVDESS files under {root}; pass --root or set VOXEMO_DATASETS")
    return files[:limit] if limit else files


def audio_seconds(files: list[Path]) -> float:
    from voxemo.audio import probe

    return sum(probe(path).duration for path in files)


def run_stage_child(
    stage: str, list_file: Path, args: argparse.Namespace, model: str = "", threads: int | None = None
) -> dict[str, Any]:
    """Run ``stage`` in a fresh interpreter; its last stdout line is the JSON result."""
    command = [
        sys.executable,
        __file__,
        "--stage",
        stage,
        "--files-from",
        str(list_file),
        "--threads",
        str(threads or args.threads[0]),
        "--workers",
        str(args.workers),
        "--hops",
        str(args.hops),
        "--stage-model",
        model,
    ]
    label = f"{stage}" + (f" [{model}, {threads or args.threads[0]} thread(s)]" if model else "")
    print(f"[speed] {label} ...", file=sys.stderr, flush=True)
    done = subprocess.run(command, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise SystemExit(f"stage {label} failed:\n{done.stderr[-3000:]}")
    result = json.loads(done.stdout.strip().splitlines()[-1])
    print(f"[speed] {label}: {result}", file=sys.stderr, flush=True)
    return result


def fastest(runs: list[dict[str, Any]]) -> dict[str, Any]:
    """The run with the least wall time, with every run's wall time kept (``runs_wall_s``)."""
    timed = [r for r in runs if "wall_s" in r]
    if not timed:
        return runs[0]
    best = dict(min(timed, key=lambda r: r["wall_s"]))
    if len(timed) > 1:
        best["runs_wall_s"] = [round(r["wall_s"], 4) for r in timed]
        if all("cpu_s" in r for r in timed):
            best["min_cpu_s"] = min(r["cpu_s"] for r in timed)
    return best


def throughput(result: dict[str, Any], n_files: int, seconds: float) -> dict[str, Any]:
    if "wall_s" not in result:
        return {k: round(v, 4) if isinstance(v, float) else v for k, v in result.items()}
    wall = result["wall_s"]
    return {
        **{k: round(v, 4) if isinstance(v, float) else v for k, v in result.items()},
        "files_per_s": round(n_files / wall, 2),
        "rtf": round(wall / seconds, 6),
        "x_realtime": round(seconds / wall, 1),
    }


def ratios(row: dict[str, Any], reference: dict[str, Any]) -> dict[str, Any]:
    """How a predict row compares with eGeMAPS (times faster) and decoding (times the time)."""
    out: dict[str, Any] = {}
    if "wall_s" not in row:
        return out
    if "egemaps" in reference and "wall_s" in reference["egemaps"]:
        out["vs_egemaps"] = round(reference["egemaps"]["wall_s"] / row["wall_s"], 2)
    if "decode" in reference and "wall_s" in reference["decode"]:
        out["vs_decode"] = round(row["wall_s"] / reference["decode"]["wall_s"], 2)
    return out


def machine_facts() -> dict[str, Any]:
    import numpy
    import onnxruntime
    import opensmile
    import torch

    from voxemo import __version__

    cpu = platform.processor() or platform.machine()
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.is_file():
        names = [
            line.split(":", 1)[1].strip() for line in cpuinfo.read_text().splitlines() if "model name" in line
        ]
        cpu = names[0] if names else cpu
    return {
        "cpu_cores": len(os.sched_getaffinity(0)),
        "cpu": cpu,
        "platform": platform.platform(),
        "python": platform.python_version(),
        "versions": {
            "voxemo": __version__,
            "torch": torch.__version__,
            "onnxruntime": onnxruntime.__version__,
            "opensmile": opensmile.__version__,
            "numpy": numpy.__version__,
        },
    }


def weight_count(folder: Path) -> int | None:
    """Tensor elements in the bundle's weights file (parameters plus normalisation buffers)."""
    weights = folder / "model.safetensors"
    if not weights.is_file():
        return None
    from safetensors import safe_open

    with safe_open(str(weights), framework="numpy") as handle:
        total = 0
        for key in handle.keys():  # noqa: SIM118 (safe_open is not a mapping)
            shape = handle.get_slice(key).get_shape()
            count = 1
            for size in shape:
                count *= size
            total += count
    return total


def model_facts(model: str) -> dict[str, Any]:
    """What the table says about a model; raises VoxemoError when it is not installed/readable."""
    from voxemo.inference import resolve_model

    folder = resolve_model(model)
    config = json.loads((folder / "config.json").read_text(encoding="utf-8"))
    resolved = folder.resolve()
    return {
        "model": model,
        "path": str(resolved.relative_to(REPO) if resolved.is_relative_to(REPO) else folder),
        "family": config["train_config"]["model"]["name"],
        "input_kind": config.get("input_kind", "waveform"),
        "weights": weight_count(folder),
        "weights_sha256": config.get("weights_sha256", ""),
    }


def available_models(names: list[str]) -> tuple[dict[str, dict[str, Any]], dict[str, str]]:
    """(facts of each model that can be loaded, reason for each skipped one), reasons printed."""
    from voxemo.errors import VoxemoError

    found: dict[str, dict[str, Any]] = {}
    skipped: dict[str, str] = {}
    for name in names:
        try:
            found[name] = model_facts(name)
        except (VoxemoError, OSError, KeyError, json.JSONDecodeError) as exc:
            skipped[name] = str(exc)
            print(f"[speed] skipping model {name!r}: {exc}", file=sys.stderr, flush=True)
    return found, skipped


def stage_jobs(args: argparse.Namespace, models: list[str]) -> list[tuple[str, str, int]]:
    """(stage, model, threads) for one round of measurement, references first and last."""
    jobs: list[tuple[str, str, int]] = []
    if "decode" in args.stages:
        jobs.append(("decode", "", args.threads[0]))
    for model in models:
        for stage in MODEL_STAGES:
            if stage in args.stages:
                counts = args.threads if stage in THREADED_STAGES else args.threads[:1]
                jobs += [(stage, model, threads) for threads in counts]
    if "egemaps" in args.stages:
        jobs.append(("egemaps", "", args.threads[0]))
    return jobs


def targets(row: dict[str, Any], stream: dict[str, Any] | None) -> dict[str, Any]:
    """The deployment target for one model, judged on its default torch predict row."""
    out: dict[str, Any] = {}
    if "vs_egemaps" in row:
        out["predict_vs_egemaps"] = {
            "speedup": row["vs_egemaps"],
            "target": f">= {TARGET_VS_EGEMAPS:g}x faster",
            "met": row["vs_egemaps"] >= TARGET_VS_EGEMAPS,
        }
    if "vs_decode" in row:
        out["predict_vs_decode"] = {
            "ratio": row["vs_decode"],
            "target": f"<= {TARGET_VS_DECODE:g}x decoding time",
            "met": row["vs_decode"] <= TARGET_VS_DECODE,
        }
    if stream and "p95_ms" in stream:
        out["stream_p95_ms"] = {
            "value": round(stream["p95_ms"], 2),
            "target": f"< {TARGET_HOP_MS:g} ms per hop",
            "met": stream["p95_ms"] < TARGET_HOP_MS,
        }
    return out


def model_summary(
    facts: dict[str, Any],
    raw: dict[tuple[str, str, int], list[dict[str, Any]]],
    reference: dict[str, Any],
    n_files: int,
    seconds: float,
    args: argparse.Namespace,
) -> dict[str, Any]:
    """Rows (front end, predict per backend and thread count), streaming and targets of one model."""
    name = facts["model"]
    rows = []
    for (stage, model, threads), runs in raw.items():
        if model != name or stage == "stream":
            continue
        row = {"stage": stage, "threads": threads, **throughput(fastest(runs), n_files, seconds)}
        if stage.startswith("predict"):
            row.update(ratios(row, reference))
        rows.append(row)
    stream_runs = raw.get(("stream", name, args.threads[0]))
    stream = None
    if stream_runs:
        timed = [r for r in stream_runs if "p95_ms" in r]
        stream = min(timed, key=lambda r: r["p95_ms"]) if timed else stream_runs[0]
        stream = {"window_s": STREAM_WINDOW, "hop_s": STREAM_HOP, **stream}
    summary: dict[str, Any] = {**facts, "rows": rows}
    if stream is not None:
        summary["streaming"] = stream
    default_row = next(
        (r for r in rows if r["stage"] == "predict-torch" and r["threads"] == args.threads[0]), None
    )
    if default_row is not None:
        summary["targets"] = targets(default_row, stream)
    return summary


def measure(args: argparse.Namespace) -> dict[str, Any]:
    files = ravdess_files(args.root, args.limit)
    seconds = audio_seconds(files)
    found, skipped = available_models(args.models)
    wants_models = any(stage in MODEL_STAGES for stage in args.stages)
    if wants_models and not found:
        raise SystemExit("no model to measure: " + "; ".join(f"{k}: {v}" for k, v in skipped.items()))
    load_start = os.getloadavg()
    began = datetime.now(UTC)
    raw: dict[tuple[str, str, int], list[dict[str, Any]]] = {}
    with tempfile.TemporaryDirectory(prefix="voxemo-speed-") as tmp:
        list_file = Path(tmp) / "files.txt"
        list_file.write_text("\n".join(map(str, files)), encoding="utf-8")
        for _ in range(args.repeats):
            for stage, model, threads in stage_jobs(args, list(found)):
                result = run_stage_child(stage, list_file, args, model, threads)
                raw.setdefault((stage, model, threads), []).append(result)
    reference = {
        stage: throughput(fastest(runs), len(files), seconds)
        for (stage, model, _), runs in raw.items()
        if not model
    }
    summary: dict[str, Any] = {
        "generated": began.isoformat(timespec="seconds"),
        "command": "python benchmarks/speed.py " + " ".join(sys.argv[1:]),
        "machine": machine_facts(),
        "load_average_at_start": [round(v, 2) for v in load_start],
        "load_average_at_end": [round(v, 2) for v in os.getloadavg()],
        "threads": {
            "torch_and_onnxruntime": list(args.threads),
            "decode_workers": args.workers,
            "opensmile": 1,
        },
        "repeats": args.repeats,
        "corpus": "ravdess",
        "files": len(files),
        "audio_seconds": round(seconds, 2),
        "batch_size": BATCH_SIZE,
        "reference": reference,
        "models": [model_summary(f, raw, reference, len(files), seconds, args) for f in found.values()],
        "skipped_models": skipped,
        "wall_s_total": round((datetime.now(UTC) - began).total_seconds(), 1),
    }
    if args.note:
        summary["note"] = args.note
    return summary


# ---------------------------------------------------------------------------- the table


def _mark(met: bool) -> str:
    return "met" if met else "**missed**"


def _memory(stage: dict[str, Any]) -> str:
    return f"{stage['peak_rss_mb']:.0f} MB"


def _row_title(row: dict[str, Any]) -> str:
    threads = f"{row['threads']} thread{'s' if row['threads'] != 1 else ''}"
    if row["stage"] == "frontend":
        return f"log-mel front end alone (torch, {threads}, decoded audio in memory)"
    backend = "torch" if row["stage"] == "predict-torch" else "ONNX (onnxruntime)"
    return f"`voxemo predict`, {backend}, {threads}"


def _model_title(model: dict[str, Any]) -> str:
    weights = f", {model['weights'] / 1000:,.0f}k weights" if model.get("weights") else ""
    return f"`{model['model']}` ({model['family']}{weights})"


def _ratio_cells(row: dict[str, Any]) -> str:
    egemaps = f"{row['vs_egemaps']:.1f}× faster" if "vs_egemaps" in row else ""
    decode = f"{row['vs_decode']:.1f}×" if "vs_decode" in row else ""
    return f"{egemaps} | {decode}"


def render_reference(summary: dict[str, Any]) -> list[str]:
    reference = summary["reference"]
    lines = [
        f"| {summary['files']} files, {summary['audio_seconds'] / 60:.1f} min of audio | wall time | files/s "
        "| real-time factor | × real time | peak memory |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    for name, title in REFERENCE_TITLES.items():
        if name in reference and "wall_s" in reference[name]:
            s = reference[name]
            speed = f"{s['files_per_s']:,.0f} | {s['rtf']:.5f} | {s['x_realtime']:,.0f}×"
            lines.append(f"| {title} | {s['wall_s']:.2f} s | {speed} | {_memory(s)} |")
    return lines


def render_models(summary: dict[str, Any]) -> list[str]:
    lines = [
        "| model | pipeline | wall time | files/s | real-time factor | × real time | vs eGeMAPS "
        "| × decoding time | peak memory |",
        "|---|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for model in summary["models"]:
        for row in model["rows"]:
            title = f"| {_model_title(model)} | {_row_title(row)} |"
            if "wall_s" not in row:
                lines.append(f"{title} n/a | | | | | | |")
                continue
            speed = f"{row['files_per_s']:,.0f} | {row['rtf']:.5f} | {row['x_realtime']:,.0f}×"
            lines.append(f"{title} {row['wall_s']:.2f} s | {speed} | {_ratio_cells(row)} | {_memory(row)} |")
    return lines


def render_streaming(summary: dict[str, Any]) -> list[str]:
    streams = [(m, m["streaming"]) for m in summary["models"] if m.get("streaming")]
    if not streams:
        return []
    lines = [
        "| streaming, latency per hop | hops | median | p95 | max | peak memory |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    for model, stream in streams:
        title = (
            f"{_model_title(model)}: `Recognizer.stream(window={stream['window_s']:g}, "
            f"hop={stream['hop_s']:g})`, torch"
        )
        if "p95_ms" not in stream:
            lines.append(f"| {title} | n/a | | | | |")
            continue
        lines.append(
            f"| {title} | {stream['hops']} | {stream['median_ms']:.1f} ms | {stream['p95_ms']:.1f} ms | "
            f"{stream['max_ms']:.1f} ms | {stream['peak_rss_mb']:.0f} MB |"
        )
    return lines


def render_table(summary: dict[str, Any]) -> str:
    parts = [render_reference(summary), render_models(summary), render_streaming(summary)]
    parts += [target_lines(summary), unavailable_lines(summary), [footer(summary)]]
    return "\n\n".join("\n".join(part) for part in parts if part)


def target_lines(summary: dict[str, Any]) -> list[str]:
    lines = []
    threads = summary["threads"]["torch_and_onnxruntime"][0]
    for model in summary["models"]:
        t = model.get("targets") or {}
        parts = []
        if "predict_vs_egemaps" in t:
            e = t["predict_vs_egemaps"]
            parts.append(
                f"**{e['speedup']:.1f}× faster** than eGeMAPS (target {e['target']}: {_mark(e['met'])})"
            )
        if "predict_vs_decode" in t:
            d = t["predict_vs_decode"]
            parts.append(f"**{d['ratio']:.1f}× the decoding time** (target {d['target']}: {_mark(d['met'])})")
        if "stream_p95_ms" in t:
            s = t["stream_p95_ms"]
            parts.append(
                f"streaming **p95 {s['value']:.1f} ms per hop** (target {s['target']}: {_mark(s['met'])})"
            )
        if parts:
            lines.append(
                f"- `{model['model']}`, predict with torch at {threads} thread(s): " + "; ".join(parts)
            )
    return lines


def unavailable_lines(summary: dict[str, Any]) -> list[str]:
    """Why a row says n/a, and which requested models were not installed."""
    lines = []
    for model in summary["models"]:
        for row in model["rows"]:
            if "unavailable" in row:
                lines.append(f"- n/a for `{model['model']}`, {_row_title(row)}: {row['unavailable']}")
        stream = model.get("streaming") or {}
        if "unavailable" in stream:
            lines.append(f"- n/a for `{model['model']}`, streaming: {stream['unavailable']}")
    for name, reason in summary.get("skipped_models", {}).items():
        lines.append(f"- `{name}` not measured: {reason}")
    return lines


def footer(summary: dict[str, Any]) -> str:
    machine, threads = summary["machine"], summary["threads"]
    load = summary["load_average_at_start"]
    models = ", ".join(f"`{m['model']}`" for m in summary["models"]) or "none"
    repeats = summary.get("repeats", 1)
    text = (
        f"{summary['files']} RAVDESS files, {summary['audio_seconds'] / 60:.1f} min of audio, models "
        f"{models}; {machine['cpu_cores']} CPU cores ({machine['cpu']}), torch / onnxruntime threads "
        f"{', '.join(map(str, threads['torch_and_onnxruntime']))}, {threads['decode_workers']} decoding "
        f"threads, batches of {summary['batch_size']}; load average {load[0]:.1f} at start"
        + (f"; fastest of {repeats} interleaved runs" if repeats > 1 else "")
        + ". Real-time factor = wall time / audio duration (lower is faster); model loading and one "
        "warm-up file are excluded. vs eGeMAPS = eGeMAPS wall time / predict wall time; × decoding time = "
        "predict wall time / decoding wall time. Peak memory is each stage's own process (for predict: the "
        "RSS high-water mark of a process that loads the model and predicts every file; the front-end row "
        "holds all decoded audio in memory). Generated by `python benchmarks/speed.py`."
    )
    if summary.get("note"):
        text += f" Note: {summary['note'].rstrip('.')}."
    return text


def update_readme(table: str) -> bool:
    """Put the table between the markers of README.md (adding a Speed section if absent)."""
    from voxemo.io import update_marked_block

    return update_marked_block(README, START, END, table, "Speed")


def publish(summary: dict[str, Any], out: Path, readme: bool) -> str:
    from voxemo.io import atomic_write_text

    table = render_table(summary)
    atomic_write_text(out, json.dumps(summary, indent=2) + "\n")
    atomic_write_text(out.with_suffix(".md"), table + "\n")
    if readme:
        update_readme(table)
    return table


# ---------------------------------------------------------------------------- command line


def default_threads() -> int:
    """The thread count ``voxemo predict`` uses by default (so the table measures what users run)."""
    from voxemo.cli.predict_cmds import DEFAULT_THREADS

    return DEFAULT_THREADS


def positive_int(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {value}")
    return value


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--root", type=Path, default=DEFAULT_ROOT, help="RAVDESS folder (Actor_XX/...)")
    parser.add_argument(
        "--limit", type=positive_int, default=None, help="only the first N files (quick runs)"
    )
    parser.add_argument(
        "--models",
        "--model",
        nargs="+",
        default=["default"],
        help="bundled names (default, fast, accurate) and/or bundle folders; names not installed are skipped",
    )
    parser.add_argument(
        "--threads",
        type=positive_int,
        nargs="+",
        default=None,
        help="torch threads and onnxruntime intra-op threads; predict rows are timed at each count, the "
        "first one judges the targets (default: what `voxemo predict` uses)",
    )
    parser.add_argument(
        "--workers", type=positive_int, default=4, help="decoding threads (the recogniser's default: 4)"
    )
    parser.add_argument("--hops", type=positive_int, default=300, help="streaming hops to time")
    parser.add_argument(
        "--repeats", type=positive_int, default=1, help="interleaved runs; the fastest counts"
    )
    parser.add_argument("--stages", nargs="+", default=list(STAGES), choices=STAGES)
    parser.add_argument("--note", default="", help="a remark stored with the results (e.g. other load)")
    parser.add_argument("--out", type=Path, default=RESULTS / "speed.json")
    parser.add_argument("--no-readme", action="store_true", help="do not update README.md")
    parser.add_argument("--stage", choices=STAGES, help=argparse.SUPPRESS)  # internal: run one stage here
    parser.add_argument("--files-from", help=argparse.SUPPRESS)
    parser.add_argument("--stage-model", default="", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.threads is None:
        args.threads = [default_threads()]
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.stage:
        return run_stage_here(args)
    summary = measure(args)
    print(publish(summary, args.out, readme=not args.no_readme))
    return 0


if __name__ == "__main__":
    sys.exit(main())
