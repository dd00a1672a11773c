"""A tiny random-weight Llama with a word-level tokenizer and a chat template, built locally."""

from __future__ import annotations

from pathlib import Path

from tests.tiny_models import WORDS

SPECIALS = ["<pad>", "<unk>", "<s>", "</s>", "<|im_start|>", "<|im_end|>"]
PROMPT_WORDS = (
    "system user assistant yes no 0 1 2 3 query document relevant is the to a or with one word "
    "answer you judge whether search : ? , . ( )"
).split()
CHAT_TEMPLATE = (
    "{% for m in messages %}<|im_start|>{{ m['role'] }}\n{{ m['content'] }}<|im_end|>\n"
    "{% endfor %}{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
)


def tiny_tokenizer(chat: bool = True):  # type: ignore[no-untyped-def]
    from tokenizers import Tokenizer, models, pre_tokenizers
    from transformers import PreTrainedTokenizerFast

    vocab = list(dict.fromkeys([*SPECIALS, *PROMPT_WORDS, *WORDS]))
    tok = Tokenizer(models.WordLevel({w: i for i, w in enumerate(vocab)}, unk_token="<unk>"))
    tok.pre_tokenizer = pre_tokenizers.Whitespace()
    tok.add_special_tokens(SPECIALS)
    fast = PreTrainedTokenizerFast(
        tokenizer_object=tok,
        unk_token="<unk>",
        pad_token="<pad>",
        bos_token="<s>",
        eos_token="</s>",
    )
    if chat:
        fast.chat_template = CHAT_TEMPLATE
    return fast


def tiny_llama_folder(folder: Path, seed: int = 0, chat: bool = True) -> Path:
    """A LlamaForCausalLM (2 layers, width 32) and its tokenizer saved in ``folder``."""
    import torch
    from transformers import LlamaConfig, LlamaForCausalLM

    tokenizer = tiny_tokenizer(chat)
    config = LlamaConfig(
        vocab_size=len(tokenizer),
        hidden_size=32,
        num_hidden_layers=2,
        num_attention_heads=2,
        num_key_value_heads=2,
        intermediate_size=64,
        max_position_embeddings=512,
        initializer_range=0.2,  # wider than the default, so answers differ between prompts
        pad_token_id=tokenizer.pad_token_id,
        bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id,
        tie_word_embeddings=False,
    )
    torch.manual_seed(seed)
    folder.mkdir(parents=True, exist_ok=True)
    LlamaForCausalLM(config).save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return folder


def _byte_alphabet() -> list[str]:
    """GPT-2's byte-to-unicode alphabet: how byte-level BPE vocabularies spell the 256 bytes."""
    keep = [*range(ord("!"), ord("~") + 1), *range(ord("¡"), ord("¬") + 1)]
    keep += range(ord("®"), ord("ÿ") + 1)
    mapping, extra = {b: chr(b) for b in keep}, 0
    for b in range(256):
        if b not in mapping:
            mapping[b], extra = chr(256 + extra), extra + 1
    return [mapping[b] for b in range(256)]


def tiny_gguf(path: Path, seed: int = 0, quantize: bool = True) -> dict[str, object]:
    """A 2-layer, width-32 Llama GGUF (weight matrices in Q4_1, as the packaged SmolLM2) with a
    byte-level BPE tokenizer whose merges make ``yes``/``no`` (and `` yes``/`` no``) single tokens
    and a chat template. Returns the dequantized token embedding, to check a load against."""
    import gguf
    import numpy as np
    from gguf import GGMLQuantizationType, quants

    merges = ["Ġ y", "Ġy e", "Ġye s", "Ġ n", "Ġn o", "y e", "ye s", "n o"]
    words = ["Ġy", "Ġye", "Ġyes", "Ġn", "Ġno", "ye", "yes", "no"]
    specials = ["<|endoftext|>", "<|im_start|>", "<|im_end|>"]
    tokens = [*_byte_alphabet(), *words, *specials]
    hidden, ffn, layers, vocab = 32, 64, 2, len(tokens)
    w = gguf.GGUFWriter(str(path), "llama")
    w.add_context_length(1024)
    w.add_embedding_length(hidden)
    w.add_block_count(layers)
    w.add_feed_forward_length(ffn)
    w.add_head_count(2)
    w.add_head_count_kv(2)
    w.add_rope_dimension_count(hidden // 2)
    w.add_layer_norm_rms_eps(1e-5)
    w.add_vocab_size(vocab)
    w.add_tokenizer_model("gpt2")
    w.add_tokenizer_pre("default")
    w.add_token_list(tokens)
    w.add_token_types([1] * (vocab - len(specials)) + [3] * len(specials))
    w.add_token_merges(merges)
    for add in (w.add_bos_token_id, w.add_eos_token_id, w.add_pad_token_id):
        add(vocab - len(specials))
    w.add_chat_template(CHAT_TEMPLATE)
    rng = np.random.default_rng(seed)
    out: dict[str, object] = {}

    def matrix(name: str, rows: int, cols: int) -> None:
        data = (rng.standard_normal((rows, cols)) * 0.2).astype(np.float32)
        if quantize:
            packed = quants.quantize(data, GGMLQuantizationType.Q4_1)
            w.add_tensor(name, packed, raw_dtype=GGMLQuantizationType.Q4_1)
            data = quants.dequantize(packed, GGMLQuantizationType.Q4_1)
        else:
            w.add_tensor(name, data)
        out[name] = data

    matrix("token_embd.weight", vocab, hidden)
    for i in range(layers):
        w.add_tensor(f"blk.{i}.attn_norm.weight", np.ones(hidden, np.float32))
        w.add_tensor(f"blk.{i}.ffn_norm.weight", np.ones(hidden, np.float32))
        for name in ("attn_q", "attn_k", "attn_v", "attn_output"):
            matrix(f"blk.{i}.{name}.weight", hidden, hidden)
        matrix(f"blk.{i}.ffn_gate.weight", ffn, hidden)
        matrix(f"blk.{i}.ffn_up.weight", ffn, hidden)
        matrix(f"blk.{i}.ffn_down.weight", hidden, ffn)
    w.add_tensor("output_norm.weight", np.ones(hidden, np.float32))
    matrix("output.weight", vocab, hidden)
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()
    return out
