"""Load benchmark of ``aptrank serve`` on loopback: throughput and latency at 1, 4, 16 and 64
concurrent clients, with and without dynamic batching, against the model's own speed.

    python benchmarks/serve.py [--student FOLDER] [--clients 1,4,16,64] [--requests 400]
        [--seconds 60] [--candidates 30] [--threads 2] [--quick] [--out DIR]

Scenarios, each on SciFact's test queries in id order (sorted as strings), round-robin:

* ``rerank-student``: ``/v1/rerank`` with each query's BM25 top ``--candidates`` (title + text)
  through the distilled SciFact cross-encoder student (``--student``; default: the student
  ``benchmarks/results/distill.json`` selected, else another student beside it in the teach
  cache), ``max_length=256``, ``batch_size=16`` (the distillation's settings);
* ``rerank-bi-encoder``: the same requests through ``dense`` (all-MiniLM-L6-v2, cosine);
* ``embeddings``: ``/v1/embeddings`` with one query text per request (``input_type`` query).

For each batching mode a server is started as its own process (``python -m aptrank serve``, both
models, ``OMP_NUM_THREADS=--threads``, queue 1024, timeout 600 s); each client count is a level
of at most ``--requests`` requests and ``--seconds`` seconds (no new request after either; those
in flight finish). Per level: requests/s, p50/p95/p99 latency of the answered requests, errors
and 503s apart, pairs (or texts) per second, and from the server's /metrics the requests per
model call and the model's busy share. After the server stops, the model's own pairs/s is
measured in this process on the same requests, grouped as the server grouped them (the level's
mean requests per model call), through the same code (``aptrank.serve.scoring``). Writes
``serve.json`` and ``serve.md`` to ``--out`` (default ``benchmarks/results``; with ``--quick``,
a temporary folder: a quick run's figures are a smoke test, never results).
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from datetime import datetime, timezone
from importlib import metadata
from pathlib import Path
from typing import Any

import numpy as np

RESULTS = Path(__file__).parent / "results"
ROOT = Path(__file__).resolve().parents[1]
STUDENT_OPTIONS = "[max_length=256,batch_size=16]"
BI_ENCODER = "dense"
SCENARIOS = ("rerank-student", "rerank-bi-encoder", "embeddings")
sys.path.insert(0, str(Path(__file__).parent))


def log(message: str) -> None:
    print(f"[{datetime.now():%H:%M:%S}] {message}", flush=True)


def find_student(given: str | None) -> tuple[Path, str]:
    """The student's folder and how it was found."""
    if given:
        return Path(given), "--student"
    record = RESULTS / "distill.json"
    selected = json.loads(record.read_text()).get("selected_student", {}) if record.exists() else {}
    folder = Path(selected.get("folder", ""))
    if selected.get("folder") and folder.is_dir():
        return folder, f"distill.json selected_student (size {selected.get('size')})"
    if folder.parent.is_dir():
        for other in sorted(folder.parent.iterdir()):
            if (other / "model.safetensors").exists():
                return other, f"a student beside distill.json's selected one ({folder.name} absent)"
    raise SystemExit("no distilled student found: pass --student FOLDER (aptrank distill --out)")


def workload(dataset: str, candidates: int) -> list[tuple[str, list[str]]]:
    """(query, its BM25 top ``candidates`` texts) for every test query, ids sorted as strings."""
    from inference import dataset_location

    from aptrank.data import load_dataset
    from aptrank.data.runs import rank_order
    from aptrank.rankers import build_ranker

    ds = load_dataset(dataset_location(dataset), "test")
    queries = {q: ds.queries[q].text for q in sorted(ds.qrels)}
    top = rank_order(build_ranker("bm25").index(ds.corpus).rank(queries, candidates))
    return [(text, [ds.corpus[d].full_text for d in top[q]]) for q, text in queries.items()]


