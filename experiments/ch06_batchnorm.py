"""Chapter 6.3: batch normalisation: training across weight scales, and its gradient check."""
import matplotlib.pyplot as plt
import numpy as np

from numpy_impl.networks import MultiLayerNetExtend

from .gradient_check import gradient_check
from .plotting import LINE_STYLES
from .training import Net


def batch_norm_test(ctx):
    """Training accuracy with and without batch norm for 16 weight scales from 1 to 1e-4 (5 layers of 100)."""
    scales = np.logspace(0, -4, num=4 if ctx.quick else 16)
    data = ctx.data(train_size=500 if ctx.quick else 1000, test_size=500 if ctx.quick else 1000)
    epochs = ctx.epochs_or(20, 8)
    results = {}
    rows = int(np.ceil(len(scales) / 4))
    fig, axes = plt.subplots(rows, 4, figsize=(13, 3 * rows), squeeze=False)
    # at scale 1 the plain net's activations overflow float32, as in the book: expected, not warned about
    with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
        train_scales(ctx, scales, axes, data, epochs, results)
    fig.suptitle("training accuracy with (blue) and without (orange) batch norm, per initial weight scale"
                 + (f" (a quick run: {len(scales)} scales, {epochs} epochs on 500 images)" if ctx.quick else ""))
    fig.tight_layout()
    ctx.save_figure(fig, "batch_norm_test.png")
    for label, by_backend in results.items():
        for backend, result in by_backend.items():
            ctx.summary(f"{label} [{backend}]: final train acc {result['final_train_acc']:.3f}")


def train_scales(ctx, scales, axes, data, epochs, results):
    """Train with and without batch norm at each weight scale, one subplot per scale."""
    for ax, scale in zip(axes.flat, scales):
        for use_batchnorm in (True, False):
            label = f"{'batch norm' if use_batchnorm else 'plain'}, scale {scale:.2e}"
            net = Net("MultiLayerNetExtend", (784, [100] * 5, 10),
                      {"weight_init_std": float(scale), "use_batchnorm": use_batchnorm})
            # a plain network at a large weight scale diverges: what the book's figure shows
            by_backend = ctx.train(label, net, data, "SGD", {"lr": 0.01}, epochs=epochs, batch_size=100,
                                   allow_divergence=True)
            results[label] = {backend: r.summary() for backend, r in by_backend.items()}
            for backend, result in by_backend.items():  # colour: batch norm or not; line style: the backend
                style = f" ({backend}, {'solid' if backend == 'numpy' else 'dashed'})" if ctx.both else ""
                ax.plot(result.train_acc, LINE_STYLES[backend], color="C0" if use_batchnorm else "C1",
                        label=label.split(",")[0] + style)
        ax.set(title=f"W scale {scale:.2e}", ylim=(0, 1), xlabel="epoch", ylabel="train accuracy")
        ax.legend(fontsize=8)
        ctx.record("runs", results)


def batch_norm_gradient_check(ctx):
    """Backprop through batch norm against central differences (3 images, float64)."""
    differences = gradient_check(ctx, MultiLayerNetExtend(784, [20, 20], 10, use_batchnorm=True,
                                                          rng=np.random.default_rng(ctx.seed)))
    ctx.record("mean_abs_difference", differences)
    fig, ax = plt.subplots(figsize=(8, 4))
    ax.bar(list(differences), list(differences.values()))
    ax.set(yscale="log", ylabel="mean |backprop - numerical|", title="batch-norm network: gradient check")
    ax.tick_params(axis="x", labelrotation=45)
    fig.tight_layout()
    ctx.save_figure(fig, "batch_norm_gradient_check.png")
    for key, value in differences.items():
        ctx.summary(f"{key}: {value:.2e}")
