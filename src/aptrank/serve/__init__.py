"""``aptrank serve``: rankers behind an HTTP API in the shapes rerank and embedding clients speak.

* ``POST /v1/rerank`` (the Cohere, Jina and Infinity rerank shape), ``POST /v1/search`` (with a
  corpus), ``POST /v1/embeddings`` (the OpenAI shape, bi-encoders), ``GET /v1/models``,
  ``GET /health/live``, ``GET /health/ready`` (``/health``), ``GET /metrics`` (Prometheus) and
  the OpenAPI docs (``/docs``, ``/openapi.json``).
* Concurrent requests for one model are merged into one model call (:mod:`.batching`), run on one
  worker thread off the event loop; limits, the API key and every error are in :mod:`.guard` and
  :mod:`.errors`.

Modules: :mod:`.config` (the limits), :mod:`.models` (what is served and through which
endpoints), :mod:`.scoring` (scoring raw texts through a ranker tree), :mod:`.app` (the FastAPI
app), :mod:`.server` (uvicorn with graceful shutdown). FastAPI and uvicorn are imported only by
:mod:`.app` and :mod:`.server` (``pip install "aptrank[serve]"``).
"""

from aptrank.serve.config import ServeConfig

__all__ = ["ServeConfig"]
