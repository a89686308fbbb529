"""Adapters to the frameworks that training runs inside.

:mod:`focalloss.integrations.huggingface`: a ``compute_loss_func`` for ``transformers.Trainer``.
No submodule imports its framework, and importing :mod:`focalloss` imports none of them.
"""
