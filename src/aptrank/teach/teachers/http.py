"""A teacher served by an OpenAI-compatible server (vLLM, llama.cpp server, Ollama, ...).

One request per pair, asking for a single answer token with its top log-probabilities
(``/v1/chat/completions`` with ``logprobs``/``top_logprobs``, or ``/v1/completions`` with
``logprobs``); the label is the expected grade over the answer tokens among them (see
:mod:`~aptrank.teach.teachers.prompts`), or, when none is among them, the answer the server
wrote. Requests run on a thread pool, at most ``concurrency`` at a time; a timeout, a connection
error, HTTP 429 or 5xx, or a malformed response is retried with exponential backoff and jitter
(``Retry-After`` honoured), up to ``max_retries`` times; any other 4xx fails at once. A pair
whose answer holds no label gets NaN (not stored; a later run retries it).
"""

from __future__ import annotations

import http.client
import json
import logging
import math
import os
import random
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

import numpy as np

from aptrank.errors import AptrankError
from aptrank.teach.teachers.prompts import expected_grade, get_prompt, label_probs, parse_label

logger = logging.getLogger(__name__)

ENDPOINTS = {"chat": "/chat/completions", "completions": "/completions"}


@dataclass(frozen=True)
class HTTPTeacherConfig:
    base_url: str  #: the server's OpenAI-compatible root, e.g. ``http://127.0.0.1:8000/v1``
    model: str  #: the model name the server serves
    endpoint: str = "chat"  #: chat (/chat/completions) or completions (/completions)
    prompt: str = "yesno"  #: yesno or graded
    max_doc_chars: int = 2000  #: the document is cut to this many characters
    top_logprobs: int = 10
    batch_size: int = 32  #: pairs per labeling batch (requests within it run concurrently)
    concurrency: int = 4  #: requests in flight at most
    timeout: float = 60.0  #: seconds per request
    max_retries: int = 4
    backoff: float = 0.5  #: first retry delay in seconds; doubles per retry, with jitter
    max_backoff: float = 30.0
    api_key_env: str | None = "OPENAI_API_KEY"  #: environment variable holding a bearer token


class _Retryable(Exception):
    def __init__(self, reason: str, retry_after: float | None = None) -> None:
        super().__init__(reason)
        self.retry_after = retry_after


def _retry_after(value: str | None) -> float | None:
    try:
        return float(value) if value else None
    except ValueError:
        return None  # an HTTP date: fall back to our own backoff


def _answer(data: Any, endpoint: str) -> tuple[dict[str, float], str]:
    """``({token: logprob}, text)`` of the first answer token; KeyError/TypeError/IndexError
    when the response does not have the OpenAI shape."""
    choice = data["choices"][0]
    logprobs = choice["logprobs"]
    if endpoint == "chat":
        first = logprobs["content"][0]
        top = {t["token"]: t["logprob"] for t in first.get("top_logprobs") or []}
        top.setdefault(first["token"], first["logprob"])
        return top, str((choice.get("message") or {}).get("content") or "")
    tops = logprobs.get("top_logprobs") or [{}]
    top = dict(tops[0] or {})
    tokens, token_lps = logprobs.get("tokens") or [], logprobs.get("token_logprobs") or []
    if tokens and token_lps:
        top.setdefault(tokens[0], token_lps[0])
    return top, str(choice.get("text") or "")


