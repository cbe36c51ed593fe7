"""Cold and warm ``extract_many`` timings over every RAVDESS file.

Each run uses a fresh temporary cache folder: the cold run decodes, hashes and computes every file
in worker processes; the warm run repeats the same call and should only read the cache.

    python benchmarks/feature_extraction.py mfcc-stats
    python benchmarks/feature_extraction.py logmel-stats prosody egemaps --n-jobs 2

Results are merged into ``benchmarks/results/feature_extraction.json`` (one entry per extractor).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

import numpy as np

from voxemo.features import extract_with_report, get_extractor
from voxemo.io import atomic_write_text

REPO = Path(__file__).resolve().parents[1]
DEFAULT_ROOT = Path(os.environ.get("VOXEMO_DATASETS", REPO.parent / "shared" / "datasets")) / "ravdess"
DEFAULT_OUT = REPO / "benchmarks" / "results" / "feature_extraction.json"
CHOICES = ("logmel-stats", "mfcc-stats", "prosody", "egemaps")


def ravdess_files(root: Path, limit: int | None) -> list[Path]:
    files = sorted(root.glob("Actor_*/*.flac")) + sorted(root.glob("Actor_*/*.wav"))
    if not files:
        raise SystemExit(f"no RAVDESS files under {root}; pass --root or set VOXEMO_DATASETS")
    return files[:limit] if limit else files


def time_feature(name: str, files: list[Path], n_jobs: int | None) -> dict:
    extractor = get_extractor(name)
    with tempfile.TemporaryDirectory(prefix="voxemo-bench-cache-") as cache_dir:
        start = time.perf_counter()
        cold = extract_with_report(files, extractor, cache_dir=cache_dir, n_jobs=n_jobs, progress=True)
        cold_s = time.perf_counter() - start
        start = time.perf_counter()
        warm = extract_with_report(files, extractor, cache_dir=cache_dir, n_jobs=n_jobs, progress=False)
        warm_s = time.perf_counter() - start
    identical = all(
        a is not None and b is not None and np.array_equal(a, b)
        for a, b in zip(cold.arrays, warm.arrays, strict=True)
    )
    return {
        "files": len(files),
        "dim": extractor.dim,
        "n_jobs": n_jobs or len(os.sched_getaffinity(0)),
        "cold_s": round(cold_s, 3),
        "cold_ms_per_file": round(1000 * cold_s / len(files), 2),
        "warm_s": round(warm_s, 3),
        "warm_cache_hits": warm.cache_hits,
        "failures": len(cold.failures),
        "warm_equals_cold": identical,
    }


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("features", nargs="*", help=f"any of {', '.join(CHOICES)} (default: mfcc-stats)")
    parser.add_argument("--root", type=Path, default=DEFAULT_ROOT, help="RAVDESS folder (Actor_XX/...)")
    parser.add_argument("--n-jobs", type=int, default=None, help="worker processes (default: all CPUs)")
    parser.add_argument("--limit", type=int, default=None, help="only the first N files (smoke runs)")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT)
    args = parser.parse_args()

    unknown = sorted(set(args.features) - set(CHOICES))
    if unknown:
        parser.error(f"unknown feature(s) {', '.join(unknown)}; choose from {', '.join(CHOICES)}")
    files = ravdess_files(args.root, args.limit)
    results = json.loads(args.out.read_text()) if args.out.is_file() else {}
    for name in args.features or ["mfcc-stats"]:
        entry = time_feature(name, files, args.n_jobs)
        entry["date"] = datetime.now(UTC).isoformat(timespec="seconds")
        entry["machine"] = f"{platform.machine()}, {os.cpu_count()} CPUs, Python {platform.python_version()}"
        results[name] = entry
        print(f"{name}: {json.dumps(entry)}")
    atomic_write_text(args.out, json.dumps(results, indent=2, sort_keys=True) + "\n")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
