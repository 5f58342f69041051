"""`python -m experiments.bench --layers`: each layer's forward and backward time in a network's training step,
on NumPy (the fast kernels the networks run, and the reference kernels where they differ) beside the same layer
in torch, float32 on the CPU, on the inputs the layer gets in a forward pass of the network (batch of the
bench's MODELS). Each time is the median of REPEATS runs in each of `rounds` turns, the NumPy and torch turns
of a layer alternating; forward and backward are timed on their own. A table to read, not a test."""
import time
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

import numpy_impl.networks as numpy_nets
from numpy_impl.layers import Affine, Convolution, Dropout, Pooling, Relu

from .timing import MODELS, batch, markdown

REPEATS = 3  # timed runs of a layer in each of its turns


@dataclass
class LayerRow:
    model: str
    layer: str
    input_shape: tuple
    numpy_ms: tuple  # (forward, backward)
    reference_ms: tuple | None  # the reference kernel's, where the network runs a fast one
    torch_ms: tuple


def torch_twin(layer) -> nn.Module:
    """The torch module computing what the NumPy `layer` computes, with copies of its parameters."""
    if isinstance(layer, Convolution):
        FN, C, FH, FW = layer.W.shape
        module = nn.Conv2d(C, FN, (FH, FW), stride=layer.stride, padding=layer.pad)
        with torch.no_grad():
            module.weight.copy_(torch.from_numpy(layer.W))
            module.bias.copy_(torch.from_numpy(layer.b))
        return module
    if isinstance(layer, Pooling):
        pooling = nn.MaxPool2d if layer.mode == "max" else nn.AvgPool2d
        return pooling((layer.pool_h, layer.pool_w), stride=layer.stride, padding=layer.pad)
    if isinstance(layer, Relu):
        return nn.ReLU()
    if isinstance(layer, Affine):
        linear = nn.Linear(*layer.W.shape)
        with torch.no_grad():
            linear.weight.copy_(torch.from_numpy(layer.W.T))
            linear.bias.copy_(torch.from_numpy(layer.b))
        return nn.Sequential(nn.Flatten(), linear)
    if isinstance(layer, Dropout):
        return nn.Dropout(layer.dropout_ratio)
    raise ValueError(f"no torch twin for the layer {type(layer).__name__}")


def numpy_runs(layer, x, dout):
    """(forward, backward) of the NumPy layer, each a function of no arguments; backward needs a forward first."""
    def forward():
        return layer.forward(x, True) if isinstance(layer, Dropout) else layer.forward(x)
    return forward, lambda: layer.backward(dout)


def torch_runs(module, x, dout, needs_input_gradient):
    x = torch.from_numpy(x).requires_grad_(needs_input_gradient)
    dout = torch.from_numpy(dout)
    state = {}

    def forward():
        state["out"] = module(x)

    def backward():
        torch.autograd.backward(state.pop("out"), dout)
    return forward, backward


def median_ms(runs: dict, rounds: int, repeats: int = REPEATS) -> dict:
    """{name: (forward ms, backward ms)} for {name: (forward, backward)}: the medians over `rounds` turns of each
    name, the names' turns alternating, each turn `repeats` forwards and backwards, each timed on its own, after
    an untimed one: the other side's threads, still spinning on the cores after its last product, slow the first
    product after a switch (docs/speed.md)."""
    times = {name: ([], []) for name in runs}
    for _ in range(rounds):
        for name, (forward, backward) in runs.items():
            forward()
            backward()
            for _ in range(repeats):
                start = time.perf_counter()
                forward()
                middle = time.perf_counter()
                backward()
                times[name][0].append(middle - start)
                times[name][1].append(time.perf_counter() - middle)
    return {name: tuple(float(np.median(t)) * 1e3 for t in pair) for name, pair in times.items()}


def layer_rows(model: str, rounds: int = 5, rng=None) -> list[LayerRow]:
    """A LayerRow for each layer of `model` (a key of MODELS), in the order the fast network runs them."""
    rng = rng or np.random.default_rng(0)
    kind, (args, kwargs), batch_size, flat = MODELS[model]
    net, reference = (getattr(numpy_nets, kind)(*args, dtype=np.float32, rng=np.random.default_rng(0), **kwargs)
                      for _ in range(2))
    reference.use_fast_kernels(False)
    names = {id(layer): name for name, layer in net.layers.items()}
    x = batch(batch_size, flat, rng)[0].astype(np.float32)
    rows = []
    torch.manual_seed(0)
    for index, layer in enumerate(net.forward_order()):
        name = names[id(layer)]
        out = np.ascontiguousarray(numpy_runs(layer, x, None)[0]())
        dout = rng.standard_normal(out.shape, dtype=np.float32)
        runs = {"numpy": numpy_runs(layer, x, dout),
                "torch": torch_runs(torch_twin(layer), np.ascontiguousarray(x), dout, needs_input_gradient=index > 0)}
        if type(reference.layers[name]) is not type(layer):
            runs["reference"] = numpy_runs(reference.layers[name], x, dout)
        times = median_ms(runs, rounds)
        rows.append(LayerRow(model, name, x.shape, times["numpy"], times.get("reference"), times["torch"]))
        x = out
    return rows


def format_layer_table(rows: list[LayerRow]) -> str:
    header = ("model", "layer", "input", "NumPy fwd ms", "NumPy bwd ms", "reference fwd+bwd", "torch fwd ms",
              "torch bwd ms", "NumPy / torch")
    lines = []
    for row in rows:
        numpy_total, torch_total = sum(row.numpy_ms), sum(row.torch_ms)
        lines.append((row.model, row.layer, "x".join(map(str, row.input_shape)), f"{row.numpy_ms[0]:.2f}",
                      f"{row.numpy_ms[1]:.2f}", "" if row.reference_ms is None else f"{sum(row.reference_ms):.2f}",
                      f"{row.torch_ms[0]:.2f}", f"{row.torch_ms[1]:.2f}", f"{numpy_total / torch_total:.2f}"))
    for model in dict.fromkeys(row.model for row in rows):
        mine = [row for row in rows if row.model == model]
        numpy_sum, torch_sum = sum(sum(r.numpy_ms) for r in mine), sum(sum(r.torch_ms) for r in mine)
        lines.append((model, "all layers", "", f"{sum(r.numpy_ms[0] for r in mine):.2f}",
                      f"{sum(r.numpy_ms[1] for r in mine):.2f}", "", f"{sum(r.torch_ms[0] for r in mine):.2f}",
                      f"{sum(r.torch_ms[1] for r in mine):.2f}", f"{numpy_sum / torch_sum:.2f}"))
    return markdown(header, lines)
