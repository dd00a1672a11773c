"""Generation at inference exactly as TRL's ``GRPOTrainer`` generates in training: chat prompts
tokenized with the generation prompt, left-padded, decoded without special tokens. One function
serves the rewrite stage and the summary job, on whatever device the model is on."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any


def chat_prompt_ids(
    tokenizer: Any, messages: Sequence[Sequence[Mapping[str, str]]]
) -> list[list[int]]:
    """Token ids of each chat (``apply_chat_template`` with the generation prompt), as TRL
    tokenizes chat prompts."""
    encoded = tokenizer.apply_chat_template(
        [list(m) for m in messages], add_generation_prompt=True, tokenize=True, return_dict=True
    )
    return [list(x) for x in encoded["input_ids"]]


def eos_ids(model: Any, tokenizer: Any) -> list[int]:
    """Every end id the model declares plus the tokenizer's (what ends a completion in TRL)."""
    declared = model.generation_config.eos_token_id
    ids = [] if declared is None else [declared] if isinstance(declared, int) else list(declared)
    if tokenizer.eos_token_id is not None and tokenizer.eos_token_id not in ids:
        ids = [tokenizer.eos_token_id, *ids]
    return ids


def generate(
    model: Any,
    tokenizer: Any,
    ids: Sequence[Sequence[int]],
    max_new_tokens: int,
    temperature: float = 0.0,
    seed: int = 0,
) -> list[str]:
    """The decoded completion of each prompt (token ids) of one left-padded batch: greedy when
    ``temperature`` is 0, else sampled with ``seed``."""
    import torch
    from transformers import GenerationConfig

    width = max(len(x) for x in ids)
    pad = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else tokenizer.eos_token_id
    device = getattr(model, "device", "cpu")
    input_ids = torch.tensor([[pad] * (width - len(x)) + list(x) for x in ids], device=device)
    mask = torch.tensor([[0] * (width - len(x)) + [1] * len(x) for x in ids], device=device)
    sample = temperature > 0
    config = GenerationConfig(
        max_new_tokens=max_new_tokens,
        do_sample=sample,
        temperature=temperature if sample else None,
        top_p=None,
        top_k=None,
        pad_token_id=pad,
        eos_token_id=eos_ids(model, tokenizer),
    )
    if sample:
        torch.manual_seed(seed)
    with torch.inference_mode():
        out = model.generate(input_ids=input_ids, attention_mask=mask, generation_config=config)
    return tokenizer.batch_decode(out[:, width:], skip_special_tokens=True)
