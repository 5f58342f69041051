"""Every experiment in --quick mode on a small slice, asserting what it is meant to show."""
import json
import os
import subprocess
import sys

import numpy as np
import pytest

from experiments.__main__ import main
from experiments.catalog import EXPERIMENTS, context_reads, runs_as, unused_options
from experiments.context import Context
from parity.records import assert_close

CONTEXT_MODULES = ("experiments.__main__", "experiments.context", "experiments.training", "experiments.outputs",
                   "experiments.checkpoints")


def figure_summary(fig) -> dict:
    """What a figure shows, for tests to read: its titles, and per axes its labels, legend, lines (points,
    marker, y values), images, bars and texts."""
    titles = [text.get_text() for figure in (fig, *fig.subfigs) if (text := figure._suptitle) is not None]
    notes = [text.get_text() for text in fig.texts]
    axes = []
    for ax in fig.axes:
        legend = ax.get_legend()
        axes.append({"title": ax.get_title(), "xlabel": ax.get_xlabel(), "ylabel": ax.get_ylabel(),
                     "legend": [text.get_text() for text in legend.get_texts()] if legend else [],
                     "lines": [(len(line.get_xdata()), line.get_marker(), list(line.get_ydata()))
                               for line in ax.get_lines()],
                     "images": len(ax.images), "patches": len(ax.patches), "collections": len(ax.collections),
                     "texts": [t.get_text() for t in ax.texts],
                     "xticklabels": [t.get_text() for t in ax.get_xticklabels()], "shown": ax.axison})
    return {"titles": titles, "notes": notes, "axes": axes}


def assert_every_panel_shows_data(name, figures, quick=True):
    """Each drawn panel has data on it, no legend names a curve twice, and a quick run's figure says so."""
    for filename, figure in figures.items():
        assert quick == any("--quick" in note for note in figure["notes"]), (name, filename, figure["notes"])
        for ax in figure["axes"]:
            drawn = any(points for points, _, _ in ax["lines"]) or ax["images"] or ax["patches"] or ax["collections"]
            assert drawn or not ax["shown"], (name, filename, ax)
            assert len(ax["legend"]) == len(set(ax["legend"])), (name, filename, ax["legend"])


@pytest.fixture
def run(fashion_mnist, tmp_path, monkeypatch):
    """run(name, *options) -> metrics.json of `python -m experiments run NAME --quick ...` (in-process).
    An experiment that reads a setting the catalog says it has no use for (and `run` refuses) fails: every
    attribute of the Context its code reads while it runs must be one the catalog found in its source."""
    def run_experiment(name, *options, backend="both"):
        unused = unused_options(name)
        reads = set()
        real_getattribute = Context.__getattribute__

        def tracking(self, attribute):
            if sys._getframe(1).f_globals.get("__name__", "").startswith("experiments.") and \
                    sys._getframe(1).f_globals["__name__"] not in CONTEXT_MODULES:
                reads.add(attribute)
            return real_getattribute(self, attribute)
        monkeypatch.setattr(Context, "__getattribute__", tracking)
        figures = {}
        real_save_figure = Context.save_figure

        def save_figure(self, fig, filename):
            real_save_figure(self, fig, filename)
            figures[filename] = figure_summary(fig)  # as it was written, closed by now
        monkeypatch.setattr(Context, "save_figure", save_figure)
        out = tmp_path / name
        backend_options = [] if "backend" in unused else ["--backend", backend]
        status = main(["run", name, "--quick", "--no-progress", *backend_options, "--out", str(out), *options])
        monkeypatch.setattr(Context, "__getattribute__", real_getattribute)
        assert status == 0
        missed = reads - context_reads(name)
        assert reads and not missed, f"{name} read {missed}, which the catalog did not find in its source"
        metrics = json.loads((out / "metrics.json").read_text())
        assert metrics["interrupted"] is False and metrics["finished"] is True
        assert not set(metrics["settings"]) & set(unused) - set(runs_as(name))  # what ran, not what was ignored
        assert list(out.glob("*.png")), f"{name} drew no figure"
        assert not list(out.glob("*.part"))
        assert_every_panel_shows_data(name, figures)
        metrics["figures"] = figures
        return metrics
    return run_experiment


def test_every_experiment_has_a_test():
    tested = {name[len("test_"):] for name in globals() if name.startswith("test_")}
    assert set(EXPERIMENTS) <= tested


