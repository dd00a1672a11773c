"""A tiny student distilled from a toy teacher ranks a held-out toy set better than chance.

The teacher's labels go through the distillation path a real run takes (teacher scores →
``margin_triples`` → ``normalize_margins`` → Margin-MSE training); the student is then scored on
queries and documents it never saw. It learns, not only runs.
"""

from __future__ import annotations

import random
from pathlib import Path

import pytest

pytest.importorskip("sentence_transformers")
pytest.importorskip("datasets")

import torch  # noqa: E402

from aptrank.train.cross_encoder import train_cross_encoder  # noqa: E402
from aptrank.train.examples import margin_triples, normalize_margins  # noqa: E402
from tests.tiny_models import tiny_bert_folder  # noqa: E402
from tests.train.test_cross_encoder import config as toy_config  # noqa: E402

PET = "cats purr sleep dogs bark mailman live together pet food sleeping barking".split()
MONEY = "stock market fell sharply today prices companies rose".split()


def toy_teacher(query: str, doc: str) -> float:
    """Pet documents are relevant, money documents are not, whatever the query says."""
    words = doc.split()
    return float(sum(w in PET for w in words) - sum(w in MONEY for w in words))


def documents(rng: random.Random, n: int, exclude: set[str]) -> list[str]:
    out: list[str] = []
    while len(out) < n:
        vocab = PET if len(out) % 2 == 0 else MONEY
        doc = " ".join(rng.sample(vocab, 3))
        if doc not in exclude and doc not in out:
            out.append(doc)
    return out


def pairwise_accuracy(model, queries: list[str], docs: list[str]) -> float:
    """Share of (pet, money) document pairs the model orders as the teacher does, per query."""
    pets = [d for d in docs if toy_teacher("", d) > 0]
    money = [d for d in docs if toy_teacher("", d) < 0]
    right = total = 0
    for q in queries:
        p = model.predict([(q, d) for d in pets])
        m = model.predict([(q, d) for d in money])
        right += sum(int(a > b) for a in p for b in m)
        total += len(p) * len(m)
    return right / total


def test_a_student_distilled_from_a_toy_teacher_ranks_held_out_items(tmp_path: Path):
    from sentence_transformers import CrossEncoder

    rng = random.Random(0)
    train_docs = documents(rng, 16, set())
    test_docs = documents(rng, 10, set(train_docs))  # none of them seen in training
    train_q = {f"q{i}": " ".join(rng.sample(PET + MONEY, 2)) for i in range(6)}
    test_q = [q for q in ("barking dogs", "market prices", "sleeping cats today")]
    assert not set(test_q) & set(train_q.values())
    corpus = {f"d{i}": d for i, d in enumerate(train_docs)}
    labels = {q: {d: toy_teacher(text, corpus[d]) for d in corpus} for q, text in train_q.items()}
    triples, _ = normalize_margins(margin_triples(train_q, corpus, labels, per_query=8, seed=0))
    assert len(triples) == 6 * 8

    tiny = tiny_bert_folder(tmp_path / "tiny")
    before = pairwise_accuracy(CrossEncoder(str(tiny), num_labels=1), test_q, test_docs)
    config = toy_config(tiny, max_steps=40)  # the cross-encoder tests' fast toy settings
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        result = train_cross_encoder(tmp_path / "student", config, margin=triples, progress=False)
    finally:
        torch.set_num_threads(threads)
    after = pairwise_accuracy(CrossEncoder(result.out_dir), test_q, test_docs)
    print(f"held-out pairwise accuracy: untrained {before:.2f}, trained {after:.2f}")
    # 3 queries x 5 x 5 held-out pairs: chance is 0.5
    assert after >= 0.8, (before, after)
    assert after > before + 0.2, (before, after)
