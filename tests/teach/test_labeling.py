from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import numpy as np
import pytest

from aptrank.errors import AptrankError, DataError
from aptrank.teach import LabelStore, label_pairs, teacher_id, text_hash
from tests.teach.fakes import FakeTeacher, fake_label, make_pairs

REPO = Path(__file__).resolve().parents[2]


def test_labels_every_pair_once_with_progress(tmp_path: Path):
    pairs = list(make_pairs(95))
    teacher = FakeTeacher(batch_size=10)
    seen: list[tuple[int, int | None]] = []
    with LabelStore(tmp_path / "l.db") as store:
        stats = label_pairs(
            teacher, store, pairs + pairs[:7], progress=lambda d, t: seen.append((d, t))
        )
        labels = store.get(teacher_id(teacher))
        rows = {(r["query_id"], r["doc_id"]): r for r in store.rows()}
    assert (stats.seen, stats.skipped, stats.labeled, stats.failed) == (95, 0, 95, 0)
    assert stats.teacher == teacher_id(teacher) and stats.pairs_per_second > 0
    assert len(teacher.scored) == 95  # the repeated pairs were not scored again
    assert seen == [(min(i * 10, 95), 95) for i in range(11)]
    for qid, qtext, did, dtext in pairs:
        assert labels[qid][did] == pytest.approx(fake_label(qtext, dtext))
        assert rows[(qid, did)]["query_hash"] == text_hash(qtext)
        assert rows[(qid, did)]["doc_hash"] == text_hash(dtext)


def test_a_second_run_skips_everything_and_a_stream_has_no_total(tmp_path: Path):
    with LabelStore(tmp_path / "l.db") as store:
        label_pairs(FakeTeacher(), store, list(make_pairs(40)))
        again = FakeTeacher(batch_size=7)
        seen: list[tuple[int, int | None]] = []
        stats = label_pairs(again, store, make_pairs(50), progress=lambda d, t: seen.append((d, t)))
        assert (stats.seen, stats.skipped, stats.labeled) == (50, 40, 10)
        assert [d for _, d in again.scored] == [f"document text d{i}" for i in range(40, 50)]
        assert seen == [(0, None), (7, None), (10, None)]
        assert store.count() == 50


def test_nan_labels_are_not_stored_and_a_rerun_retries_them(tmp_path: Path):
    nan_docs = ["document text d3", "document text d8"]
    with LabelStore(tmp_path / "l.db") as store:
        stats = label_pairs(FakeTeacher(nan_docs=nan_docs), store, list(make_pairs(12)))
        assert (stats.labeled, stats.failed) == (10, 2)
        retry = FakeTeacher()
        stats = label_pairs(retry, store, list(make_pairs(12)))
        assert (stats.skipped, stats.labeled, stats.failed) == (10, 2, 0)
        assert [d for _, d in retry.scored] == nan_docs
        assert store.count() == 12


def test_bad_input_and_a_teacher_that_loses_labels_are_errors(tmp_path: Path):
    class Short(FakeTeacher):
        def score(self, pairs):
            return super().score(pairs)[:-1]

    with LabelStore(tmp_path / "l.db") as store:
        with pytest.raises(DataError, match="pair 1 must be"):
            label_pairs(FakeTeacher(), store, [("q", "t", "d", "x"), ("q", "t", "d2")])
        with pytest.raises(AptrankError, match="returned 9 labels for 10 pairs"):
            label_pairs(Short(), store, list(make_pairs(10)))
        with pytest.raises(AptrankError, match="batch_size"):
            label_pairs(FakeTeacher(), store, [], batch_size=-1)
        assert store.count() == 0


def test_the_teacher_id_follows_the_config_not_the_batch_size(tmp_path: Path):
    with LabelStore(tmp_path / "l.db") as store:
        label_pairs(FakeTeacher(batch_size=3), store, list(make_pairs(6)))
        other = FakeTeacher(batch_size=5)
        assert label_pairs(other, store, list(make_pairs(6))).skipped == 6

        class NewPrompt(FakeTeacher):
            def config(self):
                return {**super().config(), "prompt": "none-v2"}

        assert label_pairs(NewPrompt(), store, list(make_pairs(6))).labeled == 6
        assert [r.count for r in store.teachers()] == [6, 6]


_WORKER = """
import sys
sys.path.insert(0, {repo!r})
from aptrank.teach import LabelStore, label_pairs
from tests.teach.fakes import FakeTeacher, make_pairs

store = LabelStore(sys.argv[1])
label_pairs(FakeTeacher(batch_size=10, delay=0.01), store, make_pairs({n}))
print("finished")
"""


def _count_readonly(path: Path) -> int:
    if not path.exists():
        return 0
    try:
        with LabelStore(path, readonly=True, busy_timeout=1) as ro:
            return ro.count()
    except (sqlite3.OperationalError, AptrankError):
        return 0  # the schema is not there yet


def _start_and_kill(tmp_path: Path, db: Path, n: int) -> None:
    script = tmp_path / "worker.py"
    script.write_text(textwrap.dedent(_WORKER.format(repo=str(REPO), n=n)))
    proc = subprocess.Popen(
        [sys.executable, str(script), str(db)], stdout=subprocess.PIPE, stderr=subprocess.PIPE
    )
    try:
        deadline = time.monotonic() + 60
        while _count_readonly(db) < n // 5:
            if proc.poll() is not None:
                out, err = proc.communicate()
                pytest.fail(f"the worker ended before it was killed: {out!r} {err.decode()}")
            if time.monotonic() > deadline:
                pytest.fail("the worker stored too few labels in 60 s")
            time.sleep(0.02)
        os.kill(proc.pid, signal.SIGKILL)
        assert proc.wait(timeout=10) == -signal.SIGKILL
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        proc.stdout.close()  # type: ignore[union-attr]
        proc.stderr.close()  # type: ignore[union-attr]


def test_resume_after_sigkill_loses_and_recomputes_nothing(tmp_path: Path):
    n = 2000
    db = tmp_path / "labels.db"
    _start_and_kill(tmp_path, db, n)
    tid = teacher_id(FakeTeacher())
    with LabelStore(db) as store:
        assert store._conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        before = {(r["query_id"], r["doc_id"]): r for r in store.rows(tid)}
        assert n // 5 <= len(before) < n, "the kill came after the run had finished"
        second = FakeTeacher(batch_size=64)
        stats = label_pairs(second, store, list(make_pairs(n)))
        after = {(r["query_id"], r["doc_id"]): r for r in store.rows(tid)}
        total, distinct = store._conn.execute(
            "SELECT COUNT(*), COUNT(DISTINCT query_id || '/' || doc_id) FROM labels"
        ).fetchone()
    # Nothing committed before the kill was scored again ...
    rescored = {d.rsplit(" ", 1)[1] for _, d in second.scored}
    assert not rescored & {did for _, did in before}
    assert len(second.scored) == len(rescored) == n - len(before)
    assert (stats.skipped, stats.labeled, stats.failed) == (len(before), n - len(before), 0)
    # ... nor rewritten (same label, same commit time), and every pair is labeled exactly once.
    for key, row in before.items():
        assert after[key] == row
    assert total == distinct == len(after) == n
    expected = {(q, d): fake_label(qt, dt) for q, qt, d, dt in make_pairs(n)}
    assert np.allclose([after[k]["label"] for k in expected], list(expected.values()))
