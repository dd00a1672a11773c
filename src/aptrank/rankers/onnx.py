"""ONNX Runtime backends (``onnx``: fp32, ``onnx-int8``: dynamic int8) for the encoder protocols.

Each model is exported once, with the weights the torch backend uses, into
``cache_dir("onnx", <key>)``: ``model.onnx``, the fast ``tokenizer.json`` and ``meta.json``
(pooling, default max_length, input names, activation). The key hashes the model folder's files
(names, sizes, mtimes), the export settings, :data:`FORMAT_VERSION` and the versions of the
packages that shape the graph; a folder is written beside its final name and renamed when
complete, so an interrupted export is never reused. Loading a cached model needs only
``onnxruntime`` and ``tokenizers``.

The export (``torch.onnx.export(..., dynamo=False)``, eager attention, dynamic batch and sequence
axes) is checked against torch on a padded batch, then optimised with ONNX Runtime's BERT fusions
(attention, embedding/skip LayerNorm, bias-GELU) where the architecture allows, and checked again.
``onnx-int8`` quantizes the optimised graph's weight matrices with
``onnxruntime.quantization.quantize_dynamic`` using :data:`INT8` (see
``benchmarks/results/inference.md`` for the measured speed and fidelity). Its activations are
quantized with one scale per tensor, computed per batch, so an item's int8 output moves slightly
(~1e-3) with the other items of its batch; fp32 outputs do not depend on the batch.

Inputs are tokenized once per chunk, sorted by token count (:func:`length_order`) and padded per
batch to that batch's longest item; outputs come back in input order.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import time
import warnings
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from importlib import metadata
from pathlib import Path
from typing import Any

import numpy as np

from aptrank.errors import AptrankError, MissingDependencyError, ModelNotFoundError
from aptrank.paths import cache_dir
from aptrank.rankers.cache import atomic_folder, key, model_fingerprint
from aptrank.rankers.encoders import length_order
from aptrank.rankers.models import resolve_model

logger = logging.getLogger(__name__)

FORMAT_VERSION = 1
OPSET = 17
CHUNK = 16384  # texts tokenized (and length-sorted) at a time: bounds memory on big corpora
# Architectures whose exports ONNX Runtime's "bert" optimizer fuses (attention, LayerNorm, GELU).
FUSABLE = frozenset({"bert", "roberta", "xlm-roberta", "camembert", "distilbert", "electra"})
POOLING_MODES = ("cls", "max", "mean", "mean_sqrt_len_tokens", "lasttoken")
_VERSIONED = ("torch", "transformers", "sentence-transformers", "onnx", "onnxruntime")


@dataclass(frozen=True)
class Int8Settings:
    """How ``onnx-int8`` quantizes: ``quantize_dynamic`` options (weights int8, activations
    quantized per batch at run time)."""

    weight_type: str = "qint8"  # "qint8" (signed) or "quint8"
    per_channel: bool = True  # one scale per output column: much closer to fp32 than per-tensor
    reduce_range: bool = False  # 7-bit weights (avoids u8s8 saturation on pre-VNNI CPUs)
    op_types: tuple[str, ...] = ("MatMul", "Attention")  # leaves the embedding table in fp32
    # Encoder layers whose dense MatMuls stay fp32 (the fused QKV projections are quantized in
    # every layer). On MiniLM-L6 the first layer carries a third of the int8 error.
    fp32_layers: tuple[int, ...] = (0,)


INT8 = Int8Settings()


def _import_ort() -> Any:
    try:
        import onnxruntime
    except ImportError:
        raise MissingDependencyError("ONNX backends", "onnxruntime", "onnx") from None
    return onnxruntime


def physical_cores() -> int:
    """Physical cores among the CPUs this process may run on (hyper-threads counted once)."""
    cpus = sorted(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else []
    if not cpus:
        return max(1, (os.cpu_count() or 2) // 2)
    cores = set()
    for cpu in cpus:
        topology = Path(f"/sys/devices/system/cpu/cpu{cpu}/topology")
        try:
            package = (topology / "physical_package_id").read_text().strip()
            core = (topology / "core_id").read_text().strip()
        except OSError:
            return len(cpus)
        cores.add((package, core))
    return max(1, len(cores))


def _versions(names: Sequence[str] = _VERSIONED) -> dict[str, str | None]:
    """Installed versions of ``names`` (None where absent)."""
    out: dict[str, str | None] = {}
    for name in names:
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            out[name] = None
    return out


# ---------------------------------------------------------------------------------------------
# Export (torch side: imported lazily, only when a cache entry is missing)


def _load_st(folder: str, kind: str, max_length: int | None) -> Any:
    """The sentence-transformers model the torch backend would build (same seed, same head)."""
    try:
        import sentence_transformers as st
        import torch
    except ImportError:
        raise MissingDependencyError(
            "exporting a model to ONNX", "sentence-transformers", "dense"
        ) from None
    try:
        if kind == "encoder":
            return st.SentenceTransformer(folder, device="cpu")
        torch.manual_seed(0)  # as TorchPairScorer: a backbone without a head gets this one
        return st.CrossEncoder(folder, num_labels=1, max_length=max_length, device="cpu")
    except (OSError, ValueError) as e:
        raise ModelNotFoundError(f"cannot load {folder!r} for ONNX export: {e}") from None


def _describe(st_model: Any, kind: str) -> tuple[Any, dict[str, Any]]:
    """The Hugging Face module to export and the metadata the runtime needs."""
    modules = list(st_model)
    transformer = modules[0]
    hf = getattr(transformer, "model", None) or getattr(transformer, "auto_model", None)
    tokenizer = st_model.tokenizer
    if hf is None or getattr(tokenizer, "backend_tokenizer", None) is None:
        raise AptrankError(
            "the ONNX backends need a Hugging Face transformer with a fast tokenizer"
        )
    config = hf.config
    limit = int(getattr(config, "max_position_embeddings", 512) or 512)
    default = getattr(st_model, "max_seq_length", None)
    if not default or default > 100_000:
        default = min(512, limit)
    names = [n for n in tokenizer.model_input_names if n in ("input_ids", "token_type_ids")]
    meta: dict[str, Any] = {
        "format": FORMAT_VERSION,
        "kind": kind,
        "inputs": [*names, "attention_mask"],
        "pad_id": int(tokenizer.pad_token_id or 0),
        "max_length": int(default),
        "max_positions": limit,
        "model_type": config.model_type,
        # sentence-transformers 5 lowercases in Python when asked to; 6 puts it in the tokenizer
        "lowercase": bool(getattr(transformer, "do_lower_case", False)),
    }
    if kind == "encoder":
        names_ = [type(m).__name__ for m in modules]
        if names_[1:2] != ["Pooling"] or any(n != "Normalize" for n in names_[2:]):
            raise AptrankError(
                f"the ONNX encoder supports Transformer + Pooling (+ Normalize), not {names_}; "
                "use backend='torch'"
            )
        mode = modules[1].pooling_mode
        modes = [mode] if isinstance(mode, str) else list(mode)
        unknown = [m for m in modes if m not in POOLING_MODES]
        if unknown:
            raise AptrankError(f"pooling {unknown} is not supported by the ONNX encoder")
        meta["pooling"] = modes
        meta["dimension"] = int(config.hidden_size) * len(modes)
    else:
        activation = type(st_model.activation_fn).__name__
        if activation not in ("Sigmoid", "Identity") or config.num_labels != 1:
            raise AptrankError(
                f"the ONNX pair scorer supports one label with Sigmoid or Identity, not "
                f"{config.num_labels} labels with {activation}"
            )
        meta["activation"] = activation.lower()
    return hf, meta


def _wrap(hf: Any, names: list[str], output: str) -> Any:
    """A module taking the inputs positionally (as the exporter feeds them), returning one
    tensor."""
    import torch

    class Wrapped(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.hf = hf

        def forward(self, *args: Any) -> Any:
            return getattr(self.hf(**dict(zip(names, args)), return_dict=True), output)

    return Wrapped().eval()


def _dummy(meta: dict[str, Any], vocab: int, batch: int, length: int, seed: int) -> dict:
    rng = np.random.default_rng(seed)
    lengths = np.linspace(length, max(2, length // 3), batch).astype(np.int64)
    mask = (np.arange(length)[None, :] < lengths[:, None]).astype(np.int64)
    arrays = {
        "input_ids": rng.integers(5, vocab, (batch, length)) * mask,
        "token_type_ids": (np.arange(length)[None, :] >= lengths[:, None] // 2) * mask,
        "attention_mask": mask,
    }
    return {n: arrays[n].astype(np.int64) for n in meta["inputs"]}


def _torch_reference(hf: Any, inputs: dict, output: str) -> np.ndarray:
    import torch

    with torch.no_grad():
        out = hf(**{k: torch.from_numpy(v) for k, v in inputs.items()}, return_dict=True)
    return getattr(out, output).numpy()


def _check(path: Path, reference: np.ndarray, inputs: dict, tolerance: float) -> float:
    """Max abs difference between the ONNX graph and torch (pad positions ignored)."""
    got = _session(path, threads=1).run(None, inputs)[0]
    if got.ndim == 3:
        keep = inputs["attention_mask"].astype(bool)
        got, reference = got[keep], reference[keep]
    diff = float(np.abs(got - reference).max())
    if not diff <= tolerance:
        raise AptrankError(f"ONNX export of {path} differs from torch by {diff:.2e}")
    return diff


def _export(folder: str, kind: str, dest: Path, optimize: bool = True) -> dict[str, Any]:
    """Export ``folder`` (fp32) into ``dest``: model.onnx, tokenizer.json, meta.json.

    ``optimize=False`` keeps the plain export (standard ONNX operators only, no ONNX Runtime
    contrib ops): what other runtimes read."""
    import torch

    started = time.perf_counter()
    st_model = _load_st(folder, kind, None)
    hf, meta = _describe(st_model, kind)
    if hasattr(hf, "set_attn_implementation"):
        hf.set_attn_implementation("eager")  # the pattern ONNX Runtime's attention fusion knows
    else:
        hf.config._attn_implementation = "eager"
    hf.eval()
    output = "last_hidden_state" if kind == "encoder" else "logits"
    names = meta["inputs"]
    vocab = int(hf.config.vocab_size)
    args = tuple(torch.from_numpy(v) for v in _dummy(meta, vocab, 2, 8, seed=0).values())
    raw = dest / "raw.onnx"
    axes = {n: {0: "batch", 1: "sequence"} for n in [*names, output]}
    with torch.no_grad(), warnings.catch_warnings():
        warnings.simplefilter("ignore")  # legacy-exporter deprecation and tracer warnings
        torch.onnx.export(
            _wrap(hf, names, output),
            args,
            str(raw),
            input_names=names,
            output_names=[output],
            dynamic_axes=axes,
            opset_version=OPSET,
            do_constant_folding=True,
            dynamo=False,
        )
    probe = _dummy(meta, vocab, 3, 11, seed=1)  # another shape than traced, with padding
    reference = _torch_reference(hf, probe, output)
    meta["export_diff"] = _check(raw, reference, probe, 1e-4)
    if optimize:
        meta["fused"] = _optimize(raw, dest / "model.onnx", hf.config, reference, probe)
        raw.unlink()
    else:
        meta["fused"] = {}
        raw.rename(dest / "model.onnx")
    st_model.tokenizer.backend_tokenizer.save(str(dest / "tokenizer.json"))
    meta["versions"] = _versions()
    (dest / "meta.json").write_text(json.dumps(meta, indent=1))
    logger.info("exported %s (%s) to ONNX in %.1fs", folder, kind, time.perf_counter() - started)
    return meta


@contextmanager
def _quiet() -> Iterator[None]:
    """Silence ONNX Runtime's optimizer and quantizer, which log on the root logger."""
    root = logging.getLogger()
    level = root.level
    root.setLevel(max(level, logging.ERROR))
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            yield
    finally:
        root.setLevel(level)


