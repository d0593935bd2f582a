"""Training FLOPs per token against counts written out by hand, and the FLOPs budget in a real fit."""

import pytest

from mlm_lab.models.builders import gpt2, llama, mixtral
from mlm_lab.models.flops import flops_per_token
from mlm_lab.training.budget import Budget
from mlm_lab.training.trainer import Trainer
from tests.test_trainer import make_loop, tokens_per_batch


def test_a_dense_gpt2_counts_6n_of_its_matmuls_plus_attention():
    m = gpt2(100, context_length=16, d_model=32, n_layers=2, n_heads=4)
    d, ff, V, L, T = 32, 128, 100, 2, 16
    per_layer = 4 * d * d + 2 * d * ff  # q, k, v, o; fc, proj
    assert flops_per_token(m) == 6 * (L * per_layer + V * d) + 12 * L * d * T  # the tied head is still a matmul
    assert flops_per_token(m, sequence_length=8) == 6 * (L * per_layer + V * d) + 12 * L * d * 8


def test_grouped_query_attention_counts_its_smaller_key_and_value_projections():
    m = llama(64, context_length=8, d_model=64, n_layers=1, n_heads=4, n_kv_heads=1)
    cfg = m.config
    kv = cfg.n_kv_heads * cfg.head_dim
    per_layer = 2 * 64 * 64 + 2 * 64 * kv + 3 * 64 * cfg.d_ff  # q, o; k, v; gate, up, proj
    assert flops_per_token(m) == 6 * (per_layer + 64 * 64) + 12 * 1 * 64 * 8


def test_an_moe_counts_only_the_experts_a_token_visits():
    one = mixtral(64, context_length=8, d_model=32, n_layers=2, n_heads=2, n_experts=4, top_k=1)
    two = mixtral(64, context_length=8, d_model=32, n_layers=2, n_heads=2, n_experts=4, top_k=2)
    expert = 3 * 32 * one.config.d_ff  # gate, up, proj of one SwiGLU expert
    assert flops_per_token(two) - flops_per_token(one) == pytest.approx(6 * 2 * expert)  # one more expert per layer
    assert one.num_parameters() == two.num_parameters()  # same weights, fewer used


def test_a_flops_budget_ends_the_run_and_logs_its_flops(tmp_path):
    loop = make_loop(tmp_path)
    per_step = tokens_per_batch(loop)
    fpt = flops_per_token(loop.model, loop.task.max_sequence_length)
    trainer = Trainer(max_steps=None, max_flops=fpt * per_step * 7, eval_every=100, log_every=1)
    trainer.fit(loop)
    assert trainer.state.step == 7
    rec = loop.tracker
    assert rec.series("model/flops_per_token") == [(0, fpt)]
    assert rec.series("train/flops") == [(s, s * per_step * fpt) for s in range(1, 8)]
    assert Budget(max_flops=fpt * per_step * 7, flops_per_token=fpt).total_steps(per_step) == 7


def test_a_flops_budget_alone_counts_nothing_until_the_model_is_known():
    b = Budget(max_flops=1e9)
    assert b.progress(10, 1000, 1.0) == 0.0  # a resume's first check, before the model exists
    b.flops_per_token = 1e6
    assert b.progress(10, 500, 1.0) == pytest.approx(0.5)
    assert Budget(max_flops=1e9, flops_per_token=1e6).total_steps(300) == 4
    with pytest.raises(Exception, match="trainer.max_flops"):
        Budget(max_flops=-1.0)
