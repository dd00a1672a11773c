"""Qrels files (BEIR TSV and TREC) and the check of their ids against corpus and queries."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from aptrank.data import check_qrels, load_qrels
from aptrank.data.qrels import read_qrels
from aptrank.errors import DataError

from .beir_fixtures import write_file


def test_beir_tsv_with_header_keeps_grade_zero(tmp_path: Path) -> None:
    path = write_file(
        tmp_path / "test.tsv", "query-id\tcorpus-id\tscore\nq1\td1\t1\nq1\td2\t0\nq2\td1\t2\n"
    )
    assert load_qrels(path) == {"q1": {"d1": 1, "d2": 0}, "q2": {"d1": 2}}


def test_beir_tsv_without_header_ids_with_spaces_and_bom(tmp_path: Path) -> None:
    text = "\ufeffq 1\tdoc:<a>/b c\t1\r\nq 1\td2\t0\r\n\r\n"
    assert load_qrels(write_file(tmp_path / "x.tsv", text)) == {"q 1": {"doc:<a>/b c": 1, "d2": 0}}


def test_bom_before_the_header_is_tolerated(tmp_path: Path) -> None:
    text = "\ufeffquery-id\tcorpus-id\tscore\nq1\td1\t1\n"
    assert load_qrels(write_file(tmp_path / "test.tsv", text)) == {"q1": {"d1": 1}}


def test_trec_qrels_whitespace_separated(tmp_path: Path) -> None:
    text = "301 0 FBIS3-10082 1\n301  Q0\tFBIS3-10169 0\n\n302 0 FT911-1 2\n"
    qrels = load_qrels(write_file(tmp_path / "qrels.robust04.txt", text))
    assert qrels == {"301": {"FBIS3-10082": 1, "FBIS3-10169": 0}, "302": {"FT911-1": 2}}


def test_trec_qrels_in_a_tsv_file_are_detected_by_content(tmp_path: Path) -> None:
    text = "q1\t0\td1\t1\nq1\t0\td2\t0\n"
    assert load_qrels(write_file(tmp_path / "test.tsv", text)) == {"q1": {"d1": 1, "d2": 0}}


@pytest.mark.parametrize(
    ("grade", "value"), [("0", 0), ("2", 2), ("-1", -1), ("+3", 3), ("2.0", 2), (" 1 ", 1)]
)
def test_integer_grades(tmp_path: Path, grade: str, value: int) -> None:
    assert load_qrels(write_file(tmp_path / "t.tsv", f"q1\td1\t{grade}\n")) == {"q1": {"d1": value}}


@pytest.mark.parametrize("grade", ["1.5", "x", "", "1e3", "٣", "nan"])
def test_non_integer_grades_are_errors(tmp_path: Path, grade: str) -> None:
    path = write_file(tmp_path / "t.tsv", f"q1\td1\t1\nq1\td2\t{grade}\n")
    with pytest.raises(DataError) as err:
        load_qrels(path)
    assert str(err.value) == f"{path}:2: grade {grade.strip()!r} is not an integer"


def test_a_repeated_judgment_with_the_same_grade_is_kept_once_with_a_warning(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    path = write_file(tmp_path / "t.tsv", "q1\td1\t1\nq1\td1\t1\nq1\td2\t0\nq1\td1\t1\n")
    with caplog.at_level(logging.WARNING, logger="aptrank.data"):
        qrels, lines = read_qrels(path)
    assert qrels == {"q1": {"d1": 1, "d2": 0}}
    assert lines == {("q1", "d1"): 1, ("q1", "d2"): 3}
    assert caplog.messages == [f"2 judgments in {path} are repeated with the same grade; kept once"]


@pytest.mark.parametrize(
    ("name", "text", "expected"),
    [
        ("q.txt", "q1 d1\n", ":1: not a qrels line: expected 'query-id<TAB>corpus-id<TAB>score'"),
        ("q.txt", "q1 0 d1 1\nq1 0 d2\n", ":2: expected 4 columns (qid 0 docid grade), found 3"),
        ("q.tsv", "q1 d1 1\n", ":1: expected 3 tab-separated columns (query-id, corpus-id, score)"),
        ("q.tsv", "q1\td1\t1\n\td2\t1\n", ":2: empty query id or document id"),
        ("q.tsv", "query-id\tcorpus-id\tscore\n\n", ": no judgments in the qrels file"),
        ("q.tsv", "", ": no judgments in the qrels file"),
    ],
)
def test_malformed_qrels(tmp_path: Path, name: str, text: str, expected: str) -> None:
    path = write_file(tmp_path / name, text)
    with pytest.raises(DataError) as err:
        load_qrels(path)
    assert str(err.value).startswith(f"{path}{expected}")


def test_non_utf8_qrels_name_the_line(tmp_path: Path) -> None:
    path = write_file(tmp_path / "t.tsv", b"q1\td1\t1\nq\xe92\td1\t1\n")
    with pytest.raises(DataError, match=r"t\.tsv:2: not valid UTF-8 \(byte 0xe9 at column 2\)"):
        load_qrels(path)


QRELS = {"q1": {"d1": 1, "d9": 0}, "q9": {"d1": 1, "d2": 1}, "q2": {"d2": 0}}
DOCS = {"d1": None, "d2": None}
QUERIES = {"q1": None, "q2": None}


def test_check_qrels_strict_reports_the_first_unknown_id_with_counts() -> None:
    lines = {("q1", "d1"): 2, ("q1", "d9"): 3, ("q9", "d1"): 4, ("q9", "d2"): 5, ("q2", "d2"): 6}
    with pytest.raises(DataError) as err:
        check_qrels(QRELS, DOCS, QUERIES, path="t.tsv", lines=lines)
    assert str(err.value) == (
        "t.tsv:4: query 'q9' is not in the queries "
        "(2 judgments name 1 unknown query ids; strict=False drops them)"
    )
    only_docs = {"q1": QRELS["q1"], "q2": QRELS["q2"]}
    with pytest.raises(DataError, match=r"^t\.tsv:3: document 'd9' is not in the corpus \(1 judg"):
        check_qrels(only_docs, DOCS, QUERIES, path="t.tsv", lines=lines)


def test_check_qrels_lenient_drops_with_counted_warnings_and_keeps_inputs(
    caplog: pytest.LogCaptureFixture,
) -> None:
    with caplog.at_level(logging.WARNING, logger="aptrank.data"):
        kept = check_qrels(QRELS, DOCS, QUERIES, strict=False, path="t.tsv")
    assert kept == {"q1": {"d1": 1}, "q2": {"d2": 0}}
    assert QRELS["q1"] == {"d1": 1, "d9": 0}  # not mutated
    assert caplog.messages == [
        "2 judgments in t.tsv name 1 query ids missing from the queries; dropped (strict=False)",
        "1 judgments in t.tsv name 1 document ids missing from the corpus; dropped (strict=False)",
    ]


def test_check_qrels_lenient_with_nothing_left_is_an_error() -> None:
    with pytest.raises(DataError, match="no judgments left after dropping unknown ids"):
        check_qrels({"q9": {"d1": 1}}, DOCS, QUERIES, strict=False)
