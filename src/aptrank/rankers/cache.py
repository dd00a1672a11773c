"""Content fingerprints that key every on-disk cache (indexes, embeddings, exports), and
atomic writes into the cache."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

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


def model_fingerprint(model: str) -> str:
    """A model folder's file names, sizes and mtimes (a retrained model at the same path gets a
    new key); a hub id is its own fingerprint."""
    path = Path(model)
    if not path.is_dir():
        return model
    entries = []
    for root, _, files in os.walk(path):
        for name in sorted(files):
            st = os.stat(os.path.join(root, name))
            entries.append(
                (os.path.relpath(os.path.join(root, name), path), st.st_size, st.st_mtime_ns)
            )
    return hashlib.sha256(json.dumps([str(path.resolve()), sorted(entries)]).encode()).hexdigest()[
        :16
    ]


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
