"""``remote:<url>#<model>``: a ranker served by ``aptrank serve`` (or any server of the Cohere
rerank shape), as a pipeline stage: ``bm25>>remote:http://10.0.0.5:8000#student@30``.

A reranker: each query's candidate texts (title + text, as every local stage sees them) go to
the server's ``/v1/rerank`` in one request, ``concurrency`` requests in flight, through one
pooled :class:`~aptrank.client.Client`; the scores are the model's ``relevance_score``. As a
teacher it is ``ranker:remote:<url>#<model>``; its labels are keyed on the served model's
fingerprint (from ``/v1/models``), so another model behind the same name gets new labels. (The
``http:`` teacher is the other way round: an OpenAI-compatible LLM server asked for yes/no.)

Options: ``timeout`` (seconds per request), ``concurrency``, ``max_retries``, ``api_key_env``
(the environment variable holding the bearer key; default ``APTRANK_API_KEY``).
"""

from __future__ import annotations

import os
import threading
from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

from aptrank.errors import AptrankError
from aptrank.rankers.base import Reranker
from aptrank.types import Run


@dataclass(frozen=True)
class RemoteConfig:
    url: str  #: the server's root, e.g. ``http://127.0.0.1:8000``
    model: str  #: the served model's name (``GET /v1/models``)
    timeout: float = 60.0  #: seconds per request
    concurrency: int = 4  #: requests in flight at most
    max_retries: int = 3  #: for connection errors and 503/429 answers
    api_key_env: str | None = "APTRANK_API_KEY"  #: environment variable holding the key


def parse_target(arg: str) -> tuple[str, str]:
    """``<url>#<model>`` → (url, model).

    >>> parse_target("http://127.0.0.1:8000#student")
    ('http://127.0.0.1:8000', 'student')
    """
    url, _, model = arg.partition("#")
    if not url.startswith(("http://", "https://")) or not model:
        raise AptrankError(f"remote needs 'remote:<http(s) url>#<model>', got 'remote:{arg}'")
    return url.rstrip("/"), model


class RemoteRanker(Reranker):
    """Reranks through a served model (see the module docstring)."""

    def __init__(self, config: RemoteConfig, client: Any = None) -> None:
        super().__init__()
        if config.concurrency < 1 or config.timeout <= 0 or config.max_retries < 0:
            raise AptrankError("remote: concurrency >= 1, timeout > 0, max_retries >= 0")
        self.cfg = config
        self.name = f"remote:{config.url}#{config.model}"
        self._client = client
        self._lock = threading.Lock()
        self._served: dict[str, Any] | None = None

    @property
    def client(self) -> Any:
        with self._lock:
            if self._client is None:
                from aptrank.client import Client

                key = os.environ.get(self.cfg.api_key_env) if self.cfg.api_key_env else None
                self._client = Client(
                    self.cfg.url,
                    api_key=key or None,
                    timeout=self.cfg.timeout,
                    max_retries=self.cfg.max_retries,
                    max_connections=self.cfg.concurrency,
                )
            return self._client

    def served(self) -> dict[str, Any]:
        """The server's ``/v1/models`` entry of the model (fetched once)."""
        if self._served is None:
            self._served = self.client.model(self.cfg.model)
            if "rerank" not in self._served.get("endpoints", ["rerank"]):
                raise AptrankError(
                    f"{self.name}: the server offers {self._served['endpoints']} for this "
                    "model, not rerank"
                )
        return self._served

    def config(self) -> dict[str, object]:
        """The url, the model and the served model's fingerprint (asks the server once)."""
        served = self.served()
        return {
            "name": self.name,
            "url": self.cfg.url,
            "model": self.cfg.model,
            "pipeline": served.get("pipeline"),
            "fingerprint": served.get("fingerprint"),
        }

    def rerank(
        self, queries: Mapping[str, str], candidates: Mapping[str, Mapping[str, float]]
    ) -> Run:
        corpus = self.corpus
        texts = {
            q: {d: corpus[d].full_text for d in candidates[q] if d in corpus} for q in candidates
        }
        return self.score_texts(queries, texts)

    def score_texts(
        self, queries: Mapping[str, str], documents: Mapping[str, Mapping[str, str]]
    ) -> Run:
        """Scores of raw texts (``{qid: {doc_id: text}}``): one request per query."""
        client = self.client
        todo = [q for q in documents if documents[q]]

        def one(qid: str) -> dict[str, float]:
            ids = list(documents[qid])
            results = client.rerank(
                queries[qid], [documents[qid][d] for d in ids], model=self.cfg.model
            )
            return {ids[r.index]: r.relevance_score for r in results}

        run: Run = {q: {} for q in documents}
        if len(todo) == 1 or self.cfg.concurrency == 1:
            run.update({q: one(q) for q in todo})
            return run
        with ThreadPoolExecutor(self.cfg.concurrency, thread_name_prefix="aptrank-remote") as pool:
            run.update(zip(todo, pool.map(one, todo)))
        return run
