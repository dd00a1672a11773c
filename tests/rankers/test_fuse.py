"""The fuse stage: normalisation, missing scores, weights files, and its place in pipelines."""

from __future__ import annotations

import json
import logging
import sys
from pathlib import Path

import pytest

from aptrank.data.runs import ranked
from aptrank.errors import AptrankError, DataError
from aptrank.rankers import build_ranker
from aptrank.rankers.base import Ranker
from aptrank.rankers.fuse import FuseRanker, FuseWeights, Member, feature_table, fuse_runs
from tests.helpers import CORPUS, QUERIES, write_beir


class Table(Ranker):
    """Scores from a fixed table; it retrieves the documents it has scores for."""

    def __init__(self, name: str, scores: dict[str, float], retrieves: bool = True) -> None:
        super().__init__()
        self.name, self.scores, self._retrieves = name, scores, retrieves

    @property
    def retrieves(self) -> bool:
        return self._retrieves

    def rank(self, queries, k=100):
        return {q: dict(ranked(self.scores)[:k]) for q in queries}

    def rerank(self, queries, candidates):
        return {
            q: {d: self.scores[d] for d in docs if d in self.scores}
            for q, docs in candidates.items()
        }


def test_zscore_normalisation_and_missing_scores_by_hand():
    # member A scores a, b, c as 4, 2, 0 (mean 2, std sqrt(8/3)); member B scores only a and b
    a = {"q": {"a": 4.0, "b": 2.0, "c": 0.0}}
    b = {"q": {"a": 10.0, "b": 30.0}}
    table = feature_table([a, b], "zscore")
    z = (8 / 3) ** 0.5
    assert table["q"]["a"] == pytest.approx([2 / z, -1.0])
    assert table["q"]["b"] == pytest.approx([0.0, 1.0])
    # c has no score from B: it gets B's per-query minimum (normalised), i.e. -1
    assert table["q"]["c"] == pytest.approx([-2 / z, -1.0])
    fused = fuse_runs([a, b], [1.0, 2.0])
    assert fused["q"]["a"] == pytest.approx(2 / z - 2.0)
    assert fused["q"]["b"] == pytest.approx(2.0)
    assert fused["q"]["c"] == pytest.approx(-2 / z - 2.0)


def test_global_normalisation_divides_by_the_fitted_scale_and_keeps_pairs_independent():
    a = {"q": {"a": 4.0, "b": 2.0}, "r": {"x": 100.0}}
    fused = fuse_runs([a, a], [1.0, 1.0], norm="global", scales=[2.0, 4.0])
    assert fused == {"q": {"a": 3.0, "b": 1.5}, "r": {"x": 75.0}}


def test_a_constant_member_and_a_silent_member_count_nothing():
    const = {"q": {"a": 5.0, "b": 5.0}}
    silent: dict = {"q": {}}
    useful = {"q": {"a": 1.0, "b": 0.0}}
    fused = fuse_runs([const, silent, useful])
    assert fused["q"]["a"] > fused["q"]["b"]
    assert feature_table([const, silent, useful])["q"]["a"][:2] == [0.0, 0.0]


def test_fuse_reranks_exactly_the_candidates_and_retrieves_only_when_all_members_do():
    bm = Table("bm", {"a": 3.0, "b": 2.0, "c": 1.0})
    ce = Table("ce", {"a": 0.0, "b": 5.0, "c": 1.0}, retrieves=False)
    fuse = FuseRanker([bm, ce]).index(CORPUS)
    run = fuse.rerank({"q": "x"}, {"q": {"a": 0.0, "b": 0.0}})
    assert set(run["q"]) == {"a", "b"}
    assert not fuse.retrieves
    with pytest.raises(AptrankError, match="cannot retrieve"):
        fuse.rank({"q": "x"})
    both = FuseRanker([bm, Table("d", {"c": 9.0, "d": 1.0})], depth=2).index(CORPUS)
    assert set(both.rank({"q": "x"}, k=10)["q"]) == {"a", "b", "c", "d"}  # the union


def test_fuse_in_a_pipeline_string_with_real_bm25():
    data_run = build_ranker("fuse(bm25,bm25[k1=0.9,b=0.4])").index(CORPUS).rank(QUERIES, k=3)
    single = build_ranker("bm25").index(CORPUS).rank(QUERIES, k=3)
    for q in QUERIES:  # two near-identical members: BM25's own top document comes first
        assert ranked(data_run[q])[0][0] == ranked(single[q])[0][0]
    pipe = build_ranker("bm25>>fuse(bm25,bm25[b=0.2])@2")
    assert pipe.kind == "bm25>>fuse" and pipe.name.startswith("bm25>>fuse(bm25,bm25")
    with pytest.raises(AptrankError, match="needs weights"):
        build_ranker("fuse(bm25,bm25)[norm=global]")
    with pytest.raises(AptrankError, match="fuse options are"):
        build_ranker("fuse(bm25,bm25)[k=3]")
    with pytest.raises(AptrankError, match="at least two"):
        build_ranker("fuse(bm25)")


