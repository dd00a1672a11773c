"""Corpus and queries files: JSONL and CSV records, ids, titles, meta, encodings."""

from __future__ import annotations

import gzip
import logging
from pathlib import Path

import pytest

from aptrank.data import load_corpus, load_queries
from aptrank.errors import DataError
from aptrank.types import Doc, Query

from .beir_fixtures import jsonl, write_file


def test_jsonl_corpus_reads_title_text_and_keeps_extra_fields_in_meta(tmp_path: Path) -> None:
    path = write_file(
        tmp_path / "corpus.jsonl",
        jsonl(
            [
                {
                    "_id": "d1",
                    "title": "T",
                    "text": "body",
                    "metadata": {"year": 2001, "tags": ["a"]},
                },
                {"_id": "d2", "text": "no title"},
                {"_id": "d3", "title": None, "text": "null title", "source": "wiki"},
            ]
        ),
    )
    corpus = load_corpus(path)
    assert corpus == {
        "d1": Doc("body", "T", {"metadata": {"year": 2001, "tags": ["a"]}}),
        "d2": Doc("no title", "", {}),
        "d3": Doc("null title", "", {"source": "wiki"}),
    }
    assert list(corpus) == ["d1", "d2", "d3"]


def test_ids_are_opaque_strings_with_any_characters(tmp_path: Path) -> None:
    ids = ["doi:10.1/abc", "<a>", "a/b/c", "two words", " padded ", "ünïcode"]
    path = write_file(tmp_path / "q.jsonl", jsonl([{"_id": i, "text": "t"} for i in ids]))
    assert list(load_queries(path)) == ids


def test_integer_ids_become_strings_and_id_is_an_alias(tmp_path: Path) -> None:
    records = [
        {"_id": 123, "text": "a"},
        {"id": "x7", "text": "b"},
        {"_id": "y", "id": 5, "text": "c"},
    ]
    queries = load_queries(write_file(tmp_path / "q.jsonl", jsonl(records)))
    assert list(queries) == ["123", "x7", "y"]
    assert queries["y"].meta == {"id": 5}  # `_id` wins; `id` is then an ordinary field


def test_query_meta_keeps_category(tmp_path: Path) -> None:
    path = write_file(tmp_path / "q.jsonl", jsonl([{"_id": "0", "text": "t", "category": "A - a"}]))
    assert load_queries(path) == {"0": Query("t", {"category": "A - a"})}


def test_bom_blank_lines_and_crlf_are_tolerated(tmp_path: Path) -> None:
    text = '\ufeff{"_id": "d1", "text": "a"}\r\n\r\n   \n{"_id": "d2", "text": "b"}\r\n\n'
    corpus = load_corpus(write_file(tmp_path / "corpus.jsonl", text))
    assert corpus == {"d1": Doc("a"), "d2": Doc("b")}


def test_errors_count_physical_lines_past_blank_lines(tmp_path: Path) -> None:
    path = write_file(tmp_path / "corpus.jsonl", '{"_id": "d1", "text": "a"}\n\n\n{"_id": 1.0}\n')
    with pytest.raises(DataError) as err:
        load_corpus(path)
    assert err.value.line == 4
    assert str(err.value) == f"{path}:4: `_id` must be a string or an integer, found float 1.0"


def test_bom_that_is_not_at_the_start_is_part_of_the_text(tmp_path: Path) -> None:
    path = write_file(tmp_path / "q.jsonl", '{"_id": "q1", "text": "\ufeffa"}\n')
    assert load_queries(path)["q1"].text == "\ufeffa"


def test_gzipped_jsonl(tmp_path: Path) -> None:
    path = tmp_path / "corpus.jsonl.gz"
    path.write_bytes(gzip.compress(jsonl([{"_id": "d1", "title": "t", "text": "a"}]).encode()))
    assert load_corpus(path) == {"d1": Doc("a", "t")}


def test_csv_corpus_with_id_column_quoted_fields_and_extra_columns(tmp_path: Path) -> None:
    text = 'id,title,text,source\nd1,,"plain, with comma",web\nd2,T,"two\nlines",\n\nd3,,c,x\n'
    corpus = load_corpus(write_file(tmp_path / "corpus.csv", text))
    assert corpus == {
        "d1": Doc("plain, with comma", "", {"source": "web"}),
        "d2": Doc("two\nlines", "T", {"source": ""}),
        "d3": Doc("c", "", {"source": "x"}),
    }


def test_tsv_queries_with_header(tmp_path: Path) -> None:
    path = write_file(tmp_path / "queries.tsv", "\ufeff_id\ttext\nq 1\tfirst query\nq:2\tsecond\n")
    assert load_queries(path) == {"q 1": Query("first query"), "q:2": Query("second")}


def test_csv_errors_name_the_physical_line(tmp_path: Path) -> None:
    text = '_id,text\nq1,"two\nlines"\nq1,again\n'
    with pytest.raises(DataError, match=r"queries\.csv:4: duplicate id 'q1' \(first on line 3\)"):
        load_queries(write_file(tmp_path / "queries.csv", text))


def test_documents_without_title_or_text_are_kept_with_one_counted_warning(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    records = [
        {"_id": "d1", "text": ""},
        {"_id": "d2", "title": "", "text": ""},
        {"_id": "d3", "text": "x"},
    ]
    with caplog.at_level(logging.WARNING, logger="aptrank.data"):
        corpus = load_corpus(write_file(tmp_path / "corpus.jsonl", jsonl(records)))
    assert len(corpus) == 3
    assert [r.getMessage() for r in caplog.records] == [
        f"2 documents in {tmp_path / 'corpus.jsonl'} have neither title nor text; kept"
    ]


def test_missing_file_and_folder_in_place_of_a_file(tmp_path: Path) -> None:
    with pytest.raises(DataError, match=r"nope\.jsonl: file not found"):
        load_corpus(tmp_path / "nope.jsonl")
    (tmp_path / "dir.jsonl").mkdir()
    with pytest.raises(DataError, match=r"dir\.jsonl: is a folder"):
        load_queries(tmp_path / "dir.jsonl")


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        ('{"_id": "q1", "text": null}\n', ":1: `text` must be a string, found null"),
        (
            '{"_id": {"a": 1}, "text": "t"}\n',
            ":1: `_id` must be a string or an integer, found object {'a': 1}",
        ),
        ('{"_id": "  ", "text": "t"}\n', ":1: empty `_id`"),
        ('"just a string"\n', ":1: expected a JSON object, found string"),
        ("[1, 2]\n", ":1: expected a JSON object, found array"),
        ('{"_id": "q1", "text": "t"} trailing\n', ":1: invalid JSON: Extra data (column 28)"),
    ],
)
def test_record_errors(tmp_path: Path, content: str, expected: str) -> None:
    path = write_file(tmp_path / "queries.jsonl", content)
    with pytest.raises(DataError) as err:
        load_queries(path)
    assert str(err.value) == f"{path}{expected}"


def test_a_utf16_file_is_reported_as_not_utf8(tmp_path: Path) -> None:
    path = write_file(tmp_path / "q.jsonl", '{"_id": "q1", "text": "t"}\n'.encode("utf-16"))
    with pytest.raises(DataError, match=r"q\.jsonl:1: not valid UTF-8 \(byte 0xff at column 1\)"):
        load_queries(path)
