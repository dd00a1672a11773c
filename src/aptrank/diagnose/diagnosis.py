"""Diagnose rankers on a dataset: every analysis, for every ranker, side by side.

For each ranker: ``run = ranker.rank(queries, depth)`` (its top-k over the corpus) and
``judged``, its scores of every judged document whether or not the top-k retrieved it (from the
run where it is there, else from ``ranker.rerank``). The analyses are pure
functions of these, the judgments and the query texts; see their modules. Sections that do not
apply to a dataset (no grade-0 judgments, no constraint pairs, no perturbation rule firing) are
left out and named in ``skipped`` with the reason.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import asdict, dataclass, field, replace
from typing import Any

from aptrank.data.runs import cut
from aptrank.errors import AptrankError, DataError
from aptrank.rankers.base import Ranker
from aptrank.types import Corpus, Dataset

logger = logging.getLogger(__name__)

#: Builds a progress callback ``(done, total)`` for a task description.
ProgressFactory = Callable[[str], Callable[[int, int], None]]

SECTIONS = ("association", "separability", "constraint_pairs", "role_flip", "strata")


@dataclass(frozen=True)
class DiagnoseConfig:
    """What ``diagnose`` ran; saved as ``config.json`` beside the results."""

    dataset: str = ""
    split: str = "test"
    rankers: tuple[str, ...] = ("bm25", "dense")
    depth: int = 100  #: documents ranked per query (the top-k every section reads)
    hard_negatives: int = 10  #: top non-relevant items the separability compares against
    perturb_k: int = 10  #: top documents compared under each perturbation
    metric: str = "ndcg@10"  #: the metric reported by strata
    doc_fields: tuple[str, ...] = ()  #: document metadata fields to stratify by
    query_fields: tuple[str, ...] = ()  #: query metadata fields to stratify by
    #: the split whose relevant items make a query "seen" (the seen_in_training stratum): set
    #: wherever a compared model was trained on that split's judgments
    seen_split: str | None = None
    worst: int = 10  #: worst queries listed in the association section
    resamples: int = 1000  #: bootstrap resamples for every CI
    seed: int = 0


@dataclass(frozen=True)
class RankerDiagnosis:
    """One ranker's sections (result dataclasses with ``to_dict``) and what was skipped."""

    name: str
    config: dict[str, Any]
    sections: dict[str, Any]
    skipped: dict[str, str]
    seconds: dict[str, float]

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"ranker": self.name, "config": self.config}
        out.update({name: s.to_dict() for name, s in self.sections.items()})
        out["skipped"] = self.skipped
        out["seconds"] = self.seconds
        return out


@dataclass(frozen=True)
class Diagnosis:
    """Every ranker's diagnosis of one dataset. ``to_dict()`` is ``{ranker: {section: figures},
    "_meta": {dataset facts, config, rules fired}}``."""

    dataset: str
    split: str | None
    n_docs: int
    n_queries: int  #: judged queries
    n_without_relevant: int
    n_with_wrong: int  #: judged queries with a grade-0 item
    config: DiagnoseConfig
    rules_fired: dict[str, int]
    rankers: dict[str, RankerDiagnosis] = field(default_factory=dict)
    #: ``{query_id: parsed query}`` of the queries the constraint parser found a constraint in
    constraints: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        meta = {
            "dataset": self.dataset,
            "split": self.split,
            "n_docs": self.n_docs,
            "n_queries": self.n_queries,
            "n_without_relevant": self.n_without_relevant,
            "n_with_wrong": self.n_with_wrong,
            "rules_fired": self.rules_fired,
            "config": asdict(self.config),
            "sections": list(SECTIONS),
            "constraints": self.constraints,
        }
        out = {name: r.to_dict() for name, r in self.rankers.items()}
        return json_safe({**out, "_meta": meta})

    def to_markdown(self) -> str:
        from aptrank.diagnose.summary import render_markdown

        return render_markdown(self.to_dict())


