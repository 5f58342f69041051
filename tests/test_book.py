"""The book's scripts on numpy_impl (python -m numpy_impl.book): scripts of our own in the book's style (its
imports, its calls) that exercise every name the book's chapter scripts use, the book's pickled weights read
safely, and what the book does with NumPy's global random state."""
import os
import pickle
import sys
import textwrap

import numpy as np
import pytest
import torch
from helpers import golden_images, load_golden

import torch_impl.networks as torch_nets
from numpy_impl.book import main, run_book_script
from numpy_impl.gradient import numerical_gradient_2d
from numpy_impl.layers import BatchNormalization, Pooling, SoftmaxWithLoss
from numpy_impl.networks import DeepConvNet, MultiLayerNet, MultiLayerNetExtend, SigmoidTwoLayerNet, TwoLayerNet
from numpy_impl.safe_pickle import load_array_dict
from numpy_impl.trainer import Trainer
from parity.convert import load_book_weights
from parity.records import assert_all_close, assert_close

HEADER = "import sys, os\nsys.path.append(os.pardir)\nimport numpy as np\n"


def book_script(root, chapter, name, body):
    folder = root / chapter
    folder.mkdir(parents=True, exist_ok=True)
    (folder / name).write_text(HEADER + textwrap.dedent(body))
    return folder / name


def run_script(path, capsys, *args):
    run_book_script(path, args)
    return capsys.readouterr().out.splitlines()


def test_chapter_4_two_layer_net_numerical_and_backprop_gradients(tmp_path, capsys, fashion_mnist):
    script = book_script(tmp_path, "ch04", "check.py", """
        from dataset.mnist import load_mnist
        from two_layer_net import TwoLayerNet
        from common.gradient import numerical_gradient_2d
        (x_train, t_train), (x_test, t_test) = load_mnist(normalize=True, one_hot_label=True)
        network = TwoLayerNet(input_size=784, hidden_size=5, output_size=10)
        x, t = x_train[:3], t_train[:3]
        numerical = network.numerical_gradient(x, t)
        backprop = network.gradient(x, t)
        for key in ('W2', 'b2', 'b1'):  # the loss's 1e-7 inside the log moves the numerical one by ~1e-7/y
            print(key, np.max(np.abs(numerical[key] - backprop[key])) / np.max(np.abs(backprop[key])) < 1e-5)
        print('accuracy', 0 <= network.accuracy(x_test[:20], t_test[:20]) <= 1)
        grad = numerical_gradient_2d(lambda row: np.sum(row ** 2), np.array([[1.0, 2.0], [3.0, 4.0]]))
        print('2d', np.round(grad, 6).tolist())
    """)
    assert run_script(script, capsys) == ["W2 True", "b2 True", "b1 True", "accuracy True",
                                          "2d [[2.0, 4.0], [6.0, 8.0]]"]  # d/dx of x^2 is 2x


def test_chapter_5_layers_and_last_layer(tmp_path, capsys, fashion_mnist):
    script = book_script(tmp_path, "ch05", "check.py", """
        from dataset.mnist import load_mnist, init_mnist, key_file, img_size
        from two_layer_net import TwoLayerNet
        from common.layers import *
        init_mnist()
        (x_train, t_train), _ = load_mnist(normalize=True, one_hot_label=True)
        network = TwoLayerNet(input_size=784, hidden_size=50, output_size=10)
        network.loss(x_train[:3], t_train[:3])
        print(type(network.lastLayer).__name__, list(network.layers), img_size, key_file['train_img'])
        print(Affine.__name__, Relu.__name__, softmax(np.zeros(2)).tolist())
    """)
    assert run_script(script, capsys) == [
        "SoftmaxWithLoss ['Affine1', 'Relu1', 'Affine2'] 784 train-images-idx3-ubyte.gz",
        "Affine Relu [0.5, 0.5]"]


