"""The timings behind `python -m experiments.bench`: milliseconds per training step on every backend, in one run.

A step is one mini-batch: forward, backward and an Adam update, on a fixed
batch already in memory (on the device for CUDA). The rows of one network are
timed interleaved: round after round, each row runs one block of steps, and a
row's time is the median of its blocks (each after WARM_UP_SECONDS of untimed
steps). A machine whose speed drifts (a shared one) then slows every row of a
round alike, and a target's ratio between two rows is the median of the ratios
of their blocks round by round (step_ratio), printed with the lowest and
highest; a target's two rows are timed one right after the other, in
alternating order (timing_order). Rows: the NumPy networks in float64 and
float32, the same networks on the reference kernels, the book's algorithms
(numpy_impl.layers; fast=False) computing every layer's input gradient as the
book does, torch on the CPU in both dtypes, torch on CUDA where a GPU is
present, with each speed-up of torch_impl.acceleration.

Peak memory is what tracemalloc sees NumPy allocate during one step, plus what
the layers keep from one step to the next (the stride-1 convolutions'
workspaces, allocated in an earlier step), or what torch.cuda allocates
during one step beyond what was allocated before it; torch's CPU allocations are
invisible to both, so that column is empty there. The BLAS libraries and
thread pools of both sides are listed under the table (threadpoolctl): a
forced OpenBLAS kernel (OPENBLAS_CORETYPE) changes NumPy's speed by about 20
percent.

With epochs, a full Fashion-MNIST-sized epoch (60,000 images, batch 100) runs
through torch_impl.trainer.Trainer, data resident on the device: the time the
GPU targets are about. Each epoch is timed with the book's loss (a second
forward after the update) and with the loss of the training forward itself
(Trainer(loss_after_update=False)); the difference is what the book's loss costs.
"""
import os
import time
import tracemalloc
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F

import numpy_impl.networks as numpy_nets
import torch_impl.networks as torch_nets
from numpy_impl.optimizers import Adam
from torch_impl.acceleration import Acceleration
from torch_impl.optimizers import make_optimizer
from torch_impl.trainer import Trainer

MODELS = {  # name: (network, constructor args, batch size, flat input)
    "MLP": ("MultiLayerNet", ((784, [100, 100, 100, 100], 10), {}), 128, True),
    "SimpleConvNet": ("SimpleConvNet", ((), {}), 100, False),
    "DeepConvNet": ("DeepConvNet", ((), {}), 100, False),
}
REFERENCE = "numpy (reference)"  # the row of the networks on the reference kernels
TARGETS = [  # (description, numerator row, denominator row, bound, kind): issue 15's, on the development machine
    ("NumPy float32 DeepConvNet step / torch CPU float32", ("DeepConvNet", "numpy", "float32", "cpu"),
     ("DeepConvNet", "torch", "float32", "cpu"), 2.0, "at most"),
    ("NumPy float32 SimpleConvNet step / torch CPU float32", ("SimpleConvNet", "numpy", "float32", "cpu"),
     ("SimpleConvNet", "torch", "float32", "cpu"), 1.0, "at most"),
    ("NumPy float32 MLP step / torch CPU float32", ("MLP", "numpy", "float32", "cpu"),
     ("MLP", "torch", "float32", "cpu"), 0.8, "at most"),
    ("reference float64 SimpleConvNet step / NumPy float64",
     ("SimpleConvNet", REFERENCE, "float64", "cpu"), ("SimpleConvNet", "numpy", "float64", "cpu"), 3.0, "at least"),
    ("reference float64 DeepConvNet step / NumPy float64",
     ("DeepConvNet", REFERENCE, "float64", "cpu"), ("DeepConvNet", "numpy", "float64", "cpu"), 3.0, "at least"),
]
EPOCH_TARGETS = {"SimpleConvNet": 1.0, "DeepConvNet": 3.0}  # seconds per 60,000-image epoch on an H100
TARGET_GPUS = ("H100", "H200")  # the GPUs the epoch targets are for
EPOCH_LOSSES = {"after update": True, "same forward": False}  # row label: Trainer's loss_after_update
CUDA_ACCELERATIONS = ("none", "compile", "bf16", "cuda_graphs", "compile,bf16,cuda_graphs")
EPOCH_IMAGES = 60_000
# Untimed steps before each block. OpenBLAS's threads keep spinning on the cores for a while after NumPy's last
# product, and a torch row timed right after a NumPy row shares the cores with them: measured on 2 cores, torch's
# first two SimpleConvNet float32 steps after a NumPy block took 50 and 53 ms, the next ones 24 ms (24 ms from
# the first after a torch block); its first DeepConvNet step 145 ms against 60 (medians of five).
WARM_UP_SECONDS = 0.2


