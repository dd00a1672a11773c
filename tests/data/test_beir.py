"""BEIR folders: the happy paths and every malformed case of ``malformed.CASES``."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from aptrank.data import load_beir, splits
from aptrank.errors import DataError
from aptrank.types import Doc, Query

from .beir_fixtures import CORPUS, beir_qrels, jsonl, write_beir
from .malformed import CASES, Case


def test_loads_a_beir_folder_with_grade_zero_kept(beir_dir: Path) -> None:
    ds = load_beir(beir_dir)
    assert (ds.name, ds.split, ds.path) == ("tiny", "test", str(beir_dir))
    assert ds.corpus == {
        "d1": Doc("Apples are red fruit.", "Apples"),
        "d2": Doc("Pears are green fruit.", ""),
        "d3": Doc("Cars have four wheels.", "Cars"),
    }
    assert ds.queries == {"q1": Query("red fruit"), "q2": Query("wheels")}
    assert ds.qrels == {"q1": {"d1": 1, "d2": 0}, "q2": {"d3": 2}}


def test_split_selects_the_qrels_file(beir_dir: Path) -> None:
    (beir_dir / "qrels" / "train.tsv").write_text(beir_qrels([("q2", "d1", 1)]))
    assert splits(beir_dir) == ["test", "train"]
    assert load_beir(beir_dir, "train").qrels == {"q2": {"d1": 1}}
    assert load_beir(beir_dir, split="train").judged_queries() == {"q2": Query("wheels")}


def test_opaque_ids_int_ids_and_meta_through_a_whole_folder(tmp_path: Path) -> None:
    corpus = [
        {"_id": "pmid:1 <a>/b", "text": "x", "metadata": {"url": "u"}},
        {"_id": 42, "title": "T", "text": "y"},
    ]
    queries = [{"_id": "q/1 x", "text": "t", "category": "A - a"}]
    folder = write_beir(
        tmp_path / "ds", corpus, queries, [("q/1 x", "pmid:1 <a>/b", 2), ("q/1 x", "42", 0)]
    )
    ds = load_beir(folder)
    assert ds.qrels == {"q/1 x": {"pmid:1 <a>/b": 2, "42": 0}}
    assert ds.corpus["pmid:1 <a>/b"].meta == {"metadata": {"url": "u"}}
    assert ds.queries["q/1 x"].meta == {"category": "A - a"}


def test_trec_qrels_csv_corpus_and_bom_in_one_folder(tmp_path: Path) -> None:
    folder = tmp_path / "mixed"
    write_beir(folder, corpus="\ufeff_id,title,text\nd1,,a\nd2,B,b\n", corpus_name="corpus.csv")
    (folder / "qrels" / "test.tsv").unlink()
    (folder / "qrels" / "dev.txt").write_text("q1 0 d1 1\nq2 0 d2 0\n")
    ds = load_beir(folder, "dev")
    assert ds.corpus == {"d1": Doc("a"), "d2": Doc("b", "B")}
    assert ds.qrels == {"q1": {"d1": 1}, "q2": {"d2": 0}}


def test_blank_lines_and_bom_in_every_file(tmp_path: Path) -> None:
    folder = write_beir(
        tmp_path / "ds",
        corpus="\ufeff\n" + jsonl(CORPUS).replace("\n", "\n\n"),
        queries="\ufeff" + jsonl([{"_id": "q1", "text": "t"}]) + "\n  \n",
        qrels="\ufeffquery-id\tcorpus-id\tscore\n\nq1\td2\t0\n\n",
    )
    ds = load_beir(folder)
    assert (len(ds.corpus), len(ds.queries), ds.qrels) == (3, 1, {"q1": {"d2": 0}})


def test_lenient_load_drops_unknown_ids_with_counted_warnings(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    qrels = [("q1", "d1", 1), ("q1", "gone", 1), ("q2", "gone", 0), ("q9", "d1", 1)]
    folder = write_beir(tmp_path / "ds", qrels=qrels)
    with pytest.raises(DataError, match=r"test\.tsv:5: query 'q9' is not in queries\.jsonl"):
        load_beir(folder)
    with caplog.at_level(logging.WARNING, logger="aptrank.data"):
        ds = load_beir(folder, strict=False)
    assert ds.qrels == {"q1": {"d1": 1}}
    assert [m.split(" name ")[1] for m in caplog.messages] == [
        "1 query ids missing from queries.jsonl; dropped (strict=False)",
        "1 document ids missing from corpus.jsonl; dropped (strict=False)",
    ]
    assert caplog.messages[1].startswith("2 judgments in ")


def test_a_file_in_place_of_the_folder(beir_dir: Path) -> None:
    with pytest.raises(DataError, match=r"corpus\.jsonl: not a folder \(a BEIR folder holds"):
        load_beir(beir_dir / "corpus.jsonl")


def test_the_case_list_is_large_and_its_ids_unique() -> None:
    ids = [case.case_id for case in CASES]
    assert len(ids) >= 15
    assert len(set(ids)) == len(ids)


@pytest.mark.parametrize("case", CASES, ids=[case.case_id for case in CASES])
def test_malformed_folder_is_a_one_line_data_error(tmp_path: Path, case: Case) -> None:
    folder = tmp_path / "broken"
    case.write(folder)
    with pytest.raises(DataError) as err:
        load_beir(folder, "test")
    message = str(err.value)
    assert "\n" not in message
    assert message.startswith(str(folder))  # the file, named by its full path
    for expected in case.expected:
        assert expected in message
