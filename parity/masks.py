"""Handing the dropout masks the torch side drew to the NumPy side.

The torch networks' BookDropout modules keep the mask of their last training
forward; `record_masks` collects every mask each module draws, in order, and
`replay_masks` makes the NumPy network's Dropout layers use them in the same
order instead of drawing their own.
"""
from numpy_impl.layers import Dropout
from torch_impl.layers import BookDropout


def record_masks(torch_net):
    """Start recording; returns (masks, remove), masks being one list per BookDropout, filled as it runs."""
    modules = [m for m in torch_net.modules() if isinstance(m, BookDropout)]
    masks = [[] for _ in modules]
    handles = [module.register_forward_hook(
        lambda module, args, out, store=store: store.append(module.mask.cpu().numpy()) if module.training else None)
        for module, store in zip(modules, masks)]

    def remove():
        for handle in handles:
            handle.remove()
    return masks, remove


def replay_masks(numpy_net, masks):
    """Make numpy_net's Dropout layers (in order) return the recorded masks, one per training forward."""
    layers = [layer for layer in numpy_net.layers.values() if isinstance(layer, Dropout)]
    if len(layers) != len(masks):
        raise ValueError(f"{len(layers)} NumPy dropout layers but masks for {len(masks)}")
    for layer, recorded in zip(layers, masks):
        queue = iter(recorded)

        def draw_mask(shape, queue=queue, layer=layer):
            mask = next(queue, None)
            if mask is None or mask.shape != tuple(shape):
                raise RuntimeError(f"no recorded torch mask of shape {tuple(shape)} left for {layer!r}")
            return mask
        layer.draw_mask = draw_mask