@dataclass
class Row:
    model: str
    backend: str
    dtype: str
    device: str
    ms_per_step: float
    images_per_second: float
    peak_mib: float = None
    round_ms: tuple = ()  # ms per step of each round's block, in round order (time_interleaved)

    def key(self):
        return (self.model, self.backend, self.dtype, self.device)


@dataclass
class Job:
    """One row to time: `step()` runs one training step; `synchronize()` waits for the device."""
    model: str
    backend: str
    dtype: str
    device: str
    batch_size: int
    steps: int
    step: Callable
    synchronize: Callable = lambda: None
    kept_bytes: Callable = lambda: 0  # NumPy: the memory its layers keep between steps, for peak_mib

    def block_seconds(self):
        """Seconds per step over `steps` steps, after untimed steps for WARM_UP_SECONDS (one step at least):
        training runs step after step, and the first steps after another row's block pay for what that row
        left behind: memory it left cold, and its threads still spinning on the cores."""
        warm_up_start = time.perf_counter()
        while True:
            self.step()
            self.synchronize()
            if time.perf_counter() - warm_up_start >= WARM_UP_SECONDS:
                break
        start = time.perf_counter()
        for _ in range(self.steps):
            self.step()
        self.synchronize()
        return (time.perf_counter() - start) / self.steps

    def peak_mib(self):
        """MiB allocated at the peak of one step: tracemalloc for NumPy, torch.cuda beyond the start on CUDA."""
        if self.backend.startswith("numpy"):
            self.step()
            tracemalloc.start()
            self.step()
            peak = tracemalloc.get_traced_memory()[1]
            tracemalloc.stop()
            return (peak + self.kept_bytes()) / 2 ** 20
        if self.device.startswith("cuda"):
            self.synchronize()
            before = torch.cuda.memory_allocated()
            torch.cuda.reset_peak_memory_stats()
            self.step()
            self.synchronize()
            return (torch.cuda.max_memory_allocated() - before) / 2 ** 20
        return None


def batch(batch_size, flat, rng):
    x = rng.random((batch_size, 784) if flat else (batch_size, 1, 28, 28))
    return x, rng.integers(0, 10, batch_size)


def numpy_job(model, dtype, reference, steps, rng):
    kind, (args, kwargs), batch_size, flat = MODELS[model]
    net = getattr(numpy_nets, kind)(*args, dtype=np.dtype(dtype), rng=rng, **kwargs)
    if reference:  # the book's kernels as the book runs them, its first convolution's input gradient included
        net.use_fast_kernels(False)
        for layer in net.layers.values():
            if hasattr(layer, "backprop_to_input"):
                layer.backprop_to_input = True
    x, t = batch(batch_size, flat, rng)
    x = x.astype(dtype)
    optimizer = Adam()

    def step():
        optimizer.update(net.params, net.gradient(x, t))

    def kept_bytes():
        """What the layers keep from one step to the next: the stride-1 convolutions' workspaces."""
        return sum(workspace.nbytes for layer in net.layers.values()
                   for workspace in getattr(layer, "workspaces", {}).values())
    return Job(model, REFERENCE if reference else "numpy", dtype, "cpu", batch_size, steps, step,
               kept_bytes=kept_bytes)


def torch_job(model, dtype, device, acceleration, steps, rng):
    kind, (args, kwargs), batch_size, flat = MODELS[model]
    torch_dtype = getattr(torch, dtype)
    net = getattr(torch_nets, kind)(*args, dtype=torch_dtype, device=device, **kwargs)
    x, t = batch(batch_size, flat, rng)
    x, t = torch.as_tensor(x, dtype=torch_dtype, device=device), torch.as_tensor(t, device=device)
    optimizer = make_optimizer("Adam", net)
    forward = acceleration.prepare(net, x.clone())
    net.train()

    def step():
        optimizer.zero_grad(set_to_none=True)
        with acceleration.autocast(device):
            scores = forward(x)
        F.cross_entropy(scores.to(torch_dtype), t).backward()
        optimizer.step()
    backend = "torch" if acceleration == Acceleration() else f"torch {acceleration}"
    return Job(model, backend, dtype, str(device), batch_size, steps, step, synchronizer(device))


