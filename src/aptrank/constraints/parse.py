"""Split a query into its topical part and its constraints, by rules for the explicit forms.

Three kinds of constraint:

* ``exclusion``: the query asks to leave something out — ``excluding Y``, ``without (mentioning)
  Y``, ``but don't mention Y``, ``other than Y``, ``apart from Y``, ``except (for) Y``, ``outside
  of Y``, ``no mention of Y``, ``(Exclude Y)``... ``text`` is the excluded phrase as written
  (``any reference to The Road`` keeps its filler; :func:`key_terms` drops it);
* ``negation``: a negation outside an exclusion cue (``drugs that do not cause cancer``);
* ``direction``: a direction word with an opposite (``increase``/``decrease``, ``lower``,
  ``inhibit``...), ``opposite`` holds the antonym: the on-topic item stating the opposite
  violates it.

The topical part (:attr:`ParsedQuery.topic`) is the query with its exclusion clauses deleted
(:func:`delete_exclusion`); negations and direction words stay in it (nothing acts on them by
default, and a dense retriever reads them: dropping "no" from "LDL has no involvement in ..."
moved the relevant SciFact abstract from rank 1 to 3). Queries without a constraint pass
through unchanged. Anything the rules miss can be read by a small local LM
(:mod:`aptrank.constraints.lm`).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field, replace
from typing import Any

KINDS = ("exclusion", "negation", "direction")

_SUFFIX = r"(?:e|es|ed|ing|s|ring|red)?"
_VERB = (
    rf"(?:(?:mention|discuss|includ|cover|referenc|describ|consider|address){_SUFFIX}|"
    rf"(?:talk|refer|touch|focus|bring|go|dwell|delv|get){_SUFFIX}\s+(?:about|to|on|up|into))"
)
_EXCLUSION_CUES = (
    rf"(?:do\s+not|don['’]?t|never|please\s+do\s+not|avoid|avoiding)\s+{_VERB}",
    rf"(?:without|not)\s+{_VERB}",
    r"without(?:\s+any)?",
    r"exclud(?:e|es|ed|ing)|except(?:\s+for)?|other\s+than|apart\s+from|aside\s+from",
    r"outside\s+of|leav(?:e|ing)\s+out|omit(?:ting)?|ignor(?:e|ing)|setting\s+aside",
    r"but\s+not|rather\s+than|instead\s+of|with\s+no|no\s+(?:mention|discussion|reference)s?",
    r"avoid(?:s|ing)?|besides|(?<=but\s)(?:do\s+not|don['’]?t)",
)
_EXCLUSION = re.compile(
    r"(?P<lead>,?\s*\(?\s*(?:(?:and|but)\s+)?)(?P<cue>\b(?:"
    + "|".join(_EXCLUSION_CUES)
    + r")\b)(?P<obj>[^()?!;.]*?(?:\.(?!\s|$)[^()?!;.]*?)*?)"
    r"(?P<end>(?=\s*[()?!;]|\.(?:\s|$)|$|,[\"”’]?\s*(?:and\s+|but\s+)?(?:how|what|why|which|when|where|who|"
    r"while|especially|particularly|focusing|as\s+well|in\s+terms|compar|do\s|does\s|is\s|are\s)))",
    re.IGNORECASE,
)
_FILLER = re.compile(  # articles only in lower case: "The Road to Serfdom" is a title
    r"^(?:(?:the|a|an|(?i:of|to|about|on|regarding|any|all|its|his|her|their|them|it|specific|"
    r"detailed|explicit|direct|further|mention(?:s|ing)?|reference(?:s)?|discussion(?:s)?|"
    r"detail(?:s)?|description(?:s)?|information|aspect(?:s)?|focus))\b\s*)+"
)
_NEGATION = re.compile(r"\b(?:not|no|never|none|nor|neither|cannot)\b|n['’]t\b", re.I)
_DIRECTION_PAIRS = [
    ("increase", "decrease"), ("increases", "decreases"), ("increased", "decreased"),
    ("increasing", "decreasing"), ("higher", "lower"), ("raise", "lower"), ("raises", "lowers"),
    ("enhance", "reduce"), ("enhances", "reduces"), ("enhanced", "reduced"),
    ("promote", "suppress"), ("promotes", "suppresses"), ("promoted", "suppressed"),
    ("activate", "inhibit"), ("activates", "inhibits"), ("activated", "inhibited"),
    ("activation", "inhibition"), ("improve", "worsen"), ("improves", "worsens"),
    ("improved", "worsened"), ("upregulates", "downregulates"), ("upregulated", "downregulated"),
    ("upregulation", "downregulation"), ("beneficial", "harmful"), ("positively", "negatively"),
    ("gain", "loss"), ("rise", "fall"), ("agonist", "antagonist"), ("stimulates", "inhibits"),
]  # fmt: skip
#: a direction word → its opposite (both ways)
DIRECTIONS: dict[str, str] = {
    **{b: a for a, b in _DIRECTION_PAIRS},
    **dict(_DIRECTION_PAIRS),
}
_DIRECTION = re.compile(
    r"\b(" + "|".join(sorted(map(re.escape, DIRECTIONS), key=len, reverse=True)) + r")\b", re.I
)
#: words never taken as key terms of an excluded phrase
STOPWORDS = frozenset(
    "a an the of to in on at for and or but with by from as is are was were be been its his her "
    "their them it this that these those any all some such about regarding into over than".split()
)


@dataclass(frozen=True)
class Constraint:
    """One constraint of a query: ``kind`` (exclusion, negation, direction), ``text`` (the
    excluded phrase, the negated clause or the direction word), ``cue`` (the words that mark it),
    ``opposite`` (direction: the antonym), ``source`` (``rule`` or ``lm``)."""

    kind: str
    text: str
    cue: str
    opposite: str | None = None
    source: str = "rule"

    def to_dict(self) -> dict[str, Any]:
        return {k: v for k, v in self.__dict__.items() if v is not None}

    def statement(self) -> str:
        """The constraint as the compatibility scorer reads it (``exclude: Y``, ...)."""
        if self.kind == "exclusion":
            return f"exclude: {excluded_object(self.text)}"
        if self.kind == "direction":
            return f"direction: {self.text}, not {self.opposite}"
        return f"negation: {self.text}"


@dataclass(frozen=True)
class ParsedQuery:
    """A query split into its topical part and its constraints (none: ``topic == query``)."""

    query: str
    topic: str
    constraints: tuple[Constraint, ...] = field(default=())

    @property
    def exclusions(self) -> tuple[Constraint, ...]:
        return tuple(c for c in self.constraints if c.kind == "exclusion")

    @property
    def explicit(self) -> bool:
        """Whether the rules found an exclusion or negation (what ``aptrank run`` counts)."""
        return any(c.source == "rule" and c.kind != "direction" for c in self.constraints)

    def kinds(self) -> tuple[str, ...]:
        return tuple(k for k in KINDS if any(c.kind == k for c in self.constraints))

    def to_dict(self) -> dict[str, Any]:
        return {
            "query": self.query,
            "topic": self.topic,
            "constraints": [c.to_dict() for c in self.constraints],
        }


#: cues that also describe things ("mice without IFN-γ are resistant"): an exclusion only when
#: their object is short
_WEAK_CUE = re.compile(
    r"^(?:without(?:\s+any)?|with\s+no|rather\s+than|instead\s+of|besides|but\s+not)$", re.I
)
_WEAK_MAX_WORDS = 5


@dataclass(frozen=True)
class _Clause:
    """One exclusion clause of a query: the span to delete, the excluded phrase, its cue."""

    start: int
    end: int
    obj: str
    cue: str


def _exclusion_clauses(query: str) -> list[_Clause]:
    """The exclusion clauses of ``query``, left to right. A parenthetical one runs to its
    closing bracket, whatever periods it holds ("(excluding Symphony No. 9)", "(excluding
    Mrs. Dalloway)"): the pattern alone stops its object at a period followed by a space."""
    out: list[_Clause] = []
    for m in _EXCLUSION.finditer(query):
        if out and m.start() < out[-1].end:
            continue  # inside the bracket of the clause before
        obj, start, end = m.group("obj"), m.start(), m.end()
        lead = m.group("lead")
        if "(" in lead:  # a parenthetical: drop it with its closing bracket
            start = m.start() + lead.index("(")
            close = query.find(")", end)
            if close != -1 and "(" not in query[end:close]:
                obj, end = obj + query[end:close], close + 1
        if not excluded_object(obj):
            continue
        cue = m.group("cue")
        if _WEAK_CUE.match(cue.strip()) and len(excluded_object(obj).split()) > _WEAK_MAX_WORDS:
            continue
        out.append(_Clause(start, end, obj.strip(), cue))
    return out


