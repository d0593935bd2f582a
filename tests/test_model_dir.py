import torch
from safetensors.torch import load_file

from mlm_lab.data.arithmetic_format import ArithmeticFormat
from mlm_lab.model_dir import load_model_dir, write_model_dir
from mlm_lab.models.builders import llama
from mlm_lab.predictor import Predictor
from mlm_lab.tokenizers.char import CharTokenizer
from mlm_lab.training.checkpoint import save_checkpoint


def test_model_folder_round_trip_gives_the_same_answers(tmp_path):
    torch.manual_seed(0)
    tok = CharTokenizer()
    model = llama(tok.vocab_size, context_length=16, d_model=32, n_layers=1, n_heads=2, tie_embeddings=False)
    fmt = ArithmeticFormat(operand_width=3, reverse_answer=True)
    original = Predictor(model, tok, fmt, defaults={"max_new_tokens": 5})
    write_model_dir(tmp_path, model, tok, fmt, {"max_new_tokens": 5}, {"seed": 7})
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "config.yaml", "generation.json", "model.json", "model.safetensors", "text_format.json", "tokenizer.json"
    ]  # fmt: skip
    predictor, config = load_model_dir(tmp_path)
    prompts = ["1+2=", "12+340=", "999+999="]
    assert predictor.complete(prompts) == original.complete(prompts)
    assert config == {"seed": 7} and predictor.model.config == model.config
    assert predictor.text_format.operand_width == 3


def test_missing_files_are_listed(tmp_path):
    (tmp_path / "model.json").write_text("{}")
    try:
        load_model_dir(tmp_path)
    except FileNotFoundError as e:
        assert "model.safetensors" in str(e) and "tokenizer.json" in str(e) and "model.json" not in str(e).split("missing")[1]
    else:
        raise AssertionError("an incomplete folder loaded")


def test_tied_weights_are_stored_once_and_tied_again_on_load(tmp_path):
    torch.manual_seed(0)
    tok = CharTokenizer()
    model = llama(tok.vocab_size, context_length=16, d_model=32, n_layers=1, n_heads=2)  # head tied to the embedding
    write_model_dir(tmp_path, model, tok, ArithmeticFormat(), {}, {})
    stored = load_file(tmp_path / "model.safetensors")
    assert "tok_emb.weight" in stored and "head.weight" not in stored
    predictor, _ = load_model_dir(tmp_path)
    loaded = predictor.model
    assert loaded.head.weight is loaded.tok_emb.weight and torch.equal(loaded.head.weight, model.head.weight)


def test_a_folder_written_before_safetensors_still_loads(tmp_path):
    """Registered models from before issue 17 hold model.pt (a state dict read with weights_only=True)."""
    torch.manual_seed(0)
    tok = CharTokenizer()
    model = llama(tok.vocab_size, context_length=16, d_model=32, n_layers=1, n_heads=2)
    fmt = ArithmeticFormat(operand_width=3, reverse_answer=True)
    write_model_dir(tmp_path, model, tok, fmt, {"max_new_tokens": 5}, {})
    (tmp_path / "model.safetensors").unlink()
    save_checkpoint({k: v.clone() for k, v in model.state_dict().items()}, tmp_path / "model.pt")
    predictor, _ = load_model_dir(tmp_path)
    original = Predictor(model, tok, fmt, defaults={"max_new_tokens": 5})
    assert predictor.complete(["12+34=", "1+2="]) == original.complete(["12+34=", "1+2="])