def test_gradient_1d(run):
    slopes = run("gradient_1d")["results"]["slopes"]
    assert_close(slopes["numpy at 5"], 0.2, "central difference")
    assert_close(slopes["torch at 10"], 0.3, "hand derivation")  # autograd: exact up to rounding


def test_gradient_2d(run):
    metrics = run("gradient_2d")
    results = metrics["results"]
    assert_close(results["gradient_at_1_0.5"]["numpy"], [2.0, 1.0], "central difference")
    assert results["max_difference"] < 1e-8
    (ax,) = metrics["figures"]["gradient_2d.png"]["axes"]
    assert ax["collections"] == 2 and ax["title"].startswith("-∇f")  # the field of each backend, negated
    from experiments.catalog import describe
    assert "arrows pointing toward the minimum" in describe("gradient_2d")


def test_gradient_method(run):
    metrics = run("gradient_method")
    runs = metrics["results"]["runs"]
    lr_10 = [ax for ax in metrics["figures"]["gradient_method.png"]["axes"] if ax["title"] == "learning rate 10"]
    assert any("x + h == x in float64" in text for text in lr_10[0]["texts"])  # why the two backends part
    for backend in ("numpy", "torch"):
        assert runs[f"{backend} lr=0.1"]["distance_to_minimum"] < 1e-8
        assert runs[f"{backend} lr=10"]["distance_to_minimum"] > 1e10
        # on x0^2 + x1^2 each step multiplies x by (1 - 2 lr): from (-3, 4), 100 steps end at 5 (1 - 2e-10)^100
        assert_close(runs[f"{backend} lr=1e-10"]["distance_to_minimum"], 5 * (1 - 2e-10) ** 100, "central difference")


def test_gradient_simplenet(run):
    results = run("gradient_simplenet")["results"]
    # the book's 1e-7 inside the log (NumPy side) shifts dW by about 1e-7 / y_label
    assert results["max_difference"] < 1e-6
    # softmax rows sum to one, so the columns of dW do too: rounding noise, at the scale of dW
    dW = np.asarray(results["dW"]["torch"])
    assert_close(np.sum(dW), 0.0, "hand derivation", scale=np.abs(dW).max())


def test_gradient_simplenet_figure_labels_the_rows_and_columns(run):
    axes = run("gradient_simplenet")["figures"]["gradient_simplenet.png"]["axes"]
    matrices = [ax for ax in axes if ax["title"].startswith("dL/dW")]
    assert len(matrices) == 2
    assert all(ax["xticklabels"] == ["output 0", "output 1", "output 2"] and len(ax["texts"]) == 6 for ax in matrices)


@pytest.mark.slow
def test_train_neuralnet(run):
    metrics = run("train_neuralnet")
    assert_within_stated_agreement(metrics, "both")
    results = metrics["results"]
    assert max(results["gradient_check_mean_abs_difference"].values()) < 1e-6
    for backend in ("numpy", "torch"):
        training = results["training"][backend]
        assert training["final_test_acc"] > 0.4 and training["train_loss"][-1] < training["train_loss"][0]


def test_optimizer_compare_naive(run):
    metrics = run("optimizer_compare_naive")
    distances = metrics["results"]["distance_to_minimum_after_30_steps"]
    assert metrics["results"]["max_path_difference"] < 1e-12
    for name in ("AdaGrad", "RMSprop", "Adam"):
        assert distances[f"{name} [numpy]"] < distances["SGD [numpy]"]


@pytest.mark.slow
def test_optimizer_compare_mnist(run):
    optimizers = run("optimizer_compare_mnist")["results"]["optimizers"]
    final = {name: np.mean(by_backend["numpy"]["train_loss"][-20:]) for name, by_backend in optimizers.items()}
    assert final["Adam"] < final["SGD"] and final["AdaGrad"] < final["SGD"]
    assert all(loss < 2.3 for loss in final.values())


@pytest.mark.slow
def test_weight_init_activation_histogram(run):
    metrics = run("weight_init_activation_histogram")
    stats = metrics["results"]["activation_statistics"]
    relu = metrics["figures"]["weight_init_activation_histogram_relu.png"]["axes"]
    assert len(relu) == 20 and all(ax["title"].endswith("% zero") and ax["patches"] for ax in relu)
    assert stats["sigmoid/std=1/layer5/numpy"]["saturated_or_zero"] > 0.3  # pinned at 0 or 1
    assert stats["sigmoid/std=0.01/layer5/numpy"]["std"] < 0.02  # all near 0.5
    assert 0.05 < stats["sigmoid/Xavier/layer5/numpy"]["std"]
    assert stats["relu/std=0.01/layer5/torch"]["std"] < 1e-4 < stats["relu/He/layer5/torch"]["std"]
    assert stats["tanh/Xavier/backend_difference"] < 1e-12


