"""Inference backends for the encoder protocols, and ``backend=auto``: the fastest backend that
keeps to a fidelity bound, measured once per model and machine.

Backends: ``torch`` (sentence-transformers, fp32: the reference), ``onnx`` / ``onnx-int8``
(ONNX Runtime fp32 / dynamic int8, :mod:`aptrank.rankers.onnx`) and ``openvino`` /
``openvino-bf16`` (OpenVINO fp32 / bfloat16, :mod:`aptrank.rankers.openvino_backend`).

``auto`` loads every candidate whose runtime is installed on the fixed probe texts of
:mod:`aptrank.rankers.probe` and measures

* **fidelity** against torch fp32: for a bi-encoder the mean cosine between the candidate's
  embeddings and torch's; for a cross-encoder the mean over probe queries of the Kendall tau
  between the candidate's scores of the query's passages and torch's;
* **speed**: the same probe batch (length-sorted and padded alike, one batch) run by every
  candidate in turn for several rounds after a warm-up, so that other processes on the machine
  slow them alike; a candidate's speed is its best round.

The choice is the fastest candidate within the bound (:class:`AutoSettings`) that is also at
least ``min_speedup`` times torch's speed; otherwise torch. It is written to
``cache_dir("backends")/<key>.json`` with every measurement, keyed by the model's content
fingerprint, kind, max_length, the CPU (model name, SIMD flags, cores), the thread count, the
runtime versions, the probe and the settings, so a machine measures a model once and another
machine (or an upgraded runtime) measures again. The bounds were calibrated on SciFact against
NDCG@10 (``benchmarks/results/backends.md``).
"""

from __future__ import annotations

import json
import logging
import os
import time
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import numpy as np

from aptrank.errors import AptrankError, MissingDependencyError
from aptrank.paths import cache_dir
from aptrank.rankers import probe
from aptrank.rankers.cache import key, model_fingerprint, write_atomic
from aptrank.rankers.models import resolve_model

logger = logging.getLogger(__name__)

CONCRETE = ("torch", "onnx", "onnx-int8", "openvino", "openvino-bf16")
BACKENDS = (*CONCRETE, "auto")
KINDS = ("encoder", "pair")
FORMAT_VERSION = 1
_SIMD = ("avx2", "avx512f", "avx512_vnni", "avx_vnni", "avx512_bf16", "amx_bf16", "amx_int8")
_RUNTIMES = ("torch", "onnxruntime", "openvino")


def check_backend(backend: str) -> None:
    """Raise a one-line error naming the backends when ``backend`` is not one of them."""
    if backend not in BACKENDS:
        raise AptrankError(f"unknown backend {backend!r}; choose one of {', '.join(BACKENDS)}")


def build(model: str, kind: str, backend: str, max_length: int | None = None) -> Any:
    """The encoder (``kind="encoder"``) or pair scorer (``"pair"``) of ``model`` on a concrete
    ``backend``."""
    from aptrank.rankers import encoders

    check_backend(backend)
    if kind not in KINDS:
        raise AptrankError(f"unknown model kind {kind!r}; choose encoder or pair")
    if backend == "auto":
        raise AptrankError("build() takes a concrete backend; resolve 'auto' first")
    if backend == "torch":
        if kind == "encoder":
            return encoders.TorchEncoder(model, max_length)
        return encoders.TorchPairScorer(model, max_length)
    if backend.startswith("onnx"):
        from aptrank.rankers import onnx as ox

        cls: Any = ox.OnnxEncoder if kind == "encoder" else ox.OnnxPairScorer
        return cls(model, quantize=backend == "onnx-int8", max_length=max_length)
    from aptrank.rankers import openvino_backend as ovb

    cls = ovb.OpenVinoEncoder if kind == "encoder" else ovb.OpenVinoPairScorer
    return cls(model, bf16=backend == "openvino-bf16", max_length=max_length)


