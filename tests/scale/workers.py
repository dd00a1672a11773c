"""What the scale tests send to Ray workers (importable there: the test Ray puts the repository
on the workers' PYTHONPATH), and a small corpus with enough batches to spread."""

from __future__ import annotations

import os
import random
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from aptrank.teach.store import LabelStore
from aptrank.types import Corpus, Doc
from tests.teach.fakes import fake_label
from tests.tiny_models import WORDS


def word_corpus(n: int = 24, seed: int = 0) -> Corpus:
    """``n`` documents of 3 to 30 words drawn from the tiny models' vocabulary (ids d00...)."""
    rng = random.Random(seed)
    return {
        f"d{i:02d}": Doc(
            " ".join(rng.choices(WORDS, k=rng.randint(3, 30))), title=rng.choice(WORDS)
        )
        for i in range(n)
    }


def pairs_of(corpus: Corpus, queries: dict[str, str]) -> list[tuple[str, str, str, str]]:
    """Every (query, document) pair, as label_pairs takes them."""
    return [(q, qt, d, doc.full_text) for q, qt in queries.items() for d, doc in corpus.items()]


class LoggingTeacher:
    """:func:`fake_label` labels; each scored pair is appended to ``log`` with the scoring
    process id (one line per pair), so a test sees what was computed where."""

    name = "fake"

    def __init__(self, log: Path, batch_size: int = 5) -> None:
        self.log = str(log)
        self.batch_size = batch_size

    def config(self) -> dict[str, object]:
        return {"name": self.name, "model": "fake-model@0", "prompt": "none-v1"}

    def score(self, pairs: Sequence[tuple[str, str]]) -> np.ndarray:
        with open(self.log, "a", encoding="utf-8") as f:
            f.writelines(f"{os.getpid()}\t{q}\t{d}\n" for q, d in pairs)
        return np.array([fake_label(q, d) for q, d in pairs], dtype=float)


def scored(log: Path) -> list[tuple[int, str, str]]:
    """(pid, query text, document text) of every pair a :class:`LoggingTeacher` scored."""
    if not log.exists():
        return []
    rows = [line.split("\t") for line in log.read_text(encoding="utf-8").splitlines()]
    return [(int(pid), q, d) for pid, q, d in rows]


class DriverOnlyStore(LabelStore):
    """A label store that records which process commits and refuses to be pickled (so it
    cannot travel to a worker)."""

    def __init__(self, path: Path) -> None:
        super().__init__(path)
        self.writers: list[int] = []

    def put_many(self, teacher: str, rows):  # type: ignore[no-untyped-def]
        self.writers.append(os.getpid())
        return super().put_many(teacher, rows)

    def __reduce__(self):  # type: ignore[no-untyped-def]
        raise TypeError("the label store never leaves the driver")


class Interrupt(Exception):
    """Raised from a progress callback: the job is 'killed' after some written batches."""


def kill_after(batches: int, first: int = 0):  # type: ignore[no-untyped-def]
    """A progress callback that raises :class:`Interrupt` once ``batches`` batches are written
    (``first``: calls that are not batches, such as label_pairs' opening ``(0, total)``)."""
    calls = [0]

    def progress(done: int, total: int | None) -> None:
        calls[0] += 1
        if calls[0] - first >= batches:
            raise Interrupt(f"killed after {batches} batches")

    return progress


def failing_setup() -> None:
    """A worker setup that cannot load its model."""
    from aptrank.errors import ModelNotFoundError

    raise ModelNotFoundError("cannot load embedding model 'nowhere'")


def bad_batch(state: object, task: int) -> int:
    """A batch function that rejects task 3 as bad input (the file and line of a DataError)."""
    from aptrank.errors import DataError

    if task == 3:
        raise DataError("bad grade 'x'", path="qrels/test.tsv", line=3)
    return task