def trained_backends(backend):
    return ["numpy", "torch"] if backend == "both" else [backend]


def assert_within_stated_agreement(metrics, backend):
    """With both backends, every training's curves agree as experiments.catalog states (AGREEMENT in float32,
    FLOAT64_AGREEMENT in float64)."""
    if backend == "both":
        agreement = metrics["backend_agreement"]
        outside = {label: record for label, record in agreement.items() if not record["within_stated_agreement"]}
        assert agreement and not outside, outside


# The book's chapter-6 conclusions, each checked in quick mode on every backend that trains, and with both
# backends (the book's semantics on both) the two curves agreeing as the experiment states.
@pytest.mark.parametrize("backend", ["numpy", "torch", "both"])
def test_weight_init_compare(run, backend):
    metrics = run("weight_init_compare", backend=backend)
    inits = metrics["results"]["inits"]
    for trained in trained_backends(backend):  # He beats std 0.01 with ReLU
        final = {label: np.mean(by_backend[trained]["train_loss"][-20:]) for label, by_backend in inits.items()}
        assert final["He"] < final["std=0.01"] - 0.5, (trained, final)
    assert_within_stated_agreement(metrics, backend)


def test_vanishing_gradient(run):
    norms = run("vanishing_gradient")["results"]["mean_abs_weight_gradient_per_layer"]
    ratio = {key: values[0] / values[-1] for key, values in norms.items()}
    assert ratio["sigmoid, Gaussian std=0.01 [numpy]"] < 1e-6 < ratio["relu, He [numpy]"]
    assert ratio["sigmoid, Xavier [torch]"] < ratio["relu, Xavier [torch]"]


@pytest.mark.parametrize("backend, dtype", [("numpy", "float32"), ("torch", "float32"), ("both", "float32"),
                                            ("both", "float64")])
def test_batch_norm_test(run, backend, dtype):
    metrics = run("batch_norm_test", "--dtype", dtype, backend=backend)
    runs = metrics["results"]["runs"]
    legends = [ax["legend"] for ax in metrics["figures"]["batch_norm_test.png"]["axes"]]
    expected = ["batch norm", "plain"] if backend != "both" else [
        "batch norm (torch, dashed)", "batch norm (numpy, solid)", "plain (torch, dashed)", "plain (numpy, solid)"]
    assert all(sorted(legend) == sorted(expected) for legend in legends), legends
    for trained in trained_backends(backend):  # batch norm trains where small weights leave a plain net at chance
        for scale in ("4.64e-02", "2.15e-03", "1.00e-04"):
            with_batch_norm = runs[f"batch norm, scale {scale}"][trained]["final_train_acc"]
            plain = runs[f"plain, scale {scale}"][trained]["final_train_acc"]
            assert with_batch_norm > plain + 0.2, (trained, scale, with_batch_norm, plain)
    if dtype == "float64":  # in float32 this experiment states no bound (experiments.catalog.AGREEMENT)
        assert_within_stated_agreement(metrics, backend)
    else:
        assert not any("within_stated_agreement" in record for record in metrics.get("backend_agreement", {}).values())


@pytest.mark.slow
def test_batch_norm_gradient_check(run):
    differences = run("batch_norm_gradient_check")["results"]["mean_abs_difference"]
    assert set(differences) >= {"gamma1", "beta1", "gamma2", "beta2"}
    assert max(differences.values()) < 1e-6


@pytest.mark.parametrize("backend, epochs", [
    ("both", ["--epochs", "40"]),  # the quick version: the gaps open up in 40 epochs already (0.085 and 0.036)
    pytest.param("both", [], marks=pytest.mark.slow), pytest.param("numpy", [], marks=pytest.mark.slow),
    pytest.param("torch", [], marks=pytest.mark.slow)])
def test_overfit_weight_decay(run, backend, epochs):
    metrics = run("overfit_weight_decay", *epochs, backend=backend)
    runs = metrics["results"]["runs"]
    for trained in trained_backends(backend):  # weight decay narrows the gap between train and test accuracy
        assert runs[f"L2, lambda 0.1 [{trained}]"]["gap"] < runs[f"no weight decay [{trained}]"]["gap"] - 0.03
        if not epochs:
            assert runs[f"no weight decay [{trained}]"]["gap"] > 0.15
            assert runs[f"L1, lambda 0.01 [{trained}]"]["gap"] < runs[f"no weight decay [{trained}]"]["gap"] - 0.05
    assert_within_stated_agreement(metrics, backend)


