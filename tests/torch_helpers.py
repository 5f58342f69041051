"""Helpers for the torch-side tests: devices, twins built from golden weights."""
import numpy as np
import pytest
import torch

from parity.convert import numpy_to_torch
from torch_impl.devices import available_devices

DEVICES = [pytest.param(d, marks=pytest.mark.cuda) if d == "cuda" else d for d in available_devices()]
CUDA_SKIP = pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA device on this machine")


def twin(numpy_net, torch_class, *args, device="cpu", **kwargs):
    """A float64 torch twin of numpy_net with the same weights."""
    torch_net = torch_class(*args, dtype=torch.float64, device=device, **kwargs)
    return numpy_to_torch(numpy_net, torch_net)


def to_numpy(tensor):
    return tensor.detach().cpu().numpy()


def set_seed(seed=0):
    torch.manual_seed(seed)
    np.random.seed(seed)
