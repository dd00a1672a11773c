"""Any cross-encoder as a teacher (a trained reranker, or a larger model fine-tuned on the task)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from aptrank.rankers.cache import model_fingerprint
from aptrank.rankers.encoders import PairScorer, load_pair_scorer
from aptrank.rankers.models import resolve_model


@dataclass(frozen=True)
class CrossEncoderTeacherConfig:
    model: str  #: registry name, Hugging Face id or folder of a trained cross-encoder
    backend: str = "torch"  #: torch, onnx or onnx-int8
    max_length: int | None = 256  #: tokens per (query, document) pair; changes the labels
    batch_size: int = 32


class CrossEncoderTeacher:
    """Labels = the cross-encoder's scores (as its head outputs them, e.g. a sigmoid in [0, 1]).

    A backbone without a trained head scores nothing useful (see MODELS.md): train it first.
    """

    name = "ce"

    def __init__(self, config: CrossEncoderTeacherConfig, scorer: PairScorer | None = None):
        self.cfg = config
        self.batch_size = config.batch_size
        self._scorer = scorer
        self._fingerprint: str | None = None

    @property
    def scorer(self) -> PairScorer:
        if self._scorer is None:
            self._scorer = load_pair_scorer(self.cfg.model, self.cfg.backend, self.cfg.max_length)
        return self._scorer

    def config(self) -> dict[str, object]:
        if self._fingerprint is None:
            self._fingerprint = model_fingerprint(resolve_model(self.cfg.model))
        return {
            "name": self.name,
            "model": self._fingerprint,
            "backend": self.cfg.backend,
            "max_length": self.cfg.max_length,
        }

    def score(self, pairs: Sequence[tuple[str, str]]) -> np.ndarray:
        scores = self.scorer.score(list(pairs), batch_size=self.cfg.batch_size)
        return np.asarray(scores, dtype=np.float64).reshape(-1)

    def __repr__(self) -> str:
        return f"CrossEncoderTeacher({self.cfg.model!r})"
