"""The four shared corpora load exactly as MANIFEST.json describes them, quickly and without decoding."""

from __future__ import annotations

import time
from collections import Counter
from pathlib import Path

import pytest

from tests.conftest import dataset_root
from voxemo.corpora import COLUMNS, EMOTIONS, load_corpus
from voxemo.corpora import labels as L

pytestmark = pytest.mark.corpus

SHARED = ("ravdess", "emodb", "casia", "emovo")

# How MANIFEST names a speaker, from the table's speaker id.
MANIFEST_SPEAKER = {
    "ravdess": lambda speaker: f"Actor_{speaker}",
    "emodb": str,
    "casia": str,
    "emovo": str,
}


@pytest.fixture(scope="module")
def tables() -> dict:
    loaded = {}
    for name in SHARED:
        root = dataset_root(name)
        loaded[name] = load_corpus(name, root)
    return loaded


@pytest.mark.parametrize("name", SHARED)
def test_counts_match_manifest(name, tables, manifest):
    table, expected = tables[name], manifest[name]
    assert len(table) == expected["files"]
    assert table["speaker"].nunique() == expected["speakers"]
    per_speaker = Counter(table["speaker"].map(MANIFEST_SPEAKER[name]))
    assert dict(per_speaker) == expected["per_speaker"]
    assert dict(Counter(table["label_raw"])) == expected["emotions"]


@pytest.mark.parametrize("name", SHARED)
def test_schema_and_canonical_mapping(name, tables):
    table = tables[name]
    assert tuple(table.columns[: len(COLUMNS)]) == COLUMNS
    assert (table["corpus"] == name).all()
    assert table["path"].is_unique
    assert all(Path(p).is_absolute() for p in table["path"])
    assert list(table["path"]) == sorted(table["path"])
    assert list(table.index) == list(range(len(table)))
    assert set(table["emotion"]) <= set(EMOTIONS)
    mapping = L.MAPPINGS[name]
    assert (table["emotion"] == table["label_raw"].map(mapping)).all()
    # Each raw label in the table maps to one emotion and every emotion comes from one raw label.
    pairs = table[["label_raw", "emotion"]].drop_duplicates()
    assert pairs["label_raw"].is_unique and pairs["emotion"].is_unique


def test_canonical_classes_per_corpus(tables):
    assert set(tables["ravdess"]["emotion"]) == {
        "neutral", "calm", "happy", "sad", "angry", "fear", "disgust", "surprise",
    }  # fmt: skip
    assert set(tables["emodb"]["emotion"]) == {
        "angry",
        "boredom",
        "disgust",
        "fear",
        "happy",
        "sad",
        "neutral",
    }
    assert set(tables["casia"]["emotion"]) == {"angry", "fear", "happy", "neutral", "sad", "surprise"}
    assert set(tables["emovo"]["emotion"]) == {
        "angry",
        "disgust",
        "fear",
        "happy",
        "neutral",
        "sad",
        "surprise",
    }


def test_ravdess_fields(tables):
    table = tables["ravdess"]
    row = table[table["path"].str.endswith("03-01-06-02-01-02-07.flac")].iloc[0]
    assert (row["speaker"], row["gender"], row["label_raw"], row["emotion"]) == (
        "07",
        "male",
        "fearful",
        "fear",
    )
    assert (row["intensity"], row["statement"], row["repetition"], row["label_code"]) == (
        "strong",
        "kids",
        2,
        "06",
    )
    genders = table.groupby("speaker")["gender"].first()
    assert genders["01"] == "male" and genders["02"] == "female" and (genders == "female").sum() == 12
    # Neutral has no strong intensity in RAVDESS.
    assert set(table.loc[table["emotion"] == "neutral", "intensity"]) == {"normal"}
    assert Counter(table["intensity"]) == {"normal": 768, "strong": 672}


def test_emodb_fields(tables):
    table = tables["emodb"]
    genders = table.groupby("speaker")["gender"].first().to_dict()
    assert genders == {
        "03": "male", "08": "female", "09": "female", "10": "male", "11": "male",
        "12": "male", "13": "female", "14": "female", "15": "male", "16": "female",
    }  # fmt: skip
    row = table[table["path"].str.endswith("03a01Wa.flac")].iloc[0]
    assert (row["label_raw"], row["emotion"], row["text"], row["label_code"]) == (
        "anger",
        "angry",
        "a01",
        "W",
    )
    assert (table["language"] == "de").all()


def test_casia_and_emovo_fields(tables):
    casia = tables["casia"]
    assert casia.groupby("speaker")["gender"].first().to_dict() == {
        "ZhaoZuoxiang": "male", "liuchanhg": "female", "wangzhe": "male", "zhaoquanyin": "female",
    }  # fmt: skip
    emovo = tables["emovo"]
    assert (emovo["gender"] == emovo["speaker"].str[0].map({"f": "female", "m": "male"})).all()
    row = emovo[emovo["path"].str.endswith("gio-m2-n3.flac")].iloc[0]
    assert (row["speaker"], row["label_raw"], row["emotion"], row["sentence"]) == ("m2", "joy", "happy", "n3")


def test_emodb_originals_flat_layout():
    table = load_corpus("emodb", dataset_root("emodb-originals"))
    assert len(table) == 7
    assert set(table["speaker"]) == {"03"}
    assert all(p.endswith(".wav") for p in table["path"])
    assert set(table["label_raw"]) == {
        "happiness",
        "neutral",
        "anger",
        "sadness",
        "fear",
        "boredom",
        "disgust",
    }


@pytest.mark.parametrize("name", SHARED)
def test_loading_is_fast(name):
    root = dataset_root(name)
    start = time.perf_counter()
    load_corpus(name, root)
    assert time.perf_counter() - start < 1.0


def test_restrict_and_merge_on_ravdess():
    table = load_corpus(
        "ravdess",
        dataset_root("ravdess"),
        merge={"neutral": ["neutral", "calm"]},
        emotions=["angry", "happy", "sad", "neutral"],
    )
    assert Counter(table["emotion"]) == {"angry": 192, "happy": 192, "sad": 192, "neutral": 288}
    assert set(table.loc[table["emotion"] == "neutral", "label_raw"]) == {"neutral", "calm"}