def _optimize(
    src: Path, dst: Path, config: Any, reference: np.ndarray, probe: dict
) -> dict[str, int]:
    """ONNX Runtime's transformer fusions when they apply and keep the outputs; else a copy."""
    if config.model_type in FUSABLE:
        from onnxruntime.transformers.optimizer import optimize_model

        try:
            with _quiet():
                optimized = optimize_model(
                    str(src),
                    model_type="bert",
                    num_heads=int(config.num_attention_heads),
                    hidden_size=int(config.hidden_size),
                )
            fused = {k: v for k, v in optimized.get_fused_operator_statistics().items() if v}
            optimized.save_model_to_file(str(dst))
            _check(dst, reference, probe, 1e-4)
            return fused
        except Exception as e:  # any failure: keep the plain export, already checked
            logger.warning("ONNX Runtime graph fusion failed (%s); using the plain export", e)
    shutil.copyfile(src, dst)
    return {}


def _quantize(src: Path, dst: Path, settings: Int8Settings) -> int:
    """Quantize ``src`` into ``dst``; returns how many MatMuls were kept in fp32."""
    import onnx
    from onnxruntime.quantization import QuantType, quantize_dynamic

    types = {"qint8": QuantType.QInt8, "quint8": QuantType.QUInt8}
    if settings.weight_type not in types:
        raise AptrankError(f"unknown int8 weight type {settings.weight_type!r}")
    marks = tuple(f"layer.{k}/" for k in settings.fp32_layers)  # torch module paths
    graph = onnx.load(str(src)).graph
    keep = [n.name for n in graph.node if n.op_type == "MatMul" and any(m in n.name for m in marks)]
    if marks and not keep:
        logger.warning(
            "no MatMul of layers %s found in %s: all quantized", settings.fp32_layers, src
        )
    with _quiet():
        quantize_dynamic(
            str(src),
            str(dst),
            weight_type=types[settings.weight_type],
            per_channel=settings.per_channel,
            reduce_range=settings.reduce_range,
            op_types_to_quantize=list(settings.op_types),
            nodes_to_exclude=keep,
            # Fused contrib ops defeat shape inference; MatMuls of two activations stay fp32.
            extra_options={"DefaultTensorType": onnx.TensorProto.FLOAT, "MatMulConstBOnly": True},
        )
    return len(keep)


