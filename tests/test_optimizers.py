import math
import re

import pytest
import torch
from hydra.core.override_parser.overrides_parser import OverridesParser
from omegaconf import OmegaConf

from mlm_lab.errors import ConfigError
from mlm_lab.models.builders import gpt2, llama
from mlm_lab.training.optimizers import adamw, param_groups, sgd
from tests.conftest import compose_config


@pytest.mark.parametrize("builder", [gpt2, llama])
def test_decay_reaches_matrices_only(builder):
    model = builder(50, context_length=16, d_model=32, n_layers=2, n_heads=2)
    decay, no_decay = param_groups(model, 0.1)
    names = {id(p): n for n, p in model.named_parameters()}
    decayed = {names[id(p)] for p in decay["params"]}
    kept = {names[id(p)] for p in no_decay["params"]}
    assert decay["weight_decay"] == 0.1 and no_decay["weight_decay"] == 0.0
    assert all(p.dim() == 2 for p in decay["params"]) and decayed
    assert not any("emb" in n or "norm" in n or n.endswith(".bias") for n in decayed), decayed
    assert any("tok_emb" in n for n in kept)  # embeddings (tied with the output layer) do not decay
    assert len(decayed) + len(kept) == len(list(model.parameters()))  # every parameter, the tied one once


def test_adamw_decays_a_matrix_but_not_a_norm():
    model = gpt2(20, context_length=8, d_model=16, n_layers=1, n_heads=2)
    opt = adamw(model, lr=0.1, weight_decay=0.5)
    norm = next(p for n, p in model.named_parameters() if "norm" in n and n.endswith("weight"))
    matrix = next(p for n, p in model.named_parameters() if "attn" in n and p.dim() == 2)
    before_norm, before_matrix = norm.detach().clone(), matrix.detach().clone()
    for p in model.parameters():
        p.grad = torch.zeros_like(p)  # no gradient signal: only weight decay moves a weight
    opt.step()
    assert torch.equal(norm, before_norm)
    torch.testing.assert_close(matrix.detach(), before_matrix * (1 - 0.1 * 0.5))


def test_fused_adamw_matches_foreach_on_cpu():
    results = []
    for fused in (False, True):
        torch.manual_seed(0)
        model = gpt2(20, context_length=8, d_model=16, n_layers=1, n_heads=2)
        opt = adamw(model, lr=1e-2, fused=fused)
        x = torch.randint(0, 20, (4, 8))
        for _ in range(3):
            opt.zero_grad()
            model(x, x)[1].backward()
            opt.step()
        results.append([p.detach().clone() for p in model.parameters()])
    for a, b in zip(*results):
        torch.testing.assert_close(a, b, rtol=1e-4, atol=1e-4)  # 3 steps of size ~1e-2 each


@pytest.mark.parametrize(
    "make, key",
    [
        (lambda m: adamw(m, betas=(0.9, 1.2)), "optimizer.betas"),
        (lambda m: adamw(m, eps=0.0), "optimizer.eps"),
        (lambda m: adamw(m, eps=math.inf), "optimizer.eps: must be positive and finite, got inf"),
        (lambda m: adamw(m, lr=math.inf), "optimizer.lr: must be finite, got inf"),
        (lambda m: sgd(m, weight_decay=math.inf), "optimizer.weight_decay: must be finite, got inf"),
        (lambda m: sgd(m, momentum=1.5), "optimizer.momentum"),
        (lambda m: sgd(m, momentum=0.0, nesterov=True), "optimizer.nesterov"),
    ],
)
def test_bad_settings_name_the_key(make, key):
    with pytest.raises(ConfigError, match=key):
        make(gpt2(20, context_length=8, d_model=16, n_layers=1, n_heads=2))


@pytest.mark.parametrize(
    "choice, make, key",
    [
        ("adamw", lambda m: adamw(m, betas=(0.9, 1.2)), "betas"),
        ("adamw", lambda m: adamw(m, eps=0.0), "eps"),
        ("adamw", lambda m: adamw(m, lr=math.inf), "lr"),
        ("adamw", lambda m: adamw(m, weight_decay=math.inf), "weight_decay"),
        ("sgd", lambda m: sgd(m, lr=math.inf), "lr"),
        ("sgd", lambda m: sgd(m, weight_decay=math.inf), "weight_decay"),
        ("sgd", lambda m: sgd(m, momentum=1.5), "momentum"),
    ],
)
def test_a_fix_suggests_the_default_the_yaml_runs(choice, make, key):
    """The value an error suggests is the default, the one conf/optimizer/<choice>.yaml runs (adamw's betas once were not)."""
    with pytest.raises(ConfigError) as e:
        make(gpt2(20, context_length=8, d_model=16, n_layers=1, n_heads=2))
    suggested = OverridesParser.create().parse_override(re.search(rf"set (optimizer\.{key}=\S+)", str(e.value))[1]).value()
    written = compose_config([f"optimizer={choice}", "~experiment", "output_dir=x"]).optimizer[key]
    assert suggested == (OmegaConf.to_container(written) if OmegaConf.is_config(written) else written)
