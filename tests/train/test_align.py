"""The align step end to end with a tiny random-weight bi-encoder on a generated dataset."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

pytest.importorskip("sentence_transformers")
pytest.importorskip("datasets")

from aptrank.data import load_dataset  # noqa: E402
from aptrank.errors import AptrankError  # noqa: E402
from aptrank.train.align import AlignConfig, align  # noqa: E402
from tests.train.test_finetune import tiny, write_dataset  # noqa: E402, F401

RECIPE = {"max_steps": 3, "batch_size": 4, "max_length": 32, "mine_k": 5}


def test_align_keeps_the_dev_best_as_a_folder_that_reproduces_its_figure(
    tmp_path: Path,
    tiny,  # noqa: F811 - the fixture imported above
):
    data = write_dataset(tmp_path / "data")
    config = AlignConfig(str(data), base=str(tiny), dev_size=8, finetune_options=RECIPE)
    result = align(config, tmp_path / "run" / "models")
    models = tmp_path / "run" / "models"
    assert set(result["models"]) >= {"finetuned", "adapter", "fused-finetuned", "aligned"}
    assert result["selected"]["candidate"] in result["dev_ndcg@10"]
    assert result["selected"]["candidate"] != "fused-pretrained"  # a comparison, never kept
    assert set(result["dev_unseen"]["ndcg@10"]) == set(result["dev_ndcg@10"])
    assert result["selected"]["guard"].startswith(("kept", "no candidate"))
    # every fusion is fitted on the dev slice only: never on the encoder's training queries
    trained = set(
        json.loads((models / "finetuned" / "aptrank.json").read_text())["trained_on"]["queries"]
    )
    ft_record = json.loads((models / "finetuned" / "aptrank.json").read_text())
    adapter_record = json.loads((models / "adapter" / "aptrank.json").read_text())
    for record in (ft_record, adapter_record):  # one dev slice for encoder, adapter and fusions
        assert record["trained_on"]["dev_queries"] == result["dev_queries"]
    for name in ("fused-finetuned", "fused-pretrained"):
        fit = json.loads((models / name / "weights.json").read_text())["judgments"]["queries"]
        assert set(fit) <= set(result["dev_queries"]) and not set(fit) & trained
    record = json.loads((models / "aligned" / "aptrank.json").read_text())
    assert record["pipeline"].startswith("../")  # names a sibling artifact
    assert result["unseen"]["queries"] <= 8

    # the aligned folder, moved with its siblings, reproduces its recorded test figure
    moved = tmp_path / "elsewhere"
    (tmp_path / "run").rename(moved)
    from aptrank.experiment import EvaluateConfig, evaluate_pipelines

    test = load_dataset(str(data), "test")
    spec = str(moved / "models" / "aligned")
    means = evaluate_pipelines(test, EvaluateConfig(str(data), pipelines=(spec,)))
    got = means.comparison.means_dict()[spec]["ndcg@10"]
    assert got == pytest.approx(record["figures"]["test"]["ndcg@10"], abs=1e-4)


def test_the_report_shows_the_alignment_section():
    from types import SimpleNamespace

    from aptrank.report.render import render_html, render_markdown

    a = {
        "selected": {"candidate": "fused-finetuned", "guard": "kept: matches"},
        "dev_queries": ["q1", "q2"],
        "dev_ndcg@10": {"fused-finetuned": 0.8},
        "dev_unseen": {"queries": 1, "ndcg@10": {"fused-finetuned": 0.7}},
        "test": {
            "fused-finetuned": {"ndcg@10": 0.75, "recall@100": 0.9},
            "bm25": {"ndcg@10": 0.7, "recall@100": 0.9},
        },
        "unseen": {"queries": 3, "ndcg@10": {"fused-finetuned": 0.74, "bm25": 0.7}},
    }
    result = SimpleNamespace(
        config=SimpleNamespace(dataset="toy", split="test", steps=("align",)),
        out=Path("."),
        experiment=None,
        diagnosis=None,
        distill=None,
        rl={},
        skipped={},
        align=a,
        teach=None,
        comparison=None,
        models={},
    )
    md = render_markdown(result)
    assert "## Alignment" in md and "| fused-finetuned | 0.8000 | 0.7000 | 0.7500 |" in md
    assert "<h2>Alignment</h2>" in render_html(result)


def test_align_refuses_fewer_than_30_judged_queries(tmp_path: Path, tiny):  # noqa: F811
    data = write_dataset(tmp_path / "data", train=20, test=4)
    with pytest.raises(AptrankError, match="needs at least 30"):
        align(AlignConfig(str(data), base=str(tiny)), tmp_path / "models")


def test_kfold_alignment_never_scores_a_query_with_a_model_trained_on_it(tmp_path: Path, tiny):  # noqa: F811
    from aptrank.data.folds import kfolds
    from aptrank.job import RunConfig, run_job
    from aptrank.train.align_kfold import KFOLD

    data = write_dataset(tmp_path / "data", train=0, test=36)
    (data / "qrels" / "train.tsv").unlink()  # a test split only: the k-fold path
    options = {"base": str(tiny), "folds": 3, "dev_size": 4, "finetune_options": RECIPE}
    config = RunConfig.from_dict(
        {
            "dataset": str(data),
            "steps": ["evaluate", "align", "report"],
            "pipelines": ["bm25"],
            "align_options": options,
        }
    )
    lines: list[str] = []
    run = run_job(config, tmp_path / "run", say=lines.append)
    result = run.align
    assert result["mode"] == KFOLD and "align" not in run.skipped
    assert result["models"] == {}  # the refitted models are never ranked on their own queries
    assert not any(
        k.startswith("models/") for k in json.loads((tmp_path / "run" / "metrics.json").read_text())
    )
    judged = sorted(f"q{i}" for i in range(36))
    models = tmp_path / "run" / "models"
    for i, (train_ids, held) in enumerate(kfolds(judged, 3, 0), start=1):
        for member in ("finetuned", "adapter"):
            record = json.loads(
                (models / "folds" / f"fold-{i}" / member / "aptrank.json").read_text()
            )
            trained = set(record["trained_on"]["queries"]) | set(
                record["trained_on"].get("dev_queries", [])
            )
            assert trained <= set(train_ids) and not trained & set(held)
    aligned = json.loads((models / "aligned" / "aptrank.json").read_text())
    assert KFOLD in aligned["figures"]["test"]["note"]
    assert (
        aligned["figures"]["test"]["ndcg@10"]
        == result["test"][result["selected"]["candidate"]]["ndcg@10"]
    )
    assert any("k-fold" in line for line in lines)
    # each candidate's out-of-fold run is kept (TREC), with its constraint-pair accuracy
    assert (tmp_path / "run" / "align-runs" / "fused-finetuned.trec").exists()
    assert 0.0 <= result["test"]["fused-finetuned"]["constraint_pair_accuracy"] <= 1.0
    summary = (tmp_path / "run" / "summary.md").read_text()
    assert "## Alignment" in summary and "k-fold out-of-fold (3 folds)" in summary