def weights_file(path: Path, members=("bm25", "dense"), kinds=("bm25", "dense"), **kw) -> Path:
    weights = FuseWeights(
        tuple(Member(k, m) for k, m in zip(kinds, members)),
        tuple(float(i + 1) for i in range(len(members))),
        **kw,
    )
    weights.save(path)
    return path


def test_weights_round_trip_through_the_file(tmp_path: Path):
    path = weights_file(
        tmp_path / "w.json",
        norm="global",
        scales=(2.0, 0.5),
        first_stage="bm25",
        depth=30,
        judgments={"split": "train", "queries": ["q1"]},
        fit={"method": "pairwise"},
    )
    loaded = FuseWeights.load(path)
    assert loaded == FuseWeights.load(path) and loaded.weights == (1.0, 2.0)
    assert loaded.scales == (2.0, 0.5) and loaded.first_stage == "bm25" and loaded.depth == 30
    assert loaded.judgments["queries"] == ["q1"] and loaded.fit["method"] == "pairwise"
    ranker = build_ranker(f"bm25>>fuse(bm25,dense)[weights={path}]@30")
    fuse = ranker.second
    assert isinstance(fuse, FuseRanker)
    assert fuse.weights == (1.0, 2.0) and fuse.norm == "global" and fuse.scales == (2.0, 0.5)
    # the weights reach the scores: member 2 (weight 2, scale 0.5) counts 8 times member 1
    fused = fuse_runs([{"q": {"a": 1.0}}, {"q": {"a": 1.0}}], fuse.weights, "global", fuse.scales)
    assert fused["q"]["a"] == pytest.approx(0.5 + 4.0)


def test_weights_for_other_members_fail_in_one_line(tmp_path: Path):
    path = weights_file(tmp_path / "w.json")
    with pytest.raises(AptrankError, match=r"fitted for members \['bm25', 'dense'\]"):
        build_ranker(f"fuse(bm25,bm25)[weights={path}]")
    with pytest.raises(AptrankError, match="fitted for members"):
        build_ranker(f"fuse(bm25,dense,bm25)[weights={path}]")
    with pytest.raises(AptrankError, match="fitted with norm=zscore"):
        build_ranker(f"fuse(bm25,dense)[weights={path},norm=global]")
    (tmp_path / "bad.json").write_text('{"format": "aptrank-fuse-weights/1", "members": []}')
    with pytest.raises(DataError, match="bad.json: missing field 'weights'"):
        build_ranker(f"fuse(bm25,dense)[weights={tmp_path / 'bad.json'}]")


def test_a_different_depth_is_a_warning(tmp_path: Path, caplog: pytest.LogCaptureFixture):
    path = weights_file(tmp_path / "w.json", first_stage="bm25", depth=30)
    with caplog.at_level(logging.WARNING):
        build_ranker(f"bm25>>fuse(bm25,dense)[weights={path}]@30")
    assert not caplog.records
    with caplog.at_level(logging.WARNING):
        build_ranker(f"bm25>>fuse(bm25,dense)[weights={path}]@100")
    assert "fitted on 30 candidates per query, used on 100" in caplog.text


def test_cli_exits_2_with_one_line_for_a_weights_file_of_other_members(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture
):
    from aptrank.cli.main import main

    data = write_beir(tmp_path / "toy")
    path = weights_file(tmp_path / "w.json")
    argv = ["aptrank", "evaluate", str(data), "--no-progress", "-o", str(tmp_path / "out")]
    monkeypatch.setattr(sys, "argv", [*argv, "-p", f"fuse(bm25,bm25[b=0.2])[weights={path}]"])
    with pytest.raises(SystemExit) as stop:
        main()
    assert stop.value.code == 2
    err = capsys.readouterr().err
    assert "fitted for members" in err and "Traceback" not in err
    assert len([line for line in err.splitlines() if line.strip()]) <= 3  # one message, wrapped
    assert not (tmp_path / "out" / "metrics.json").exists()
    assert json.loads(path.read_text())["weights"] == [1.0, 2.0]  # untouched


def test_reranker_weights_used_as_a_first_stage_warn(tmp_path: Path, caplog):
    path = weights_file(
        tmp_path / "w.json",
        members=("bm25", "bm25"),
        kinds=("bm25", "bm25"),
        first_stage="bm25",
        depth=5,
    )
    fuse = build_ranker(f"fuse(bm25,bm25)[weights={path}]").index(CORPUS)
    with caplog.at_level(logging.WARNING):
        fuse.rank(QUERIES, k=3)
    assert "fitted as a reranker of bm25's top 5, used here as a first stage" in caplog.text
