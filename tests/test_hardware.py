import os
import resource
from pathlib import Path

import pytest
import torch

from mlm_lab.errors import ConfigError
from mlm_lab.hardware import Hardware, memory_bytes


def test_auto_resolves_to_an_available_device():
    hw = Hardware(device="auto")
    expected = "cuda" if torch.cuda.is_available() else "mps" if torch.backends.mps.is_available() else "cpu"
    assert hw.torch_device.type == expected


def test_unknown_device_names_the_key_and_the_choices():
    with pytest.raises(ConfigError, match="hardware.device") as e:
        Hardware(device="tpu")
    assert "cpu" in str(e.value) and "Fix:" in str(e.value)


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the error raised where CUDA is missing")
def test_unavailable_device_is_refused():
    with pytest.raises(ConfigError, match="not available"):
        Hardware(device="cuda")


def test_bf16_autocast_on_cpu():
    hw = Hardware(device="cpu", precision="bf16")
    with hw.autocast():
        y = torch.nn.Linear(4, 4)(torch.randn(2, 4))
    assert y.dtype == torch.bfloat16


def test_bad_threads():
    with pytest.raises(ConfigError, match="hardware.threads"):
        Hardware(threads=0)


def test_fp16_autocast_and_its_grad_scaler():
    hw = Hardware(device="cpu", precision="fp16")
    scaler = hw.grad_scaler()
    assert scaler.is_enabled() and not Hardware(device="cpu", precision="bf16").grad_scaler().is_enabled()
    with hw.autocast():
        y = torch.nn.Linear(4, 4)(torch.randn(2, 4))
    assert y.dtype == torch.float16


def test_precision_choices_are_named():
    with pytest.raises(ConfigError, match="hardware.precision.*fp16"):
        Hardware(device="cpu", precision="fp8")


def test_more_threads_than_cores_is_refused():
    """torch segfaults on its first matmul after set_num_threads(100000); more threads than cores only slows it down."""
    cores = os.cpu_count()
    assert Hardware(device="cpu", threads=cores).threads == cores
    with pytest.raises(ConfigError, match=rf"^hardware\.threads: 2147483648 is more than the {cores} CPU cores here\. Fix: .*most {cores}"):
        Hardware(device="cpu", threads=2**31)


def test_memory_counts_an_address_space_limit():
    """`ulimit -v` (RLIMIT_AS) caps what this process can allocate, whatever the machine's RAM."""
    soft, hard = resource.getrlimit(resource.RLIMIT_AS)
    used = int(Path("/proc/self/statm").read_text().split()[0]) * resource.getpagesize()
    assert memory_bytes() > 1 << 30
    resource.setrlimit(resource.RLIMIT_AS, (used + (1 << 30), hard))
    try:
        assert (1 << 29) < memory_bytes() <= 1 << 30
    finally:
        resource.setrlimit(resource.RLIMIT_AS, (soft, hard))