def export_folder(model: str, kind: str, quantize: bool, int8: Int8Settings = INT8) -> Path:
    """The cache folder holding ``model`` exported for ``kind`` ("encoder" or "pair"); exports
    (and quantizes) it on first use."""
    if kind not in ("encoder", "pair"):
        raise AptrankError(f"unknown ONNX model kind {kind!r}")
    _import_ort()
    folder = resolve_model(model)
    base = key("onnx", FORMAT_VERSION, kind, model_fingerprint(folder), _versions())
    fp32 = cache_dir("onnx") / base
    if not (fp32 / "meta.json").exists():
        logger.info("exporting %s to ONNX (once; cached in %s)", model, fp32)
        with atomic_folder(fp32) as tmp:
            _export(folder, kind, tmp)
    if not quantize:
        return fp32
    target = cache_dir("onnx") / key(base, "int8", asdict(int8))
    if not (target / "meta.json").exists():
        with atomic_folder(target) as tmp:
            kept = _quantize(fp32 / "model.onnx", tmp / "model.onnx", int8)
            shutil.copyfile(fp32 / "tokenizer.json", tmp / "tokenizer.json")
            meta = json.loads((fp32 / "meta.json").read_text())
            meta["int8"] = {**asdict(int8), "fp32_matmuls": kept}
            (tmp / "meta.json").write_text(json.dumps(meta, indent=1))
    return target


