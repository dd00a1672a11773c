"""The OpenAI-compatible client against a local ThreadingHTTPServer on 127.0.0.1."""

from __future__ import annotations

import json
import math
import random
import socket
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from aptrank.errors import AptrankError
from aptrank.teach import LabelStore, label_pairs
from aptrank.teach.teachers.http import HTTPTeacher, HTTPTeacherConfig

#: behaviour(n, path, body) -> (status, payload, seconds to sleep first, extra headers)
Behaviour = Callable[[int, str, dict[str, Any]], tuple[int, bytes, float, dict[str, str]]]


@dataclass
class ServerState:
    url: str
    requests: list[tuple[str, dict[str, Any]]] = field(default_factory=list)
    active: int = 0
    max_active: int = 0


@contextmanager
def serve(behaviour: Behaviour) -> Iterator[ServerState]:
    lock = threading.Lock()
    state = ServerState(url="")

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:  # noqa: N802 - the http.server API
            body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
            with lock:
                state.requests.append((self.path, body))
                n = len(state.requests)
                state.active += 1
                state.max_active = max(state.max_active, state.active)
            try:
                status, payload, delay, headers = behaviour(n, self.path, body)
                time.sleep(delay)
            finally:
                with lock:  # before answering: the client frees its slot only after the answer
                    state.active -= 1
            try:
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(payload)))
                for key, value in headers.items():
                    self.send_header(key, value)
                self.end_headers()
                self.wfile.write(payload)
            except OSError:
                pass  # the client gave up (timeout)

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    state.url = f"http://127.0.0.1:{server.server_port}/v1"
    thread = threading.Thread(target=server.serve_forever, args=(0.02,), daemon=True)
    thread.start()
    try:
        yield state
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


def chat_response(top: dict[str, float], text: str = "") -> bytes:
    first = next(iter(top), text)
    entries = [{"token": t, "logprob": math.log(p)} for t, p in top.items()]
    content = [{"token": first, "logprob": entries[0]["logprob"] if entries else -9.0}]
    content[0]["top_logprobs"] = entries  # type: ignore[assignment]
    choice = {"message": {"role": "assistant", "content": text}, "logprobs": {"content": content}}
    return json.dumps({"choices": [choice]}).encode()


def completion_response(top: dict[str, float], text: str = "") -> bytes:
    tops = {t: math.log(p) for t, p in top.items()}
    logprobs = {"tokens": [text], "token_logprobs": [-0.1], "top_logprobs": [tops]}
    return json.dumps({"choices": [{"text": text, "logprobs": logprobs}]}).encode()


def ok(payload: bytes, delay: float = 0.0) -> Behaviour:
    return lambda n, path, body: (200, payload, delay, {})


def teacher(url: str, **kw: Any) -> HTTPTeacher:
    defaults: dict[str, Any] = {"timeout": 5.0, "max_retries": 2, "backoff": 0.02}
    return HTTPTeacher(HTTPTeacherConfig(base_url=url, model="judge", **{**defaults, **kw}))


def test_chat_logprobs_give_the_expected_grade_and_the_request_is_right():
    payload = chat_response({"Yes": 0.6, "No": 0.2, " yes": 0.1, "Maybe": 0.05}, "Yes")
    with serve(ok(payload)) as server:
        labels = teacher(server.url, top_logprobs=7).score([("cats", "cats purr")])
    assert labels == pytest.approx([0.7 / 0.9])
    path, body = server.requests[0]
    assert path == "/v1/chat/completions"
    assert body["model"] == "judge" and body["max_tokens"] == 1 and body["temperature"] == 0
    assert body["logprobs"] is True and body["top_logprobs"] == 7
    assert "cats purr" in body["messages"][-1]["content"]


def test_completions_endpoint_with_the_graded_prompt():
    payload = completion_response({" 3": 0.5, " 2": 0.25, "1": 0.125, " the": 0.1}, " 3")
    with serve(ok(payload)) as server:
        t = teacher(server.url, endpoint="completions", prompt="graded", max_doc_chars=4)
        labels = t.score([("q", "abcdefgh")])
    assert labels == pytest.approx([(3 * 0.5 + 2 * 0.25 + 1 * 0.125) / 0.875])
    path, body = server.requests[0]
    assert path == "/v1/completions" and body["logprobs"] == 10
    assert "abcd" in body["prompt"] and "abcde" not in body["prompt"]


def test_labels_follow_their_pairs_under_concurrency():
    def behaviour(n: int, path: str, body: dict[str, Any]):
        i = int(body["messages"][-1]["content"].split("doc-")[1].split()[0])
        p = (i + 1) / 12
        return 200, chat_response({"yes": p, "no": 1 - p}), random.uniform(0, 0.02), {}

    pairs = [("q", f"doc-{i} text") for i in range(10)]
    with serve(behaviour) as server:
        labels = teacher(server.url, concurrency=4).score(pairs)
    assert labels == pytest.approx([(i + 1) / 12 for i in range(10)])


def test_no_label_token_falls_back_to_the_text_then_to_nan():
    with serve(ok(chat_response({"Sure": 0.9}, "Yes, it is."))) as server:
        assert teacher(server.url).score([("q", "d")]) == pytest.approx([1.0])
    with serve(ok(chat_response({"Hmm": 0.9}, "Hmm"))) as server:
        assert np.isnan(teacher(server.url).score([("q", "d")])).all()


