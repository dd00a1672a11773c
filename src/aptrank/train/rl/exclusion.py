"""Exclusion queries generated from a corpus alone: training data for a query rewriter where the
query's formulation is the bottleneck.

A query such as "X, but don't mention Y" hurts a lexical retriever: it matches Y, so the on-topic
document that mentions Y (the violator) climbs above the one that does not (the satisfier). Such
queries, with judgments, are built here from a corpus's documents and nothing else
(:func:`~aptrank.constraints.generate.corpus_only` reads ``corpus.jsonl`` only), so a rewriter
trained on another corpus's queries (SciFact's) leaves an evaluated dataset (NegConstraint)
untouched:

1. a seed document ``A`` (a seeded random sample); its **topic** is the ``topic_terms`` rarest
   content words of its title, in title order;
2. BM25 with the topic over the corpus gives the on-topic **pool** (top ``pool``, ``A`` in it);
3. the **excluded term** ``Y`` is a content word that ``A`` never uses and that at least
   ``min_violators`` pool documents use, the one whose users BM25 ranks highest (the most
   misleading for a retriever that matches it); corpus-wide frequent words and words sharing
   their first five letters with a topic word are skipped;
4. the query is a template of the exclusion forms the constraint parser reads: around the
   keyword topic (:data:`TEMPLATES`, ``phrasing="keywords"``) or around the seed's title in a
   request or question frame (:data:`TITLE_TEMPLATES`, ``phrasing="title"``: how people write,
   so that a rewriter trained on them meets natural queries, not only keyword strings);
5. judgments: ``A`` 2, the other pool documents in the top ``relevant_depth`` that never use
   ``Y`` 1, every pool document using ``Y`` 0 (a judged violator).

Each query keeps its reason (seed, topic, term, violators, satisfiers).
"""

from __future__ import annotations

import json
import math
import random
from collections import Counter
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from aptrank.constraints.parse import STOPWORDS, words
from aptrank.errors import AptrankError
from aptrank.types import Corpus

#: exclusion forms the constraint parser reads (:mod:`aptrank.constraints.parse`)
TEMPLATES = (
    "{topic}, but don't mention {term}.",
    "{topic}, excluding {term}.",
    "{topic}, without mentioning {term}.",
    "{topic} (excluding {term})",
    "{topic}, but do not discuss {term}.",
    "{topic}, other than {term}.",
)

#: the same forms around a title, in generic request and question frames (``phrasing="title"``):
#: a policy trained on keyword topics alone learned to drop the clause there and copied
#: natural-language queries unchanged (benchmarks/results/rl.json, rewrite); one trained on these
#: learned less, on these queries as well (rl.json rewrite_phrasing: 0.572 against 0.581)
TITLE_TEMPLATES = (
    "{topic}, but don't mention {term}.",
    "Provide an overview of {topic}, excluding {term}.",
    "Describe {topic} without mentioning {term}.",
    "What is known about {topic} (excluding {term})?",
    "Summarize the research on {topic}, but do not discuss {term}.",
    "Explain {topic}, other than {term}.",
)
PHRASINGS = ("keywords", "title")


@dataclass(frozen=True)
class ExclusionConfig:
    """How exclusion queries are generated from a corpus (saved with them)."""

    queries: int = 1000  #: seed documents tried (a query is kept when every rule is met)
    topic_terms: int = 3  #: rarest title words that make the topic
    pool: int = 20  #: BM25 top-k with the topic: the on-topic documents
    relevant_depth: int = 10  #: satisfiers are judged relevant within this depth of the pool
    min_violators: int = 2  #: pool documents that must use the excluded term
    max_df: float = 0.01  #: an excluded term is used by at most this share of the corpus
    min_chars: int = 4  #: shorter words are never excluded
    seed: int = 0
    #: what the query wraps: "keywords" (the topic words) or "title" (the seed's title); the
    #: pool and the judgments come from the topic words either way. The default is the dev
    #: choice for training a rewriter (benchmarks/results/rl.json rewrite_phrasing.chosen)
    phrasing: str = "keywords"

    def __post_init__(self) -> None:
        if self.phrasing not in PHRASINGS:
            raise AptrankError(
                f"unknown phrasing {self.phrasing!r}; choose one of {', '.join(PHRASINGS)}"
            )
        if min(self.queries, self.topic_terms, self.pool, self.min_violators) < 1:
            raise AptrankError("queries, topic_terms, pool and min_violators must be >= 1")
        if not 1 <= self.relevant_depth <= self.pool:
            raise AptrankError("relevant_depth must be between 1 and pool")


