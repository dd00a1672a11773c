"""A tiny compatibility scorer learns a toy violation (the excluded word in the document)."""

from __future__ import annotations

from pathlib import Path

import pytest

pytest.importorskip("sentence_transformers")
pytest.importorskip("datasets")

from aptrank.constraints.generate import write_pairs  # noqa: E402
from aptrank.constraints.scorer import (  # noqa: E402
    ScorerTrainConfig,
    load_scorer,
    train_scorer,
    training_pairs,
)
from aptrank.rankers import build_ranker  # noqa: E402
from aptrank.rankers.artifact import read_record  # noqa: E402
from tests.tiny_models import tiny_bert_folder  # noqa: E402

# the toy violation: a document naming dogs violates "exclude: dogs"
WITH_DOGS = ["dogs bark at the mailman", "cats and dogs can live together", "dogs sleep all day"]
WITHOUT = [
    "cats purr and sleep all day",
    "stock market fell sharply today",
    "prices of pet food rose",
]


def records() -> list[dict[str, str]]:
    return [
        {
            "doc_id": f"{i}-{j}",
            "kind": "exclusion",
            "statement": "exclude: dogs",
            "satisfying": sat,
            "violating": vio,
            "reason": "toy: the violator names dogs",
        }
        for i, sat in enumerate(WITHOUT)
        for j, vio in enumerate(WITH_DOGS)
    ]


def test_a_tiny_scorer_learns_the_toy_violation(tmp_path: Path) -> None:
    rows = records()
    assert len(training_pairs(rows, ("exclusion",))) == 2 * len(rows)
    pairs = tmp_path / "pairs"
    write_pairs(pairs, rows * 4, rows, {"corpus": "toy"})
    backbone = tiny_bert_folder(tmp_path / "tiny")
    config = ScorerTrainConfig(
        backbone=str(backbone), max_length=32, max_steps=60, batch_size=8, learning_rate=3e-3
    )
    out = tmp_path / "scorer"
    result = train_scorer(pairs, out, config, progress=False)
    figs = result["figures"]["all"]
    assert figs["model_accuracy"] >= 0.9, figs
    assert figs["rule_accuracy"] == 1.0  # the toy violation is literal: the rule sees it too
    scorer = load_scorer(out, max_length=32)
    p_sat, p_vio = scorer.satisfies(
        [("exclude: dogs", WITHOUT[0]), ("exclude: dogs", WITH_DOGS[0])]
    )
    assert p_sat > p_vio
    record = read_record(out)
    assert record["kind"] == "constraint-scorer" and "model=." in record["pipeline"]
    ranker = build_ranker(f"constrain(bm25)[model={out},max_length=32]")
    assert ranker.name.startswith("constrain(bm25)[model=")
