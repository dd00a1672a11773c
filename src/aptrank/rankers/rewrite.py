"""The query-rewrite ranker stage: ``rewrite[model=<folder>,mode=append]>>bm25``.

A causal LM (an RL-trained policy from :func:`~aptrank.train.rl.rewrite_task.train_rewriter`, or
any instruct model for zero-shot rewrites) rewrites each query with the prompt it was trained on
(:mod:`aptrank.rankers.prompts`); the next stage ranks with the result — the rewrite alone
(``mode=replace``) or appended to the original query (``mode=append``). An answer nothing can be
read from falls back to the original query, so a bad rewrite never loses a query.

Decoding is greedy by default, so a model rewrites a query the same way every time, and the raw
answers are cached on disk (SQLite under ``$APTRANK_CACHE/rewrites``) keyed by the model's
content fingerprint, the prompt version, the decoding settings and the query text: evaluating
again, in the other mode, or inside a diagnosis costs no generation. Batches are left-padded;
with greedy decoding padding can, rarely, flip a near-tied token, and the cache then keeps the
first answer.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass
from typing import Any

from aptrank.errors import AptrankError
from aptrank.paths import cache_dir
from aptrank.rankers.cache import KeyValueCache, key
from aptrank.rankers.pipeline import QueryRewriter
from aptrank.rankers.prompts import (
    MODES,
    REWRITE_PROMPT_VERSION,
    apply_rewrite,
    parse_line,
    rewrite_messages,
)

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class RewriteConfig:
    """Options of the ``rewrite`` stage (``rewrite[model=...,mode=...]``)."""

    #: a trained policy folder, a registry name (smollm2-135m-instruct), GGUF file or hub id
    model: str = "smollm2-135m-instruct"
    mode: str = "replace"  #: replace the query with the rewrite, or append the rewrite to it
    max_new_tokens: int = 48  #: as the policy's max_completion_length in training
    batch_size: int = 8
    temperature: float = 0.0  #: 0 decodes greedily (deterministic); > 0 samples
    seed: int = 0  #: sampling seed when temperature > 0
    cache: bool = True  #: read and write the on-disk rewrite cache

    def __post_init__(self) -> None:
        if self.mode not in MODES:
            raise AptrankError(f"unknown rewrite mode {self.mode!r}; choose one of {MODES}")
        if self.max_new_tokens < 1 or self.batch_size < 1 or self.temperature < 0:
            raise AptrankError("max_new_tokens and batch_size must be >= 1, temperature >= 0")


class RewriteRanker(QueryRewriter):
    """Rewrites queries with a causal LM; see the module docstring."""

    def __init__(
        self,
        config: RewriteConfig | None = None,
        progress: Callable[[int, int], None] | None = None,
    ) -> None:
        super().__init__()
        self.cfg = config or RewriteConfig()
        self.name = f"rewrite[model={self.cfg.model},mode={self.cfg.mode}]"
        self.progress = progress
        self._lm: tuple[Any, Any] | None = None
        self._fingerprint: str | None = None
        self.generated = 0  #: answers generated (not read from the cache) by this instance
        self.fallbacks = 0  #: queries kept as they were because no rewrite could be parsed

    def config(self) -> dict[str, object]:
        return {"name": self.name, "prompt": REWRITE_PROMPT_VERSION, **asdict(self.cfg)}

    @property
    def fingerprint(self) -> str:
        """The model's content fingerprint (computed without loading the model)."""
        if self._fingerprint is None:
            from aptrank.rankers.cache import model_fingerprint
            from aptrank.rankers.llm import resolve_llm

            self._fingerprint = model_fingerprint(resolve_llm(self.cfg.model))
        return self._fingerprint

    def rewrite(self, queries: Mapping[str, str]) -> dict[str, str]:
        texts = list(dict.fromkeys(queries.values()))
        answers = dict(zip(texts, self.answers(texts)))
        out: dict[str, str] = {}
        failed = 0
        for qid, text in queries.items():
            parsed = parse_line(answers[text])
            failed += parsed is None
            out[qid] = text if parsed is None else apply_rewrite(text, parsed, self.cfg.mode)
        if failed:
            logger.info(
                "%s: %d of %d answers unparseable, kept the query", self.name, failed, len(out)
            )
        self.fallbacks += failed
        return out

    def answers(self, texts: Sequence[str]) -> list[str]:
        """The model's raw answer to the rewrite prompt for each query text (cached)."""
        keys = [self._key(t) for t in texts]
        cache = KeyValueCache(cache_dir("rewrites") / "rewrites.sqlite") if self.cfg.cache else None
        try:
            found = cache.get_many(keys) if cache is not None else {}
            todo = [t for t, k in zip(texts, keys) if k not in found]
            todo = list(dict.fromkeys(todo))
            for start in range(0, len(todo), self.cfg.batch_size):
                batch = todo[start : start + self.cfg.batch_size]
                new = dict(zip((self._key(t) for t in batch), self._generate(batch)))
                found.update(new)
                self.generated += len(batch)
                if cache is not None:
                    cache.put_many(new)
                if self.progress:
                    self.progress(start + len(batch), len(todo))
        finally:
            if cache is not None:
                cache.close()
        return [found[k] for k in keys]

    def _key(self, text: str) -> str:
        decoding = {
            k: v for k, v in asdict(self.cfg).items() if k not in ("mode", "cache", "model")
        }
        if self.cfg.temperature == 0:
            decoding.pop("seed")
        decoding.pop("batch_size")
        messages = json.dumps(rewrite_messages(text))
        return key(self.fingerprint, REWRITE_PROMPT_VERSION, decoding, messages)

    def _load(self) -> tuple[Any, Any]:
        if self._lm is None:
            from aptrank.rankers.llm import load_causal_lm

            model, tokenizer, fingerprint = load_causal_lm(self.cfg.model)
            self._fingerprint = fingerprint
            self._lm = (model, tokenizer)
        return self._lm

    def _generate(self, texts: Sequence[str]) -> list[str]:
        """Answers for a batch of query texts, generated as in training."""
        from aptrank.rankers.generation import generate

        model, tok = self._load()
        return generate(
            model, tok, prompt_ids(tok, texts), self.cfg.max_new_tokens,
            self.cfg.temperature, self.cfg.seed,
        )  # fmt: skip


def prompt_ids(tokenizer: Any, texts: Sequence[str]) -> list[list[int]]:
    """Token ids of the rewrite prompt for each query text, made as TRL's ``GRPOTrainer`` makes
    them for chat prompts (``apply_chat_template`` with the generation prompt)."""
    from aptrank.rankers.generation import chat_prompt_ids

    return chat_prompt_ids(tokenizer, [rewrite_messages(t) for t in texts])
