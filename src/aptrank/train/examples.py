"""Training examples for cross-encoders, as plain tuples built from aptrank data.

Three kinds, one per loss (see :mod:`aptrank.train.cross_encoder`):

- ``HumanPair = (query, document, label)`` with the label in [0, 1] — the task's own judgments,
  for binary cross-entropy;
- ``MarginTriple = (query, doc_a, doc_b, t(q, a) - t(q, b))`` — a teacher's score *difference*, for
  Margin-MSE (Hofstätter et al. 2021, "Improving Efficient Neural Ranking Models with
  Cross-Architecture Knowledge Distillation"): the student learns how much better ``a`` is than
  ``b``, not the teacher's absolute calibration, which is what lets a small model follow a large
  one;
- ``SoftPair = (query, document, p)`` — a teacher's score as a probability, for soft-label BCE.

Texts go in as they will be scored at inference: the query text and the document's
``full_text`` (title + text), as :class:`~aptrank.rankers.cross_encoder.CrossEncoderRanker` does.
Everything here is deterministic: ids are visited in sorted order and sampling uses a
``random.Random`` seeded per query, so the examples do not depend on dict order or on which other
queries are present. Ids missing from ``queries`` or ``corpus`` are skipped, as the reranker skips
candidates that are not in the corpus.
"""

from __future__ import annotations

import math
import random
import statistics
from collections.abc import Iterator, Mapping, Sequence

from aptrank.errors import AptrankError
from aptrank.types import Doc, Query

HumanPair = tuple[str, str, float]
MarginTriple = tuple[str, str, str, float]
SoftPair = tuple[str, str, float]

#: How teacher scores are read: "probability" (in [0, 1], e.g. a sigmoid cross-encoder head or an
#: LLM judge's P(yes)), "logit" (unbounded raw scores), or "auto" (probability when every score
#: lies in [0, 1], else logit; pass the scale explicitly for a raw-score teacher whose scores
#: happen to fall in [0, 1]).
TEACHER_SCALES = ("auto", "probability", "logit")
#: How margin triples pair documents: "top" (the teacher's best document against sampled others,
#: the (q, d+, d-) shape of Hofstätter et al.) or "random" (random pairs anywhere in the teacher's
#: ranking, ordered so the margin is >= 0; teaches the order below the top too).
PAIRINGS = ("top", "random")

_EPS = 1e-6  # probabilities are clipped to [eps, 1 - eps] before the logit: |logit| <= 13.8


def _text(item: Query | Doc | str) -> str:
    if isinstance(item, Doc):
        return item.full_text
    if isinstance(item, Query):
        return item.text
    return item


def _rng(seed: int, qid: str) -> random.Random:
    # A string seed is hashed with SHA-512 by random.Random: stable across runs and processes.
    return random.Random(f"{seed}:{qid}")


def human_pairs(
    queries: Mapping[str, Query | str],
    corpus: Mapping[str, Doc | str],
    qrels: Mapping[str, Mapping[str, int]],
    negatives: Mapping[str, Sequence[str]],
    n_neg: int = 4,
    *,
    graded: bool = False,
) -> list[HumanPair]:
    """(query, document, label) pairs from human judgments plus mined hard negatives.

    For every judged query with at least one relevant document: each document with grade > 0
    (label 1.0, or ``grade / max grade`` when ``graded``), then up to ``n_neg`` negatives per
    relevant document (label 0.0; the ``num_negatives`` convention of sentence-transformers'
    ``mine_hard_negatives``): first the documents judged wrong (grade 0, by id), then
    ``negatives[qid]`` in the given order (a first stage's ranking), skipping anything judged
    relevant. Unjudged mined documents
    are assumed wrong — the usual hard-negative assumption; a false negative here teaches the
    model to push a relevant document down, so mine from a ranker that is not too good.

    >>> from aptrank.types import Doc
    >>> human_pairs({"q": "cats"}, {"a": Doc("purr"), "b": Doc("bark"), "c": Doc("fur")},
    ...             {"q": {"a": 1}}, {"q": ["a", "b", "c"]}, n_neg=1)
    [('cats', 'purr', 1.0), ('cats', 'bark', 0.0)]
    """
    if n_neg < 0:
        raise AptrankError(f"n_neg must be >= 0, got {n_neg}")
    top = max((g for judged in qrels.values() for g in judged.values()), default=1)
    out: list[HumanPair] = []
    for qid in sorted(qrels):
        if qid not in queries:
            continue
        judged = qrels[qid]
        relevant = sorted((d for d, g in judged.items() if g > 0), key=lambda d: (-judged[d], d))
        relevant = [d for d in relevant if d in corpus]
        if not relevant:
            continue
        query = _text(queries[qid])
        for d in relevant:
            label = judged[d] / top if graded else 1.0
            out.append((query, _text(corpus[d]), float(label)))
        wrong = sorted(d for d, g in judged.items() if g <= 0)
        chosen: list[str] = []
        for d in [*wrong, *negatives.get(qid, ())]:
            if len(chosen) == n_neg * len(relevant):
                break
            if d in corpus and judged.get(d, 0) <= 0 and d not in chosen:
                chosen.append(d)
        out.extend((query, _text(corpus[d]), 0.0) for d in chosen)
    return out


