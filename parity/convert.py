"""Moving parameters between a numpy_impl network and its torch_impl twin.

The torch network names its tensors in the book's terms through `book_keys()`:
`W1` is `layers.1.weight` transposed for a Linear layer (the book's Affine W is
(in, out), nn.Linear.weight is (out, in)) and as is for a Conv2d (both
(out, in, kh, kw)); `gamma1`/`beta1` are a batch norm's weight/bias and
`running_mean1`/`running_var1` its buffers. Values are copied in place, so
optimizers holding the parameters keep working, and cast to the receiving
side's dtype; the round trip is exact when the dtypes match.
"""
import numpy as np
import torch

from numpy_impl.networks.base import read_parameter_file


def _check_same_architecture(numpy_net, torch_net):
    book_keys = torch_net.book_keys()
    numpy_params = set(numpy_net.params)
    torch_params = {key for key in book_keys if not key.startswith("running_")}
    if numpy_params != torch_params:
        raise ValueError(
            f"{type(numpy_net).__name__} and {type(torch_net).__name__} do not match: parameters only in "
            f"NumPy {sorted(numpy_params - torch_params)}, only in torch {sorted(torch_params - numpy_params)}"
        )
    return book_keys


def book_layout(tensor, transposed):
    """A torch tensor (or a NumPy array) in the other side's layout: transposed for a Linear weight, else as is.
    The transpose is its own inverse, so this maps either way."""
    return tensor.T if transposed else tensor


def book_gradients(torch_net: torch.nn.Module) -> dict:
    """{book key: gradient as a float64-or-own-dtype NumPy array in the book's layout} of torch_net's parameters."""
    parameters = dict(torch_net.named_parameters())
    return {key: book_layout(parameters[path].grad, transposed).detach().cpu().numpy()
            for key, (path, transposed) in torch_net.book_keys().items() if path in parameters}


@torch.no_grad()
def numpy_to_torch(numpy_net, torch_net: torch.nn.Module) -> torch.nn.Module:
    """Copy numpy_net's params and running statistics into torch_net, in place.

    Running statistics the NumPy side has not created yet (before its first
    training-mode forward) are left as they are on the torch side.
    """
    _check_same_architecture(numpy_net, torch_net)
    return copy_book_arrays({**numpy_net.params, **numpy_net.buffers()}, torch_net)


@torch.no_grad()
def copy_book_arrays(arrays: dict, torch_net: torch.nn.Module) -> torch.nn.Module:
    """Copy {book key: NumPy array} into torch_net's tensors of those book keys, in place, every shape checked
    first; book keys of torch_net missing from `arrays` are left as they are."""
    book_keys = torch_net.book_keys()
    state = torch_net.state_dict(keep_vars=True)
    values = {}
    for book_key, (torch_key, transposed) in book_keys.items():
        if book_key not in arrays:
            continue
        value = book_layout(torch.as_tensor(np.ascontiguousarray(arrays[book_key])), transposed)
        if value.shape != state[torch_key].shape:
            raise ValueError(f"{book_key}: NumPy shape {tuple(np.shape(arrays[book_key]))} does not fit "
                             f"torch {torch_key} of shape {tuple(state[torch_key].shape)} (transposed={transposed})")
        values[torch_key] = value
    for torch_key, value in values.items():
        state[torch_key].copy_(value)
    return torch_net


def load_book_weights(file_name, torch_net: torch.nn.Module) -> torch.nn.Module:
    """torch_net with the weights of a parameter file of the book's network it twins (the book's published
    .pkl, read without running it, or an .npz of save_params), in place: one call moves, say, the book's
    trained DeepConvNet (ch08/deep_convnet_params.pkl) into torch_impl.networks.DeepConvNet."""
    arrays = read_parameter_file(file_name)
    expected = {key for key in torch_net.book_keys() if not key.startswith("running_")}
    if not expected <= set(arrays):
        raise ValueError(f"{file_name} lacks {sorted(expected - set(arrays))} of {type(torch_net).__name__}")
    return copy_book_arrays(arrays, torch_net)


@torch.no_grad()
def book_arrays(torch_net: torch.nn.Module) -> dict:
    """torch_net's parameters and running statistics as NumPy arrays, under the book's names ('W1', 'gamma1',
    'running_var1', ...) and in the book's layouts (an Affine W is (in, out))."""
    state = torch_net.state_dict()
    return {book_key: book_layout(state[torch_key], transposed).detach().cpu().numpy()
            for book_key, (torch_key, transposed) in torch_net.book_keys().items()}


def torch_to_numpy(torch_net: torch.nn.Module, numpy_net):
    """Copy torch_net's parameters and running statistics into numpy_net, in place, every shape checked first."""
    book_keys = _check_same_architecture(numpy_net, torch_net)
    arrays = book_arrays(torch_net)
    for book_key, value in arrays.items():
        if book_key in numpy_net.params and value.shape != numpy_net.params[book_key].shape:
            raise ValueError(f"{book_key}: torch {book_keys[book_key][0]} gives shape {value.shape}; "
                             f"NumPy expects {numpy_net.params[book_key].shape}")
    for book_key, value in arrays.items():
        if book_key in numpy_net.params:
            numpy_net.params[book_key][...] = value
        else:
            numpy_net.set_buffer(book_key, value)
    return numpy_net


def match_torch_semantics(numpy_net):
    """Switch a NumPy network to PyTorch's semantics where they differ: no 1e-7 in the loss's log,
    PyTorch's running variance (the book's dropout is on both sides already)."""
    numpy_net.last_layer.log_eps = 0.0
    for layer in numpy_net.batchnorm_layers().values():
        layer.running_stats = "torch"
    return numpy_net
