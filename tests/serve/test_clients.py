"""Clients written only from the public formats (Cohere's rerank, OpenAI's embeddings) work
unchanged against a real server on a loopback port; so does aptrank.client."""

from __future__ import annotations

import base64
import struct

import httpx
import numpy as np
import pytest

from aptrank.client import Client, RerankResult, ServiceError
from tests.helpers import CORPUS, KeywordEncoder
from tests.serve.conftest import API_KEY

KEY = API_KEY


@pytest.fixture(scope="module")
def url(keyed_url: str) -> str:
    return keyed_url


def cohere_rerank(
    base_url: str, api_key: str, query: str, documents: list[str], top_n: int, model: str | None
) -> httpx.Response:
    """A Cohere v1 rerank call as Cohere documents it: POST {base}/v1/rerank with a bearer key
    and model (optional in v1), query, documents, top_n, return_documents, max_chunks_per_doc."""
    body = {
        "query": query,
        "documents": documents,
        "top_n": top_n,
        "return_documents": True,
        "max_chunks_per_doc": 10,
    }
    if model is not None:
        body["model"] = model
    return httpx.post(
        f"{base_url}/v1/rerank",
        headers={
            "Authorization": f"bearer {api_key}",
            "Content-Type": "application/json",
            "accept": "application/json",
            "X-Client-Name": "cohere-shaped-test",
        },
        json=body,
    )


def openai_embeddings(base_url: str, api_key: str, model: str, texts: list[str]):
    """OpenAI's embeddings call as its SDK makes it: base64 floats, a user field."""
    return httpx.post(
        f"{base_url}/v1/embeddings",
        headers={"Authorization": f"Bearer {api_key}"},
        json={"model": model, "input": texts, "encoding_format": "base64", "user": "u-1"},
    )


def test_a_cohere_shaped_client_works_unchanged(url: str):
    documents = ["Carson City is the capital of Nevada.", "cats sleep all day", "dogs bark"]
    query = "where do cats sleep"
    for model in (None, "ce"):  # v1 lets the model out (the server's first), or names one
        response = cohere_rerank(url, KEY, query, documents, top_n=2, model=model)
        assert response.status_code == 200
        data = response.json()
        assert isinstance(data["id"], str) and isinstance(data["meta"], dict)
        # overlap: 'cats sleep all day' shares 2 words; then the longer document (0.007 > 0.002)
        assert [(x["index"], x["document"]["text"]) for x in data["results"]] == [
            (1, documents[1]),
            (0, documents[0]),
        ]
        scores = [x["relevance_score"] for x in data["results"]]
        assert scores == pytest.approx([2.004, 0.007])
    unknown = cohere_rerank(url, KEY, query, documents, top_n=2, model="rerank-english-v3.0")
    assert unknown.status_code == 404 and "'ce'" in unknown.json()["error"]["message"]


def test_an_openai_shaped_embeddings_client_works_unchanged(url: str):
    r = openai_embeddings(url, KEY, "dense", ["cats purr", "stock market"])
    assert r.status_code == 200
    body = r.json()
    assert body["object"] == "list" and body["model"] == "dense"
    assert set(body["usage"]) == {"prompt_tokens", "total_tokens"}
    vectors = []
    for item in sorted(body["data"], key=lambda d: d["index"]):
        assert item["object"] == "embedding"
        raw = base64.b64decode(item["embedding"])
        vectors.append(struct.unpack(f"<{len(raw) // 4}f", raw))
    expected = KeywordEncoder().encode(["cats purr", "stock market"])
    assert np.array(vectors) == pytest.approx(expected, abs=1e-6)
    plain = httpx.post(
        f"{url}/v1/embeddings",
        headers={"Authorization": f"Bearer {KEY}"},
        json={"model": "dense", "input": "cats purr"},
    ).json()
    assert plain["data"][0]["embedding"] == pytest.approx(expected[0].tolist(), abs=1e-6)


def test_aptrank_client_rerank_search_embed_models(url: str):
    with Client(url, api_key=KEY) as client:
        assert client.ready()
        results = client.rerank("cats", ["dogs bark", "cats purr"], model="ce", top_n=1)
        assert results == [RerankResult(1, pytest.approx(1.002), None)]
        hits = client.search("stock market", model="bm25", top_n=2, return_documents=True)
        assert [h.doc_id for h in hits] == ["d4", "d:5/<x>"] and hits[0].rank == 1
        assert hits[0].document == {"title": "Markets", "text": CORPUS["d4"].text}
        vectors = client.embed(["cats", "dogs"], model="dense", input_type="query")
        assert vectors.shape == (2, 8) and vectors.dtype == np.float32
        assert [m["id"] for m in client.models()] == ["ce", "dense", "fused", "bm25"]
        assert client.model("bm25")["endpoints"] == ["search"]
        with pytest.raises(ServiceError, match="404 not_found: unknown model 'nope'") as e:
            client.rerank("q", ["a"], model="nope")
        assert e.value.status == 404 and e.value.kind == "not_found"
    with Client(url) as anonymous, pytest.raises(ServiceError, match="401 unauthorized"):
        anonymous.models()


def test_client_retries_a_full_queue_then_succeeds():
    answers = iter([503, 503, 200])
    seen = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request.headers.get("authorization"))
        status = next(answers)
        if status == 503:
            body = {"error": {"type": "overloaded", "message": "the queue is full"}}
            return httpx.Response(503, json=body, headers={"Retry-After": "0"})
        return httpx.Response(200, json={"results": [{"index": 0, "relevance_score": 0.5}]})

    http = httpx.Client(base_url="http://test", transport=httpx.MockTransport(handler))
    client = Client("http://test", api_key="k", http=http, max_retries=3)
    assert client.rerank("q", ["a"]) == [RerankResult(0, 0.5)]
    assert seen == ["Bearer k"] * 3
    failing = Client("http://test", http=httpx.Client(
        base_url="http://test",
        transport=httpx.MockTransport(lambda r: httpx.Response(503, json={})),
    ), max_retries=1, backoff=0.0)  # fmt: skip
    with pytest.raises(ServiceError, match="503 error"):
        failing.models()
