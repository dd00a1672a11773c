"""OpenVINO backends and ``backend=auto`` on a tiny random-weight BERT built locally.

Every test gets its own APTRANK_CACHE (tests/conftest.py), so each one exports afresh.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("onnxruntime")
pytest.importorskip("sentence_transformers")

from aptrank.errors import AptrankError, MissingDependencyError  # noqa: E402
from aptrank.rankers import backends as bk  # noqa: E402
from aptrank.rankers import probe  # noqa: E402
from aptrank.rankers.encoders import (  # noqa: E402
    TorchEncoder,
    TorchPairScorer,
    load_encoder,
    load_pair_scorer,
)
from aptrank.rankers.registry import build_ranker  # noqa: E402
from tests.tiny_models import PAIRS, TEXTS  # noqa: E402


@pytest.fixture()
def fixed_speeds(monkeypatch: pytest.MonkeyPatch) -> dict[str, float]:
    """Timing replaced by given items/s (the tiny model's real timings are noise)."""
    speeds = {
        "torch": 10.0,
        "onnx": 12.0,
        "onnx-int8": 50.0,
        "openvino": 10.5,
        "openvino-bf16": 30.0,
    }

    def fake(loaded: dict, kind: str, rounds: int) -> tuple[dict[str, float], float]:
        return {name: speeds[name] for name in loaded}, 0.5

    monkeypatch.setattr(bk, "_speeds", fake)
    return speeds


def _fake_fidelity(values: dict[str, float]):  # type: ignore[no-untyped-def]
    def fake(loaded: dict, kind: str) -> dict[str, dict[str, float]]:
        return {name: {"fidelity": values.get(name, 1.0)} for name in loaded}

    return fake


@pytest.mark.parametrize("bf16", [False, True])
def test_openvino_encoder_agrees_with_torch(tiny: str, bf16: bool):
    pytest.importorskip("openvino")
    from aptrank.rankers.openvino_backend import OpenVinoEncoder

    reference = TorchEncoder(tiny).encode(TEXTS)
    encoder = OpenVinoEncoder(tiny, bf16=bf16)
    assert (encoder.backend, encoder.max_length) == (
        "openvino-bf16" if bf16 else "openvino",
        64,
    )
    got = encoder.encode(TEXTS, batch_size=2)
    assert got.dtype == np.float32 and got.shape == reference.shape
    # fp32: the same computation; bf16: matrix products rounded to 8 mantissa bits
    np.testing.assert_allclose(got, reference, atol=1e-3 if bf16 else 1e-5)
    assert (got * reference).sum(axis=1).min() > (0.999 if bf16 else 0.999999)


@pytest.mark.parametrize("bf16", [False, True])
def test_openvino_pair_scorer_agrees_with_torch(tiny: str, bf16: bool):
    pytest.importorskip("openvino")
    reference = TorchPairScorer(tiny, max_length=32).score(PAIRS, batch_size=4)
    scorer = load_pair_scorer(tiny, "openvino-bf16" if bf16 else "openvino", max_length=32)
    got = scorer.score(PAIRS, batch_size=3)
    assert got.shape == (len(PAIRS),) and ((got > 0) & (got < 1)).all()
    assert np.abs(got - reference).max() < (1e-3 if bf16 else 1e-5)


def test_openvino_conversion_is_cached(tiny: str, monkeypatch: pytest.MonkeyPatch):
    pytest.importorskip("openvino")
    from aptrank.rankers import onnx as ox
    from aptrank.rankers import openvino_backend as ovb

    first = ovb.openvino_folder(tiny, "encoder")
    assert sorted(p.name for p in first.iterdir()) == [
        "meta.json",
        "model.bin",
        "model.xml",
        "tokenizer.json",
    ]
    assert json.loads((first / "meta.json").read_text())["openvino_diff"] < 1e-4

    def fail(*args: object, **kwargs: object) -> None:
        raise AssertionError("exported again")

    monkeypatch.setattr(ox, "_export", fail)
    assert ovb.openvino_folder(tiny, "encoder") == first
    load_encoder(tiny, "openvino").encode(TEXTS[:2])


def test_missing_openvino_names_the_install_command(tiny: str, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setitem(sys.modules, "openvino", None)
    with pytest.raises(MissingDependencyError, match=r"aptrank\[openvino\]"):
        load_encoder(tiny, "openvino-bf16")


def test_bad_backend_name_is_a_one_line_error(tiny: str):
    for build in (
        lambda: load_encoder(tiny, "onnx-int4"),
        lambda: load_pair_scorer(tiny, "fast"),
        lambda: build_ranker("dense[backend=gpu]"),  # at build time, before any model loads
        lambda: build_ranker(f"bm25 >> ce:{tiny}[backend=Auto]"),
    ):
        with pytest.raises(AptrankError) as info:
            build()
        message = str(info.value)
        assert "unknown backend" in message and "openvino-bf16, auto" in message
        assert "\n" not in message
    with pytest.raises(AptrankError, match="'auto' cannot be its own candidate"):
        bk.choose(tiny, "encoder", settings=bk.AutoSettings(candidates=("torch", "auto")))
    with pytest.raises(AptrankError, match="kind"):
        bk.choose(tiny, "classifier")


def test_auto_picks_the_fastest_backend_within_the_bound(
    tiny: str, fixed_speeds: dict[str, float], monkeypatch: pytest.MonkeyPatch
):
    # int8 is the fastest but falls outside the cosine bound; bf16 is next and within it
    monkeypatch.setattr(
        bk, "_fidelity", _fake_fidelity({"onnx-int8": 0.995, "openvino-bf16": 0.9999})
    )
    choice = bk.measure(tiny, "encoder")
    assert choice.backend == "openvino-bf16"
    m = choice.measurements
    assert m["onnx-int8"]["within_bound"] is False and m["openvino-bf16"]["within_bound"] is True
    assert m["onnx-int8"]["speedup"] == 5.0 and m["torch"]["speedup"] == 1.0
    # a looser bound admits int8; a bound nothing but torch meets leaves torch
    loose = bk.AutoSettings(min_cosine=0.99)
    assert bk.measure(tiny, "encoder", settings=loose).backend == "onnx-int8"
    strict = bk.AutoSettings(min_cosine=0.99999)
    assert bk.measure(tiny, "encoder", settings=strict).backend == "onnx"  # exact fp32, 1.2x
    # a candidate must beat torch by min_speedup: 1.2x is not enough for 1.5
    only_fp32 = bk.AutoSettings(candidates=("torch", "onnx", "openvino"), min_speedup=1.5)
    assert bk.measure(tiny, "encoder", settings=only_fp32).backend == "torch"


def test_auto_pair_scorer_bound_is_on_kendall_tau(
    tiny: str, fixed_speeds: dict[str, float], monkeypatch: pytest.MonkeyPatch
):
    monkeypatch.setattr(bk, "_fidelity", _fake_fidelity({"onnx-int8": 0.93, "openvino-bf16": 0.97}))
    assert bk.measure(tiny, "pair", max_length=32).backend == "openvino-bf16"
    settings = bk.AutoSettings(min_tau=0.98)
    assert bk.measure(tiny, "pair", max_length=32, settings=settings).backend == "onnx"


def test_auto_fidelity_is_measured_against_torch(tiny: str, fixed_speeds: dict[str, float]):
    choice = bk.measure(tiny, "encoder", settings=bk.AutoSettings(candidates=("torch", "onnx")))
    assert choice.measurements["torch"]["fidelity"] == pytest.approx(1.0)
    assert choice.measurements["onnx"]["fidelity"] == pytest.approx(1.0, abs=1e-6)
    pairs = bk.measure(tiny, "pair", settings=bk.AutoSettings(candidates=("torch", "onnx")))
    assert pairs.measurements["onnx"]["max_abs_diff"] < 1e-5


def test_auto_choice_is_cached_per_model_and_settings(
    tiny: str, fixed_speeds: dict[str, float], monkeypatch: pytest.MonkeyPatch
):
    settings = bk.AutoSettings(candidates=("torch", "onnx", "onnx-int8"))
    monkeypatch.setattr(bk, "_fidelity", _fake_fidelity({"onnx-int8": 0.99}))
    first = bk.choose(tiny, "encoder", settings=settings)
    assert first.backend == "onnx"
    stored = json.loads(Path(first.path).read_text())
    assert stored["backend"] == "onnx" and stored["measurements"]["onnx-int8"]["fidelity"] == 0.99
    assert stored["machine"]["physical_cores"] >= 1 and stored["load_average"] == 0.5

    def fail(*args: object, **kwargs: object) -> None:
        raise AssertionError("measured again")

    monkeypatch.setattr(bk, "measure", fail)
    again = bk.choose(tiny, "encoder", settings=settings)
    assert again == first and again.path == first.path
    # another kind, max_length or bound is another measurement
    with pytest.raises(AssertionError, match="measured again"):
        bk.choose(tiny, "encoder", max_length=32, settings=settings)
    with pytest.raises(AssertionError, match="measured again"):
        bk.choose(
            tiny,
            "encoder",
            settings=bk.AutoSettings(candidates=settings.candidates, min_cosine=0.9),
        )


def test_auto_skips_a_runtime_that_is_not_installed(
    tiny: str, fixed_speeds: dict[str, float], monkeypatch: pytest.MonkeyPatch
):
    monkeypatch.setitem(sys.modules, "openvino", None)
    choice = bk.measure(tiny, "encoder")
    assert "aptrank[openvino]" in choice.measurements["openvino-bf16"]["unavailable"]
    assert choice.backend in ("onnx", "onnx-int8", "torch")


def test_load_with_auto_resolves_to_the_measured_backend(tiny: str, fixed_speeds: dict[str, float]):
    encoder = load_encoder(tiny, "auto")
    choice = bk.choose(tiny, "encoder")
    assert encoder.backend == choice.backend != "auto"
    assert choice.measurements[choice.backend]["within_bound"]
    np.testing.assert_allclose(encoder.encode(TEXTS), TorchEncoder(tiny).encode(TEXTS), atol=1e-2)
    assert load_pair_scorer(tiny, "auto").backend == bk.choose(tiny, "pair").backend


def test_dense_auto_keys_embeddings_by_the_resolved_backend(
    tiny: str, fixed_speeds: dict[str, float]
):
    ranker = build_ranker(f"dense:{tiny}[backend=auto]")
    chosen = bk.choose(tiny, "encoder").backend
    assert ranker.backend() == chosen
    assert ranker._model_key()[2] == chosen
    fixed = build_ranker(f"dense:{tiny}[backend={chosen}]")
    assert fixed._model_key() == ranker._model_key()  # the same cached embeddings


def test_probe_texts():
    docs = probe.documents()
    assert len(docs) == len(set(docs)) > len(probe.PASSAGES)
    assert max(map(len, docs)) > 3 * max(map(len, probe.PASSAGES)) * 0.8  # long ones too
    assert len(probe.pairs()) == len(probe.QUERIES) * len(probe.PASSAGES)


def test_serve_backend_option_reaches_every_encoder_stage_on_torch(tiny: str):
    pytest.importorskip("fastapi")
    from aptrank.experiment import walk
    from aptrank.serve.models import served_models

    pipelines = [f"fuse(dense:{tiny},dense:{tiny}[backend=onnx])", f"ce:{tiny}"]
    models = served_models(pipelines, backend="auto")
    stages = [s for m in models for s in walk(m.ranker) if hasattr(s, "cfg")]
    backends = [getattr(s.cfg, "backend", None) for s in stages]
    assert backends.count("auto") == 2 and backends.count("onnx") == 1  # a named one is kept
    assert all(
        s.cfg.backend == "torch" for m in served_models(pipelines[1:]) for s in walk(m.ranker)
    )
    with pytest.raises(AptrankError, match="unknown backend 'fastest'"):
        served_models(pipelines, backend="fastest")
