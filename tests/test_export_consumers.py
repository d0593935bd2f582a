"""mlm-export format=hf, checked by its real consumer: transformers, in a process where mlm_lab cannot be imported,
gives the same logits and the same greedy completions as mlm_lab; and trainer.init_from=hf:DIR brings it back.

Four small runs, trained and registered in this process: GPT-2 on arithmetic (char tokenizer, the task's text
format), modern (Llama + ReLU²) on the Quijote (sentencepiece unigram), Llama with grouped-query attention on
TinyStories (sentencepiece BPE), Mixtral on TinyStories (byte-level BPE).
"""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from conftest import SMALL_TEXT, compose_config, local_data, run_cli, train_runs

pytestmark = pytest.mark.slow

RUNS = {
    "gpt2": ["experiment=arithmetic", "model=gpt2", "data.n_train=3000", "data.n_val=50", "data.n_test=50", "trainer.max_steps=150"],
    "modern": ["experiment=cervantes", "tokenizer=sentencepiece_unigram", "tokenizer.num_threads=1", *local_data("cervantes")],
    "llama": ["experiment=tinystories", "model=llama", "model.n_kv_heads=2", *local_data("tinystories")],
    "mixtral": ["experiment=tinystories", "model=mixtral", "tokenizer=bytelevel_bpe", *local_data("tinystories")],
}
TEXT = [*SMALL_TEXT, "trainer.max_steps=60"]
COMMON = ["trainer.eval_every=1000", "trainer.log_every=50", "hardware=cpu", "trainer.log_checkpoints=false"]
PROMPTS = {"gpt2": ["12+34=", "7+805=", "999+1="], "modern": ["En un lugar", "Sancho"], "llama": ["Once upon a time", "Lily"]}
PROMPTS["mixtral"] = PROMPTS["llama"]
NEW_TOKENS = 12

# runs in a fresh interpreter where `import mlm_lab` fails: what a user without mlm_lab installed has
CONSUMER = """
import json, sys
sys.modules["mlm_lab"] = None
import torch
from transformers import AutoModelForCausalLM, AutoTokenizer
folder, prompts, new = sys.argv[1], json.loads(sys.argv[2]), int(sys.argv[3])
tok = AutoTokenizer.from_pretrained(folder)
model = AutoModelForCausalLM.from_pretrained(folder, dtype=torch.float32).eval()
out = {"class": type(model).__name__, "ids": [], "logits": [], "completions": []}
for p in prompts:
    ids = tok(p, return_tensors="pt").input_ids
    with torch.no_grad():
        out["logits"].append(model(ids).logits[0].tolist())
        gen = model.generate(ids, max_new_tokens=new, do_sample=False)
    out["ids"].append(ids[0].tolist())
    out["completions"].append(tok.decode(gen[0, ids.shape[1]:], skip_special_tokens=True))
print(json.dumps(out))
"""


@pytest.fixture(scope="module")
def registered(tmp_path_factory):
    """The four runs, trained and registered as ex_<arch> in one sqlite store; returns (workdir, tracking uri)."""
    workdir = tmp_path_factory.mktemp("export_runs")
    runs = {arch: [*overrides, *([] if arch == "gpt2" else TEXT), *COMMON, f"name=ex_{arch}"] for arch, overrides in RUNS.items()}
    return workdir, train_runs(workdir, runs)


