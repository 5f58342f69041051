"""The misuse suite: what an adversarial user does, and the right answer or the one-line refusal each gets.

By category (docs/checking.md counts them): verdicts, numerics, files, edges, command line, side effects.
Each test fails when the check it names is removed; where both sides take the input, both are tried, and a
refusal that dlfs_common makes gives one message on both.
"""
import errno
import os
import signal
import stat
import tempfile

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from test_datasets import make_dataset

import numpy_impl.networks as numpy_nets
import parity
import torch_impl.networks as torch_nets
from dlfs_common import dataset_files
from dlfs_common.files import NotARegularFile, atomic_write
from numpy_impl import layers
from numpy_impl.datasets import load_mnist as numpy_load_mnist
from numpy_impl.gradient import numerical_gradient
from numpy_impl.trainer import Trainer as NumpyTrainer
from parity import registry, runner
from parity.__main__ import main as parity_main
from parity.conduct import conduct_records
from parity.learner import standing_in, twins_of
from parity.records import compare
from parity.twins.layers import LayerTwin
from parity.twins.optimizers import OptimizerTwin
from torch_impl.datasets import load_mnist as torch_load_mnist
from torch_impl.layers import BookDropout
from torch_impl.trainer import Trainer as TorchTrainer

SIDES = ("numpy", "torch")


def small_net(side, **kwargs):
    if side == "numpy":
        return numpy_nets.MultiLayerNet(6, [5], 3, rng=np.random.default_rng(0), **kwargs)
    return torch_nets.MultiLayerNet(6, [5], 3, **kwargs)


def small_trainer(side, x=None, t=None, x_test=None, t_test=None, **kwargs):
    """A Trainer of either side on 20 random samples of 6 features and 3 classes (kwargs override)."""
    rng = np.random.default_rng(0)
    x = rng.random((20, 6)) if x is None else x
    t = rng.integers(0, 3, len(x)) if t is None else t
    settings = dict(epochs=1, mini_batch_size=5, verbose=False, seed=0) | kwargs
    x_test, t_test = (x[:5] if x_test is None else x_test), (t[:5] if t_test is None else t_test)
    if side == "numpy":
        return NumpyTrainer(small_net("numpy"), x, t, x_test, t_test, **settings)
    return TorchTrainer(small_net("torch"), x, t, x_test, t_test, device="cpu", **settings)


def refusal(make):
    """The message of the ValueError that make() raises."""
    with pytest.raises(ValueError) as error:
        make()
    return str(error.value)


class WrongRelu:
    """A Relu that returns ones: any check that runs fails it."""

    def forward(self, x):
        self.mask = x <= 0
        return np.ones_like(x)

    def backward(self, dout):
        return dout


class InPlaceRelu:
    """Right values, but forward zeroes the caller's array and returns it."""

    def forward(self, x):
        self.mask = x <= 0
        x[self.mask] = 0
        return x

    def backward(self, dout):
        return dout * ~self.mask


class InPlaceBackwardRelu(layers.Relu):
    """The book's Relu as its common/layers.py writes it: backward changes dout in place, which the book's layers
    allow (numpy_impl's Relu returns a new array)."""

    def forward(self, x):
        self.mask = x <= 0
        out = x.copy()
        out[self.mask] = 0
        return out

    def backward(self, dout):
        dout[self.mask] = 0
        return dout


class FirstForwardSigmoid(layers.Sigmoid):
    """Keeps the output of its first forward only: backward after a second forward is wrong."""

    def forward(self, x):
        out = 1 / (1 + np.exp(-x))
        if self.out is None:
            self.out = out
        return out


class UnsummedAffine(layers.Affine):
    """db not summed over the batch: the shapes differ from torch's."""

    def backward(self, dout):
        dx = super().backward(dout)
        self.db = dout.copy()
        return dx


class RebindingSGD:
    """Right steps into new arrays: the caller's arrays (a network's layers hold them) never move."""

    def __init__(self, lr=0.01):
        self.lr = lr

    def update(self, params, grads):
        for key in params:
            params[key] = params[key] - self.lr * grads[key]


class ReferenceKeepingMomentum:
    """Keeps the first gradient itself as its velocity (and scales it in place), state by position."""

    def __init__(self, lr=0.01, momentum=0.9):
        self.lr, self.momentum, self.v = lr, momentum, None

    def update(self, params, grads):
        if self.v is None:
            self.v = [None] * len(params)
        for position, key in enumerate(params):
            if self.v[position] is None:
                self.v[position] = grads[key]
                self.v[position] *= -self.lr
            else:
                self.v[position] = self.momentum * self.v[position] - self.lr * grads[key]
            params[key] += self.v[position]