def synchronizer(device):
    """A function that waits for `device` to finish its queued work (nothing to wait for on a CPU)."""
    return torch.cuda.synchronize if torch.device(device).type == "cuda" else (lambda: None)


def jobs_for(model, steps, devices, accelerations, rng):
    jobs = [numpy_job(model, dtype, False, steps, rng) for dtype in ("float64", "float32")]
    jobs.append(numpy_job(model, "float64", True, steps, rng))
    for device in devices:
        for dtype in ("float64", "float32"):
            if device == "cuda" and dtype == "float64":
                continue
            for acceleration in accelerations[device]:
                if acceleration == Acceleration() or dtype == "float32":
                    jobs.append(torch_job(model, dtype, device, acceleration, steps * 2, rng))
    return jobs


def timing_order(jobs):
    """The order in which a round times the jobs: the two rows of each target next to each other (NumPy float32
    then torch float32, the reference then NumPy float64), then the other rows, so that a target's two
    blocks are timed one right after the other rather than seconds apart (a DeepConvNet round takes about 6 s)."""
    paired = [key for _, numerator, denominator, _, _ in TARGETS for key in (numerator, denominator)]
    rank = {key: paired.index(key) for key in paired}
    return sorted(jobs, key=lambda job: rank.get((job.model, job.backend, job.dtype, job.device), len(paired)))


def time_interleaved(jobs, rounds=5, progress=print):
    """Rows for jobs timed round-robin, in timing_order and backwards in every other round (so that a speed
    drift within a round favours each row of a pair as often as the other): per job, the median of `rounds`
    blocks, after a warm-up. The rows come back in the jobs' order."""
    for job in jobs:
        progress(f"warming up {job.model} {job.backend} {job.dtype} {job.device}")
        for _ in range(2):
            job.step()
        job.synchronize()
    blocks = {id(job): [] for job in jobs}
    order = timing_order(jobs)
    for round_index in range(rounds):
        progress(f"round {round_index + 1} of {rounds} ({len(jobs)} rows)")
        for job in order if round_index % 2 == 0 else order[::-1]:
            blocks[id(job)].append(job.block_seconds())
    rows = []
    for job in jobs:
        seconds = float(np.median(blocks[id(job)]))
        rows.append(Row(job.model, job.backend, job.dtype, job.device, seconds * 1e3, job.batch_size / seconds,
                        job.peak_mib(), tuple(block * 1e3 for block in blocks[id(job)])))
    return rows


def run_benchmarks(models, steps, devices, accelerations=None, rounds=5, progress=print):
    """Rows for every model; accelerations: {device: [Acceleration, ...]} for the torch rows
    (default: none on the CPU, CUDA_ACCELERATIONS on CUDA)."""
    accelerations = accelerations or default_accelerations(devices)
    rng = np.random.default_rng(0)
    rows = []
    for model in models:
        rows += time_interleaved(jobs_for(model, steps[model], devices, accelerations, rng), rounds, progress)
    return rows


def runs_on(acceleration, device):
    """Whether a float32 torch row with these speed-ups can run on device (Acceleration.check)."""
    try:
        acceleration.check(device, torch.float32)
    except ValueError:
        return False
    return True


def default_accelerations(devices):
    return {device: [Acceleration.parse(name) for name in (CUDA_ACCELERATIONS if device == "cuda" else ["none"])]
            for device in devices}


@dataclass
class EpochRow:
    model: str
    device: str
    acceleration: str
    images: int
    seconds: float
    loss: str = "after update"


