"""The three heavy loops on a local Ray (2 CPUs, two actors) against the local engine: equal
outputs, resumption across engines at batch granularity, and only the driver writing."""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pytest

from aptrank.errors import DataError, ModelNotFoundError
from aptrank.rankers.dense import DenseConfig, DenseRanker
from aptrank.scale import Remote, constant, engine, job_history, map_batches
from aptrank.teach import LabelStore, label_pairs
from aptrank.teach.synthetic import SyntheticConfig, generate_queries
from aptrank.teach.teachers.base import teacher_id
from aptrank.teach.teachers.cross_encoder import CrossEncoderTeacher, CrossEncoderTeacherConfig
from tests.cli.test_cli import run_cli
from tests.helpers import write_beir
from tests.scale.workers import (
    DriverOnlyStore,
    Interrupt,
    LoggingTeacher,
    bad_batch,
    failing_setup,
    kill_after,
    pairs_of,
    scored,
    word_corpus,
)
from tests.teach.fakes import fake_label
from tests.teach.tiny_llm import tiny_llama_folder
from tests.tiny_models import tiny_bert_folder

pytestmark = [pytest.mark.slow, pytest.mark.ray]

CORPUS = word_corpus(24)
QUERIES = {"q1": "cats sleeping", "q2": "dog barking", "q3": "stock market prices"}


@pytest.fixture(scope="module")
def bert(tmp_path_factory: pytest.TempPathFactory) -> str:
    return str(tiny_bert_folder(tmp_path_factory.mktemp("bert")))


@pytest.fixture(scope="module")
def llama(tmp_path_factory: pytest.TempPathFactory) -> str:
    return str(tiny_llama_folder(tmp_path_factory.mktemp("llama")))


def fresh_cache(monkeypatch: pytest.MonkeyPatch, path: Path) -> Path:
    monkeypatch.setenv("APTRANK_CACHE", str(path))
    return path


def encode(model: str, **kw) -> DenseRanker:
    return DenseRanker(DenseConfig(model=model, chunk_size=4), **kw).index(CORPUS)


# --- the engine itself ---------------------------------------------------------------------


def test_a_worker_error_reaches_the_caller_as_itself(on_ray):
    with pytest.raises(ModelNotFoundError, match="cannot load embedding model 'nowhere'"):
        list(map_batches(range(4), local=str, remote=Remote(failing_setup, bad_batch)))
    with pytest.raises(DataError) as raised:
        list(map_batches(range(6), local=str, remote=Remote(constant(None), bad_batch)))
    assert str(raised.value) == "qrels/test.tsv:3: bad grade 'x'"


# --- corpus encoding ------------------------------------------------------------------------


def test_encoding_on_ray_equals_local_from_cold_caches(bert, on_ray, tmp_path, monkeypatch):
    fresh_cache(monkeypatch, tmp_path / "ray")
    remote = encode(bert)
    stats = job_history()[-1]
    assert (stats.engine, stats.batches, stats.workers) == ("ray", 6, 2)
    assert remote.docs_encoded == len(CORPUS)
    cached = list((tmp_path / "ray" / "embeddings").glob("*/embeddings.npy"))
    assert len(cached) == 1  # the driver wrote the cache entry, as the local engine does
    with engine("local"):
        fresh_cache(monkeypatch, tmp_path / "local")
        local = encode(bert)
    assert remote.doc_ids == local.doc_ids
    np.testing.assert_allclose(remote.embeddings, local.embeddings, atol=1e-5)
    assert not np.allclose(local.embeddings[0], local.embeddings[1])  # not trivially equal


@pytest.mark.parametrize("first", ["ray", "local"])
def test_killed_encoding_resumes_on_the_other_engine(
    bert, ray_session, tmp_path, monkeypatch, first
):
    with engine("local"):
        fresh_cache(monkeypatch, tmp_path / "whole")
        whole = encode(bert).embeddings
    fresh_cache(monkeypatch, tmp_path / "cache")
    second = "local" if first == "ray" else "ray"
    with engine(first, workers=2), pytest.raises(Interrupt):
        encode(bert, progress=kill_after(2))
    chunks = list((tmp_path / "cache" / "embeddings").glob("*/lchunk-*.npy"))
    assert len(chunks) == 2  # written: two batches; whatever else was in flight is lost
    with engine(second, workers=2):
        resumed = encode(bert)
    assert resumed.docs_encoded == len(CORPUS) - 8  # the two written chunks were not redone
    assert job_history()[-1].batches == 4
    np.testing.assert_allclose(resumed.embeddings, whole, atol=1e-5)


# --- teacher labelling ----------------------------------------------------------------------


def test_labels_on_ray_equal_local_ones(bert, on_ray, tmp_path):
    teacher = CrossEncoderTeacher(CrossEncoderTeacherConfig(bert, max_length=64, batch_size=8))
    pairs = pairs_of(CORPUS, QUERIES)
    with LabelStore(tmp_path / "ray.db") as store:
        stats = label_pairs(teacher, store, pairs)
        remote = store.get(stats.teacher)
    assert (stats.labeled, job_history()[-1].batches) == (72, 9)
    with engine("local"), LabelStore(tmp_path / "local.db") as store:
        local = store.get(label_pairs(teacher, store, pairs).teacher)
    assert remote.keys() == local.keys()
    for qid in local:
        assert remote[qid].keys() == local[qid].keys()
        for did, label in local[qid].items():
            assert remote[qid][did] == pytest.approx(label, abs=1e-6)
    assert len({round(v, 4) for v in local["q1"].values()}) > 1


