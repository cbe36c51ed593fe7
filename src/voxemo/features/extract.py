"""Features of many files: worker processes, an on-disk cache, and saving the results.

Cache layout under ``cache_dir`` (default ``$VOXEMO_CACHE``, else ``~/.cache/voxemo``)::

    file-hashes.json                           (path, size, mtime_ns) -> sha256 of the file's bytes
    features/<name>-<key hash>/key.json        the extractor's cache_key(), for people reading the folder
    features/<name>-<key hash>/ab/abcd....npy  one array per distinct file content

An entry is found by the sha256 of the file's bytes and the extractor's ``cache_key()``, so a renamed
file is still a hit and an edited one (or a changed config or extractor version) a miss. The hash
index spares re-reading unchanged files on warm runs. Entries are written atomically by whichever
process computed them (readers see a whole file or none), never pickled, and an unreadable entry is
recomputed.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import json
import logging
import multiprocessing
import os
import sys
from collections.abc import Iterable, Iterator, Sequence
from concurrent.futures import Future, ProcessPoolExecutor, as_completed
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np

from voxemo import errors as errors_module
from voxemo.audio import load_audio
from voxemo.errors import ConfigError, FeatureError, VoxemoError
from voxemo.features.base import FeatureExtractor
from voxemo.features.registry import get_extractor
from voxemo.io import atomic_write_bytes, atomic_write_text, file_sha256

logger = logging.getLogger("voxemo.features")

CACHE_ENV = "VOXEMO_CACHE"
#: Rate files are decoded at before they reach an extractor (part of the cache key).
DECODE_RATE = 16_000
CACHE_LAYOUT_VERSION = "1"

ErrorPolicy = Literal["raise", "skip"]
PathLike = str | os.PathLike[str]


def default_cache_dir() -> Path:
    """``$VOXEMO_CACHE`` if set, else ``~/.cache/voxemo``."""
    env = os.environ.get(CACHE_ENV)
    return Path(env).expanduser() if env else Path.home() / ".cache" / "voxemo"


# -- the content-hash index ------------------------------------------------------------------------


class HashIndex:
    """Remembers each file's sha256 by (absolute path, size, mtime_ns) so unchanged files are not re-read."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._entries = self._read()
        self._dirty: dict[str, list[Any]] = {}

    def _read(self) -> dict[str, list[Any]]:
        try:
            data = json.loads(self.path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return {}  # missing or damaged: start over, it is only a shortcut
        return data if isinstance(data, dict) else {}

    def content_hash(self, path: Path) -> str:
        """The sha256 of ``path``'s bytes (OSError if it cannot be read)."""
        stat = path.stat()
        key = str(path)
        known = self._entries.get(key)
        if isinstance(known, list) and len(known) == 3 and known[:2] == [stat.st_size, stat.st_mtime_ns]:
            return str(known[2])
        digest = file_sha256(path)
        self._entries[key] = self._dirty[key] = [stat.st_size, stat.st_mtime_ns, digest]
        return digest

    def save(self) -> None:
        """Merge new entries into the file on disk (other processes may have added theirs)."""
        if not self._dirty:
            return
        merged = {**self._read(), **self._dirty}
        try:
            atomic_write_text(self.path, json.dumps(merged, separators=(",", ":")))
        except OSError as exc:  # a read-only cache still works, just slower next time
            logger.warning("could not update the file-hash index %s: %s", self.path, exc)
        self._dirty = {}


# -- the feature store -----------------------------------------------------------------------------


@dataclass(frozen=True)
class FeatureCache:
    """The cache folder of one extractor configuration."""

    folder: Path
    expected_ndim: int

    @classmethod
    def for_extractor(cls, root: Path, extractor: FeatureExtractor) -> FeatureCache:
        key = f"layout={CACHE_LAYOUT_VERSION}|decode={DECODE_RATE}|{extractor.cache_key()}"
        digest = hashlib.sha256(key.encode("utf-8")).hexdigest()[:20]
        cache = cls(root / "features" / f"{extractor.name}-{digest}", 2 if extractor.level == "frame" else 1)
        key_file = cache.folder / "key.json"
        if not key_file.exists():
            try:
                atomic_write_text(key_file, json.dumps({"key": key}, indent=2))
            except OSError as exc:
                raise FeatureError(f"cannot write to the feature cache {cache.folder}: {exc}") from None
        return cache

    def entry(self, content_hash: str) -> Path:
        return self.folder / content_hash[:2] / f"{content_hash}.npy"

    def load(self, content_hash: str) -> np.ndarray | None:
        """The stored array, or None when absent or unreadable (then it is removed and recomputed)."""
        path = self.entry(content_hash)
        try:
            array = np.load(path, allow_pickle=False)
        except FileNotFoundError:
            return None
        except (OSError, ValueError, EOFError) as exc:
            logger.warning("feature cache entry %s is unreadable (%s); recomputing it", path, exc)
            path.unlink(missing_ok=True)
            return None
        if array.dtype != np.float32 or array.ndim != self.expected_ndim or not np.isfinite(array).all():
            logger.warning("feature cache entry %s holds unexpected data; recomputing it", path)
            path.unlink(missing_ok=True)
            return None
        return array

    def store(self, content_hash: str, array: np.ndarray) -> None:
        buffer = io.BytesIO()
        np.save(buffer, array, allow_pickle=False)
        try:
            atomic_write_bytes(self.entry(content_hash), buffer.getvalue())
        except OSError as exc:  # a full or read-only disk must not lose the computed features
            logger.warning("could not write feature cache entry %s: %s", self.entry(content_hash), exc)


# -- computing one file (in a worker or in-process) ------------------------------------------------


@dataclass(frozen=True)
class _Failure:
    error_class: str
    message: str


def _compute_one(
    extractor: FeatureExtractor, cache: FeatureCache | None, path: str, content_hash: str | None
) -> np.ndarray | _Failure:
    try:
        samples = load_audio(path, target_rate=DECODE_RATE)
        array = extractor.extract(samples, DECODE_RATE)
    except VoxemoError as exc:
        return _Failure(type(exc).__name__, str(exc))
    except Exception as exc:  # a bug or library failure: still name the file instead of killing the run
        return _Failure("FeatureError", f"{type(exc).__name__}: {exc}")
    if cache is not None and content_hash is not None:
        cache.store(content_hash, array)
    return array


_worker_state: dict[str, Any] = {}


def _limit_threads() -> None:
    """One thread per worker process: the pool already uses every core."""
    for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "NUMEXPR_NUM_THREADS"):
        os.environ[var] = "1"
    try:
        from threadpoolctl import threadpool_limits

        threadpool_limits(1)
    except ImportError:
        pass
    if "torch" in sys.modules:
        sys.modules["torch"].set_num_threads(1)


