"""Chapter 6.5: random search over the learning rate and weight decay, on a validation split, as an Optuna study."""
import multiprocessing
import os
import time
import warnings

import matplotlib.pyplot as plt
import numpy as np
from tqdm import tqdm

from .search import (
    SearchSettings,
    StorageError,
    enqueue_missing,
    is_in_memory,
    open_study,
    trial_records,
    work,
    worker_process,
)


def hyperparameter_optimization(ctx):
    """100 random (lr, weight decay) pairs, 10^U(-6,-2) and 10^U(-8,-4), scored on 20% of 500 images; the best 20
    drawn. An Optuna study: --workers K processes here, and any machine running the same command with the same
    --storage, share its trials; run it again to continue an interrupted search."""
    settings = SearchSettings(storage=ctx.storage or str(ctx.out / "study.journal"), trials=ctx.trials_or(100, 6),
                              seed=ctx.seed, epochs=ctx.epochs_or(50, 10), backend="both" if ctx.both
                              else ctx.backends[0], device=str(ctx.device), dtype=ctx.dtype, dataset=ctx.dataset,
                              download=ctx.download)
    if ctx.workers > 1 and is_in_memory(settings.storage):
        raise StorageError(f"--storage {settings.storage} is an in-memory database, which each of the "
                           f"{ctx.workers} worker processes would hold alone: give a file (sqlite:///search.db) or "
                           "a journal file")
    study = open_study(settings)
    enqueue_missing(study, settings)
    ctx.record("study", {"name": settings.study_name, "storage": settings.storage, "workers_here": ctx.workers})
    complete_before = {record["number"] for record in trial_records(study) if record["state"] == "COMPLETE"}
    run_workers(ctx, settings, study)
    records = trial_records(study)
    ctx.record("trials", records)
    complete = sorted((r for r in records if r["state"] == "COMPLETE"), key=lambda r: -r["val_acc"])
    ctx.record("complete_trials", len(complete))
    ctx.record("complete_before_this_run", len(complete_before))
    if complete_before:
        ctx.summary(f"{len(complete_before)} of the {len(complete)} complete trials were complete in "
                    f"{settings.storage} before this run (study {settings.study_name}); "
                    f"{len(complete) - len(complete_before)} completed during it")
    draw_best_trials(ctx, complete[:20], len(complete))
    draw_optuna_plots(ctx, study, len(complete))
    for rank, result in enumerate(complete[:5], start=1):
        ctx.summary(f"best {rank} of {len(complete)}: val acc {result['val_acc']:.3f}, lr {result['lr']:.2e}, "
                    f"weight decay {result['weight_decay']:.2e} (trial {result['number']}, draw {result['index']})")
    if len(complete) < IMPORTANCE_TRIALS:
        trials = "1 complete trial is" if len(complete) == 1 else f"{len(complete)} complete trials are"
        ctx.summary(f"no parameter-importance plot: {trials} too few to rank the two "
                    f"parameters (it is drawn from {IMPORTANCE_TRIALS})")


WORKER_STOP_SECONDS = 30  # a worker told to stop that has not ended by then is killed
IMPORTANCE_TRIALS = 20  # complete trials before the parameters' importances are drawn: fewer are noise


def run_workers(ctx, settings, study):
    """Run the study's trials in this process (--workers 1) or in K spawned ones, with a bar of complete trials."""
    from optuna.trial import TrialState

    def complete():
        return len(study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,)))
    with tqdm(total=settings.trials, initial=complete(), desc="trials", unit="trial", disable=not ctx.progress) as bar:
        if ctx.workers == 1:
            work(settings)
            bar.update(complete() - bar.n)
            return
        spawn = multiprocessing.get_context("spawn")  # a fresh interpreter: no torch or BLAS state forked
        workers = [spawn.Process(target=worker_process, args=(settings, os.getpid()), name=f"worker {k}")
                   for k in range(ctx.workers)]
        for worker in workers:
            worker.start()
        try:
            while any(worker.is_alive() for worker in workers):
                time.sleep(0.5)
                bar.update(complete() - bar.n)
        finally:  # stopped (Ctrl-C, which reaches the workers too, or SIGTERM to this process alone): stop them all
            for worker in workers:
                if worker.is_alive():
                    worker.terminate()  # SIGTERM: the worker marks its running trial FAIL and ends
            for worker in workers:
                worker.join(WORKER_STOP_SECONDS)
                if worker.is_alive():
                    worker.kill()
                    worker.join()
        failed = [worker.name for worker in workers if worker.exitcode != 0]
        bar.update(complete() - bar.n)
    if failed:
        raise RuntimeError(f"{', '.join(failed)} of the hyper-parameter search stopped with an error "
                           "(its trial is marked FAIL and runs again when the command is run again)")


def draw_best_trials(ctx, best, complete):
    """The book's figure: the validation and training accuracy of the best trials (of `complete`), epoch by
    epoch, best first."""
    columns = 5
    rows = max(1, int(np.ceil(len(best) / columns)))
    fig, axes = plt.subplots(rows, columns, figsize=(14, 2.6 * rows), squeeze=False)
    for ax in axes.flat[len(best):]:
        ax.axis("off")
    for rank, (ax, result) in enumerate(zip(axes.flat, best), start=1):
        ax.plot(result["validation_curve"], label="validation")
        ax.plot(result["train_curve"], "--", label="train")
        ax.set(ylim=(0, 1), xlabel="epoch", ylabel="accuracy",
               title=f"#{rank}: val {result['val_acc']:.2f}\nlr {result['lr']:.1e}, wd {result['weight_decay']:.1e}")
        ax.title.set_fontsize(8)
        ax.tick_params(labelsize=6)
    if best:
        axes.flat[0].legend(fontsize=7)
    fig.suptitle(f"the best {len(best)} of {complete} complete trials of the random search, best first"
                 if len(best) < complete else f"all {complete} complete trials of the random search, best first")
    fig.tight_layout()
    ctx.save_figure(fig, "hyperparameter_optimization.png")


def draw_optuna_plots(ctx, study, complete):
    """Optuna's own views of the study (its matplotlib versions): the history of the trials, each parameter's
    slice and, given IMPORTANCE_TRIALS complete trials or more, the parameters' importances."""
    import optuna.visualization.matplotlib as views
    from optuna.exceptions import ExperimentalWarning

    warnings.filterwarnings("ignore", category=ExperimentalWarning)  # Optuna marks its matplotlib views so
    plots = [("optimization_history", views.plot_optimization_history), ("slice", views.plot_slice)]
    if complete >= IMPORTANCE_TRIALS:
        plots.append(("param_importances", views.plot_param_importances))
    for name, plot in plots:
        axes = plot(study)
        for ax in np.atleast_1d(axes).flat:  # Optuna's generic label, for what this study maximises
            if ax.get_ylabel() == "Objective Value":
                ax.set_ylabel("validation accuracy")
        figure = (axes.flat[0] if isinstance(axes, np.ndarray) else axes).figure
        figure.set_size_inches(9, 4.5)
        figure.set_layout_engine("constrained")  # the slice plot's colour bar defeats tight_layout
        ctx.save_figure(figure, f"optuna_{name}.png")
