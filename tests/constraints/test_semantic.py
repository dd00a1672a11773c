"""The semantic check: closeness in meaning between an excluded phrase and a document's sentences,
and its use by constrain(...)[semantic=...]."""

from __future__ import annotations

import numpy as np
import pytest

from aptrank.constraints.parse import parse_query
from aptrank.constraints.semantic import SemanticChecker
from aptrank.rankers import build_ranker
from aptrank.rankers.constrain import ConstrainRanker
from aptrank.types import Doc

#: a toy "meaning": synonyms share a dimension, so a paraphrase with no word in common is close
SENSES = {
    "moses": 0, "prophet": 0, "lawgiver": 0,
    "aaron": 1, "priest": 2, "tabernacle": 3, "sons": 4, "israelites": 5, "fruit": 6,
}  # fmt: skip


class SenseEncoder:
    """Bag of senses, unit length (a TextEncoder for tests)."""

    model, backend, max_length = "senses", "toy", 64

    def __init__(self) -> None:
        self.calls: list[list[str]] = []

    def encode(self, texts, batch_size: int = 64, show_progress: bool = False) -> np.ndarray:
        self.calls.append(list(texts))
        out = np.zeros((len(texts), len(SENSES) + 1), dtype=np.float32)
        for i, text in enumerate(texts):
            for w in text.lower().replace(".", " ").replace(",", " ").split():
                out[i, SENSES.get(w, len(SENSES))] += 1.0 if w in SENSES else 0.1
        return out / np.maximum(np.linalg.norm(out, axis=1, keepdims=True), 1e-9)


def test_a_paraphrase_of_the_excluded_phrase_is_close_and_a_clean_document_is_not() -> None:
    checker = SemanticChecker(encoder=SenseEncoder())
    parsed = parse_query("Aaron the high priest, but don't mention Moses.")
    paraphrase = "Aaron was a priest. The lawgiver was his brother."
    clean = "Aaron was a priest. His sons served in the tabernacle."
    near, far = checker.violations([(parsed, paraphrase), (parsed, clean)])
    assert near > 0.9  # the sentence naming the lawgiver matches "Moses"
    assert 0.0 <= far < 0.2


def test_no_exclusion_or_empty_document_is_zero_and_sentences_are_embedded_once() -> None:
    encoder = SenseEncoder()
    checker = SemanticChecker(encoder=encoder)
    parsed = parse_query("Aaron the high priest, but don't mention Moses.")
    doc = "Aaron was a priest. The prophet spoke."
    assert checker.violations([(parse_query("tropical fruit"), doc), (parsed, "")]) == [0.0, 0.0]
    checker.violations([(parsed, doc), (parsed, doc)])
    checker.violations([(parsed, doc)])
    embedded = [t for call in encoder.calls for t in call]
    assert sorted(embedded) == sorted(set(embedded))  # nothing embedded twice


CORPUS = {
    "vio": Doc("Aaron the high priest. The lawgiver was his brother.", ""),
    "sat": Doc("Aaron the high priest. His sons served in the tabernacle.", ""),
    "off": Doc("Bananas are a tropical fruit.", ""),
}
QUERY = {"q": "Aaron the high priest, but don't mention Moses."}


def constrain(spec: str) -> ConstrainRanker:
    r = build_ranker(spec)
    assert isinstance(r, ConstrainRanker)
    r.index(CORPUS)
    if r.cfg.semantic:
        r._semantic = SemanticChecker(encoder=SenseEncoder())
    return r


def test_the_semantic_check_demotes_a_violator_the_rule_check_cannot_see() -> None:
    candidates = {"q": {"vio": 2.0, "sat": 1.9, "off": 0.0}}
    rules = constrain("constrain(bm25)").rerank(QUERY, candidates)
    assert list(rules["q"])[:2] == ["vio", "sat"]  # no word of "Moses" in the violator
    semantic = constrain("constrain(bm25)[semantic=toy]").rerank(QUERY, candidates)
    assert list(semantic["q"])[:2] == ["sat", "vio"]
    none = constrain("constrain(bm25)[semantic=toy,semantic_weight=0]").rerank(QUERY, candidates)
    assert list(none["q"]) == list(rules["q"])


def test_semantic_options_round_trip_and_a_negative_weight_is_an_error() -> None:
    name = "constrain(bm25)[semantic=all-MiniLM-L6-v2,semantic_weight=0.5]"
    assert build_ranker(name).name == name
    with pytest.raises(Exception, match="semantic_weight must be >= 0"):
        build_ranker("constrain(bm25)[semantic_weight=-1]")


def test_dev_figures_report_the_semantic_checks_pair_accuracy() -> None:
    from aptrank.constraints.scorer import dev_figures

    record = {
        "kind": "paraphrase",
        "statement": "exclude: Moses",
        "satisfying": "Aaron was a priest. His sons served in the tabernacle.",
        "violating": "Aaron was a priest. The lawgiver was his brother.",
    }
    figures = dev_figures([record], None, semantic=SemanticChecker(encoder=SenseEncoder()))
    assert figures["paraphrase"]["rule_accuracy"] == 0.5  # no word of "Moses": a tie
    assert figures["paraphrase"]["semantic_accuracy"] == 1.0
