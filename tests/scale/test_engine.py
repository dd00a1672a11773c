"""The engine setting and the local engine, without Ray."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from aptrank.errors import AptrankError, MissingDependencyError
from aptrank.scale import (
    EngineConfig,
    Remote,
    constant,
    current_engine,
    engine,
    job_history,
    map_batches,
    use_engine,
)
from tests.cli.test_cli import run_cli
from tests.helpers import write_beir


def test_local_is_the_default_and_reads_the_environment(monkeypatch: pytest.MonkeyPatch):
    assert current_engine() == EngineConfig()
    monkeypatch.setenv("APTRANK_ENGINE", "RAY")
    monkeypatch.setenv("APTRANK_RAY_WORKERS", "8")
    monkeypatch.setenv("APTRANK_RAY_WORKER_CPUS", "0.5")
    config = current_engine()
    assert (config.engine, config.workers, config.worker_cpus, config.address) == (
        "ray",
        8,
        0.5,
        None,
    )
    monkeypatch.setenv("APTRANK_RAY_WORKERS", "many")
    with pytest.raises(AptrankError, match="APTRANK_RAY_WORKERS='many' is not a number"):
        current_engine()


def test_bad_settings_are_refused():
    with pytest.raises(AptrankError, match="unknown engine 'spark'"):
        use_engine("spark")
    with pytest.raises(AptrankError, match="--ray-address needs --engine ray"):
        use_engine("local", "auto")
    with pytest.raises(AptrankError, match="worker_cpus > 0"):
        EngineConfig(engine="ray", worker_cpus=0)
    assert current_engine().engine == "local"  # nothing was set by the failed calls


def test_a_with_block_scopes_the_setting(monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setitem(sys.modules, "ray", sys.modules.get("ray") or _FakeRay)
    monkeypatch.setitem(sys.modules, "ray.data", sys.modules.get("ray.data") or _FakeRay)
    monkeypatch.setenv("APTRANK_RAY_WORKER_GPUS", "1")
    with engine("ray", "10.0.0.1:6379", workers=3):
        config = current_engine()
        assert (config.engine, config.address, config.workers, config.worker_gpus) == (
            "ray",
            "10.0.0.1:6379",
            3,
            1.0,
        )
    assert current_engine() == EngineConfig(worker_gpus=1.0)
    assert "APTRANK_RAY_ADDRESS" not in os.environ


class _FakeRay:
    """Stands in for an installed Ray where only the import is checked."""


def test_the_local_engine_runs_lazily_in_order_and_records_the_job():
    pulled: list[int] = []

    def tasks():
        for i in range(4):
            pulled.append(i)
            yield i

    jobs = map_batches(
        tasks(), local=lambda t: t * 10, remote=Remote(constant(0), _times), name="x"
    )
    assert pulled == []  # nothing runs before the caller asks
    first = next(jobs)
    assert first == (0, 0) and pulled == [0]
    assert list(jobs) == [(1, 10), (2, 20), (3, 30)]
    stats = job_history()[-1]
    assert (stats.name, stats.engine, stats.batches, stats.workers) == ("x", "local", 4, 1)
    assert len(stats.batch_s) == 4 and stats.wall_s >= stats.compute_s >= 0
    assert len(stats.arrival_s) == 4 and list(stats.arrival_s) == sorted(stats.arrival_s)


def _times(state: int, task: int) -> int:
    return task * 10 + state


def test_engine_ray_without_the_extra_fails_in_one_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
):
    monkeypatch.setitem(sys.modules, "ray", None)  # `import ray` raises ImportError
    with pytest.raises(MissingDependencyError, match=r'pip install "aptrank\[scale\]"'):
        use_engine("ray")
    data = write_beir(tmp_path / "toy")
    args = ["evaluate", str(data), "-p", "bm25", "-o", str(tmp_path / "o"), "--engine", "ray"]
    assert run_cli(args, monkeypatch) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0, err
    assert (
        err == 'error: --engine ray needs ray[data]: install it with `pip install "aptrank[scale]"`'
    )
    assert not (tmp_path / "o").exists()  # refused before any work


def test_the_local_engine_never_imports_ray(tmp_path: Path):
    code = (
        "import sys\n"
        "from aptrank.rankers.dense import DenseConfig, DenseRanker\n"
        "from aptrank.teach import LabelStore, label_pairs\n"
        "from tests.helpers import CORPUS, KeywordEncoder\n"
        "from tests.teach.fakes import FakeTeacher, make_pairs\n"
        "DenseRanker(DenseConfig(model='keyword', chunk_size=2), encoder=KeywordEncoder())"
        ".index(CORPUS)\n"
        f"with LabelStore({str(tmp_path / 'l.db')!r}) as store:\n"
        "    assert label_pairs(FakeTeacher(), store, list(make_pairs(30))).labeled == 30\n"
        "print(sorted(m for m in sys.modules if m == 'ray' or m.startswith('ray.')))\n"
    )
    env = {**os.environ, "APTRANK_CACHE": str(tmp_path / "cache"), "APTRANK_ENGINE": "local"}
    root = Path(__file__).resolve().parents[2]
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=env, cwd=root, check=True
    )
    assert out.stdout.strip() == "[]"


def test_worker_niceness_defaults_to_rays_and_checks_its_variable(
    monkeypatch: pytest.MonkeyPatch,
):
    from aptrank.scale.ray_engine import worker_niceness  # imports no Ray

    monkeypatch.delenv("APTRANK_RAY_WORKER_NICENESS", raising=False)
    assert worker_niceness() is None
    monkeypatch.setenv("APTRANK_RAY_WORKER_NICENESS", "0")
    assert worker_niceness() == 0
    monkeypatch.setenv("APTRANK_RAY_WORKER_NICENESS", "15")
    assert worker_niceness() == 15
    for bad in ("high", "20", "-1"):
        monkeypatch.setenv("APTRANK_RAY_WORKER_NICENESS", bad)
        with pytest.raises(AptrankError, match="APTRANK_RAY_WORKER_NICENESS"):
            worker_niceness()
