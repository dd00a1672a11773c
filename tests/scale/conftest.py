"""A local Ray for the scale tests (2 CPUs, started once), and no engine setting leaking in."""

from __future__ import annotations

import logging
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from aptrank.scale import engine
from aptrank.scale.engine import _ENV

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(autouse=True)
def _no_engine_setting(monkeypatch: pytest.MonkeyPatch) -> None:
    for var in _ENV.values():
        monkeypatch.delenv(var, raising=False)


@pytest.fixture(scope="session")
def ray_session() -> Iterator[Any]:
    """Ray on this machine with 2 CPUs; its workers import ``tests.*`` (the repository root is
    on their PYTHONPATH) and stay offline."""
    ray = pytest.importorskip("ray")
    pytest.importorskip("ray.data")
    paths = [str(ROOT), *filter(None, [os.environ.get("PYTHONPATH")])]
    env = {
        "PYTHONPATH": os.pathsep.join(paths),
        "HF_HUB_OFFLINE": "1",
        "TRANSFORMERS_OFFLINE": "1",
        "TOKENIZERS_PARALLELISM": "false",
    }
    ray.init(
        address="local",  # a new instance, whatever else runs on this machine
        num_cpus=2,
        include_dashboard=False,
        log_to_driver=False,
        logging_level=logging.WARNING,
        runtime_env={"env_vars": env},
    )
    yield ray
    ray.shutdown()


@pytest.fixture
def on_ray(ray_session: Any) -> Iterator[None]:
    """The block's jobs run on two 1-CPU actors (so results may come back out of order)."""
    with engine("ray", workers=2, worker_cpus=1):
        yield
