"""Triton kernels behind :mod:`focalloss.backends.triton_ops`; importing this module imports triton.

Every kernel loads its inputs in their own dtype and computes in ``COMPUTE`` (float32, or float64 for
float64 logits). Offsets along the logits are int64. Hyperparameters arrive as float64 scalars and are
rounded once into ``COMPUTE``, so float64 logits get float64 settings.

Binary kernels are elementwise: the forward writes the losses (or one partial sum per program, which
the caller adds up in a fixed order), the backward recomputes the derivative from ``x`` and ``t``.

Softmax kernels see the logits as ``(N, C, S)``, ``S = d1 * ... * dk`` (1 for ``(N, C)``): element
``(n, c, k)`` sits at ``(n * C + c) * S + k``, read in place. A program owns ``BLOCK_P`` consecutive
positions ``p = n * S + k`` and walks the classes in tiles of ``(BLOCK_C, BLOCK_P)``, keeping an online
log-sum-exp per position: the running maximum ``m`` and ``s``, the sum of ``exp(x_j - m)`` over every
class but one. That class is the target ``y`` for class-index targets without smoothing, else the
arg-max ("top") class. Then

* ``log p_c = (x_c - m) - log(total)``, ``total = s + exp(x_y - m)`` (or ``1 + s``);
* ``1 - p_top = s / (1 + s)`` exactly, so ``log(1 - p)`` stays accurate when ``p`` rounds to 1 and
  every other class has ``p <= 1/2``, where ``log1p(-p)`` is well conditioned.

``(m, s)`` per position are the only values kept for the backward pass.
"""

import triton
import triton.language as tl

from ..losses import KIND_CODES, MAX_PIECES

# KIND codes, one numbering for every family (focalloss.losses; a test holds them to it)
KIND_FOCAL = tl.constexpr(KIND_CODES["focal"])
KIND_SOFTENED = tl.constexpr(KIND_CODES["softened"])
KIND_HARD_TRUNCATION = tl.constexpr(KIND_CODES["hard_truncation"])
KIND_FOCAL_STAR = tl.constexpr(KIND_CODES["focal_star"])
KIND_POLY1_FOCAL = tl.constexpr(KIND_CODES["poly1_focal"])
KIND_ADAPTIVE_FOCAL = tl.constexpr(KIND_CODES["adaptive_focal"])
KIND_ASYMMETRIC = tl.constexpr(KIND_CODES["asymmetric"])
KIND_QUALITY_FOCAL = tl.constexpr(KIND_CODES["quality_focal"])
KIND_VARIFOCAL = tl.constexpr(KIND_CODES["varifocal"])
CUTS = tl.constexpr(MAX_PIECES - 1)  # a schedule's cuts; it has one more gamma

LOG_HALF = tl.constexpr(-0.6931471805599453)


# --------------------------------------------------------------------------------------------------
# Elementary functions. Reductions go through tl.reduce with combine functions of this module, not
# tl.sum / tl.max: those are jit functions of triton's own library, compiled or interpreted as
# triton was first imported, while these kernels may run in the interpreter after triton was
# imported normally (torch._dynamo imports it).
# --------------------------------------------------------------------------------------------------
@triton.jit
def _add(a, b):
    return a + b


@triton.jit
def _smaller(a, b):
    return tl.minimum(a, b)


@triton.jit
def _sum_classes(v):
    """The sum over a tile's classes (axis 0), added in float64: a sum over C classes of terms as
    small as 1 / C (label smoothing) keeps its digits whatever order the reduction takes."""
    return tl.reduce(v.to(tl.float64), 0, _add)


@triton.jit
def _larger(a, b):
    return tl.maximum(a, b)


@triton.jit
def _larger_first(value_a, index_a, value_b, index_b):
    """The larger value with its index; on a tie the smaller index."""
    take_a = (value_a > value_b) | ((value_a == value_b) & (index_a < index_b))
    return tl.where(take_a, value_a, value_b), tl.where(take_a, index_a, index_b)


@triton.jit
def _log1p(v):
    """log(1 + v) for v > -1 from log alone (libdevice is unavailable in the interpreter).

    u = fl(1 + v) has lost the low bits of v; log(u) * v / (u - 1) puts them back (Goldberg).
    """
    u = 1.0 + v
    exact = u == 1.0
    return tl.where(exact, v, tl.log(u) * (v / tl.where(exact, 1.0, u - 1.0)))


@triton.jit
def _log1mexp(y):
    """log(1 - e^y) for y < 0 (-0 at y = -inf): log1p(-e^y) below -log 2, else log(-expm1(y)) with
    expm1(y) = (e^y - 1) y / log(e^y) (Kahan), exact where e^y rounds to 1."""
    u = tl.exp(y)
    near = y >= LOG_HALF
    u_near = tl.where(near, u, 0.5)  # read only where y >= -log 2
    exact = u_near == 1.0
    expm1 = tl.where(exact, y, (u_near - 1.0) * (y / tl.log(tl.where(exact, 0.5, u_near))))
    return tl.where(near, tl.log(-expm1), _log1p(-u))


@triton.jit
def _log1p_ratio(v):
    """log(1 + v) / v for v >= 0, with its limit 1 at v = 0."""
    u = 1.0 + v
    exact = u == 1.0
    return tl.where(exact, 1.0, tl.log(u) / tl.where(exact, 1.0, u - 1.0))


@triton.jit
def _pow_from_log(log_base, gamma):
    # gamma = 0 means no modulation: 1 even where log_base = -inf, and exp(0 * -inf) is NaN.
    return tl.where(gamma == 0.0, 1.0, tl.exp(gamma * log_base))


@triton.jit
def _schedule(cut0_, cut1_, cut2_, gamma0_, gamma1_, gamma2_, gamma3_, COMPUTE: tl.constexpr):
    """The schedule of gamma (``LossSpec.kernel_schedule``: CUTS cuts, CUTS + 1 gammas) as
    (cuts, gammas), rounded once into COMPUTE."""
    cuts = (tl.full([], cut0_, COMPUTE), tl.full([], cut1_, COMPUTE), tl.full([], cut2_, COMPUTE))
    gammas = (tl.full([], gamma0_, COMPUTE), tl.full([], gamma1_, COMPUTE), tl.full([], gamma2_, COMPUTE),
              tl.full([], gamma3_, COMPUTE))
    return cuts, gammas


@triton.jit
def _scheduled_gamma(v, schedule):
    """gammas[i] where cuts[i - 1] <= v < cuts[i] (the cuts increase, padded with +inf)."""
    cuts, gammas = schedule
    # v's shape from a where, not v * 0.0: that is NaN at v = -inf (a masked class)
    gamma = tl.where(v < cuts[0], gammas[0], gammas[1])
    for i in tl.static_range(1, CUTS):
        gamma = tl.where(v < cuts[i], gamma, gammas[i + 1])
    return gamma


