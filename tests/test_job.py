from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import pytest

from aptrank.errors import AptrankError
from aptrank.job import STEPS, RunConfig, Step, run_job
from tests.helpers import write_beir

PIPELINES = ("bm25", "bm25[k1=0.9,b=0.4]", "rrf(bm25,bm25[b=0.2])")


def test_run_writes_config_metrics_runs_and_a_self_contained_report(tmp_path: Path):
    data = write_beir(tmp_path / "toy")
    config = replace(
        RunConfig.from_profile(str(data)), pipelines=PIPELINES, diagnosed=("bm25", PIPELINES[1])
    )
    lines: list[str] = []
    result = run_job(config, tmp_path / "run", say=lines.append)
    out = tmp_path / "run"
    metrics = json.loads((out / "metrics.json").read_text())
    assert list(metrics) == list(PIPELINES)
    cfg = json.loads((out / "config.json").read_text())
    assert cfg["run"]["pipelines"] == list(PIPELINES)
    assert cfg["evaluate"]["pipelines"] == list(PIPELINES)
    assert {"python", "numpy", "bm25s", "aptrank"} <= set(cfg["versions"])
    assert len(list((out / "runs").glob("*.trec"))) == 3
    html = (out / "report.html").read_text()
    assert html.startswith("<!doctype html>") and "bm25[k1=0.9,b=0.4]" in html
    assert "data:image/png;base64," in html  # plots are embedded
    assert "src='http" not in html and 'src="http' not in html  # nothing loaded from outside
    summary = (out / "summary.md").read_text()
    assert "| system |" in summary and "ndcg@10" in summary
    assert result.skipped == {}
    assert "## Diagnosis" in summary and "diagnosis/report.html" in html
    diagnosis = json.loads((out / "diagnosis" / "diagnosis.json").read_text())
    assert {"bm25", PIPELINES[1]} <= set(diagnosis)
    assert (out / "diagnosis" / "report.html").exists()
    assert any("ranked" in line for line in lines)


def test_a_step_that_needs_training_judgments_is_skipped_with_the_reason(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    monkeypatch.setitem(STEPS, "train-something", Step("train-something", "x", needs_train=True))
    data = write_beir(tmp_path / "toy")  # test split only
    config = RunConfig.from_profile(str(data), steps=["train-something"])
    lines: list[str] = []
    result = run_job(config, tmp_path / "run", say=lines.append)
    assert "no train split" in result.skipped["train-something"]
    assert any(line.startswith("skipping train-something") for line in lines)
    cfg = json.loads((tmp_path / "run" / "config.json").read_text())
    assert "train-something" in cfg["skipped_steps"]


def test_unknown_steps_and_profiles_are_rejected():
    with pytest.raises(AptrankError, match="unknown step"):
        RunConfig.from_profile("x", steps=["evaluate", "teleport"])
    with pytest.raises(AptrankError, match="unknown profile"):
        RunConfig.from_profile("x", profile="huge")