@pytest.mark.parametrize("backend", ["both", pytest.param("numpy", marks=pytest.mark.slow),
                                     pytest.param("torch", marks=pytest.mark.slow)])
def test_overfit_dropout(run, backend):
    metrics = run("overfit_dropout", backend=backend)
    runs = metrics["results"]["runs"]
    for trained in trained_backends(backend):  # dropout narrows the gap, and the net still learns
        assert runs[f"dropout 0.2 [{trained}]"]["gap"] < runs[f"no dropout [{trained}]"]["gap"] - 0.05
        assert runs[f"dropout 0.2 [{trained}]"]["final_test_acc"] > 0.2  # twice chance
    assert_within_stated_agreement(metrics, backend)


@pytest.mark.slow
def test_hyperparameter_optimization(run):
    metrics = run("hyperparameter_optimization")
    results = metrics["results"]
    assert metrics["figures"]["hyperparameter_optimization.png"]["titles"] == [
        "all 6 complete trials of the random search, best first"]
    assert "optuna_param_importances.png" not in metrics["figures"]  # 6 trials rank the parameters by noise
    assert any("best 5 of 6" in line for line in metrics["summary"])
    trials = results["trials"]
    assert results["complete_trials"] == 6 and sorted(trial["index"] for trial in trials) == list(range(6))
    accuracies = [trial["val_acc"] for trial in trials]
    assert max(accuracies) > min(accuracies)
    assert all(1e-6 <= t["lr"] <= 1e-2 and 1e-8 <= t["weight_decay"] <= 1e-4 for t in trials)
    for trial in trials:  # --backend both: each trial trained on both sides from the same weights and batches
        assert abs(trial["backends"]["numpy"] - trial["backends"]["torch"]) <= 0.02


@pytest.mark.slow
def test_train_convnet(run):
    metrics = run("train_convnet")
    assert_within_stated_agreement(metrics, "both")
    results = metrics["results"]
    filters = metrics["figures"]["convnet_filters_numpy.png"]
    assert filters["titles"][1:] == ["before training", "after training", "what training changed (after - before)"]
    assert "a quick run" in filters["titles"][0] and sum(ax["images"] for ax in filters["axes"]) == 90
    assert results["training"]["numpy"]["final_test_acc"] > 0.4
    assert results["mean_abs_filter_change"]["torch"] > 1e-3


def test_train_deepnet(run, tmp_path):
    metrics = run("train_deepnet", backend="torch")
    results = metrics["results"]
    figure = metrics["figures"]["train_deepnet.png"]
    accuracy = figure["axes"][1]
    # one epoch: its start and the end, each point marked, the end the final accuracy the run prints
    assert [(points, marker) for points, marker, _ in accuracy["lines"]] == [(2, "o"), (2, "o")]
    assert accuracy["lines"][1][2][-1] == results["training"]["torch"]["final_test_acc"]
    assert accuracy["xticklabels"] == ["0", "end"] and "quick run" in figure["titles"][0]
    assert results["misclassified_torch"]["count"] == round((1 - results["training"]["torch"]["final_test_acc"]) * 200)
    assert (tmp_path / "train_deepnet" / "misclassified_torch.png").is_file()


@pytest.mark.slow
def test_both_backends_agree_in_float64(run):
    metrics = run("train_neuralnet", "--dtype", "float64", "--epochs", "2")
    agreement = metrics["backend_agreement"]["TwoLayerNet"]
    assert agreement["max_loss_difference"] < 1e-9 and agreement["final_test_acc_difference"] == 0
    assert agreement["within_stated_agreement"] is True  # FLOAT64_AGREEMENT


def test_every_experiment_that_trains_states_how_far_its_backends_may_drift():
    from experiments.catalog import AGREEMENT
    training = {name for name in EXPERIMENTS if "train" in context_reads(name)}
    assert training == set(AGREEMENT)
    assert all(agreement.why for agreement in AGREEMENT.values())