@triton.jit
def _sigmoid_parts(z):
    """(log p, log(1 - p), p, 1 - p) for p = sigmoid(z), without overflow or cancellation."""
    e = tl.exp(-tl.abs(z))
    log1p_e = _log1p(e)
    inv = 1.0 / (1.0 + e)
    positive = z >= 0.0
    return (
        tl.minimum(z, 0.0) - log1p_e,
        tl.minimum(-z, 0.0) - log1p_e,
        tl.where(positive, inv, e * inv),
        tl.where(positive, e * inv, inv),
    )


# --------------------------------------------------------------------------------------------------
# Binary losses: A(z), the loss of a positive label at logit z, and A'(z)
# --------------------------------------------------------------------------------------------------
@triton.jit
def _binary_term(z, log_p, log_q, p, q, p1, p2, schedule, KIND: tl.constexpr):
    """(A(z), A'(z)); (log_p, log_q, p, q) are _sigmoid_parts(z). p1, p2, schedule: the kind's settings."""
    if KIND == KIND_FOCAL or KIND == KIND_ADAPTIVE_FOCAL:  # p1 = gamma, or the schedule's gamma of z
        gamma = p1
        if KIND == KIND_ADAPTIVE_FOCAL:  # held fixed in A': it is constant between the cuts
            gamma = _scheduled_gamma(z, schedule)
        mod = _pow_from_log(log_q, gamma)
        value = -mod * log_p
        first = mod * (gamma * p * log_p - q)
    elif KIND == KIND_FOCAL_STAR:  # p1 = gamma > 0, p2 = beta
        log_su, _, _, q_u = _sigmoid_parts(p1 * z + p2)
        value = -log_su / p1
        first = -q_u
    elif KIND == KIND_SOFTENED:  # p1 = k
        _, _, r, s = _sigmoid_parts(p1 * z)  # s = sigmoid(-k z), r = sigmoid(k z)
        value = -s * log_p
        first = p1 * s * r * log_p - s * q
    else:  # hard truncation, p1 = logit(threshold) rounded down into COMPUTE
        active = z <= p1
        value = tl.where(active, -log_p, 0.0)
        first = tl.where(active, -q, 0.0)
    return value, first


@triton.jit
def _neg_log_p_minus_q(z, log_p, q):
    """-log p - q >= 0 from its small side: for a confident z (e^-z < 0.1) the series
    sum_{k>=2} (-1)^k (k-1)/k e^{-kz} (Horner's rule, 17 terms), where the difference cancels."""
    e = tl.exp(-tl.abs(z))
    acc = e * 0.0 + 17.0 / 18.0  # not tl.zeros_like, a jit function of triton's library (see above)
    for k in tl.static_range(17, 1, -1):
        acc = acc * e + ((k - 1.0) / k if k % 2 == 0 else -(k - 1.0) / k)
    return tl.where((z >= 0.0) & (e < 0.1), acc * e * e, -log_p - q)


@triton.jit
def _poly1_focal_side(z, log_p, log_q, p, q, a, gamma, epsilon):
    """(A(z), A'(z)) of one side of poly-1 focal (Leng et al. 2022), a its alpha weight: (1-p)^gamma H,
    H = a (-log p - q) + (a + epsilon) q, which does not cancel at epsilon = -a as the sum would."""
    m = _pow_from_log(log_q, gamma)
    h = a * _neg_log_p_minus_q(z, log_p, q) + (a + epsilon) * q
    return m * h, m * (-a * q * q - (a + epsilon) * p * q - gamma * p * h)


@triton.jit
def _asymmetric_negative(z, log_pz, log_qz, pz, qz, gamma, cut):
    """(A-(z), A-'(z)) of the asymmetric loss (Ridnik et al. 2021) at a negative's logit z = -x: with p = sigma(x),
    d = p - m > 0 where x > cut = logit(m) (else 0), N(x) = d^gamma u, u = -log(1 - d) = -log(q + m),
    log d = log p + log(1 - m) + log(1 - e^(cut - x)); N'(x) = p d^gamma (gamma q u / d + q / (q + m)) (see
    cpu_kernels.h); A-(z) = N(-z), A-'(z) = -N'(-z)."""
    x, log_p, log_q, p, q = -z, log_qz, log_pz, qz, pz
    e_cut = tl.exp(-tl.abs(cut))
    margin = tl.where(cut >= 0.0, 1.0 / (1.0 + e_cut), e_cut / (1.0 + e_cut))  # sigma(cut); 0 at -inf
    active = x > cut
    log_d = log_p - _log1p(tl.exp(cut)) + _log1mexp(tl.where(active, cut - x, -1.0))
    d = tl.exp(log_d)
    half = d < 0.5
    u = tl.where(half, -_log1p(-tl.where(half, d, 0.0)), -tl.where(margin > 0.0, tl.log(q + margin), log_q))
    q_r = tl.where(d > 0.0, q * u / tl.where(d > 0.0, d, 1.0), q)
    s = tl.where(margin > 0.0, q / (q + margin), 1.0)
    mod = tl.where(active, _pow_from_log(log_d, gamma), 0.0)
    return mod * u, -p * mod * (gamma * q_r + s)


@triton.jit
def _quality_focal_joint(x, t, log_p, log_q, p, q, w_pos, w_neg, beta, COMPUTE: tl.constexpr):
    """(loss, d loss / d x) of quality focal loss (Li et al. 2020), joint in x and t: M B with M = |t - p|^beta,
    B = -w_pos log p - w_neg log(1 - p), t - p = t q - (1 - t) p in float64 (it cancels where p is near t) and
    log|t - p| = log q, log p at t = 1, 0; (M B)' = M B' - beta M g B, g = p q / (t - p), 0 where t = p (see
    cpu_kernels.h)."""
    _, _, p64, q64 = _sigmoid_parts(x.to(tl.float64))
    t64 = t.to(tl.float64)
    diff = t64 * q64 - (1.0 - t64) * p64
    zero = diff == 0.0
    soft = (t != 1.0) & (t != 0.0)
    safe = tl.where(zero, 1.0, diff)
    log_abs = tl.where(t == 1.0, log_q, tl.where(t == 0.0, log_p, tl.log(tl.abs(safe)).to(COMPUTE)))
    g = tl.where(t == 1.0, p, tl.where(t == 0.0, -q, tl.where(zero, 0.0, p64 * q64 / safe).to(COMPUTE)))
    mod = tl.where(beta == 0.0, 1.0, tl.where(zero & soft, 0.0, _pow_from_log(log_abs, beta)))
    bce = -w_pos * log_p - w_neg * log_q
    return mod * bce, mod * (-w_pos * q + w_neg * p) - beta * mod * g * bce