# ---------------------------------------------------------------------------------------------
# Runtime (onnxruntime + tokenizers only)


def _session(path: Path, threads: int | None = None) -> Any:
    ort = _import_ort()
    options = ort.SessionOptions()
    options.intra_op_num_threads = threads or physical_cores()
    options.inter_op_num_threads = 1
    options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    options.log_severity_level = 3
    return ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])


#: One forward pass: the padded inputs by name -> the model's first output.
Infer = Callable[[dict[str, np.ndarray]], np.ndarray]


def ort_infer(path: Path, threads: int | None = None) -> Infer:
    """An ONNX Runtime session on ``path`` as an :data:`Infer` (thread-safe)."""
    session = _session(path, threads)
    return lambda inputs: session.run(None, inputs)[0]


class _Runner:
    """A cached export: tokenizer, a runtime's forward pass and length-sorted, per-batch-padded
    execution."""

    def __init__(self, folder: Path, max_length: int | None, infer: Infer) -> None:
        try:
            from tokenizers import Tokenizer
        except ImportError:
            raise MissingDependencyError("ONNX backends", "tokenizers", "onnx") from None
        self.folder = folder
        self.meta = json.loads((self.folder / "meta.json").read_text())
        self.max_length = int(max_length or self.meta["max_length"])
        if not 2 < self.max_length <= self.meta["max_positions"]:
            raise AptrankError(
                f"max_length {self.max_length} is outside 3..{self.meta['max_positions']} "
                f"(the model's position embeddings)"
            )
        self.tokenizer = Tokenizer.from_file(str(self.folder / "tokenizer.json"))
        self.tokenizer.no_padding()
        self.tokenizer.enable_truncation(self.max_length, strategy="longest_first")
        self.infer = infer

    def run(
        self, items: Sequence[Any], batch_size: int, show_progress: bool
    ) -> Iterator[tuple[np.ndarray, np.ndarray, np.ndarray]]:
        """Yield (positions in ``items``, attention mask, first model output) per batch."""
        if batch_size < 1:
            raise ValueError(f"batch_size must be >= 1, got {batch_size}")
        bar = _progress(len(items), show_progress)
        for start in range(0, len(items), CHUNK):
            chunk = list(items[start : start + CHUNK])
            if self.meta.get("lowercase"):
                chunk = [_lower(item) for item in chunk]
            encodings = self.tokenizer.encode_batch(chunk, add_special_tokens=True)
            order = length_order([len(e.ids) for e in encodings])
            for b in range(0, len(order), batch_size):
                idx = order[b : b + batch_size]
                inputs = self._pad([encodings[i] for i in idx])
                yield idx + start, inputs["attention_mask"], self.infer(inputs)
                if bar is not None:
                    bar.update(len(idx))
        if bar is not None:
            bar.close()

    def _pad(self, encodings: list[Any]) -> dict[str, np.ndarray]:
        width = max(len(e.ids) for e in encodings)
        ids = np.full((len(encodings), width), self.meta["pad_id"], dtype=np.int64)
        types = np.zeros_like(ids)
        mask = np.zeros_like(ids)
        for row, e in enumerate(encodings):
            n = len(e.ids)
            ids[row, :n] = e.ids
            types[row, :n] = e.type_ids
            mask[row, :n] = 1
        arrays = {"input_ids": ids, "token_type_ids": types, "attention_mask": mask}
        return {name: arrays[name] for name in self.meta["inputs"]}


