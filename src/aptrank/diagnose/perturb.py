"""Rule-based query perturbations: role flips that change what a query asks for, and controls
that keep its meaning.

Flips (``kind="flip"``), each applied once per query, at the first place it matches:

* ``negation_remove``: drop a negation (``don't mention`` → ``do mention``, ``is not`` → ``is``,
  ``cannot`` → ``can``, ``no X`` → ``X``, a bare ``not``);
* ``negation_add`` (queries without a negation; questions are left alone, since inserting a
  ``not`` in a question needs a parser): ``Do not`` before an imperative from a short verb list
  (``Describe X`` → ``Do not describe X``), else ``not`` after the first auxiliary that is not
  the first word (``X is Y`` → ``X is not Y``), else the prefix ``It is not true that``;
* ``antonym_swap``: the first word found in a table of opposites and directions
  (increase/decrease, higher/lower, include/exclude, with/without, activate/inhibit, ...).

Controls (``kind="control"``):

* ``case``: the query lowercased (uppercased if it already is lowercase);
* ``synonym``: the first word found in a small table of meaning-preserving substitutes;
* ``reorder``: a trailing prepositional adjunct moved to the front (``effect of X in mice`` →
  ``In mice, effect of X``), or a leading one moved to the end.

The rules are simple on purpose; :func:`rule_counts` reports how often each fired.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

#: Detects a negation (also used by the strata's constraint types).
NEGATION = re.compile(r"\b(?:not|no|never|none|nor|neither|cannot)\b|n['’]t\b", re.IGNORECASE)

_CONTRACTIONS = {
    "don't": "do", "doesn't": "does", "didn't": "did", "isn't": "is", "aren't": "are",
    "wasn't": "was", "weren't": "were", "can't": "can", "couldn't": "could", "won't": "will",
    "shouldn't": "should", "wouldn't": "would", "mustn't": "must", "haven't": "have",
    "hasn't": "has", "hadn't": "had", "cannot": "can",
}  # fmt: skip
_AUX = "is|are|was|were|do|does|did|can|could|should|would|will|may|might|must|has|have|had"
_CONTRACTED = re.compile(
    r"\b(" + "|".join(re.escape(c).replace("'", "['’]") for c in _CONTRACTIONS) + r")",
    re.IGNORECASE,
)
_AUX_NOT = re.compile(rf"\b({_AUX})\s+not\b", re.IGNORECASE)
_BARE = re.compile(r"\b(?:not|no|never)\s+(?=\w)", re.IGNORECASE)
_IMPERATIVES = frozenset(
    "provide describe explain examine list give find discuss summarize summarise write tell "
    "show compare analyze analyse identify outline search explore define detail recommend "
    "suggest name introduce present review evaluate assess investigate".split()
)
_AUX_WORD = re.compile(rf"\b({_AUX})\b", re.IGNORECASE)

_OPPOSITES = [
    ("increase", "decrease"), ("increases", "decreases"), ("increased", "decreased"),
    ("increasing", "decreasing"), ("higher", "lower"), ("high", "low"), ("more", "less"),
    ("most", "least"), ("greater", "lesser"), ("larger", "smaller"), ("large", "small"),
    ("up", "down"), ("include", "exclude"), ("includes", "excludes"),
    ("including", "excluding"), ("included", "excluded"), ("inclusion", "exclusion"),
    ("with", "without"), ("positive", "negative"), ("positively", "negatively"),
    ("activate", "inhibit"), ("activates", "inhibits"), ("activated", "inhibited"),
    ("activating", "inhibiting"), ("activation", "inhibition"), ("promote", "suppress"),
    ("promotes", "suppresses"), ("promoted", "suppressed"), ("promoting", "suppressing"),
    ("enhance", "reduce"), ("enhances", "reduces"), ("enhanced", "reduced"),
    ("before", "after"), ("above", "below"), ("maximum", "minimum"), ("best", "worst"),
    ("better", "worse"), ("gain", "loss"), ("rise", "fall"), ("agonist", "antagonist"),
    ("beneficial", "harmful"), ("benefit", "harm"), ("early", "late"), ("earlier", "later"),
    ("longer", "shorter"), ("long", "short"), ("faster", "slower"), ("many", "few"),
    ("always", "never"), ("true", "false"), ("accept", "reject"), ("presence", "absence"),
    ("present", "absent"), ("success", "failure"), ("stronger", "weaker"), ("strong", "weak"),
    ("improve", "worsen"), ("improves", "worsens"), ("improved", "worsened"),
    ("upregulates", "downregulates"), ("upregulated", "downregulated"),
    ("upregulation", "downregulation"), ("agree", "disagree"), ("support", "oppose"),
]  # fmt: skip
ANTONYMS: dict[str, str] = {**dict(_OPPOSITES), **{b: a for a, b in _OPPOSITES}}

SYNONYMS: dict[str, str] = {
    "mention": "refer to", "describe": "explain", "explain": "describe", "provide": "give",
    "discuss": "talk about", "examine": "analyze", "analyze": "examine", "overview": "summary",
    "effect": "impact", "effects": "impacts", "impact": "effect", "role": "function",
    "associated": "linked", "association": "link", "affect": "influence",
    "affects": "influences", "influence": "affect", "study": "research", "method": "approach",
    "methods": "approaches", "people": "individuals", "children": "kids", "disease": "illness",
    "treatment": "therapy", "therapy": "treatment", "drug": "medication", "drugs": "medications",
    "information": "details", "problem": "issue", "problems": "issues", "about": "regarding",
    "explore": "investigate", "investigate": "explore", "major": "main", "main": "primary",
    "profile": "biography", "important": "key", "cause": "lead to", "causes": "leads to",
    "show": "demonstrate", "shows": "demonstrates", "risk": "likelihood",
}  # fmt: skip

_PREPS = "in|among|during|within|across"
_TRAILING = re.compile(rf"^(?P<head>.+)\s+(?P<tail>(?:{_PREPS})\s+[^,;:]+?)(?P<end>[.!?]*)$")
_LEADING = re.compile(rf"^(?P<lead>(?:{_PREPS})\s+[^,;:]{{1,60}}),\s+(?P<rest>.+)$", re.I)


@dataclass(frozen=True)
class Perturbation:
    """One perturbed query: ``kind`` is ``flip`` or ``control``; ``detail`` says what changed."""

    kind: str
    rule: str
    text: str
    detail: str


def perturbations(text: str) -> list[Perturbation]:
    """Every rule that fires on ``text``, flips first.

    >>> [p.text for p in perturbations("Statins increase risk") if p.kind == "flip"]
    ['It is not true that statins increase risk', 'Statins decrease risk']
    """
    out = []
    for rule in (negation_remove, negation_add, antonym_swap, case_control, synonym, reorder):
        p = rule(text)
        if p is not None and p.text.strip() and p.text != text:
            out.append(p)
    return out


def negation_remove(text: str) -> Perturbation | None:
    """Drop the first negation. ``"Aaron, but don't mention Moses."`` → ``"Aaron, but do mention
    Moses."``"""
    found = [
        (m, _match_case(m.group(1), _CONTRACTIONS[m.group(1).lower().replace("’", "'")]))
        for m in [_CONTRACTED.search(text)]
        if m
    ]
    found += [(m, m.group(1)) for m in [_AUX_NOT.search(text)] if m]
    found += [(m, "") for m in [_BARE.search(text)] if m]
    if not found:
        return None
    match, repl = min(found, key=lambda f: f[0].start())
    new = text[: match.start()] + repl + text[match.end() :]
    if not repl:
        new = _capitalize_like(text, new.strip()) if match.start() == 0 else new
    return Perturbation("flip", "negation_remove", new, f"{match.group(0)!r} → {repl!r}")


