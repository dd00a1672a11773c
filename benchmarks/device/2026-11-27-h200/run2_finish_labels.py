import hashlib, json, os, subprocess, sys, time
from pathlib import Path
import aptrank.teach.synthetic as syn
MODEL = sys.argv[2]
syn.model_fingerprint = lambda _path: MODEL  # the generator (SmolLM2) is not on this machine; its queries are cached
from aptrank.teach.workflow import TeachConfig, TeacherTraining, teach

out = Path(sys.argv[1])
def sha(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 24), b""):
            h.update(chunk)
    return h.hexdigest()
config = TeachConfig(dataset="scifact", teacher="trained:all-mpnet-base-v2", dev_size=100, seed=0, depth=30,
    max_length=256, batch_size=16, synthetic_docs=800, training=TeacherTraining(max_length=256),
    export=str(out / "labels.jsonl"))
start = time.time()
summary = teach(config)
folder = Path(os.environ["APTRANK_CACHE"]) / "teach/scifact-feb2fceaa4368c5a/teachers/168a703cf6fca391"
log = {"teach_seconds": round(time.time() - start, 1), "summary": summary,
       "canonical_sha": sha(folder / "model.safetensors"), "transport_sha": sha("/tmp/teacher16.safetensors"),
       "files": sorted(str(p.relative_to(folder)) for p in folder.rglob("*"))}
(out / "gpu_log.json").write_text(json.dumps(log, indent=1, default=str))
ret = Path("/tmp/ret"); ret.mkdir(parents=True, exist_ok=True)
subprocess.run(f"cd {folder} && tar cf /tmp/teacher.tar --exclude=model.safetensors . && cp /tmp/teacher16.safetensors /tmp/model16.safetensors && tar rf /tmp/teacher.tar -C /tmp model16.safetensors && split -b 15M -d -a 2 /tmp/teacher.tar {ret}/t", shell=True, check=True)
names = sorted(os.listdir(ret)); print("parts", names, flush=True)
for n in names[:3]:
    os.rename(ret / n, out / n)
print(json.dumps({k: v for k, v in log.items() if k != "summary"}, default=str), flush=True)
print(json.dumps(summary["teacher"], default=str)[:2500], flush=True)
print(json.dumps(summary["synthetic"], default=str), flush=True)