class Server:
    """``python -m aptrank serve`` in its own process, its log in ``log_path``."""

    def __init__(self, pipelines: list[str], batching: bool, threads: int, log_path: Path):
        self.command = [sys.executable, "-m", "aptrank", "serve", "--port", "0", "--no-access-log"]
        self.command += [x for p in pipelines for x in ("--pipeline", p)]
        self.command += ["--queue-size", "1024", "--timeout", "600"]
        self.command += [] if batching else ["--no-batching"]
        self.log_path = log_path
        env = {**os.environ, "OMP_NUM_THREADS": str(threads), "HF_HUB_OFFLINE": "1"}
        self._log = open(log_path, "w")  # noqa: SIM115 - closed in stop()
        self.proc = subprocess.Popen(self.command, stderr=self._log, stdout=self._log, env=env)
        self.url = self._wait()

    def _wait(self, seconds: float = 900) -> str:
        import httpx

        deadline, url = time.monotonic() + seconds, None
        while time.monotonic() < deadline and self.proc.poll() is None:
            text = self.log_path.read_text()
            if url is None and "serving on " in text:
                url = text.split("serving on ", 1)[1].split()[0]
            if url is not None:
                try:
                    if httpx.get(f"{url}/health/ready", timeout=5).status_code == 200:
                        return url
                except httpx.TransportError:
                    pass
            time.sleep(0.5)
        self.stop()
        raise SystemExit(f"the server did not become ready:\n{self.log_path.read_text()[-2000:]}")

    def models(self) -> list[str]:
        import httpx

        return [m["id"] for m in httpx.get(f"{self.url}/v1/models").json()["data"]]

    def batch_stats(self) -> dict[tuple[str, str, str], float]:
        """``(metric, model, endpoint) -> value`` of the batch sums and counts."""
        import httpx
        from prometheus_client.parser import text_string_to_metric_families

        out = {}
        for family in text_string_to_metric_families(httpx.get(f"{self.url}/metrics").text):
            for s in family.samples:
                if s.name.startswith(("aptrank_batch_requests", "aptrank_model_call_seconds")):
                    out[(s.name, s.labels.get("model", ""), s.labels.get("endpoint", ""))] = s.value
        return out

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            self.proc.wait(120)
        self._log.close()


def bodies(scenario: str, model: str, work: list[tuple[str, list[str]]]) -> list[dict[str, Any]]:
    if scenario == "embeddings":
        return [{"model": model, "input": q, "input_type": "query"} for q, _ in work]
    return [{"model": model, "query": q, "documents": docs} for q, docs in work]


async def load(
    url: str, path: str, requests: list[dict[str, Any]], clients: int, count: int, seconds: float
) -> dict[str, Any]:
    """``clients`` concurrent clients, each sending the next request as soon as it has an
    answer, until ``count`` requests or ``seconds`` have gone."""
    import httpx

    limits = httpx.Limits(max_connections=clients, max_keepalive_connections=clients)
    numbers = itertools.count()
    answers: list[tuple[int, float]] = []
    async with httpx.AsyncClient(base_url=url, limits=limits, timeout=900) as http:
        start = time.perf_counter()

        async def client() -> None:
            while (i := next(numbers)) < count and time.perf_counter() - start < seconds:
                sent = time.perf_counter()
                try:
                    status = (await http.post(path, json=requests[i % len(requests)])).status_code
                except httpx.HTTPError:
                    status = -1
                answers.append((status, time.perf_counter() - sent))

        await asyncio.gather(*(client() for _ in range(clients)))
        wall = time.perf_counter() - start
    ok = [s for status, s in answers if status == 200]
    q = np.percentile(ok, [50, 95, 99]) * 1000 if ok else [float("nan")] * 3
    return {
        "requests": len(answers),
        "ok": len(ok),
        "errors": sum(status not in (200, 503) for status, _ in answers),
        "status_503": sum(status == 503 for status, _ in answers),
        "seconds": round(wall, 2),
        "requests_per_s": round(len(ok) / wall, 2),
        "p50_ms": round(float(q[0]), 1),
        "p95_ms": round(float(q[1]), 1),
        "p99_ms": round(float(q[2]), 1),
    }


def run_mode(batching: bool, args: argparse.Namespace, pipelines: list[str], work, out: Path):
    """Every scenario and client count against one server; returns the levels."""
    logs = Path(tempfile.gettempdir()) / f"aptrank-serve-server-{batching}.log"
    server = Server(pipelines, batching, args.threads, logs)
    levels: list[dict[str, Any]] = []
    try:
        student, dense = server.models()
        log(f"server {server.url} (batching {batching}): {student}, {dense}")
        for scenario in args.scenarios:
            model = student if scenario == "rerank-student" else dense
            endpoint = "embeddings" if scenario == "embeddings" else "rerank"
            requests = bodies(scenario, model, work)
            items = 1 if scenario == "embeddings" else args.candidates
            for clients in args.clients:
                before = server.batch_stats()
                load_avg = os.getloadavg()[0]
                result = asyncio.run(
                    load(server.url, f"/v1/{endpoint}", requests, clients,
                         args.embedding_requests if endpoint == "embeddings" else args.requests,
                         args.seconds)
                )  # fmt: skip
                after = server.batch_stats()
                delta = {k: after.get(k, 0.0) - before.get(k, 0.0) for k in after}
                calls = delta.get(("aptrank_batch_requests_count", model, endpoint), 0.0)
                merged = delta.get(("aptrank_batch_requests_sum", model, endpoint), 0.0)
                busy = delta.get(("aptrank_model_call_seconds_sum", model, endpoint), 0.0)
                level = {
                    "scenario": scenario, "batching": batching, "clients": clients,
                    **result,
                    "items_per_s": round(result["requests_per_s"] * items, 1),
                    "requests_per_call": round(merged / calls, 2) if calls else None,
                    "model_busy_share": round(busy / result["seconds"], 3),
                    "load_average_before": round(load_avg, 2),
                }  # fmt: skip
                log(f"{scenario} batching={batching} clients={clients}: {level}")
                levels.append(level)
    finally:
        server.stop()
    return levels, server.command