def json_safe(value: Any) -> Any:
    """``value`` with tuples as lists and NaN/inf as None (JSON has neither)."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, Mapping):
        return {str(k): json_safe(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [json_safe(v) for v in value]
    return value


class _Snippets(Mapping[str, str]):
    """Short document texts for the report, built on demand."""

    def __init__(self, corpus: Corpus, length: int = 160) -> None:
        self._corpus = corpus
        self._length = length

    def __getitem__(self, doc: str) -> str:
        text = self._corpus[doc].full_text
        return text if len(text) <= self._length else text[: self._length - 1] + "…"

    def __iter__(self) -> Iterator[str]:
        return iter(self._corpus)

    def __len__(self) -> int:
        return len(self._corpus)


def check_inputs(dataset: Dataset, rankers: Mapping[str, Ranker], config: DiagnoseConfig) -> None:
    """Reject what cannot be diagnosed before any ranking is done."""
    from aptrank.evaluate import parse_metric

    if not rankers:
        raise AptrankError("no ranker to diagnose: pass at least one --ranker")
    for name, ranker in rankers.items():
        if not ranker.retrieves:
            raise AptrankError(
                f"{name!r} cannot retrieve from the corpus: put a first stage before it"
            )
    for what, value in (("depth", config.depth), ("perturb_k", config.perturb_k)):
        if value < 2:
            raise AptrankError(f"{what} must be at least 2, got {value}")
    if config.hard_negatives < 1 or config.resamples < 1 or config.worst < 0:
        raise AptrankError("hard_negatives and resamples must be positive, worst >= 0")
    try:
        parse_metric(config.metric)
    except ValueError as e:
        raise AptrankError(str(e)) from None
    if not dataset.qrels:
        raise DataError(f"split {dataset.split!r} of {dataset.name} has no judgments")
    _check_fields("document", config.doc_fields, (d.meta for d in dataset.corpus.values()))
    _check_fields("query", config.query_fields, (q.meta for q in dataset.queries.values()))


def _check_fields(what: str, names: tuple[str, ...], metas: Any) -> None:
    if not names:
        return
    seen: set[str] = set()
    for meta in metas:
        seen.update(meta)
    missing = [n for n in names if n not in seen]
    if missing:
        known = ", ".join(sorted(seen - {"_id", "text", "title"})) or "none"
        raise AptrankError(
            f"no {what} has the field(s) {', '.join(missing)}; {what} fields: {known}"
        )


def diagnose(
    dataset: Dataset,
    rankers: Mapping[str, Ranker],
    config: DiagnoseConfig,
    progress: ProgressFactory | None = None,
) -> Diagnosis:
    """Diagnose every ranker of ``rankers`` (``{name: ranker}``, indexed here) on ``dataset``."""
    from aptrank.diagnose.perturb import perturbations, rule_counts

    check_inputs(dataset, rankers, config)
    config = replace(config, rankers=tuple(rankers))
    queries = {qid: q.text for qid, q in dataset.judged_queries().items()}
    perturbed = {qid: perturbations(text) for qid, text in queries.items()}
    groupings = common_groupings(dataset, queries, config)
    result = Diagnosis(
        dataset=dataset.name,
        split=dataset.split,
        n_docs=len(dataset.corpus),
        n_queries=len(dataset.qrels),
        n_without_relevant=sum(
            1 for j in dataset.qrels.values() if max(j.values(), default=0) <= 0
        ),
        n_with_wrong=sum(1 for j in dataset.qrels.values() if any(g <= 0 for g in j.values())),
        config=config,
        rules_fired=rule_counts(perturbed),
        constraints=parsed_constraints(queries),
    )
    for name, ranker in rankers.items():
        logger.info("diagnosing %s", name)
        result.rankers[name] = diagnose_ranker(
            name, ranker, dataset, queries, perturbed, groupings, config, progress
        )
    return result


def parsed_constraints(queries: Mapping[str, str]) -> dict[str, Any]:
    """The constraint parser's reading of every query it found a constraint in."""
    from aptrank.constraints.parse import parse_query

    parsed = {qid: parse_query(text) for qid, text in queries.items()}
    return {qid: p.to_dict() for qid, p in parsed.items() if p.constraints}


def common_groupings(
    dataset: Dataset, queries: Mapping[str, str], config: DiagnoseConfig
) -> list[Any]:
    """The strata groupings that do not depend on the ranker."""
    from aptrank.diagnose import strata as st

    try:
        from bm25s.stopwords import STOPWORDS_EN as stopwords
    except ImportError:  # pragma: no cover - bm25s is a dependency
        stopwords = ()
    idf = st.idf_table((d.full_text for d in dataset.corpus.values()), stopwords)
    groupings = [st.query_length(queries), st.clarity(queries, idf), st.constraint_types(queries)]
    doc_meta = {d: doc.meta for d, doc in dataset.corpus.items()} if config.doc_fields else {}
    groupings += [st.doc_field(f, dataset.qrels, doc_meta) for f in config.doc_fields]
    query_meta = {q: dataset.queries[q].meta for q in queries}
    groupings += [st.query_field(f, query_meta) for f in config.query_fields]
    if config.seen_split:
        from aptrank.data import load_dataset

        train = load_dataset(dataset.path or config.dataset, config.seen_split)
        groupings.append(st.seen_in_training(dataset.qrels, train.qrels))
    return groupings


def diagnose_ranker(
    name: str,
    ranker: Ranker,
    dataset: Dataset,
    queries: Mapping[str, str],
    perturbed: Mapping[str, Any],
    groupings: list[Any],
    config: DiagnoseConfig,
    progress: ProgressFactory | None = None,
) -> RankerDiagnosis:
    """Every section for one ranker (see the module docstring)."""
    from aptrank.diagnose import sections
    from aptrank.diagnose.scoring import rank_and_score

    seconds: dict[str, float] = {}
    start = time.perf_counter()
    _hook_progress(ranker, progress)
    ranker.index(dataset.corpus)
    wanted = {q: list(dataset.qrels.get(q, {})) for q in queries}
    run, judged = rank_and_score(ranker, queries, wanted, config.depth)
    seconds["rank"] = time.perf_counter() - start
    top = cut(run, config.perturb_k)
    inputs = sections.Inputs(
        dataset, queries, run, judged, top, perturbed, groupings, config, _Snippets(dataset.corpus)
    )
    step = progress(f"{name}: diagnosing") if progress else None
    built: dict[str, Any] = {}
    skipped: dict[str, str] = {}
    for i, section in enumerate(SECTIONS):
        t0 = time.perf_counter()
        value, why = sections.SECTION_FUNCTIONS[section](ranker, inputs)
        seconds[section] = time.perf_counter() - t0
        if value is None:
            skipped[section] = why or "not applicable"
        else:
            built[section] = value
            for part, reason in getattr(value, "skipped", {}).items():
                skipped[f"{section}.{part}"] = reason
        if step:
            step(i + 1, len(SECTIONS))
    seconds["total"] = time.perf_counter() - start
    return RankerDiagnosis(
        name, ranker.config(), built, skipped, {k: round(v, 3) for k, v in seconds.items()}
    )


def _hook_progress(ranker: Ranker, progress: ProgressFactory | None) -> None:
    if progress is None:
        return
    from aptrank.experiment import walk

    for stage in walk(ranker):
        if hasattr(stage, "progress"):
            verb = "encoding corpus" if stage.name.startswith("dense") else "scoring pairs"
            stage.progress = progress(f"{stage.name}: {verb}")
