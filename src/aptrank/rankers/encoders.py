"""Model inference behind two small interfaces, with selectable backends.

``TextEncoder.encode(texts) -> (n, d) float32`` (L2-normalised, so dot product = cosine) and
``PairScorer.score(pairs) -> (n,) float32``. Backends: ``torch`` (sentence-transformers, the
default), the ONNX Runtime paths in :mod:`aptrank.rankers.onnx` (``onnx``, ``onnx-int8``), the
OpenVINO paths in :mod:`aptrank.rankers.openvino_backend` (``openvino``, ``openvino-bf16``) and
``auto``, the fastest of them within a fidelity bound, measured once per model and machine
(:mod:`aptrank.rankers.backends`). Every backend feeds the model length-sorted batches, so
little compute is spent on padding.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from aptrank.errors import MissingDependencyError, ModelNotFoundError
from aptrank.rankers.models import resolve_model

logger = logging.getLogger(__name__)


class TextEncoder(Protocol):
    model: str
    backend: str
    max_length: int

    def encode(
        self, texts: Sequence[str], batch_size: int = 64, show_progress: bool = False
    ) -> np.ndarray: ...


class PairScorer(Protocol):
    model: str
    backend: str
    max_length: int

    def score(
        self, pairs: Sequence[tuple[str, str]], batch_size: int = 32, show_progress: bool = False
    ) -> np.ndarray: ...


def length_order(lengths: Sequence[int]) -> np.ndarray:
    """Indices that sort items longest first (stable), so each batch pads to similar lengths."""
    return np.argsort(-np.asarray(lengths, dtype=np.int64), kind="stable")


def _import_st():  # type: ignore[no-untyped-def]
    try:
        import sentence_transformers
    except ImportError:
        raise MissingDependencyError(
            "dense and cross-encoder rankers", "sentence-transformers", "dense"
        ) from None
    return sentence_transformers


def default_device() -> str:
    """``$APTRANK_DEVICE`` when set (``cpu``, ``cuda``, ``cuda:1``, ``mps``), else a CUDA GPU when
    torch sees one, else the CPU. Embeddings and scores are cached per model and backend, not per
    device: a GPU's float rounding differs from the CPU's only in the last digits."""
    import os

    chosen = os.environ.get("APTRANK_DEVICE", "").strip()
    if chosen:
        return chosen
    import torch

    return "cuda" if torch.cuda.is_available() else "cpu"


class TorchEncoder:
    """sentence-transformers bi-encoder (which already length-sorts its batches)."""

    backend = "torch"

    def __init__(self, model: str, max_length: int | None = None) -> None:
        st = _import_st()
        self.model = model
        try:
            self._model = st.SentenceTransformer(resolve_model(model), device=default_device())
        except (OSError, ValueError) as e:
            raise ModelNotFoundError(f"cannot load embedding model {model!r}: {e}") from None
        if max_length is not None:
            self._model.max_seq_length = max_length
        self.max_length = int(self._model.max_seq_length)

    def encode(
        self, texts: Sequence[str], batch_size: int = 64, show_progress: bool = False
    ) -> np.ndarray:
        emb = self._model.encode(
            list(texts),
            batch_size=batch_size,
            normalize_embeddings=True,
            convert_to_numpy=True,
            show_progress_bar=show_progress,
        )
        return np.asarray(emb, dtype=np.float32)


def load_cross_encoder(
    model: str, max_length: int | None = None, seed: int = 0, device: str | None = None
) -> Any:
    """A sentence-transformers ``CrossEncoder`` with one output (``num_labels=1``).

    A trained cross-encoder folder loads with its own head and activation. A bi-encoder or bare
    backbone (the transformer in the folder root or in ``0_Transformer``) gets a new random head:
    torch is seeded with ``seed`` first, so that head, and every score or training run built on
    it, reproduces.
    """
    st = _import_st()
    import torch

    torch.manual_seed(seed)
    try:
        return st.CrossEncoder(
            _transformer_folder(resolve_model(model)),
            num_labels=1,
            max_length=max_length,
            device=device or default_device(),
        )
    except (OSError, ValueError) as e:
        raise ModelNotFoundError(f"cannot load cross-encoder {model!r}: {e}") from None


def _transformer_folder(path: str) -> str:
    """The folder holding the Hugging Face transformer of a sentence-transformers folder.

    sentence-transformers converts a bi-encoder folder to a cross-encoder only when the
    transformer sits in the folder root; older bi-encoders keep it in a subfolder named in
    ``modules.json`` (``0_Transformer``), which is then loaded directly.
    """
    root = Path(path)
    if not root.is_dir() or (root / "config.json").exists():
        return path
    try:
        modules = json.loads((root / "modules.json").read_text())
    except (OSError, ValueError):
        return path
    for module in modules if isinstance(modules, list) else []:
        sub = root / str(module.get("path", ""))
        if str(module.get("type", "")).endswith("Transformer") and (sub / "config.json").exists():
            return str(sub)
    return path


class TorchPairScorer:
    """sentence-transformers CrossEncoder, fed length-sorted batches."""

    backend = "torch"

    def __init__(self, model: str, max_length: int | None = None) -> None:
        self.model = model
        self._model = load_cross_encoder(model, max_length)
        self.max_length = int(self._model.max_seq_length or 512)

    def score(
        self, pairs: Sequence[tuple[str, str]], batch_size: int = 32, show_progress: bool = False
    ) -> np.ndarray:
        if not pairs:
            return np.zeros(0, dtype=np.float32)
        order = length_order([len(q) + len(d) for q, d in pairs])
        scores = self._model.predict(
            [list(pairs[i]) for i in order],
            batch_size=batch_size,
            show_progress_bar=show_progress,
            convert_to_numpy=True,
        )
        out = np.empty(len(pairs), dtype=np.float32)
        out[order] = np.asarray(scores, dtype=np.float32).reshape(-1)
        return out


def load_encoder(model: str, backend: str = "torch", max_length: int | None = None) -> TextEncoder:
    """A bi-encoder for ``model`` (registry name, hub id or folder) on ``backend`` (one of
    :data:`aptrank.rankers.backends.BACKENDS`; ``auto`` is resolved to its measured choice)."""
    from aptrank.rankers import backends

    chosen = backends.resolve(model, "encoder", backend, max_length)
    encoder: TextEncoder = backends.build(model, "encoder", chosen, max_length)
    return encoder


def load_pair_scorer(
    model: str, backend: str = "torch", max_length: int | None = None
) -> PairScorer:
    """A cross-encoder for ``model`` (registry name, hub id or folder) on ``backend`` (one of
    :data:`aptrank.rankers.backends.BACKENDS`; ``auto`` is resolved to its measured choice)."""
    from aptrank.rankers import backends

    chosen = backends.resolve(model, "pair", backend, max_length)
    scorer: PairScorer = backends.build(model, "pair", chosen, max_length)
    return scorer
