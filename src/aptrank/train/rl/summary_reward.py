"""The item-summary reward (ReLSum): how well an item is retrieved for its training queries when
it is indexed with the summary the policy wrote.

Re-indexing the corpus for every sampled summary is out of the question (16 completions per step,
thousands of items), so :class:`BM25ItemScorer` computes it exactly *under one approximation*:
the corpus statistics (document frequencies, number of documents, average length) are those of
the unchanged corpus. Only the item's own text is replaced; its BM25 score for a query is
computed from its new tokens with those statistics, and compared with every other document's
score for that query, precomputed once (the other documents' scores do not depend on the item
when the statistics are fixed). With thousands of items, one changed item moves document
frequencies by at most 1 and the average length by a fraction of a token, so the rank is the one
a rebuilt BM25 index would give up to near-ties. Query terms the corpus never contains are
dropped, as :class:`~aptrank.rankers.bm25.BM25Ranker` drops terms outside its index vocabulary;
a summary cannot win by inventing words no other document has.

The scoring follows bm25s' Lucene variant (``idf = ln(1 + (N - df + 0.5) / (df + 0.5))``,
``tf / (tf + k1 (1 - b + b dl / avgdl))``) with the ranker's tokenizer (stemmer, stopwords);
``tests/train/rl/test_summarize.py`` checks it against ``BM25Ranker.rerank`` on the unchanged
corpus. The rank's value is the metric of a one-relevant-item ranking: ``ndcg@k``
``1 / log2(rank + 1)``, ``mrr@k`` ``1 / rank``, ``recall@k`` 1 — each 0 beyond rank ``k`` or
when the item scores 0 — averaged over the item's training queries.

The option ReLSum itself uses: a frozen pair scorer (a cross-encoder, any
:class:`~aptrank.rankers.encoders.PairScorer`) scores (query, item text with its summary), and
the retrieval part is the mean ``sigmoid(score)`` over the item's training queries — in [0, 1],
so a failed parse stays the lowest reward. It needs no corpus statistics and no approximation,
but rewards absolute relevance rather than the item's standing against the rest of the corpus.
"""

from __future__ import annotations

import math
import re
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

from aptrank.evaluate.metrics import parse_metric
from aptrank.rankers.prompts import MODES, apply_summary, completion_text, parse_summary
from aptrank.train.rl.rewards import (
    COMPONENTS,
    PARSE_FAILURE_REWARD,
    format_reward,
    length_penalty,
    log_components,
)
from aptrank.train.rl.step_log import log_items
from aptrank.types import Corpus


def rank_gain(rank: int, metric: str) -> float:
    """The value of an item retrieved at ``rank`` (1-based; 0 = not retrieved) for a query it is
    the one relevant item of, under ``metric`` (ndcg@k, mrr@k, recall@k).

    >>> rank_gain(1, "ndcg@10"), rank_gain(3, "ndcg@10"), rank_gain(11, "ndcg@10")
    (1.0, 0.5, 0.0)
    >>> rank_gain(4, "mrr@10"), rank_gain(4, "recall@5"), rank_gain(0, "recall@5")
    (0.25, 1.0, 0.0)
    """
    m = parse_metric(metric)
    if m.k is None or m.family not in ("ndcg", "recall", "mrr"):
        raise ValueError(f"summary reward metric must be ndcg@k, mrr@k or recall@k, got {metric!r}")
    if rank < 1 or rank > m.k:
        return 0.0
    if m.family == "ndcg":
        return 1.0 / math.log2(rank + 1)
    return 1.0 / rank if m.family == "mrr" else 1.0


