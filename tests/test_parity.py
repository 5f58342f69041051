"""The parity registry as pytest cases (one per twin, dtype and device), the CLI, and
planted errors that the harness must catch."""
import json
from dataclasses import fields, replace

import numpy as np
import pytest
import torch
from helpers import process_is_running
from torch_helpers import CUDA_SKIP

import numpy_impl.functions
import numpy_impl.layers
import numpy_impl.optimizers
import parity.twins.optimizers
import torch_impl.networks.simple_convnet
import torch_impl.networks.two_layer_net
from parity import registry, runner
from parity.__main__ import main
from parity.records import Record, assert_all_close, assert_close, compare
from parity.twins.layers import LayerTwin, no_relation
from parity.twins.rejections import RejectionTwin

# every job on both devices; those on CUDA skip where there is none
# the data-parallel twins spawn two processes each (~12 s): they run with -m slow (CI runs both sets); the
# default run's process-group test is test_distributed's rank that fails


def job_marks(twin, dtype, device):
    marks = [pytest.mark.cuda, CUDA_SKIP] if device == "cuda" else []
    if getattr(twin, "spawns_processes", False):
        marks.append(pytest.mark.slow)
    return marks


JOBS = [pytest.param(twin, dtype, device, id=f"{twin.name}-{dtype}-{device}", marks=job_marks(twin, dtype, device))
        for twin, dtype, device in runner.jobs(registry.all_twins(), devices=["cpu", "cuda"])]


def describe_failures(records):
    return "\n".join(r.describe() for r in records if not r.passed)


@pytest.mark.parametrize("twin, dtype, device", JOBS)
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


def test_windows_in_the_wrong_row_order_are_caught():
    from numpy_impl.util import unfold
    twin = twin_named("unfold[3x3,stride=1,pad=0,in=7x7]")  # x (2, 3, 7, 7): rows (c, fy, fx), 25 columns
    channels_last = replace(twin, numpy=lambda p: lambda x: unfold(x, 3, 3).reshape(2, 3, 9, 25).transpose(
        0, 2, 1, 3).reshape(2, 27, 25))
    assert not failing_checks(twin, "float32")
    assert set(failing_checks(channels_last, "float32")) == {"forward"}


def test_bf16_tolerances_still_catch_a_wrong_gradient(monkeypatch):
    backward = numpy_impl.layers.Affine.backward

    def wrong_by_half(self, dout):
        dx = backward(self, dout)
        self.dW = self.dW * 1.5
        return dx
    twin = twin_named("MultiLayerNet[bf16]")
    assert not failing_checks(twin, "float32")
    monkeypatch.setattr(numpy_impl.layers.Affine, "backward", wrong_by_half)
    assert {"grad:W1", "grad:W2", "grad:W3"} <= set(failing_checks(twin, "float32"))


def test_the_book_configuration_is_checked_by_its_relation(monkeypatch):
    for name in ("Dropout[train,book]", "Dropout[eval,book]", "SoftmaxWithLoss[integer labels,book]",
                 "BatchNormalization[per-channel,train,book]"):
        twin = twin_named(name)
        assert not failing_checks(twin), name
        assert failing_checks(replace(twin, relation=no_relation)), f"{name} without its relation"
    monkeypatch.setattr(parity.twins.optimizers, "stock_eps_ratio", lambda *args: 1.0)
    assert failing_checks(twin_named("RMSprop[stock eps]")), "stock eps without its relation"


def test_compare_reports_errors_and_rejects_shape_mismatch():
    # the comparator's own measurements: checked with pytest.approx, since a test of compare must not
    # go through compare (the one other place that does so, the planted 1e-6 error above, is its twin)
    record = compare("t", "forward", "forward", np.array([1.0, 2.0 + 1e-13]), np.array([1.0, 2.0]), "float64", "cpu")
    assert record.passed and record.max_abs_err == pytest.approx(1e-13, rel=0.01)
    assert record.max_rel_err == pytest.approx(5e-14, rel=0.01)
    assert not compare("t", "forward", "forward", np.zeros(2), np.zeros(3), "float64", "cpu").passed
    assert not compare("t", "forward", "forward", np.array([np.nan]), np.array([1.0]), "float64", "cpu").passed


