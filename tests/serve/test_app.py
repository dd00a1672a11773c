"""The endpoints' shapes and choices, against hand-checked scores of the fake models."""

from __future__ import annotations

import base64

import numpy as np
import pytest
from fastapi.testclient import TestClient

from aptrank.errors import AptrankError
from aptrank.rankers import build_ranker
from aptrank.serve.app import create_app
from aptrank.serve.models import served_models
from tests.helpers import CORPUS, KeywordEncoder
from tests.serve.fakes import fake_models, keyword_dense, quick_config

DOCS = ["dogs bark at night", "cats sleep all day long", "the stock market fell"]


@pytest.fixture(scope="module")
def client():
    app = create_app(fake_models(), quick_config(), corpus=CORPUS)
    with TestClient(app) as c:
        yield c


def test_rerank_in_the_cohere_shape_sorted_by_score(client: TestClient):
    r = client.post("/v1/rerank", json={"query": "cats sleeping", "documents": DOCS})
    assert r.status_code == 200
    body = r.json()
    assert body["model"] == "ce"  # the first model is the default
    assert body["id"] == r.headers["x-request-id"]
    assert set(body["meta"]) == {"api_version", "billed_units"}
    # overlap: 'cats'+'sleep' = 2 (+ 0.005 for 5 words); the others share nothing (4 words each)
    assert [x["index"] for x in body["results"]] == [1, 0, 2]
    assert [x["relevance_score"] for x in body["results"]] == pytest.approx([2.005, 0.004, 0.004])
    assert all("document" not in x for x in body["results"])


def test_rerank_takes_text_objects_top_n_and_returns_documents(client: TestClient):
    documents = [{"text": d} for d in DOCS]
    r = client.post(
        "/v1/rerank",
        json={"query": "cats", "documents": documents, "top_n": 1, "return_documents": True},
    )
    assert r.json()["results"] == [
        {"index": 1, "relevance_score": pytest.approx(1.005), "document": {"text": DOCS[1]}}
    ]


def test_model_picks_a_model_and_an_unknown_one_names_those_served(client: TestClient):
    r = client.post("/v1/rerank", json={"model": "dense", "query": "stock", "documents": DOCS})
    assert r.json()["model"] == "dense" and r.json()["results"][0]["index"] == 2
    r = client.post("/v1/rerank", json={"model": "gpt", "query": "q", "documents": ["a"]})
    assert r.status_code == 404
    assert r.json() == {
        "error": {
            "type": "not_found",
            "message": "unknown model 'gpt'; served: 'ce', 'dense', 'fused', 'bm25'",
        }
    }


def test_bi_encoder_rerank_scores_are_cosines(client: TestClient):
    r = client.post("/v1/rerank", json={"model": "dense", "query": "cats", "documents": DOCS})
    enc = KeywordEncoder()
    q, d = enc.encode(["cats"])[0], enc.encode(DOCS)
    got = {x["index"]: x["relevance_score"] for x in r.json()["results"]}
    assert got == pytest.approx({i: float(d[i] @ q) for i in range(3)}, abs=1e-6)


def test_models_list_says_which_endpoints_each_model_offers(client: TestClient):
    data = client.get("/v1/models").json()["data"]
    assert {m["id"]: m["endpoints"] for m in data} == {
        "ce": ["rerank"],
        "dense": ["rerank", "search", "embeddings"],
        "fused": ["rerank"],
        "bm25": ["search"],
    }
    assert all(len(m["fingerprint"]) == 12 and m["score"] for m in data)


def test_an_endpoint_a_model_does_not_offer_is_a_400_saying_what_it_offers(client: TestClient):
    r = client.post("/v1/rerank", json={"model": "bm25", "query": "q", "documents": ["a"]})
    assert r.status_code == 400
    assert r.json()["error"]["type"] == "unsupported"
    assert "needs the corpus" in r.json()["error"]["message"]
    assert "/v1/search" in r.json()["error"]["message"]
    r = client.post("/v1/embeddings", json={"model": "ce", "input": "q"})
    assert r.status_code == 400 and "/v1/rerank" in r.json()["error"]["message"]