def direct(levels: list[dict[str, Any]], pipelines: list[str], work, args) -> None:
    """The model's own items/s on the same requests, grouped as the server grouped them."""
    import torch

    from aptrank.rankers import build_ranker
    from aptrank.serve.scoring import bi_encoder, score_texts

    torch.set_num_threads(args.threads)
    rankers = {"rerank-student": build_ranker(pipelines[0])}
    rankers["rerank-bi-encoder"] = rankers["embeddings"] = build_ranker(pipelines[1])
    for ranker in {id(r): r for r in rankers.values()}.values():
        score_texts(ranker, ["warm up"], [["warm up"]])
    measured: dict[tuple[str, int], float] = {}
    for level in levels:
        scenario = level["scenario"]
        group = max(1, round(level["requests_per_call"] or 1))
        if (scenario, group) not in measured:
            n = min(len(work), max(group * 2, args.direct_requests))
            part = work[:n]
            start = time.perf_counter()
            for i in range(0, n, group):
                chunk = part[i : i + group]
                if scenario == "embeddings":
                    encoder = bi_encoder(rankers[scenario])
                    if encoder is None:
                        raise SystemExit(f"{pipelines[1]} is not a bi-encoder")
                    encoder.embed_texts([q for q, _ in chunk], query=True)
                else:
                    score_texts(rankers[scenario], [q for q, _ in chunk], [d for _, d in chunk])
            items = n if scenario == "embeddings" else n * args.candidates
            rate = measured[(scenario, group)] = items / (time.perf_counter() - start)
            log(f"direct {scenario}, {group} requests per call: {rate:.1f}/s")
        level["direct_items_per_s"] = round(measured[(scenario, group)], 1)
        level["server_vs_direct"] = round(level["items_per_s"] / measured[(scenario, group)], 3)


def goals(levels: list[dict[str, Any]]) -> dict[str, Any]:
    """The issue's goals, read off the levels."""
    at = {(x["scenario"], x["batching"], x["clients"]): x for x in levels}
    out: dict[str, Any] = {
        "errors": sum(x["errors"] for x in levels),
        "status_503": sum(x["status_503"] for x in levels),
    }
    for scenario in ("rerank-student", "rerank-bi-encoder"):
        x = at.get((scenario, True, 16))
        if x:
            out[f"{scenario}_16_clients_server_vs_direct"] = x["server_vs_direct"]
    on, off = at.get(("embeddings", True, 16)), at.get(("embeddings", False, 16))
    if on and off and off["requests_per_s"]:
        out["embeddings_16_clients_batched_vs_unbatched"] = round(
            on["requests_per_s"] / off["requests_per_s"], 2
        )
    return out


def versions() -> dict[str, str]:
    from inference import versions as base_versions

    out = base_versions()
    names = ("fastapi", "uvicorn", "uvloop", "httptools", "httpx", "prometheus-client")
    for name in (*names, "sentence-transformers"):
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            continue
    return out


