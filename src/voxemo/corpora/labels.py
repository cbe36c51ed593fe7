"""The canonical emotion vocabulary, every corpus's label mapping, and class restriction/merging.

Every loader fills two label columns:

- ``label_raw``: the corpus's own label, spelled out in English the way its documentation
  names it ("fearful" in RAVDESS, "anger" in EmoDB, "joy" in EMOVO). Where a corpus encodes the
  label in a file name, the literal code sits beside it in ``label_code`` ("06", "W", "gio").
- ``emotion``: the canonical label, one of :data:`EMOTIONS`.

Canonical vocabulary: ``angry, happy, sad, neutral, fear, disgust, surprise, calm, boredom``.

Per-corpus mappings (raw -> canonical); ``None`` means "no canonical class, row dropped":

=========  ===========================================================================
corpus     mapping
=========  ===========================================================================
ravdess    neutral, calm, happy, sad, angry, fearful->fear, disgust, surprised->surprise
           (codes 01..08 in that order)
emodb      anger->angry (W), boredom (L), disgust (E), fear (A), happiness->happy (F),
           sadness->sad (T), neutral (N)
casia      angry, fear, happy, neutral, sad, surprise (folder names, identity)
emovo      anger->angry (rab), disgust (dis), fear (pau), joy->happy (gio), neutral (neu),
           sadness->sad (tri), surprise (sor)
tess       angry, disgust, fear, happy, neutral, sad, pleasant surprise->surprise (ps)
cremad     anger->angry (ANG), disgust (DIS), fear (FEA), happy (HAP), neutral (NEU), sad (SAD)
savee      anger->angry (a), disgust (d), fear (f), happiness->happy (h), neutral (n),
           sadness->sad (sa), surprise (su)
iemocap    anger->angry (ang), happiness->happy (hap), excited->happy (exc), sadness->sad (sad),
           neutral (neu), surprise (sur), fear (fea), disgust (dis); frustration (fru),
           other (oth) and no agreement (xxx) -> None
generic    :data:`SYNONYMS` ("anger", "angry", "mad" -> angry, ...), plus a user ``label_map``
=========  ===========================================================================

:func:`restrict` keeps a subset of classes and :func:`merge` folds classes together; both
return new tables and never touch the one passed in.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence

import pandas as pd

from voxemo.errors import CorpusError

EMOTIONS: tuple[str, ...] = (
    "angry",
    "happy",
    "sad",
    "neutral",
    "fear",
    "disgust",
    "surprise",
    "calm",
    "boredom",
)

# --- code -> raw (long) name, for corpora that encode labels in file names -----------------

RAVDESS_CODES: dict[str, str] = {
    "01": "neutral",
    "02": "calm",
    "03": "happy",
    "04": "sad",
    "05": "angry",
    "06": "fearful",
    "07": "disgust",
    "08": "surprised",
}
EMODB_CODES: dict[str, str] = {
    "W": "anger",  # Wut
    "L": "boredom",  # Langeweile
    "E": "disgust",  # Ekel
    "A": "fear",  # Angst
    "F": "happiness",  # Freude
    "T": "sadness",  # Trauer
    "N": "neutral",
}
EMOVO_CODES: dict[str, str] = {
    "dis": "disgust",  # disgusto
    "gio": "joy",  # gioia
    "neu": "neutral",
    "pau": "fear",  # paura
    "rab": "anger",  # rabbia
    "sor": "surprise",  # sorpresa
    "tri": "sadness",  # tristezza
}
TESS_CODES: dict[str, str] = {
    "angry": "angry",
    "disgust": "disgust",
    "fear": "fear",
    "happy": "happy",
    "neutral": "neutral",
    "sad": "sad",
    "ps": "pleasant surprise",
}
CREMAD_CODES: dict[str, str] = {
    "ANG": "anger",
    "DIS": "disgust",
    "FEA": "fear",
    "HAP": "happy",
    "NEU": "neutral",
    "SAD": "sad",
}
SAVEE_CODES: dict[str, str] = {
    "a": "anger",
    "d": "disgust",
    "f": "fear",
    "h": "happiness",
    "n": "neutral",
    "sa": "sadness",
    "su": "surprise",
}
IEMOCAP_CODES: dict[str, str] = {
    "ang": "anger",
    "hap": "happiness",
    "exc": "excited",
    "sad": "sadness",
    "neu": "neutral",
    "fru": "frustration",
    "sur": "surprise",
    "fea": "fear",
    "dis": "disgust",
    "oth": "other",
    "xxx": "no agreement",
}

# --- raw (long) name -> canonical emotion ---------------------------------------------------

RAVDESS: dict[str, str] = {
    "neutral": "neutral",
    "calm": "calm",
    "happy": "happy",
    "sad": "sad",
    "angry": "angry",
    "fearful": "fear",
    "disgust": "disgust",
    "surprised": "surprise",
}
EMODB: dict[str, str] = {
    "anger": "angry",
    "boredom": "boredom",
    "disgust": "disgust",
    "fear": "fear",
    "happiness": "happy",
    "sadness": "sad",
    "neutral": "neutral",
}
CASIA: dict[str, str] = {
    "angry": "angry",
    "fear": "fear",
    "happy": "happy",
    "neutral": "neutral",
    "sad": "sad",
    "surprise": "surprise",
}
EMOVO: dict[str, str] = {
    "anger": "angry",
    "disgust": "disgust",
    "fear": "fear",
    "joy": "happy",
    "neutral": "neutral",
    "sadness": "sad",
    "surprise": "surprise",
}
TESS: dict[str, str] = {
    "angry": "angry",
    "disgust": "disgust",
    "fear": "fear",
    "happy": "happy",
    "neutral": "neutral",
    "sad": "sad",
    "pleasant surprise": "surprise",
}
CREMAD: dict[str, str] = {
    "anger": "angry",
    "disgust": "disgust",
    "fear": "fear",
    "happy": "happy",
    "neutral": "neutral",
    "sad": "sad",
}
SAVEE: dict[str, str] = {
    "anger": "angry",
    "disgust": "disgust",
    "fear": "fear",
    "happiness": "happy",
    "neutral": "neutral",
    "sadness": "sad",
    "surprise": "surprise",
}
# Excited is merged into happy, as in most IEMOCAP 4-class work (ang, hap+exc, sad, neu).
IEMOCAP: dict[str, str | None] = {
    "anger": "angry",
    "happiness": "happy",
    "excited": "happy",
    "sadness": "sad",
    "neutral": "neutral",
    "surprise": "surprise",
    "fear": "fear",
    "disgust": "disgust",
    "frustration": None,
    "other": None,
    "no agreement": None,
}

MAPPINGS: dict[str, Mapping[str, str | None]] = {
    "ravdess": RAVDESS,
    "emodb": EMODB,
    "casia": CASIA,
    "emovo": EMOVO,
    "tess": TESS,
    "cremad": CREMAD,
    "savee": SAVEE,
    "iemocap": IEMOCAP,
}

# Free-form labels of generic data sets (compared after normalize_label_text).
SYNONYMS: dict[str, str] = {
    **{name: name for name in EMOTIONS},
    "anger": "angry",
    "mad": "angry",
    "rage": "angry",
    "annoyed": "angry",
    "ang": "angry",
    "happiness": "happy",
    "joy": "happy",
    "joyful": "happy",
    "glad": "happy",
    "hap": "happy",
    "sadness": "sad",
    "sorrow": "sad",
    "unhappy": "sad",
    "neu": "neutral",
    "fearful": "fear",
    "afraid": "fear",
    "scared": "fear",
    "fea": "fear",
    "disgusted": "disgust",
    "dis": "disgust",
    "surprised": "surprise",
    "pleasant surprise": "surprise",
    "pleasant surprised": "surprise",
    "ps": "surprise",
    "sur": "surprise",
    "calmness": "calm",
    "bored": "boredom",
}


def normalize_label_text(label: object) -> str:
    """Lower-case, trim and treat ``_``/``-`` as spaces, so "Pleasant_Surprise" finds its synonym."""
    text = str(label).strip().lower().replace("_", " ").replace("-", " ")
    return " ".join(text.split())


def canonical_emotion(label: object, extra: Mapping[str, str] | None = None) -> str | None:
    """Canonical emotion of a free-form label, or ``None`` when neither ``extra`` nor SYNONYMS knows it."""
    if extra:
        normalized_extra = {normalize_label_text(k): v for k, v in extra.items()}
        key = normalize_label_text(label)
        if key in normalized_extra:
            return normalized_extra[key]
    return SYNONYMS.get(normalize_label_text(label))


def check_emotions(names: Iterable[str], what: str = "emotion") -> list[str]:
    """The names as a list; CorpusError naming any that are not canonical emotions."""
    names = [names] if isinstance(names, str) else list(names)
    unknown = [name for name in names if name not in EMOTIONS]
    if unknown:
        raise CorpusError(
            f"unknown {what}(s) {', '.join(map(repr, unknown))}; "
            f"canonical emotions are: {', '.join(EMOTIONS)}"
        )
    return names


def restrict(table: pd.DataFrame, emotions: Sequence[str]) -> pd.DataFrame:
    """Rows whose ``emotion`` is one of ``emotions`` (a new table, index reset).

    Raises CorpusError if a name is not a canonical emotion or has no rows in the table, since
    training a class without examples is always a mistake.
    """
    wanted = check_emotions(emotions)
    if not wanted:
        raise CorpusError("restrict() needs at least one emotion to keep")
    present = set(table["emotion"].unique())
    absent = [name for name in wanted if name not in present]
    if absent:
        raise CorpusError(
            f"emotion(s) {', '.join(map(repr, absent))} have no utterances in this table; "
            f"it holds: {', '.join(sorted(present))}"
        )
    kept = table[table["emotion"].isin(wanted)]
    return kept.reset_index(drop=True)


def _merge_plan(groups: Mapping[str, str | Sequence[str]]) -> dict[str, str]:
    """Source -> target from either ``{target: [sources]}`` or ``{source: target}``."""
    plan: dict[str, str] = {}
    for key, value in groups.items():
        pairs = [(key, value)] if isinstance(value, str) else [(source, key) for source in value]
        for source, target in pairs:
            if not isinstance(target, str) or not target.strip():
                raise CorpusError(f"merge target for {source!r} must be a non-empty class name")
            if source in plan and plan[source] != target:
                raise CorpusError(f"merge sends {source!r} to both {plan[source]!r} and {target!r}")
            plan[source] = target
    check_emotions(plan, what="emotion to merge")
    return plan


def merge(table: pd.DataFrame, groups: Mapping[str, str | Sequence[str]]) -> pd.DataFrame:
    """A new table whose ``emotion`` column has classes folded together.

    ``groups`` is either ``{"neutral": ["neutral", "calm"], "happy": ["happy", "surprise"]}``
    (target -> sources) or ``{"calm": "neutral"}`` (source -> target). Sources must be canonical
    emotions; sources missing from the table are fine (one merge plan can serve several corpora).
    ``label_raw`` keeps the original label so the merge stays traceable.
    """
    plan = _merge_plan(groups)
    merged = table.copy()
    merged["emotion"] = merged["emotion"].map(lambda emotion: plan.get(emotion, emotion))
    return merged
