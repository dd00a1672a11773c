"""One-off GPU job (second H200 lease, 2026-11-27): the student recipe on the dev slice, then a curve.

Stage 1 trains the MiniLM student at 200 synthetic queries with each recipe of RECIPES and scores
it on the dev slice only. Stage 2 takes the dev-best recipe and trains the curve points
(0, 50, 100, 200 and every usable synthetic query), each scored on dev and, once, on test.
Nothing is chosen on test. Training runs in fp32 (as on CPU), batch 16, max length 256: the CPU
recipe, on a GPU.

Env: APTRANK_DATA, APTRANK_CACHE (the carried teach cache: runs, synthetic queries, candidates and
the chosen teacher's synthetic labels). argv: OUT folder, MiniLM folder (fp16 weights, widened
here), [--dry]. The teacher itself is not on the machine: its id is fixed below (the labels it
wrote are carried).
"""

import json
import os
import sys
import time
from dataclasses import asdict, replace
from pathlib import Path

import aptrank.teach.synthetic as syn

# the generator is absent here; its queries are cached under the header's fingerprint
syn.resolve_llm = lambda name: name
syn.model_fingerprint = lambda _path: "SmolLM2-135M-Instruct.Q4_1.gguf@e015d3caa3f1"

from safetensors import safe_open  # noqa: E402
from safetensors.torch import load_file, save_file  # noqa: E402

from aptrank.teach.teachers.cross_encoder import (  # noqa: E402
    CrossEncoderTeacher,
    CrossEncoderTeacherConfig,
)
from aptrank.teach.workflow import (  # noqa: E402
    TeachConfig,
    TeachContext,
    TeacherTraining,
    label,
    ndcg10,
    stored_run,
    synthetic_candidates,
    synthetic_queries,
)
from aptrank.train.distill import DistillConfig, synthetic_order, train_student  # noqa: E402

SPEC = (
    "ensemble(trained:all-mpnet-base-v2,ranker:bm25,ranker:dense,"
    "ranker:dense:all-mpnet-base-v2[max_length=256])"
)
TID = "ensemble:31ad750ddcdf"
RECIPES = [
    ("default", {}),
    ("epochs2", {"epochs": 2.0}),
    ("epochs3", {"epochs": 3.0}),
    ("per_query12", {"per_query": 12}),
    ("per_query12_epochs2", {"per_query": 12, "epochs": 2.0}),
    ("lr3e-5_epochs2", {"learning_rate": 3e-5, "epochs": 2.0}),
    ("human_negatives6", {"human_negatives": 6}),
    ("pairing_random", {"pairing": "random"}),
    ("epochs4", {"epochs": 4.0}),
    ("per_query12_epochs3", {"per_query": 12, "epochs": 3.0}),
]
SWEEP_BUDGET_S, CURVE_BUDGET_S = 150, 330

out = Path(sys.argv[1])
dry = "--dry" in sys.argv
t0 = time.time()

src = Path(sys.argv[2])
minilm = Path("/tmp/minilm32")
minilm.mkdir(exist_ok=True)
for f in src.rglob("*"):
    if f.is_file() and f.name != "model.safetensors":
        (minilm / f.relative_to(src)).parent.mkdir(parents=True, exist_ok=True)
        (minilm / f.relative_to(src)).write_bytes(f.read_bytes())
with safe_open(str(src / "model.safetensors"), "pt") as fh:
    meta = fh.metadata()
weights = load_file(src / "model.safetensors")
save_file(
    {k: (v.float() if v.is_floating_point() else v).contiguous() for k, v in weights.items()},
    minilm / "model.safetensors",
    metadata=meta,
)

teach = TeachConfig(
    dataset="scifact",
    teacher=SPEC,
    dev_size=100,
    seed=0,
    depth=30,
    max_length=256,
    batch_size=16,
    synthetic_docs=800,
    training=TeacherTraining(max_length=256),
    label_eval=False,
)
extra = {"precision": "fp32", **({"max_steps": 2} if dry else {})}
base = DistillConfig(teach=teach, student=str(minilm), save_steps=100_000, extra=extra)
ctx = TeachContext(teach)
synthetic = synthetic_queries(ctx)
candidates = synthetic_candidates(ctx, synthetic)
usable = [q for q in synthetic_order(list(synthetic), 0) if candidates.get(q)]
log: dict = {
    "device": os.environ.get("APTRANK_DEVICE", "auto"),
    "teacher": {"spec": SPEC, "id": TID},
    "base": base.to_dict(),
    "usable_synthetic": len(usable),
    "recipes": [],
    "curve": [],
}


def save() -> None:
    log["elapsed_s"] = round(time.time() - t0, 1)
    (out / "students_sweep.json").write_text(json.dumps(log, indent=1, default=str))


def score(folder: Path, which: str) -> dict:
    scorer = CrossEncoderTeacher(
        CrossEncoderTeacherConfig(str(folder), max_length=256, batch_size=256)
    )
    pairs = ctx.pairs(ctx.first_stage(which), ctx.queries(which))
    pairs = pairs[:64] if dry else pairs
    start = time.time()
    label(ctx, scorer, pairs, f"{folder.name} {which}")
    value = ndcg10(ctx.qrels(which), stored_run(ctx.store, scorer, pairs))
    return {"ndcg@10": round(value, 4), "pairs": len(pairs), "seconds": round(time.time() - start, 1)}


def fit(config: DistillConfig, size: int) -> tuple[Path, dict]:
    start = time.time()
    folder, sizes = train_student(ctx, config, TID, synthetic, candidates, size)
    record = json.loads((folder / "aptrank_train.json").read_text())
    losses = record.get("loss_history", [])
    sizes["seconds"] = round(time.time() - start, 1)
    sizes["global_step"] = record.get("global_step")
    sizes["loss_first_last"] = [losses[:2], losses[-2:]]
    sizes["device"] = record.get("device")
    sizes["precision"] = record.get("precision")
    return folder, sizes


recipes = RECIPES[:2] if dry else RECIPES
for name, change in recipes:
    if time.time() - t0 > SWEEP_BUDGET_S:
        log["recipes"].append({"name": name, "skipped": "sweep time budget"})
        continue
    config = replace(base, **change)
    folder, sizes = fit(config, 200)
    entry = {"name": name, "change": change, "size": 200, "train": sizes, "dev": score(folder, "dev")}
    log["recipes"].append(entry)
    print(json.dumps(entry, default=str), flush=True)
    save()

done = [r for r in log["recipes"] if "dev" in r]
best = max(done, key=lambda r: (r["dev"]["ndcg@10"], -len(r["change"])))
log["chosen"] = {"name": best["name"], "change": best["change"], "by": "dev ndcg@10 at size 200"}
save()
chosen = replace(base, **best["change"])
for size in ([0, 200] if dry else [0, 50, 100, 200, len(usable)]):
    if time.time() - t0 > CURVE_BUDGET_S:
        log["curve"].append({"size": size, "skipped": "curve time budget"})
        continue
    folder, sizes = fit(chosen, size)
    entry = {"size": size, "train": sizes, "dev": score(folder, "dev"), "test": score(folder, "test")}
    log["curve"].append(entry)
    print(json.dumps(entry, default=str), flush=True)
    save()
ctx.close()
save()
print("done", round(time.time() - t0, 1), flush=True)
