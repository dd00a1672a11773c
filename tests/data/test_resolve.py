"""Finding datasets: paths, the APTRANK_DATA search path, the listing, the not-found message."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from aptrank.data import DatasetInfo, find_dataset, list_datasets, load_dataset
from aptrank.errors import DataError

from .beir_fixtures import CORPUS, write_beir


def _search_path(monkeypatch: pytest.MonkeyPatch, *dirs: Path) -> None:
    monkeypatch.setenv("APTRANK_DATA", os.pathsep.join(str(d) for d in dirs))


def test_an_existing_path_is_loaded(beir_dir: Path) -> None:
    assert load_dataset(beir_dir).qrels == {"q1": {"d1": 1, "d2": 0}, "q2": {"d3": 2}}
    assert load_dataset(str(beir_dir), "test").name == "tiny"


def test_a_name_is_found_in_the_search_path_first_folder_first(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    first, second = tmp_path / "first", tmp_path / "second"
    write_beir(second / "alpha")
    write_beir(second / "beta", corpus=CORPUS[:2], qrels=[("q1", "d1", 1)])
    write_beir(first / "beta", qrels=[("q2", "d3", 1)])
    _search_path(monkeypatch, tmp_path / "absent", first, second)
    monkeypatch.chdir(tmp_path)
    assert load_dataset("alpha").path == str(second / "alpha")
    beta = load_dataset("beta")
    assert (beta.path, beta.qrels) == (str(first / "beta"), {"q2": {"d3": 1}})
    assert find_dataset("beta") == first / "beta"


def test_folders_without_a_corpus_and_path_like_names_are_not_datasets(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "data" / "empty").mkdir(parents=True)
    write_beir(tmp_path / "data" / "sub" / "inner")
    _search_path(monkeypatch, tmp_path / "data")
    assert find_dataset("empty") is None
    assert find_dataset("sub/inner") is None
    assert find_dataset("..") is None
    assert list_datasets() == []


def test_not_found_lists_the_folders_searched_and_the_datasets_there(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, isolated_paths: Path
) -> None:
    write_beir(tmp_path / "data" / "alpha")
    write_beir(tmp_path / "data" / "beta")
    _search_path(monkeypatch, tmp_path / "data")
    with pytest.raises(DataError) as err:
        load_dataset("gamma")
    message = str(err.value)
    assert message.startswith("dataset 'gamma' not found: not an existing path")
    assert f"{tmp_path / 'data'}, {isolated_paths / 'datasets'}" in message
    assert "datasets found there: alpha, beta;" in message
    assert "downloadable BEIR names: arguana," in message
    assert "\n" not in message


def test_not_found_with_an_empty_search_path_says_none() -> None:
    with pytest.raises(DataError, match="datasets found there: none;"):
        load_dataset("gamma")


def test_list_datasets_counts_lines_without_parsing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    write_beir(tmp_path / "b" / "zeta", corpus='{"_id": "d1", "text": "a"}\n\n{broken\n')
    write_beir(tmp_path / "b" / "eta", corpus="_id,text\nd1,a\n", corpus_name="corpus.csv")
    (tmp_path / "b" / "eta" / "qrels" / "train.tsv").write_text("q1\td1\t1\n")
    write_beir(tmp_path / "a" / "zeta")
    (tmp_path / "a" / "notes.txt").write_text("not a dataset")
    _search_path(monkeypatch, tmp_path / "a", tmp_path / "b")
    assert list_datasets() == [
        DatasetInfo("zeta", tmp_path / "a" / "zeta", ["test"], 3),
        DatasetInfo("eta", tmp_path / "b" / "eta", ["test", "train"], None),
        DatasetInfo("zeta", tmp_path / "b" / "zeta", ["test"], 2),
    ]
    assert [info.n_docs for info in list_datasets(count_docs=False)] == [None, None, None]


def test_a_malformed_dataset_found_by_name_reports_its_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    write_beir(tmp_path / "data" / "bad", qrels="q1\td1\tmaybe\n")
    _search_path(monkeypatch, tmp_path / "data")
    with pytest.raises(DataError, match=r"bad/qrels/test\.tsv:1: grade 'maybe' is not an integer"):
        load_dataset("bad")
