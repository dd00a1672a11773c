"""Synthetic queries (doc2query): a local LM writes queries for corpus items, nothing else.

Queries are generated from documents only — never from test queries or judgments — so they can
train a ranker without leaking the evaluation. Generation is resumable: each batch is appended to
a JSONL file (one record per generation, kept or rejected with a reason) and fsynced, a re-run
skips the documents already there, and killing the process loses at most the batch in flight. The
file's first line holds the config and model fingerprint; a re-run with another config refuses
to mix the two. Cleaning and filtering live in :mod:`aptrank.teach.query_filter`.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import random
import time
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from functools import cache, partial
from pathlib import Path
from typing import Any

from aptrank.errors import AptrankError, DataError
from aptrank.rankers.cache import model_fingerprint
from aptrank.rankers.llm import DEFAULT_JUDGE, load_causal_lm, resolve_llm
from aptrank.scale import Remote, map_batches
from aptrank.teach.query_filter import (
    REASONS,
    clean_query,
    dedupe,
    is_unfinished,
    query_problem,
)
from aptrank.types import Corpus, Doc, Query

logger = logging.getLogger(__name__)

FORMAT = "aptrank-synthetic-queries-v1"

#: progress(done, total): documents finished (this run and earlier runs) out of those asked for
Progress = Callable[[int, int], None]


@dataclass(frozen=True)
class QueryPrompt:
    """A generation prompt; its id is saved with every query, so change ``id`` with the wording."""

    id: str
    system: str
    user: str  #: with a ``{document}`` placeholder
    label: str  #: what the plain-text prompt ends with (``Query``), for models without a template

    def messages(self, document: str) -> list[dict[str, str]]:
        return [
            {"role": "system", "content": self.system},
            {"role": "user", "content": self.user.format(document=document)},
        ]

    def text(self, document: str) -> str:
        return f"{self.system}\n\n{self.user.format(document=document)}\n{self.label}:"


QUERY_PROMPTS: dict[str, QueryPrompt] = {
    p.id: p
    for p in (
        QueryPrompt(
            id="doc2query-v1",
            system=(
                "You write search queries. Given a document, write one short search query that a "
                "user would type into a search engine and that the document answers. Reply with "
                "the query only."
            ),
            user="Document: {document}\n\nWrite one short search query that this document answers.",
            label="Query",
        ),
        QueryPrompt(
            id="doc2claim-v1",
            system=(
                "You write scientific claims. Given a research abstract, write one short factual "
                "claim, a single sentence, that the abstract supports. Reply with the claim only."
            ),
            user="Abstract: {document}\n\nWrite one short claim that this abstract supports.",
            label="Claim",
        ),
    )
}


@dataclass(frozen=True)
class SyntheticConfig:
    """How queries are generated and filtered; saved as the first line of the output file."""

    model: str = DEFAULT_JUDGE  #: packaged LM name, Hugging Face id, folder or .gguf file
    prompt: str = "doc2query-v1"  #: a key of :data:`QUERY_PROMPTS`
    per_doc: int = 1  #: queries generated per document (more than one needs sampling)
    max_new_tokens: int = 40
    temperature: float = 0.7
    top_p: float = 0.9
    do_sample: bool = True
    max_doc_words: int = 160  #: title + text are cut to this many words before prompting
    batch_size: int = 8
    seed: int = 0
    min_words: int = 3
    max_words: int = 32
    max_copy_words: int = 12  #: a verbatim span of the document longer than this is rejected

    def __post_init__(self) -> None:
        if self.prompt not in QUERY_PROMPTS:
            raise AptrankError(
                f"unknown query prompt {self.prompt!r}; prompts: {', '.join(QUERY_PROMPTS)}"
            )
        if min(self.per_doc, self.max_new_tokens, self.max_doc_words, self.batch_size) < 1:
            raise AptrankError("per_doc, max_new_tokens, max_doc_words, batch_size must be >= 1")
        if self.per_doc > 1 and not self.do_sample:
            raise AptrankError("per_doc > 1 needs do_sample=True (greedy decoding repeats itself)")


@dataclass(frozen=True)
class SyntheticFile:
    """What a synthetic-query file holds: kept queries (deduplicated) and rejection counts."""

    path: str
    config: Mapping[str, Any]
    model: str  #: fingerprint of the generating model
    generator: str  #: the short id in every query's ``meta["generator"]``
    queries: dict[str, Query]
    counts: dict[str, int] = field(default_factory=dict)  #: reason -> rejected generations
    generations: int = 0


def _prompt_text(config: SyntheticConfig) -> str:
    """The prompt's wording, stored with the config: an edited prompt must not resume a file."""
    return QUERY_PROMPTS[config.prompt].text("{document}")


