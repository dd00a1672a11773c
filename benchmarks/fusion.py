"""Fusion benchmark: ``fuse(bm25,dense)`` with weights fitted by ``aptrank fit-fusion`` on the
training judgments, against equal weights, RRF and its members, as pipeline strings.

    python benchmarks/fusion.py [--dataset scifact]

Two placements, both fitted on the training split (dev slice: 100 seeded training queries) and
scored once on the test split:

* ``rerank``: ``bm25>>fuse(bm25,dense)[weights=...]@100`` (fitted over BM25's top 100);
* ``retrieve``: ``fuse(bm25,dense)[weights=...]`` (fitted over the union of both top-1000s).

The weights files go to ``benchmarks/results/fusion-weights/`` (two numbers and their fit record,
no model weights); the figures to ``benchmarks/results/fusion.json`` and ``fusion.md``. About two
minutes on 2 cores once MiniLM's SciFact embeddings are cached (a cold cache adds the corpus
encoding, minutes).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

RESULTS = Path(__file__).parent / "results"
WEIGHTS = RESULTS / "fusion-weights"
sys.path.insert(0, str(Path(__file__).parent))

#: why the four-member teacher ensemble of `aptrank teach` is not measured here
TEACHER_NOTE = (
    "not re-measured: its trained member (trained:all-mpnet-base-v2) was trained on a lent GPU "
    "and exists only in that session's cache; the 0.7571 test figure in distill.json was made by "
    "the pre-fuse ensemble code (before f448f0e), whose combination (member / fitted std scale, "
    "weighted sum) and pairwise-logistic fit are what fuse(...)[norm=global] and "
    "train.fusion.fit_pairwise now compute (bit-identical weights on a random check)"
)


def log(message: str) -> None:
    print(f"[{datetime.now():%H:%M:%S}] {message}", flush=True)


def rel(path: Path) -> str:
    return str(path.relative_to(Path(__file__).parent.parent))


def main() -> None:
    from inference import machine, versions

    from aptrank.data import load_dataset
    from aptrank.experiment import EvaluateConfig, evaluate_pipelines
    from aptrank.train.fusion import FitFusionConfig, fit_fusion, write_fusion

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dataset", default="scifact")
    args = parser.parse_args()
    placements = {
        "rerank": FitFusionConfig(args.dataset, ("bm25", "dense"), first_stage="bm25", depth=100),
        "retrieve": FitFusionConfig(args.dataset, ("bm25", "dense")),
    }
    report: dict[str, Any] = {"dataset": args.dataset}
    # bm25>>dense@30 shows the full-depth rerank: its recall@100 is BM25's (A's tail is kept)
    pipelines = ["bm25", "dense", "bm25>>dense@30", "rrf(bm25,dense)"]
    fits: dict[str, Any] = {}
    for name, config in placements.items():
        start = time.perf_counter()
        weights = fit_fusion(config)
        path, pipeline = write_fusion(weights, WEIGHTS / f"{args.dataset}-bm25-dense-{name}.json")
        pipeline = pipeline.replace(str(path), rel(path))
        equal = "bm25>>fuse(bm25,dense)@100" if config.first_stage else "fuse(bm25,dense)"
        pipelines += [equal, pipeline]
        fits[name] = {
            "weights_file": rel(path),
            "pipeline": pipeline,
            "equal_weights_pipeline": equal,
            "weights": list(weights.weights),
            "method": weights.fit["method"],
            "dev_ndcg@10": weights.fit["dev_ndcg@10"],
            "beats_equal_on_dev": weights.fit["beats_equal_on_dev"],
            "fit_queries": weights.fit["fit_queries"],
            "dev_queries": len(weights.fit["dev_queries"]),
            "seconds": round(time.perf_counter() - start, 1),
        }
        log(f"{name}: {fits[name]['method']} {fits[name]['weights']} {fits[name]['dev_ndcg@10']}")
    report["fit"] = {
        "command": f"aptrank fit-fusion {args.dataset} --member bm25 --member dense "
        "[--first-stage bm25 --depth 100] --out <file>",
        "split": "train",
        "placements": fits,
    }
    start = time.perf_counter()
    ds = load_dataset(args.dataset, "test")
    experiment = evaluate_pipelines(ds, EvaluateConfig(args.dataset, pipelines=tuple(pipelines)))
    means = experiment.comparison.means_dict()
    tests = experiment.comparison.to_dict().get("significance", {})
    report["test"] = {
        "command": f"aptrank evaluate {args.dataset} " + " ".join(f"-p '{p}'" for p in pipelines),
        "split": "test",
        "queries": experiment.comparison.n_queries,
        "baseline": "bm25",
        "metrics": means,
        "p_values_vs_bm25": {
            p: {m: t.get("p_value") for m, t in tests.get(p, {}).items()} for p in pipelines[1:]
        },
        "seconds": round(time.perf_counter() - start, 1),
    }
    report["teacher_ensemble"] = {"available": False, "why": TEACHER_NOTE}
    report["teacher_bm25_dense"] = remeasure_teacher(args.dataset)
    report["machine"] = {**machine(len(os.sched_getaffinity(0))), "gpu": None}
    report["versions"] = versions()
    report["created"] = datetime.now(timezone.utc).isoformat(timespec="seconds")
    report["command"] = [sys.executable, *sys.argv]
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "fusion.json").write_text(json.dumps(report, indent=2) + "\n")
    (RESULTS / "fusion.md").write_text(to_markdown(report))
    log(f"written {RESULTS / 'fusion.json'}")


def remeasure_teacher(dataset: str) -> dict[str, Any]:
    """The two-member ensemble teacher of distill.json, re-made by the fuse code: its labels
    (aptrank teach) and its kept folder evaluated as a pipeline, against the old figure."""
    import tempfile

    from aptrank.data import load_dataset
    from aptrank.experiment import EvaluateConfig, evaluate_pipelines
    from aptrank.teach.workflow import TeachConfig, teach

    spec = "ensemble(ranker:bm25,ranker:dense)"
    start = time.perf_counter()
    with tempfile.TemporaryDirectory() as tmp:
        result = teach(TeachConfig(dataset, teacher=spec, synthetic_docs=0), models_dir=tmp)
        folder = result["models"]["teacher"]
        pipeline = json.loads((Path(folder) / "aptrank.json").read_text())["pipeline"]
        test = load_dataset(dataset, "test")
        exp = evaluate_pipelines(test, EvaluateConfig(dataset, pipelines=(folder,)))
        as_pipeline = exp.comparison.means_dict()[folder]
    old = json.loads((RESULTS / "distill.json").read_text())["teachers"].get(spec, {})
    return {
        "command": f"aptrank teach {dataset} --teacher '{spec}' --synthetic-docs 0 --out DIR; "
        f"aptrank evaluate {dataset} -p DIR/models/teacher",
        "teacher": spec,
        "pipeline": pipeline,
        "test_ndcg@10_old_code": old.get("ndcg@10"),
        "test_ndcg@10_labels": result["teacher"]["test_ndcg10"],
        "test_as_pipeline": as_pipeline,
        "dev_ndcg@10_old_code": old.get("dev_ndcg@10"),
        "dev_ndcg@10_labels": result["teacher"]["dev_ndcg10"],
        "seconds": round(time.perf_counter() - start, 1),
    }


def to_markdown(r: dict[str, Any]) -> str:
    lines = [
        f"# Fusion benchmark ({r['dataset']}, {r['machine']['cpus_available']} CPUs, no GPU, "
        f"{r['created']})",
        "",
        "Weights fitted by `aptrank fit-fusion` on the training judgments; the method (equal, "
        "pairwise logistic, coordinate ascent on NDCG@10) chosen on a 100-query dev slice.",
        "",
        "| placement | chosen | weights (bm25, dense) | dev equal | dev pairwise "
        "| dev coord. ascent | fitted beats equal on dev |",
        "|:---|:---|:---|---:|---:|---:|:---:|",
    ]
    for name, f in r["fit"]["placements"].items():
        d = f["dev_ndcg@10"]
        lines.append(
            f"| {name} | {f['method']} | {', '.join(f'{w:.3f}' for w in f['weights'])} | "
            f"{d['equal']:.4f} | {d['pairwise']:.4f} | {d['coordinate-ascent']:.4f} | "
            f"{'yes' if f['beats_equal_on_dev'] else 'no'} |"
        )
    t = r["test"]
    lines += [
        "",
        f"Test split, {t['queries']} queries († p < 0.05 against bm25, paired t-test):",
        "",
        "| pipeline | NDCG@10 | recall@100 | MRR@10 | MAP |",
        "|:---|---:|---:|---:|---:|",
    ]
    for p, m in t["metrics"].items():
        p_ndcg = t["p_values_vs_bm25"].get(p, {}).get("ndcg@10")
        mark = "†" if p_ndcg is not None and p_ndcg < 0.05 else ""
        lines.append(
            f"| `{p}` | {m['ndcg@10']:.4f}{mark} | {m['recall@100']:.4f} | {m['mrr@10']:.4f} | "
            f"{m['map']:.4f} |"
        )
    t = r["teacher_bm25_dense"]
    lines += [
        "",
        f"Teacher `{t['teacher']}` re-made by the fuse code (`{t['pipeline']}`), test NDCG@10: "
        f"old code {t['test_ndcg@10_old_code']:.6f}, new labels {t['test_ndcg@10_labels']:.6f}, "
        f"its folder as a pipeline {t['test_as_pipeline']['ndcg@10']:.6f}.",
        "",
        f"Four-member teacher ensemble: {r['teacher_ensemble']['why']}.",
        "",
    ]
    return "\n".join(lines)


if __name__ == "__main__":
    main()