def _lower(item: Any) -> Any:
    return item.lower() if isinstance(item, str) else tuple(part.lower() for part in item)


def _progress(total: int, show: bool) -> Any:
    if not show:
        return None
    try:
        from tqdm.auto import tqdm
    except ImportError:
        return None
    return tqdm(total=total, unit="item")


def pool(hidden: np.ndarray, mask: np.ndarray, modes: Sequence[str]) -> np.ndarray:
    """sentence-transformers pooling over right-padded ``hidden`` (batch, length, dim).

    >>> h = np.array([[[1.0, 0.0], [3.0, 2.0], [9.0, 9.0]]], dtype=np.float32)
    >>> pool(h, np.array([[1, 1, 0]]), ["mean", "cls", "max", "lasttoken"]).tolist()
    [[2.0, 1.0, 1.0, 0.0, 3.0, 2.0, 3.0, 2.0]]
    """
    weights = mask[..., None].astype(np.float32)
    counts = np.clip(weights.sum(axis=1), 1e-9, None)
    out = []
    for mode in modes:
        if mode == "cls":
            out.append(hidden[:, 0])
        elif mode == "max":
            out.append(np.where(weights > 0, hidden, -np.inf).max(axis=1))
        elif mode in ("mean", "mean_sqrt_len_tokens"):
            total = (hidden * weights).sum(axis=1)
            out.append(total / (counts if mode == "mean" else np.sqrt(counts)))
        elif mode == "lasttoken":
            last = np.maximum(mask.sum(axis=1) - 1, 0)
            out.append(hidden[np.arange(len(hidden)), last])
        else:
            raise AptrankError(f"unknown pooling mode {mode!r}")
    return np.concatenate(out, axis=1).astype(np.float32)