@triton.jit
def _varifocal_joint(t, log_p, log_q, p, q, w_pos, a_neg, gamma):
    """(loss, d loss / d x) of the varifocal loss (Zhang et al. 2021), joint in x and t: w_pos B where t > 0 (w_pos
    = t a_pos), B = -t log p - (1 - t) log(1 - p) with B' = (1 - t) p - t q; a_neg p^gamma (-log(1 - p)) where t = 0,
    p^gamma = exp(gamma log p) with its derivative p^gamma (p - gamma q log(1 - p)) (see cpu_kernels.h)."""
    w_neg = tl.where(t > 0.0, 0.0, a_neg)
    mod = _pow_from_log(log_p, gamma)
    loss = -w_pos * (t * log_p + (1.0 - t) * log_q) - w_neg * mod * log_q
    return loss, w_pos * ((1.0 - t) * p - t * q) + w_neg * mod * (p - gamma * q * log_q)


@triton.jit
def _binary_loss_and_grad(x_ptr, t_ptr, w_ptr, offs, mask, a_pos, a_neg, p1, p2, p3, schedule, KIND: tl.constexpr,
                          HAS_WEIGHT: tl.constexpr, COMPUTE: tl.constexpr):
    """Elementwise w*(t*a_pos*A(x) + (1-t)*a_neg*A(-x)) and its derivative in x, (a_pos, a_neg) the registry's
    side_alphas(alpha). An element of weight 0 is computed at x = t = 0 (its own values may be inf or NaN) and
    then scaled by 0."""
    x = tl.load(x_ptr + offs, mask=mask, other=0.0).to(COMPUTE)
    t = tl.load(t_ptr + offs, mask=mask, other=0.0).to(COMPUTE)
    if HAS_WEIGHT:
        w = tl.load(w_ptr + offs, mask=mask, other=0.0).to(COMPUTE)
        x = tl.where(w != 0.0, x, 0.0)
        t = tl.where(w != 0.0, t, 0.0)
    log_p, log_q, p, q = _sigmoid_parts(x)
    if KIND == KIND_QUALITY_FOCAL:  # joint in x and t: not a sum of label sides
        loss, grad = _quality_focal_joint(x, t, log_p, log_q, p, q, t * a_pos, (1.0 - t) * a_neg, p1, COMPUTE)
    elif KIND == KIND_VARIFOCAL:  # joint: the cross-entropy to t where t > 0, a focal negative where t = 0
        loss, grad = _varifocal_joint(t, log_p, log_q, p, q, t * a_pos, a_neg, p1)
    elif KIND == KIND_POLY1_FOCAL:  # each side weighs its alpha itself
        pos_value, pos_first = _poly1_focal_side(x, log_p, log_q, p, q, a_pos, p1, p2)
        neg_value, neg_first = _poly1_focal_side(-x, log_q, log_p, q, p, a_neg, p1, p2)
        loss, grad = t * pos_value + (1.0 - t) * neg_value, t * pos_first - (1.0 - t) * neg_first
    else:
        if KIND == KIND_ASYMMETRIC:  # sided: A+ focal (p1 = gamma_pos), A- its own (p2 = gamma_neg, p3 = its cut)
            pos_value, pos_first = _binary_term(x, log_p, log_q, p, q, p1, p2, schedule, KIND_FOCAL)
            neg_value, neg_first = _asymmetric_negative(-x, log_q, log_p, q, p, p2, p3)
        else:
            pos_value, pos_first = _binary_term(x, log_p, log_q, p, q, p1, p2, schedule, KIND)
            neg_value, neg_first = _binary_term(-x, log_q, log_p, q, p, p1, p2, schedule, KIND)  # A(-x), A'(-x)
        w_pos = t * a_pos
        w_neg = (1.0 - t) * a_neg
        loss, grad = w_pos * pos_value + w_neg * neg_value, w_pos * pos_first - w_neg * neg_first
    if HAS_WEIGHT:
        loss, grad = loss * w, grad * w
    return loss, grad


@triton.jit
def _binary_block(x_ptr, t_ptr, w_ptr, numel, a_pos_, a_neg_, p1_, p2_, p3_, schedule, KIND: tl.constexpr,
                  HAS_WEIGHT: tl.constexpr, COMPUTE: tl.constexpr, BLOCK: tl.constexpr):
    """This program's block: (offsets, in-range mask, losses, d loss / d x); the float64 settings
    rounded once into COMPUTE (the schedule by :func:`_schedule`)."""
    offs = tl.program_id(0).to(tl.int64) * BLOCK + tl.arange(0, BLOCK)
    mask = offs < numel
    a_pos, a_neg = tl.full([], a_pos_, COMPUTE), tl.full([], a_neg_, COMPUTE)
    p1, p2, p3 = tl.full([], p1_, COMPUTE), tl.full([], p2_, COMPUTE), tl.full([], p3_, COMPUTE)
    loss, grad = _binary_loss_and_grad(x_ptr, t_ptr, w_ptr, offs, mask, a_pos, a_neg, p1, p2, p3, schedule, KIND,
                                       HAS_WEIGHT, COMPUTE)
    return offs, mask, loss, grad


@triton.jit
def binary_forward_kernel(
    x_ptr, t_ptr, w_ptr, out_ptr, numel, a_pos_: tl.float64, a_neg_: tl.float64, p1_: tl.float64, p2_: tl.float64,
    cut0_: tl.float64, cut1_: tl.float64, cut2_: tl.float64, gamma0_: tl.float64, gamma1_: tl.float64,
    gamma2_: tl.float64, gamma3_: tl.float64, p3_: tl.float64,
    KIND: tl.constexpr, HAS_WEIGHT: tl.constexpr, REDUCE: tl.constexpr,
    COMPUTE: tl.constexpr, BLOCK: tl.constexpr,
):
    """Elementwise losses into out_ptr, or with REDUCE the sum of this program's block at out_ptr[pid]."""
    schedule = _schedule(cut0_, cut1_, cut2_, gamma0_, gamma1_, gamma2_, gamma3_, COMPUTE)
    offs, mask, loss, _ = _binary_block(x_ptr, t_ptr, w_ptr, numel, a_pos_, a_neg_, p1_, p2_, p3_, schedule, KIND,
                                        HAS_WEIGHT, COMPUTE, BLOCK)
    if REDUCE:
        tl.store(out_ptr + tl.program_id(0), tl.reduce(tl.where(mask, loss, 0.0), 0, _add))
    else:
        tl.store(out_ptr + offs, loss, mask=mask)


