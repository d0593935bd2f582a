"""mlm-export format=gguf, run by llama.cpp itself (llama-cpp-python, built from its PyPI source): the same tokens for
the prompts, the same logits, the same greedy completion as mlm_lab, for a Llama with grouped-query attention, the
text presets' model=modern (ReLU², llama.cpp's arcee architecture) and a Mixtral-style MoE.

Marked `interop`: building llama.cpp takes 10-25 minutes on 2 cores, so `python -m pytest` leaves it out and
`nox -s interop` (and .ci/run, after it installs llama-cpp-python) runs it. Without llama-cpp-python it fails naming
the install, never skips.
"""

import pytest
import torch
from conftest import SMALL_TEXT, local_data, run_cli, train_runs

pytestmark = [pytest.mark.slow, pytest.mark.interop]

BASE = [
    "experiment=tinystories",
    *local_data("tinystories"),
    *SMALL_TEXT,
    "trainer.max_steps=80",
    "trainer.eval_every=1000",
    "hardware=cpu",
    "trainer.log_checkpoints=false",
]
RUNS = {"llama": ["model=llama", "model.n_kv_heads=2"], "modern": ["model=modern"], "mixtral": ["model=mixtral"]}
PROMPTS = ["Once upon a time", "Lily and Tom", "The dog"]
NEW_TOKENS = 16


@pytest.fixture(scope="module")
def llama_cpp():
    try:
        import llama_cpp
    except ImportError:
        pytest.fail("llama-cpp-python is not installed: pip install llama-cpp-python (it builds llama.cpp), or run nox -s interop")
    return llama_cpp


@pytest.fixture(scope="module")
def registered(tmp_path_factory):
    workdir = tmp_path_factory.mktemp("gguf_runs")
    return workdir, train_runs(workdir, {arch: [*BASE, *extra, f"name=gguf_{arch}"] for arch, extra in RUNS.items()})


@pytest.mark.parametrize("arch", RUNS)
def test_llama_cpp_completes_as_mlm_lab_does(registered, llama_cpp, arch):
    from mlm_lab.generation import GenerationParams, generate
    from mlm_lab.tracking.registry import load_registered

    workdir, uri = registered
    out = workdir / f"gguf_{arch}"
    result = run_cli(
        ["mlm_lab.apps.export", f"model=models:/gguf_{arch}/latest", "format=gguf", f"out={out}"], cwd=workdir, tracking_uri=uri
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    predictor, _ = load_registered(f"models:/gguf_{arch}/latest", uri)
    tok, model = predictor.tokenizer, predictor.model
    llm = llama_cpp.Llama(model_path=str(out / "model.gguf"), n_ctx=64, logits_all=True, verbose=False, n_threads=1)
    for prompt in PROMPTS:
        ids = [tok.bos_id, *tok.encode(prompt)]
        assert llm.tokenize(prompt.encode("utf-8"), add_bos=True, special=False) == ids  # llama.cpp's tokenizer agrees
        llm.reset()
        llm.eval(ids)
        theirs = torch.tensor(llm.scores[: len(ids)])
        with torch.no_grad():
            mine = model(torch.tensor([ids]))[0][0]
        assert (theirs - mine).abs().max().item() <= 1e-3  # GGML's f32 kernels against torch's
        llm.reset()
        completion = []
        for token in llm.generate(ids, top_k=1, top_p=1.0, temp=0.0, repeat_penalty=1.0):
            if token == tok.eos_id or len(completion) == NEW_TOKENS:
                break
            completion.append(token)
        assert completion == generate(model, [ids], GenerationParams(max_new_tokens=NEW_TOKENS), eos_id=tok.eos_id)[0]
