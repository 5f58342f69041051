"""Runs that survive faults: an experiment run stopped (between two steps, by SIGTERM or Ctrl-C) or killed
(SIGKILL, at chosen and random points: during a step, during a checkpoint's write) and resumed ends with the
same weights and curves as an uninterrupted run, on either backend and on both; under torchrun with a rank
killed, the group comes back from its last checkpoint. The quick tests stop runs in this process; the slow ones
kill real processes."""
import json
import os
import random
import re
import signal
import subprocess
import sys
import time
from dataclasses import replace

import numpy as np
import pytest

from experiments.checkpoints import ResumeError, RunCheckpoints, RunInterrupted
from experiments.training import Net, TwoBackendTraining

NET = Net("MultiLayerNetExtend", (12, [8, 6], 3), {"use_dropout": True, "dropout_ration": 0.3, "use_batchnorm": True})
SETTINGS = {"experiment": "test", "backend": "?", "seed": 0}


def data():
    rng = np.random.default_rng(2)
    x, t = rng.random((24, 12)).astype(np.float32), rng.integers(0, 3, 24)
    return {backend: ((x, t), (x[:8], t[:8])) for backend in ("numpy", "torch")}


class StoppedAt(RunCheckpoints):
    """Checkpoints of a run that receives SIGTERM during its step number `stop` (1-based), as the handler
    installed by `python -m experiments run` receives it."""

    def __init__(self, *args, stop, **kwargs):
        super().__init__(*args, **kwargs)
        self.stop, self.steps = stop, 0

    def after_step(self, trainers, label):
        self.steps += 1
        if self.steps == self.stop:
            self.stops.handle(signal.SIGTERM, None)
        super().after_step(trainers, label)


def train(backend, checkpoints=None, every=None):
    training = TwoBackendTraining(backend, "float32", "cpu", seed=4)
    training.checkpoints = checkpoints
    results = training.train("MultiLayerNetExtend with dropout", NET, data(), "Adam", {"lr": 0.01}, epochs=3,
                             batch_size=4)
    return {name: (result.train_loss, result.train_acc, result.test_acc, result.final_test_acc,
                   weights(name, result.network)) for name, result in results.items()}


def weights(backend, network):
    if backend == "numpy":
        return {key: value.copy() for key, value in {**network.params, **network.buffers()}.items()}
    return {key: value.cpu().numpy() for key, value in network.state_dict().items()}


def assert_same_run(resumed, straight):
    assert resumed.keys() == straight.keys()
    for backend in straight:
        *curves, final = resumed[backend]
        *expected_curves, expected_final = straight[backend]
        assert curves == expected_curves, backend
        assert final.keys() == expected_final.keys()
        assert all(np.array_equal(final[key], expected_final[key]) for key in final), backend


@pytest.mark.parametrize("backend", ["numpy", "torch", "both"])
@pytest.mark.parametrize("stop, every", [(5, None), (6, None), (7, 2)], ids=["mid-epoch", "epoch end", "every 2"])
def test_a_run_stopped_between_two_steps_resumes_to_the_same_end(backend, stop, every, tmp_path):
    straight = train(backend)
    settings = {**SETTINGS, "backend": backend}
    stopped = StoppedAt(tmp_path, settings, resume=False, every=every, stop=stop)
    with pytest.raises(RunInterrupted):
        train(backend, stopped)
    (written,) = stopped.folder.glob("*.ckpt")  # one file for the training, both backends in it
    assert written.name.endswith(f"-{'torch+numpy' if backend == 'both' else backend}.ckpt")
    stopped.finish_lock()
    resumed = RunCheckpoints(tmp_path, settings, resume=True, every=every)
    assert_same_run(train(backend, resumed), straight)