def test_a_value_that_is_not_finite_is_reported_where_it_first_occurs():
    actual = np.array([[1.0, 2.0, np.inf], [np.nan, 1.0, 1.0]])
    record = compare("t", "forward", "forward", actual, np.ones((2, 3)), "float64", "cpu")
    assert not record.passed and (record.worst_index, record.out_of_tolerance, record.size) == ((0, 2), 2, 6)
    assert record.describe() == ("forward: 2 of 6 elements are not finite (inf or nan), the first at index [0, 2] "
                                 "(numpy inf, torch 1)")


def test_run_twins_prints_the_report_of_the_named_twins(capsys, monkeypatch):
    assert parity.run_twins("softmax*", dtypes=("float64",))
    out = capsys.readouterr().out
    assert "softmax[large scores]" in out and "2 checks of 2 twins: 2 passed, 0 failed" in out
    naive = lambda x: np.exp(x) / np.sum(np.exp(x), axis=-1, keepdims=True)  # overflows on the large scores
    monkeypatch.setattr(numpy_impl.functions, "softmax", naive)
    with np.errstate(over="ignore", invalid="ignore"):
        assert not parity.run_twins("softmax[large scores]", dtypes=("float64",), summary=True)
    assert "1 check of 1 twin: 0 passed, 1 failed" in capsys.readouterr().out


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
                     "TwoLayerNet", "MultiLayerNet", "MultiLayerNetExtend[batchnorm]", "SimpleConvNet", "DeepConvNet",
                     "DoubleConvNet", "MultiLayerNet[batchnorm]", "MultiLayerNetExtend[dropout,l1]"):
        assert expected in names
    assert sum(name.startswith("Convolution[") for name in names) >= 4
    assert sum(name.startswith("Pooling[avg") for name in names) >= 2
    trajectories = [t for t in registry.all_twins() if "[trajectory," in t.name]
    assert {t.spec.numpy_class.__name__ for t in trajectories} == {
        "TwoLayerNet", "MultiLayerNet", "MultiLayerNetExtend", "SimpleConvNet", "DoubleConvNet", "DeepConvNet"}
    assert {job.values[1] for job in JOBS} == {"float64", "float32"}
    for expected in ("unfold[3x3,stride=1,pad=0,in=7x7]", "fold[3x2,stride=2,pad=1,in=9x8]", "SimpleConvNet[bf16]",
                     "SimpleConvNet[trajectory,Adam,compile]", "SimpleConvNet[trajectory,Adam,bf16]",
                     "SimpleConvNet[trajectory,Adam,cuda_graphs]"):
        assert expected in names


def test_cli_json_markdown_and_exit_status(tmp_path, capsys):
    json_path, markdown_path = tmp_path / "records.json", tmp_path / "table.md"
    status = main(["--twin", "Affine*", "--twin", "Adam", "--dtype", "float64", "--device", "cpu", "--jobs", "1",
                   "--json", str(json_path), "--markdown", str(markdown_path)])
    assert status == 0
    records = json.loads(json_path.read_text())
    assert records and all(list(r) == [field.name for field in fields(Record)] for r in records)
    assert {r["twin"] for r in records} == {"Affine", "Affine[N-D input]", "Affine[reject,wrong-input-width]",
                                            "Adam"}
    assert all(r["dtype"] == "float64" and r["device"] == "cpu" and r["passed"] for r in records)
    table = markdown_path.read_text()
    assert "| twin | check | dtype | device | max abs err | max rel err | tol | result |" in table
    out = capsys.readouterr().out
    assert "max rel err" in out and "passed, 0 failed" in out


