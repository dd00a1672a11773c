"""Synthetic queries on a tiny random-weight Llama: ids, determinism, resume, config checks."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import pytest

from aptrank.errors import AptrankError, DataError
from aptrank.teach import synthetic
from aptrank.teach.synthetic import (
    SyntheticConfig,
    generate_queries,
    load_synthetic,
    read_synthetic,
    render_document,
    sample_documents,
)
from aptrank.types import Doc
from tests.helpers import CORPUS
from tests.teach.tiny_llm import tiny_llama_folder

IDS = sorted(CORPUS)
REAL_GENERATE = synthetic._generate_batch


@pytest.fixture(scope="module")
def tiny(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tiny_llama_folder(tmp_path_factory.mktemp("llama"))


def config(tiny: Path, **kw) -> SyntheticConfig:
    base = {"model": str(tiny), "max_new_tokens": 6, "min_words": 1, "batch_size": 2}
    return SyntheticConfig(**{**base, **kw})


def records(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines()[1:]]


class CountingGenerate:
    """Wraps the real batch generation; counts the prompts and can fail on a given call."""

    def __init__(self, fail_on: int | None = None) -> None:
        self.prompts: list[int] = []
        self.fail_on = fail_on

    def __call__(self, model, tokenizer, prompts, cfg, seed):
        if self.fail_on is not None and len(self.prompts) == self.fail_on:
            raise KeyboardInterrupt
        self.prompts.append(len(prompts))
        return REAL_GENERATE(model, tokenizer, prompts, cfg, seed)


def test_ids_and_file_records(tiny: Path, tmp_path: Path):
    cfg = config(tiny, per_doc=2)
    out = generate_queries(CORPUS, IDS, cfg, tmp_path / "syn.jsonl")
    recs = records(tmp_path / "syn.jsonl")
    assert [r["qid"] for r in recs] == [f"syn-{d}-{k}" for d in IDS for k in (0, 1)]
    assert all(set(r) == {"qid", "doc_id", "text", "reason", "raw", "finished"} for r in recs)
    assert set(out) <= {r["qid"] for r in recs if r["reason"] is None}
    info = read_synthetic(tmp_path / "syn.jsonl")
    assert info.generations == 2 * len(IDS) and info.config["seed"] == 0
    assert info.generator.startswith("doc2query-v1@")
    assert sum(info.counts.values()) == info.generations - len(out)


CANNED = {
    "d1": ('Query: "why do cats sleep all day"\nExplanation: cats', True),
    "d2": ("dogs", True),  # too short
    "d3": ("Why do cats sleep all day?", True),  # a duplicate of d1's query
    "d4": ("the stock market fell because", False),  # cut by the token limit
    "d:5/<x>": ("1. pet food stock prices rising\n2. more", False),  # a complete first line
}


def canned(model, tokenizer, prompts, cfg, seed):
    """One canned generation per prompt, chosen by the document text in the prompt."""
    out = []
    for prompt in prompts:
        (doc_id,) = [d for d in CORPUS if CORPUS[d].text in prompt]
        out.append([CANNED[doc_id]])
    return out


def test_kept_queries_are_cleaned_filtered_and_deduplicated(tiny, tmp_path, monkeypatch):
    monkeypatch.setattr(synthetic, "_generate_batch", canned)
    path = tmp_path / "syn.jsonl"
    out = generate_queries(CORPUS, list(reversed(IDS)), config(tiny, min_words=3), path)
    assert {q: v.text for q, v in out.items()} == {
        "syn-d1-0": "why do cats sleep all day",
        "syn-d:5/<x>-0": "pet food stock prices rising",
    }
    generator = read_synthetic(path).generator
    assert out["syn-d1-0"].meta == {"source_doc": "d1", "generator": generator}
    assert load_synthetic(path) == out
    assert read_synthetic(path).counts == {"unfinished": 1, "too_short": 1, "duplicate": 1}
    reasons = {r["doc_id"]: r["reason"] for r in records(path)}
    assert reasons == {"d1": None, "d2": "too_short", "d3": None, "d4": "unfinished",
                       "d:5/<x>": None}  # fmt: skip


def test_same_seed_same_generations_other_seed_others(tiny: Path, tmp_path: Path):
    a = generate_queries(CORPUS, IDS, config(tiny), tmp_path / "a.jsonl")
    b = generate_queries(CORPUS, IDS, config(tiny), tmp_path / "b.jsonl")
    generate_queries(CORPUS, IDS, config(tiny, seed=1), tmp_path / "c.jsonl")
    assert records(tmp_path / "a.jsonl") == records(tmp_path / "b.jsonl")
    assert a == b
    raws = [[r["raw"] for r in records(tmp_path / n)] for n in ("a.jsonl", "c.jsonl")]
    assert raws[0] != raws[1] and all(raws[0])
    ids = {read_synthetic(tmp_path / n).generator for n in ("a.jsonl", "b.jsonl", "c.jsonl")}
    assert len(ids) == 2


def test_resume_skips_done_documents(tiny: Path, tmp_path: Path, monkeypatch):
    path = tmp_path / "syn.jsonl"
    generate_queries(CORPUS, IDS[:3], config(tiny), path)
    first = records(path)
    counter = CountingGenerate()
    monkeypatch.setattr(synthetic, "_generate_batch", counter)
    generate_queries(CORPUS, IDS, config(tiny), path)
    assert counter.prompts == [1, 1]  # (d1,d2) skipped, d4 of (d3,d4), then d:5/<x> alone
    assert records(path)[:3] == first
    assert [r["doc_id"] for r in records(path)] == IDS
    counter.prompts.clear()
    generate_queries(CORPUS, IDS, config(tiny), path)
    assert counter.prompts == []


def test_interrupted_run_resumes_to_the_same_file(tiny: Path, tmp_path: Path, monkeypatch):
    whole = tmp_path / "whole.jsonl"
    generate_queries(CORPUS, IDS, config(tiny), whole)
    broken = tmp_path / "broken.jsonl"
    monkeypatch.setattr(synthetic, "_generate_batch", CountingGenerate(fail_on=1))
    with pytest.raises(KeyboardInterrupt):
        generate_queries(CORPUS, IDS, config(tiny), broken)
    assert len(records(broken)) == 2  # the first batch was written before the kill
    with open(broken, "a") as f:
        f.write('{"qid": "syn-d3-0", "doc_')  # a write torn by the kill
    counter = CountingGenerate()
    monkeypatch.setattr(synthetic, "_generate_batch", counter)
    generate_queries(CORPUS, IDS, config(tiny), broken)
    assert counter.prompts == [2, 1]
    assert broken.read_text() == whole.read_text()


def test_other_config_on_resume_names_the_file(tiny: Path, tmp_path: Path):
    path = tmp_path / "syn.jsonl"
    generate_queries(CORPUS, IDS[:1], config(tiny), path)
    with pytest.raises(AptrankError, match=r"syn\.jsonl.*temperature"):
        generate_queries(CORPUS, IDS, config(tiny, temperature=0.1), path)


def test_an_edited_prompt_does_not_resume_a_file(tiny: Path, tmp_path: Path, monkeypatch):
    path = tmp_path / "syn.jsonl"
    generate_queries(CORPUS, IDS[:1], config(tiny), path)
    edited = dataclasses.replace(synthetic.QUERY_PROMPTS["doc2query-v1"], user="{document}?")
    monkeypatch.setitem(synthetic.QUERY_PROMPTS, "doc2query-v1", edited)
    with pytest.raises(AptrankError, match=r"syn\.jsonl.*prompt_text"):
        generate_queries(CORPUS, IDS, config(tiny), path)


def test_not_a_synthetic_file_is_rejected(tmp_path: Path):
    path = tmp_path / "x.jsonl"
    path.write_text('{"qid": "a"}\n')
    with pytest.raises(DataError, match=r"x\.jsonl:1"):
        load_synthetic(path)


def test_config_validation():
    with pytest.raises(AptrankError, match="unknown query prompt"):
        SyntheticConfig(prompt="nope")
    with pytest.raises(AptrankError, match="do_sample"):
        SyntheticConfig(per_doc=2, do_sample=False)
    assert SyntheticConfig(prompt="doc2claim-v1").prompt == "doc2claim-v1"


def test_unknown_document_ids_are_rejected(tiny: Path, tmp_path: Path):
    with pytest.raises(AptrankError, match="not in the corpus"):
        generate_queries(CORPUS, ["nope"], config(tiny), tmp_path / "s.jsonl")


def test_sample_documents_is_seeded_and_order_free():
    shuffled = dict(reversed(list(CORPUS.items())))
    assert sample_documents(CORPUS, 3, seed=7) == sample_documents(shuffled, 3, seed=7)
    assert len(set(sample_documents(CORPUS, 3, seed=7))) == 3
    draws = {tuple(sample_documents(CORPUS, 2, seed=s)) for s in range(10)}
    assert len(draws) > 1
    assert sample_documents(CORPUS, 99) == IDS


def test_render_document_counts_the_title():
    doc = Doc("one two three four five", title="A title")
    assert render_document(doc, 4) == "A title\none two"
    assert render_document(Doc("one two three"), 2) == "one two"


def test_generation_stops_once_a_usable_line_is_complete():
    assert not synthetic._line_done("Here is a query:\n")  # only a prefix so far
    assert not synthetic._line_done("does aspirin prevent stroke")  # the line may go on
    assert synthetic._line_done("Here is a query:\ndoes aspirin prevent stroke\n")
