"""Chapter 8: DeepConvNet, and the test images it gets wrong."""
import matplotlib.pyplot as plt
import numpy as np
import torch

from .plotting import save_training_figure
from .training import Net

FASHION_CLASSES = ("T-shirt", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag", "Boot")


def predictions(network, x):
    if hasattr(network, "params"):
        return np.concatenate([np.argmax(network.predict(x[i:i + 100]), axis=1) for i in range(0, len(x), 100)])
    network.eval()
    with torch.no_grad():
        return torch.cat([network(x[i:i + 100]).argmax(dim=1) for i in range(0, len(x), 100)]).cpu().numpy()


def train_deepnet(ctx):
    """DeepConvNet (6 conv layers, dropout) with Adam; the misclassified test images drawn with their labels."""
    data = ctx.data(flatten=False, train_size=300 if ctx.quick else None, test_size=200 if ctx.quick else None)
    results = ctx.train("DeepConvNet", Net("DeepConvNet"), data, "Adam", {"lr": 0.001},
                        epochs=ctx.epochs_or(20, 1), batch_size=100, evaluate_sample_num_per_epoch=1000)
    ctx.record("training", {backend: r.summary() for backend, r in results.items()})
    save_training_figure(ctx, results, "train_deepnet.png", "DeepConvNet, Adam lr 0.001, batch 100",
                         "epoch (accuracy on the first 1000 images)")
    names = FASHION_CLASSES if ctx.dataset == "fashion-mnist" else tuple(str(d) for d in range(10))
    for backend, result in results.items():
        _, (x_test, t_test) = data[backend]
        predicted = predictions(result.network, x_test)
        labels = t_test.cpu().numpy() if isinstance(t_test, torch.Tensor) else t_test
        wrong = np.flatnonzero(predicted != labels)
        images = x_test.cpu().numpy() if isinstance(x_test, torch.Tensor) else x_test
        fig, axes = plt.subplots(4, 5, figsize=(8, 7.5))
        for ax in axes.flat:
            ax.axis("off")
        for ax, index in zip(axes.flat, wrong[:20]):
            ax.imshow(images[index, 0], cmap="gray_r")
            ax.set_title(f"{names[predicted[index]]}\n(is {names[labels[index]]})", fontsize=8, color="red")
        fig.suptitle(f"DeepConvNet: {len(wrong)} of {len(labels)} test images misclassified [{backend}]; "
                     "first 20: prediction (truth)", fontsize=9)
        ctx.save_figure(fig, f"misclassified_{backend}.png")
        ctx.record(f"misclassified_{backend}", {"count": int(len(wrong)), "of": int(len(labels)),
                                                "first_indices": wrong[:20].tolist()})
        ctx.summary(f"[{backend}] test acc {result.final_test_acc:.4f} ({len(wrong)} wrong) "
                    f"{result.took()}")