def test_search_through_bm25_matches_the_pipeline_in_process(client: TestClient):
    r = client.post(
        "/v1/search",
        json={"model": "bm25", "query": "stock market", "top_n": 2, "return_documents": True},
    )
    results = r.json()["results"]
    expected = build_ranker("bm25").index(CORPUS).rank({"q": "stock market"}, 2)["q"]
    assert [x["doc_id"] for x in results] == sorted(expected, key=expected.get, reverse=True)
    assert [x["rank"] for x in results] == [1, 2]
    assert results[0]["document"] == {"title": "Markets", "text": CORPUS["d4"].text}


def test_search_top_n_beyond_the_corpus_returns_the_whole_corpus(client: TestClient):
    r = client.post("/v1/search", json={"model": "dense", "query": "cats", "top_n": 50})
    assert len(r.json()["results"]) == len(CORPUS)


def test_embeddings_in_the_openai_shape_float_and_base64(client: TestClient):
    r = client.post("/v1/embeddings", json={"model": "dense", "input": ["cats purr", "dogs"]})
    body = r.json()
    assert body["object"] == "list" and body["model"] == "dense"
    assert body["usage"] == {"prompt_tokens": 3, "total_tokens": 3}
    assert [e["index"] for e in body["data"]] == [0, 1]
    expected = KeywordEncoder().encode(["cats purr", "dogs"])
    got = np.array([e["embedding"] for e in body["data"]])
    assert got == pytest.approx(expected, abs=1e-6)
    r = client.post(
        "/v1/embeddings",
        json={"model": "dense", "input": "cats purr", "encoding_format": "base64"},
    )
    raw = base64.b64decode(r.json()["data"][0]["embedding"])
    assert np.frombuffer(raw, "<f4") == pytest.approx(expected[0], abs=1e-7)


def test_query_prefix_and_adapter_apply_to_query_inputs_only():
    models = served_models([("prefixed", keyword_dense(query_prefix="stock"))])
    with TestClient(create_app(models, quick_config())) as c:
        doc = c.post("/v1/embeddings", json={"input": "cats"}).json()["data"][0]["embedding"]
        query = c.post("/v1/embeddings", json={"input": "cats", "input_type": "query"}).json()
    enc = KeywordEncoder()
    assert doc == pytest.approx(enc.encode(["cats"])[0].tolist(), abs=1e-6)
    assert query["data"][0]["embedding"] == pytest.approx(
        enc.encode(["stock cats"])[0].tolist(), abs=1e-6
    )


def test_dimensions_must_match_the_model(client: TestClient):
    ok = client.post("/v1/embeddings", json={"model": "dense", "input": "a", "dimensions": 8})
    assert ok.status_code == 200
    r = client.post("/v1/embeddings", json={"model": "dense", "input": "a", "dimensions": 3})
    assert r.status_code == 422 and "gives 8, not 3" in r.json()["error"]["message"]


def test_health_and_metrics(client: TestClient):
    assert client.get("/health/live").json()["status"] == "live"
    assert client.get("/health/ready").json() == {
        "status": "ready",
        "models": ["ce", "dense", "fused", "bm25"],
    }
    assert client.get("/health").status_code == 200
    client.post("/v1/rerank", json={"query": "cats", "documents": DOCS})
    text = client.get("/metrics").text
    assert 'aptrank_requests_total{endpoint="/v1/rerank",model="ce",status="200"}' in text
    assert 'aptrank_batch_items_bucket{endpoint="rerank",le="4.0",model="ce"}' in text
    assert "aptrank_request_seconds_bucket" in text and "aptrank_queue_depth" in text
    assert client.get("/docs").status_code == 200
    paths = client.get("/openapi.json").json()["paths"]
    assert {"/v1/rerank", "/v1/search", "/v1/embeddings", "/v1/models"} <= set(paths)


def test_a_pipeline_that_offers_no_endpoint_is_refused_at_start():
    with pytest.raises(AptrankError, match="offers no endpoint.*--corpus"):
        served_models(["bm25"])
    with pytest.raises(AptrankError, match="two pipelines are named 'bm25'"):
        served_models(["bm25", "bm25"], corpus=True)


def test_a_trained_rankers_folder_is_named_by_the_folder(tmp_path):
    from aptrank.rankers.artifact import write_artifact

    folder = write_artifact(
        tmp_path / "models" / "student", name="student", kind="student",
        pipeline="fuse(bm25,dense)", description="test",
    ).parent  # fmt: skip
    (model,) = served_models([str(folder)], corpus=True)
    assert model.name == "student" and model.pipeline == str(folder)
    assert model.endpoints == ["search"]  # fuse with BM25: search only
