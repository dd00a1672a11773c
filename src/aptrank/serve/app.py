"""The FastAPI app: routes, limits and the error shape (``pip install "aptrank[serve]"``)."""

from __future__ import annotations

import base64
import math
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from typing import Any

import numpy as np
from fastapi import APIRouter, FastAPI, Request, Response
from fastapi.responses import JSONResponse

from aptrank.serve.config import ServeConfig
from aptrank.serve.errors import ApiError, install_handlers
from aptrank.serve.guard import AccessLog, Guard
from aptrank.serve.models import ServedModel
from aptrank.serve.schemas import (
    EmbeddingsRequest,
    EmbeddingsResponse,
    ErrorResponse,
    Health,
    ModelList,
    RerankRequest,
    RerankResponse,
    SearchRequest,
    SearchResponse,
)
from aptrank.serve.service import Service
from aptrank.types import Corpus

ERRORS: dict[int | str, dict[str, Any]] = {
    status: {"model": ErrorResponse, "description": what}
    for status, what in {
        400: "The model does not offer this endpoint",
        401: "Missing or wrong API key",
        404: "Unknown model",
        413: "Body too large",
        422: "Invalid request or over a limit",
        500: "The model call failed",
        503: "Queue full or still loading (Retry-After)",
        504: "No answer within the request timeout",
    }.items()
}
DESCRIPTION = """Rankers trained and evaluated with aptrank, in the request shapes rerank and
embedding clients already speak: `/v1/rerank` (Cohere, Jina, Infinity), `/v1/embeddings`
(OpenAI), `/v1/search` (over the served corpus). Every error is
`{"error": {"type", "message"}}`."""


def create_app(
    models: Sequence[ServedModel],
    config: ServeConfig | None = None,
    corpus: Corpus | None = None,
    api_key: str | None = None,
    background_load: bool = False,
) -> FastAPI:
    """The app serving ``models`` (:func:`~aptrank.serve.models.served_models`). Its
    :class:`~aptrank.serve.service.Service` is ``app.state.service``; the models load when the
    app starts (in the background with ``background_load``: ``/health/live`` answers while
    they load, ``/health/ready`` once they are loaded)."""
    config = config or ServeConfig()
    service = Service(models, config, corpus)

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        await service.start(background=background_load)
        try:
            yield
        finally:
            await service.stop()

    from aptrank import __version__

    app = FastAPI(title="aptrank", version=__version__, description=DESCRIPTION, lifespan=lifespan)
    app.state.service = service
    install_handlers(app)
    app.include_router(health)
    app.include_router(v1, responses=ERRORS)
    app.add_middleware(Guard, api_key=api_key, max_body_bytes=config.max_body_bytes)
    if api_key:
        _document_key(app)
    app.add_middleware(AccessLog, metrics=service.metrics, enabled=config.access_log)
    return app


health = APIRouter(tags=["health"])
v1 = APIRouter(prefix="/v1")


def _service(request: Request) -> Service:
    return request.app.state.service  # type: ignore[no-any-return]


@health.get("/health/live", response_model=Health)
async def live(request: Request) -> Health:
    """The process answers (it may still be loading)."""
    return Health(status="live", models=list(_service(request).models))


@health.get("/health/ready", response_model=Health, responses={503: {"model": Health}})
async def ready(request: Request) -> Response:
    """200 once every model is loaded; 503 while loading, draining or failed."""
    service = _service(request)
    body = Health(status=service.status, models=list(service.models))  # type: ignore[arg-type]
    return JSONResponse(body.model_dump(), status_code=200 if service.ready else 503)


health.add_api_route("/health", ready, methods=["GET"], include_in_schema=False)


@health.get("/metrics", include_in_schema=False)
async def metrics(request: Request) -> Response:
    text, content_type = _service(request).metrics.render()
    return Response(text, media_type=content_type)


@v1.get("/models", response_model=ModelList, tags=["models"])
async def models(request: Request) -> dict[str, Any]:
    """The served models and the endpoints each offers."""
    return {"object": "list", "data": [m.describe() for m in _service(request).models.values()]}


@v1.post("/rerank", response_model=RerankResponse, tags=["rerank"])
async def rerank(body: RerankRequest, request: Request) -> JSONResponse:
    """Score the documents against the query; results sorted by `relevance_score`."""
    service = _service(request)
    model = _choose(service, body.model, "rerank", request)
    texts = [d if isinstance(d, str) else d.text for d in body.documents]
    _check_texts(service.config, [body.query], "query")
    _check_texts(service.config, texts, "documents")
    scores = await service.rerank(model, body.query, texts)
    order = sorted(range(len(texts)), key=lambda i: (-scores[i], i))[: body.top_n]
    results = []
    for i in order:
        result: dict[str, Any] = {"index": i, "relevance_score": _finite(scores[i], model)}
        if body.return_documents:
            result["document"] = {"text": texts[i]}
        results.append(result)
    meta = {"api_version": {"version": "1"}, "billed_units": {"search_units": 1}}
    return JSONResponse(
        {"id": _request_id(request), "model": model.name, "object": "rerank",
         "results": results, "meta": meta}
    )  # fmt: skip