@triton.jit
def binary_backward_kernel(
    x_ptr, t_ptr, w_ptr, grad_out_ptr, grad_x_ptr, numel, a_pos_: tl.float64, a_neg_: tl.float64, p1_: tl.float64,
    p2_: tl.float64, cut0_: tl.float64, cut1_: tl.float64, cut2_: tl.float64, gamma0_: tl.float64, gamma1_: tl.float64,
    gamma2_: tl.float64, gamma3_: tl.float64, p3_: tl.float64, KIND: tl.constexpr,
    HAS_WEIGHT: tl.constexpr, SCALAR_GRAD_OUT: tl.constexpr, COMPUTE: tl.constexpr, BLOCK: tl.constexpr,
):
    """grad_x = grad_out * d loss / d x, recomputed from x, t and the weights, written in x's dtype."""
    schedule = _schedule(cut0_, cut1_, cut2_, gamma0_, gamma1_, gamma2_, gamma3_, COMPUTE)
    offs, mask, _, grad = _binary_block(x_ptr, t_ptr, w_ptr, numel, a_pos_, a_neg_, p1_, p2_, p3_, schedule, KIND,
                                        HAS_WEIGHT, COMPUTE, BLOCK)
    if SCALAR_GRAD_OUT:
        upstream = tl.load(grad_out_ptr).to(COMPUTE)
    else:
        upstream = tl.load(grad_out_ptr + offs, mask=mask, other=0.0).to(COMPUTE)
    tl.store(grad_x_ptr + offs, (grad * upstream).to(grad_x_ptr.dtype.element_ty), mask=mask)


# --------------------------------------------------------------------------------------------------
# Softmax losses: shared pieces
# --------------------------------------------------------------------------------------------------
@triton.jit
def _positions(counted_ptr, C, S, rows, BLOCK_P: tl.constexpr, HAS_COUNTED: tl.constexpr):
    """This program's positions p = n * S + k: p, the offset of their class 0, which of them exist
    and which of those count."""
    p = tl.program_id(0).to(tl.int64) * BLOCK_P + tl.arange(0, BLOCK_P)
    in_range = p < rows
    n = p // S
    base = n * C * S + (p - n * S)
    counted = in_range
    if HAS_COUNTED:
        counted = counted & (tl.load(counted_ptr + p, mask=in_range, other=0) != 0)
    return p, base, in_range, counted


@triton.jit
def _load_logits(x_ptr, base, c, C, S, counted, COMPUTE: tl.constexpr):
    """A (BLOCK_C, BLOCK_P) tile: -inf for classes >= C, 0 at positions that are not computed."""
    class_ok = c < C
    offs = base[None, :] + c.to(tl.int64)[:, None] * S
    x = tl.load(x_ptr + offs, mask=class_ok[:, None] & counted[None, :], other=0.0).to(COMPUTE)
    return tl.where(class_ok[:, None], x, float("-inf")), class_ok, offs


@triton.jit
def _target_class(target_ptr, row, counted, C):
    """Class-index target per position (0 where not computed) and whether it lies in [0, C)."""
    y = tl.load(target_ptr + row, mask=counted, other=0).to(tl.int64)
    return y, (y >= 0) & (y < C)


@triton.jit
def _class_weights(target_ptr, alpha_ptr, offs, c, class_ok, y, counted, keep, spread,
                   INDEX_TARGET: tl.constexpr, SMOOTHING: tl.constexpr, HAS_ALPHA: tl.constexpr,
                   COMPUTE: tl.constexpr):
    """w_c = alpha_c * ((1 - eps) q_c + eps / C) on a tile; 0 for classes >= C."""
    if INDEX_TARGET:
        q = (c[:, None] == y[None, :]).to(COMPUTE)
    else:
        q = tl.load(target_ptr + offs, mask=class_ok[:, None] & counted[None, :], other=0.0).to(COMPUTE)
    if SMOOTHING:
        q = keep * q + spread
    if HAS_ALPHA:
        q = q * tl.load(alpha_ptr + c, mask=class_ok, other=0.0).to(COMPUTE)[:, None]
    return tl.where(class_ok[:, None], q, 0.0)


@triton.jit
def _weighted_logits(x_ptr, target_ptr, alpha_ptr, base, c, C, S, counted, y, keep, spread,
                     INDEX_TARGET: tl.constexpr, SMOOTHING: tl.constexpr, HAS_ALPHA: tl.constexpr,
                     COMPUTE: tl.constexpr):
    """A tile of logits (as :func:`_load_logits`) and its class weights (as :func:`_class_weights`)."""
    x, class_ok, offs = _load_logits(x_ptr, base, c, C, S, counted, COMPUTE)
    w = _class_weights(target_ptr, alpha_ptr, offs, c, class_ok, y, counted, keep, spread,
                       INDEX_TARGET, SMOOTHING, HAS_ALPHA, COMPUTE)
    return x, class_ok, offs, w


@triton.jit
def _log_probs(shifted, is_top, s, log_total):
    """(log p, log(1 - p), p, log p / (1 - p)) from shifted = x - m and the row's statistics.

    For the top class 1 - p = s / (1 + s) with s the sum over the others: log(1 - p) is
    log s - log(1 + s) and log p / (1 - p) is -(1 + s) log1p(s) / s, -1 in the limit s -> 0.
    Every other class has p <= 1/2.
    """
    log_p = shifted - log_total
    p = tl.exp(log_p)
    log_1mp_rest = _log1p(-tl.exp(tl.minimum(log_p, LOG_HALF)))
    log_1mp = tl.where(is_top, tl.log(s) - log_total, log_1mp_rest)
    ratio = tl.where(is_top, -(1.0 + s) * _log1p_ratio(s), log_p / tl.exp(log_1mp_rest))
    return log_p, log_1mp, p, ratio


