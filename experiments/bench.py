"""python -m experiments bench: milliseconds per training step on every backend, in one run.

A step is one mini-batch: forward, backward and an Adam update, on a fixed
batch already in memory (on the device for CUDA); each row is the median of
five timed blocks of steps. Rows: the NumPy networks in
float64 and float32, the same networks with the book's kernels swapped in
(numpy_impl.book_kernels), torch on the CPU in both dtypes, and torch on CUDA
where a GPU is present. Peak memory is what tracemalloc sees NumPy allocate
during one step, or torch.cuda's peak on a GPU; torch's CPU allocations are
invisible to both, so that column is empty for those rows.
"""
import os
import platform
import time
import tracemalloc
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F

import numpy_impl.networks as numpy_nets
import torch_impl.networks as torch_nets
from numpy_impl.book_kernels import book_style
from numpy_impl.optimizers import Adam
from torch_impl.optimizers import make_optimizer

MODELS = {  # name: (network, constructor args, batch size, flat input)
    "MLP": ("MultiLayerNet", ((784, [100, 100, 100, 100], 10), {}), 128, True),
    "SimpleConvNet": ("SimpleConvNet", ((), {}), 100, False),
    "DeepConvNet": ("DeepConvNet", ((), {}), 100, False),
}
TARGETS = [  # (description, numerator row, denominator row, bound, kind)
    ("NumPy float32 SimpleConvNet step / torch CPU float32", ("SimpleConvNet", "numpy", "float32"),
     ("SimpleConvNet", "torch", "float32"), 2.0, "at most"),
    ("NumPy float32 MLP step / torch CPU float32", ("MLP", "numpy", "float32"), ("MLP", "torch", "float32"), 1.0,
     "at most"),
    ("book-style float64 SimpleConvNet step / NumPy float64", ("SimpleConvNet", "numpy (book kernels)", "float64"),
     ("SimpleConvNet", "numpy", "float64"), 3.0, "at least"),
]


@dataclass
class Row:
    model: str
    backend: str
    dtype: str
    device: str
    ms_per_step: float
    images_per_second: float
    peak_mib: float = None

    def key(self):
        return (self.model, self.backend, self.dtype)


def batch(batch_size, flat, rng):
    x = rng.random((batch_size, 784) if flat else (batch_size, 1, 28, 28))
    return x, rng.integers(0, 10, batch_size)


def time_steps(step, steps, synchronize=lambda: None, repeats=5):
    """Seconds per step: the median over `repeats` timed blocks of `steps` steps, after a warm-up."""
    for _ in range(2):
        step()
    synchronize()
    blocks = []
    for _ in range(repeats):
        start = time.perf_counter()
        for _ in range(steps):
            step()
        synchronize()
        blocks.append((time.perf_counter() - start) / steps)
    return float(np.median(blocks))


def bench_numpy(model, dtype, book_kernels, steps, rng):
    kind, (args, kwargs), batch_size, flat = MODELS[model]
    net = getattr(numpy_nets, kind)(*args, dtype=np.dtype(dtype), rng=rng, **kwargs)
    if book_kernels:
        book_style(net)
    x, t = batch(batch_size, flat, rng)
    x = x.astype(dtype)
    optimizer = Adam()

    def step():
        optimizer.update(net.params, net.gradient(x, t))
    seconds = time_steps(step, steps)
    tracemalloc.start()
    step()
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    backend = "numpy (book kernels)" if book_kernels else "numpy"
    return Row(model, backend, dtype, "cpu", seconds * 1e3, batch_size / seconds, peak / 2 ** 20)


def bench_torch(model, dtype, device, steps, rng):
    kind, (args, kwargs), batch_size, flat = MODELS[model]
    torch_dtype = getattr(torch, dtype)
    net = getattr(torch_nets, kind)(*args, dtype=torch_dtype, device=device, **kwargs)
    x, t = batch(batch_size, flat, rng)
    x, t = torch.as_tensor(x, dtype=torch_dtype, device=device), torch.as_tensor(t, device=device)
    optimizer = make_optimizer("Adam", net)
    net.train()

    def step():
        optimizer.zero_grad(set_to_none=True)
        F.cross_entropy(net(x), t).backward()
        optimizer.step()
    cuda = torch.device(device).type == "cuda"
    synchronize = torch.cuda.synchronize if cuda else (lambda: None)
    if cuda:
        torch.cuda.reset_peak_memory_stats()
    seconds = time_steps(step, steps, synchronize)
    peak = torch.cuda.max_memory_allocated() / 2 ** 20 if cuda else None
    return Row(model, "torch", dtype, str(device), seconds * 1e3, batch_size / seconds, peak)


def run_benchmarks(models, steps, devices, progress=print):
    rng = np.random.default_rng(0)
    rows = []
    for model in models:
        jobs = [("numpy", dtype, False) for dtype in ("float64", "float32")] + [("numpy", "float64", True)]
        jobs += [("torch", dtype, device) for device in devices for dtype in ("float64", "float32")
                 if not (device == "cuda" and dtype == "float64")]
        for backend, dtype, extra in jobs:
            progress(f"{model} {backend} {dtype} {extra if backend == 'torch' else ('book' if extra else '')}")
            if backend == "numpy":
                rows.append(bench_numpy(model, dtype, extra, steps[model], rng))
            else:
                rows.append(bench_torch(model, dtype, extra, steps[model] * 2, rng))
    return rows


def format_table(rows):
    header = ("model", "backend", "dtype", "device", "ms/step", "images/s", "peak MiB")
    lines = [header] + [(r.model, r.backend, r.dtype, r.device, f"{r.ms_per_step:.1f}", f"{r.images_per_second:,.0f}",
                         "" if r.peak_mib is None else f"{r.peak_mib:.0f}") for r in rows]
    widths = [max(len(line[i]) for line in lines) for i in range(len(header))]
    text = ["| " + " | ".join(cell.ljust(w) for cell, w in zip(line, widths)) + " |" for line in lines]
    text.insert(1, "|" + "|".join("-" * (w + 2) for w in widths) + "|")
    return "\n".join(text)


def format_targets(rows, devices):
    by_key = {row.key(): row for row in rows}
    lines = []
    for description, numerator, denominator, bound, kind in TARGETS:
        if numerator not in by_key or denominator not in by_key:
            continue
        ratio = by_key[numerator].ms_per_step / by_key[denominator].ms_per_step
        met = ratio <= bound if kind == "at most" else ratio >= bound
        lines.append(f"- {description}: {ratio:.2f} (target: {kind} {bound:g}) {'met' if met else 'NOT MET'}")
    if "cuda" not in devices:
        reason = "not asked for" if torch.cuda.is_available() else "no GPU on this machine"
        lines.append(f"- torch on CUDA: not measured ({reason})")
    return "\n".join(lines)


def machine_description(devices):
    gpu = f", {torch.cuda.get_device_name(0)}" if "cuda" in devices else ", no GPU"
    return (f"{platform.machine()}, {os.cpu_count()} CPU cores{gpu}; numpy {np.__version__}, "
            f"torch {torch.__version__} ({torch.get_num_threads()} threads)")
