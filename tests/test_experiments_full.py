"""Full-size experiment runs, marked slow and full (minutes each: `pytest -m full`; CI runs the other slow tests);
the default run and `-m slow` have their --quick twins."""
import json

import pytest

from experiments.__main__ import main

pytestmark = [pytest.mark.slow, pytest.mark.full]


def run_full(name, out, *options):
    assert main(["run", name, "--no-progress", "--out", str(out), *options]) == 0
    return json.loads((out / "metrics.json").read_text())["results"]


def test_train_neuralnet_full(fashion_mnist, tmp_path):
    training = run_full("train_neuralnet", tmp_path)["training"]["numpy"]
    assert training["final_test_acc"] > 0.85  # measured 0.8716 (README)


def test_optimizer_compare_mnist_full(fashion_mnist, tmp_path):
    optimizers = run_full("optimizer_compare_mnist", tmp_path)["optimizers"]
    assert all(by_backend["numpy"]["final_test_acc"] > 0.8 for by_backend in optimizers.values())


def test_train_convnet_one_epoch_on_torch(fashion_mnist, tmp_path):
    training = run_full("train_convnet", tmp_path, "--backend", "torch", "--epochs", "1")["training"]["torch"]
    assert training["final_test_acc"] > 0.8


def test_overfit_weight_decay_full(fashion_mnist, tmp_path):
    runs = run_full("overfit_weight_decay", tmp_path)["runs"]
    assert runs["L2, lambda 0.1 [numpy]"]["gap"] < runs["no weight decay [numpy]"]["gap"] - 0.1
