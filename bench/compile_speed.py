"""`torch.compile` on vs off for training steps on this CPU, per architecture, reported as measured.

Each architecture trains the same random batches eagerly and compiled (inductor); the table gives
the median step time after warm-up, the speed-up, and the seconds the first compiled steps took
(compilation). A ratio below 1 means compile loses here; that is reported, not hidden.

    python bench/compile_speed.py        # d 192 x 4, context 256, batch 16, fp32, 2 threads
"""

import json
import statistics
import time

import torch
from shapes import BUILDERS, build, shape_parser

from mlm_lab.training.optimizers import adamw


def timed_steps(model, x, steps: int, warmup: int) -> tuple[float, float]:
    """(seconds of the warm-up steps, median seconds of the following steps)."""
    opt = adamw(model, lr=1e-4)
    times = []
    for _ in range(warmup + steps):
        t = time.perf_counter()
        _, loss = model(x, x)
        loss.backward()
        opt.step()
        opt.zero_grad(set_to_none=True)
        times.append(time.perf_counter() - t)
    return sum(times[:warmup]), statistics.median(times[warmup:])


def main() -> None:
    args = shape_parser(steps=15).parse_args()
    torch.set_num_threads(args.threads)
    rows = []
    for name in BUILDERS:
        result = {"model": name}
        for mode in ("eager", "compiled"):
            model = build(name, args)
            x = torch.randint(0, args.vocab, (args.batch, args.context))
            net = torch.compile(model) if mode == "compiled" else model
            warm, step = timed_steps(net, x, args.steps, warmup=3)
            result[f"{mode}_step_ms"] = round(step * 1000, 1)
            result[f"{mode}_warmup_s"] = round(warm, 1)
            torch._dynamo.reset()
        result["speedup"] = round(result["eager_step_ms"] / result["compiled_step_ms"], 3)
        rows.append(result)
        print(json.dumps(result), flush=True)
    print("| model | eager ms/step | compiled ms/step | speed-up | first 3 compiled steps (s) |")
    print("|---|---|---|---|---|")
    for r in rows:
        print(f"| {r['model']} | {r['eager_step_ms']} | {r['compiled_step_ms']} | {r['speedup']:.2f}x | {r['compiled_warmup_s']} |")


if __name__ == "__main__":
    main()
