"""Trained rankers as artifacts, with a real model: a student distilled by ``aptrank distill
--out``, moved to another folder, re-evaluated by its folder as the pipeline in a new process
from another directory, against the NDCG@10 its ``aptrank.json`` records.

    python benchmarks/artifacts.py [--dataset scifact] [--work DIR] [--teacher SPEC]
        [--synthetic-docs 0 --sizes 0]

The default is the CPU-sized student (human judgments only, one epoch: ~10 minutes of training
and ~20 minutes of scoring on 2 cores); a teacher and synthetic queries make it the full recipe
(hours). The model files stay in ``--work`` (never in the repository); the figures go to
``benchmarks/results/artifacts.json`` and ``artifacts.md``.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

RESULTS = Path(__file__).parent / "results"
sys.path.insert(0, str(Path(__file__).parent))


def log(message: str) -> None:
    print(f"[{datetime.now():%H:%M:%S}] {message}", flush=True)


def aptrank(args: list[str], cwd: Path) -> tuple[float, str]:
    """Run ``python -m aptrank <args>`` in ``cwd`` (a new process); returns (seconds, stderr)."""
    start = time.perf_counter()
    proc = subprocess.run(
        [sys.executable, "-m", "aptrank", *args, "--no-progress"],
        cwd=cwd,
        capture_output=True,
        text=True,
    )
    if proc.returncode != 0:
        raise SystemExit(f"aptrank {' '.join(args)} failed:\n{proc.stderr[-3000:]}")
    return time.perf_counter() - start, proc.stderr


def main() -> None:
    from inference import machine, versions  # the benchmarks' shared machine/versions record

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dataset", default="scifact")
    parser.add_argument("--teacher", default="ranker:bm25")
    parser.add_argument("--synthetic-docs", default="0")
    parser.add_argument("--sizes", default="0")
    parser.add_argument("--work", type=Path, default=None, help="where models go (default: tmp)")
    args = parser.parse_args()
    work = args.work or Path(tempfile.mkdtemp(prefix="aptrank-artifacts-"))
    work.mkdir(parents=True, exist_ok=True)
    distill_args = [
        *("distill", args.dataset, "--teacher", args.teacher),
        *("--synthetic-docs", args.synthetic_docs, "--sizes", args.sizes),
        *("--out", str(work / "distill")),
    ]
    log(f"aptrank {' '.join(distill_args)}")
    distill_s, _ = aptrank(distill_args, work)
    result = json.loads((work / "distill" / "distill.json").read_text())
    name = f"student-{result['selected']['size']}"
    folder = Path(result["models"][name])
    record = json.loads((folder / "aptrank.json").read_text())
    moved = work / "moved" / "my-student"
    if moved.exists():
        shutil.rmtree(moved)
    moved.parent.mkdir(parents=True, exist_ok=True)
    shutil.copytree(folder, moved)
    shutil.rmtree(folder)  # moved: the original location is gone
    elsewhere = work / "another-directory"
    elsewhere.mkdir(exist_ok=True)
    eval_args = ["evaluate", args.dataset, "--pipeline", str(moved), "--out", "eval"]
    log(f"aptrank {' '.join(eval_args)}  (cwd {elsewhere})")
    eval_s, _ = aptrank(eval_args, elsewhere)
    metrics = json.loads((elsewhere / "eval" / "metrics.json").read_text())[str(moved)]
    recorded = record["figures"]["test"]["ndcg@10"]
    report: dict[str, Any] = {
        "student_roundtrip": {
            "command": [sys.executable, *sys.argv],
            "distill_command": "aptrank " + " ".join(distill_args),
            "evaluate_command": "aptrank " + " ".join(eval_args),
            "dataset": args.dataset,
            "student": name,
            "pipeline": record["pipeline"],
            "recorded_test_ndcg@10": recorded,
            "reevaluated": metrics,
            "abs_difference": abs(metrics["ndcg@10"] - recorded),
            "within_1e-4": abs(metrics["ndcg@10"] - recorded) <= 1e-4,
            "record_figures": record["figures"],
            "trained_on": {
                "split": record["trained_on"]["split"],
                "queries": len(record["trained_on"]["queries"]),
                "dev_queries": len(record["trained_on"]["dev_queries"]),
                "synthetic_queries": record["trained_on"].get("synthetic_queries"),
            },
            "distill_s": round(distill_s, 1),
            "evaluate_s": round(eval_s, 1),
            "machine": {**machine(len(os.sched_getaffinity(0))), "gpu": None},
            "versions": versions(),
            "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        }
    }
    RESULTS.mkdir(exist_ok=True)
    path = RESULTS / "artifacts.json"
    old = json.loads(path.read_text()) if path.exists() else {}
    path.write_text(json.dumps({**old, **report}, indent=2) + "\n")
    r = report["student_roundtrip"]
    (RESULTS / "artifacts.md").write_text(
        "# Trained rankers as artifacts (benchmarks/artifacts.py)\n\n"
        f"{r['dataset']} test, {r['student']} (`{r['pipeline']}`), "
        f"{r['machine']['cpus_available']} CPUs, no GPU, {r['created']}\n\n"
        "| what | NDCG@10 | recall@100 | MAP |\n|:---|---:|---:|---:|\n"
        f"| recorded in aptrank.json (teacher-label store, at training) | {recorded:.6f} | | |\n"
        f"| re-evaluated: folder moved, new process, another directory | "
        f"{metrics['ndcg@10']:.6f} | {metrics['recall@100']:.4f} | {metrics['map']:.4f} |\n\n"
        f"Difference {r['abs_difference']:.2e} (goal ≤ 1e-4: "
        f"{'met' if r['within_1e-4'] else 'missed'}). Distill {r['distill_s']:.0f} s, "
        f"re-evaluation {r['evaluate_s']:.0f} s.\n"
    )
    log(f"recorded {recorded:.6f}, re-evaluated {metrics['ndcg@10']:.6f} -> {path}")


if __name__ == "__main__":
    main()