def generator_id(config: SyntheticConfig, fingerprint: str) -> str:
    """``<prompt>@<hash of config, prompt wording and model>``: short, different for any change."""
    blob = json.dumps(
        {"config": asdict(config), "prompt": _prompt_text(config), "model": fingerprint},
        sort_keys=True,
    )
    return f"{config.prompt}@{hashlib.sha256(blob.encode()).hexdigest()[:8]}"


def sample_documents(corpus: Corpus, n: int, seed: int = 0) -> list[str]:
    """``n`` document ids drawn without replacement, the same for the same corpus ids and seed."""
    ids = sorted(corpus)
    if n >= len(ids):
        return ids
    return random.Random(seed).sample(ids, n)


def render_document(doc: Doc, max_words: int) -> str:
    """Title and text, cut to ``max_words`` words (the title counts)."""
    title = " ".join(doc.title.split())
    words = doc.text.split()[: max(0, max_words - len(title.split()))]
    return f"{title}\n{' '.join(words)}" if title else " ".join(words)


def _read(path: Path) -> tuple[dict[str, Any] | None, list[dict[str, Any]]]:
    """The header and records of ``path``; a torn last line (a killed write) is cut off."""
    if not path.exists() or path.stat().st_size == 0:
        return None, []
    data = path.read_bytes()
    if not data.endswith(b"\n"):
        keep = data.rfind(b"\n") + 1
        logger.warning("%s: dropping an incomplete last line (interrupted write)", path)
        with open(path, "r+b") as f:
            f.truncate(keep)
        data = data[:keep]
    lines = data.decode("utf-8").splitlines()
    if not lines:
        return None, []
    rows = []
    for number, line in enumerate(lines, start=1):
        try:
            rows.append(json.loads(line))
        except json.JSONDecodeError as e:
            raise DataError(f"not JSON: {e.msg}", path=path, line=number) from None
    header = rows[0].get("header") if isinstance(rows[0], dict) else None
    if not isinstance(header, dict) or header.get("format") != FORMAT:
        raise DataError(f"not a synthetic-query file (no {FORMAT} header)", path=path, line=1)
    return header, rows[1:]


def _to_queries(records: Sequence[Mapping[str, Any]], generator: str) -> dict[str, Query]:
    return {
        r["qid"]: Query(r["text"], {"source_doc": r["doc_id"], "generator": generator})
        for r in records
        if r.get("reason") is None
    }


def read_synthetic(path: str | Path) -> SyntheticFile:
    """Everything a synthetic-query file holds (see :class:`SyntheticFile`)."""
    path = Path(path)
    header, records = _read(path)
    if header is None:
        raise DataError("empty synthetic-query file", path=path)
    queries, duplicates = dedupe(_to_queries(records, header["generator"]))
    counts = {r: sum(1 for x in records if x.get("reason") == r) for r in REASONS}
    counts["duplicate"] = duplicates
    return SyntheticFile(
        path=str(path),
        config=header["config"],
        model=header["model"],
        generator=header["generator"],
        queries=queries,
        counts={r: n for r, n in counts.items() if n},
        generations=len(records),
    )


def load_synthetic(path: str | Path) -> dict[str, Query]:
    """The kept, deduplicated queries of a synthetic-query file."""
    return read_synthetic(path).queries


