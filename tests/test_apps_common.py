import pytest
from hydra.core.override_parser.overrides_parser import OverridesParser

from mlm_lab.apps.common import quote_prompt_args


@pytest.mark.parametrize("prompt", ["12+34=", "9*9=", "it's = fine", "back\\slash", "ends\\", "quote\\'d", "Once upon a time"])
def test_prompts_reach_hydra_verbatim(prompt):
    (arg,) = quote_prompt_args([f"prompt={prompt}"])
    assert OverridesParser.create().parse_override(arg).value() == prompt


def test_other_arguments_and_lists_are_left_alone():
    args = ["model=models:/a/latest", 'prompt=["1+2=","3+4="]', "prompt='1+2='", "temperature=0.5"]
    assert quote_prompt_args(args) == args
    assert OverridesParser.create().parse_override(args[1]).value() == ["1+2=", "3+4="]


def test_plain_hydra_would_refuse_the_unquoted_prompt():
    with pytest.raises(Exception, match="extraneous input"):
        OverridesParser.create().parse_override("prompt=12+34=")
