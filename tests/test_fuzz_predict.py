"""Fuzzing the registered model's `predict`, the tokenizers and `mlflow models serve` (issue 7).

Every input gets a correct result or a clear error, never a crash: a clear error is a ValueError,
TypeError or MlflowException whose message names the offending input or parameter and, when mlm_lab
raised it, says how to fix it ("Fix:"). Anything else (IndexError, a RuntimeError from torch) fails.

A property that accepts a clear error could pass on a `predict` that refuses everything, so each one counts the
examples that got a result (`Successes`) and fails when too few did.

The default run is deterministic (`derandomize=True`); `MLM_LAB_FUZZ_EXAMPLES=2000 pytest
tests/test_fuzz_predict.py` runs that many random examples per property instead.
"""

import json
import math
import os
import re
import urllib.error
import urllib.request
from functools import partial

import mlflow
import numpy as np
import pandas as pd
import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from mlflow.exceptions import MlflowException

from mlm_lab.generation import MAX_NEW_TOKENS, MAX_NUM_SAMPLES
from mlm_lab.tokenizers.bytelevel_bpe import ByteLevelBPETokenizer
from mlm_lab.tokenizers.char import CharTokenizer
from mlm_lab.tokenizers.sentencepiece_tokenizer import SentencePieceTokenizer
from mlm_lab.tokenizers.word import WordTokenizer
from mlm_lab.tracking.pyfunc_model import SCORE_COLUMNS, prompts_from_input
from tests.conftest import data_file, models_serve, run_cli, sqlite_uri

EXAMPLES = int(os.environ.get("MLM_LAB_FUZZ_EXAMPLES", "0"))


def fuzz(default: int):
    """Few fixed examples by default (deterministic CI); MLM_LAB_FUZZ_EXAMPLES random ones when set."""
    return settings(
        max_examples=EXAMPLES or default,
        derandomize=not EXAMPLES,
        deadline=None,
        database=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    )


# Two tiny models through the real CLI: a few steps each, because the behaviour is under test, not the answers.
TINY = ["hardware=cpu", "hardware.threads=1", "model.n_layers=1", "model.d_model=32", "model.n_heads=2", "trainer.max_steps=3"]
TINY += ["trainer.eval_every=3", "trainer.log_every=3"]
TEXT = [  # any Unicode prompt is valid: a corpus-built char tokenizer maps unseen characters to <unk>
    "data=text",
    "tokenizer=char_corpus",
    f"data.corpus.path={data_file('tinystories/valid.txt')}",
    "data.corpus.separator='<|endoftext|>'",
    "model.context_length=32",
    "data.batch_size=8",
    "data.max_new_tokens=8",
    "name=fuzz_text",
]
ARITH = ["data.high=99", "data.n_train=500", "data.n_val=50", "data.n_test=50", "data.batch_size=32", "name=fuzz_arith"]  # context 16
TEXT_CONTEXT = 32

# ---------------------------------------------------------------------------------------------- what counts as clear

ALLOWED = (ValueError, TypeError, MlflowException)
# MLflow's own schema and param checks: their wording is MLflow's, they name the data or the param but give no fix
MLFLOW_OWN = ("Failed to enforce schema", "Invalid parameters found")


def clear_error(error: BaseException, names: tuple[str, ...]) -> str:
    """Assert `error` is an allowed type naming one of `names` (and with a fix when mlm_lab raised it); its message."""
    assert isinstance(error, ALLOWED), f"{type(error).__name__} is not a clear error: {error}"
    message = error.message if isinstance(error, MlflowException) else str(error)
    assert any(n in message for n in names), f"{type(error).__name__} names none of {names}: {message[:500]}"
    if not message.startswith(MLFLOW_OWN):
        assert re.search(r"Fix:|such as", message), f"no fix in: {message[:500]}"
    return message


