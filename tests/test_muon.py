"""optimizer=muon: which parameters go to Muon, one optimizer to the schedule and the checkpoint, the momentum warmup."""

import copy

import pytest
import torch

from mlm_lab.errors import ConfigError
from mlm_lab.models.builders import gpt2, llama, mixtral
from mlm_lab.training.muon import MuonAdamW, muon, split_parameters
from mlm_lab.training.schedules import cosine_warmup

SMALL = dict(context_length=8, d_model=16, n_layers=2, n_heads=2)


def names(named):
    return {name for name, _ in named}


def test_hidden_matrices_go_to_muon_and_the_rest_to_adamw():
    hidden, decay, no_decay = split_parameters(mixtral(50, n_experts=2, top_k=1, tie_embeddings=False, **SMALL))
    assert names(hidden) == {
        f"blocks.{i}.{m}.weight"
        for i in range(2)
        for m in ["attn.q", "attn.k", "attn.v", "attn.proj", *[f"mlp.experts.{e}.{w}" for e in range(2) for w in ("gate", "up", "proj")]]
    }
    assert names(decay) == {"head.weight", "blocks.0.mlp.router.weight", "blocks.1.mlp.router.weight"}
    assert "tok_emb.weight" in names(no_decay) and all(p.dim() < 2 or "emb" in n for n, p in no_decay)


def test_a_tied_head_is_the_embedding_and_gpt2_biases_and_positions_are_adamws():
    model = gpt2(50, **SMALL)
    hidden, decay, no_decay = split_parameters(model)
    assert names(decay) == set()  # the head is the (tied) token embedding
    assert {"tok_emb.weight", "pos_emb.weight", "blocks.0.attn.q.bias", "norm_f.weight"} <= names(no_decay)
    assert names(hidden) >= {"blocks.0.mlp.fc.weight", "blocks.1.mlp.proj.weight"}
    every = [p for _, p in hidden + decay + no_decay]
    assert len(every) == len({id(p) for p in every}) == len(list(model.parameters()))  # each parameter exactly once


def test_the_hidden_matrices_step_exactly_as_torch_muon_and_the_rest_as_adamw():
    torch.manual_seed(0)
    model = llama(50, tie_embeddings=False, **SMALL)
    twin = copy.deepcopy(model)
    opt = muon(model, lr=0.02, momentum_warmup_steps=0, adamw_lr=3e-3)
    hidden, decay, no_decay = split_parameters(twin)
    ref_muon = torch.optim.Muon([p for _, p in hidden], lr=0.02, weight_decay=0.0, momentum=0.95)
    ref_adamw = torch.optim.AdamW([p for _, p in decay + no_decay], lr=3e-3, betas=(0.8, 0.95), eps=1e-10, weight_decay=0.0)
    x = torch.randint(0, 50, (2, 8))
    for _ in range(3):
        for m in (model, twin):
            m(x, x)[1].backward()
        opt.step()
        ref_muon.step()
        ref_adamw.step()
        opt.zero_grad()
        ref_muon.zero_grad()
        ref_adamw.zero_grad()
    for (name, a), b in zip(model.named_parameters(), twin.parameters()):
        assert torch.equal(a, b), name


def test_the_schedule_scales_every_group_from_its_own_peak():
    opt = muon(llama(50, tie_embeddings=False, **SMALL), lr=0.02, adamw_lr=4e-3)
    assert isinstance(opt, torch.optim.Optimizer)
    schedule = cosine_warmup(warmup_steps=10, min_lr_ratio=0.1).bind(opt)
    assert schedule.update(5, 0.05) == pytest.approx(0.01)  # the first group is Muon's
    assert [g["lr"] for g in opt.adamw.param_groups] == [pytest.approx(2e-3)] * 2
    schedule.update(100, 1.0)
    assert opt.muon.param_groups[0]["lr"] == pytest.approx(0.002) and opt.adamw.param_groups[1]["lr"] == pytest.approx(4e-4)


BATCH = torch.randint(0, 50, (2, 8), generator=torch.Generator().manual_seed(0))


def step(opt, model):
    model(BATCH, BATCH)[1].backward()
    opt.step()
    opt.zero_grad()


def test_momentum_warms_up_and_a_loaded_state_continues_exactly():
    torch.manual_seed(0)
    model = llama(50, **SMALL)
    opt = muon(model, momentum=0.95, momentum_start=0.85, momentum_warmup_steps=4)
    assert opt.muon.param_groups[0]["momentum"] == pytest.approx(0.85)
    for _ in range(2):
        step(opt, model)
    state, weights = copy.deepcopy(opt.state_dict()), copy.deepcopy(model.state_dict())
    step(opt, model)
    assert opt.muon.param_groups[0]["momentum"] == pytest.approx(0.90)  # set before the third step: 2 of 4 done
    step(opt, model)

    torch.manual_seed(1)  # other initial weights: everything must come from the saved states
    other = llama(50, **SMALL)
    again = muon(other, momentum=0.95, momentum_start=0.85, momentum_warmup_steps=4)
    schedule = cosine_warmup(warmup_steps=0).bind(again)  # bound before loading, as the trainer does
    other.load_state_dict(weights)
    again.load_state_dict(state)
    assert again.steps == 2 and again.muon.param_groups[0]["momentum"] == pytest.approx(0.90)
    assert again.param_groups[0] is again.muon.param_groups[0] and len(again.state) == len(list(other.parameters()))
    schedule.update(3, 0.0)  # the peak lr: what the first run stepped with
    step(again, other)
    step(again, other)
    for (name, a), b in zip(model.state_dict().items(), other.state_dict().values()):
        assert torch.equal(a, b), name
    schedule.update(4, 1.0)
    assert again.muon.param_groups[0]["lr"] == pytest.approx(0.002)  # the schedule reaches the loaded groups


def test_a_checkpoint_of_another_optimizer_is_refused_by_name():
    opt = muon(llama(50, **SMALL))
    adamw_state = torch.optim.AdamW(llama(50, **SMALL).parameters()).state_dict()
    with pytest.raises(ConfigError, match="not Muon\\+AdamW"):
        opt.load_state_dict(adamw_state)


@pytest.mark.parametrize(
    "kwargs, key",
    [
        ({"lr": 0.0}, "optimizer.lr"),
        ({"adamw_lr": float("inf")}, "optimizer.adamw_lr"),
        ({"momentum": 1.0}, "optimizer.momentum"),
        ({"momentum_warmup_steps": -1}, "optimizer.momentum_warmup_steps"),
        ({"adamw_betas": [0.9]}, "optimizer.adamw_betas"),
        ({"adjust_lr_fn": "rms"}, "optimizer.adjust_lr_fn"),
        ({"weight_decay": -0.1}, "optimizer.weight_decay"),
    ],
)
def test_bad_values_are_named_with_the_fix(kwargs, key):
    with pytest.raises(ConfigError, match=f"^{key}: .*Fix: "):
        muon(llama(50, **SMALL), **kwargs)


def test_the_log_says_which_parameters_went_where(caplog):
    caplog.set_level("INFO", logger="mlm_lab.training.muon")
    assert isinstance(muon(gpt2(50, **SMALL)), MuonAdamW)
    assert "Muon (lr 0.02) on 12 hidden matrices (blocks.*.attn.q.weight" in caplog.text
    assert "AdamW (lr 0.003) on 0 other matrices (none)" in caplog.text
