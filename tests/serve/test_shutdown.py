"""Graceful shutdown of a real uvicorn process: on SIGTERM readiness turns false first, and every
request it accepted is answered before it exits (exit code 0)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest

ROOT = Path(__file__).resolve().parents[2]
REQUESTS = 8


def start() -> tuple[subprocess.Popen[str], str]:
    proc = subprocess.Popen(
        [sys.executable, "-m", "tests.serve.slow_server"],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )
    assert proc.stdout is not None
    line = proc.stdout.readline()
    if not line.startswith("URL "):
        proc.kill()
        raise AssertionError(f"no URL line: {line!r} {proc.stderr.read() if proc.stderr else ''}")
    url = line.split()[1]
    for _ in range(200):
        try:
            if httpx.get(f"{url}/health/ready", timeout=1).status_code == 200:
                return proc, url
        except httpx.TransportError:
            pass
        time.sleep(0.05)
    proc.kill()
    raise AssertionError("the server did not become ready")


def in_flight(url: str) -> float:
    text = httpx.get(f"{url}/metrics", timeout=5).text
    line = next(x for x in text.splitlines() if x.startswith("aptrank_requests_in_flight "))
    return float(line.split()[1]) - 1  # less the /metrics request itself


def test_sigterm_drains_then_answers_every_accepted_request():
    proc, url = start()
    try:
        with ThreadPoolExecutor(REQUESTS) as pool:
            # one model call of 0.3 s each, one after another: ~2.4 s of work in flight
            futures = [
                pool.submit(
                    httpx.post,
                    f"{url}/v1/rerank",
                    json={"query": f"cats {i}", "documents": ["dogs bark", "cats purr"]},
                    timeout=30,
                )
                for i in range(REQUESTS)
            ]
            deadline = time.monotonic() + 10
            while in_flight(url) < REQUESTS and time.monotonic() < deadline:
                time.sleep(0.02)
            assert in_flight(url) == REQUESTS
            proc.send_signal(signal.SIGTERM)
            ready = httpx.get(f"{url}/health/ready", timeout=5)  # within the 0.5 s drain
            responses = [f.result() for f in futures]
        assert ready.status_code == 503 and ready.json()["status"] == "draining"
        assert [r.status_code for r in responses] == [200] * REQUESTS
        assert all(r.json()["results"][0]["index"] == 1 for r in responses)
        stdout, stderr = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 0, stderr
    assert "STOPPED" in stdout and "Traceback" not in stderr
    with pytest.raises(httpx.TransportError):
        httpx.get(f"{url}/health/live", timeout=2)


def test_a_model_that_fails_to_load_stops_the_server_with_one_error():
    from aptrank.errors import AptrankError
    from aptrank.serve.app import create_app
    from aptrank.serve.models import served_models
    from aptrank.serve.server import bind, serve
    from tests.serve.fakes import OverlapScorer, overlap_ce, quick_config

    class Broken(OverlapScorer):
        def score(self, pairs, batch_size=32, show_progress=False):
            raise OSError("weights file truncated")

    config = quick_config()
    app = create_app(served_models([("ce", overlap_ce(Broken()))]), config, background_load=True)
    with pytest.raises(AptrankError, match="loading the models failed: OSError: weights file"):
        serve(app, config, bind("127.0.0.1", 0))