def test_list_and_bad_dataset(capsys, tmp_path, monkeypatch):
    assert main(["list"]) == 0
    listed = capsys.readouterr().out
    assert "train_deepnet" in listed
    # a description is its docstring's first sentence, whole, whatever lines it spans
    assert "scored on 20% of 500 images; the best 20 drawn." in listed
    monkeypatch.setenv("DLFS_DATA_DIR", str(tmp_path))
    monkeypatch.setattr("dlfs_common.dataset_files.SYSTEM_DATA_DIR", tmp_path / "nowhere")
    assert main(["run", "train_neuralnet", "--quick", "--dataset", "mnist", "--out", str(tmp_path / "o")]) == 2
    assert "mnist not found" in capsys.readouterr().err


def test_interrupted_run_keeps_what_it_wrote(fashion_mnist, tmp_path, monkeypatch):
    import experiments.comparison as module

    calls = []

    def interrupt(*args, **kwargs):
        calls.append(1)
        raise KeyboardInterrupt
    monkeypatch.setattr(module, "plot_curves", interrupt)
    assert main(["run", "optimizer_compare_mnist", "--quick", "--no-progress", "--epochs", "1",
                 "--out", str(tmp_path)]) == 130
    metrics = json.loads((tmp_path / "metrics.json").read_text())
    assert metrics["interrupted"] is True and metrics["finished"] is False
    assert len(metrics["results"]["optimizers"]) == 6
    assert calls  # the interruption came while drawing, after the training had finished


def test_demo_runs_the_selection_the_parity_report_and_a_gallery(fashion_mnist, tmp_path, monkeypatch, capsys):
    import experiments.__main__ as cli
    import parity.registry

    all_twins = parity.registry.all_twins
    monkeypatch.setattr(cli, "DEMO", ("gradient_1d", "weight_init_compare"))
    monkeypatch.setattr(parity.registry, "all_twins", lambda: [t for t in all_twins() if t.name.startswith("Affine")])
    assert main(["demo", "--out", str(tmp_path)]) == 0
    gallery = (tmp_path / "gallery.md").read_text()
    assert "![gradient_1d.png](gradient_1d/gradient_1d.png)" in gallery and "## Parity report" in gallery
    assert "# The parity table" not in gallery and "| Affine | " in gallery
    assert "quick runs" in gallery and "## NumPy and torch, side by side" in gallery  # both backends by default
    assert gallery.count("| weight_init_compare | ") == 3 and "| within |" in gallery
    assert json.loads((tmp_path / "parity.json").read_text())
    out = capsys.readouterr().out.splitlines()  # quiet: a line per experiment, the parity summary, where it all is
    assert out[1] == "gradient_1d (0 s): NumPy and torch computed every result side by side"
    assert out[2].startswith("weight_init_compare (") and out[2].endswith(
        "3 trainings on both backends, 3 within the agreement the experiment states")
    assert out[3].startswith("parity report: ") and " 0 failed in " in out[3] and len(out) == 5
    assert str(tmp_path / "gallery.md") in out[4]


def test_bench_prints_the_table_and_the_targets(capsys, monkeypatch):
    from experiments.bench import timing
    monkeypatch.setattr(timing, "WARM_UP_SECONDS", 0.0)  # one untimed step a block: the table is what is tested
    assert main(["bench", "--models", "MLP", "--steps", "1", "--device", "cpu"]) == 0
    out = capsys.readouterr().out
    assert "| MLP   | numpy (reference) | float64 | cpu" in out
    assert "NumPy float32 MLP step / torch CPU float32" in out and "(target: at most 0.8)" in out
    assert "torch on CUDA, and the epoch targets" in out and "not measured" in out  # only the CPU was asked for
    blas = out.split("\nBLAS: ")[1].splitlines()[0]  # which library depends on how numpy was built
    assert "numpy: " in blas and "threads" in blas and "torch: " in blas and "OPENBLAS_CORETYPE" in blas
    assert "\nmalloc: " in out


def test_the_numpy_peak_memory_counts_what_the_convolutions_keep_between_steps(monkeypatch):
    import tracemalloc

    from experiments.bench import timing
    from numpy_impl.layers import Convolution
    from numpy_impl.networks import DeepConvNet
    monkeypatch.setitem(timing.MODELS, "DeepConvNet", ("DeepConvNet", ((), {}), 10, False))  # 10 images a batch
    job = timing.numpy_job("DeepConvNet", "float32", False, 1, np.random.default_rng(0))
    job.step()
    tracemalloc.start()
    job.step()  # a network's second step: its workspaces were allocated in the first
    warm_peak = tracemalloc.get_traced_memory()[1] / 2 ** 20
    tracemalloc.stop()
    net = DeepConvNet(dtype=np.float32, rng=np.random.default_rng(0))
    net.gradient(np.random.default_rng(1).random((10, 1, 28, 28), dtype=np.float32), np.arange(10))
    kept = sum(workspace.nbytes for layer in net.layers.values() if isinstance(layer, Convolution)
               for workspace in layer.workspaces.values()) / 2 ** 20
    assert kept > 5  # float32 DeepConvNet, 10 images: 5 of its 6 convolutions keep two each
    assert abs(job.peak_mib() - (warm_peak + kept)) < 0.5  # the same step, traced again, plus what is kept


