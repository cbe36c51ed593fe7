"""How fast voxemo recognises emotion on CPU, measured on the RAVDESS speech files.

    python benchmarks/speed.py                      # all 1440 files, the bundled default model
    python benchmarks/speed.py --limit 100          # a quick run
    python benchmarks/speed.py --model runs/cnn     # any bundle folder or bundled name

Stages, each in its own subprocess (so every stage's peak memory is its own):

- ``decode``: ``voxemo.audio.load_audio`` over every file, in the same thread pool as the
  recogniser (the floor: nothing that reads the files can be faster);
- ``frontend``: the model's log-mel front end (torch) over the decoded audio, in batches;
- ``predict-torch`` / ``predict-onnx``: ``Recognizer.predict_batch`` (what ``voxemo predict``
  runs) from file paths to predictions, torch or onnxruntime backend;
- ``egemaps``: openSMILE eGeMAPS v02 functionals (``Smile.process_file``) on one core;
- ``stream``: latency of each hop of ``Recognizer.stream(window=2.0, hop=0.5)``.

Writes ``benchmarks/results/speed.json`` and ``speed.md`` and the README table between
``<!-- speed-table:start -->`` and ``<!-- speed-table:end -->``.
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

#: stage name -> (what it measures, for the table)
STAGE_TITLES = {
    "decode": "decoding alone: `load_audio` (soundfile + soxr)",
    "frontend": "log-mel front end alone (torch, batches of 16, decoded audio in memory)",
    "predict-torch": "`voxemo predict` pipeline, torch backend (`Recognizer.predict_batch`)",
    "predict-onnx": "`voxemo predict` pipeline, ONNX backend (onnxruntime)",
    "egemaps": "openSMILE eGeMAPS v02 functionals (`Smile.process_file`, 1 core)",
}
STAGES = (*STAGE_TITLES, "stream")


# ---------------------------------------------------------------------------- stages (in a child)


def peak_rss_mb() -> float:
    """Peak resident memory of this process (Linux reports ru_maxrss in KiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def set_torch_threads(threads: int) -> None:
    import torch

    torch.set_num_threads(threads)


def stage_decode(files: list[str], args: argparse.Namespace) -> dict[str, Any]:
    from voxemo.audio import load_audio

    start = time.perf_counter()
    with ThreadPoolExecutor(max_workers=args.workers) as pool:
        samples = sum(x.size for x in pool.map(load_audio, files))
    return {"wall_s": time.perf_counter() - start, "samples": int(samples)}


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

    set_torch_threads(args.threads)
    model, _ = load_bundle(resolve_model(args.model))
    waves = decode_all(files, args.workers)
    order = np.argsort([w.size for w in waves], kind="stable")
    batches = [order[i : i + BATCH_SIZE] for i in range(0, len(order), BATCH_SIZE)]
    start = time.perf_counter()
    frames = 0
    with torch.inference_mode():
        for batch in batches:
            x, lengths = pad_batch([waves[i] for i in batch])
            _, n = model.frontend(torch.from_numpy(x), torch.from_numpy(lengths))
            frames += int(n.sum())
    return {"wall_s": time.perf_counter() - start, "frames": frames}


def stage_predict(backend: str) -> Callable[[list[str], argparse.Namespace], dict[str, Any]]:
    def run(files: list[str], args: argparse.Namespace) -> dict[str, Any]:
        from voxemo.inference import Prediction, load_model

        set_torch_threads(args.threads)
        began = time.perf_counter()
        recognizer = load_model(args.model, backend=backend, workers=args.workers, batch_size=BATCH_SIZE)
        recognizer.predict(files[0])  # warm-up: first-call allocations, not per-file cost
        load_s = time.perf_counter() - began
        start = time.perf_counter()
        results = recognizer.predict_batch(files)
        wall = time.perf_counter() - start
        failed = sum(not isinstance(r, Prediction) for r in results)
        return {"wall_s": wall, "load_s": load_s, "failed": failed}

    return run


def stage_egemaps(files: list[str], args: argparse.Namespace) -> dict[str, Any]:
    import opensmile

    smile = opensmile.Smile(
        feature_set=opensmile.FeatureSet.eGeMAPSv02, feature_level=opensmile.FeatureLevel.Functionals
    )
    smile.process_file(files[0])  # warm-up, like the predict stages
    start = time.perf_counter()
    for path in files:
        smile.process_file(path)
    return {"wall_s": time.perf_counter() - start}


def stage_stream(files: list[str], args: argparse.Namespace) -> dict[str, Any]:
    import numpy as np

    from voxemo.inference import load_model

    set_torch_threads(args.threads)
    recognizer = load_model(args.model)
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
    latencies = latencies[1:]  # the first window pays one-off allocations
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
    files = Path(args.files_from).read_text(encoding="utf-8").splitlines()
    result = STAGE_RUNNERS[args.stage](files, args)
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


def run_stage_child(stage: str, list_file: Path, args: argparse.Namespace) -> dict[str, Any]:
    command = [
        sys.executable,
        __file__,
        "--stage",
        stage,
        "--files-from",
        str(list_file),
        "--threads",
        str(args.threads),
        "--workers",
        str(args.workers),
        "--hops",
        str(args.hops),
        "--model",
        args.model,
    ]
    print(f"[speed] {stage} ...", file=sys.stderr, flush=True)
    done = subprocess.run(command, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise SystemExit(f"stage {stage} failed:\n{done.stderr[-3000:]}")
    result = json.loads(done.stdout.strip().splitlines()[-1])
    print(f"[speed] {stage}: {result}", file=sys.stderr, flush=True)
    return result


def throughput(result: dict[str, Any], n_files: int, seconds: float) -> dict[str, Any]:
    wall = result["wall_s"]
    return {
        **{k: round(v, 4) if isinstance(v, float) else v for k, v in result.items()},
        "files_per_s": round(n_files / wall, 2),
        "rtf": round(wall / seconds, 6),
        "x_realtime": round(seconds / wall, 1),
    }


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


def model_facts(model: str) -> dict[str, Any]:
    from voxemo.inference import resolve_model

    folder = resolve_model(model)
    config = json.loads((folder / "config.json").read_text(encoding="utf-8"))
    return {
        "model": model,
        "path": str(folder.resolve().relative_to(REPO) if folder.resolve().is_relative_to(REPO) else folder),
        "family": config["train_config"]["model"]["name"],
        "weights_sha256": config.get("weights_sha256", ""),
    }


def targets(stages: dict[str, Any], stream: dict[str, Any]) -> dict[str, Any]:
    predict = stages["predict-torch"]["wall_s"]
    vs_egemaps = stages["egemaps"]["wall_s"] / predict
    vs_decode = predict / stages["decode"]["wall_s"]
    return {
        "predict_vs_egemaps": {
            "speedup": round(vs_egemaps, 1),
            "target": f">= {TARGET_VS_EGEMAPS:g}x faster",
            "met": vs_egemaps >= TARGET_VS_EGEMAPS,
        },
        "predict_vs_decode": {
            "ratio": round(vs_decode, 2),
            "target": f"<= {TARGET_VS_DECODE:g}x decoding time",
            "met": vs_decode <= TARGET_VS_DECODE,
        },
        "stream_p95_ms": {
            "value": round(stream["p95_ms"], 2),
            "target": f"< {TARGET_HOP_MS:g} ms per hop",
            "met": stream["p95_ms"] < TARGET_HOP_MS,
        },
    }


def measure(args: argparse.Namespace) -> dict[str, Any]:
    files = ravdess_files(args.root, args.limit)
    seconds = audio_seconds(files)
    load_start = os.getloadavg()
    began = datetime.now(UTC)
    with tempfile.TemporaryDirectory(prefix="voxemo-speed-") as tmp:
        list_file = Path(tmp) / "files.txt"
        list_file.write_text("\n".join(map(str, files)), encoding="utf-8")
        raw = {stage: run_stage_child(stage, list_file, args) for stage in args.stages}
    stream = raw.pop("stream", None)
    stages = {name: throughput(result, len(files), seconds) for name, result in raw.items()}
    summary: dict[str, Any] = {
        "generated": began.isoformat(timespec="seconds"),
        "command": "python benchmarks/speed.py " + " ".join(sys.argv[1:]),
        "machine": machine_facts(),
        "load_average_at_start": [round(v, 2) for v in load_start],
        "load_average_at_end": [round(v, 2) for v in os.getloadavg()],
        "threads": {
            "torch": args.threads,
            "decode_workers": args.workers,
            "onnxruntime_intra_op": min(4, os.cpu_count() or 1),
            "opensmile": 1,
        },
        "model": model_facts(args.model),
        "corpus": "ravdess",
        "files": len(files),
        "audio_seconds": round(seconds, 2),
        "batch_size": BATCH_SIZE,
        "stages": stages,
        "wall_s_total": round((datetime.now(UTC) - began).total_seconds(), 1),
    }
    if stream is not None:
        summary["streaming"] = {"window_s": STREAM_WINDOW, "hop_s": STREAM_HOP, **stream}
    if stream is not None and {"predict-torch", "egemaps", "decode"} <= set(stages):
        summary["targets"] = targets(stages, stream)
    if args.note:
        summary["note"] = args.note
    return summary


# ---------------------------------------------------------------------------- the table


def _mark(met: bool) -> str:
    return "met" if met else "**missed**"


def _memory(stage: dict[str, Any]) -> str:
    return f"{stage['peak_rss_mb']:.0f} MB"


def render_table(summary: dict[str, Any]) -> str:
    stages = summary["stages"]
    lines = [
        f"| {summary['files']} files, {summary['audio_seconds'] / 60:.1f} min of audio | wall time | files/s "
        "| real-time factor | × real time | peak memory |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    for name, title in STAGE_TITLES.items():
        if name in stages:
            s = stages[name]
            speed = f"{s['files_per_s']:,.0f} | {s['rtf']:.5f} | {s['x_realtime']:,.0f}×"
            lines.append(f"| {title} | {s['wall_s']:.2f} s | {speed} | {_memory(s)} |")
    stream = summary.get("streaming")
    if stream:
        lines += [
            "",
            "| streaming, latency per hop | hops | median | p95 | max | peak memory |",
            "|---|---:|---:|---:|---:|---:|",
            f"| `Recognizer.stream(window={stream['window_s']:g}, hop={stream['hop_s']:g})`, torch | "
            f"{stream['hops']} | {stream['median_ms']:.1f} ms | {stream['p95_ms']:.1f} ms | "
            f"{stream['max_ms']:.1f} ms | {stream['peak_rss_mb']:.0f} MB |",
        ]
    lines += ["", *target_lines(summary), "", footer(summary)]
    return "\n".join(lines)


def target_lines(summary: dict[str, Any]) -> list[str]:
    t = summary.get("targets")
    if not t:
        return []
    egemaps, decode, stream = t["predict_vs_egemaps"], t["predict_vs_decode"], t["stream_p95_ms"]
    return [
        f"- predict (torch) vs openSMILE eGeMAPS: **{egemaps['speedup']:.1f}× faster** "
        f"(target {egemaps['target']}: {_mark(egemaps['met'])})",
        f"- predict (torch) vs plain decoding: **{decode['ratio']:.1f}× the decoding time** "
        f"(target {decode['target']}: {_mark(decode['met'])})",
        f"- streaming: **p95 {stream['value']:.1f} ms per hop** "
        f"(target {stream['target']}: {_mark(stream['met'])})",
    ]


def footer(summary: dict[str, Any]) -> str:
    machine, threads = summary["machine"], summary["threads"]
    load = summary["load_average_at_start"]
    text = (
        f"{summary['files']} RAVDESS files, {summary['audio_seconds'] / 60:.1f} min of audio, model "
        f"`{summary['model']['model']}` ({summary['model']['family']}); {machine['cpu_cores']} CPU cores "
        f"({machine['cpu']}), torch {threads['torch']} thread(s), {threads['decode_workers']} decoding "
        f"threads, onnxruntime {threads['onnxruntime_intra_op']} thread(s), "
        f"batches of {summary['batch_size']}; "
        f"load average {load[0]:.1f} at start. Real-time factor = wall time / audio duration (lower is "
        "faster); model loading and one warm-up file are excluded. Peak memory is each stage's own process "
        "(the front-end row holds all decoded audio in memory). Generated by `python benchmarks/speed.py`."
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


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--root", type=Path, default=DEFAULT_ROOT, help="RAVDESS folder (Actor_XX/...)")
    parser.add_argument("--limit", type=int, default=None, help="only the first N files (quick runs)")
    parser.add_argument("--model", default="default", help="bundled name or bundle folder (default: default)")
    parser.add_argument(
        "--threads",
        type=int,
        default=1,
        help="torch threads (default 1: the decoding threads already share the cores; more oversubscribes "
        "a small machine and made every torch stage several times slower on 2 cores)",
    )
    parser.add_argument(
        "--workers", type=int, default=4, help="decoding threads (the recogniser's default: 4)"
    )
    parser.add_argument("--hops", type=int, default=300, help="streaming hops to time")
    parser.add_argument("--stages", nargs="+", default=list(STAGES), choices=STAGES)
    parser.add_argument("--note", default="", help="a remark stored with the results (e.g. other load)")
    parser.add_argument("--out", type=Path, default=RESULTS / "speed.json")
    parser.add_argument("--no-readme", action="store_true", help="do not update README.md")
    parser.add_argument("--stage", choices=STAGES, help=argparse.SUPPRESS)  # internal: run one stage here
    parser.add_argument("--files-from", help=argparse.SUPPRESS)
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.stage:
        return run_stage_here(args)
    summary = measure(args)
    print(publish(summary, args.out, readme=not args.no_readme))
    return 0


if __name__ == "__main__":
    sys.exit(main())
