"""Tiny random-weight models built locally from a config (no hub, a few KB, seconds to run)."""

from __future__ import annotations

from pathlib import Path

WORDS = (
    "cats purr and sleep all day dogs bark at the mailman can live together stock market fell "
    "sharply today prices of pet food companies rose sleeping barking"
).split()


#: texts the backend tests encode: plain, one word, empty, longer than max_length 64 (cut),
#: and with out-of-vocabulary pieces ([UNK])
TEXTS = [
    "cats purr and sleep all day",
    "dogs bark at the mailman",
    "the stock market fell sharply today",
    "cats",
    "",
    " ".join(WORDS * 3),
    "prices of pet food companies rose while dogs and cats sleep together all day long",
    "unknownword zebra cats",
]
#: (query, text) pairs the pair-scorer tests score, an empty query among them
PAIRS = [(q, d) for q in ("cats sleeping", "stock market", "") for d in TEXTS]


def tiny_bert_folder(folder: Path, seed: int = 0) -> Path:
    """A sentence-transformers folder (BERT: 2 layers, width 32; mean pooling; normalize)."""
    import torch
    from sentence_transformers import SentenceTransformer

    try:
        from sentence_transformers.sentence_transformer import modules as models
    except ImportError:  # sentence-transformers < 6
        from sentence_transformers import models  # type: ignore[no-redef]
    from transformers import BertConfig, BertModel, BertTokenizerFast

    folder.mkdir(parents=True, exist_ok=True)
    vocab = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", *sorted(set(WORDS))]
    raw = folder / "raw"
    raw.mkdir(exist_ok=True)
    (raw / "vocab.txt").write_text("\n".join(vocab) + "\n")
    # transformers 5 ignores vocab_file alone (every word becomes [UNK]): pass vocab too
    vocab_path = str(raw / "vocab.txt")
    tokenizer = BertTokenizerFast(vocab=vocab_path, vocab_file=vocab_path, do_lower_case=True)
    torch.manual_seed(seed)
    config = BertConfig(
        vocab_size=len(vocab),
        hidden_size=32,
        num_hidden_layers=2,
        num_attention_heads=2,
        intermediate_size=64,
        max_position_embeddings=128,
    )
    BertModel(config).save_pretrained(raw)
    tokenizer.save_pretrained(raw)
    transformer = models.Transformer(str(raw), max_seq_length=64)
    pooling = models.Pooling(transformer.get_embedding_dimension(), pooling_mode="mean")
    model = SentenceTransformer(modules=[transformer, pooling, models.Normalize()], device="cpu")
    out = folder / "st"
    model.save(str(out))
    return out