def negation_add(text: str) -> Perturbation | None:
    """Negate a statement that has no negation (questions are left alone)."""
    if NEGATION.search(text) or text.rstrip().endswith("?"):
        return None
    first, _, rest = text.partition(" ")
    if first.lower() in _IMPERATIVES:
        new = f"Do not {first.lower()} {rest}".rstrip()
        return Perturbation("flip", "negation_add", new, "prefix 'Do not' (imperative)")
    for m in _AUX_WORD.finditer(text):
        if m.start() > 0:
            new = text[: m.end()] + " not" + text[m.end() :]
            return Perturbation("flip", "negation_add", new, f"not after {m.group(1)!r}")
    lowered = first.lower() if first[1:].islower() or len(first) == 1 else first
    new = f"It is not true that {lowered} {rest}".rstrip()
    return Perturbation("flip", "negation_add", new, "prefix 'It is not true that'")


def antonym_swap(text: str) -> Perturbation | None:
    """Swap the first word that has an opposite in :data:`ANTONYMS`."""
    return _swap_first(text, ANTONYMS, "flip", "antonym_swap")


def synonym(text: str) -> Perturbation | None:
    """Replace the first word that has a substitute in :data:`SYNONYMS`."""
    return _swap_first(text, SYNONYMS, "control", "synonym")


