"""Every loader against small fixture trees (empty files: loaders never decode audio)."""

from __future__ import annotations

import logging
from collections import Counter
from pathlib import Path

import pytest

from voxemo.corpora import CORPORA, list_corpora, load_corpus
from voxemo.errors import CorpusError, RegistryError


def touch(root: Path, *relative: str) -> None:
    for name in relative:
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(b"")


def test_every_loader_is_registered_and_listed():
    names = {"ravdess", "emodb", "casia", "emovo", "tess", "cremad", "savee", "iemocap", "generic"}
    assert set(CORPORA.names()) == names
    infos = {info["name"]: info for info in list_corpora()}
    assert set(infos) == names
    for info in infos.values():
        assert info["language"] and info["description"] and info["layout"]
    assert "Actor_XX" in infos["ravdess"]["layout"]
    with pytest.raises(RegistryError, match="known: casia"):
        load_corpus("nosuchcorpus", ".")


# -- the shared corpora's loaders on fixture trees -------------------------------------------


def test_ravdess_skips_song_video_and_unrelated_files(tmp_path, caplog):
    touch(
        tmp_path,
        "Actor_01/03-01-01-01-01-01-01.wav",
        "Actor_02/03-01-08-02-02-01-02.flac",
        "Actor_02/03-02-08-02-02-01-02.wav",  # song
        "Actor_02/01-01-08-02-02-01-02.wav",  # audio-video
        "Actor_02/notes.wav",
        "Actor_02/readme.txt",
        "Actor_02/._03-01-01-01-01-01-02.wav",  # macOS resource fork
    )
    with caplog.at_level(logging.WARNING):
        table = load_corpus("ravdess", tmp_path)
    assert list(table["label_raw"]) == ["neutral", "surprised"]
    assert list(table["speaker"]) == ["01", "02"] and list(table["gender"]) == ["male", "female"]
    assert table.attrs["skipped_files"] == 3
    assert "ignored 3 audio file(s)" in caplog.text


def test_emodb_wav_subfolder_wins_over_other_folders(tmp_path):
    touch(tmp_path, "wav/03a01Wa.wav", "wav/16b10Td.wav", "labsilb/03a01Wa.lab", "silb/x.wav")
    table = load_corpus("emodb", tmp_path)
    assert list(table["emotion"]) == ["angry", "sad"]
    assert list(table["gender"]) == ["male", "female"]
    assert list(table["version"]) == ["a", "d"]


def test_casia_and_emovo_trees(tmp_path):
    touch(tmp_path / "casia", "wangzhe/sad/201.wav", "wangzhe/sad/202.flac", "newspeaker/happy/201.wav")
    casia = load_corpus("casia", tmp_path / "casia")
    assert Counter(casia["emotion"]) == {"sad": 2, "happy": 1}
    assert casia.set_index("speaker")["gender"].to_dict() == {"newspeaker": "unknown", "wangzhe": "male"}
    touch(tmp_path / "emovo", "f1/rab-f1-b1.wav", "m3/tri-m3-n5.flac", "m3/other-m3-n5.wav")
    emovo = load_corpus("emovo", tmp_path / "emovo")
    assert list(emovo["emotion"]) == ["angry", "sad"] and list(emovo["gender"]) == ["female", "male"]


# -- corpora that are not shared -------------------------------------------------------------


def test_tess(tmp_path):
    touch(
        tmp_path,
        "OAF_angry/OAF_back_angry.wav",
        "OAF_Pleasant_surprise/OAF_back_ps.wav",
        "YAF_pleasant_surprised/YAF_bath_ps.wav",
        "YAF_neutral/YAF_bath_neutral.flac",
        "YAF_neutral/Thumbs.db",
    )
    table = load_corpus("tess", tmp_path)
    rows = table.set_index(table["path"].map(lambda p: Path(p).stem))
    assert rows["speaker"].to_dict() == {
        "OAF_back_angry": "OAF", "OAF_back_ps": "OAF", "YAF_bath_ps": "YAF", "YAF_bath_neutral": "YAF",
    }  # fmt: skip
    assert rows.loc["YAF_bath_ps", "label_raw"] == "pleasant surprise"
    assert rows["emotion"].to_dict() == {
        "OAF_back_angry": "angry", "OAF_back_ps": "surprise", "YAF_bath_ps": "surprise",
        "YAF_bath_neutral": "neutral",
    }  # fmt: skip
    assert set(table["gender"]) == {"female"} and set(table["word"]) == {"back", "bath"}


