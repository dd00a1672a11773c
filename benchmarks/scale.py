"""The Ray engine against the local one on SciFact: same outputs, wall times, and a cost model.

    python benchmarks/scale.py [--quick] [--cluster | --cluster-from FILE] [--repeats 1]
        [--workers 1] [--worker-cpus 2] [--docs N] [--queries N] [--depth 30]
        [--chunk-size 1024] [--out DIR]

(a) Corpus encoding: all-MiniLM-L6-v2 over SciFact's corpus (title + text, the dense ranker's
    defaults: batch 64, chunks of 1024 documents = one Ray batch each).
(b) Labelling: the packaged cross-encoder (the MiniLM backbone with the seeded head the torch
    backend builds; max_length 256, batch 32 pairs = one Ray batch) as a teacher over BM25's
    top ``--depth`` for the test queries, into a label store.
Each job runs on the local engine, then on Ray (``--workers`` actors of ``--worker-cpus`` CPUs on
a Ray started here with this machine's CPUs), each from cold caches (a fresh APTRANK_CACHE).
Outputs are compared (embeddings to 1e-5, labels to 1e-6); Ray's overhead at one worker is its
wall time over the local one (start-up of Ray itself reported apart), and the cost model turns the
measured per-batch time and Ray's per-batch overhead into the throughput of N workers.

``--repeats N`` runs each job N times on each engine, alternating which goes first (local,
Ray; Ray, local; ...), each from a cold cache: on a shared 2-core machine two runs of the same
job differ by several per cent, so the overhead reported is the median of the N paired ratios
(every run kept in the file). The cost model uses the Ray run of the median pair.

``--cluster`` then starts a Ray head and a second node with ``ray start`` on loopback (one CPU
each), runs the labelling job on them through ``--ray-address`` with one actor per node, and runs
``aptrank evaluate --pipeline bm25 --pipeline dense`` as a command on the local engine and on the
cluster (``--engine ray --ray-address``), each from cold caches: same metrics.json, same cached
embeddings. ``--quick`` (a few hundred documents, ten queries) prints its report and writes
nothing under benchmarks/results/. ``--cluster-from FILE`` keeps the cluster block of an earlier
results file instead (it keeps its own date and command). Otherwise writes
benchmarks/results/scale.json and scale.md.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
from datetime import datetime, timezone
from importlib import metadata
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).parent))

from scale_jobs import (  # noqa: E402
    MODEL,
    TEACHER_BATCH,
    TEACHER_MAX_LENGTH,
    encode,
    inputs,
    label,
    log,
)
from scale_report import cost_model, max_label_diff, to_markdown  # noqa: E402

RESULTS = Path(__file__).parent / "results"


def compare(
    name: str, pairs: list[tuple[dict[str, Any], dict[str, Any]]], diff: float, tol: float
) -> dict[str, Any]:
    """The job's figures over its (local, Ray) runs: the median pair's, and every run."""
    ratios = [ray["wall_s"] / local["wall_s"] - 1 for local, ray in pairs]
    middle = sorted(range(len(ratios)), key=ratios.__getitem__)[(len(ratios) - 1) // 2]
    local, ray = pairs[middle]
    out = {
        "local": local,
        "ray": ray,
        "max_abs_diff": diff,
        "tolerance": tol,
        "same_outputs": diff <= tol,
        "ray_overhead": round(ratios[middle], 4),
        "repeats": [
            {
                "local_wall_s": round(a["wall_s"], 2),
                "ray_wall_s": round(b["wall_s"], 2),
                "ray_first": i % 2 == 1,
                "ray_overhead": round(r, 4),
            }
            for i, ((a, b), r) in enumerate(zip(pairs, ratios))
        ],
    }
    each = ", ".join(f"{r:+.1%}" for r in ratios)
    log(
        f"{name}: local {local['wall_s']:.1f} s, ray {ray['wall_s']:.1f} s "
        f"(median {out['ray_overhead']:+.1%} of {each}); max |diff| {diff:.2e} "
        f"(<= {tol:g}: {out['same_outputs']})"
    )
    return out


def machine_record(worker_cpus: float) -> dict[str, Any]:
    from inference import machine

    return {**machine(len(os.sched_getaffinity(0))), "gpu": None, "ray_worker_cpus": worker_cpus}


def versions_record() -> dict[str, str]:
    from inference import versions

    return {**versions(), **{name: metadata.version(name) for name in ("ray", "pyarrow")}}


def run_cluster(args: argparse.Namespace, labels_local: dict[str, Any]) -> dict[str, Any]:
    """benchmarks/scale_cluster.py in a fresh process, handed the local labels."""
    folder = Path(tempfile.mkdtemp(prefix="aptrank-scale-cluster-"))
    (folder / "labels.json").write_text(json.dumps(labels_local))
    cmd = [sys.executable, str(Path(__file__).parent / "scale_cluster.py")]
    cmd += ["--labels", str(folder / "labels.json"), "--out", str(folder / "cluster.json")]
    cmd += ["--depth", str(args.depth), "--chunk-size", str(args.chunk_size)]
    for flag, value in (("--docs", args.docs), ("--queries", args.queries)):
        cmd += [flag, str(value)] if value else []
    log("the cluster path, in a fresh process")
    from scale_cluster import ENV

    subprocess.run(cmd, check=True, env={**os.environ, **ENV})  # this process's Ray is gone
    result: dict[str, Any] = json.loads((folder / "cluster.json").read_text())
    shutil.rmtree(folder, ignore_errors=True)
    return result


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="300 documents, 10 queries; no file")
    parser.add_argument("--cluster", action="store_true", help="also a 2-node loopback cluster")
    parser.add_argument(
        "--cluster-from", type=Path, default=None, help="keep this results file's cluster block"
    )
    parser.add_argument("--repeats", type=int, default=1, help="runs per job and engine")
    parser.add_argument("--workers", type=int, default=1, help="Ray actors (one: the overhead)")
    parser.add_argument("--worker-cpus", type=float, default=None, help="CPUs per actor")
    parser.add_argument("--docs", type=int, default=None, help="corpus cut (quick: 300)")
    parser.add_argument("--queries", type=int, default=None, help="test queries (quick: 10)")
    parser.add_argument("--depth", type=int, default=30, help="BM25 documents per query")
    parser.add_argument("--chunk-size", type=int, default=None, help="docs per batch (quick: 64)")
    parser.add_argument("--out", default=None, help="results folder (default benchmarks/results)")
    args = parser.parse_args()
    if args.quick:
        args.docs = args.docs or 300
        args.queries = args.queries or 10
        args.chunk_size = args.chunk_size or 64
    args.chunk_size = args.chunk_size or 1024
    args.cores = len(os.sched_getaffinity(0))
    args.worker_cpus = args.worker_cpus or max(1.0, args.cores / max(1, args.workers))
    return args


def header(args: argparse.Namespace, ds: Any, qids: list[str], pairs: list[Any]) -> dict[str, Any]:
    """What the report says about its run: command, machine, versions, configuration."""
    import torch

    return {
        "benchmark": "scale",
        "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "command": ["python", "benchmarks/scale.py", *sys.argv[1:]],
        "machine": machine_record(args.worker_cpus),
        "versions": versions_record(),
        "config": {
            "dataset": ds.name,
            "docs": len(ds.corpus),
            "queries": len(qids),
            "pairs": len(pairs),
            "depth": args.depth,
            "model": MODEL,
            "encode_chunk_docs": args.chunk_size,
            "encode_batch": 64,
            "teacher": f"ce:{MODEL} (seeded head), max_length {TEACHER_MAX_LENGTH}",
            "label_batch_pairs": TEACHER_BATCH,
            "ray_workers": args.workers,
            "ray_worker_cpus": args.worker_cpus,
            "torch_threads_local": torch.get_num_threads(),
            "quick": args.quick,
        },
        "load_average_start": os.getloadavg(),
    }


def main() -> None:
    args = parse_args()
    for var, value in (("HF_HUB_OFFLINE", "1"), ("TRANSFORMERS_OFFLINE", "1")):
        os.environ.setdefault(var, value)
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    import ray
    import torch

    from aptrank.scale import current_engine, engine
    from aptrank.scale.ray_engine import connect

    torch.set_num_threads(max(1, int(args.worker_cpus)))  # the local engine = one such worker
    ds, qids, pairs = inputs(args)
    log(f"{ds!r}: {len(ds.corpus)} documents, {len(qids)} queries, {len(pairs)} pairs")
    report = header(args, ds, qids, pairs)
    on_ray = {"cpus": args.cores, "workers": args.workers, "worker_cpus": args.worker_cpus}
    report["config"]["repeats"] = args.repeats
    with engine("ray", **on_ray):
        log("starting Ray on this machine")
        report["ray_init_s"] = connect(current_engine())
        log(f"  {report['ray_init_s']:.1f} s")
    jobs = {
        "encoding": (lambda: encode(ds.corpus, args.chunk_size), 1e-5),
        "labelling": (lambda: label(pairs), 1e-6),
    }
    outputs: dict[str, Any] = {}
    for name, (job, tol) in jobs.items():
        runs: list[tuple[dict[str, Any], dict[str, Any]]] = []
        diff = 0.0
        for i in range(args.repeats):
            got: dict[str, Any] = {}
            for on in ("local", "ray") if i % 2 == 0 else ("ray", "local"):
                with engine(on, **(on_ray if on == "ray" else {})):
                    log(f"{name}, {on} engine (run {i + 1} of {args.repeats})")
                    got[on] = job()
            if name not in outputs:
                outputs[name] = got["local"][0]
            for on in ("local", "ray"):
                diff = max(diff, output_diff(outputs[name], got[on][0]))
            runs.append((got["local"][1], got["ray"][1]))
        report[name] = compare(name, runs, diff, tol)
    walls = [report[j][e]["wall_s"] for j in ("encoding", "labelling") for e in ("local", "ray")]
    ray_total = report["ray_init_s"] + walls[1] + walls[3]
    report["ray_overhead_total"] = round(ray_total / (walls[0] + walls[2]) - 1, 4)
    report["cost_model"] = cost_model(report, args.worker_cpus)
    ray.shutdown()
    if args.cluster:
        report["cluster"] = run_cluster(args, outputs["labelling"])
    elif args.cluster_from:
        kept = json.loads(args.cluster_from.read_text())
        report["cluster"] = {
            **kept["cluster"],
            "kept_from": {k: kept[k] for k in ("created", "command", "machine")},
        }
    report["load_average_end"] = os.getloadavg()
    write(report, args)


def output_diff(a: Any, b: Any) -> float:
    """Max abs difference of two encodings (arrays) or two label sets."""
    if isinstance(a, np.ndarray):
        return float(np.max(np.abs(a - b))) if a.size else 0.0
    return max_label_diff(a, b)


def write(report: dict[str, Any], args: argparse.Namespace) -> None:
    """Print the report; write it under --out (default benchmarks/results) unless --quick."""
    text = to_markdown(report)
    print(text)
    if args.quick and not args.out:
        print(json.dumps(report, indent=2, default=str))
        return
    out = Path(args.out or RESULTS)
    out.mkdir(parents=True, exist_ok=True)
    (out / "scale.json").write_text(json.dumps(report, indent=2, default=str) + "\n")
    (out / "scale.md").write_text(text)


if __name__ == "__main__":
    main()