class TestVerdicts:
    def test_a_dtype_string_is_one_dtype_not_its_characters(self, capsys):
        assert parity.check(WrongRelu, "Relu", dtypes="float64") is False
        assert "0 checks" not in capsys.readouterr().out

    @pytest.mark.parametrize("dtypes", [(), ("float16",), 64, ["float64", "bfloat"]])
    def test_an_empty_or_unknown_dtype_selection_is_refused(self, dtypes):
        for call in (lambda: parity.check(WrongRelu, "Relu", dtypes=dtypes),
                     lambda: parity.run_twins("Relu", dtypes=dtypes)):
            assert "dtypes must" in refusal(call)

    def test_a_selection_that_runs_no_check_fails(self):
        message = refusal(lambda: parity.run_twins("SimpleConvNet[bf16]", dtypes="float64"))
        assert "nothing to check: 1 twin selected (SimpleConvNet[bf16])" in message
        assert "twin names or globs" in refusal(lambda: parity.run_twins())
        assert "device must be 'cpu' or 'cuda'" in refusal(lambda: parity.check(WrongRelu, "Relu", device="gpu"))

    def test_an_instance_or_nothing_in_place_of_a_class_is_refused(self, monkeypatch):
        monkeypatch.setattr(runner, "run_job", lambda *args: pytest.fail("a twin ran"))
        assert "pass Affine itself, not an instance of it" in refusal(
            lambda: parity.check(layers.Affine(np.zeros((2, 3)), np.zeros(3)), "Affine"))
        assert refusal(lambda: parity.check(None, "softmax")).endswith("with the book's arguments; got None")

    @pytest.mark.parametrize("argv, message", [
        (["--exclude", "*"], "left out every one of the"),
        (["--twin", "SimpleConvNet[bf16]", "--dtype", "float64"], "nothing to check"),
        (["--twin", "Relu", "--device", "cuda"], "no CUDA device"),
    ])
    def test_a_command_line_selection_of_nothing_exits_2(self, argv, message, capsys):
        if "cuda" in argv and torch.cuda.is_available():
            pytest.skip("CUDA is here")
        assert parity_main(argv) == 2
        assert message in capsys.readouterr().err

    def test_a_twin_that_returns_no_record_is_not_a_pass(self, monkeypatch, capsys):
        monkeypatch.setattr(runner, "run_jobs", lambda jobs, workers, done: [])
        assert parity_main(["--twin", "Relu", "--jobs", "1"]) == 2
        assert "returned no check" in capsys.readouterr().err

    def test_a_close_name_is_suggested(self):
        assert "did you mean 'Relu'?" in refusal(lambda: parity.check(WrongRelu, "ReLU"))

    def test_shapes_that_differ_are_named(self, capsys):
        assert not parity.check(UnsummedAffine, "Affine", dtypes="float64", only="Affine")
        assert "grad:b: the shapes differ: numpy (3, 4), torch (4,)" in capsys.readouterr().out

    def test_the_two_values_at_the_worst_index_are_given(self):
        record = compare("t", "forward", "forward", np.array([1.0, 2.5]), np.array([1.0, 2.0]), "float64", "cpu")
        assert (record.numpy_value, record.torch_value) == (2.5, 2.0)
        assert "at index [1] (numpy 2.5, torch 2)" in record.describe()

    @pytest.mark.parametrize("implementation, name, failing", [
        (InPlaceRelu, "Relu", {"conduct: forward and backward leave the input unchanged",
                               "conduct: forward returns new memory"}),
        (FirstForwardSigmoid, "Sigmoid", {"conduct: backward uses the last forward"}),
        (RebindingSGD, "SGD", {"conduct: updates the parameters in place"}),
        (ReferenceKeepingMomentum, "Momentum", {"conduct: leaves the gradients unchanged",
                                                "conduct: copies what it keeps of the gradients",
                                                "conduct: keys, not positions"}),
    ])
    def test_conduct_that_no_output_comparison_sees_fails(self, implementation, name, failing):
        with standing_in(name, implementation):
            records = conduct_records(twins_of(name, name)[0], "float64")
        assert {record.check for record in records if not record.passed} == failing

    def test_the_books_own_relu_and_every_numpy_impl_piece_pass_their_conduct(self, capsys):
        assert parity.check(InPlaceBackwardRelu, "Relu", dtypes="float64")
        twins = [twin for twin in registry.all_twins() if isinstance(twin, (LayerTwin, OptimizerTwin))]
        failed = [record.describe() for twin in twins for record in conduct_records(twin, "float64")
                  if not record.passed]
        assert failed == []


