"""A local causal LM as a pointwise relevance judge.

Each (query, document) pair becomes one prompt (:mod:`~aptrank.teach.teachers.prompts`, through
the model's chat template when it has one); the label is the expected grade under the model's
next-token distribution restricted to the answer tokens: P(yes) / (P(yes) + P(no)) for the
``yesno`` prompt, sum(p_g * g) / sum(p_g) over ``0``..``3`` for ``graded``. Prompts are batched
(left padding, length-sorted so batches pad little); a pair's label does not depend on the batch
it was scored in.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from aptrank.errors import AptrankError
from aptrank.rankers.cache import model_fingerprint
from aptrank.rankers.encoders import length_order
from aptrank.rankers.llm import DEFAULT_JUDGE, load_causal_lm, resolve_llm
from aptrank.teach.teachers.prompts import expected_grade, get_prompt

logger = logging.getLogger(__name__)


DTYPES = ("float32", "bfloat16", "float16")


@dataclass(frozen=True)
class LLMJudgeConfig:
    model: str = DEFAULT_JUDGE  #: packaged judge name, Hugging Face id, folder or .gguf file
    prompt: str = "yesno"  #: yesno (label in [0, 1]) or graded (label in [0, 3])
    max_doc_tokens: int = 256  #: the document is cut to this many tokens before prompting
    batch_size: int = 8
    dtype: str = "float32"


def _answer_token_ids(tokenizer: Any, answers: Sequence[str]) -> dict[str, list[int]]:
    """The single-token spellings of each answer (``yes``, `` yes``, ``Yes``, ...)."""
    unk = tokenizer.unk_token_id
    out: dict[str, list[int]] = {}
    for answer in answers:
        ids: list[int] = []
        for variant in (answer, answer.capitalize(), answer.upper()):
            for text in (variant, " " + variant):
                enc = tokenizer.encode(text, add_special_tokens=False)
                if len(enc) == 1 and enc[0] != unk and enc[0] not in ids:
                    ids.append(enc[0])
        if not ids:
            raise AptrankError(f"the judge's tokenizer has no single token for answer {answer!r}")
        out[answer] = ids
    return out


class LLMJudgeTeacher:
    """Labels pairs with a local causal LM; see the module doc for what a label is."""

    name = "llm"

    def __init__(self, config: LLMJudgeConfig | None = None) -> None:
        self.cfg = config or LLMJudgeConfig()
        if self.cfg.batch_size < 1 or self.cfg.max_doc_tokens < 1:
            raise AptrankError("LLM judge: batch_size and max_doc_tokens must be at least 1")
        if self.cfg.dtype not in DTYPES:
            raise AptrankError(f"LLM judge: dtype must be one of {', '.join(DTYPES)}")
        self.prompt = get_prompt(self.cfg.prompt)
        self.batch_size = self.cfg.batch_size
        self._loaded: tuple[Any, Any, str] | None = None
        self._answer_ids: dict[str, list[int]] = {}
        self._fingerprint: str | None = None

    def _load(self) -> tuple[Any, Any, str]:
        if self._loaded is None:
            model, tokenizer, fingerprint = load_causal_lm(self.cfg.model, self.cfg.dtype)
            self._answer_ids = _answer_token_ids(tokenizer, list(self.prompt.grades))
            self._loaded = (model, tokenizer, fingerprint)
        return self._loaded

    @property
    def answer_token_ids(self) -> dict[str, list[int]]:
        """The token ids whose probabilities count for each answer (e.g. ``yes``, `` yes``)."""
        self._load()
        return self._answer_ids

    def config(self) -> dict[str, object]:
        if self._fingerprint is None:  # from the source files: no need to load the model
            self._fingerprint = model_fingerprint(resolve_llm(self.cfg.model))
        return {
            "name": self.name,
            "model": self._fingerprint,
            "prompt": self.prompt.id,
            "max_doc_tokens": self.cfg.max_doc_tokens,
            "dtype": self.cfg.dtype,
        }

    def _truncate(self, tokenizer: Any, text: str) -> str:
        limit = self.cfg.max_doc_tokens
        if not tokenizer.is_fast:
            ids = tokenizer.encode(text, add_special_tokens=False)
            return text if len(ids) <= limit else tokenizer.decode(ids[:limit])
        offsets = tokenizer(text, add_special_tokens=False, return_offsets_mapping=True)[
            "offset_mapping"
        ]
        return text if len(offsets) <= limit else text[: offsets[limit - 1][1]]

    def render(self, query: str, document: str) -> str:
        """The exact prompt text the model sees for one pair."""
        _, tokenizer, _ = self._load()
        document = self._truncate(tokenizer, document)
        if getattr(tokenizer, "chat_template", None):
            return str(
                tokenizer.apply_chat_template(
                    self.prompt.messages(query, document),
                    tokenize=False,
                    add_generation_prompt=True,
                )
            )
        return self.prompt.text(query, document)

    def answer_probs(self, prompts: Sequence[str]) -> list[dict[str, float]]:
        """P(answer) per prompt from the next-token distribution, for one padded batch."""
        import torch

        model, tokenizer, _ = self._load()
        chat = bool(getattr(tokenizer, "chat_template", None))
        enc = tokenizer(
            list(prompts), return_tensors="pt", padding=True, add_special_tokens=not chat
        ).to(model.device)
        mask = enc["attention_mask"]
        positions = (mask.cumsum(-1) - 1).clamp(min=0)  # left padding: count real tokens only
        with torch.inference_mode():
            out = model(
                input_ids=enc["input_ids"],
                attention_mask=mask,
                position_ids=positions,
                logits_to_keep=1,  # only the next-token logits are needed
            )
            probs = torch.softmax(out.logits[:, -1, :].float(), dim=-1)
        return [
            {a: float(probs[i, ids].sum()) for a, ids in self._answer_ids.items()}
            for i in range(len(prompts))
        ]

    def score(self, pairs: Sequence[tuple[str, str]]) -> np.ndarray:
        labels = np.full(len(pairs), np.nan, dtype=np.float64)
        if not pairs:
            return labels
        prompts = [self.render(q, d) for q, d in pairs]
        _, tokenizer, _ = self._load()
        lengths = [len(tokenizer.encode(p, add_special_tokens=False)) for p in prompts]
        order = length_order(lengths)
        for start in range(0, len(order), self.batch_size):
            idx = order[start : start + self.batch_size]
            for i, probs in zip(idx, self.answer_probs([prompts[i] for i in idx])):
                labels[i] = expected_grade(probs, self.prompt.grades)
        return labels

    def __repr__(self) -> str:
        return f"LLMJudgeTeacher({self.cfg.model!r}, prompt={self.prompt.id!r})"
