"""teach → distill end to end on a small inline BEIR folder with tiny random-weight models.

The teacher is an ensemble of BM25 and a cross-encoder trained on the training judgments, the
synthetic queries come from canned generations (the generation itself is tested in
tests/teach/test_synthetic.py), the students are tiny BERTs. Checks the plumbing: the dev slice
never overlaps what is trained on, labels land in the store, every curve point is trained and
scored, a re-run recomputes nothing.
"""

from __future__ import annotations

import json
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import pytest

pytest.importorskip("sentence_transformers")
pytest.importorskip("datasets")


from aptrank.errors import AptrankError  # noqa: E402
from aptrank.teach import synthetic  # noqa: E402
from aptrank.teach.workflow import TeachConfig, TeachContext, build_teacher, teach  # noqa: E402
from aptrank.train import distill as distill_module  # noqa: E402
from aptrank.train.distill import DistillConfig, distill  # noqa: E402
from tests.teach.tiny_llm import tiny_llama_folder  # noqa: E402
from tests.tiny_models import WORDS, tiny_bert_folder  # noqa: E402

TOPICS = [WORDS[i : i + 5] for i in range(0, 25, 3)]  # overlapping 5-word topics


def write_dataset(folder: Path) -> Path:
    """16 documents; 10 train queries and 4 test queries, one relevant document each."""
    docs = {
        f"d{i}": " ".join(TOPICS[i % len(TOPICS)][::-1] if i >= 8 else TOPICS[i]) for i in range(16)
    }
    (folder / "qrels").mkdir(parents=True)
    with open(folder / "corpus.jsonl", "w") as f:
        for did, text in docs.items():
            f.write(json.dumps({"_id": did, "title": "", "text": text}) + "\n")
    queries = {f"q{i}": " ".join(TOPICS[i % len(TOPICS)][:3]) for i in range(14)}
    with open(folder / "queries.jsonl", "w") as f:
        for qid, text in queries.items():
            f.write(json.dumps({"_id": qid, "text": text}) + "\n")
    for split, ids in (("train", range(10)), ("test", range(10, 14))):
        lines = ["query-id\tcorpus-id\tscore"]
        lines += [f"q{i}\td{i % len(TOPICS)}\t1" for i in ids]
        (folder / "qrels" / f"{split}.tsv").write_text("\n".join(lines) + "\n")
    return folder


def canned(model, tokenizer, prompts, cfg, seed):
    """A query per prompt: three words of the document in the prompt, reversed."""
    out = []
    for prompt in prompts:
        words = [w for w in prompt.split() if w in WORDS]
        out.append([(" ".join(words[-3:][::-1]) + " ?", True)])
    return out