def outcome(names: tuple[str, ...], call, *args, **kwargs):
    """`call(*args, **kwargs)`, or None after `clear_error`; any other exception fails the test with the input."""
    try:
        return call(*args, **kwargs)
    except ALLOWED as e:
        clear_error(e, names)
        return None


class Successes:
    """How many of a property's examples got a result rather than a clear error."""

    def __init__(self, property_name: str):
        self.name, self.ok, self.total = property_name, 0, 0

    def count(self, result):
        """Count one example's outcome (None: a clear error); returns it."""
        self.total += 1
        self.ok += result is not None
        return result

    def require(self, share: float) -> None:
        """Fail unless at least `share` of the examples (and at least one) succeeded."""
        print(f"{self.name}: {self.ok} of {self.total} examples succeeded")
        assert self.ok >= max(1, share * self.total), (
            f"{self.name}: only {self.ok} of {self.total} examples got a result, expected at least {share:.0%}: "
            "without this count, a predict that refused every input would pass the property"
        )


def raw_predict(model, model_input, params=None):
    """Our `predict` alone, as a Python caller without MLflow's signature checks meets it."""
    return model.unwrap_python_model().predict(None, model_input, params)


INPUT_NAMES = ("input", "prompt", "text", "character", "schema")
# The least share of a property's examples that must get a result (about half of what the default run measures)
SHARE = {
    "arith_prompts": 0.1,  # 26% measured
    "junk": 0.25,  # 56%
    "params": 0.08,  # 18%
    "wrong_type_params": 0.02,  # 6%: a few are of the right type by chance
    "decode": 0.2,  # 47 to 72%
    "encode": {"char": 0.3, "char_corpus": 0.5, "word": 0.5, "bytelevel_bpe": 0.5, "sentencepiece_bpe": 0.5, "sentencepiece_unigram": 0.5},
}

# ---------------------------------------------------------------------------------------------- strategies

VALID_TEXT = st.text(st.characters(codec="utf-8"), max_size=80)  # any Unicode text: no lone surrogates
TRICKY = [
    "",
    " ",
    "\x00",
    "\n\r\n",
    "\t",
    "\u202e\u0627\u0644\u0639\u0631\u0628\u064a\u0629",
    "😀👨‍👩‍👧",
    "\ufeff",
    "\u2581",
    "<|endoftext|>",
]
TRICKY += ["<bos>", "<eos>", "<pad>", "<unk>", "\ufffd", "e\u0301", "𝔘𝔫𝔦", "٣+٤=", "12+34=", "  1 + 2 =  ", "-1+2=", "1+2"]
LONG = st.builds(lambda s, n: s * n, st.text(st.characters(codec="utf-8"), min_size=1, max_size=8), st.integers(10, 400))
PROMPT = st.one_of(VALID_TEXT, st.sampled_from(TRICKY), LONG)
# arithmetic prompts up to 160 characters: far longer than the arithmetic model's context of 16
ARITH_PROMPT = st.builds(
    lambda xs, ops, eq: "".join(f"{o}{x}" for x, o in zip(xs, ops))[1:] + ("=" if eq else ""),
    st.lists(st.integers(0, 999), min_size=1, max_size=40),
    st.lists(st.sampled_from("+-*/"), min_size=40, max_size=40),
    st.booleans(),
)
# what `predict` documents it takes: prompts, as a list or under "prompt"
VALID_INPUT = st.one_of(st.lists(VALID_TEXT, min_size=1, max_size=3), st.fixed_dictionaries({"prompt": st.lists(VALID_TEXT, max_size=3)}))
SURROGATE = st.builds(lambda a, s, b: a + s + b, VALID_TEXT, st.characters(categories=["Cs"]), VALID_TEXT)
JUNK = st.recursive(
    st.one_of(st.none(), st.booleans(), st.integers(), st.floats(), st.binary(max_size=8), st.just(float("nan")), st.text(max_size=5)),
    lambda inner: st.one_of(st.lists(inner, max_size=4), st.dictionaries(st.sampled_from(["prompt", "text", "x"]), inner, max_size=2)),
    max_leaves=8,
)
FIXED_JUNK = [
    None,
    5,
    1.5,
    True,
    b"12+3=",
    [b"12+3="],
    [None],
    ["12+3=", None],
    ["12+3=", float("nan")],
    [1, 2],
    [["12+3=", "1+1="], ["2+2="]],
    {"text": ["12+3="]},
    {"prompt": 5},
    {"prompt": [None]},
    pd.DataFrame({"a": ["12+3="], "b": ["1+1="]}),
    pd.DataFrame({"prompt": [1, 2]}),
    pd.DataFrame({"prompt": []}),
    np.array([1, 2]),
    np.array(["12+3=", "1+1="]),
    np.array([["12+3="]]),
    ("12+3=", "1+1="),
    {"12+3="},
    [],
]


