"""Generated pairs: reasons recorded, paraphrases that string matching cannot see, and the
generator never opens a dataset's queries or judgments."""

from __future__ import annotations

import builtins
import gzip
import json
import sys
from pathlib import Path

import pytest

from aptrank.cli.main import main
from aptrank.constraints.generate import GenerateConfig, _mentions, generate
from aptrank.types import Doc
from tests.helpers import write_beir

TEXTS = [
    "Tumour necrosis factor (TNF) drives inflammation in joints. TNF levels rise in arthritis. "
    "Synovial cells respond to cytokines. Treatment reduced swelling in most patients. "
    "Biopsies were taken at baseline.",
    "Insulin resistance increases with obesity. Adipose tissue secretes hormones. Muscle uptake "
    "of glucose is impaired. Exercise improves sensitivity in adults. Diet matters too.",
    "Regulatory T cells (Tregs) suppress autoimmunity. Mice lacking Tregs develop "
    "lymphoproliferation. "
    "Thymic selection shapes the repertoire. Cytokines modulate proliferation. Results are robust.",
]
CORPUS = {f"d{i}": Doc(t, "") for i, t in enumerate(TEXTS * 4)}


def test_every_record_has_a_reason_and_its_kind_holds() -> None:
    train, dev = generate(CORPUS, GenerateConfig(n=40, dev=6, seed=1))
    rows = train + dev
    assert rows and {r["kind"] for r in rows} >= {"exclusion", "paraphrase", "negation"}
    assert {r["doc_id"] for r in train}.isdisjoint({r["doc_id"] for r in dev})
    for r in rows:
        assert r["reason"] and r["satisfying"] != r["violating"]
        if r["kind"] in ("exclusion", "paraphrase"):
            excluded = r["statement"].removeprefix("exclude: ")
            head = excluded.split()[0]
            assert not _mentions(r["satisfying"], head)
        if r["kind"] == "paraphrase":  # the violator never names the excluded form verbatim
            assert not _mentions(r["violating"], excluded)
        if r["kind"] == "exclusion":
            assert _mentions(r["violating"], excluded.split()[0])


def test_generation_never_opens_queries_or_judgments(tmp_path: Path, monkeypatch) -> None:
    data = write_beir(tmp_path / "other", corpus=CORPUS)
    opened: list[str] = []
    real_open, real_gzip = builtins.open, gzip.open

    def spy_open(file, *args, **kwargs):
        opened.append(str(file))
        return real_open(file, *args, **kwargs)

    def spy_gzip(file, *args, **kwargs):
        opened.append(str(file))
        return real_gzip(file, *args, **kwargs)

    monkeypatch.setattr(builtins, "open", spy_open)
    monkeypatch.setattr(gzip, "open", spy_gzip)
    out = tmp_path / "pairs"
    monkeypatch.setattr(
        sys,
        "argv",
        [
            "aptrank",
            "constraints",
            "generate",
            str(data),
            "-o",
            str(out),
            "--n",
            "20",
            "--dev",
            "2",
        ],
    )
    with pytest.raises(SystemExit) as e:
        main()
    assert e.value.code in (0, None)
    read = [p for p in opened if p.startswith(str(data))]
    assert read and all(Path(p).name == "corpus.jsonl" for p in read), read
    assert json.loads((out / "generate.json").read_text())["counts"]["train"]