@triton.jit
def _softmax_term(log_p, log_1mp, p, ratio, p1, p2, schedule, KIND: tl.constexpr):
    """(phi, d phi / d log p) per class for focal (p1 = gamma), adaptive focal (gamma of the
    schedule's piece of log p, held fixed), poly-1 focal (p1 = gamma, p2 = epsilon) and hard
    truncation (p1 = log cut). Poly-1's phi = (1-p)^gamma (g + (1 + epsilon)(1-p)) with
    g = -log p - (1-p) from its small side, the binary series in the class's logit against the
    others, log p - log(1-p): it does not cancel at epsilon = -1 when p is near 1."""
    if KIND == KIND_FOCAL or KIND == KIND_ADAPTIVE_FOCAL:
        gamma = p1
        if KIND == KIND_ADAPTIVE_FOCAL:
            gamma = _scheduled_gamma(log_p, schedule)
        mod = _pow_from_log(log_1mp, gamma)
        p_ratio = tl.where(p > 0.0, p * ratio, 0.0)  # 0 for a masked class (p = 0, ratio = -inf)
        return -mod * log_p, -mod * (1.0 - gamma * p_ratio)
    elif KIND == KIND_POLY1_FOCAL:
        mod = _pow_from_log(log_1mp, p1)
        q = tl.exp(log_1mp)
        g = _neg_log_p_minus_q(log_p - log_1mp, log_p, q)
        p_g_q = tl.where((p > 0.0) & (q > 0.0), p * g / q, 0.0)
        return mod * (g + (1.0 + p2) * q), -mod * (p1 * p_g_q + q + (1.0 + p2) * (p1 + 1.0) * p)
    else:
        active = log_p <= p1
        return tl.where(active, -log_p, 0.0), tl.where(active, -1.0, 0.0)


@triton.jit
def _finite_shift(running_max):
    """What an online log-sum-exp subtracts before exp: the running maximum, or 0 while it is -inf
    (every class so far masked), where exp(-inf - (-inf)) would be NaN; exp(-inf - 0) is the 0 wanted."""
    return tl.where(running_max == float("-inf"), 0.0, running_max)


@triton.jit
def _online_step(v, running_max):
    """One tile of an online log-sum-exp over axis 0: the new maximum, the factor that rescales
    sums kept relative to the old one, and exp(v - new maximum)."""
    new_max = tl.maximum(running_max, tl.reduce(v, 0, _larger))
    shift = _finite_shift(new_max)
    return new_max, tl.exp(running_max - shift), tl.exp(v - shift[None, :])


@triton.jit
def _softened_u(x, class_ok, k, ref, mu, su, masked, C):
    """softmax(-k x) on a tile, from the (ref, mu, su) of the finite logits and the number of masked
    classes (logit -inf) per position, broadcast along the classes. A row with masked classes gives
    them all of it when k > 0 (the limit), and k = 0 gives every class 1 / C. (C as tl.full, not
    C.to: a C of 1 is bound as the constant 1, which has no .to.)"""
    is_masked = (x == float("-inf")) & class_ok
    plain = tl.exp(-k * (tl.where(is_masked, ref, x) - ref) - mu) / su
    limit = tl.where(is_masked, 1.0 / tl.maximum(masked, 1.0), 0.0)
    u = tl.where(k == 0.0, 1.0 / tl.full([], C, x.dtype), tl.where(masked > 0.0, limit, plain))
    return tl.where(class_ok, u, 0.0)


@triton.jit
def _is_softened_top(x, class_ok, k, ref, mu, masked):
    """The classes of a tile with the largest -k x of their position (its u may round to 1); none
    in a row with masked classes, whose u are exactly known (for k = 0 every class ties)."""
    finite = class_ok & (x != float("-inf"))
    return finite & (-k * (x - ref) == mu) & (masked == 0.0)


@triton.jit
def _online_stats(x_ptr, base, y, x_y, C, S, counted, k, EXCLUDE_Y: tl.constexpr,
                  WITH_NEG: tl.constexpr, COMPUTE: tl.constexpr, BLOCK_C: tl.constexpr,
                  BLOCK_P: tl.constexpr):
    """One pass over the classes: (m, s) of the module docstring, leaving out of s the class y
    (EXCLUDE_Y, m starting at x_y) or else the first arg-max; with WITH_NEG also (ref, mu, su, masked)
    with softmax(-k x) = exp(-k (x - ref) - mu) / su over the finite logits and the number of masked
    ones (see :func:`_softened_u`), and su_rest, su without the class y (EXCLUDE_Y). ref is the
    smallest finite logit (0 where there is none), the one softmax(-k x) favours, and mu = 0: the
    sums are rescaled whenever a tile holds a smaller one. x - ref is exact for logits close to it,
    however far from 0 and from the others (a first class far above the rest cost u 1e-4 of its
    value in float32 when it was the reference), so k |x| does not cost accuracy."""
    if EXCLUDE_Y:
        m = x_y
    else:
        m = tl.full([BLOCK_P], float("-inf"), COMPUTE)
    s = tl.full([BLOCK_P], 0.0, tl.float64)
    low = tl.full([BLOCK_P], float("inf"), COMPUTE)
    su = tl.full([BLOCK_P], 0.0, tl.float64)
    su_rest = tl.full([BLOCK_P], 0.0, tl.float64)
    masked = tl.full([BLOCK_P], 0.0, COMPUTE)
    for c0 in range(0, C, BLOCK_C):
        c = c0 + tl.arange(0, BLOCK_C)
        x, class_ok, _ = _load_logits(x_ptr, base, c, C, S, counted, COMPUTE)
        if EXCLUDE_Y:
            m, scale, e = _online_step(tl.where(c[:, None] == y[None, :], float("-inf"), x), m)
            s = s * scale + _sum_classes(e)
        else:
            lane = tl.broadcast_to(tl.arange(0, BLOCK_C)[:, None], x.shape)
            tile_max, tile_arg = tl.reduce((x, lane), 0, _larger_first)
            new_m = tl.maximum(m, tile_max)
            takes_over = tile_max > m
            # A tile whose maximum beats the running one holds the new top, left out of s; the
            # old top (exp(m - new_m); nothing before the first tile) joins the others.
            leave_out = (lane == tile_arg[None, :]) & takes_over[None, :]
            shift = _finite_shift(new_m)
            e = tl.where(leave_out, 0.0, tl.exp(x - shift[None, :]))
            s = (s + takes_over.to(COMPUTE)) * tl.exp(m - shift) + _sum_classes(e)
            m = new_m
        if WITH_NEG:
            finite = class_ok[:, None] & (x != float("-inf"))
            new_low = tl.minimum(low, tl.reduce(tl.where(finite, x, float("inf")), 0, _smaller))
            # the sums so far were relative to the old smallest logit (none before the first finite one)
            scale = tl.where(low == float("inf"), 1.0, tl.exp(-k * (low - new_low)))
            e = tl.where(finite, tl.exp(-k * (x - new_low[None, :])), 0.0)
            su = su * scale + _sum_classes(e)
            if EXCLUDE_Y:
                e = tl.where(c[:, None] == y[None, :], 0.0, e)
            su_rest = su_rest * scale + _sum_classes(e)
            masked += tl.reduce((class_ok[:, None] & (x == float("-inf"))).to(COMPUTE), 0, _add)
            low = new_low
    if WITH_NEG:
        ref = tl.where(low == float("inf"), 0.0, low)
    else:
        ref = low
    mu = tl.full([BLOCK_P], 0.0, COMPUTE)
    return m, s.to(COMPUTE), ref, mu, su.to(COMPUTE), masked, su_rest.to(COMPUTE)


