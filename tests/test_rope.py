import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from mlm_lab.models.rope import apply_rope, rope_tables


@settings(max_examples=50, deadline=None)
@given(m=st.integers(0, 60), n=st.integers(0, 60), shift=st.integers(0, 60))
def test_scores_depend_only_on_relative_position(m, n, shift):
    torch.manual_seed(0)
    q, k = torch.randn(1, 1, 1, 16), torch.randn(1, 1, 1, 16)
    cos, sin = rope_tables(16, 128)

    def score(i, j):
        return (apply_rope(q, cos[i : i + 1], sin[i : i + 1]) * apply_rope(k, cos[j : j + 1], sin[j : j + 1])).sum()

    assert torch.allclose(score(m, n), score(m + shift, n + shift), atol=1e-4)


def test_rotation_keeps_norms_and_position_zero_is_identity():
    x = torch.randn(2, 3, 5, 8)
    cos, sin = rope_tables(8, 5)
    assert torch.allclose(apply_rope(x, cos, sin).norm(dim=-1), x.norm(dim=-1), atol=1e-5)
    assert torch.allclose(apply_rope(x, cos, sin)[:, :, 0], x[:, :, 0])
