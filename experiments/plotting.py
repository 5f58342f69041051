"""The figures several experiments draw: learning curves of both backends, NumPy solid and torch dashed."""
import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
from matplotlib.ticker import MaxNLocator  # noqa: E402

LINE_STYLES = {"numpy": "-", "torch": "--"}


def save_training_figure(ctx, results, filename, title, epoch_label="epoch"):
    """Loss per step and train/test accuracy per epoch of one training run, {backend: TrainResult}. The
    accuracies are measured as each epoch starts (after its first step, as the book's Trainer does); the last
    points, at the end of training, are the final ones the run prints (the test accuracy on the whole test
    set)."""
    fig, (ax_loss, ax_acc) = plt.subplots(1, 2, figsize=(11, 4))
    plot_curves(ax_loss, {"train loss": {b: r.train_loss for b, r in results.items()}}, "loss")
    plot_curves(ax_acc, {"train": {b: [*r.train_acc, r.final_train_acc] for b, r in results.items()},
                         "test": {b: [*r.test_acc, r.final_test_acc] for b, r in results.items()}}, "accuracy",
                marker="o")
    epochs = max(len(r.train_acc) for r in results.values())
    if epochs < 12:
        ax_acc.set_xticks(range(epochs + 1), [*map(str, range(epochs)), "end"])
    ax_acc.set_ylim(0, 1)
    ax_loss.set_xlabel("step")
    ax_loss.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax_acc.set_xlabel(f"{epoch_label}\nend: the final accuracies, after the last step (test: the whole test set)")
    fig.suptitle(title + (" (a quick run: too short for the book's accuracy)" if getattr(ctx, "quick", False)
                          else ""))
    fig.tight_layout()
    ctx.save_figure(fig, filename)


def plot_curves(ax, curves, ylabel, smooth=None, marker=None):
    """Overlay curves {label: {backend: values}}; NumPy solid, torch dashed, one colour per label; `marker` on
    every point (a curve of one point is then visible)."""
    for index, (label, by_backend) in enumerate(curves.items()):
        for backend, values in by_backend.items():
            values = np.asarray(values, dtype=float)
            if smooth is not None and len(values):
                values = smooth(values)
            name = label if len(by_backend) == 1 else f"{label} ({backend})"
            ax.plot(values, LINE_STYLES[backend], color=f"C{index % 10}", label=name, marker=marker, markersize=4)
    ax.set_ylabel(ylabel)
    ax.legend(fontsize=8)
