"""Evaluate pipelines on a dataset and write a result folder (the core of ``evaluate``/``run``).

The folder holds ``config.json`` (dataset, pipelines with their configs, metrics, package
versions), ``metrics.json`` (``{pipeline as written: {metric: mean}}``), ``per_query.json``,
``comparison.md`` and one TREC run file per pipeline under ``runs/`` (``runs/index.json`` maps
files to pipelines).
"""

from __future__ import annotations

import json
import logging
import platform
import re
import sys
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from importlib import metadata
from pathlib import Path
from typing import Any

from aptrank.data.runs import cut, write_trec_run
from aptrank.errors import AptrankError, DataError
from aptrank.rankers import Ranker, build_ranker
from aptrank.types import Corpus, Dataset, Run

logger = logging.getLogger(__name__)

DEFAULT_METRICS = ("ndcg@10", "recall@100", "mrr@10", "map")

#: Builds a progress callback ``(done, total)`` for a task description.
ProgressFactory = Callable[[str], Callable[[int, int], None]]

_VERSIONED = (
    "aptrank",
    "numpy",
    "scipy",
    "bm25s",
    "PyStemmer",
    "ir-measures",
    "pytrec-eval-terrier",
    "sentence-transformers",
    "transformers",
    "torch",
    "onnxruntime",
    "faiss-cpu",
)


@dataclass(frozen=True)
class EvaluateConfig:
    """What ``evaluate`` ran; saved as ``config.json`` beside the results."""

    dataset: str
    split: str = "test"
    pipelines: tuple[str, ...] = ("bm25",)
    metrics: tuple[str, ...] = DEFAULT_METRICS
    depth: int = 1000  #: documents kept per query in each run (MAP and recall see this depth)
    baseline: str | None = None  #: pipeline the significance tests compare against
    seed: int = 0


@dataclass
class PipelineResult:
    pipeline: str
    run: Run
    seconds: float
    config: dict[str, Any]


@dataclass
class ExperimentResult:
    config: EvaluateConfig
    dataset: Dataset
    results: list[PipelineResult]
    comparison: Any  # aptrank.evaluate.Comparison
    out: Path | None = None
    files: dict[str, str] = field(default_factory=dict)


def package_versions() -> dict[str, str]:
    """Versions of the packages that shape results (absent ones omitted)."""
    out = {"python": sys.version.split()[0], "platform": platform.platform()}
    for name in _VERSIONED:
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            continue
    return out


def walk(ranker: Ranker) -> Iterator[Ranker]:
    """The ranker and every stage inside it."""
    yield ranker
    for child in (getattr(ranker, "first", None), getattr(ranker, "second", None)):
        if child is not None:
            yield from walk(child)
    for child in getattr(ranker, "rankers", []):
        yield from walk(child)


def run_pipeline(
    ranker: Ranker, dataset: Dataset, depth: int, progress: ProgressFactory | None = None
) -> Run:
    """Index the corpus and rank the judged queries; progress hooks are set on every stage."""
    queries = {qid: q.text for qid, q in dataset.judged_queries().items()}
    return rank_corpus(ranker, dataset.corpus, queries, depth, progress)


def rank_corpus(
    ranker: Ranker,
    corpus: Corpus,
    queries: Mapping[str, str],
    depth: int,
    progress: ProgressFactory | None = None,
) -> Run:
    """Set progress hooks on every stage, index ``corpus``, and rank ``queries`` (top ``depth``,
    in trec_eval's order)."""
    if progress is not None:
        for stage in walk(ranker):
            if hasattr(stage, "progress"):
                verb = "encoding corpus" if stage.name.startswith("dense") else "scoring pairs"
                stage.progress = progress(f"{stage.name}: {verb}")
    ranker.index(corpus)
    return cut(ranker.rank(queries, depth), depth)


def check_config(config: EvaluateConfig) -> dict[str, Ranker]:
    """Validate pipelines, metrics and baseline before any work; returns the built rankers."""
    from aptrank.evaluate import parse_metrics

    if not config.pipelines:
        raise AptrankError("no pipeline to evaluate: pass at least one --pipeline")
    if len(set(config.pipelines)) != len(config.pipelines):
        raise AptrankError(f"a pipeline is listed twice: {list(config.pipelines)}")
    if config.baseline is not None and config.baseline not in config.pipelines:
        raise AptrankError(f"baseline {config.baseline!r} is not one of the pipelines")
    try:
        parse_metrics(config.metrics)
    except ValueError as e:
        raise AptrankError(str(e)) from None
    rankers = {p: build_ranker(p) for p in config.pipelines}
    for spec, ranker in rankers.items():
        check_retrieves(spec, ranker)
    return rankers


