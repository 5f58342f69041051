"""The torch Trainer: same batches and curves as the NumPy trainer, checkpoints, devices."""
import numpy as np
import pytest
import torch
from helpers import golden_images, load_golden
from torch_helpers import set_seed, twin

import numpy_impl.networks as numpy_nets
import torch_impl.networks as torch_nets
from numpy_impl.trainer import Trainer as NumpyTrainer
from parity.records import assert_close
from torch_impl.trainer import Trainer


def real_split():
    g = load_golden("optimizers_mlp")
    x = golden_images(g, flatten=True)
    return x[:400], g["t"][:400], x[400:], g["t"][400:]


def test_loss_of_the_same_forward_is_the_loss_before_each_update():
    data = real_split()
    numpy_net = numpy_nets.MultiLayerNet(784, [40, 20], 10, weight_decay_lambda=0.01, rng=np.random.default_rng(0))
    net = twin(numpy_net, torch_nets.MultiLayerNet, 784, [40, 20], 10, weight_decay_lambda=0.01)
    settings = dict(epochs=1, mini_batch_size=50, optimizer="Momentum", optimizer_param={"lr": 0.05},
                    verbose=False, seed=3)
    numpy_trainer = NumpyTrainer(numpy_net, *data, **settings)
    trainer = Trainer(net, *data, device="cpu", loss_after_update=False, **settings)
    before_update = []
    for batch in [trainer.batch_rows(step).numpy() for step in range(trainer.max_iter)]:
        before_update.append(numpy_net.loss(data[0][batch], data[1][batch]))
        numpy_trainer.train_step()
    trainer.train()
    assert_close(trainer.train_loss_list, before_update, "book loss eps", "losses")
    after_update = np.array(numpy_trainer.train_loss_list)
    assert np.all(after_update < np.array(before_update))  # each step made progress on its batch, so the curves differ


@pytest.mark.parametrize("make_network, loss_mode", [
    (lambda: torch_nets.SimpleConvNet(hidden_size=10), "train"),  # no dropout or batch norm: either mode is the same
    (lambda: torch_nets.MultiLayerNetExtend(784, [30], 10, use_dropout=True), "eval"),  # the book's evaluation mode
    (lambda: torch_nets.DeepConvNet(), "train"),  # the book takes DeepConvNet's loss in training mode
])
def test_the_loss_after_the_update_runs_in_the_mode_that_gives_the_book_loss(make_network, loss_mode):
    network = make_network()
    x_train, t_train, x_test, t_test = real_split()
    if len(network.input_shape) == 3:
        x_train, x_test = (x.reshape(len(x), 1, 28, 28) for x in (x_train, x_test))
    modes = []
    network.register_forward_hook(lambda module, args, out: modes.append((torch.is_grad_enabled(), module.training)))
    trainer = Trainer(network, x_train, t_train, x_test, t_test, epochs=1, mini_batch_size=100, verbose=False,
                      device="cpu", evaluate_sample_num_per_epoch=10)
    trainer.train_step()
    no_grad_forwards = [training for grad_enabled, training in modes if not grad_enabled]
    assert no_grad_forwards[0] == (loss_mode == "train")  # the loss's forward; the epoch's accuracies follow


def test_checkpoint_resume_equals_an_uninterrupted_run(tmp_path):
    data = real_split()
    settings = dict(epochs=2, mini_batch_size=40, optimizer="Adam", optimizer_param={"lr": 0.002},
                    verbose=False, seed=5, device="cpu")

    def fresh_trainer():
        set_seed(0)
        return Trainer(torch_nets.MultiLayerNetExtend(784, [30], 10, use_batchnorm=True), *data, **settings)

    straight = fresh_trainer()
    straight.train()

    first = fresh_trainer()
    for _ in range(7):
        first.train_step()
    first.save_checkpoint(tmp_path / "ckpt.pt")
    resumed = fresh_trainer()
    resumed.load_checkpoint(tmp_path / "ckpt.pt")
    resumed.train()
    assert resumed.train_loss_list == straight.train_loss_list
    for a, b in zip(resumed.network.state_dict().values(), straight.network.state_dict().values()):
        assert torch.equal(a, b)
    assert [p.name for p in tmp_path.iterdir()] == ["ckpt.pt"]


def test_an_altered_or_truncated_checkpoint_is_refused(tmp_path):
    data = real_split()
    trainer = Trainer(torch_nets.TwoLayerNet(784, 10, 10), *data, epochs=1, mini_batch_size=50, verbose=False,
                      device="cpu")
    trainer.train_step()
    path = tmp_path / "ckpt.pt"
    trainer.save_checkpoint(path)
    good = path.read_bytes()
    fresh = Trainer(torch_nets.TwoLayerNet(784, 10, 10), *data, epochs=1, mini_batch_size=50, verbose=False,
                    device="cpu")
    before = {key: value.clone() for key, value in fresh.network.state_dict().items()}
    altered = bytearray(good)
    altered[-200] ^= 1
    for name, content, message in [("altered.pt", bytes(altered), "was altered or cut short"),
                                   ("truncated.pt", good[:-10], "was altered or cut short"),
                                   ("other.pt", b"not a checkpoint", "is not a checkpoint written by")]:
        (tmp_path / name).write_bytes(content)
        with pytest.raises(ValueError, match=message):
            fresh.load_checkpoint(tmp_path / name)
    assert all(torch.equal(before[key], value) for key, value in fresh.network.state_dict().items())
    fresh.load_checkpoint(path)
    assert fresh.current_iter == 1


def test_one_hot_labels_progress_and_float32(capsys):
    x_train, t_train, x_test, t_test = real_split()
    seen = []
    set_seed(1)
    trainer = Trainer(torch_nets.TwoLayerNet(784, 30, 10, weight_init_std=0.05), x_train.astype(np.float32),
                      np.eye(10)[t_train], x_test, t_test, epochs=1, mini_batch_size=100, optimizer="sgd",
                      optimizer_param={"lr": 0.1}, seed=0, device="cpu",
                      progress=lambda step, total, loss: seen.append((step, total, float(loss))))
    trainer.train()
    assert [s[:2] for s in seen] == [(1, 4), (2, 4), (3, 4), (4, 4)]
    assert [s[2] for s in seen] == trainer.train_loss_list  # the same numbers, not recomputed
    assert trainer.x_train.dtype == torch.float32
    assert "epoch:1" in capsys.readouterr().out


def test_bad_arguments():
    x_train, t_train, x_test, t_test = real_split()
    net = torch_nets.TwoLayerNet(784, 30, 10)
    with pytest.raises(ValueError, match=r"\[0, 10\)"):
        Trainer(net, x_train, t_train + 5, x_test, t_test, device="cpu")
    with pytest.raises(ValueError, match="x_test has 112 samples but t_test has 111"):
        Trainer(net, x_train, t_train, x_test, t_test[:-1], device="cpu")
    if not torch.cuda.is_available():
        with pytest.raises(ValueError, match="no CUDA device is available"):
            Trainer(net, x_train, t_train, x_test, t_test, device="cuda")