def as_input(prompts: list[str], shape: str):
    """The same prompts in each input shape the model documents."""
    return {
        "list": prompts,
        "dict": {"prompt": prompts},
        "frame": pd.DataFrame({"prompt": prompts}),
        "split": pd.DataFrame({0: prompts}),
        "array": np.array(prompts, dtype=object),
    }[shape]


SHAPES = st.sampled_from(["list", "dict", "frame", "split", "array"])
MLFLOW_SHAPES = ("dict", "frame")  # what the signature's named `prompt` column lets through MLflow's schema check


def predict_in(model, prompts: list[str], shape: str, params=None):
    """Through MLflow for the shapes its signature takes; our `predict` alone (a Python caller's) for the others."""
    model_input = as_input(prompts, shape)
    return model.predict(model_input, params=params) if shape in MLFLOW_SHAPES else raw_predict(model, model_input, params)


# ---------------------------------------------------------------------------------------------- fixtures


@pytest.fixture(scope="module")
def registry(tmp_path_factory):
    """The tiny text and arithmetic models, trained and registered through the CLI: (workdir, tracking uri)."""
    workdir = tmp_path_factory.mktemp("fuzz")
    uri = sqlite_uri(workdir)
    for overrides in (TEXT, ARITH):
        result = run_cli(["mlm_lab.apps.train", *TINY, *overrides], cwd=workdir, tracking_uri=uri)
        assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    return workdir, uri


@pytest.fixture(scope="module")
def models(registry):
    """{"text": ..., "arith": ...}: the registered models as `mlflow.pyfunc.load_model` returns them."""
    _, uri = registry
    previous_uri, previous_threads = mlflow.get_tracking_uri(), torch.get_num_threads()
    mlflow.set_tracking_uri(uri)
    try:
        loaded = {name: mlflow.pyfunc.load_model(f"models:/fuzz_{name}/latest") for name in ("text", "arith")}
    finally:
        mlflow.set_tracking_uri(previous_uri)
    # a model this small runs 100x faster on one thread than on threads that wait for a busy machine's cores
    torch.set_num_threads(1)
    yield loaded
    torch.set_num_threads(previous_threads)


def completions(result, n: int) -> list[str]:
    assert isinstance(result, list) and len(result) == n and all(isinstance(c, str) for c in result), result
    return result


# ---------------------------------------------------------------------------------------------- predict: prompts


@pytest.mark.slow
@fuzz(50)
@given(prompts=st.lists(PROMPT, min_size=1, max_size=4), shape=SHAPES)
def test_any_unicode_prompt_gets_one_completion_in_every_input_shape(models, prompts, shape):
    out = completions(predict_in(models["text"], prompts, shape), len(prompts))
    assert all(len(c) <= 8 for c in out)  # the model's default max_new_tokens, one character per token