def _init_worker(extractor: FeatureExtractor, cache: FeatureCache | None) -> None:
    _limit_threads()
    _worker_state["extractor"] = extractor
    _worker_state["cache"] = cache


def _worker_task(path: str, content_hash: str | None) -> np.ndarray | _Failure:
    return _compute_one(_worker_state["extractor"], _worker_state["cache"], path, content_hash)


# -- the public entry points -----------------------------------------------------------------------


@dataclass
class ExtractionResult:
    """What :func:`extract_with_report` did: arrays in input order (None where skipped) and counts."""

    arrays: list[np.ndarray | None]
    failures: dict[str, str] = field(default_factory=dict)
    cache_hits: int = 0
    computed: int = 0


def extract_many(
    paths: Iterable[PathLike],
    extractor: FeatureExtractor | str,
    *,
    cache_dir: PathLike | None = None,
    n_jobs: int | None = None,
    progress: bool = True,
    errors: ErrorPolicy = "raise",
    use_cache: bool = True,
) -> list[np.ndarray | None]:
    """Features of every file in ``paths``, in input order.

    Files are decoded with ``load_audio`` (16 kHz mono) and computed in ``n_jobs`` worker processes
    (default: every CPU; 1 = in this process). Results are cached on disk (see the module docstring)
    unless ``use_cache`` is False. With ``errors="raise"`` the first unusable file raises an error
    naming it; with ``errors="skip"`` its entry is None and the skipped files are logged.
    """
    return extract_with_report(
        paths,
        extractor,
        cache_dir=cache_dir,
        n_jobs=n_jobs,
        progress=progress,
        errors=errors,
        use_cache=use_cache,
    ).arrays


