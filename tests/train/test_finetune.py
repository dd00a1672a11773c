"""aptrank finetune with a tiny random-weight bi-encoder (2 layers, width 32) on a generated BEIR
folder: mining, the examples, training, resume, the artifact and the CLI's one-line errors."""

from __future__ import annotations

import json
import random
import sys
from dataclasses import replace
from pathlib import Path

import pytest

st = pytest.importorskip("sentence_transformers")
pytest.importorskip("datasets")

import torch  # noqa: E402
from safetensors.torch import load_file  # noqa: E402
from transformers import TrainerCallback  # noqa: E402

from aptrank.errors import AptrankError  # noqa: E402
from aptrank.train.finetune import (  # noqa: E402
    MIN_JUDGED_QUERIES,
    FinetuneConfig,
    Mined,
    build_examples,
    mine_negatives,
)
from aptrank.types import Doc  # noqa: E402
from tests.tiny_models import WORDS, tiny_bert_folder  # noqa: E402

VOCAB = sorted(set(WORDS))


def write_dataset(folder: Path, train: int = 36, test: int = 8) -> Path:
    """``train + test`` queries over as many documents: query i names three words of document
    i (relevant) and one of document i+1 (judged wrong); every fourth query has a second
    relevant document. Words come from the tiny model's vocabulary."""
    rng = random.Random(0)
    n = train + test
    docs = [rng.sample(VOCAB, 6) for _ in range(n)]
    queries = {f"q{i}": " ".join(docs[i][:3] + docs[(i + 1) % n][3:4]) for i in range(n)}
    qrels = {f"q{i}": {f"d{i}": 1, f"d{(i + 1) % n}": 0} for i in range(n)}
    for i in range(0, n, 4):
        qrels[f"q{i}"][f"d{(i + 7) % n}"] = 2
    (folder / "qrels").mkdir(parents=True)
    with open(folder / "corpus.jsonl", "w") as f:
        for i, words in enumerate(docs):
            f.write(json.dumps({"_id": f"d{i}", "title": words[0], "text": " ".join(words)}) + "\n")
    with open(folder / "queries.jsonl", "w") as f:
        for qid, text in queries.items():
            f.write(json.dumps({"_id": qid, "text": text}) + "\n")
    for split, ids in (("train", range(train)), ("test", range(train, n))):
        lines = ["query-id\tcorpus-id\tscore"]
        lines += [f"q{i}\t{d}\t{g}" for i in ids for d, g in qrels[f"q{i}"].items()]
        (folder / "qrels" / f"{split}.tsv").write_text("\n".join(lines) + "\n")
    return folder


# ---------------------------------------------------------------------- pure parts (no torch)


def test_mined_negatives_are_never_judged_positive_and_respect_the_margin():
    rng = random.Random(1)
    for trial in range(300):
        docs = [f"d{i}" for i in range(12)]
        judged = {d: rng.choice([-1, 0, 1, 2]) for d in rng.sample(docs, 6)}
        positives = [d for d, g in judged.items() if g > 0]
        if not positives:
            continue
        pos = rng.choice(positives)
        scores = {d: rng.uniform(-0.2, 1.0) for d in docs}
        candidates = rng.sample(docs, 10)
        margin = rng.choice([0.5, 0.9, 0.95, 1.2])
        draw = random.Random(trial) if trial % 2 else None
        got = mine_negatives(candidates, judged, pos, 4, scores, margin, rng=draw)
        assert len(got) == len(set(got)) <= 4
        assert all(judged.get(d, 0) <= 0 for d in got)  # never a judged positive
        assert all(scores[d] < margin * scores[pos] for d in got)  # the margin holds
        assert set(got) <= set(candidates)
        if draw is None:  # the hardest kept, in candidate order
            kept = [
                d for d in candidates if judged.get(d, 0) <= 0 and scores[d] < margin * scores[pos]
            ]
            assert got == kept[:4]


def test_mining_without_a_margin_keeps_close_candidates_and_a_missing_score_raises():
    scores = {"p": 0.5, "a": 0.49, "b": 0.1}
    assert mine_negatives(["a", "b"], {"p": 1}, "p", 2, scores, margin=None) == ["a", "b"]
    assert mine_negatives(["a", "b"], {"p": 1}, "p", 2, scores, margin=0.95) == ["b"]
    with pytest.raises(AptrankError, match="no pretrained score for 'c'"):
        mine_negatives(["c"], {"p": 1}, "p", 1, scores)


