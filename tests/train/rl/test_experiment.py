"""RL experiments end to end (rewrite and summarize) with a tiny random-weight Llama on a small
BEIR folder: the held-out slice stays out of training, before/after and the evaluation table are
measured, the reward curve has one point per step, a rerun trains and generates nothing, the CLI
and the run job's steps work. Checks plumbing, not learning (benchmarks/rl.py measures that)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

pytest.importorskip("trl")

from aptrank.train.rl.experiment import (  # noqa: E402
    RLExperimentConfig,
    rewrite_experiment,
    summarize_experiment,
)
from aptrank.train.rl.grpo import GRPOTrainConfig  # noqa: E402
from tests.train.rl.tiny import tiny_grpo  # noqa: E402
from tests.train.test_distill import write_dataset  # noqa: E402


@pytest.fixture(scope="module")
def dataset(tmp_path_factory) -> Path:
    return write_dataset(tmp_path_factory.mktemp("data") / "tiny")


def tiny(policy: Path, **overrides) -> GRPOTrainConfig:
    """2 steps of 2 prompts x 2 completions x 6 tokens: plumbing only."""
    options = dict(num_generations=2, per_device_batch=4, max_completion_length=6, max_steps=2)
    return tiny_grpo(policy, **{**options, **overrides})


def test_rewrite_experiment_measures_before_after_and_the_table(policy, dataset, tmp_path):
    config = RLExperimentConfig(
        dataset=str(dataset), task="rewrite", heldout_size=3, grpo=tiny(policy)
    )
    out = tmp_path / "rw"
    result = rewrite_experiment(config, out)

    heldout = set(result["queries"]["heldout_ids"])
    record = json.loads((out / "policy" / "aptrank_train.json").read_text())
    trained_on = set(record["meta"]["query_ids"])
    assert len(heldout) == 3 and not heldout & trained_on and len(trained_on) == 7
    h = result["heldout"]
    for when in ("before", "after"):
        assert set(h[when]) >= {"retrieval", "format", "length", "parse_failed", "total"}
        assert 0 <= h[when]["retrieval"] <= 1
    assert h["rises"] == (h["after"]["retrieval"] > h["before"]["retrieval"])
    assert [p["step"] for p in result["reward_curve"]] == [1, 2]
    assert all(p["kl"] is not None for p in result["reward_curve"])  # beta > 0 logs the KL
    assert result["curve_tenths"]["reward"]["n"] == 1
    check_paired_curve(result, out)
    table = result["eval"]["table"]
    assert list(table) == [
        "bm25 original",
        "bm25 zero-shot rewrites (replace)",
        "bm25 zero-shot rewrites (append)",
        "bm25 rl rewrites (replace)",
        "bm25 rl rewrites (append)",
    ]
    assert all(0 <= row["ndcg@10"] <= 1 and row["queries"] == 4 for row in table.values())
    head = result["headline"]
    assert head["rule"] is None  # no query has an exclusion: no rule row
    assert head["baseline"] == table["bm25 original"]["ndcg@10"]
    assert head["rl"] == table["bm25 rl rewrites (replace)"]["ndcg@10"]
    assert head["zero_shot"] == table["bm25 zero-shot rewrites (replace)"]["ndcg@10"]
    assert head["strongest_other"] in ("baseline", "zero_shot") and 0 <= head["p_value"] <= 1
    saved = json.loads((out / "rl-rewrite.json").read_text())
    assert saved["eval"]["table"] == table and saved["config"]["grpo"]["max_steps"] == 2

    again = rewrite_experiment(config, out)
    assert again["training"]["reused"] and again["eval"]["table"] == table
    check_rewriter_artifact(out, result, trained_on, dataset)


def test_rewrites_are_evaluated_on_another_dataset_with_the_rule_row(policy, dataset, tmp_path):
    """Trained on one dataset's queries, scored on another's test split (its own corpus and
    index), beside the constraint parser's rule that deletes the exclusion clause."""
    evaluated = write_dataset(tmp_path / "evaluated")
    lines = (evaluated / "queries.jsonl").read_text().splitlines()
    rows = [json.loads(line) for line in lines]
    for row in rows:
        row["text"] += ", but don't mention mailman."
    (evaluated / "queries.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    config = RLExperimentConfig(
        dataset=str(dataset), eval_dataset=str(evaluated), heldout_size=3, grpo=tiny(policy),
        zero_shot=False,
    )  # fmt: skip
    result = rewrite_experiment(config, tmp_path / "rw")
    table = result["eval"]["table"]
    rule = "bm25 rule: exclusion deleted"
    assert result["eval"]["dataset"] == "evaluated" and table[rule]["queries_changed"] == 4
    head = result["headline"]
    assert head["dataset"] == "evaluated" and head["zero_shot"] is None
    assert head["rule"] == table[rule]["ndcg@10"]
    per_query = result["eval"]["per_query_ndcg@10"]
    assert set(per_query[rule]) == {"q10", "q11", "q12", "q13"}
    assert head["strongest_other"] in ("baseline", "rule")