class TestNumerics:
    @pytest.mark.parametrize("point", [np.array([3, 4]), np.array([3.0, 4.0], dtype=np.float16), [3.0, 4.0]])
    def test_numerical_gradient_refuses_points_it_cannot_nudge(self, point):
        assert "float32 or float64 NumPy array" in refusal(lambda: numerical_gradient(lambda x: np.sum(x ** 2),
                                                                                      point))

    def test_numerical_gradient_refuses_a_read_only_point_and_a_step_that_is_no_step(self):
        point = np.array([3.0, 4.0])
        point.flags.writeable = False
        assert "x is read-only" in refusal(lambda: numerical_gradient(lambda x: np.sum(x ** 2), point))
        for h in (0, -1e-4, float("nan"), float("inf"), "1e-4"):
            assert "h must be a finite number above 0" in refusal(
                lambda h=h: numerical_gradient(lambda x: np.sum(x ** 2), np.array([3.0, 4.0]), h))

    def test_numerical_gradient_of_no_element_is_empty(self):
        assert numerical_gradient(lambda x: np.sum(x ** 2), np.zeros((0, 3))).shape == (0, 3)

    @pytest.mark.parametrize("loss, got", [(lambda x: x ** 2, "an array of shape (2,)"), (lambda x: None, "None")])
    def test_numerical_gradient_refuses_a_function_that_returns_no_number(self, loss, got):
        assert refusal(lambda: numerical_gradient(loss, np.array([3.0, 4.0]))).endswith(got)

    def test_numerical_gradient_restores_its_point_when_the_function_raises(self):
        weights, calls = np.array([[3.0, 4.0], [5.0, 6.0]]), []

        def loss(w):
            calls.append(1)
            if len(calls) == 3:  # the first element done, the second nudged
                raise FloatingPointError("the network blew up")
            return np.sum(w ** 2)
        with pytest.raises(FloatingPointError):
            numerical_gradient(loss, weights)
        np.testing.assert_array_equal(weights, [[3.0, 4.0], [5.0, 6.0]])

    def test_numerical_gradient_of_the_books_example(self):
        np.testing.assert_allclose(numerical_gradient(lambda x: np.sum(x ** 2), np.array([3.0, 4.0])), [6.0, 8.0])

    def test_the_exact_loss_is_finite_for_any_finite_scores(self):
        scores, labels = np.array([[1000.0, 0.0, 0.0], [0.0, -1000.0, 3.0]]), np.array([1, 1])
        expected = F.cross_entropy(torch.tensor(scores), torch.tensor(labels)).item()
        assert layers.SoftmaxWithLoss(log_eps=0).forward(scores, labels) == pytest.approx(expected, rel=1e-15)

    @pytest.mark.parametrize("log_eps", [-1e-7, float("nan"), "1e-7"])
    def test_a_bad_log_eps_is_refused(self, log_eps):
        assert "log_eps must be a finite number >= 0" in refusal(lambda: layers.SoftmaxWithLoss(log_eps))

    @pytest.mark.parametrize("split", ["x_train", "x_test"])
    def test_non_finite_data_are_reported_as_data_before_any_step(self, split):
        x = np.random.default_rng(0).random((20, 6))
        bad = x.copy()
        bad[7, 2] = np.nan
        data = {"x": bad} if split == "x_train" else {"x": x, "x_test": bad[5:10]}
        where = "[7, 2]" if split == "x_train" else "[2, 2]"
        messages = {refusal(lambda side=side: small_trainer(side, **data)) for side in SIDES}
        assert messages == {f"{split} holds nan at index {where}: the data must be finite numbers (a missing or "
                            "corrupt value?)"}

    @pytest.mark.parametrize("label", [3, -1])
    def test_accuracy_refuses_the_labels_loss_refuses(self, label):
        x, t = np.zeros((4, 6)), np.array([0, 1, label, 2])
        numpy_net, torch_net = small_net("numpy"), small_net("torch")
        messages = {refusal(lambda: numpy_net.accuracy(x, t)), refusal(lambda: numpy_net.loss(x, t)),
                    refusal(lambda: torch_net.accuracy(torch.zeros(4, 6), torch.tensor(t))),
                    refusal(lambda: torch_net.loss(torch.zeros(4, 6), torch.tensor(t)))}
        assert len(messages) == 1 and "labels t must lie in [0, 3)" in messages.pop()

    @pytest.mark.parametrize("argument, value, message", [
        ("weight_init_std", float("nan"), "unknown weight_init_std nan"),
        ("weight_init_std", -1, "unknown weight_init_std -1"),
        ("weight_decay_lambda", -1, "weight_decay_lambda must be a finite number >= 0; got -1"),
        ("weight_decay_lambda", float("nan"), "weight_decay_lambda must be a finite number >= 0; got nan"),
    ])
    def test_constructor_arguments_get_one_message_on_both_sides(self, argument, value, message):
        messages = {refusal(lambda side=side: small_net(side, **{argument: value})) for side in SIDES}
        assert len(messages) == 1 and message in messages.pop()

    @pytest.mark.parametrize("network", ["TwoLayerNet", "SimpleConvNet"])
    def test_a_fixed_scale_network_refuses_a_bad_scale_on_both_sides(self, network):
        args = (784, 10, 10) if network == "TwoLayerNet" else ()
        messages = {refusal(lambda module=module: getattr(module, network)(*args, weight_init_std=-0.01))
                    for module in (numpy_nets, torch_nets)}
        assert len(messages) == 1 and "unknown weight_init_std -0.01" in messages.pop()

    def test_the_dropout_ratio_gets_one_message_on_both_sides(self):
        assert refusal(lambda: layers.Dropout(1.5)) == refusal(lambda: BookDropout(1.5))

    @pytest.mark.parametrize("momentum, eps, message", [(float("nan"), 1e-6, "momentum must be a number in [0, 1]"),
                                                        (0.9, 0.0, "eps must be a finite number > 0")])
    def test_batch_norm_refuses_a_bad_momentum_or_eps(self, momentum, eps, message):
        assert message in refusal(lambda: layers.BatchNormalization(np.ones(2), np.zeros(2), momentum, eps=eps))


