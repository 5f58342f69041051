"""Choosing a device, and the settings that make CUDA results comparable."""
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


def exact_mode():
    """Turn off TF32 and ask for deterministic algorithms, so CUDA results can be compared tightly."""
    torch.backends.cuda.matmul.allow_tf32 = False
    torch.backends.cudnn.allow_tf32 = False
    torch.backends.cudnn.benchmark = False
    torch.use_deterministic_algorithms(True, warn_only=True)
