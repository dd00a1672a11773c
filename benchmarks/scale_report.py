"""The cost model and the markdown of benchmarks/scale.py (helpers; run scale.py itself).

Per job, from the Ray run at one worker: ``t`` the median time a worker computes one batch; ``o``
Ray's overhead per batch (from the first actor ready to the last result, less the compute,
per batch: scheduling, serialisation, the object store, the hand-off to the driver); ``F`` the
fixed start-up of a job (until the first actor is ready: a process, its imports, the setup;
plus what its first batch took over a steady one: a model loaded on first use; starting Ray
itself is apart); ``d``
the driver's time per batch (writing it); ``B`` items per batch and ``bytes`` what a batch
moves. With N workers like the measured one and a network of ``bandwidth`` bytes/s:

    per batch on a worker   t + o + bytes / bandwidth
    throughput(N)           min(N * B / (t + o + bytes / bandwidth),   # the workers
                                B / d,                                  # the driver's writes
                                B * bandwidth / bytes)                  # the driver's network
    time(job of n batches)  F + ceil(n / N) * (t + o + bytes / bandwidth)
"""

from __future__ import annotations

import math
import statistics
from typing import Any

WORKERS = (1, 2, 8, 32)
BANDWIDTH = 125e6  #: bytes/s the driver's link carries (1 Gbit/s)


def max_label_diff(a: dict[str, dict[str, float]], b: dict[str, dict[str, float]]) -> float:
    """The largest label difference between two runs (inf when they label other pairs)."""
    keys_a = {(q, d) for q, docs in a.items() for d in docs}
    keys_b = {(q, d) for q, docs in b.items() for d in docs}
    if keys_a != keys_b:
        return float("inf")
    return max((abs(a[q][d] - b[q][d]) for q, d in keys_a), default=0.0)


def job_model(job: dict[str, Any], items: int, batch_bytes: float) -> dict[str, Any]:
    """The per-batch figures of one Ray job and what they predict for N workers."""
    n = max(1, job["batches"])
    width = max(1, job["workers"])
    t = statistics.median(job["batch_s"]) if job["batch_s"] else 0.0
    # F: the first actor ready (process, imports, setup), plus what its first batch took over a
    # steady one (a model loaded on first use)
    fixed = job["startup_s"] + max(0.0, job["batch_s"][0] - t if job["batch_s"] else 0.0)
    last = job["arrival_s"][-1] if job["arrival_s"] else job["wall_s"]
    if width == 1:  # one actor computes the batches in turn: the rest is overhead
        raw_overhead = (last - job["startup_s"] - job["compute_s"]) / n
    else:  # several actors: spread what is not start-up or a steady batch
        raw_overhead = (last - fixed) / math.ceil(n / width) - t
    o = max(0.0, raw_overhead)
    d = job["driver_s"] / n
    b = items / n
    per_batch = t + o + batch_bytes / BANDWIDTH
    limits = {
        "workers": lambda w: w * b / per_batch if per_batch else math.inf,
        "driver writes": lambda w: b / d if d else math.inf,
        "driver network": lambda w: b * BANDWIDTH / batch_bytes if batch_bytes else math.inf,
    }
    predictions = {}
    for w in WORKERS:
        rates = {name: f(w) for name, f in limits.items()}
        bound = min(rates, key=lambda k: rates[k])
        predictions[str(w)] = {
            "items_per_s": round(rates[bound], 2),
            "bound_by": bound,
            "this_job_s": round(fixed + math.ceil(n / w) * per_batch, 1),
            "busy_workers": min(w, n),
        }
    return {
        "items_per_batch": round(b, 1),
        "batch_compute_s": round(t, 4),
        "ray_overhead_per_batch_s": round(o, 4),
        "ray_overhead_per_batch_raw_s": round(raw_overhead, 4),
        "ray_overhead_per_batch_pct": round(100 * o / t, 2) if t else None,
        "job_fixed_s": round(fixed, 2),
        "actor_ready_s": round(job["startup_s"], 2),
        "driver_per_batch_s": round(d, 5),
        "bytes_per_batch": round(batch_bytes),
        "measured_workers": width,
        "measured_job_s": round(job["wall_s"], 1),
        "predicted": predictions,
    }


def cost_model(report: dict[str, Any], worker_cpus: float) -> dict[str, Any]:
    """The cost model of the encoding and labelling jobs (see the module doc)."""
    out: dict[str, Any] = {
        "assumptions": (
            f"every worker like the measured one ({worker_cpus:g} CPUs of this machine, "
            f"no GPU); the driver's link {BANDWIDTH * 8 / 1e9:g} Gbit/s; Ray started once "
            f"per session ({report['ray_init_s']:.1f} s here, not counted per job)"
        ),
        "formula": "throughput(N) = min(N*B/(t+o+bytes/bw), B/d, B*bw/bytes); "
        "time = F + ceil(n/N)*(t+o+bytes/bw)",
    }
    for name in ("encoding", "labelling"):
        ray = report[name]["ray"]
        out[name] = job_model(ray["job"], ray["items"], ray.get("bytes_per_batch", 0.0))
    return out