def _open_file(path: Path, config: SyntheticConfig, fingerprint: str) -> list[dict[str, Any]]:
    """Check an existing file's header against ``config`` (or write one); its records."""
    header, records = _read(path)
    settings = asdict(config)
    expected = {
        "format": FORMAT,
        "config": settings,
        "prompt_text": _prompt_text(config),
        "model": fingerprint,
        "generator": generator_id(config, fingerprint),
    }
    if header is None:
        path.parent.mkdir(parents=True, exist_ok=True)
        with open(path, "w", encoding="utf-8") as f:
            f.write(json.dumps({"header": expected}) + "\n")
            f.flush()
            os.fsync(f.fileno())
        return []
    if header != expected:
        old = {**header.get("config", {}), **{k: header.get(k) for k in ("model", "prompt_text")}}
        new = {**settings, "model": fingerprint, "prompt_text": expected["prompt_text"]}
        diff = sorted(k for k in old.keys() | new.keys() if old.get(k) != new.get(k))
        raise AptrankError(
            f"{path} was generated with another config (differs in: {', '.join(diff)}); "
            "use a new file or the same config"
        )
    return records


def _line_done(text: str) -> bool:
    """Whether ``text`` already holds a complete line that :func:`clean_query` would keep."""
    return any(clean_query(line) for line in text.split("\n")[:-1])


def _generate_batch(
    model: Any, tokenizer: Any, prompts: Sequence[str], config: SyntheticConfig, seed: int
) -> list[list[tuple[str, bool]]]:
    """``config.per_doc`` ``(raw text, finished)`` generations for every prompt of one
    left-padded batch. A sequence stops at its end token or once its first usable line is
    complete (only that line is kept, so the rest would be wasted time)."""
    import torch
    from transformers import StoppingCriteria, StoppingCriteriaList

    chat = bool(getattr(tokenizer, "chat_template", None))
    enc = tokenizer(list(prompts), return_tensors="pt", padding=True, add_special_tokens=not chat)
    enc = enc.to(model.device)
    start = enc["input_ids"].shape[1]

    class FirstLine(StoppingCriteria):
        def __call__(self, input_ids: Any, scores: Any, **kwargs: Any) -> Any:
            texts = tokenizer.batch_decode(input_ids[:, start:], skip_special_tokens=True)
            return torch.tensor([_line_done(t) for t in texts], device=input_ids.device)

    stops = {tokenizer.eos_token_id}
    im_end = tokenizer.convert_tokens_to_ids("<|im_end|>")
    if isinstance(im_end, int) and im_end != tokenizer.unk_token_id:
        stops.add(im_end)
    sampling = (
        {"do_sample": True, "temperature": config.temperature, "top_p": config.top_p}
        if config.do_sample
        else {"do_sample": False}
    )
    torch.manual_seed(seed)
    with torch.inference_mode():
        out = model.generate(
            **enc,
            max_new_tokens=config.max_new_tokens,
            num_return_sequences=config.per_doc,
            pad_token_id=tokenizer.pad_token_id,
            eos_token_id=sorted(stops),
            stopping_criteria=StoppingCriteriaList([FirstLine()]),
            **sampling,
        )
    new = out[:, start:]
    texts = tokenizer.batch_decode(new, skip_special_tokens=True)
    ended = [bool(set(row.tolist()) & stops) or _line_done(t) for row, t in zip(new, texts)]
    pairs = list(zip(texts, ended))
    n = config.per_doc
    return [pairs[i * n : (i + 1) * n] for i in range(len(prompts))]


def _render_prompt(tokenizer: Any, prompt: QueryPrompt, document: str) -> str:
    if getattr(tokenizer, "chat_template", None):
        return str(
            tokenizer.apply_chat_template(
                prompt.messages(document), tokenize=False, add_generation_prompt=True
            )
        )
    return prompt.text(document)


