"""Bad input is refused with a message naming the argument, its value and what was expected, the
same on the NumPy and the torch side where both take it."""
import numpy as np
import pytest
import torch

import numpy_impl.optimizers as numpy_optimizers
import torch_impl.networks as torch_nets
from numpy_impl.layers import BatchNormalization, Convolution, Pooling
from torch_impl.optimizers import make_optimizer

BAD_HYPERPARAMETERS = [  # (optimizer, hyper-parameters, message)
    ("SGD", {"lr": -0.1}, "SGD: lr must be >= 0; got -0.1"),
    ("SGD", {"lr": float("nan")}, "SGD: lr must be >= 0; got nan"),
    ("Momentum", {"momentum": -0.5}, "Momentum: momentum must be >= 0; got -0.5"),
    ("Nesterov", {"lr": "fast"}, "Nesterov: lr must be a number >= 0; got 'fast'"),
    ("AdaGrad", {"lr": "0.1"}, "AdaGrad: lr must be a number >= 0; got '0.1'"),  # float() would take it
    ("Momentum", {"momentum": True}, "Momentum: momentum must be a number >= 0; got True"),
    ("RMSprop", {"decay_rate": 1.5}, r"RMSprop: decay_rate must be in \[0, 1\]; got 1.5"),
    ("Adam", {"beta1": 1.0}, r"Adam: beta1 must be in \[0, 1\); got 1.0"),
    ("Adam", {"beta2": -0.1}, r"Adam: beta2 must be in \[0, 1\); got -0.1"),
    ("AdaGrad", {"lr": float("inf")}, "AdaGrad: lr must be >= 0; got inf"),
]


@pytest.mark.parametrize("name, hyperparameters, message", BAD_HYPERPARAMETERS)
def test_out_of_range_hyperparameters_are_refused_on_both_sides(name, hyperparameters, message):
    with pytest.raises(ValueError, match=message):
        numpy_optimizers.make_optimizer(name, **hyperparameters)
    with pytest.raises(ValueError, match=message):
        make_optimizer(name, torch_nets.TwoLayerNet(4, 3, 2), **hyperparameters)


def test_edge_hyperparameters_are_accepted():
    numpy_optimizers.make_optimizer("Momentum", lr=0.0, momentum=0.0)
    numpy_optimizers.make_optimizer("Adam", beta1=0.0, beta2=0.0)
    numpy_optimizers.make_optimizer("RMSprop", decay_rate=1.0)


@pytest.mark.parametrize("name", sorted(numpy_optimizers.OPTIMIZERS))
def test_gradients_must_match_the_parameters(name):
    params = {"W": np.ones((2, 3)), "b": np.zeros(3)}
    optimizer = numpy_optimizers.make_optimizer(name)
    with pytest.raises(ValueError, match=r"grads\['W'\] has shape \(1, 3\); its parameter has shape \(2, 3\)"):
        optimizer.update(params, {"W": np.ones((1, 3)), "b": np.zeros(3)})
    with pytest.raises(ValueError, match=r"missing \['b'\], unexpected \['c'\]"):
        optimizer.update(params, {"W": np.ones((2, 3)), "c": np.zeros(3)})
    np.testing.assert_array_equal(params["W"], 1.0)  # nothing was changed
    optimizer.update(params, {"W": np.ones((2, 3)), "b": np.zeros(3)})
    assert not np.array_equal(params["W"], 1.0)


def diverging_run(trainer_class, network, **kwargs):
    """A run whose loss turns nan at the first step whose batch holds an image of infinities; returns
    the trainer and that step, found from the batch order both Trainers draw. The image is spoiled after the
    Trainer was built, which refuses such data (a test of its own); a loss can turn nan without it."""
    from dlfs_common.training import draw_batch_indices
    batches = draw_batch_indices(np.random.default_rng(0), 40, 10, 12)
    poisoned = next(i for i in range(40) if i not in batches[:2])
    first = 1 + next(step for step, rows in enumerate(batches) if poisoned in rows)
    rng = np.random.default_rng(0)
    x, t = rng.random((40, 6)), rng.integers(0, 3, 40)
    trainer = trainer_class(network, x, t, x[20:30], t[20:30], epochs=3, mini_batch_size=10, optimizer="SGD",
                            optimizer_param={"lr": 0.1}, verbose=False, seed=0, **kwargs)
    trainer.x_train[poisoned] = float("inf")
    return trainer, first


