"""From-scratch NumPy implementation of *Deep Learning from Scratch*, chapters 4 to 8.

Modules keep the book's names: functions, gradient, layers, optimizers,
networks, trainer, util, datasets (load_mnist).
"""
from .datasets import load_mnist

__all__ = ["load_mnist"]
