"""benchmarks/results/rl.json: each block records how it was made; the headlines have the issue's
shape and are rows of their tables; the shipped phrasing of the rewriter's training queries is
the one its dev comparison chose."""

from __future__ import annotations

import pytest

BENCHMARK = "rl"  #: conftest loads the script and its results
HEADLINE = {"dataset", "setting", "metric", "baseline", "zero_shot", "rl", "p_value"}


def current(results: dict, script) -> list[str]:
    return [b for b in script.BLOCKS if b in results and not results[b].get("superseded")]


def test_every_current_block_records_its_command_machine_versions_and_time(script, results):
    blocks = current(results, script)
    assert "rewrite" in blocks
    for block in blocks:
        stamp = results[block]["provenance"]
        assert all(stamp.get(k) for k in ("command", "machine", "versions", "created")), block
        assert stamp["machine"]["gpu"] is None  # the CPU file; GPU runs write rl-gpu.json


@pytest.mark.parametrize(("block", "extra"), [("rewrite", "rule"), ("summarize", "extractive")])
def test_the_headline_has_the_issues_shape_and_its_values_are_table_rows(results, block, extra):
    if block not in results or results[block].get("superseded"):
        pytest.skip(f"{block} is not current in this results file")
    head = results[block]["headline"]
    assert HEADLINE | {extra} <= set(head)
    rows = {row["ndcg@10"] for row in results[block]["eval"]["table"].values()}
    for key in ("baseline", "zero_shot", "rl", extra):
        assert head[key] in rows, key
    assert 0 <= head["p_value"] <= 1
    # the full text (summarize) is the upper reference, not a competitor
    others = {k: head[k] for k in ("baseline", "zero_shot", extra) if head.get(k) is not None}
    assert head["strongest_other"] == max(others, key=others.__getitem__)


def test_the_shipped_phrasing_is_the_dev_choice(script, results):
    choice = results["rewrite_phrasing"]
    policies = {k: v for k, v in choice["table"].items() if k.startswith("rl trained on ")}
    best = max(policies, key=lambda k: policies[k]["both"])
    assert best == f"rl trained on {choice['chosen']}"
    assert script.parse_args([]).exclusion_phrasing == choice["chosen"]
    assert script.rewrite_layout(choice["chosen"])[0] == "rewrite"
    # each policy on its own phrasing's held-out queries is its run's held-out figure
    for phrasing in ("keywords", "title"):
        block = results[script.rewrite_layout(phrasing)[0]]
        own = choice["table"][f"rl trained on {phrasing}"][f"{phrasing} queries"]
        assert own == block["heldout"]["after"]["retrieval"]