@pytest.fixture(scope="module")
def models(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("models")
    return {"bert": tiny_bert_folder(root / "bert"), "llm": tiny_llama_folder(root / "llm")}


def teach_config(data: Path, models: dict[str, Path], **kw) -> TeachConfig:
    base = dict(
        dataset=str(data),
        teacher=f"ensemble(ranker:bm25,trained:{models['bert']})",
        dev_size=3,
        depth=5,
        max_length=32,
        batch_size=4,
        synthetic_docs=8,
        generator=str(models["llm"]),
        miners=("bm25",),
        mine_k=4,
    )
    return TeachConfig(**{**base, **kw})


def test_teach_then_distill(tmp_path: Path, models, monkeypatch):
    monkeypatch.setattr(synthetic, "_generate_batch", canned)
    data = write_dataset(tmp_path / "data")
    config = teach_config(data, models, export=str(tmp_path / "labels.jsonl"))
    result = teach(config, models_dir=tmp_path / "models")
    exported = [json.loads(line) for line in (tmp_path / "labels.jsonl").open()]
    assert result["exported"] == str(tmp_path / "labels.jsonl")
    assert {row["teacher"] for row in exported} == {result["teacher"]["teacher"]}

    t = result["teacher"]
    assert t["spec"] == config.teacher and t["teacher"].startswith("ensemble:")
    for figure in ("dev_ndcg10", "test_ndcg10", "first_stage_dev_ndcg10", "dev_crossfit_ndcg10"):
        assert 0.0 <= t[figure] <= 1.0
    assert len(result["dev_queries"]) == 3
    assert result["synthetic"]["queries"] > 0
    assert result["synthetic"]["pairs"] == result["synthetic"]["labeling"]["labeled"]

    # the ensemble teacher is kept as a ranker: fuse(...)[norm=global] over the first stage's
    # top depth, whose scores are its labels, so it evaluates to the teacher's figure
    folder = Path(result["models"]["teacher"])
    record = json.loads((folder / "aptrank.json").read_text())
    assert record["pipeline"] == (
        f"bm25>>fuse(bm25,ce:./trained-{models['bert'].name}[max_length=32,batch_size=4])"
        "[weights=./weights.json]@5"
    )
    assert json.loads((folder / "weights.json").read_text())["norm"] == "global"
    assert record["figures"]["test"]["ndcg@10"] == t["test_ndcg10"]
    from aptrank.data import load_dataset
    from aptrank.experiment import EvaluateConfig, evaluate_pipelines

    moved = tmp_path / "kept-teacher"
    folder.rename(moved)
    test = load_dataset(str(data), "test")
    means = evaluate_pipelines(test, EvaluateConfig(str(data), pipelines=(str(moved),)))
    ndcg = means.comparison.means_dict()[str(moved)]["ndcg@10"]
    assert ndcg == pytest.approx(t["test_ndcg10"], abs=1e-4)

    ctx = TeachContext(config)
    try:
        assert not set(ctx.dev_ids) & set(ctx.fit_ids)
        assert set(ctx.dev_ids) | set(ctx.fit_ids) == {f"q{i}" for i in range(10)}
        teacher_dir = next((ctx.folder / "teachers").iterdir())
        record = json.loads((teacher_dir / "aptrank_train.json").read_text())
        # the teacher trains on the fit queries only: one relevant + negatives per fit query
        assert record["sizes"]["human_pairs"] <= 7 * (1 + config.training.negatives)
    finally:
        ctx.close()

    dconfig = DistillConfig(
        teach=config,
        student=str(models["bert"]),
        sizes=(0, 2, 4),
        batch_size=4,
        max_length=32,
        per_query=2,
        extra={"max_steps": 3},
    )
    out = distill(dconfig)
    assert set(out["students"]) == {"0", "2", "4"}
    for s in out["students"].values():
        assert 0.0 <= s["dev_ndcg10"] <= 1.0 and 0.0 <= s["test_ndcg10"] <= 1.0
        assert (Path(s["folder"]) / "aptrank_train.json").exists()
    assert out["students"]["0"]["train"]["margin_triples"] == 0
    assert out["students"]["0"]["train"]["margin_divisor"] == 1.0
    assert out["students"]["4"]["train"]["margin_divisor"] > 0  # margins at unit spread
    assert (
        out["students"]["4"]["train"]["margin_triples"]
        > out["students"]["2"]["train"]["margin_triples"]
    )
    assert out["selected"]["size"] in (0, 2, 4)
    trained = {
        size: json.loads((Path(s["folder"]) / "aptrank_train.json").read_text())["config"]
        for size, s in out["students"].items()
    }
    # the human-only point keeps its own (shorter) recipe; teacher-labeled points the main one
    assert trained["0"]["epochs"] == dconfig.human_only_epochs != dconfig.epochs
    assert trained["4"]["epochs"] == dconfig.epochs

    # soft-label BCE instead of Margin-MSE: the trainer gets the loss that matches the examples
    soft = distill(replace(dconfig, loss="bce", sizes=(2,)))["students"]["2"]
    assert soft["train"]["soft_pairs"] > 0 and soft["train"]["margin_triples"] == 0
    record = json.loads((Path(soft["folder"]) / "aptrank_train.json").read_text())
    assert record["config"]["teacher_loss"] == "bce"

    def no_training(*args, **kwargs):
        raise AssertionError("a re-run must reuse the trained students")

    monkeypatch.setattr("aptrank.train.cross_encoder.train_cross_encoder", no_training)
    again = distill(dconfig)
    assert {k: v["test_ndcg10"] for k, v in again["students"].items()} == {
        k: v["test_ndcg10"] for k, v in out["students"].items()
    }


def test_distill_needs_enough_synthetic_queries(tmp_path: Path, models, monkeypatch):
    monkeypatch.setattr(synthetic, "_generate_batch", canned)
    data = write_dataset(tmp_path / "data")
    config = teach_config(data, models, teacher="ranker:bm25", synthetic_docs=2)
    with pytest.raises(AptrankError, match="more synthetic queries"):
        distill(DistillConfig(teach=config, student=str(models["bert"]), sizes=(0, 50)))
    assert distill_module.synthetic_order(["b", "a"], 0) == distill_module.synthetic_order(
        ["a", "b"], 0
    )


@pytest.mark.parametrize(
    "spec, message",
    [
        ("nonsense", "unknown teacher"),
        ("llm:", "unknown teacher"),
        ("http:http://localhost:1/v1", "needs a model name"),
        ("ensemble(ranker:bm25)", "at least two members"),
        ("trained:all-MiniLM-L6-v2[epochs=2]", "bad teacher option 'epochs=2'"),
        ("ce:some-model[precision=bf16]", "bad teacher option 'precision=bf16'"),
        ("trained:all-MiniLM-L6-v2[precision=bf16", "must end with"),
    ],
)
def test_bad_teacher_specs(tmp_path: Path, models, spec, message):
    data = write_dataset(tmp_path / "data")
    ctx = TeachContext(teach_config(data, models))
    try:
        with pytest.raises(AptrankError, match=message):
            build_teacher(spec, ctx)
    finally:
        ctx.close()


def aptrank_cli(*args: str) -> subprocess.CompletedProcess:
    """``python -m aptrank <args> --no-progress`` in a subprocess, as a user runs it."""
    command = [sys.executable, "-m", "aptrank", *args, "--no-progress"]
    return subprocess.run(command, capture_output=True, text=True, timeout=120)


def test_teach_cli_reports_a_bad_teacher_in_one_line(tmp_path: Path):
    data = write_dataset(tmp_path / "data")
    proc = aptrank_cli("teach", str(data), "--teacher", "bogus", "--dev-size", "3")
    assert proc.returncode == 2
    assert "unknown teacher" in proc.stderr and "Traceback" not in proc.stderr


def test_distill_without_human_judgments_needs_teacher_labels(tmp_path: Path):
    data = write_dataset(tmp_path / "data")
    with pytest.raises(AptrankError, match="curve point 0 has nothing to train on"):
        DistillConfig(teach=TeachConfig(dataset=str(data)), sizes=(0, 50), human=False)
    proc = aptrank_cli("distill", str(data), "--no-human", "--sizes", "0,2", "--dev-size", "3")
    assert proc.returncode == 2
    assert "nothing to train on" in proc.stderr and "Traceback" not in proc.stderr


def test_run_job_teach_and_distill_steps_reach_the_report(tmp_path: Path, models, monkeypatch):
    from aptrank.job import RunConfig, run_job

    monkeypatch.setattr(synthetic, "_generate_batch", canned)
    data = write_dataset(tmp_path / "data")
    config = RunConfig.from_profile(str(data), steps=["teach", "distill", "report"])
    config = RunConfig(
        **{
            **config.__dict__,
            "teacher": "ranker:bm25",
            "synthetic_docs": 8,
            "sizes": (0, 2),
            "teach_options": {
                "dev_size": 3,
                "depth": 5,
                "max_length": 32,
                "batch_size": 4,
                "generator": str(models["llm"]),
                "miners": ("bm25",),
                "mine_k": 4,
            },
            "distill_options": {
                "student": str(models["bert"]),
                "batch_size": 4,
                "max_length": 32,
                "per_query": 2,
                "extra": {"max_steps": 2},
            },
        }
    )
    out = tmp_path / "run"
    result = run_job(config, out)
    assert json.loads((out / "teach.json").read_text())["teacher"]["spec"] == "ranker:bm25"
    assert set(json.loads((out / "distill.json").read_text())["students"]) == {"0", "2"}
    html = (out / "report.html").read_text()
    assert "<h2>Distillation</h2>" in html and "alt='scaling curve'" in html
    assert "## Distillation" in (out / "summary.md").read_text()
    assert result.skipped == {}


def test_llm_teacher_spec_options_are_typed(tmp_path: Path, models):
    data = write_dataset(tmp_path / "data")
    ctx = TeachContext(teach_config(data, models))
    try:
        judge = build_teacher("llm:smollm2[prompt=graded,max_doc_tokens=64]", ctx)
        assert judge.cfg.model == "smollm2" and judge.cfg.prompt == "graded"
        assert judge.cfg.max_doc_tokens == 64  # an int, not the string "64"
        with pytest.raises(AptrankError, match="unknown option"):
            build_teacher("llm:smollm2[temperature=2]", ctx)
    finally:
        ctx.close()


def test_human_negatives_come_from_the_first_stages_ranking(tmp_path: Path, models, monkeypatch):
    """A run's iteration order means nothing (first-stage caches written before 2026-11-27 hold
    doc-id order): the teacher's and the student's hard negatives must be the first stage's
    best-scored wrong documents, whatever order the run comes in."""
    from aptrank.data.runs import rank_order
    from aptrank.teach.workflow import train_teacher
    from aptrank.train.examples import negative_order

    config = teach_config(write_dataset(tmp_path / "data"), models, depth=8)
    seen: list[list] = []

    def capture(folder, cfg, human=None, **kwargs):
        seen.append(list(human))
        raise RuntimeError("captured")

    monkeypatch.setattr("aptrank.train.cross_encoder.train_cross_encoder", capture)
    ctx = TeachContext(config)
    try:
        run = ctx.first_stage("fit")
        worst_first = {q: dict(reversed(list(scores.items()))) for q, scores in run.items()}
        first_stage = ctx.first_stage  # an old cache file holds such an order
        monkeypatch.setattr(
            ctx,
            "first_stage",
            lambda which, depth=None: worst_first if which == "fit" else first_stage(which, depth),
        )
        queries, qrels = ctx.queries("fit"), ctx.qrels("fit")

        def first_wrong(order: dict[str, list[str]], n: int) -> set[tuple[str, str]]:
            """(query, document) texts of each query's first ``n`` wrong documents in ``order``."""
            wrong = {q: [d for d in ids if qrels[q].get(d, 0) == 0][:n] for q, ids in order.items()}
            return {(queries[q], ctx.corpus[d].full_text) for q, ds in wrong.items() for d in ds}

        expected = first_wrong(rank_order(run), config.training.negatives)
        dconfig = DistillConfig(
            teach=config, student=str(models["bert"]), sizes=(0,), human_sampling="top"
        )
        for train in (
            lambda: train_teacher(str(models["bert"]), ctx),
            lambda: distill_module.train_student(ctx, dconfig, "none", {}, {}, 0),
        ):
            with pytest.raises(RuntimeError, match="captured"):
                train()
            negatives = {(q, d) for q, d, label in seen.pop() if label == 0.0}
            assert negatives == expected
        # "random" (the student's default) draws from the whole ranking, seeded, not its order
        drawn = negative_order(rank_order(run), "random", dconfig.seed)
        expected = first_wrong(drawn, dconfig.human_negatives)
        random_config = replace(dconfig, human_sampling="random")
        with pytest.raises(RuntimeError, match="captured"):
            distill_module.train_student(ctx, random_config, "none", {}, {}, 0)
        assert {(q, d) for q, d, label in seen.pop() if label == 0.0} == expected
    finally:
        ctx.close()


def test_labels_exported_elsewhere_are_imported_not_recomputed(tmp_path: Path, models, monkeypatch):
    """The GPU-machine route: teach there with --export, import here, nothing labeled twice."""
    monkeypatch.setattr(synthetic, "_generate_batch", canned)
    data = write_dataset(tmp_path / "data")
    config = teach_config(data, models, teacher="ranker:bm25", export=str(tmp_path / "l.jsonl"))
    monkeypatch.setenv("APTRANK_CACHE", str(tmp_path / "gpu-machine"))
    there = teach(config)
    assert there["teacher"]["labeling"]["test"]["labeled"] > 0
    monkeypatch.setenv("APTRANK_CACHE", str(tmp_path / "here"))
    here = teach(replace(config, export=None), imports=[tmp_path / "l.jsonl"])
    assert here["imported"] == {
        str(tmp_path / "l.jsonl"): there["synthetic"]["pairs"]
        + sum(s["labeled"] for s in there["teacher"]["labeling"].values())
    }
    for which in ("dev", "test"):
        assert here["teacher"]["labeling"][which]["labeled"] == 0
    assert here["synthetic"]["labeling"]["labeled"] == 0
    assert here["teacher"]["test_ndcg10"] == there["teacher"]["test_ndcg10"]


def test_teach_cli_names_a_bad_label_file(tmp_path: Path):
    data = write_dataset(tmp_path / "data")
    bad = tmp_path / "labels.jsonl"
    bad.write_text('{"teacher": "t", "query_id": "q1"}\n')
    proc = aptrank_cli(
        *("teach", str(data), "--teacher", "ranker:bm25", "--dev-size", "3"),
        *("--synthetic-docs", "0", "--import-labels", str(bad)),
    )
    assert proc.returncode == 2, proc.stderr
    assert "labels.jsonl, line 1: missing field" in proc.stderr
    assert "Traceback" not in proc.stderr


def test_distill_cli_rejects_an_unknown_negative_sampling_in_one_line(tmp_path: Path):
    data = write_dataset(tmp_path / "data")
    proc = aptrank_cli("distill", str(data), "--negatives", "best")
    assert proc.returncode == 2, proc.stderr
    assert "unknown negative sampling 'best'; use top or random" in proc.stderr
    assert "Traceback" not in proc.stderr


def test_distill_cli_keeps_the_default_recipe_unless_told(tmp_path: Path, monkeypatch):
    """Unset --epochs/--per-query keep DistillConfig's dev-chosen recipe; set ones replace it."""
    from aptrank.cli.main import main

    data = write_dataset(tmp_path / "data")
    seen: list[DistillConfig] = []

    def capture(config, progress=None, models_dir=None):
        seen.append(config)
        raise AptrankError("captured")

    monkeypatch.setattr(distill_module, "distill", capture)
    for extra in ([], ["--epochs", "1.5", "--per-query", "4"]):
        monkeypatch.setattr(sys, "argv", ["aptrank", "distill", str(data), "--no-progress", *extra])
        with pytest.raises(SystemExit) as stop:
            main()
        assert stop.value.code == 2
    default = DistillConfig(teach=seen[0].teach)
    assert (seen[0].epochs, seen[0].per_query) == (default.epochs, default.per_query)
    assert (seen[1].epochs, seen[1].per_query) == (1.5, 4)


def test_a_distilled_student_is_a_folder_that_evaluates_to_its_recorded_figure(
    tmp_path: Path, models
):
    """`aptrank distill --out DIR` writes the student as an artifact; moved elsewhere and named
    as the pipeline from another directory, in a new process, it scores its recorded NDCG@10."""
    data = write_dataset(tmp_path / "data")
    out = tmp_path / "distill"
    proc = aptrank_cli(
        *("distill", str(data), "--teacher", "ranker:bm25", "--synthetic-docs", "0"),
        *("--sizes", "0", "--student", str(models["bert"]), "--dev-size", "3"),
        *("--depth", "5", "--max-length", "32", "--epochs", "1", "--out", str(out)),
    )
    assert proc.returncode == 0, proc.stderr
    result = json.loads((out / "distill.json").read_text())
    folder = Path(result["models"]["student-0"])
    record = json.loads((folder / "aptrank.json").read_text())
    assert record["pipeline"] == "bm25>>ce:.[max_length=32,batch_size=16]@5"
    assert record["kind"] == "student" and record["base_model"] == str(models["bert"])
    assert set(record["trained_on"]["queries"]) | set(record["trained_on"]["dev_queries"]) == {
        f"q{i}" for i in range(10)
    }
    assert record["figures"]["test"]["out_of_fold"] and record["figures"]["test"]["queries"] == 4
    assert (folder / "aptrank_train.json").exists() and (folder / "README.md").exists()
    assert not (folder / "checkpoints").exists()

    moved = tmp_path / "elsewhere" / "my-student"
    moved.parent.mkdir()
    folder.rename(moved)
    workdir = tmp_path / "somewhere-else"
    workdir.mkdir()
    evaluate = [sys.executable, "-m", "aptrank", "evaluate", str(data), "--no-progress"]
    evaluate += ["--pipeline", str(moved), "--out", "eval"]
    proc = subprocess.run(evaluate, capture_output=True, text=True, timeout=120, cwd=workdir)
    assert proc.returncode == 0, proc.stderr
    metrics = json.loads((workdir / "eval" / "metrics.json").read_text())[str(moved)]
    assert metrics["ndcg@10"] == pytest.approx(record["figures"]["test"]["ndcg@10"], abs=1e-4)


def test_distill_writes_the_student_system_and_the_fusion_without_the_student(
    tmp_path: Path, models, monkeypatch
):
    """An ensemble teacher's cheap members fused with the student (and without it), weights
    fitted on the dev slice as the teacher's: both written as rankers that evaluate in a new
    process to their recorded figures; the student is copied in, never named from the cache."""
    monkeypatch.setattr(synthetic, "_generate_batch", canned)
    data = write_dataset(tmp_path / "data")
    bert = models["bert"]
    config = teach_config(
        data, models, teacher=f"ensemble(trained:{bert},ranker:bm25,ranker:dense:{bert})"
    )
    teach(config)
    dconfig = DistillConfig(
        teach=config,
        student=str(bert),
        sizes=(4,),
        batch_size=4,
        max_length=32,
        per_query=2,
        extra={"max_steps": 3},
    )
    out = distill(dconfig, models_dir=tmp_path / "models")
    system = out["student_system"]
    assert system["specs"]["without_student"] == f"ensemble(ranker:bm25,ranker:dense:{bert})"
    assert system["specs"]["student_system"].startswith("ensemble(ce:")
    assert set(system["student_system"]["weights"]) == {
        f"ce:{out['selected']['folder']}",
        "ranker:bm25",
        f"ranker:dense:{bert}",
    }
    assert 0.0 <= system["paired_t_test"]["p_value"] <= 1.0
    assert system["paired_t_test"]["n_queries"] == 4
    assert set(system["per_query"]["student_system"]) == {"q10", "q11", "q12", "q13"}
    # the student alone on the same pairs: its test figure is the curve point's
    assert system["student"]["ndcg@10"] == pytest.approx(out["students"]["4"]["test_ndcg10"])
    assert set(out["models"]) == {"student-4", "student-system", "without-student"}
    folder = Path(out["models"]["student-system"])
    record = json.loads((folder / "aptrank.json").read_text())
    assert "ce:./ce-" in record["pipeline"] and "weights=./weights.json" in record["pipeline"]
    assert str(Path(out["selected"]["folder"]).parent) not in record["pipeline"]
    # a student inside: the queries it was trained on are recorded (fit-fusion leaves them out)
    assert record["trained_on"]["queries"]

    evaluate = [sys.executable, "-m", "aptrank", "evaluate", str(data), "--no-progress"]
    for name in ("student-system", "without-student"):
        evaluate += ["--pipeline", out["models"][name]]
    proc = subprocess.run(
        [*evaluate, "--out", str(tmp_path / "eval")], capture_output=True, text=True, timeout=180
    )
    assert proc.returncode == 0, proc.stderr
    metrics = json.loads((tmp_path / "eval" / "metrics.json").read_text())
    for name in ("student_system", "without_student"):
        recorded = system[name]["ndcg@10"]
        path = out["models"][name.replace("_", "-")]
        assert metrics[path]["ndcg@10"] == pytest.approx(recorded, abs=1e-4)
