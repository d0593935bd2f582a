"""DistributedDataParallel through torchrun: one process per device, gloo on CPU, nccl on CUDA.

`torchrun --nproc_per_node=K -m mlm_lab.apps.train ...` sets RANK, WORLD_SIZE and LOCAL_RANK; without
them the run is a single process and every helper here is a no-op.
"""

import logging
import os
from dataclasses import dataclass, field

import torch
import torch.distributed as dist

log = logging.getLogger(__name__)


@dataclass
class Distributed:
    """This process's place among the training processes."""

    rank: int = 0
    world_size: int = 1
    local_rank: int = 0
    device: torch.device = field(default_factory=lambda: torch.device("cpu"))  # where collectives' tensors live

    @property
    def enabled(self) -> bool:
        return self.world_size > 1

    @property
    def is_main(self) -> bool:
        """Rank 0 logs to MLflow, writes checkpoints and registers the model."""
        return self.rank == 0

    def barrier(self) -> None:
        if self.enabled:
            dist.barrier()

    def sum(self, values: list[float]) -> list[float]:
        """Element-wise sum over ranks (the values themselves on one process)."""
        if not self.enabled:
            return list(values)
        t = torch.tensor(values, dtype=torch.float64, device=self.device)
        dist.all_reduce(t)
        return t.tolist()

    def gather(self, obj) -> list:
        """Every rank's `obj`, in rank order."""
        if not self.enabled:
            return [obj]
        out = [None] * self.world_size
        dist.all_gather_object(out, obj)
        return out

    def wrap(self, model: torch.nn.Module) -> torch.nn.Module:
        """The model under DistributedDataParallel (gradients averaged over ranks) when there is more than one process."""
        if not self.enabled:
            return model
        from torch.nn.parallel import DistributedDataParallel

        return DistributedDataParallel(model, device_ids=[self.local_rank] if self.device.type == "cuda" else None)

    def shutdown(self) -> None:
        if self.enabled and dist.is_initialized():
            dist.destroy_process_group()


def init_distributed(hardware) -> Distributed:
    """Join the process group torchrun describes in the environment; on CUDA each rank takes its local device."""
    world_size = int(os.environ.get("WORLD_SIZE", "1"))
    if world_size == 1:
        return Distributed(device=hardware.torch_device)
    rank, local_rank = int(os.environ["RANK"]), int(os.environ.get("LOCAL_RANK", "0"))
    if hardware.torch_device.type == "cuda":
        hardware.torch_device = torch.device("cuda", local_rank)
        torch.cuda.set_device(hardware.torch_device)
    backend = "nccl" if hardware.torch_device.type == "cuda" else "gloo"
    if not dist.is_initialized():
        dist.init_process_group(backend=backend)
    log.info("rank %d of %d (%s, %s)", rank, world_size, backend, hardware.torch_device)
    return Distributed(rank, world_size, local_rank, hardware.torch_device if backend == "nccl" else torch.device("cpu"))