def test_chapter_6_trainer_prints_the_books_lines_and_repeats_under_np_random_seed(tmp_path, capsys,
                                                                                   fashion_mnist):
    script = book_script(tmp_path, "ch06", "train.py", """
        from dataset.mnist import load_mnist
        from common.multi_layer_net_extend import MultiLayerNetExtend
        from common.trainer import Trainer
        from common.optimizer import *
        from common.util import shuffle_dataset, smooth_curve
        np.random.seed(int(sys.argv[1]))
        (x_train, t_train), (x_test, t_test) = load_mnist(normalize=True)
        x_train, t_train = shuffle_dataset(x_train[:200], t_train[:200])
        network = MultiLayerNetExtend(input_size=784, hidden_size_list=[20], output_size=10,
                                      use_dropout=True, dropout_ration=0.2, use_batchnorm=True)
        trainer = Trainer(network, x_train, t_train, x_test[:100], t_test[:100], epochs=2, mini_batch_size=100,
                          optimizer='RMSprop', optimizer_param={'lr': 0.01})
        trainer.train()
        print(len(smooth_curve(np.array(trainer.train_loss_list))), isinstance(SGD(), object))
        one = MultiLayerNetExtend(input_size=784, hidden_size_list=[5], output_size=10, use_batchnorm=True)
        grads = one.gradient(x_train[:1], t_train[:1])
        print('one-sample batch norm', sorted(grads)[:2])
    """)
    first = run_script(script, capsys, "3")
    again = run_script(script, capsys, "3")
    other = run_script(script, capsys, "4")
    assert first == again and first != other
    assert [line.split(":")[0] for line in first[:2]] == ["train loss", "=== epoch"]
    assert first[1].startswith("=== epoch:1, train acc:") and first[1].endswith(" ===")
    assert sum(line.startswith("train loss:") for line in first) == 4
    assert first[-4:-1] == ["=============== Final Test Accuracy ===============", first[-3],
                            "4 True"] and first[-3].startswith("test acc:")
    assert first[-1] == "one-sample batch norm ['W1', 'W2']"


def test_chapter_7_convolution_of_a_scalar_bias_column_labels_and_pickled_params(tmp_path, capsys):
    script = book_script(tmp_path, "ch07", "check.py", """
        import pickle
        from simple_convnet import SimpleConvNet
        from common.layers import Convolution, Pooling
        network = SimpleConvNet(input_dim=(1, 10, 10),
                                conv_param={'filter_num': 10, 'filter_size': 3, 'pad': 0, 'stride': 1},
                                hidden_size=10, output_size=10, weight_init_std=0.01)
        X = np.random.rand(100).reshape((1, 1, 10, 10))
        T = np.array([1]).reshape((1, 1))
        grad = network.gradient(X, T)
        print(sorted(grad))
        pooled = Pooling(2, 2).forward(np.zeros((1, 1, 6, 6)))
        print(Convolution(network.params['W1'], 0).forward(X).shape, pooled.shape)
        with open('params.pkl', 'wb') as f:
            pickle.dump({key: value for key, value in network.params.items()}, f)
        scores = network.predict(X)
        other = SimpleConvNet(input_dim=(1, 10, 10),
                              conv_param={'filter_num': 10, 'filter_size': 3, 'pad': 0, 'stride': 1},
                              hidden_size=10, output_size=10)
        other.load_params('params.pkl')
        print(np.array_equal(other.predict(X), scores), os.getcwd() == os.path.dirname(os.path.abspath(__file__)))
    """)
    assert run_script(script, capsys) == ["['W1', 'W2', 'W3', 'b1', 'b2', 'b3']", "(1, 10, 8, 8) (1, 1, 3, 3)",
                                          "True True"]
    saved_here = book_script(tmp_path, "ch07", "saved.py", """
        from simple_convnet import SimpleConvNet
        network = SimpleConvNet(input_dim=(1, 10, 10), hidden_size=10, output_size=10)
        network.save_params("mine.pkl")  # numpy_impl writes an .npz, whatever the name
        network.load_params("mine.pkl")
    """)
    run_book_script(saved_here)
    assert "[numpy_impl.book]" not in capsys.readouterr().err  # weights trained here, on this data