class HTTPTeacher:
    """Labels pairs through an OpenAI-compatible HTTP server (see the module doc)."""

    name = "http"

    def __init__(self, config: HTTPTeacherConfig) -> None:
        if config.endpoint not in ENDPOINTS:
            raise AptrankError(
                f"endpoint must be one of {', '.join(ENDPOINTS)}, not {config.endpoint!r}"
            )
        if config.concurrency < 1 or config.max_retries < 0 or config.timeout <= 0:
            raise AptrankError("concurrency >= 1, max_retries >= 0 and timeout > 0 are required")
        self.cfg = config
        self.prompt = get_prompt(config.prompt)
        self.batch_size = config.batch_size
        self.url = config.base_url.rstrip("/") + ENDPOINTS[config.endpoint]
        self._slots = threading.BoundedSemaphore(config.concurrency)
        self._random = random.Random()

    def config(self) -> dict[str, object]:
        return {
            "name": self.name,
            "model": self.cfg.model,
            "endpoint": self.cfg.endpoint,
            "prompt": self.prompt.id,
            "max_doc_chars": self.cfg.max_doc_chars,
        }

    def _body(self, query: str, document: str) -> dict[str, Any]:
        document = document[: self.cfg.max_doc_chars]
        body: dict[str, Any] = {"model": self.cfg.model, "max_tokens": 1, "temperature": 0.0}
        if self.cfg.endpoint == "chat":
            body["messages"] = self.prompt.messages(query, document)
            body["logprobs"] = True
            body["top_logprobs"] = self.cfg.top_logprobs
        else:
            body["prompt"] = self.prompt.text(query, document)
            body["logprobs"] = self.cfg.top_logprobs
        return body

    def _headers(self) -> dict[str, str]:
        headers = {"Content-Type": "application/json", "Accept": "application/json"}
        key = os.environ.get(self.cfg.api_key_env) if self.cfg.api_key_env else None
        if key:
            headers["Authorization"] = f"Bearer {key}"
        return headers

    def _post_once(self, payload: bytes) -> tuple[dict[str, float], str]:
        request = urllib.request.Request(self.url, data=payload, headers=self._headers())
        try:
            with self._slots, urllib.request.urlopen(request, timeout=self.cfg.timeout) as resp:
                raw = resp.read()
        except urllib.error.HTTPError as e:
            detail = e.read()[:300].decode("utf-8", "replace")
            if e.code == 429 or e.code >= 500:
                retry_after = _retry_after(e.headers.get("Retry-After"))
                raise _Retryable(f"HTTP {e.code}", retry_after) from None
            raise AptrankError(f"{self.url}: HTTP {e.code} {e.reason}: {detail}") from None
        except (urllib.error.URLError, http.client.HTTPException, OSError) as e:
            reason = getattr(e, "reason", None) or e
            raise _Retryable(f"{type(e).__name__}: {reason}") from None
        try:
            return _answer(json.loads(raw), self.cfg.endpoint)
        except (ValueError, KeyError, TypeError, IndexError, AttributeError) as e:
            raise _Retryable(
                f"malformed response ({type(e).__name__}: {e}): {raw[:200]!r}"
            ) from None

    def _delay(self, attempt: int, retry_after: float | None) -> float:
        base = min(self.cfg.max_backoff, self.cfg.backoff * 2**attempt)
        delay = base * self._random.uniform(0.5, 1.0)
        return min(self.cfg.max_backoff, max(delay, retry_after or 0.0))

    def request(self, query: str, document: str) -> tuple[dict[str, float], str]:
        """The first answer token's top log-probabilities and the answer text, with retries."""
        payload = json.dumps(self._body(query, document)).encode("utf-8")
        retries = 0
        while True:
            try:
                return self._post_once(payload)
            except _Retryable as e:
                if retries == self.cfg.max_retries:
                    raise AptrankError(
                        f"{self.url}: failed after {retries + 1} attempts; last error: {e}"
                    ) from None
                delay = self._delay(retries, e.retry_after)
                retries += 1
                logger.warning("%s: %s; retry %d in %.2fs", self.url, e, retries, delay)
                time.sleep(delay)

    def score_one(self, query: str, document: str) -> float:
        top, text = self.request(query, document)
        grade = expected_grade(label_probs(top, self.prompt.grades), self.prompt.grades)
        if math.isnan(grade):
            grade = parse_label(text, self.prompt.grades)
        if math.isnan(grade):
            logger.debug("%s: no answer label among %s (text %r)", self.url, list(top), text)
        return grade

    def score(self, pairs: Sequence[tuple[str, str]]) -> np.ndarray:
        if not pairs:
            return np.zeros(0, dtype=np.float64)
        pool = ThreadPoolExecutor(self.cfg.concurrency, thread_name_prefix="aptrank-http")
        try:
            futures: list[Future[float]] = [pool.submit(self.score_one, q, d) for q, d in pairs]
            return np.array([f.result() for f in futures], dtype=np.float64)
        finally:
            pool.shutdown(wait=True, cancel_futures=True)

    def __repr__(self) -> str:
        return f"HTTPTeacher({self.url!r}, model={self.cfg.model!r})"