class TestFiles:
    def test_a_truncated_npz_cache_is_rebuilt(self, tmp_path, cache_dir):
        make_dataset(tmp_path / "data")
        first = numpy_load_mnist(data_dir=tmp_path / "data")
        (cache,) = cache_dir.glob("*.npz")
        cache.write_bytes(cache.read_bytes()[:200])
        again = numpy_load_mnist(data_dir=tmp_path / "data")
        np.testing.assert_array_equal(again[0][0], first[0][0])
        with np.load(cache) as saved:  # and written again whole
            np.testing.assert_array_equal(saved["test_label"], first[1][1])

    def test_a_truncated_copy_for_torchvision_is_unpacked_again(self, tmp_path, cache_dir):
        make_dataset(tmp_path / "data")
        (x, t), _ = torch_load_mnist(data_dir=tmp_path / "data")
        (copy,) = cache_dir.rglob("train-images-idx3-ubyte")
        copy.write_bytes(copy.read_bytes()[:1000])
        (x_again, t_again), _ = torch_load_mnist(data_dir=tmp_path / "data")
        assert torch.equal(x, x_again) and torch.equal(t, t_again)

    def test_both_loaders_refuse_a_label_outside_the_classes_with_one_message(self, tmp_path, cache_dir):
        make_dataset(tmp_path / "data", train_label=(np.array([1, 2, 12, 0, 3, 4]), {}))
        messages = {refusal(lambda loader=loader: loader(data_dir=tmp_path / "data"))
                    for loader in (numpy_load_mnist, torch_load_mnist)}
        assert len(messages) == 1 and "train-labels-idx1-ubyte.gz: label 12 is not in 0..9" in messages.pop()

    @pytest.mark.parametrize("content, message", [
        (b"", "is empty"),
        ("npy", "holds one array (a .npy)"),
        ("text dtype", "b2 holds <U3 values; parameters are floats"),
        ("nan", "b2 holds nan at index [1]"),
        ("cut", "is not a parameter file written by save_params"),
    ])
    def test_load_params_refuses_a_bad_file_whole_and_names_it(self, content, message, tmp_path):
        network = small_net("numpy")
        good = tmp_path / "good.npz"
        network.save_params(good)
        path = tmp_path / "bad.npz"
        arrays = dict(np.load(good))
        if content == "npy":
            np.save(tmp_path / "one.npy", np.ones(3))
            path = tmp_path / "one.npy"
        elif content in ("text dtype", "nan"):
            arrays["b2"] = arrays["b2"].astype("U3") if content == "text dtype" else arrays["b2"] + [0, np.nan, 0]
            np.savez(path, **{key: arrays[key] + 1 if key != "b2" else arrays[key] for key in arrays})
        elif content == "cut":
            path.write_bytes(good.read_bytes()[:150])
        else:
            path.write_bytes(content)
        before = {key: value.copy() for key, value in network.params.items()}
        error = refusal(lambda: network.load_params(path))
        assert str(path) in error and message in error
        assert all(np.array_equal(before[key], network.params[key]) for key in before)  # nothing half-loaded

    def test_a_checkpoint_of_another_optimizer_is_refused_before_anything_changes(self, tmp_path):
        path = tmp_path / "momentum.pt"
        writer = small_trainer("torch", optimizer="Momentum", optimizer_param={"lr": 0.1, "momentum": 0.9})
        writer.train_step()
        writer.save_checkpoint(path)
        for optimizer, param in [("Adam", {"lr": 0.1}), ("SGD", {"lr": 0.1}),
                                 ("Momentum", {"lr": 0.1, "momentum": 0.5})]:
            reader = small_trainer("torch", optimizer=optimizer, optimizer_param=param)
            reader.train_step()
            weights = {key: value.clone() for key, value in reader.network.state_dict().items()}
            state = repr(reader.optimizer.state_dict())
            error = refusal(lambda reader=reader: reader.load_checkpoint(path))
            assert str(path) in error and "does not fit this Trainer" in error and "nothing was loaded" in error
            if optimizer == "Adam":  # torch_impl's Momentum and SGD are one class, told apart by its settings
                assert (f"the optimizer {type(writer.optimizer).__name__}, this Trainer's optimizer is "
                        f"{type(reader.optimizer).__name__}") in error
            assert all(torch.equal(weights[key], value) for key, value in reader.network.state_dict().items())
            assert repr(reader.optimizer.state_dict()) == state and reader.current_iter == 1
            reader.train()  # and it trains on

    def test_a_checkpoint_of_another_network_is_refused(self, tmp_path):
        path = tmp_path / "ckpt.pt"
        small_trainer("torch").save_checkpoint(path)
        rng = np.random.default_rng(0)
        x, t = rng.random((20, 6)), rng.integers(0, 3, 20)  # small_trainer's data: only the network differs
        other = TorchTrainer(torch_nets.MultiLayerNet(6, [4], 3), x, t, x[:5], t[:5], epochs=1, mini_batch_size=5,
                             verbose=False, device="cpu", seed=0)
        assert "layers.1.weight is float32 (5, 6), this network's is float32 (4, 6)" in refusal(
            lambda: other.load_checkpoint(path))

    @pytest.mark.parametrize("side", SIDES)
    @pytest.mark.parametrize("change", ["fewer samples", "other order", "other test labels"])
    def test_a_checkpoint_of_other_data_is_refused_naming_it(self, side, change, tmp_path):
        path = tmp_path / "ckpt"
        writer = small_trainer(side)
        writer.train_step()
        writer.save_checkpoint(path)
        rng = np.random.default_rng(0)
        x, t = rng.random((20, 6)), rng.integers(0, 3, 20)  # small_trainer's own data
        other = {"fewer samples": dict(x=x[:15], t=t[:15]), "other order": dict(x=x[::-1].copy(), t=t[::-1].copy()),
                 "other test labels": dict(x=x, t=t, x_test=x[:5], t_test=(t[:5] + 1) % 3)}[change]
        reader = small_trainer(side, **other)
        error = refusal(lambda: reader.load_checkpoint(path))
        assert "it was written with data='20 training samples (sha256 " in error and "nothing was loaded" in error
        assert reader.current_iter == 0
        small_trainer(side).load_checkpoint(path)  # the same data, built again, fits

    def test_a_missing_or_unreadable_checkpoint_is_named(self, tmp_path):
        trainer = small_trainer("torch")
        assert f"{tmp_path}: cannot be read" in refusal(lambda: trainer.load_checkpoint(tmp_path))

    @pytest.mark.parametrize("side", SIDES)
    def test_a_checkpoint_of_the_other_side_is_refused_naming_its_writer(self, side, tmp_path):
        other = "torch" if side == "numpy" else "numpy"
        small_trainer(other).save_checkpoint(tmp_path / "ckpt")
        assert f"ckpt is a checkpoint of {other}_impl's Trainer, which {side}_impl's Trainer cannot load" in refusal(
            lambda: small_trainer(side).load_checkpoint(tmp_path / "ckpt"))

    @pytest.mark.parametrize("side", SIDES)
    def test_a_checkpoint_into_a_missing_folder_names_the_folder(self, side, tmp_path):
        with pytest.raises(FileNotFoundError) as error:
            small_trainer(side).save_checkpoint(tmp_path / "missing" / "ckpt")
        assert str(error.value) == f"[Errno 2] cannot write {tmp_path / 'missing' / 'ckpt'}: no such folder " \
                                   f"{tmp_path / 'missing'}"  # not the temporary file it was to write first