def check_paired_curve(result: dict, out: Path) -> None:
    """One point per step: the step's retrieval reward (the step log's) minus the untrained
    policy's sampled reward on the same items (cached beside the result)."""
    paired = result["paired_curve"]
    curve = paired["curve"]
    assert [p["step"] for p in curve] == [1, 2]
    for point, logged in zip(curve, result["reward_curve"], strict=True):
        assert point["reward"] == pytest.approx(logged["retrieval"], abs=1e-6)
        assert point["delta"] == pytest.approx(point["reward"] - point["untrained"], abs=3e-6)
        assert 0 <= point["untrained"] <= 1
    cached = json.loads((out / f"untrained-items-{result['task']}.json").read_text())
    assert len(cached["rewards"]) == paired["items"]
    assert set(paired["rises"]) == {"slope", "first_third", "last_third", "rises"}


def check_rewriter_artifact(out: Path, result: dict, trained_on: set, dataset: Path) -> None:
    """The trained rewriter is a pipeline string: its folder builds ``rewrite>>bm25`` as it was
    measured, also moved (``model=.`` is the folder)."""
    from aptrank.data import load_dataset
    from aptrank.rankers import build_ranker
    from aptrank.rankers.artifact import read_record
    from aptrank.rankers.cache import corpus_fingerprint
    from aptrank.train.rl.experiment import _evaluate

    folder = out / "models" / "rewriter"
    assert result["models"] == {"rewriter": str(folder)}
    assert {"config.json", "aptrank_train.json", "README.md"} <= {p.name for p in folder.iterdir()}
    assert not (folder / "checkpoints").exists()
    record = read_record(folder)
    assert record["kind"] == "policy"
    assert record["pipeline"] == "rewrite[model=.,mode=replace,max_new_tokens=6]>>bm25"
    assert set(record["trained_on"]["queries"]) == trained_on
    assert record["trained_on"]["heldout_queries"] == result["queries"]["heldout_ids"]
    test = load_dataset(str(dataset), "test")
    assert record["dataset"] == {
        "name": "tiny",
        "path": str(dataset),
        "corpus": corpus_fingerprint(test.corpus),
    }
    figures, h = record["figures"], result["heldout"]
    assert figures["heldout_before"]["ndcg@10"] == h["before"]["retrieval"]
    assert figures["heldout_after"]["ndcg@10"] == h["after"]["retrieval"]
    test_row = result["eval"]["table"]["bm25 rl rewrites (replace)"]
    assert figures["test"]["ndcg@10"] == test_row["ndcg@10"] and figures["test"]["queries"] == 4
    assert all(f["out_of_fold"] for f in figures.values())  # none of them was trained on

    moved = folder.rename(out / "elsewhere")
    ranker = build_ranker(str(moved))
    assert ranker.kind == "rewrite>>bm25"
    ranker.index(test.corpus)
    texts = {q: test.queries[q].text for q in test.qrels if q in test.queries}
    two = dict(list(texts.items())[:2])
    run = ranker.rank(two, 5)
    assert set(run) == set(two) and all(len(docs) == 5 for docs in run.values())
    # the same greedy rewrites, so the recorded test figure again
    assert _evaluate(test.qrels, ranker.rank(texts, 1000))["ndcg@10"] == test_row["ndcg@10"]


