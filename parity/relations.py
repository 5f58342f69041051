"""DESIGN.md's relations that more than one twin uses."""
import torch


def book_loss(torch_loss, scores, labels):
    """The book's loss (1e-7 inside the log) from F.cross_entropy's, for the same scores:
    book = torch - (1/N) * sum(log(1 + 1e-7 / y_label))."""
    labels = torch.as_tensor(labels, device=scores.device)
    y_label = torch.softmax(scores.double(), dim=1)[torch.arange(len(labels), device=scores.device), labels]
    return torch_loss - torch.mean(torch.log1p(1e-7 / y_label)).to(torch_loss.dtype)