def _content(text: str, min_chars: int = 3) -> list[str]:
    return [w for w in words(text) if w not in STOPWORDS and len(w) >= min_chars and w.isalpha()]


def topic_of(title: str, df: Mapping[str, int], n: int) -> str:
    """The ``n`` rarest content words of a title, in title order.

    >>> topic_of("Effects of statins on the risk of stroke", {"effects": 9, "statins": 1,
    ...          "risk": 5, "stroke": 2}, 2)
    'statins stroke'
    """
    seen: list[str] = []
    for w in _content(title):
        if w not in seen:
            seen.append(w)
    rare = set(sorted(seen, key=lambda w: (df.get(w, 0), seen.index(w)))[:n])
    return " ".join(w for w in seen if w in rare)


def excluded_term(
    seed_words: set[str],
    topic: str,
    pool: list[tuple[str, set[str]]],
    df: Mapping[str, int],
    max_df: int,
    min_violators: int,
    min_chars: int,
) -> str | None:
    """The content word that the most highly ranked pool documents use and the seed never does
    (score: the sum of 1/rank over its users), or None.

    >>> pool = [("a", {"stroke", "aspirin"}), ("b", {"stroke", "aspirin", "dose"}),
    ...         ("c", {"stroke", "dose"})]
    >>> excluded_term({"stroke"}, "stroke", pool, {"aspirin": 2, "dose": 2}, 10, 2, 4)
    'aspirin'
    """
    topic_words = set(words(topic))
    stems = {w[:5] for w in topic_words}  # "reprogramming" is no exclusion for "reprograms"
    score: dict[str, float] = {}
    users: Counter[str] = Counter()
    for rank, (_, doc_words) in enumerate(pool, start=1):
        for w in doc_words:
            if w in seed_words or w[:5] in stems or len(w) < min_chars or df.get(w, 0) > max_df:
                continue
            score[w] = score.get(w, 0.0) + 1.0 / rank
            users[w] += 1
    ranked = [w for w, _ in sorted(score.items(), key=lambda kv: (-kv[1], kv[0]))]
    return next((w for w in ranked if users[w] >= min_violators), None)


