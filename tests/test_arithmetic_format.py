import pytest
from hypothesis import given
from hypothesis import strategies as st

from mlm_lab.data.arithmetic_format import ArithmeticFormat


def test_padding_and_reversal():
    fmt = ArithmeticFormat(operand_width=3, reverse_answer=True)
    assert fmt.prompt_to_model("12+34=") == "012+034="
    assert fmt.prompt_to_model(" 12 + 34 ") == "012+034="
    assert fmt.answer_to_model("46") == "64"
    assert fmt.answer_to_model("-120") == "-021"
    assert fmt.answer_from_model("64") == "46"


def test_plain_format_is_identity():
    fmt = ArithmeticFormat()
    assert fmt.prompt_to_model("12+34=") == "12+34="
    assert fmt.answer_from_model("46") == "46"


@given(answer=st.integers(-(10**9), 10**9), reverse=st.booleans())
def test_answer_round_trip(answer, reverse):
    fmt = ArithmeticFormat(operand_width=4, reverse_answer=reverse)
    assert fmt.answer_from_model(fmt.answer_to_model(str(answer))) == str(answer)


@pytest.mark.parametrize("bad", ["", "abc", "12+=", "+3=", "1++2=", "1=2"])
def test_bad_prompts_are_refused_with_an_example(bad):
    with pytest.raises(ValueError, match="12\\+34="):
        ArithmeticFormat(operand_width=3).prompt_to_model(bad)


def test_config_rebuilds_the_format():
    from mlm_lab.instantiate import build

    fmt = ArithmeticFormat(operand_width=3, reverse_answer=True)
    again = build(fmt.to_config(), "text_format")
    assert again.prompt_to_model("1+2=") == "001+002=" and again.answer_from_model("21") == "12"
