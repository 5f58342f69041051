"""Chapter 6.4: overfitting a small training set, and weight decay and dropout against it."""
import matplotlib.pyplot as plt

from .training import Net


def overfit_runs(ctx, name, configurations, epochs):
    """Train each configuration on 300 images; plot train and test accuracy; record the final gap."""
    data = ctx.data(train_size=300, test_size=1000 if ctx.quick else None)
    fig, axes = plt.subplots(1, len(configurations), figsize=(5 * len(configurations), 4), squeeze=False)
    gaps = {}
    for ax, (label, net) in zip(axes[0], configurations.items()):
        results = ctx.train(label, net, data, "SGD", {"lr": 0.01}, epochs=epochs, batch_size=100)
        for backend, result in results.items():
            style = "-" if backend == "numpy" else "--"
            ax.plot(result.train_acc, style, color="C0", label=f"train [{backend}]")
            ax.plot(result.test_acc, style, color="C1", label=f"test [{backend}]")
            gaps[f"{label} [{backend}]"] = {"final_train_acc": result.final_train_acc,
                                            "final_test_acc": result.final_test_acc,
                                            "gap": result.final_train_acc - result.final_test_acc,
                                            "seconds": result.seconds}
        ax.set(title=label, xlabel="epoch", ylabel="accuracy", ylim=(0, 1.02))
        ax.legend(fontsize=8)
        ctx.record("runs", gaps)
    fig.tight_layout()
    ctx.save_figure(fig, f"{name}.png")
    for key, value in gaps.items():
        ctx.summary(f"{key}: train {value['final_train_acc']:.3f}, test {value['final_test_acc']:.3f}, "
                    f"gap {value['gap']:.3f}")


def overfit_weight_decay(ctx):
    """A 7-layer net on 300 images, without weight decay, with L2 (lambda 0.1) and with L1 (lambda 0.01)."""
    hidden = [100] * 6
    overfit_runs(ctx, "overfit_weight_decay", {
        "no weight decay": Net("MultiLayerNet", (784, hidden, 10)),
        "L2, lambda 0.1": Net("MultiLayerNet", (784, hidden, 10), {"weight_decay_lambda": 0.1}),
        "L1, lambda 0.01": Net("MultiLayerNet", (784, hidden, 10),
                                {"weight_decay_lambda": 0.01, "weight_decay_type": "l1"}),
    }, ctx.epochs_or(201, 100))


def overfit_dropout(ctx):
    """A 7-layer net on 300 images, without and with dropout (ratio 0.2)."""
    hidden = [100] * 6
    overfit_runs(ctx, "overfit_dropout", {
        "no dropout": Net("MultiLayerNetExtend", (784, hidden, 10)),
        "dropout 0.2": Net("MultiLayerNetExtend", (784, hidden, 10), {"use_dropout": True, "dropout_ration": 0.2}),
    }, ctx.epochs_or(301, 100))
