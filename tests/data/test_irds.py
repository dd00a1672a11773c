"""``irds:`` ids, through a stand-in ``ir_datasets`` module (the tests stay offline)."""

from __future__ import annotations

import sys
import types
from typing import Any, NamedTuple

import pytest

from aptrank.data import load_dataset
from aptrank.errors import DataError, MissingDependencyError
from aptrank.types import Doc, Query


class GenericDoc(NamedTuple):
    doc_id: str
    title: str
    text: str
    url: str


class TrecQuery(NamedTuple):
    query_id: str
    title: str
    description: str

    def default_text(self) -> str:
        return self.title


class TrecQrel(NamedTuple):
    query_id: str
    doc_id: str
    relevance: int
    iteration: str


class FakeDataset:
    def __init__(self, docs: list[Any], queries: list[Any], qrels: list[Any]) -> None:
        self.parts = {"docs": docs, "queries": queries, "qrels": qrels}

    def __getattr__(self, name: str) -> Any:
        kind, part = name.split("_", 1)
        if kind == "has":
            return lambda: bool(self.parts[part])
        return lambda: iter(self.parts[kind])


DOCS = [GenericDoc("d1", "T", "one", "u1"), GenericDoc("d2", "", "two", "u2")]
QUERIES = [TrecQuery("1", "apples", "about apples"), TrecQuery("2", "cars", "about cars")]
QRELS = [TrecQrel("1", "d1", 2, "0"), TrecQrel("1", "d2", 0, "0"), TrecQrel("2", "d9", 1, "0")]


@pytest.fixture
def fake_irds(monkeypatch: pytest.MonkeyPatch) -> dict[str, FakeDataset]:
    """A stand-in ``ir_datasets`` whose ``load`` serves the returned dict of datasets."""
    registry = {
        "toy": FakeDataset(DOCS, QUERIES, []),
        "toy/test": FakeDataset(DOCS, QUERIES, QRELS),
        "toy/empty": FakeDataset([], QUERIES, QRELS),
    }

    def load(dataset_id: str) -> FakeDataset:
        if dataset_id not in registry:
            raise KeyError(f"{dataset_id} not found")
        return registry[dataset_id]

    monkeypatch.setitem(sys.modules, "ir_datasets", types.SimpleNamespace(load=load))
    return registry


def test_loads_docs_queries_and_qrels_with_the_split_appended(fake_irds: object) -> None:
    ds = load_dataset("irds:toy", "test", strict=False)
    assert (ds.name, ds.split, ds.path) == ("irds:toy/test", "test", None)
    assert ds.corpus == {"d1": Doc("one", "T", {"url": "u1"}), "d2": Doc("two", "", {"url": "u2"})}
    assert ds.queries["1"] == Query("apples", {"title": "apples", "description": "about apples"})
    assert ds.qrels == {"1": {"d1": 2, "d2": 0}}  # grade 0 kept, unknown d9 dropped


def test_a_full_id_is_used_as_given_and_unknown_docs_are_errors_by_default(
    fake_irds: object,
) -> None:
    with pytest.raises(DataError, match=r"^irds:toy/test: document 'd9' is not in its documents"):
        load_dataset("irds:toy/test", "ignored")


def test_unknown_ids_and_missing_parts_are_data_errors(fake_irds: object) -> None:
    with pytest.raises(DataError, match="^ir_datasets has no dataset 'nope'$"):
        load_dataset("irds:nope")
    with pytest.raises(DataError, match="^ir_datasets has no dataset 'toy/dev'$"):
        load_dataset("irds:toy", "dev")
    with pytest.raises(DataError, match="ir_datasets 'toy/empty' has no docs"):
        load_dataset("irds:toy/empty")


def test_without_ir_datasets_the_error_names_the_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "ir_datasets", None)  # makes `import ir_datasets` fail
    with pytest.raises(MissingDependencyError) as err:
        load_dataset("irds:beir/scifact/test")
    assert str(err.value) == (
        'loading ir_datasets ids needs ir_datasets: install it with `pip install "aptrank[online]"`'
    )
