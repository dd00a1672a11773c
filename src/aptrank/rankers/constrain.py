"""``constrain(PIPELINE)[...]``: rank by the query's topic, then demote what violates its
constraints.

Each query is split by the constraint parser (:mod:`aptrank.constraints.parse`) into its topical
part and its exclusions. PIPELINE ranks (or reranks) with the topical part; the top ``depth``
documents are checked against the exclusions and a violator loses ``penalty × strength`` of the
candidates' score range (``penalty=1``: a full violation falls below every non-violator); the rest
of PIPELINE's list follows unchanged. Queries without a constraint keep PIPELINE's ranking of the
original query.

=================  ==============================================================================
option             meaning
=================  ==============================================================================
``model=<folder>``  a compatibility scorer trained by ``aptrank constraints train`` (without it:
                    the rule check of :mod:`aptrank.constraints.check` alone)
``rules``           with a model or a semantic check, also take the rule check (with a model:
                    strength = the larger of the two); default true. Without either, the rule
                    check is always used
``threshold``       strengths below it count as no violation (default 0.5)
``penalty``         demotion per unit of strength, in score ranges (default 1.0)
``depth``           documents per query checked (default 30)
``semantic``        a bi-encoder (e.g. ``all-MiniLM-L6-v2``): also subtract ``semantic_weight``
                    × the largest cosine between an excluded phrase and a sentence of the
                    document, in score ranges (:mod:`aptrank.constraints.semantic`): catches
                    violators that discuss the excluded aspect in other words
``semantic_weight`` default 0.25 (see :class:`ConstrainConfig` for where it was chosen)
``lm``              a local LM for queries the rules find no constraint in (e.g. ``smollm2``)
``max_length``,     the scorer's tokens per pair and batch size (defaults 256, 32)
``batch_size``
=================  ==============================================================================
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import asdict, dataclass, fields
from typing import Any

from aptrank.constraints.parse import ParsedQuery, parse_query
from aptrank.data.runs import cut, ranked
from aptrank.errors import AptrankError
from aptrank.rankers.base import Ranker
from aptrank.rankers.pipeline import append_tail
from aptrank.types import Corpus, Run

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class ConstrainConfig:
    model: str | None = None  #: a compatibility-scorer folder (``aptrank constraints train``)
    rules: bool = True  #: with a model or semantic check, also use the rule check
    threshold: float = 0.5  #: strengths below count as no violation
    penalty: float = 1.0  #: demotion per unit of strength, in candidate score ranges
    depth: int = 30  #: documents per query checked
    #: a bi-encoder whose phrase-to-sentence cosine is subtracted (module docstring)
    semantic: str | None = None
    #: the cosine's weight, in candidate score ranges: the best weight of the semantic check alone
    #: on exclusion queries generated from SciFact (benchmarks/results/constraints.json,
    #: semantic.semantic_alone: NDCG@10 0.6014 against 0.5989 without it; with the rule check no
    #: weight beat 0 by more than 1e-4 there, as its violators all use the excluded word)
    semantic_weight: float = 0.25
    lm: str | None = None  #: a local LM for queries without a rule-found constraint
    max_length: int = 256
    batch_size: int = 32

    def __post_init__(self) -> None:
        if not 0.0 <= self.threshold <= 1.0:
            raise AptrankError(f"constrain: threshold must be in [0, 1], got {self.threshold}")
        if (
            self.penalty < 0
            or self.semantic_weight < 0
            or self.depth < 1
            or self.max_length < 8
            or self.batch_size < 1
        ):
            raise AptrankError(
                "constrain: penalty and semantic_weight must be >= 0, depth and batch_size >= 1, "
                "max_length >= 8"
            )

    def options(self) -> str:
        """The non-default options as written in a pipeline string."""
        default = ConstrainConfig()
        changed = [
            f"{f.name}={getattr(self, f.name)}"
            for f in fields(self)
            if getattr(self, f.name) != getattr(default, f.name)
        ]
        return f"[{','.join(changed)}]" if changed else ""


class ConstrainRanker(Ranker):
    """See the module docstring."""

    def __init__(self, inner: Ranker, config: ConstrainConfig | None = None) -> None:
        super().__init__()
        self.inner = inner
        self.cfg = config or ConstrainConfig()
        self.name = f"constrain({inner.name}){self.cfg.options()}"
        self._checker: Any = None
        self._scorer: Any = None
        self._semantic: Any = None
        self._parsed: dict[str, ParsedQuery] = {}

    @property
    def first(self) -> Ranker:  # walk() descends through here
        return self.inner

    @property
    def retrieves(self) -> bool:
        return self.inner.retrieves

    @property
    def kind(self) -> str:
        return f"constrain({self.inner.kind})"

    def config(self) -> dict[str, object]:
        return {"name": self.name, **asdict(self.cfg), "inner": self.inner.config()}

    def index(self, corpus: Corpus) -> ConstrainRanker:
        from aptrank.constraints.check import RuleChecker

        super().index(corpus)
        self.inner.index(corpus)
        self._checker = RuleChecker.from_texts(doc.full_text for doc in corpus.values())
        return self

    @property
    def scorer(self) -> Any:
        if self._scorer is None and self.cfg.model:
            from aptrank.constraints.scorer import load_scorer

            self._scorer = load_scorer(self.cfg.model, self.cfg.max_length)
        return self._scorer

    @property
    def semantic(self) -> Any:
        if self._semantic is None and self.cfg.semantic:
            from aptrank.constraints.semantic import SemanticChecker

            self._semantic = SemanticChecker(self.cfg.semantic)
        return self._semantic

    def semantic_strengths(
        self, parsed: Mapping[str, ParsedQuery], run: Run
    ) -> dict[str, dict[str, float]]:
        """``{query: {doc: cosine in [0, 1]}}`` of the semantic check (all 0 without one)."""
        out, keys, items = self._to_check(parsed, run)
        if keys and self.semantic is not None:
            for (q, d), v in zip(keys, self.semantic.violations(items)):
                out[q][d] = v
        return out

    def _to_check(
        self, parsed: Mapping[str, ParsedQuery], run: Run
    ) -> tuple[dict[str, dict[str, float]], list[tuple[str, str]], list[tuple[ParsedQuery, str]]]:
        """All-zero strengths for ``run``, and the (query, doc) keys and (parse, text) items of
        the queries that carry an exclusion: what every check fills in."""
        out = {q: {d: 0.0 for d in docs} for q, docs in run.items()}
        keys = [(q, d) for q, docs in run.items() if parsed[q].exclusions for d in docs]
        return out, keys, [(parsed[q], self.corpus[d].full_text) for q, d in keys]

    def parse(self, queries: Mapping[str, str]) -> dict[str, ParsedQuery]:
        """Each query's parse (the LM asked, when configured, where the rules find none)."""
        if self.cfg.lm:
            from aptrank.constraints.lm import LMParser

            return LMParser(self.cfg.lm).parse(queries)
        return {q: parse_query(t) for q, t in queries.items()}

    def rank(self, queries: Mapping[str, str], k: int = 100) -> Run:
        parsed = self.parse(queries)
        first = self.inner.rank({q: p.topic for q, p in parsed.items()}, max(k, self.cfg.depth))
        head = self.demote(parsed, cut(first, self.cfg.depth))
        return cut(append_tail(head, first), k)

    def rerank(
        self, queries: Mapping[str, str], candidates: Mapping[str, Mapping[str, float]]
    ) -> Run:
        parsed = self.parse({q: queries[q] for q in candidates})
        topical = self.inner.rerank({q: p.topic for q, p in parsed.items()}, candidates)
        return self.demote(parsed, topical)

    def violations(
        self, parsed: Mapping[str, ParsedQuery], run: Run
    ) -> dict[str, dict[str, float]]:
        """``{query: {doc: strength in [0, 1]}}`` for the documents of ``run``."""
        out, keys, items = self._to_check(parsed, run)
        if not keys:
            return out
        if self.cfg.rules or (self.scorer is None and not self.cfg.semantic):
            for (q, d), (p, text) in zip(keys, items):
                out[q][d] = self._checker.violation(p, text)
        if self.scorer is not None:
            for (q, d), v in zip(keys, self.scorer.violations(items, self.cfg.batch_size)):
                out[q][d] = max(out[q][d], float(v))
        return out

    def demote(self, parsed: Mapping[str, ParsedQuery], run: Run) -> Run:
        """``run`` with each violator's score lowered by ``penalty × strength × range`` (and every
        document's by ``semantic_weight × cosine × range`` with a semantic check)."""
        return demoted(
            run, self.violations(parsed, run), self.semantic_strengths(parsed, run), self.cfg
        )