def test_a_resumed_training_says_which_steps_its_time_covers(tmp_path):
    settings = {**SETTINGS, "backend": "both"}
    stopped = StoppedAt(tmp_path, settings, resume=False, stop=5)
    with pytest.raises(RunInterrupted):
        train("both", stopped)
    stopped.finish_lock()
    training = TwoBackendTraining("both", "float32", "cpu", seed=4)
    training.checkpoints = RunCheckpoints(tmp_path, settings, resume=True)
    results = training.train("MultiLayerNetExtend with dropout", NET, data(), "Adam", {"lr": 0.01}, epochs=3,
                             batch_size=4)
    for result in results.values():
        assert result.summary()["resumed_at_step"] == 5
        assert re.fullmatch(r"in \d+\.\d s \(steps 6-18: resumed at step 5\)", result.took())
    uninterrupted = TwoBackendTraining("numpy", "float32", "cpu", seed=4).train(
        "MultiLayerNetExtend with dropout", NET, data(), "Adam", {"lr": 0.01}, epochs=3, batch_size=4)["numpy"]
    assert "resumed_at_step" not in uninterrupted.summary()
    assert re.fullmatch(r"in \d+\.\d s", uninterrupted.took())
    finished = replace(uninterrupted, first_step=18, steps=18)  # killed after its last checkpoint, then resumed
    assert finished.took() == "(all 18 steps ran before the run was resumed)"


@pytest.mark.parametrize("backend", ["numpy", "both"])
def test_a_resume_on_other_data_is_refused_naming_it(backend, tmp_path):
    settings = {**SETTINGS, "backend": backend}
    stopped = StoppedAt(tmp_path, settings, resume=False, stop=5)
    with pytest.raises(RunInterrupted):
        train(backend, stopped)
    stopped.finish_lock()
    other = {side: ((x[::-1].copy(), t[::-1].copy()), test) for side, ((x, t), test) in data().items()}
    training = TwoBackendTraining(backend, "float32", "cpu", seed=4)
    training.checkpoints = RunCheckpoints(tmp_path, settings, resume=True)
    with pytest.raises(ResumeError, match=r"--resume refused: .*\.ckpt \[\w+\] does not fit this Trainer: it "
                                          r"was written with data='24 training samples \(sha256 "):
        training.train("MultiLayerNetExtend with dropout", NET, other, "Adam", {"lr": 0.01}, epochs=3, batch_size=4)


def test_resume_is_refused_with_other_settings_nothing_to_resume_or_the_run_busy(tmp_path):
    with pytest.raises(ResumeError, match="nothing to resume"):
        RunCheckpoints(tmp_path, SETTINGS, resume=True)
    (tmp_path / "metrics.json").write_text(json.dumps({"experiment": "train_convnet", "finished": True}))
    with pytest.raises(ResumeError, match=f"nothing to resume: the run in {tmp_path} finished"):
        RunCheckpoints(tmp_path, SETTINGS, resume=True)
    (tmp_path / "metrics.json").unlink()
    stopped = StoppedAt(tmp_path, SETTINGS, resume=False, stop=2)
    with pytest.raises(RunInterrupted):
        train("numpy", stopped)
    for resume in (True, False):  # the checkpoints of a run still going are not offered for --resume
        with pytest.raises(ResumeError, match="another process is running the run"):
            RunCheckpoints(tmp_path, SETTINGS, resume=resume)
    stopped.finish_lock()
    with pytest.raises(ResumeError, match="holds the checkpoints of an unfinished run: --resume continues it"):
        RunCheckpoints(tmp_path, SETTINGS, resume=False)
    with pytest.raises(ResumeError, match="the run was started with --seed=0, this one has 1"):
        RunCheckpoints(tmp_path, {**SETTINGS, "seed": 1}, resume=True)
    (tmp_path / "checkpoints" / ".x.ckpt.123.part").write_bytes(b"half")
    resumed = RunCheckpoints(tmp_path, {**SETTINGS, "device": "cuda"}, resume=True)  # another device is allowed
    assert not list((tmp_path / "checkpoints").glob("*.part"))  # what a kill left of a write is gone
    train("numpy", resumed)
    resumed.finish()
    assert not (tmp_path / "checkpoints").exists()


# the processes of the slow tests

def experiments_command(out, backend, *extra):
    return [sys.executable, "-m", "experiments", "run", "train_convnet", "--quick", "--no-progress", "--epochs", "6",
            "--backend", backend, "--out", str(out), *extra]


