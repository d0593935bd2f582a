import pytest
from omegaconf import OmegaConf

from mlm_lab.errors import ConfigError
from mlm_lab.instantiate import build


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


def test_wrong_container_types_name_the_key_before_building():
    adamw = {"_target_": "mlm_lab.training.optimizers.adamw", "_partial_": True}
    with pytest.raises(ConfigError, match=r"optimizer\.betas: expected list of 2 float, got None"):
        build({**adamw, "betas": None}, "optimizer")
    with pytest.raises(ConfigError, match=r"optimizer\.betas: expected list of 2 float, got \[0\.9\]"):
        build({**adamw, "betas": [0.9]}, "optimizer")
    assert build({**adamw, "betas": [0.9, 0.95]}, "optimizer") is not None


def test_hydra_keys_of_the_wrong_type_name_the_key():
    gpt2 = {"_target_": "mlm_lab.models.builders.gpt2"}
    with pytest.raises(ConfigError, match=r"model\._partial_: must be true or false, got None"):
        build({**gpt2, "_partial_": None}, "model")
    with pytest.raises(ConfigError, match=r"model\._target_: must be a dotted path, got 3"):
        build({"_target_": 3}, "model")


def test_configs_nested_in_a_config_are_checked_too():
    corpus = {"_target_": "mlm_lab.data.corpus_loaders.TinyStories", "path": "a.txt", "val_path": "b.txt"}
    task = {"_target_": "mlm_lab.data.lm_task.LanguageModelingTask", "corpus": corpus}
    with pytest.raises(ConfigError, match=r"data\.corpus: mlm_lab\.data\.corpus_loaders\.TinyStories does not accept data\.corpus\.u"):
        build({**task, "corpus": {**corpus, "u": 1}}, "data")
    with pytest.raises(ConfigError, match=r"data\.corpus\.path: expected str or list of str, got 5\.5e\+16"):
        build({**task, "corpus": {**corpus, "path": 5.5e16}}, "data")
    mixture = {"_target_": "mlm_lab.data.corpus_loaders.Mixture", "corpora": {"a": {**corpus, "val_path": [3]}}, "shares": {"a": 1}}
    with pytest.raises(ConfigError, match=r"data\.corpus\.corpora\.a\.val_path: expected"):
        build({**task, "corpus": mixture}, "data")


def test_missing_and_unset_required_values_name_the_key():
    text = {"_target_": "mlm_lab.data.corpus_loaders.TextCorpus"}
    with pytest.raises(ConfigError, match=r"corpus\.path: is required by mlm_lab\.data\.corpus_loaders\.TextCorpus"):
        build(text, "corpus")
    with pytest.raises(ConfigError, match=r"corpus\.path: has no value \(\?\?\? in the config\)\. Fix: set corpus\.path="):
        build({**text, "path": "???"}, "corpus")


def test_a_value_copied_from_another_key_is_named_by_that_key():
    cfg = OmegaConf.create({"model": {"context_length": "wide"}, "data": {"_target_": "mlm_lab.data.arithmetic_task.ArithmeticTask",
                                                                         "context_length": "${model.context_length}"}})  # fmt: skip
    with pytest.raises(ConfigError, match=r"^model\.context_length: expected int or null, got 'wide'"):
        build(cfg.data, "data")