def test_chapter_8_published_weights_give_the_books_scores_on_both_sides(tmp_path, capsys):
    golden = load_golden("deep_convnet_pretrained")
    weights = {key.split("/")[1]: golden[key] for key in golden if key.startswith("params/")}
    (tmp_path / "ch08").mkdir()
    (tmp_path / "ch08" / "deep_convnet_params.pkl").write_bytes(pickle.dumps(weights, protocol=2))
    np.save(tmp_path / "ch08" / "images.npy", golden_images(golden, flatten=False))
    script = book_script(tmp_path, "ch08", "check.py", """
        from deep_convnet import DeepConvNet
        network = DeepConvNet()
        network.load_params("deep_convnet_params.pkl")
        np.save("scores.npy", network.predict(np.load("images.npy"), train_flg=False))
        print(type(network.layers[0]).__name__, type(network.layers[18]).__name__)
    """)
    run_book_script(script)
    printed = capsys.readouterr()
    assert printed.out.splitlines() == ["FastConvolution Affine"]  # the networks run the fast kernels
    assert ("[numpy_impl.book] deep_convnet_params.pkl is a pickle, as the book's published weights are, which it "
            "trained on MNIST: scored on fashion-mnist their accuracy means nothing") in printed.err
    run_book_script(script, dataset="mnist")  # the weights' own data: nothing to say (the script loads none)
    assert "[numpy_impl.book]" not in capsys.readouterr().err
    assert_close(np.load(tmp_path / "ch08" / "scores.npy"), golden["eval_scores"], "golden", "numpy scores")
    torch_net = load_book_weights(tmp_path / "ch08" / "deep_convnet_params.pkl",
                                  torch_nets.DeepConvNet(dtype=torch.float64)).eval()
    with torch.no_grad():
        torch_scores = torch_net(torch.as_tensor(golden_images(golden, flatten=False)))
    assert_close(torch_scores, golden["eval_scores"], "golden", "torch scores")


def test_the_runner_restores_modules_folder_and_arguments(tmp_path, capsys):
    script = book_script(tmp_path, "ch07", "args.py", "from simple_convnet import SimpleConvNet\nprint(sys.argv[1:])\n")
    before = (os.getcwd(), list(sys.argv), list(sys.path), "simple_convnet" in sys.modules)
    assert run_script(script, capsys, "--epochs", "3") == ["['--epochs', '3']"]
    assert (os.getcwd(), sys.argv, sys.path, "simple_convnet" in sys.modules) == before
    assert "common" not in sys.modules and "dataset.mnist" not in sys.modules
    assert BatchNormalization.allow_single_sample is False  # the book's permission ends with its script


def test_figures_a_script_shows_are_saved(tmp_path, capsys):
    script = book_script(tmp_path, "ch04", "plot.py", """
        import matplotlib.pylab as plt
        plt.plot([0, 1], [1, 0])
        plt.show()
    """)
    assert main(["--figures", str(tmp_path / "figures"), str(script)]) == 0
    assert (tmp_path / "figures" / "plot-1.png").stat().st_size > 0


class RunsACommand:
    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


@pytest.mark.parametrize("protocol", [2, 3, 4, 5])
def test_pickled_weights_load_without_running_anything(tmp_path, protocol):
    weights = {"W1": np.arange(6.0).reshape(2, 3), "b1": np.zeros(3, np.float32)}
    loaded = load_array_dict(pickle.dumps(weights, protocol=protocol))
    assert_all_close(loaded, weights, "golden")
    marker = tmp_path / "ran"
    with pytest.raises(ValueError, match="refusing posix.system|refusing os.system"):
        load_array_dict(pickle.dumps({"W1": RunsACommand(marker)}, protocol=protocol), "evil.pkl")
    assert not marker.exists()
    with pytest.raises(ValueError, match="holds a list, not a dict of named NumPy arrays"):
        load_array_dict(pickle.dumps([np.zeros(2)], protocol=protocol))
    with pytest.raises(ValueError, match="is not a pickled dict of arrays"):
        load_array_dict(pickle.dumps(weights, protocol=protocol)[:-20])


def test_convert_weights_writes_an_npz_and_refuses_a_malicious_pickle(tmp_path, capsys):
    network = TwoLayerNet(6, 4, 3, rng=np.random.default_rng(0))
    (tmp_path / "params.pkl").write_bytes(pickle.dumps(dict(network.params)))
    assert main(["convert-weights", str(tmp_path / "params.pkl"), str(tmp_path / "params.npz")]) == 0
    restored = TwoLayerNet(6, 4, 3)
    restored.load_params(tmp_path / "params.npz")
    assert_all_close(restored.params, network.params, "golden")
    marker = tmp_path / "ran"
    (tmp_path / "evil.pkl").write_bytes(pickle.dumps({"W1": RunsACommand(marker)}))
    assert main(["convert-weights", str(tmp_path / "evil.pkl"), str(tmp_path / "evil.npz")]) == 2
    assert "refusing" in capsys.readouterr().err
    assert not marker.exists() and not (tmp_path / "evil.npz").exists()