def case_control(text: str) -> Perturbation | None:
    new = text.lower() if text.lower() != text else text.upper()
    return Perturbation("control", "case", new, "lower" if new == text.lower() else "upper")


def reorder(text: str) -> Perturbation | None:
    """Move a short trailing prepositional adjunct to the front (or a leading one to the end)."""
    m = _LEADING.match(text.strip())
    if m:
        rest = m.group("rest")
        end = re.search(r"[.!?]+$", rest)
        body = rest[: end.start()] if end else rest
        tail = f"{_lower_first(m.group('lead'))}{end.group(0) if end else ''}"
        new = f"{_capitalize_like(text, body)} {tail}"
        return Perturbation("control", "reorder", new, f"moved {m.group('lead')!r} to the end")
    m = _TRAILING.match(text.strip())
    if m is None or len(m.group("tail").split()) > 7 or len(m.group("head").split()) < 2:
        return None
    head, tail = m.group("head").rstrip(","), m.group("tail")
    new = f"{tail[0].upper()}{tail[1:]}, {_lower_first(head)}{m.group('end')}"
    return Perturbation("control", "reorder", new, f"moved {tail!r} to the front")


def rule_counts(perturbed: Mapping[str, Iterable[Perturbation]]) -> dict[str, int]:
    """How many queries each rule fired on, flips then controls."""
    counts: Counter[tuple[str, str]] = Counter()
    for ps in perturbed.values():
        counts.update({(p.kind, p.rule) for p in ps})
    order = sorted(counts, key=lambda kr: (kr[0] != "flip", kr[1]))
    return {rule: counts[(kind, rule)] for kind, rule in order}


def _word_pattern(words: Iterable[str]) -> re.Pattern[str]:
    alternatives = "|".join(sorted(map(re.escape, words), key=len, reverse=True))
    return re.compile(rf"\b({alternatives})\b", re.IGNORECASE)


_PATTERNS = {"antonym_swap": _word_pattern(ANTONYMS), "synonym": _word_pattern(SYNONYMS)}


def _swap_first(text: str, table: Mapping[str, str], kind: str, rule: str) -> Perturbation | None:
    m = _PATTERNS[rule].search(text)
    if m is None:
        return None
    word = m.group(1)
    repl = _match_case(word, table[word.lower()])
    new = text[: m.start()] + repl + text[m.end() :]
    return Perturbation(kind, rule, new, f"{word.lower()} → {table[word.lower()]}")


def _match_case(original: str, replacement: str) -> str:
    if original.isupper() and len(original) > 1:
        return replacement.upper()
    if original[:1].isupper():
        return replacement[:1].upper() + replacement[1:]
    return replacement


def _lower_first(text: str) -> str:
    first, _, rest = text.partition(" ")
    if first[:1].isupper() and (first[1:].islower() or len(first) == 1):
        first = first.lower()
    return f"{first} {rest}".rstrip() if rest else first


def _capitalize_like(original: str, new: str) -> str:
    if original[:1].isupper() and new:
        return new[0].upper() + new[1:]
    return new
