import pytest
import torch

from mlm_lab.models.builders import gpt2, llama
from mlm_lab.models.loading import load_weights, strip_wrapper_prefixes


def tiny(vocab=11, **kwargs):
    torch.manual_seed(kwargs.pop("seed", 0))
    return llama(vocab, **{"context_length": 16, "d_model": 16, "n_layers": 1, "n_heads": 2, **kwargs})


def test_ddp_and_compile_prefixes_are_tolerated():
    src, dst = tiny(seed=1), tiny(seed=2)
    wrapped = {f"module._orig_mod.{k}": v for k, v in src.state_dict().items()}
    load_weights(dst, wrapped)
    assert all(torch.equal(a, b) for a, b in zip(src.state_dict().values(), dst.state_dict().values()))
    assert strip_wrapper_prefixes({"_orig_mod.module.x": 1}) == {"x": 1}


def test_real_compiled_module_state_loads():
    src = tiny(seed=1)
    compiled = torch.compile(src)  # wraps without compiling until called
    assert any(k.startswith("_orig_mod.") for k in compiled.state_dict())
    dst = tiny(seed=2)
    load_weights(dst, compiled.state_dict())
    assert torch.equal(dst.tok_emb.weight, src.tok_emb.weight)


def test_mismatch_lists_tensors_and_the_config_that_explains_them_and_loads_nothing():
    src, dst = tiny(vocab=11), tiny(vocab=20, seed=3)
    before = {k: v.clone() for k, v in dst.state_dict().items()}
    with pytest.raises(ValueError) as e:
        load_weights(dst, src.state_dict(), source_config=src.config.to_dict())
    message = str(e.value)
    assert "tok_emb.weight: checkpoint (11, 16), model (20, 16)" in message
    assert "vocab_size: checkpoint 11, model 20" in message and "nothing was loaded" in message
    assert all(torch.equal(before[k], v) for k, v in dst.state_dict().items())


def test_other_architecture_lists_missing_and_unexpected_keys():
    with pytest.raises(ValueError) as e:
        load_weights(tiny(), gpt2(11, context_length=16, d_model=16, n_layers=1, n_heads=2).state_dict())
    assert "missing from the checkpoint" in str(e.value) and "pos_emb.weight" in str(e.value)


def test_explicit_partial_load_reuses_only_what_was_asked():
    src, dst = tiny(vocab=11, d_model=16), tiny(vocab=11, d_model=16, n_layers=2, seed=5)
    block_before = dst.blocks[1].attn.q.weight.clone()
    loaded = load_weights(dst, src.state_dict(), include=["tok_emb.", "blocks.0."])
    assert "tok_emb.weight" in loaded and all(k.startswith(("tok_emb.", "blocks.0.")) for k in loaded)
    assert torch.equal(dst.tok_emb.weight, src.tok_emb.weight)
    assert torch.equal(dst.blocks[0].attn.q.weight, src.blocks[0].attn.q.weight)
    assert torch.equal(dst.blocks[1].attn.q.weight, block_before)
    with pytest.raises(ValueError, match="matches no parameter"):
        load_weights(dst, src.state_dict(), include=["nothing."])
