"""The durable label store: teacher labels in one SQLite file, safe to kill at any moment.

Schema (``SCHEMA_VERSION`` 1)::

    labels(teacher TEXT, query_id TEXT, doc_id TEXT,   -- PRIMARY KEY, WITHOUT ROWID
           label REAL NOT NULL,                         -- finite; the teacher's graded/soft label
           query_hash TEXT, doc_hash TEXT,              -- sha1[:16] of the texts that were judged
           created REAL NOT NULL)                       -- unix time of the commit
    teachers(teacher TEXT PRIMARY KEY, config TEXT NOT NULL, created REAL NOT NULL)
    meta(key TEXT PRIMARY KEY, value TEXT NOT NULL)     -- schema_version

The database runs in WAL mode with ``synchronous=NORMAL``: every :meth:`LabelStore.put_many` is
one transaction, so a process killed at any moment (SIGKILL included) leaves every committed batch
intact and no half batch; the next open rolls back the torn one. (``NORMAL`` can lose the last
commits on a power failure or OS crash, never on a process crash; pass ``synchronous="FULL"`` when
that matters.) Rows are inserted with ``INSERT OR IGNORE``, so a re-run never duplicates a label
and never overwrites one: the first committed label of a (teacher, query, doc) stays.
"""

from __future__ import annotations

import hashlib
import json
import logging
import math
import os
import sqlite3
import threading
import time
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NamedTuple

from aptrank.errors import AptrankError, DataError, MissingDependencyError

logger = logging.getLogger(__name__)

SCHEMA_VERSION = 1

_SCHEMA = """
CREATE TABLE IF NOT EXISTS labels (
    teacher TEXT NOT NULL,
    query_id TEXT NOT NULL,
    doc_id TEXT NOT NULL,
    label REAL NOT NULL,
    query_hash TEXT,
    doc_hash TEXT,
    created REAL NOT NULL,
    PRIMARY KEY (teacher, query_id, doc_id)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS teachers (
    teacher TEXT PRIMARY KEY,
    config TEXT NOT NULL,
    created REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
"""

_COLUMNS = ("teacher", "query_id", "doc_id", "label", "query_hash", "doc_hash", "created")


def text_hash(text: str) -> str:
    """A short content hash stored beside each label, to spot labels of texts that changed.

    >>> text_hash("cats sleeping")
    '6097e82c2620fbaa'
    """
    return hashlib.sha1(text.encode("utf-8")).hexdigest()[:16]


class LabelRow(NamedTuple):
    """One label to store; the hashes are optional (:func:`text_hash` of the judged texts)."""

    query_id: str
    doc_id: str
    label: float
    query_hash: str | None = None
    doc_hash: str | None = None


@dataclass(frozen=True)
class TeacherRecord:
    teacher: str
    config: dict[str, Any]
    count: int


