"""Query adapters (aptrank adapt, dense[adapter=...]) and the query prefix, with the keyword mock.

The constructed dataset needs a linear map: every query names each word of its relevant
document shifted by one place in the mock's vocabulary (``cats`` for a document about dogs), so
the plain encoder ranks the wrong documents first and a permutation of the embedding dimensions
ranks the right ones.
"""

from __future__ import annotations

import importlib.util
import json
import os
import sys
from collections.abc import Sequence
from itertools import combinations
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from aptrank.cli.main import main
from aptrank.data import load_dataset
from aptrank.errors import AptrankError
from aptrank.evaluate.metrics import evaluate
from aptrank.rankers import build_ranker
from aptrank.rankers.dense import DenseConfig, DenseRanker
from aptrank.rankers.registry import PipelineError
from aptrank.train.adapter import (
    AdapterConfig,
    QueryAdapter,
    load_adapter,
    save_adapter,
    train_adapter,
    write_adapter,
)
from aptrank.types import Dataset, Doc
from tests.helpers import CORPUS, QUERIES, VOCAB, KeywordEncoder, write_beir

needs_torch = pytest.mark.skipif(
    importlib.util.find_spec("torch") is None, reason="training needs torch"
)
MOCK = KeywordEncoder.fingerprint
WORDS = [f"{w}s" for w in VOCAB]  # cats, dogs, stocks, ... (the mock matches prefixes)


def fast(**changes: object) -> AdapterConfig:
    """lr and epochs for 8 dimensions and 40 queries (the defaults suit a real corpus)."""
    config = {"model": "keyword", "lr": 0.05, "epochs": 30, "dev_size": 10, "weight_decay": 0.0}
    return AdapterConfig(**{**config, **changes})  # type: ignore[arg-type]


class SpyEncoder(KeywordEncoder):
    """The keyword mock, remembering every text it encoded."""

    def __init__(self) -> None:
        super().__init__()
        self.texts: list[str] = []

    def encode(
        self, texts: Sequence[str], batch_size: int = 64, show_progress: bool = False
    ) -> np.ndarray:
        self.texts.extend(texts)
        return super().encode(texts, batch_size, show_progress)


def shifted(i: int) -> str:
    return WORDS[(i + 1) % len(WORDS)]


def shifted_dataset(folder: Path) -> Path:
    """28 documents (each word, each pair of words); 49 train queries and 21 test queries."""
    corpus = {f"s{i}": Doc(f"{w} only") for i, w in enumerate(WORDS)}
    corpus |= {f"p{i}-{j}": Doc(f"{WORDS[i]} and {WORDS[j]}") for i, j in combinations(range(7), 2)}
    queries, train, test = {}, {}, {}
    for i in range(7):
        queries[f"qs{i}"], train[f"qs{i}"] = shifted(i), {f"s{i}": 1}
    for i, j in combinations(range(7), 2):
        queries[f"qp{i}-{j}"], train[f"qp{i}-{j}"] = f"{shifted(i)} {shifted(j)}", {f"p{i}-{j}": 1}
        queries[f"qa{i}-{j}"] = f"{shifted(i)} {shifted(i)} {shifted(j)}"
        train[f"qa{i}-{j}"] = {f"p{i}-{j}": 1}
        queries[f"qt{i}-{j}"] = f"{shifted(i)} {shifted(j)} {shifted(j)}"
        test[f"qt{i}-{j}"] = {f"p{i}-{j}": 1}
    write_beir(folder, corpus, queries, test, split="test")
    return write_beir(folder, corpus, queries, train, split="train")


def ndcg(ranker: DenseRanker, dataset: Dataset, ids: Sequence[str]) -> float:
    run = ranker.rank({q: dataset.queries[q].text for q in ids}, k=10)
    return evaluate({q: dataset.qrels[q] for q in ids}, run, ["ndcg@10"]).means["ndcg@10"]


def dense(encoder: KeywordEncoder, adapter: Path | None = None, **cfg: Any) -> DenseRanker:
    config = DenseConfig(model="keyword", adapter=str(adapter) if adapter else None, **cfg)
    return DenseRanker(config, encoder=encoder)


