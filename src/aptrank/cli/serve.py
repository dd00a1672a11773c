"""``aptrank serve``: rankers behind an HTTP API (rerank, search, embeddings)."""

from __future__ import annotations

import typer

from aptrank.serve.config import ServeConfig

_D = ServeConfig()
PIPELINE_HELP = (
    "A pipeline to serve; repeat for several. A trained ranker's folder is named by the folder's "
    "name, any other pipeline by its string; a request's 'model' picks one (default: the first). "
    "Cross-encoders, bi-encoders and fuse/rrf/A>>B of them serve /v1/rerank; bi-encoders also "
    "/v1/embeddings; with --corpus every retrieving pipeline (BM25 too) serves /v1/search. "
    "Stage options pick the backend, e.g. 'ce:<model>\\[backend=onnx-int8]'."
)
BACKEND_HELP = (
    "Backend of every bi- and cross-encoder stage left on the default torch (trained folders "
    "too): onnx, onnx-int8, openvino, openvino-bf16, or auto: the fastest within a fidelity "
    "bound, measured once per model and machine and cached."
)


def serve(
    pipeline: list[str] = typer.Option(..., "--pipeline", "-p", help=PIPELINE_HELP),
    corpus: str = typer.Option(
        None, "--corpus", help="A dataset (BEIR folder or name) whose corpus /v1/search ranks."
    ),
    host: str = typer.Option(_D.host, "--host", help="Address to listen on."),
    port: int = typer.Option(_D.port, "--port", min=0, max=65535, help="Port (0: any free one)."),
    api_key_env: str = typer.Option(
        None,
        "--api-key-env",
        help="Environment variable holding the API key: /v1/ then needs "
        "'Authorization: Bearer <key>'. The key itself is never a command-line argument.",
    ),
    max_documents: int = typer.Option(
        _D.max_documents, min=1, help="Documents per rerank, texts per embeddings request (422)."
    ),
    max_chars: int = typer.Option(_D.max_chars, min=1, help="Characters per text (422)."),
    max_body_mb: float = typer.Option(_D.max_body_bytes / 2**20, help="Body size in MiB (413)."),
    queue_size: int = typer.Option(
        _D.queue_size, min=1, help="Requests waiting per model and endpoint; more get 503."
    ),
    timeout: float = typer.Option(
        _D.timeout_s, help="Seconds per request, queueing included (504)."
    ),
    batching: bool = typer.Option(
        True, "--batching/--no-batching", help="Merge concurrent requests into one model call."
    ),
    batch_wait_ms: float = typer.Option(
        _D.batch_wait_ms, help="How long an idle model waits for more requests to batch."
    ),
    max_batch: int = typer.Option(
        _D.max_batch, min=1, help="Pairs, texts or queries per model call."
    ),
    drain_seconds: float = typer.Option(
        _D.drain_s, help="On shutdown: seconds of readiness false before the server stops."
    ),
    backend: str = typer.Option(None, "--backend", help=BACKEND_HELP),
    access_log: bool = typer.Option(True, "--access-log/--no-access-log", help="JSON lines."),
    verbose: bool = typer.Option(False, "--verbose", "-v", help="Log what happens."),
) -> None:
    """Serve rankers over HTTP: /v1/rerank (Cohere/Jina shape), /v1/embeddings (OpenAI shape),
    /v1/search, /v1/models, /health/live, /health/ready, /metrics and the docs at /docs."""
    import logging
    import os

    from aptrank.cli._common import say, setup_logging
    from aptrank.errors import AptrankError, MissingDependencyError

    setup_logging(verbose)
    try:
        from aptrank.serve.app import create_app
        from aptrank.serve.server import bind
        from aptrank.serve.server import serve as run_server
    except ImportError:
        raise MissingDependencyError("aptrank serve", "fastapi and uvicorn", "serve") from None
    from aptrank.serve.models import served_models

    config = ServeConfig(
        host=host,
        port=port,
        api_key_env=api_key_env,
        max_documents=max_documents,
        max_chars=max_chars,
        max_body_bytes=int(max_body_mb * 2**20),
        queue_size=queue_size,
        timeout_s=timeout,
        batching=batching,
        batch_wait_ms=batch_wait_ms,
        max_batch=max_batch,
        drain_s=drain_seconds,
        access_log=access_log,
    )
    api_key = None
    if api_key_env:
        api_key = os.environ.get(api_key_env, "")
        if not api_key:
            raise AptrankError(f"--api-key-env {api_key_env}: that environment variable is empty")
    models = served_models(pipeline, corpus=corpus is not None, backend=backend)
    docs = None
    if corpus is not None:
        from aptrank.data.unjudged import load_unjudged

        docs = load_unjudged(corpus, queries={}).corpus
        say(f"corpus {corpus}: {len(docs)} documents")
    _access_log_to_stderr(access_log)
    logging.getLogger("aptrank.serve.service").setLevel(logging.INFO)  # loading, ready
    app = create_app(models, config, corpus=docs, api_key=api_key, background_load=True)
    sock = bind(host, port)
    for m in models:
        say(f"  {m.name}: {', '.join('/v1/' + e for e in m.endpoints)}")
    run_server(
        app, config, sock, on_started=lambda url: say(f"serving on {url} (docs: {url}/docs)")
    )
    say("stopped")


def _access_log_to_stderr(enabled: bool) -> None:
    """The access log's JSON lines, as they are, on stderr (not through the rich handler)."""
    import logging
    import sys

    log = logging.getLogger("aptrank.serve.access")
    log.propagate = False
    log.setLevel(logging.INFO if enabled else logging.WARNING)
    if not log.handlers:
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(logging.Formatter("%(message)s"))
        log.addHandler(handler)
