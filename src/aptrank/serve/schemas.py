"""Request and response bodies, in the public shapes clients already speak.

* rerank: Cohere's ``/v1/rerank`` (also Jina's and Infinity's): documents as strings or
  ``{"text": ...}`` objects; results sorted by ``relevance_score``, each with the document's
  ``index`` in the request.
* embeddings: OpenAI's ``/v1/embeddings``; ``encoding_format`` ``float`` (default) or ``base64``
  (little-endian float32, as OpenAI encodes it).

Fields a client sends that aptrank does not use (Cohere's ``max_chunks_per_doc``, OpenAI's
``user``, ...) are ignored, so clients work unchanged.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

_IGNORE_EXTRA = ConfigDict(extra="ignore")


class TextDocument(BaseModel):
    model_config = ConfigDict(extra="allow")
    text: str


class RerankRequest(BaseModel):
    model_config = _IGNORE_EXTRA
    model: str | None = Field(
        None, description="A served model (GET /v1/models); default: the first."
    )
    query: str
    documents: list[str | TextDocument] = Field(..., min_length=1)
    top_n: int | None = Field(None, ge=1, description="Results returned (default: all).")
    return_documents: bool = Field(False, description="Include each document's text.")


class RerankResult(BaseModel):
    index: int = Field(..., description="The document's position in the request.")
    relevance_score: float = Field(..., description="The model's score; higher is better.")
    document: TextDocument | None = None


class RerankResponse(BaseModel):
    id: str
    model: str
    object: Literal["rerank"] = "rerank"
    results: list[RerankResult]
    meta: dict[str, Any]


class SearchRequest(BaseModel):
    model_config = _IGNORE_EXTRA
    model: str | None = None
    query: str
    top_n: int = Field(10, ge=1)
    return_documents: bool = False


class SearchDocument(BaseModel):
    title: str
    text: str


class SearchResult(BaseModel):
    doc_id: str
    score: float
    rank: int = Field(..., description="1 for the best document.")
    document: SearchDocument | None = None


class SearchResponse(BaseModel):
    id: str
    model: str
    results: list[SearchResult]


class EmbeddingsRequest(BaseModel):
    model_config = _IGNORE_EXTRA
    model: str | None = None
    input: str | list[str] = Field(..., description="One text or a list of texts.")
    input_type: Literal["query", "document"] = Field(
        "document",
        description="document: the plain encoder (what OpenAI-shaped clients get); query: with "
        "the model's query prefix and query adapter, for texts that are searched with.",
    )
    encoding_format: Literal["float", "base64"] = "float"
    dimensions: int | None = Field(None, ge=1, description="Must equal the model's dimension.")


class Embedding(BaseModel):
    object: Literal["embedding"] = "embedding"
    index: int
    embedding: list[float] | str


class Usage(BaseModel):
    prompt_tokens: int = Field(..., description="Whitespace-separated words of the input.")
    total_tokens: int


class EmbeddingsResponse(BaseModel):
    object: Literal["list"] = "list"
    data: list[Embedding]
    model: str
    usage: Usage


class ModelCard(BaseModel):
    id: str
    object: Literal["model"] = "model"
    owned_by: str
    pipeline: str
    endpoints: list[Literal["rerank", "search", "embeddings"]]
    score: str
    fingerprint: str


class ModelList(BaseModel):
    object: Literal["list"] = "list"
    data: list[ModelCard]


class Health(BaseModel):
    status: Literal["live", "ready", "loading", "draining", "failed"]
    models: list[str] = []


class ErrorDetail(BaseModel):
    type: str
    message: str


class ErrorResponse(BaseModel):
    error: ErrorDetail
