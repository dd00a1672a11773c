"""The query-rewrite prompt, how its answer is read, and how a rewrite meets the original query.

Training (:mod:`aptrank.train.rl.rewrite_task`) and inference (the ``rewrite`` ranker stage,
:mod:`aptrank.train.rl.rewrite`) both build prompts with :func:`rewrite_messages` and read answers
with :func:`parse_line`, so a policy is evaluated on exactly the prompt it was trained on.
Changing the wording changes :data:`REWRITE_PROMPT_VERSION`, which keys the rewrite cache.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Mapping, Sequence
from typing import Any

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