def test_summarize_experiment_scores_the_sub_corpus_with_and_without(policy, tmp_path):
    dataset = write_dataset(tmp_path / "titled")  # ReLSum's setting needs titles
    rows = [json.loads(line) for line in (dataset / "corpus.jsonl").read_text().splitlines()]
    for row in rows:
        row["title"] = " ".join(row["text"].split()[:2])
    (dataset / "corpus.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    config = RLExperimentConfig(
        dataset=str(dataset),
        task="summarize",
        heldout_size=3,
        summary_docs=12,
        grpo=tiny(policy),
    )
    result = summarize_experiment(config, tmp_path / "sm")
    assert "models" not in result and not (tmp_path / "sm" / "models").exists()  # not a ranker
    h = result["heldout"]
    assert h["items"] >= 1 and 0 <= h["unchanged_items"] <= 1
    assert 0 <= h["before"]["retrieval"] <= 1 and 0 <= h["after"]["retrieval"] <= 1
    ev = result["eval"]
    assert ev["sub_corpus"]["items"] == 12 and ev["sub_corpus"]["of"] == 16
    assert list(ev["table"]) == [
        "without summaries",
        "zero-shot summaries (replace)",
        "zero-shot summaries (append)",
        "rl summaries (replace)",
        "rl summaries (append)",
        "title only",
        "title + lead (the RL summary's length)",
    ]
    head = result["headline"]
    assert head["baseline"] == ev["table"]["title only"]["ndcg@10"]
    assert head["extractive"] == ev["table"]["title + lead (the RL summary's length)"]["ndcg@10"]
    assert head["rl"] == ev["table"]["rl summaries (replace)"]["ndcg@10"]
    assert head["full_text"] == ev["table"]["without summaries"]["ndcg@10"]
    assert head["strongest_other"] in ("baseline", "extractive", "zero_shot")
    # only test queries with a relevant item in the sub-corpus are scored
    n = ev["sub_corpus"]["queries_scored"]
    assert 1 <= n <= 4 and all(row["queries"] == n for row in ev["table"].values())
    assert [p["step"] for p in result["reward_curve"]] == [1, 2]
    check_paired_curve(result, tmp_path / "sm")

    from aptrank.paths import cache_dir

    files = sorted(cache_dir("summaries").glob("*.jsonl"))
    assert len(files) == 2  # one per policy: untrained and trained
    stamps = [f.stat().st_mtime_ns for f in files]
    again = summarize_experiment(config, tmp_path / "sm")
    assert [f.stat().st_mtime_ns for f in files] == stamps  # nothing generated again
    assert again["training"]["reused"] and again["eval"]["table"] == ev["table"]
    # a reused policy still reports how long its steps took when they ran
    assert again["training"]["logged_s_per_step"] == result["training"]["logged_s_per_step"] > 0


def test_cli_and_run_steps(policy, dataset, tmp_path):
    from typer.testing import CliRunner

    from aptrank.cli.main import app
    from aptrank.job import RunConfig, run_job

    runner = CliRunner()
    out = tmp_path / "cli"
    args = [
        "rl", "rewrite", str(dataset), "--policy", str(policy), "--steps", "1",
        "--generations", "2", "--batch", "4", "--max-tokens", "6", "--heldout", "3",
        "--no-zero-shot", "--no-progress", "--out", str(out),
    ]  # fmt: skip
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    assert "held-out ndcg@10" in result.output and (out / "rl-rewrite.json").exists()
    assert "zero-shot" not in json.dumps(json.loads((out / "rl-rewrite.json").read_text())["eval"])
    assert (out / "models" / "rewriter" / "aptrank.json").is_file()
    assert str(out / "models" / "rewriter") in result.output

    bad = runner.invoke(app, [*args[:3], "--mode", "sideways", "--out", str(tmp_path / "x")])
    assert bad.exit_code != 0

    config = RunConfig(
        dataset=str(dataset),
        steps=("rl-rewrite", "report"),
        rl_options={"heldout_size": 3, "zero_shot": False, "grpo": tiny(policy).to_dict()},
    )
    run = run_job(config, tmp_path / "run")
    assert "rewrite" in run.rl
    assert run.models == {"rewriter": tmp_path / "run" / "models" / "rewriter"}
    assert "models/rewriter" in {r.pipeline for r in run.experiment.results}  # evaluated
    page = (tmp_path / "run" / "report.html").read_text()
    summary = (tmp_path / "run" / "summary.md").read_text()
    assert "RL against the ranking metric" in page and "reward curves" in page
    assert "## RL: rewrite" in summary and "bm25 rl rewrites (append)" in summary


def test_each_task_starts_from_its_own_cpu_configuration():
    from aptrank.errors import AptrankError
    from aptrank.train.rl.grpo import TASK_DEFAULTS

    summarize = RLExperimentConfig(dataset="x", task="summarize").grpo
    rewrite = RLExperimentConfig(dataset="x").grpo
    assert summarize == GRPOTrainConfig.for_task("summarize")
    assert (summarize.per_device_batch, summarize.max_completion_length) == (8, 32)
    assert summarize.learning_rate == TASK_DEFAULTS["summarize"]["learning_rate"]
    assert rewrite.max_steps == 36 and rewrite.per_device_batch == 16
    assert GRPOTrainConfig.for_task("summarize", max_steps=3, learning_rate=None).max_steps == 3
    with pytest.raises(AptrankError, match="unknown task"):
        GRPOTrainConfig.for_task("translate")

    from aptrank.cli.rl import _config

    values = dict(
        dataset="x", policy="p", lora=False, generations=4, batch=None, max_tokens=None,
        lr=None, beta=0.04, steps=None, seed=0, threads=None, metric="ndcg@100",
        mode="replace", summary_docs=10, retriever="bm25", heldout=5, train_queries=0,
        split="test", zero_shot=True,
    )  # fmt: skip
    assert _config(values, "summarize").grpo == GRPOTrainConfig.for_task("summarize", policy="p")
