"""A folder holding an aptrank.json is a pipeline string, from anywhere, also moved."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from aptrank.errors import AptrankError, DataError
from aptrank.rankers import build_ranker
from aptrank.rankers.artifact import (
    ArtifactRanker,
    read_record,
    training_queries,
    write_artifact,
)
from aptrank.rankers.fuse import FuseRanker, FuseWeights, Member
from tests.helpers import CORPUS, QUERIES


def fusion_artifact(folder: Path, queries=("q1",)) -> Path:
    FuseWeights((Member("bm25", "bm25"), Member("bm25", "bm25[b=0.2]")), (1.0, 3.0)).save(
        folder / "weights.json"
    )
    write_artifact(
        folder,
        name=folder.name,
        kind="fusion",
        pipeline="fuse(bm25,bm25[b=0.2])[weights=./weights.json]",
        description="two BM25s",
        dataset={"name": "toy", "corpus": "abc"},
        trained_on={"split": "train", "queries": list(queries), "dev_queries": ["q9"]},
        figures={"test": {"ndcg@10": 0.5, "split": "test", "queries": 3, "out_of_fold": True}},
    )
    return folder


def test_a_moved_folder_is_a_pipeline_from_any_directory(tmp_path: Path, monkeypatch):
    folder = fusion_artifact(tmp_path / "models" / "fused")
    before = build_ranker(str(folder)).index(CORPUS).rank(QUERIES, k=5)
    moved = tmp_path / "elsewhere" / "renamed"
    moved.parent.mkdir()
    folder.rename(moved)
    monkeypatch.chdir(tmp_path / "elsewhere")
    ranker = build_ranker("renamed")  # relative to the current directory, as a user types it
    assert isinstance(ranker, ArtifactRanker) and ranker.name == "renamed"
    assert isinstance(ranker.inner, FuseRanker) and ranker.inner.weights == (1.0, 3.0)
    assert ranker.kind == "fuse" and ranker.retrieves
    assert ranker.index(CORPUS).rank(QUERIES, k=5) == before
    # ... and as a stage inside a larger pipeline
    pipe = build_ranker("bm25>>renamed@3").index(CORPUS)
    assert pipe.kind == "bm25>>fuse" and set(pipe.rank(QUERIES, k=5)) == set(QUERIES)
    assert (moved / "README.md").read_text().startswith("# fused")


def test_records_are_checked_and_a_pipeline_cannot_name_its_own_folder(tmp_path: Path):
    folder = tmp_path / "m"
    folder.mkdir()
    (folder / "aptrank.json").write_text("{not json")
    with pytest.raises(DataError, match=r"aptrank.json:1: not valid JSON"):
        build_ranker(str(folder))
    (folder / "aptrank.json").write_text(json.dumps({"name": "m", "kind": "x"}))
    with pytest.raises(DataError, match="missing or empty field 'pipeline'"):
        read_record(folder)
    (folder / "aptrank.json").write_text(json.dumps({"name": "m", "kind": "x", "pipeline": "."}))
    with pytest.raises(AptrankError, match="names its own folder"):
        build_ranker(str(folder))
    (folder / "aptrank.json").write_text(
        json.dumps({"name": "m", "kind": "x", "pipeline": "teleport"})
    )
    with pytest.raises(AptrankError, match="unknown ranker 'teleport'"):
        build_ranker(str(folder))
    with pytest.raises(AptrankError, match="not a folder holding an aptrank.json"):
        build_ranker(str(tmp_path / "nothing-here"))


def test_training_queries_are_found_in_every_artifact_stage(tmp_path: Path):
    folder = fusion_artifact(tmp_path / "fused", queries=("q1", "q2"))
    # dev queries (q9) were held out from training: fusion may be fitted on them
    assert training_queries(build_ranker(f"bm25>>{folder}@5")) == {"abc": {"q1", "q2"}}
    assert training_queries(build_ranker("bm25")) == {}


def test_relative_paths_in_a_pipeline_stay_relative_to_the_current_directory(tmp_path: Path):
    FuseWeights((Member("bm25", "bm25"), Member("bm25", "bm25")), (1.0, 1.0)).save(
        tmp_path / "w.json"
    )
    cwd = os.getcwd()
    try:
        os.chdir(tmp_path)
        fuse = build_ranker("fuse(bm25,bm25)[weights=./w.json]")
    finally:
        os.chdir(cwd)
    assert isinstance(fuse, FuseRanker) and fuse.weights == (1.0, 1.0)
