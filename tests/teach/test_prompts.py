from __future__ import annotations

import doctest
import math

import pytest

from aptrank.errors import AptrankError
from aptrank.teach import store
from aptrank.teach.teachers import base, prompts
from aptrank.teach.teachers.prompts import (
    GRADED,
    YES_NO,
    expected_grade,
    get_prompt,
    label_probs,
    parse_label,
)


@pytest.mark.parametrize("module", [prompts, base, store], ids=lambda m: m.__name__)
def test_doctests(module):
    result = doctest.testmod(module, optionflags=doctest.ELLIPSIS)
    assert result.attempted > 0 and result.failed == 0


def test_yes_no_probabilities_give_p_yes_over_p_yes_plus_p_no():
    assert expected_grade({"yes": 0.3, "no": 0.1}, YES_NO.grades) == pytest.approx(0.75)
    assert expected_grade({"yes": 0.02, "no": 0.08, "maybe": 0.9}, YES_NO.grades) == (
        pytest.approx(0.2)
    )
    assert expected_grade({"no": 0.4}, YES_NO.grades) == 0.0  # 'yes' missing counts as 0
    assert math.isnan(expected_grade({}, YES_NO.grades))
    assert math.isnan(expected_grade({"yes": 0.0, "no": 0.0}, YES_NO.grades))


def test_graded_distribution_gives_the_expected_grade():
    probs = {"0": 0.1, "1": 0.2, "2": 0.3, "3": 0.4}
    assert expected_grade(probs, GRADED.grades) == pytest.approx(0.2 + 0.6 + 1.2)
    assert expected_grade({"3": 0.01}, GRADED.grades) == pytest.approx(3.0)
    # renormalised over the grades present: 2 and 3 in a ratio of 1 : 3
    assert expected_grade({"2": 0.1, "3": 0.3, "x": 0.6}, GRADED.grades) == pytest.approx(2.75)


def test_token_variants_are_summed_and_other_tokens_ignored():
    top = {
        "Yes": math.log(0.4),
        " yes": math.log(0.1),
        "\u2581YES": math.log(0.05),
        "\u0120no": math.log(0.15),
        "yes!": math.log(0.2),
        "nothing": math.log(0.1),
        "no": float("-inf"),
    }
    probs = label_probs(top, YES_NO.grades)
    assert probs == {"no": pytest.approx(0.15), "yes": pytest.approx(0.55)}
    assert expected_grade(probs, YES_NO.grades) == pytest.approx(0.55 / 0.70)
    assert label_probs({"0": math.log(0.5), " 3": math.log(0.5)}, GRADED.grades) == {
        "0": pytest.approx(0.5),
        "1": 0.0,
        "2": 0.0,
        "3": pytest.approx(0.5),
    }


def test_parse_label_reads_the_first_answer_word():
    assert parse_label("NO. Not relevant at all, yes really.", YES_NO.grades) == 0.0
    assert parse_label("**Yes**", YES_NO.grades) == 1.0
    assert parse_label("Relevance: 3/3", GRADED.grades) == 3.0
    assert math.isnan(parse_label("", GRADED.grades))
    assert math.isnan(parse_label("yesterday nobody", YES_NO.grades))  # words, not prefixes


def test_prompts_render_the_pair_and_carry_a_version():
    messages = YES_NO.messages("cats sleeping", "Cats purr and sleep")
    assert [m["role"] for m in messages] == ["system", "user"]
    assert "cats sleeping" in messages[1]["content"]
    assert "Cats purr and sleep" in messages[1]["content"]
    text = GRADED.text("q", "d")
    assert text.startswith(GRADED.system) and text.endswith("Answer:")
    assert (YES_NO.id, GRADED.id, GRADED.max_grade) == ("yesno-v1", "graded-v1", 3.0)
    assert get_prompt("graded") is GRADED
    with pytest.raises(AptrankError, match="unknown prompt 'pairwise'"):
        get_prompt("pairwise")