@pytest.mark.parametrize("patterns, cores, expected", [
    (["Affine*", "SGD"], 4, 1),  # milliseconds each: a worker would cost more to start than it saves
    (["Affine*", "TwoLayerNet[trajectory,SGD]"], 4, 4),  # a training run: one worker per core
    (["TwoLayerNet[trajectory,SGD]"], 16, 8),  # at most 8
    (["TwoLayerNet[trajectory,SGD]"], 1, 1),
])
def test_the_cli_starts_worker_processes_only_for_training_runs(monkeypatch, patterns, cores, expected):
    used = []
    monkeypatch.setattr(runner, "run_jobs", lambda jobs, workers, done: used.append(workers) or [])
    monkeypatch.setattr("os.cpu_count", lambda: cores)
    main([arg for pattern in patterns for arg in ("--twin", pattern)])
    assert used == [expected]
    main(["--twin", patterns[0], "--jobs", "3"])  # asked for: as asked
    assert used == [expected, 3]


@pytest.mark.slow  # starts two worker processes; the quick run has --jobs 1
def test_jobs_in_worker_processes_give_the_records_of_one_process(tmp_path):
    one, two = tmp_path / "one.json", tmp_path / "two.json"
    patterns = ["--twin", "Affine*", "--twin", "SGD", "--device", "cpu"]
    assert main([*patterns, "--jobs", "1", "--json", str(one)]) == 0
    assert main([*patterns, "--jobs", "2", "--json", str(two)]) == 0
    in_one, in_two = (json.loads(path.read_text()) for path in (one, two))
    assert [(r["twin"], r["check"], r["dtype"], r["passed"]) for r in in_two] == \
        [(r["twin"], r["check"], r["dtype"], r["passed"]) for r in in_one]  # the same checks, in the same order


@pytest.mark.slow  # starts two worker processes, one of which kills itself
def test_a_worker_that_dies_turns_its_unfinished_job_into_a_failing_record(monkeypatch):
    from helpers import CRASHING_JOB, run_named_jobs_or_crash

    twins = runner.twins_by_name()
    crashing = (twins[CRASHING_JOB[0]], CRASHING_JOB[1], "cpu")
    jobs = [(twins["SGD"], "float64", "cpu"), crashing, (twins["Relu"], "float64", "cpu")]
    monkeypatch.setattr(runner, "run_named_jobs", run_named_jobs_or_crash)  # what the pool sends its workers
    records = runner.run_jobs(jobs, workers=2)

    stopped = [record for record in records if (record.twin, record.dtype) == CRASHING_JOB]
    assert len(stopped) == 1 and not stopped[0].passed
    assert stopped[0].check.startswith("error: its worker process stopped")
    # a dead worker breaks the whole pool: the other jobs either finished first, passing, or say so too
    for record in records:
        assert record.passed or record.check.startswith("error: its worker process stopped"), record
    assert {record.twin for record in records} == {twin.name for twin, _, _ in jobs}


