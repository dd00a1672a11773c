"""Content fingerprints that key every on-disk cache (indexes, embeddings, exports, labels), and
atomic writes into the cache.

Fingerprints hash content, not paths or modification times: reinstalling a model package (a new
virtual environment, a fresh clone) keeps every cache entry keyed on it."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import Any

from aptrank.types import Corpus

_FINGERPRINTS: dict[int, tuple[Corpus, str]] = {}


def corpus_fingerprint(corpus: Corpus) -> str:
    """SHA-256 over ids, titles and texts in id order (memoised per corpus object)."""
    cached = _FINGERPRINTS.get(id(corpus))
    if cached is not None and cached[0] is corpus:
        return cached[1]
    h = hashlib.sha256()
    for doc_id in sorted(corpus):
        doc = corpus[doc_id]
        for part in (doc_id, doc.title, doc.text):
            h.update(part.encode("utf-8", "surrogatepass"))
            h.update(b"\x00")
    digest = h.hexdigest()[:16]
    _FINGERPRINTS[id(corpus)] = (corpus, digest)
    return digest


_CHUNK = 1 << 16
_SAMPLES = 64
_FULL_HASH_LIMIT = 256 << 20
#: fingerprints already computed in this process, by (path, file names, sizes, mtimes)
_MODEL_FINGERPRINTS: dict[tuple[object, ...], str] = {}


def _file_digest(path: Path, h: hashlib._Hash) -> None:
    """Name, size and contents; a file over ``_FULL_HASH_LIMIT`` is sampled in ``_SAMPLES``
    evenly spaced 64 KiB pieces (ends included), so multi-GB weights fingerprint in milliseconds
    and a fine-tuned copy whose first or last tensors were frozen still gets a new fingerprint."""
    size = path.stat().st_size
    h.update(f"{path.name}\0{size}\0".encode())
    with open(path, "rb") as f:
        if size <= _FULL_HASH_LIMIT:
            for block in iter(lambda: f.read(1 << 20), b""):
                h.update(block)
            return
        for i in range(_SAMPLES):
            f.seek((size - _CHUNK) * i // (_SAMPLES - 1))
            h.update(f.read(_CHUNK))


def model_fingerprint(model: str) -> str:
    """``<name>@<hex>`` for a local model folder or file (from file names, sizes and contents;
    see :func:`_file_digest`), or the name itself for a hub id.

    The fingerprint does not depend on where the folder lives, so a moved cache keeps its labels.
    A trained-ranker folder (with ``aptrank.json``) is named by its record and fingerprinted
    without the record and model card (they carry creation times), so a moved or renamed
    artifact keeps its cached embeddings and labels.
    """
    path = Path(model).expanduser()
    if not path.exists():
        return model
    record = path / "aptrank.json" if path.is_dir() else None
    artifact = record is not None and record.is_file()
    h = hashlib.sha256()
    files = sorted(p for p in path.rglob("*") if p.is_file()) if path.is_dir() else [path]
    stats = tuple((str(f), f.stat().st_size, f.stat().st_mtime_ns) for f in files)
    if stats in _MODEL_FINGERPRINTS:
        return _MODEL_FINGERPRINTS[stats]
    for file in files:
        rel = file.relative_to(path) if path.is_dir() else Path(file.name)
        if any(part.startswith(".") for part in rel.parts):
            continue  # .cache, .git and friends do not change the model
        if artifact and str(rel) in ("aptrank.json", "README.md"):
            continue
        h.update(str(rel).replace(os.sep, "/").encode() + b"\0")
        _file_digest(file, h)
    name = path.name or str(path)
    if artifact and record is not None:
        with suppress(OSError, ValueError):
            name = str(json.loads(record.read_text(encoding="utf-8")).get("name") or name)
    _MODEL_FINGERPRINTS[stats] = f"{name}@{h.hexdigest()[:12]}"
    return _MODEL_FINGERPRINTS[stats]


def key(*parts: object) -> str:
    """A short stable hash of JSON-able parts."""
    return hashlib.sha256(json.dumps(parts, sort_keys=True, default=str).encode()).hexdigest()[:16]


@contextmanager
def atomic_folder(target: Path) -> Iterator[Path]:
    """Yield a temporary folder beside ``target`` that becomes ``target`` only if the block
    completes: an interrupted write is never mistaken for a finished cache entry."""
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{target.name}.", dir=target.parent))
    try:
        yield tmp
        if target.exists():
            shutil.rmtree(target)
        tmp.rename(target)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)


def write_atomic(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` through a temporary file beside it, renamed over it: a reader
    sees the old file or the new one, never a torn one."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(text)
        os.replace(tmp, path)
    finally:
        with suppress(FileNotFoundError):
            os.unlink(tmp)


class KeyValueCache:
    """A key → value table in one SQLite file (WAL: several processes may share it; a killed
    process loses at most its last batch). Values are ``str`` or ``bytes``."""

    def __init__(self, path: Path) -> None:
        import sqlite3

        path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        self._db = sqlite3.connect(str(path), timeout=60)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("CREATE TABLE IF NOT EXISTS kv (k TEXT PRIMARY KEY, v NOT NULL)")
        self._db.commit()

    def get_many(self, keys: list[str]) -> dict[str, Any]:
        """``{key: value}`` for the keys the cache holds."""
        items = list(dict.fromkeys(keys))
        found: dict[str, Any] = {}
        for start in range(0, len(items), 500):  # SQLite caps the parameters of one query
            part = items[start : start + 500]
            marks = ",".join("?" * len(part))
            found.update(self._db.execute(f"SELECT k, v FROM kv WHERE k IN ({marks})", part))
        return found

    def put_many(self, items: dict[str, Any]) -> None:
        with self._db:
            self._db.executemany("INSERT OR REPLACE INTO kv (k, v) VALUES (?, ?)", items.items())

    def close(self) -> None:
        self._db.close()


class VectorCache(KeyValueCache):
    """Embeddings of short texts (queries) keyed by a hash of the text.

    Queries are encoded again by every evaluation, diagnosis (with its perturbed variants) and
    run; with a large model that costs more than everything else a warm re-run does.
    """

    @staticmethod
    def text_key(text: str) -> str:
        return hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()[:32]

    def vectors(self, texts: list[str], dim: int | None = None) -> dict[str, Any]:
        """``{text: vector}`` for the texts the cache holds (of dimension ``dim`` if given)."""
        import numpy as np

        keys = {self.text_key(t): t for t in texts}
        found = {}
        for k, blob in self.get_many(list(keys)).items():
            vec = np.frombuffer(blob, dtype=np.float32)
            if dim is None or len(vec) == dim:
                found[keys[k]] = vec
        return found

    def put_vectors(self, texts: list[str], vectors: Any) -> None:
        import numpy as np

        self.put_many(
            {
                self.text_key(t): np.asarray(v, dtype=np.float32).tobytes()
                for t, v in zip(texts, vectors)
            }
        )