CORPUS = {d: Doc(f"text {d}", title=d.upper()) for d in ("p1", "p2", "n1", "n2", "n3", "close")}


def test_examples_pair_each_positive_with_mined_negatives_and_count_what_is_left_out():
    mined = Mined(
        candidates={"q": ["p1", "close", "n1", "p2", "n2", "n3"]},
        scores={"q": {"p1": 0.8, "p2": 0.6, "close": 0.79, "n1": 0.5, "n2": 0.58, "n3": 0.2}},
    )
    qrels = {"q": {"p1": 1, "p2": 2, "n1": 0}}
    config = FinetuneConfig("data", negatives=2)
    rows, counts = build_examples({"q": "query"}, CORPUS, qrels, mined, config)
    # p1 (0.8): close (0.79 >= 0.76) is dropped; p2 (0.6): close and n2 (0.58 >= 0.57) dropped
    assert rows == [
        ("query", "P1 text p1", "N1 text n1", "N2 text n2"),
        ("query", "P2 text p2", "N1 text n1", "N3 text n3"),
    ]
    assert counts == {
        "pairs": 2,
        "short_of_negatives": 0,
        "dropped_by_margin": 3,
        "no_teacher_label": 0,
    }
    rows, counts = build_examples(
        {"q": "query"}, CORPUS, qrels, mined, replace(config, negatives=4)
    )
    assert rows == [] and counts["short_of_negatives"] == 2
    # margin-mse: candidates the teacher did not score are skipped; labels are teacher margins
    teacher = {"q": {"p1": 3.0, "n2": 1.0, "n3": 0.5}}
    mse = replace(config, loss="margin-mse", negatives=1)
    rows, counts = build_examples({"q": "query"}, CORPUS, qrels, mined, mse, teacher)
    assert rows == [("query", "P1 text p1", "N2 text n2", 2.0)]
    assert counts["no_teacher_label"] == 1  # p2 has no teacher score


def test_config_errors_are_one_clear_line():
    with pytest.raises(AptrankError, match="unknown loss 'triplet'"):
        FinetuneConfig("d", loss="triplet")
    with pytest.raises(AptrankError, match="miners must be some of bm25, dense"):
        FinetuneConfig("d", miners=("splade",))
    with pytest.raises(AptrankError, match="negatives must be >= 1 with margin-mse"):
        FinetuneConfig("d", loss="margin-mse", negatives=0)
    with pytest.raises(AptrankError, match="margin must be > 0"):
        FinetuneConfig("d", margin=0.0)


def test_fewer_than_30_judged_queries_is_an_error_and_a_one_line_cli_exit_2(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
):
    from aptrank.cli.main import main
    from aptrank.train.finetune import finetune

    data = write_dataset(tmp_path / "small", train=20, test=2)
    message = f"20 judged train queries with a relevant document: fine-tuning needs at least {30}"
    assert MIN_JUDGED_QUERIES == 30
    with pytest.raises(AptrankError, match=message):
        finetune(FinetuneConfig(str(data)), tmp_path / "m")
    big = write_dataset(tmp_path / "big")
    # the floor of 30 is the dataset's; a fold's training part (query_ids) needs 5
    with pytest.raises(AptrankError, match="4 judged train queries among the given query ids"):
        finetune(FinetuneConfig(str(big)), tmp_path / "m", query_ids=[f"q{i}" for i in range(4)])
    args = ["aptrank", "finetune", str(data), "--out", str(tmp_path / "m"), "--no-progress"]
    monkeypatch.setattr(sys, "argv", args)
    with pytest.raises(SystemExit) as exit_info:
        main()
    assert exit_info.value.code == 2
    err = capsys.readouterr().err
    assert message in " ".join(err.split()) and "Traceback" not in err
    assert len(err.strip().splitlines()) <= 2  # one line (rich may wrap it once)
    assert not (tmp_path / "m").exists()


# --------------------------------------------------------------- training (tiny model, torch)


