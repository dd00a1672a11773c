"""The semantic check: how close does a document come to what a query excludes, in meaning?

The rule check (:mod:`aptrank.constraints.check`) sees a violation only where the document shares
words with the excluded phrase; a violator that *discusses* the excluded aspect in other words
("Sadat's peace initiatives" / "the Camp David Accords") passes it. Here each exclusion's phrase
(:func:`~aptrank.constraints.parse.excluded_object`) and each sentence of the document are
embedded with a bi-encoder, and the violation strength is the largest cosine between the phrase
and a sentence, clipped to [0, 1]: a document with one sentence about the excluded aspect scores
high however it is worded, and long documents are not diluted as a whole-document embedding
would be.

The strength is continuous and correlates with the topic (every on-topic document is somewhat
close to an aspect of that topic), so ``constrain(...)[semantic=<encoder>]`` subtracts it, times
a weight, from the topical score (as DEO subtracts the negative part's similarity) instead of
thresholding it: what moves a document is how much closer it is to the excluded aspect than the
other candidates. Training-free, and no written rule or trained scorer is needed: what it can
do is bounded by the encoder's sense of "about".
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from aptrank.constraints.generate import sentences
from aptrank.constraints.parse import ParsedQuery, excluded_object

#: sentences per document read (NegConstraint's and SciFact's documents have a few dozen at most)
MAX_SENTENCES = 64


class SemanticChecker:
    """Violation strengths from sentence embeddings (module docstring). Embeddings are kept per
    sentence for the checker's life: a corpus's candidates recur across queries."""

    def __init__(
        self, model: str = "all-MiniLM-L6-v2", max_length: int = 128, encoder: Any = None
    ) -> None:
        from aptrank.rankers.encoders import load_encoder

        self.model = model
        #: any :class:`~aptrank.rankers.encoders.TextEncoder` (unit vectors); loaded from ``model``
        self.encoder = encoder if encoder is not None else load_encoder(model, "torch", max_length)
        self._cache: dict[str, np.ndarray] = {}

    def embed(self, texts: Sequence[str], batch_size: int = 64) -> np.ndarray:
        """Unit vectors of ``texts`` (one row each), from the cache where already embedded."""
        new = list(dict.fromkeys(t for t in texts if t not in self._cache))
        if new:
            for text, row in zip(new, self.encoder.encode(new, batch_size=batch_size)):
                self._cache[text] = row
        if not texts:
            return np.zeros((0, 0), dtype=np.float32)
        return np.stack([self._cache[t] for t in texts])

    def violations(
        self, items: Sequence[tuple[ParsedQuery, str]], batch_size: int = 64
    ) -> list[float]:
        """For each (parsed query, document text): the largest cosine between one of its
        exclusions' phrases and one of the document's sentences, clipped to [0, 1] (0 for a
        query without exclusions or an empty document)."""
        phrases = [
            [p for c in parsed.exclusions if (p := excluded_object(c.text) or c.text.strip())]
            for parsed, _ in items
        ]
        sents = [
            sentences(text)[:MAX_SENTENCES] if ph else [] for (_, text), ph in zip(items, phrases)
        ]
        # one encoder call for everything new (sorted by length inside sentence-transformers)
        self.embed([t for group in phrases + sents for t in group], batch_size)
        out = []
        for ph, ss in zip(phrases, sents):
            if not ph or not ss:
                out.append(0.0)
                continue
            cos = self.embed(ph) @ self.embed(ss).T
            out.append(float(np.clip(cos.max(), 0.0, 1.0)))
        return out
