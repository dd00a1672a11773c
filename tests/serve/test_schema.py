"""Requests generated against the served API never get a 500.

* Schemathesis, from the served OpenAPI schema: valid and invalid requests; every answer matches
  its documented status, content type and schema. Left out: its data-acceptance checks, which
  expect every schema-valid request to succeed; the served model names and the per-server limits
  (documents, characters) are runtime settings the static schema does not carry, so a
  valid-looking request may rightly get a 404 or 422.
* Hypothesis, with the served model names: any texts, document counts and ``top_n``; a 200 is
  sorted, complete and echoes the documents.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

schemathesis = pytest.importorskip("schemathesis")

from fastapi.testclient import TestClient  # noqa: E402
from hypothesis import HealthCheck, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402
from schemathesis.checks import not_a_server_error  # noqa: E402
from schemathesis.specs.openapi.checks import (  # noqa: E402
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from aptrank.serve.app import create_app  # noqa: E402
from tests.helpers import CORPUS  # noqa: E402
from tests.serve.conftest import live_server  # noqa: E402
from tests.serve.fakes import fake_models, quick_config  # noqa: E402

KEY = "schema-key"
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
]


#: built at import (nothing loads until it starts): its schema parametrizes the test, and the
#: module's live server serves this very app
def make_app():  # type: ignore[no-untyped-def]
    config = quick_config(max_documents=20, max_chars=200, max_body_bytes=20_000)
    return create_app(fake_models(), config, corpus=CORPUS, api_key=KEY)


APP = make_app()
# (from_dict, not pytest.from_fixture: schemathesis's lazy fixture loader sets a node attribute
# pytest 9 no longer has)
schema = schemathesis.openapi.from_dict(APP.openapi())


@pytest.fixture(scope="module")
def base_url() -> Iterator[str]:
    with live_server(APP) as url:
        yield url


@schema.parametrize()
@settings(
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
def test_no_request_from_the_schema_gets_a_500(case, base_url: str):  # type: ignore[no-untyped-def]
    case.call_and_validate(
        base_url=base_url, headers={"Authorization": f"Bearer {KEY}"}, checks=CHECKS
    )


# ------------------------------------------- hypothesis: the served models, any texts and sizes

MODELS = st.sampled_from([None, "ce", "dense", "fused", "bm25", "unknown"])
TEXTS = st.text(max_size=250)  # max_chars is 200: some are over
DOCUMENTS = st.lists(st.one_of(TEXTS, st.builds(lambda t: {"text": t}, TEXTS)), max_size=24)


@pytest.fixture(scope="module")
def client() -> Iterator[TestClient]:
    with TestClient(make_app(), headers={"Authorization": f"Bearer {KEY}"}) as c:
        yield c


@given(
    model=MODELS,
    query=TEXTS,
    documents=DOCUMENTS,
    top_n=st.one_of(st.none(), st.integers(-1, 30)),
    return_documents=st.booleans(),
)
@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow,
          HealthCheck.function_scoped_fixture])  # fmt: skip
def test_rerank_with_served_models_and_any_texts(
    client: TestClient, model, query, documents, top_n, return_documents
):
    body = {"model": model, "query": query, "documents": documents, "top_n": top_n,
            "return_documents": return_documents}  # fmt: skip
    r = client.post("/v1/rerank", json=body)
    assert r.status_code in (200, 400, 404, 422), r.text
    if r.status_code != 200:
        assert set(r.json()["error"]) == {"type", "message"}
        return
    results = r.json()["results"]
    texts = [d if isinstance(d, str) else d["text"] for d in documents]
    assert len(results) == min(top_n or len(texts), len(texts))
    scores = [x["relevance_score"] for x in results]
    assert scores == sorted(scores, reverse=True)
    assert len({x["index"] for x in results}) == len(results)
    if return_documents:
        assert all(x["document"]["text"] == texts[x["index"]] for x in results)


@given(
    model=MODELS,
    texts=st.one_of(TEXTS, st.lists(TEXTS, max_size=24)),
    input_type=st.sampled_from(["query", "document", "other"]),
)
@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow,
          HealthCheck.function_scoped_fixture])  # fmt: skip
def test_embeddings_with_served_models_and_any_texts(client: TestClient, model, texts, input_type):
    body = {"model": model, "input": texts, "input_type": input_type}
    r = client.post("/v1/embeddings", json=body)
    assert r.status_code in (200, 400, 404, 422), r.text
    if r.status_code == 200:
        n = 1 if isinstance(texts, str) else len(texts)
        assert [e["index"] for e in r.json()["data"]] == list(range(n))
