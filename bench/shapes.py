"""The model shape the training benchmarks share: the cervantes/tinystories presets' d 192 x 4, context 256."""

import argparse

import torch

from mlm_lab.models.builders import gpt2, llama, mixtral

BUILDERS = {"gpt2": gpt2, "llama": llama, "mixtral": mixtral}


def shape_parser(steps: int) -> argparse.ArgumentParser:
    p = argparse.ArgumentParser()
    p.add_argument("--d-model", type=int, default=192)
    p.add_argument("--layers", type=int, default=4)
    p.add_argument("--heads", type=int, default=6)
    p.add_argument("--context", type=int, default=256)
    p.add_argument("--batch", type=int, default=16)
    p.add_argument("--vocab", type=int, default=4096)
    p.add_argument("--steps", type=int, default=steps)
    p.add_argument("--threads", type=int, default=2)
    return p


def build(name: str, args: argparse.Namespace) -> torch.nn.Module:
    """Architecture `name` at the parsed shape, seeded so every benchmark starts from the same weights."""
    torch.manual_seed(0)
    return BUILDERS[name](args.vocab, context_length=args.context, d_model=args.d_model, n_layers=args.layers, n_heads=args.heads)
