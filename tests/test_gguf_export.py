"""The GGUF writer, read back with llama.cpp's own gguf reader: metadata, vocabulary, tensors (q and k permuted as
llama.cpp's converter permutes them), the three dtypes, and refusals by name. llama.cpp running the file is
tests/test_gguf_llamacpp.py (nox -s interop)."""

from pathlib import Path

import numpy as np
import pytest
import torch
from conftest import data_file
from gguf import GGUFReader

from mlm_lab.errors import ConfigError
from mlm_lab.export.gguf_export import _permute, check_gguf, write_gguf
from mlm_lab.models.builders import gpt2, llama, mixtral, modern
from mlm_lab.tokenizers.char import CharTokenizer
from mlm_lab.tokenizers.sentencepiece_tokenizer import SentencePieceTokenizer

SHAPE = dict(context_length=32, d_model=32, n_layers=2, n_heads=4)


@pytest.fixture(scope="module")
def sp():
    tok = SentencePieceTokenizer(vocab_size=400, num_threads=1)
    tok.fit(Path(data_file("cervantes/quijote.txt")).read_text(encoding="utf-8-sig").split("\n\n"))
    return tok


def field(reader: GGUFReader, key: str):
    f = reader.fields[key]
    text = f.types[-1].name == "STRING"
    values = [bytes(f.parts[i]).decode("utf-8") if text else f.parts[i].tolist()[0] for i in f.data]
    return values if f.types[0].name == "ARRAY" else values[0]


def test_permute_rotates_half_split_pairs_into_interleaved_pairs():
    # one head of size 4: rows (x0, x1 | y0, y1) pair x_i with y_i; GGML wants (x0, y0, x1, y1)
    w = torch.arange(8.0).reshape(4, 2)
    assert _permute(w, 1).tolist() == [[0, 1], [4, 5], [2, 3], [6, 7]]


@pytest.mark.parametrize("dtype", ["f32", "f16", "bf16"])
def test_llama_file_holds_the_model_and_vocabulary(sp, tmp_path, dtype):
    torch.manual_seed(0)
    model = llama(sp.vocab_size, n_kv_heads=2, tie_embeddings=False, **SHAPE)
    path = write_gguf(model, sp, tmp_path / "m.gguf", dtype)
    reader = GGUFReader(path)
    assert field(reader, "general.architecture") == "llama"
    assert field(reader, "llama.block_count") == 2 and field(reader, "llama.embedding_length") == 32
    assert field(reader, "llama.attention.head_count") == 4 and field(reader, "llama.attention.head_count_kv") == 2
    assert field(reader, "llama.rope.dimension_count") == 8 and field(reader, "tokenizer.ggml.model") == "llama"
    assert field(reader, "tokenizer.ggml.bos_token_id") == sp.bos_id and field(reader, "tokenizer.ggml.add_space_prefix") is False
    tokens = field(reader, "tokenizer.ggml.tokens")
    assert len(tokens) == sp.vocab_size and tokens[sp.bos_id] == "<bos>" and tokens[5] == "\n"
    tensors = {t.name: t for t in reader.tensors}
    assert len(tensors) == 3 + 2 * 9  # embedding, output norm, untied output; 9 per block
    state = model.state_dict()
    for name, mine in (("blk.1.attn_k.weight", _permute(state["blocks.1.attn.k.weight"], 2)), ("output.weight", state["head.weight"])):
        t = tensors[name]
        data = np.asarray(t.data)
        if dtype == "bf16":  # raw bytes: the top 16 bits of each float32
            data = (data.reshape(-1).view(np.uint16).astype(np.uint32) << 16).view(np.float32)
        got = torch.from_numpy(data.astype(np.float32)).reshape(mine.shape)
        tolerance = {"f32": 0, "f16": 1e-3, "bf16": 1e-2}[dtype]
        assert (got - mine).abs().max().item() <= tolerance * mine.abs().max().item()
    assert tensors["blk.0.attn_norm.weight"].data.dtype == np.float32  # norms stay f32 in every dtype


def test_mixtral_experts_are_stacked(sp, tmp_path):
    torch.manual_seed(0)
    model = mixtral(sp.vocab_size, n_experts=3, top_k=2, **SHAPE)
    reader = GGUFReader(write_gguf(model, sp, tmp_path / "moe.gguf"))
    assert field(reader, "llama.expert_count") == 3 and field(reader, "llama.expert_used_count") == 2
    tensors = {t.name: t for t in reader.tensors}
    up = np.asarray(tensors["blk.0.ffn_up_exps.weight"].data).reshape(3, model.config.d_ff, 32)
    assert torch.equal(torch.from_numpy(up[1].copy()), model.state_dict()["blocks.0.mlp.experts.1.up.weight"])


def test_a_relu2_model_is_llama_cpps_arcee_architecture(sp, tmp_path):
    torch.manual_seed(0)
    model = modern(sp.vocab_size, **SHAPE)
    reader = GGUFReader(write_gguf(model, sp, tmp_path / "modern.gguf"))
    assert field(reader, "general.architecture") == "arcee" and field(reader, "arcee.feed_forward_length") == 4 * 32
    names = {t.name for t in reader.tensors}
    assert "blk.0.ffn_up.weight" in names and "blk.0.ffn_down.weight" in names and "blk.0.ffn_gate.weight" not in names


@pytest.mark.parametrize(
    "make, tokenizer, named",
    [
        (lambda v: gpt2(v, **SHAPE), "sp", "model=gpt2"),
        (lambda v: mixtral(v, expert_mlp="relu2", **SHAPE), "sp", "ReLU² experts"),
        (lambda v: llama(v, qk_norm=True, **SHAPE), "sp", "model.qk_norm"),
        (lambda v: llama(v, **SHAPE), "char", "the char tokenizer"),
    ],
)
def test_what_llama_cpp_cannot_run_is_refused_before_writing(sp, tmp_path, make, tokenizer, named):
    tok = sp if tokenizer == "sp" else CharTokenizer()
    model = make(tok.vocab_size)
    with pytest.raises(ConfigError, match=named) as e:
        write_gguf(model, tok, tmp_path / "x.gguf")
    assert "format=gguf" in str(e.value) and "Fix:" in str(e.value) and not (tmp_path / "x.gguf").exists()
    with pytest.raises(ConfigError, match="dtype"):
        check_gguf(llama(sp.vocab_size, **SHAPE).config, sp, "q4_0")