def check_retrieves(spec: str, ranker: Ranker) -> None:
    """AptrankError unless ``ranker`` (built from ``spec``) can retrieve from a whole corpus."""
    if not ranker.retrieves:
        raise AptrankError(
            f"{spec!r} starts with a reranker, which cannot retrieve from the corpus: put a "
            f"first stage before it, e.g. 'bm25>>{spec}@100'"
        )


def evaluate_pipelines(
    dataset: Dataset,
    config: EvaluateConfig,
    out: str | Path | None = None,
    progress: ProgressFactory | None = None,
    on_result: Callable[[PipelineResult], None] | None = None,
) -> ExperimentResult:
    """Run every pipeline of ``config`` on ``dataset``, compare them, and write ``out``."""
    rankers = check_config(config)  # parse everything before running anything
    if not dataset.qrels:
        raise DataError(f"split {config.split!r} of {dataset.name} has no judgments")
    results = []
    for spec, ranker in rankers.items():
        start = time.perf_counter()
        run = run_pipeline(ranker, dataset, config.depth, progress)
        result = PipelineResult(spec, run, time.perf_counter() - start, ranker.config())
        results.append(result)
        if on_result:
            on_result(result)
    return compare_results(dataset, config, results, out)


def compare_results(
    dataset: Dataset,
    config: EvaluateConfig,
    results: Sequence[PipelineResult],
    out: str | Path | None = None,
) -> ExperimentResult:
    """Compare runs already ranked (``config.pipelines`` names them, in order; the baseline is
    ``config.baseline`` or the first) and write ``out``: how ``aptrank run`` adds its trained
    rankers to the baselines without ranking those again."""
    from aptrank.evaluate import compare

    comparison = compare(
        dataset.qrels,
        {r.pipeline: r.run for r in results},
        baseline=config.baseline or config.pipelines[0],
        metrics=config.metrics,
    )
    experiment = ExperimentResult(config, dataset, list(results), comparison)
    if out is not None:
        write_results(experiment, Path(out))
    return experiment


def run_file_name(pipeline: str) -> str:
    """A file name for a pipeline string (which may hold ``>``, ``:``, ``/``, ``[``)."""
    slug = re.sub(r"[^A-Za-z0-9._@-]+", "_", pipeline.replace(">>", "__")).strip("_")[:80]
    import hashlib

    return f"{slug}-{hashlib.sha1(pipeline.encode()).hexdigest()[:6]}.trec"


def write_results(result: ExperimentResult, out: Path) -> None:
    """Write the result folder (see the module docstring); each file is replaced atomically."""
    out.mkdir(parents=True, exist_ok=True)
    cfg = result.config
    ds = result.dataset
    config = {
        **asdict(cfg),
        "dataset_path": ds.path,
        "n_docs": len(ds.corpus),
        "n_queries_evaluated": result.comparison.n_queries,
        "pipelines_config": {r.pipeline: r.config for r in result.results},
        "seconds": {r.pipeline: round(r.seconds, 3) for r in result.results},
        "versions": package_versions(),
        "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "command": sys.argv,
    }
    write_json(out / "config.json", config)
    write_json(out / "metrics.json", result.comparison.means_dict())
    write_json(out / "per_query.json", result.comparison.per_query_dict())
    write_json(out / "significance.json", result.comparison.to_dict())
    (out / "comparison.md").write_text(result.comparison.to_markdown() + "\n", encoding="utf-8")
    index = {}
    for r in result.results:
        name = run_file_name(r.pipeline)
        try:
            write_trec_run(r.run, out / "runs" / name, tag=r.pipeline)
        except DataError as e:  # ids with whitespace cannot be written as TREC
            logger.warning("%s; writing %s as JSON instead", e, r.pipeline)
            name = name.removesuffix(".trec") + ".json"
            write_json(out / "runs" / name, r.run)
        index[name] = r.pipeline
    write_json(out / "runs" / "index.json", index)
    result.out = out
    result.files = {"config": "config.json", "metrics": "metrics.json", "runs": "runs/"}


def write_json(path: Path, data: object) -> Path:
    """Write ``data`` as JSON atomically (beside, then renamed); ``default=str`` for paths."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(data, indent=2, default=str) + "\n", encoding="utf-8")
    tmp.replace(path)
    return path


def pipelines_list(values: Sequence[str] | None, default: Sequence[str]) -> tuple[str, ...]:
    return tuple(values) if values else tuple(default)
