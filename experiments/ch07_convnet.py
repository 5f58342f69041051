"""Chapter 7: SimpleConvNet, and what its first-layer filters learn."""
import matplotlib.pyplot as plt
import numpy as np

from .plotting import save_training_figure
from .training import Net


def first_layer_filters(network):
    """The first convolution's filters as a NumPy array (FN, C, FH, FW), from either backend."""
    if hasattr(network, "params"):
        return network.params["W1"].copy()
    return network.layers[0].weight.detach().cpu().numpy().copy()


def draw_filters(ax_row, filters, title):
    for ax, f in zip(ax_row, filters):
        ax.imshow(f[0], cmap="gray_r", interpolation="nearest")
        ax.set_xticks([])
        ax.set_yticks([])
    ax_row[0].set_title(title, fontsize=8, loc="left")


def train_convnet(ctx):
    """SimpleConvNet (30 5x5 filters, hidden 100) with Adam; its 30 first-layer filters before and after training."""
    data = ctx.data(flatten=False, train_size=1000 if ctx.quick else None, test_size=500 if ctx.quick else None)
    net = Net("SimpleConvNet", (), {"conv_param": {"filter_num": 30, "filter_size": 5, "pad": 0, "stride": 1},
                                    "hidden_size": 100, "output_size": 10, "weight_init_std": 0.01})
    before = {backend: first_layer_filters(n) for backend, n in ctx.build(net).items()}
    results = ctx.train("SimpleConvNet", net, data, "Adam", {"lr": 0.001}, epochs=ctx.epochs_or(20, 2),
                        batch_size=100, evaluate_sample_num_per_epoch=1000)
    ctx.record("training", {backend: r.summary() for backend, r in results.items()})
    save_training_figure(ctx, results, "train_convnet.png", "SimpleConvNet, Adam lr 0.001, batch 100",
                         "epoch (accuracy on the first 1000 images)")
    changes = {}
    for backend, result in results.items():
        after = first_layer_filters(result.network)
        changes[backend] = float(np.mean(np.abs(after - before[backend])))
        fig, axes = plt.subplots(4, 15, figsize=(12, 3.4))
        draw_filters(axes[0], before[backend][:15], "before training")
        draw_filters(axes[1], before[backend][15:], "")
        draw_filters(axes[2], after[:15], "after training")
        draw_filters(axes[3], after[15:], "")
        fig.suptitle(f"SimpleConvNet first-layer filters [{backend}]")
        ctx.save_figure(fig, f"convnet_filters_{backend}.png")
        ctx.summary(f"[{backend}] test acc {result.final_test_acc:.4f} in {result.seconds:.1f} s; "
                    f"filters moved by {changes[backend]:.4f} on average")
    ctx.record("mean_abs_filter_change", changes)