@needs_torch
@pytest.mark.parametrize("kind", ["linear", "lowrank"])
def test_training_learns_the_map_the_queries_need(tmp_path: Path, kind: str):
    ds = load_dataset(shifted_dataset(tmp_path / "data"), "train")
    config = fast(kind=kind, rank=8)
    adapter, report = train_adapter(ds, config, encoder=KeywordEncoder())
    assert len(report.train_queries) == 39 and len(report.dev_queries) == 10
    assert not set(report.train_queries) & set(report.dev_queries)
    assert report.epoch > 0 and report.curves["0.0"][0] == report.dev_ndcg10_before
    assert report.dev_ndcg10_before < 0.4 < 0.9 < report.dev_ndcg10_after
    path = save_adapter(adapter, tmp_path / "adapter.npz")
    train = report.train_queries
    before = ndcg(dense(KeywordEncoder()).index(ds.corpus), ds, train)
    after = ndcg(dense(KeywordEncoder(), path).index(ds.corpus), ds, train)
    assert before < 0.4 and after > 0.8


@needs_torch
def test_training_can_be_restricted_to_given_queries(tmp_path: Path):
    ds = load_dataset(shifted_dataset(tmp_path / "data"), "train")
    ids = sorted(ds.qrels)[:35]
    _, report = train_adapter(ds, fast(epochs=1), query_ids=ids, encoder=KeywordEncoder())
    assert sorted(report.train_queries + report.dev_queries) == ids
    assert len(report.dev_queries) == 10  # fast()'s dev_size
    with pytest.raises(AptrankError, match="1 of the 36 given query ids have no relevant"):
        train_adapter(ds, fast(), query_ids=[*ids, "nope"], encoder=KeywordEncoder())
    # the floor of 30 is the dataset's; a fold's training part (query_ids) needs 5
    with pytest.raises(AptrankError, match="4 given query ids: a query adapter needs at least 5"):
        train_adapter(ds, fast(), query_ids=ids[:4], encoder=KeywordEncoder())
    with pytest.raises(AptrankError, match="holds the train split, the config names test"):
        train_adapter(ds, fast(split="test"), encoder=KeywordEncoder())


@needs_torch
def test_documents_are_never_encoded_again_nor_changed(tmp_path: Path):
    ds = load_dataset(shifted_dataset(tmp_path / "data"), "train")
    first = SpyEncoder()
    dense(first).index(ds.corpus)
    assert len(first.texts) == len(ds.corpus)  # the corpus, encoded once into the cache
    [cached] = (Path(os.environ["APTRANK_CACHE"]) / "embeddings").glob("*/embeddings.npy")
    before = cached.read_bytes()
    spy = SpyEncoder()
    adapter, report = train_adapter(ds, fast(), encoder=spy)
    path = save_adapter(adapter, tmp_path / "adapter.npz")
    ranker = dense(spy, path).index(ds.corpus)
    ranker.rank({"x": "cats dogs"}, k=3)
    ranker.rerank({"x": "cats dogs"}, {"x": {"s0": 0.0, "s1": 0.0}})
    doc_texts = {d.full_text for d in ds.corpus.values()}
    assert spy.texts and not doc_texts & set(spy.texts)  # only queries were encoded
    assert report.docs_encoded == 0 and ranker.docs_encoded == 0
    assert cached.read_bytes() == before
    record = json.loads((write_adapter(tmp_path / "out", adapter, report, ds)[0]).read_text())
    assert record["docs_reencoded"] == 0 and record["training"]["docs_encoded"] == 0


def test_identity_adapter_reproduces_the_plain_ranking(tmp_path: Path):
    plain = dense(KeywordEncoder()).index(CORPUS)
    run = plain.rank(QUERIES, k=5)
    for kind in ("linear", "lowrank"):
        path = save_adapter(QueryAdapter.identity(8, MOCK, kind, rank=3), tmp_path / f"{kind}.npz")
        adapted = dense(KeywordEncoder(), path).index(CORPUS)
        again = adapted.rank(QUERIES, k=5)
        assert list(again) == list(run)
        for qid in run:
            assert again[qid] == pytest.approx(run[qid], abs=1e-6)
        assert adapted.rerank(QUERIES, run)["q1"] == pytest.approx(run["q1"], abs=1e-6)