class TestEdges:
    def test_a_device_torch_impl_is_not_checked_on_or_a_gpu_not_there_is_refused(self, monkeypatch):
        from torch_impl.devices import resolve_device
        for device in ("tpu", "mps", "cuda:x"):
            assert refusal(lambda device=device: resolve_device(device)) == (
                f"device must be 'auto', 'cpu', 'cuda' or 'cuda:N'; got {device!r}")
        monkeypatch.setattr(torch.cuda, "is_available", lambda: True)  # a machine with one GPU
        monkeypatch.setattr(torch.cuda, "device_count", lambda: 1)
        assert resolve_device("cuda:0") == torch.device("cuda:0")
        assert "device 'cuda:1' was asked for, but there is 1 CUDA device (cuda:0)" in refusal(
            lambda: resolve_device("cuda:1"))

    @pytest.mark.parametrize("side", SIDES)
    def test_zero_epochs_train_nothing_and_score_the_test_set(self, side):
        trainer = small_trainer(side, epochs=0)
        accuracy = trainer.train()
        assert trainer.train_loss_list == [] and 0 <= accuracy <= 1

    @pytest.mark.parametrize("side", SIDES)
    @pytest.mark.parametrize("settings, message", [
        ({"x_test": np.zeros((0, 6)), "t_test": np.zeros(0, dtype=np.int64)}, "x_test is empty"),
        ({"epochs": -1}, "epochs must be a finite number >= 0"),
        ({"epochs": float("inf")}, "epochs must be a finite number >= 0"),
        ({"seed": 2 ** 64}, "seed must be None or an integer in [0, 2**64)"),
        ({"seed": -1}, "seed must be None or an integer in [0, 2**64)"),
        ({"evaluate_sample_num_per_epoch": 0}, "evaluate_sample_num_per_epoch (None: all) must be an integer"),
    ])
    def test_settings_past_the_edge_are_refused(self, side, settings, message):
        assert message in refusal(lambda: small_trainer(side, **settings))

    def test_a_huge_epoch_count_draws_one_epoch_of_batches_at_a_time(self):
        trainer = small_trainer("torch", epochs=10 ** 9)
        assert trainer.max_iter == 4 * 10 ** 9 and tuple(trainer.drawn_rows.shape) == (4, 5)
        for _ in range(9):
            trainer.train_step()
        assert tuple(trainer.drawn_rows.shape) == (4, 5) and trainer.drawn_steps == 12

    def test_the_epoch_by_epoch_batches_are_the_numpy_trainers(self):
        numpy_trainer, torch_trainer = (small_trainer(side, epochs=2.5, seed=4) for side in SIDES)
        rows = [torch_trainer.batch_rows(step).numpy() for step in range(torch_trainer.max_iter)]
        from dlfs_common.training import draw_batch_indices
        np.testing.assert_array_equal(rows, draw_batch_indices(np.random.default_rng(4), 20, 5, 10))
        assert numpy_trainer.max_iter == torch_trainer.max_iter == 10

    def test_a_search_of_a_billion_trials_enqueues_a_bounded_number(self, tmp_path):
        from experiments.search import (
            ENQUEUED_AHEAD,
            SearchSettings,
            book_draw_stream,
            book_draws,
            enqueue_missing,
            open_study,
        )
        settings = SearchSettings(storage=str(tmp_path / "study.journal"), trials=10 ** 9, seed=0, epochs=1)
        study = open_study(settings)
        assert enqueue_missing(study, settings) == ENQUEUED_AHEAD
        assert enqueue_missing(study, settings) == 0
        assert sorted(trial.user_attrs["index"] for trial in study.get_trials()) == list(range(ENQUEUED_AHEAD))
        _, stream = book_draw_stream(0)
        assert [next(stream) for _ in range(300)] == book_draws(0, 300)[1]

    def test_an_unwritable_cache_falls_back_on_both_sides_and_then_names_the_variable(self, tmp_path, monkeypatch):
        make_dataset(tmp_path / "data")
        (tmp_path / "a file").write_text("")
        monkeypatch.setenv(dataset_files.CACHE_DIR_ENV, str(tmp_path / "a file"))
        (tmp_path / "temporary").mkdir()
        monkeypatch.setattr(tempfile, "tempdir", str(tmp_path / "temporary"))
        (x, t), _ = numpy_load_mnist(data_dir=tmp_path / "data")  # parsed without a cache
        (x_torch, t_torch), _ = torch_load_mnist(data_dir=tmp_path / "data")  # unpacked into a temporary folder
        np.testing.assert_array_equal(x_torch.numpy(), x)
        np.testing.assert_array_equal(t_torch.numpy(), t)
        assert not list((tmp_path / "temporary").iterdir())  # which is removed once loaded
        monkeypatch.setattr(tempfile, "tempdir", str(tmp_path / "a file" / "temporary"))  # no temporary folder
        message = refusal(lambda: torch_load_mnist(data_dir=tmp_path / "data"))
        assert "nor into a temporary folder" in message and "set DLFS_CACHE_DIR to a writable folder" in message