def test_only_the_driver_writes_the_label_store(on_ray, tmp_path):
    log = tmp_path / "scored.tsv"
    pairs = pairs_of(CORPUS, QUERIES)[:40]
    with DriverOnlyStore(tmp_path / "l.db") as store:
        stats = label_pairs(LoggingTeacher(log, batch_size=5), store, pairs)
        labels = store.get(stats.teacher)
    workers = {pid for pid, _, _ in scored(log)}
    assert store.writers == [os.getpid()] * 8  # one commit per batch, all in this process
    assert workers and os.getpid() not in workers  # the scoring happened on the actors
    assert len(scored(log)) == 40
    for qid, qtext, did, dtext in pairs:
        assert labels[qid][did] == pytest.approx(fake_label(qtext, dtext))


@pytest.mark.parametrize("first", ["ray", "local"])
def test_killed_labelling_resumes_without_recomputing(ray_session, tmp_path, first):
    pairs = pairs_of(CORPUS, QUERIES)[:40]
    log, second = tmp_path / "a.tsv", "local" if first == "ray" else "ray"
    with DriverOnlyStore(tmp_path / "l.db") as store:
        with engine(first, workers=2), pytest.raises(Interrupt):
            label_pairs(LoggingTeacher(log), store, pairs, progress=kill_after(3, first=1))
        committed = {
            (q, d) for q, docs in store.get(teacher_id(LoggingTeacher(log))).items() for d in docs
        }
        assert len(committed) == 15  # three committed batches of 5
        with engine(second, workers=2):
            stats = label_pairs(LoggingTeacher(tmp_path / "b.tsv"), store, pairs)
        labels = store.get(stats.teacher)
    assert (stats.skipped, stats.labeled) == (15, 25)
    by_text = {(qt, dt): (q, d) for q, qt, d, dt in pairs}
    redone = [by_text[(qt, dt)] for _, qt, dt in scored(tmp_path / "b.tsv")]
    assert sorted(redone) == sorted(set(by_text.values()) - committed)  # each once, none twice
    for qid, qtext, did, dtext in pairs:
        assert labels[qid][did] == pytest.approx(fake_label(qtext, dtext))


# --- synthetic-query generation -------------------------------------------------------------


def synthetic(llama: str) -> SyntheticConfig:
    return SyntheticConfig(model=llama, max_new_tokens=6, min_words=1, batch_size=3)


def test_generation_on_ray_writes_the_local_file(llama, on_ray, tmp_path):
    ids = sorted(CORPUS)[:12]
    remote = generate_queries(CORPUS, ids, synthetic(llama), tmp_path / "ray.jsonl")
    assert job_history()[-1].batches == 4
    with engine("local"):
        local = generate_queries(CORPUS, ids, synthetic(llama), tmp_path / "local.jsonl")
    assert remote == local
    assert (tmp_path / "ray.jsonl").read_text() == (tmp_path / "local.jsonl").read_text()


def test_killed_generation_resumes_on_the_other_engine(llama, ray_session, tmp_path):
    ids = sorted(CORPUS)[:12]
    with engine("local"):
        generate_queries(CORPUS, ids, synthetic(llama), tmp_path / "whole.jsonl")
    path = tmp_path / "resumed.jsonl"
    with engine("ray", workers=2), pytest.raises(Interrupt):
        generate_queries(CORPUS, ids, synthetic(llama), path, progress=kill_after(2))
    assert len(path.read_text().splitlines()) == 1 + 6  # header and two batches of 3
    with engine("local"):
        generate_queries(CORPUS, ids, synthetic(llama), path)
    assert job_history()[-1].batches == 2
    assert path.read_text() == (tmp_path / "whole.jsonl").read_text()


# --- the command line -----------------------------------------------------------------------


def test_evaluate_engine_ray_gives_the_local_metrics(bert, ray_session, tmp_path, monkeypatch):
    qrels = {"q1": {"d00": 1, "d05": 2, "d09": 0}, "q2": {"d01": 1}, "q3": {"d02": 1, "d07": 1}}
    data = write_beir(tmp_path / "toy", CORPUS, QUERIES, qrels)
    figures = {}
    for name in ("local", "ray"):
        fresh_cache(monkeypatch, tmp_path / f"cache-{name}")
        out = tmp_path / name
        args = ["evaluate", str(data), "-p", "bm25", "-p", f"dense:{bert}", "-o", str(out)]
        assert run_cli([*args, "--engine", name, "--no-progress"], monkeypatch) == 0
        figures[name] = json.loads((out / "metrics.json").read_text())
        assert list((tmp_path / f"cache-{name}" / "embeddings").glob("*/embeddings.npy"))
    assert figures["ray"].keys() == figures["local"].keys()
    for pipeline, metrics in figures["local"].items():
        assert figures["ray"][pipeline] == pytest.approx(metrics, abs=1e-6)
    assert job_history()[-1].engine == "ray"
