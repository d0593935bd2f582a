import torch

from mlm_lab.data.arithmetic_format import ArithmeticFormat
from mlm_lab.model_dir import load_model_dir, write_model_dir
from mlm_lab.models.builders import llama
from mlm_lab.predictor import Predictor
from mlm_lab.tokenizers.char import CharTokenizer


def test_model_folder_round_trip_gives_the_same_answers(tmp_path):
    torch.manual_seed(0)
    tok = CharTokenizer()
    model = llama(tok.vocab_size, context_length=16, d_model=32, n_layers=1, n_heads=2, tie_embeddings=False)
    fmt = ArithmeticFormat(operand_width=3, reverse_answer=True)
    original = Predictor(model, tok, fmt, defaults={"max_new_tokens": 5})
    write_model_dir(tmp_path, model, tok, fmt, {"max_new_tokens": 5}, {"seed": 7})
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "config.yaml", "generation.json", "model.json", "model.pt", "text_format.json", "tokenizer.json"
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
        assert "model.pt" in str(e) and "tokenizer.json" in str(e) and "model.json" not in str(e).split("missing")[1]
    else:
        raise AssertionError("an incomplete folder loaded")