class TestCommandLine:
    @pytest.mark.parametrize("argv, message", [
        (["--storage", "foo://bar"], "--storage foo://bar: cannot open it"),
        (["--storage", "postgresql://user@127.0.0.1:1/db"], "cannot open it"),
        (["--seed", str(2 ** 64)], "--seed must be in [0, 2**64)"),
    ])
    def test_a_bad_search_setting_is_one_line(self, argv, message, tmp_path, capsys):
        from experiments.__main__ import main
        try:
            status = main(["run", "hyperparameter_optimization", "--quick", "--no-progress", "--out",
                           str(tmp_path / "run"), *argv])
        except SystemExit as exit_info:
            status = exit_info.code
        err = capsys.readouterr().err
        assert status == 2 and message in err and "Traceback" not in err

    def test_the_default_output_folder_is_checked_like_out(self, tmp_path, monkeypatch, capsys):
        from experiments.__main__ import main
        monkeypatch.chdir(tmp_path)
        (tmp_path / "runs").write_text("a file where the default output folder would go")
        with pytest.raises(SystemExit) as exit_info:
            main(["run", "gradient_method", "--quick"])
        assert exit_info.value.code == 2 and "--out runs/gradient_method: runs is a file" in capsys.readouterr().err

    def test_a_full_disk_is_one_line(self, tmp_path, monkeypatch, capsys):
        from experiments import outputs
        from experiments.__main__ import main

        def full(*args, **kwargs):
            raise OSError(errno.ENOSPC, "No space left on device", str(args[0]))
        monkeypatch.setattr(outputs, "atomic_write", full)
        assert main(["run", "gradient_method", "--quick", "--no-progress", "--out", str(tmp_path / "run")]) == 2
        assert "No space left on device" in capsys.readouterr().err
        monkeypatch.setattr("parity.__main__.write_atomically", full)
        assert parity_main(["--twin", "Relu", "--json", str(tmp_path / "records.json")]) == 2
        assert "No space left on device" in capsys.readouterr().err

    @pytest.mark.parametrize("option", ["--html", "--json", "--markdown"])
    def test_an_output_into_a_missing_folder_is_refused_before_any_twin_runs(self, option, tmp_path, monkeypatch,
                                                                              capsys):
        monkeypatch.setattr(runner, "run_jobs", lambda *args: pytest.fail("a twin ran"))
        assert parity_main(["--twin", "Relu", option, str(tmp_path / "missing" / "page")]) == 2
        assert f"{option} {tmp_path / 'missing' / 'page'}: no folder" in capsys.readouterr().err

    def test_two_reports_into_one_file_are_refused_before_any_twin_runs(self, tmp_path, monkeypatch, capsys):
        monkeypatch.setattr(runner, "run_jobs", lambda *args: pytest.fail("a twin ran"))
        (tmp_path / "link.md").symlink_to(tmp_path / "records")  # the same file by another name
        assert parity_main(["--twin", "Relu", "--json", str(tmp_path / "records"), "--markdown",
                            str(tmp_path / "link.md")]) == 2
        assert f"--json and --markdown both name {tmp_path / 'link.md'}: each report needs a file of its own" in \
            capsys.readouterr().err

    def test_an_output_folder_of_another_experiment_is_refused(self, tmp_path, capsys):
        from experiments.__main__ import main
        assert main(["run", "gradient_2d", "--quick", "--out", str(tmp_path)]) == 0
        written = (tmp_path / "metrics.json").read_bytes()
        with pytest.raises(SystemExit) as exit_info:
            main(["run", "gradient_method", "--quick", "--out", str(tmp_path)])
        assert exit_info.value.code == 2 and (f"--out {tmp_path} holds the results of gradient_2d (its "
                                              "metrics.json); give gradient_method a folder of its own") in \
            capsys.readouterr().err
        assert (tmp_path / "metrics.json").read_bytes() == written and not (tmp_path / "gradient_method.png").exists()
        assert main(["run", "gradient_2d", "--quick", "--out", str(tmp_path)]) == 0  # its own folder, again

    def test_an_output_that_is_a_device_or_fifo_is_refused_and_left_as_it_was(self, tmp_path, monkeypatch, capsys):
        fifo = tmp_path / "fifo"
        os.mkfifo(fifo)
        monkeypatch.setattr(runner, "run_jobs", lambda *args: pytest.fail("a twin ran"))
        assert parity_main(["--twin", "Relu", "--json", str(fifo)]) == 2
        assert f"--json {fifo}: it is not a regular file (a device, FIFO or socket)" in capsys.readouterr().err
        with pytest.raises(NotARegularFile, match=f"{fifo} is not a regular file"), atomic_write(fifo) as f:
            f.write(b"replaced")
        assert stat.S_ISFIFO(os.lstat(fifo).st_mode) and os.listdir(tmp_path) == ["fifo"]

    def test_a_write_through_a_link_replaces_the_file_and_keeps_the_link(self, tmp_path):
        (tmp_path / "target.json").write_text("old")
        (tmp_path / "link.json").symlink_to(tmp_path / "target.json")
        with atomic_write(tmp_path / "link.json") as f:
            f.write(b"new")
        assert (tmp_path / "link.json").is_symlink() and (tmp_path / "target.json").read_text() == "new"


