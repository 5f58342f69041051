"""Training one network under several configurations and overlaying their loss curves: what
optimizer_compare_mnist (one optimizer each) and weight_init_compare (one initialisation each) show."""
import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from numpy_impl.util import smooth_curve  # noqa: E402

from .plotting import plot_curves  # noqa: E402


def compare_configurations(ctx, record_key, configurations, data, epochs, title, filename, batch_size=128):
    """Train each configuration {label: (Net, optimizer name, optimizer_param)} on ctx's backends, record
    {label: {backend: summary}} under `record_key` as each finishes, draw the smoothed loss curves, and summarise
    each run's final loss (the mean of its last 20 steps) and test accuracy."""
    curves, summary = {}, {}
    for label, (net, optimizer, optimizer_param) in configurations.items():
        results = ctx.train(label, net, data, optimizer, optimizer_param, epochs=epochs, batch_size=batch_size)
        curves[label] = {backend: r.train_loss for backend, r in results.items()}
        summary[label] = {backend: r.summary() for backend, r in results.items()}
        ctx.record(record_key, summary)
    fig, ax = plt.subplots(figsize=(8, 5))
    plot_curves(ax, curves, "training loss (smoothed)", smooth=smooth_curve)
    ax.set(xlabel="step", title=title)
    ax.set_ylim(bottom=0)  # the top follows the curves: a fixed one cut the start of AdaGrad's and RMSprop's
    ctx.save_figure(fig, filename)
    for label, by_backend in summary.items():
        for backend, result in by_backend.items():
            ctx.summary(f"{label} [{backend}]: final loss (mean of last 20 steps) "
                        f"{np.mean(result['train_loss'][-20:]):.4f}, test acc {result['final_test_acc']:.4f}")
    return summary
