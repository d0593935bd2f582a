import pytest

from mlm_lab.builders import build
from mlm_lab.errors import ConfigError


def test_builds_partial_and_plain_targets():
    factory = build({"_target_": "mlm_lab.models.builders.gpt2", "_partial_": True, "d_model": 16, "n_heads": 2, "n_layers": 1}, "model")
    model = factory(vocab_size=5)
    assert model.config.d_model == 16 and model.config.vocab_size == 5
    tok = build({"_target_": "mlm_lab.tokenizers.char.CharTokenizer", "alphabet": "ab"}, "tokenizer")
    assert tok.vocab_size == 5


def test_unknown_key_lists_what_is_accepted():
    with pytest.raises(ConfigError) as e:
        build({"_target_": "mlm_lab.tokenizers.char.CharTokenizer", "alphabett": "ab"}, "tokenizer")
    assert "tokenizer.alphabett" in str(e.value) and "alphabet" in str(e.value).split("Fix:")[1]


def test_missing_or_bad_target():
    with pytest.raises(ConfigError, match="no _target_"):
        build({"alphabet": "ab"}, "tokenizer")
    with pytest.raises(ConfigError, match="cannot import"):
        build({"_target_": "mlm_lab.nowhere.Thing"}, "model")


def test_config_errors_inside_constructors_surface_unwrapped():
    with pytest.raises(ConfigError, match="tokenizer.alphabet"):
        build({"_target_": "mlm_lab.tokenizers.char.CharTokenizer", "alphabet": ""}, "tokenizer")


def test_wrong_simple_types_name_the_key_before_building():
    with pytest.raises(ConfigError, match=r"data\.high: expected int, got 'abc'"):
        build({"_target_": "mlm_lab.data.arithmetic_task.ArithmeticTask", "high": "abc"}, "data")
    with pytest.raises(ConfigError, match=r"tokenizer\.alphabet: expected str"):
        build({"_target_": "mlm_lab.tokenizers.char.CharTokenizer", "alphabet": 5}, "tokenizer")