@pytest.mark.slow
@fuzz(30)
@given(prompt=PROMPT.filter(lambda p: len(p) > TEXT_CONTEXT), short=VALID_TEXT)
def test_prompts_longer_than_the_context_keep_their_last_tokens_like_nanogpt(models, prompt, short):
    greedy = {"temperature": 0.0, "max_new_tokens": 6}
    # one token per character: the model sees `<bos>` and the prompt, cropped to its last 32 tokens, so a longer
    # prompt answers as its last 32 characters do, alone or beside a short prompt
    batch = models["text"].predict({"prompt": [prompt, short, prompt[-TEXT_CONTEXT:]]}, params=greedy)
    alone = models["text"].predict({"prompt": [prompt[-TEXT_CONTEXT:]]}, params=greedy)
    assert batch[0] == batch[2] == alone[0]


@pytest.mark.slow
@fuzz(40)
@given(prompts=st.lists(ARITH_PROMPT, min_size=1, max_size=4), shape=SHAPES)
def test_arithmetic_prompts_of_any_length_get_one_answer(models, prompts, shape):
    completions(predict_in(models["arith"], prompts, shape, params={"max_new_tokens": 4}), len(prompts))


@pytest.mark.slow
def test_the_arithmetic_model_answers_or_names_the_prompt_it_cannot_read(models):
    successes = Successes("arithmetic model on any prompt")

    @fuzz(50)
    @given(prompts=st.lists(st.one_of(PROMPT, ARITH_PROMPT), min_size=1, max_size=3))
    def examples(prompts):
        result = successes.count(outcome(INPUT_NAMES, models["arith"].predict, {"prompt": prompts}, params={"max_new_tokens": 4}))
        if result is not None:
            completions(result, len(prompts))

    examples()
    successes.require(SHARE["arith_prompts"])


@pytest.mark.slow
@fuzz(20)
@given(prompts=st.lists(st.one_of(PROMPT, SURROGATE), min_size=1, max_size=3).filter(lambda ps: any(map(is_surrogate_text, ps))))
def test_lone_surrogates_are_refused_by_name(models, prompts):
    for model in models.values():
        with pytest.raises(ALLOWED) as info:
            model.predict({"prompt": prompts})
        clear_error(info.value, ("surrogate", "prompt"))


def is_surrogate_text(text: str) -> bool:
    return any("\ud800" <= c <= "\udfff" for c in text)


# ---------------------------------------------------------------------------------------------- predict: wrong types


@pytest.mark.slow
@pytest.mark.parametrize("model_input", FIXED_JUNK, ids=lambda x: type(x).__name__)
def test_wrong_input_types_are_named_by_the_loaded_model_and_by_our_own_checks(models, model_input):
    for model in models.values():
        for predict in (model.predict, partial(raw_predict, model)):
            result = outcome(INPUT_NAMES, predict, model_input)
            if result is not None:  # MLflow's schema may make a valid frame of it (a 2-D array's first column)
                assert isinstance(result, list) and all(isinstance(c, str) for c in result)


def test_prompts_from_any_junk_are_strings_or_a_named_error():
    successes = Successes("prompts from junk")

    @fuzz(100)
    @given(model_input=st.one_of(JUNK, VALID_INPUT))
    def examples(model_input):
        prompts = successes.count(outcome(INPUT_NAMES, prompts_from_input, model_input))
        if prompts is not None:
            assert all(isinstance(p, str) for p in prompts)

    examples()
    successes.require(SHARE["junk"])


@pytest.mark.slow
def test_a_bad_input_is_invalid_parameter_value_for_mlflow_and_a_value_error_for_python(models):
    with pytest.raises(ValueError) as info:
        models["text"].predict({"prompt": ["a", 5]})  # through MLflow's schema check (the column is there) to ours
    assert isinstance(info.value, MlflowException) and info.value.get_http_status_code() == 400
    assert "input column 'prompt'[1] is int 5" in info.value.message


@pytest.mark.slow
def test_an_empty_list_of_prompts_is_an_empty_answer_or_named(models):
    raw = models["text"].unwrap_python_model()
    assert raw.predict(None, []) == []
    scored = raw.predict(None, [], params={"mode": "score"})
    assert list(scored.columns) == SCORE_COLUMNS and len(scored) == 0
    clear_error(pytest.raises(MlflowException, models["text"].predict, []).value, ("inputs",))  # MLflow's schema refuses []


