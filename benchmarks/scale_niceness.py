"""Ray's worker niceness on a Ray started here: the labelling job of benchmarks/scale.py, local
engine against Ray with its workers at niceness 15 (Ray's default, kept by aptrank) and at 0
(``APTRANK_RAY_WORKER_NICENESS=0``), each from a cold cache.

    python benchmarks/scale_niceness.py [--queries 60] [--repeats 3] [--levels 15,0]

For each niceness, a fresh local Ray; then ``--repeats`` pairs of runs (local and Ray, alternating
which goes first). Reports each run's wall time and the median Ray overhead per niceness, and
writes benchmarks/results/scale-niceness.json and .md.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).parent))

from scale_jobs import inputs, label, log  # noqa: E402

RESULTS = Path(__file__).parent / "results"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--queries", type=int, default=60, help="SciFact test queries")
    parser.add_argument("--depth", type=int, default=30)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--levels", default="15,0", help="niceness values, in order")
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args()
    args.docs = None
    for var, value in (("HF_HUB_OFFLINE", "1"), ("TRANSFORMERS_OFFLINE", "1")):
        os.environ.setdefault(var, value)
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    import ray
    import torch
    from inference import stamp

    from aptrank.scale import current_engine, engine
    from aptrank.scale.ray_engine import connect

    cores = len(os.sched_getaffinity(0))
    torch.set_num_threads(cores)
    _, qids, pairs = inputs(args)
    log(f"{len(qids)} queries, {len(pairs)} pairs")
    report: dict[str, Any] = {
        **stamp(threads=cores),
        "config": {"queries": len(qids), "pairs": len(pairs), "repeats": args.repeats,
                   "ray_workers": 1, "ray_worker_cpus": cores},
        "levels": {},
    }  # fmt: skip
    for level in (int(x) for x in args.levels.split(",")):
        os.environ["APTRANK_RAY_WORKER_NICENESS"] = str(level)
        on_ray = {"cpus": cores, "workers": 1, "worker_cpus": cores}
        with engine("ray", **on_ray):
            connect(current_engine())
        runs = []
        for i in range(args.repeats):
            walls: dict[str, float] = {}
            for on in ("local", "ray") if i % 2 == 0 else ("ray", "local"):
                with engine(on, **(on_ray if on == "ray" else {})):
                    walls[on] = label(pairs)[1]["wall_s"]
            runs.append({**walls, "ray_overhead": walls["ray"] / walls["local"] - 1})
            log(f"niceness {level}, run {i + 1}: {runs[-1]}")
        ray.shutdown()
        report["levels"][str(level)] = {
            "runs": runs,
            "median_ray_overhead": round(statistics.median(r["ray_overhead"] for r in runs), 4),
        }
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "scale-niceness.json").write_text(json.dumps(report, indent=2) + "\n")
    lines = [
        "# Ray worker niceness: labelling, local engine against Ray at one worker",
        "",
        f"`{' '.join(report['command'])}` ({report['created']}; {report['machine']['cpu']}, "
        f"{cores} CPUs, GPU none). {len(pairs)} pairs (BM25 top {args.depth} of {len(qids)} "
        f"SciFact test queries), cold caches, runs alternating which engine goes first.",
        "",
        "| worker niceness | local s | Ray s | Ray overhead | median overhead |",
        "|---:|:---|:---|:---|---:|",
    ]
    for level, x in report["levels"].items():
        local = ", ".join(f"{r['local']:.1f}" for r in x["runs"])
        on_ray = ", ".join(f"{r['ray']:.1f}" for r in x["runs"])
        each = ", ".join(f"{r['ray_overhead']:+.1%}" for r in x["runs"])
        lines.append(f"| {level} | {local} | {on_ray} | {each} | {x['median_ray_overhead']:+.1%} |")
    (args.out / "scale-niceness.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
