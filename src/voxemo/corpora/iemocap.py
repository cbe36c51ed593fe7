"""IEMOCAP (Busso et al. 2008): 5 sessions x 2 actors, dyadic improvised and scripted English.

Layout: audio ``Session1..5/sentences/wav/<dialog>/<utterance>.wav|flac``; labels from
``Session*/dialog/EmoEvaluation/*.txt``, one line per utterance::

    [6.2901 - 8.2357]\tSes01F_impro01_F000\tneu\t[2.5000, 2.5000, 2.5000]

(start - end in seconds, utterance id, consensus label, valence/activation/dominance). Labels:
ang, hap, exc, sad, neu, fru, sur, fea, dis, oth, xxx (no agreement). The speaker is the session
plus the gender letter of the utterance's own speaker: ``Ses01F_impro01_M003`` -> ``Ses01M``
(the first letter names who wore the markers, not who speaks).

Default: the usual 4-class setting, angry / happy (hap + exc merged) / sad / neutral; every
other utterance is dropped. ``keep_all=True`` also keeps surprise, fear and disgust (fru, oth
and xxx have no canonical class and are always dropped); ``merge_excited=False`` drops exc
instead of counting it as happy.
"""

from __future__ import annotations

import logging
import os
import re
from pathlib import Path
from typing import Any

from voxemo.corpora import labels
from voxemo.corpora.base import FEMALE, MALE, CorpusLoader, register_corpus, walk_files
from voxemo.errors import CorpusError

logger = logging.getLogger(__name__)

_LINE = re.compile(r"^\[\s*([\d.]+)\s*-\s*([\d.]+)\s*\]\s+(Ses\S+)\s+(\w+)\s+\[([^\]]*)\]")
_UTTERANCE = re.compile(r"^Ses(\d\d)[FM]_.+_([FM])\d+$")
_SESSION = re.compile(r"^Session(\d+)$")
FOUR_CLASS_RAW = ("anger", "happiness", "excited", "sadness", "neutral")
_GENDERS = {"F": FEMALE, "M": MALE}


@register_corpus("iemocap")
class IemocapLoader(CorpusLoader):
    language = "en"
    description = (
        "IEMOCAP: 10 actors in 5 sessions, improvised and scripted dialogues, English; "
        "default 4 classes (exc merged into happy)"
    )
    layout = (
        "Session1..5/sentences/wav/<dialog>/<utterance>.wav|flac with labels in "
        "Session*/dialog/EmoEvaluation/*.txt"
    )

    def __init__(self, keep_all: bool = False, merge_excited: bool = True) -> None:
        kept = set(labels.IEMOCAP) if keep_all else set(FOUR_CLASS_RAW)
        if not merge_excited:
            kept.discard("excited")
        self.label_map = {raw: emotion for raw, emotion in labels.IEMOCAP.items() if raw in kept and emotion}

    def scan(self, root: Path) -> tuple[list[dict[str, Any]], list[str]]:
        sessions = session_folders(root)
        if not sessions:
            raise CorpusError(f"no IEMOCAP Session folders found under {root}; expected {self.layout}")
        evaluations: dict[str, dict[str, Any]] = {}
        for session in sessions:
            evaluations.update(read_evaluations(session / "dialog" / "EmoEvaluation"))
        if not evaluations:
            raise CorpusError(
                f"no IEMOCAP label lines found in {root}/Session*/dialog/EmoEvaluation/*.txt; "
                f"expected {self.layout}"
            )
        rows, skipped, dropped = [], [], 0
        found: set[str] = set()
        for session in sessions:
            wav_root = session / "sentences" / "wav"
            for relative in walk_files(wav_root, max_depth=2):
                utterance, extension = os.path.splitext(os.path.basename(relative))
                if extension.lower() not in self.extensions:
                    continue
                label = evaluations.get(utterance)
                if label is None:
                    skipped.append(f"{session.name}/sentences/wav/{relative}")
                    continue
                found.add(utterance)
                if label["label_raw"] not in self.label_map:
                    dropped += 1
                    continue
                rows.append({**label, "path": os.path.join(str(wav_root), relative), "key": utterance})
        missing = len(set(evaluations) - found)
        if missing:
            logger.warning("iemocap: %d labelled utterance(s) under %s have no audio file", missing, root)
        logger.info("iemocap: dropped %d utterance(s) outside %s", dropped, sorted(self.label_map))
        return rows, skipped


def session_folders(root: Path) -> list[Path]:
    """``Session1`` .. ``Session5`` (any that exist), in session order."""
    if not root.is_dir():
        return []
    found = [(int(m.group(1)), entry) for entry in root.iterdir() if (m := _SESSION.match(entry.name))]
    return [path for _, path in sorted(found) if path.is_dir()]


def read_evaluations(folder: Path) -> dict[str, dict[str, Any]]:
    """Utterance id -> row fields from every ``*.txt`` directly in an EmoEvaluation folder."""
    result: dict[str, dict[str, Any]] = {}
    if not folder.is_dir():
        return result
    for path in sorted(folder.glob("*.txt")):
        if path.name.startswith("."):
            continue
        for line in path.read_text(encoding="utf-8", errors="replace").splitlines():
            parsed = parse_evaluation_line(line)
            if parsed is not None:
                utterance, fields = parsed
                result[utterance] = fields
    return result


def parse_evaluation_line(line: str) -> tuple[str, dict[str, Any]] | None:
    """(utterance id, row fields) of one ``[start - end]\\tutt\\temo\\t[V, A, D]`` line, or None."""
    match = _LINE.match(line)
    if match is None:
        return None
    start, end, utterance, code, vad = match.groups()
    ids = _UTTERANCE.match(utterance)
    code = code.lower()
    if ids is None or code not in labels.IEMOCAP_CODES:
        return None
    session, gender = ids.groups()
    dialog = utterance.rsplit("_", 1)[0]
    valence, arousal, dominance = (_float_or_nan(value) for value in [*vad.split(","), "", "", ""][:3])
    return utterance, {
        "speaker": f"Ses{session}{gender}",
        "gender": _GENDERS[gender],
        "label_raw": labels.IEMOCAP_CODES[code],
        "label_code": code,
        "session": int(session),
        "improvised": "_impro" in dialog,
        "dialog": dialog,
        "start": float(start),
        "end": float(end),
        "valence": valence,
        "arousal": arousal,
        "dominance": dominance,
    }


def _float_or_nan(text: str) -> float:
    try:
        return float(text)
    except ValueError:
        return float("nan")