class BM25ItemScorer:
    """BM25 of a replaced item's text against a query, with the unchanged corpus' statistics,
    and the item's rank among the corpus (see the module docstring for the approximation)."""

    def __init__(self, corpus: Corpus, ranker: Any = None) -> None:
        from aptrank.rankers.bm25 import BM25Ranker

        self.ranker = ranker if ranker is not None else BM25Ranker()
        cfg = self.ranker.cfg
        self.k1, self.b = cfg.k1, cfg.b
        self.ids = sorted(corpus)
        tokens = self._tokens([corpus[d].full_text for d in self.ids])
        self.df: Counter[str] = Counter()
        for toks in tokens:
            self.df.update(set(toks))
        self.n = len(self.ids)
        self.avgdl = sum(map(len, tokens)) / max(self.n, 1)
        self._tf = [Counter(t) for t in tokens]
        self._len = [len(t) for t in tokens]
        self._postings: dict[str, list[int]] = {}
        for i, toks in enumerate(tokens):
            for t in set(toks):
                self._postings.setdefault(t, []).append(i)
        self._runs: dict[str, tuple[list[str], np.ndarray, np.ndarray]] = {}

    def _tokens(self, texts: list[str]) -> list[list[str]]:
        return [list(t) for t in self.ranker._tokenize(texts, return_ids=False)]

    def query_terms(self, query: str) -> list[str]:
        """The query's tokens the corpus contains (repeats kept, as bm25s sums them)."""
        return [t for t in self._tokens([query])[0] if t in self.df]

    def idf(self, term: str) -> float:
        df = self.df[term]
        return math.log(1 + (self.n - df + 0.5) / (df + 0.5))

    def score(self, terms: Sequence[str], tf: Mapping[str, int], length: int) -> float:
        """BM25 (Lucene) of a document with term counts ``tf`` and ``length`` tokens."""
        norm = self.k1 * (1 - self.b + self.b * length / self.avgdl) if self.avgdl else 0.0
        total = 0.0
        for t in terms:
            f = tf.get(t, 0)
            if f:
                total += self.idf(t) * f / (f + norm)
        return total

    def corpus_scores(self, query: str) -> dict[str, float]:
        """Every document's score for ``query`` (positive ones) on the unchanged corpus."""
        ids, _, scores = self._run(query)
        return dict(zip(ids, scores.tolist()))

    def _run(self, query: str) -> tuple[list[str], np.ndarray, np.ndarray]:
        """Doc ids, their positions and scores for ``query`` (documents sharing a term), cached:
        the precomputed run every replaced item is compared with."""
        if query not in self._runs:
            terms = self.query_terms(query)
            hits = sorted({i for t in set(terms) for i in self._postings.get(t, [])})
            scores = [self.score(terms, self._tf[i], self._len[i]) for i in hits]
            self._runs[query] = (
                [self.ids[i] for i in hits],
                np.asarray(hits, dtype=np.int64),
                np.asarray(scores, dtype=np.float64),
            )
        return self._runs[query]

    def rank(self, doc_id: str, text: str, query: str) -> int:
        """The 1-based rank of ``doc_id`` for ``query`` when its indexed text is ``text``, in
        trec_eval's order (score, then doc id, descending); 0 when it scores nothing (BM25
        retrieves no zero-score documents)."""
        toks = self._tokens([text])[0]
        own = self.score(self.query_terms(query), Counter(toks), len(toks))
        if own <= 0:
            return 0
        ids, _, scores = self._run(query)
        above = 0
        for other, s in zip(ids, scores.tolist()):
            if other != doc_id and (s > own or (s == own and other > doc_id)):
                above += 1
        return above + 1


@dataclass(frozen=True)
class SummaryRewardConfig:
    """How :class:`SummaryReward` scores a summary; saved with every trained summarizer.

    ``total = retrieval + format_weight * format + length``; a failed parse gets
    ``failure_reward``. ``ndcg@100`` by default: a cutoff of 10 gives most items of a hard
    corpus 0 for every sample, and such groups teach nothing.
    """

    metric: str = "ndcg@100"  #: ndcg@k, mrr@k or recall@k of the item's rank (see rank_gain)
    mode: str = "replace"  #: index title + summary, or title + text + summary (append)
    format_weight: float = 0.1  #: weight of format_reward
    max_words: int = 40  #: longest summary kept (and accepted by the format reward)
    length_target: int = 25  #: words allowed before the length penalty starts
    length_per_word: float = 0.01  #: penalty per word beyond length_target
    failure_reward: float = PARSE_FAILURE_REWARD  #: the reward of a failed parse
    #: subtracted times the share of the summary's words already in the item's title: in the
    #: title + summary setting a copied title adds nothing a ranker did not have
    title_copy_weight: float = 0.0

    def __post_init__(self) -> None:
        rank_gain(1, self.metric)
        if self.mode not in MODES:
            raise ValueError(f"unknown mode {self.mode!r}; choose one of {', '.join(MODES)}")
        if min(self.format_weight, self.length_per_word, self.title_copy_weight) < 0:
            raise ValueError("format_weight, length_per_word and title_copy_weight must be >= 0")
        if self.max_words < 1 or self.length_target < 0:
            raise ValueError("max_words must be >= 1 and length_target >= 0")


