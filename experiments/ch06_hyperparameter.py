"""Chapter 6.5: random search over the learning rate and weight decay, on a validation split."""
import matplotlib.pyplot as plt
import numpy as np
import torch

from .training import Net


def hyperparameter_optimization(ctx):
    """100 random (lr, weight decay) pairs, 10^U(-6,-2) and 10^U(-8,-4), scored on 20% of 500 images; the best 20
    drawn."""
    trials = 6 if ctx.quick else 100
    epochs = ctx.epochs_or(50, 10)
    data = ctx.data(train_size=500, test_size=1)
    rng = np.random.default_rng(ctx.seed)
    permutation = rng.permutation(500)
    validation, training = permutation[:100], permutation[100:]
    split = {}
    for backend, ((x, t), _) in data.items():
        index = validation, training
        if backend == "torch":
            index = tuple(torch.as_tensor(i, device=x.device) for i in index)
        split[backend] = ((x[index[1]], t[index[1]]), (x[index[0]], t[index[0]]))
    results = []
    for trial in range(trials):
        weight_decay, lr = 10 ** rng.uniform(-8, -4), 10 ** rng.uniform(-6, -2)
        net = Net("MultiLayerNet", (784, [100] * 6, 10), {"weight_decay_lambda": float(weight_decay)})
        by_backend = ctx.train(f"trial {trial + 1}/{trials}", net, split, "SGD", {"lr": float(lr)},
                               epochs=epochs, batch_size=100, seed=ctx.seed + trial, allow_divergence=True)
        backend = ctx.backends[0]
        results.append({"lr": lr, "weight_decay": weight_decay, "val_acc": by_backend[backend].test_acc,
                        "diverged": not np.isfinite(by_backend[backend].train_loss).all(),
                        "train_acc": by_backend[backend].train_acc,
                        "final_val_acc": by_backend[backend].final_test_acc,
                        "backends": {b: r.final_test_acc for b, r in by_backend.items()}})
        ctx.record("trials", sorted(results, key=lambda r: -r["final_val_acc"]))
    best = sorted(results, key=lambda r: -r["final_val_acc"])[:20]
    columns = 5
    rows = int(np.ceil(len(best) / columns))
    fig, axes = plt.subplots(rows, columns, figsize=(14, 2.6 * rows), squeeze=False)
    for ax in axes.flat[len(best):]:
        ax.axis("off")
    for rank, (ax, result) in enumerate(zip(axes.flat, best), start=1):
        ax.plot(result["val_acc"], label="validation")
        ax.plot(result["train_acc"], "--", label="train")
        ax.set(ylim=(0, 1), title=f"#{rank}: val {result['final_val_acc']:.2f}\nlr {result['lr']:.1e}, "
                                  f"wd {result['weight_decay']:.1e}")
        ax.title.set_fontsize(8)
        ax.tick_params(labelsize=6)
    axes.flat[0].legend(fontsize=7)
    fig.tight_layout()
    ctx.save_figure(fig, "hyperparameter_optimization.png")
    for rank, result in enumerate(best[:5], start=1):
        ctx.summary(f"best {rank}: val acc {result['final_val_acc']:.3f}, lr {result['lr']:.2e}, "
                    f"weight decay {result['weight_decay']:.2e}")