def extract_with_report(
    paths: Iterable[PathLike],
    extractor: FeatureExtractor | str,
    *,
    cache_dir: PathLike | None = None,
    n_jobs: int | None = None,
    progress: bool = True,
    errors: ErrorPolicy = "raise",
    use_cache: bool = True,
) -> ExtractionResult:
    """:func:`extract_many` that also returns the failures and the cache hit count."""
    if errors not in ("raise", "skip"):
        raise ConfigError(f"errors must be 'raise' or 'skip', got {errors!r}")
    if isinstance(extractor, str):
        extractor = get_extractor(extractor)
    files = [str(Path(p).expanduser().absolute()) for p in paths]
    result = ExtractionResult(arrays=[None] * len(files))

    cache = index = None
    if use_cache:
        root = Path(cache_dir).expanduser() if cache_dir is not None else default_cache_dir()
        cache = FeatureCache.for_extractor(root, extractor)
        index = HashIndex(root / "file-hashes.json")

    hashes: list[str | None] = [None] * len(files)
    todo: list[int] = []
    for i, path in enumerate(files):
        if index is not None and cache is not None:
            try:
                hashes[i] = index.content_hash(Path(path))
            except OSError as exc:
                _record_failure(
                    result, path, _Failure("AudioError", _unreadable(path, exc)), errors, extractor
                )
                continue
            cached = cache.load(hashes[i])
            if cached is not None:
                result.arrays[i] = cached
                result.cache_hits += 1
                continue
        todo.append(i)
    if index is not None:
        index.save()

    tasks = [(files[i], hashes[i]) for i in todo]
    # closing(): a raised failure must shut the worker pool down now, not whenever GC runs.
    with contextlib.closing(_run(extractor, cache, tasks, n_jobs, progress)) as outcomes:
        for task, outcome in outcomes:
            if isinstance(outcome, _Failure):
                _record_failure(result, files[todo[task]], outcome, errors, extractor)
            else:
                result.arrays[todo[task]] = outcome
                result.computed += 1
    if result.failures:
        listing = "; ".join(f"{p}: {m}" for p, m in list(result.failures.items())[:10])
        logger.warning("skipped %d file(s) that could not be processed: %s", len(result.failures), listing)
    return result


def _unreadable(path: str, exc: OSError) -> str:
    reason = "file not found" if isinstance(exc, FileNotFoundError) else (exc.strerror or str(exc))
    return f"{path}: {reason}"


def _record_failure(
    result: ExtractionResult, path: str, failure: _Failure, errors: ErrorPolicy, extractor: FeatureExtractor
) -> None:
    message = failure.message if path in failure.message else f"{path}: {failure.message}"
    if errors == "raise":
        error_class = getattr(errors_module, failure.error_class, FeatureError)
        if not (isinstance(error_class, type) and issubclass(error_class, VoxemoError)):
            error_class = FeatureError
        raise error_class(
            f"{extractor.name} features failed: {message} (pass errors='skip' to leave such files out)"
        )
    result.failures[path] = message


def _resolve_jobs(n_jobs: int | None, n_tasks: int) -> int:
    if n_jobs is None or n_jobs == -1:
        n_jobs = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
    if n_jobs < 1:
        raise ConfigError(f"n_jobs must be >= 1 (or -1 / None for all CPUs), got {n_jobs}")
    return min(n_jobs, n_tasks)


def _run(
    extractor: FeatureExtractor,
    cache: FeatureCache | None,
    tasks: Sequence[tuple[str, str | None]],
    n_jobs: int | None,
    progress: bool,
) -> Iterator[tuple[int, np.ndarray | _Failure]]:
    """Yield ``(task index, array or failure)`` as tasks finish, in-process or in a pool."""
    if not tasks:
        return
    jobs = _resolve_jobs(n_jobs, len(tasks))
    if jobs == 1:
        with _progress_bar(len(tasks), extractor.name, progress) as bar:
            for i, (path, content_hash) in enumerate(tasks):
                yield i, _compute_one(extractor, cache, path, content_hash)
                bar.update(1)
        return
    # fork starts workers instantly and shares the imported modules; elsewhere spawn is the safe choice.
    method = "fork" if "fork" in multiprocessing.get_all_start_methods() else "spawn"
    executor = ProcessPoolExecutor(
        max_workers=jobs,
        mp_context=multiprocessing.get_context(method),
        initializer=_init_worker,
        initargs=(extractor, cache),
    )
    try:
        futures: dict[Future[np.ndarray | _Failure], int] = {
            executor.submit(_worker_task, path, content_hash): i
            for i, (path, content_hash) in enumerate(tasks)
        }
        # The bar is created after the workers exist: forking while its monitor thread runs is unsafe.
        with _progress_bar(len(tasks), extractor.name, progress) as bar:
            for future in as_completed(futures):
                try:
                    outcome = future.result()
                except BrokenProcessPool:
                    raise FeatureError(
                        f"a worker process died while extracting {extractor.name} features (out of "
                        "memory?); retry with fewer workers (n_jobs=1)"
                    ) from None
                yield futures[future], outcome
                bar.update(1)
    finally:
        executor.shutdown(wait=True, cancel_futures=True)


def _progress_bar(total: int, name: str, enabled: bool) -> Any:
    from tqdm.auto import tqdm

    return tqdm(total=total, desc=f"{name} features", unit="file", disable=not enabled, leave=False)