def run_results(out):
    """metrics.json's results without the times and where a resumed training began, and the final weights, of
    a finished run in `out`."""
    results = json.loads((out / "metrics.json").read_text())
    assert results["interrupted"] is False and results["finished"] is True
    text = without_times(results["results"])
    arrays = {}
    for path in sorted((out / "weights").glob("*.npz")):
        with np.load(path) as saved:
            arrays[path.name] = {key: saved[key] for key in saved.files}
    assert arrays
    return text, arrays


def without_times(results: dict) -> str:
    """metrics.json's results as text, without the times and where a resumed training began."""
    return re.sub(r'"(seconds|resumed_at_step)": [0-9.e+-]+,? ?', "", json.dumps(results, sort_keys=True))


def assert_same_results(out, reference):
    text, arrays = run_results(out)
    expected_text, expected_arrays = run_results(reference)
    assert text == expected_text
    assert arrays.keys() == expected_arrays.keys()
    for name, saved in arrays.items():
        assert all(np.array_equal(saved[key], expected_arrays[name][key], equal_nan=True) for key in saved), name


def start_and_kill(command, out, signum, delay, env=None):
    """Start `command`, wait for its first checkpoint, then `delay` seconds, and send it `signum`; its exit code."""
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=env)
    deadline = time.time() + 120
    while not list((out / "checkpoints").glob("*.ckpt")) and time.time() < deadline and process.poll() is None:
        time.sleep(0.02)
    time.sleep(delay)
    process.send_signal(signum)
    process.wait(60)
    return process.returncode


@pytest.fixture(scope="module")
def uninterrupted(tmp_path_factory):
    """The uninterrupted runs, one per backend."""
    folder = tmp_path_factory.mktemp("uninterrupted")
    for backend in ("numpy", "torch", "both"):
        subprocess.run(experiments_command(folder / backend, backend), check=True, capture_output=True)
    return folder


@pytest.mark.slow
@pytest.mark.parametrize("backend", ["numpy", "torch", "both"])
@pytest.mark.parametrize("signum", [signal.SIGKILL, signal.SIGTERM], ids=["SIGKILL", "SIGTERM"])
def test_a_killed_run_resumed_writes_what_an_uninterrupted_run_writes(backend, signum, uninterrupted, tmp_path,
                                                                      fashion_mnist):
    delay = random.Random(f"{backend}{signum}").uniform(0, 1.0)  # a point chosen at random, the same each run
    out = tmp_path / "run"
    code = start_and_kill(experiments_command(out, backend, "--checkpoint-every", "1"), out, signum, delay)
    if code == 0:
        pytest.skip(f"the run ended before the signal (after {delay:.2f} s)")
    assert code == 128 + signum if signum == signal.SIGTERM else code == -signum
    if (out / "metrics.json").exists():  # what the killed run wrote says it did not finish
        assert json.loads((out / "metrics.json").read_text())["finished"] is False
    resumed = subprocess.run(experiments_command(out, backend, "--checkpoint-every", "1", "--resume"),
                             capture_output=True, text=True)
    assert resumed.returncode == 0, resumed.stderr
    assert_same_results(out, uninterrupted / backend)
    assert not (out / "checkpoints").exists()


@pytest.mark.slow
def test_a_rank_killed_under_torchrun_restarts_the_group_from_its_last_checkpoint(tmp_path, fashion_mnist):
    torchrun = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node", "2"]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    subprocess.run(torchrun + experiments_command(tmp_path / "straight", "torch")[1:], check=True,
                   capture_output=True, env=env)
    out = tmp_path / "restarted"
    process = subprocess.Popen(torchrun + ["--max-restarts", "1"] + experiments_command(out, "torch")[1:],
                               stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env)
    deadline = time.time() + 120
    while not list((out / "checkpoints").glob("*.ckpt")) and time.time() < deadline:
        time.sleep(0.02)
    ranks = subprocess.run(["pgrep", "-P", str(process.pid), "-f", "experiments run"], capture_output=True,
                           text=True).stdout.split()
    assert len(ranks) == 2
    os.kill(int(ranks[-1]), signal.SIGKILL)
    printed, _ = process.communicate(timeout=180)
    assert process.returncode == 0, printed
    assert "(resumed)" in printed
    assert_same_results(out, tmp_path / "straight")


