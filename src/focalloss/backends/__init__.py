"""Implementations behind the functional API.

``torch_ops`` is plain PyTorch, differentiated by autograd: it runs anywhere and is the fallback.
The fast backends (``cpu`` fused kernels, ``triton`` for CUDA) all provide the same contract, with
analytic gradients taken from :mod:`focalloss.reference`'s formulas:

``available() -> bool``
    whether the backend can run in this process (its compiled part or package is importable).

``binary_loss(kind, x, t, alpha, params, *, reduce) -> Tensor``
    kind: ``"focal" | "focal_star" | "softened" | "hard_truncation"``; params as in
    ``torch_ops.BINARY_TERMS`` (``gamma``; ``gamma, beta``; ``k``; ``threshold``).
    x: contiguous logits of any shape, float16 / bfloat16 / float32 / float64, finite.
    t: targets in [0, 1], contiguous, same shape and dtype as x.
    alpha: float in [0, 1] or None. reduce: True gives the 0-dim sum of the elementwise losses,
    False the elementwise losses in x's shape. The result is in the compute dtype (float32, or
    float64 for float64 logits) and differentiable with respect to x only; backward keeps at most
    one compute-dtype number per element.

``softmax_loss(kind, x, target, alpha, params, *, label_smoothing, counted) -> Tensor``
    kind: ``"focal" | "softened" | "hard_truncation"``.
    x: contiguous logits ``(N, C, d1, ..., dk)`` with C >= 2, any float dtype.
    target: int64 class indices ``(N, d1, ..., dk)``, or probabilities of x's shape and dtype.
    alpha: None or a ``(C,)`` tensor of per-class weights in the compute dtype, on x's device.
    counted: None (every position counts) or a bool tensor ``(N, d1, ..., dk)``; positions that do
    not count get loss 0 and gradient 0, and their logits and targets are never read (they may
    hold inf, NaN or an out-of-range index).
    Returns the per-position loss ``(N, d1, ..., dk)`` in the compute dtype, differentiable with
    respect to x only.
"""
