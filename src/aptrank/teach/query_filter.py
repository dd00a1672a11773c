"""Clean and filter generated queries: small LMs wrap, echo and loop, and those are not queries.

:func:`clean_query` turns a raw generation into one candidate line (first line, no ``Query:``
prefix, numbering or quotes); :func:`query_problem` names what is wrong with one candidate given
its source document (``None`` when it is fine); :func:`filter_queries` applies both checks and
drops duplicates across documents. All three are pure, so they are tested without a model.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Mapping

from aptrank.types import Corpus, Doc, Query

#: Why a generation was rejected, in the order the checks run.
REASONS = (
    "empty",
    "unfinished",
    "no_letters",
    "too_short",
    "too_long",
    "repetitive",
    "about_the_doc",
    "chatter",
    "title_copy",
    "doc_copy",
    "duplicate",
)

_BULLET = re.compile(r"^(?:\d{1,2}\s*[.):]|[-*•#>]+)\s*")
_PREFIX = re.compile(
    r"^(?:here(?:'s| is| are)\b[^:\n]{0,60}|sure[,!.]?[^:\n]{0,60}|(?:a\s+|one\s+|short\s+)*"
    r"(?:search\s+|user\s+|scientific\s+|example\s+)*(?:query|queries|claim|question|answer|"
    r"output|assistant|response|q|a))\s*[:\-–]\s*",
    re.IGNORECASE,
)
#: "The abstract supports the claim that X" -> "X": the claim is there, only framed
_FRAMING = re.compile(
    r"^(?:the|this|our)\s+(?:abstract|study|paper|article|document|text|research)\s+"
    r"(?:supports|shows|suggests|demonstrates|finds|found|indicates|confirms|states|concludes)"
    r"\s+(?:(?:the|a)\s+(?:claim|idea|conclusion|finding|hypothesis|notion)\s+)?that\s+",
    re.IGNORECASE,
)
_QUOTES = "\"'“”‘’«»`"
_TRAILING_JUNK = " \t*_#`" + _QUOTES
_NON_WORD = re.compile(r"[^\w\s]|_")
_SENTENCE_END = re.compile(r"(?<=[a-z0-9)\]][.!?])\s+(?=[A-Z0-9\"'“(\[])")
#: a query never talks about "the document": that is the model describing its input
_ABOUT_DOC = re.compile(
    r"\b(?:the|this|that|given|above)\s+(?:document|article|abstract|text|passage)\b",
    re.IGNORECASE,
)
_CHATTER = re.compile(r"!\W*$|^(?:sure|certainly|of course|great|absolutely)\b", re.I)


def normalize(text: str) -> str:
    """Lower case, punctuation removed, whitespace collapsed: the key duplicates are found by.

    >>> normalize("  Does Aspirin   reduce RISK? ")
    'does aspirin reduce risk'
    """
    return " ".join(_NON_WORD.sub(" ", text.lower()).split())


def _strip_once(line: str) -> str:
    line = line.strip().replace("**", "").strip()
    line = _BULLET.sub("", line)
    line = _PREFIX.sub("", line)
    framed = _FRAMING.sub("", line)
    if framed != line:
        line = framed[:1].upper() + framed[1:]
    if len(line) >= 2 and line[0] in _QUOTES and line[-1] in _QUOTES + ".?!":
        end = len(line) - 1 if line[-1] in _QUOTES else len(line) - 2
        if end > 0 and line[end] in _QUOTES:  # "quoted." -> quoted.
            line = line[1:end] + line[end + 1 :]
    return line.strip(_TRAILING_JUNK)


def clean_query(raw: str) -> str:
    """The first sentence of the first non-empty line of ``raw``, without prefixes, numbering,
    quotes or markup (small models go on explaining after the query).

    >>> clean_query('Query: "Does aspirin prevent stroke?"\\nExplanation: ...')
    'Does aspirin prevent stroke?'
    >>> clean_query("Here is a claim:\\n1. Vitamin D lowers blood pressure. It is known.")
    'Vitamin D lowers blood pressure.'
    >>> clean_query("The abstract supports the claim that vitamin D lowers blood pressure.")
    'Vitamin D lowers blood pressure.'
    """
    for line in raw.splitlines():
        cleaned = line
        for _ in range(3):  # prefixes nest: '1. **Query:** "..."'
            stripped = _strip_once(cleaned)
            if stripped == cleaned:
                break
            cleaned = stripped
        if cleaned:
            cleaned = _SENTENCE_END.split(cleaned, maxsplit=1)[0].strip(_TRAILING_JUNK)
            if cleaned and cleaned[0] in _QUOTES and cleaned.count(cleaned[0]) == 1:
                cleaned = cleaned[1:].strip()  # an unmatched opening quote
            return " ".join(cleaned.split())
    return ""


def is_unfinished(raw: str, cleaned: str, finished: bool) -> bool:
    """Whether ``cleaned`` was cut by the token limit: the generation did not finish and
    nothing (no line break, no further sentence) followed the cleaned text.

    >>> is_unfinished("Does aspirin prevent", "Does aspirin prevent", finished=False)
    True
    >>> is_unfinished("Does aspirin prevent stroke?\\nIt", "Does aspirin prevent stroke?", False)
    False
    """
    if finished or not cleaned:
        return False
    return normalize(raw).endswith(normalize(cleaned))


def query_problem(
    text: str, doc: Doc, min_words: int = 3, max_words: int = 32, max_copy_words: int = 12
) -> str | None:
    """The first :data:`REASONS` entry that rejects ``text`` as a query for ``doc``, or ``None``.

    ``doc_copy`` rejects a verbatim span of the document longer than ``max_copy_words`` words:
    an echoed sentence matches its document trivially and teaches a ranker nothing.

    >>> query_problem("cats cats cats cats", Doc("cats purr"))
    'repetitive'
    >>> query_problem("the document explains why cats purr", Doc("cats purr"))
    'about_the_doc'
    >>> query_problem("why do cats purr", Doc("cats purr", title="Cats")) is None
    True
    """
    if not text.strip():
        return "empty"
    if not any(c.isalpha() for c in text):
        return "no_letters"
    words = text.split()
    if len(words) < min_words:
        return "too_short"
    if len(words) > max_words:
        return "too_long"
    norm = normalize(text)
    tokens = norm.split()
    if len(tokens) >= 2 and len(set(tokens)) / len(tokens) < 0.5:
        return "repetitive"
    if _ABOUT_DOC.search(text):
        return "about_the_doc"
    if _CHATTER.search(text):
        return "chatter"
    if doc.title and norm == normalize(doc.title):
        return "title_copy"
    if len(tokens) > max_copy_words and f" {norm} " in f" {normalize(doc.full_text)} ":
        return "doc_copy"
    return None


def _order(item: tuple[str, Query]) -> tuple[str, int, str]:
    """Source document first, then the query id (``syn-d1-10`` after ``syn-d1-9``)."""
    qid, query = item
    return (str(query.meta.get("source_doc", "")), len(qid), qid)


def dedupe(queries: Mapping[str, Query]) -> tuple[dict[str, Query], int]:
    """Keep the first query of every normalized text, by source document id; the number dropped."""
    kept: dict[str, Query] = {}
    seen: set[str] = set()
    for qid, query in sorted(queries.items(), key=_order):
        key = normalize(query.text)
        if key in seen:
            continue
        seen.add(key)
        kept[qid] = query
    return kept, len(queries) - len(kept)


def filter_queries(
    queries: Mapping[str, Query],
    corpus: Corpus,
    min_words: int = 3,
    max_words: int = 32,
    max_copy_words: int = 12,
) -> tuple[dict[str, Query], dict[str, int]]:
    """The acceptable, deduplicated queries and how many were rejected for each reason.

    Each query's ``meta["source_doc"]`` names its document in ``corpus``. Duplicates are found
    across all documents; the one from the smallest document id (then query id) is kept.
    """
    counts: Counter[str] = Counter()
    fine: dict[str, Query] = {}
    for qid, query in queries.items():
        source = query.meta.get("source_doc")
        doc = corpus.get(source) if isinstance(source, str) else None
        reason = query_problem(query.text, doc or Doc(""), min_words, max_words, max_copy_words)
        if reason is None:
            fine[qid] = query
        else:
            counts[reason] += 1
    kept, duplicates = dedupe(fine)
    if duplicates:
        counts["duplicate"] += duplicates
    return kept, {r: counts[r] for r in REASONS if counts[r]}