# ---------------------------------------------------------------------------------------------- predict: params

BAD_INT = st.sampled_from([0, -1, -(10**12), 10**12, 2**63 - 1])
PARAMS = st.fixed_dictionaries(
    {},
    optional={
        "max_new_tokens": st.one_of(st.integers(-3, 12), st.sampled_from([MAX_NEW_TOKENS + 1, 10**12, -(10**12)])),
        "temperature": st.one_of(st.floats(), st.sampled_from([0.0, 1e-300, 5e-324, 1e300, -0.0, 0.7]), st.integers(-2, 3)),
        "top_k": st.one_of(st.integers(-3, 100), BAD_INT),
        "top_p": st.one_of(st.floats(), st.sampled_from([0.0, 1e-12, 1e-300, 5e-324, 1.0, 1.0000001])),
        "seed": st.integers(-(2**80), 2**80),
        "num_samples": st.one_of(st.integers(-1, 3), st.sampled_from([MAX_NUM_SAMPLES + 1, 10**12])),
        "stop": st.one_of(VALID_TEXT, st.lists(VALID_TEXT, max_size=3)),
        "mode": st.sampled_from(["generate", "score", "", "Score", "sample"]),
        "stride": st.one_of(st.integers(-2, 40), BAD_INT),
    },
)
WRONG_TYPE_PARAMS = st.dictionaries(
    st.sampled_from(["max_new_tokens", "temperature", "top_k", "top_p", "seed", "num_samples", "stop", "mode", "stride", "use_cache"]),
    st.one_of(st.text(max_size=4), st.floats(), st.booleans(), st.lists(st.integers(), max_size=2), st.binary(max_size=3), st.integers()),
    min_size=1,
    max_size=3,
)


def check_params_outcome(result, prompts: list[str], params: dict, text_model: bool) -> None:
    """A correct result for the params given: completions (cut at stop strings) or score rows."""
    if result is None:
        return
    if params.get("mode") == "score":
        assert isinstance(result, pd.DataFrame) and list(result.columns) == SCORE_COLUMNS and len(result) == len(prompts)
        assert np.isfinite(result[SCORE_COLUMNS].to_numpy(dtype=float)).all(), result
        assert (result["tokens"] > 0).all() and (result["bytes"] > 0).all()
        return
    samples = params.get("num_samples") or 1
    out = completions(result, len(prompts) * samples)
    stop = params.get("stop") or []
    for s in [stop] if isinstance(stop, str) else stop:
        assert not s or all(s not in c for c in out), (s, out)
    if text_model:
        assert all(len(c) <= (params.get("max_new_tokens") or 8) for c in out)


@pytest.mark.slow
def test_any_params_give_a_correct_result_or_name_the_param(models):
    successes = Successes("any params")

    @fuzz(100)
    @given(params=PARAMS, prompts=st.lists(PROMPT.filter(bool), min_size=1, max_size=2))
    def examples(params, prompts):
        names = (*params, "params") if params else ("params",)
        for name, model in models.items():
            model_prompts = prompts if name == "text" else ["12+34=", "5+7="][: len(prompts)]
            for predict in (model.predict, partial(raw_predict, model)):
                result = successes.count(outcome(names, predict, {"prompt": model_prompts}, params=params))
                check_params_outcome(result, model_prompts, params, text_model=name == "text")

    examples()
    successes.require(SHARE["params"])


@pytest.mark.slow
def test_params_of_the_wrong_type_name_the_param(models):
    successes = Successes("params of any type")  # some are right: a bool use_cache, an int seed, a text stop

    @fuzz(60)
    @given(params=WRONG_TYPE_PARAMS)
    def examples(params):
        names = (*params, "params")
        model = models["text"]
        for predict in (model.predict, partial(raw_predict, model)):
            result = successes.count(outcome(names, predict, {"prompt": ["Once"]}, params=params))
            check_params_outcome(result, ["Once"], params, text_model=True)

    examples()
    successes.require(SHARE["wrong_type_params"])


