"""PlainTextFormat: text passes both ways unchanged, and its config rebuilds it."""

from hydra.utils import instantiate

from mlm_lab.data.plain_format import PlainTextFormat


def test_prompts_and_answers_pass_unchanged():
    fmt = PlainTextFormat()
    for text in ("", "Once upon a time", " 12+34= \n", "😀\x00"):
        assert fmt.prompt_to_model(text) == text and fmt.answer_from_model(text) == text


def test_its_config_instantiates_the_same_format():
    config = PlainTextFormat().to_config()
    assert config == {"_target_": "mlm_lab.data.plain_format.PlainTextFormat"}
    assert isinstance(instantiate(config), PlainTextFormat)
