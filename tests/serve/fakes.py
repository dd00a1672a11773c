"""Served models without torch: the keyword encoder of tests/helpers.py as a bi-encoder and a
word-overlap pair scorer as a cross-encoder (deterministic, milliseconds, calls recorded)."""

from __future__ import annotations

import threading
import time
from collections.abc import Sequence

import numpy as np

from aptrank.rankers.bm25 import BM25Ranker
from aptrank.rankers.cross_encoder import CrossEncoderConfig, CrossEncoderRanker
from aptrank.rankers.dense import DenseConfig, DenseRanker
from aptrank.rankers.fuse import FuseRanker
from aptrank.serve.config import ServeConfig
from aptrank.serve.models import ServedModel, served_models
from tests.helpers import KeywordEncoder


class OverlapScorer:
    """Score = shared words (by 4-letter stem) + 0.001 x the document's length in words, so no
    two documents of a test tie. Each call's pair count is recorded; ``delay`` seconds per call
    stand in for a slow model; ``gate`` (an Event) holds every call until it is set."""

    model = "overlap"
    backend = "mock"
    max_length = 64

    def __init__(self, delay: float = 0.0, gate: threading.Event | None = None) -> None:
        self.delay = delay
        self.gate = gate
        self.calls: list[int] = []

    def score(
        self, pairs: Sequence[tuple[str, str]], batch_size: int = 32, show_progress: bool = False
    ) -> np.ndarray:
        self.calls.append(len(pairs))
        if self.gate is not None:
            self.gate.wait(30)
        if self.delay:
            time.sleep(self.delay)
        out = []
        for query, doc in pairs:
            q = {w[:4] for w in query.lower().split()}
            d = doc.lower().split()
            out.append(len(q & {w[:4] for w in d}) + 0.001 * len(d))
        return np.asarray(out, dtype=np.float32)


def keyword_dense(query_prefix: str = "") -> DenseRanker:
    return DenseRanker(
        DenseConfig(model="keyword", query_prefix=query_prefix), encoder=KeywordEncoder()
    )


def overlap_ce(scorer: OverlapScorer | None = None) -> CrossEncoderRanker:
    return CrossEncoderRanker(
        CrossEncoderConfig(model="overlap", batch_size=8), scorer=scorer or OverlapScorer()
    )


def fake_models(
    scorer: OverlapScorer | None = None, corpus: bool = True, **named: object
) -> list[ServedModel]:
    """``ce`` (overlap cross-encoder), ``dense`` (keyword bi-encoder), ``fused`` (their fuse)
    and, with a corpus, ``bm25`` (search only); ``named`` adds ``name=ranker`` entries."""
    ce = overlap_ce(scorer)
    pairs: list[tuple[str, object]] = [
        ("ce", ce),
        ("dense", keyword_dense()),
        ("fused", FuseRanker([overlap_ce(scorer), keyword_dense()])),
    ]
    if corpus:
        pairs.append(("bm25", BM25Ranker()))
    pairs += list(named.items())
    return served_models(pairs, corpus=corpus)  # type: ignore[arg-type]


def quick_config(**overrides: object) -> ServeConfig:
    """No waiting for company by default: tests that batch set batch_wait_ms themselves."""
    return ServeConfig(**{"batch_wait_ms": 0.0, "access_log": False, **overrides})  # type: ignore[arg-type]
