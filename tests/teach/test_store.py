from __future__ import annotations

import json
import sqlite3
import threading
from importlib.util import find_spec
from pathlib import Path

import pytest

from aptrank.errors import AptrankError, DataError, MissingDependencyError
from aptrank.teach import LabelRow, LabelStore, text_hash


@pytest.fixture
def store(tmp_path: Path):
    with LabelStore(tmp_path / "labels.db") as s:
        yield s


def test_round_trip_get_count_has_and_teachers(store: LabelStore):
    store.register_teacher("llm:abc", {"name": "llm", "model": "m@1"})
    new = store.put_many(
        "llm:abc",
        [LabelRow("q1", "d1", 0.9, text_hash("cats")), ("q1", "d2", 0.1), ("q2", "d1", 0.5)],
    )
    assert new == 3
    store.put_many("ce:xyz", [("q1", "d1", 3.0)])
    assert store.get("llm:abc") == {"q1": {"d1": 0.9, "d2": 0.1}, "q2": {"d1": 0.5}}
    assert store.get("ce:xyz") == {"q1": {"d1": 3.0}}
    assert store.get("nobody") == {}
    assert (store.count(), store.count("llm:abc"), store.count("ce:xyz")) == (4, 3, 1)
    assert store.has("llm:abc", "q2", "d1") and not store.has("ce:xyz", "q2", "d1")
    records = {r.teacher: r for r in store.teachers()}
    assert records["llm:abc"].config == {"name": "llm", "model": "m@1"}
    assert records["llm:abc"].count == 3
    assert records["ce:xyz"].config == {} and records["ce:xyz"].count == 1


def test_insert_or_ignore_keeps_the_first_label_and_never_duplicates(store: LabelStore):
    assert store.put_many("t:1", [("q", "d", 0.25), ("q", "e", 0.5)]) == 2
    assert store.put_many("t:1", [("q", "d", 0.99), ("q", "f", 0.75)]) == 1  # only f is new
    assert store.put_many("t:1", [("q", "d", 0.0), ("q", "d", 1.0)]) == 0
    assert store.get("t:1") == {"q": {"d": 0.25, "e": 0.5, "f": 0.75}}
    assert store.count("t:1") == 3


def test_missing_keeps_input_order_and_drops_repeats(store: LabelStore):
    store.put_many("t:1", [("q1", "d2", 1.0), ("q2", "d1", 0.0)])
    store.put_many("t:2", [("q1", "d1", 1.0)])
    keys = [("q1", "d1"), ("q1", "d2"), ("q3", "d9"), ("q1", "d1"), ("q2", "d1"), ("q2", "d3")]
    assert store.missing("t:1", keys) == [("q1", "d1"), ("q3", "d9"), ("q2", "d3")]
    assert store.missing("t:2", keys) == [("q1", "d2"), ("q3", "d9"), ("q2", "d1"), ("q2", "d3")]


def test_a_bad_label_rejects_the_whole_batch_before_writing(store: LabelStore):
    with pytest.raises(DataError, match="not finite"):
        store.put_many("t:1", [("q", "a", 0.5), ("q", "b", float("nan"))])
    with pytest.raises(DataError, match="not a number"):
        store.put_many("t:1", [("q", "a", 0.5), ("q", "c", "high")])
    assert store.count() == 0


def test_wal_mode_synchronous_normal_and_persistence(tmp_path: Path):
    path = tmp_path / "sub" / "labels.db"
    with LabelStore(path) as s:
        s.put_many("t:1", [("q", "d", 0.5)])
        assert s._conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        assert s._conn.execute("PRAGMA synchronous").fetchone()[0] == 1  # NORMAL
        assert s._conn.execute("PRAGMA busy_timeout").fetchone()[0] == 30_000
    with LabelStore(path) as again:
        assert again.get("t:1") == {"q": {"d": 0.5}}


def test_readonly_store_reads_but_refuses_writes(tmp_path: Path):
    with pytest.raises(AptrankError, match="does not exist"):
        LabelStore(tmp_path / "none.db", readonly=True)
    with LabelStore(tmp_path / "labels.db") as s:
        s.put_many("t:1", [("q", "d", 0.5)])
        with LabelStore(tmp_path / "labels.db", readonly=True) as ro:
            assert ro.count() == 1
            with pytest.raises(AptrankError, match="read-only"):
                ro.put_many("t:1", [("q", "e", 0.5)])


