"""Idiomatic PyTorch twins of numpy_impl: networks of stock nn.Modules,
book-configured torch.optim optimizers, a device-resident Trainer and
torchvision datasets."""
