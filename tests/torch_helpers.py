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


def grads_by_book_key(torch_net):
    """{'W1': grad in the book's layout, ...} after backward."""
    state = dict(torch_net.named_parameters())
    grads = {}
    for key, (torch_key, transposed) in torch_net.book_keys().items():
        if torch_key in state:
            grad = state[torch_key].grad
            grads[key] = to_numpy(grad.T if transposed else grad)
    return grads


def set_seed(seed=0):
    torch.manual_seed(seed)
    np.random.seed(seed)
