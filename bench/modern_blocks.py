"""What the frontier's model options and Muon cost in training tokens/s, at the text presets' shape.

Each variant is the presets' Llama (d_model 192, 4 layers, 6 heads, context 256, batch 32, vocab 4096) with one
option on, then all of them, then all of them under Muon; a step is forward + backward + optimizer step under the
presets' bf16 autocast (fp32 with --fp32). Variants alternate in rounds so the machine's drift hits them alike; the
figure is each one's median step time, as tokens/s and relative to the plain model.

    python bench/modern_blocks.py            # target (issue 16): every option and all together >= 0.90x the plain model
"""

import argparse
import contextlib
import json
import statistics
import time

import torch
import torch.nn.functional as F

from mlm_lab.models.builders import llama
from mlm_lab.training.muon import muon
from mlm_lab.training.optimizers import adamw

ALL = dict(qk_norm=True, mlp="relu2", logit_softcap=15.0, tie_embeddings=False, zero_init_head=True)
ALL |= dict(zero_init_proj=True, value_embeddings=True, residual_scalars=True)
VARIANTS = {
    "plain": ({}, adamw),
    "qk_norm": ({"qk_norm": True}, adamw),
    "relu2": ({"mlp": "relu2"}, adamw),
    "softcap": ({"logit_softcap": 15.0}, adamw),
    "untied_zero_head": ({"tie_embeddings": False, "zero_init_head": True}, adamw),
    "value_embeddings": ({"value_embeddings": True}, adamw),
    "residual_scalars": ({"residual_scalars": True}, adamw),
    "all": (ALL, adamw),
    "all_but_softcap": ({k: v for k, v in ALL.items() if k != "logit_softcap"}, adamw),
    "all+muon": (ALL, muon),
    "plain+muon": ({}, muon),
    # the loss before mlm_lab.models.cross_entropy: F.cross_entropy on the full float32 logits
    "plain_F.cross_entropy": ({}, adamw),
    "softcap_F.cross_entropy": ({"logit_softcap": 15.0}, adamw),
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=8)
    parser.add_argument("--steps", type=int, default=3, help="timed steps per variant per round")
    parser.add_argument("--fp32", action="store_true", help="no bf16 autocast")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--variants", nargs="+", default=list(VARIANTS), choices=list(VARIANTS), help="plain is always run")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    torch.set_flush_denormal(True)
    shape = dict(context_length=256, d_model=192, n_layers=4, n_heads=6)
    vocab, batch = 4096, 32
    autocast = contextlib.nullcontext if args.fp32 else lambda: torch.autocast("cpu", dtype=torch.bfloat16)
    g = torch.Generator().manual_seed(0)
    x = torch.randint(0, vocab, (batch, 256), generator=g)
    y = torch.randint(0, vocab, (batch, 256), generator=g)
    built = {}
    for name in dict.fromkeys(["plain", *args.variants]):
        options, make_optimizer = VARIANTS[name]
        torch.manual_seed(0)
        model = llama(vocab, **shape, **options)
        built[name] = (model, make_optimizer(model, lr=2e-3))

    def step(model, opt, name):
        start = time.perf_counter()
        with autocast():
            if name.endswith("F.cross_entropy"):
                logits, _ = model(x)  # capped by the model when soft-capping, as every loss was computed before
                loss = F.cross_entropy(logits.flatten(0, 1).float(), y.flatten())
            else:
                _, loss = model(x, y)
        loss.backward()
        opt.step()
        opt.zero_grad(set_to_none=True)
        return time.perf_counter() - start

    for name, (model, opt) in built.items():  # warm up: first steps allocate
        step(model, opt, name)
    times = {name: [] for name in built}
    for _ in range(args.rounds):
        for name, (model, opt) in built.items():
            times[name] += [step(model, opt, name) for _ in range(args.steps)]
    plain = statistics.median(times["plain"])
    results = {
        name: {
            "tokens_per_s": round(batch * 256 / statistics.median(t)),
            "vs_plain": round(plain / statistics.median(t), 3),
            "parameters": sum(p.numel() for p in built[name][0].parameters()),
        }
        for name, t in times.items()
    }
    print(json.dumps({"shape": {**shape, "vocab": vocab, "batch": batch, "bf16": not args.fp32}, "results": results}, indent=2))


if __name__ == "__main__":
    main()