def test_cremad_with_and_without_demographics(tmp_path):
    touch(
        tmp_path,
        "AudioWAV/1001_DFA_ANG_XX.wav",
        "AudioWAV/1002_IEO_HAP_HI.wav",
        "AudioWAV/1091_TIE_SAD_LO.wav",
    )
    table = load_corpus("cremad", tmp_path)
    assert list(table["speaker"]) == ["1001", "1002", "1091"]
    assert list(table["emotion"]) == ["angry", "happy", "sad"]
    assert list(table["level"]) == ["unspecified", "high", "low"]
    assert set(table["gender"]) == {"unknown"}
    (tmp_path / "VideoDemographics.csv").write_text(
        "ActorID,Age,Sex,Race,Ethnicity\n"
        "1001,51,Male,Caucasian,Not Hispanic\n"
        "1002,21,Female,Caucasian,Not Hispanic\n"
    )
    table = load_corpus("cremad", tmp_path)
    assert list(table["gender"]) == ["male", "female", "unknown"]


def test_cremad_bad_demographics_is_a_corpus_error(tmp_path):
    touch(tmp_path, "AudioWAV/1001_DFA_ANG_XX.wav")
    (tmp_path / "VideoDemographics.csv").write_text("id,sex\n1001,Male\n")
    with pytest.raises(CorpusError, match="ActorID and Sex"):
        load_corpus("cremad", tmp_path)


def test_savee_nested_and_flat(tmp_path):
    touch(tmp_path / "nested", "AudioData/DC/a01.wav", "AudioData/JE/sa15.wav", "AudioData/KL/su03.wav")
    touch(tmp_path / "nested", "AudioData/DC/info.txt", "AudioData/JK/x01.wav")
    nested = load_corpus("savee", tmp_path / "nested")
    assert list(nested["speaker"]) == ["DC", "JE", "KL"]
    assert list(nested["emotion"]) == ["angry", "sad", "surprise"]
    assert list(nested["sentence"]) == ["01", "15", "03"] and set(nested["gender"]) == {"male"}
    touch(tmp_path / "flat", "DC_h02.wav", "JK_n30.wav")
    flat = load_corpus("savee", tmp_path / "flat")
    assert list(flat["speaker"]) == ["DC", "JK"] and list(flat["emotion"]) == ["happy", "neutral"]


IEMOCAP_LABELS = """% [START_TIME - END_TIME] TURN_NAME EMOTION [V, A, D]

[6.2901 - 8.2357]\tSes01F_impro01_F000\tneu\t[2.5000, 2.5000, 2.5000]
C-E2:\tNeutral;\t()
[10.0100 - 11.3925]\tSes01F_impro01_M000\texc\t[3.5000, 4.0000, 3.0000]

[14.8872 - 18.0175]\tSes01F_impro01_M001\tfru\t[2.0000, 3.0000, 3.5000]

[20.0000 - 22.0000]\tSes01F_impro01_F001\tsur\t[3.0000, 3.5000, 3.0000]

[30.0000 - 31.0000]\tSes01F_impro01_F002\tang\t[1.5000, 4.0000, 4.0000]
"""
SCRIPT_LABELS = """[1.0000 - 2.0000]\tSes02M_script01_1_F000\tsad\t[2.0000, 2.0000, 2.0000]

[3.0000 - 4.0000]\tSes02M_script01_1_M000\thap\t[4.0000, 3.0000, 3.0000]
"""


@pytest.fixture
def iemocap_root(tmp_path: Path) -> Path:
    evaluation = tmp_path / "Session1/dialog/EmoEvaluation"
    evaluation.mkdir(parents=True)
    (evaluation / "Ses01F_impro01.txt").write_text(IEMOCAP_LABELS)
    (evaluation / "Categorical").mkdir()
    (evaluation / "Categorical/Ses01F_impro01_e1_cat.txt").write_text(
        "Ses01F_impro01_F000 :Neutral state; ()\n"
    )
    scripted = tmp_path / "Session2/dialog/EmoEvaluation"
    scripted.mkdir(parents=True)
    (scripted / "Ses02M_script01_1.txt").write_text(SCRIPT_LABELS)
    for utterance in ("F000", "M000", "M001", "F001", "F002"):
        touch(tmp_path, f"Session1/sentences/wav/Ses01F_impro01/Ses01F_impro01_{utterance}.wav")
    touch(tmp_path, "Session1/sentences/wav/Ses01F_impro01/Ses01F_impro01.pk")
    touch(tmp_path, "Session2/sentences/wav/Ses02M_script01_1/Ses02M_script01_1_F000.wav")
    touch(tmp_path, "Session2/sentences/wav/Ses02M_script01_1/Ses02M_script01_1_M000.wav")
    touch(tmp_path, "Session1/dialog/avi/DivX/Ses01F_impro01.avi")
    return tmp_path


