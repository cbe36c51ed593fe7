"""ONNX export: one graph from raw waveform to probabilities that agrees with torch, run without torch."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from tests.inference.bundles import CLASSES, SR, clip, silence, untrained_bundle
from voxemo.cli import main
from voxemo.errors import ConfigError, ModelError
from voxemo.export import export_onnx
from voxemo.inference import load_model

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
CLIPS = sorted(EXAMPLES.glob("*.flac"))
TOLERANCE = 1e-4


@pytest.fixture(scope="module")
def onnx_file(trained_bundle: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    return export_onnx(trained_bundle, tmp_path_factory.mktemp("onnx") / "model.onnx")


def scores(prediction) -> np.ndarray:
    return np.array(list(prediction.scores.values()))


def varied_clips() -> list[np.ndarray]:
    """Clips from 0.2 s (padded to the minimum) to 25 s (averaged over speech windows)."""
    long = np.concatenate(
        [np.concatenate([clip("high", seed=s, repeats=3), silence(1.0, s)]) for s in range(7)]
    )
    return [clip("low")[: SR // 5], clip("glide"), clip("high", repeats=5), long]


def test_metadata_makes_the_file_self_contained(onnx_file: Path):
    import onnx

    model = onnx.load(str(onnx_file))
    meta = json.loads({p.key: p.value for p in model.metadata_props}["voxemo"])
    assert meta["labels"] == list(CLASSES)
    assert meta["sample_rate"] == SR and meta["weights_sha256"]
    assert [i.name for i in model.graph.input] == ["waveform", "lengths"]
    assert [o.name for o in model.graph.output] == ["probabilities", "logits"]
    dims = model.graph.input[0].type.tensor_type.shape.dim
    assert [d.dim_param for d in dims] == ["batch", "samples"]  # dynamic batch and length


def test_onnx_agrees_with_torch_on_real_and_varied_clips(onnx_file: Path, trained_bundle: Path):
    torch_model = load_model(trained_bundle)
    onnx_model = load_model(onnx_file)
    assert onnx_model.labels == torch_model.labels
    waves = [torch_model.load(path) for path in CLIPS] + varied_clips()
    assert max(w.size for w in waves) / SR > 20 and min(w.size for w in waves) / SR < 0.5
    for wave in waves:
        a = torch_model.predict(wave, sample_rate=SR)
        b = onnx_model.predict(wave, sample_rate=SR)
        assert np.max(np.abs(scores(a) - scores(b))) < TOLERANCE
        assert a.emotion == b.emotion
    # Batched (padded next to longer clips) as well.
    batch_torch = torch_model.predict_batch(CLIPS)
    batch_onnx = onnx_model.predict_batch(CLIPS)
    for a, b in zip(batch_torch, batch_onnx, strict=True):
        assert np.max(np.abs(scores(a) - scores(b))) < TOLERANCE


def test_onnx_backend_runs_without_torch(onnx_file: Path):
    code = (
        "import sys, json; from voxemo import load_model; "
        f"r = load_model({str(onnx_file)!r}); p = r.predict({str(CLIPS[0])!r}); "
        "s = r.stream(window=1.0, hop=0.5); s.feed(r.load(" + repr(str(CLIPS[1])) + ")); "
        "assert 'torch' not in sys.modules, 'torch was imported'; print(json.dumps(p.to_dict()))"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert sum(json.loads(result.stdout)["scores"].values()) == pytest.approx(1.0)


def test_bundle_folder_with_onnx_backend_exports_once_into_the_cache(
    trained_bundle: Path, monkeypatch, tmp_path
):
    monkeypatch.setenv("VOXEMO_CACHE", str(tmp_path / "cache"))
    recognizer = load_model(trained_bundle, backend="onnx")
    cached = list((tmp_path / "cache" / "onnx").glob("*.onnx"))
    assert len(cached) == 1
    assert type(recognizer.backend).__name__ == "OnnxBackend"
    reference = load_model(trained_bundle).predict(CLIPS[3])
    assert np.max(np.abs(scores(recognizer.predict(CLIPS[3])) - scores(reference))) < TOLERANCE
    stamp = cached[0].stat().st_mtime_ns
    load_model(trained_bundle, backend="onnx")
    assert cached[0].stat().st_mtime_ns == stamp  # reused, not exported again


def test_waveform_only_graph_for_batch_one(trained_bundle: Path, tmp_path: Path):
    import onnx

    path = export_onnx(trained_bundle, tmp_path / "single.onnx", with_lengths=False)
    assert [i.name for i in onnx.load(str(path)).graph.input] == ["waveform"]
    single, reference = load_model(path), load_model(trained_bundle)
    results = single.predict_batch(CLIPS[:3])  # unequal lengths: run one by one
    for path_, result in zip(CLIPS[:3], results, strict=True):
        assert np.max(np.abs(scores(result) - scores(reference.predict(path_)))) < TOLERANCE


@pytest.mark.parametrize(
    ("family", "params"),
    [("crnn", {}), ("tcn", {})],
)
def test_other_waveform_families_export_and_agree(family: str, params: dict, tmp_path: Path):
    bundle = untrained_bundle(tmp_path / family, family, params=params)
    path = export_onnx(bundle, tmp_path / f"{family}.onnx")  # verify=True compares on probe clips
    a, b = load_model(bundle), load_model(path)
    for wave in (clip("low"), clip("high", repeats=4)):
        assert (
            np.max(np.abs(scores(a.predict(wave, sample_rate=SR)) - scores(b.predict(wave, sample_rate=SR))))
            < TOLERANCE
        )


def test_feature_vector_models_cannot_be_exported(tmp_path: Path):
    bundle = untrained_bundle(tmp_path / "mlp", "mlp", input_dim=88, feature="egemaps")
    with pytest.raises(ModelError, match=r"feature vectors.*cannot be part of an ONNX graph"):
        export_onnx(bundle, tmp_path / "mlp.onnx")
    assert not (tmp_path / "mlp.onnx").exists()
    with pytest.raises(ModelError, match="feature vectors"):
        load_model(bundle, backend="onnx")


def test_unusable_onnx_files_are_model_errors(tmp_path: Path):
    import onnx
    from onnx import TensorProto, helper

    junk = tmp_path / "junk.onnx"
    junk.write_bytes(b"not a model")
    with pytest.raises(ModelError, match="not a usable ONNX model"):
        load_model(junk)
    graph = helper.make_graph(
        [helper.make_node("Identity", ["waveform"], ["probabilities"])],
        "foreign",
        [helper.make_tensor_value_info("waveform", TensorProto.FLOAT, [1, 3])],
        [helper.make_tensor_value_info("probabilities", TensorProto.FLOAT, [1, 3])],
    )
    foreign = tmp_path / "foreign.onnx"
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]), str(foreign))
    with pytest.raises(ModelError, match="not exported by voxemo"):
        load_model(foreign)
    with pytest.raises(ModelError, match="already an ONNX model"):
        export_onnx(foreign, tmp_path / "again.onnx")


def test_output_name_must_be_onnx(trained_bundle: Path, tmp_path: Path):
    with pytest.raises(ConfigError, match=r"must end in \.onnx"):
        export_onnx(trained_bundle, tmp_path / "model.bin")


def test_export_command_then_predict_with_the_onnx_file(capsys, trained_bundle: Path, tmp_path: Path):
    out = tmp_path / "cli.onnx"
    code = main(["export-onnx", "--model", str(trained_bundle), "--out", str(out)])
    printed, err = capsys.readouterr()
    assert code == 0, err
    assert out.is_file() and "verified against torch" in printed
    code = main(["predict", str(CLIPS[0]), "--json", "--model", str(out)])
    printed, _ = capsys.readouterr()
    assert code == 0
    record = json.loads(printed)
    expected = load_model(trained_bundle).predict(CLIPS[0])
    assert np.max(np.abs(np.array(list(record["scores"].values())) - scores(expected))) < TOLERANCE
    code = main(["predict", str(CLIPS[0]), "--json", "--model", str(trained_bundle), "--backend", "onnx"])
    assert code == 0
    capsys.readouterr()


@pytest.mark.slow
def test_dynamo_exporter_agrees_too(trained_bundle: Path, tmp_path: Path):
    path = export_onnx(trained_bundle, tmp_path / "dynamo.onnx", exporter="dynamo")
    a, b = load_model(trained_bundle), load_model(path)
    for clip_path in CLIPS[:3]:
        assert np.max(np.abs(scores(a.predict(clip_path)) - scores(b.predict(clip_path)))) < TOLERANCE
