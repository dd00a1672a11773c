"""A server with a slow fake cross-encoder (0.3 s per model call, no batching), run as a separate
process by the graceful-shutdown test: ``python -m tests.serve.slow_server``. Prints
``URL <base url>`` once it listens."""

from __future__ import annotations

import sys


def main() -> None:
    from aptrank.serve.app import create_app
    from aptrank.serve.server import serve
    from tests.serve.fakes import OverlapScorer, fake_models, quick_config

    config = quick_config(batching=False, drain_s=0.5, port=0)
    app = create_app(fake_models(OverlapScorer(delay=0.3), corpus=False), config)
    serve(app, config, on_started=lambda url: print(f"URL {url}", flush=True))
    print("STOPPED", flush=True)
    sys.exit(0)


if __name__ == "__main__":
    main()
