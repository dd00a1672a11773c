"""``aptrank serve`` from the command line: a real process, and its one-line errors."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from tests.cli.test_cli import run_cli
from tests.helpers import modules_loaded_by, write_beir


def test_importing_the_cli_and_the_remote_stage_loads_no_server_library():
    code = (
        "import aptrank.cli.main, aptrank.rankers.remote, aptrank.serve\n"
        "from aptrank.rankers import build_ranker\n"
        "build_ranker('bm25>>remote:http://h:1#m@10')\n"
    )
    heavy = ("fastapi", "uvicorn", "httpx", "prometheus_client", "torch")
    assert modules_loaded_by(code, heavy) == []


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--pipeline", "bm25"], "offers no endpoint: bm25 needs the corpus"),
        (["--pipeline", "nope"], "unknown ranker 'nope'"),
        (["--pipeline", "bm25", "--api-key-env", "APTRANK_TEST_EMPTY"], "is empty"),
    ],
)
def test_bad_input_is_one_line_and_exit_code_2(args, message, monkeypatch, capsys):
    monkeypatch.setenv("APTRANK_TEST_EMPTY", "")
    assert run_cli(["serve", *args], monkeypatch) == 2
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err


def test_the_command_serves_search_with_a_key_until_sigterm(tmp_path: Path):
    data = write_beir(tmp_path / "toy")
    env = {**os.environ, "MY_KEY": "k-1", "PYTHONPATH": str(Path(__file__).parents[2])}
    proc = subprocess.Popen(
        [sys.executable, "-m", "aptrank", "serve", "--pipeline", "bm25", "--corpus", str(data),
         "--port", "0", "--api-key-env", "MY_KEY"],
        stderr=subprocess.PIPE, stdout=subprocess.PIPE, text=True, env=env,
    )  # fmt: skip
    try:
        assert proc.stderr is not None
        url = None
        for _ in range(50):
            line = proc.stderr.readline()
            found = re.search(r"serving on (http://\S+)", line)
            if found:
                url = found.group(1)
                break
        assert url, "no 'serving on' line"
        headers = {"Authorization": "Bearer k-1"}
        for _ in range(200):
            if httpx.get(f"{url}/health/ready").status_code == 200:
                break
            time.sleep(0.05)
        body = {"query": "stock market", "top_n": 1}
        hit = httpx.post(f"{url}/v1/search", json=body, headers=headers).json()["results"]
        assert hit[0]["doc_id"] == "d4"
        assert httpx.post(f"{url}/v1/search", json=body).status_code == 401
        proc.send_signal(signal.SIGTERM)
        _, stderr = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 0, stderr
    assert '"path": "/v1/search", "status": 200' in stderr  # the JSON access log
    assert "stopped" in stderr
