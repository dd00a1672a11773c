"""OpenVINO backends (``openvino``: fp32, ``openvino-bf16``: bfloat16 inference precision) for
the encoder protocols.

The model is exported as :mod:`aptrank.rankers.onnx` exports it (the same checked
``torch.onnx.export``, without ONNX Runtime's contrib-op fusions, which OpenVINO runs slowly),
converted with ``openvino.convert_model`` and saved as OpenVINO IR (``model.xml``/``model.bin``,
fp32 weights) into ``cache_dir("openvino", <key>)``, with the tokenizer and ``meta.json`` of the
ONNX export. The conversion is checked against ONNX Runtime on a padded batch. Tokenization,
length sorting, padding and pooling are the ONNX backends' own (:class:`OnnxEncoder`,
:class:`OnnxPairScorer`): only the forward pass differs.

``openvino-bf16`` compiles the same IR with ``INFERENCE_PRECISION_HINT=bf16``: on CPUs with AMX
or AVX512-BF16 the matrix products run in bfloat16 (fp32 accumulation), several times faster
than fp32 and far closer to it than int8 (see ``benchmarks/results/backends.md``); on other CPUs
OpenVINO runs fp32 instead, so the backend is then simply ``openvino``. Loading a cached model
needs ``openvino`` and ``tokenizers`` only.
"""

from __future__ import annotations

import json
import logging
import threading
from pathlib import Path
from typing import Any

import numpy as np

from aptrank.errors import AptrankError, MissingDependencyError
from aptrank.paths import cache_dir
from aptrank.rankers import onnx as ox
from aptrank.rankers.cache import atomic_folder, key, model_fingerprint
from aptrank.rankers.models import resolve_model

logger = logging.getLogger(__name__)

FORMAT_VERSION = 1


def _import_ov() -> Any:
    try:
        import openvino
    except ImportError:
        raise MissingDependencyError("OpenVINO backends", "openvino", "openvino") from None
    return openvino


def openvino_folder(model: str, kind: str) -> Path:
    """The cache folder holding ``model`` as OpenVINO IR for ``kind`` ("encoder" or "pair");
    exports and converts it on first use."""
    if kind not in ("encoder", "pair"):
        raise AptrankError(f"unknown model kind {kind!r}")
    ov = _import_ov()
    from tokenizers import Tokenizer

    folder = resolve_model(model)
    versions = {**ox._versions(), "openvino": ov.__version__}
    target = cache_dir("openvino") / key(
        "openvino", FORMAT_VERSION, ox.FORMAT_VERSION, kind, model_fingerprint(folder), versions
    )
    if not (target / "meta.json").exists():
        logger.info("converting %s to OpenVINO IR (once; cached in %s)", model, target)
        with atomic_folder(target) as tmp:
            meta = ox._export(folder, kind, tmp, optimize=False)
            onnx_path = tmp / "model.onnx"
            converted = ov.convert_model(str(onnx_path))
            ov.save_model(converted, str(tmp / "model.xml"), compress_to_fp16=False)
            vocab = Tokenizer.from_file(str(tmp / "tokenizer.json")).get_vocab_size()
            probe = ox._dummy(meta, vocab, 3, 11, seed=2)
            reference = ox.ort_infer(onnx_path, threads=1)(probe)
            got = _compile(tmp / "model.xml", bf16=False, threads=1)(probe)
            keep = probe["attention_mask"].astype(bool) if got.ndim == 3 else slice(None)
            diff = float(np.abs(got[keep] - reference[keep]).max())
            if not diff <= 1e-4:
                raise AptrankError(f"OpenVINO conversion of {model} differs by {diff:.2e}")
            onnx_path.unlink()
            meta.update(openvino_diff=diff, versions=versions)
            (tmp / "meta.json").write_text(json.dumps(meta, indent=1))
    return target


def _compile(path: Path, bf16: bool, threads: int | None) -> ox.Infer:
    """The IR at ``path`` compiled for the CPU as an :data:`~aptrank.rankers.onnx.Infer`.

    One stream and ``threads`` (default: the physical cores) inference threads, latency-bound
    (each call is one batch). Each thread gets its own infer request, so concurrent calls are
    safe."""
    ov = _import_ov()
    core = ov.Core()
    config = {
        "INFERENCE_PRECISION_HINT": "bf16" if bf16 else "f32",
        "PERFORMANCE_HINT": "LATENCY",
        "NUM_STREAMS": 1,
        "INFERENCE_NUM_THREADS": threads or ox.physical_cores(),
    }
    compiled = core.compile_model(core.read_model(str(path)), "CPU", config)
    names = [port.get_any_name() for port in compiled.inputs]
    local = threading.local()

    def infer(inputs: dict[str, np.ndarray]) -> np.ndarray:
        request = getattr(local, "request", None)
        if request is None:
            request = local.request = compiled.create_infer_request()
        result = request.infer({n: inputs[n] for n in names})
        return np.array(result[0], dtype=np.float32)  # a copy: the request reuses its buffer

    return infer


class _OpenVinoModel(ox._OnnxModel):
    def __init__(
        self,
        model: str,
        bf16: bool = False,
        max_length: int | None = None,
        threads: int | None = None,
    ) -> None:
        folder = openvino_folder(model, self.kind)
        infer = _compile(folder / "model.xml", bf16, threads)
        self._open(model, "openvino-bf16" if bf16 else "openvino", folder, max_length, infer)


class OpenVinoEncoder(_OpenVinoModel, ox.OnnxEncoder):
    """A sentence-transformers bi-encoder on OpenVINO: pooled, L2-normalised embeddings."""


class OpenVinoPairScorer(_OpenVinoModel, ox.OnnxPairScorer):
    """A cross-encoder on OpenVINO: the scores ``CrossEncoder.predict`` gives on torch."""
