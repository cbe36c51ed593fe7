"""The canonical vocabulary, the per-corpus mappings, restrict() and merge()."""

from __future__ import annotations

import pandas as pd
import pytest

from voxemo.corpora import EMOTIONS, MAPPINGS, SYNONYMS, labels, merge, restrict
from voxemo.errors import CorpusError


def small_table() -> pd.DataFrame:
    emotions = ["angry", "calm", "neutral", "happy", "surprise", "sad"]
    return pd.DataFrame(
        {
            "path": [f"/x/{i}.wav" for i in range(len(emotions))],
            "speaker": ["a", "a", "b", "b", "c", "c"],
            "label_raw": [e.upper() for e in emotions],
            "emotion": emotions,
        },
        index=[10, 11, 12, 13, 14, 15],
    )


def test_vocabulary_is_the_documented_one():
    assert EMOTIONS == ("angry", "happy", "sad", "neutral", "fear", "disgust", "surprise", "calm", "boredom")


def test_every_mapping_targets_the_vocabulary():
    assert set(MAPPINGS) == {"ravdess", "emodb", "casia", "emovo", "tess", "cremad", "savee", "iemocap"}
    for name, mapping in MAPPINGS.items():
        targets = {t for t in mapping.values() if t is not None}
        assert targets <= set(EMOTIONS), name
    assert set(SYNONYMS.values()) <= set(EMOTIONS)
    # Every code table spells out to a raw name its mapping knows.
    for codes, mapping in [
        (labels.RAVDESS_CODES, labels.RAVDESS),
        (labels.EMODB_CODES, labels.EMODB),
        (labels.EMOVO_CODES, labels.EMOVO),
        (labels.TESS_CODES, labels.TESS),
        (labels.CREMAD_CODES, labels.CREMAD),
        (labels.SAVEE_CODES, labels.SAVEE),
        (labels.IEMOCAP_CODES, labels.IEMOCAP),
    ]:
        assert set(codes.values()) == set(mapping)


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("Anger", "angry"),
        (" MAD ", "angry"),
        ("pleasant_surprise", "surprise"),
        ("Fearful", "fear"),
        ("x", None),
    ],
)
def test_synonyms(raw, expected):
    assert labels.canonical_emotion(raw) == expected


def test_user_map_takes_precedence():
    assert labels.canonical_emotion("Mad", {"mad": "sad"}) == "sad"


def test_restrict_keeps_classes_and_resets_index():
    table = small_table()
    kept = restrict(table, ["angry", "sad"])
    assert list(kept["emotion"]) == ["angry", "sad"]
    assert list(kept.index) == [0, 1]
    assert len(table) == 6  # the input is untouched


def test_restrict_errors():
    with pytest.raises(CorpusError, match=r"unknown emotion.*'anger'"):
        restrict(small_table(), ["anger"])
    with pytest.raises(CorpusError, match="'boredom' have no utterances"):
        restrict(small_table(), ["angry", "boredom"])
    with pytest.raises(CorpusError, match="at least one"):
        restrict(small_table(), [])


def test_merge_both_spellings():
    table = small_table()
    by_target = merge(table, {"neutral": ["neutral", "calm"], "happy": ["happy", "surprise"]})
    by_source = merge(table, {"calm": "neutral", "surprise": "happy"})
    expected = ["angry", "neutral", "neutral", "happy", "happy", "sad"]
    assert list(by_target["emotion"]) == expected
    assert list(by_source["emotion"]) == expected
    assert list(by_target["label_raw"]) == list(table["label_raw"])  # traceable
    assert list(table["emotion"])[1] == "calm"  # the input is untouched


def test_merge_allows_absent_sources_and_rejects_conflicts():
    assert list(merge(small_table(), {"neutral": ["boredom"]})["emotion"]) == list(small_table()["emotion"])
    with pytest.raises(CorpusError, match="both"):
        merge(small_table(), {"neutral": ["calm"], "sad": ["calm"]})
    with pytest.raises(CorpusError, match="unknown emotion to merge"):
        merge(small_table(), {"neutral": ["relaxed"]})
