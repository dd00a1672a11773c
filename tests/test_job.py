from __future__ import annotations

import json
from dataclasses import asdict, replace
from pathlib import Path

import pytest

from aptrank import experiment, job
from aptrank.data import load_dataset
from aptrank.errors import AptrankError
from aptrank.experiment import EvaluateConfig, evaluate_pipelines
from aptrank.job import (
    BASELINES,
    PROFILES,
    STEPS,
    JobContext,
    RunConfig,
    Step,
    run_job,
    step,
)
from aptrank.teach.workflow import DEFAULT_TEACHER
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
    # the default profile aligns where it can train; this dataset has only a test split
    assert set(result.skipped) == {"align"} and "no train split" in result.skipped["align"]
    assert "## Diagnosis" in summary and "diagnosis/report.html" in html
    diagnosis = json.loads((out / "diagnosis" / "diagnosis.json").read_text())
    assert {"bm25", PIPELINES[1]} <= set(diagnosis)
    assert (out / "diagnosis" / "report.html").exists()
    assert any("ranked" in line for line in lines)


def test_a_step_that_needs_training_judgments_is_skipped_with_the_reason(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    step = Step("train-something", "x", lambda ctx: None, needs_train=True)
    monkeypatch.setitem(STEPS, "train-something", step)
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


def test_steps_are_found_in_the_registry_and_get_the_context(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    monkeypatch.setattr(job, "STEPS", dict(job.STEPS))  # @step below registers into this copy
    seen: list[tuple[str, str, Path]] = []

    @step("fake", "a step that records what it was given")
    def fake(ctx: JobContext) -> None:
        seen.append((ctx.config.dataset, ctx.dataset.name, ctx.out))
        ctx.say("fake ran")

    assert job.STEPS["fake"] == Step("fake", "a step that records what it was given", fake)
    data = write_beir(tmp_path / "toy")
    config = RunConfig.from_profile(str(data), steps=["fake"])
    lines: list[str] = []
    result = run_job(config, tmp_path / "run", say=lines.append)
    assert seen == [(str(data), "toy", tmp_path / "run")]
    assert "fake ran" in lines and result.skipped == {} and result.experiment is None
    assert "fake" not in STEPS  # the module's own registry is untouched


def test_teacher_steps_are_skipped_with_the_reason_when_no_teacher_is_given(tmp_path: Path):
    data = write_beir(tmp_path / "toy")
    write_beir(data, split="train")  # a train split, so only the teacher is missing
    config = RunConfig.from_profile(str(data), steps=["teach", "distill"])
    assert config.teacher is None
    lines: list[str] = []
    result = run_job(config, tmp_path / "run", say=lines.append)
    assert set(result.skipped) == {"teach", "distill"}
    for name in ("teach", "distill"):
        assert result.skipped[name] == f"no --teacher given; e.g. --teacher '{DEFAULT_TEACHER}'"
        assert f"skipping {name}: no --teacher given; e.g. --teacher '{DEFAULT_TEACHER}'" in lines
    cfg = json.loads((tmp_path / "run" / "config.json").read_text())
    assert set(cfg["skipped_steps"]) == {"teach", "distill"} and cfg["run"]["teacher"] is None


def test_trained_rankers_are_evaluated_beside_the_baselines_without_ranking_those_again(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    """A fake training step writes ``models/fake/``; its ranker is bm25[k1=0.5] (the artifact
    loader is stubbed so this test does not depend on it)."""
    real_build = experiment.build_ranker
    built: list[str] = []

    def build(spec: str):
        built.append(spec)
        return real_build("bm25[k1=0.5]" if spec.endswith("models/fake") else spec)

    def train(ctx: JobContext) -> None:
        folder = ctx.out / "models" / "fake"
        folder.mkdir(parents=True)
        record = {"name": "fake", "kind": "student", "pipeline": "bm25[k1=0.5]"}
        (folder / "aptrank.json").write_text(json.dumps(record))
        ctx.result.models["fake"] = folder

    monkeypatch.setattr(experiment, "build_ranker", build)
    monkeypatch.setitem(STEPS, "train-fake", Step("train-fake", "x", train))
    data = write_beir(tmp_path / "toy")
    config = replace(
        RunConfig.from_profile(str(data), steps=["evaluate", "train-fake", "report"]),
        pipelines=PIPELINES,
    )
    out = tmp_path / "run"
    lines: list[str] = []
    result = run_job(config, out, say=lines.append)

    assert result.models == {"fake": out / "models" / "fake"}
    assert built == [*PIPELINES, str(out / "models" / "fake")]  # each ranker built once
    assert sum("ranked in" in line for line in lines) == 4
    metrics = json.loads((out / "metrics.json").read_text())
    assert list(metrics) == [*PIPELINES, "models/fake"]
    alone = evaluate_pipelines(
        load_dataset(str(data)), EvaluateConfig(str(data), pipelines=("bm25[k1=0.5]",))
    )
    assert metrics["models/fake"] == pytest.approx(alone.comparison.means_dict()["bm25[k1=0.5]"])
    significance = json.loads((out / "significance.json").read_text())
    assert significance["baseline"] == "bm25"
    assert set(significance["significance"]["models/fake"]) == set(config.metrics)
    assert "models/fake" in json.loads((out / "runs" / "index.json").read_text()).values()
    assert "models/fake" in (out / "comparison.md").read_text()
    assert "models/fake" in (out / "summary.md").read_text()
    assert "models/fake" in (out / "report.html").read_text()
    saved = json.loads((out / "config.json").read_text())
    assert saved["evaluate"]["pipelines"] == [*PIPELINES, "models/fake"]
    assert saved["run"]["pipelines"] == list(PIPELINES)


def test_pipelines_are_added_after_the_baselines_without_duplicates():
    config = RunConfig.from_profile("x").with_pipelines(["bm25[k1=0.9]", "bm25", "bm25[k1=0.9]"])
    assert config.pipelines == (*BASELINES, "bm25[k1=0.9]")


def test_a_toml_file_holds_the_run_settings(tmp_path: Path):
    path = tmp_path / "run.toml"
    path.write_text(
        'dataset = "toy"\n'
        'steps = ["evaluate", "report"]\n'
        'pipelines = ["bm25", "bm25[b=0.2]"]\n'
        "depth = 100\n"
        "sizes = [0, 10]\n"
        "[distill_options]\n"
        "epochs = 2\n",
        encoding="utf-8",
    )
    config = RunConfig.from_file(path)
    assert config == RunConfig(
        dataset="toy",
        steps=("evaluate", "report"),
        pipelines=("bm25", "bm25[b=0.2]"),
        depth=100,
        sizes=(0, 10),
        distill_options={"epochs": 2},
    )
    assert RunConfig.from_file(path, split="dev", teacher="ranker:bm25") == replace(
        config, split="dev", teacher="ranker:bm25"
    )
    # a profile given on top brings its own steps, unless steps are given too
    assert RunConfig.from_file(path, profile="full").steps == PROFILES["full"]
    assert RunConfig.from_file(path, profile="full", steps=["evaluate"]).steps == ("evaluate",)


def test_a_saved_config_json_and_a_flat_json_file_give_the_same_config(tmp_path: Path):
    config = RunConfig(
        dataset="toy",
        steps=("evaluate", "teach", "report"),
        teacher="ranker:bm25",
        teach_options={"dev_size": 3, "miners": ["bm25"]},
    )
    saved = tmp_path / "config.json"
    saved.write_text(json.dumps({"run": asdict(config), "dataset_path": "/x", "evaluate": None}))
    flat = tmp_path / "flat.json"
    flat.write_text(json.dumps(asdict(config)))
    assert RunConfig.from_file(saved) == RunConfig.from_file(flat) == config


@pytest.mark.parametrize(
    ("name", "text", "message"),
    [
        ("a.toml", 'dataset = "toy"\ndetph = 10\n', "unknown key 'detph'"),
        ("a.json", '{"dataset": "toy", "depth": "10"}', "key 'depth' should be int, not '10'"),
        ("a.json", '{"dataset": "toy", "depth": true}', "key 'depth' should be int"),
        ("a.json", '{"dataset": "toy", "sizes": [1, "2"]}', "key 'sizes' should be a list of int"),
        ("a.json", '{"dataset": "toy", "teacher": 3}', "key 'teacher' should be str or null"),
        ("a.json", '{"dataset": "toy", "rl_options": []}', "key 'rl_options' should be a table"),
        ("a.json", '{"run": {"split": "dev"}}', "no dataset"),
        ("a.json", '{"dataset": "toy", "steps": ["fly"]}', "unknown step(s) fly"),
        ("a.json", '{"dataset": "toy", "profile": "huge"}', "unknown profile 'huge'"),
        ("a.json", '{\n  "dataset": "toy",\n}', "a.json:3: not valid JSON"),
        ("a.json", "[1, 2]", "expected a table of settings"),
        ("a.toml", "dataset = \n", "not valid TOML"),
        ("a.yaml", "dataset: toy\n", "a config file is .toml or .json"),
    ],
)
def test_bad_config_files_are_rejected_naming_the_file_and_the_key(
    tmp_path: Path, name: str, text: str, message: str
):
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    with pytest.raises(AptrankError) as e:
        RunConfig.from_file(path)
    assert str(e.value).startswith(str(path)) and message in str(e.value)
    assert "\n" not in str(e.value)


def test_a_missing_config_file_is_named(tmp_path: Path):
    with pytest.raises(AptrankError, match="cannot read the config file"):
        RunConfig.from_file(tmp_path / "nope.toml")


def test_the_distill_step_registers_its_students_and_they_join_the_metrics(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    """The step asks distill for models under <out>/models/ and evaluates what it returns
    (distill itself and the artifact loader are stubbed: bm25[b=0.2] stands in for a student)."""
    from aptrank.train import distill as distill_module

    calls: list[Path] = []

    def fake_distill(config, progress=None, models_dir: Path | None = None):
        assert config.teach.teacher == "ranker:bm25" and models_dir is not None
        calls.append(models_dir)
        (models_dir / "student").mkdir(parents=True)
        return {"selected": {"size": 0}, "models": {"student": str(models_dir / "student")}}

    real_build = experiment.build_ranker
    monkeypatch.setattr(distill_module, "distill", fake_distill)
    monkeypatch.setattr(
        experiment,
        "build_ranker",
        lambda spec: real_build("bm25[b=0.2]" if spec.endswith("student") else spec),
    )
    data = write_beir(tmp_path / "toy")
    write_beir(data, split="train")
    config = replace(
        RunConfig.from_profile(str(data), steps=["evaluate", "distill"]),
        pipelines=PIPELINES[:1],
        teacher="ranker:bm25",
    )
    out = tmp_path / "run"
    result = run_job(config, out)
    assert calls == [out / "models"]
    assert result.models == {"student": out / "models" / "student"}
    assert json.loads((out / "distill.json").read_text())["models"] == {
        "student": str(out / "models" / "student")
    }
    # no report step: the students are still in the metrics, tested against the baseline
    assert list(json.loads((out / "metrics.json").read_text())) == ["bm25", "models/student"]
    assert result.comparison.baseline == "bm25" and "models/student" in result.comparison.tests


def test_align_is_skipped_with_its_line_when_there_are_too_few_judged_queries(tmp_path: Path):
    from tests.helpers import QRELS, QUERIES

    data = write_beir(tmp_path / "toy")
    write_beir(data, queries=QUERIES, qrels=QRELS, split="train")  # 3 judged training queries
    config = replace(
        RunConfig.from_profile(str(data), steps=["evaluate", "align"]), pipelines=("bm25",)
    )
    lines: list[str] = []
    result = run_job(config, tmp_path / "run", say=lines.append)
    assert "3 judged train queries" in result.skipped["align"]
    assert "needs at least 30" in result.skipped["align"]
    assert any(line.startswith("skipping align:") for line in lines)
    assert json.loads((tmp_path / "run" / "metrics.json").read_text())["bm25"]  # the run went on


def test_the_run_teacher_filters_the_align_steps_negatives_only_when_given(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    """--teacher reaches the align step's fine-tuning options; without it nothing does (the
    default run never depends on cached labels). align itself is stubbed."""
    from aptrank.train import align as align_module

    seen: list[dict] = []

    def fake_align(config, models_dir, progress=None, say=None):
        seen.append(dict(config.finetune_options))
        raise SystemExit  # the options are what this test checks

    monkeypatch.setattr(align_module, "align", fake_align)
    monkeypatch.setattr(align_module, "too_few_queries", lambda config, train=None: None)
    data = write_beir(tmp_path / "toy")
    write_beir(data, split="train")
    for teacher in (None, "ranker:bm25"):
        config = replace(
            RunConfig.from_profile(str(data), steps=["align"]), pipelines=(), teacher=teacher
        )
        with pytest.raises(SystemExit):
            run_job(config, tmp_path / f"run-{teacher is None}")
    assert seen == [{}, {"teacher": "ranker:bm25"}]