def delete_exclusion(query: str) -> str:
    """The query with every exclusion clause deleted (the topical part for a retriever); a
    query without one comes back unchanged.

    >>> delete_exclusion("Aaron's profile, but don't mention Moses.")
    "Aaron's profile."
    >>> delete_exclusion("How do socialism (excluding The Road to Serfdom) and anarchism differ?")
    'How do socialism and anarchism differ?'
    >>> delete_exclusion("How does Brahms (excluding his Symphony No. 1) compare to Bruckner?")
    'How does Brahms compare to Bruckner?'
    >>> delete_exclusion("Statins lower cholesterol")
    'Statins lower cholesterol'
    """
    clauses = _exclusion_clauses(query)
    if not clauses:
        return query
    out, last = [], 0
    for c in clauses:
        out.append(query[last : c.start])
        last = c.end
    out.append(query[last:])
    return _tidy("".join(out))


def _tidy(text: str) -> str:
    text = re.sub(r"\s+", " ", text)
    text = re.sub(r"\s+([,.?!;)])", r"\1", text)
    text = re.sub(r"\(\s*\)", "", text)
    text = re.sub(r",[\"”’]", ",", text)
    text = re.sub(r",\s*([.?!;])", r"\1", text)
    text = re.sub(r"([.?!])\s*\1+", r"\1", text)
    return re.sub(r"\s+", " ", text).strip(" ,")


