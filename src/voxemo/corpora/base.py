"""The utterance table, the corpus registry and the shared machinery every loader uses.

Utterance table: a pandas DataFrame with one row per recording and the columns :data:`COLUMNS`
(``path, corpus, speaker, gender, language, label_raw, emotion``) followed by corpus extras
(``label_code``, RAVDESS ``intensity``/``statement``/``repetition``, EmoDB ``text``, IEMOCAP
``session``/``improvised``, ...). ``path`` is absolute, ``speaker`` is a string unique inside one
corpus, ``gender`` is ``male``/``female``/``unknown``, ``language`` an ISO 639-1 code, rows are
sorted by path and the index is a RangeIndex (splitters index rows by position).

Loaders never decode audio: they only read the folder tree (one directory walk, no per-file
``stat``) and, where the corpus keeps labels in text files, those files.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any, ClassVar, TypeVar

import pandas as pd

from voxemo.corpora.labels import EMOTIONS, restrict
from voxemo.corpora.labels import merge as merge_classes
from voxemo.errors import CorpusError
from voxemo.registry import Registry

logger = logging.getLogger(__name__)

COLUMNS: tuple[str, ...] = ("path", "corpus", "speaker", "gender", "language", "label_raw", "emotion")
AUDIO_EXTENSIONS: tuple[str, ...] = (".wav", ".flac")
MALE, FEMALE, UNKNOWN = "male", "female", "unknown"
_EXAMPLES_SHOWN = 5


class CorpusLoader:
    """Base class of the loaders: subclass, set the class attributes, implement :meth:`parse`.

    The common case is a corpus whose labels live in its file names: :meth:`parse` turns one
    relative path into a row dict (``speaker, gender, label_raw`` and extras) or ``None`` for a
    file that does not belong to the corpus. Loaders with label files (IEMOCAP) or manifests
    (generic) override :meth:`scan` instead.
    """

    name: ClassVar[str] = ""
    language: ClassVar[str] = "unknown"
    description: ClassVar[str] = ""
    layout: ClassVar[str] = ""
    extensions: ClassVar[tuple[str, ...]] = AUDIO_EXTENSIONS
    label_map: Mapping[str, str | None] = {}
    # Deepest folder level (1 = files directly under the audio root) the walk descends to.
    max_depth: ClassVar[int | None] = None

    # -- to implement ------------------------------------------------------------------------
    def parse(self, parts: tuple[str, ...], stem: str) -> dict[str, Any] | None:
        """Row fields of one audio file (``parts``: relative path components), or None to skip it."""
        raise NotImplementedError

    def audio_root(self, root: Path) -> Path:
        """The folder the walk starts from (e.g. ``root/wav`` for EmoDB when it exists)."""
        return root

    # -- shared machinery --------------------------------------------------------------------
    def load(self, root: str | os.PathLike[str]) -> pd.DataFrame:
        """The validated utterance table of the corpus under ``root``."""
        root_path = self.check_root(root)
        rows, skipped = self.scan(root_path)
        self.report_skipped(root_path, skipped)
        table = self.build_table(rows, root_path)
        table.attrs["skipped_files"] = len(skipped)
        return table

    def check_root(self, root: str | os.PathLike[str]) -> Path:
        path = Path(root).expanduser()
        if not path.exists():
            raise CorpusError(
                f"{self.name} root {path} does not exist; point it at the folder holding {self.layout}"
            )
        return path.resolve()

    def scan(self, root: Path) -> tuple[list[dict[str, Any]], list[str]]:
        """Rows of every file :meth:`parse` accepts, and the relative names of audio files it skipped."""
        base = self.audio_root(root)
        rows: list[dict[str, Any]] = []
        skipped: list[str] = []
        for relative in walk_files(base, self.max_depth):
            stem, extension = os.path.splitext(relative)
            if extension.lower() not in self.extensions:
                continue  # documentation, transcripts, video...: not ours and not a mistake
            parts = tuple(relative.split("/"))
            row = self.parse(parts, os.path.basename(stem))
            if row is None:
                skipped.append(relative)
                continue
            row["path"] = os.path.join(str(base), relative)
            row.setdefault("key", stem)
            rows.append(row)
        return rows, skipped

    def report_skipped(self, root: Path, skipped: Sequence[str]) -> None:
        if skipped:
            examples = ", ".join(skipped[:_EXAMPLES_SHOWN])
            logger.warning(
                "%s: ignored %d audio file(s) under %s that do not match %s (e.g. %s)",
                self.name,
                len(skipped),
                root,
                self.layout,
                examples,
            )

    def build_table(self, rows: list[dict[str, Any]], root: Path) -> pd.DataFrame:
        """Rows -> sorted, validated table with the standard columns first."""
        if not rows:
            raise CorpusError(f"no {self.name.upper()} files found under {root}; expected {self.layout}")
        table = pd.DataFrame(rows)
        check_duplicate_keys(table, self.name, root)
        table = table.drop(columns="key")
        table["corpus"] = self.name
        if "language" not in table:
            table["language"] = self.language
        unmapped = sorted(set(table["label_raw"]) - set(self.label_map))
        if unmapped:
            raise CorpusError(
                f"{self.name}: label(s) {', '.join(map(repr, unmapped))} under {root} have no canonical "
                f"mapping; known labels: {', '.join(sorted(self.label_map))}"
            )
        table["emotion"] = table["label_raw"].map(self.label_map)
        extras = [column for column in table.columns if column not in COLUMNS]
        table = table[list(COLUMNS) + extras].sort_values("path", kind="stable").reset_index(drop=True)
        validate_table(table, f"{self.name} under {root}")
        return table

    @classmethod
    def info(cls) -> dict[str, str]:
        return {
            "name": cls.name,
            "language": cls.language,
            "description": cls.description,
            "layout": cls.layout,
        }


CORPORA: Registry[type[CorpusLoader]] = Registry("corpus")


LoaderT = TypeVar("LoaderT", bound=type[CorpusLoader])


def register_corpus(name: str) -> Callable[[LoaderT], LoaderT]:
    """Class decorator: register a :class:`CorpusLoader` subclass under ``name`` (also sets ``cls.name``)."""

    def decorator(cls: LoaderT) -> LoaderT:
        cls.name = name
        return CORPORA.register(name)(cls)

    return decorator


def load_corpus(
    name: str,
    root: str | os.PathLike[str],
    *,
    emotions: Sequence[str] | None = None,
    merge: Mapping[str, str | Sequence[str]] | None = None,
    **options: Any,
) -> pd.DataFrame:
    """Load corpus ``name`` from ``root`` as an utterance table.

    ``merge`` (see :func:`voxemo.corpora.labels.merge`) is applied first, then ``emotions``
    keeps only those classes, so ``merge={"calm": "neutral"}, emotions=[...4 classes...]`` works.
    ``options`` go to the loader (e.g. ``keep_all=True`` for IEMOCAP, ``label_map=`` for generic).
    """
    loader_class = CORPORA.get(name)
    try:
        loader = loader_class(**options)
    except TypeError as exc:
        raise CorpusError(f"{name}: invalid loader option(s) {sorted(options)}: {exc}") from exc
    table = loader.load(root)
    if merge:
        table = merge_classes(table, merge)
    if emotions is not None:
        table = restrict(table, emotions)
    return table


def list_corpora() -> list[dict[str, str]]:
    """Name, language, description and expected layout of every registered corpus (for the CLI)."""
    return [loader.info() for _, loader in CORPORA.items()]


def walk_files(base: Path, max_depth: int | None = None) -> list[str]:
    """Relative POSIX paths of the non-hidden files under ``base``, sorted.

    One ``os.walk`` (scandir underneath, so no per-file stat). Hidden files and folders, such as
    macOS ``._x.wav`` resource forks, are skipped; symlinked folders are followed once.
    """
    if not base.is_dir():
        return []
    found: list[str] = []
    seen_dirs: set[str] = set()
    for directory, dirnames, filenames in os.walk(base, followlinks=True):
        real = os.path.realpath(directory)
        if real in seen_dirs:  # a symlink loop or a second link to the same folder
            dirnames[:] = []
            continue
        seen_dirs.add(real)
        relative_dir = os.path.relpath(directory, base)
        depth = 0 if relative_dir == "." else relative_dir.count(os.sep) + 1
        dirnames[:] = sorted(d for d in dirnames if not d.startswith("."))
        if max_depth is not None and depth + 1 >= max_depth:
            dirnames[:] = []
        prefix = "" if relative_dir == "." else relative_dir.replace(os.sep, "/") + "/"
        found.extend(prefix + name for name in filenames if not name.startswith("."))
    return sorted(found)


def check_duplicate_keys(table: pd.DataFrame, corpus: str, root: Path) -> None:
    """CorpusError when one utterance appears twice (e.g. both ``x.wav`` and ``x.flac``, or two copies)."""
    duplicated = table[table["key"].duplicated(keep=False)]
    if duplicated.empty:
        return
    first_key = duplicated["key"].iloc[0]
    copies = duplicated.loc[duplicated["key"] == first_key, "path"].tolist()
    raise CorpusError(
        f"{corpus}: {duplicated['key'].nunique()} utterance(s) under {root} appear more than once, "
        f"e.g. {', '.join(copies)}; keep one copy (one format, one folder) of each file"
    )


def validate_table(table: pd.DataFrame, where: str = "table") -> None:
    """CorpusError unless ``table`` is a non-empty utterance table (unique paths, canonical emotions)."""
    missing = [column for column in COLUMNS if column not in table.columns]
    if missing:
        raise CorpusError(f"{where}: missing column(s) {', '.join(missing)}")
    if table.empty:
        raise CorpusError(f"{where}: the utterance table is empty")
    if table["path"].duplicated().any():
        duplicate = table.loc[table["path"].duplicated(), "path"].iloc[0]
        raise CorpusError(f"{where}: path {duplicate} appears more than once")
    empty = [column for column in COLUMNS if table[column].isna().any()]
    if empty:
        raise CorpusError(f"{where}: column(s) {', '.join(empty)} have missing values")
    unknown = sorted(set(table["emotion"]) - set(EMOTIONS))
    if unknown:
        raise CorpusError(f"{where}: emotion(s) {', '.join(unknown)} are not in the canonical vocabulary")
