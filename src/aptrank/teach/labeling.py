"""Label (query, document) pairs with a teacher into a :class:`~aptrank.teach.store.LabelStore`.

Labeling streams: the input is read in chunks, pairs the store already holds for this teacher are
skipped, the rest go to the teacher ``batch_size`` at a time, and each batch is committed in one
transaction. Killing the process at any moment loses at most the batches in flight (never a
committed label) and the next run starts where this one stopped, recomputing nothing. On the Ray
engine (:mod:`aptrank.scale`) actors score the batches and this process alone commits them.
"""

from __future__ import annotations

import logging
import math
import time
from collections import Counter
from collections.abc import Callable, Collection, Iterable, Iterator, Sequence
from dataclasses import dataclass
from functools import partial
from itertools import islice
from typing import TypeVar

import numpy as np

from aptrank.errors import AptrankError, DataError
from aptrank.scale import Remote, constant, map_batches
from aptrank.teach.store import LabelRow, LabelStore, text_hash
from aptrank.teach.teachers.base import Teacher, teacher_id

logger = logging.getLogger(__name__)

#: (query_id, query_text, doc_id, doc_text)
Pair = tuple[str, str, str, str]
#: progress(done, total): pairs labeled in this run so far, and how many need a label
#: (``None`` when the input is a one-pass iterator whose length is unknown)
Progress = Callable[[int, "int | None"], None]

T = TypeVar("T")


@dataclass(frozen=True)
class LabelStats:
    """What one :func:`label_pairs` call did."""

    teacher: str  #: the teacher id the labels are stored under
    seen: int  #: distinct pairs in the input
    skipped: int  #: already in the store before this run
    labeled: int  #: newly stored by this run
    failed: int  #: the teacher gave no usable label (NaN); left for a later run
    seconds: float

    @property
    def pairs_per_second(self) -> float:
        return (self.labeled + self.failed) / self.seconds if self.seconds > 0 else 0.0

    def to_dict(self) -> dict[str, object]:
        return {**self.__dict__, "pairs_per_second": round(self.pairs_per_second, 3)}


def _chunks(items: Iterable[T], size: int) -> Iterator[list[T]]:
    it = iter(items)
    while chunk := list(islice(it, size)):
        yield chunk


def _check(pair: object, index: int) -> Pair:
    if (
        not isinstance(pair, (tuple, list))
        or len(pair) != 4
        or not all(isinstance(x, str) for x in pair)
    ):
        raise DataError(
            f"pair {index} must be (query_id, query_text, doc_id, doc_text) strings, got {pair!r}"
        )
    return (pair[0], pair[1], pair[2], pair[3])


def _first_sightings(chunk: list[Pair], seen: set[tuple[str, str]]) -> dict[tuple[str, str], Pair]:
    """The pairs of ``chunk`` whose (query_id, doc_id) is not in ``seen`` (which is updated)."""
    fresh: dict[tuple[str, str], Pair] = {}
    for p in chunk:
        key = (p[0], p[2])
        if key not in seen:
            seen.add(key)
            fresh[key] = p
    return fresh


def _count_todo(store: LabelStore, tid: str, pairs: Collection[Pair]) -> int:
    return len(store.missing(tid, ((p[0], p[2]) for p in pairs)))


def _teacher_scores(teacher: Teacher, batch: Sequence[Pair]) -> np.ndarray:
    """The teacher's labels for one batch (on the driver, or on a Ray actor)."""
    return np.asarray(teacher.score([(p[1], p[3]) for p in batch]), dtype=np.float64).reshape(-1)


def _rows(teacher: Teacher, batch: Sequence[Pair], scores: np.ndarray) -> list[LabelRow]:
    """The labels of ``batch`` as rows; pairs with a NaN label are left out."""
    if len(scores) != len(batch):
        raise AptrankError(
            f"teacher {teacher.name} returned {len(scores)} labels for {len(batch)} pairs"
        )
    rows = []
    for (qid, qtext, did, dtext), score in zip(batch, scores):
        if math.isfinite(float(score)):
            rows.append(LabelRow(qid, did, float(score), text_hash(qtext), text_hash(dtext)))
    return rows


def _batches(
    store: LabelStore,
    tid: str,
    pairs: Iterable[Pair],
    size: int,
    chunk_size: int,
    counts: Counter[str],
) -> Iterator[list[Pair]]:
    """The batches of pairs the store lacks, cut chunk by chunk as the input is read (so a
    batch never spans two chunks); ``counts`` gets the distinct pairs seen and skipped."""
    seen: set[tuple[str, str]] = set()
    for chunk in _chunks(pairs, max(chunk_size, size)):
        fresh = _first_sightings(chunk, seen)
        todo = [fresh[key] for key in store.missing(tid, fresh)]
        counts.update(seen=len(fresh), skipped=len(fresh) - len(todo))
        yield from _chunks(todo, size)


def label_pairs(
    teacher: Teacher,
    store: LabelStore,
    pairs: Iterable[Pair],
    batch_size: int | None = None,
    progress: Progress | None = None,
    chunk_size: int = 8192,
) -> LabelStats:
    """Label every pair of ``pairs`` the store lacks for ``teacher``; commit batch by batch.

    ``pairs`` are ``(query_id, query_text, doc_id, doc_text)``; a repeated (query_id, doc_id) is
    labeled once. When ``pairs`` is a collection (a list, say), the pairs left to label are
    counted first so ``progress(done, total)`` can drive a bar with an ETA; it is called once
    at the start (``done`` 0) and after each committed batch.

    The batches run on the current engine (:mod:`aptrank.scale`): on Ray, copies of the teacher
    score them on the actors and this process alone writes the store, with the same batches
    (the Ray engine reads the input whole first).
    """
    size = batch_size or teacher.batch_size
    if size < 1:
        raise AptrankError(f"batch_size must be at least 1, got {size}")
    tid = teacher_id(teacher)
    store.register_teacher(tid, teacher.config())
    checked: Iterator[Pair] = (_check(p, i) for i, p in enumerate(pairs))
    total = None
    if isinstance(pairs, Collection):
        checked_all = list(checked)
        total, checked = _count_todo(store, tid, checked_all), iter(checked_all)
    start = time.perf_counter()
    if progress is not None:
        progress(0, total)
    counts: Counter[str] = Counter()
    labeled = failed = 0
    for batch, scores in map_batches(
        _batches(store, tid, checked, size, chunk_size, counts),
        local=partial(_teacher_scores, teacher),
        remote=Remote(constant(teacher), _teacher_scores),
        name=f"labeling with {tid}",
    ):
        rows = _rows(teacher, batch, scores)
        labeled += store.put_many(tid, rows)
        failed += len(batch) - len(rows)
        if progress is not None:
            progress(labeled + failed, total)
    seconds = time.perf_counter() - start
    stats = LabelStats(tid, counts["seen"], counts["skipped"], labeled, failed, seconds)
    logger.info("labeling with %s: %s", tid, stats.to_dict())
    if failed:
        logger.warning("%s gave no usable label for %d pairs; a re-run retries them", tid, failed)
    return stats