#: How human pairs take their hard negatives from a first-stage ranking: "top" (its best-ranked
#: wrong documents) or "random" (wrong documents drawn at random from its whole depth, seeded).
NEGATIVE_SAMPLINGS = ("top", "random")


def negative_order(
    ranking: Mapping[str, Sequence[str]], sampling: str = "top", seed: int = 0
) -> dict[str, list[str]]:
    """Each query's candidate negatives in the order :func:`human_pairs` takes them.

    ``top`` keeps the ranking's order; ``random`` shuffles each query's list with a generator
    seeded by ``seed`` and the query id (the same order whatever other queries are present).

    >>> negative_order({"q": ["a", "b", "c"]})
    {'q': ['a', 'b', 'c']}
    >>> sorted(negative_order({"q": ["a", "b", "c"]}, "random")["q"])
    ['a', 'b', 'c']
    """
    if sampling not in NEGATIVE_SAMPLINGS:
        raise AptrankError(
            f"unknown negative sampling {sampling!r}; use {' or '.join(NEGATIVE_SAMPLINGS)}"
        )
    out = {q: list(docs) for q, docs in ranking.items()}
    if sampling == "random":
        for q, docs in out.items():
            _rng(seed, q).shuffle(docs)
    return out


def resolve_scale(labels: Mapping[str, Mapping[str, float]], scale: str = "auto") -> str:
    """The teacher scale ``"auto"`` stands for on ``labels`` ("probability" or "logit").

    >>> resolve_scale({"q": {"a": 0.9, "b": 0.1}}), resolve_scale({"q": {"a": 3.5, "b": -2.0}})
    ('probability', 'logit')
    """
    if scale not in TEACHER_SCALES:
        raise AptrankError(f"unknown teacher scale {scale!r}; choose one of {TEACHER_SCALES}")
    if scale != "auto":
        return scale
    scores = [s for docs in labels.values() for s in docs.values()]
    return "probability" if all(0.0 <= s <= 1.0 for s in scores) else "logit"


def to_logit(score: float, scale: str) -> float:
    """A teacher score in logit space (margins are taken there: for a sigmoid teacher this gives
    back its raw logits, the quantity Margin-MSE was defined on)."""
    if scale == "logit":
        return float(score)
    if not 0.0 <= score <= 1.0:
        raise AptrankError(f"teacher score {score} is not a probability in [0, 1]")
    p = min(max(score, _EPS), 1.0 - _EPS)
    return math.log(p / (1.0 - p))


def to_probability(score: float, scale: str) -> float:
    """A teacher score in [0, 1] (a logit goes through the sigmoid)."""
    if scale == "probability":
        if not 0.0 <= score <= 1.0:
            raise AptrankError(f"teacher score {score} is not a probability in [0, 1]")
        return float(score)
    return 1.0 / (1.0 + math.exp(-score)) if score >= 0 else math.exp(score) / (1 + math.exp(score))


def _ranked(
    queries: Mapping[str, Query | str],
    corpus: Mapping[str, Doc | str],
    labels: Mapping[str, Mapping[str, float]],
) -> Iterator[tuple[str, list[tuple[str, float]]]]:
    """Per query (sorted ids): its labeled documents in the corpus, best teacher score first."""
    for qid in sorted(labels):
        if qid not in queries:
            continue
        docs = [(d, float(s)) for d, s in labels[qid].items() if d in corpus]
        for d, s in docs:
            if not math.isfinite(s):
                raise AptrankError(f"teacher score for ({qid!r}, {d!r}) is {s}")
        yield qid, sorted(docs, key=lambda item: (-item[1], item[0]))


