import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from mlm_lab.models.config import TransformerConfig
from mlm_lab.models.moe import MoE, load_balancing_loss


def moe(n_experts=4, top_k=2):
    torch.manual_seed(0)
    return MoE(TransformerConfig(vocab_size=8, d_model=16, n_heads=2, mlp="moe", positions="rope", n_experts=n_experts, top_k=top_k))


def test_each_token_goes_to_exactly_top_k_distinct_experts():
    layer = moe(n_experts=4, top_k=2)
    layer(torch.randn(3, 5, 16))
    chosen = layer.last_choice
    assert chosen.shape == (15, 2)
    assert all(len(set(row.tolist())) == 2 for row in chosen)
    probs = torch.softmax(layer.router(torch.randn(7, 16)), dim=-1)
    weights, _ = probs.topk(2, dim=-1)
    assert torch.allclose((weights / weights.sum(-1, keepdim=True)).sum(-1), torch.ones(7))


def test_output_is_the_weighted_sum_of_the_chosen_experts():
    layer = moe(n_experts=3, top_k=2)
    x = torch.randn(4, 16)
    probs = torch.softmax(layer.router(x), dim=-1)
    w, idx = probs.topk(2, dim=-1)
    w = w / w.sum(-1, keepdim=True)
    expected = torch.stack([sum(w[t, s] * layer.experts[idx[t, s]](x[t]) for s in range(2)) for t in range(4)])
    assert torch.allclose(layer(x), expected, atol=1e-5)


def test_aux_loss_is_one_for_uniform_routing_and_grows_with_imbalance():
    n, e = 64, 4
    uniform = load_balancing_loss(torch.full((n, e), 1 / e), torch.arange(n).remainder(e)[:, None], e)
    assert torch.isclose(uniform, torch.tensor(1.0))
    skewed_probs = torch.tensor([[0.97, 0.01, 0.01, 0.01]]).repeat(n, 1)
    collapsed = load_balancing_loss(skewed_probs, torch.zeros(n, 1, dtype=torch.long), e)
    assert torch.isclose(collapsed, torch.tensor(4 * 0.97)) and collapsed > uniform


def test_gradients_reach_every_routed_expert_and_only_those():
    layer = moe(n_experts=4, top_k=1)
    with torch.no_grad():
        layer.router.weight.zero_()
        layer.router.weight[1, 0] = 10.0  # every token with a positive first feature goes to expert 1
    x = torch.randn(32, 16)
    x[:, 0] = x[:, 0].abs() + 0.1
    layer(x).sum().backward()
    used = set(layer.last_choice.flatten().tolist())
    assert used == {1}
    for e, expert in enumerate(layer.experts):
        grads = [p.grad for p in expert.parameters()]
        if e in used:
            assert all(g is not None and g.abs().sum() > 0 for g in grads)
        else:
            assert all(g is None or g.abs().sum() == 0 for g in grads)
    assert layer.router.weight.grad is not None


@settings(max_examples=100, deadline=None)
@given(assignment=st.lists(st.integers(0, 3), min_size=1, max_size=64))
def test_aux_loss_of_confident_routing_is_lowest_when_balanced(assignment):
    # a router that is sure of its choice (probs = one-hot): loss = E * sum(share^2) >= 1, = 1 only when balanced
    chosen = torch.tensor(assignment)[:, None]
    probs = torch.nn.functional.one_hot(chosen[:, 0], 4).float()
    loss = float(load_balancing_loss(probs, chosen, 4))
    counts = torch.bincount(chosen[:, 0], minlength=4)
    assert loss >= 1.0 - 1e-6
    assert (abs(loss - 1.0) < 1e-6) == bool((counts == counts[0]).all())
