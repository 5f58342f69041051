"""Resuming a run from a checkpoint ends where the uninterrupted run ends, bit for bit on the CPU: every
network of the book, with dropout and batch norm, on either backend."""
import numpy as np
import pytest
import torch

import numpy_impl.networks as numpy_nets
import torch_impl.networks as torch_nets
from numpy_impl.trainer import Trainer as NumpyTrainer
from torch_impl.trainer import Trainer as TorchTrainer

NETWORKS = {  # name: (constructor arguments, flat input)
    "TwoLayerNet": ((12, 8, 3), {}, True),
    "MultiLayerNet": ((12, [8, 6], 3), {"use_batchnorm": True, "weight_decay_lambda": 0.01}, True),
    "MultiLayerNetExtend": ((12, [8, 6], 3), {"use_dropout": True, "dropout_ration": 0.3, "use_batchnorm": True},
                            True),
    "SimpleConvNet": ((), {"input_dim": (1, 10, 10), "conv_param": {"filter_num": 3, "filter_size": 3, "pad": 0,
                                                                     "stride": 1},
                           "hidden_size": 8, "output_size": 3}, False),
    "DeepConvNet": ((), {"output_size": 3}, False),
}


def data(name):
    rng = np.random.default_rng(1)
    shape = (24, 1, 28, 28) if name == "DeepConvNet" else (24, 1, 10, 10) if not NETWORKS[name][2] else (24, 12)
    return rng.random(shape), rng.integers(0, 3, 24)


def trainer(side, name, seed, scramble=False):
    """A Trainer of `side` for network `name` (Adam, 3 epochs of 6 steps); scramble: every random generator the
    run draws from moved on first, as in a new process, so that only a checkpoint can bring them back."""
    args, kwargs, _ = NETWORKS[name]
    x, t = data(name)
    settings = dict(epochs=3, mini_batch_size=4, optimizer="Adam", optimizer_param={"lr": 0.01}, verbose=False,
                    seed=seed)
    if side == "numpy":
        rng = np.random.default_rng(0)
        network = getattr(numpy_nets, name)(*args, rng=rng, **kwargs)
        if scramble:
            rng.random(5)
            np.random.random(7)
        return NumpyTrainer(network, x, t, x[:8], t[:8], **settings)
    torch.manual_seed(0)
    network = getattr(torch_nets, name)(*args, **kwargs)
    if scramble:
        torch.rand(5)
        np.random.random(7)
    return TorchTrainer(network, x, t, x[:8], t[:8], device="cpu", **settings)


def weights(side, network):
    if side == "numpy":
        return {**network.params, **network.buffers()}
    return {key: value.numpy() for key, value in network.state_dict().items()}


def cases():
    """Every network seeded; drawing from NumPy's global state, as the book does, the one with dropout and batch
    norm in the quick suite and the others in the slow one."""
    for name in NETWORKS:
        yield pytest.param(name, 3, id=f"{name}-seeded")
        marks = () if name == "MultiLayerNetExtend" else pytest.mark.slow
        yield pytest.param(name, None, id=f"{name}-global state", marks=marks)


@pytest.mark.parametrize("side", ["numpy", "torch"])
@pytest.mark.parametrize("name, seed", list(cases()))
@pytest.mark.parametrize("stop", [7, 12], ids=["mid-epoch", "epoch end"])
def test_a_resumed_run_ends_where_the_uninterrupted_one_ends(side, name, seed, stop, tmp_path):
    np.random.seed(5)
    straight = trainer(side, name, seed)
    straight.train()

    np.random.seed(5)
    first = trainer(side, name, seed)
    while first.current_iter < stop:
        first.step()
    first.save_checkpoint(tmp_path / "run.ckpt")
    resumed = trainer(side, name, seed, scramble=True)
    resumed.load_checkpoint(tmp_path / "run.ckpt")
    assert resumed.train() == straight.finish()
    assert resumed.train_loss_list == straight.train_loss_list
    assert (resumed.train_acc_list, resumed.test_acc_list) == (straight.train_acc_list, straight.test_acc_list)
    expected = weights(side, straight.network)
    for key, value in weights(side, resumed.network).items():
        assert np.array_equal(value, expected[key]), key


@pytest.mark.parametrize("side", ["numpy", "torch"])
def test_a_checkpoint_of_other_settings_is_refused_naming_them(side, tmp_path):
    first = trainer(side, "TwoLayerNet", 3)
    first.step()
    first.save_checkpoint(tmp_path / "run.ckpt")
    other = trainer(side, "TwoLayerNet", 4)
    with pytest.raises(ValueError, match="it was written with seed=3, this one has 4; nothing was loaded"):
        other.load_checkpoint(tmp_path / "run.ckpt")
    assert other.current_iter == 0
    cut = tmp_path / "cut.ckpt"
    cut.write_bytes((tmp_path / "run.ckpt").read_bytes()[:-5])
    with pytest.raises(ValueError, match="was altered or cut short"):
        other.load_checkpoint(cut)
