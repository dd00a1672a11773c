"""One-off GPU job: train the trained:all-mpnet-base-v2 teacher and label dev/test/synthetic pairs.

Env: APTRANK_DATA, APTRANK_CACHE, APTRANK_DEVICE set by the caller; argv[1] = output folder.
"""

import hashlib
import json
import os
import subprocess
import sys
import time
from dataclasses import asdict
from pathlib import Path

import torch
from safetensors import safe_open
from safetensors.torch import load_file, save_file

from aptrank.rankers.cache import key
from aptrank.teach.workflow import TeachConfig, TeachContext, TeacherTraining, teach, train_teacher

out = Path(sys.argv[1])
dry = "--dry" in sys.argv
cache = Path(os.environ["APTRANK_CACHE"])


def sha(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 24), b""):
            h.update(chunk)
    return h.hexdigest()


def widen(tensors):
    return {k: (v.float() if v.is_floating_point() else v).contiguous() for k, v in tensors.items()}


def narrow(tensors):
    return {k: (v.half() if v.is_floating_point() else v).contiguous() for k, v in tensors.items()}


log = {"started": time.time()}
backbone = cache / "models" / "all-mpnet-base-v2" / "model.safetensors"
if not dry and not backbone.exists():
    parts = [Path(".gpu") / w / p for w, p in (("w1", "p0"), ("w2", "p1"), ("w3", "p2"), ("w4", "p3"))]
    joined = Path("/tmp/mp16.safetensors")
    with open(joined, "wb") as f:
        for p in parts:
            f.write(p.read_bytes())
    log["mp16_sha"] = sha(joined)
    save_file(widen(load_file(joined)), backbone, metadata={"format": "pt"})

config = TeachConfig(
    dataset="scifact",
    teacher="trained:all-mpnet-base-v2",
    dev_size=100,
    seed=0,
    depth=30,
    max_length=256,
    batch_size=16,
    synthetic_docs=800,
    training=TeacherTraining(max_length=256),
    export=str(out / "labels.jsonl"),
)
ctx = TeachContext(config)
from aptrank.train.cross_encoder import CrossEncoderTrainConfig

t = config.training
tc = CrossEncoderTrainConfig(
    backbone="all-mpnet-base-v2",
    max_length=t.max_length,
    epochs=t.epochs,
    batch_size=t.batch_size,
    learning_rate=t.learning_rate,
    seed=config.seed,
    save_steps=t.save_steps,
)
log["folder_key"] = key(asdict(tc), t.negatives, "ranked", sorted(ctx.queries("fit")), "bm25")
print("teacher folder key", log["folder_key"], flush=True)
if dry:
    sys.exit(0)
start = time.time()
folder = train_teacher("all-mpnet-base-v2", ctx)
log["train_seconds"] = round(time.time() - start, 1)
ctx.close()
model = folder / "model.safetensors"
with safe_open(str(model), "pt") as f:
    meta = f.metadata()
log["model_metadata"] = meta
transport = Path("/tmp/teacher16.safetensors")
weights = narrow(load_file(model))
save_file(weights, transport, metadata=meta)
save_file(widen(weights), model, metadata=meta)  # the canonical teacher: fp16-rounded, as fp32
log["canonical_sha"] = sha(model)
log["transport_sha"] = sha(transport)
log["folder"] = str(folder)
start = time.time()
summary = teach(config)
log["teach_seconds"] = round(time.time() - start, 1)
log["summary"] = summary
(out / "gpu_log.json").write_text(json.dumps(log, indent=1, default=str))
# the teacher folder, with the fp16 transport weights instead of the fp32 ones, in 15 MiB parts
ret = Path("/tmp/ret")
ret.mkdir(parents=True, exist_ok=True)
subprocess.run(
    f"cd {folder} && tar cf /tmp/teacher.tar --exclude=model.safetensors . "
    f"&& cp {transport} /tmp/model16.safetensors && tar rf /tmp/teacher.tar -C /tmp model16.safetensors "
    f"&& split -b 15M -d -a 2 /tmp/teacher.tar {ret}/t",
    shell=True,
    check=True,
)
names = sorted(os.listdir(ret))
print("parts", names, flush=True)
for n in names[:3]:
    os.rename(ret / n, out / n)
print(json.dumps({k: v for k, v in log.items() if k != "summary"}, default=str), flush=True)
print(json.dumps(summary["teacher"], default=str)[:3000], flush=True)
