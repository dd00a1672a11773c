"""aptrank run adds constrain(...) beside the baselines when explicit constraints are common."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

from aptrank.job import RunConfig, run_job
from aptrank.types import Doc
from tests.helpers import write_beir

CORPUS = {
    "vio": Doc("Aaron, brother of Moses, was a high priest of the Israelites.", ""),
    "sat": Doc("Aaron was the first high priest; his sons served in the tabernacle.", ""),
    "cat": Doc("Cats purr and sleep all day.", ""),
}
QRELS = {"q1": {"sat": 2, "vio": 0}, "q2": {"cat": 1}}


def run(tmp_path: Path, queries: dict[str, str], **config: object) -> dict[str, object]:
    data = write_beir(tmp_path / "toy", corpus=CORPUS, queries=queries, qrels=QRELS)
    cfg = replace(
        RunConfig.from_profile(str(data), steps=["evaluate"]), pipelines=("bm25",), **config
    )
    run_job(cfg, tmp_path / "run", say=lambda _: None)
    return json.loads((tmp_path / "run" / "metrics.json").read_text())


def test_constrain_joins_the_baselines_when_queries_carry_exclusions(tmp_path: Path) -> None:
    queries = {"q1": "Aaron the high priest, but don't mention Moses.", "q2": "cats"}
    metrics = run(tmp_path, queries)
    assert list(metrics) == ["bm25", "constrain(bm25)", "constrain(dense)"]
    assert metrics["constrain(bm25)"]["ndcg@10"] >= metrics["bm25"]["ndcg@10"]


def test_no_constrain_without_explicit_constraints(tmp_path: Path) -> None:
    metrics = run(tmp_path, {"q1": "Aaron the high priest", "q2": "cats"})
    assert list(metrics) == ["bm25"]
