"""Role-flip sensitivity: movement of one query's top-k, and the summaries, by hand."""

from __future__ import annotations

from collections.abc import Mapping

import pytest

from aptrank.diagnose.perturb import Perturbation, perturbations
from aptrank.diagnose.sensitivity import (
    SEP,
    PerturbedScores,
    movement,
    role_flip,
    score_perturbations,
)
from aptrank.rankers.base import Ranker
from aptrank.rankers.bm25 import BM25Ranker
from aptrank.types import Run
from tests.helpers import CORPUS


def test_movement_reversed_order():
    m = movement(
        {"a": 3.0, "b": 2.0, "c": 1.0},
        {"a": 1.0, "b": 2.0, "c": 3.0},
        {"c": 3.0, "x": 2.5, "b": 2.0},
    )
    assert m is not None
    assert m.kendall_tau == pytest.approx(-1.0) and m.spearman == pytest.approx(-1.0)
    assert m.overlap == pytest.approx(2 / 3)
    assert m.mean_abs_delta == pytest.approx(4 / 3)  # |−2| + 0 + |2|, over 3
    assert m.relative_delta == pytest.approx(2 / 3)  # over the spread 3 − 1
    assert m.top1_changed and not m.identical


def test_movement_unchanged_and_degenerate():
    same = {"a": 2.0, "b": 1.0}
    m = movement(same, same, same)
    assert m is not None and (m.kendall_tau, m.overlap, m.identical, m.top1_changed) == (
        1.0,
        1.0,
        True,
        False,
    )
    flat = movement(same, {"a": 1.0, "b": 1.0}, {})
    assert flat is not None and flat.kendall_tau is None and flat.overlap == 0.0
    assert movement({"a": 1.0}, {"a": 2.0}, {}) is None  # one document: no order


def test_role_flip_summaries_and_gap():
    flip = Perturbation("flip", "antonym_swap", "x", "")
    control = Perturbation("control", "case", "y", "")
    perturbed = {"q": [flip, control]}
    scores = PerturbedScores(
        original={"q": {"a": 3.0, "b": 2.0, "c": 1.0}},
        perturbed={
            f"q{SEP}0": {"a": 1.0, "b": 2.0, "c": 3.0},
            f"q{SEP}1": {"a": 3.0, "b": 2.0, "c": 1.0},
        },
        perturbed_top={f"q{SEP}0": {"c": 3.0}, f"q{SEP}1": {"a": 3.0, "b": 2.0, "c": 1.0}},
    )
    rf = role_flip(perturbed, scores, k=3, resamples=100)
    assert rf.by_kind["flip"].kendall_tau.value == pytest.approx(-1.0)
    assert rf.by_kind["control"].kendall_tau.value == 1.0
    assert rf.tau_gap == pytest.approx(2.0)
    assert rf.overlap_gap == pytest.approx(2 / 3)
    assert rf.rules_fired == {"antonym_swap": 1, "case": 1}
    assert set(rf.by_rule) == {"antonym_swap", "case"} and rf.n_queries == 1
    assert rf.to_dict()["by_kind"]["flip"]["kendall_tau"]["value"] == pytest.approx(-1.0)


def test_role_flip_without_controls_says_so():
    flip = Perturbation("flip", "negation_add", "x", "")
    scores = PerturbedScores({"q": {"a": 2.0, "b": 1.0}}, {f"q{SEP}0": {"a": 2.0, "b": 1.0}}, {})
    rf = role_flip({"q": [flip]}, scores, k=2, resamples=50)
    assert "control" in rf.skipped and rf.tau_gap is None


class CountingRanker(Ranker):
    """Scores = number of query words in the document; ranks by that."""

    name = "count"

    def rank(self, queries: Mapping[str, str], k: int = 100) -> Run:
        return {
            q: dict(sorted(self._score(t).items(), key=lambda kv: -kv[1])[:k])
            for q, t in queries.items()
        }

    def rerank(self, queries, candidates) -> Run:  # type: ignore[no-untyped-def]
        return {q: {d: self._score(queries[q])[d] for d in c} for q, c in candidates.items()}

    def _score(self, text: str) -> dict[str, float]:
        words = set(text.lower().split())
        return {
            d: float(len(words & set(doc.full_text.lower().split())))
            for d, doc in self.corpus.items()
        }


def test_score_perturbations_batches_every_perturbed_query():
    ranker = CountingRanker().index(CORPUS)
    perturbed = {"q": [Perturbation("flip", "antonym_swap", "dogs bark", "")]}
    scores = score_perturbations(ranker, {"q": {"d1": 2.0, "d3": 1.0}}, perturbed, k=2)
    assert scores.original == {"q": {"d1": 2.0, "d3": 1.0}}
    # the perturbed query is scored on the original top documents, and retrieves its own top-k
    assert scores.perturbed == {f"q{SEP}0": {"d1": 0.0, "d3": 1.0}}  # d3 has "dogs"
    assert scores.perturbed_top == {f"q{SEP}0": {"d2": 2.0, "d3": 1.0}}


def test_bm25_does_not_see_an_added_not():
    ranker = BM25Ranker().index(CORPUS)
    text = "cats are sleeping"
    ps = [p for p in perturbations(text) if p.rule == "negation_add"]
    assert ps[0].text == "cats are not sleeping"
    original = ranker.rerank({"q": text}, {"q": dict.fromkeys(CORPUS, 0.0)})
    scores = score_perturbations(ranker, original, {"q": ps}, k=3)
    rf = role_flip({"q": ps}, scores, k=3, resamples=50)
    assert rf.by_kind["flip"].identical == 1.0  # "not" is a stopword: nothing moves
    assert rf.by_kind["flip"].kendall_tau.value == 1.0
