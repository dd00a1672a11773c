"""Alignment on a dataset without a training split (NegConstraint): the default ``aptrank run``
aligns by k folds over the judged queries; every candidate's figure is k-fold out-of-fold.

    python benchmarks/align_kfold.py [--dataset negconstraint] [--out DIR]
    python benchmarks/align_kfold.py --reuse --minutes M --out DIR   # a run already made

Writes ``benchmarks/results/align-kfold.json`` and ``align-kfold.md``: NDCG@10, recall@100 and
constraint-pair accuracy of BM25, the pretrained model and every aligned candidate, out of fold.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

RESULTS = Path(__file__).parent / "results"
sys.path.insert(0, str(Path(__file__).parent))


def main() -> None:
    from inference import stamp

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dataset", default="negconstraint")
    parser.add_argument("--out", type=Path, default=Path("/tmp/aptrank-kfold-run"))
    parser.add_argument("--reuse", action="store_true")
    parser.add_argument("--minutes", type=float, default=None, help="with --reuse: as measured")
    parser.add_argument("--note", default="", help="with --reuse: how the run was made")
    args = parser.parse_args()
    minutes = args.minutes
    if not args.reuse:
        start = time.perf_counter()
        command = [sys.executable, "-m", "aptrank", "run", args.dataset, "--out", str(args.out)]
        proc = subprocess.run([*command, "--no-progress"], capture_output=True, text=True)
        if proc.returncode != 0:
            raise SystemExit(f"aptrank run failed:\n{proc.stderr[-3000:]}")
        minutes = (time.perf_counter() - start) / 60
    align = json.loads((args.out / "align.json").read_text())
    best = align["selected"]["candidate"]
    baseline = max(("bm25", "pretrained"), key=lambda k: align["test"][k]["ndcg@10"])
    report: dict[str, Any] = {
        "headline": {
            "dataset": args.dataset,
            "mode": align["mode"],
            "folds": align["folds"],
            "aligned": {"candidate": best, **align["test"][best]},
            "best_pretrained": {"ranker": baseline, **align["test"][baseline]},
            "beats_best_pretrained": align["test"][best]["ndcg@10"]
            > align["test"][baseline]["ndcg@10"],
            "minutes": round(minutes, 1) if minutes is not None else None,
            "note": args.note,
        },
        "align": align,
        "run_command": f"aptrank run {args.dataset} --out {args.out}",
        **stamp(),
    }
    (RESULTS / "align-kfold.json").write_text(json.dumps(report, indent=2) + "\n")
    (RESULTS / "align-kfold.md").write_text(to_markdown(report))
    print(f"written {RESULTS / 'align-kfold.json'}")


def to_markdown(r: dict[str, Any]) -> str:
    h, a = r["headline"], r["align"]
    lines = [
        f"# Alignment without a training split ({h['dataset']}, "
        f"{r['machine']['cpus_available']} CPUs, no GPU, {r['created']})",
        "",
        f"`{r['run_command']}` (default profile): {h['minutes']} minutes. Every figure is "
        f"{h['mode']} ({h['folds']} folds): each query scored only by models trained without "
        f"it. Kept: `{h['aligned']['candidate']}` ({a['selected']['by']}), refitted on all "
        "judged queries as models/aligned.",
        "",
        "| ranker | NDCG@10 | recall@100 | constraint-pair accuracy |",
        "|:---|---:|---:|---:|",
    ]
    for name, t in a["test"].items():
        acc = t.get("constraint_pair_accuracy")
        lines.append(
            f"| {name} | {t['ndcg@10']:.4f} | {t['recall@100']:.4f} | "
            f"{'' if acc is None else f'{acc:.3f}'} |"
        )
    lines += [
        "",
        f"Aligned beats the best pretrained baseline ({h['best_pretrained']['ranker']}): "
        f"{'yes' if h['beats_best_pretrained'] else 'no'}. Seconds: {a['seconds']}.",
        "",
    ]
    if h.get("note"):
        lines += [h["note"], ""]
    return "\n".join(lines)


if __name__ == "__main__":
    main()