def generate_queries(
    corpus: Corpus,
    doc_ids: Sequence[str],
    config: SyntheticConfig,
    path: str | Path,
    progress: Progress | None = None,
) -> dict[str, Query]:
    """Generate, clean, filter and store queries for ``doc_ids``; the kept ones for those docs.

    Query ids are ``syn-<doc_id>-<k>``. Batches are cut from ``doc_ids`` as given and batch ``b``
    samples under seed ``config.seed + b``, so an interrupted and resumed run writes what an
    uninterrupted one would have. Duplicates are dropped across ``doc_ids`` (smallest doc id wins).
    """
    path = Path(path)
    ids = list(dict.fromkeys(doc_ids))
    missing = [d for d in ids if d not in corpus]
    if missing:
        raise AptrankError(f"{len(missing)} document ids are not in the corpus, e.g. {missing[0]}")
    fingerprint = model_fingerprint(resolve_llm(config.model))
    generator = generator_id(config, fingerprint)
    records = _open_file(path, config, fingerprint)
    done = {r["doc_id"] for r in records}
    size, load = config.batch_size, partial(load_causal_lm, config.model)
    lm = cache(load)  # the local engine loads the LM for the first batch left, once
    tasks = [  # (seed, the documents left in the batch, how far the batch reaches)
        (config.seed + b, {d: corpus[d] for d in ids[at : at + size] if d not in done}, at + size)
        for b, at in enumerate(range(0, len(ids), size))
    ]
    started, made = time.perf_counter(), 0
    with open(path, "a", encoding="utf-8") as out:
        for (_, docs, reach), batch in map_batches(
            [task for task in tasks if task[1]],
            local=lambda task: _generate_records(lm(), task, config),
            remote=Remote(load, partial(_generate_records, config=config)),
            name=f"generating queries with {generator}",
            ordered=True,
        ):
            out.write("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in batch))
            out.flush()
            os.fsync(out.fileno())
            records.extend(batch)
            done.update(docs)
            made += len(batch)
            if progress:
                progress(min(reach, len(ids)), len(ids))
    if progress:
        progress(len(ids), len(ids))
    if made:
        seconds = time.perf_counter() - started
        logger.info(
            "%d generations in %.1f s (%.2f/s) into %s", made, seconds, made / seconds, path
        )
    wanted = [r for r in records if r["doc_id"] in set(ids)]
    queries, duplicates = dedupe(_to_queries(wanted, generator))
    rejected = Counter(r["reason"] for r in wanted if r["reason"] is not None)
    logger.info(
        "kept %d of %d generations; rejected: %s",
        len(queries),
        len(wanted),
        dict(rejected, duplicate=duplicates),
    )
    return queries


def _generate_records(
    loaded: tuple[Any, Any, str], task: tuple[int, Corpus, int], config: SyntheticConfig
) -> list[dict[str, Any]]:
    """One batch (here, or on a Ray actor), ``task`` = (seed, its documents, how far it reaches):
    one cleaned and checked record per generation."""
    seed, batch, _ = task
    model, tokenizer, _ = loaded
    prompt = QUERY_PROMPTS[config.prompt]
    docs = [render_document(doc, config.max_doc_words) for doc in batch.values()]
    raws = _generate_batch(
        model, tokenizer, [_render_prompt(tokenizer, prompt, doc) for doc in docs], config, seed
    )
    return [
        _record(d, k, raw, finished, batch[d], config)
        for d, generations in zip(batch, raws)
        for k, (raw, finished) in enumerate(generations)
    ]


def _record(
    doc_id: str, k: int, raw: str, finished: bool, doc: Doc, config: SyntheticConfig
) -> dict[str, Any]:
    text = clean_query(raw)
    reason = query_problem(text, doc, config.min_words, config.max_words, config.max_copy_words)
    if reason is None and is_unfinished(raw, text, finished):
        reason = "unfinished"  # cut by max_new_tokens: likely half a query
    return {
        "qid": f"syn-{doc_id}-{k}",
        "doc_id": doc_id,
        "text": text,
        "reason": reason,
        "raw": raw,
        "finished": finished,
    }
