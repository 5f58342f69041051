"""The book's Trainer: curves, optimizer names, reproducible batch order."""
import numpy as np
import pytest
from helpers import golden_images, load_golden

from dlfs_common.training import draw_batch_indices
from numpy_impl.networks import MultiLayerNet
from numpy_impl.trainer import Trainer


def real_split():
    g = load_golden("optimizers_mlp")
    x = golden_images(g, flatten=True)
    return x[:400], g["t"][:400], x[400:], g["t"][400:]


@pytest.mark.parametrize("optimizer", ["SGD", "momentum", "Nesterov", "adagrad", "rmsprop", "Adam"])
def test_trainer_learns_with_every_optimizer(optimizer):
    x_train, t_train, x_test, t_test = real_split()
    net = MultiLayerNet(784, [50], 10, rng=np.random.default_rng(0))
    lr = {"SGD": 0.1, "momentum": 0.05, "Nesterov": 0.05, "adagrad": 0.05, "rmsprop": 0.002, "Adam": 0.002}
    trainer = Trainer(net, x_train, t_train, x_test, t_test, epochs=4, mini_batch_size=50,
                      optimizer=optimizer, optimizer_param={"lr": lr[optimizer]}, verbose=False, seed=1)
    test_acc = trainer.train()
    assert trainer.max_iter == 32 and len(trainer.train_loss_list) == 32
    assert len(trainer.train_acc_list) == len(trainer.test_acc_list) == 4
    assert np.mean(trainer.train_loss_list[-8:]) < np.mean(trainer.train_loss_list[:4])
    assert trainer.train_acc_list[-1] > 0.5 and test_acc == net.accuracy(x_test, t_test)


def test_same_seed_same_run_and_batches_match_the_upfront_draw():
    x_train, t_train, x_test, t_test = real_split()
    runs = []
    for _ in range(2):
        net = MultiLayerNet(784, [20], 10, rng=np.random.default_rng(0))
        trainer = Trainer(net, x_train, t_train, x_test, t_test, epochs=1, mini_batch_size=40,
                          optimizer="adam", optimizer_param={"lr": 0.001}, verbose=False, seed=7)
        trainer.train()
        runs.append(trainer.train_loss_list)
    assert runs[0] == runs[1]
    rng = np.random.default_rng(7)
    lazily = np.array([rng.choice(400, 40) for _ in range(10)])
    np.testing.assert_array_equal(draw_batch_indices(np.random.default_rng(7), 400, 40, 10), lazily)


def test_progress_callback_and_evaluation_sample(capsys):
    x_train, t_train, x_test, t_test = real_split()
    seen = []
    trainer = Trainer(MultiLayerNet(784, [10], 10), x_train, t_train, x_test, t_test, epochs=1,
                      mini_batch_size=100, evaluate_sample_num_per_epoch=30, seed=0,
                      progress=lambda step, total, loss: seen.append((step, total)))
    trainer.train()
    assert seen == [(1, 4), (2, 4), (3, 4), (4, 4)]
    assert "epoch:1" in capsys.readouterr().out


def test_trainer_rejects_bad_arguments():
    x_train, t_train, x_test, t_test = real_split()
    net = MultiLayerNet(784, [10], 10)
    with pytest.raises(ValueError, match="unknown optimizer 'rmsprpo'"):
        Trainer(net, x_train, t_train, x_test, t_test, optimizer="rmsprpo")
    with pytest.raises(ValueError, match="x_train has 400 samples but t_train has 399"):
        Trainer(net, x_train, t_train[:-1], x_test, t_test)


def test_accuracy_is_measured_every_epoch_when_batches_do_not_divide_the_set():
    x_train, t_train, x_test, t_test = real_split()
    trainer = Trainer(MultiLayerNet(784, [10], 10), x_train, t_train, x_test, t_test, epochs=4,
                      mini_batch_size=128, verbose=False, seed=0)  # 400 / 128 = 3.125 steps per epoch
    trainer.train()
    assert trainer.max_iter == 12
    assert len(trainer.train_acc_list) == 4  # steps 0, 4, 7, 10; the book's `% 3.125 == 0` gives only step 0
