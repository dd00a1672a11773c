"""Small inline corpora, a keyword mock encoder and BEIR folder writers for tests."""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from aptrank.types import Corpus, Doc

CORPUS: Corpus = {
    "d1": Doc("cats purr and sleep all day", title="Cats"),
    "d2": Doc("dogs bark at the mailman", title="Dogs"),
    "d3": Doc("cats and dogs can live together", title=""),
    "d4": Doc("the stock market fell sharply today", title="Markets"),
    "d:5/<x>": Doc("stock prices of pet food companies rose", title="Pet stocks"),
}
QUERIES = {"q1": "cats sleeping", "q2": "dog barking", "q3": "stock market"}
QRELS = {"q1": {"d1": 2, "d3": 1, "d2": 0}, "q2": {"d2": 1, "d3": 0}, "q3": {"d4": 1, "d:5/<x>": 1}}

VOCAB = ("cat", "dog", "stock", "market", "sleep", "bark", "pet")


class KeywordEncoder:
    """A one-hot keyword 'embedding' (sentence-transformers' IR evaluator tests do the same):
    dimension i counts words starting with VOCAB[i]; vectors are L2-normalised."""

    model = "keyword"
    backend = "mock"
    max_length = 64
    fingerprint = "keyword-encoder-v1"

    def __init__(self) -> None:
        self.calls: list[int] = []

    def encode(
        self, texts: Sequence[str], batch_size: int = 64, show_progress: bool = False
    ) -> np.ndarray:
        self.calls.append(len(texts))
        out = np.zeros((len(texts), len(VOCAB) + 1), dtype=np.float32)
        for i, text in enumerate(texts):
            for word in text.lower().split():
                for j, key in enumerate(VOCAB):
                    if word.startswith(key):
                        out[i, j] += 1
            out[i, -1] = 0.01  # keeps empty texts non-zero
        return out / np.linalg.norm(out, axis=1, keepdims=True)


def write_beir(
    folder: Path,
    corpus: Corpus = CORPUS,
    queries: dict[str, str] = QUERIES,
    qrels: dict[str, dict[str, int]] = QRELS,
    split: str = "test",
) -> Path:
    """Write a BEIR folder (corpus.jsonl, queries.jsonl, qrels/<split>.tsv)."""
    (folder / "qrels").mkdir(parents=True, exist_ok=True)
    with open(folder / "corpus.jsonl", "w", encoding="utf-8") as f:
        for doc_id, doc in corpus.items():
            f.write(json.dumps({"_id": doc_id, "title": doc.title, "text": doc.text}) + "\n")
    with open(folder / "queries.jsonl", "w", encoding="utf-8") as f:
        for qid, text in queries.items():
            f.write(json.dumps({"_id": qid, "text": text}) + "\n")
    with open(folder / "qrels" / f"{split}.tsv", "w", encoding="utf-8") as f:
        f.write("query-id\tcorpus-id\tscore\n")
        for qid, docs in qrels.items():
            for doc_id, grade in docs.items():
                f.write(f"{qid}\t{doc_id}\t{grade}\n")
    return folder


def modules_loaded_by(code: str, modules: Sequence[str]) -> list[str]:
    """Which of ``modules`` a fresh interpreter has imported after running ``code`` (for the
    light-import checks)."""
    import subprocess
    import sys

    probe = f"{code}\nimport sys\nprint(','.join(m for m in {list(modules)!r} if m in sys.modules))"
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)
    return [m for m in out.stdout.strip().split(",") if m]
