"""Any labelled collection of clips: a CSV manifest or one folder per label.

Manifest mode (``root`` is a ``.csv`` file): columns ``path,label`` and optionally ``speaker``,
``gender``, ``language``; other columns are kept as extras. Relative paths are resolved against
the CSV's folder; every listed file must exist.

Folder mode (``root`` is a folder): ``<label>/.../<clip>.wav|flac|ogg|mp3``; the first folder
level is the label. Speakers are unknown, so every row gets speaker ``unknown`` and a warning
says that speaker-independent evaluation is impossible.

Labels go through :data:`voxemo.corpora.labels.SYNONYMS` ("anger", "Angry", "mad" -> angry;
"pleasant_surprise" -> surprise, ...), after an optional user ``label_map`` that takes
precedence. A label neither knows raises CorpusError listing them all.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pandas as pd

from voxemo.corpora import labels
from voxemo.corpora.base import COLUMNS, FEMALE, MALE, UNKNOWN, CorpusLoader, register_corpus, walk_files
from voxemo.errors import CorpusError

logger = logging.getLogger(__name__)

REQUIRED_COLUMNS = ("path", "label")
OPTIONAL_COLUMNS = ("speaker", "gender", "language")
# Columns the loader fills itself; a manifest that has them would be silently overwritten.
RESERVED_COLUMNS = (*(c for c in COLUMNS if c not in REQUIRED_COLUMNS + OPTIONAL_COLUMNS), "label_code")
_GENDERS = {"m": MALE, "male": MALE, "man": MALE, "f": FEMALE, "female": FEMALE, "woman": FEMALE}
_SHOWN = 5


@register_corpus("generic")
class GenericLoader(CorpusLoader):
    language = "unknown"
    description = "Your own data: a CSV manifest (path,label[,speaker,gender,language]) or a folder per label"
    layout = "a CSV with columns path,label[,speaker,gender,language], or <label>/<clip>.wav|flac|ogg|mp3"
    extensions = (".wav", ".flac", ".ogg", ".mp3")

    def __init__(
        self,
        label_map: Mapping[str, str] | None = None,
        language: str | None = None,
        corpus_name: str = "generic",
    ) -> None:
        self.user_label_map = dict(label_map or {})
        labels.check_emotions(self.user_label_map.values(), what="label_map target")
        self.default_language = language or UNKNOWN
        self.name = corpus_name
        self.label_map: dict[str, str] = {}

    def scan(self, root: Path) -> tuple[list[dict[str, Any]], list[str]]:
        if root.is_file():
            rows = self.read_manifest(root)
            skipped: list[str] = []
        else:
            rows, skipped = self.read_folders(root)
        if rows and all(row["speaker"] == UNKNOWN for row in rows):
            logger.warning(
                "%s: no speaker information under %s; speaker-independent evaluation is impossible "
                "(use a CSV manifest with a speaker column)",
                self.name,
                root,
            )
        return rows, skipped

    # -- label handling ----------------------------------------------------------------------
    def map_labels(self, raw_labels: list[str], where: Path) -> None:
        """Fill ``self.label_map`` for these labels; CorpusError listing any unknown ones."""
        unknown = []
        for raw in sorted(set(raw_labels)):
            emotion = labels.canonical_emotion(raw, self.user_label_map)
            if emotion is None:
                unknown.append(raw)
            else:
                self.label_map[raw] = emotion
        if unknown:
            raise CorpusError(
                f"{self.name}: unknown label(s) {', '.join(map(repr, unknown))} in {where}; use one of "
                f"{', '.join(labels.EMOTIONS)} or a synonym, "
                f"or pass label_map={{'{unknown[0]}': '<emotion>'}}"
            )

    # -- folder mode -------------------------------------------------------------------------
    def read_folders(self, root: Path) -> tuple[list[dict[str, Any]], list[str]]:
        rows: list[dict[str, Any]] = []
        skipped: list[str] = []
        for relative in walk_files(root):
            extension = os.path.splitext(relative)[1].lower()
            if extension not in self.extensions:
                continue
            parts = relative.split("/")
            if len(parts) < 2:
                skipped.append(relative)  # a clip beside the label folders has no label
                continue
            rows.append(self.row(os.path.join(str(root), relative), parts[0], UNKNOWN, UNKNOWN, None))
        self.map_labels([row["label_raw"] for row in rows], root)
        return rows, skipped

    # -- manifest mode -----------------------------------------------------------------------
    def read_manifest(self, csv_path: Path) -> list[dict[str, Any]]:
        frame = read_csv(csv_path)
        problems = manifest_problems(frame)
        if problems:
            raise CorpusError(f"manifest {csv_path}: {problems}; expected {self.layout}")
        self.map_labels(frame["label"].tolist(), csv_path)
        paths = resolve_paths(frame["path"], csv_path.parent, self.extensions)
        has_speaker = "speaker" in frame
        extras = [c for c in frame.columns if c not in REQUIRED_COLUMNS + OPTIONAL_COLUMNS]
        rows = []
        for index, record in enumerate(frame.to_dict("records")):
            row = self.row(
                paths[index],
                record["label"],
                (record.get("speaker") or UNKNOWN) if has_speaker else UNKNOWN,
                record.get("gender") or UNKNOWN,
                record.get("language") or None,
            )
            row.update({column: record[column] for column in extras})
            rows.append(row)
        return rows

    def row(self, path: str, label: str, speaker: str, gender: str, language: str | None) -> dict[str, Any]:
        return {
            "path": path,
            "speaker": speaker,
            "gender": _GENDERS.get(gender.strip().lower(), gender.strip().lower() or UNKNOWN),
            "language": language or self.default_language,
            "label_raw": label,
            "key": path,
        }


def read_csv(path: Path) -> pd.DataFrame:
    """The manifest as strings with trimmed, lower-case column names; CorpusError if unreadable."""
    if path.suffix.lower() != ".csv":
        raise CorpusError(f"generic: {path} is a file but not a .csv manifest; pass a CSV or a folder")
    try:
        frame = pd.read_csv(path, dtype=str, keep_default_na=False, skipinitialspace=True)
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as exc:
        raise CorpusError(f"manifest {path} cannot be read as CSV: {exc}") from exc
    frame.columns = [str(column).strip().lower() for column in frame.columns]
    return frame.apply(lambda column: column.str.strip())


def manifest_problems(frame: pd.DataFrame) -> str:
    """What is wrong with a manifest's columns or cells, or '' when nothing is."""
    missing = [c for c in REQUIRED_COLUMNS if c not in frame.columns]
    if missing:
        return f"missing column(s) {', '.join(missing)} (has: {', '.join(frame.columns) or 'none'})"
    reserved = [c for c in frame.columns if c in RESERVED_COLUMNS]
    if reserved:
        return f"column(s) {', '.join(reserved)} are filled by voxemo; rename or drop them"
    if frame.empty:
        return "no rows"
    for column in REQUIRED_COLUMNS:
        blank = frame.index[frame[column] == ""].tolist()
        if blank:
            lines = ", ".join(str(i + 2) for i in blank[:_SHOWN])  # +2: header line, 1-based
            return f"empty {column} on line(s) {lines}"
    return ""


def resolve_paths(paths: pd.Series, base: Path, extensions: tuple[str, ...]) -> list[str]:
    """Absolute paths (relative ones against ``base``); CorpusError for unsupported or missing files."""
    resolved = [os.path.normpath(os.path.join(str(base.resolve()), os.path.expanduser(p))) for p in paths]
    unsupported = [p for p in resolved if os.path.splitext(p)[1].lower() not in extensions]
    if unsupported:
        raise CorpusError(
            f"generic: {len(unsupported)} listed file(s) are not {'/'.join(extensions)} audio, "
            f"e.g. {', '.join(unsupported[:_SHOWN])}"
        )
    missing = [p for p in resolved if not os.path.isfile(p)]
    if missing:
        raise CorpusError(
            f"generic: {len(missing)} listed file(s) do not exist, e.g. {', '.join(missing[:_SHOWN])}; "
            f"relative paths are resolved against {base}"
        )
    return resolved
