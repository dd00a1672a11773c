"""A query adapter: a trained linear or low-rank map of query embeddings for one encoder, used
by the ``dense`` stage (``dense:<model>[adapter=<file>]``) after its query cache, never on
document embeddings. Training lives in :mod:`aptrank.train.adapter` (``aptrank adapt``); this
module is what inference needs: the map, and its ``.npz`` file.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from aptrank.errors import AptrankError, DataError

KINDS = ("linear", "lowrank")
FORMAT = "aptrank-adapter/1"


@dataclass(frozen=True, eq=False)
class QueryAdapter:
    """A trained map of query embeddings (``W``, ``b`` or ``A``, ``B``) for one encoder."""

    kind: str
    arrays: Mapping[str, np.ndarray]
    model: str  #: fingerprint of the encoder it was trained for
    file_fingerprint: str = ""  #: content hash of the file it was loaded from ("" in memory)

    @classmethod
    def identity(cls, dim: int, model: str, kind: str = "linear", rank: int = 64) -> QueryAdapter:
        if kind == "linear":
            arrays = {"W": np.eye(dim, dtype=np.float32), "b": np.zeros(dim, np.float32)}
        else:
            arrays = {
                "A": np.zeros((dim, rank), np.float32),
                "B": np.zeros((rank, dim), np.float32),
            }
        return cls(kind, arrays, model)

    @property
    def dim(self) -> int:
        return int(self.arrays["W" if self.kind == "linear" else "A"].shape[0])

    def apply(self, q: np.ndarray) -> np.ndarray:
        """Adapted, L2-normalised query embeddings (``q`` is not modified).

        >>> a = QueryAdapter.identity(2, "m")
        >>> a.apply(np.array([[0.6, 0.8]], np.float32)).tolist()
        [[0.6000000238418579, 0.800000011920929]]
        """
        q = np.asarray(q, dtype=np.float32)
        if self.kind == "linear":
            x = q @ self.arrays["W"] + self.arrays["b"]
        else:
            x = q + (q @ self.arrays["A"]) @ self.arrays["B"]
        norm = np.linalg.norm(x, axis=1, keepdims=True)
        return (x / np.maximum(norm, 1e-12)).astype(np.float32, copy=False)

    def check_model(self, model_id: str, path: str) -> None:
        if model_id != self.model:
            raise AptrankError(
                f"{path}: this query adapter was trained for {self.model}, but the stage encodes "
                f"with {model_id}; train one for this model (aptrank adapt DATASET --model ...)"
            )

    def check_dim(self, dim: int, path: str) -> None:
        if dim != self.dim:
            raise AptrankError(f"{path}: adapter of dimension {self.dim}, embeddings of {dim}")


def save_adapter(adapter: QueryAdapter, path: str | Path) -> Path:
    """Write ``adapter`` as an ``.npz`` (atomically: beside, then renamed)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    payload = {k: np.asarray(v, np.float32) for k, v in adapter.arrays.items()}
    meta = {"format": FORMAT, "kind": adapter.kind, "model": adapter.model}
    payload.update({k: np.array(v) for k, v in meta.items()})
    with open(tmp, "wb") as f:
        np.savez(f, **payload)  # type: ignore[arg-type]  # (numpy's stub: allow_pickle)
    tmp.replace(path)
    return path


def load_adapter(path: str | Path) -> QueryAdapter:
    """The adapter saved at ``path``; a missing or malformed file is a one-line DataError."""
    path = Path(path)
    if not path.is_file():
        raise DataError("no such query adapter file (aptrank adapt writes one)", path)
    data = path.read_bytes()
    try:
        import io

        with np.load(io.BytesIO(data), allow_pickle=False) as npz:
            kind, model = str(npz["kind"]), str(npz["model"])
            names = ("W", "b") if kind == "linear" else ("A", "B")
            arrays = {k: np.asarray(npz[k], np.float32) for k in names}
    except (OSError, ValueError, KeyError) as e:
        raise DataError(f"not a query adapter written by aptrank adapt ({e})", path) from None
    if kind not in KINDS:
        raise DataError(f"unknown adapter kind {kind!r}", path)
    digest = hashlib.sha256(data).hexdigest()[:16]
    return QueryAdapter(kind, arrays, model, file_fingerprint=digest)