class _OnnxModel:
    """What the ONNX encoder and pair scorer share: the exported graph's runner."""

    kind = ""  #: the export kind: "encoder" or "pair"

    def __init__(
        self,
        model: str,
        quantize: bool = False,
        max_length: int | None = None,
        threads: int | None = None,
    ) -> None:
        folder = export_folder(model, self.kind, quantize)
        infer = ort_infer(folder / "model.onnx", threads)
        self._open(model, "onnx-int8" if quantize else "onnx", folder, max_length, infer)

    def _open(
        self, model: str, backend: str, folder: Path, max_length: int | None, infer: Infer
    ) -> None:
        """Serve ``folder`` (an export with tokenizer.json and meta.json) through ``infer``."""
        self.model = model
        self.backend = backend
        self._runner = _Runner(folder, max_length, infer)
        self.max_length = self._runner.max_length


class OnnxEncoder(_OnnxModel):
    """A sentence-transformers bi-encoder on ONNX Runtime: pooled, L2-normalised embeddings."""

    kind = "encoder"

    def encode(
        self, texts: Sequence[str], batch_size: int = 64, show_progress: bool = False
    ) -> np.ndarray:
        out: np.ndarray | None = None
        for idx, mask, hidden in self._runner.run(list(texts), batch_size, show_progress):
            emb = pool(hidden, mask, self._runner.meta["pooling"])
            emb /= np.clip(np.linalg.norm(emb, axis=1, keepdims=True), 1e-12, None)
            if out is None:
                out = np.empty((len(texts), emb.shape[1]), dtype=np.float32)
            out[idx] = emb
        if out is None:
            return np.zeros((0, self._runner.meta["dimension"]), dtype=np.float32)
        return out


class OnnxPairScorer(_OnnxModel):
    """A cross-encoder on ONNX Runtime: the scores ``CrossEncoder.predict`` gives on torch."""

    kind = "pair"

    def score(
        self, pairs: Sequence[tuple[str, str]], batch_size: int = 32, show_progress: bool = False
    ) -> np.ndarray:
        from scipy.special import expit

        out = np.zeros(len(pairs), dtype=np.float32)
        items = [(str(q), str(d)) for q, d in pairs]
        for idx, _, logits in self._runner.run(items, batch_size, show_progress):
            scores = logits.reshape(len(idx), -1)[:, 0].astype(np.float32)
            if self._runner.meta["activation"] == "sigmoid":
                scores = expit(scores)
            out[idx] = scores
        return out