def excluded_object(text: str) -> str:
    """The excluded phrase without its leading filler (``any reference to``, ``its``...).

    >>> excluded_object(" any reference to The Adventures of Huckleberry Finn")
    'The Adventures of Huckleberry Finn'
    """
    text = text.strip().strip("'\"‘’“”").strip()
    stripped = _FILLER.sub("", text).strip().strip("'\"‘’“”").strip()
    return stripped or ""


def key_terms(constraint: Constraint, topic: str = "") -> list[str]:
    """The content words of an excluded phrase that the topic does not already hold (lowercase,
    in order): what a document must mention to violate it.

    >>> key_terms(Constraint("exclusion", "Frankenstein's monster", "without"), "Frankenstein")
    ['monster']
    """
    topic_words = set(words(topic))
    out = []
    for w in words(excluded_object(constraint.text)):
        if w not in STOPWORDS and w not in topic_words and w not in out:
            out.append(w)
    return out


def words(text: str) -> list[str]:
    """Lowercased words, possessive ``'s`` dropped.

    >>> words("Moses's brother, Aaron")
    ['moses', 'brother', 'aaron']
    """
    return [m.group(0) for m in re.finditer(r"[a-z0-9]+", re.sub(r"['’]s\b", "", text.lower()))]


def parse_query(query: str) -> ParsedQuery:
    """Exclusions, negations and directions found by rules (see the module docstring).

    >>> p = parse_query("Provide an introduction to Aalborg Municipality without Denmark.")
    >>> p.topic, [(c.kind, c.text) for c in p.constraints]
    ('Provide an introduction to Aalborg Municipality.', [('exclusion', 'Denmark')])
    """
    constraints: list[Constraint] = []
    clauses = _exclusion_clauses(query)
    for c in clauses:
        constraints.append(Constraint("exclusion", c.obj, c.cue))
    topic = delete_exclusion(query) if clauses else query
    for m in _NEGATION.finditer(topic):
        if m.group(0).isupper() and len(m.group(0)) > 1:
            continue  # an acronym ("mediated by NO"), not a negation
        clause = re.split(r"[,;.?!]", topic[m.end() :], maxsplit=1)[0].strip()
        if clause:
            constraints.append(Constraint("negation", clause, m.group(0)))
        break  # one negation per query: the first one decides what is negated
    for m in _DIRECTION.finditer(topic):
        word = m.group(1).lower()
        constraints.append(Constraint("direction", word, word, opposite=DIRECTIONS[word]))
        break
    return ParsedQuery(query, topic or query, tuple(constraints))


def with_source(parsed: ParsedQuery, source: str) -> ParsedQuery:
    return replace(parsed, constraints=tuple(replace(c, source=source) for c in parsed.constraints))
