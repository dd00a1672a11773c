"""A deterministic fake teacher and pair generators for the labeling tests (no model, no torch)."""

from __future__ import annotations

import hashlib
import time
from collections.abc import Iterator, Sequence

import numpy as np


def fake_label(query: str, doc: str) -> float:
    """A label in [0, 1) that depends only on the texts."""
    digest = hashlib.sha1(f"{query}\0{doc}".encode()).hexdigest()
    return int(digest[:8], 16) / 2**32


def make_pairs(n: int, per_query: int = 20) -> Iterator[tuple[str, str, str, str]]:
    """``n`` distinct (query_id, query_text, doc_id, doc_text); a doc text names its doc id."""
    for i in range(n):
        qid = f"q{i // per_query}"
        yield qid, f"query text {qid}", f"d{i}", f"document text d{i}"


class FakeTeacher:
    """Labels with :func:`fake_label`, sleeps ``delay`` per batch, records what it scored."""

    name = "fake"

    def __init__(self, batch_size: int = 10, delay: float = 0.0, nan_docs: Sequence[str] = ()):
        self.batch_size = batch_size
        self.delay = delay
        self.nan_docs = set(nan_docs)
        self.scored: list[tuple[str, str]] = []

    def config(self) -> dict[str, object]:
        return {"name": self.name, "model": "fake-model@0", "prompt": "none-v1"}

    def score(self, pairs: Sequence[tuple[str, str]]) -> np.ndarray:
        time.sleep(self.delay)
        self.scored.extend(pairs)
        return np.array(
            [np.nan if d in self.nan_docs else fake_label(q, d) for q, d in pairs], dtype=float
        )
