"""Foundation benchmark: aptrank's overhead over bm25s / sentence-transformers called directly,
the cost of a re-run with warm caches, and (from benchmarks/inference.py) torch fp32 against the
fastest CPU backend.

    python benchmarks/foundation.py [--dataset scifact] [--reps 3]

Writes benchmarks/results/foundation.json and foundation.md. Run on an otherwise idle machine:
the figures are wall-clock times. Not part of the test suite.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import datetime, timezone
from pathlib import Path

import numpy as np

RESULTS = Path(__file__).parent / "results"
K = 1000


def timed(fn):  # type: ignore[no-untyped-def]
    start = time.perf_counter()
    value = fn()
    return time.perf_counter() - start, value


def direct_bm25(texts: list[str], queries: list[str]) -> None:
    """bm25s as its README shows it: tokenize, index, retrieve."""
    import bm25s
    import Stemmer

    stemmer = Stemmer.Stemmer("english")
    retriever = bm25s.BM25()
    retriever.index(
        bm25s.tokenize(texts, stopwords="en", stemmer=stemmer, show_progress=False),
        show_progress=False,
    )
    q = bm25s.tokenize(queries, stopwords="en", stemmer=stemmer, show_progress=False)
    retriever.retrieve(q, k=K, show_progress=False, n_threads=1)


def direct_dense(model_path: str, texts: list[str], queries: list[str]) -> None:
    """sentence-transformers as its docs show it: encode, normalise, inner product, top-k."""
    from sentence_transformers import SentenceTransformer

    model = SentenceTransformer(model_path, device="cpu")
    docs = model.encode(texts, batch_size=64, normalize_embeddings=True, convert_to_numpy=True)
    q = model.encode(queries, batch_size=64, normalize_embeddings=True, convert_to_numpy=True)
    sims = q @ docs.T
    np.argpartition(-sims, K - 1, axis=1)[:, :K]


def aptrank_rank(spec: str, corpus, queries: dict[str, str]) -> None:  # type: ignore[no-untyped-def]
    from aptrank.rankers import build_ranker

    build_ranker(spec).index(corpus).rank(queries, K)


def with_cache(path: str):  # type: ignore[no-untyped-def]
    os.environ["APTRANK_CACHE"] = path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dataset", default="scifact")
    parser.add_argument("--reps", type=int, default=3, help="repetitions of the BM25 timings")
    parser.add_argument("--skip-dense", action="store_true", help="BM25 only (minutes faster)")
    parser.add_argument(
        "--merge-only",
        action="store_true",
        help="only fold a newer benchmarks/results/inference.json into foundation.json",
    )
    args = parser.parse_args()
    if args.merge_only:
        report = json.loads((RESULTS / "foundation.json").read_text())
        save(report)
        return
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")

    from aptrank.data import load_dataset
    from aptrank.experiment import package_versions
    from aptrank.rankers.models import resolve_model

    load_s, ds = timed(lambda: load_dataset(args.dataset, "test"))
    texts = [ds.corpus[d].full_text for d in sorted(ds.corpus)]
    qmap = {qid: q.text for qid, q in ds.judged_queries().items()}
    qtexts = list(qmap.values())
    report: dict = {
        "dataset": args.dataset,
        "docs": len(texts),
        "queries": len(qtexts),
        "load_seconds": round(load_s, 3),
        "versions": package_versions(),
        "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "cpus": len(os.sched_getaffinity(0)),
        "load_average_before": os.getloadavg()[0],
    }

    # 1. BM25: direct bm25s vs aptrank with a cold cache, interleaved, median of reps.
    direct, ours = [], []
    for _ in range(args.reps):
        direct.append(timed(lambda: direct_bm25(texts, qtexts))[0])
        with tempfile.TemporaryDirectory() as cache:
            with_cache(cache)
            ours.append(timed(lambda: aptrank_rank("bm25", ds.corpus, qmap))[0])
    d, o = statistics.median(direct), statistics.median(ours)
    report["bm25"] = {"direct_s": d, "aptrank_cold_s": o, "overhead": o / d - 1}
    print(f"bm25: direct {d:.2f} s, aptrank {o:.2f} s, overhead {100 * (o / d - 1):+.1f} %")

    if not args.skip_dense:
        model = resolve_model("all-MiniLM-L6-v2")
        cache = tempfile.mkdtemp(prefix="aptrank-bench-")
        with_cache(cache)
        dd = timed(lambda: direct_dense(model, texts, qtexts))[0]
        do = timed(lambda: aptrank_rank("dense", ds.corpus, qmap))[0]
        warm = timed(lambda: aptrank_rank("dense", ds.corpus, qmap))[0]
        report["dense"] = {
            "model": "all-MiniLM-L6-v2",
            "direct_s": dd,
            "aptrank_cold_s": do,
            "overhead": do / dd - 1,
            "aptrank_warm_s": warm,
            "warm_over_cold": warm / do,
        }
        print(
            f"dense: direct {dd:.1f} s, aptrank {do:.1f} s ({100 * (do / dd - 1):+.1f} %), "
            f"warm re-run {warm:.1f} s ({100 * warm / do:.1f} % of cold)"
        )
        # The whole CLI with warm caches (a new process: imports and model loading included).
        cmd = [
            sys.executable,
            "-m",
            "aptrank.cli.main",
            "evaluate",
            args.dataset,
            "--no-progress",
            "-p",
            "bm25",
            "-p",
            "dense",
            "-p",
            "bm25>>dense@100",
            "-o",
            os.path.join(cache, "eval"),
        ]
        cli_s = timed(lambda: subprocess.run(cmd, check=True, capture_output=True))[0]
        cold_total = o + do
        report["cli_warm"] = {
            "command": " ".join(cmd[1:]),
            "seconds": cli_s,
            "cold_ranking_s": cold_total,
            "warm_over_cold": cli_s / cold_total,
        }
        print(
            f"aptrank evaluate, warm caches: {cli_s:.1f} s ({100 * cli_s / cold_total:.1f} % of "
            f"the cold ranking time {cold_total:.0f} s)"
        )

    report["load_average_after"] = os.getloadavg()[0]
    save(report)


def save(report: dict) -> None:
    """Save foundation.json/.md, folding in the backend figures of benchmarks/inference.py."""
    inference = RESULTS / "inference.json"
    if inference.exists():
        report["backends"] = json.loads(inference.read_text())
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "foundation.json").write_text(json.dumps(report, indent=2) + "\n")
    (RESULTS / "foundation.md").write_text(to_markdown(report))
    print(f"saved {RESULTS / 'foundation.json'}")


def to_markdown(r: dict) -> str:
    lines = [
        f"# Foundation benchmark ({r['dataset']}, {r['docs']} docs, {r['queries']} queries, "
        f"{r['cpus']} CPUs, {r['created']})",
        "",
        "| measure | direct library | aptrank | ratio |",
        "|:---|---:|---:|---:|",
        f"| BM25 index + retrieve top-{K} (s, cold cache) | {r['bm25']['direct_s']:.2f} | "
        f"{r['bm25']['aptrank_cold_s']:.2f} | {1 + r['bm25']['overhead']:.3f} |",
    ]
    if "dense" in r:
        x = r["dense"]
        lines.append(
            f"| MiniLM encode corpus + queries + top-{K} (s, cold cache) | {x['direct_s']:.1f} | "
            f"{x['aptrank_cold_s']:.1f} | {1 + x['overhead']:.3f} |"
        )
        lines.append(
            f"| MiniLM re-run, warm cache (s) | | {x['aptrank_warm_s']:.1f} | "
            f"{x['warm_over_cold']:.3f} of cold |"
        )
        c = r["cli_warm"]
        lines.append(
            f"| `aptrank evaluate` bm25 + dense + bm25>>dense@100, warm (s, new process) | | "
            f"{c['seconds']:.1f} | {c['warm_over_cold']:.3f} of cold |"
        )
    lines += ["", f"Dataset load: {r['load_seconds']:.2f} s.", ""]
    if "backends" in r:
        b = r["backends"]
        lines += [
            "## torch fp32 vs ONNX Runtime (benchmarks/inference.py; details in inference.md)",
            "",
            "| backend | corpus docs/s | speed-up | ΔNDCG@10 | CE pairs/s | CE speed-up "
            "| CE max diff |",
            "|:---|---:|---:|---:|---:|---:|---:|",
        ]
        torch_pairs = b["pairs"]["torch"]["pairs_per_s"]
        for name, enc in b["encode"].items():
            pairs = b["pairs"].get(name, {})
            lines.append(
                f"| {name} | {enc['docs_per_s']:.1f} | {enc.get('speedup', 1.0):.2f}x | "
                f"{enc.get('ndcg@10_delta', 0.0):+.4f} | {pairs.get('pairs_per_s', 0):.1f} | "
                f"{pairs.get('pairs_per_s', 0) / torch_pairs:.2f}x | "
                f"{pairs.get('max_abs_diff', 0):.2g} |"
            )
        lines.append("")
    return "\n".join(lines)


if __name__ == "__main__":
    main()
