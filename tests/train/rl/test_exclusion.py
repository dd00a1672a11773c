"""Exclusion queries generated from a corpus alone (the rewriter's training data)."""

from __future__ import annotations

import builtins
import io
import json
from pathlib import Path

import pytest

from aptrank.constraints.parse import delete_exclusion, parse_query
from aptrank.data import load_dataset
from aptrank.errors import AptrankError
from aptrank.train.rl.exclusion import (
    TITLE_TEMPLATES,
    ExclusionConfig,
    exclusion_queries,
    write_exclusion_dataset,
)
from aptrank.types import Doc

TOPICS = {
    "stroke": "aspirin dose clopidogrel warfarin bleeding",
    "malaria": "mosquito anopheles spraying netting parasite",
    "diabetes": "insulin glucose metformin obesity pancreas",
}


def corpus() -> dict[str, Doc]:
    """Per topic: a seed document titled by the topic that never uses the topic's first extra
    word, four that do, and unrelated filler."""
    docs = {}
    for t, (topic, extra) in enumerate(TOPICS.items()):
        vocab = extra.split()
        docs[f"{topic}-seed"] = Doc(f"{topic} {vocab[1]} outcomes", title=topic)
        for i in range(4):
            docs[f"{topic}-{i}"] = Doc(f"{topic} {vocab[0]} {vocab[(i % 4) + 1]} patients")
        for i in range(6):
            docs[f"other{t}-{i}"] = Doc(f"word{t}{i} filler text", title="unrelated")
    return docs


@pytest.mark.parametrize("phrasing", ["keywords", "title"])
def test_queries_exclude_a_term_the_seed_never_uses_and_judge_its_users_as_violators(phrasing):
    config = ExclusionConfig(
        queries=50, topic_terms=1, pool=5, relevant_depth=5, max_df=0.5, phrasing=phrasing
    )
    made = exclusion_queries(corpus(), config)
    assert made["queries"], made
    docs = corpus()
    for qid, text in made["queries"].items():
        reason, judged = made["reasons"][qid], made["qrels"][qid]
        term, seed = reason["term"], reason["seed"]
        assert term not in f"{docs[seed].title} {docs[seed].text}".lower()
        assert judged[seed] == 2
        assert len(reason["violators"]) >= config.min_violators
        for d in reason["violators"]:
            assert term in docs[d].text.lower() and judged[d] == 0
        # the constraint parser reads the exclusion, and the rule deletes it
        parsed = parse_query(text)
        assert [c.kind for c in parsed.constraints][:1] == ["exclusion"], text
        assert term not in delete_exclusion(text).lower(), text
        # the rule leaves the topic: the seed's title (or its topic words) in its frame
        kept = delete_exclusion(text)
        topic = docs[seed].title if phrasing == "title" else reason["topic"]
        assert topic.lower() in kept.lower(), text
    assert exclusion_queries(corpus(), config) == made  # deterministic


def test_every_title_frame_is_read_by_the_constraint_parser():
    for template in TITLE_TEMPLATES:
        text = template.format(topic="Statin use and risk of stroke", term="warfarin")
        assert [c.kind for c in parse_query(text).constraints] == ["exclusion"], text
        kept = delete_exclusion(text)
        assert "warfarin" not in kept and "Statin use and risk of stroke" in kept, text


def test_config_checks_its_numbers():
    with pytest.raises(AptrankError, match="relevant_depth"):
        ExclusionConfig(pool=5, relevant_depth=6)
    with pytest.raises(AptrankError, match="unknown phrasing 'prose'"):
        ExclusionConfig(phrasing="prose")


def test_the_dataset_is_written_from_the_corpus_alone(tmp_path: Path, monkeypatch):
    """Only the source's corpus.jsonl is opened: no query, no judgment of any dataset, and the
    evaluated dataset (here a folder beside it) is never touched."""
    source, evaluated = tmp_path / "source", tmp_path / "evaluated"
    for folder in (source, evaluated):
        (folder / "qrels").mkdir(parents=True)
        with open(folder / "corpus.jsonl", "w") as f:
            for i, d in corpus().items():
                f.write(json.dumps({"_id": i, "title": d.title, "text": d.text}) + "\n")
        (folder / "queries.jsonl").write_text(json.dumps({"_id": "q", "text": "x"}) + "\n")
        (folder / "qrels" / "test.tsv").write_text("query-id\tcorpus-id\tscore\nq\tstroke-0\t1\n")
    opened: list[Path] = []
    real_open, real_io_open = builtins.open, io.open

    def spy(file, *args, **kwargs):
        opened.append(Path(file).resolve() if isinstance(file, (str, Path)) else Path("<fd>"))
        return real_open(file, *args, **kwargs)

    monkeypatch.setattr(builtins, "open", spy)
    monkeypatch.setattr(io, "open", spy)
    config = ExclusionConfig(queries=50, topic_terms=1, pool=5, relevant_depth=5, max_df=0.5)
    out = write_exclusion_dataset(source, tmp_path / "made", config)
    monkeypatch.setattr(builtins, "open", real_open)
    monkeypatch.setattr(io, "open", real_io_open)
    read = [p for p in opened if tmp_path in p.parents and (tmp_path / "made") not in p.parents]
    assert read and set(read) == {(source / "corpus.jsonl").resolve()}
    assert not any(evaluated in p.parents for p in opened)

    made = load_dataset(str(out), "train")
    assert (out / "corpus.jsonl").is_symlink()  # a link to the source, never a copy
    assert len(made.corpus) == len(corpus()) and made.queries
    assert write_exclusion_dataset(source, out, config) == out  # reused, not rebuilt
