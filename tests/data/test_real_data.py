"""The shared real datasets (SciFact, NegConstraint): counts and grade 0 kept. (Load time is a
benchmark figure, not a test: see benchmarks/foundation.py.)"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from aptrank.data import list_datasets, load_beir, load_dataset

pytestmark = pytest.mark.slow

# Read at import, before the autouse fixture clears APTRANK_DATA.
_SEARCH = [Path(p) for p in os.environ.get("APTRANK_DATA", "").split(os.pathsep) if p]
_SEARCH.append(Path(__file__).resolve().parents[2] / ".." / "shared" / "data")


def _real(name: str) -> Path:
    for root in _SEARCH:
        if (root / name / "corpus.jsonl").is_file():
            return root / name
    pytest.skip(f"{name} not found in {', '.join(map(str, _SEARCH))}")


def _pairs(qrels: dict[str, dict[str, int]]) -> int:
    return sum(len(judged) for judged in qrels.values())


def test_scifact_counts() -> None:
    folder = _real("scifact")
    test = load_beir(folder, "test")
    assert (len(test.corpus), len(test.qrels), _pairs(test.qrels)) == (5183, 300, 339)
    assert len(test.queries) == 1109  # the queries file holds both splits
    train = load_beir(folder, "train")
    assert (len(train.qrels), _pairs(train.qrels)) == (809, 919)
    assert {g for judged in test.qrels.values() for g in judged.values()} == {1}


def test_negconstraint_keeps_the_grade_zero_violators() -> None:
    ds = load_beir(_real("negconstraint"))
    assert (len(ds.corpus), len(ds.queries), len(ds.qrels), _pairs(ds.qrels)) == (
        3946,
        366,
        366,
        732,
    )
    assert all(sorted(judged.values()) == [0, 2] for judged in ds.qrels.values())
    assert all("category" in query.meta for query in ds.queries.values())


def test_shared_data_found_by_name_and_listed(monkeypatch: pytest.MonkeyPatch) -> None:
    root = _real("scifact").parent
    monkeypatch.setenv("APTRANK_DATA", str(root))
    assert load_dataset("scifact", "train").path == str(root / "scifact")
    listed = {info.name: info for info in list_datasets()}
    assert listed["scifact"].splits == ["test", "train"]
    assert listed["scifact"].n_docs == 5183
