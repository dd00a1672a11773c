"""Two ASGI middlewares around the app.

* :class:`Guard`: the API key of ``/v1/`` paths (``Authorization: Bearer <key>``, compared in
  constant time; health, metrics and docs stay open for probes) and the body size limit (413,
  from ``Content-Length`` or while reading a chunked body). It runs before the body is parsed,
  so an unauthorised or oversized request costs no JSON parsing.
* :class:`AccessLog`: a request id (the client's ``X-Request-ID`` when it is short and printable,
  else a new one; echoed in the response), one JSON access-log line per request on the
  ``aptrank.serve.access`` logger, and the request metrics.
"""

from __future__ import annotations

import hmac
import json
import logging
import re
import time
import uuid
from collections.abc import Awaitable, Callable, MutableMapping
from datetime import datetime, timezone
from typing import Any

from aptrank.serve.errors import error_bytes
from aptrank.serve.metrics import Metrics

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

access_logger = logging.getLogger("aptrank.serve.access")
PROTECTED = "/v1/"
_REQUEST_ID = re.compile(r"[A-Za-z0-9._:-]{1,128}")


async def send_error(
    send: Send, status: int, kind: str, message: str, headers: dict[str, str] | None = None
) -> None:
    body = error_bytes(kind, message)
    raw = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
    raw += [(k.lower().encode(), v.encode()) for k, v in (headers or {}).items()]
    await send({"type": "http.response.start", "status": status, "headers": raw})
    await send({"type": "http.response.body", "body": body})


def header(scope: Scope, name: bytes) -> str | None:
    for key, value in scope.get("headers", ()):
        if key.lower() == name:
            return value.decode("latin-1")
    return None


def authorized(given: str | None, key: str) -> bool:
    """Whether an ``Authorization`` header carries ``key`` as a bearer token (constant time).

    >>> authorized("Bearer s3cret", "s3cret"), authorized("Bearer s3cres", "s3cret")
    (True, False)
    >>> authorized(None, "k"), authorized("s3cret", "s3cret")
    (False, False)
    """
    scheme, _, token = (given or "").partition(" ")
    ok = hmac.compare_digest(token.strip().encode("utf-8"), key.encode("utf-8"))
    return ok and scheme.lower() == "bearer"


class Guard:
    """The API key and the body size limit (see the module docstring)."""

    def __init__(self, app: ASGIApp, api_key: str | None, max_body_bytes: int) -> None:
        self.app = app
        self.api_key = api_key
        self.max_body = max_body_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        guarded = self.api_key and scope["path"].startswith(PROTECTED)
        if guarded and not authorized(header(scope, b"authorization"), self.api_key or ""):
            await send_error(
                send,
                401,
                "unauthorized",
                "missing or wrong API key: send 'Authorization: Bearer <key>'",
                {"WWW-Authenticate": "Bearer"},
            )
            return
        length = header(scope, b"content-length")
        if length is not None and length.isdigit() and int(length) > self.max_body:
            await self._too_large(send)
            return
        if scope["method"] in ("POST", "PUT", "PATCH"):
            body = await self._read(receive)
            if body is None:
                await self._too_large(send)
                return
            receive = _replay(body, receive)
        await self.app(scope, receive, send)

    async def _read(self, receive: Receive) -> bytes | None:
        """The whole body, or None once it passes the limit."""
        parts, size = [], 0
        while True:
            message = await receive()
            if message["type"] != "http.request":
                break  # the client went away: the app sees an empty body and a disconnect
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > self.max_body:
                return None
            parts.append(chunk)
            if not message.get("more_body", False):
                break
        return b"".join(parts)

    async def _too_large(self, send: Send) -> None:
        await send_error(
            send, 413, "payload_too_large", f"the request body is over {self.max_body} bytes"
        )


def _replay(body: bytes, receive: Receive) -> Receive:
    sent = False

    async def replay() -> Message:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        return await receive()

    return replay


class AccessLog:
    """Request ids, access-log lines and request metrics (see the module docstring)."""

    def __init__(self, app: ASGIApp, metrics: Metrics, enabled: bool = True) -> None:
        self.app = app
        self.metrics = metrics
        self.enabled = enabled

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        given = header(scope, b"x-request-id")
        request_id = given if given and _REQUEST_ID.fullmatch(given) else uuid.uuid4().hex
        scope.setdefault("state", {})["request_id"] = request_id
        status = [500]
        start = time.perf_counter()

        async def send_with_id(message: Message) -> None:
            if message["type"] == "http.response.start":
                status[0] = message["status"]
                message["headers"] = [
                    *message.get("headers", []),
                    (b"x-request-id", request_id.encode()),
                ]
            await send(message)

        self.metrics.in_flight.inc()
        try:
            await self.app(scope, receive, send_with_id)
        finally:
            self.metrics.in_flight.dec()
            self._record(scope, request_id, status[0], time.perf_counter() - start)

    def _record(self, scope: Scope, request_id: str, status: int, seconds: float) -> None:
        route = scope.get("route")
        endpoint = getattr(route, "path", None) or "unmatched"
        model = scope.get("state", {}).get("model", "")
        self.metrics.requests.labels(endpoint, model, str(status)).inc()
        self.metrics.latency.labels(endpoint).observe(seconds)
        if self.enabled and access_logger.isEnabledFor(logging.INFO):
            client = scope.get("client") or ("", 0)
            line = {
                "time": datetime.now(timezone.utc).isoformat(timespec="milliseconds"),
                "request_id": request_id,
                "client": f"{client[0]}:{client[1]}",
                "method": scope.get("method", ""),
                "path": scope.get("path", ""),
                "status": status,
                "ms": round(seconds * 1000, 2),
                "model": model,
            }
            access_logger.info(json.dumps(line))
