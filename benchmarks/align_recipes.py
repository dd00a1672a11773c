"""Alignment recipes beyond the default run: the align step with other fine-tuning settings
(e.g. more epochs), every candidate on the dev slice and on test (all and unseen queries).

    python benchmarks/align_recipes.py --epochs 3 [--max-length 128] [--lr 2e-5]
        [--dataset scifact] [--no-adapter] [--out runs/align-recipes/NAME]

Appends one entry per recipe to ``benchmarks/results/align-recipes.json`` (and rewrites
``align-recipes.md``). The dev slice is what a recipe would be chosen on; test is reported.
The models are kept under ``--out`` (default ``runs/align-recipes/<recipe name>``, ignored by
git), so each entry's pipelines point at folders that exist; ``--out ''`` uses a temporary
folder and keeps nothing.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

RESULTS = Path(__file__).parent / "results"
sys.path.insert(0, str(Path(__file__).parent))


def main() -> None:
    from inference import stamp

    from aptrank.train.align import AlignConfig, align

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dataset", default="scifact")
    parser.add_argument("--epochs", type=float, default=3.0)
    parser.add_argument("--max-length", type=int, default=None)
    parser.add_argument("--lr", type=float, default=None)
    parser.add_argument("--batch-size", type=int, default=None)
    parser.add_argument("--loss", default=None, help="mnrl, cached-mnrl (large batches)")
    parser.add_argument("--base", default="all-MiniLM-L6-v2", help="the encoder aligned")
    parser.add_argument("--results", default="align-recipes", help="results file stem")
    parser.add_argument("--no-adapter", action="store_true")
    parser.add_argument("--out", default=None, help="where the models are kept ('' keeps nothing)")
    parser.add_argument(
        "--adapter-select",
        choices=("guarded", "dev"),
        default="guarded",
        help="the adapter's dev rule (guarded: keep the unseen dev queries; dev: dev-best)",
    )
    args = parser.parse_args()
    recipe: dict[str, Any] = {"epochs": args.epochs}
    if args.max_length is not None:
        recipe["max_length"] = args.max_length
    if args.lr is not None:
        recipe["learning_rate"] = args.lr
    if args.batch_size is not None:
        recipe["batch_size"] = args.batch_size
    if args.loss is not None:
        recipe["loss"] = args.loss
    config = AlignConfig(
        args.dataset,
        base=args.base,
        adapter=not args.no_adapter,
        finetune_options=recipe,
        adapter_options={"select": args.adapter_select},
    )
    name = ",".join(
        f"{k}={v:g}" if not isinstance(v, str) else f"{k}={v}" for k, v in recipe.items()
    )
    name += "" if args.base == "all-MiniLM-L6-v2" else f",base={args.base}"
    name += "" if args.adapter_select == "guarded" else f",adapter_select={args.adapter_select}"
    start = time.perf_counter()
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) if args.out == "" else Path(args.out or f"runs/align-recipes/{name}")
        result = align(config, out / "models", say=print)
    entry = {
        "recipe": recipe,
        "adapter": not args.no_adapter,
        "adapter_select": args.adapter_select,
        "models": None if args.out == "" else str((out / "models").resolve()),
        "selected": result["selected"],
        "dev_ndcg@10": result["dev_ndcg@10"],
        "dev_unseen": result["dev_unseen"],
        "test": result["test"],
        "unseen": result["unseen"],
        "seconds": result["seconds"],
        "wall_minutes": round((time.perf_counter() - start) / 60, 1),
        "load_average_at_end": [round(x, 2) for x in os.getloadavg()],
        **stamp(gpu=gpu()),
    }
    path = RESULTS / f"{args.results}.json"
    data = (
        json.loads(path.read_text()) if path.exists() else {"dataset": args.dataset, "recipes": {}}
    )
    data["recipes"][name] = entry
    path.write_text(json.dumps(data, indent=2) + "\n")
    (RESULTS / f"{args.results}.md").write_text(to_markdown(data))
    print(f"written {path}")


def gpu() -> str | None:
    """The CUDA device's name, or None (a CPU run)."""
    import torch

    return torch.cuda.get_device_name(0) if torch.cuda.is_available() else None


def to_markdown(data: dict[str, Any]) -> str:
    lines = [f"# Alignment recipes ({data['dataset']}; each entry names its machine)", ""]
    for name, e in data["recipes"].items():
        lines += [
            f"## {name} ({e['created']}; {e['machine'].get('cpus_available')} CPUs, GPU "
            f"{e['machine'].get('gpu') or 'none'}; align {e['seconds']['total']:.0f} s, "
            f"fine-tuning {e['seconds'].get('finetune', 0):.0f} s)",
            "",
            f"Kept: `{e['selected']['candidate']}` ({e['selected']['guard']}).",
            "",
            "| ranker | dev | dev unseen | test | test unseen |",
            "|:---|---:|---:|---:|---:|",
        ]
        for k, t in e["test"].items():
            d = e["dev_ndcg@10"].get(k)
            du = e["dev_unseen"]["ndcg@10"].get(k)
            lines.append(
                f"| {k} | {'' if d is None else f'{d:.4f}'} | {'' if du is None else f'{du:.4f}'} "
                f"| {t['ndcg@10']:.4f} | {e['unseen']['ndcg@10'][k]:.4f} |"
            )
        lines.append("")
    return "\n".join(lines)


if __name__ == "__main__":
    main()
