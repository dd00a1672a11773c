"""Each results test module names its benchmark (``BENCHMARK = "rl"``); these fixtures load the
script (``benchmarks/<name>.py``) and its results file (``benchmarks/results/<name>.json``)."""

from __future__ import annotations

import json

import pytest

from tests.benchmarks import ROOT, load_benchmark


@pytest.fixture(scope="module")
def script(request):
    return load_benchmark(request.module.BENCHMARK)


@pytest.fixture(scope="module")
def results(request) -> dict:
    path = ROOT / "benchmarks" / "results" / f"{request.module.BENCHMARK}.json"
    return json.loads(path.read_text())