@pytest.mark.slow
def test_kills_at_random_points_one_after_another_lose_nothing(uninterrupted, tmp_path, fashion_mnist):
    """Killed five times at random (a checkpoint is written after every step, so kills land in writes too),
    resumed each time: the sixth run ends as the uninterrupted one."""
    out, chooser = tmp_path / "run", random.Random(7)
    command = experiments_command(out, "numpy", "--checkpoint-every", "1")
    for attempt in range(5):
        start_and_kill(command + (["--resume"] if attempt else []), out, signal.SIGKILL, chooser.uniform(0, 0.3))
        if not (out / "checkpoints").exists():  # it finished first
            break
    subprocess.run(command + ["--resume"] if (out / "checkpoints").exists() else command, check=True,
                   capture_output=True)
    assert_same_results(out, uninterrupted / "numpy")


@pytest.mark.parametrize("argv, message", [
    (["train_convnet", "--resume"], "nothing to resume"),
    (["gradient_1d", "--resume"], "gradient_1d does not use --resume"),
    (["hyperparameter_optimization", "--checkpoint-every", "5"], "does not use --checkpoint-every"),
    (["train_convnet", "--checkpoint-every", "0"], "--checkpoint-every must be at least 1"),
])
def test_resume_options_misused_are_one_line(argv, message, tmp_path, capsys):
    from experiments.__main__ import main
    try:
        status = main(["run", *argv, "--out", str(tmp_path / "run")])
    except SystemExit as exit_info:
        status = exit_info.code
    err = capsys.readouterr().err
    assert status == 2 and message in err and "Traceback" not in err


@pytest.mark.slow
def test_a_kill_during_a_checkpoint_write_leaves_the_last_checkpoint_whole(uninterrupted, tmp_path, fashion_mnist):
    """SIGKILL at a chosen point: while a checkpoint's temporary file is being written."""
    out = tmp_path / "run"
    command = experiments_command(out, "both", "--checkpoint-every", "1")
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    folder, deadline, caught = out / "checkpoints", time.time() + 120, False
    while process.poll() is None and time.time() < deadline:
        # atomic_write's temporary file of a checkpoint: .NAME.ckpt.RANDOM.part
        if folder.is_dir() and any(".ckpt." in entry.name for entry in os.scandir(folder)):
            process.kill()
            caught = True
            break
    process.wait()
    if not caught:
        pytest.skip("the run ended before a write was caught")
    subprocess.run(command + ["--resume"], check=True, capture_output=True)
    assert_same_results(out, uninterrupted / "both")


def test_two_trainings_of_one_run_may_not_share_a_label(tmp_path):
    checkpoints = RunCheckpoints(tmp_path, SETTINGS, resume=False)
    train("numpy", checkpoints)
    with pytest.raises(ValueError, match="two trainings of this run are labelled 'MultiLayerNetExtend with dropout'"):
        train("numpy", checkpoints)


class KilledHere(BaseException):
    """What a SIGKILL at a chosen point of the process does to the rest of it: nothing more runs."""


def test_a_run_killed_after_its_results_but_before_removing_its_checkpoints_resumes_to_them(tmp_path, monkeypatch,
                                                                                             fashion_mnist):
    from experiments.__main__ import main
    command = ["run", "weight_init_compare", "--quick", "--no-progress", "--epochs", "1", "--out", str(tmp_path)]

    def killed(self):
        raise KilledHere
    with monkeypatch.context() as patch:
        patch.setattr(RunCheckpoints, "finish", killed)
        with pytest.raises(KilledHere):
            main(command)
    first = json.loads((tmp_path / "metrics.json").read_text())  # the results were whole before the kill
    assert first["finished"] is True and list((tmp_path / "checkpoints").glob("*.ckpt"))
    assert main(command + ["--resume"]) == 0
    again = json.loads((tmp_path / "metrics.json").read_text())
    assert without_times(again["results"]) == without_times(first["results"])
    assert not (tmp_path / "checkpoints").exists()
