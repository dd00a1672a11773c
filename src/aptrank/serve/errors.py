"""Every error the server answers, as JSON ``{"error": {"type", "message"}}``.

=====  =======================  ==========================================================
401    ``unauthorized``         no or a wrong ``Authorization: Bearer <key>``
400    ``unsupported``          the model does not offer this endpoint (``/v1/models`` says which)
404    ``not_found``            an unknown model (the message names those served) or path
405    ``method_not_allowed``
413    ``payload_too_large``    the body is over the limit
422    ``invalid_request``      malformed JSON, a wrong field, too many documents, a text too long
503    ``overloaded``           the model's queue is full (``Retry-After``)
503    ``not_ready``            still loading the models (``Retry-After``)
504    ``timeout``              no answer within the per-request timeout
500    ``internal``             the model call failed (logged with its traceback)
=====  =======================  ==========================================================
"""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from fastapi import FastAPI

logger = logging.getLogger(__name__)

TYPES = {
    400: "unsupported",
    401: "unauthorized",
    404: "not_found",
    405: "method_not_allowed",
    413: "payload_too_large",
    422: "invalid_request",
    503: "overloaded",
    504: "timeout",
    500: "internal",
}


class ApiError(Exception):
    """An error answered as ``{"error": {"type", "message"}}`` with ``status``."""

    def __init__(
        self,
        status: int,
        message: str,
        kind: str | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.type = kind or TYPES.get(status, "error")
        self.message = message
        self.headers = dict(headers or {})


def error_body(kind: str, message: str) -> dict[str, Any]:
    """The error shape.

    >>> error_body("timeout", "no answer within 30 s")
    {'error': {'type': 'timeout', 'message': 'no answer within 30 s'}}
    """
    return {"error": {"type": kind, "message": message}}


def error_bytes(kind: str, message: str) -> bytes:
    return json.dumps(error_body(kind, message)).encode("utf-8")


def validation_message(errors: Any, limit: int = 3) -> str:
    """Pydantic's validation errors in one line: ``field.path: message; ...``.

    >>> validation_message([{"loc": ("body", "documents", 2), "msg": "Input should be a string"}])
    'documents.2: Input should be a string'
    """
    parts = []
    for err in list(errors)[:limit]:
        loc = [str(p) for p in err.get("loc", ()) if p != "body"]
        parts.append(f"{'.'.join(loc) or 'body'}: {err.get('msg', 'invalid')}")
    more = len(list(errors)) - limit
    return "; ".join(parts) + (f" (and {more} more)" if more > 0 else "")


def install_handlers(app: FastAPI) -> None:
    """Answer every error in the one shape: ours, FastAPI's validation errors (422), Starlette's
    HTTP errors (404, 405) and anything unexpected (500)."""
    from fastapi.exceptions import RequestValidationError
    from fastapi.responses import JSONResponse
    from starlette.exceptions import HTTPException

    def respond(
        status: int, kind: str, message: str, headers: Mapping[str, str] | None = None
    ) -> JSONResponse:
        return JSONResponse(error_body(kind, message), status_code=status, headers=headers)

    @app.exception_handler(ApiError)
    async def _api(_request: Any, exc: ApiError) -> JSONResponse:
        return respond(exc.status, exc.type, exc.message, exc.headers)

    @app.exception_handler(RequestValidationError)
    async def _invalid(_request: Any, exc: RequestValidationError) -> JSONResponse:
        return respond(422, "invalid_request", validation_message(exc.errors()))

    @app.exception_handler(HTTPException)
    async def _http(_request: Any, exc: HTTPException) -> JSONResponse:
        kind = TYPES.get(exc.status_code, "error")
        return respond(exc.status_code, kind, str(exc.detail), getattr(exc, "headers", None))

    @app.exception_handler(Exception)
    async def _unexpected(_request: Any, exc: Exception) -> JSONResponse:
        logger.error("unexpected error", exc_info=exc)
        return respond(500, "internal", f"internal error: {type(exc).__name__}")
