"""Pointwise relevance prompts and the helpers that turn a judge's answer into a label.

A :class:`Prompt` asks one question about one (query, document) pair and names the answer tokens
it expects: ``yes``/``no`` (label = P(yes) / (P(yes) + P(no))) or a grade ``0``..``3`` (label =
the expected grade under the answer distribution). Both the local LLM judge and the
OpenAI-compatible client use these templates, so a label means the same thing from either.
Bump a prompt's ``version`` whenever its wording changes: the version is part of the teacher id
under which labels are stored, so labels of an old wording are never mixed with new ones.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from dataclasses import dataclass


@dataclass(frozen=True)
class Prompt:
    """A pointwise judging prompt: system + user messages and the answer tokens with grades."""

    name: str
    version: str
    system: str
    user: str  #: with ``{query}`` and ``{document}`` placeholders
    grades: Mapping[str, float]  #: answer token (lower case) -> grade

    @property
    def id(self) -> str:
        return f"{self.name}-{self.version}"

    @property
    def max_grade(self) -> float:
        return max(self.grades.values())

    def messages(self, query: str, document: str) -> list[dict[str, str]]:
        """Chat messages for a chat template or a ``/v1/chat/completions`` request."""
        return [
            {"role": "system", "content": self.system},
            {"role": "user", "content": self.user.format(query=query, document=document)},
        ]

    def text(self, query: str, document: str) -> str:
        """One plain-text prompt (for models without a chat template and ``/v1/completions``)."""
        return f"{self.system}\n\n{self.user.format(query=query, document=document)}\nAnswer:"


YES_NO = Prompt(
    name="yesno",
    version="v1",
    system="You judge whether a document is relevant to a search query. Answer yes or no.",
    user=(
        "Query: {query}\n\nDocument: {document}\n\n"
        "Is the document relevant to the query? Answer with one word, yes or no."
    ),
    grades={"no": 0.0, "yes": 1.0},
)

GRADED = Prompt(
    name="graded",
    version="v1",
    system=(
        "You judge how relevant a document is to a search query on a scale from 0 to 3: "
        "0 = irrelevant, 1 = on topic but does not answer it, 2 = partly answers it, "
        "3 = fully answers it. Answer with one digit."
    ),
    user="Query: {query}\n\nDocument: {document}\n\nRelevance (0, 1, 2 or 3):",
    grades={"0": 0.0, "1": 1.0, "2": 2.0, "3": 3.0},
)

PROMPTS: dict[str, Prompt] = {p.name: p for p in (YES_NO, GRADED)}

_MARKERS = "\u2581\u0120 \t\n"  # SentencePiece '▁' and byte-level BPE 'Ġ' word markers, spaces


def get_prompt(name: str) -> Prompt:
    """The prompt called ``name`` (``yesno`` or ``graded``)."""
    try:
        return PROMPTS[name]
    except KeyError:
        from aptrank.errors import AptrankError

        raise AptrankError(
            f"unknown prompt {name!r}; choose one of {', '.join(sorted(PROMPTS))}"
        ) from None


def normalize_token(token: str) -> str:
    """An answer token as the prompts name it: word markers and spaces stripped, lower case.

    >>> [normalize_token(t) for t in [" Yes", "\u2581no", "\u0120YES", "2\\n"]]
    ['yes', 'no', 'yes', '2']
    """
    return token.strip(_MARKERS).lower()


def label_probs(
    token_logprobs: Mapping[str, float], grades: Mapping[str, float]
) -> dict[str, float]:
    """Probability mass per answer label from ``{token: logprob}`` (e.g. an API's top logprobs).

    Variants of one label (``"yes"``, ``" Yes"``) are summed; tokens that are no label are
    ignored; labels that do not appear get 0.

    >>> top = {" yes": math.log(0.5), "Yes": math.log(0.1), " so": -1.0}
    >>> probs = label_probs(top, YES_NO.grades)
    >>> {k: round(v, 6) for k, v in probs.items()}
    {'no': 0.0, 'yes': 0.6}
    """
    out = dict.fromkeys(grades, 0.0)
    for token, logprob in token_logprobs.items():
        key = normalize_token(token)
        if key in out and logprob is not None and math.isfinite(logprob):
            out[key] += math.exp(logprob)
    return out


def expected_grade(probs: Mapping[str, float], grades: Mapping[str, float]) -> float:
    """The expected grade under ``probs`` renormalised over the answer labels; NaN if none.

    With yes/no this is P(yes) / (P(yes) + P(no)); with 0..3 it is sum(p_g * g) / sum(p_g).

    >>> round(expected_grade({"yes": 0.6, "no": 0.2}, YES_NO.grades), 6)
    0.75
    >>> round(expected_grade({"0": 0.1, "1": 0.1, "2": 0.2, "3": 0.6}, GRADED.grades), 6)
    2.3
    >>> expected_grade({"yes": 0.3}, YES_NO.grades)  # 'no' missing: counts as 0
    1.0
    >>> expected_grade({"maybe": 0.9}, YES_NO.grades)
    nan
    """
    mass = sum(max(float(probs.get(k, 0.0)), 0.0) for k in grades)
    if mass <= 0.0:
        return math.nan
    return sum(max(float(probs.get(k, 0.0)), 0.0) * g for k, g in grades.items()) / mass


def parse_label(text: str, grades: Mapping[str, float]) -> float:
    """The grade of the first answer label in a generated ``text``; NaN when there is none.

    >>> parse_label(" Yes, it is relevant.", YES_NO.grades)
    1.0
    >>> parse_label("Relevance: 2", GRADED.grades)
    2.0
    >>> parse_label("I cannot tell.", YES_NO.grades)
    nan
    """
    for word in re.findall(r"[a-z0-9]+", text.lower()):
        if word in grades:
            return float(grades[word])
    return math.nan