@dataclass(frozen=True)
class AutoSettings:
    """What ``backend=auto`` weighs (part of the cache key)."""

    candidates: tuple[str, ...] = CONCRETE
    #: bi-encoders: least mean cosine to torch fp32's embeddings of the probe texts
    min_cosine: float = 0.999
    #: cross-encoders: least mean per-query Kendall tau to torch fp32's probe scores
    min_tau: float = 0.95
    #: a candidate must beat torch's speed by this factor to be chosen over it
    min_speedup: float = 1.1
    rounds: int = 3  #: timed rounds after the warm-up (each runs every candidate once)


AUTO = AutoSettings()


@dataclass(frozen=True)
class Choice:
    """A measured ``auto`` choice: the backend and what it was chosen on."""

    backend: str
    model: str
    kind: str
    max_length: int | None
    #: per candidate: items/s (best round), speed-up over torch, fidelity, within the bound,
    #: or the reason it could not run
    measurements: dict[str, dict[str, Any]]
    settings: dict[str, Any]
    machine: dict[str, Any]
    created: str
    load_average: float | None = None  #: the 1-minute load average after the timing
    path: str = field(default="", compare=False)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def machine() -> dict[str, Any]:
    """What makes a speed measurement transferable: CPU model, SIMD flags, cores, threads and
    runtime versions."""
    from aptrank.rankers.onnx import _versions, physical_cores

    name, flags = "unknown", set[str]()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name") and name == "unknown":
                name = line.split(":", 1)[1].strip()
            elif line.startswith("flags") and not flags:
                flags = set(line.split(":", 1)[1].split())
    except OSError:
        pass
    return {
        "cpu": name,
        "simd": [f for f in _SIMD if f in flags],
        "physical_cores": physical_cores(),
        "torch_threads": _torch_threads(),
        "versions": _versions(_RUNTIMES),
    }


def _torch_threads() -> int | None:
    try:
        import torch
    except ImportError:
        return None
    return int(torch.get_num_threads())


def resolve(model: str, kind: str, backend: str, max_length: int | None = None) -> str:
    """``backend`` itself, or for ``auto`` the measured choice (measured now if not cached)."""
    check_backend(backend)
    return choose(model, kind, max_length).backend if backend == "auto" else backend


def choice_path(
    model: str, kind: str, max_length: int | None, settings: AutoSettings = AUTO
) -> Path:
    """Where the choice for ``model`` on this machine is (or will be) cached."""
    fingerprint = model_fingerprint(resolve_model(model))
    parts = (FORMAT_VERSION, probe.PROBE_VERSION, kind, fingerprint, max_length)
    return cache_dir("backends") / f"{key(*parts, machine(), asdict(settings))}.json"


def choose(
    model: str, kind: str, max_length: int | None = None, settings: AutoSettings = AUTO
) -> Choice:
    """The cached choice for ``model``, measuring it first if this machine has none."""
    if kind not in KINDS:
        raise AptrankError(f"unknown model kind {kind!r}; choose encoder or pair")
    for name in settings.candidates:
        if name == "auto":
            raise AptrankError("'auto' cannot be its own candidate")
        check_backend(name)
    path = choice_path(model, kind, max_length, settings)
    if path.exists():
        try:
            return Choice(**json.loads(path.read_text()), path=str(path))
        except (ValueError, TypeError):
            logger.warning("ignoring an unreadable backend choice %s", path)
    measured = measure(model, kind, max_length, settings).to_dict()
    del measured["path"]
    text = json.dumps(measured, indent=1)
    write_atomic(path, text)
    logger.info(
        "backend=auto for %s (%s): %s (cached in %s)", model, kind, measured["backend"], path
    )
    return Choice(**json.loads(text), path=str(path))  # as a later read will give it