@pytest.mark.slow
def test_bench_times_accelerated_rows_and_epochs(capsys):
    argv = ["bench", "--models", "SimpleConvNet", "--steps", "1", "--rounds", "1", "--device", "cpu",
            "--acceleration", "bf16", "--acceleration", "cuda_graphs", "--epoch", "all", "--epoch-images", "300"]
    assert main(argv) == 0
    out = capsys.readouterr().out
    assert "| SimpleConvNet | torch bf16        | float32 | cpu" in out
    assert "cuda_graphs" not in out  # a CPU cannot run it, so no row asks it to
    assert "| SimpleConvNet | cpu    | bf16         | after update  | 300    |" in out
    assert "| SimpleConvNet | cpu    | bf16         | same forward  | 300    |" in out


def test_bench_layers_times_each_layer_of_the_network_on_both_sides(capsys, monkeypatch):
    from experiments.bench import timing
    from numpy_impl.networks import DeepConvNet
    monkeypatch.setitem(timing.MODELS, "DeepConvNet", ("DeepConvNet", ((), {}), 4, False))  # 4 images a batch
    assert main(["bench", "--layers", "--models", "DeepConvNet", "--rounds", "1"]) == 0
    lines = capsys.readouterr().out.splitlines()
    rows = {line.split("|")[2].strip(): [cell.strip() for cell in line.split("|")[3:-1]]
            for line in lines if line.startswith("| DeepConvNet")}
    net = DeepConvNet()
    assert set(rows) == set(net.layers) | {"all layers"}  # every layer once, as the network runs them
    assert rows["Conv1"][0] == "4x1x28x28" and rows["Pool1"][0] == "4x16x28x28"  # the pooling before its ReLU
    assert rows["Conv2"][3] and rows["Pool1"][3] and not rows["Relu1"][3]  # a reference time where it differs
    assert all(float(cell) >= 0 for row in rows.values() for cell in row[1:] if cell and "x" not in cell)
    assert "BLAS: " in "\n".join(lines)


def test_bench_rejects_unknown_acceleration(capsys):
    assert main(["bench", "--models", "MLP", "--acceleration", "warp"]) == 2
    assert "unknown acceleration ['warp']" in capsys.readouterr().err


