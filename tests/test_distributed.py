"""Data-parallel training (torch_impl.distributed) with real processes: gloo ranks spawned here, and torchrun."""
import json
import subprocess
import sys
from dataclasses import replace

import numpy as np
import pytest
import torch

from parity import registry
from parity.convert import book_arrays
from parity.records import assert_all_close, assert_close
from parity.twins.ddp import PLANTED
from torch_impl.distributed import run_on_ranks, share_of_batch, share_of_set
from torch_impl.networks import MultiLayerNetExtend
from torch_impl.trainer import Trainer

QUICK_DDP_TWIN = "MultiLayerNetExtend[batchnorm][ddp,Momentum]"  # DDP and batch norm over ranks, in the default run


@pytest.mark.slow
@pytest.mark.parametrize("planted", PLANTED)
def test_the_ddp_twins_catch_a_planted_error(planted):
    (twin,) = registry.select([QUICK_DDP_TWIN])
    records = replace(twin, planted=planted).run("float64", "cpu")
    failing = {record.check.split(":")[1] for record in records if not record.passed}
    assert "train_loss_list" in failing, f"{planted}: the twin did not notice"


def test_a_global_batch_that_does_not_split_evenly_is_refused():
    assert share_of_batch(100, 1, 4) == slice(25, 50)
    with pytest.raises(ValueError, match="mini_batch_size 100 does not split evenly over 3 ranks"):
        share_of_batch(100, 0, 3)
    assert [share_of_set(10, rank, 3) for rank in range(3)] == [slice(0, 3), slice(3, 6), slice(6, 10)]


def checkpoint_run(path, steps=None, resume=False):
    """A MultiLayerNetExtend with batch norm trained for `steps` steps and saved to `path`, or (with `resume`)
    loaded from `path` and trained to the end, or (neither) trained without a break; losses and final weights."""
    rng = np.random.default_rng(0)
    x, t = rng.standard_normal((120, 12)), rng.integers(0, 4, 120)
    torch.manual_seed(0)
    net = MultiLayerNetExtend(12, [10, 10], 4, use_batchnorm=True, dtype=torch.float64)
    trainer = Trainer(net, x, t, x[:40], t[:40], epochs=3, mini_batch_size=20, optimizer="Adam",
                      optimizer_param={"lr": 0.01}, seed=0, verbose=False, device="cpu")
    if resume:
        trainer.load_checkpoint(path)
    elif steps is not None:
        trainer.max_iter = steps
    trainer.train()
    if steps is not None:
        trainer.save_checkpoint(path)  # every rank calls it; rank 0 writes
    return trainer.train_loss_list, book_arrays(trainer.network)


@pytest.mark.slow
@pytest.mark.parametrize("first, then", [(2, 1), (1, 2)], ids=["2 ranks then 1", "1 rank then 2"])
def test_a_checkpoint_written_on_some_ranks_resumes_on_others(first, then, tmp_path):
    def on(ranks, *args):
        return checkpoint_run(*args) if ranks == 1 else run_on_ranks(checkpoint_run, ranks, *args)
    on(first, tmp_path / "run.pt", 7)
    losses, weights = on(then, tmp_path / "run.pt", None, True)
    uninterrupted_losses, uninterrupted_weights = checkpoint_run(tmp_path / "unused.pt")
    assert len(losses) == len(uninterrupted_losses) == 18
    assert_close(losses, uninterrupted_losses, "trajectory", "losses")
    assert_all_close(weights, uninterrupted_weights, "trajectory")  # b1, b2 (under batch norm) at the net's scale


