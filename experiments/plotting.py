"""The figures several experiments draw: learning curves of both backends, NumPy solid and torch dashed."""
import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

LINE_STYLES = {"numpy": "-", "torch": "--"}


def save_training_figure(ctx, results, filename, title, epoch_label="epoch"):
    """Loss per step and train/test accuracy per epoch of one training run, {backend: TrainResult}."""
    fig, (ax_loss, ax_acc) = plt.subplots(1, 2, figsize=(11, 4))
    plot_curves(ax_loss, {"train loss": {b: r.train_loss for b, r in results.items()}}, "loss")
    plot_curves(ax_acc, {"train": {b: r.train_acc for b, r in results.items()},
                         "test": {b: r.test_acc for b, r in results.items()}}, "accuracy")
    ax_loss.set_xlabel("step")
    ax_acc.set_xlabel(epoch_label)
    fig.suptitle(title)
    fig.tight_layout()
    ctx.save_figure(fig, filename)


def plot_curves(ax, curves, ylabel, smooth=None):
    """Overlay curves {label: {backend: values}}; NumPy solid, torch dashed, one colour per label."""
    for index, (label, by_backend) in enumerate(curves.items()):
        for backend, values in by_backend.items():
            values = np.asarray(values, dtype=float)
            if smooth is not None and len(values):
                values = smooth(values)
            name = label if len(by_backend) == 1 else f"{label} ({backend})"
            ax.plot(values, LINE_STYLES[backend], color=f"C{index % 10}", label=name)
    ax.set_ylabel(ylabel)
    ax.legend(fontsize=8)
