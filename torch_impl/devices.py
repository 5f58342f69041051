"""Choosing a device, describing the machine, and the settings that make CUDA results comparable."""
import os
import platform
from contextlib import contextmanager

import numpy as np
import torch


def resolve_device(device="auto") -> torch.device:
    """'auto' -> 'cuda' when a GPU is available, else 'cpu'; 'cpu', 'cuda' or 'cuda:N' (or a torch.device of
    them) as torch.device. ValueError for another device, which nothing here is checked on, and for a CUDA
    device that is not there."""
    if device is None or str(device) == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        resolved = torch.device(device)
    except (RuntimeError, TypeError):
        resolved = None
    if resolved is None or resolved.type not in ("cpu", "cuda"):
        raise ValueError(f"device must be 'auto', 'cpu', 'cuda' or 'cuda:N'; got {device!r}")
    if resolved.type == "cuda" and not torch.cuda.is_available():
        raise ValueError(f"device {str(resolved)!r} was asked for, but no CUDA device is available")
    count = torch.cuda.device_count() if resolved.type == "cuda" else 0
    if resolved.type == "cuda" and resolved.index is not None and resolved.index >= count:
        there = "is 1 CUDA device (cuda:0)" if count == 1 else f"are {count} CUDA devices (cuda:0 to cuda:{count - 1})"
        raise ValueError(f"device {str(resolved)!r} was asked for, but there {there}")
    return resolved


def machine_description(devices=("cpu",)) -> str:
    """One line for reports: architecture, CPU cores, the GPU if `devices` (names or torch.devices) has a
    CUDA one, and the numpy and torch versions with torch's CPU thread count."""
    cuda = [torch.device(device) for device in devices if torch.device(device).type == "cuda"]
    gpu = f", {torch.cuda.get_device_name(cuda[0])}" if cuda else ", no GPU"
    return (f"{platform.machine()}, {os.cpu_count()} CPU cores{gpu}; numpy {np.__version__}, "
            f"torch {torch.__version__} ({torch.get_num_threads()} threads)")


def share_cores(processes: int) -> int:
    """Give this process its share of the CPU's cores when `processes` processes run side by side (test
    workers, parity workers, data-parallel ranks): torch's threads, NumPy's BLAS threads (threadpoolctl), and
    OMP_NUM_THREADS for the processes it starts. Processes that each spin up as many threads as there are cores
    slow each other down several times over. An OMP_NUM_THREADS already set lower (CI's one-thread reruns) is
    kept. Returns the thread count."""
    from threadpoolctl import threadpool_limits

    threads = max(1, (os.cpu_count() or 1) // processes)
    if os.environ.get("OMP_NUM_THREADS", "").isdigit():
        threads = max(1, min(threads, int(os.environ["OMP_NUM_THREADS"])))
    os.environ["OMP_NUM_THREADS"] = str(threads)
    torch.set_num_threads(threads)
    threadpool_limits(threads)
    return threads


def available_devices() -> list[str]:
    """The devices tests and the parity harness run on: CPU always, CUDA when present."""
    return ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])


@contextmanager
def cuda_settings(tf32, deterministic, cudnn):
    """Within: TF32 in matmuls and convolutions on or off, deterministic algorithms (warn only) on or
    off, cuDNN on or off, and cuDNN's benchmark mode off; the previous settings are restored on leaving."""
    backends = torch.backends
    saved = (backends.cuda.matmul.allow_tf32, backends.cudnn.allow_tf32, backends.cudnn.benchmark,
             backends.cudnn.enabled, torch.are_deterministic_algorithms_enabled(),
             torch.is_deterministic_algorithms_warn_only_enabled())
    backends.cuda.matmul.allow_tf32 = backends.cudnn.allow_tf32 = tf32
    backends.cudnn.benchmark = False
    backends.cudnn.enabled = cudnn
    torch.use_deterministic_algorithms(deterministic, warn_only=True)
    try:
        yield
    finally:
        (backends.cuda.matmul.allow_tf32, backends.cudnn.allow_tf32, backends.cudnn.benchmark,
         backends.cudnn.enabled) = saved[:4]
        torch.use_deterministic_algorithms(saved[4], warn_only=saved[5])


def exact_mode():
    """A context in which CUDA results can be compared tightly: IEEE float32, deterministic algorithms.

    TF32 is off in matmuls and convolutions, and cuDNN is off too: with deterministic algorithms
    asked for, cuDNN computed a 5x5 convolution's float32 weight gradient on an H100 (cuDNN 9.19)
    2.8e-4 (relative to its largest element) from the exact one, against 2.3e-7 for PyTorch's own
    convolution (tools/cuda_exactness.py measures each setting; the README has the table).
    """
    return cuda_settings(tf32=False, deterministic=True, cudnn=False)
