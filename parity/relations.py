"""docs/design.md's relations that more than one twin uses."""
import torch


def book_loss(torch_loss, scores, labels):
    """The book's loss (1e-7 inside the log) from F.cross_entropy's, for the same scores:
    book = torch - (1/N) * sum(log(1 + 1e-7 / y_label))."""
    labels = torch.as_tensor(labels, device=scores.device)
    y_label = torch.softmax(scores.double(), dim=1)[torch.arange(len(labels), device=scores.device), labels]
    return torch_loss - torch.mean(torch.log1p(1e-7 / y_label)).to(torch_loss.dtype)


def torch_running_var(book_running_var, batch_rows, steps, momentum=0.1):
    """docs/design.md: torch's running variance from the book's, after `steps` training steps on batches of
    `batch_rows` rows per feature from the initial state. Both decay by 1 - momentum per step, but torch
    starts from 1 and adds the unbiased batch variance, the book from 0 and the biased one:
    torch = (1 - momentum)**steps + n/(n-1) * book."""
    return (1 - momentum) ** steps + batch_rows / (batch_rows - 1) * book_running_var


def book_running_var(torch_running_var, batch_rows, steps, momentum=0.1):
    """The inverse of torch_running_var: the book's running variance from torch's."""
    return (torch_running_var - (1 - momentum) ** steps) * (batch_rows - 1) / batch_rows