def test_adapted_queries_reuse_the_query_cache(tmp_path: Path):
    first = KeywordEncoder()
    dense(first).index(CORPUS).rank(QUERIES, k=3)
    path = save_adapter(QueryAdapter.identity(8, MOCK), tmp_path / "a.npz")
    second = KeywordEncoder()
    dense(second, path).index(CORPUS).rank(QUERIES, k=3)
    assert second.calls == []  # neither documents nor queries encoded: the cache holds raw vectors


def test_the_adapter_file_round_trips(tmp_path: Path):
    rng = np.random.default_rng(0)
    arrays = {"A": rng.normal(size=(8, 2)), "B": rng.normal(size=(2, 8))}
    adapter = QueryAdapter("lowrank", {k: v.astype(np.float32) for k, v in arrays.items()}, MOCK)
    loaded = load_adapter(save_adapter(adapter, tmp_path / "a.npz"))
    assert (loaded.kind, loaded.model, loaded.dim) == ("lowrank", MOCK, 8)
    for name in ("A", "B"):
        np.testing.assert_array_equal(loaded.arrays[name], adapter.arrays[name])
    q = KeywordEncoder().encode(list(QUERIES.values()))
    np.testing.assert_allclose(loaded.apply(q), adapter.apply(q), rtol=0, atol=0)
    np.testing.assert_allclose(np.linalg.norm(loaded.apply(q), axis=1), 1.0, atol=1e-6)
    assert len(loaded.file_fingerprint) == 16 and adapter.file_fingerprint == ""
    (tmp_path / "bad.npz").write_bytes(b"not a zip")
    with pytest.raises(AptrankError, match="bad.npz: not a query adapter"):
        load_adapter(tmp_path / "bad.npz")
    with pytest.raises(AptrankError, match="no such query adapter file"):
        DenseRanker(DenseConfig(adapter=str(tmp_path / "missing.npz")))


def test_an_adapter_for_another_model_is_a_clear_error(tmp_path: Path):
    path = save_adapter(QueryAdapter.identity(8, "all-MiniLM-L6-v2@0123"), tmp_path / "a.npz")
    with pytest.raises(AptrankError) as e:
        dense(KeywordEncoder(), path).index(CORPUS)
    message = str(e.value)
    assert "\n" not in message and str(path) in message
    assert "trained for all-MiniLM-L6-v2@0123" in message and MOCK in message
    wrong_dim = save_adapter(QueryAdapter.identity(4, MOCK), tmp_path / "d.npz")
    with pytest.raises(AptrankError, match="dimension 4, embeddings of 8"):
        dense(KeywordEncoder(), wrong_dim).index(CORPUS)


def test_pipeline_option_paths_and_names(tmp_path: Path):
    save_adapter(QueryAdapter.identity(8, MOCK), tmp_path / "a.npz")
    ranker = build_ranker("dense:keyword[adapter=./a.npz]", base=tmp_path)
    assert isinstance(ranker, DenseRanker) and ranker.cfg.adapter == str(tmp_path / "a.npz")
    assert ranker.name == f"dense:keyword[adapter={tmp_path / 'a.npz'}]"
    config = ranker.config()
    assert config["adapter"] == str(tmp_path / "a.npz")
    assert config["adapter_fingerprint"] == load_adapter(tmp_path / "a.npz").file_fingerprint


def test_query_prefix_is_encoded_and_keys_the_cache():
    spy = SpyEncoder()
    prefixed = dense(spy, query_prefix="Find:").index(CORPUS)
    prefixed.rank({"q": "cats sleeping"}, k=2)
    assert spy.texts[-1] == "Find: cats sleeping"  # joined by a space
    again = SpyEncoder()
    dense(again, query_prefix="Find:").index(CORPUS).rank({"q": "cats sleeping"}, k=2)
    assert again.texts == []  # the same prefix: read from the query cache
    plain = SpyEncoder()
    dense(plain).index(CORPUS).rank({"q": "cats sleeping"}, k=2)
    assert plain.texts == ["cats sleeping"]  # no prefix: another cache key, encoded
    assert prefixed.name == "dense:keyword[query_prefix=Find:]"


def test_a_prefix_travels_in_a_pipeline_option_without_commas():
    wording = "Find the abstract that supports or refutes the claim:"
    ranker = build_ranker(f"dense[query_prefix={wording} ]")
    assert isinstance(ranker, DenseRanker) and ranker.cfg.query_prefix == wording
    assert ranker._query_text("x") == f"{wording} x"
    short = build_ranker("dense[query_prefix=query: ]")
    assert isinstance(short, DenseRanker) and short.cfg.query_prefix == "query:"
    with pytest.raises(PipelineError, match="is not key=value"):
        build_ranker("dense[query_prefix=Given a claim, find its evidence]")


