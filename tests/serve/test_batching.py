"""Dynamic batching: concurrent requests merged into one model call, each answered with its own
result, the same as unbatched."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import httpx
import pytest

from aptrank.serve.app import create_app
from aptrank.serve.batching import Batcher
from aptrank.serve.models import served_models
from tests.helpers import KeywordEncoder
from tests.serve.fakes import OverlapScorer, keyword_dense, overlap_ce, quick_config
from tests.serve.test_limits import running, until


class Recorder:
    """A model call that records its batches; ``gate`` holds the calls until set."""

    def __init__(self, gate: threading.Event | None = None) -> None:
        self.batches: list[list[Any]] = []
        self.gate = gate

    def __call__(self, payloads: Sequence[Any]) -> list[Any]:
        self.batches.append(list(payloads))
        if self.gate is not None:
            self.gate.wait(10)
        return [p * 10 for p in payloads]


def run_jobs(batcher_kwargs: dict[str, Any], sizes: Sequence[int]) -> tuple[list[Any], Recorder]:
    """Submit one job while the model is held, then ``sizes`` more, then let it go."""
    gate = threading.Event()
    recorder = Recorder(gate)

    async def main() -> list[Any]:
        with ThreadPoolExecutor(1) as pool:
            batcher = Batcher("m/rerank", recorder, pool, **batcher_kwargs)
            batcher.start()
            first = asyncio.ensure_future(batcher.submit(0))
            await until(lambda: len(recorder.batches) == 1)
            rest = [asyncio.ensure_future(batcher.submit(i + 1, n)) for i, n in enumerate(sizes)]
            await until(lambda: batcher.depth == len(sizes))
            gate.set()
            results = await asyncio.gather(first, *rest)
            await batcher.stop()
            return list(results)

    return asyncio.run(main()), recorder


def test_jobs_arriving_while_the_model_is_busy_form_one_call():
    results, recorder = run_jobs({"wait_s": 0.0}, [1, 1, 1, 1])
    assert results == [0, 10, 20, 30, 40]  # each job gets its own result
    assert recorder.batches == [[0], [1, 2, 3, 4]]


def test_max_batch_counts_items_and_a_big_job_still_runs_alone():
    results, recorder = run_jobs({"wait_s": 0.0, "max_batch": 5}, [2, 2, 2, 9, 1])
    assert results == [0, 10, 20, 30, 40, 50]
    assert recorder.batches == [[0], [1, 2], [3], [4], [5]]


def test_without_batching_every_job_is_its_own_call():
    results, recorder = run_jobs({"batching": False}, [1, 1, 1])
    assert results == [0, 10, 20, 30]
    assert recorder.batches == [[0], [1], [2], [3]]


def test_an_idle_model_waits_the_window_for_company():
    recorder = Recorder()

    async def main() -> list[Any]:
        with ThreadPoolExecutor(1) as pool:
            batcher = Batcher("m/x", recorder, pool, wait_s=0.2)
            batcher.start()
            jobs = [asyncio.ensure_future(batcher.submit(i)) for i in range(3)]
            results = await asyncio.gather(*jobs)
            await batcher.stop()
            return list(results)

    assert asyncio.run(main()) == [0, 10, 20]
    assert recorder.batches == [[0, 1, 2]]


def test_a_failing_call_fails_its_jobs_only():
    def run(payloads: Sequence[int]) -> list[int]:
        if -1 in payloads:
            raise ValueError("bad batch")
        return list(payloads)

    async def main() -> tuple[Any, Any]:
        with ThreadPoolExecutor(1) as pool:
            batcher = Batcher("m/x", run, pool, batching=False)
            batcher.start()
            bad, good = await asyncio.gather(
                batcher.submit(-1), batcher.submit(7), return_exceptions=True
            )
            await batcher.stop()
            return bad, good

    bad, good = asyncio.run(main())
    assert isinstance(bad, ValueError) and good == 7


QUERIES = ["cats sleeping", "dog barking", "stock market", "pet food prices", "cats and dogs"]
DOCS = ["cats purr and sleep", "dogs bark at the mailman", "the stock market fell", "pet food rose"]


def concurrent_reranks(batching: bool) -> tuple[list[dict[str, Any]], OverlapScorer, str]:
    """One request holds the model; four more arrive and wait; then the model is let go."""
    gate = threading.Event()
    gate.set()
    scorer = OverlapScorer(gate=gate)
    app = create_app(served_models([("ce", overlap_ce(scorer))]), quick_config(batching=batching))

    async def main() -> tuple[list[httpx.Response], str]:
        async with running(app) as client:
            gate.clear()

            def post(query: str) -> asyncio.Future[httpx.Response]:
                body = {"query": query, "documents": DOCS}
                return asyncio.ensure_future(client.post("/v1/rerank", json=body))

            first = post(QUERIES[0])
            await until(lambda: len(scorer.calls) == 2)  # warm-up, then the first request
            rest = [post(q) for q in QUERIES[1:]]
            batcher = app.state.service._batchers[("ce", "rerank")]
            await until(lambda: batcher.depth == len(rest))
            gate.set()
            responses = [await first, *[await r for r in rest]]
            return responses, (await client.get("/metrics")).text

    responses, metrics = asyncio.run(main())
    assert all(r.status_code == 200 for r in responses)
    return [r.json()["results"] for r in responses], scorer, metrics


def test_concurrent_rerank_requests_share_one_model_call_with_unbatched_results():
    batched, scorer, metrics = concurrent_reranks(batching=True)
    assert scorer.calls == [1, len(DOCS), 4 * len(DOCS)]  # warm-up, the first, the other four
    # the model calls through the batcher: one of 1 request, one of 4 (5 in all)
    assert 'aptrank_batch_requests_count{endpoint="rerank",model="ce"} 2.0' in metrics
    assert 'aptrank_batch_requests_sum{endpoint="rerank",model="ce"} 5.0' in metrics
    unbatched, scorer, _ = concurrent_reranks(batching=False)
    assert scorer.calls == [1] + [len(DOCS)] * len(QUERIES)
    assert batched == unbatched
    top = [results[0]["index"] for results in batched]
    assert top == [0, 1, 2, 3, 0]  # each query's own best document


def test_concurrent_embedding_requests_of_both_input_types_are_merged_correctly():
    encoder = KeywordEncoder()
    dense = keyword_dense(query_prefix="stock")
    dense._encoder = encoder
    app = create_app(served_models([("dense", dense)]), quick_config(batch_wait_ms=200))
    inputs = [("cats", "query"), ("dogs bark", "document"), ("pet", "query"), ("cats", "document")]

    async def main() -> list[httpx.Response]:
        async with running(app) as client:
            encoder.calls.clear()
            posts = [
                client.post("/v1/embeddings", json={"input": text, "input_type": kind})
                for text, kind in inputs
            ]
            return list(await asyncio.gather(*posts))

    responses = asyncio.run(main())
    assert sorted(encoder.calls) == [2, 2]  # one call for the queries, one for the documents
    reference = KeywordEncoder()
    for (text, kind), response in zip(inputs, responses):
        expected = reference.encode([f"stock {text}" if kind == "query" else text])[0]
        assert response.json()["data"][0]["embedding"] == pytest.approx(expected.tolist())
