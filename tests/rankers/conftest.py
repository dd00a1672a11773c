"""Fixtures the ranker tests share."""

from __future__ import annotations

import pytest


@pytest.fixture(scope="module")
def tiny(tmp_path_factory: pytest.TempPathFactory) -> str:
    """A tiny random-weight BERT folder (tests/tiny_models.py), built once per module; test
    modules with their own ``tiny`` override it."""
    from tests.tiny_models import tiny_bert_folder

    return str(tiny_bert_folder(tmp_path_factory.mktemp("tiny")))