def measure(
    model: str, kind: str, max_length: int | None = None, settings: AutoSettings = AUTO
) -> Choice:
    """Measure every candidate on the probe and choose (not cached: see :func:`choose`)."""
    logger.info("backend=auto: measuring %s for %s (%s)", settings.candidates, model, kind)
    reference = build(model, kind, "torch", max_length)
    loaded: dict[str, Any] = {"torch": reference}
    out: dict[str, dict[str, Any]] = {}
    for name in settings.candidates:
        if name == "torch":
            continue
        try:
            loaded[name] = build(model, kind, name, max_length)
        except MissingDependencyError as e:
            out[name] = {"unavailable": str(e)}
        except AptrankError as e:  # an architecture a runtime cannot take: not a candidate
            out[name] = {"failed": str(e)}
    agreement = _fidelity(loaded, kind)
    speeds, load = _speeds(loaded, kind, settings.rounds)
    for name in loaded:
        fidelity = agreement[name]
        bound = settings.min_cosine if kind == "encoder" else settings.min_tau
        out[name] = {
            "items_per_s": round(speeds[name], 2),
            "speedup": round(speeds[name] / speeds["torch"], 3),
            **fidelity,
            "within_bound": fidelity["fidelity"] >= bound,
        }
    chosen = "torch"
    for name, m in out.items():
        fast = m.get("speedup", 0) >= settings.min_speedup
        if m.get("within_bound") and fast and m["items_per_s"] > out[chosen]["items_per_s"]:
            chosen = name
    return Choice(
        backend=chosen,
        model=model,
        kind=kind,
        max_length=max_length,
        measurements={n: out[n] for n in [*loaded, *(n for n in out if n not in loaded)]},
        settings=asdict(settings),
        machine=machine(),
        created=datetime.now(timezone.utc).isoformat(timespec="seconds"),
        load_average=load,
    )


def _run(model: Any, kind: str, items: list[Any]) -> np.ndarray:
    if kind == "encoder":
        return np.asarray(model.encode(items, batch_size=len(items)), dtype=np.float32)
    return np.asarray(model.score(items, batch_size=len(items)), dtype=np.float32)


def _fidelity(loaded: dict[str, Any], kind: str) -> dict[str, dict[str, float]]:
    """Agreement of every loaded backend with torch on the probe."""
    from scipy.stats import kendalltau

    if kind == "encoder":
        texts = [*probe.documents(), *probe.QUERIES]
        ref = _run(loaded["torch"], kind, texts)
        out = {}
        for name, m in loaded.items():
            cos = (_run(m, kind, texts) * ref).sum(axis=1)
            out[name] = {"fidelity": round(float(cos.mean()), 6), "cosine_min": float(cos.min())}
        return out
    pairs = probe.pairs()
    ref = _run(loaded["torch"], kind, pairs).reshape(len(probe.QUERIES), -1)
    out = {}
    for name, m in loaded.items():
        got = _run(m, kind, pairs).reshape(ref.shape)
        taus = [kendalltau(a, b).statistic for a, b in zip(ref, got)]
        out[name] = {
            "fidelity": round(float(np.nan_to_num(np.mean(taus))), 4),
            "max_abs_diff": float(np.abs(got - ref).max()),
        }
    return out


def _speeds(
    loaded: dict[str, Any], kind: str, rounds: int
) -> tuple[dict[str, float], float | None]:
    """Items/s per backend on one probe batch: a warm-up, then ``rounds`` interleaved rounds
    (the order rotating), the best round kept."""
    docs = probe.documents()
    items: list[Any] = (
        docs if kind == "encoder" else [(probe.QUERIES[i % 8], d) for i, d in enumerate(docs)]
    )
    names = list(loaded)
    best = dict.fromkeys(names, float("inf"))
    for r in range(rounds + 1):
        for name in names[r % len(names) :] + names[: r % len(names)]:
            start = time.perf_counter()
            _run(loaded[name], kind, items)
            if r:  # round 0 warms every backend up
                best[name] = min(best[name], time.perf_counter() - start)
    load = round(os.getloadavg()[0], 2) if hasattr(os, "getloadavg") else None
    return {name: len(items) / seconds for name, seconds in best.items()}, load
