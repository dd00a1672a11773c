"""The cluster path of benchmarks/scale.py, in a process of its own (run scale.py --cluster).

    python benchmarks/scale_cluster.py --labels LOCAL.json --out RESULT.json
        [--docs N] [--queries N] [--depth 30] [--chunk-size 1024]

A Ray head and a second node are started with ``ray start --block`` on loopback, one CPU each,
in process groups of their own (stopped by those groups' ids, nothing else). The labelling job
runs on them through the Ray address, and ``aptrank evaluate`` runs as a command twice from cold
caches: on the local engine and with ``--engine ray --ray-address``.

This runs in a process of its own so that Ray reads the cluster's RAY_AUTH_MODE when it is
imported: ``ray.init`` of a local Ray sets ``token`` in its process, and a driver whose auth mode
differs from the cluster's sees every actor cancelled before it starts (Ray 2.60).
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np

RAY = str(Path(sys.executable).parent / "ray")
#: a loopback test cluster needs no tokens; the driver (this process, set before Ray is
#: imported) and both nodes must agree on it
ENV = {"RAY_AUTH_MODE": "disabled", "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1"}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _start(args: list[str], env: dict[str, str]) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [RAY, "start", "--block", "--node-ip-address=127.0.0.1", "--num-cpus=1", *args],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,  # its own process group: stopped by that id alone
    )


def _stop(procs: list[subprocess.Popen[bytes]], port: str) -> None:
    for proc in procs:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGTERM)
    for proc in procs:
        try:
            proc.wait(120)  # a head takes tens of seconds to stop its services
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(30)
    # `ray stop` would also forget the head in ray_current_cluster (or a later ray.init() joins
    # a dead cluster); `ray stop` stops every Ray on the machine, so only our entry goes
    current = Path(tempfile.gettempdir(), "ray", "ray_current_cluster")
    if current.exists() and current.read_text().strip().endswith(f":{port}"):
        current.unlink()


@contextmanager
def loopback_cluster(log: Callable[[str], None]) -> Iterator[str]:
    """A head and a worker node on 127.0.0.1 (one CPU each); yields the address."""
    import ray

    env = {**os.environ, **ENV}
    address = f"127.0.0.1:{free_port()}"
    port = address.split(":")[1]
    procs = [_start(["--head", f"--port={port}", "--include-dashboard=false"], env)]
    try:
        _wait(
            lambda: (
                subprocess.run(
                    [RAY, "status", f"--address={address}"], env=env, capture_output=True
                ).returncode
                == 0
            ),
            "the head",
        )
        procs.append(_start([f"--address={address}"], env))
        ray.init(address=address, log_to_driver=False, logging_level="WARNING")
        _wait(lambda: sum(n["Alive"] for n in ray.nodes()) == 2, "the second node")
        log(f"cluster at {address}: {ray.cluster_resources().get('CPU')} CPUs on 2 nodes")
        yield address
    finally:
        ray.shutdown()
        _stop(procs, port)


def _wait(ready: Callable[[], bool], what: str, seconds: float = 120) -> None:
    end = time.monotonic() + seconds
    while not ready():
        if time.monotonic() > end:
            raise RuntimeError(f"{what} did not come up in {seconds:.0f} s")
        time.sleep(1)


def write_beir(folder: Path, ds: Any, qids: list[str]) -> Path:
    """``ds`` as a BEIR folder (its corpus, the queries ``qids`` and their test qrels)."""
    (folder / "qrels").mkdir(parents=True, exist_ok=True)
    with open(folder / "corpus.jsonl", "w", encoding="utf-8") as f:
        for d, doc in ds.corpus.items():
            f.write(json.dumps({"_id": d, "title": doc.title, "text": doc.text}) + "\n")
    with open(folder / "queries.jsonl", "w", encoding="utf-8") as f:
        for q in qids:
            f.write(json.dumps({"_id": q, "text": ds.queries[q].text}) + "\n")
    with open(folder / "qrels" / "test.tsv", "w", encoding="utf-8") as f:
        f.write("query-id\tcorpus-id\tscore\n")
        f.writelines(f"{q}\t{d}\t{g}\n" for q in qids for d, g in ds.qrels[q].items())
    return folder


def evaluate_twice(folder: Path, address: str, dense: str, log: Callable[[str], None]):
    """``aptrank evaluate`` on the local engine and on the cluster, each from a cold cache."""
    root = Path(tempfile.mkdtemp(prefix="aptrank-scale-cli-"))
    base = [sys.executable, "-m", "aptrank.cli.main", "evaluate", str(folder), "-p", "bm25"]
    base += ["-p", dense, "--no-progress"]
    runs = {}
    for name, extra in (("local", []), ("ray", ["--engine", "ray", "--ray-address", address])):
        env = {**os.environ, "APTRANK_CACHE": str(root / f"cache-{name}")}
        env.update(APTRANK_RAY_WORKERS="2", APTRANK_RAY_WORKER_CPUS="1")
        cmd = [*base, "-o", str(root / name), *extra]
        start = time.perf_counter()
        subprocess.run(cmd, env=env, check=True, stdout=subprocess.DEVNULL)
        seconds = time.perf_counter() - start
        metrics = json.loads((root / name / "metrics.json").read_text())
        emb = np.load(next((root / f"cache-{name}" / "embeddings").glob("*/embeddings.npy")))
        runs[name] = (seconds, metrics, emb)
        log(f"  aptrank evaluate, {name} engine: {seconds:.1f} s")
    shutil.rmtree(root, ignore_errors=True)
    (ls, lm, le), (rs, rm, re) = runs["local"], runs["ray"]
    metric_diff = max(abs(lm[p][k] - rm[p][k]) for p in lm for k in lm[p])
    emb_diff = float(np.max(np.abs(le - re)))
    return {
        "command": [
            "aptrank",
            "evaluate",
            "DATASET",
            "-p",
            "bm25",
            "-p",
            dense,
            "--engine",
            "ray",
            "--ray-address",
            address,
        ],
        "local_s": round(ls, 1),
        "ray_s": round(rs, 1),
        "metrics": rm,
        "metrics_max_abs_diff": metric_diff,
        "embeddings_max_abs_diff": emb_diff,
        "same_outputs": metric_diff <= 1e-6 and emb_diff <= 1e-5 and lm.keys() == rm.keys(),
    }


def cluster_checks(
    ds: Any, qids: list[str], pairs: list[Any], labels_local: dict[str, Any], chunk_size: int
) -> dict[str, Any]:
    """Labelling on the loopback cluster and ``aptrank evaluate`` through it (see the doc)."""
    import ray
    from scale_jobs import label, log
    from scale_report import max_label_diff

    from aptrank.scale import engine

    with loopback_cluster(log) as address:
        cpus = ray.cluster_resources().get("CPU", 0)
        nodes = sum(n["Alive"] for n in ray.nodes())
        with engine("ray", address, workers=2, worker_cpus=1):
            log("labelling on the cluster")
            labels, figures = label(pairs)
        diff = max_label_diff(labels_local, labels)
        log(f"  {figures['wall_s']:.1f} s; max |diff| to the local labels {diff:.2e}")
        ray.shutdown()
        folder = write_beir(Path(tempfile.mkdtemp(prefix="aptrank-scale-data-")), ds, qids)
        dense = "dense" if chunk_size == 1024 else f"dense[chunk_size={chunk_size}]"
        log("aptrank evaluate from cold caches, local engine then the cluster")
        checked = evaluate_twice(folder, address, dense, log)
        shutil.rmtree(folder, ignore_errors=True)
    return {
        "address": address,
        "nodes": nodes,
        "cpus": cpus,
        "labelling": {
            "wall_s": round(figures["wall_s"], 1),
            "job": figures["job"],
            "max_abs_diff": diff,
            "same_outputs": diff <= 1e-6,
        },
        "evaluate": checked,
    }


def main() -> None:
    import argparse

    from scale_jobs import inputs

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--labels", required=True, help="the local engine's labels (JSON)")
    parser.add_argument("--out", required=True, help="where the result goes (JSON)")
    parser.add_argument("--docs", type=int, default=None)
    parser.add_argument("--queries", type=int, default=None)
    parser.add_argument("--depth", type=int, default=30)
    parser.add_argument("--chunk-size", type=int, default=1024)
    args = parser.parse_args()
    ds, qids, pairs = inputs(args)
    labels = json.loads(Path(args.labels).read_text())
    result = cluster_checks(ds, qids, pairs, labels, args.chunk_size)
    Path(args.out).write_text(json.dumps(result, indent=2, default=str))


if __name__ == "__main__":
    os.environ.update(ENV)  # before anything imports Ray
    sys.path.insert(0, str(Path(__file__).parent))
    main()