@pytest.mark.parametrize("option", [["--ranks", "3"], ["--epoch", "all"]])
def test_bench_refuses_ranks_or_epochs_it_would_time_on_no_network(option, capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(["bench", "--models", "MLP", *option])
    assert exit_info.value.code == 2
    assert f"{' '.join(option[:1] if option[0] == '--ranks' else option)} times SimpleConvNet and DeepConvNet; " \
           "--models MLP has neither" in capsys.readouterr().err


def test_a_step_ratio_pairs_the_blocks_of_each_round():
    from experiments.bench.timing import Row, format_targets, step_ratio
    # the machine slows down from round to round: the ratio of the medians (20/12) misses the paired 1.875
    numpy_row = Row("DeepConvNet", "numpy", "float32", "cpu", 20.0, 0.0, round_ms=(10.0, 20.0, 30.0))
    torch_row = Row("DeepConvNet", "torch", "float32", "cpu", 12.0, 0.0, round_ms=(4.0, 12.0, 16.0))
    assert step_ratio(numpy_row, torch_row) == (1.875, " (rounds: 1.67-2.50)")
    assert "DeepConvNet step / torch CPU float32: 1.88 (rounds: 1.67-2.50) (target: at most 2) met" in \
        format_targets([numpy_row, torch_row], ["cpu"])
    unpaired = Row("DeepConvNet", "torch", "float32", "cpu", 8.0, 0.0)
    assert step_ratio(numpy_row, unpaired) == (2.5, "")


def test_a_targets_two_rows_are_timed_side_by_side_in_alternating_order(monkeypatch):
    from experiments.bench import timing
    monkeypatch.setattr(timing, "WARM_UP_SECONDS", 0.0)
    calls = []

    def job(backend, dtype):
        return timing.Job("DeepConvNet", backend, dtype, "cpu", 1, 1, lambda: calls.append((backend, dtype)))
    jobs = [job("numpy", "float64"), job("numpy", "float32"), job("numpy (reference)", "float64"),
            job("torch", "float64"), job("torch", "float32")]
    rows = timing.time_interleaved(jobs, rounds=2, progress=lambda text: None)
    assert [(row.backend, row.dtype) for row in rows] == [(j.backend, j.dtype) for j in jobs]  # the jobs' order
    # after two warm-up steps each, every block's untimed step and its timed one (then peak memory's steps)
    timed = calls[2 * len(jobs):][:4 * len(jobs)][1::2]
    first_round = [("numpy", "float32"), ("torch", "float32"), ("numpy (reference)", "float64"),
                   ("numpy", "float64"), ("torch", "float64")]
    assert timed == first_round + first_round[::-1]


def test_a_block_warms_up_for_its_time_before_its_timed_steps(monkeypatch):
    from types import SimpleNamespace

    from experiments.bench import timing
    clock = [0.0]  # seconds, advanced by the steps alone: no verdict on this machine's speed
    monkeypatch.setattr(timing, "time", SimpleNamespace(perf_counter=lambda: clock[0]))
    monkeypatch.setattr(timing, "WARM_UP_SECONDS", 0.2)

    def block(step_seconds):
        steps = []

        def step():
            steps.append(step_seconds)
            clock[0] += step_seconds
        seconds = timing.Job("MLP", "numpy", "float32", "cpu", 1, 3, step).block_seconds()
        return len(steps), seconds
    assert block(0.03) == (7 + 3, pytest.approx(0.03))  # 0.21 s of untimed steps, then the three timed ones
    assert block(0.5) == (1 + 3, pytest.approx(0.5))  # one untimed step at least


def test_epoch_targets_are_judged_on_the_fastest_full_epoch():
    from experiments.bench.timing import EpochRow, format_targets
    rows = [EpochRow("SimpleConvNet", "cuda", "none", 60_000, 1.4),
            EpochRow("SimpleConvNet", "cuda", "compile", 60_000, 0.8, "same forward"),
            EpochRow("DeepConvNet", "cuda", "none", 60_000, 3.5)]
    text = format_targets([], ["cpu", "cuda"], rows, gpu_name="NVIDIA H100 80GB HBM3")
    assert ("SimpleConvNet epoch on CUDA: 0.80 s with acceleration compile, loss same forward "
            "(target: under 1 s) met") in text
    assert ("DeepConvNet epoch on CUDA: 3.50 s with acceleration none, loss after update "
            "(target: under 3 s) NOT MET") in text
    assert "this GPU is" not in format_targets([], ["cpu", "cuda"], rows, gpu_name="NVIDIA H200")
    other = format_targets([], ["cpu", "cuda"], rows[:2], gpu_name="NVIDIA A10")
    assert "(the target is for an H100 or H200; this GPU is NVIDIA A10)" in other
    assert "DeepConvNet epoch on CUDA: not measured" in other


@pytest.mark.slow
def test_a_torch_run_with_bf16_autocast_records_it(run):
    metrics = run("train_convnet", "--acceleration", "bf16", backend="torch")
    assert metrics["settings"]["acceleration"] == "bf16"
    plain = run("train_convnet", backend="torch")
    assert plain["settings"]["acceleration"] == "none"
    bf16_loss, plain_loss = (np.array(m["results"]["training"]["torch"]["train_loss"]) for m in (metrics, plain))
    assert not np.array_equal(bf16_loss, plain_loss)  # autocast did run
    assert_close(bf16_loss, plain_loss, "bf16 trajectory", "loss curve", dtype="float32")


def test_bad_command_line_values_are_usage_errors(capsys, tmp_path):
    a_file = tmp_path / "a_file"
    a_file.write_text("")
    locked = tmp_path / "locked"
    locked.mkdir(mode=0o500)
    cases = [(["--seed", "-1"], "--seed must be in [0, 2**64)"),
             (["--out", str(a_file)], f"--out {a_file} is a file, not a folder"),
             (["--out", str(a_file / "inside")], f"{a_file} is a file, not a folder")]
    if os.geteuid() != 0:  # root writes anywhere
        cases.append((["--out", str(locked / "run")], f"{locked} is not writable"))
    for argv, message in cases:
        with pytest.raises(SystemExit) as exit_info:
            main(["run", "train_neuralnet", "--quick", *argv])
        assert exit_info.value.code == 2
        err = capsys.readouterr().err
        assert message in err and "Traceback" not in err


def test_an_option_the_experiment_does_not_use_is_refused(capsys):
    for option in (["--epochs", "3"], ["--dtype", "float64"], ["--dataset", "mnist"], ["--download"],
                   ["--device", "cpu"], ["--seed", "4"]):
        with pytest.raises(SystemExit) as exit_info:
            main(["run", "gradient_method", *option])
        assert exit_info.value.code == 2
        assert f"gradient_method does not use {option[0]}" in capsys.readouterr().err


def test_help_and_list_load_neither_torch_nor_matplotlib():
    script = ("import sys\nfrom experiments.__main__ import main\nmain(['list'])\n"
              "try:\n    main(['run', 'train_convnet', '--help'])\nexcept SystemExit:\n    pass\n"
              "print(sorted(m for m in ('torch', 'matplotlib') if m in sys.modules))")
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True)
    assert result.stdout.strip().splitlines()[-1] == "[]"