class TestSideEffects:
    @pytest.mark.parametrize("side", SIDES)
    def test_training_leaves_print_options_threads_and_malloc_as_they_were(self, side, monkeypatch):
        from dlfs_common import memory
        calls = []
        monkeypatch.setattr(memory, "_asked_for", False)  # conftest asked for the whole test process
        monkeypatch.setattr(memory, "_set_thresholds", lambda: calls.append("kept") or True)
        monkeypatch.setattr(memory, "_libc", lambda: type("Libc", (), {
            "mallopt": staticmethod(lambda *args: calls.append(args)),
            "malloc_trim": staticmethod(lambda *args: calls.append("trim"))})())
        printing, threads = np.get_printoptions(), torch.get_num_threads()
        small_trainer(side).train()
        assert np.get_printoptions() == printing and torch.get_num_threads() == threads
        assert calls == ["kept", (memory.M_MMAP_THRESHOLD, memory.GLIBC_MMAP_THRESHOLD),
                         (memory.M_TRIM_THRESHOLD, memory.GLIBC_TRIM_THRESHOLD), "trim"]

    def test_the_commands_called_in_a_process_leave_its_signal_handlers_as_they_were(self, tmp_path):
        from experiments.__main__ import main
        handled = (signal.SIGTERM, signal.SIGINT)
        before = {signum: signal.getsignal(signum) for signum in handled}
        assert main(["run", "gradient_method", "--quick", "--out", str(tmp_path / "closed_form")]) == 0
        assert main(["run", "weight_init_compare", "--quick", "--epochs", "1", "--no-progress",
                     "--out", str(tmp_path / "trained")]) == 0  # with checkpoints, and their handlers
        assert parity_main(["--twin", "Relu", "--dtype", "float64"]) == 0
        assert {signum: signal.getsignal(signum) for signum in handled} == before

    def test_building_a_trainer_changes_nothing_process_wide(self, monkeypatch):
        from dlfs_common import memory
        monkeypatch.setattr(memory, "_set_thresholds", lambda: pytest.fail("malloc changed by a constructor"))
        for side in SIDES:
            small_trainer(side)