def test_iemocap_default_four_classes(iemocap_root):
    table = load_corpus("iemocap", iemocap_root)
    by_id = table.set_index(table["path"].map(lambda p: Path(p).stem))
    assert set(by_id.index) == {
        "Ses01F_impro01_F000", "Ses01F_impro01_M000", "Ses01F_impro01_F002",
        "Ses02M_script01_1_F000", "Ses02M_script01_1_M000",
    }  # fmt: skip
    assert by_id.loc["Ses01F_impro01_M000", "emotion"] == "happy"  # exc merged into happy
    assert by_id.loc["Ses01F_impro01_M000", "label_raw"] == "excited"
    assert by_id.loc["Ses01F_impro01_M000", "speaker"] == "Ses01M"  # the speaker's own letter
    assert by_id.loc["Ses01F_impro01_F000", "speaker"] == "Ses01F"
    assert by_id.loc["Ses02M_script01_1_F000", "speaker"] == "Ses02F"
    assert by_id.loc["Ses02M_script01_1_F000", "gender"] == "female"
    assert list(by_id.loc[["Ses01F_impro01_F000", "Ses02M_script01_1_F000"], "improvised"]) == [True, False]
    assert list(by_id.loc[["Ses01F_impro01_F000", "Ses02M_script01_1_M000"], "session"]) == [1, 2]
    assert by_id.loc["Ses01F_impro01_M000", ["valence", "arousal", "dominance"]].tolist() == [3.5, 4.0, 3.0]
    assert by_id.loc["Ses01F_impro01_F000", ["start", "end"]].tolist() == [6.2901, 8.2357]
    assert by_id.loc["Ses02M_script01_1_F000", "dialog"] == "Ses02M_script01_1"


def test_iemocap_options(iemocap_root):
    everything = load_corpus("iemocap", iemocap_root, keep_all=True)
    assert Counter(everything["emotion"]) == {"neutral": 1, "happy": 2, "surprise": 1, "angry": 1, "sad": 1}
    no_excited = load_corpus("iemocap", iemocap_root, merge_excited=False)
    assert "excited" not in set(no_excited["label_raw"]) and len(no_excited) == 4
    with pytest.raises(CorpusError, match="invalid loader option"):
        load_corpus("iemocap", iemocap_root, keep_everything=True)


def test_iemocap_without_labels_is_clear(tmp_path):
    touch(tmp_path, "Session1/sentences/wav/Ses01F_impro01/Ses01F_impro01_F000.wav")
    with pytest.raises(CorpusError, match="EmoEvaluation"):
        load_corpus("iemocap", tmp_path)
    with pytest.raises(CorpusError, match="no IEMOCAP Session folders"):
        load_corpus("iemocap", tmp_path / "Session1")


# -- generic ---------------------------------------------------------------------------------


def test_generic_csv_manifest(tmp_path):
    touch(tmp_path, "clips/a.wav", "clips/b.flac", "clips/c.ogg", "clips/d.mp3")
    absolute = tmp_path / "clips" / "d.mp3"
    (tmp_path / "data.csv").write_text(
        "path,label,speaker,gender,session\n"
        "clips/a.wav,Anger,s1,F,x\n"
        "clips/b.flac,joy,s1,female,x\n"
        f"{absolute},Pleasant_Surprise,s2,m,y\n"
        "clips/c.ogg,calm,,,y\n"
    )
    table = load_corpus("generic", tmp_path / "data.csv")
    rows = table.set_index(table["path"].map(lambda p: Path(p).name))
    assert rows["emotion"].to_dict() == {
        "a.wav": "angry",
        "b.flac": "happy",
        "c.ogg": "calm",
        "d.mp3": "surprise",
    }
    assert rows["label_raw"]["a.wav"] == "Anger"
    assert rows["speaker"].to_dict() == {"a.wav": "s1", "b.flac": "s1", "c.ogg": "unknown", "d.mp3": "s2"}
    assert rows["gender"].to_dict() == {
        "a.wav": "female",
        "b.flac": "female",
        "c.ogg": "unknown",
        "d.mp3": "male",
    }
    assert rows.loc["a.wav", "path"] == str(tmp_path.resolve() / "clips" / "a.wav")
    assert set(table["corpus"]) == {"generic"} and set(table["language"]) == {"unknown"}
    assert rows["session"].to_dict() == {"a.wav": "x", "b.flac": "x", "c.ogg": "y", "d.mp3": "y"}


