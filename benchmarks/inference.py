"""CPU inference backends on SciFact: torch fp32 against ONNX Runtime fp32 and dynamic int8.

    python benchmarks/inference.py [--dataset scifact] [--backends torch,onnx,onnx-int8]
        [--threads 2] [--max-docs N] [--queries 50] [--depth 100] [--rounds 5]

(a) Corpus encoding with all-MiniLM-L6-v2 (title + text, max_length 256, batch 64): docs/s and
    SciFact test NDCG@10 of exact cosine search, plus each backend's cosine to torch's vectors.
(b) Cross-encoder scoring (the MiniLM backbone with the seeded, untrained head the torch backend
    builds) of the first ``--queries`` test queries (ids sorted as strings) x their BM25 top
    ``--depth`` (bm25s, English stemmer and stopwords, title + text), max_length 256, batch 32:
    pairs/s, max |score - torch score| and the mean per-query Kendall tau against torch.
(c) Steady state: one batch of the 64 longest documents (all truncated at 256 tokens), encoded by
    each backend in turn for ``--rounds`` rounds: best and median docs/s. Interleaving makes this
    the figure least disturbed by other processes on a shared machine.

In (a) and (b) the backends take turns over chunks of the (longest-first) inputs, so that other
processes on a shared machine slow them alike; each backend still sees every input once, in the
batches a whole-corpus call would make. Figures are wall-clock (the load average at each chunk is
recorded). Exports are cached in APTRANK_CACHE; their one-off cost is reported separately. Writes
benchmarks/results/inference.json and inference.md. Not part of the test suite.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from collections.abc import Callable, Mapping
from dataclasses import asdict
from datetime import datetime, timezone
from functools import partial
from importlib import metadata
from pathlib import Path
from typing import Any

import numpy as np

RESULTS = Path(__file__).parent / "results"
MODEL = "all-MiniLM-L6-v2"
MAX_LENGTH = 256
TEXT_BATCH = 64
PAIR_BATCH = 32
ENCODE_CHUNK = 512  # documents per turn when the backends take turns
PAIR_CHUNK = 320


def log(message: str) -> None:
    print(f"[{datetime.now():%H:%M:%S}] {message}", flush=True)


def machine(threads: int) -> dict[str, Any]:
    from aptrank.rankers.onnx import physical_cores

    flags: set[str] = set()
    model = "unknown"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
            elif line.startswith("flags"):
                flags = set(line.split(":", 1)[1].split())
    except OSError:
        pass
    simd = [f for f in ("avx2", "avx512f", "avx512_vnni", "avx_vnni", "amx_int8") if f in flags]
    return {
        "cpu": model,
        "cpus_available": len(os.sched_getaffinity(0)),
        "physical_cores": physical_cores(),
        "simd": simd,
        "threads": threads,
    }


def versions() -> dict[str, str]:
    from aptrank.experiment import package_versions

    out = package_versions()
    for name in ("torch", "onnx", "onnxruntime", "tokenizers"):
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            continue
    return out


def stamp(threads: int | None = None, gpu: Any = None) -> dict[str, Any]:
    """What every part of a results file records about itself: the command that made it, the
    machine (``threads``: those the part used, default all available), versions and time."""
    return {
        "command": [sys.executable, *sys.argv],
        "machine": {**machine(threads or len(os.sched_getaffinity(0))), "gpu": gpu},
        "versions": versions(),
        "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
    }


def load_backend(kind: str, backend: str, threads: int) -> tuple[Any, dict[str, float]]:
    """The encoder or pair scorer of ``backend``, with the one-off export and load times."""
    from aptrank.rankers import encoders
    from aptrank.rankers import onnx as ox

    timing = {"export_s": 0.0}
    if backend != "torch":
        start = time.perf_counter()
        ox.export_folder(MODEL, "encoder" if kind == "encoder" else "pair", backend == "onnx-int8")
        timing["export_s"] = round(time.perf_counter() - start, 2)
    start = time.perf_counter()
    quantize = backend == "onnx-int8"
    if kind == "encoder":
        model: Any = (
            encoders.TorchEncoder(MODEL, MAX_LENGTH)
            if backend == "torch"
            else ox.OnnxEncoder(MODEL, quantize, MAX_LENGTH, threads=threads)
        )
    else:
        model = (
            encoders.TorchPairScorer(MODEL, MAX_LENGTH)
            if backend == "torch"
            else ox.OnnxPairScorer(MODEL, quantize, MAX_LENGTH, threads=threads)
        )
    timing["load_s"] = round(time.perf_counter() - start, 2)
    return model, timing


def search(doc_emb: np.ndarray, query_emb: np.ndarray, depth: int = 100) -> list[np.ndarray]:
    """Exact cosine search: the top ``depth`` document positions per query, best first."""
    scores = query_emb @ doc_emb.T
    top = np.argpartition(-scores, min(depth, scores.shape[1] - 1), axis=1)[:, :depth]
    return [row[np.argsort(-scores[i, row], kind="stable")] for i, row in enumerate(top)]


def interleaved(
    models: Mapping[str, Callable[[list], np.ndarray]], items: list, sizes: list[int], chunk: int
) -> tuple[dict[str, np.ndarray], dict[str, float], list[float]]:
    """Run every backend over ``items`` chunk by chunk, the backends taking turns (in rotated
    order), so that other processes on the machine slow them alike.

    Items go longest first (by ``sizes``), so each chunk pads as in one whole-corpus call. Returns
    the outputs in input order, the seconds per backend and the load average at each chunk.
    """
    order = np.argsort(-np.asarray(sizes), kind="stable")
    names = list(models)
    parts: dict[str, list[np.ndarray]] = {b: [] for b in names}
    seconds = dict.fromkeys(names, 0.0)
    loads = []
    for n, begin in enumerate(range(0, len(order), chunk)):
        batch = [items[i] for i in order[begin : begin + chunk]]
        loads.append(os.getloadavg()[0])
        for backend in names[n % len(names) :] + names[: n % len(names)]:
            start = time.perf_counter()
            parts[backend].append(models[backend](batch))
            seconds[backend] += time.perf_counter() - start
        log(
            f"{begin + len(batch)}/{len(items)}: "
            + ", ".join(f"{b} {t:.0f}s" for b, t in seconds.items())
        )
    outputs = {}
    for backend, chunks in parts.items():
        stacked = np.concatenate(chunks)
        outputs[backend] = np.empty_like(stacked)
        outputs[backend][order] = stacked
    return outputs, seconds, loads


def load_summary(loads: list[float]) -> dict[str, float]:
    return {
        "load_average_mean": round(float(np.mean(loads)), 2),
        "load_average_max": round(max(loads), 2),
    }


def part_encode(ds: Any, doc_ids: list[str], backends: list[str], threads: int) -> dict:
    from aptrank.evaluate import evaluate

    texts = [ds.corpus[d].full_text for d in doc_ids]
    qids = sorted(ds.qrels)
    queries = [ds.queries[q].text for q in qids]
    out: dict[str, dict[str, Any]] = {}
    encoders = {}
    for backend in backends:
        encoders[backend], out[backend] = load_backend("encoder", backend, threads)
        encoders[backend].encode(texts[:TEXT_BATCH], batch_size=TEXT_BATCH)  # warm-up
    models = {b: partial(e.encode, batch_size=TEXT_BATCH) for b, e in encoders.items()}
    vectors, seconds, loads = interleaved(models, texts, [len(t) for t in texts], ENCODE_CHUNK)
    tops: dict[str, list[np.ndarray]] = {}
    for backend, encoder in encoders.items():
        query_emb = encoder.encode(queries, batch_size=TEXT_BATCH)
        tops[backend] = search(vectors[backend], query_emb)
        scores = query_emb @ vectors[backend].T
        run = {
            q: {doc_ids[j]: float(scores[i, j]) for j in tops[backend][i]}
            for i, q in enumerate(qids)
        }
        metrics = evaluate(ds.qrels, run, ["ndcg@10", "recall@100"]).means
        out[backend].update(
            seconds=round(seconds[backend], 1),
            docs_per_s=round(len(texts) / seconds[backend], 2),
            **{"ndcg@10": round(metrics["ndcg@10"], 4)},
            **{"recall@100": round(metrics["recall@100"], 4)},
            **load_summary(loads),
        )
        log(f"encode {backend}: {out[backend]}")
    if "torch" in vectors:
        for backend in backends:
            cos = (vectors[backend] * vectors["torch"]).sum(axis=1)
            overlap = [
                len(set(a[:10]) & set(b[:10])) / 10 for a, b in zip(tops[backend], tops["torch"])
            ]
            x = out[backend]
            x["speedup"] = round(x["docs_per_s"] / out["torch"]["docs_per_s"], 2)
            x["ndcg@10_delta"] = round(x["ndcg@10"] - out["torch"]["ndcg@10"], 4)
            x["cosine_to_torch_min"] = round(float(cos.min()), 5)
            x["cosine_to_torch_mean"] = round(float(cos.mean()), 5)
            x["top10_overlap_with_torch"] = round(float(np.mean(overlap)), 4)
    return out


def candidates(ds: Any, n_queries: int, depth: int) -> list[tuple[str, str]]:
    """(query id, doc id) pairs: the first ``n_queries`` test query ids x their BM25 top."""
    from aptrank.rankers.bm25 import BM25Ranker

    qids = sorted(ds.qrels)[:n_queries]
    run = BM25Ranker().index(ds.corpus).rank({q: ds.queries[q].text for q in qids}, k=depth)
    return [(q, d) for q in qids for d, _ in sorted(run[q].items(), key=lambda x: (-x[1], x[0]))]


def part_pairs(ds: Any, keys: list[tuple[str, str]], backends: list[str], threads: int) -> dict:
    from scipy.stats import kendalltau

    from aptrank.evaluate import evaluate

    pairs = [(ds.queries[q].text, ds.corpus[d].full_text) for q, d in keys]
    out: dict[str, dict[str, Any]] = {}
    scorers = {}
    for backend in backends:
        scorers[backend], out[backend] = load_backend("pair", backend, threads)
        scorers[backend].score(pairs[:PAIR_BATCH], batch_size=PAIR_BATCH)  # warm-up
    models = {b: partial(s.score, batch_size=PAIR_BATCH) for b, s in scorers.items()}
    sizes = [len(q) + len(d) for q, d in pairs]
    scores, seconds, loads = interleaved(models, pairs, sizes, PAIR_CHUNK)
    for backend in backends:
        run: dict[str, dict[str, float]] = {}
        for (q, d), s in zip(keys, scores[backend]):
            run.setdefault(q, {})[d] = float(s)
        out[backend].update(
            seconds=round(seconds[backend], 1),
            pairs_per_s=round(len(pairs) / seconds[backend], 2),
            **{"ndcg@10_reranked": round(evaluate(ds.qrels, run, ["ndcg@10"]).means["ndcg@10"], 4)},
            **load_summary(loads),
        )
        log(f"pairs {backend}: {out[backend]}")
    if "torch" in scores:
        qids = [q for q, _ in keys]
        bounds = [i for i in range(len(qids) + 1) if i in (0, len(qids)) or qids[i] != qids[i - 1]]
        ref = scores["torch"]
        out["torch"]["score_std"] = float(f"{ref.std():.3g}")
        for backend in backends:
            got = scores[backend]
            taus = [kendalltau(ref[a:b], got[a:b]).statistic for a, b in zip(bounds, bounds[1:])]
            x = out[backend]
            x["speedup"] = round(x["pairs_per_s"] / out["torch"]["pairs_per_s"], 2)
            x["max_abs_diff"] = float(f"{np.abs(got - ref).max():.3g}")
            x["kendall_tau_mean"] = round(float(np.nanmean(taus)), 4)
            x["kendall_tau_min"] = round(float(np.nanmin(taus)), 4)
    return out


def part_steady(ds: Any, backends: list[str], threads: int, rounds: int) -> dict:
    texts = sorted((d.full_text for d in ds.corpus.values()), key=len, reverse=True)[:TEXT_BATCH]
    encoders = {b: load_backend("encoder", b, threads)[0] for b in backends}
    for enc in encoders.values():
        enc.encode(texts, batch_size=TEXT_BATCH)
    rates: dict[str, list[float]] = {b: [] for b in backends}
    for _ in range(rounds):
        for backend, enc in encoders.items():
            start = time.perf_counter()
            enc.encode(texts, batch_size=TEXT_BATCH)
            rates[backend].append(len(texts) / (time.perf_counter() - start))
    out = {
        b: {
            "best_docs_per_s": round(max(r), 2),
            "median_docs_per_s": round(statistics.median(r), 2),
        }
        for b, r in rates.items()
    }
    if "torch" in out:
        for b in backends:
            out[b]["best_speedup"] = round(
                out[b]["best_docs_per_s"] / out["torch"]["best_docs_per_s"], 2
            )
    log(f"steady: {out}")
    return out


def to_markdown(r: dict) -> str:
    m = r["machine"]
    lines = [
        f"# CPU inference backends, {r['dataset']} ({r['created']})",
        "",
        f"{m['cpu']}, {m['threads']} threads ({m['physical_cores']} physical cores available; "
        f"SIMD: {', '.join(m['simd']) or 'none detected'}). Model {MODEL}, max_length "
        f"{MAX_LENGTH}. int8: `{r['int8']}`. Wall-clock figures on a machine shared with other "
        "jobs: the backends take turns over chunks of the inputs (load averages in "
        "inference.json).",
        "",
    ]
    if "encode" in r:
        c = r["config"]
        lines += [
            f"**Corpus encoding** ({c['docs']} docs, batch {TEXT_BATCH}; exact cosine search "
            f"over {c['test_queries']} test queries)",
            "",
            "| backend | docs/s | speed-up | NDCG@10 | ΔNDCG@10 | recall@100 | min / mean cosine "
            "to torch | top-10 overlap |",
            "|:---|---:|---:|---:|---:|---:|---:|---:|",
        ]
        for b, x in r["encode"].items():
            lines.append(
                f"| {b} | {x['docs_per_s']:.1f} | {x.get('speedup', 1):.2f}x | {x['ndcg@10']:.4f} "
                f"| {x.get('ndcg@10_delta', 0):+.4f} | {x['recall@100']:.4f} | "
                f"{x.get('cosine_to_torch_min', 1):.4f} / {x.get('cosine_to_torch_mean', 1):.4f} "
                f"| {x.get('top10_overlap_with_torch', 1):.3f} |"
            )
        lines.append("")
    if "steady" in r:
        lines += [
            f"**Steady state** (the {TEXT_BATCH} longest documents, 256 tokens each, backends "
            f"interleaved, {r['config']['rounds']} rounds)",
            "",
            "| backend | best docs/s | median docs/s | best speed-up |",
            "|:---|---:|---:|---:|",
        ]
        for b, x in r["steady"].items():
            lines.append(
                f"| {b} | {x['best_docs_per_s']:.1f} | {x['median_docs_per_s']:.1f} | "
                f"{x.get('best_speedup', 1):.2f}x |"
            )
        lines.append("")
    if "pairs" in r:
        c = r["config"]
        lines += [
            f"**Cross-encoder** ({c['pairs']} pairs: {c['pair_queries']} test queries x BM25 top "
            f"{c['depth']}, batch {PAIR_BATCH}; untrained seeded head, so NDCG is not a quality "
            "figure, only agreement)",
            "",
            "| backend | pairs/s | speed-up | max abs diff | Kendall tau mean (min) | "
            "NDCG@10 reranked |",
            "|:---|---:|---:|---:|---:|---:|",
        ]
        for b, x in r["pairs"].items():
            lines.append(
                f"| {b} | {x['pairs_per_s']:.1f} | {x.get('speedup', 1):.2f}x | "
                f"{x.get('max_abs_diff', 0):.2g} | {x.get('kendall_tau_mean', 1):.4f} "
                f"({x.get('kendall_tau_min', 1):.4f}) | {x['ndcg@10_reranked']:.4f} |"
            )
        lines.append("")
    return "\n".join(lines)


def dataset_location(name: str) -> str:
    """``name`` itself when it is a path or on APTRANK_DATA, else the shared copy beside the repo
    (../shared/data/<name>) when there is one."""
    from aptrank.data import find_dataset

    shared = Path(__file__).resolve().parents[2] / "shared" / "data" / name
    if Path(name).exists() or find_dataset(name) is not None or not shared.is_dir():
        return name
    return str(shared)


def backend_parser(
    doc: str, backends: str, parts: str, queries: int, depth: int, name: str
) -> argparse.ArgumentParser:
    """The options the backend benchmarks share (this script's and backends.py's)."""
    parser = argparse.ArgumentParser(description=doc.splitlines()[0])
    parser.add_argument("--dataset", default="scifact", help="a BEIR folder or dataset name")
    parser.add_argument("--backends", default=backends)
    parser.add_argument("--parts", default=parts)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--max-docs", type=int, default=0, help="0: the whole corpus")
    parser.add_argument("--queries", type=int, default=queries, help="test queries (0: all)")
    parser.add_argument("--depth", type=int, default=depth)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--out", default=str(RESULTS), help=f"folder for {name}.json/.md")
    return parser


def backend_setup(args: argparse.Namespace) -> tuple[Any, list[str]]:
    """Offline, ``--threads`` torch threads; the dataset's test split and the documents used."""
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    import torch

    from aptrank.data import load_dataset

    torch.set_num_threads(args.threads)
    ds = load_dataset(dataset_location(args.dataset), "test")
    return ds, sorted(ds.corpus)[: args.max_docs or None]