def test_5xx_twice_then_success_is_retried_with_backoff():
    good = chat_response({"yes": 0.9, "no": 0.1})

    def behaviour(n: int, path: str, body: dict[str, Any]):
        return (500, b"overloaded", 0.0, {}) if n <= 2 else (200, good, 0.0, {})

    with serve(behaviour) as server:
        start = time.perf_counter()
        labels = teacher(server.url, backoff=0.05).score([("q", "d")])
        elapsed = time.perf_counter() - start
    assert labels == pytest.approx([0.9])
    assert len(server.requests) == 3
    assert elapsed >= 0.05 * 0.5 + 0.1 * 0.5  # two backoffs, each at least half its base


def test_429_honours_retry_after():
    good = chat_response({"yes": 0.5, "no": 0.5})

    def behaviour(n: int, path: str, body: dict[str, Any]):
        return (429, b"slow down", 0.0, {"Retry-After": "0.2"}) if n == 1 else (200, good, 0, {})

    with serve(behaviour) as server:
        start = time.perf_counter()
        assert teacher(server.url).score([("q", "d")]) == pytest.approx([0.5])
        assert time.perf_counter() - start >= 0.2
    assert len(server.requests) == 2


def test_4xx_fails_at_once_without_retrying():
    error = pytest.raises(AptrankError, match=r"/v1/chat/completions: HTTP 400.*bad model")
    with serve(lambda n, p, b: (400, b'{"error": "bad model"}', 0.0, {})) as server, error:
        teacher(server.url, max_retries=3).score([("q", "d")])
    assert len(server.requests) == 1


def test_a_server_slower_than_the_timeout_is_retried_then_a_clear_error():
    with serve(ok(chat_response({"yes": 1.0}), delay=0.6)) as server:
        start = time.perf_counter()
        with pytest.raises(AptrankError, match=r"127\.0\.0\.1.*after 2 attempts.*timed out"):
            teacher(server.url, timeout=0.15, max_retries=1).score([("q", "d")])
        assert time.perf_counter() - start < 0.6 + 0.15  # gave up on time, did not wait it out
    assert len(server.requests) == 2


@pytest.mark.parametrize(
    "payload", [b"{not json", b'{"choices": []}', b'{"choices": [{"message": {}}]}']
)
def test_malformed_responses_are_retried_then_a_clear_error(payload: bytes):
    error = pytest.raises(AptrankError, match=r"/v1/chat/completions.*3 attempts.*malformed")
    with serve(ok(payload)) as server, error:
        teacher(server.url).score([("q", "d")])
    assert len(server.requests) == 3


def test_connection_refused_is_retried_then_a_clear_error():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # closed when the block ends: nothing listens there
    with pytest.raises(AptrankError, match=rf"127\.0\.0\.1:{port}/v1.*2 attempts.*refused"):
        teacher(f"http://127.0.0.1:{port}/v1", max_retries=1).score([("q", "d")])


def test_the_concurrency_limit_is_respected():
    with serve(ok(chat_response({"yes": 0.5, "no": 0.5}), delay=0.05)) as server:
        labels = teacher(server.url, concurrency=3).score([("q", f"d{i}") for i in range(12)])
    assert len(labels) == 12 and len(server.requests) == 12
    assert 2 <= server.max_active <= 3


def test_backoff_grows_exponentially_with_jitter_and_a_cap():
    t = teacher("http://127.0.0.1:9/v1", backoff=0.5, max_backoff=4.0)
    t._random.seed(0)
    for attempt in range(6):
        base = min(4.0, 0.5 * 2**attempt)
        delays = [t._delay(attempt, None) for _ in range(20)]
        assert all(base / 2 <= d <= base for d in delays) and len(set(delays)) > 1
    assert t._delay(0, 3.0) == 3.0 and t._delay(0, 100.0) == 4.0


def test_bad_configs_and_a_stable_teacher_id():
    with pytest.raises(AptrankError, match="endpoint"):
        teacher("http://x/v1", endpoint="embeddings")
    with pytest.raises(AptrankError, match="concurrency"):
        teacher("http://x/v1", concurrency=0)
    a = teacher("http://a/v1", concurrency=1, timeout=1.0).config()
    assert a == teacher("http://b/v1", concurrency=8).config()  # throughput settings excluded
    assert a != teacher("http://a/v1", prompt="graded").config()


def test_labeling_through_the_server_into_the_store(tmp_path: Path):
    with serve(ok(chat_response({"yes": 0.8, "no": 0.2}))) as server:
        t = teacher(server.url, batch_size=4)
        pairs = [("q1", "query", f"d{i}", f"doc {i}") for i in range(10)]
        with LabelStore(tmp_path / "l.db") as store:
            stats = label_pairs(t, store, pairs)
            assert stats.labeled == 10 and len(server.requests) == 10
            assert label_pairs(t, store, pairs).skipped == 10 and len(server.requests) == 10
            assert list(store.get(stats.teacher)["q1"].values()) == pytest.approx([0.8] * 10)
