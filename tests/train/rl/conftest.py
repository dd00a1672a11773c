"""The RL tests' shared tiny policy: one random-weight chat Llama (2 layers, width 32) per
session (its GRPO configuration is :func:`tests.train.rl.tiny.tiny_grpo`)."""

from __future__ import annotations

from pathlib import Path

import pytest


@pytest.fixture(scope="session")
def policy(tmp_path_factory: pytest.TempPathFactory) -> Path:
    pytest.importorskip("transformers")
    from tests.teach.tiny_llm import tiny_llama_folder

    return tiny_llama_folder(tmp_path_factory.mktemp("tiny") / "llama")