def to_markdown(r: dict[str, Any]) -> str:
    c, m = r["config"], r["machine"]
    lines = [
        f"# Scale-out: the Ray engine against the local one ({c['dataset']})",
        "",
        f"`{' '.join(r['command'])}` — {r['created']}; {m['cpu']}, {m['cpus_available']} CPUs, "
        f"GPU none; Ray {r['versions'].get('ray')}, torch {r['versions'].get('torch')}; "
        f"load average {r['load_average_start'][0]:.2f} at the start.",
        "",
        f"{c['docs']} documents, {c['queries']} test queries, {c['pairs']} pairs (BM25 top "
        f"{c['depth']}). Encoding: {c['model']}, chunks of {c['encode_chunk_docs']} documents. "
        f"Labelling: {c['teacher']}, batches of {c['label_batch_pairs']} pairs. Ray: "
        f"{c['ray_workers']} worker(s) of {c['ray_worker_cpus']:g} CPUs; the local engine runs "
        f"{c['torch_threads_local']} torch threads. Every run from a cold cache.",
        "",
        "| job | local s | Ray s | Ray overhead | every run (local s / Ray s) | max abs diff "
        "| same outputs |",
        "|:---|---:|---:|---:|:---|---:|:---|",
    ]
    for name in ("encoding", "labelling"):
        j = r[name]
        runs = "; ".join(
            f"{x['local_wall_s']:.1f} / {x['ray_wall_s']:.1f} ({x['ray_overhead']:+.1%}"
            f"{', Ray first' if x['ray_first'] else ''})"
            for x in j.get("repeats", [])
        )
        lines.append(
            f"| {name} | {j['local']['wall_s']:.1f} | {j['ray']['wall_s']:.1f} | "
            f"{j['ray_overhead']:+.1%} | {runs} | {j['max_abs_diff']:.1e} | "
            f"{'yes' if j['same_outputs'] else 'NO'} (tolerance {j['tolerance']:g}) |"
        )
    repeats = c.get("repeats", 1)
    if repeats > 1:
        lines += [
            "",
            f"Each job ran {repeats} times on each engine, alternating which engine went first; "
            "the row shows the pair with the median overhead (the cost model uses its Ray run).",
        ]
    lines += [
        "",
        f"Starting Ray on this machine took {r['ray_init_s']:.1f} s (once per session); with it, "
        f"Ray's overhead over both jobs is {r['ray_overhead_total']:+.1%} (goal: at most +15 %).",
        "",
        "## Cost model",
        "",
        r["cost_model"]["assumptions"] + ".",
        "",
        f"`{r['cost_model']['formula']}`",
        "",
        "| job | items/batch | t (s/batch) | Ray o (s/batch) | o/t | F: job start-up s "
        "| driver s/batch | bytes/batch |",
        "|:---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for name in ("encoding", "labelling"):
        j = r["cost_model"][name]
        lines.append(
            f"| {name} | {j['items_per_batch']} | {j['batch_compute_s']:.3f} | "
            f"{j['ray_overhead_per_batch_s']:.3f} | {j['ray_overhead_per_batch_pct']}% | "
            f"{j['job_fixed_s']:.1f} | {j['driver_per_batch_s']:.4f} | {j['bytes_per_batch']} |"
        )
    lines += ["", "| job | workers | items/s | bound by | this job, s (busy workers) |"]
    lines.append("|:---|---:|---:|:---|---:|")
    for name in ("encoding", "labelling"):
        for w, p in r["cost_model"][name]["predicted"].items():
            lines.append(
                f"| {name} | {w} | {p['items_per_s']:.1f} | {p['bound_by']} | "
                f"{p['this_job_s']:.0f} ({p['busy_workers']}) |"
            )
    if r.get("cluster"):
        lines += ["", *cluster_markdown(r["cluster"])]
    return "\n".join(lines) + "\n"


def cluster_markdown(k: dict[str, Any]) -> list[str]:
    lab, ev = k["labelling"], k["evaluate"]
    lines = [
        "## The cluster path (two nodes on loopback)",
        "",
        f"`ray start --head` and a second node joined with `ray start --address` "
        f"({k['nodes']} nodes, {k['cpus']:g} CPUs; one 1-CPU actor per node); jobs submitted "
        f"with `--ray-address {k['address']}`."
        + (
            f" (Measured {k['kept_from']['created']} by `{' '.join(k['kept_from']['command'])}`, "
            "kept from that run.)"
            if k.get("kept_from")
            else ""
        ),
        "",
        f"- Labelling: {lab['wall_s']:.1f} s; max abs diff to the local labels "
        f"{lab['max_abs_diff']:.1e} (same: {'yes' if lab['same_outputs'] else 'NO'}).",
        f"- `{' '.join(ev['command'])}`: local engine {ev['local_s']:.1f} s, cluster "
        f"{ev['ray_s']:.1f} s; metrics.json max abs diff {ev['metrics_max_abs_diff']:.1e}, "
        f"cached embeddings max abs diff {ev['embeddings_max_abs_diff']:.1e} "
        f"(same: {'yes' if ev['same_outputs'] else 'NO'}).",
    ]
    return lines
