"""Every limit, the API key and the error shape."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient

from aptrank.serve.app import create_app
from aptrank.serve.models import served_models
from tests.serve.fakes import OverlapScorer, fake_models, overlap_ce, quick_config


def is_error(response: httpx.Response, status: int, kind: str) -> str:
    """Asserts the status and the one error shape; returns the message."""
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/json")
    body = response.json()
    assert set(body) == {"error"} and set(body["error"]) == {"type", "message"}
    assert body["error"]["type"] == kind
    assert body["error"]["message"]
    return body["error"]["message"]


@pytest.fixture(scope="module")
def client():
    config = quick_config(max_documents=3, max_chars=20, max_body_bytes=2000)
    with TestClient(create_app(fake_models(corpus=False), config)) as c:
        yield c


def rerank(client: TestClient, **body: Any) -> httpx.Response:
    return client.post("/v1/rerank", json={"query": "cats", "documents": ["a"], **body})


def test_documents_per_request_and_characters_per_text(client: TestClient):
    message = is_error(rerank(client, documents=["a", "b", "c", "d"]), 422, "invalid_request")
    assert message == "documents: 4 texts, at most 3"
    message = is_error(rerank(client, documents=["a", "x" * 21]), 422, "invalid_request")
    assert message == "documents.1: 21 characters, at most 20"
    assert is_error(rerank(client, query="q" * 21), 422, "invalid_request").startswith("query:")
    assert rerank(client, documents=["a", "b", "x" * 20]).status_code == 200
    raw = b'{"query": "q", "documents": ["a", "b\\ud800"]}'  # JSON's escape of a lone surrogate
    r = client.post("/v1/rerank", content=raw, headers={"content-type": "application/json"})
    lone = is_error(r, 422, "invalid_request")
    assert lone == "documents.1: not valid Unicode (a lone surrogate)"
    r = client.post("/v1/embeddings", json={"model": "dense", "input": ["a"] * 4})
    assert is_error(r, 422, "invalid_request") == "input: 4 texts, at most 3"
    r = client.post("/v1/embeddings", json={"model": "dense", "input": "y" * 21})
    assert is_error(r, 422, "invalid_request") == "input.0: 21 characters, at most 20"
    r = client.post("/v1/embeddings", json={"model": "dense", "input": []})
    assert is_error(r, 422, "invalid_request") == "input: give at least one text"


@pytest.mark.parametrize(
    "body",
    [
        {"documents": ["a"]},
        {"query": "q", "documents": []},
        {"query": "q", "documents": [1]},
        {"query": 3, "documents": ["a"]},
        {"query": "q", "documents": ["a"], "top_n": 0},
        {"query": "q", "documents": [{"title": "no text"}]},
        ["not", "an", "object"],
    ],
)
def test_malformed_requests_are_422_in_the_error_shape(client: TestClient, body: Any):
    is_error(client.post("/v1/rerank", json=body), 422, "invalid_request")


def test_invalid_json_is_422(client: TestClient):
    r = client.post("/v1/rerank", content=b"{", headers={"content-type": "application/json"})
    assert "JSON" in is_error(r, 422, "invalid_request")


def test_body_size_from_content_length_and_from_a_chunked_body(client: TestClient):
    big = {"query": "q", "documents": ["a " * 1100, "b"]}
    assert "over 2000 bytes" in is_error(client.post("/v1/rerank", json=big), 413,
                                         "payload_too_large")  # fmt: skip

    def chunks():
        for _ in range(30):
            yield b" " * 100  # 3000 bytes, no Content-Length

    r = client.post("/v1/rerank", content=chunks(), headers={"content-type": "application/json"})
    is_error(r, 413, "payload_too_large")


def test_unknown_paths_and_methods_keep_the_error_shape(client: TestClient):
    is_error(client.get("/v2/nothing"), 404, "not_found")
    is_error(client.get("/v1/rerank"), 405, "method_not_allowed")


def test_api_key_is_required_on_v1_and_compared_exactly():
    app = create_app(fake_models(corpus=False), quick_config(), api_key="s3cret")
    with TestClient(app) as c:
        r = c.post("/v1/rerank", json={"query": "q", "documents": ["a"]})
        is_error(r, 401, "unauthorized")
        assert r.headers["www-authenticate"] == "Bearer"
        wrong = {"Authorization": "Bearer s3cres"}
        is_error(c.post("/v1/rerank", json={}, headers=wrong), 401, "unauthorized")
        is_error(c.get("/v1/models", headers={"Authorization": "s3cret"}), 401, "unauthorized")
        ok = {"Authorization": "Bearer s3cret"}
        r = c.post("/v1/rerank", json={"query": "q", "documents": ["a"]}, headers=ok)
        assert r.status_code == 200
        # probes, metrics and docs stay open; a bad body without a key is 401, not 422
        assert c.get("/health/ready").status_code == 200 and c.get("/metrics").status_code == 200
        is_error(c.post("/v1/rerank", content=b"{"), 401, "unauthorized")
        schema = c.get("/openapi.json").json()
    assert schema["components"]["securitySchemes"]["bearer"]["scheme"] == "bearer"
    assert schema["paths"]["/v1/rerank"]["post"]["security"] == [{"bearer": []}]
    assert "security" not in schema["paths"]["/health/ready"]["get"]


@asynccontextmanager
async def running(app: Any) -> AsyncIterator[httpx.AsyncClient]:
    """The app started (its lifespan) with an async client on it: concurrent requests."""
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
            yield client


async def until(condition: Callable[[], bool], seconds: float = 10.0) -> None:
    for _ in range(int(seconds / 0.01)):
        if condition():
            return
        await asyncio.sleep(0.01)
    raise AssertionError("condition not met in time")


def test_a_full_queue_is_503_with_retry_after_and_the_queued_requests_finish():
    gate = threading.Event()
    gate.set()
    scorer = OverlapScorer(gate=gate)
    models = served_models([("ce", overlap_ce(scorer))])
    app = create_app(models, quick_config(queue_size=1))
    body = {"query": "cats", "documents": ["cats purr"]}

    async def main() -> list[httpx.Response]:
        async with running(app) as client:
            gate.clear()  # open for the warm-up call at start, closed from now on
            scorer.calls.clear()
            first = asyncio.create_task(client.post("/v1/rerank", json=body))
            await until(lambda: len(scorer.calls) == 1)  # in the model call (gate closed)
            second = asyncio.create_task(client.post("/v1/rerank", json=body))
            batcher = app.state.service._batchers[("ce", "rerank")]
            await until(lambda: batcher.depth == 1)  # waiting in the queue
            third = await client.post("/v1/rerank", json=body)
            gate.set()
            return [await first, await second, third]

    first, second, third = asyncio.run(main())
    assert "queue is full" in is_error(third, 503, "overloaded")
    assert int(third.headers["retry-after"]) >= 1
    assert first.status_code == second.status_code == 200


def test_a_request_over_its_timeout_is_504_and_the_model_serves_on():
    gate = threading.Event()
    gate.set()
    scorer = OverlapScorer(gate=gate)
    app = create_app(served_models([("ce", overlap_ce(scorer))]), quick_config(timeout_s=0.3))
    body = {"query": "cats", "documents": ["cats purr"]}

    async def main() -> tuple[httpx.Response, httpx.Response, httpx.Response]:
        async with running(app) as client:
            gate.clear()
            slow = await client.post("/v1/rerank", json=body)  # the gate holds the call
            queued = await client.post("/v1/rerank", json=body)  # times out in the queue
            gate.set()
            await asyncio.sleep(0.1)
            return slow, queued, await client.post("/v1/rerank", json=body)

    slow, queued, after = asyncio.run(main())
    assert is_error(slow, 504, "timeout") == "ce: no answer within 0.3 s"
    is_error(queued, 504, "timeout")
    assert after.status_code == 200
    # warm-up, the slow request, the one after: the request that timed out in the queue
    # never reached the model
    assert scorer.calls == [1, 1, 1]


def test_a_failing_model_call_is_500_and_the_server_answers_on():
    class Failing(OverlapScorer):
        def score(self, pairs, batch_size=32, show_progress=False):
            if any("boom" in q for q, _ in pairs):
                raise RuntimeError("model exploded")
            return super().score(pairs, batch_size, show_progress)

    app = create_app(served_models([("ce", overlap_ce(Failing()))]), quick_config())
    with TestClient(app) as c:
        r = c.post("/v1/rerank", json={"query": "boom", "documents": ["a"]})
        assert is_error(r, 500, "internal") == "ce: the model call failed: RuntimeError"
        assert c.post("/v1/rerank", json={"query": "ok", "documents": ["a"]}).status_code == 200


def test_while_loading_live_answers_ready_and_the_models_do_not():
    gate = threading.Event()
    app = create_app(
        served_models([("ce", overlap_ce(OverlapScorer(gate=gate)))]),
        quick_config(),
        background_load=True,
    )

    async def main() -> list[httpx.Response]:
        async with running(app) as client:
            answers = [
                await client.get("/health/live"),
                await client.get("/health/ready"),
                await client.post("/v1/rerank", json={"query": "q", "documents": ["a"]}),
            ]
            gate.set()  # the warm-up call finishes: loaded
            await until(lambda: app.state.service.ready)
            answers.append(await client.get("/health/ready"))
            return answers

    live, loading, refused, ready = asyncio.run(main())
    assert live.status_code == 200
    assert loading.status_code == 503 and loading.json()["status"] == "loading"
    assert "still loading" in is_error(refused, 503, "not_ready")
    assert refused.headers["retry-after"] == "5"
    assert ready.status_code == 200
