"""benchmarks/results/constraints.json: each part records how it was made; the headline is the
row of the pipeline the dev choices name; the semantic part's choice is its grid's best cell."""

from __future__ import annotations

from argparse import Namespace

import pytest

BENCHMARK = "constraints"  #: conftest loads the script and its results
STAMPS = ("command", "machine", "versions", "seconds", "created")


def test_every_part_records_its_command_machine_versions_and_time(script, results):
    parts = [p for p in script.PARTS if p in results]
    assert {"choose", "negconstraint", "scifact"} <= set(parts)
    for part in parts:
        assert all(results[part].get(k) for k in STAMPS), part
        assert results[part]["machine"]["gpu"] is None


def test_the_headline_is_the_row_of_its_pipeline(results):
    head = results["headline"]
    row = results["negconstraint"]["rankers"][head["pipeline"]]
    assert head["negconstraint_accuracy"] == row["accuracy"]
    assert head["negconstraint_ndcg@10"] == row["ndcg@10"]
    assert head["v@1"] == row["v@1"]
    assert head["scifact_ndcg@10"] == results["scifact"]["ndcg@10"][head["pipeline"]]
    assert head["pipeline"] == results["negconstraint"]["headline_pipeline"]


def test_the_semantic_choice_is_the_best_dev_cell_and_names_the_headline(results):
    if "semantic" not in results:
        pytest.skip("no semantic part in this results file")
    sem = results["semantic"]
    grid = sem["grid"].values()
    assert sem["chosen"]["ndcg@10"] == max(c["ndcg@10"] for c in grid)
    alone = [c for c in grid if c["checks"] == "none"]
    assert sem["semantic_alone"]["ndcg@10"] == max(c["ndcg@10"] for c in alone)
    assert results["headline"]["pipeline"] == sem["chosen_pipeline"]
    assert sem["alone_pipeline"] in results["negconstraint"]["rankers"]


@pytest.mark.parametrize(
    ("cell", "spec"),
    [
        ({"checks": "rules", "semantic_weight": 0.0}, "constrain(bm25)"),
        (
            {"checks": "none", "semantic_weight": 0.5},
            "constrain(bm25)[rules=false,semantic=e,semantic_weight=0.5]",
        ),
        (
            {"checks": "rules+model", "semantic_weight": 1.0},
            "constrain(bm25)[model=m,max_length=128,semantic=e,semantic_weight=1.0]",
        ),
    ],
)  # fmt: skip
def test_cell_spec_writes_each_checks_option(script, cell, spec):
    args = Namespace(model="m", max_length=128, semantic="e")
    assert script.cell_spec("bm25", args, cell) == spec
