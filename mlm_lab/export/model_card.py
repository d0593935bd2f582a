"""README.md of an exported folder and of the registered model's folder: what the model is, how to call it, how its
text must look, what it scored, where it came from."""

import json

from mlm_lab.export.source import Source

USAGE = {
    "mlflow": """```python
import mlflow                                   # with mlm_lab installed (pip install mlm-lab)
model = mlflow.pyfunc.load_model("{out}")
print(model.predict({{"prompt": [{prompt!r}]}}, params={{"max_new_tokens": {new}}}))
```
or over HTTP: `mlflow models serve -m {out} --env-manager local -h 127.0.0.1 -p 5001`, then POST
`{{"inputs": {{"prompt": [{prompt_json}]}}}}` to `http://127.0.0.1:5001/invocations`. To use it without mlm_lab,
`mlm-export model={out} format=hf` (transformers) or `format=gguf` (llama.cpp).""",
    "hf": """```python
from transformers import AutoModelForCausalLM, AutoTokenizer
tok = AutoTokenizer.from_pretrained("{out}")
model = AutoModelForCausalLM.from_pretrained("{out}")
ids = tok({prompt!r}, return_tensors="pt").input_ids          # <bos> first, as in training
out = model.generate(ids, max_new_tokens={new}, do_sample=False)
print(tok.decode(out[0, ids.shape[1]:], skip_special_tokens=True))
```""",
    "gguf": """```bash
llama-cli -m {out}/model.gguf -p {prompt!r} -n {new} --temp 0        # llama.cpp
```
or Ollama: a `Modelfile` holding `FROM ./model.gguf`, then `ollama create NAME -f Modelfile && ollama run NAME`.""",
}


def text_format_note(text_format: dict) -> str:
    """How prompts and answers must look to the model; empty for plain text."""
    width, reverse = text_format.get("operand_width", 0), text_format.get("reverse_answer", False)
    if "Arithmetic" not in text_format.get("_target_", ""):
        return ""
    example_in = "+".join(s.zfill(width) for s in ("7", "34")) + "="
    answer = "41"
    shown = answer[::-1] if reverse else answer
    lines = [
        "## Text format (important)",
        "",
        "This model was trained on arithmetic written in mlm_lab's model format, which a plain causal LM does not apply for you:",
        "",
        f"- operands zero-padded to {width} digits: send `{example_in}` for 7+34;" if width else "- operands as they are;",
        f"- the answer comes least-significant digit first: `{shown}` means {answer}; reverse it to read it;"
        if reverse
        else "- the answer comes in the usual digit order;",
        "- generation stops at `<eos>`; greedy decoding (`do_sample=False`, temperature 0) is how it was evaluated.",
    ]
    return "\n".join(lines)


def model_card(source: Source, fmt: str, out: str, architecture: str, files: list[str]) -> str:
    """The folder's README.md."""
    cfg = source.config
    task = (cfg.get("data") or {}).get("_target_", "?").rsplit(".", 1)[-1]
    metrics = {k: v for k, v in sorted(source.metrics.items()) if k.split("/")[0] in ("val", "test", "heldout")}
    # the registered model takes plain prompts and applies the text format itself; other tools need the model's text
    prompt = source.plain_prompt if fmt == "mlflow" else source.example_prompt
    new = source.predictor.defaults.get("max_new_tokens") or 64
    lines = [
        f"# {cfg.get('name', 'mlm_lab model')} ({architecture}, {'registered' if fmt == 'mlflow' else 'exported'} by mlm_lab)",
        "",
        f"A {source.predictor.model.num_parameters():,}-parameter {architecture} trained with mlm_lab "
        f"(task `{task}`, tokenizer `{source.predictor.tokenizer.kind}`, {source.predictor.tokenizer.vocab_size} ids).",
        "",
        f"Source: `{source.uri}`" + (f", MLflow run `{source.run_id}`" if source.run_id and source.run_id not in source.uri else "") + ".",
        "",
        f"Files: {', '.join(f'`{f}`' for f in files)}.",
        "",
        "## Use",
        "",
        USAGE[fmt].format(out=out, prompt=prompt, prompt_json=json.dumps(prompt, ensure_ascii=False), new=new),
        "",
    ]
    note = text_format_note(source.text_format) if fmt != "mlflow" else ""
    if note:
        lines += [note, ""]
    if metrics:
        lines += ["## Metrics (from the run)", "", "| metric | value |", "|---|---|"]
        lines += [f"| {k} | {v:.4f} |" for k, v in metrics.items()]
        lines.append("")
    return "\n".join(lines)