# -- saving ------------------------------------------------------------------------------------------


def save_features(
    path: PathLike,
    names: Sequence[str],
    arrays: Sequence[np.ndarray],
    feature_names: Sequence[str],
) -> Path:
    """Write features to ``.npz`` or ``.parquet`` (atomically); returns the path.

    Utterance level (every array 1-D): one row per file, a ``name`` column then one column per
    feature (parquet), or ``names``, ``feature_names`` and a ``features`` matrix (npz). Frame level
    (2-D arrays): npz only, with the frames of all files stacked in ``frames`` and per-file
    ``lengths``.
    """
    path = Path(path)
    names, feature_names = [str(n) for n in names], [str(f) for f in feature_names]
    _check_saveable(names, arrays, feature_names)
    utterance_level = all(np.ndim(a) == 1 for a in arrays)
    suffix = path.suffix.lower()
    if suffix == ".parquet":
        if not utterance_level:
            raise FeatureError(f"{path}: frame-level features go to a .npz file, not .parquet")
        atomic_write_bytes(path, _parquet_bytes(names, arrays, feature_names))
    elif suffix == ".npz":
        atomic_write_bytes(path, _npz_bytes(names, arrays, feature_names, utterance_level))
    else:
        raise FeatureError(f"{path}: unsupported output format {suffix!r}; use .npz or .parquet")
    return path


def _check_saveable(names: list[str], arrays: Sequence[Any], feature_names: list[str]) -> None:
    if len(names) != len(arrays):
        raise FeatureError(f"save_features: {len(names)} names but {len(arrays)} arrays")
    missing = [n for n, a in zip(names, arrays, strict=True) if a is None]
    if missing:
        raise FeatureError(
            f"save_features: no features for {', '.join(missing[:5])}; drop skipped files first"
        )
    ndims = {np.ndim(a) for a in arrays}
    if len(ndims) > 1 or not ndims <= {1, 2}:
        raise FeatureError("save_features: arrays must all be 1-D (utterance) or all 2-D (frames)")
    for name, array in zip(names, arrays, strict=True):
        if np.shape(array)[-1] != len(feature_names):
            raise FeatureError(
                f"save_features: {name} has {np.shape(array)[-1]} values per row, "
                f"but {len(feature_names)} feature names were given"
            )


def _parquet_bytes(names: list[str], arrays: Sequence[np.ndarray], feature_names: list[str]) -> bytes:
    import pandas as pd

    matrix = np.stack(arrays).astype(np.float32) if arrays else np.zeros((0, len(feature_names)), np.float32)
    table = pd.DataFrame(matrix, columns=feature_names)
    table.insert(0, "name", names)
    buffer = io.BytesIO()
    table.to_parquet(buffer, index=False)
    return buffer.getvalue()


def _npz_bytes(
    names: list[str], arrays: Sequence[np.ndarray], feature_names: list[str], utterance_level: bool
) -> bytes:
    width = len(feature_names)
    content: dict[str, np.ndarray] = {
        "names": np.asarray(names, dtype=str),
        "feature_names": np.asarray(feature_names, dtype=str),
    }
    if utterance_level:
        content["features"] = (
            np.stack(arrays).astype(np.float32) if arrays else np.zeros((0, width), np.float32)
        )
    else:
        content["frames"] = (
            np.concatenate(arrays).astype(np.float32) if arrays else np.zeros((0, width), np.float32)
        )
        content["lengths"] = np.asarray([len(a) for a in arrays], dtype=np.int64)
    buffer = io.BytesIO()
    np.savez(buffer, **content)
    return buffer.getvalue()


def load_features(path: PathLike) -> tuple[list[str], list[np.ndarray], list[str]]:
    """Read what :func:`save_features` wrote: ``(names, arrays, feature_names)``."""
    path = Path(path)
    if not path.is_file():
        raise FeatureError(f"{path}: feature file not found")
    if path.suffix.lower() == ".parquet":
        import pandas as pd

        table = pd.read_parquet(path)
        feature_names = [c for c in table.columns if c != "name"]
        matrix = table[feature_names].to_numpy(dtype=np.float32)
        return table["name"].astype(str).tolist(), list(matrix), feature_names
    try:
        with np.load(path, allow_pickle=False) as data:
            names, feature_names = data["names"].tolist(), data["feature_names"].tolist()
            if "features" in data:
                return names, list(data["features"]), feature_names
            splits = np.cumsum(data["lengths"])[:-1]
            return names, np.split(data["frames"], splits), feature_names
    except (OSError, ValueError, KeyError) as exc:
        raise FeatureError(f"{path}: not a voxemo feature file ({exc})") from None
