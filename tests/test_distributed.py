"""DistributedDataParallel on 2 CPU processes (gloo) through torchrun, against one process with the same effective batch."""

import os
import subprocess
import sys

import pytest
import torch
from mlflow import MlflowClient

from mlm_lab.runner import seed_everything
from tests.conftest import fresh_store

COMMON = [
    "data.high=99",
    "data.n_train=4000",
    "data.n_val=200",
    "data.n_test=200",
    "model.d_model=64",
    "model.n_layers=2",
    "optimizer.lr=3e-3",
    "trainer.eval_every=50",
    "trainer.log_every=10",
    "trainer.max_steps=150",
    "hardware=cpu",
    "name=ddp",
]
# Measured (2026-11-21): mean |train/loss difference| 0.030 over 15 points, final val/loss 1.325 vs 1.328.
TRAIN_LOSS_TOLERANCE = 0.08  # mean absolute difference of the logged train/loss curves
VAL_LOSS_TOLERANCE = 0.03  # relative difference of the final val/loss


def curve(client, run_id, name):
    return [m.value for m in sorted(client.get_metric_history(run_id, name), key=lambda m: m.step)]


@pytest.mark.slow
def test_two_cpu_processes_match_one_with_the_same_effective_batch(tmp_path):
    uri = fresh_store(tmp_path)
    env = {**os.environ, "MLFLOW_TRACKING_URI": uri, "OMP_NUM_THREADS": "1"}
    torchrun = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node=2", "--master_port=29531", "-m", "mlm_lab.apps.train"]
    ddp = subprocess.run(
        [*torchrun, *COMMON, "data.batch_size=32", "tracking.run_name=two"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=400,
    )
    assert ddp.returncode == 0, ddp.stdout[-2000:] + ddp.stderr[-3000:]
    single = subprocess.run(
        [sys.executable, "-m", "mlm_lab.apps.train", *COMMON, "data.batch_size=64", "tracking.run_name=one", "tracking.register_as=null"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=400,
    )
    assert single.returncode == 0, single.stderr[-3000:]
    assert "effective batch 64 sequences = 32 per process x 1 accumulation steps x 2 processes" in ddp.stderr + ddp.stdout

    client = MlflowClient(uri)
    runs = client.search_runs([client.get_experiment_by_name("ddp").experiment_id])
    assert sorted(r.info.run_name for r in runs) == ["one", "two"]  # rank 1 logged nothing
    ids = {r.info.run_name: r.info.run_id for r in runs}
    assert curve(client, ids["two"], "train/effective_batch_size") == curve(client, ids["one"], "train/effective_batch_size") == [64]
    two, one = curve(client, ids["two"], "train/loss"), curve(client, ids["one"], "train/loss")
    assert len(two) == len(one) == 15 and two != one  # each rank drew its own data
    assert sum(abs(a - b) for a, b in zip(two, one)) / len(one) < TRAIN_LOSS_TOLERANCE
    val_two, val_one = curve(client, ids["two"], "val/loss")[-1], curve(client, ids["one"], "val/loss")[-1]
    assert abs(val_two - val_one) / val_one < VAL_LOSS_TOLERANCE
    assert len(client.search_model_versions("name='ddp'")) == 1  # registered once, by rank 0
    assert {r.info.run_name: r.data.tags.get("reload_check") for r in runs}["two"] == "passed"


def test_each_rank_draws_its_own_stream_from_the_same_weights():
    g0, g1 = seed_everything(0, rank=0), seed_everything(0, rank=1)
    assert not torch.equal(torch.rand(8, generator=g0), torch.rand(8, generator=g1))
    seed_everything(0, rank=0)
    w0 = torch.rand(4)
    seed_everything(0, rank=1)
    assert torch.equal(torch.rand(4), w0)  # model initialisation is the same on every rank


@pytest.mark.parametrize("world", [2])
def test_resume_needs_the_same_number_of_processes(tmp_path, world):
    from mlm_lab.errors import ConfigError
    from mlm_lab.training.trainer import Trainer
    from tests.test_trainer import make_loop

    loop = make_loop(tmp_path)
    trainer = Trainer(max_steps=2, eval_every=2)
    checkpoint = trainer.snapshot(loop, trainer.checkpointer(loop)) | {"world_size": world}
    with pytest.raises(ConfigError, match=f"torchrun --nproc_per_node={world}"):
        trainer.fit(make_loop(tmp_path / "b"), checkpoint)
