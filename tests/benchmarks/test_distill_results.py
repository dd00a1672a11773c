"""benchmarks/results/distill.json: every part records its own provenance; the headline is whole."""

from __future__ import annotations

import copy

BENCHMARK = "distill"  #: conftest loads the script and its results


def test_every_part_of_the_results_file_records_its_provenance(script, results):
    assert script.missing_provenance(results) == []


def test_a_part_without_provenance_is_found(script, results):
    broken = copy.deepcopy(results)
    del broken["system"]["provenance"]
    first = next(iter(broken["teachers"]))
    del broken["teachers"][first]["provenance"]["machine"]
    del broken["headline"]["p_value"]
    assert script.missing_provenance(broken) == [
        f"teachers.{first}.provenance.machine",
        f"teachers.{first}.provenance.machine.cpu",
        f"teachers.{first}.provenance.machine.cpus_available",
        f"teachers.{first}.provenance.machine.gpu",
        "system.provenance",
        "headline.p_value",
    ]


def test_the_headline_figures_are_those_of_the_parts(results):
    head, system = results["headline"], results["system"]
    chosen = results["chosen_teacher"]["spec"]
    assert head["teacher"] == {"spec": chosen, "ndcg@10": results["teachers"][chosen]["ndcg@10"]}
    for name in ("student", "student_system", "without_student"):
        assert head[name]["ndcg@10"] == system[name]["ndcg@10"]
        assert head[name]["pipeline"] == system[name]["pipeline"]
    assert head["p_value"] == system["paired_t_test"]["p_value"]
    assert head["speedup"] == results["throughput"]["speedup"]
    for check in system["cli_evaluate"].values():  # the artifacts re-evaluated in a new process
        assert check["abs_diff"] <= 1e-4


def test_every_missed_goal_carries_its_figures(results):
    head = results["headline"]
    assert set(head["missed"]) == {goal for goal, met in head["goals"].items() if not met}
    for figures in head["missed"].values():
        assert figures and all(isinstance(v, float) for v in figures.values())
