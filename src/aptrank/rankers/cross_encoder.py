"""Cross-encoder reranking of a first stage's candidates."""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass

from aptrank.rankers.backends import check_backend
from aptrank.rankers.base import Reranker
from aptrank.rankers.encoders import PairScorer, load_pair_scorer
from aptrank.types import Run

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class CrossEncoderConfig:
    model: str  #: registry name, Hugging Face id or folder of a (trained) cross-encoder
    #: torch, onnx, onnx-int8, openvino, openvino-bf16 or auto (aptrank.rankers.backends)
    backend: str = "torch"
    max_length: int | None = 256
    batch_size: int = 32


class CrossEncoderRanker(Reranker):
    """Scores (query, title + text) pairs jointly. A reranker only: it has no index of its own."""

    def __init__(
        self,
        config: CrossEncoderConfig,
        scorer: PairScorer | None = None,
        progress: Callable[[int, int], None] | None = None,
    ) -> None:
        super().__init__()
        check_backend(config.backend)
        self.cfg = config
        self.name = f"ce:{config.model}"
        self._scorer = scorer
        self.progress = progress

    def config(self) -> dict[str, object]:
        return {"name": self.name, **asdict(self.cfg)}

    @property
    def scorer(self) -> PairScorer:
        if self._scorer is None:
            self._scorer = load_pair_scorer(self.cfg.model, self.cfg.backend, self.cfg.max_length)
        return self._scorer

    def rerank(
        self, queries: Mapping[str, str], candidates: Mapping[str, Mapping[str, float]]
    ) -> Run:
        corpus = self.corpus
        keys = [(q, d) for q in candidates for d in candidates[q] if d in corpus]
        run: Run = {q: {} for q in candidates}
        step = 2048  # score in slices so progress can be reported
        for start in range(0, len(keys), step):
            part = keys[start : start + step]
            pairs = [(queries[q], corpus[d].full_text) for q, d in part]
            scores = self.scorer.score(pairs, batch_size=self.cfg.batch_size)
            for (q, d), s in zip(part, scores):
                run[q][d] = float(s)
            if self.progress:
                self.progress(start + len(part), len(keys))
        return run
