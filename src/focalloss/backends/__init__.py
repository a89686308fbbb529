"""Implementations behind the functional API. ``torch_ops``: plain PyTorch ops, autograd gradients."""
