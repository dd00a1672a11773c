"""Queries files given to rank: plain ``id<TAB>text`` TSV, or what ``load_queries`` reads."""

from __future__ import annotations

import gzip
from pathlib import Path

import pytest

from aptrank.data import load_queries
from aptrank.data.records import load_query_file
from aptrank.errors import DataError
from aptrank.types import Query

from .beir_fixtures import jsonl, write_file


def test_tsv_lines_are_id_tab_text_taken_verbatim(tmp_path: Path) -> None:
    text = '1\twhat is "RAG"?\r\n\n   \nq 2\tcomma, quote \' and ; kept\n'
    queries = load_query_file(write_file(tmp_path / "queries.tsv", text))
    assert queries == {"1": Query('what is "RAG"?'), "q 2": Query("comma, quote ' and ; kept")}


@pytest.mark.parametrize("header", ["_id\ttext", "id\ttext", "query-id\ttext", "qid\ttext"])
def test_a_first_line_naming_the_columns_is_skipped(header: str, tmp_path: Path) -> None:
    path = write_file(tmp_path / "q.tsv", f"\ufeff{header}\nq1\tred fruit\n")
    assert load_query_file(path) == {"q1": Query("red fruit")}


def test_a_header_line_after_the_first_is_a_query(tmp_path: Path) -> None:
    path = write_file(tmp_path / "q.tsv", "q1\tred fruit\nid\ttext\n")
    assert list(load_query_file(path)) == ["q1", "id"]


def test_gzipped_tsv_is_read(tmp_path: Path) -> None:
    path = write_file(tmp_path / "q.tsv.gz", gzip.compress(b"q1\tred fruit\n"))
    assert load_query_file(path) == {"q1": Query("red fruit")}


def test_jsonl_and_csv_are_read_as_load_queries_reads_them(tmp_path: Path) -> None:
    records = [{"_id": "q1", "text": "red fruit", "lang": "en"}, {"_id": 7, "text": "wheels"}]
    path = write_file(tmp_path / "new.jsonl", jsonl(records))
    assert load_query_file(path) == load_queries(path)
    assert load_query_file(path)["q1"] == Query("red fruit", {"lang": "en"})
    csv = write_file(tmp_path / "new.csv", 'id,text\nq1,"red, ripe fruit"\n')
    assert load_query_file(csv) == {"q1": Query("red, ripe fruit")}


@pytest.mark.parametrize(
    ("content", "line", "reason"),
    [
        ("q1\tred\nq2\n", 2, "expected 2 tab-separated fields (id<TAB>text), found 1"),
        (
            "q1\tred\nq2\tgreen\tfruit\n",
            2,
            "expected 2 tab-separated fields (id<TAB>text), found 3",
        ),
        ("q1\tred\n\tgreen\n", 2, "empty `_id`"),
        ("q1\tred\nq2\t \n", 2, "query 'q2' has empty `text`"),
        ("q1\tred\n\nq1\tgreen\n", 3, "duplicate id 'q1' (first on line 1)"),
        (b"id\ttext\nq1\tred\nq2\xff\tx\n", 3, "not valid UTF-8"),
    ],
)
def test_malformed_tsv_names_file_line_and_reason(
    content: str | bytes, line: int, reason: str, tmp_path: Path
) -> None:
    path = write_file(tmp_path / "q.tsv", content)
    with pytest.raises(DataError) as err:
        load_query_file(path)
    assert (err.value.path, err.value.line) == (str(path), line)
    assert reason in err.value.reason


@pytest.mark.parametrize("content", ["", "\n\n", "id\ttext\n"])
def test_a_tsv_without_queries_is_an_error(content: str, tmp_path: Path) -> None:
    path = write_file(tmp_path / "q.tsv", content)
    with pytest.raises(DataError, match="queries file is empty"):
        load_query_file(path)


def test_a_missing_file_is_named(tmp_path: Path) -> None:
    with pytest.raises(DataError, match="file not found"):
        load_query_file(tmp_path / "nope.tsv")
