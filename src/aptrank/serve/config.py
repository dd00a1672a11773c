"""The server's limits and batching settings (``aptrank serve`` fills them from its options)."""

from __future__ import annotations

from dataclasses import dataclass

from aptrank.errors import AptrankError


@dataclass(frozen=True)
class ServeConfig:
    host: str = "127.0.0.1"
    port: int = 8000
    #: environment variable holding the API key (``Authorization: Bearer <key>``); None: open
    api_key_env: str | None = None
    #: documents per rerank request, texts per embeddings request, ``top_n`` of a search (422)
    max_documents: int = 1000
    max_chars: int = 20_000  #: characters per text: query, document or input (422)
    max_body_bytes: int = 8 << 20  #: request body size (413)
    #: requests waiting per model and endpoint; one more is answered 503 with Retry-After
    queue_size: int = 256
    timeout_s: float = 30.0  #: per request, waiting in the queue included (504)
    batching: bool = True  #: merge concurrent requests for one model into one model call
    #: how long an idle model waits for more requests after the first one arrives
    batch_wait_ms: float = 2.0
    max_batch: int = 512  #: pairs (rerank) or texts (embeddings) or queries (search) per call
    #: seconds between a shutdown signal and the shutdown: readiness is false, requests are served
    drain_s: float = 0.0
    shutdown_timeout_s: float = 60.0  #: at most this long for in-flight requests at shutdown
    access_log: bool = True  #: one JSON line per request on the ``aptrank.serve.access`` logger

    def __post_init__(self) -> None:
        for name in ("max_documents", "max_chars", "max_body_bytes", "queue_size", "max_batch"):
            if getattr(self, name) < 1:
                raise AptrankError(f"serve: {name} must be >= 1, got {getattr(self, name)}")
        for name in ("timeout_s", "shutdown_timeout_s"):
            if getattr(self, name) <= 0:
                raise AptrankError(f"serve: {name} must be > 0, got {getattr(self, name)}")
        for name in ("batch_wait_ms", "drain_s"):
            if getattr(self, name) < 0:
                raise AptrankError(f"serve: {name} must be >= 0, got {getattr(self, name)}")
