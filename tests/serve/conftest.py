"""A real uvicorn on an ephemeral loopback port, in a thread of the test process."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest

pytest.importorskip("fastapi")
pytest.importorskip("uvicorn")


@contextmanager
def live_server(app: Any) -> Iterator[str]:
    """Serve ``app`` on 127.0.0.1:<free port> until the block ends; yields the base URL once
    the models are loaded."""
    import httpx
    import uvicorn

    from aptrank.serve.server import bind, url_of

    sock = bind("127.0.0.1", 0)
    server = uvicorn.Server(uvicorn.Config(app, log_config=None, access_log=False))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    url = url_of(sock)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"{url}/health/ready", timeout=1).status_code == 200:
                break
        except httpx.TransportError:
            pass
        time.sleep(0.05)
    else:
        raise RuntimeError(f"the server at {url} did not become ready")
    try:
        yield url
    finally:
        server.should_exit = True
        thread.join(30)
        sock.close()


#: the bearer key of :func:`keyed_url`'s server
API_KEY = "test-key-123"


@pytest.fixture(scope="module")
def keyed_url() -> Iterator[str]:
    """The fake models (tests/serve/fakes.py) and the toy corpus on a live server that wants
    :data:`API_KEY`."""
    from aptrank.serve.app import create_app
    from tests.helpers import CORPUS
    from tests.serve.fakes import fake_models, quick_config

    app = create_app(fake_models(), quick_config(), corpus=CORPUS, api_key=API_KEY)
    with live_server(app) as base:
        yield base
