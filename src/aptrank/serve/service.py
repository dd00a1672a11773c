"""The served models behind the HTTP layer: choosing a model, the batchers that call it, the
worker thread, loading and readiness. Knows nothing of HTTP beyond :class:`ApiError`."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import numpy as np

from aptrank.data.runs import ranked
from aptrank.serve.batching import Batcher, QueueFull
from aptrank.serve.config import ServeConfig
from aptrank.serve.errors import ApiError
from aptrank.serve.metrics import Metrics
from aptrank.serve.models import ServedModel
from aptrank.serve.scoring import score_texts
from aptrank.types import Corpus

logger = logging.getLogger(__name__)

#: seconds a client is told to wait while the models load
LOADING_RETRY_AFTER = 5


class Service:
    """Served models, one batcher per model and endpoint, one worker thread for model calls.

    ``status`` is ``loading`` until every model is loaded (and the corpus indexed), then
    ``ready``; ``draining`` once shutdown begins (requests are still answered, readiness is
    false); ``failed`` when loading failed (``load_error`` says why).
    """

    def __init__(
        self,
        models: Sequence[ServedModel],
        config: ServeConfig | None = None,
        corpus: Corpus | None = None,
        metrics: Metrics | None = None,
    ) -> None:
        self.models = {m.name: m for m in models}
        self.default = models[0].name
        self.config = config or ServeConfig()
        self.corpus = corpus
        self.metrics = metrics or Metrics()
        self.status = "loading"
        self.load_error: str | None = None
        #: called (on the event loop) when loading fails; the server exits through it
        self.on_load_failure: Callable[[str], None] | None = None
        self._executor: ThreadPoolExecutor | None = None
        self._batchers: dict[tuple[str, str], Batcher] = {}
        self._loading: asyncio.Task[None] | None = None

    @property
    def ready(self) -> bool:
        return self.status == "ready"

    # ------------------------------------------------------------------------------ lifecycle

    async def start(self, background: bool = True) -> None:
        """Start the worker thread and the batchers, then load the models (in the background:
        liveness answers meanwhile, readiness and the model endpoints wait)."""
        if self._executor is not None:
            raise RuntimeError("the service is already started (one app, one server)")
        # one thread: model calls are serialised (the model uses the cores itself), and every
        # stage's state (sqlite caches, tokenizers) stays on one thread
        self._executor = ThreadPoolExecutor(1, thread_name_prefix="aptrank-model")
        for model in self.models.values():
            for endpoint in model.endpoints:
                self._batchers[(model.name, endpoint)] = self._batcher(model, endpoint)
        for batcher in self._batchers.values():
            batcher.start()
        if background:
            self._loading = asyncio.get_running_loop().create_task(self._load())
        else:
            await self._load()

    def _batcher(self, model: ServedModel, endpoint: str) -> Batcher:
        run: dict[str, Callable[[ServedModel, Any], list[Any]]] = {
            "rerank": self._run_rerank,
            "search": self._run_search,
            "embeddings": self._run_embed,
        }
        cfg = self.config
        depth = self.metrics.queue_depth.labels(model.name, endpoint)
        return Batcher(
            f"{model.name}/{endpoint}",
            lambda payloads: run[endpoint](model, payloads),
            self._worker,
            max_batch=cfg.max_batch,
            wait_s=cfg.batch_wait_ms / 1000,
            queue_size=cfg.queue_size,
            batching=cfg.batching,
            on_batch=lambda jobs, items, s: self.metrics.observe_batch(
                model.name, endpoint, jobs, items, s
            ),
            on_depth=depth.set,
        )

    @property
    def _worker(self) -> ThreadPoolExecutor:
        if self._executor is None:
            raise RuntimeError("the service is not started")
        return self._executor

    async def _load(self) -> None:
        loop = asyncio.get_running_loop()
        try:
            for model in self.models.values():
                if not model.loaded:
                    logger.info("loading %s", model.name)
                    await loop.run_in_executor(self._worker, model.load, self.corpus)
        except Exception as e:
            self.status, self.load_error = "failed", f"{type(e).__name__}: {e}"
            logger.error("loading the models failed: %s", self.load_error)
            if self.on_load_failure is not None:
                self.on_load_failure(self.load_error)
            return
        if self.status == "loading":
            self.status = "ready"
            logger.info("ready: %s", ", ".join(self.models))

    def drain(self) -> None:
        """Readiness false from now on; requests are still answered."""
        if self.status != "failed":
            self.status = "draining"

    async def stop(self) -> None:
        self.drain()
        if self._loading is not None and not self._loading.done():
            self._loading.cancel()
        for batcher in self._batchers.values():
            await batcher.stop()
        if self._executor is not None:
            self._executor.shutdown(wait=False, cancel_futures=True)

    # ----------------------------------------------------------------------------- the models

    def model(self, name: str | None, endpoint: str) -> ServedModel:
        """The model a request names (the first by default), checked to offer ``endpoint``."""
        if self.status in ("loading", "failed"):
            why = "still loading the models" if self.status == "loading" else self.load_error
            raise ApiError(
                503, f"not ready: {why}", "not_ready", {"Retry-After": str(LOADING_RETRY_AFTER)}
            )
        chosen = self.models.get(name or self.default)
        if chosen is None:
            served = ", ".join(repr(n) for n in self.models)
            raise ApiError(404, f"unknown model {name!r}; served: {served}")
        if endpoint not in chosen.endpoints:
            offers = ", ".join(f"/v1/{e}" for e in chosen.endpoints)
            why = f" ({chosen.rerank_problem})" if endpoint == "rerank" else ""
            if endpoint == "search" and self.corpus is None:
                why = " (the server was started without --corpus)"
            raise ApiError(
                400, f"{chosen.name!r} offers no /v1/{endpoint}{why}; it offers {offers}"
            )
        return chosen

    async def rerank(self, model: ServedModel, query: str, documents: list[str]) -> np.ndarray:
        return await self._submit(model, "rerank", (query, documents), len(documents))

    async def search(self, model: ServedModel, query: str, top_n: int) -> list[tuple[str, float]]:
        return await self._submit(model, "search", (query, top_n), 1)

    async def embed(self, model: ServedModel, texts: list[str], input_type: str) -> np.ndarray:
        return await self._submit(model, "embeddings", (texts, input_type), len(texts))

    async def _submit(self, model: ServedModel, endpoint: str, payload: Any, size: int) -> Any:
        batcher = self._batchers[(model.name, endpoint)]
        timeout = self.config.timeout_s
        try:
            return await asyncio.wait_for(batcher.submit(payload, size), timeout)
        except QueueFull as e:
            raise ApiError(503, str(e), "overloaded", {"Retry-After": str(e.retry_after)}) from None
        except asyncio.TimeoutError:
            raise ApiError(504, f"{model.name}: no answer within {timeout:g} s") from None
        except Exception as e:
            raise ApiError(500, f"{model.name}: the model call failed: {type(e).__name__}") from e

    # ------------------------------------------------------- model calls (on the worker thread)

    @staticmethod
    def _run_rerank(model: ServedModel, payloads: Sequence[tuple[str, list[str]]]) -> list[Any]:
        return score_texts(model.ranker, [q for q, _ in payloads], [d for _, d in payloads])

    @staticmethod
    def _run_search(model: ServedModel, payloads: Sequence[tuple[str, int]]) -> list[Any]:
        queries = {str(i): q for i, (q, _) in enumerate(payloads)}
        run = model.ranker.rank(queries, max(k for _, k in payloads))
        return [ranked(run.get(str(i), {}))[:k] for i, (_, k) in enumerate(payloads)]

    @staticmethod
    def _run_embed(model: ServedModel, payloads: Sequence[tuple[list[str], str]]) -> list[Any]:
        encoder = model.embedder
        if encoder is None:
            raise RuntimeError(f"{model.name} is not a bi-encoder")
        out: list[Any] = [None] * len(payloads)
        for kind in ("query", "document"):
            jobs = [i for i, (_, t) in enumerate(payloads) if t == kind]
            texts = [text for i in jobs for text in payloads[i][0]]
            if not texts:
                continue
            vectors = encoder.embed_texts(texts, query=kind == "query")
            start = 0
            for i in jobs:
                n = len(payloads[i][0])
                out[i] = vectors[start : start + n]
                start += n
        return out
