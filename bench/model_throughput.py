"""Training throughput of mlm_lab's architectures against plain references written here.

Each step is forward + backward + AdamW step on random tokens, at one stated size (default:
d_model 128, 4 layers, 4 heads, context 256, batch 32, vocab 4096, 2 threads). The references are
what one writes in straight PyTorch without mlm_lab: separate q/k/v and gate/up projections,
`scaled_dot_product_attention`, a Python loop over experts, the same init and tied embeddings.
Denormals are flushed to zero for both. mlm_lab and reference steps alternate in
rounds, so drift of the machine hits both alike; the figure is the median step time.

    python bench/model_throughput.py            # target: mlm_lab / reference >= 1.0 for each
"""

import argparse
import json
import statistics
import time

import torch
import torch.nn.functional as F
from torch import nn

from mlm_lab.models.builders import gpt2, llama, mixtral


class RefAttention(nn.Module):
    def __init__(self, d, h, bias):
        super().__init__()
        self.h = h
        self.q, self.k, self.v, self.o = (nn.Linear(d, d, bias=bias) for _ in range(4))

    def forward(self, x, rope=None):
        B, T, C = x.shape
        q, k, v = (f(x).view(B, T, self.h, C // self.h).transpose(1, 2) for f in (self.q, self.k, self.v))
        if rope is not None:
            q, k = rope(q), rope(k)
        y = F.scaled_dot_product_attention(q, k, v, is_causal=True)
        return self.o(y.transpose(1, 2).reshape(B, T, C))


class RefSwiGLU(nn.Module):
    def __init__(self, d, hidden):
        super().__init__()
        self.w1, self.w3 = nn.Linear(d, hidden, bias=False), nn.Linear(d, hidden, bias=False)
        self.w2 = nn.Linear(hidden, d, bias=False)

    def forward(self, x):
        return self.w2(F.silu(self.w1(x)) * self.w3(x))


class RefMoE(nn.Module):
    def __init__(self, d, hidden, n_experts, top_k):
        super().__init__()
        self.top_k = top_k
        self.gate = nn.Linear(d, n_experts, bias=False)
        self.experts = nn.ModuleList(RefSwiGLU(d, hidden) for _ in range(n_experts))

    def forward(self, x):
        flat = x.reshape(-1, x.shape[-1])
        probs = self.gate(flat).softmax(-1)
        w, idx = probs.topk(self.top_k, -1)
        w = w / w.sum(-1, keepdim=True)
        out = torch.zeros_like(flat)
        for e, expert in enumerate(self.experts):
            rows, slot = torch.where(idx == e)
            if rows.numel():
                out[rows] += expert(flat[rows]) * w[rows, slot, None]
        return out.view_as(x)


def rope_fn(head_dim, T):
    inv = 1.0 / 10000 ** (torch.arange(0, head_dim, 2).float() / head_dim)
    ang = torch.outer(torch.arange(T).float(), inv)
    cos, sin = ang.cos(), ang.sin()

    def apply(x):
        x1, x2 = x[..., : head_dim // 2], x[..., head_dim // 2 :]
        return torch.cat([x1 * cos - x2 * sin, x1 * sin + x2 * cos], dim=-1)

    return apply


class RefBlock(nn.Module):
    def __init__(self, arch, d, h, hidden):
        super().__init__()
        gpt = arch == "gpt2"
        self.n1 = nn.LayerNorm(d) if gpt else nn.RMSNorm(d)
        self.n2 = nn.LayerNorm(d) if gpt else nn.RMSNorm(d)
        self.attn = RefAttention(d, h, bias=gpt)
        if gpt:
            self.mlp = nn.Sequential(nn.Linear(d, hidden), nn.GELU(), nn.Linear(hidden, d))
        elif arch == "llama":
            self.mlp = RefSwiGLU(d, hidden)
        else:
            self.mlp = RefMoE(d, hidden, 4, 2)

    def forward(self, x, rope):
        x = x + self.attn(self.n1(x), rope)
        return x + self.mlp(self.n2(x))


class RefModel(nn.Module):
    def __init__(self, arch, vocab, d, layers, h, T, hidden):
        super().__init__()
        self.emb = nn.Embedding(vocab, d)
        self.pos = nn.Embedding(T, d) if arch == "gpt2" else None
        self.rope = None if arch == "gpt2" else rope_fn(d // h, T)
        self.blocks = nn.ModuleList(RefBlock(arch, d, h, hidden) for _ in range(layers))
        self.norm = nn.LayerNorm(d) if arch == "gpt2" else nn.RMSNorm(d)
        self.head = nn.Linear(d, vocab, bias=False)
        self.head.weight = self.emb.weight
        for m in self.modules():  # the usual GPT init, as in mlm_lab, so both see the same magnitudes
            if isinstance(m, (nn.Linear, nn.Embedding)):
                nn.init.normal_(m.weight, std=0.02)

    def forward(self, idx, targets):
        x = self.emb(idx)
        if self.pos is not None:
            x = x + self.pos(torch.arange(idx.shape[1]))
        for b in self.blocks:
            x = b(x, self.rope)
        logits = self.head(self.norm(x))
        return logits, F.cross_entropy(logits.flatten(0, 1), targets.flatten())


def step_time(model, opt, x, y) -> float:
    start = time.perf_counter()
    _, loss = model(x, y)
    opt.zero_grad(set_to_none=True)
    loss.backward()
    opt.step()
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--d-model", type=int, default=128)
    parser.add_argument("--layers", type=int, default=4)
    parser.add_argument("--heads", type=int, default=4)
    parser.add_argument("--context", type=int, default=256)
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--vocab", type=int, default=4096)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--rounds", type=int, default=6)
    parser.add_argument("--steps", type=int, default=5, help="timed steps per model per round")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    # Denormal floats make CPU matmuls up to 10x slower (seen here with PyTorch's default init in the
    # reference); flushing them to zero keeps the comparison about the code, for both models alike.
    torch.set_flush_denormal(True)
    d, T = args.d_model, args.context
    builders = {"gpt2": gpt2, "llama": llama, "mixtral": mixtral}
    results = []
    for arch, builder in builders.items():
        torch.manual_seed(0)
        ours = builder(args.vocab, context_length=T, d_model=d, n_layers=args.layers, n_heads=args.heads)
        hidden = ours.config.d_ff
        ref = RefModel(arch, args.vocab, d, args.layers, args.heads, T, hidden)
        x = torch.randint(0, args.vocab, (args.batch, T))
        y = torch.randint(0, args.vocab, (args.batch, T))
        models = {"mlm_lab": ours, "reference": ref}
        opts = {k: torch.optim.AdamW(m.parameters(), lr=1e-4) for k, m in models.items()}
        times = {k: [] for k in models}
        for k in models:  # warm-up
            for _ in range(2):
                step_time(models[k], opts[k], x, y)
        for r in range(args.rounds):
            order = list(models) if r % 2 == 0 else list(models)[::-1]
            for k in order:
                times[k] += [step_time(models[k], opts[k], x, y) for _ in range(args.steps)]
        tps = {k: args.batch * T / statistics.median(v) for k, v in times.items()}
        params = {k: sum(p.numel() for p in m.parameters()) for k, m in models.items()}
        results.append(
            {
                "arch": arch,
                "mlm_lab_tokens_per_s": round(tps["mlm_lab"]),
                "reference_tokens_per_s": round(tps["reference"]),
                "ratio": round(tps["mlm_lab"] / tps["reference"], 3),
                "params": params["mlm_lab"],
                "reference_params": params["reference"],
            }
        )
        print(json.dumps(results[-1]), flush=True)
    print("| arch | params | mlm_lab tokens/s | reference tokens/s | ratio |")
    print("|---|---|---|---|---|")
    for r in results:
        print(f"| {r['arch']} | {r['params']:,} | {r['mlm_lab_tokens_per_s']:,} | {r['reference_tokens_per_s']:,} | {r['ratio']:.3f} |")
    slow = [r["arch"] for r in results if r["ratio"] < 1.0]
    if slow:
        raise SystemExit(f"target missed: mlm_lab slower than the reference for {slow}")


if __name__ == "__main__":
    main()