class SummaryReward:
    """A TRL reward function: how well each item is retrieved for its training queries when
    indexed with the policy's summary (module docstring).

    Called as ``reward(prompts, completions, doc_id=[...], **kwargs) -> list[float]``.
    ``queries``/``qrels`` must be *training* queries and judgments: an item's training queries
    are those it is judged relevant (grade > 0) for. Components are recorded in :attr:`last` and
    logged as ``components/<name>/mean|std`` exactly like
    :class:`~aptrank.train.rl.rewards.RetrievalReward`'s.
    """

    #: where each call's items and retrieval rewards go (set by ``train_grpo``: the item log)
    item_log: Path | None = None

    def __init__(
        self,
        corpus: Corpus,
        queries: Mapping[str, str],
        qrels: Mapping[str, Mapping[str, float]],
        config: SummaryRewardConfig | None = None,
        scorer: BM25ItemScorer | None = None,
        name: str = "summary",
        pair_scorer: Any = None,
    ) -> None:
        self.corpus = dict(corpus)
        self.cfg = config or SummaryRewardConfig()
        #: the frozen ReLSum-style scorer; None: BM25 rank (``scorer``)
        self.pair_scorer = pair_scorer
        self.scorer = scorer or (BM25ItemScorer(self.corpus) if pair_scorer is None else None)
        self.__name__ = name
        self.item_queries: dict[str, list[str]] = {}
        for qid in sorted(qrels):
            for doc, grade in qrels[qid].items():
                if grade > 0 and qid in queries and doc in self.corpus:
                    self.item_queries.setdefault(doc, []).append(queries[qid])
        self.last: dict[str, list[float]] = {c: [] for c in COMPONENTS}

    def config(self) -> dict[str, Any]:
        """Everything that decides the reward (saved with the policy)."""
        if self.pair_scorer is not None:
            ranker: Any = {
                "pair_scorer": getattr(self.pair_scorer, "model", repr(self.pair_scorer))
            }
        else:
            ranker = self.scorer.ranker.config()  # type: ignore[union-attr]
        return {"name": self.__name__, "ranker": ranker, **asdict(self.cfg)}

    def __call__(
        self, prompts: Sequence[Any], completions: Sequence[Any], **kwargs: Any
    ) -> list[float]:
        doc_ids = kwargs.get("doc_id")
        if doc_ids is None or len(doc_ids) != len(completions):
            raise ValueError(
                "SummaryReward needs a 'doc_id' column with one id per completion "
                "(a dataset column; TRL passes columns to reward functions by name)"
            )
        ids = [str(d) for d in doc_ids]
        parts = self.score_texts(ids, [completion_text(c) for c in completions])
        self.last = parts
        log_components(kwargs.get("log_metric"), parts, ids)
        log_items(self.item_log, kwargs.get("trainer_state"), ids, parts["retrieval"])
        return parts["total"]

    def retrieval(self, doc_id: str, summary: str) -> float:
        """The retrieval part for one item indexed with ``summary``."""
        doc = apply_summary(self.corpus[doc_id], summary, self.cfg.mode)
        return self.text_retrieval(doc_id, doc.full_text)

    def text_retrieval(self, doc_id: str, text: str) -> float:
        """The retrieval part for one item indexed with ``text`` (its own text: the baseline
        without a summary): mean rank gain (or frozen scorer's sigmoid) over its training
        queries."""
        queries = self.item_queries[doc_id]
        if self.pair_scorer is not None:
            scores = self.pair_scorer.score([(q, text) for q in queries])
            return math.fsum(1 / (1 + math.exp(-float(x))) for x in scores) / len(queries)
        if self.scorer is None:
            raise ValueError("SummaryReward needs a BM25ItemScorer or a pair_scorer")
        gains = [rank_gain(self.scorer.rank(doc_id, text, q), self.cfg.metric) for q in queries]
        return math.fsum(gains) / len(gains)

    def score_texts(self, doc_ids: Sequence[str], texts: Sequence[str]) -> dict[str, list[float]]:
        """The components of each (doc id, generated text) pair: ``retrieval``, ``format``,
        ``length``, ``parse_failed`` (0/1) and ``total``. Usable outside training, e.g. on
        held-out items before and after."""
        unknown = sorted({d for d in doc_ids if d not in self.item_queries})
        if unknown:
            raise ValueError(f"items without a training query they are relevant for: {unknown[:5]}")
        out: dict[str, list[float]] = {c: [] for c in SUMMARY_COMPONENTS}
        for doc_id, text in zip(doc_ids, texts):
            parsed = parse_summary(text, self.cfg.max_words)
            failed = parsed is None
            r = 0.0 if parsed is None else self.retrieval(doc_id, parsed)
            fmt = format_reward(text, self.cfg.max_words)
            length = length_penalty(
                len(parsed.split()) if parsed else 0,
                self.cfg.length_target,
                self.cfg.length_per_word,
            )
            copy = title_copy(self.corpus[doc_id].title, parsed or "")
            total = (
                self.cfg.failure_reward
                if failed
                else r + self.cfg.format_weight * fmt + length - self.cfg.title_copy_weight * copy
            )
            values = (r, fmt, length, float(failed), copy, total)
            for name, value in zip(SUMMARY_COMPONENTS, values, strict=True):
                out[name].append(float(value))
        return out


#: the summary reward's components: the retrieval reward's plus the share copied from the title
SUMMARY_COMPONENTS = (*COMPONENTS[:-1], "title_copy", COMPONENTS[-1])


def title_copy(title: str, summary: str) -> float:
    """The share of the summary's words (lowercased, alphanumeric) found in the title.

    >>> title_copy("Statins and stroke", "statins lower stroke risk")
    0.5
    >>> title_copy("", "anything"), title_copy("T", "")
    (0.0, 0.0)
    """
    words = re.findall(r"[a-z0-9]+", summary.lower())
    if not words:
        return 0.0
    in_title = set(re.findall(r"[a-z0-9]+", title.lower()))
    return sum(w in in_title for w in words) / len(words)
