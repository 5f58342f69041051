"""The hyper-parameter search as an Optuna study shared by worker processes, with real parts: spawned workers,
a journal file, an SQLite file, a worker killed mid-trial, and (slow) a PostgreSQL server of Debian's package."""
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest
from helpers import process_is_running

from experiments import search
from experiments.search import SearchSettings, book_draws, enqueue_missing, fail_lost_trials, open_study

QUICK = ["--quick", "--no-progress", "--epochs", "2"]


def run_search(out, *options, wait=True):
    command = [sys.executable, "-m", "experiments", "run", "hyperparameter_optimization", *QUICK, "--out", str(out),
               *options]
    if not wait:
        return subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    result = subprocess.run(command, capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr[-3000:]
    return json.loads((out / "metrics.json").read_text())["results"]


def assert_every_draw_complete_once(results, trials, seed=0):
    records = results["trials"]
    assert len({record["number"] for record in records}) == len(records)  # every trial listed once
    complete = [record for record in records if record["state"] == "COMPLETE"]
    assert sorted(record["index"] for record in complete) == list(range(trials))
    duplicates = [record for record in records if str(record["failure"]).startswith("a duplicate of trial")]
    assert all(record["state"] == "FAIL" and record["val_acc"] is None for record in duplicates)
    _, draws = book_draws(seed, trials)
    for record in complete:  # each index ran the book's draw of that index, whoever ran it
        assert (record["weight_decay"], record["lr"]) == draws[record["index"]]
    assert results["complete_trials"] == trials
    return records


@pytest.mark.slow
@pytest.mark.parametrize("storage", ["journal", "sqlite"])
def test_two_workers_share_one_storage_and_record_every_trial_once(storage, fashion_mnist, tmp_path):
    url = [] if storage == "journal" else ["--storage", f"sqlite:///{tmp_path / 'search.db'}"]
    results = run_search(tmp_path / "run", "--workers", "2", "--trials", "8", *url)
    records = assert_every_draw_complete_once(results, 8)
    # which of the two ran how many trials depends on how fast each started (one may finish all before the other
    # has imported torch): the invariant is every draw complete once, and no third worker. A trial failed
    # at its claim (a duplicate, or one ask() made) names its worker all the same
    assert 1 <= len({record["worker"] for record in records}) <= 2 and None not in {r["worker"] for r in records}
    if storage == "journal":
        assert (tmp_path / "run" / "study.journal").is_file()
    assert {path.name for path in (tmp_path / "run").glob("*.png")} == {
        "hyperparameter_optimization.png", "optuna_optimization_history.png", "optuna_slice.png"}  # 8 trials:
    # too few for the importances (IMPORTANCE_TRIALS)


@pytest.mark.slow
def test_a_worker_killed_mid_trial_loses_only_that_trial_and_the_command_continues_the_study(fashion_mnist,
                                                                                             tmp_path):
    out, trials = tmp_path / "run", 6
    settings = SearchSettings(storage=str(out / "study.journal"), trials=trials, seed=0, epochs=10)
    worker = run_search(out, "--trials", str(trials), "--epochs", "10", wait=False)
    from optuna.trial import TrialState
    deadline = time.time() + 300
    while time.time() < deadline and worker.poll() is None:
        time.sleep(0.2)
        if (out / "study.journal").is_file():
            worker.send_signal(signal.SIGSTOP)  # the study cannot change between this look and the kill
            if os.path.lexists(out / "study.journal.lock"):  # stopped while writing: Optuna's file lock is held
                worker.send_signal(signal.SIGCONT)
                continue
            study = open_study(settings)
            running = study.get_trials(states=(TrialState.RUNNING,))
            if len(study.get_trials(states=(TrialState.COMPLETE,))) >= 2 and running and \
                    "worker" in running[0].user_attrs:  # mid-trial, its worker named
                break
            worker.send_signal(signal.SIGCONT)
    else:
        worker.kill()
        pytest.fail(f"the worker ended (exit status {worker.poll()}) or did not reach a third trial in 300 s: "
                    f"{worker.communicate()[1][-2000:]}")
    worker.send_signal(signal.SIGKILL)
    worker.wait()
    study = open_study(settings)
    (killed,) = study.get_trials(states=(TrialState.RUNNING,))  # left running by the dead worker

    results = run_search(out, "--trials", str(trials), "--epochs", "10")
    records = assert_every_draw_complete_once(results, trials)
    (failed,) = [record for record in records if record["state"] == "FAIL"]
    assert failed["number"] == killed.number and failed["failure"] == "its worker stopped before it finished"
    assert len(records) == trials + 1  # the lost trial, then its index run again


def test_enqueueing_is_idempotent_and_a_dead_workers_trial_is_failed(tmp_path):
    settings = SearchSettings(storage=str(tmp_path / "study.journal"), trials=4, seed=3, epochs=1)
    study = open_study(settings)
    assert enqueue_missing(study, settings) == 4
    assert enqueue_missing(study, settings) == 0
    assert open_study(settings).study_name == study.study_name == \
        "hyperparameter_optimization-seed3-trials4-epochs1-numpy-float32-fashion-mnist"
    trial = search.claim_waiting_trial(study)
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    trial.set_user_attr("worker", f"{socket.gethostname()}:{dead.stdout.strip()}")  # a process that has ended
    assert fail_lost_trials(study) == 1
    assert enqueue_missing(study, settings) == 1  # its index is waiting again
    alive = search.claim_waiting_trial(study)
    alive.set_user_attr("worker", search.worker_name())
    elsewhere = search.claim_waiting_trial(study)
    elsewhere.set_user_attr("worker", "another-machine:1")
    elsewhere.set_user_attr("heartbeat", time.time())
    assert fail_lost_trials(study) == 0  # this process runs one; the other machine's heart beats
    elsewhere.set_user_attr("heartbeat", time.time() - search.STALE_AFTER_SECONDS - 1)
    assert fail_lost_trials(study) == 1


CLAIM_EVERY_WAITING_TRIAL = """
import sys, time
from pathlib import Path
from experiments.search import SearchSettings, claim_waiting_trial, open_study
study = open_study(SearchSettings(storage=sys.argv[1], trials=int(sys.argv[2]), seed=0, epochs=1))
Path(sys.argv[3] + sys.argv[4]).touch()
while not Path(sys.argv[3]).exists():
    time.sleep(0.01)
while (trial := claim_waiting_trial(study)) is not None:
    print(trial.number, flush=True)
"""


@pytest.mark.parametrize("storage", ["journal", pytest.param("sqlite", marks=pytest.mark.slow),  # SQLite: 10 s
                                     pytest.param("postgresql", marks=pytest.mark.slow)])
def test_workers_claiming_at_the_same_time_never_win_the_same_trial(storage, tmp_path, request):
    # claims go through Optuna's public study.ask(), on every storage the search takes: a change in how Optuna
    # hands out waiting trials shows here. SQLite ignores the FOR UPDATE of Optuna's claim: before its
    # transactions began IMMEDIATE, 4 processes claiming 200 trials won 208 claims
    url = {"journal": lambda: str(tmp_path / "study.journal"),
           "sqlite": lambda: f"sqlite:///{tmp_path / 'study.db'}",
           "postgresql": lambda: request.getfixturevalue("postgres")}[storage]()
    trials, start = 120, tmp_path / "start"
    settings = SearchSettings(storage=url, trials=trials, seed=0, epochs=1)
    enqueue_missing(open_study(settings), settings)
    claimers = [subprocess.Popen([sys.executable, "-c", CLAIM_EVERY_WAITING_TRIAL, url, str(trials), str(start),
                                  f".ready{k}"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
                for k in range(4)]
    deadline = time.time() + 120
    while len(list(tmp_path.glob("start.ready*"))) < len(claimers) and time.time() < deadline:
        time.sleep(0.05)
    start.touch()  # all at once, once every claimer has its study open
    claims = []
    for claimer in claimers:
        out, err = claimer.communicate(timeout=300)
        assert claimer.returncode == 0, err[-2000:]
        claims += [int(number) for number in out.split()]
    assert sorted(claims) == list(range(trials))


def test_the_search_options_are_refused_by_the_other_experiments(capsys):
    from experiments.__main__ import main
    for option in (["--trials", "5"], ["--workers", "2"], ["--storage", "sqlite:///x.db"]):
        with pytest.raises(SystemExit) as exit_info:
            main(["run", "train_convnet", *option])
        assert exit_info.value.code == 2
        assert f"train_convnet does not use {option[0]}: it runs no hyper-parameter search" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main(["run", "hyperparameter_optimization", "--workers", "0"])
    assert "--workers must be at least 1; got 0" in capsys.readouterr().err


def postgres_binaries():
    candidates = sorted(Path("/usr/lib/postgresql").glob("*/bin"), reverse=True)
    return next((folder for folder in candidates if (folder / "initdb").is_file()), None)


@pytest.fixture
def postgres():
    """A PostgreSQL server of Debian's package, on 127.0.0.1 and a free port, in a temporary folder; its URL."""
    binaries = postgres_binaries()
    if binaries is None:
        pytest.skip("no PostgreSQL server here (Debian: apt-get install postgresql)")
    pytest.importorskip("psycopg", reason="the PostgreSQL driver is not installed (pip install -e '.[postgres]')")
    # not under pytest's tmp_path: its parents are private to this user, and the server may run as another
    folder = Path(tempfile.mkdtemp(prefix="dlfs-postgres-"))
    data = folder / "data"
    as_user = []
    if os.geteuid() == 0:  # the server refuses to run as root: as the package's own user
        if shutil.which("runuser") is None:
            pytest.skip("running as root without runuser, and PostgreSQL refuses to run as root")
        as_user = ["runuser", "-u", "postgres", "--"]
        shutil.chown(folder, "postgres")
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    subprocess.run([*as_user, str(binaries / "initdb"), "-D", str(data), "-U", "search", "--auth=trust"],
                   check=True, capture_output=True)
    subprocess.run([*as_user, str(binaries / "pg_ctl"), "-D", str(data), "-l", str(folder / "server.log"), "-w",
                    "-o", f"-h 127.0.0.1 -p {port} -k {folder}", "start"], check=True, capture_output=True)
    try:
        subprocess.run([*as_user, str(binaries / "createdb"), "-h", "127.0.0.1", "-p", str(port), "-U", "search",
                        "study"], check=True, capture_output=True)
        yield f"postgresql://search@127.0.0.1:{port}/study"
    finally:
        subprocess.run([*as_user, str(binaries / "pg_ctl"), "-D", str(data), "-m", "fast", "stop"],
                       capture_output=True)
        shutil.rmtree(folder, ignore_errors=True)


@pytest.mark.slow
def test_two_workers_share_a_postgresql_study(fashion_mnist, postgres, tmp_path):
    options = ["--trials", "16", "--epochs", "10", "--storage", postgres]  # trials long enough for all to join
    first = run_search(tmp_path / "first", "--workers", "2", *options, wait=False)
    results = run_search(tmp_path / "second", *options)  # another "machine" joins
    assert first.wait(timeout=600) == 0, first.stderr.read()[-2000:]
    records = assert_every_draw_complete_once(results, 16)
    # one study: the first command lists the same trials; which of the three workers ran how many depends on
    # start-up timing (under load one may finish all before another has imported torch)
    first_records = json.loads((tmp_path / "first" / "metrics.json").read_text())["results"]["trials"]
    assert [(r["number"], r["index"], r["state"]) for r in first_records] == \
        [(r["number"], r["index"], r["state"]) for r in records]
    assert 1 <= len({record["worker"] for record in records if record["state"] == "COMPLETE"}) <= 3


def test_a_live_process_that_reuses_a_dead_workers_id_does_not_keep_its_trial(tmp_path):
    study = open_study(SearchSettings(storage=str(tmp_path / "study.journal"), trials=2, seed=0, epochs=1))
    enqueue_missing(study, SearchSettings(storage="", trials=2, seed=0, epochs=1))
    trial = search.claim_waiting_trial(study)
    trial.set_user_attr("worker", f"{socket.gethostname()}:{os.getpid()}")  # alive: this test's own process
    trial.set_user_attr("heartbeat", time.time())
    assert fail_lost_trials(study) == 0
    trial.set_user_attr("heartbeat", time.time() - search.STALE_AFTER_SECONDS - 1)  # but its heart stopped
    assert fail_lost_trials(study) == 1


def test_a_late_result_of_a_failed_trial_is_dropped_with_a_line(tmp_path, capsys):
    from optuna.trial import TrialState
    settings = SearchSettings(storage=str(tmp_path / "study.journal"), trials=2, seed=0, epochs=1)
    study = open_study(settings)
    enqueue_missing(study, settings)
    paused = search.claim_waiting_trial(study)
    assert search.fail_trial(study, paused.number, "its worker stopped before it finished")  # as another worker
    assert not search.fail_trial(study, paused.number, "its worker stopped before it finished")  # once only
    assert search.tell_result(study, paused, 0.5) is False
    assert f"trial {paused.number} (draw 0) was marked FAIL while this worker ran it" in capsys.readouterr().err
    assert study.get_trials()[paused.number].state == TrialState.FAIL
    enqueue_missing(study, settings)
    going_on = search.claim_waiting_trial(study)
    assert search.tell_result(study, going_on, 0.25) is True
    records = search.trial_records(study)
    assert records[paused.number]["failure"] == "its worker stopped before it finished"


def test_a_trial_ask_makes_when_another_worker_took_the_last_is_failed_saying_so(tmp_path, monkeypatch):
    from optuna.trial import TrialState
    study = open_study(SearchSettings(storage=str(tmp_path / "study.journal"), trials=1, seed=0, epochs=1))
    looks = iter([["a waiting trial another worker claims first"]])
    real = search.trials_by_state
    monkeypatch.setattr(search, "trials_by_state",
                        lambda study, *states: next(looks, None) or real(study, *states)
                        if states == (TrialState.WAITING,) else real(study, *states))
    assert search.claim_waiting_trial(study) is None
    (made,) = study.get_trials()
    assert made.state == TrialState.FAIL and "index" not in made.user_attrs
    (record,) = search.trial_records(study)
    assert record["failure"].startswith("made by Optuna's ask() after another worker")
    assert record["worker"] == search.worker_name()  # a trial that never trained still names who took it


def test_a_signal_during_a_claim_stops_the_worker_only_once_its_trial_is_known_and_failed(tmp_path, monkeypatch):
    # SIGTERM raised halfway through a storage write had left a claimed trial RUNNING with no one to fail it
    from optuna.trial import TrialState
    settings = SearchSettings(storage=str(tmp_path / "study.journal"), trials=2, seed=0, epochs=1)
    real_claim = search.claim_waiting_trial

    def claim_then_signal(study):
        trial = real_claim(study)
        os.kill(os.getpid(), signal.SIGTERM)  # arrives while the claim's writes are still going on
        return trial

    class Training:
        def __init__(self, settings, stops):
            self.stops = stops

        def __call__(self, trial):
            with self.stops.anywhere():
                pytest.fail("a trial trained after its worker was told to stop")

    monkeypatch.setattr(search, "claim_waiting_trial", claim_then_signal)
    monkeypatch.setattr(search, "TrialTraining", Training)
    before = signal.getsignal(signal.SIGTERM)
    with pytest.raises(search.RunInterrupted) as stopped:
        search.work(settings)
    assert stopped.value.signum == signal.SIGTERM
    assert signal.getsignal(signal.SIGTERM) is before
    (claimed, waiting) = open_study(settings).get_trials()
    assert claimed.state == TrialState.FAIL and waiting.state == TrialState.WAITING
    assert search.trial_records(open_study(settings))[0]["failure"] == "its worker was stopped"


def test_a_worker_records_a_signal_while_it_writes_and_raises_it_where_stopping_is_safe():
    with search.StopsBetweenWrites() as stops:
        os.kill(os.getpid(), signal.SIGINT)
        time.sleep(0.01)  # the handler has run: recorded, not raised
        assert stops.signum == signal.SIGINT
        with pytest.raises(search.RunInterrupted):
            stops.check()
    with search.StopsBetweenWrites() as stops, pytest.raises(search.RunInterrupted):
        with stops.anywhere():
            os.kill(os.getpid(), signal.SIGTERM)
            time.sleep(5)
    assert stops.raising is False


@pytest.mark.parametrize("setting", [{"epochs": 2}, {"backend": "torch"}, {"dtype": "float64"},
                                     {"dataset": "mnist"}, {"seed": 1}, {"trials": 3}])
def test_every_setting_that_changes_a_trial_keys_its_study(setting):
    base = SearchSettings(storage="", trials=2, seed=0, epochs=1)
    assert SearchSettings(**{**base.__dict__, **setting}).study_name != base.study_name


def test_an_in_memory_storage_with_several_workers_is_refused(tmp_path, capsys):
    from experiments.__main__ import main
    for storage in ("sqlite://", "sqlite:///", "sqlite:///:memory:"):
        assert main(["run", "hyperparameter_optimization", "--quick", "--workers", "2", "--storage", storage,
                     "--out", str(tmp_path / "run")]) == 2
        assert "is an in-memory database, which each of the 2 worker processes would hold alone" in \
            capsys.readouterr().err


def test_a_rerun_with_the_same_settings_says_it_found_its_trials_complete(fashion_mnist, tmp_path, capsys):
    from experiments.__main__ import main
    command = ["run", "hyperparameter_optimization", *QUICK, "--trials", "2", "--epochs", "1", "--out", str(tmp_path)]
    assert main(command) == 0
    assert "complete in" not in capsys.readouterr().out
    assert json.loads((tmp_path / "metrics.json").read_text())["results"]["complete_before_this_run"] == 0
    assert main(command) == 0
    assert (f"2 of the 2 complete trials were complete in {tmp_path / 'study.journal'} before this run (study "
            "hyperparameter_optimization-seed0-trials2-epochs1-") in capsys.readouterr().out
    results = json.loads((tmp_path / "metrics.json").read_text())["results"]
    assert results["complete_before_this_run"] == 2 and results["complete_trials"] == 2


@pytest.mark.slow
def test_a_rerun_with_other_settings_runs_its_own_study(fashion_mnist, tmp_path):
    out = tmp_path / "run"
    first = run_search(out, "--trials", "2", "--epochs", "1")
    second = run_search(out, "--trials", "2", "--epochs", "3")
    assert first["study"]["name"] != second["study"]["name"] and second["complete_trials"] == 2
    assert {len(record["validation_curve"]) for record in second["trials"] if record["state"] == "COMPLETE"} == {3}


def two_workers_training(out):
    """A search command started with two workers, once one of them trains a trial: (the command's process, the
    study's settings, the workers' process ids)."""
    from optuna.trial import TrialState
    search_process = run_search(out, "--workers", "2", "--trials", "8", "--epochs", "20", wait=False)
    settings = SearchSettings(storage=str(out / "study.journal"), trials=8, seed=0, epochs=20)
    deadline = time.time() + 300
    while time.time() < deadline:
        time.sleep(0.5)
        if (out / "study.journal").is_file() and open_study(settings).get_trials(states=(TrialState.RUNNING,)):
            break
    children = subprocess.run(["ps", "-ww", "--ppid", str(search_process.pid), "-o", "pid=,args="], capture_output=True,
                              text=True).stdout.splitlines()
    workers = [int(line.split()[0]) for line in children if "spawn_main" in line]
    assert len(workers) == 2, children
    return search_process, settings, workers


@pytest.mark.slow
def test_sigterm_stops_every_worker_and_marks_the_run_interrupted(fashion_mnist, tmp_path):
    from optuna.trial import TrialState
    out = tmp_path / "run"
    search_process, settings, workers = two_workers_training(out)
    search_process.send_signal(signal.SIGTERM)  # to the command alone, as a scheduler sends it
    assert search_process.wait(timeout=60) == 128 + signal.SIGTERM
    for pid in workers:
        assert not Path(f"/proc/{pid}").exists(), f"worker {pid} lives on"
    assert json.loads((out / "metrics.json").read_text())["interrupted"] is True
    assert not open_study(settings).get_trials(states=(TrialState.RUNNING,))  # each worker failed its own


ORPHANED_WORKER = """
import os, subprocess, sys, time
child = subprocess.Popen([sys.executable, "-c", sys.argv[1], str(os.getpid()), sys.argv[2]])
print(child.pid, flush=True)
time.sleep(120)
"""
WORKER_THAT_STOPS_WITH_ITS_PARENT = """
import sys, time
from pathlib import Path
from dlfs_common.signals import stop_with_parent
stop_with_parent(int(sys.argv[1]))
Path(sys.argv[2]).touch()
time.sleep(120)
"""


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="PR_SET_PDEATHSIG is Linux's")
def test_a_worker_stops_when_its_parent_is_killed_with_sigkill(tmp_path):
    ready = tmp_path / "ready"
    parent = subprocess.Popen([sys.executable, "-c", ORPHANED_WORKER, WORKER_THAT_STOPS_WITH_ITS_PARENT, str(ready)],
                              stdout=subprocess.PIPE, text=True)
    child = int(parent.stdout.readline())
    deadline = time.time() + 60
    while not ready.exists() and time.time() < deadline:
        time.sleep(0.02)
    assert ready.exists() and process_is_running(child)
    parent.kill()
    parent.wait()
    deadline = time.time() + 10
    while process_is_running(child) and time.time() < deadline:
        time.sleep(0.05)
    assert not process_is_running(child), "the worker outlived its killed parent"


@pytest.mark.slow
def test_sigkill_to_the_search_stops_its_workers_and_they_fail_their_trials(fashion_mnist, tmp_path):
    from optuna.trial import TrialState
    search_process, settings, workers = two_workers_training(tmp_path / "run")
    search_process.kill()  # no chance to stop its workers itself
    search_process.wait()
    deadline = time.time() + 60
    while any(process_is_running(pid) for pid in workers) and time.time() < deadline:
        time.sleep(0.2)
    assert not any(process_is_running(pid) for pid in workers), "a worker lives on"
    assert not open_study(settings).get_trials(states=(TrialState.RUNNING,))  # each worker failed its own
