"""The query-rewrite and item-summary prompts, how their answers are read, and how a rewrite meets
the original query or a summary the item.

Training (:mod:`aptrank.train.rl.rewrite_task`) and inference (the ``rewrite`` ranker stage,
:mod:`aptrank.rankers.rewrite`) both build prompts with :func:`rewrite_messages` and read answers
with :func:`parse_line`, so a policy is evaluated on exactly the prompt it was trained on.
Changing the wording changes :data:`REWRITE_PROMPT_VERSION`, which keys the rewrite cache.
The summary task (:mod:`aptrank.train.rl.summarize`) does the same with
:func:`summary_messages`, :func:`parse_summary` and :data:`SUMMARY_PROMPT_VERSION`.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Mapping, Sequence
from typing import Any

from aptrank.types import Doc

MODES = ("replace", "append")

REWRITE_SYSTEM = "You rewrite search queries for a keyword search engine."
REWRITE_USER = (
    "Rewrite the query below so that a keyword search engine finds the documents that answer it. "
    "Keep its meaning, add precise technical terms and synonyms, drop filler words. "
    "Answer with the rewritten query only, on one line.\n\nQuery: {query}"
)
#: A short hash of the wording: part of every cached rewrite's key.
REWRITE_PROMPT_VERSION = hashlib.sha256(f"{REWRITE_SYSTEM}\x00{REWRITE_USER}".encode()).hexdigest()[
    :12
]

# Labels a small model likes to put before its answer ("Rewritten query: ...").
_LABEL = re.compile(
    r"^\s*(?:(?:the\s+)?(?:rewritten|new|improved|better|revised)\s+(?:search\s+)?query|"
    r"search\s+query|query|rewrite|keywords|summary|answer)\s*[:\-]\s*",
    re.IGNORECASE,
)
_WRAPPERS = "\"'“”‘’ "


def rewrite_messages(query: str) -> list[dict[str, str]]:
    """The chat messages that ask the policy to rewrite ``query`` (training and inference).

    >>> [m["role"] for m in rewrite_messages("cats sleeping")]
    ['system', 'user']
    >>> rewrite_messages("cats sleeping")[1]["content"].endswith("Query: cats sleeping")
    True
    """
    return [
        {"role": "system", "content": REWRITE_SYSTEM},
        {"role": "user", "content": REWRITE_USER.format(query=" ".join(query.split()))},
    ]


def completion_text(completion: str | Sequence[Mapping[str, Any]]) -> str:
    """The text of a completion as TRL hands it to reward functions: a string for plain prompts,
    a list of messages (``[{"role": "assistant", "content": ...}]``) for chat prompts.

    >>> completion_text([{"role": "assistant", "content": "cat sleep"}])
    'cat sleep'
    >>> completion_text("dog bark")
    'dog bark'
    """
    if isinstance(completion, str):
        return completion
    parts = [
        m.get("content") or "" for m in completion if m.get("role", "assistant") == "assistant"
    ]
    return "".join(p if isinstance(p, str) else "" for p in parts)


def parse_line(text: str) -> str | None:
    """The one-line answer in ``text``, or None when there is none (a failed parse).

    Takes the first non-empty line, drops markdown emphasis and heading/quote marks, a leading
    label (``Rewritten query:``) and surrounding quotes, and collapses whitespace. Lenient on
    purpose: the retriever gets whatever usable line the policy wrote, and
    :func:`~aptrank.train.rl.rewards.format_reward` separately rewards answers that needed none
    of this. Fails on empty text and on a first line without a single letter or digit.

    >>> parse_line('Rewritten query: "cat sleep patterns"\\nExplanation: ...')
    'cat sleep patterns'
    >>> parse_line("  \\n ... ") is None
    True
    """
    for line in text.splitlines():
        line = line.replace("*", "").replace("`", "").strip().lstrip("#>").strip()
        line = _LABEL.sub("", line, count=1).strip(_WRAPPERS)
        line = " ".join(line.split())
        if line:
            return line if any(c.isalnum() for c in line) else None
    return None


def apply_rewrite(query: str, rewrite: str, mode: str) -> str:
    """The text sent to the retriever: the rewrite alone (``replace``) or the original query
    followed by the rewrite (``append``, so the original terms are never lost).

    >>> apply_rewrite("cats", "cat sleep", "append")
    'cats cat sleep'
    >>> apply_rewrite("cats", "cat sleep", "replace")
    'cat sleep'
    """
    if mode == "replace":
        return rewrite
    if mode == "append":
        return f"{query} {rewrite}"
    raise ValueError(f"unknown rewrite mode {mode!r}; choose one of {', '.join(MODES)}")


SUMMARY_SYSTEM = "You write short search summaries of documents for a keyword search engine."
SUMMARY_USER = (
    "Summarize the document below in one line of at most 25 words so that a keyword search "
    "engine finds it for the questions it answers. Use its precise technical terms, entities, "
    "methods and findings; no filler words. Answer with the summary only.\n\n"
    "Title: {title}\nText: {text}"
)
#: A short hash of the summary prompt's wording: part of every summary job's header.
SUMMARY_PROMPT_VERSION = hashlib.sha256(f"{SUMMARY_SYSTEM}\x00{SUMMARY_USER}".encode()).hexdigest()[
    :12
]


def summary_messages(title: str, text: str, max_text_words: int = 150) -> list[dict[str, str]]:
    """The chat messages that ask the policy to summarize one item (training and inference).

    The text is cut to its first ``max_text_words`` words: a 135M policy on a CPU cannot afford
    long prompts, and the opening of a scientific abstract carries most of its terms.

    >>> m = summary_messages("Cats", "cats purr and sleep all day", max_text_words=3)
    >>> m[1]["content"].endswith("Title: Cats\\nText: cats purr and")
    True
    """
    if max_text_words < 1:
        raise ValueError(f"max_text_words must be >= 1, got {max_text_words}")
    words = text.split()[:max_text_words]
    user = SUMMARY_USER.format(title=" ".join(title.split()), text=" ".join(words))
    return [{"role": "system", "content": SUMMARY_SYSTEM}, {"role": "user", "content": user}]


def parse_summary(text: str, max_words: int = 40) -> str | None:
    """The one-line summary in ``text`` (:func:`parse_line`), cut to ``max_words`` words; None
    when nothing usable was written (a failed parse). The cut keeps a runaway answer from
    flooding the item's indexed text; :func:`~aptrank.train.rl.rewards.format_reward` and the
    length penalty separately teach the policy to stay short.

    >>> parse_summary("Summary: cat sleep duration in domestic cats\\nMore text", max_words=4)
    'cat sleep duration in'
    >>> parse_summary("  ") is None
    True
    """
    if max_words < 1:
        raise ValueError(f"max_words must be >= 1, got {max_words}")
    line = parse_line(text)
    return None if line is None else " ".join(line.split()[:max_words])


def apply_summary(doc: Doc, summary: str, mode: str) -> Doc:
    """The item as indexed with its summary: title + summary (``replace``, ReLSum's setting) or
    title + text + summary (``append``, so no original term is lost). Meta is kept.

    >>> apply_summary(Doc("long text", title="T"), "short", "replace")
    Doc(text='short', title='T', meta={})
    >>> apply_summary(Doc("long text", title="T"), "short", "append").text
    'long text short'
    """
    if mode == "replace":
        return Doc(summary, title=doc.title, meta=doc.meta)
    if mode == "append":
        return Doc(f"{doc.text} {summary}", title=doc.title, meta=doc.meta)
    raise ValueError(f"unknown summary mode {mode!r}; choose one of {', '.join(MODES)}")