def time_epoch(model, device, acceleration, images=EPOCH_IMAGES, batch_size=100, loss="after update"):
    """Seconds for `images` images of training steps with torch_impl's Trainer (float32, Adam), the
    data resident on the device; compilation, capture and a first epoch-start evaluation are done first.
    loss: a key of EPOCH_LOSSES, which loss the Trainer records."""
    kind, (args, kwargs), _, flat = MODELS[model]
    net = getattr(torch_nets, kind)(*args, dtype=torch.float32, device=device, **kwargs)
    rng = np.random.default_rng(0)
    x, t = batch(images, flat, rng)
    x_test, t_test = batch(batch_size, flat, rng)
    steps = max(images // batch_size, 1)
    warm_up = min(3, steps)  # two epochs of steps hold the warm-up and one timed epoch
    trainer = Trainer(net, x.astype(np.float32), t, x_test.astype(np.float32), t_test, epochs=2,
                      mini_batch_size=batch_size, optimizer="Adam", optimizer_param={"lr": 0.001},
                      evaluate_sample_num_per_epoch=batch_size, verbose=False, seed=0, device=device,
                      acceleration=acceleration, loss_after_update=EPOCH_LOSSES[loss])
    synchronize = synchronizer(device)
    for _ in range(warm_up):
        trainer.train_step()
    synchronize()
    start = time.perf_counter()
    for _ in range(steps):
        trainer.train_step()
    synchronize()
    return EpochRow(model, str(device), str(acceleration), steps * batch_size, time.perf_counter() - start, loss)


def time_on_ranks(model, device, ranks, steps=10, batch_size=100):
    """A Row for the training step of `model` (float32, Adam, the book's loss) on `ranks` data-parallel ranks
    (torch_impl.distributed: gloo on the CPU, the CPU's threads shared out; NCCL and one GPU per rank on CUDA),
    each training its share of the same global batch of `batch_size`: milliseconds per global step."""
    from torch_impl.distributed import run_on_ranks

    cuda = torch.device(device).type == "cuda"
    seconds = run_on_ranks(timed_steps_on_rank, ranks, model, device, ranks, steps, batch_size, cuda=cuda)
    return Row(model, f"torch, {ranks} rank{'s' if ranks > 1 else ''}", "float32", device, seconds * 1e3 / steps,
               steps * batch_size / seconds, None)


def timed_steps_on_rank(model, device, ranks, steps, batch_size):
    """One rank of time_on_ranks: seconds for `steps` global steps after three untimed ones (rank 0's)."""
    import torch.distributed as dist

    from torch_impl.devices import share_cores
    from torch_impl.distributed import rank_and_size

    rank, _ = rank_and_size()
    if torch.device(device).type == "cpu":  # the machine's cores shared out, as torchrun's OMP_NUM_THREADS does
        share_cores(ranks)
    device = f"cuda:{rank}" if torch.device(device).type == "cuda" else "cpu"
    kind, (args, kwargs), _, flat = MODELS[model]
    torch.manual_seed(0)
    net = getattr(torch_nets, kind)(*args, dtype=torch.float32, **kwargs)
    x, t = batch(batch_size * (steps + 3), flat, np.random.default_rng(0))
    trainer = Trainer(net, x.astype(np.float32), t, x[:batch_size].astype(np.float32), t[:batch_size], epochs=1,
                      mini_batch_size=batch_size, optimizer="Adam", optimizer_param={"lr": 0.001},
                      evaluate_sample_num_per_epoch=batch_size, verbose=False, seed=0, device=device)
    synchronize = synchronizer(device)
    for _ in range(3):
        trainer.train_step()
    synchronize()
    dist.barrier()
    start = time.perf_counter()
    for _ in range(steps):
        trainer.train_step()
    synchronize()
    dist.barrier()
    return time.perf_counter() - start


def blas_description():
    """One line: the BLAS library, kernel and thread count NumPy runs on (threadpoolctl sees the libraries
    loaded into this process), torch's (its MKL and oneDNN are linked into it), and a forced OpenBLAS kernel."""
    from threadpoolctl import threadpool_info

    names = {"openblas": "OpenBLAS", "mkl": "MKL", "blis": "BLIS", "openmp": "OpenMP"}
    numpy_pools = []
    for pool in threadpool_info():
        if "/numpy" not in pool["filepath"]:
            continue  # torch's OpenMP pool: its thread count is torch.get_num_threads() below
        detail = " ".join(filter(None, (names.get(pool["internal_api"], pool["internal_api"]), pool.get("version"))))
        if pool.get("architecture"):
            detail += f", {pool['architecture']} kernel"
        numpy_pools.append(f"{detail}, {pool['num_threads']} threads")
    built_in = [name for name, present in (("MKL", torch.backends.mkl.is_available()),
                                           ("oneDNN", torch.backends.mkldnn.is_available())) if present]
    forced = os.environ.get("OPENBLAS_CORETYPE")
    return (f"BLAS: numpy: {'; '.join(numpy_pools) or 'none that threadpoolctl sees'}; "
            f"torch: {' and '.join(built_in) or 'its own kernels'} built in, {torch.get_num_threads()} threads; "
            + (f"OPENBLAS_CORETYPE={forced}" if forced else "OPENBLAS_CORETYPE unset"))


def format_table(rows):
    header = ("model", "backend", "dtype", "device", "ms/step", "images/s", "peak MiB")
    lines = [(r.model, r.backend, r.dtype, r.device, f"{r.ms_per_step:.1f}", f"{r.images_per_second:,.0f}",
              "" if r.peak_mib is None else f"{r.peak_mib:.0f}") for r in rows]
    return markdown(header, lines)


def format_epochs(epoch_rows):
    header = ("model", "device", "acceleration", "loss recorded", "images", "seconds per epoch", "images/s")
    lines = [(r.model, r.device, r.acceleration, r.loss, f"{r.images:,}", f"{r.seconds:.2f}",
              f"{r.images / r.seconds:,.0f}") for r in epoch_rows]
    return markdown(header, lines)


def markdown(header, lines):
    lines = [header] + lines
    widths = [max(len(line[i]) for line in lines) for i in range(len(header))]
    text = ["| " + " | ".join(cell.ljust(w) for cell, w in zip(line, widths)) + " |" for line in lines]
    text.insert(1, "|" + "|".join("-" * (w + 2) for w in widths) + "|")
    return "\n".join(text)


def step_ratio(numerator, denominator):
    """(ratio, text) of two rows' steps: the median of the ratios of their blocks of the same round, timed one
    right after the other (time_interleaved), so that a drift of the machine's speed between rounds (up to 50
    percent here) cancels out, with the text ' (rounds: lowest-highest)'; the ratio of their medians for rows
    without rounds."""
    if not numerator.round_ms or len(numerator.round_ms) != len(denominator.round_ms):
        return numerator.ms_per_step / denominator.ms_per_step, ""
    ratios = [top / bottom for top, bottom in zip(numerator.round_ms, denominator.round_ms)]
    return float(np.median(ratios)), f" (rounds: {min(ratios):.2f}-{max(ratios):.2f})"


def format_targets(rows, devices, epoch_rows=(), gpu_name=None):
    """One line per target: the measured ratio or time and whether it meets the target. gpu_name
    (default: CUDA device 0's) says whether an epoch time was taken on a GPU the target is for."""
    by_key = {row.key(): row for row in rows}
    lines = []
    for description, numerator, denominator, bound, kind in TARGETS:
        if numerator not in by_key or denominator not in by_key:
            continue
        ratio, spread = step_ratio(by_key[numerator], by_key[denominator])
        met = ratio <= bound if kind == "at most" else ratio >= bound
        lines.append(f"- {description}: {ratio:.2f}{spread} (target: {kind} {bound:g}) {'met' if met else 'NOT MET'}")
    if "cuda" not in devices:
        reason = "not asked for" if torch.cuda.is_available() else "no GPU on this machine"
        lines.append(f"- torch on CUDA, and the epoch targets (SimpleConvNet under 1 s, DeepConvNet under 3 s "
                     f"on an H100): not measured ({reason})")
        return "\n".join(lines)
    gpu = gpu_name or torch.cuda.get_device_name(0)
    for model, bound in EPOCH_TARGETS.items():
        measured = [r for r in epoch_rows if r.model == model and r.device == "cuda" and r.images == EPOCH_IMAGES]
        if not measured:
            lines.append(f"- {model} epoch on CUDA: not measured (not asked for)")
            continue
        best = min(measured, key=lambda r: r.seconds)
        verdict = "met" if best.seconds < bound else "NOT MET"
        if not any(name in gpu for name in TARGET_GPUS):
            verdict += f" (the target is for an H100 or H200; this GPU is {gpu})"
        lines.append(f"- {model} epoch on CUDA: {best.seconds:.2f} s with acceleration {best.acceleration}, "
                     f"loss {best.loss} (target: under {bound:g} s) {verdict}")
    return "\n".join(lines)