class LabelStore:
    """Teacher labels keyed by (teacher, query_id, doc_id) in the SQLite file at ``path``.

    ``readonly=True`` opens an existing store without writing to it (e.g. to watch progress
    from another process). ``busy_timeout`` (seconds) is how long a call waits for another
    process's write lock before failing. Usable as a context manager.
    """

    def __init__(
        self,
        path: str | Path,
        *,
        readonly: bool = False,
        busy_timeout: float = 30.0,
        synchronous: str = "NORMAL",
    ) -> None:
        if synchronous.upper() not in ("NORMAL", "FULL", "EXTRA"):
            raise AptrankError(f"synchronous must be NORMAL, FULL or EXTRA, not {synchronous!r}")
        self.path = Path(path)
        self.readonly = readonly
        self._lock = threading.Lock()
        if readonly:
            if not self.path.exists():
                raise AptrankError(f"label store {self.path} does not exist")
            uri = f"{self.path.resolve().as_uri()}?mode=ro"
            self._conn = sqlite3.connect(
                uri, uri=True, timeout=busy_timeout, isolation_level=None, check_same_thread=False
            )
        else:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._conn = sqlite3.connect(
                self.path, timeout=busy_timeout, isolation_level=None, check_same_thread=False
            )
        self._conn.execute(f"PRAGMA busy_timeout = {int(busy_timeout * 1000)}")
        if not readonly:
            try:
                self._init_schema(synchronous.upper())
            except BaseException:
                self._conn.close()
                raise

    def _init_schema(self, synchronous: str) -> None:
        mode = self._conn.execute("PRAGMA journal_mode = WAL").fetchone()[0]
        if str(mode).lower() != "wal":
            raise AptrankError(f"label store {self.path}: cannot switch to WAL mode (got {mode})")
        self._conn.execute(f"PRAGMA synchronous = {synchronous}")
        with self._transaction():
            for statement in _SCHEMA.split(";"):
                if statement.strip():
                    self._conn.execute(statement)
            row = self._conn.execute("SELECT value FROM meta WHERE key='schema_version'").fetchone()
            if row is None:
                self._conn.execute(
                    "INSERT INTO meta VALUES ('schema_version', ?)", (str(SCHEMA_VERSION),)
                )
            elif int(row[0]) != SCHEMA_VERSION:
                raise AptrankError(
                    f"label store {self.path} has schema version {row[0]}; "
                    f"this aptrank reads version {SCHEMA_VERSION}"
                )

    @contextmanager
    def _transaction(self) -> Iterator[sqlite3.Connection]:
        """One write transaction; BEGIN IMMEDIATE takes the write lock up front (or waits
        ``busy_timeout`` for it), so a transaction never fails half way on a lock upgrade."""
        if self.readonly:
            raise AptrankError(f"label store {self.path} is open read-only")
        with self._lock:
            self._conn.execute("BEGIN IMMEDIATE")
            try:
                yield self._conn
            except BaseException:
                self._conn.execute("ROLLBACK")
                raise
            self._conn.execute("COMMIT")

    def _query(self, sql: str, params: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
        with self._lock:
            return self._conn.execute(sql, params).fetchall()

    # -- writing ---------------------------------------------------------------------------

    def register_teacher(self, teacher: str, config: dict[str, Any]) -> None:
        """Record a teacher's config under its id (the first registration stays)."""
        blob = json.dumps(config, sort_keys=True, default=str)
        with self._transaction() as conn:
            conn.execute(
                "INSERT OR IGNORE INTO teachers VALUES (?, ?, ?)", (teacher, blob, time.time())
            )

    def put_many(self, teacher: str, rows: Iterable[LabelRow | tuple[Any, ...]]) -> int:
        """Store ``rows`` in one transaction; rows already stored are left as they are.

        Returns how many rows were new. A non-finite label is rejected before anything is written.
        """
        now = time.time()
        values = [_row_values(teacher, LabelRow(*row), now) for row in rows]
        if not values:
            return 0
        with self._transaction() as conn:
            before = conn.total_changes
            conn.executemany("INSERT OR IGNORE INTO labels VALUES (?, ?, ?, ?, ?, ?, ?)", values)
            return conn.total_changes - before

    # -- reading ---------------------------------------------------------------------------

    def has(self, teacher: str, query_id: str, doc_id: str) -> bool:
        rows = self._query(
            "SELECT 1 FROM labels WHERE teacher=? AND query_id=? AND doc_id=?",
            (teacher, query_id, doc_id),
        )
        return bool(rows)

    def missing(self, teacher: str, keys: Iterable[tuple[str, str]]) -> list[tuple[str, str]]:
        """The (query_id, doc_id) keys ``teacher`` has no label for, in input order, once each."""
        by_query: dict[str, list[str]] = {}
        order: list[tuple[str, str]] = []
        for qid, did in dict.fromkeys((str(q), str(d)) for q, d in keys):
            by_query.setdefault(qid, []).append(did)
            order.append((qid, did))
        stored: set[tuple[str, str]] = set()
        with self._lock:
            for qid in by_query:
                cur = self._conn.execute(
                    "SELECT doc_id FROM labels WHERE teacher=? AND query_id=?", (teacher, qid)
                )
                stored.update((qid, did) for (did,) in cur)
        return [key for key in order if key not in stored]

    def get(self, teacher: str) -> dict[str, dict[str, float]]:
        """All labels of ``teacher`` as ``{query_id: {doc_id: label}}`` (a Run-shaped dict)."""
        out: dict[str, dict[str, float]] = {}
        for qid, did, label in self._query(
            "SELECT query_id, doc_id, label FROM labels WHERE teacher=? ORDER BY query_id, doc_id",
            (teacher,),
        ):
            out.setdefault(qid, {})[did] = float(label)
        return out

    def count(self, teacher: str | None = None) -> int:
        """How many labels ``teacher`` (or every teacher) has stored."""
        if teacher is None:
            return int(self._query("SELECT COUNT(*) FROM labels")[0][0])
        return int(self._query("SELECT COUNT(*) FROM labels WHERE teacher=?", (teacher,))[0][0])

    def teachers(self) -> list[TeacherRecord]:
        """Every teacher with labels or a registered config, with its config and label count."""
        counts = dict(self._query("SELECT teacher, COUNT(*) FROM labels GROUP BY teacher"))
        configs = {t: json.loads(c) for t, c in self._query("SELECT teacher, config FROM teachers")}
        names = sorted(set(counts) | set(configs))
        return [TeacherRecord(t, configs.get(t, {}), int(counts.get(t, 0))) for t in names]

    def rows(self, teacher: str | None = None, chunk: int = 10_000) -> Iterator[dict[str, Any]]:
        """Every stored label as a dict of the columns, ordered by teacher, query and doc.

        Read in pages (keyset pagination), so a large store streams without holding a lock.
        """
        where = "(teacher, query_id, doc_id) > (?, ?, ?)"
        if teacher is not None:
            where += " AND teacher = ?"
        sql = f"SELECT * FROM labels WHERE {where} ORDER BY teacher, query_id, doc_id LIMIT ?"
        last: tuple[str, str, str] = ("", "", "")
        while True:
            params = (*last, teacher, chunk) if teacher is not None else (*last, chunk)
            part = self._query(sql, params)
            yield from (dict(zip(_COLUMNS, row)) for row in part)
            if len(part) < chunk:
                return
            last = (part[-1][0], part[-1][1], part[-1][2])

    # -- export ----------------------------------------------------------------------------

    def export(self, path: str | Path, teacher: str | None = None) -> Path:
        """Write the labels (of one teacher, or all) to ``path``: ``.jsonl`` or ``.parquet``.

        The file appears complete or not at all (written beside, then renamed).
        """
        path = Path(path)
        suffix = path.suffix.lower()
        if suffix not in (".jsonl", ".parquet"):
            raise AptrankError(f"export to {path}: use a .jsonl or .parquet file name")
        if suffix == ".parquet":
            try:
                import pyarrow  # noqa: F401
            except ImportError:
                raise MissingDependencyError("parquet export of labels", "pyarrow") from None
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
        try:
            n = (
                _write_jsonl(self.rows(teacher), tmp)
                if suffix == ".jsonl"
                else _write_parquet(self.rows(teacher), tmp)
            )
            os.replace(tmp, path)
        finally:
            tmp.unlink(missing_ok=True)
        logger.info("exported %d labels to %s", n, path)
        return path

    def import_file(self, path: str | Path) -> int:
        """Add the labels of an :meth:`export` file (``.jsonl`` or ``.parquet``); returns how many
        were new. Labels computed elsewhere (a GPU machine, another store) join this one; like
        every write, a label already stored stays, so importing twice adds nothing.

        Each row needs ``teacher``, ``query_id``, ``doc_id`` and ``label``; a bad row is named by
        its line (parquet: row) number and nothing of the file is written.
        """
        path = Path(path)
        suffix = path.suffix.lower()
        if suffix not in (".jsonl", ".parquet"):
            raise AptrankError(f"import from {path}: use a .jsonl or .parquet file")
        if not path.is_file():
            raise DataError(f"{path}: no such label file")
        if suffix == ".parquet":
            try:
                import pyarrow.parquet as pq
            except ImportError:
                raise MissingDependencyError("parquet import of labels", "pyarrow") from None
            where = "row"
            records: Iterable[tuple[int, Any]] = enumerate(pq.read_table(path).to_pylist(), 1)
        else:
            where, records = "line", _read_jsonl(path)
        by_teacher: dict[str, list[LabelRow]] = {}
        for n, row in records:
            try:
                teacher = str(row["teacher"])
                item = LabelRow(
                    str(row["query_id"]),
                    str(row["doc_id"]),
                    row["label"],
                    row.get("query_hash"),
                    row.get("doc_hash"),
                )
                _row_values(teacher, item, 0.0)
            except (KeyError, TypeError, AttributeError, DataError) as e:
                detail = f"missing field {e}" if isinstance(e, KeyError) else str(e)
                raise DataError(f"{path}, {where} {n}: {detail}") from None
            by_teacher.setdefault(teacher, []).append(item)
        added = sum(self.put_many(t, rows) for t, rows in by_teacher.items())
        logger.info("imported %d new labels from %s", added, path)
        return added

    def close(self) -> None:
        with self._lock:
            self._conn.close()

    def __enter__(self) -> LabelStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"LabelStore({str(self.path)!r})"


def _row_values(teacher: str, row: LabelRow, now: float) -> tuple[Any, ...]:
    try:
        label = float(row.label)
    except (TypeError, ValueError):
        raise DataError(f"label of ({row.query_id!r}, {row.doc_id!r}) is not a number") from None
    if not math.isfinite(label):
        raise DataError(f"label of ({row.query_id!r}, {row.doc_id!r}) is {label}, not finite")
    return (teacher, str(row.query_id), str(row.doc_id), label, row.query_hash, row.doc_hash, now)


def _read_jsonl(path: Path) -> Iterator[tuple[int, dict[str, Any]]]:
    with open(path, encoding="utf-8") as f:
        for n, line in enumerate(f, start=1):
            if not line.strip():
                continue
            try:
                row = json.loads(line)
            except json.JSONDecodeError as e:
                raise DataError(f"{path}, line {n}: not JSON ({e.msg})") from None
            if not isinstance(row, dict):
                raise DataError(f"{path}, line {n}: expected an object, got {type(row).__name__}")
            yield n, row


def _write_jsonl(rows: Iterable[dict[str, Any]], path: Path) -> int:
    n = 0
    with open(path, "w", encoding="utf-8") as f:
        for row in rows:
            f.write(json.dumps(row, ensure_ascii=False) + "\n")
            n += 1
    return n


def _write_parquet(rows: Iterable[dict[str, Any]], path: Path, batch: int = 50_000) -> int:
    import pyarrow as pa
    import pyarrow.parquet as pq

    types = {"label": pa.float64(), "created": pa.float64()}
    schema = pa.schema([(name, types.get(name, pa.string())) for name in _COLUMNS])
    n = 0
    with pq.ParquetWriter(str(path), schema) as writer:
        buffer: list[dict[str, Any]] = []
        for row in rows:
            buffer.append(row)
            if len(buffer) >= batch:
                writer.write_table(pa.Table.from_pylist(buffer, schema=schema))
                n, buffer = n + len(buffer), []
        if buffer or n == 0:
            writer.write_table(pa.Table.from_pylist(buffer, schema=schema))
            n += len(buffer)
    return n
