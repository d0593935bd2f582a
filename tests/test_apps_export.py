"""`mlm-export`: a model taken as the other apps take one (or from a checkpoint), written whole or not at all."""

import json

import pytest

from mlm_lab.apps.export import app as run
from mlm_lab.apps.export import require_extra
from mlm_lab.errors import ConfigError
from tests.conftest import compose_config


def export(uri: str, *overrides: str) -> list[str]:
    return run(compose_config([f"tracking_uri={uri}", *overrides], "export", "apps"))


def test_a_registered_model_becomes_a_folder_with_a_model_card(tiny_runs, tmp_path):
    _, uri = tiny_runs
    files = export(uri, "model=models:/arithmetic/latest", f"out={tmp_path / 'hf'}")
    assert sorted(files) == sorted(p.name for p in (tmp_path / "hf").iterdir())
    assert {"config.json", "model.safetensors", "tokenizer.json", "generation_config.json", "README.md"} <= set(files)
    config = json.loads((tmp_path / "hf" / "config.json").read_text())
    assert config["architectures"] == ["GPT2LMHeadModel"] and config["mlm_lab"]["d_model"] in (32, 64)
    assert json.loads((tmp_path / "hf" / "generation_config.json").read_text())["do_sample"] is False  # arithmetic is greedy
    card = (tmp_path / "hf" / "README.md").read_text()
    from mlm_lab.tracking.registry import load_registered

    fmt = load_registered("models:/arithmetic/latest", uri)[0].text_format
    assert f"send `{fmt.prompt_to_model('7+34=')}` for 7+34" in card and fmt.operand_width == 2  # these runs add up to 99
    assert "reverse it" in card and "MLflow run" in card and "test/exact_match" in card


def test_a_run_id_and_a_checkpoint_file_are_models_too(tiny_runs, tmp_path):
    workdir, uri = tiny_runs
    checkpoint = next(workdir.rglob("final.pt"))
    from mlm_lab.training.checkpoint import load_checkpoint

    run_id = load_checkpoint(checkpoint)["run_id"]
    export(uri, f"model={run_id}", f"out={tmp_path / 'by_id'}")
    export(uri, f"model={checkpoint}", f"out={tmp_path / 'by_file'}")
    for name in ("model.safetensors", "tokenizer.json"):  # the same weights and tokenizer either way
        assert (tmp_path / "by_id" / name).read_bytes() == (tmp_path / "by_file" / name).read_bytes()
    assert run_id in (tmp_path / "by_file" / "README.md").read_text()


def test_a_folder_that_holds_files_is_kept_unless_overwrite(tiny_runs, tmp_path, caplog):
    _, uri = tiny_runs
    out = tmp_path / "taken"
    out.mkdir()
    (out / "notes.txt").write_text("mine")
    with pytest.raises(SystemExit) as info:
        export(uri, "model=models:/arithmetic/latest", f"out={out}")
    assert info.value.code == 2 and "already holds files" in caplog.text and "overwrite=true" in caplog.text
    assert [p.name for p in out.iterdir()] == ["notes.txt"] and (out / "notes.txt").read_text() == "mine"
    export(uri, "model=models:/arithmetic/latest", f"out={out}", "overwrite=true")
    assert (out / "config.json").is_file() and not (out / "notes.txt").exists()
    assert [p.name for p in tmp_path.iterdir()] == ["taken"]  # no temporary folder left beside it


@pytest.mark.parametrize(
    "overrides, named",
    [(["format=gguf"], "model=gpt2"), (["format=onnx"], "format: 'onnx'"), (["format=gguf", "dtype=q4"], "dtype")],
)
def test_what_cannot_be_written_exits_2_before_any_file(tiny_runs, tmp_path, caplog, overrides, named):
    _, uri = tiny_runs
    with pytest.raises(SystemExit) as info:
        export(uri, "model=models:/arithmetic/latest", f"out={tmp_path / 'x'}", *overrides)
    assert info.value.code == 2 and named in caplog.text and "Fix:" in caplog.text
    assert not (tmp_path / "x").exists()


def test_a_missing_extra_is_named(monkeypatch):
    import importlib.util

    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "gguf" else real(name, *a))
    with pytest.raises(ConfigError, match=r"\['gguf'\] are not installed. Fix: pip install 'mlm-lab\[export\]'"):
        require_extra("gguf")
    require_extra("hf")
