import random

import numpy as np
import torch

from mlm_lab.training.checkpoint import load_checkpoint, save_checkpoint
from mlm_lab.training.rng import rng_state, set_rng_state


def draws(generator):
    return random.random(), float(np.random.rand()), float(torch.rand(1)), float(torch.rand(1, generator=generator))


def test_every_random_state_survives_a_checkpoint(tmp_path):
    generator = torch.Generator().manual_seed(7)
    draws(generator)
    save_checkpoint({"rng": rng_state(generator)}, tmp_path / "c.pt")  # through weights_only loading, as a resume does
    expected = draws(generator)
    draws(generator)
    set_rng_state(load_checkpoint(tmp_path / "c.pt")["rng"], generator)
    assert draws(generator) == expected
