"""Fixtures of the data tests: an isolated search path and cache, and a valid BEIR folder."""

from __future__ import annotations

from pathlib import Path

import pytest

from .beir_fixtures import write_beir


@pytest.fixture(autouse=True)
def isolated_paths(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """No dataset search path and a cache under ``tmp_path``: the user's folders are never read."""
    monkeypatch.delenv("APTRANK_DATA", raising=False)
    monkeypatch.delenv("APTRANK_BEIR_URL", raising=False)
    cache = tmp_path / "cache"
    monkeypatch.setenv("APTRANK_CACHE", str(cache))
    return cache


@pytest.fixture
def beir_dir(tmp_path: Path) -> Path:
    """A valid BEIR folder (``beir_fixtures.CORPUS``, ``QUERIES``, ``QRELS`` as split test)."""
    return write_beir(tmp_path / "tiny")