@triton.jit
def _single_target_log_probs(x_y, m, s):
    """(log total, log p, log(1 - p), p, log p / (1 - p)) of the target class y, from the pass
    that left y out of s: total = s + exp(x_y - m), 1 + s when y is the top class."""
    is_top = x_y == m
    log_total = tl.where(is_top, _log1p(s), tl.log(s + tl.exp(x_y - m)))
    log_p, log_1mp, p, ratio = _log_probs(x_y - m, is_top, s, log_total)
    return log_total, log_p, log_1mp, p, ratio


# --------------------------------------------------------------------------------------------------
# Softmax losses: forward kernel
# --------------------------------------------------------------------------------------------------
@triton.jit
def softmax_forward_kernel(
    x_ptr, target_ptr, alpha_ptr, counted_ptr, loss_ptr, stats_ptr, C, S, rows,
    p1_: tl.float64, p2_: tl.float64, keep_: tl.float64, spread_: tl.float64,
    cut0_: tl.float64, cut1_: tl.float64, cut2_: tl.float64, gamma0_: tl.float64, gamma1_: tl.float64,
    gamma2_: tl.float64, gamma3_: tl.float64,
    KIND: tl.constexpr, INDEX_TARGET: tl.constexpr, SMOOTHING: tl.constexpr,
    HAS_ALPHA: tl.constexpr, HAS_COUNTED: tl.constexpr, COMPUTE: tl.constexpr,
    BLOCK_C: tl.constexpr, BLOCK_P: tl.constexpr,
):
    """loss[p] = sum_c w_c phi_c at every position p, and its statistics stats[:, p] = (m, s).

    With a class-index target and no smoothing only phi_y counts: one pass over the classes plus a
    gathered load of x_y. Otherwise a second pass sums w_c phi_c over every class. p1: gamma
    (focal), k (softened) or log(threshold) rounded down into COMPUTE (hard truncation).
    """
    row, base, in_range, counted = _positions(counted_ptr, C, S, rows, BLOCK_P, HAS_COUNTED)
    p1, p2 = tl.full([], p1_, COMPUTE), tl.full([], p2_, COMPUTE)
    schedule = _schedule(cut0_, cut1_, cut2_, gamma0_, gamma1_, gamma2_, gamma3_, COMPUTE)
    SOFTENED: tl.constexpr = KIND == KIND_SOFTENED
    SINGLE_TARGET: tl.constexpr = INDEX_TARGET and not SMOOTHING
    valid = counted
    if INDEX_TARGET:
        y, index_ok = _target_class(target_ptr, row, counted, C)
        valid = valid & index_ok
    else:
        y = tl.full([BLOCK_P], 0, tl.int64)
    x_y = tl.full([BLOCK_P], 0.0, COMPUTE)
    if SINGLE_TARGET:
        x_y = tl.load(x_ptr + base + y * S, mask=valid, other=0.0).to(COMPUTE)
    m, s, ref, mu, su, masked, su_rest = _online_stats(x_ptr, base, y, x_y, C, S, counted, p1, SINGLE_TARGET,
                                                  SOFTENED, COMPUTE, BLOCK_C, BLOCK_P)

    if SINGLE_TARGET:
        _, log_p, log_1mp, p, ratio = _single_target_log_probs(x_y, m, s)
        if SOFTENED:
            u_y = _softened_u(x_y[None, :], y[None, :] >= 0, p1, ref[None, :], mu[None, :], su[None, :],
                              masked[None, :], C)
            loss = tl.reduce(u_y, 0, _add) * -log_p
        else:
            loss, _ = _softmax_term(log_p, log_1mp, p, ratio, p1, p2, schedule, KIND)
        if HAS_ALPHA:
            loss = loss * tl.load(alpha_ptr + y, mask=valid, other=0.0).to(COMPUTE)
    else:
        keep, spread = tl.full([], keep_, COMPUTE), tl.full([], spread_, COMPUTE)
        log_total = _log1p(s)
        loss = tl.full([BLOCK_P], 0.0, tl.float64)
        for c0 in range(0, C, BLOCK_C):
            c = c0 + tl.arange(0, BLOCK_C)
            x, class_ok, offs, w = _weighted_logits(x_ptr, target_ptr, alpha_ptr, base, c, C, S, counted, y, keep,
                                                    spread, INDEX_TARGET, SMOOTHING, HAS_ALPHA, COMPUTE)
            log_p, log_1mp, p, ratio = _log_probs(
                x - m[None, :], x == m[None, :], s[None, :], log_total[None, :])
            if SOFTENED:
                u = _softened_u(x, class_ok[:, None], p1, ref[None, :], mu[None, :], su[None, :],
                                masked[None, :], C)
                phi = u * -log_p
            else:
                phi, _ = _softmax_term(log_p, log_1mp, p, ratio, p1, p2, schedule, KIND)
            # a class without target mass adds nothing, even at log p = -inf (no 0 * inf)
            loss += _sum_classes(tl.where(class_ok[:, None] & (w != 0.0), w * phi, 0.0))
        loss = loss.to(COMPUTE)
    loss = tl.where(valid, loss, float("nan"))  # a class index outside [0, C) gives NaN
    tl.store(loss_ptr + row, tl.where(counted, loss, 0.0), mask=in_range)
    tl.store(stats_ptr + row, m, mask=in_range)
    tl.store(stats_ptr + rows + row, s, mask=in_range)


