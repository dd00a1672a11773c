"""A Python client of ``aptrank serve`` (httpx, pooled keep-alive connections).

    from aptrank.client import Client

    with Client("http://127.0.0.1:8000", api_key=os.environ.get("APTRANK_API_KEY")) as client:
        client.rerank("what cures colds", ["zinc shortens colds", "the stock market fell"])
        client.search("what cures colds", top_n=10)
        client.embed(["what cures colds"], input_type="query")   # (n, d) float32

One client holds one connection pool: share it between threads rather than making one per call.
A connection error, a 503 (queue full, still loading) or a 429 is retried with exponential backoff
and jitter (``Retry-After`` honoured) up to ``max_retries`` times; any other error answer raises
:class:`ServiceError` with the server's error type and message.
"""

from __future__ import annotations

import random
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from aptrank.errors import AptrankError, MissingDependencyError

RETRY_STATUS = (429, 503)


class ServiceError(AptrankError):
    """An error answer of the server: ``status``, ``kind`` (its ``error.type``) and message."""

    def __init__(self, status: int, kind: str, message: str, url: str) -> None:
        super().__init__(f"{url}: {status} {kind}: {message}")
        self.status, self.kind, self.message = status, kind, message


@dataclass(frozen=True)
class RerankResult:
    index: int  #: the document's position in the request
    relevance_score: float
    document: str | None = None


@dataclass(frozen=True)
class SearchHit:
    doc_id: str
    score: float
    rank: int
    document: dict[str, str] | None = None  #: ``{"title", "text"}`` when asked for


def _httpx() -> Any:
    try:
        import httpx
    except ImportError:
        raise MissingDependencyError("aptrank.client", "httpx", "serve") from None
    return httpx


class Client:
    """Calls one server; ``model=None`` in a call means the server's default (its first)."""

    def __init__(
        self,
        url: str,
        api_key: str | None = None,
        timeout: float = 60.0,
        max_retries: int = 3,
        backoff: float = 0.5,
        max_backoff: float = 30.0,
        max_connections: int = 16,
        http: Any = None,
    ) -> None:
        httpx = _httpx()
        self.url = url.rstrip("/")
        self.max_retries, self.backoff, self.max_backoff = max_retries, backoff, max_backoff
        headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
        if http is None:  # an injected client (a test's ASGI client) keeps its own settings
            limits = httpx.Limits(
                max_connections=max_connections, max_keepalive_connections=max_connections
            )
            http = httpx.Client(base_url=self.url, timeout=timeout, limits=limits)
        http.headers.update(headers)
        self._http = http
        self._httpx = httpx

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self._http.close()

    # -------------------------------------------------------------------------------- calls

    def rerank(
        self,
        query: str,
        documents: Sequence[str],
        model: str | None = None,
        top_n: int | None = None,
        return_documents: bool = False,
    ) -> list[RerankResult]:
        """The documents' scores, best first (``top_n`` of them when given)."""
        body: dict[str, Any] = {"query": query, "documents": list(documents)}
        body.update(_given(model=model, top_n=top_n, return_documents=return_documents or None))
        data = self.request("POST", "/v1/rerank", body)
        return [
            RerankResult(
                int(r["index"]), float(r["relevance_score"]), (r.get("document") or {}).get("text")
            )
            for r in data["results"]
        ]

    def search(
        self,
        query: str,
        model: str | None = None,
        top_n: int = 10,
        return_documents: bool = False,
    ) -> list[SearchHit]:
        """The top ``top_n`` documents of the served corpus."""
        body = {"query": query, "top_n": top_n, "return_documents": return_documents}
        data = self.request("POST", "/v1/search", {**body, **_given(model=model)})
        return [
            SearchHit(str(r["doc_id"]), float(r["score"]), int(r["rank"]), r.get("document"))
            for r in data["results"]
        ]

    def embed(
        self, texts: Sequence[str], model: str | None = None, input_type: str = "document"
    ) -> np.ndarray:
        """``(len(texts), d)`` float32 embeddings (``input_type`` query or document)."""
        body = {"input": list(texts), "input_type": input_type, **_given(model=model)}
        data = self.request("POST", "/v1/embeddings", body)
        rows = sorted(data["data"], key=lambda e: e["index"])
        return np.asarray([e["embedding"] for e in rows], dtype=np.float32)

    def models(self) -> list[dict[str, Any]]:
        """The served models (``id``, ``endpoints``, ``score``, ``fingerprint``, ...)."""
        return list(self.request("GET", "/v1/models")["data"])

    def model(self, name: str | None = None) -> dict[str, Any]:
        """One served model's entry (the default one when ``name`` is None)."""
        served = self.models()
        for entry in served:
            if name is None or entry["id"] == name:
                return entry
        names = ", ".join(e["id"] for e in served)
        raise ServiceError(404, "not_found", f"unknown model {name!r}; served: {names}", self.url)

    def ready(self) -> bool:
        """Whether the server answers and has loaded its models."""
        try:
            return self._http.get("/health/ready").status_code == 200
        except self._httpx.TransportError:
            return False

    # ------------------------------------------------------------------------------- transport

    def request(self, method: str, path: str, body: Any = None) -> dict[str, Any]:
        """One call, retried as the module docstring says; the decoded JSON answer."""
        attempt = 0
        while True:
            retry_after: float | None = None
            try:
                response = self._http.request(method, path, json=body)
            except self._httpx.TransportError as e:
                if attempt >= self.max_retries:
                    raise AptrankError(f"{self.url}{path}: {type(e).__name__}: {e}") from None
            else:
                if response.status_code < 400:
                    return dict(response.json())
                if response.status_code not in RETRY_STATUS or attempt >= self.max_retries:
                    raise _error(response, f"{self.url}{path}")
                retry_after = _seconds(response.headers.get("retry-after"))
            time.sleep(self._delay(attempt, retry_after))
            attempt += 1

    def _delay(self, attempt: int, retry_after: float | None) -> float:
        if retry_after is not None:
            return min(retry_after, self.max_backoff)
        return min(self.backoff * 2**attempt, self.max_backoff) * (0.5 + random.random() / 2)


def _given(**fields: Any) -> dict[str, Any]:
    """The fields that are not None.

    >>> _given(model=None, top_n=3)
    {'top_n': 3}
    """
    return {k: v for k, v in fields.items() if v is not None}


def _seconds(value: str | None) -> float | None:
    try:
        return float(value) if value else None
    except ValueError:
        return None  # an HTTP date: our own backoff


def _error(response: Any, where: str) -> ServiceError:
    try:
        err = response.json()["error"]
        kind, message = str(err["type"]), str(err["message"])
    except (ValueError, KeyError, TypeError):
        kind, message = "error", response.text[:200]
    return ServiceError(response.status_code, kind, message, where)
