"""Data-parallel training over processes launched by torchrun: the process group, and the pieces that make N ranks
compute what one process computes.

Every rank draws the same global batches (the Trainer's batch order is seeded as in one process) and takes its
equal share of each; DistributedDataParallel averages the gradients, so the step is the one-process step on the
whole batch. Batch norm normalises with the statistics of the whole batch (nn.SyncBatchNorm on CUDA;
CrossRankBatchNorm, below, on the CPU, where SyncBatchNorm does not run), and dropout draws the whole batch's mask
on every rank and keeps its share of it, so that the masks are the one-process masks.
"""
import os
import time

import torch
import torch.distributed as dist
import torch.nn.functional as F
from torch import nn

TORCHRUN_VARIABLES = ("RANK", "WORLD_SIZE", "LOCAL_RANK", "MASTER_ADDR", "MASTER_PORT")


def launched_by_torchrun() -> bool:
    return all(name in os.environ for name in TORCHRUN_VARIABLES)


def start_from_environment(device: str = "auto") -> torch.device:
    """Under torchrun: join the process group once (NCCL for CUDA, gloo for the CPU) and return this rank's device,
    cuda:LOCAL_RANK or the CPU. `device` is 'auto', 'cpu' or 'cuda'."""
    if not launched_by_torchrun():
        raise RuntimeError(f"not launched by torchrun: {', '.join(TORCHRUN_VARIABLES)} are not all set")
    use_cuda = device == "cuda" or (device == "auto" and torch.cuda.is_available())
    if use_cuda:
        if not torch.cuda.is_available():
            raise RuntimeError("--device cuda was asked for, but no CUDA device is available")
        local_rank = int(os.environ["LOCAL_RANK"])
        if local_rank >= torch.cuda.device_count():
            raise RuntimeError(f"rank {local_rank} of this machine has no GPU: {torch.cuda.device_count()} here")
        torch.cuda.set_device(local_rank)
    if not dist.is_initialized():
        dist.init_process_group("nccl" if use_cuda else "gloo", store=attempt_store(),
                                rank=int(os.environ["RANK"]), world_size=int(os.environ["WORLD_SIZE"]))
    return torch.device(f"cuda:{os.environ['LOCAL_RANK']}") if use_cuda else torch.device("cpu")


def attempt_store() -> dist.Store:
    """The store of torchrun's rendezvous, its keys prefixed by the restart count (TORCHELASTIC_RESTART_COUNT).

    After `--max-restarts` brings a group back, its ranks find the addresses they publish for one another in
    the same store as the failed group's: without a prefix of its own, a rank can read a dead rank's address
    and fail to connect ("Gloo connectFullMesh failed ... Connection refused"; measured: 3 of 6 restarts of a
    2-rank run on the CPU). The store is torchrun's (its agent's where it serves one, else rank 0's)."""
    rank, world_size = int(os.environ["RANK"]), int(os.environ["WORLD_SIZE"])
    agent_serves = os.environ.get("TORCHELASTIC_USE_AGENT_STORE") == str(True)
    store = dist.TCPStore(os.environ["MASTER_ADDR"], int(os.environ["MASTER_PORT"]), world_size,
                          is_master=not agent_serves and rank == 0, multi_tenant=not agent_serves)
    return dist.PrefixStore(f"dlfs-twins/attempt-{os.environ.get('TORCHELASTIC_RESTART_COUNT', '0')}/", store)


def rank_and_size() -> tuple[int, int]:
    """(this rank, the number of ranks): (0, 1) outside a process group."""
    if dist.is_available() and dist.is_initialized():
        return dist.get_rank(), dist.get_world_size()
    return 0, 1


def is_main_process() -> bool:
    """Rank 0, the one that writes outputs and shows progress (or the only process)."""
    return rank_and_size()[0] == 0


def share_of_batch(batch_size: int, rank: int, size: int) -> slice:
    """The rows of a global batch that `rank` of `size` trains on; the batch must split evenly."""
    if batch_size % size:
        raise ValueError(f"mini_batch_size {batch_size} does not split evenly over {size} ranks; choose a batch size "
                         f"that is a multiple of {size}, or another number of ranks")
    share = batch_size // size
    return slice(rank * share, (rank + 1) * share)