def margin_triples(
    queries: Mapping[str, Query | str],
    corpus: Mapping[str, Doc | str],
    labels: Mapping[str, Mapping[str, float]],
    per_query: int | None = 8,
    seed: int = 0,
    *,
    scale: str = "auto",
    pairing: str = "top",
) -> list[MarginTriple]:
    """(query, doc_a, doc_b, margin) triples from teacher labels, margin = t(q,a) - t(q,b) >= 0.

    ``pairing="top"``: ``a`` is the teacher's best document and ``b`` is sampled without
    replacement from the rest (``per_query`` of them; None = all). ``pairing="random"``:
    ``per_query`` distinct random pairs from the whole labeled list (None = every pair), each
    ordered so that ``a`` scores higher. Scores are compared in logit space (see
    :data:`TEACHER_SCALES`). Queries with fewer than two labeled documents give nothing.

    >>> margin_triples({"q": "cats"}, {"a": "purr", "b": "bark"}, {"q": {"a": 2.0, "b": -1.0}})
    [('cats', 'purr', 'bark', 3.0)]
    """
    if pairing not in PAIRINGS:
        raise AptrankError(f"unknown pairing {pairing!r}; choose one of {PAIRINGS}")
    if per_query is not None and per_query < 1:
        raise AptrankError(f"per_query must be >= 1 or None, got {per_query}")
    space = resolve_scale(labels, scale)
    out: list[MarginTriple] = []
    for qid, docs in _ranked(queries, corpus, labels):
        if len(docs) < 2:
            continue
        logits = [(d, to_logit(s, space)) for d, s in docs]
        if pairing == "top":
            rest = logits[1:]
            k = len(rest) if per_query is None else min(per_query, len(rest))
            picked = sorted(_rng(seed, qid).sample(range(len(rest)), k))
            pairs = [(logits[0], rest[i]) for i in picked]
        else:
            every = [(i, j) for i in range(len(logits)) for j in range(i + 1, len(logits))]
            k = len(every) if per_query is None else min(per_query, len(every))
            pairs = [(logits[i], logits[j]) for i, j in sorted(_rng(seed, qid).sample(every, k))]
        query = _text(queries[qid])
        for (a, sa), (b, sb) in pairs:
            out.append((query, _text(corpus[a]), _text(corpus[b]), sa - sb))
    return out


#: How teacher margins are scaled before Margin-MSE: "none" (as the teacher gives them) or "std"
#: (divided by their standard deviation over the training triples).
MARGIN_NORMS = ("none", "std")


def normalize_margins(
    triples: Sequence[MarginTriple], how: str = "std"
) -> tuple[list[MarginTriple], float]:
    """``triples`` with every margin divided by a common divisor, and that divisor.

    A teacher's score scale is its own: an ensemble fit by pairwise logistic regression puts a
    SciFact top document ~7.5 log-odds above a sampled one (5-95%: 1.9-15), where a freshly headed
    student's logits span a unit or two. Matching such margins exactly dominates the loss and
    wrecks the student. ``std`` keeps the teacher's order and relative gaps, at unit spread.

    >>> normalize_margins([("q", "a", "b", 2.0), ("q", "a", "c", 6.0)])
    ([('q', 'a', 'b', 1.0), ('q', 'a', 'c', 3.0)], 2.0)
    >>> normalize_margins([("q", "a", "b", 2.0)], "none")
    ([('q', 'a', 'b', 2.0)], 1.0)
    """
    if how not in MARGIN_NORMS:
        raise AptrankError(f"unknown margin normalization {how!r}; use {' or '.join(MARGIN_NORMS)}")
    spread = statistics.pstdev(t[3] for t in triples) if how == "std" and triples else 0.0
    divisor = spread if spread > 0 else 1.0
    return [(q, a, b, m / divisor) for q, a, b, m in triples], divisor


def soft_pairs(
    queries: Mapping[str, Query | str],
    corpus: Mapping[str, Doc | str],
    labels: Mapping[str, Mapping[str, float]],
    per_query: int | None = 8,
    seed: int = 0,
    *,
    scale: str = "auto",
) -> list[SoftPair]:
    """(query, document, p) pairs with the teacher's score as a probability, for soft BCE.

    Per query: the teacher's best document plus ``per_query - 1`` others sampled without
    replacement (None = every labeled document), in the teacher's order.

    >>> soft_pairs({"q": "cats"}, {"a": "purr", "b": "bark"}, {"q": {"a": 0.0, "b": -50.0}},
    ...            scale="logit")
    [('cats', 'purr', 0.5), ('cats', 'bark', 1.9287498479639178e-22)]
    """
    if per_query is not None and per_query < 1:
        raise AptrankError(f"per_query must be >= 1 or None, got {per_query}")
    space = resolve_scale(labels, scale)
    out: list[SoftPair] = []
    for qid, docs in _ranked(queries, corpus, labels):
        if not docs:
            continue
        rest = docs[1:]
        k = len(rest) if per_query is None else min(per_query - 1, len(rest))
        chosen = [docs[0], *(rest[i] for i in sorted(_rng(seed, qid).sample(range(len(rest)), k)))]
        query = _text(queries[qid])
        out.extend((query, _text(corpus[d]), to_probability(s, space)) for d, s in chosen)
    return out