def exclusion_queries(corpus: Corpus, config: ExclusionConfig | None = None) -> dict[str, Any]:
    """``{"queries": {qid: text}, "qrels": {qid: {doc: grade}}, "reasons": {qid: {...}}}`` built
    from ``corpus`` alone (see the module docstring); deterministic for a config."""
    from aptrank.rankers.bm25 import BM25Ranker

    config = config or ExclusionConfig()
    doc_words = {d: set(_content(f"{doc.title} {doc.text}")) for d, doc in corpus.items()}
    df: Counter[str] = Counter()
    for ws in doc_words.values():
        df.update(ws)
    max_df = max(1, math.floor(config.max_df * len(corpus)))
    rng = random.Random(config.seed)
    with_title = sorted(d for d, doc in corpus.items() if _content(doc.title))
    seeds = rng.sample(with_title, min(config.queries, len(with_title)))
    topics = {f"x{i}": (seed, topic_of(corpus[seed].title, df, config.topic_terms))
              for i, seed in enumerate(seeds)}  # fmt: skip
    bm25 = BM25Ranker().index(corpus)
    run = bm25.rank({q: topic for q, (_, topic) in topics.items()}, k=config.pool)
    queries: dict[str, str] = {}
    qrels: dict[str, dict[str, int]] = {}
    reasons: dict[str, dict[str, Any]] = {}
    for qid, (seed, topic) in topics.items():
        ranked = sorted(run.get(qid, {}).items(), key=lambda kv: (-kv[1], kv[0]))
        pool = [d for d, _ in ranked]
        if seed not in pool:
            continue  # the topic does not find its own document: no anchor
        term = excluded_term(
            doc_words[seed],
            topic,
            [(d, doc_words[d]) for d in pool],
            df,
            max_df,
            config.min_violators,
            config.min_chars,
        )
        if term is None:
            continue
        violators = [d for d in pool if term in doc_words[d]]
        satisfiers = [d for d in pool[: config.relevant_depth] if term not in doc_words[d]]
        judged = {d: 0 for d in violators}
        judged.update({d: 1 for d in satisfiers})
        judged[seed] = 2
        if config.phrasing == "title":
            title = corpus[seed].title.strip().rstrip(".")
            template = rng.choice(TITLE_TEMPLATES)
            if not template.startswith("{topic}") and title[1:2].islower():
                title = title[0].lower() + title[1:]  # "Describe tenomodulin …", not an acronym
            queries[qid] = template.format(topic=title, term=term)
        else:
            queries[qid] = rng.choice(TEMPLATES).format(topic=topic, term=term)
        qrels[qid] = judged
        reasons[qid] = {
            "seed": seed,
            "topic": topic,
            "term": term,
            "violators": violators,
            "satisfiers": satisfiers,
            "reason": f"{len(violators)} of the topic's top {config.pool} use {term!r}, the "
            f"seed document {seed} never does",
        }
    return {"queries": queries, "qrels": qrels, "reasons": reasons, "config": asdict(config)}


def write_exclusion_dataset(source: str | Path, out: Path, config: ExclusionConfig) -> Path:
    """The exclusion queries of ``source``'s corpus as a BEIR folder at ``out``: its
    ``corpus.jsonl`` is a link to the source's (never a copy), ``queries.jsonl``,
    ``qrels/train.tsv`` and ``reasons.jsonl``; written once (a folder already made for the same
    config is reused)."""
    from aptrank.constraints.generate import corpus_only
    from aptrank.data.beir import record_file
    from aptrank.data.resolve import find_dataset

    folder = Path(source) if Path(source).is_dir() else find_dataset(str(source))
    if folder is None:
        raise AptrankError(f"no corpus folder {source!r} (a BEIR folder or a dataset name)")
    marker = out / "exclusion.json"
    if marker.exists() and json.loads(marker.read_text())["config"] == asdict(config):
        return out
    made = exclusion_queries(corpus_only(folder), config)
    if not made["queries"]:
        raise AptrankError(f"no exclusion query could be built from {folder}'s corpus")
    (out / "qrels").mkdir(parents=True, exist_ok=True)
    corpus_file = record_file(folder, "corpus")
    link = out / corpus_file.name
    if link.is_symlink() or link.exists():
        link.unlink()
    link.symlink_to(corpus_file.resolve())
    with open(out / "queries.jsonl", "w", encoding="utf-8") as f:
        for qid, text in made["queries"].items():
            f.write(json.dumps({"_id": qid, "text": text}) + "\n")
    lines = ["query-id\tcorpus-id\tscore"]
    lines += [f"{q}\t{d}\t{g}" for q, judged in made["qrels"].items() for d, g in judged.items()]
    (out / "qrels" / "train.tsv").write_text("\n".join(lines) + "\n", encoding="utf-8")
    with open(out / "reasons.jsonl", "w", encoding="utf-8") as f:
        for qid, reason in made["reasons"].items():
            f.write(json.dumps({"_id": qid, **reason}) + "\n")
    marker.write_text(
        json.dumps(
            {"source": str(folder), "queries": len(made["queries"]), "config": asdict(config)}
        )
    )
    return out
