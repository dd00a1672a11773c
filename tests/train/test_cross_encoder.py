"""Training with a tiny random-weight BERT (2 layers, width 32): seconds per run."""

from __future__ import annotations

import doctest
import json
import subprocess
import sys
from pathlib import Path

import pytest

pytest.importorskip("sentence_transformers")
pytest.importorskip("datasets")

import torch  # noqa: E402
from safetensors.torch import load_file  # noqa: E402
from transformers import TrainerCallback  # noqa: E402

from aptrank.errors import AptrankError, MissingDependencyError  # noqa: E402
from aptrank.train import (  # noqa: E402
    CrossEncoderTrainConfig,
    examples,
    load_train_record,
    train_cross_encoder,
)
from aptrank.types import Doc  # noqa: E402
from tests.tiny_models import tiny_bert_folder  # noqa: E402

# A toy task the tiny model learns in a few dozen steps: pet documents beat money documents.
PETS = ["cats purr and sleep", "dogs bark all day", "cats and dogs sleep", "dogs can live together"]
MONEY = [
    "stock market fell",
    "prices rose sharply",
    "market prices fell today",
    "companies stock rose",
]
QUERIES = ("pet food", "sleeping", "barking", "the mailman")
MARGIN = [(q, a, b, 2.0) for q in QUERIES for a, b in zip(PETS, MONEY)]
HUMAN = [(q, d, 1.0) for q in QUERIES for d in PETS] + [(q, d, 0.0) for q in QUERIES for d in MONEY]
SOFT = [(q, d, 0.8) for q in QUERIES for d in PETS] + [(q, d, 0.1) for q in QUERIES for d in MONEY]