@pytest.mark.slow
def test_a_tiny_temperature_samples_like_greedy_decoding(models):
    prompts = ["Once upon", "The dog", "\x00😀"]
    greedy = models["text"].predict({"prompt": prompts}, params={"temperature": 0.0})
    for t in (1e-300, 5e-324, 1e-30):
        assert models["text"].predict({"prompt": prompts}, params={"temperature": t, "seed": 1}) == greedy


@pytest.mark.slow
@fuzz(30)
@given(texts=st.lists(PROMPT.filter(bool), min_size=1, max_size=3), stride=st.one_of(st.none(), st.integers(1, TEXT_CONTEXT)))
def test_scores_of_any_text_are_finite(models, texts, stride):
    params = {"mode": "score"} if stride is None else {"mode": "score", "stride": stride}
    check_params_outcome(models["text"].predict({"prompt": texts}, params=params), texts, params, text_model=True)


# ---------------------------------------------------------------------------------------------- tokenizers


@pytest.fixture(scope="module")
def tokenizers(tmp_path_factory) -> dict:
    """One fitted tokenizer of every kind (both char variants), trained on 20 KB of TinyStories."""
    cache_dir = str(tmp_path_factory.mktemp("tokenizer_cache"))
    with open(data_file("tinystories/train.txt"), encoding="utf-8") as f:
        text = f.read(20_000)
    toks = {
        "char": CharTokenizer(),
        "char_corpus": CharTokenizer(alphabet=None),
        "word": WordTokenizer(vocab_size=300),
        "bytelevel_bpe": ByteLevelBPETokenizer(vocab_size=400, cache_dir=cache_dir),
        "sentencepiece_bpe": SentencePieceTokenizer("bpe", vocab_size=400, cache_dir=cache_dir),
        "sentencepiece_unigram": SentencePieceTokenizer("unigram", vocab_size=400, cache_dir=cache_dir),
    }
    for tok in toks.values():
        tok.fit([text])
    return toks


KINDS = ["char", "char_corpus", "word", "bytelevel_bpe", "sentencepiece_bpe", "sentencepiece_unigram"]
NOT_TEXT = [None, 5, 1.5, True, b"the dog", bytearray(b"x"), ["the dog"], ("a",), {"text": "a"}, np.array(["a"])]
NOT_IDS = [None, 5, "5 6", b"\x05", 1.5, {1: 2}, [1.5], [None], ["5"], [True], [[5]], np.array([1.5])]


@pytest.mark.parametrize("kind", KINDS)
def test_empty_text_and_ids_and_wrong_types(tokenizers, kind):
    tok = tokenizers[kind]
    assert tok.encode("") == [] and tok.decode([]) == ""
    assert tok.decode(np.array([], dtype=np.int64)) == "" and tok.decode(()) == ""
    for text in NOT_TEXT:
        with pytest.raises(TypeError) as info:
            tok.encode(text)
        clear_error(info.value, ("tokenizer.encode",))
    for ids in NOT_IDS:
        with pytest.raises(TypeError) as info:
            tok.decode(ids)
        clear_error(info.value, ("tokenizer.decode",))


@pytest.mark.parametrize("kind", KINDS)
def test_decode_takes_any_in_range_ids_and_names_the_others(tokenizers, kind):
    tok = tokenizers[kind]
    successes = Successes(f"{kind} decode")
    in_range = st.lists(st.integers(0, tok.vocab_size - 1), max_size=12)
    any_ids = st.lists(st.one_of(st.integers(0, 500), st.integers(), st.integers(-3, -1)), max_size=12)

    @fuzz(40)
    @given(ids=st.one_of(in_range, any_ids), as_array=st.booleans())
    def examples(ids, as_array):
        if as_array and all(-(2**63) <= i < 2**63 for i in ids):
            ids = np.array(ids, dtype=np.int64)
        if all(0 <= i < tok.vocab_size for i in ids):
            assert isinstance(successes.count(tok.decode(ids)), str)
        else:
            with pytest.raises(ValueError) as info:
                tok.decode(ids)
            clear_error(info.value, ("outside the vocabulary",))
            successes.count(None)

    examples()
    successes.require(SHARE["decode"])