def test_the_books_default_pooling_stride_and_column_labels():
    assert Pooling(2, 2).forward(np.zeros((1, 1, 6, 6))).shape == (1, 1, 3, 3)
    scores = np.random.default_rng(0).standard_normal((4, 3))
    column, flat = SoftmaxWithLoss(), SoftmaxWithLoss()
    assert column.forward(scores, np.array([[0], [2], [1], [2]])) == flat.forward(scores, np.array([0, 2, 1, 2]))
    np.testing.assert_array_equal(column.backward(), flat.backward())


def test_numerical_gradient_2d_goes_row_by_row():
    X = np.array([[1.0, -2.0], [0.5, 3.0], [2.0, 0.0]])
    assert_close(numerical_gradient_2d(lambda row: np.sum(row ** 3), X), 3 * X ** 2, "central difference")
    assert_close(numerical_gradient_2d(lambda x: np.sum(x ** 2), X[0]), 2 * X[0], "central difference")


def test_sigmoid_two_layer_net_gradient_is_the_sigmoid_multi_layer_nets():
    rng = np.random.default_rng(2)
    network = SigmoidTwoLayerNet(6, 4, 3, weight_init_std=0.5, rng=rng)
    layered = MultiLayerNet(6, [4], 3, activation="sigmoid")
    for key in network.params:
        layered.params[key][...] = network.params[key]
    x, t = rng.random((5, 6)), np.eye(3)[[0, 2, 1, 1, 0]]
    assert_close(network.loss(x, t), layered.loss(x, t), "forward", "loss")
    assert_all_close(network.gradient(x, t), layered.gradient(x, t), "grad")
    assert_all_close(network.gradient(x, t), network.numerical_gradient(x, t), "network numerical gradient")
    assert network.accuracy(x, t) == network.accuracy(x, t.argmax(axis=1))


def test_trainers_without_a_seed_draw_from_numpys_global_state(fashion_mnist):
    from numpy_impl.datasets import load_mnist
    (x, t), _ = load_mnist()
    x, t = x[:300], t[:300]
    saved = np.random.get_state()
    try:
        losses = []
        for _ in range(2):
            np.random.seed(7)
            trainer = Trainer(TwoLayerNet(784, 10, 10), x, t, x[:50], t[:50], epochs=1, verbose=False)
            trainer.train()
            losses.append(trainer.train_loss_list)
    finally:
        np.random.set_state(saved)
    assert losses[0] == losses[1]


def test_dropout_without_an_rng_draws_from_numpys_global_state():
    saved = np.random.get_state()
    try:
        masks = []
        for _ in range(2):
            np.random.seed(1)
            network = DeepConvNet(dropout_ratio=0.5)
            network.predict(np.ones((2, 1, 28, 28)), train_flg=True)
            masks.append(network.layers["Dropout1"].mask.copy())
    finally:
        np.random.set_state(saved)
    np.testing.assert_array_equal(masks[0], masks[1])


def test_seed_option_seeds_numpys_global_generator(tmp_path, capsys):
    script = book_script(tmp_path, "ch06", "draw.py", "print(np.random.rand())\n")
    saved = np.random.get_state()
    try:
        assert main(["--seed", "3", str(script)]) == 0
    finally:
        np.random.set_state(saved)
    assert capsys.readouterr().out.strip() == str(np.random.RandomState(3).rand())


def test_multi_layer_net_extend_lists_its_params_in_the_books_order():
    network = MultiLayerNetExtend(6, [5, 4], 3, use_batchnorm=True)
    assert list(network.params) == ["W1", "b1", "gamma1", "beta1", "W2", "b2", "gamma2", "beta2", "W3", "b3"]
    assert list(network.gradient(np.ones((2, 6)), np.array([0, 1]))) == list(network.params)