def to_markdown(r: dict[str, Any]) -> str:
    m, c, g = r["machine"], r["config"], r["goals"]
    ratios = ", ".join(f"{k.split('_16')[0]} {v:.2f}" for k, v in g.items() if "vs_direct" in k)
    ratios = ratios or "n/a (no 16-client level)"
    speedup = g.get("embeddings_16_clients_batched_vs_unbatched")
    speedup = f"{speedup:.2f}x" if speedup is not None else "n/a"
    lines = [
        f"# aptrank serve under load, SciFact ({r['created']})",
        "",
        f"`{' '.join(r['command'])}`",
        "",
        f"{m['cpu']}, {m['threads']} threads, {m['cpus_available']} CPUs available, GPU: "
        f"{m['gpu']}. Server and load generator share the machine (loopback). Student: "
        f"`{c['student']}` ({c['student_found_by']}); bi-encoder: `{c['bi_encoder']}`. "
        f"{c['candidates']} candidates per rerank request; each level at most {c['requests']} "
        f"rerank or {c.get('embedding_requests', c['requests'])} embedding requests and "
        f"{c['seconds']} s.",
        "",
        f"Goals: errors {g['errors']} (goal 0), 503s {g['status_503']}; at 16 clients the "
        f"server's pairs/s over the model's own on the same batches: {ratios} (goal ≥ 0.90); "
        f"embeddings at 16 clients, batched over unbatched: {speedup} (goal ≥ 3x).",
        "",
        "| scenario | batching | clients | requests | errors | 503 | req/s | p50 ms | p95 ms | "
        "p99 ms | pairs or texts/s | req per model call | model busy | direct /s | server/direct |",
        "|:---|:---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for x in r["levels"]:
        lines.append(
            f"| {x['scenario']} | {'on' if x['batching'] else 'off'} | {x['clients']} | "
            f"{x['requests']} | {x['errors']} | {x['status_503']} | {x['requests_per_s']} | "
            f"{x['p50_ms']} | {x['p95_ms']} | {x['p99_ms']} | {x['items_per_s']} | "
            f"{x['requests_per_call']} | {x['model_busy_share']} | {x['direct_items_per_s']} | "
            f"{x['server_vs_direct']} |"
        )
    return "\n".join(lines) + "\n"


def main() -> None:
    from inference import machine

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dataset", default="scifact")
    parser.add_argument("--student", default=None, help="the student's folder")
    parser.add_argument("--clients", default="1,4,16,64")
    parser.add_argument("--requests", type=int, default=400, help="at most, per rerank level")
    parser.add_argument(
        "--embedding-requests", type=int, default=2000, help="at most, per embeddings level"
    )
    parser.add_argument("--scenarios", default=",".join(SCENARIOS), help="which, in order")
    parser.add_argument("--seconds", type=float, default=60.0, help="at most, per level")
    parser.add_argument("--candidates", type=int, default=30)
    parser.add_argument("--direct-requests", type=int, default=32, help="per direct measurement")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--quick", action="store_true", help="1 and 4 clients, 8 requests, 10 s")
    parser.add_argument("--out", default=None, help="default: benchmarks/results (quick: tmp)")
    args = parser.parse_args()
    if args.quick:
        args.clients, args.requests, args.seconds, args.direct_requests = "1,4", 8, 10.0, 8
        args.embedding_requests = 8
    args.clients = [int(c) for c in args.clients.split(",")]
    args.scenarios = args.scenarios.split(",")
    if unknown := set(args.scenarios) - set(SCENARIOS):
        parser.error(f"--scenarios: unknown {sorted(unknown)}; known: {', '.join(SCENARIOS)}")
    out = Path(args.out or (tempfile.mkdtemp(prefix="aptrank-serve-") if args.quick else RESULTS))
    out.mkdir(parents=True, exist_ok=True)
    for name, value in (("HF_HUB_OFFLINE", "1"), ("HF_HUB_DISABLE_PROGRESS_BARS", "1"),
                        ("TRANSFORMERS_VERBOSITY", "error")):  # fmt: skip
        os.environ.setdefault(name, value)
    student, found_by = find_student(args.student)
    pipelines = [f"ce:{student}{STUDENT_OPTIONS}", BI_ENCODER]
    work = workload(args.dataset, args.candidates)
    log(f"{len(work)} requests' worth of queries; student {student} ({found_by})")
    levels, command = run_mode(True, args, pipelines, work, out)
    unbatched, _ = run_mode(False, args, pipelines, work, out)
    levels += unbatched
    direct(levels, pipelines, work, args)
    import torch

    report = {
        "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "command": ["python", "benchmarks/serve.py", *sys.argv[1:]],
        "server_command": ["python", *command[1:]],
        "machine": {**machine(args.threads), "gpu": "none" if not torch.cuda.is_available()
                    else torch.cuda.get_device_name(0)},
        "versions": versions(),
        "config": {
            "dataset": args.dataset, "student": str(student), "student_found_by": found_by,
            "pipelines": pipelines, "bi_encoder": BI_ENCODER, "candidates": args.candidates,
            "clients": args.clients, "requests": args.requests, "seconds": args.seconds,
            "embedding_requests": args.embedding_requests, "scenarios": args.scenarios,
            "direct_requests": args.direct_requests, "quick": args.quick,
        },
        "levels": levels,
    }  # fmt: skip
    report["goals"] = goals(levels)
    (out / "serve.json").write_text(json.dumps(report, indent=2) + "\n")
    (out / "serve.md").write_text(to_markdown(report))
    print(to_markdown(report))
    log(f"saved {out / 'serve.json'}")


if __name__ == "__main__":
    main()