@pytest.mark.slow
def test_torchrun_trains_an_experiment_on_two_cpu_ranks_as_one_process_does(fashion_mnist, tmp_path):
    command = ["-m", "experiments", "run", "train_convnet", "--backend", "torch", "--device", "cpu", "--quick",
               "--no-progress"]
    torchrun = subprocess.run([sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node", "2",
                               *command, "--out", str(tmp_path / "ranks")], capture_output=True, text=True,
                              timeout=600)
    assert torchrun.returncode == 0, torchrun.stderr[-3000:]
    assert torchrun.stdout.count("== train_convnet") == 1  # rank 0 alone prints and writes
    one = subprocess.run([sys.executable, *command, "--out", str(tmp_path / "one")], capture_output=True, text=True,
                         timeout=600)
    assert one.returncode == 0, one.stderr[-3000:]
    ranks, single = (json.loads((tmp_path / folder / "metrics.json").read_text()) for folder in ("ranks", "one"))
    assert ranks["ranks"] == 2 and single["ranks"] == 1
    assert sorted(path.name for path in (tmp_path / "ranks").iterdir()) == sorted(
        path.name for path in (tmp_path / "one").iterdir())
    curves = [run["results"]["training"]["torch"] for run in (ranks, single)]
    assert_close(curves[0]["train_loss"], curves[1]["train_loss"], "trajectory", "loss curve", dtype="float32")
    assert curves[0]["final_test_acc"] == pytest.approx(curves[1]["final_test_acc"], abs=0.005)


def test_torchrun_refuses_what_it_cannot_share_out(monkeypatch, capsys):
    from experiments.__main__ import main
    monkeypatch.setenv("WORLD_SIZE", "2")
    assert main(["run", "train_convnet", "--backend", "numpy", "--quick"]) == 2
    assert "under torchrun, `run NAME --backend torch` only" in capsys.readouterr().err
    assert main(["run", "hyperparameter_optimization", "--backend", "torch", "--quick"]) == 2
    assert "use --workers and --storage instead of torchrun" in capsys.readouterr().err
    assert main(["run", "train_convnet", "--backend", "torch", "--quick"]) == 2  # the rest of torchrun's variables
    assert "WORLD_SIZE is set, but not the rest of torchrun's environment" in capsys.readouterr().err


def fails_on_rank_one():
    import torch.distributed as dist
    if dist.get_rank() == 1:
        raise ArithmeticError("planted on rank 1")
    dist.barrier()  # rank 0 waits for a peer that never comes: run_on_ranks must stop it


def test_a_rank_that_fails_stops_every_rank_and_its_traceback_is_reported():
    with pytest.raises(RuntimeError, match=r"(?s)rank 1 of 2:.*ArithmeticError: planted on rank 1"):
        run_on_ranks(fails_on_rank_one, 2, timeout=120)


def book_batch_norm_over_ranks(x):
    """On each rank: a BookBatchNorm made to normalise over all ranks, trained one step on this rank's rows of
    x; its running variance (the same on every rank)."""
    from torch_impl.distributed import rank_and_size, synchronise_batch_norm
    from torch_impl.layers import BookBatchNorm
    rank, ranks = rank_and_size()
    network = torch.nn.Sequential(BookBatchNorm(x.shape[1], eps=1e-6, momentum=0.1, dtype=torch.float64))
    synchronise_batch_norm(network, torch.device("cpu"))
    assert network[0].biased_running_var
    rows = len(x) // ranks
    network.train()
    network(x[rank * rows:(rank + 1) * rows])
    return network[0].running_var


def test_book_batch_norm_keeps_its_biased_running_variance_when_made_to_span_ranks():
    from torch_impl.distributed import CrossRankBatchNorm, synchronise_batch_norm
    network = MultiLayerNetExtend(6, [5], 3, use_batchnorm=True, dtype=torch.float64)
    stock = [module for module in synchronise_batch_norm(network, torch.device("cpu")).modules()
             if isinstance(module, CrossRankBatchNorm)]
    book = MultiLayerNetExtend(6, [5], 3, use_batchnorm=True, dtype=torch.float64).use_book_semantics()
    booked = [module for module in synchronise_batch_norm(book, torch.device("cpu")).modules()
              if isinstance(module, CrossRankBatchNorm)]
    assert [module.biased_running_var for module in stock + booked] == [False, True]


@pytest.mark.slow
def test_book_batch_norm_over_two_ranks_matches_one_process():
    from torch_impl.layers import BookBatchNorm
    x = torch.randn(8, 4, dtype=torch.float64, generator=torch.Generator().manual_seed(0)) * 3 + 1
    one = BookBatchNorm(4, eps=1e-6, momentum=0.1, dtype=torch.float64)
    one.train()
    one(x)
    assert_close(run_on_ranks(book_batch_norm_over_ranks, 2, x, timeout=120).numpy(), one.running_var.numpy(),
                 "state", "running variance over two ranks")
