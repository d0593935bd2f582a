"""The Task protocol: both tasks implement all of it; the shared errors name the key and the fix."""

import inspect

import pytest

from mlm_lab.data.arithmetic_task import ArithmeticTask
from mlm_lab.data.corpus_loaders import TextCorpus
from mlm_lab.data.lm_task import LanguageModelingTask
from mlm_lab.data.task import Task, cannot_encode
from mlm_lab.errors import ConfigError
from mlm_lab.tokenizers.char import CharTokenizer


def protocol_members() -> set[str]:
    methods = {name for name, _ in inspect.getmembers(Task) if not name.startswith("_")}
    return methods | set(Task.__annotations__)


def set_up_tasks(tmp_path) -> list:
    """An arithmetic and a language-modelling task, set up with their tokenizers (some members exist only then)."""
    arithmetic = ArithmeticTask(high=9, n_train=20, n_val=5, n_test=5, batch_size=4)
    arithmetic.setup(CharTokenizer())
    (tmp_path / "t.txt").write_text("".join(f"story {i}.\n<|endoftext|>\n" for i in range(30)))
    text = LanguageModelingTask(TextCorpus(str(tmp_path / "t.txt"), separator="<|endoftext|>"), block_size=8, batch_size=4)
    text.setup(CharTokenizer(alphabet=None))
    return [arithmetic, text]


def test_each_task_has_every_member_of_the_protocol(tmp_path):
    members = protocol_members()
    assert {"setup", "train_batch", "batches", "evaluate", "objective", "batch_size", "held_out_splits", "split_names"} <= members
    for task in set_up_tasks(tmp_path):
        assert not [m for m in members if not hasattr(task, m)], type(task).__name__
        assert task.objective_direction in ("maximize", "minimize") and set(task.held_out_splits) <= set(task.split_names)


def test_cannot_encode_names_the_alphabet_when_there_is_one():
    tokenizer = CharTokenizer()
    with pytest.raises(ValueError) as info:
        tokenizer.encode("12+x=")
    error = cannot_encode(tokenizer, info.value)
    assert isinstance(error, ConfigError)
    reason = str(info.value).split(" Fix:")[0]
    assert str(error).startswith(f"tokenizer.alphabet: the char tokenizer cannot encode the data ({reason}). Fix: use a tokenizer")
    assert str(error).count("Fix:") == 1  # the tokenizer's own fix gives way to the config's
    assert str(cannot_encode(CharTokenizer(alphabet=None), ValueError("bad"))).startswith("tokenizer: the char tokenizer")
