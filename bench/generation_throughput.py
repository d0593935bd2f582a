"""Generation throughput with and without the KV cache, on the same model and prompt.

Greedy decoding of 256 and 1024 new tokens from a 16-token prompt, batch 1, with a Llama-style
model (d_model 128, 4 layers, 4 heads, vocab 4096, context 2048) on 2 threads. Both paths go
through `mlm_lab.generation.generate` and must produce the same tokens.

    python bench/generation_throughput.py       # target: cache >= 5x faster at 1024 new tokens
"""

import argparse
import json
import time

import torch

from mlm_lab.generation import GenerationParams, generate
from mlm_lab.models.builders import llama


def timed(model, rows, new_tokens: int, use_cache: bool) -> tuple[float, list[list[int]]]:
    start = time.perf_counter()
    out = generate(model, rows, GenerationParams(max_new_tokens=new_tokens, use_cache=use_cache))
    return time.perf_counter() - start, out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--lengths", type=int, nargs="+", default=[256, 1024])
    parser.add_argument("--min-speedup", type=float, default=5.0, help="required at the longest length")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    model = llama(4096, context_length=2048, d_model=128, n_layers=4, n_heads=4).eval()
    rows = [torch.randint(0, 4096, (16,), generator=torch.Generator().manual_seed(0)).tolist()]
    timed(model, rows, 8, True)  # warm-up
    results = []
    for n in args.lengths:
        t_cache, out_cache = timed(model, rows, n, True)
        t_full, out_full = timed(model, rows, n, False)
        assert out_cache == out_full, "the cache changed the generated tokens"
        results.append({"new_tokens": n, "cache_tokens_per_s": round(n / t_cache, 1), "no_cache_tokens_per_s": round(n / t_full, 1),
                        "speedup": round(t_full / t_cache, 2)})  # fmt: skip
        print(json.dumps(results[-1]), flush=True)
    print("| new tokens | with cache (tokens/s) | without cache (tokens/s) | speedup |")
    print("|---|---|---|---|")
    for r in results:
        print(f"| {r['new_tokens']} | {r['cache_tokens_per_s']} | {r['no_cache_tokens_per_s']} | {r['speedup']}x |")
    if results[-1]["speedup"] < args.min_speedup:
        raise SystemExit(f"target missed: {results[-1]['speedup']}x < {args.min_speedup}x at {results[-1]['new_tokens']} tokens")


if __name__ == "__main__":
    main()
