"""Speaker-independent splitters: no speaker in two of train/val/test, full test coverage, determinism."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from tests.conftest import dataset_root
from voxemo.errors import ConfigError, CorpusError
from voxemo.evaluation.splits import (
    Fold,
    add_validation,
    check_speaker_independent,
    describe,
    leave_one_speaker_out,
    protocol_folds,
    speaker_group_folds,
    validation_split,
)


def make_table(speakers: dict[str, int], corpus: str = "toy") -> pd.DataFrame:
    """``count`` rows per speaker, interleaved so speakers are not contiguous blocks."""
    rows = [(speaker, i) for speaker, count in speakers.items() for i in range(count)]
    rows.sort(key=lambda row: (row[1], row[0]))
    return pd.DataFrame(
        {
            "path": [f"/{corpus}/{s}/{i}.wav" for s, i in rows],
            "corpus": corpus,
            "speaker": [s for s, _ in rows],
            "emotion": ["angry" if i % 2 else "sad" for _, i in rows],
        }
    )


TOY = {"s1": 5, "s2": 3, "s3": 7, "s4": 4, "s5": 6, "s6": 2, "s7": 5}


def assert_independent(folds: list[Fold], table: pd.DataFrame) -> None:
    """The invariant, checked here independently of check_speaker_independent()."""
    speakers = table["speaker"].to_numpy()
    for fold in folds:
        train, val, test = (set(speakers[idx]) for idx in (fold.train, fold.val, fold.test))
        assert not train & test and not train & val and not val & test, fold.name
        assert len(fold.test) > 0 and len(fold.train) > 0
        every = np.concatenate([fold.train, fold.val, fold.test])
        assert sorted(every) == list(range(len(table))), fold.name  # each row once per fold
        for idx in (fold.train, fold.val, fold.test):
            assert idx.dtype.kind == "i" and list(idx) == sorted(idx)
    check_speaker_independent(folds, table)


def assert_each_row_tested_once(folds: list[Fold], table: pd.DataFrame) -> None:
    tested = np.concatenate([fold.test for fold in folds])
    assert sorted(tested) == list(range(len(table)))


def test_leave_one_speaker_out():
    table = make_table(TOY)
    folds = leave_one_speaker_out(table)
    assert [fold.name for fold in folds] == [f"speaker-s{i}" for i in range(1, 8)]
    for fold, speaker in zip(folds, sorted(TOY), strict=True):
        assert set(table["speaker"].iloc[fold.test]) == {speaker}
        assert len(fold.test) == TOY[speaker] and len(fold.val) == 0
    assert_independent(folds, table)
    assert_each_row_tested_once(folds, table)


def test_explicit_groups_accept_numbers_for_padded_ids():
    table = make_table({f"{i:02d}": 2 for i in range(1, 9)})
    folds = speaker_group_folds(table, groups=[[1, 2, 3, 4], ["05", "06", 7, "8"]])
    assert [sorted(set(table["speaker"].iloc[f.test])) for f in folds] == [
        ["01", "02", "03", "04"],
        ["05", "06", "07", "08"],
    ]
    assert_independent(folds, table)
    assert_each_row_tested_once(folds, table)


@pytest.mark.parametrize(
    ("groups", "message"),
    [
        ([["s1", "s2", "s3"], ["s4", "s5", "s6", "s7", "s9"]], "s9 are not speakers"),
        ([["s1", "s2", "s3", "s4"], ["s4", "s5", "s6", "s7"]], "s4 appear in more than one group"),
        ([["s1", "s2", "s3"], ["s4", "s5", "s6"]], "s7 are in no group"),
        ([list(TOY)], "at least two groups"),
        ([["s1", "s2", "s3", "s4"], []], "non-empty list"),
    ],
)
def test_explicit_group_errors(groups, message):
    with pytest.raises(ConfigError, match=message):
        speaker_group_folds(make_table(TOY), groups=groups)


def test_random_groups_are_balanced_and_seeded():
    table = make_table(TOY)
    folds = speaker_group_folds(table, k=3, seed=1)
    sizes = sorted(len(set(table["speaker"].iloc[f.test])) for f in folds)
    assert sizes == [2, 2, 3]
    assert_independent(folds, table)
    assert_each_row_tested_once(folds, table)
    again = speaker_group_folds(table, k=3, seed=1)
    assert all(np.array_equal(a.test, b.test) for a, b in zip(folds, again, strict=True))
    partitions = {
        tuple(
            tuple(sorted(set(table["speaker"].iloc[f.test]))) for f in speaker_group_folds(table, k=3, seed=s)
        )
        for s in range(10)
    }
    assert len(partitions) > 1  # the seed matters


@pytest.mark.parametrize("kwargs", [{}, {"k": 3, "groups": [["s1"], ["s2"]]}, {"k": 1}, {"k": 8}])
def test_group_argument_errors(kwargs):
    with pytest.raises(ConfigError):
        speaker_group_folds(make_table(TOY), **kwargs)


def test_validation_split_uses_training_speakers_only():
    table = make_table(TOY)
    speakers = table["speaker"].to_numpy()
    fold = leave_one_speaker_out(table)[0]
    train, val = validation_split(table, fold.train, fraction=0.34, seed=3)
    assert len(set(speakers[val])) == 2  # round(0.34 * 6)
    assert set(speakers[val]) <= set(speakers[fold.train]) - {"s1"}
    assert not set(speakers[val]) & set(speakers[train])
    assert sorted(np.concatenate([train, val])) == sorted(fold.train)
    same = validation_split(table, fold.train, fraction=0.34, seed=3)
    assert np.array_equal(same[1], val)
    _, val1 = validation_split(table, fold.train, n_speakers=1, seed=0)
    assert len(set(speakers[val1])) == 1
    # A tiny fraction still gives one validation speaker; a huge one leaves one to train on.
    assert len(set(speakers[validation_split(table, fold.train, fraction=0.01)[1]])) == 1
    assert len(set(speakers[validation_split(table, fold.train, fraction=0.99)[0]])) == 1


def test_validation_split_errors():
    table = make_table(TOY)
    only_s1 = np.flatnonzero(table["speaker"] == "s1")
    with pytest.raises(CorpusError, match="1 speaker"):
        validation_split(table, only_s1)
    with pytest.raises(ConfigError, match="n_speakers"):
        validation_split(table, np.arange(len(table)), n_speakers=7)
    with pytest.raises(ConfigError, match="fraction"):
        validation_split(table, np.arange(len(table)), fraction=1.5)


def test_add_validation_keeps_every_fold_independent():
    table = make_table(TOY)
    folds = add_validation(speaker_group_folds(table, k=3, seed=0), table, n_speakers=1, seed=5)
    assert all(len(set(table["speaker"].iloc[f.val])) == 1 for f in folds)
    assert_independent(folds, table)
    again = add_validation(speaker_group_folds(table, k=3, seed=0), table, n_speakers=1, seed=5)
    assert all(np.array_equal(a.val, b.val) for a, b in zip(folds, again, strict=True))


def test_one_speaker_or_unknown_speakers_are_clear_errors():
    with pytest.raises(CorpusError, match=r"1 speaker \(s1\).*at least two"):
        leave_one_speaker_out(make_table({"s1": 4}))
    with pytest.raises(CorpusError, match="1 speaker"):
        speaker_group_folds(make_table({"s1": 4}), k=2)
    with pytest.raises(CorpusError, match="'unknown'"):
        leave_one_speaker_out(make_table({"unknown": 4, "s1": 2}))
    with pytest.raises(CorpusError, match="no 'speaker' column"):
        leave_one_speaker_out(pd.DataFrame({"path": ["a"]}))


def test_speakers_of_different_corpora_are_different_people():
    table = pd.concat(
        [make_table({"03": 2, "04": 2}, "emodb"), make_table({"03": 3}, "other")], ignore_index=True
    )
    folds = leave_one_speaker_out(table)
    assert [f.name for f in folds] == ["speaker-emodb/03", "speaker-emodb/04", "speaker-other/03"]
    assert [len(f.test) for f in folds] == [2, 2, 3]


def test_check_speaker_independent_catches_leaks():
    table = make_table(TOY)
    leaky = Fold("bad", train=np.arange(10), test=np.arange(5, 15))
    with pytest.raises(CorpusError, match="in both train and test"):
        check_speaker_independent([leaky], table)


def test_describe_is_json_able():
    table = make_table(TOY)
    folds = add_validation(leave_one_speaker_out(table), table, n_speakers=1)
    summary = json.loads(json.dumps(describe(folds, table)))
    assert summary["n_folds"] == 7 and summary["n_utterances"] == len(table)
    first = summary["folds"][0]
    assert first["name"] == "speaker-s1" and first["test"] == {"size": 5, "speakers": ["s1"]}
    assert first["train"]["size"] + first["val"]["size"] + first["test"]["size"] == len(table)
    assert len(first["val"]["speakers"]) == 1 and len(first["train"]["speakers"]) == 5


def test_protocol_for_unknown_corpus():
    with pytest.raises(ConfigError, match=r"no standard protocol.*leave_one_speaker_out"):
        protocol_folds("generic", make_table(TOY))


def test_ravdess_protocol_on_synthetic_actors():
    table = make_table({f"{i:02d}": 3 for i in range(1, 25)}, "ravdess")
    folds = protocol_folds("ravdess", table)
    assert [f.name for f in folds] == [f"actors-{a:02d}-{a + 3:02d}" for a in range(1, 25, 4)]


def test_iemocap_and_cremad_protocols():
    iemocap = make_table({f"Ses0{s}{g}": 2 for s in range(1, 6) for g in "FM"}, "iemocap")
    folds = protocol_folds("iemocap", iemocap)
    assert [sorted(set(iemocap["speaker"].iloc[f.test])) for f in folds] == [
        [f"Ses0{s}F", f"Ses0{s}M"] for s in range(1, 6)
    ]
    cremad = make_table({str(1001 + i): 2 for i in range(91)}, "cremad")
    folds = protocol_folds("cremad", cremad)
    assert len(folds) == 5
    assert_independent(folds, cremad)
    assert_each_row_tested_once(folds, cremad)


# -- the standard protocols on the real corpora -------------------------------------------------

PROTOCOL_SIZES = {"emodb": 10, "ravdess": 6, "casia": 4, "emovo": 6}


@pytest.mark.corpus
@pytest.mark.parametrize("name", sorted(PROTOCOL_SIZES))
def test_standard_protocols_on_real_corpora(name):
    from voxemo.corpora import load_corpus

    table = load_corpus(name, dataset_root(name))
    folds = protocol_folds(name, table)
    assert len(folds) == PROTOCOL_SIZES[name]
    assert_each_row_tested_once(folds, table)
    folds = add_validation(folds, table, fraction=0.2, seed=0)
    assert_independent(folds, table)
    if name == "ravdess":
        actors = [sorted(int(s) for s in set(table["speaker"].iloc[f.test])) for f in folds]
        assert actors == [list(range(a, a + 4)) for a in range(1, 25, 4)]
    else:
        assert all(table["speaker"].iloc[f.test].nunique() == 1 for f in folds)
    again = add_validation(protocol_folds(name, table), table, fraction=0.2, seed=0)
    assert all(np.array_equal(a.val, b.val) for a, b in zip(folds, again, strict=True))
