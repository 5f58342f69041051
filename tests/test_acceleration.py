"""The torch speed-ups (torch_impl.acceleration): flags, errors, and what they do to training."""
import numpy as np
import pytest
import torch
from helpers import golden_images, load_golden
from torch_helpers import CUDA_SKIP

import numpy_impl.networks as numpy_nets
import torch_impl.networks as torch_nets
from experiments.__main__ import main as experiments_main
from parity import registry, runner
from parity.convert import numpy_to_torch
from parity.records import assert_close
from torch_impl.acceleration import Acceleration
from torch_impl.devices import exact_mode
from torch_impl.trainer import Trainer


def real_images():
    g = load_golden("optimizers_mlp")
    x = golden_images(g, flatten=False).astype(np.float32)
    return x[:160], g["t"][:160], x[160:224], g["t"][160:224]


def train(acceleration, device="cpu", dtype=torch.float32):
    net = numpy_to_torch(numpy_nets.SimpleConvNet(hidden_size=20, rng=np.random.default_rng(0)),
                         torch_nets.SimpleConvNet(hidden_size=20, dtype=dtype, device=device))
    trainer = Trainer(net, *real_images(), epochs=4, mini_batch_size=16, optimizer="Adam",
                      optimizer_param={"lr": 0.002}, verbose=False, seed=0, device=device,
                      acceleration=acceleration)
    trainer.train()
    return np.array(trainer.train_loss_list)


def test_parse_and_describe():
    assert Acceleration.parse("compile, bf16") == Acceleration(compile=True, bf16=True)
    assert Acceleration.parse("cuda-graphs") == Acceleration(cuda_graphs=True)
    assert Acceleration.parse(None) == Acceleration.parse("none") == Acceleration()
    assert str(Acceleration(compile=True, cuda_graphs=True)) == "compile+cuda_graphs"
    assert str(Acceleration()) == "none"
    with pytest.raises(ValueError, match=r"unknown acceleration \['turbo'\]"):
        Acceleration.parse("compile,turbo")


def test_flags_that_cannot_run_say_why():
    with pytest.raises(ValueError, match="cuda_graphs needs a CUDA device; got device 'cpu'"):
        Acceleration(cuda_graphs=True).check("cpu", torch.float32)
    with pytest.raises(ValueError, match="bf16 autocast runs a float32 network"):
        Acceleration(bf16=True).check("cpu", torch.float64)
    with pytest.raises(ValueError, match="cuda_graphs needs a CUDA device"):
        train("cuda_graphs")


def test_bf16_changes_the_loss_curve_only_within_its_tolerance():
    plain, bf16 = train(None), train("bf16")
    assert not np.array_equal(bf16, plain)  # autocast did run
    assert_close(bf16, plain, "bf16 trajectory", "loss curve", dtype="float32")


def test_experiments_cli_rejects_acceleration_it_cannot_use(capsys):
    for argv, message in [(["--acceleration", "bf16"], "applies to --backend torch; got --backend numpy"),
                          (["--backend", "torch", "--acceleration", "cuda_graphs", "--device", "cpu"],
                           "cuda_graphs needs a CUDA device"),
                          (["--backend", "torch", "--acceleration", "bf16", "--dtype", "float64"],
                           "bf16 autocast runs a float32 network")]:
        with pytest.raises(SystemExit):
            experiments_main(["run", "train_convnet", "--quick", *argv])
        assert message in capsys.readouterr().err


def test_parity_runs_the_cuda_only_twins_only_on_cuda():
    twins = registry.select(["*cuda_graphs*"])
    assert len(twins) == 2
    assert runner.jobs(twins, devices=["cpu"]) == []
    assert runner.not_run(twins, devices=["cpu"]) == twins
    assert {device for _, _, device in runner.jobs(twins, devices=["cpu", "cuda"])} == {"cuda"}


@CUDA_SKIP
@pytest.mark.cuda
@pytest.mark.parametrize("acceleration", ["cuda_graphs", "compile,cuda_graphs", "bf16,cuda_graphs"])
def test_cuda_graphs_train_as_the_plain_step_does(acceleration):
    with exact_mode():
        plain, graphed = train(None, "cuda"), train(acceleration, "cuda")
    assert_close(graphed, plain, "bf16 trajectory" if "bf16" in acceleration else "trajectory", "loss curve",
                 dtype="float32")
