"""The rule check: does a document mention what a query excludes (or a close variant of it)?

A document's words and the excluded phrase's key terms (:func:`~aptrank.constraints.parse.
key_terms`: content words the topic does not already hold) are compared as Snowball stems, with
two kinds of close variant: adjacent words joined (``anti Semitism`` / ``antisemitism``) and the
acronym of a multi-word name (``Saturday Night Live`` / ``SNL``). The strength of a violation is
1 when the key terms occur as one run of words, or the acronym occurs; else the IDF-weighted share
of the key terms the document holds (rare words count more). A paraphrase that shares no stem with
the excluded phrase passes unseen: that is what the learned compatibility scorer is for.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Iterable, Mapping
from functools import lru_cache

from aptrank.constraints.parse import (
    STOPWORDS,
    Constraint,
    ParsedQuery,
    excluded_object,
    key_terms,
    words,
)


@lru_cache(maxsize=1)
def _stemmer():  # type: ignore[no-untyped-def]
    import Stemmer

    return Stemmer.Stemmer("english")


def stems(text: str) -> list[str]:
    """Snowball stems of the lowercased words of ``text``.

    >>> stems("Mentioned mentions of mice")
    ['mention', 'mention', 'of', 'mice']
    """
    return list(_stemmer().stemWords(words(text)))


def variants(tokens: list[str]) -> set[str]:
    """The tokens and every pair of adjacent tokens joined.

    >>> sorted(variants(["anti", "semit"]))
    ['anti', 'antisemit', 'semit']
    """
    return set(tokens) | {a + b for a, b in zip(tokens, tokens[1:])}


def acronym(phrase: str) -> str | None:
    """The initials of a name of two or more capitalised words, lowercased, else None.

    >>> acronym("Saturday Night Live"), acronym("the storm")
    ('snl', None)
    """
    caps = [w for w in phrase.replace("-", " ").split() if w[:1].isupper()]
    return "".join(w[0] for w in caps).lower() if len(caps) >= 2 else None


class RuleChecker:
    """Violation strengths of documents against queries' exclusions, with IDF weights from the
    corpus the documents come from (``doc_freq``: stem → documents holding it)."""

    def __init__(self, doc_freq: Mapping[str, int] | None = None, n_docs: int = 0) -> None:
        self.doc_freq = dict(doc_freq or {})
        self.n_docs = n_docs

    @classmethod
    def from_texts(cls, texts: Iterable[str]) -> RuleChecker:
        df: Counter[str] = Counter()
        n = 0
        for text in texts:
            n += 1
            df.update(set(stems(text)))
        return cls(df, n)

    def idf(self, stem: str) -> float:
        df = self.doc_freq.get(stem, 0)
        return math.log(1.0 + (self.n_docs - df + 0.5) / (df + 0.5)) if self.n_docs else 1.0

    def strength(
        self, constraint: Constraint, topic: str, doc_tokens: frozenset[str] | set[str]
    ) -> float:
        """How strongly a document (its :func:`variants` of stems) violates one exclusion."""
        terms = list(dict.fromkeys(_stemmer().stemWords(key_terms(constraint, topic))))
        if not terms:
            return 0.0
        obj = excluded_object(constraint.text)
        initials = acronym(obj)
        if "".join(terms) in doc_tokens or (initials and initials in doc_tokens):
            return 1.0
        weights = [self.idf(t) for t in terms]
        held = sum(w for t, w in zip(terms, weights) if t in doc_tokens)
        return held / sum(weights) if sum(weights) > 0 else 0.0

    def violation(self, parsed: ParsedQuery, doc_text: str) -> float:
        """The strongest violation of any of the query's exclusions (0: none)."""
        if not parsed.exclusions:
            return 0.0
        tokens = _doc_variants(doc_text)
        return max(self.strength(c, parsed.topic, tokens) for c in parsed.exclusions)


@lru_cache(maxsize=4096)
def _doc_variants(text: str) -> frozenset[str]:
    """Stems, adjacent pairs joined, and runs of 2-5 content words joined (stop words left out,
    as :func:`key_terms` leaves them out)."""
    tokens = stems(text)
    content = [t for t in tokens if t not in STOPWORDS]
    runs = {"".join(content[i : i + n]) for n in (2, 3, 4, 5) for i in range(len(content) - n + 1)}
    return frozenset(variants(tokens) | runs)
