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


def draw_filters(figure, filters, title):
    """The filters' first input channel in two rows of a sub-figure titled `title`."""
    figure.suptitle(title, fontsize=9)
    columns = int(np.ceil(len(filters) / 2))
    for ax, f in zip(figure.subplots(2, columns).flat, filters):
        ax.imshow(f[0], cmap="gray_r", interpolation="nearest")
    for ax in figure.axes:
        ax.set_xticks([])
        ax.set_yticks([])


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
        fig = plt.figure(figsize=(12, 6.6), layout="constrained")
        top, middle, bottom = fig.subfigures(3, 1)
        draw_filters(top, before[backend], "before training")
        draw_filters(middle, after, "after training")
        draw_filters(bottom, after - before[backend], "what training changed (after - before)")
        moved = (f"a quick run: {len(result.train_loss)} steps moved them by {changes[backend]:.3f} on average, "
                 "too little to see above; the edges and blobs they start to learn show in what changed"
                 if ctx.quick else f"training moved them by {changes[backend]:.3f} on average")
        fig.suptitle(f"SimpleConvNet's 30 first-layer filters (5x5, each on its own grey scale) [{backend}]\n"
                     f"{moved}", fontsize=10)
        ctx.save_figure(fig, f"convnet_filters_{backend}.png")
        ctx.summary(f"[{backend}] test acc {result.final_test_acc:.4f} {result.took()}; "
                    f"filters moved by {changes[backend]:.4f} on average")
    ctx.record("mean_abs_filter_change", changes)