def test_run_help_lists_every_experiment(capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(["run", "--help"])
    assert exit_info.value.code == 0
    text = capsys.readouterr().out
    assert all(name in text for name in EXPERIMENTS) and "scored on 20% of 500 images" in text


def test_run_name_help_describes_that_experiment_and_its_options(capsys):
    with pytest.raises(SystemExit):
        main(["run", "train_convnet", "--help"])
    text = capsys.readouterr().out
    assert "SimpleConvNet (30 5x5 filters, hidden 100) with Adam" in text
    assert "number of epochs (default 20, with --quick 2)" in text
    with pytest.raises(SystemExit):
        main(["run", "weight_init_activation_histogram", "--help"])
    text = capsys.readouterr().out
    assert "Histograms of 5 layers' activations" in text and "--epochs" not in text and "--dataset" not in text


@pytest.mark.parametrize("name, option, why", [
    ("weight_init_activation_histogram", ["--epochs", "2"], "it trains for no epochs"),
    ("optimizer_compare_naive", ["--dataset", "mnist"], "it reads no data set"),
    ("batch_norm_gradient_check", ["--epochs", "2"], "it trains for no epochs"),
    ("batch_norm_gradient_check", ["--backend", "torch"], "it runs on NumPy alone"),
    ("batch_norm_gradient_check", ["--dtype", "float64"], "it computes in float64 whatever --dtype says"),
    ("weight_init_activation_histogram", ["--device", "cpu"], "it runs on the CPU"),
    ("vanishing_gradient", ["--acceleration", "compile"], "its trainings, if any, take no speed-ups"),
    ("hyperparameter_optimization", ["--semantics", "pytorch"], "its networks, if any, keep the book's semantics"),
])
def test_options_an_experiment_never_reads_are_refused(name, option, why, capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(["run", name, *option])
    assert exit_info.value.code == 2
    assert f"{name} does not use {option[0]}: {why}" in capsys.readouterr().err


def test_two_backend_training_names_a_bad_backend_or_dtype():
    from experiments.training import TwoBackendTraining
    with pytest.raises(ValueError, match="backend must be 'numpy', 'torch' or 'both'; got 'jax'"):
        TwoBackendTraining("jax")
    with pytest.raises(ValueError, match=r"dtype must be one of \['float32', 'float64'\]; got 'float16'"):
        TwoBackendTraining("numpy", "float16")
    both = TwoBackendTraining("both", "float64", "cpu", seed=3)
    assert both.backends == ["numpy", "torch"] and both.both and both.seed == 3 and str(both.device) == "cpu"


def test_a_run_on_torch_says_which_device_auto_chose(fashion_mnist, tmp_path, capsys):
    assert main(["run", "vanishing_gradient", "--quick", "--no-progress", "--backend", "torch",
                 "--out", str(tmp_path / "run")]) == 0
    out = capsys.readouterr().out
    device = json.loads((tmp_path / "run" / "metrics.json").read_text())["settings"]["device"]
    assert f"torch runs on {device} (--device auto: the GPU where there is one, else the CPU)" in out
    assert main(["run", "vanishing_gradient", "--quick", "--no-progress", "--out", str(tmp_path / "numpy")]) == 0
    assert "torch runs on" not in capsys.readouterr().out  # NumPy alone
