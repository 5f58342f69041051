"""Choosing a device, and the settings that make CUDA results comparable."""
from contextlib import contextmanager

import torch


def resolve_device(device="auto"):
    """'auto' -> 'cuda' when a GPU is available, else 'cpu'; anything else as torch.device."""
    if device is None or str(device) == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    device = torch.device(device)
    if device.type == "cuda" and not torch.cuda.is_available():
        raise ValueError(f"device {str(device)!r} was asked for, but no CUDA device is available")
    return device


def available_devices():
    """The devices tests and the parity harness run on: CPU always, CUDA when present."""
    return ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])


@contextmanager
def exact_mode():
    """Within: IEEE float32 on CUDA and deterministic algorithms, so CUDA results can be compared tightly.

    TF32 is turned off in matmuls and convolutions. cuDNN is turned off as well: under deterministic
    algorithms it chose, for a 5x5 convolution's weight gradient on an H100, an algorithm whose
    float32 result was 5.6e-4 (relative to the gradient's largest element) from the exact one, where
    PyTorch's own convolution (unfold and a cuBLAS matmul) stays near 1e-6 (tools/cuda_exactness.py
    measures both). The previous settings are restored on leaving.
    """
    backends = torch.backends
    saved = (backends.cuda.matmul.allow_tf32, backends.cudnn.allow_tf32, backends.cudnn.benchmark,
             backends.cudnn.enabled, torch.are_deterministic_algorithms_enabled(),
             torch.is_deterministic_algorithms_warn_only_enabled())
    backends.cuda.matmul.allow_tf32 = False
    backends.cudnn.allow_tf32 = False
    backends.cudnn.benchmark = False
    backends.cudnn.enabled = False
    torch.use_deterministic_algorithms(True, warn_only=True)
    try:
        yield
    finally:
        (backends.cuda.matmul.allow_tf32, backends.cudnn.allow_tf32, backends.cudnn.benchmark,
         backends.cudnn.enabled) = saved[:4]
        torch.use_deterministic_algorithms(saved[4], warn_only=saved[5])