@needs_torch
def test_the_artifact_records_training_and_held_out_figures(tmp_path: Path):
    data = shifted_dataset(tmp_path / "data")
    ds, test = load_dataset(data, "train"), load_dataset(data, "test")
    adapter, report = train_adapter(ds, fast(), encoder=KeywordEncoder())
    out = tmp_path / "out"
    path, pipeline, figures = write_adapter(out, adapter, report, ds, test, KeywordEncoder())
    record = json.loads(path.read_text())
    assert pipeline == record["pipeline"] == "dense:keyword[adapter=./adapter.npz]"
    assert record["kind"] == "adapter" and record["docs_reencoded"] == 0
    assert record["trained_on"]["queries"] == list(report.train_queries)
    assert record["trained_on"]["dev_queries"] == list(report.dev_queries)
    assert record["model_fingerprint"] == MOCK
    assert figures["test"]["out_of_fold"] and figures["test"]["queries"] == 21
    assert figures["test (no adapter)"]["ndcg@10"] < 0.4 < 0.9 < figures["test"]["ndcg@10"]
    artifact = build_ranker(str(out))  # the folder is a pipeline string
    artifact.inner._encoder = KeywordEncoder()  # type: ignore[attr-defined]
    run = artifact.index(test.corpus).rank({q: test.queries[q].text for q in test.qrels}, k=10)
    assert evaluate(test.qrels, run, ["ndcg@10"]).means["ndcg@10"] == pytest.approx(
        figures["test"]["ndcg@10"]
    )


def test_fewer_than_30_judged_queries_exit_2(tmp_path: Path, monkeypatch, capsys):
    data = write_beir(tmp_path / "toy", split="train")
    with pytest.raises(AptrankError, match="3 judged train queries .* at least 30"):
        train_adapter(load_dataset(data, "train"), AdapterConfig(), encoder=KeywordEncoder())
    monkeypatch.setattr(sys, "argv", ["aptrank", "adapt", str(data), "--out", str(tmp_path / "o")])
    with pytest.raises(SystemExit) as e:
        main()
    assert e.value.code == 2 and not (tmp_path / "o").exists()
    assert "at least 30" in capsys.readouterr().err


@needs_torch
@pytest.mark.parametrize(
    ("unseen", "chosen"),
    [
        ([0.5, 0.4, 0.55, 0.3], 2),  # guarded: epochs 1 and 3 lose the unseen dev queries
        ([float("nan")] * 4, 3),  # no unseen dev query: no guard, the dev-best epoch
    ],
)
def test_the_guard_never_keeps_an_epoch_that_loses_the_unseen_queries(unseen, chosen):
    from aptrank.train.adapter import _fit

    figures = iter(zip([0.7, 0.6, 0.8], unseen[1:], strict=True))
    rng = np.random.default_rng(0)
    docs = rng.normal(size=(6, 4)).astype(np.float32)
    queries = rng.normal(size=(5, 4)).astype(np.float32)
    config = fast(epochs=3, patience=5, batch_size=5)
    _, curve, unseen_curve, epoch = _fit(
        queries,
        [[i] for i in range(5)],
        docs,
        config,
        0.0,
        "m",
        lambda _: next(figures),
        (0.5, unseen[0]),
    )
    assert curve == [0.5, 0.7, 0.6, 0.8] and epoch == chosen
    assert unseen_curve[1:] == unseen[1:] or np.isnan(unseen_curve).all()


@needs_torch
def test_the_selection_is_recorded(tmp_path: Path):
    ds = load_dataset(shifted_dataset(tmp_path / "data"), "train")
    _, report = train_adapter(ds, fast(), encoder=KeywordEncoder())
    assert set(report.unseen_dev_queries) <= set(report.dev_queries)
    assert set(report.unseen_curves) == set(report.curves)
    _, plain = train_adapter(ds, fast(select="dev"), encoder=KeywordEncoder())
    assert plain.unseen_curves == {} and plain.config["select"] == "dev"
    with pytest.raises(AptrankError, match="selection"):
        fast(select="best")