@pytest.mark.slow  # starts the command and its two worker processes
def test_sigterm_stops_the_command_and_its_workers_at_once_with_no_verdict(tmp_path):
    import signal
    import subprocess
    import sys
    import time
    command = subprocess.Popen([sys.executable, "-m", "parity", "--twin", "*trajectory*", "--jobs", "2"],
                               stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    workers, deadline = [], time.time() + 60
    while len(workers) < 2 and time.time() < deadline:
        children = subprocess.run(["pgrep", "-P", str(command.pid), "-f", "spawn_main"], capture_output=True,
                                  text=True).stdout.split()
        workers = [int(pid) for pid in children]
        time.sleep(0.1)
    assert len(workers) == 2
    time.sleep(1.0)  # into their first jobs
    command.send_signal(signal.SIGTERM)
    _, err = command.communicate(timeout=30)
    assert command.returncode == 128 + signal.SIGTERM
    assert "python -m parity: interrupted before every twin ran: no verdict" in err and "checks of" not in err

    deadline = time.time() + 5  # a worker left alone ran on until its job ended, seconds later
    while any(map(process_is_running, workers)) and time.time() < deadline:
        time.sleep(0.05)
    assert not any(map(process_is_running, workers))


@pytest.mark.parametrize("when", [pytest.param("at its start", marks=pytest.mark.slow), "into its jobs"])
def test_sigkill_to_the_command_ends_its_workers(when):
    # SIGKILL leaves the command no chance to stop its pool: the workers had waited on its queue for ever
    import signal
    import subprocess
    import sys
    import time
    command = subprocess.Popen([sys.executable, "-m", "parity", "--twin", "*trajectory*", "--jobs", "2"],
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    workers, deadline = [], time.time() + 60
    while len(workers) < 2 and time.time() < deadline:
        workers = [int(pid) for pid in subprocess.run(["pgrep", "-P", str(command.pid), "-f", "spawn_main"],
                                                      capture_output=True, text=True).stdout.split()]
        time.sleep(0.05)
    assert len(workers) == 2
    if when == "into its jobs":
        time.sleep(1.0)
    command.send_signal(signal.SIGKILL)
    command.wait()
    deadline = time.time() + 10
    while any(map(process_is_running, workers)) and time.time() < deadline:
        time.sleep(0.05)
    assert not any(map(process_is_running, workers))


@pytest.mark.slow  # starts two worker processes
def test_a_twins_jobs_run_in_one_worker_process_in_the_jobs_order(monkeypatch):
    from helpers import run_named_jobs_naming_the_process

    twins = runner.twins_by_name()
    jobs = [(twins[name], dtype, "cpu") for name in ("Affine", "Relu", "SGD") for dtype in ("float64", "float32")]
    monkeypatch.setattr(runner, "run_named_jobs", run_named_jobs_naming_the_process)
    records = runner.run_jobs(jobs, workers=2)
    assert [(record.twin, record.dtype) for record in records] == [(twin.name, dtype) for twin, dtype, _ in jobs]
    for name in ("Affine", "Relu", "SGD"):
        assert len({record.check for record in records if record.twin == name}) == 1  # one process each


def test_the_twins_that_spawn_processes_run_only_when_asked(monkeypatch, tmp_path, capsys):
    import parity.registry
    from parity.twins.ddp import ddp_twins

    affine = parity.registry.select(["Affine"])
    monkeypatch.setattr(parity.registry, "all_twins", lambda: affine + ddp_twins()[:1])
    table = tmp_path / "table.md"
    assert main(["--dtype", "float64", "--jobs", "1", "--markdown", str(table)]) == 0
    out = capsys.readouterr().out
    left_out = f"not run (they train on several processes, ~25 s each; --distributed runs them): {ddp_twins()[0].name}"
    assert left_out in out and left_out in table.read_text()
    assert "\nAffine  " in out and "ranks vs" not in out


def test_jobs_must_be_at_least_one(capsys):
    with pytest.raises(SystemExit):
        main(["--jobs", "0"])
    assert "--jobs must be at least 1; got 0" in capsys.readouterr().err


def test_cli_fails_when_a_check_fails(monkeypatch, capsys):
    monkeypatch.setattr(numpy_impl.optimizers, "ADAPTIVE_EPS", 1e-8)
    assert main(["--twin", "AdaGrad", "--dtype", "float64", "--device", "cpu", "--jobs", "1"]) == 1
    assert "FAIL" in capsys.readouterr().out


def test_cli_list_and_bad_pattern(capsys):
    assert main(["--list", "--twin", "Pooling*"]) == 0
    assert all(line.startswith("Pooling[") for line in capsys.readouterr().out.split())
    assert main(["--list", "--twin", "Pooling*", "--exclude", "*avg*", "--exclude", "*reject*"]) == 0
    listed = capsys.readouterr().out.split()
    assert listed and all(line.startswith("Pooling[max") for line in listed)
    assert main(["--twin", "NoSuchLayer"]) == 2


def test_the_comparison_reports_the_worst_element_and_how_many_are_out():
    expected = np.zeros((3, 4))
    expected[0, 0] = 1.0
    actual = expected.copy()
    actual[2, 1] += 1e-3
    actual[1, 3] += 2e-5
    record = compare("t", "c", "forward", actual, expected, "float32", "cpu")
    assert (record.worst_index, record.out_of_tolerance, record.size) == ((2, 1), 2, 12)
    assert record.max_rel_err == pytest.approx(1e-3)
    with pytest.raises(AssertionError, match=r"at index \[2, 1\] \(numpy 0.001, torch 0\) \(2 of 12 elements out "):
        assert_close(actual, expected, "forward", dtype="float32")
    assert_close(actual, expected, "bf16 forward", dtype="float32")


def test_a_bias_that_a_batch_norm_cancels_is_measured_against_the_network():
    expected = {"W1": np.ones((2, 2)), "b1": np.full(2, 1e-18), "gamma1": np.ones(2), "beta1": np.zeros(2)}
    noise = dict(expected, b1=np.full(2, -1e-18))
    assert_all_close(noise, expected, "golden trajectory")
    with pytest.raises(AssertionError, match="b1: max rel err 2.000e"):
        assert_close(noise["b1"], expected["b1"], "golden trajectory", "b1")
    with pytest.raises(AssertionError, match="W1: max rel err"):
        assert_all_close(dict(expected, W1=np.full((2, 2), 1.001)), expected, "golden trajectory")


def test_a_float32_failure_names_the_side_that_left_the_exact_answer(monkeypatch):
    twin = twin_named("TwoLayerNet[trajectory,SGD]")
    assert not failing_checks(twin, "float32")
    backward = numpy_impl.layers.Affine.backward

    def off_in_float32(self, dout):  # wrong on the NumPy side, and only in float32
        dx = backward(self, dout)
        if self.dW.dtype == np.float32:
            self.dW = self.dW * (1 + 1e-2)
        return dx
    monkeypatch.setattr(numpy_impl.layers.Affine, "backward", off_in_float32)
    failures = set(failing_checks(twin, "float32"))
    assert "trajectory:final W1" in failures and "exact:numpy:final W1" in failures
    assert not any(check.startswith(("exact:torch", "conditioning")) for check in failures)


@pytest.mark.slow
def test_an_ill_conditioned_low_precision_trajectory_fails_its_conditioning_check():
    well = twin_named("DeepConvNet[no dropout][trajectory,SGD]")
    # the settings it had: zero biases and lr 0.01, where float32 rounding decides the end point
    ill = replace(well, optimizer_param={"lr": 0.01}, initial_bias=None)
    failures = failing_checks(ill, "float32")
    assert any(check.startswith("conditioning:final") for check in failures)
    assert not failing_checks(ill, "float64")  # float64 compares no conditioning: its rounding is 1e-16


def test_bad_input_that_one_side_accepts_is_caught(monkeypatch):
    twin = twin_named("SGD[reject,gradient-of-another-shape]")
    assert not failing_checks(twin)
    monkeypatch.setattr(numpy_impl.optimizers, "check_gradients", lambda params, grads: None)
    assert set(failing_checks(twin)) == {"reject: numpy accepted it"}


def test_bad_book_arguments_that_torch_builds_anyway_are_caught(monkeypatch):
    twin = twin_named("TwoLayerNet[reject,hidden-size-0]")
    assert not failing_checks(twin)
    monkeypatch.setattr(torch_impl.networks.two_layer_net, "check_sizes", lambda owner, **sizes: None)
    assert set(failing_checks(twin)) == {"reject: torch accepted it"}  # nn.Linear(6, 0) is a valid module


def test_bad_book_arguments_that_torch_refuses_in_its_own_words_are_caught(monkeypatch):
    twin = twin_named("SimpleConvNet[reject,float-stride]")
    assert not failing_checks(twin)

    def lenient(owner, name, conv_param):
        return (conv_param["filter_num"], conv_param["filter_size"], conv_param.get("pad", 0),
                conv_param.get("stride", 1))
    monkeypatch.setattr(torch_impl.networks.simple_convnet, "check_conv_param", lenient)
    (failure,) = failing_checks(twin)
    assert failure.startswith("reject: the messages differ: numpy \"SimpleConvNet: conv_param['stride'] must be")


def test_one_refusal_in_other_words_is_caught():
    def refuse(message):
        def attempt(*args):
            raise ValueError(message)
        return attempt
    twin = RejectionTwin("Example[reject,words]", refuse("lr must be >= 0"), refuse("Invalid learning rate"),
                         same_message=True)
    (record,) = twin.run("float64", "cpu")
    assert not record.passed and "the messages differ" in record.check
    (record,) = replace(twin, same_message=False).run("float64", "cpu")
    assert record.passed


def test_every_twin_shows_the_code_of_both_sides():
    for twin in registry.all_twins():
        sources = twin.sources()
        assert sources.numpy.strip() and sources.torch.strip(), twin.name


def test_the_html_page_sets_both_sides_relation_and_errors_side_by_side(tmp_path):
    page = tmp_path / "parity.html"
    assert main(["--twin", "Affine", "--twin", "Dropout[train,book]", "--dtype", "float64", "--jobs", "1",
                 "--html", str(page)]) == 0
    text = page.read_text()
    assert text.count('<section class="twin"') == 2 and 'data-count="2"' in text
    assert "def backward(self, dout)" in text and "torch.nn: Linear(in_features=6, out_features=4" in text
    assert "The book&#x27;s results are torch&#x27;s times 0.7 for forward" in text  # Dropout's docs/design.md relation
    assert "<td>grad:W</td><td>float64</td><td>cpu</td>" in text
    assert "<script" not in text and "http" not in text.replace("http://arxiv.org", "")  # nothing to fetch


def test_the_command_prints_a_line_for_each_failure_with_the_values_at_the_worst_index(monkeypatch, capsys):
    import numpy_impl.layers
    real = numpy_impl.layers.Affine.backward

    def backward_off_by_a_half(self, dout):
        dx = real(self, dout)
        self.dW = self.dW + 0.5
        return dx
    monkeypatch.setattr(numpy_impl.layers.Affine, "backward", backward_off_by_a_half)
    assert main(["--twin", "Affine", "--dtype", "float64", "--jobs", "1"]) == 1
    failures = [line for line in capsys.readouterr().out.splitlines() if line.startswith("FAIL ")]
    assert failures and all(line.startswith("FAIL Affine [float64, cpu]: grad:W: max rel err") for line in failures)
    assert "at index [" in failures[0] and "(numpy " in failures[0] and ", torch " in failures[0]
    assert failures[0].endswith("; the tolerance allows rounding alone: the same arithmetic in another order)")


def test_a_learners_failing_page_puts_the_failure_first_with_its_values_and_method(tmp_path, capsys):
    import parity

    class WrongAffine(LearnersAffine):
        wrong_by = 0.5
    page = tmp_path / "mine.html"
    assert not parity.check(WrongAffine, "Affine", dtypes="float64", html=page)
    text = page.read_text()
    nav = text.split("<nav>")[1].split("</nav>")[0]
    assert nav.startswith('<a class="fail" href="#twin-Affine">') and "(FAIL)" in nav  # failures first, marked
    assert '<td class="fail">FAIL</td>' in text and '<td class="pass">pass</td>' in text
    failed = text.split('<div class="failures">')[1].split("</div>")[0]
    assert "[float64, cpu] grad:W: max rel err" in failed and "at index [" in failed and "(numpy " in failed
    method = text.split('<pre class="failing">')[1].split("</pre>")[0]
    assert method.lstrip().startswith("def backward(self, dout):") and "wrong_by" in method  # the learner's code
    assert 'href="file://' in text and "docs/design.md#where-the-book-and-pytorch-disagree" in text
    with pytest.raises(ValueError, match="html='/nowhere/mine.html': no folder /nowhere"):
        parity.check(WrongAffine, "Affine", html="/nowhere/mine.html")


@pytest.mark.slow
def test_the_html_page_in_headless_chromium(tmp_path):
    """Debian's chromium loads the page from disk: every twin is there, and it renders."""
    import shutil
    import subprocess
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    if chromium is None:
        pytest.skip("no chromium on this machine (Debian: apt-get install chromium)")
    page = tmp_path / "parity.html"
    assert main(["--twin", "Pooling*", "--twin", "Adam*", "--dtype", "float64", "--jobs", "1",
                 "--html", str(page)]) == 0
    flags = ["--headless", "--no-sandbox", "--disable-gpu", "--window-size=1280,1600"]
    dom = subprocess.run([chromium, *flags, "--dump-dom", page.as_uri()], capture_output=True, text=True,
                         timeout=120, check=True).stdout
    count = int(dom.split('data-count="')[1].split('"')[0])
    assert count == len(registry.select(["Pooling*", "Adam*"])) == dom.count('<section class="twin"')
    subprocess.run([chromium, *flags, f"--screenshot={tmp_path / 'page.png'}", page.as_uri()],
                   capture_output=True, timeout=120, check=True)
    assert (tmp_path / "page.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_a_twin_is_selected_by_its_exact_name_brackets_and_all():
    assert [twin.name for twin in registry.select(["Dropout[train,book]"])] == ["Dropout[train,book]"]
    assert {twin.name for twin in registry.select(["Dropout[*"])} >= {"Dropout[train]", "Dropout[train,book]"}


class LearnersAffine:
    """A learner's Affine in the book's form, right but for `wrong_by` added to dW."""
    wrong_by = 0.0

    def __init__(self, W, b):
        self.W, self.b = W, b

    def forward(self, x):
        self.original_x_shape = x.shape
        self.x = x.reshape(x.shape[0], -1)
        return self.x @ self.W + self.b

    def backward(self, dout):
        self.dW = self.x.T @ dout + self.wrong_by
        self.db = np.sum(dout, axis=0)
        return (dout @ self.W.T).reshape(self.original_x_shape)


def test_a_learners_correct_layer_passes_and_a_wrong_one_fails_naming_the_worst_element(capsys):
    import parity
    assert parity.check(LearnersAffine, "Affine")
    out = capsys.readouterr().out
    assert "Affine[N-D input]" in out and "FAIL" not in out
    wrong = type("WrongAffine", (LearnersAffine,), {"wrong_by": 1e-3})
    assert not parity.check(wrong, "Affine", dtypes=("float64",))
    out = capsys.readouterr().out
    assert "FAIL Affine [float64, cpu]: grad:W: max rel err" in out and "at index [" in out
    assert numpy_impl.layers.Affine.__name__ == "Affine"  # put back


def test_a_learners_optimizer_is_checked_against_torch_optim(capsys):
    import parity

    class LearnersSGD:
        def __init__(self, lr=0.01):
            self.lr = lr

        def update(self, params, grads):
            for key in params:
                params[key] -= self.lr * grads[key]
    assert parity.check(LearnersSGD, "SGD", dtypes=("float64",))
    assert numpy_impl.optimizers.OPTIMIZERS["SGD"] is numpy_impl.optimizers.SGD
    with pytest.raises(ValueError, match="no twin checks 'Affinity'"):
        parity.check(LearnersSGD, "Affinity")


def test_a_learners_unfold_is_the_one_checked(capsys):
    import parity
    from numpy_impl.util import unfold
    assert parity.check(unfold, "unfold", dtypes=("float64",))

    def unfold_shifted(x, *window):
        return unfold(x, *window) + 1e-3
    assert not parity.check(unfold_shifted, "unfold", dtypes=("float64",))
    assert "FAIL unfold[" in capsys.readouterr().out


def test_a_learners_partial_layer_is_checked_against_the_twins_it_implements(capsys):
    import parity

    class MaxPoolingOnly(numpy_impl.layers.Pooling):  # takes no `mode`: the average-pooling twins cannot build it
        def __init__(self, pool_h, pool_w, stride=2, pad=0):
            super().__init__(pool_h, pool_w, stride, pad)
    assert parity.check(MaxPoolingOnly, "Pooling", dtypes=("float64",), only="Pooling[max*")
    out = capsys.readouterr().out
    assert "Pooling[max,2x2,stride=2,ties]" in out and "Pooling[avg" not in out
    assert not parity.check(MaxPoolingOnly, "Pooling", dtypes=("float64",))
    assert "FAIL Pooling[avg,2x2,stride=2,pad=0,in=6x6] [float64, cpu]: error: TypeError" in capsys.readouterr().out
    with pytest.raises(ValueError, match=r"no twin checks 'Pooling' among those matching 'Pooling\[min\*'"):
        parity.check(MaxPoolingOnly, "Pooling", only="Pooling[min*")