@v1.post("/search", response_model=SearchResponse, tags=["search"])
async def search(body: SearchRequest, request: Request) -> JSONResponse:
    """The top `top_n` documents of the served corpus for the query."""
    service = _service(request)
    model = _choose(service, body.model, "search", request)
    _check_texts(service.config, [body.query], "query")
    if body.top_n > service.config.max_documents:
        raise ApiError(422, f"top_n: {body.top_n}, at most {service.config.max_documents}")
    corpus = service.corpus or {}
    top_n = min(body.top_n, len(corpus))
    hits = await service.search(model, body.query, top_n) if top_n else []
    results = []
    for rank, (doc_id, score) in enumerate(hits, start=1):
        result: dict[str, Any] = {"doc_id": doc_id, "score": _finite(score, model), "rank": rank}
        if body.return_documents:
            result["document"] = {"title": corpus[doc_id].title, "text": corpus[doc_id].text}
        results.append(result)
    return JSONResponse({"id": _request_id(request), "model": model.name, "results": results})


@v1.post("/embeddings", response_model=EmbeddingsResponse, tags=["embeddings"])
async def embeddings(body: EmbeddingsRequest, request: Request) -> JSONResponse:
    """Embeddings in the OpenAI shape (L2-normalised). `input_type` `query` applies the model's
    query prefix and adapter; `document` (the default) is the plain encoder."""
    service = _service(request)
    model = _choose(service, body.model, "embeddings", request)
    texts = [body.input] if isinstance(body.input, str) else list(body.input)
    if not texts:
        raise ApiError(422, "input: give at least one text")
    _check_texts(service.config, texts, "input")
    vectors = await service.embed(model, texts, body.input_type)
    if body.dimensions is not None and body.dimensions != vectors.shape[1]:
        raise ApiError(
            422, f"dimensions: {model.name} gives {vectors.shape[1]}, not {body.dimensions}"
        )
    if not np.isfinite(vectors).all():
        raise ApiError(500, f"{model.name} produced a non-finite embedding")
    data = [
        {"object": "embedding", "index": i, "embedding": _encode(v, body.encoding_format)}
        for i, v in enumerate(vectors)
    ]
    words = sum(len(t.split()) for t in texts)
    usage = {"prompt_tokens": words, "total_tokens": words}
    return JSONResponse({"object": "list", "data": data, "model": model.name, "usage": usage})


def _document_key(app: FastAPI) -> None:
    """Declare the bearer key in the OpenAPI schema for the /v1/ operations (:class:`Guard`
    enforces it; the docs and generated clients learn it from here)."""
    build = app.openapi

    def openapi() -> dict[str, Any]:
        fresh = app.openapi_schema is None
        schema = build()
        if fresh:
            schemes = schema.setdefault("components", {}).setdefault("securitySchemes", {})
            schemes["bearer"] = {"type": "http", "scheme": "bearer"}
            for path, operations in schema["paths"].items():
                if path.startswith("/v1/"):
                    for operation in operations.values():
                        operation["security"] = [{"bearer": []}]
        return schema

    app.openapi = openapi  # type: ignore[method-assign]


def _choose(service: Service, name: str | None, endpoint: str, request: Request) -> ServedModel:
    model = service.model(name, endpoint)
    request.state.model = model.name  # for the access log and the metrics
    return model


def _check_texts(config: ServeConfig, texts: Sequence[str], field: str) -> None:
    if field != "query" and len(texts) > config.max_documents:
        raise ApiError(422, f"{field}: {len(texts)} texts, at most {config.max_documents}")
    for i, text in enumerate(texts):
        where = field if field == "query" else f"{field}.{i}"
        if len(text) > config.max_chars:
            raise ApiError(422, f"{where}: {len(text)} characters, at most {config.max_chars}")
        if not text.isascii():
            try:
                text.encode("utf-8")
            except UnicodeEncodeError:  # a lone surrogate ("\ud800" in the JSON)
                raise ApiError(422, f"{where}: not valid Unicode (a lone surrogate)") from None


def _finite(score: float, model: ServedModel) -> float:
    if not math.isfinite(score):
        raise ApiError(500, f"{model.name} produced a non-finite score")
    return float(score)


def _encode(vector: np.ndarray, encoding: str) -> list[float] | str:
    if encoding == "base64":
        return base64.b64encode(np.asarray(vector, "<f4").tobytes()).decode("ascii")
    return [float(x) for x in vector]


def _request_id(request: Request) -> str:
    return str(getattr(request.state, "request_id", "")) or "unknown"
