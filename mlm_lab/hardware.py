"""Where and how the run computes: device, precision, TF32 and CPU threads."""

import contextlib
import os
import resource
from dataclasses import dataclass
from enum import Enum
from pathlib import Path

import torch

from mlm_lab.errors import ConfigError


class Device(str, Enum):
    auto = "auto"
    cpu = "cpu"
    cuda = "cuda"
    mps = "mps"


class Precision(str, Enum):
    fp32 = "fp32"
    bf16 = "bf16"
    fp16 = "fp16"


def _available(device: str) -> bool:
    if device == "cuda":
        return torch.cuda.is_available()
    if device == "mps":
        return torch.backends.mps.is_available()
    return True


@dataclass
class Hardware:
    """Resolves `device: auto|cpu|cuda|mps` to a torch device and offers the autocast context for `precision`."""

    device: Device = Device.auto  # auto picks cuda, then mps, then cpu
    precision: Precision = Precision.fp32  # bf16 / fp16 run matmuls under autocast; fp16 adds a GradScaler
    tf32: bool = False  # CUDA: let fp32 matmuls and convolutions use TF32 tensor cores (faster, ~10 mantissa bits)
    threads: int | None = None  # CPU threads for torch; null: torch's default, or this job's share under a parallel launcher
    compile: bool = False  # train through torch.compile(model); generation and export use the plain module

    def __post_init__(self):
        self.device = _choice(Device, self.device, "hardware.device")
        self.precision = _choice(Precision, self.precision, "hardware.precision")
        if self.threads is not None and self.threads < 1:
            raise ConfigError(f"hardware.threads: must be >= 1, got {self.threads}. Fix: set hardware.threads=null to keep torch's default")
        cores = os.cpu_count()
        if self.threads is not None and cores is not None and self.threads > cores:  # far more crashes torch's thread pool
            raise ConfigError(
                f"hardware.threads: {self.threads} is more than the {cores} CPU cores here. "
                f"Fix: set hardware.threads to at most {cores}, or null to keep torch's default"
            )
        name = self.device.value
        if name == "auto":
            name = next(d for d in ("cuda", "mps", "cpu") if _available(d))
        elif not _available(name):
            raise ConfigError(f"hardware.device: {name} was asked for but is not available here. Fix: use hardware.device=auto or cpu")
        self.torch_device = torch.device(name)

    def apply(self, default_threads: int | None = None) -> None:
        """Process-wide settings: CPU threads (`threads`, else `default_threads` when given), TF32."""
        threads = self.threads or default_threads
        if threads is not None:
            torch.set_num_threads(threads)
        if self.torch_device.type == "cuda":
            torch.backends.cuda.matmul.allow_tf32 = self.tf32
            torch.backends.cudnn.allow_tf32 = self.tf32

    def autocast(self):
        if self.precision is Precision.fp32:
            return contextlib.nullcontext()
        dtype = torch.bfloat16 if self.precision is Precision.bf16 else torch.float16
        return torch.autocast(device_type=self.torch_device.type, dtype=dtype)

    def grad_scaler(self) -> torch.amp.GradScaler:
        """Loss scaling for fp16 (keeps small gradients from underflowing); a pass-through otherwise."""
        return torch.amp.GradScaler(self.torch_device.type, enabled=self.precision is Precision.fp16)


def memory_bytes() -> int:
    """Memory this process may still use: the machine's RAM, capped by a cgroup limit and by RLIMIT_AS (`ulimit -v`)."""
    limits = [os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")]
    cgroup = Path("/sys/fs/cgroup/memory.max")
    if cgroup.is_file() and cgroup.read_text().strip().isdigit():
        limits.append(int(cgroup.read_text()))
    soft, _ = resource.getrlimit(resource.RLIMIT_AS)
    statm = Path("/proc/self/statm")
    if soft != resource.RLIM_INFINITY and statm.is_file():  # the limit counts address space, some of it already taken
        limits.append(soft - int(statm.read_text().split()[0]) * resource.getpagesize())
    return max(min(limits), 0)


def _choice(enum: type[Enum], value, key: str):
    try:
        return enum(value.value if isinstance(value, Enum) else value)
    except ValueError:
        raise ConfigError(f"{key}: unknown value {value!r}. Fix: use one of {[e.value for e in enum]}") from None