def main() -> None:
    parser = backend_parser(__doc__, "torch,onnx,onnx-int8", "encode,steady,pairs", 50, 100,
                            "inference")  # fmt: skip
    args = parser.parse_args()
    ds, doc_ids = backend_setup(args)
    from aptrank.rankers.onnx import INT8

    backends = args.backends.split(",")
    parts = args.parts.split(",")
    report: dict[str, Any] = {
        "dataset": ds.name,
        "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "command": ["python", "benchmarks/inference.py", *sys.argv[1:]],
        "machine": machine(args.threads),
        "config": {
            "model": MODEL,
            "max_length": MAX_LENGTH,
            "text_batch": TEXT_BATCH,
            "pair_batch": PAIR_BATCH,
            "docs": len(doc_ids),
            "test_queries": len(ds.qrels),
            "pair_queries": min(args.queries, len(ds.qrels)),
            "pair_query_selection": "first by id sorted as strings",
            "depth": args.depth,
            "rounds": args.rounds,
            "backends": backends,
        },
        "int8": asdict(INT8),
        "versions": versions(),
    }
    log(f"{ds!r}; backends {backends}; parts {parts}")
    if "encode" in parts:
        report["encode"] = part_encode(ds, doc_ids, backends, args.threads)
    if "steady" in parts:
        report["steady"] = part_steady(ds, backends, args.threads, args.rounds)
    if "pairs" in parts:
        keys = candidates(ds, args.queries, args.depth)
        report["config"]["pairs"] = len(keys)
        report["pairs"] = part_pairs(ds, keys, backends, args.threads)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "inference.json").write_text(json.dumps(report, indent=2) + "\n")
    (out / "inference.md").write_text(to_markdown(report))
    print(to_markdown(report))
    log(f"saved {out / 'inference.json'}")


if __name__ == "__main__":
    main()
