"""Running the app under uvicorn, with a graceful shutdown.

On SIGTERM or SIGINT: readiness turns false at once (``/health/ready`` answers 503, so a load
balancer stops sending), requests keep being answered for ``drain_s`` seconds, then uvicorn stops
accepting connections, lets every request in flight finish (at most ``shutdown_timeout_s``) and
the batchers and the worker thread stop. A second SIGINT quits at once.
"""

from __future__ import annotations

import logging
import socket
import threading
from collections.abc import Callable
from types import FrameType
from typing import TYPE_CHECKING, Any

import uvicorn

if TYPE_CHECKING:
    from fastapi import FastAPI

    from aptrank.serve.config import ServeConfig

logger = logging.getLogger(__name__)


def bind(host: str, port: int) -> socket.socket:
    """A listening socket (``port=0``: an ephemeral one; read it from ``getsockname()``)."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    # proto=IPPROTO_TCP, not the default 0: asyncio turns Nagle's algorithm off (TCP_NODELAY)
    # only on sockets whose proto says TCP, and accepted sockets inherit it. With Nagle on,
    # every response after the first on a kept-alive connection waited ~40 ms for the client's
    # delayed ACK (uvicorn writes the headers and the body apart): a 44 ms floor per request.
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, port))
    sock.listen(2048)
    sock.set_inheritable(True)
    return sock


def url_of(sock: socket.socket) -> str:
    host, port = sock.getsockname()[:2]
    return f"http://[{host}]:{port}" if ":" in host else f"http://{host}:{port}"


def serve(
    app: FastAPI,
    config: ServeConfig,
    sock: socket.socket | None = None,
    on_started: Callable[[str], None] | None = None,
) -> None:
    """Serve ``app`` until a signal (see the module docstring); ``on_started(url)`` is called
    once the server listens. Returns after the graceful shutdown."""
    sock = sock or bind(config.host, config.port)
    uv_config = uvicorn.Config(
        app,
        lifespan="on",
        access_log=False,  # aptrank's own JSON access log replaces uvicorn's
        log_config=None,
        timeout_graceful_shutdown=int(config.shutdown_timeout_s),
        timeout_keep_alive=5,
    )

    def started() -> None:
        if on_started is not None:
            on_started(url_of(sock))

    server = _Server(uv_config, app, config.drain_s, started)
    service = app.state.service
    service.on_load_failure = lambda _why: setattr(server, "should_exit", True)
    server.run(sockets=[sock])
    if service.load_error is not None:
        from aptrank.errors import AptrankError

        raise AptrankError(f"serve: loading the models failed: {service.load_error}")


class _Server(uvicorn.Server):
    """uvicorn's server, draining first on a shutdown signal."""

    def __init__(
        self, config: uvicorn.Config, app: Any, drain_s: float, started: Callable[[], Any]
    ) -> None:
        super().__init__(config)
        self._app = app
        self._drain_s = drain_s
        self._started = started
        self._timer: threading.Timer | None = None

    async def startup(self, sockets: list[socket.socket] | None = None) -> None:
        await super().startup(sockets=sockets)
        if self.started:
            self._started()

    def handle_exit(self, sig: int, frame: FrameType | None) -> None:
        self._app.state.service.drain()
        if self._drain_s > 0 and self._timer is None and not self.should_exit:
            logger.info("draining for %.1f s before shutting down", self._drain_s)
            self._timer = threading.Timer(self._drain_s, self._exit, (sig, frame))
            self._timer.daemon = True
            self._timer.start()
            return
        self._exit(sig, frame)

    def _exit(self, sig: int, frame: FrameType | None) -> None:
        super().handle_exit(sig, frame)
        # uvicorn re-raises a caught signal after its shutdown (the process then dies of it);
        # after a graceful shutdown the command exits normally instead
        captured = getattr(self, "_captured_signals", None)
        if isinstance(captured, list):
            captured.clear()