def test_two_writers_on_one_file_wait_for_each_other(tmp_path: Path):
    path = tmp_path / "labels.db"
    LabelStore(path).close()
    errors: list[BaseException] = []

    def write(worker: int) -> None:
        try:
            with LabelStore(path, busy_timeout=10) as s:
                for b in range(30):
                    s.put_many("t:1", [(f"q{worker}", f"d{b}-{i}", 0.5) for i in range(5)])
        except BaseException as e:  # noqa: BLE001 - reported below
            errors.append(e)

    threads = [threading.Thread(target=write, args=(w,)) for w in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    with LabelStore(path) as s:
        assert s.count("t:1") == 2 * 30 * 5


def test_rows_page_through_everything_in_key_order(store: LabelStore):
    rows = [(f"q{i % 3}", f"d{i}", i / 10) for i in range(10)]
    store.put_many("b:1", rows)
    store.put_many("a:1", [("q", "d", 1.0)])
    listed = list(store.rows(chunk=3))
    assert [(r["teacher"], r["query_id"], r["doc_id"]) for r in listed] == sorted(
        [("b:1", q, d) for q, d, _ in rows] + [("a:1", "q", "d")]
    )
    assert len(list(store.rows("b:1", chunk=4))) == 10


def test_export_jsonl(store: LabelStore, tmp_path: Path):
    store.put_many("t:1", [("q1", "d1", 0.5, text_hash("q"), text_hash("d")), ("q1", "d2", 1.0)])
    store.put_many("t:2", [("q2", "d1", 2.0)])
    out = store.export(tmp_path / "out" / "labels.jsonl")
    lines = [json.loads(line) for line in out.read_text().splitlines()]
    assert [(r["teacher"], r["query_id"], r["doc_id"], r["label"]) for r in lines] == [
        ("t:1", "q1", "d1", 0.5),
        ("t:1", "q1", "d2", 1.0),
        ("t:2", "q2", "d1", 2.0),
    ]
    assert lines[0]["query_hash"] == text_hash("q") and lines[1]["doc_hash"] is None
    assert isinstance(lines[0]["created"], float)
    one = store.export(tmp_path / "t2.jsonl", teacher="t:2")
    assert [json.loads(x)["teacher"] for x in one.read_text().splitlines()] == ["t:2"]
    assert not list((tmp_path / "out").glob(".*tmp"))  # no temporary file left behind
    with pytest.raises(AptrankError, match=r"\.jsonl or \.parquet"):
        store.export(tmp_path / "labels.csv")


def test_export_parquet_or_a_clear_missing_dependency(store: LabelStore, tmp_path: Path):
    store.put_many("t:1", [("q1", "d1", 0.5), ("q1", "d2", 1.0)])
    if find_spec("pyarrow") is None:
        with pytest.raises(MissingDependencyError, match="pip install pyarrow"):
            store.export(tmp_path / "labels.parquet")
        assert not (tmp_path / "labels.parquet").exists()
    else:
        import pyarrow.parquet as pq

        table = pq.read_table(store.export(tmp_path / "labels.parquet"))
        assert table.column("label").to_pylist() == [0.5, 1.0]


def test_import_adds_an_exported_file_once(store: LabelStore, tmp_path: Path):
    store.put_many("t:1", [("q1", "d1", 0.5, text_hash("q"), text_hash("d")), ("q1", "d2", 1.0)])
    store.put_many("t:2", [("q2", "d1", 2.0)])
    exported = store.export(tmp_path / "labels.jsonl")
    with LabelStore(tmp_path / "other.sqlite") as other:
        other.put_many("t:1", [("q1", "d2", 9.0)])  # already there: stays
        assert other.import_file(exported) == 2
        assert other.import_file(exported) == 0
        assert other.get("t:1") == {"q1": {"d1": 0.5, "d2": 9.0}}
        assert other.get("t:2") == {"q2": {"d1": 2.0}}
        assert other.has("t:1", "q1", "d1")
        assert [r["query_hash"] for r in other.rows("t:1")] == [text_hash("q"), None]


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ("not json", "line 2: not JSON"),
        ("[1, 2]", "line 2: expected an object"),
        ('{"teacher": "t", "query_id": "q", "label": 1}', "line 2: missing field 'doc_id'"),
        ('{"teacher": "t", "query_id": "q", "doc_id": "d", "label": NaN}', "line 2: .*not finite"),
    ],
)
def test_a_bad_import_row_is_named_and_nothing_is_written(
    store: LabelStore, tmp_path: Path, line: str, message: str
):
    path = tmp_path / "labels.jsonl"
    path.write_text('{"teacher": "t", "query_id": "q", "doc_id": "d0", "label": 1}\n' + line + "\n")
    with pytest.raises(DataError, match=rf"labels\.jsonl, {message}"):
        store.import_file(path)
    assert store.count() == 0
    with pytest.raises(AptrankError, match=r"\.jsonl or \.parquet"):
        store.import_file(tmp_path / "labels.csv")
    with pytest.raises(DataError, match="no such label file"):
        store.import_file(tmp_path / "missing.jsonl")


def test_schema_version_is_checked(tmp_path: Path):
    path = tmp_path / "labels.db"
    LabelStore(path).close()
    with sqlite3.connect(path) as conn:
        conn.execute("UPDATE meta SET value='99' WHERE key='schema_version'")
    with pytest.raises(AptrankError, match="schema version 99"):
        LabelStore(path)