@pytest.fixture(scope="module")
def tiny(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tiny_bert_folder(tmp_path_factory.mktemp("tiny"))


def config(tiny: Path, **kw) -> CrossEncoderTrainConfig:
    base = dict(
        backbone=str(tiny),
        max_length=32,
        batch_size=8,
        max_steps=6,
        learning_rate=1e-2,
        warmup_ratio=0.0,
        save_steps=1000,
        logging_steps=2,
    )
    return CrossEncoderTrainConfig(**{**base, **kw})


@pytest.fixture(scope="module")
def trained(tiny: Path, tmp_path_factory: pytest.TempPathFactory):
    """A student trained 40 steps with Margin-MSE on the toy task (shared by several tests)."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)  # module fixtures start before the per-test one
    out = tmp_path_factory.mktemp("student") / "model"
    cfg = config(tiny, max_steps=40, logging_steps=4)
    try:
        result = train_cross_encoder(out, cfg, margin=MARGIN, progress=False, meta={"toy": True})
    finally:
        torch.set_num_threads(before)
    return cfg, result


def test_the_student_learns_the_toy_task_and_its_weights_change(tiny: Path, trained):
    cfg, result = trained
    losses = [loss for _, loss in result.losses]
    assert all(loss == loss for loss in losses)  # finite
    first, last = sum(losses[:3]) / 3, sum(losses[-3:]) / 3
    assert last < 0.6 * first, losses
    assert result.global_step == 40 and result.resumed_from is None and not result.reused
    before = load_file(str(tiny / "model.safetensors"))
    after = load_file(str(Path(result.out_dir) / "model.safetensors"))
    name = next(k for k in after if k.endswith("encoder.layer.0.attention.self.query.weight"))
    original = before[name.removeprefix("bert.")]
    assert not torch.allclose(after[name], original)


def test_the_saved_folder_is_a_cross_encoder_that_ranks_the_toy_task(trained):
    from sentence_transformers import CrossEncoder

    _, result = trained
    model = CrossEncoder(result.out_dir)
    assert model.num_labels == 1
    pets = model.predict([("pet food", d) for d in PETS])
    money = model.predict([("pet food", d) for d in MONEY])
    assert ((pets > 0) & (pets < 1)).all()  # the sigmoid head of a saved CrossEncoder
    assert pets.mean() > money.mean()
    assert not (Path(result.out_dir) / "checkpoints").exists()  # removed once finished


def test_the_record_holds_config_sizes_seed_history_and_versions(trained):
    cfg, result = trained
    record = load_train_record(result.out_dir)
    assert record == json.loads((Path(result.out_dir) / "aptrank_train.json").read_text())
    assert record["config"] == cfg.to_dict()
    assert record["seed"] == 0
    assert record["sizes"] == {
        "human_pairs": 0,
        "human_positive_mass": 0.0,
        "margin_triples": 16,
        "soft_pairs": 0,
        "queries": 4,
    }
    assert record["loss_history"] == [list(x) for x in result.losses]
    assert record["loss_history"][0][0] == 1 and record["loss_history"][-1][0] == 40
    assert record["backbone"]["path"] == cfg.backbone and record["backbone"]["fingerprint"]
    assert {"torch", "transformers", "sentence-transformers", "datasets"} <= set(record["versions"])
    assert record["precision"] == "fp32" and record["device"] == "cpu"
    assert record["losses"] == {"margin": "MarginMSELoss on logit margins"}
    assert record["meta"] == {"toy": True}


def test_a_finished_model_is_reused_not_retrained(tiny: Path, trained):
    cfg, result = trained
    again = train_cross_encoder(result.out_dir, cfg, margin=MARGIN, progress=False)
    assert again.reused and again.global_step == 40 and again.losses == result.losses
    with pytest.raises(AptrankError, match="another config or data"):
        train_cross_encoder(result.out_dir, cfg, margin=MARGIN[:-1], progress=False)


def test_an_aptrank_trained_folder_is_a_ranker(trained):
    from sentence_transformers import CrossEncoder

    from aptrank.rankers import build_ranker

    _, result = trained
    corpus = {f"p{i}": Doc(d) for i, d in enumerate(PETS)} | {
        f"m{i}": Doc(d) for i, d in enumerate(MONEY)
    }
    ranker = build_ranker(f"ce:{result.out_dir}[max_length=32]").index(corpus)
    run = ranker.rerank({"q": "pet food"}, {"q": {d: 0.0 for d in corpus}})
    expected = CrossEncoder(result.out_dir).predict([("pet food", corpus[d].text) for d in corpus])
    assert [run["q"][d] for d in corpus] == pytest.approx(expected.tolist(), abs=1e-5)


def test_a_bi_encoder_with_its_transformer_in_a_subfolder_is_a_backbone(tiny: Path, tmp_path):
    import shutil

    from aptrank.rankers.encoders import load_cross_encoder

    folder = tmp_path / "old-layout"
    shutil.copytree(tiny, folder)
    (folder / "0_Transformer").mkdir()
    for name in ("config.json", "model.safetensors", "tokenizer.json", "tokenizer_config.json"):
        (folder / name).rename(folder / "0_Transformer" / name)
    modules = json.loads((folder / "modules.json").read_text())
    modules[0]["path"] = "0_Transformer"
    (folder / "modules.json").write_text(json.dumps(modules))
    pairs = [("cats", "dogs bark"), ("stock", "prices rose")]
    moved = load_cross_encoder(str(folder), 32).predict(pairs)
    assert moved == pytest.approx(load_cross_encoder(str(tiny), 32).predict(pairs))


@pytest.mark.parametrize(
    ("kinds", "teacher_loss"),
    [(("human",), "margin-mse"), (("soft",), "bce"), (("human", "margin"), "margin-mse")],
)
def test_each_loss_and_the_multi_dataset_mix_train(
    tiny: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, kinds, teacher_loss
):
    from sentence_transformers.cross_encoder import CrossEncoderTrainer

    seen: list[str] = []  # the dataset each batch came from
    original = CrossEncoderTrainer.compute_loss

    def spy(self, model, inputs, *args, **kw):
        seen.append(inputs.get("dataset_name"))
        return original(self, model, inputs, *args, **kw)

    monkeypatch.setattr(CrossEncoderTrainer, "compute_loss", spy)
    data = {"human": HUMAN, "margin": MARGIN, "soft": SOFT}
    cfg = config(tiny, teacher_loss=teacher_loss, max_steps=6, batch_size=4)
    result = train_cross_encoder(tmp_path / "m", cfg, progress=False, **{k: data[k] for k in kinds})
    record = load_train_record(tmp_path / "m")
    assert set(record["losses"]) == set(kinds)
    assert result.global_step == 6 and all(loss == loss for _, loss in result.losses)
    assert set(seen) == set(kinds)  # every kind of example is trained on, through its own loss
    if "human" in kinds:  # 16 positives, 16 negatives: balanced weight 1
        assert record["losses"]["human"] == "BinaryCrossEntropyLoss(pos_weight=1.0)"


class Interrupt(TrainerCallback):
    """Kills training right after the checkpoint of step ``at`` is on disk."""

    def __init__(self, at: int) -> None:
        self.at = at

    def on_save(self, args, state, control, **kw):
        if state.global_step >= self.at:
            raise KeyboardInterrupt(f"killed after step {state.global_step}")


class Steps(TrainerCallback):
    def __init__(self) -> None:
        self.steps: list[int] = []

    def on_step_end(self, args, state, control, **kw):
        self.steps.append(state.global_step)


def test_an_interrupted_run_resumes_from_its_checkpoint_exactly(tiny: Path, tmp_path: Path):
    cfg = config(tiny, max_steps=8, save_steps=2, logging_steps=1, keep_checkpoints=True)
    data = dict(human=HUMAN, margin=MARGIN)
    whole = train_cross_encoder(tmp_path / "whole", cfg, progress=False, **data)

    out = tmp_path / "killed"
    with pytest.raises(KeyboardInterrupt):
        train_cross_encoder(out, cfg, progress=False, callbacks=[Interrupt(4)], **data)
    assert not (out / "aptrank_train.json").exists()  # not mistaken for a finished model
    assert (out / "checkpoints" / "checkpoint-4").is_dir()
    # a checkpoint killed mid-save (no trainer_state.json yet) is passed over
    (out / "checkpoints" / "checkpoint-6").mkdir()

    steps = Steps()
    resumed = train_cross_encoder(out, cfg, progress=False, callbacks=[steps], **data)
    assert resumed.resumed_from == 4
    assert steps.steps == [5, 6, 7, 8]  # continues from step 5, not from 0
    assert resumed.global_step == 8
    assert [s for s, _ in resumed.losses] == [s for s, _ in whole.losses]  # the whole history
    assert [v for _, v in resumed.losses] == pytest.approx([v for _, v in whole.losses])
    a = load_file(str(tmp_path / "whole" / "model.safetensors"))
    b = load_file(str(out / "model.safetensors"))
    assert all(torch.allclose(a[k], b[k]) for k in a)  # RNG and data order restored too
    assert (out / "checkpoints").is_dir()  # keep_checkpoints=True


def test_checkpoints_of_another_run_are_not_resumed(tiny: Path, tmp_path: Path):
    cfg = config(tiny, max_steps=4, save_steps=2)
    with pytest.raises(KeyboardInterrupt):
        train_cross_encoder(
            tmp_path / "m", cfg, margin=MARGIN, callbacks=[Interrupt(2)], progress=False
        )
    other = config(tiny, max_steps=4, save_steps=2, learning_rate=1e-3)
    with pytest.raises(AptrankError, match="belong to another config"):
        train_cross_encoder(tmp_path / "m", other, margin=MARGIN, progress=False)
    fresh = train_cross_encoder(
        tmp_path / "m", other, margin=MARGIN, progress=False, overwrite=True
    )
    assert fresh.resumed_from is None and fresh.global_step == 4


def test_clear_errors(tiny: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    cfg = config(tiny)
    with pytest.raises(AptrankError, match="no training data"):
        train_cross_encoder(tmp_path / "a", cfg, human=[], margin=None)
    with pytest.raises(AptrankError, match="unknown teacher_loss 'kl'"):
        CrossEncoderTrainConfig(teacher_loss="kl")
    with pytest.raises(AptrankError, match="unknown human_loss"):
        CrossEncoderTrainConfig(human_loss="margin-mse")
    with pytest.raises(AptrankError, match="teacher_loss='bce'"):
        train_cross_encoder(tmp_path / "a", cfg, soft=SOFT)  # cfg says margin-mse
    with pytest.raises(AptrankError, match="outside"):
        train_cross_encoder(tmp_path / "a", cfg, human=[("q", "d", 2.0)])
    with pytest.raises(AptrankError, match="2 texts and a label"):
        train_cross_encoder(tmp_path / "a", cfg, human=[("q", 1.0)])
    foreign = tmp_path / "home"
    foreign.mkdir()
    (foreign / "notes.txt").write_text("mine")
    with pytest.raises(AptrankError, match="holds no aptrank training run"):
        train_cross_encoder(foreign, cfg, margin=MARGIN, overwrite=True)
    assert (foreign / "notes.txt").exists()
    monkeypatch.setitem(sys.modules, "datasets", None)
    with pytest.raises(MissingDependencyError, match=r"aptrank\[train\]"):
        train_cross_encoder(tmp_path / "b", cfg, margin=MARGIN)
    assert not (tmp_path / "b").exists()  # nothing written before the dependency check
    assert not (tmp_path / "a").exists()


def test_teacher_preset():
    teacher = CrossEncoderTrainConfig.teacher(epochs=2.0)
    assert teacher.backbone == "all-mpnet-base-v2"
    assert teacher.learning_rate == 2e-5 and teacher.epochs == 2.0


def test_example_doctests():
    assert doctest.testmod(examples).failed == 0


def test_importing_train_loads_no_heavy_library():
    code = (
        "import sys, aptrank.train\n"
        "from aptrank.train import cross_encoder, examples, run_folder\n"
        "heavy = [m for m in ('torch', 'transformers', 'sentence_transformers', 'datasets',"
        " 'pandas', 'pyarrow') if m in sys.modules]\n"
        "print(','.join(heavy))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == ""
