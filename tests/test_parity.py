"""The parity registry as pytest cases (one per twin, dtype and device), the CLI, and
planted errors that the harness must catch."""
import json
from dataclasses import replace

import numpy as np
import pytest
import torch

import numpy_impl.layers
import numpy_impl.optimizers
import parity.twins.optimizers
from parity import registry, runner
from parity.__main__ import main
from parity.records import RECORD_KEYS, compare
from parity.twins.layers import LayerTwin, no_relation

JOBS = runner.jobs(registry.all_twins())


def describe_failures(records):
    return "\n".join(f"{r.check}: max rel err {r.max_rel_err:.2e} > tol {r.tol:.0e}" for r in records if not r.passed)


@pytest.mark.parametrize("twin, dtype, device", JOBS, ids=[f"{t.name}-{dt}-{dev}" for t, dt, dev in JOBS])
def test_twin(twin, dtype, device):
    records = runner.run_job(twin, dtype, device)
    assert records, "a twin must produce records"
    assert all(r.passed for r in records), describe_failures(records)


def twin_named(name):
    (twin,) = [t for t in registry.all_twins() if t.name == name]
    return twin


def failing_checks(twin, dtype="float64"):
    return {r.check: r for r in runner.run_job(twin, dtype, "cpu") if not r.passed}


def test_a_gradient_off_by_one_part_in_a_million_is_caught(monkeypatch):
    backward = numpy_impl.layers.Affine.backward

    def slightly_wrong(self, dout):
        dx = backward(self, dout)
        self.dW = self.dW * (1 + 1e-6)
        return dx
    monkeypatch.setattr(numpy_impl.layers.Affine, "backward", slightly_wrong)
    failures = failing_checks(twin_named("Affine"))
    assert set(failures) == {"grad:W"}
    assert failures["grad:W"].max_rel_err == pytest.approx(1e-6, rel=0.01)
    assert "grad:W2" in failing_checks(twin_named("MultiLayerNet"))
    assert "trajectory:final W1" in failing_checks(twin_named("TwoLayerNet[trajectory,SGD]"))


def test_a_wrong_eps_is_caught(monkeypatch):
    monkeypatch.setattr(numpy_impl.optimizers, "ADAPTIVE_EPS", 1e-8)
    for name in ("AdaGrad", "RMSprop", "Adam", "Adam[stock eps]"):
        assert failing_checks(twin_named(name)), name
    assert not failing_checks(twin_named("Momentum"))


def test_a_swapped_axis_is_caught():
    affine = twin_named("Affine")
    square = replace(affine, name="Affine[square]", numpy=lambda p: numpy_impl.layers.Affine(p["W"], p["b"]),
                     torch=lambda: torch.nn.Linear(5, 5), inputs={"x": (3, 5)},
                     params={"W": (5, 5), "b": (5,)})
    assert not failing_checks(square)
    swapped = replace(square, torch_params={"W": ("weight", False), "b": ("bias", False)})
    assert {"forward", "grad:x", "grad:W"} <= set(failing_checks(swapped))


def test_the_book_configuration_is_checked_by_its_relation(monkeypatch):
    for name in ("Dropout[train,book]", "Dropout[eval,book]", "SoftmaxWithLoss[integer labels,book]",
                 "BatchNormalization[per-channel,train,book]"):
        twin = twin_named(name)
        assert not failing_checks(twin), name
        assert failing_checks(replace(twin, relation=no_relation)), f"{name} without its relation"
    monkeypatch.setattr(parity.twins.optimizers, "stock_eps_ratio", lambda *args: 1.0)
    assert failing_checks(twin_named("RMSprop[stock eps]")), "stock eps without its relation"


def test_compare_reports_errors_and_rejects_shape_mismatch():
    record = compare("t", "forward", "forward", np.array([1.0, 2.0 + 1e-13]), np.array([1.0, 2.0]), "float64", "cpu")
    assert record.passed and record.max_abs_err == pytest.approx(1e-13, rel=0.01)
    assert record.max_rel_err == pytest.approx(5e-14, rel=0.01)
    assert not compare("t", "forward", "forward", np.zeros(2), np.zeros(3), "float64", "cpu").passed
    assert not compare("t", "forward", "forward", np.array([np.nan]), np.array([1.0]), "float64", "cpu").passed


def test_a_crashing_twin_becomes_a_failing_record():
    broken = LayerTwin("Broken", lambda p: 1 / 0, lambda: (lambda x: x), {"x": (2, 2)})
    (record,) = runner.run_job(broken, "float64", "cpu")
    assert not record.passed and "ZeroDivisionError" in record.check


def test_every_twin_kind_and_both_dtypes_are_registered():
    names = [twin.name for twin in registry.all_twins()]
    for expected in ("sigmoid", "relu", "tanh", "leaky_relu", "softmax", "Relu", "Sigmoid", "Tanh", "LeakyRelu",
                     "SoftmaxWithLoss[one-hot labels]", "SoftmaxWithLoss[integer labels]", "Affine",
                     "Affine[N-D input]", "Dropout[train]", "Dropout[eval]", "BatchNormalization[2-D,train]",
                     "BatchNormalization[4-D flattened,train]", "BatchNormalization[per-channel,eval]",
                     "SGD", "Momentum", "Nesterov", "AdaGrad", "RMSprop", "Adam", "Adam[weight_decay=0.1]",
                     "TwoLayerNet", "MultiLayerNet", "MultiLayerNetExtend[batchnorm]", "SimpleConvNet", "DeepConvNet"):
        assert expected in names
    assert sum(name.startswith("Convolution[") for name in names) >= 4
    assert sum(name.startswith("Pooling[avg") for name in names) >= 2
    trajectories = [t for t in registry.all_twins() if "[trajectory," in t.name]
    assert {t.spec.numpy_class.__name__ for t in trajectories} == {
        "TwoLayerNet", "MultiLayerNet", "MultiLayerNetExtend", "SimpleConvNet", "DeepConvNet"}
    assert {dtype for _, dtype, _ in JOBS} == {"float64", "float32"}


def test_cli_json_markdown_and_exit_status(tmp_path, capsys):
    json_path, markdown_path = tmp_path / "records.json", tmp_path / "table.md"
    status = main(["--twin", "Affine*", "--twin", "Adam", "--dtype", "float64", "--device", "cpu",
                   "--json", str(json_path), "--markdown", str(markdown_path)])
    assert status == 0
    records = json.loads(json_path.read_text())
    assert records and all(list(r) == list(RECORD_KEYS) for r in records)
    assert {r["twin"] for r in records} == {"Affine", "Affine[N-D input]", "Adam"}
    assert all(r["dtype"] == "float64" and r["device"] == "cpu" and r["passed"] for r in records)
    table = markdown_path.read_text()
    assert "| twin | check | dtype | device | max abs err | max rel err | tol | result |" in table
    out = capsys.readouterr().out
    assert "max rel err" in out and "passed, 0 failed" in out


def test_cli_fails_when_a_check_fails(monkeypatch, capsys):
    monkeypatch.setattr(numpy_impl.optimizers, "ADAPTIVE_EPS", 1e-8)
    assert main(["--twin", "AdaGrad", "--dtype", "float64", "--device", "cpu"]) == 1
    assert "FAIL" in capsys.readouterr().out


def test_cli_list_and_bad_pattern(capsys):
    assert main(["--list", "--twin", "Pooling*"]) == 0
    assert all(line.startswith("Pooling[") for line in capsys.readouterr().out.split())
    assert main(["--twin", "NoSuchLayer"]) == 2