@pytest.mark.filterwarnings("ignore:invalid value:RuntimeWarning", "ignore:overflow:RuntimeWarning")
@pytest.mark.parametrize("side", ["numpy", "torch"])
def test_a_non_finite_loss_stops_training_with_its_step_unless_asked_to_go_on(side):
    from dlfs_common.training import TrainingDiverged
    from numpy_impl.networks import MultiLayerNet
    from numpy_impl.trainer import Trainer as NumpyTrainer
    from torch_impl.trainer import Trainer as TorchTrainer

    def run(**kwargs):
        if side == "numpy":
            return diverging_run(NumpyTrainer, MultiLayerNet(6, [8], 3, rng=np.random.default_rng(1)), **kwargs)
        return diverging_run(TorchTrainer, torch_nets.MultiLayerNet(6, [8], 3), device="cpu", **kwargs)
    going_on, first = run(allow_divergence=True)
    going_on.train()
    losses = np.array(going_on.train_loss_list)
    assert first > 2 and len(losses) == 12
    assert np.isfinite(losses[:first - 1]).all() and np.isnan(losses[first - 1])
    stopped, _ = run()
    with pytest.raises(TrainingDiverged, match=f"training diverged at step {first}: the loss is nan") as error:
        stopped.train()
    assert error.value.step == first


@pytest.mark.parametrize("make, message", [
    (lambda: Convolution(np.ones((2, 1, 3, 3)), np.zeros(3)),
     r"b must hold one bias per filter, shape \(2,\); got shape \(3,\)"),
    (lambda: Convolution(np.ones((2, 3, 3)), np.zeros(2)),
     r"W must be 4-D \(FN, C, FH, FW\); got shape \(2, 3, 3\)"),
    (lambda: Convolution(np.ones((2, 1, 3, 3)), np.zeros(2), stride=1.5),
     "Convolution: stride must be an integer >= 1; got 1.5"),
    (lambda: Convolution(np.ones((2, 1, 3, 3)), np.zeros(2), pad=-1),
     "Convolution: pad must be an integer >= 0; got -1"),
    (lambda: Pooling(0, 2), "Pooling: pool_h must be an integer >= 1; got 0"),
    (lambda: Pooling(2, 2, stride=True),
     "Pooling: stride must be an integer >= 1; got True"),
    (lambda: BatchNormalization(np.ones(3), np.zeros(4)),
     r"gamma and beta must be 1-D and alike; got shapes \(3,\) and \(4,\)"),
])
def test_layers_refuse_bad_sizes_and_shapes(make, message):
    with pytest.raises(ValueError, match=message):
        make()


def test_a_scalar_convolution_bias_is_one_bias_per_filter():
    conv = Convolution(np.ones((2, 1, 3, 3)), 0.5)
    assert conv.forward(np.zeros((1, 1, 3, 3))).ravel().tolist() == [0.5, 0.5]


def test_batch_norm_training_on_a_single_sample_is_refused_on_both_sides():
    layer = BatchNormalization(np.ones(3), np.zeros(3))
    with pytest.raises(ValueError, match=r"needs more than one value per feature, as torch does; got input of shape"):
        layer.forward(np.ones((1, 3)), train_flg=True)
    layer.forward(np.ones((1, 3)), train_flg=False)  # evaluation uses the running statistics
    with pytest.raises(ValueError, match="Expected more than 1 value per channel when training"):
        torch.nn.BatchNorm1d(3).train()(torch.ones(1, 3))


def test_one_hot_labels_must_be_one_hot():
    from numpy_impl.layers import SoftmaxWithLoss
    scores = np.zeros((3, 4))
    for labels, row in [(np.array([[1, 0, 0, 0], [0, 1, 1, 0], [0, 0, 0, 1]]), 1),
                        (np.array([[1, 0, 0, 0], [0, 1, 0, 0], [0, 0, 0, 0.5]]), 2)]:
        with pytest.raises(ValueError, match=f"one 1 per row and 0 elsewhere; row {row} is"):
            SoftmaxWithLoss().forward(scores, labels)
    SoftmaxWithLoss().forward(scores, np.eye(4)[[0, 2, 3]])