def demoted(
    run: Run,
    strengths: Mapping[str, Mapping[str, float]],
    closeness: Mapping[str, Mapping[str, float]],
    cfg: ConstrainConfig,
) -> Run:
    """:meth:`ConstrainRanker.demote` given the checks' values (the rule or scorer's violation
    strengths, the semantic check's cosines): lets a benchmark try weights without re-running
    the checks.

    >>> cfg = ConstrainConfig(semantic_weight=0.5)
    >>> out = demoted({"q": {"a": 3.0, "b": 2.0, "c": 1.0}}, {"q": {"a": 1.0, "b": 0, "c": 0}},
    ...               {"q": {"a": 0, "b": 0.9, "c": 0}}, cfg)["q"]  # a: violator; b: close to it
    >>> {d: round(s, 3) for d, s in out.items()}
    {'b': 1.1, 'c': 1.0, 'a': 1.0}
    """
    out: Run = {}
    for q, scores in run.items():
        values = list(scores.values())
        spread = (max(values) - min(values)) if values else 0.0
        # a hair over the range: a full violation lands strictly below every non-violator
        unit = spread * (1 + 1e-6) if spread > 0 else 1.0
        out[q] = {
            d: s
            - (cfg.penalty * v * unit if v >= cfg.threshold and v > 0 else 0.0)
            - cfg.semantic_weight * closeness[q].get(d, 0.0) * unit
            for d, s in scores.items()
            for v in [strengths[q].get(d, 0.0)]
        }
        out[q] = dict(ranked(out[q]))
    return out


def build_constrain(inner: Ranker, options: dict[str, str]) -> ConstrainRanker:
    """The stage ``constrain(PIPELINE)[options]`` (called by the registry's parser)."""
    from aptrank.rankers.registry import local_path, options_to_config

    if "model" in options and options["model"].lower() not in ("", "none"):
        options = {**options, "model": local_path(options["model"])}
    return ConstrainRanker(inner, options_to_config(ConstrainConfig, options))