@pytest.fixture(scope="module")
def tiny(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """tests/tiny_models.py's tiny BERT with a tokenizer that knows its vocabulary: under
    transformers 5 ``BertTokenizerFast(vocab_file=...)`` ignores the file and maps every word to
    [UNK] (every text of a length then gets one embedding and mining means nothing)."""
    from transformers import BertTokenizerFast

    folder = tmp_path_factory.mktemp("tiny")
    model = tiny_bert_folder(folder)
    vocab = str(folder / "raw" / "vocab.txt")
    tokenizer = BertTokenizerFast(vocab=vocab, vocab_file=vocab, do_lower_case=True)
    assert 1 not in tokenizer("cats purr")["input_ids"]  # no [UNK]
    tokenizer.save_pretrained(str(model))
    return model


@pytest.fixture(scope="module")
def data(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_dataset(tmp_path_factory.mktemp("data") / "toy")


def config(data: Path, tiny: Path, **kw) -> FinetuneConfig:
    base = dict(
        dataset=str(data),
        base=str(tiny),
        dev_size=6,
        max_length=32,
        batch_size=8,
        max_steps=4,
        learning_rate=1e-3,
        warmup_ratio=0.0,
        save_steps=1000,
        logging_steps=1,
        mine_k=10,
    )
    return FinetuneConfig(**{**base, **kw})


def weights(folder: Path) -> dict[str, torch.Tensor]:
    (path,) = folder.rglob("model.safetensors")  # root (v6 layout) or 0_Transformer (v5)
    return load_file(str(path))


@pytest.fixture(scope="module")
def trained(data: Path, tiny: Path, tmp_path_factory: pytest.TempPathFactory):
    from aptrank.train.finetune import finetune

    before = torch.get_num_threads()
    torch.set_num_threads(1)  # module fixtures start before the per-test ones: set up the same
    out = tmp_path_factory.mktemp("ft") / "encoder"
    cfg = config(data, tiny, max_steps=6)
    try:
        with pytest.MonkeyPatch.context() as mp:  # the cache isolation of tests/conftest.py
            mp.setenv("APTRANK_CACHE", str(tmp_path_factory.mktemp("cache")))
            mp.setenv("HF_HUB_OFFLINE", "1")
            result = finetune(cfg, out)
    finally:
        torch.set_num_threads(before)
    return cfg, out, result


def test_fine_tuning_trains_the_encoder(tiny: Path, trained):
    cfg, out, result = trained
    losses = [loss for _, loss in result["train"]["loss_history"]]
    assert len(losses) == 6 and all(torch.isfinite(torch.tensor(losses)))
    assert result["train"]["global_step"] == 6 and not result["train"]["reused"]
    before, after = weights(tiny), weights(out)
    name = next(k for k in after if k.endswith("encoder.layer.0.attention.self.query.weight"))
    assert not torch.allclose(after[name], before[name])
    sizes = result["sizes"]
    # 36 train queries, 6 held out; 9 of the 36 have a second relevant document
    assert sizes["fit_queries"] == 30 and sizes["dev_queries"] == 6
    assert sizes["pairs"] == 30 + sum(
        1 for i in range(0, 36, 4) if f"q{i}" in result["trained_on"]["queries"]
    )
    assert sizes["examples"] == sizes["pairs"] - sizes["short_of_negatives"] > 0
    record = json.loads((out / "aptrank_train.json").read_text())
    assert record["config"] == json.loads(json.dumps(cfg.to_dict())) and record["seed"] == 0
    assert record["losses"] == {"train": "MultipleNegativesRankingLoss"}
    assert record["backbone"]["fingerprint"] and record["precision"] == "fp32"
    assert record["batch_sampler"] == "no_duplicates"  # no in-batch copy of a query or positive
    assert {"torch", "sentence-transformers", "datasets"} <= set(record["versions"])
    assert not (out / "checkpoints").exists()


def test_the_folder_is_a_sentence_transformer_and_a_trained_ranker(trained):
    from aptrank.data import load_dataset
    from aptrank.rankers import build_ranker

    cfg, out, result = trained
    model = st.SentenceTransformer(str(out), device="cpu")
    assert model.max_seq_length == 32
    record = json.loads((out / "aptrank.json").read_text())
    assert record["kind"] == "encoder" and record["pipeline"] == "dense:."
    assert result["pipeline"] == str(out) and result["record"] == str(out / "aptrank.json")
    trained_on = record["trained_on"]
    assert trained_on["split"] == "train" and len(trained_on["dev_queries"]) == 6
    assert not set(trained_on["queries"]) & set(trained_on["dev_queries"])
    assert record["base_model"] == cfg.base and record["config"]["loss"] == "mnrl"
    dev, test = record["figures"]["dev"], record["figures"]["test"]
    assert dev["out_of_fold"] and dev["queries"] == 6 and 0 <= dev["ndcg@10"] <= 1
    assert dev["note"] == "dev slice: not trained on"
    assert test["split"] == "test" and test["queries"] == 8 and test["out_of_fold"]
    assert set(test) >= {"ndcg@10", "recall@100"}
    assert 0 <= record["base_model_figures"]["dev"]["ndcg@10"] <= 1
    # the folder ranks, and as dense:<folder> it gives the same run
    ds = load_dataset(cfg.dataset, "test")
    queries = {q: ds.queries[q].text for q in ds.qrels}
    run = build_ranker(str(out)).index(ds.corpus).rank(queries, 5)
    assert set(run) == set(queries) and all(len(docs) == 5 for docs in run.values())
    again = build_ranker(f"dense:{out}").index(ds.corpus).rank(queries, 5)
    assert again.keys() == run.keys()
    assert all(again[q] == pytest.approx(run[q]) for q in run)
    # the model card names the figures
    assert "dev slice" in (out / "README.md").read_text()


class Interrupt(TrainerCallback):
    """Kills training right after the checkpoint of step ``at`` is on disk."""

    def __init__(self, at: int) -> None:
        self.at = at

    def on_save(self, args, state, control, **kw):
        if state.global_step >= self.at:
            raise KeyboardInterrupt(f"killed after step {state.global_step}")


def test_a_killed_fine_tune_resumes_from_its_checkpoint_exactly(
    data: Path, tiny: Path, tmp_path: Path
):
    from aptrank.train.finetune import finetune

    cfg = config(data, tiny, max_steps=4, save_steps=2, batch_size=4)
    whole = finetune(cfg, tmp_path / "whole", evaluate=False)
    out = tmp_path / "killed"
    with pytest.raises(KeyboardInterrupt):
        finetune(cfg, out, evaluate=False, callbacks=[Interrupt(2)])
    assert not (out / "aptrank_train.json").exists() and not (out / "aptrank.json").exists()
    assert (out / "checkpoints" / "checkpoint-2").is_dir()
    resumed = finetune(cfg, out, evaluate=False)
    assert resumed["train"]["resumed_from"] == 2 and resumed["train"]["global_step"] == 4
    history = resumed["train"]["loss_history"]
    assert [s for s, _ in history] == [s for s, _ in whole["train"]["loss_history"]]
    assert [v for _, v in history] == pytest.approx([v for _, v in whole["train"]["loss_history"]])
    # data order (the seeded no-duplicates sampler), RNG and optimizer state are restored
    a, b = weights(tmp_path / "whole"), weights(out)
    assert all(torch.allclose(a[k], b[k], atol=1e-6) for k in a)
    # a finished run is reused, not retrained
    again = finetune(cfg, out, evaluate=False)
    assert again["train"]["reused"] and again["train"]["global_step"] == 4


@pytest.mark.parametrize("loss", ["cached-mnrl", "margin-mse"])
def test_the_other_losses_train(data: Path, tiny: Path, tmp_path: Path, loss: str):
    from aptrank.data import load_dataset
    from aptrank.train.finetune import finetune

    teacher = None
    if loss == "margin-mse":  # a teacher that knows the judgments, with some noise
        ds = load_dataset(str(data), "train")
        rng = random.Random(0)
        teacher = {
            q: {d: 2.0 * max(ds.qrels[q].get(d, 0), 0) + rng.random() for d in ds.corpus}
            for q in ds.qrels
        }
    calls: list[tuple[str, int, int]] = []

    def bars(description: str):
        return lambda done, total: calls.append((description, done, total))

    cfg = config(data, tiny, loss=loss, max_steps=2, mini_batch_size=3)
    result = finetune(cfg, tmp_path / "m", bars, evaluate=False, teacher_labels=teacher)
    losses = [v for _, v in result["train"]["loss_history"]]
    assert result["train"]["global_step"] == 2 and all(v == v for v in losses)
    assert ("fine-tuning: steps", 2, 2) in calls  # training progress reaches the bar
    record = json.loads((tmp_path / "m" / "aptrank_train.json").read_text())
    described = record["losses"]["train"]
    assert described.startswith("CachedMultiple" if loss == "cached-mnrl" else "MarginMSE")
    sampler = "no_duplicates" if loss == "cached-mnrl" else "batch_sampler"
    assert record["batch_sampler"] == sampler
    with pytest.raises(AptrankError, match="teacher labels go with loss 'margin-mse'"):
        finetune(replace(cfg, loss="mnrl"), tmp_path / "x", teacher_labels=teacher or {})


# --------------------------------------------------------------------------- a teacher (GPL)


def test_a_teacher_replaces_the_cosine_in_the_false_negative_filter():
    mined = Mined(candidates={"q": ["n1", "n2", "n3"]}, scores={})
    qrels = {"q": {"p1": 1}}
    teacher = {"q": {"p1": 2.0, "n1": 2.5, "n2": 1.5, "n3": 0.0}}
    config = FinetuneConfig("data", negatives=1, teacher="ranker:bm25")
    rows, counts = build_examples({"q": "query"}, CORPUS, qrels, mined, config, teacher)
    # n1 outscores the positive (a likely unjudged positive); mnrl rows carry no margin
    assert rows == [("query", "P1 text p1", "N2 text n2")] and counts["dropped_by_margin"] == 1
    wide = replace(config, teacher_margin=1.0)  # n2 >= 2.0 - 1.0: dropped too
    rows, counts = build_examples({"q": "query"}, CORPUS, qrels, mined, wide, teacher)
    assert rows == [("query", "P1 text p1", "N3 text n3")] and counts["dropped_by_margin"] == 2
    mse = replace(config, loss="margin-mse")
    rows, _ = build_examples({"q": "query"}, CORPUS, qrels, mined, mse, teacher)
    assert rows == [("query", "P1 text p1", "N2 text n2", 0.5)]
    with pytest.raises(AptrankError, match="need a teacher"):
        FinetuneConfig("data", synthetic_docs=5)


def test_a_teacher_scores_the_pairs_once_and_gpl_queries_train(
    data: Path, tiny: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    from aptrank.teach.store import LabelStore
    from aptrank.teach.workflow import TeachConfig, TeachContext
    from aptrank.train import teacher_pairs
    from aptrank.train.finetune import finetune
    from aptrank.types import Query

    cfg = config(data, tiny, loss="margin-mse", teacher="ranker:bm25", max_steps=2)
    result = finetune(cfg, tmp_path / "m", evaluate=False)
    assert result["train"]["global_step"] == 2 and result["sizes"]["synthetic_queries"] == 0
    ctx = TeachContext(TeachConfig(str(data), eval_split="train", dev_size=7))
    store_path = ctx.folder / "labels.sqlite"
    ctx.close()
    (teacher,) = LabelStore(store_path).teachers()
    labeled = teacher.count
    again = finetune(replace(cfg, max_steps=1), tmp_path / "m2", evaluate=False)
    assert again["sizes"]["examples"] == result["sizes"]["examples"]
    (teacher,) = LabelStore(store_path).teachers()
    assert teacher.count == labeled  # nothing scored twice
    # GPL: each synthetic query's source document is its positive
    from aptrank.data import load_dataset

    words = load_dataset(str(data), "train").corpus["d3"].text.split()[:3]
    written = {"syn-d3-0": Query(" ".join(words), {"source_doc": "d3"})}
    monkeypatch.setattr("aptrank.teach.synthetic.generate_queries", lambda *a, **k: dict(written))
    gpl = finetune(replace(cfg, synthetic_docs=4), tmp_path / "gpl", evaluate=False)
    assert gpl["sizes"]["synthetic_queries"] == 1
    assert gpl["sizes"]["examples"] == result["sizes"]["examples"] + 1
    queries, qrels = teacher_pairs.synthetic_training(
        teacher_pairs.teach_context(replace(cfg, synthetic_docs=4))
    )
    assert queries == {"syn-d3-0": " ".join(words)} and qrels == {"syn-d3-0": {"d3": 1}}
    with pytest.raises(AptrankError, match="not trained on this split"):
        finetune(
            replace(cfg, teacher="trained:x"),
            tmp_path / "f",
            query_ids=[f"q{i}" for i in range(10)],
        )