@pytest.mark.parametrize("kind", KINDS)
def test_encode_any_text_gives_ids_in_the_vocabulary_or_names_the_problem(tokenizers, kind):
    tok = tokenizers[kind]
    successes = Successes(f"{kind} encode")

    @fuzz(40)
    @given(text=st.one_of(PROMPT, SURROGATE, ARITH_PROMPT))  # arithmetic text: what the fixed char alphabet reads
    def examples(text):
        names = ("surrogate",) if is_surrogate_text(text) else ("not in the tokenizer alphabet",)
        ids = successes.count(outcome(names, tok.encode, text))
        if ids is None:
            assert is_surrogate_text(text) or kind == "char"
            return
        assert all(isinstance(i, int) and 0 <= i < tok.vocab_size for i in ids) and not set(ids) & tok.special_ids
        back = tok.decode(ids)
        if kind == "char_corpus":  # unseen characters come back as U+FFFD, one for one
            assert len(back) == len(text) and all(b in (c, "\ufffd") for b, c in zip(back, text))
        elif kind == "word":  # words, unknown ones as <UNK>
            assert len(back.split()) == len(text.split())

    examples()
    successes.require(SHARE["encode"][kind])


@pytest.mark.parametrize("kind", KINDS)
def test_huge_text_encodes_and_decodes(tokenizers, kind):
    tok = tokenizers[kind]
    text = "12+34=46*" * 30_000 if kind == "char" else ("Once upon a time, ¿qué? 😀\x00 the dog\n" * 8_000)
    ids = tok.encode(text)  # about 300 KB: thousands of contexts
    assert len(ids) >= len(text.split()) and all(0 <= i < tok.vocab_size for i in ids[:: max(len(ids) // 1000, 1)])
    back = tok.decode(ids)
    if kind in ("char", "bytelevel_bpe", "sentencepiece_bpe", "sentencepiece_unigram"):
        assert back == text
    elif kind == "word":
        assert len(back.split()) == len(text.split())
    else:
        assert len(back) == len(text)


# ---------------------------------------------------------------------------------------------- the server


def request(url: str, body: bytes, content_type: str = "application/json") -> tuple[int, str]:
    """(status, body) of a POST; HTTP errors are answers here, not exceptions."""
    req = urllib.request.Request(url, data=body, headers={"Content-Type": content_type})
    try:
        with urllib.request.urlopen(req, timeout=120) as response:
            return response.status, response.read().decode()
    except urllib.error.HTTPError as e:
        return e.code, e.read().decode()


def payload(inputs, **params) -> bytes:
    return json.dumps({"inputs": inputs, **({"params": params} if params else {})}).encode()


JSON = "application/json"
# (what, body, content type, the statuses it may get, text its answer holds). MLflow parses the request and
# enforces the signature before our `predict` runs: the first block is MLflow's to answer, the second ours.
BAD_REQUESTS = [
    ("malformed JSON", b'{"inputs": ["Once"', JSON, {400}, "valid JSON"),
    ("not UTF-8", b'{"inputs": ["\xff"]}', JSON, {400}, "utf-8"),
    ("another charset", b'{"inputs": ["Once"]}', "application/json; charset=latin-1", {415}, "UTF-8"),
    ("no content type it reads", b"Once upon a time", "text/plain", {415}, "content types"),
    ("a list, not an object", b'["Once"]', JSON, {400}, "input fields"),
    ("no inputs key", b'{"prompts": ["Once"]}', JSON, {400}, "input fields"),
    ("empty body", b"", JSON, {400}, "valid JSON"),
    ("ragged nesting", payload([["Once", ["a"]]]), JSON, {400}, "prompt"),
    ("numbers as prompts", payload({"prompt": [1, 2]}), JSON, {400}, "not a string"),
    ("a lone surrogate", b'{"inputs": ["Once \\ud800 upon"]}', JSON, {400}, "surrogate"),
    ("params not an object", b'{"inputs": ["Once"], "params": [1]}', JSON, {400}, "Parameters must be a dictionary"),
    ("max_new_tokens as text", payload(["Once"], max_new_tokens="many"), JSON, {400}, "max_new_tokens"),
    # MLflow's JSON parser recurses: 5000 levels are an unhandled RecursionError there, a 500 the server survives
    ("5000 nested lists", b'{"inputs": ' + b"[" * 5000 + b"]" * 5000 + b"}", JSON, {400, 500}, ""),
    ("a missing prompt", json.dumps({"dataframe_records": [{"prompt": "Once"}, {"prompt": None}]}).encode(), JSON, {400}, "missing"),
    ("negative temperature", payload(["Once"], temperature=-1.0), JSON, {400}, "temperature: must be"),
    ("NaN temperature", b'{"inputs": ["Once"], "params": {"temperature": NaN}}', JSON, {400}, "temperature: must be"),
    ("huge num_samples", payload(["Once"], num_samples=10**9), JSON, {400}, "num_samples: must be"),
    ("huge max_new_tokens", payload(["Once"], max_new_tokens=10**9), JSON, {400}, "max_new_tokens: must be"),
    ("unknown mode", payload(["Once"], mode="chat"), JSON, {400}, "params.mode"),
    ("stride 0", payload(["Once"], mode="score", stride=0), JSON, {400}, "stride: must be"),
    ("nothing to score", payload(["Once", ""], mode="score"), JSON, {400}, "input[1] is empty"),
]


@pytest.mark.slow
def test_the_server_answers_bad_requests_with_named_errors_and_keeps_serving(registry, models):
    workdir, uri = registry
    with models_serve("models:/fuzz_text/latest", uri, workdir, env={"OMP_NUM_THREADS": "1"}) as url:
        for what, body, content_type, statuses, text in BAD_REQUESTS:
            status, answer = request(url, body, content_type)
            assert status in statuses and text in answer and answer.strip(), (what, status, answer[:1000])
            if status == 400:  # a JSON error with a message, never a bare "unexpected error"
                assert json.loads(answer)["message"] and "unexpected error" not in answer, (what, answer[:1000])
        got, answer = request(url, payload([]))
        assert got == 200 and json.loads(answer) == {"predictions": []}  # no prompts: no completions
        greedy = {"temperature": 0.0}
        unicode = ["\x00 😀\u202e عربى e\u0301", "", "x" * 200_000]
        got, answer = request(url, payload(unicode, **greedy))
        assert got == 200 and json.loads(answer)["predictions"] == models["text"].predict({"prompt": unicode}, params=greedy)
        records = json.dumps({"dataframe_records": [{"prompt": "Once"}, {"prompt": "The dog"}], "params": greedy}).encode()
        got, answer = request(url, records)
        assert got == 200 and json.loads(answer)["predictions"] == models["text"].predict({"prompt": ["Once", "The dog"]}, params=greedy)
        got, answer = request(url, payload(["Once upon a time", "x" * 1000], mode="score"))
        rows = json.loads(answer)["predictions"]
        assert got == 200 and len(rows) == 2 and all(math.isfinite(row[c]) for row in rows for c in SCORE_COLUMNS), rows
        with urllib.request.urlopen(url.replace("/invocations", "/ping"), timeout=30) as ping:  # still serving
            assert ping.status == 200
        got, answer = request(url, payload(["Once"], **greedy))
        assert got == 200 and json.loads(answer) == {"predictions": models["text"].predict({"prompt": ["Once"]}, params=greedy)}
