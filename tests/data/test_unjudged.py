"""Datasets loaded to rank: the split's judgments when it exists, none otherwise."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from aptrank.data.unjudged import load_unjudged
from aptrank.errors import DataError
from aptrank.types import Query

from .beir_fixtures import write_beir


def test_a_folder_with_the_split_loads_its_judgments(beir_dir: Path) -> None:
    ds = load_unjudged(beir_dir, "test")
    assert ds.split == "test"
    assert ds.qrels == {"q1": {"d1": 1, "d2": 0}, "q2": {"d3": 2}}
    assert set(ds.corpus) == {"d1", "d2", "d3"}


def test_unknown_ids_in_the_judgments_are_dropped_not_fatal(tmp_path: Path) -> None:
    folder = write_beir(tmp_path / "t", qrels=[("q1", "d1", 1), ("q9", "d1", 1)])
    assert load_unjudged(folder).qrels == {"q1": {"d1": 1}}


@pytest.mark.parametrize("layout", ["no-qrels-folder", "other-split", "empty-qrels-folder"])
def test_without_the_split_every_query_loads_and_no_judgments(layout: str, tmp_path: Path) -> None:
    folder = write_beir(tmp_path / "t", split="train" if layout == "other-split" else "test")
    if layout != "other-split":
        shutil.rmtree(folder / "qrels")
    if layout == "empty-qrels-folder":
        (folder / "qrels").mkdir()
    ds = load_unjudged(folder, "test")
    assert (ds.split, ds.qrels, list(ds.queries)) == (None, {}, ["q1", "q2"])
    assert ds.name == "t" and ds.path == str(folder)


def test_given_queries_replace_the_dataset_s_and_its_files_are_not_read(tmp_path: Path) -> None:
    folder = write_beir(tmp_path / "t", queries="{broken", qrels="broken too")
    queries = {"n1": Query("green fruit")}
    ds = load_unjudged(folder, "test", queries=queries)
    assert (ds.queries, ds.qrels, ds.split) == (queries, {}, None)
    assert set(ds.corpus) == {"d1", "d2", "d3"}


def test_a_name_on_the_search_path_is_found(tmp_path: Path, monkeypatch) -> None:
    write_beir(tmp_path / "data" / "toy", qrels=None)
    monkeypatch.setenv("APTRANK_DATA", str(tmp_path / "data"))
    assert list(load_unjudged("toy").queries) == ["q1", "q2"]


def test_errors_name_what_is_wrong(tmp_path: Path) -> None:
    with pytest.raises(DataError, match="dataset 'no-such-name' not found"):
        load_unjudged("no-such-name")
    (tmp_path / "file").write_text("x")
    with pytest.raises(DataError, match="not a folder"):
        load_unjudged(tmp_path / "file")
    folder = write_beir(tmp_path / "t", corpus=None, qrels=None)
    with pytest.raises(DataError, match="corpus.jsonl: file not found"):
        load_unjudged(folder)
    bad = write_beir(tmp_path / "b", queries='{"_id": "q1"}\n', qrels=None)
    with pytest.raises(DataError, match="queries.jsonl:1: missing `text`"):
        load_unjudged(bad)