def test_generic_csv_label_map_language_and_name(tmp_path):
    touch(tmp_path, "a.wav")
    (tmp_path / "m.csv").write_text("path,label,speaker\na.wav,grumpy,s1\n")
    table = load_corpus(
        "generic", tmp_path / "m.csv", label_map={"grumpy": "angry"}, language="fr", corpus_name="mine"
    )
    assert (table.loc[0, "emotion"], table.loc[0, "language"], table.loc[0, "corpus"]) == (
        "angry",
        "fr",
        "mine",
    )


def test_generic_folder_mode_warns_about_speakers(tmp_path, caplog):
    touch(tmp_path, "Angry/x.wav", "sad/y.flac", "sad/sub/z.mp3", "loose.wav", "notes.txt", "docs/readme.txt")
    with caplog.at_level(logging.WARNING):
        table = load_corpus("generic", tmp_path)
    assert Counter(table["emotion"]) == {"angry": 1, "sad": 2}
    assert set(table["speaker"]) == {"unknown"}
    assert "speaker-independent evaluation is impossible" in caplog.text
    assert table.attrs["skipped_files"] == 1  # loose.wav has no label folder


def test_generic_unknown_labels_are_listed(tmp_path):
    touch(tmp_path, "a.wav", "b.wav")
    (tmp_path / "m.csv").write_text("path,label\na.wav,grumpy\nb.wav,meh\n")
    with pytest.raises(CorpusError, match=r"'grumpy', 'meh'.*label_map"):
        load_corpus("generic", tmp_path / "m.csv")
    touch(tmp_path / "folders", "weird/a.wav")
    with pytest.raises(CorpusError, match="'weird'"):
        load_corpus("generic", tmp_path / "folders")


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("file,label\na.wav,angry\n", "missing column\\(s\\) path"),
        ("path,speaker\na.wav,s1\n", "missing column\\(s\\) label"),
        ("path,label\n", "no rows"),
        ("path,label\na.wav,\n", "empty label on line\\(s\\) 2"),
        ("path,label,emotion\na.wav,angry,angry\n", "emotion are filled by voxemo"),
        ("path,label\nmissing.wav,angry\n", "1 listed file\\(s\\) do not exist"),
        ("path,label\na.txt,angry\n", "not .wav/.flac/.ogg/.mp3"),
        ("", "cannot be read as CSV"),
    ],
)
def test_generic_manifest_errors(tmp_path, content, message):
    touch(tmp_path, "a.wav", "a.txt")
    (tmp_path / "m.csv").write_text(content)
    with pytest.raises(CorpusError, match=message):
        load_corpus("generic", tmp_path / "m.csv")


# -- errors common to all loaders ------------------------------------------------------------


@pytest.mark.parametrize("name", sorted(CORPORA.names()))
def test_missing_root(tmp_path, name):
    with pytest.raises(CorpusError, match="does not exist"):
        load_corpus(name, tmp_path / "absent")


@pytest.mark.parametrize("name", sorted(CORPORA.names()))
def test_empty_root_names_root_and_layout(tmp_path, name):
    with pytest.raises(CorpusError) as error:
        load_corpus(name, tmp_path)
    assert str(tmp_path) in str(error.value)
    assert CORPORA.get(name).layout in str(error.value)


def test_wrong_layout_message(tmp_path):
    touch(tmp_path, "f1/rab-f1-b1.wav")  # an EMOVO tree given to the RAVDESS loader
    with pytest.raises(CorpusError) as error:
        load_corpus("ravdess", tmp_path)
    assert str(error.value) == (
        f"no RAVDESS files found under {tmp_path}; expected Actor_XX/03-01-EE-II-SS-RR-AA.wav|flac"
    )


def test_same_utterance_twice_is_an_error(tmp_path):
    touch(tmp_path, "wav/03a01Wa.wav", "wav/03a01Wa.flac")
    with pytest.raises(CorpusError, match=r"appear more than once.*keep one copy"):
        load_corpus("emodb", tmp_path)
    touch(tmp_path / "r", "Actor_01/03-01-01-01-01-01-01.wav", "copy/Actor_01/03-01-01-01-01-01-01.wav")
    with pytest.raises(CorpusError, match="more than once"):
        load_corpus("ravdess", tmp_path / "r")


def test_symlink_loop_does_not_hang(tmp_path):
    touch(tmp_path, "Actor_01/03-01-01-01-01-01-01.wav")
    (tmp_path / "Actor_01" / "loop").symlink_to(tmp_path, target_is_directory=True)
    assert len(load_corpus("ravdess", tmp_path)) == 1
