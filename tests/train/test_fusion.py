"""aptrank fit-fusion: the fitters, out-of-fold fitting, the weights file and its pipeline."""

from __future__ import annotations

import json
import sys
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from aptrank.errors import AptrankError
from aptrank.rankers import build_ranker
from aptrank.rankers.artifact import write_artifact
from aptrank.rankers.cache import corpus_fingerprint
from aptrank.rankers.fuse import FuseRanker, FuseWeights
from aptrank.train.fusion import (
    FitFusionConfig,
    fit_coordinate_ascent,
    fit_fusion,
    fit_pairwise,
    write_fusion,
)
from aptrank.types import Doc
from tests.helpers import write_beir

WORDS = "apple banana cherry dates elder figs grape honey iris jade kiwi lemon".split()


def dataset(folder: Path) -> Path:
    """12 documents, 12 train queries: query i names document i's word and a decoy's word."""
    corpus = {
        f"d{i}": Doc(f"{w} {w} notes on {WORDS[(i + 1) % 12]}", title=w)
        for i, w in enumerate(WORDS)
    }
    queries = {f"q{i}": f"{w} {WORDS[(i + 5) % 12]}" for i, w in enumerate(WORDS)}
    qrels = {f"q{i}": {f"d{i}": 1} for i in range(12)}
    return write_beir(folder, corpus, queries, qrels, split="train")


def test_pairwise_and_coordinate_ascent_find_the_informative_member():
    rng = np.random.default_rng(0)
    table, qrels = {}, {}
    for q in range(30):
        docs = {f"d{j}": [rng.normal(), rng.normal()] for j in range(10)}
        docs["d0"][0] += 3.0  # member 0 knows the relevant document, member 1 is noise
        table[f"q{q}"], qrels[f"q{q}"] = docs, {"d0": 1}
    for w in (fit_pairwise(table, qrels), fit_coordinate_ascent(table, qrels)):
        assert w[0] > 0 and abs(w[0]) > 2 * abs(w[1])
    with pytest.raises(AptrankError, match="no query has both"):
        fit_pairwise({"q": {"a": [1.0, 0.0]}}, {"q": {"a": 1}})


def test_fit_writes_weights_that_the_pipeline_loads(tmp_path: Path):
    data = dataset(tmp_path / "data")
    config = FitFusionConfig(
        str(data), ("bm25", "bm25[k1=0.5,b=0.1]"), first_stage="bm25", depth=5, dev_size=3
    )
    weights = fit_fusion(config)
    fit = weights.fit
    assert set(fit["dev_ndcg@10"]) == {"equal", "pairwise", "coordinate-ascent"}
    assert fit["dev_ndcg@10"][fit["method"]] == max(fit["dev_ndcg@10"].values())
    assert fit["fit_queries"] == 12 and len(fit["dev_queries"]) == 3
    assert 0.0 <= fit["crossfit_ndcg@10"] <= 1.0
    some = fit_fusion(replace(config, query_ids=("q1", "q2", "q3", "q4", "q5", "q6")))
    assert some.judgments["queries"] == ["q1", "q2", "q3", "q4", "q5", "q6"]
    assert weights.first_stage == "bm25" and weights.depth == 5
    assert [m.kind for m in weights.members] == ["bm25", "bm25"]
    path, pipeline = write_fusion(weights, tmp_path / "w.json")
    assert pipeline == f"bm25>>fuse(bm25,bm25[k1=0.5,b=0.1])[weights={path}]@5"
    loaded = FuseWeights.load(path)
    assert (loaded.members, loaded.weights, loaded.norm) == (
        weights.members,
        weights.weights,
        weights.norm,
    )
    assert loaded.fit["dev_ndcg@10"] == fit["dev_ndcg@10"] and loaded.judgments["queries"]
    ranker = build_ranker(pipeline)
    assert isinstance(ranker.second, FuseRanker) and ranker.second.weights == weights.weights
    # as an artifact folder: weights.json beside aptrank.json, the folder is the pipeline
    record_path, folder_pipeline = write_fusion(weights, tmp_path / "models" / "fused")
    record = json.loads(record_path.read_text())
    assert folder_pipeline == record["pipeline"]
    assert "[weights=./weights.json]" in folder_pipeline
    assert record["figures"]["dev"]["ndcg@10"] == fit["dev_ndcg@10"][fit["method"]]
    assert build_ranker(str(tmp_path / "models" / "fused")).kind == "bm25>>fuse"


def test_out_of_fold_fitting_never_weights_a_member_on_its_own_training_queries(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    data = dataset(tmp_path / "data")
    from aptrank.data import load_dataset

    trained = {"q0", "q1", "q2", "q3", "q4"}
    corpus = corpus_fingerprint(load_dataset(str(data), "train").corpus)
    member = tmp_path / "trained-member"
    write_artifact(
        member,
        name="trained-member",
        kind="student",
        pipeline="bm25[k1=0.5,b=0.1]",
        description="stands for a model trained on q0-q4 (q5 chose its checkpoint)",
        dataset={"corpus": corpus},
        trained_on={"split": "train", "queries": sorted(trained), "dev_queries": ["q5"]},
    )
    seen: list[set[str]] = []
    member_runs = FuseRanker.member_runs

    def spy(self, queries, candidates):
        seen.append(set(queries))
        return member_runs(self, queries, candidates)

    monkeypatch.setattr(FuseRanker, "member_runs", spy)
    config = FitFusionConfig(str(data), ("bm25", str(member)), first_stage="bm25", depth=5)
    weights = fit_fusion(config)
    assert seen and all(not (queries & trained) for queries in seen)  # never even scored
    assert not set(weights.judgments["queries"]) & trained
    assert not set(weights.fit["dev_queries"]) & trained
    assert weights.fit["excluded_queries"] == 5 and weights.fit["fit_queries"] == 7
    assert [m.kind for m in weights.members] == ["bm25", "bm25"]

    # a member trained on every query leaves nothing to fit on: a clear error
    write_artifact(
        member,
        name="trained-member",
        kind="student",
        pipeline="bm25",
        description="trained on all",
        dataset={"corpus": corpus},
        trained_on={"split": "train", "queries": [f"q{i}" for i in range(12)]},
    )
    with pytest.raises(AptrankError, match="nothing to fit on"):
        fit_fusion(config)


def test_fit_fusion_cli(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys):
    from aptrank.cli.main import main

    data = dataset(tmp_path / "data")
    out = tmp_path / "fused"
    argv = ["aptrank", "fit-fusion", str(data), "-m", "bm25", "-m", "bm25[b=0.2]"]
    argv += ["--first-stage", "bm25", "--depth", "5", "--dev-size", "3", "--out", str(out)]
    monkeypatch.setattr(sys, "argv", [*argv, "--no-progress"])
    with pytest.raises(SystemExit) as stop:
        main()
    assert stop.value.code in (0, None)
    err = capsys.readouterr().err
    assert "dev NDCG@10: equal" in err and "use it as: 'bm25>>fuse(" in err
    assert (out / "aptrank.json").exists() and (out / "weights.json").exists()
    monkeypatch.setattr(sys, "argv", [*argv[:-2], "--out", str(tmp_path / "x.json"), "-m", "ce"])
    with pytest.raises(SystemExit) as stop:
        main()
    assert stop.value.code == 2 and "Traceback" not in capsys.readouterr().err
