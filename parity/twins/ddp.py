"""Twins of data-parallel training: a trajectory trained by torch_impl's Trainer on 2 ranks (gloo, CPU, spawned
here, no torchrun) against the same trajectory in one torch process and in NumPy (same weights, same global
batches, same dropout masks). Each rank trains on its half of every batch; the average of the ranks' gradients,
batch norm over the whole batch and the whole batch's dropout masks (torch_impl.distributed) make the step the
one-process step, up to the order of the sums.

`planted` breaks one of them, for the tests that prove the twins catch it: 'a rank skips the gradient average'
(rank 1 contributes zeros to the average), 'batch norm without sync' (each rank normalises over its half).
"""
from dataclasses import dataclass
from typing import ClassVar

import torch

from torch_impl.distributed import rank_and_size, run_on_ranks
from torch_impl.trainer import Trainer as TorchTrainer

from ..convert import book_arrays, copy_book_arrays
from ..records import compare, scales
from ..sources import TwinSources, source_of
from .networks import SPECS, TrajectoryTwin

TORCH_DTYPES = {"float64": torch.float64, "float32": torch.float32}
PLANTED = ("a rank skips the gradient average", "batch norm without sync")


@dataclass
class DdpTwin:
    name: str
    trajectory: TrajectoryTwin
    ranks: int = 2
    planted: str | None = None
    dtypes: tuple = ("float64", "float32")
    devices: tuple = ("cpu",)
    spawns_processes: ClassVar[bool] = True  # python -m parity runs it with --distributed (it takes ~25 s)

    def sources(self):
        return TwinSources(self.trajectory.sources().numpy,
                           f"the same, on {self.ranks} ranks: torch_impl.trainer.Trainer under a gloo process group, "
                           "with torch_impl.distributed's CrossRankBatchNorm and sharded BookDropout\n\n"
                           + source_of(self.trajectory.spec.torch_class))

    def run(self, dtype, device, seed=0):
        initial, _, numpy_trainer, one_process = self.trajectory.train_both(dtype, device, seed)
        ranks = run_on_ranks(train_on_rank, self.ranks, self.trajectory, dtype, initial, seed, self.planted)
        expected = {"torch": run_summary(one_process), "numpy": {
            "train_loss_list": numpy_trainer.train_loss_list, "train_acc_list": numpy_trainer.train_acc_list,
            "test_acc_list": numpy_trainer.test_acc_list, "params": numpy_trainer.network.params}}
        records = []
        for side, reference in expected.items():
            for name in ("train_loss_list", "train_acc_list", "test_acc_list"):
                records.append(compare(self.name, f"{self.ranks} ranks vs {side}:{name}", "trajectory", ranks[name],
                                       reference[name], dtype, device))
            records += [compare(self.name, f"{self.ranks} ranks vs {side}:final {key}", "trajectory",
                                ranks["params"][key], reference["params"][key], dtype, device, scale)
                        for key, scale in scales(reference["params"]).items()]
        return records


def run_summary(trainer):
    """What a Trainer's run gives to compare: its curves and its final weights under the book's names."""
    return {"train_loss_list": list(trainer.train_loss_list), "train_acc_list": list(trainer.train_acc_list),
            "test_acc_list": list(trainer.test_acc_list),
            "params": {key: value for key, value in book_arrays(trainer.network).items()
                       if not key.startswith("running_")}}


def train_on_rank(trajectory, dtype, initial, seed, planted):
    """One rank's training (run_on_ranks): the one-process run's initial params (book names), the same seeds."""
    import torch_impl.trainer

    spec = trajectory.spec
    torch_net = copy_book_arrays(initial, spec.torch_class(*spec.args, dtype=TORCH_DTYPES[dtype], **spec.kwargs))
    if planted == "batch norm without sync":
        torch_impl.trainer.synchronise_batch_norm = lambda network, device: network
    torch.manual_seed(seed)
    trainer = TorchTrainer(torch_net, *trajectory.data(dtype), device="cpu", **trajectory.settings(seed))
    if planted == "a rank skips the gradient average":
        trainer.forward.register_comm_hook(None, rank_one_skips_the_average)
    trainer.train()
    return run_summary(trainer)


def rank_one_skips_the_average(state, bucket):
    """A planted error: rank 1 sends zeros instead of its gradients, so the average is half of rank 0's."""
    rank, ranks = rank_and_size()
    gradients = bucket.buffer() * (0.0 if rank == 1 else 1.0 / ranks)
    return torch.distributed.all_reduce(gradients, async_op=True).get_future().then(lambda future: future.value()[0])


# network spec: (optimizer, hyper-parameters, batch size, training images, initial bias). The batch-norm network
# trains with SGD-family optimizers as its trajectory twin does; DeepConvNet keeps its dropout, and trains at the
# small learning rate and biases of 0.1 that keep its trajectory well conditioned in float32 (networks.py).
DDP_TRAJECTORIES = {
    "SimpleConvNet": ("Adam", {"lr": 0.002}, 16, 128, None),
    "MultiLayerNetExtend[batchnorm]": ("Momentum", {"lr": 0.02}, 32, 256, None),
    "DeepConvNet": ("SGD", {"lr": 0.0001}, 8, 64, 0.1),
}


def ddp_twins():
    return [DdpTwin(f"{name}[ddp,{optimizer}]",
                    TrajectoryTwin(f"{name}[ddp,{optimizer}]", SPECS[name], optimizer, hp, batch_size=batch,
                                   train_size=train, test_size=batch * 2, initial_bias=bias))
            for name, (optimizer, hp, batch, train, bias) in DDP_TRAJECTORIES.items()]

