"""Memory checks: what models and tasks say they need, against what this process may still use, before anything is allocated."""

import time

import pytest

from mlm_lab.data.arithmetic_task import ArithmeticTask
from mlm_lab.data.corpus_loaders import TextCorpus
from mlm_lab.data.lm_task import LanguageModelingTask
from mlm_lab.errors import ConfigError
from mlm_lab.hardware import memory_bytes
from mlm_lab.models.builders import gpt2, llama, mixtral
from mlm_lab.resources import require_batch_fits, require_data_fits, require_model_fits
from mlm_lab.tokenizers.char import CharTokenizer


@pytest.mark.parametrize(
    "builder, size, key",
    [
        (gpt2, dict(d_ff=2**62), "model.d_ff"),
        (mixtral, dict(n_experts=2**63 - 1), "model.n_experts"),
        (llama, dict(context_length=2**63 - 1), "model.context_length"),
    ],
)
def test_a_model_beyond_memory_is_refused_before_torch_allocates_it(builder, size, key):
    config = builder.config(vocab_size=18, d_model=16, n_heads=2, n_layers=1, **size)  # a config: nothing allocated yet
    with pytest.raises(
        ConfigError, match=rf"^model: .* parameters need about .* GiB to train .*Fix: lower .*{key} \(now {list(size.values())[0]}\)"
    ):
        require_model_fits(config)


def test_a_model_that_fits_passes():
    require_model_fits(llama.config(vocab_size=18, d_model=16, n_heads=2, n_layers=1))


def test_a_huge_operand_count_is_refused_at_once_not_after_hours_of_arithmetic():
    """(high - low + 1) ** 2**31 alone used to take hours; the splits would not fit in memory anyway."""
    task = ArithmeticTask(n_operands=2**31, high=99, n_train=20, n_val=1, n_test=9)
    started = time.perf_counter()
    with pytest.raises(
        ConfigError, match=r"^data\.n_operands: 30 problems of 2147483648 operands need about .* GiB, more than .* here\. Fix: lower"
    ):
        require_data_fits(task)
    assert time.perf_counter() - started < 1 and task.splits == {}
    require_data_fits(ArithmeticTask(high=99, n_train=50, n_val=20, n_test=20))


def test_a_batch_beyond_memory_is_a_config_error_before_the_first_step():
    task = ArithmeticTask(high=99, n_train=50, n_val=20, n_test=20, batch_size=2**53 + 1)
    task.setup(CharTokenizer())  # its tensors hold the splits; a batch is drawn only by the first step
    with pytest.raises(
        ConfigError, match=r"^data\.batch_size: 9007199254740993 sequences of \d+ tokens need .* GiB for their token ids alone"
    ):
        require_batch_fits(task.batch_size, task.max_sequence_length)
    require_batch_fits(8, task.max_sequence_length)


def test_a_language_modelling_batch_beyond_memory_is_a_config_error(tmp_path):
    path = tmp_path / "a.txt"
    path.write_text("".join(f"ab {i} ab.\n<|endoftext|>\n" for i in range(10)))
    corpus = TextCorpus(path=str(path), separator="<|endoftext|>", val_fraction=0.1)
    task = LanguageModelingTask(corpus, block_size=16, batch_size=2**53, cache_dir=str(tmp_path / "cache"))
    assert task.memory_needs() == ()  # nothing known before the corpus is read
    task.setup(CharTokenizer(alphabet=None))
    with pytest.raises(ConfigError, match=r"^data\.batch_size: 9007199254740992 sequences of 16 tokens need .* GiB"):
        require_batch_fits(task.batch_size, task.max_sequence_length)


def test_a_batch_larger_than_memory_is_refused_with_the_fix():
    require_batch_fits(64, 256)
    rows = memory_bytes() // (16 * 1000) + 1  # one row more than the memory holds at 1000 tokens
    with pytest.raises(ConfigError, match=r"^data\.batch_size: .* GiB for their token ids alone.*Fix: lower data\.batch_size"):
        require_batch_fits(rows, 1000)