def export(workdir: Path, uri: str, arch: str, fmt: str = "hf", name: str = "") -> Path:
    out = workdir / f"exported_{arch}_{fmt}{name}"
    result = run_cli(
        ["mlm_lab.apps.export", f"model=models:/ex_{arch}/latest", f"format={fmt}", f"out={out}"], cwd=workdir, tracking_uri=uri
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    return out


def consume(folder: Path, prompts: list[str]) -> dict:
    result = subprocess.run(
        [sys.executable, "-c", CONSUMER, str(folder), json.dumps(prompts), str(NEW_TOKENS)],
        capture_output=True, text=True, timeout=300, cwd=folder.parent, env={**os.environ, "HF_HUB_OFFLINE": "1"},
    )  # fmt: skip
    assert result.returncode == 0, result.stderr[-3000:]
    return json.loads(result.stdout.splitlines()[-1])


@pytest.mark.parametrize("arch", RUNS)
def test_transformers_gives_mlm_labs_logits_and_greedy_completions(registered, arch):
    from mlm_lab.tracking.registry import load_registered

    workdir, uri = registered
    folder = export(workdir, uri, arch)
    predictor, _ = load_registered(f"models:/ex_{arch}/latest", uri)
    fmt = predictor.text_format
    model_prompts = [fmt.prompt_to_model(p) for p in PROMPTS[arch]]  # what a transformers user sends (the card says so)
    theirs = consume(folder, model_prompts)
    assert theirs["class"] == {"gpt2": "GPT2LMHeadModel", "mixtral": "MixtralForCausalLM"}.get(arch, "LlamaForCausalLM")
    for prompt, ids, logits in zip(model_prompts, theirs["ids"], theirs["logits"]):
        assert ids == [predictor.tokenizer.bos_id, *predictor.tokenizer.encode(prompt)]
        with torch.no_grad():
            mine = predictor.model(torch.tensor([ids]))[0][0]
        assert (mine - torch.tensor(logits)).abs().max().item() <= 1e-4
    # mlm-generate at temperature 0, through its console entry point
    args = ["mlm_lab.apps.generate", f"model=models:/ex_{arch}/latest", f"prompt={json.dumps(PROMPTS[arch])}"]
    result = run_cli([*args, "temperature=0", f"max_new_tokens={NEW_TOKENS}", "separator=@@@"], cwd=workdir, tracking_uri=uri)
    assert result.returncode == 0, result.stderr[-3000:]
    generated = result.stdout.removesuffix("\n").split("@@@")  # print's newline; the completions keep theirs
    assert [fmt.answer_from_model(c) for c in theirs["completions"]] == generated
    card = (folder / "README.md").read_text()
    assert ("reverse it" in card) == (arch == "gpt2") and "ex_" in card


def test_export_then_import_gives_back_the_same_module_and_ids(registered):
    from mlm_lab.components import build_components
    from mlm_lab.tracking.registry import load_registered

    workdir, uri = registered
    for arch in ("gpt2", "modern", "mixtral"):
        folder = export(workdir, uri, arch, name="_import")
        predictor, _ = load_registered(f"models:/ex_{arch}/latest", uri)
        overrides = [*RUNS[arch], *([] if arch == "gpt2" else TEXT), "tracking=none", f"trainer.init_from=hf:{folder}", "model=gpt2"]
        overrides.append(f"output_dir={workdir / ('import_' + arch)}")
        c = build_components(compose_config(overrides))
        assert c.tokenizer.state() == predictor.tokenizer.state()
        assert c.model.config.to_dict() == predictor.model.config.to_dict()
        own = predictor.model.state_dict()
        assert sorted(c.model.state_dict()) == sorted(own)
        assert all(torch.equal(v, own[k]) for k, v in c.model.state_dict().items())
        assert c.config["model"]["_target_"] == "mlm_lab.models.builders.imported"


def test_a_folder_transformers_saved_continues_training_in_mlm_lab(registered, tmp_path):
    """Not an mlm-export folder: save_pretrained's own files, no mlm_lab record; trained on for 3 steps, tracked."""
    workdir, uri = registered
    exported = export(workdir, uri, "llama", name="_continued")
    saved = tmp_path / "saved"
    code = (
        "import sys; sys.modules['mlm_lab'] = None\n"
        "from transformers import AutoModelForCausalLM, AutoTokenizer\n"
        f"m = AutoModelForCausalLM.from_pretrained({str(exported)!r}); m.config.mlm_lab = None\n"
        f"m.save_pretrained({str(saved)!r}); AutoTokenizer.from_pretrained({str(exported)!r}).save_pretrained({str(saved)!r})\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True, capture_output=True, timeout=300)
    assert not (saved / "mlm_lab_tokenizer.json").exists() and json.loads((saved / "config.json").read_text()).get("mlm_lab") is None
    args = [*RUNS["llama"], *TEXT, "trainer.max_steps=3", "name=continued", f"trainer.init_from=hf:{saved}", "trainer.eval_every=3"]
    result = run_cli(["mlm_lab.apps.train", *args, "hardware=cpu"], cwd=workdir, tracking_uri=uri)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    assert "initialised" in result.stdout + result.stderr and "registered model: models:/continued/1" in result.stdout + result.stderr
