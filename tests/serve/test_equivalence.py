"""``/v1/rerank`` gives the order (and the scores) of the same pipeline in process, with tiny
random-weight models, for single and concurrent (merged) requests."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from aptrank.data.runs import rank_order
from aptrank.rankers import build_ranker
from aptrank.rankers.artifact import write_artifact
from aptrank.serve.app import create_app
from aptrank.serve.models import served_models
from tests.helpers import CORPUS, QUERIES
from tests.serve.fakes import quick_config
from tests.serve.test_limits import running
from tests.tiny_models import tiny_bert_folder

pytest.importorskip("sentence_transformers")

IDS = sorted(CORPUS)
TEXTS = [CORPUS[d].full_text for d in IDS]


@pytest.fixture(scope="module")
def artifact(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A trained ranker's folder holding a tiny BERT: fuse of it as cross-encoder and as
    bi-encoder (the folder's name, ``tiny-fused``, names the served model)."""
    folder = tmp_path_factory.mktemp("models") / "tiny-fused"
    tiny_bert_folder(folder)
    write_artifact(
        folder, name="tiny-fused", kind="fusion", description="test",
        pipeline="fuse(ce:./st[max_length=32],dense:./st)",
    )  # fmt: skip
    return folder


def pipelines(artifact: Path) -> list[str]:
    st = artifact / "st"
    return [f"ce:{st}[max_length=32]", f"dense:{st}", str(artifact)]


def in_process(pipeline: str) -> dict[str, dict[str, float]]:
    ranker = build_ranker(pipeline).index(CORPUS)
    return ranker.rerank(QUERIES, {q: dict.fromkeys(IDS, 0.0) for q in QUERIES})


def test_rerank_order_and_scores_equal_the_pipeline_in_process(artifact: Path):
    models = served_models(pipelines(artifact))
    assert [m.name for m in models][2] == "tiny-fused"
    with TestClient(create_app(models, quick_config())) as client:
        for model in models:
            expected = in_process(model.pipeline)
            for qid, query in QUERIES.items():
                body = {"model": model.name, "query": query, "documents": TEXTS}
                results = client.post("/v1/rerank", json=body).json()["results"]
                served = {IDS[r["index"]]: r["relevance_score"] for r in results}
                assert [IDS[r["index"]] for r in results] == rank_order(expected)[qid]
                assert served == pytest.approx(expected[qid], abs=1e-5)


def test_merged_concurrent_requests_keep_each_querys_order(artifact: Path):
    st = artifact / "st"
    pipeline = f"ce:{st}[max_length=32]"
    models = served_models([pipeline])
    app = create_app(models, quick_config(batch_wait_ms=100))
    expected = rank_order(in_process(pipeline))

    async def main() -> list[list[int]]:
        async with running(app) as client:
            posts = [
                client.post("/v1/rerank", json={"query": q, "documents": TEXTS})
                for q in QUERIES.values()
            ]
            responses = await asyncio.gather(*posts)
        return [[r["index"] for r in resp.json()["results"]] for resp in responses]

    for qid, order in zip(QUERIES, asyncio.run(main())):
        assert [IDS[i] for i in order] == expected[qid]
    registry = app.state.service.metrics.registry
    labels = {"model": pipeline, "endpoint": "rerank"}
    assert registry.get_sample_value("aptrank_batch_requests_count", labels) == 1  # one call
    assert registry.get_sample_value("aptrank_batch_requests_sum", labels) == len(QUERIES)
