"""Model FLOPs utilisation of training steps on this machine, per architecture and precision.

MFU = 6 x N x tokens/s / peak, where N counts the parameters each token goes through (the tied
embedding once, as the output matmul; for the MoE only the top-k experts it is routed to) and the
peak is measured here: the best of several large square matmuls in the same dtype and thread
count. Attention's own T^2 FLOPs are left out of the 6N rule (at context 256 and d 192 they add
about 6N x 0.3 more work), so the figure understates utilisation slightly, as nanoGPT's and PaLM's
6N-based MFU does.

    python bench/mfu.py                  # fp32 and bf16, gpt2 / llama / mixtral at d 192 x 4, context 256
"""

import json
import statistics
import time

import torch
from shapes import BUILDERS, build, shape_parser

from mlm_lab.hardware import Hardware
from mlm_lab.training.optimizers import adamw


def peak_flops(dtype: torch.dtype, n: int = 2048, repeats: int = 10) -> float:
    a, b = torch.randn(n, n, dtype=dtype), torch.randn(n, n, dtype=dtype)
    for _ in range(3):
        a @ b
    times = []
    for _ in range(repeats):
        t = time.perf_counter()
        a @ b
        times.append(time.perf_counter() - t)
    return 2 * n**3 / min(times)


def active_parameters(model) -> int:
    """Parameters one token's forward pass multiplies by (tied embedding once; MoE: top-k of the experts)."""
    total = sum(p.numel() for p in model.parameters())
    pos = sum(p.numel() for n, p in model.named_parameters() if "pos_emb" in n)  # a lookup, not a matmul
    cfg = model.config
    if getattr(cfg, "n_experts", 0):
        experts = sum(p.numel() for n, p in model.named_parameters() if ".experts." in n)
        total -= experts - experts * cfg.top_k // cfg.n_experts
    return total - pos


def step_seconds(model, hardware, batch, context, vocab, steps) -> float:
    opt = adamw(model, lr=1e-4)
    x = torch.randint(0, vocab, (batch, context))
    times = []
    for i in range(steps + 3):
        t = time.perf_counter()
        with hardware.autocast():
            _, loss = model(x, x)
        loss.backward()
        opt.step()
        opt.zero_grad(set_to_none=True)
        if i >= 3:
            times.append(time.perf_counter() - t)
    return statistics.median(times)


def main() -> None:
    args = shape_parser(steps=10).parse_args()
    torch.set_num_threads(args.threads)
    torch.set_flush_denormal(True)
    rows = []
    for precision, dtype in (("fp32", torch.float32), ("bf16", torch.bfloat16)):
        peak = peak_flops(dtype)
        hardware = Hardware(device="cpu", precision=precision)
        for name in BUILDERS:
            model = build(name, args)
            n = active_parameters(model)
            seconds = step_seconds(model, hardware, args.batch, args.context, args.vocab, args.steps)
            tokens_per_second = args.batch * args.context / seconds
            rows.append(
                {
                    "precision": precision,
                    "model": name,
                    "active_parameters": n,
                    "tokens_per_second": round(tokens_per_second),
                    "model_gflops": round(6 * n * tokens_per_second / 1e9, 1),
                    "peak_gflops": round(peak / 1e9, 1),
                    "mfu": round(6 * n * tokens_per_second / peak, 3),
                }
            )
            print(json.dumps(rows[-1]), flush=True)
    print("| precision | model | active params | tokens/s | model GFLOP/s | matmul peak GFLOP/s | MFU |")
    print("|---|---|---|---|---|---|---|")
    for r in rows:
        print(
            f"| {r['precision']} | {r['model']} | {r['active_parameters']:,} | {r['tokens_per_second']:,} | "
            f"{r['model_gflops']} | {r['peak_gflops']} | {r['mfu']:.1%} |"
        )


if __name__ == "__main__":
    main()