def share_of_set(count: int, rank: int, size: int) -> slice:
    """The rows of an evaluation set of `count` that `rank` of `size` scores (shares differ by at most one)."""
    return slice(rank * count // size, (rank + 1) * count // size)


class SumOverRanks(torch.autograd.Function):
    """The sum of a tensor over all ranks; its backward sums the incoming gradients over all ranks, since every
    rank's loss depends on the sum."""

    @staticmethod
    def forward(ctx, tensor):
        total = tensor.clone()
        dist.all_reduce(total)
        return total

    @staticmethod
    def backward(ctx, grad):
        total = grad.clone()
        dist.all_reduce(total)
        return total


class CrossRankBatchNorm(nn.modules.batchnorm._BatchNorm):
    """Batch norm over the whole batch of all ranks, for the CPU (nn.SyncBatchNorm runs on accelerators only).

    Training: the mean and the (biased) variance of every feature over the rows of all ranks, each a sum reduced
    across ranks by SumOverRanks (whose backward sums the gradients of all ranks, as SyncBatchNorm's does); the
    running statistics are updated as nn.BatchNorm1d/2d update them on the whole
    batch (the unbiased variance), or as BookBatchNorm does (the biased one) with `biased_running_var`.
    Evaluation: the running statistics, as any batch norm.
    """

    biased_running_var = False

    def _check_input_dim(self, x):
        if x.dim() not in (2, 4):
            raise ValueError(f"CrossRankBatchNorm expects 2-D or 4-D input; got {x.dim()}-D")

    def forward(self, x):
        self._check_input_dim(x)
        if not self.training:
            return F.batch_norm(x, self.running_mean, self.running_var, self.weight, self.bias, False, 0.0, self.eps)
        dims = [0] + list(range(2, x.dim()))
        shape = [1, -1] + [1] * (x.dim() - 2)
        rows = torch.tensor([x.numel() // x.shape[1]], dtype=x.dtype, device=x.device)
        dist.all_reduce(rows)
        mean = SumOverRanks.apply(x.sum(dims)) / rows
        centered = x - mean.view(shape)
        variance = SumOverRanks.apply((centered * centered).sum(dims)) / rows
        with torch.no_grad():
            self.running_mean.mul_(1 - self.momentum).add_(self.momentum * mean)
            added = variance if self.biased_running_var else variance * rows / (rows - 1)
            self.running_var.mul_(1 - self.momentum).add_(self.momentum * added)
            self.num_batches_tracked.add_(1)
        normalised = centered / torch.sqrt(variance.view(shape) + self.eps)
        return normalised * self.weight.view(shape) + self.bias.view(shape)


def synchronise_batch_norm(network: nn.Module, device: torch.device) -> nn.Module:
    """Every batch norm of `network` made to normalise over all ranks: nn.SyncBatchNorm on CUDA,
    CrossRankBatchNorm on the CPU, with the same parameters and running statistics (and a BookBatchNorm's
    biased update)."""
    from .layers import BookBatchNorm

    if device.type == "cuda":
        return nn.SyncBatchNorm.convert_sync_batchnorm(network)
    for name, module in list(network.named_children()):
        if isinstance(module, nn.modules.batchnorm._BatchNorm):
            replacement = CrossRankBatchNorm(module.num_features, module.eps, module.momentum, module.affine,
                                             module.track_running_stats, device=device, dtype=module.weight.dtype)
            replacement.load_state_dict(module.state_dict())
            replacement.biased_running_var = isinstance(module, BookBatchNorm)
            setattr(network, name, replacement)
        else:
            synchronise_batch_norm(module, device)
    return network


def shard_dropout(network: nn.Module, rank: int, size: int) -> None:
    """Make every BookDropout of `network` draw the whole batch's mask and keep this rank's rows of it."""
    from .layers import BookDropout

    for module in network.modules():
        if isinstance(module, BookDropout):
            module.shard = (rank, size)


def run_on_ranks(function, ranks: int, *args, timeout: float = 600.0, cuda: bool = False):
    """Run function(*args) in `ranks` spawned processes joined in one process group, as torchrun would start them
    (gloo on the CPU; with cuda=True, NCCL and GPU `rank` for each rank); return rank 0's result. A rank that
    raises (its traceback is in the RuntimeError) or does not finish within `timeout` seconds fails the call, and
    every rank is stopped. `function` must be importable by name (spawn pickles it)."""
    import multiprocessing
    import pickle
    import tempfile
    from pathlib import Path

    spawn = multiprocessing.get_context("spawn")  # a fresh interpreter per rank, as torchrun gives
    with tempfile.TemporaryDirectory(prefix="dlfs-ranks-") as folder:
        folder = Path(folder)
        processes = [spawn.Process(target=_run_rank, args=(rank, ranks, folder, function, args, cuda))
                     for rank in range(ranks)]
        for process in processes:
            process.start()
        deadline = time.monotonic() + timeout
        # a rank that fails leaves the others waiting in a collective: stop them all as soon as one has failed
        while (any(process.is_alive() for process in processes) and time.monotonic() < deadline
               and not any(folder.glob("error-rank-*.txt"))):
            time.sleep(0.05)
        for process in processes:
            if process.is_alive():
                process.terminate()
                process.join()
        errors = sorted(folder.glob("error-rank-*.txt"))
        if errors:
            raise RuntimeError("\n".join(path.read_text() for path in errors))
        # a rank whose function returned has done its part, whatever its exit code: tearing the process group down
        # can fail in a rank whose peer has already gone, after every result is in
        unfinished = [rank for rank in range(ranks) if not (folder / f"done-rank-{rank}").exists()]
        if unfinished:
            codes = {rank: processes[rank].exitcode for rank in unfinished}
            why = "timed out" if time.monotonic() >= deadline else "stopped without a Python error"
            raise RuntimeError(f"ranks {unfinished} of {ranks} did not finish ({why}; exit codes {codes}, "
                               f"timeout {timeout:.0f} s)")
        return pickle.loads((folder / "result.pickle").read_bytes())


def _run_rank(rank, ranks, folder, function, args, cuda):
    import pickle
    import traceback

    try:
        if cuda:
            torch.cuda.set_device(rank)
        dist.init_process_group("nccl" if cuda else "gloo", init_method=f"file://{folder / 'rendezvous'}", rank=rank,
                                world_size=ranks)
        result = function(*args)
        if rank == 0:
            (folder / "result.pickle").write_bytes(pickle.dumps(result))
        (folder / f"done-rank-{rank}").touch()
    except BaseException:
        (folder / f"error-rank-{rank}.txt").write_text(f"rank {rank} of {ranks}:\n{traceback.format_exc()}")
        raise
    finally:
        if dist.is_initialized():
            dist.destroy_process_group()