# --------------------------------------------------------------------------------------------------
# Softmax losses: backward kernel
# --------------------------------------------------------------------------------------------------
@triton.jit
def softmax_backward_kernel(
    x_ptr, target_ptr, alpha_ptr, counted_ptr, stats_ptr, grad_out_ptr, grad_x_ptr, C, S, rows,
    p1_: tl.float64, p2_: tl.float64, keep_: tl.float64, spread_: tl.float64,
    cut0_: tl.float64, cut1_: tl.float64, cut2_: tl.float64, gamma0_: tl.float64, gamma1_: tl.float64,
    gamma2_: tl.float64, gamma3_: tl.float64,
    KIND: tl.constexpr, INDEX_TARGET: tl.constexpr, SMOOTHING: tl.constexpr,
    HAS_ALPHA: tl.constexpr, HAS_COUNTED: tl.constexpr, SCALAR_GRAD_OUT: tl.constexpr,
    COMPUTE: tl.constexpr, BLOCK_C: tl.constexpr, BLOCK_P: tl.constexpr,
):
    """grad_x = grad_out * d loss / d x from x, the targets and the forward's (m, s).

    Focal and hard truncation, g_c = w_c d phi_c / d log p_c: d loss / d x_j = g_j - p_j sum_c g_c.
    For a single target class only g_y is nonzero (one pass); otherwise one pass adds up the g_c
    and a second writes. Softened, phi_c = u_c L_c with u = softmax(-k x) and L = -log p:
    d loss / d x_j = -k u_j (w_j L_j - A) - w_j u_j + p_j B, A = sum_c w_c u_c L_c and
    B = sum_c w_c u_c, with u's normalizer, A and B from first passes. An entry that is small
    because a probability is near 1 is formed from the other classes' mass, never as a difference
    of nearly equal terms: the target's g_y (1 - p_y) with 1 - p_y = s / total, the top class's
    g (1 - p) - p (sum of the others' g), the softened target's -w u_y (k L_y (1 - u_y) + 1 - p_y).
    """
    row, base, in_range, counted = _positions(counted_ptr, C, S, rows, BLOCK_P, HAS_COUNTED)
    p1, p2 = tl.full([], p1_, COMPUTE), tl.full([], p2_, COMPUTE)
    schedule = _schedule(cut0_, cut1_, cut2_, gamma0_, gamma1_, gamma2_, gamma3_, COMPUTE)
    SOFTENED: tl.constexpr = KIND == KIND_SOFTENED
    SINGLE_TARGET: tl.constexpr = INDEX_TARGET and not SMOOTHING
    m = tl.load(stats_ptr + row, mask=in_range, other=0.0)
    s = tl.load(stats_ptr + rows + row, mask=in_range, other=1.0)
    if SCALAR_GRAD_OUT:
        upstream = tl.load(grad_out_ptr).to(COMPUTE)
    else:
        upstream = tl.load(grad_out_ptr + row, mask=in_range, other=0.0).to(COMPUTE)
    valid = counted
    if INDEX_TARGET:
        y, index_ok = _target_class(target_ptr, row, counted, C)
        valid = valid & index_ok
    else:
        y = tl.full([BLOCK_P], 0, tl.int64)
    # NaN gradient for a class index outside [0, C), as the forward gives a NaN loss
    upstream = tl.where(valid, upstream, float("nan"))

    if SINGLE_TARGET:
        x_y = tl.load(x_ptr + base + y * S, mask=valid, other=0.0).to(COMPUTE)
        log_total, log_p_y, log_1mp_y, p_y, ratio_y = _single_target_log_probs(x_y, m, s)
        w_y = tl.full([BLOCK_P], 1.0, COMPUTE)
        if HAS_ALPHA:
            w_y = tl.load(alpha_ptr + y, mask=valid, other=0.0).to(COMPUTE)
        # 1 - p_y = s / total: s left y out, so it is the other classes' mass, and the target's
        # gradient g_y (1 - p_y) is never formed as g_y - g_y p_y, which cancels when p_y is near 1
        one_minus_p_y = s * tl.exp(-log_total)
        if SOFTENED:
            _, _, ref, mu, su, masked, su_rest = _online_stats(x_ptr, base, y, x_y, C, S, counted, p1, True, True,
                                                          COMPUTE, BLOCK_C, BLOCK_P)
            u_y = tl.reduce(_softened_u(x_y[None, :], y[None, :] >= 0, p1, ref[None, :], mu[None, :],
                                        su[None, :], masked[None, :], C), 0, _add)
            # 1 - u_y from the other classes' share of softmax(-k x), as 1 - p_y above
            one_minus_u_y = tl.where(p1 == 0.0, 1.0 - 1.0 / tl.full([], C, COMPUTE),
                                     tl.where(masked > 0.0, tl.where(x_y == float("-inf"), 1.0 - 1.0 / masked, 1.0),
                                              su_rest / su))
            wu_y = w_y * u_y
            # In a row with masked classes u is its limit, a constant: the terms of its derivative (k ...) are
            # 0, also where L_y is inf (a masked target), as on the torch backend.
            constant_u = masked > 0.0
            big_a = tl.where((wu_y != 0.0) & ~constant_u, wu_y * -log_p_y, 0.0)
            # the target's entry in one piece: -w u_y (k L_y (1 - u_y) + 1 - p_y)
            k_term = tl.where(constant_u, 0.0, p1 * -log_p_y * one_minus_u_y)
            grad_y = tl.where(wu_y != 0.0, -wu_y * (k_term + one_minus_p_y), 0.0)
        else:
            _, dphi_y = _softmax_term(log_p_y, log_1mp_y, p_y, ratio_y, p1, p2, schedule, KIND)
            g_y = w_y * dphi_y
        for c0 in range(0, C, BLOCK_C):
            c = c0 + tl.arange(0, BLOCK_C)
            x, class_ok, offs = _load_logits(x_ptr, base, c, C, S, counted, COMPUTE)
            is_y = c[:, None] == y[None, :]
            p = tl.exp(x - m[None, :] - log_total[None, :])
            if SOFTENED:
                u = _softened_u(x, class_ok[:, None], p1, ref[None, :], mu[None, :], su[None, :],
                                masked[None, :], C)
                # w_j = 0 but at j = y: -k u_j (0 - A) + p_j B, B = w_y u_y
                grad = tl.where(is_y, grad_y[None, :], p1 * u * big_a[None, :] + p * wu_y[None, :])
            else:
                grad = g_y[None, :] * tl.where(is_y, one_minus_p_y[None, :], -p)
            grad = tl.where(counted[None, :], grad * upstream[None, :], 0.0)
            tl.store(grad_x_ptr + offs, grad.to(grad_x_ptr.dtype.element_ty),
                     mask=class_ok[:, None] & in_range[None, :])
    else:
        keep, spread = tl.full([], keep_, COMPUTE), tl.full([], spread_, COMPUTE)
        log_total = _log1p(s)
        # focal, hard truncation: G = g_rest + g_top, the classes other than the top one and the
        # top one(s); the top's gradient is g (1 - p) - p (G - g), with 1 - p = s / (1 + s), so it
        # never cancels when p is near 1. Softened: A and B from u = softmax(-k x). Its w_j L_j - A is a
        # difference of terms as large as L, thousands where the target stands far above close logits;
        # with b the class(es) of the largest -k x (the smallest logit), W their mean weight, and
        # x_b, L_b their mean logit and -log p, it equals L_b ((w_j - W) - B') + w_j (x_b - x_j) - D,
        # B' = sum_c u_c (w_c - W), D = sum_c w_c u_c (x_b - x_c) (u sums to 1), whose terms are small
        # there, but large where L_b is and the classes with target mass have a small L: a row takes
        # the form whose terms are smaller, as the reference does (the arranged one where no class is
        # masked and L_b E + |D| <= A, E = sum_c u_c |w_c - W|). b's sums come from a first pass,
        # B', D and E from a second.
        if SOFTENED:
            _, _, ref, mu, su, masked, su_rest = _online_stats(x_ptr, base, y, m, C, S, counted, p1, False, True,
                                                               COMPUTE, BLOCK_C, BLOCK_P)
            big_a = tl.full([BLOCK_P], 0.0, tl.float64)
            big_b = tl.full([BLOCK_P], 0.0, tl.float64)
            w_at_b = tl.full([BLOCK_P], 0.0, tl.float64)
            l_at_b = tl.full([BLOCK_P], 0.0, tl.float64)
            x_at_b = tl.full([BLOCK_P], 0.0, tl.float64)
            tops = tl.full([BLOCK_P], 0.0, COMPUTE)
        else:
            g_rest = tl.full([BLOCK_P], 0.0, tl.float64)
            g_top = tl.full([BLOCK_P], 0.0, tl.float64)
        for c0 in range(0, C, BLOCK_C):
            c = c0 + tl.arange(0, BLOCK_C)
            x, class_ok, offs, w = _weighted_logits(x_ptr, target_ptr, alpha_ptr, base, c, C, S, counted, y, keep,
                                                    spread, INDEX_TARGET, SMOOTHING, HAS_ALPHA, COMPUTE)
            needed = class_ok[:, None] & (w != 0.0)
            log_p, log_1mp, p, ratio = _log_probs(
                x - m[None, :], x == m[None, :], s[None, :], log_total[None, :])
            if SOFTENED:
                u = _softened_u(x, class_ok[:, None], p1, ref[None, :], mu[None, :], su[None, :],
                                masked[None, :], C)
                is_b = _is_softened_top(x, class_ok[:, None], p1, ref[None, :], mu[None, :], masked[None, :])
                big_a += _sum_classes(tl.where(needed, w * -log_p, 0.0) * u)
                big_b += _sum_classes(w * u)
                w_at_b += _sum_classes(tl.where(is_b, w, 0.0))
                l_at_b += _sum_classes(tl.where(is_b, -log_p, 0.0))
                x_at_b += _sum_classes(tl.where(is_b, x, 0.0))
                tops += tl.reduce(is_b.to(COMPUTE), 0, _add)
            else:
                _, dphi = _softmax_term(log_p, log_1mp, p, ratio, p1, p2, schedule, KIND)
                g = tl.where(needed, w * dphi, 0.0)
                is_top = x == m[None, :]
                g_rest += _sum_classes(tl.where(is_top, 0.0, g))
                g_top += _sum_classes(tl.where(is_top, g, 0.0))
        if SOFTENED:
            big_a, big_b = big_a.to(COMPUTE), big_b.to(COMPUTE)
            ties = tl.maximum(tops, 1.0)
            w_b, l_b, x_b = (w_at_b / ties).to(COMPUTE), (l_at_b / ties).to(COMPUTE), (x_at_b / ties).to(COMPUTE)
            b_rest = tl.full([BLOCK_P], 0.0, tl.float64)
            big_d = tl.full([BLOCK_P], 0.0, tl.float64)
            big_e = tl.full([BLOCK_P], 0.0, tl.float64)
            for c0 in range(0, C, BLOCK_C):
                c = c0 + tl.arange(0, BLOCK_C)
                x, class_ok, offs, w = _weighted_logits(x_ptr, target_ptr, alpha_ptr, base, c, C, S, counted, y,
                                                        keep, spread, INDEX_TARGET, SMOOTHING, HAS_ALPHA, COMPUTE)
                u = _softened_u(x, class_ok[:, None], p1, ref[None, :], mu[None, :], su[None, :],
                                masked[None, :], C)
                off_b = tl.where(class_ok[:, None], w - w_b[None, :], 0.0)
                b_rest += _sum_classes(u * off_b)
                big_e += _sum_classes(u * tl.abs(off_b))
                big_d += _sum_classes(tl.where(u > 0.0, w * u * (x_b[None, :] - x), 0.0))
            b_rest, big_d = b_rest.to(COMPUTE), big_d.to(COMPUTE)
            arranged = (masked == 0.0) & (tops > 0.0) & (l_b * big_e.to(COMPUTE) - big_d <= big_a)
        else:
            g_rest, g_top = g_rest.to(COMPUTE), g_top.to(COMPUTE)
        for c0 in range(0, C, BLOCK_C):
            c = c0 + tl.arange(0, BLOCK_C)
            x, class_ok, offs, w = _weighted_logits(x_ptr, target_ptr, alpha_ptr, base, c, C, S, counted, y, keep,
                                                    spread, INDEX_TARGET, SMOOTHING, HAS_ALPHA, COMPUTE)
            needed = class_ok[:, None] & (w != 0.0)
            is_top = x == m[None, :]
            log_p, log_1mp, p, ratio = _log_probs(x - m[None, :], is_top, s[None, :], log_total[None, :])
            if SOFTENED:
                u = _softened_u(x, class_ok[:, None], p1, ref[None, :], mu[None, :], su[None, :],
                                masked[None, :], C)
                wl_minus_a = tl.where(
                    arranged[None, :],
                    l_b[None, :] * ((w - w_b[None, :]) - b_rest[None, :]) + w * (x_b[None, :] - x) - big_d[None, :],
                    tl.where(needed, w * -log_p, 0.0) - big_a[None, :])
                # -k u (w L - A) is 0 in a row with masked classes, whose u is constant (A may be inf there)
                k_term = tl.where((u > 0.0) & (masked[None, :] == 0.0), -p1 * u * wl_minus_a, 0.0)
                grad = k_term - w * u + p * big_b[None, :]
            else:
                _, dphi = _softmax_term(log_p, log_1mp, p, ratio, p1, p2, schedule, KIND)
                g = tl.where(needed, w * dphi, 0.0)
                total = (g_rest + g_top)[None, :]
                grad = tl.where(is_top, g * tl.exp(log_1mp) - p * (g_rest[None, :] + (g_top[None, :] - g)),
                                g - p * total)
            grad = tl.where(counted[None, :], grad * upstream[None, :], 0.0)
            tl.store(grad_x_ptr + offs, grad.to(grad_x_ptr.dtype.element_ty),
                     mask=class_ok[:, None] & in_range[None, :])
