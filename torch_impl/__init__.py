"""Idiomatic PyTorch twins of numpy_impl (nn.Module layers, torch.optim, CUDA)."""
