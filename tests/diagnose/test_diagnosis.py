"""The orchestration: BM25 and the keyword mock dense ranker, side by side."""

from __future__ import annotations

import json

import pytest

from aptrank.diagnose import SECTIONS, DiagnoseConfig, diagnose
from aptrank.errors import AptrankError
from aptrank.types import Dataset, Query
from tests.diagnose.fixtures import constraint_dataset, rankers, toy_dataset
from tests.helpers import CORPUS

CONFIG = DiagnoseConfig(dataset="toy", depth=4, perturb_k=3, resamples=200)


def test_every_section_for_every_ranker_on_the_helpers_data():
    d = diagnose(toy_dataset(), rankers(), CONFIG)
    data = d.to_dict()
    assert list(data) == ["bm25", "dense:keyword", "_meta"]
    for name in ("bm25", "dense:keyword"):
        for section in SECTIONS:
            assert section in data[name], (name, section)
        # q1: d1 (grade 2) vs d2 (grade 0); q2: d2 (grade 1) vs d3 (grade 0): both rankers get both
        assert data[name]["constraint_pairs"]["accuracy"] == 1.0
        assert data[name]["constraint_pairs"]["n_pairs"] == 2
        assert data[name]["association"]["n_queries"] == 3
        assert data[name]["skipped"].keys() <= {
            "strata.query_length", "strata.near_ties", "strata.constraint_type",
        }  # fmt: skip
    assert data["_meta"]["n_with_wrong"] == 2
    json.dumps(data, allow_nan=False)  # strict JSON: no NaN anywhere


def test_association_not_fitness_on_a_miniature_negconstraint():
    """The violator shares all the query's keywords: both rankers prefer it (hand-checked)."""
    cfg = DiagnoseConfig(
        dataset="mini",
        depth=4,
        perturb_k=3,
        resamples=200,
        query_fields=("category",),
        doc_fields=("year",),
    )
    d = diagnose(constraint_dataset(), rankers(), cfg)
    for name, r in d.rankers.items():
        cp = r.sections["constraint_pairs"]
        assert cp.accuracy.value == 0.0, name
        assert cp.n_queries == 2  # c3 has no relevant item
        assoc = r.sections["association"]
        assert assoc.n_without_relevant == 1
        assert assoc.wrong_outranks_all.value == 1.0
        strata = r.sections["strata"].strata
        assert "query:category" in strata and "doc:year" in strata
    rf = d.rankers["dense:keyword"].sections["role_flip"]
    # the keyword encoder ignores negations entirely: removing "don't" moves nothing
    assert rf.by_rule["negation_remove"].identical == 1.0
    assert d.rules_fired["negation_remove"] == 1 and d.rules_fired["antonym_swap"] == 1


def test_sections_that_do_not_apply_are_skipped_with_a_reason():
    queries = {
        q: Query(t)
        for q, t in {"q1": "cats sleeping", "q2": "stock market", "q3": "dog barking"}.items()
    }
    qrels = {"q1": {"d1": 1}, "q2": {"d4": 1}, "q3": {"d2": 0}}  # no (relevant, grade-0) query
    ds = Dataset("no-negatives", CORPUS, queries, qrels, "test")
    d = diagnose(ds, {"bm25": rankers()["bm25"]}, CONFIG)
    data = d.to_dict()["bm25"]
    assert "constraint_pairs" not in data
    assert "top-grade" in data["skipped"]["constraint_pairs"]
    assert "judged-wrong" in data["skipped"]["separability.vs_judged_wrong"]
    assert data["separability"]["vs_hard_negatives"] is not None
    assert data["association"]["n_without_relevant"] == 1
    md = d.to_markdown()
    assert "## Skipped" in md and "constraint_pairs: no query has both" in md


def test_bad_inputs_are_rejected_before_ranking():
    ds = toy_dataset()
    with pytest.raises(AptrankError, match="document"):
        diagnose(ds, rankers(), DiagnoseConfig(doc_fields=("year",)))
    with pytest.raises(AptrankError, match="unknown metric"):
        diagnose(ds, rankers(), DiagnoseConfig(metric="ndcg@zero"))
    with pytest.raises(AptrankError, match="no ranker"):
        diagnose(ds, {}, CONFIG)


def test_progress_is_reported_per_ranker():
    seen: dict[str, tuple[int, int]] = {}

    def factory(desc: str):  # type: ignore[no-untyped-def]
        return lambda done, total: seen.__setitem__(desc, (done, total))

    diagnose(toy_dataset(), {"bm25": rankers()["bm25"]}, CONFIG, progress=factory)
    assert seen["bm25: diagnosing"] == (len(SECTIONS), len(SECTIONS))


def test_seen_in_training_stratum_when_a_training_split_is_named(tmp_path):
    from aptrank.data import load_dataset
    from tests.helpers import QRELS, QUERIES, write_beir

    folder = write_beir(tmp_path / "toy")  # test split: q1 -> d1, d3; q2 -> d2; q3 -> d4, d:5/<x>
    write_beir(folder, queries=QUERIES, qrels={"q1": {"d4": 1}}, split="train")
    ds = load_dataset(str(folder), "test")
    cfg = DiagnoseConfig(
        dataset=str(folder), depth=4, perturb_k=3, resamples=50, seen_split="train"
    )
    strata = diagnose(ds, {"bm25": rankers()["bm25"]}, cfg).to_dict()["bm25"]["strata"]["strata"]
    groups = {g["label"]: g["n"] for g in strata["seen_in_training"]["groups"]}
    assert groups == {"seen": 1, "unseen": 2}  # q3 shares d4 with the training query
    assert QRELS["q3"]["d4"] == 1
