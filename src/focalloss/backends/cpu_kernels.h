/* Fused CPU kernels, written once and included twice by cpu_kernels.c: T = float, then T = double.
 *
 * The formulas are those of focalloss.reference (see its _binary_* and _softmax_parts helpers):
 *
 *   binary:  loss = wp * A(x) + wn * A(-x),  wp = t * a_pos, wn = (1 - t) * a_neg
 *            ((a_pos, a_neg) from focalloss.losses.LossSpec.side_alphas: (alpha, 1 - alpha) for focal loss)
 *            (sided, asymmetric loss: wp * A+(x) + wn * N(x), the negatives' own term N(x) = A-(-x);
 *             joint, quality focal loss: |t - p|^beta (-wp log p - wn log(1 - p)), not linear in t;
 *             varifocal loss: wp (-t log p - (1 - t) log(1 - p)) where t > 0, wn p^gamma (-log(1 - p)) where t = 0)
 *   softmax: loss = sum_c w_c phi_c(x),      w_c = alpha_c * ((1 - eps) * q_c + eps / C)
 *            d loss / d x_j = g_j - p_j * sum_c g_c,  g_c = w_c * d phi_c / d log p_c
 *            (softened: -k u_j (w_j L_j - A) - w_j u_j + p_j B, see below)
 *
 * Every loop over elements is a `#pragma omp simd` loop of branch-free arithmetic, so that the
 * compiler calls the vector variants of exp / log1p (libmvec on glibc x86-64).
 *
 * Names are suffixed with SFX (_f or _d); MATH(fn) picks expf or exp, and so on.
 */

#define CAT_(a, b) a##b
#define CAT(a, b) CAT_(a, b)
#define NAME(name) CAT(name, SFX)
#define POS(v) ((v) > 0 ? (v) : (T)0) /* not fmax, which the vectorizer refuses (NaN rules) */

/* ---------------------------------------------------------------------------------------------
 * Binary losses, elementwise. Each body sets `lo` (the loss) and `gr` (d loss / d x) from
 * x, wp, wn and the shared quantities of x:
 *   e = exp(-|x|), l1 = log1p(e), lsp = log sigma(x), lsn = log sigma(-x),
 *   p = sigma(x), q = sigma(-x) = 1 - p (both accurate, never 1 - something).
 * ------------------------------------------------------------------------------------------- */
#define SIGMOID_PARTS                                                                             \
    T e = EXP(-FABS(xv));                                                                        \
    T l1 = LOG1P(e);                                                                             \
    T lsp = -(POS(-xv) + l1);                                                             \
    T lsn = -(POS(xv) + l1);                                                              \
    T inv = (T)1 / ((T)1 + e);                                                                   \
    T p = xv >= 0 ? inv : e * inv;                                                               \
    T q = xv >= 0 ? e * inv : inv;

#ifndef G_SERIES_TERMS
/* log(1 + e) - e / (1 + e) = sum_{k >= 2} (-1)^k (k - 1) / k e^k for Horner's rule, highest power
 * first (k = 18 .. 2): below e = 0.1 the 17 terms leave an error under 1e-18 of the sum */
#define G_SERIES_TERMS 17
static const double G_SERIES[G_SERIES_TERMS] = {
    17.0 / 18, -16.0 / 17, 15.0 / 16, -14.0 / 15, 13.0 / 14, -12.0 / 13, 11.0 / 12, -10.0 / 11, 9.0 / 10,
    -8.0 / 9, 7.0 / 8, -6.0 / 7, 5.0 / 6, -4.0 / 5, 3.0 / 4, -2.0 / 3, 1.0 / 2};
#endif

/* gammas[i] where cuts[i - 1] <= v < cuts[i]: the piece of a schedule (focalloss.losses.LossSpec.kernel_schedule;
 * the cuts increase and are padded with +inf) */
typedef struct {
    T cut[MAX_PIECES - 1], gamma[MAX_PIECES];
} NAME(schedule);

/* the schedule in T, converted once per call (cpu_kernels.c): a loop that reads doubles per element does
 * not vectorize; a vector loop reads it from a local copy */
INLINE NAME(schedule) NAME(schedule_of)(const double *cuts, const double *gammas) {
    NAME(schedule) sch;
    for (int i = 0; i < MAX_PIECES - 1; i++) sch.cut[i] = (T)cuts[i];
    for (int i = 0; i < MAX_PIECES; i++) sch.gamma[i] = (T)gammas[i];
    return sch;
}

/* written out for MAX_PIECES = 4 (cpu_kernels.c asserts it): a loop here does not vectorize */
INLINE T NAME(scheduled_gamma)(T v, const NAME(schedule) *sch) {
    T g = v < sch->cut[0] ? sch->gamma[0] : sch->gamma[1];
    g = v < sch->cut[1] ? g : sch->gamma[2];
    return v < sch->cut[2] ? g : sch->gamma[3];
}

typedef struct {
    int kind;
    int64_t n;
    const T *x, *t;
    const T *w;   /* elementwise weights, or NULL; a zero weight removes the element, never read */
    double a_pos, a_neg; /* the positive and negative terms' weights (LossSpec.side_alphas) */
    double p1, p2;
    int gamma_mode; /* focal: GAMMA_GENERAL, GAMMA_ZERO (gamma == 0) or GAMMA_TWO (gamma == 2) */
    T *loss;        /* elementwise losses, or NULL to reduce into `partial` */
    T *grad;        /* d loss / d x per element times grad_scale, or NULL */
    double grad_scale; /* 1, or 1 / the divisor of a mean, so that its backward has nothing left to scale */
    double *partial;
    NAME(schedule) sch; /* adaptive focal: logit(threshold) rounded up, gammas; in T */
    double p3; /* asymmetric: logit(clip) rounded down, -inf for clip = 0 */
} NAME(binary_args);

INLINE void NAME(binary_block)(void *ctx, int64_t block) {
    const NAME(binary_args) *a = ctx;
    int64_t i0 = block * BLOCK, i1 = i0 + BLOCK < a->n ? i0 + BLOCK : a->n, len = i1 - i0;
    const T *x = a->x + i0, *t = a->t + i0;
    T local[BLOCK], local_grad[BLOCK];
    T *lo_out = a->loss ? a->loss + i0 : local;
    T *gr_out = a->grad ? a->grad + i0 : local_grad; /* no gradient wanted: computed, not kept */
    T pos_w = (T)a->a_pos, neg_w = (T)a->a_neg;
    T p1 = (T)a->p1, p2 = (T)a->p2, gs = (T)a->grad_scale;

    const T *wt = a->w ? a->w + i0 : NULL;
    /* one loop without weights and one with, so that neither tests the pointer per element; with
     * weights, a zero-weighted element is computed at x = t = 0 (finite) and then scaled by 0 */
#define BINARY_LOOP_(WEIGHT, BODY)                                                                \
    _Pragma("omp simd") for (int64_t i = 0; i < len; i++) {                                       \
        T wv = WEIGHT;                                                                            \
        T xv = wv != 0 ? x[i] : (T)0, tv = wv != 0 ? t[i] : (T)0;                                 \
        T wp = wv * tv * pos_w, wn = wv * ((T)1 - tv) * neg_w;                                    \
        T lo, gr;                                                                                 \
        BODY                                                                                      \
        lo_out[i] = lo;                                                                           \
        gr_out[i] = gr * gs;                                                                      \
    }
#define BINARY_LOOP(BODY)                                                                         \
    if (wt) {                                                                                     \
        BINARY_LOOP_(wt[i], BODY)                                                                 \
    } else {                                                                                      \
        BINARY_LOOP_((T)1, BODY)                                                                  \
    }

    switch (a->kind) {
    case KIND_FOCAL:
        /* A(x) = -(1-p)^g log p;  A'(x) = (1-p)^g (g p log p - (1 - p)) */
        if (a->gamma_mode == GAMMA_ZERO) {
            BINARY_LOOP(SIGMOID_PARTS lo = -wp * lsp - wn * lsn; gr = -wp * q + wn * p;)
        } else if (a->gamma_mode == GAMMA_TWO) {
            BINARY_LOOP(SIGMOID_PARTS T mp = q * q; T mn = p * p;
                        lo = -wp * mp * lsp - wn * mn * lsn;
                        gr = wp * mp * ((T)2 * p * lsp - q) - wn * mn * ((T)2 * q * lsn - p);)
        } else {
            BINARY_LOOP(SIGMOID_PARTS T mp = EXP(p1 * lsn); T mn = EXP(p1 * lsp);
                        lo = -wp * mp * lsp - wn * mn * lsn;
                        gr = wp * mp * (p1 * p * lsp - q) - wn * mn * (p1 * q * lsn - p);)
        }
        break;
    case KIND_SOFTENED: {
        /* A(x) = -sigma(-kx) log p;  A'(x) = k sigma(-kx) sigma(kx) log p - sigma(-kx) (1 - p) */
        T k = p1;
        BINARY_LOOP(SIGMOID_PARTS T ek = EXP(-FABS(k * xv)); T invk = (T)1 / ((T)1 + ek);
                    T pk = xv >= 0 ? invk : ek * invk; T qk = xv >= 0 ? ek * invk : invk;
                    lo = -wp * qk * lsp - wn * pk * lsn;
                    gr = wp * (k * qk * pk * lsp - qk * q) - wn * (k * pk * qk * lsn - pk * p);)
        break;
    }
    case KIND_HARD_TRUNCATION: {
        /* A(x) = -[x <= cut] log p;  A'(x) = -[x <= cut] (1 - p) */
        T cut = p1;
        BINARY_LOOP(SIGMOID_PARTS T kp = xv <= cut ? wp : (T)0; T kn = -xv <= cut ? wn : (T)0;
                    lo = -kp * lsp - kn * lsn; gr = -kp * q + kn * p;)
        break;
    }
    case KIND_POLY1_FOCAL: {
        /* per label side (1-p)^g H, H = a G(x) + (a + eps) q, with a the side's alpha weight and
         * G = -log p - q from its small side (the series in e for a confident side): written as a
         * (1-p)^g (-log p) + eps (1-p)^(g+1) it cancels at eps = -a (see reference/binary.py).
         * A'(z) = (1-p)^g (H' - g p H), H' = -a q^2 - (a + eps) p q. */
        T g = p1, eps = p2, ap = pos_w, an = neg_w;
        BINARY_LOOP(SIGMOID_PARTS T mp = EXP(g * lsn); T mn = EXP(g * lsp);
                    T acc = (T)G_SERIES[0];
                    _Pragma("GCC unroll 17") for (int k = 1; k < G_SERIES_TERMS; k++) acc = acc * e + (T)G_SERIES[k];
                    T series = acc * e * e;
                    T gp = (xv >= 0) & (e < (T)0.1) ? series : -lsp - q; /* &: no short circuit */
                    T gn = (xv <= 0) & (e < (T)0.1) ? series : -lsn - p;
                    T hp = ap * gp + (ap + eps) * q; T hn = an * gn + (an + eps) * p;
                    T ep = wv * tv; T en = wv * ((T)1 - tv);
                    lo = ep * mp * hp + en * mn * hn;
                    gr = ep * mp * (-ap * q * q - (ap + eps) * p * q - g * p * hp)
                         - en * mn * (-an * p * p - (an + eps) * q * p - g * q * hn);)
        break;
    }
    case KIND_ADAPTIVE_FOCAL: {
        /* focal with gamma from the schedule: gp of the piece of x (p_t = sigma(x), a positive), gn of
         * the piece of -x (a negative); the derivative holds them fixed */
        NAME(schedule) sch = a->sch;
        BINARY_LOOP(SIGMOID_PARTS T gp = NAME(scheduled_gamma)(xv, &sch);
                    T gn = NAME(scheduled_gamma)(-xv, &sch);
                    T mp = EXP(gp * lsn); T mn = EXP(gn * lsp);
                    lo = -wp * mp * lsp - wn * mn * lsn;
                    gr = wp * mp * (gp * p * lsp - q) - wn * mn * (gn * q * lsn - p);)
        break;
    }
    case KIND_ASYMMETRIC: {
        /* sided (Ridnik et al. 2021): positives focal with gp; negatives N(x) = d^gn u, d = p - m > 0 where
         * x > cut = logit(m) (else 0, with its gradient; p = m included), u = -log(1 - d) = -log(q + m),
         * log d = log p + log(1 - m) + log(1 - e^(cut - x)) (see reference/binary.py);
         * N'(x) = p d^gn (gn q u / d + q / (q + m)), u / d -> 1 as d -> 0 */
        T gp = p1, gn = p2, cut = (T)a->p3;
        double e_cut = exp(-fabs(a->p3)), margin = a->p3 >= 0 ? 1 / (1 + e_cut) : e_cut / (1 + e_cut); /* sigma(cut) */
        T m = (T)margin, log_1mm = (T)-log1p(exp(a->p3)), one_mm = (T)(1 / (1 + exp(a->p3)));
        /* d = p (1 - m)(1 - e^(cut - x)), a product of accurate factors (no exp of log d). At the paper's
         * gp = 1 and gn = 4 (a loop of their own) the positives' (1 - p)^gp is q itself and d^gn is
         * (d^2)^2, more accurate than exp(gn log d) and without its two calls. */
#define ASL_BODY(MP, DGN)                                                                         \
    SIGMOID_PARTS T mp = MP;                                                                      \
    T act = xv > cut ? (T)1 : (T)0; T y = xv > cut ? cut - xv : (T)-1;                            \
    T em = -EXPM1(y); T d = p * one_mm * em; int half = d < (T)0.5;                               \
    T u = half ? -LOG1P(half ? -d : (T)0) : -(m > 0 ? LOG(q + m) : lsn);                          \
    T qr = d > 0 ? q * u / d : q; T s = m > 0 ? q / (q + m) : (T)1;                               \
    T mn = act * (DGN);                                                                           \
    lo = -wp * mp * lsp + wn * mn * u;                                                            \
    gr = wp * mp * (gp * p * lsp - q) + wn * p * mn * (gn * qr + s);
        if (gp == 1 && gn == 4) {
            BINARY_LOOP(ASL_BODY(q, (d * d) * (d * d)))
        } else {
            BINARY_LOOP(ASL_BODY(EXP(gp * lsn), gn == 0 ? (T)1 : EXP(gn * (lsp + log_1mm + LOG(em)))))
        }
#undef ASL_BODY
        break;
    }
    case KIND_QUALITY_FOCAL: {
        /* joint (Li et al. 2020): M B, M = |t - p|^beta, B = -wp log p - wn log(1 - p); t - p = t q - (1 - t) p
         * in double for float data too (it cancels where p is near t: float's p and q would leave an error of
         * eps min(p, q) / |t - p|), log|t - p| = log q, log p at t = 1, 0 (see reference/binary.py);
         * (M B)' = M B' - beta M g B with g = p q / (t - p), 0 where t = p (M = 0 there) */
        T beta = p1;
        BINARY_LOOP(SIGMOID_PARTS double xd = xv; double ed = exp(-fabs(xd)); double invd = 1 / (1 + ed);
                    double pd = xd >= 0 ? invd : ed * invd; double qd = xd >= 0 ? ed * invd : invd;
                    double diff = (double)tv * qd - (1 - (double)tv) * pd; int zero = diff == 0;
                    T la = tv == 1 ? lsn : tv == 0 ? lsp : (T)log(fabs(zero ? 1.0 : diff));
                    T g = tv == 1 ? p : tv == 0 ? -q : zero ? (T)0 : (T)(pd * qd / diff);
                    T mod = beta == 0 ? (T)1 : (zero && tv != 1 && tv != 0) ? (T)0 : EXP(beta * la);
                    T bce = -wp * lsp - wn * lsn;
                    lo = mod * bce; gr = mod * (-wp * q + wn * p) - beta * mod * g * bce;)
        break;
    }
    case KIND_VARIFOCAL: {
        /* joint (Zhang et al. 2021): where t > 0, wp B with B = -t log p - (1 - t) log(1 - p), B' = (1 - t) p - t q
         * (wp = w t a_pos holds the paper's factor t); where t = 0, wn p^g (-log(1 - p)), focal loss's negative
         * side, with p^g = exp(g log p) and its derivative p^g (p - g q log(1 - p)). wn is zeroed where t > 0, and
         * wp is 0 where t = 0, so the two parts add up without a branch. */
        T g = p1;
        BINARY_LOOP(SIGMOID_PARTS T mn = EXP(g * lsp); T kn = tv > 0 ? (T)0 : wn;
                    lo = -wp * (tv * lsp + ((T)1 - tv) * lsn) - kn * mn * lsn;
                    gr = wp * (((T)1 - tv) * p - tv * q) + kn * mn * (p - g * q * lsn);)
        break;
    }
    case KIND_FOCAL_STAR: {
        /* A(x) = -log sigma(g x + b) / g;  A'(x) = -sigma(-(g x + b)) */
        T g = p1, b = p2;
        BINARY_LOOP(T zp = g * xv + b; T zn = -g * xv + b;
                    T ep = EXP(-FABS(zp)); T en = EXP(-FABS(zn));
                    T lp = -(POS(-zp) + LOG1P(ep)); T ln = -(POS(-zn) + LOG1P(en));
                    T ip = (T)1 / ((T)1 + ep); T in = (T)1 / ((T)1 + en);
                    T qp = zp >= 0 ? ep * ip : ip; T qn = zn >= 0 ? en * in : in;
                    lo = -(wp * lp + wn * ln) / g; gr = -wp * qp + wn * qn;)
        break;
    }
    }
#undef BINARY_LOOP
#undef BINARY_LOOP_
    if (a->partial) {
        /* SUM_LANES running sums, element i into sum i % SUM_LANES, then added up in order: the same
         * bits on every dispatch target, and no chain of dependent adds (one sum took a third of this
         * kernel's time: 4 cycles an element) */
        double sums[SUM_LANES] = {0};
        int64_t whole = len - len % SUM_LANES;
        for (int64_t i = 0; i < whole; i += SUM_LANES) {
            _Pragma("omp simd") for (int k = 0; k < SUM_LANES; k++) sums[k] += lo_out[i + k];
        }
        for (int64_t i = whole; i < len; i++) sums[i - whole] += lo_out[i];
        double total = 0.0;
        for (int k = 0; k < SUM_LANES; k++) total += sums[k];
        a->partial[block] = total;
    }
}

/* ---------------------------------------------------------------------------------------------
 * Softmax losses over (N, C, S): position (n, s) has its class c at x[(n * C + c) * S + s].
 *
 * Row statistics kept per position for backward (sw values, in T). A single target (a class index
 * without smoothing), focal or hard truncation (sw = SINGLE_TARGET_STATS): m, the top logit;
 * l1s = log(sum_j exp(x_j - m)); G, the per-row factor of the gradient (0 where the position does
 * not count, NaN for an out-of-range index). Every other case (sw = ROW_STATS):
 *   0: m                       1: l1s = log1p(S), S = sum_{j != top} exp(x_j - m)
 *   2: log S (softened: 1 - u_y with a class index and no smoothing, else B' or NaN)   3: top class index,
 *      -1 where it does not count
 *   4: sum_{c != top} g_c (focal, hard truncation) | A (softened, class index, no smoothing) | D or A (softened, else)
 *   5: B (softened)            6: mn, the smallest logit (softened)   7: log sum exp(-k (x - mn))
 * log p_c = x_c - m - l1s. The top class gets log(1 - p) = log S - l1s; every other class has
 * p <= 1/2, where log1p(-p) is accurate. Sums over the classes are accumulated in double, so that
 * C terms of 1/C (label smoothing over 32000 classes) add up exactly enough in float32 too.
 *
 * Logits of -inf (masked classes) have p = 0. A class with no target mass (w_c = 0) contributes
 * nothing, to the loss or the gradient, even at log p = -inf; for the softened loss a row with
 * masked classes puts all of softmax(-k x) on them (the limit), so its other classes weigh 0.
 * ------------------------------------------------------------------------------------------- */
typedef struct {
    int kind;
    int64_t N, C, S;
    const T *x;
    const int64_t *index; /* class indices (N, S), or NULL */
    const T *probs;       /* probabilities like x, or NULL */
    const T *alpha;       /* (C), or NULL */
    const uint8_t *counted; /* (N, S), or NULL; forward only */
    double label_smoothing;
    double p1;             /* gamma | k | log(threshold) */
    int gamma_mode;
    T *loss;               /* (N, S) */
    T *stats;              /* (N, S, sw) */
    const T *grad_loss;    /* backward: d out / d loss per position (N, S), or NULL: grad_all everywhere */
    T *grad;               /* backward: like x */
    int64_t sw;            /* statistics per position: SINGLE_TARGET_STATS or ROW_STATS, see above */
    double p2;             /* poly-1 focal: epsilon */
    NAME(schedule) sch; /* adaptive focal: log(threshold) rounded up, gammas; in T */
    double grad_all;    /* backward without grad_loss: the one upstream gradient (a mean's or a sum's) */
} NAME(softmax_args);

/* phi and d phi / d log p of one class of poly-1 focal or adaptive focal from lp = log p,
 * l1mp = log(1 - p), p, q = 1 - p and plr = p log p / (1 - p) (0 at p = 0). Adaptive: focal with
 * gamma of the piece of log p. Poly-1: (1-p)^g (G + (1 + eps) q) with G = -log p - q >= 0 from its
 * small side (the binary series in e^-z, z = lp - l1mp the class's logit against the others), so
 * that it does not cancel at eps = -1; d/d log p = -(1-p)^g (g p G / q + q + (1 + eps)(g + 1) p). */
INLINE void NAME(adaptive_phi)(const NAME(schedule) *sch, T lp, T l1mp, T plr, T *phi, T *dphi) {
    T g = NAME(scheduled_gamma)(lp, sch);
    T mod = g == 0 ? (T)1 : EXP(g * l1mp);
    *phi = -mod * lp;
    *dphi = mod * (g * plr - (T)1);
}

INLINE void NAME(poly1_phi)(T g, T eps, int gm, T lp, T l1mp, T p, T q, T *phi, T *dphi) {
    T mod = gm == GAMMA_ZERO ? (T)1 : EXP(g * l1mp);
    T z = lp - l1mp, e = EXP(-FABS(z)), acc = (T)G_SERIES[0];
    _Pragma("GCC unroll 17") for (int k = 1; k < G_SERIES_TERMS; k++) acc = acc * e + (T)G_SERIES[k];
    /* conditions joined with & (no short circuit), so that the selects stay branch-free */
    T G = (z >= 0) & (e < (T)0.1) ? acc * e * e : -lp - q;
    T pgq = (p > 0) & (q > 0) ? p * G / q : (T)0;
    *phi = mod * (G + ((T)1 + eps) * q);
    *dphi = -mod * (g * pgq + q + ((T)1 + eps) * (g + (T)1) * p);
}

/* either of the two, by the kind: for one class at a time (a vector loop calls one of them directly) */
INLINE void NAME(family_phi)(const NAME(softmax_args) *a, T lp, T l1mp, T p, T q, T plr, T *phi, T *dphi) {
    if (a->kind == KIND_ADAPTIVE_FOCAL) {
        NAME(adaptive_phi)(&a->sch, lp, l1mp, plr, phi, dphi);
    } else {
        NAME(poly1_phi)((T)a->p1, (T)a->p2, a->gamma_mode, lp, l1mp, p, q, phi, dphi);
    }
}

/* phi(log p) and d phi / d log p for a non-top class (p <= 1/2) of focal / hard truncation. p log p
 * is 0 at p = 0 (a masked class), not 0 * -inf. */
#define NONTOP_PHI(lp, phi, dphi)                                                                 \
    T p_ = EXP(lp);                                                                              \
    T phi, dphi;                                                                                 \
    if (a->kind == KIND_FOCAL) {                                                                 \
        T q_ = (T)1 - p_;                                                                        \
        T mod_ = gm == GAMMA_ZERO ? (T)1 : gm == GAMMA_TWO ? q_ * q_ : EXP(g * LOG1P(-p_));       \
        T plp_ = p_ > 0 ? p_ * (lp) : (T)0;                                                      \
        phi = -mod_ * (lp);                                                                      \
        dphi = mod_ * (g * plp_ / q_ - (T)1);                                                    \
    } else if (a->kind != KIND_HARD_TRUNCATION) {                                                \
        T q_ = (T)1 - p_;                                                                        \
        NAME(family_phi)(a, lp, LOG1P(-p_), p_, q_, p_ > 0 ? p_ * (lp) / q_ : (T)0, &phi, &dphi); \
    } else {                                                                                     \
        T on_ = (lp) <= cut ? (T)1 : (T)0;                                                       \
        phi = -on_ * (lp);                                                                       \
        dphi = -on_;                                                                             \
    }

/* The same for the top class, from the row's S (accurate when p rounds to 1). */
INLINE void NAME(top_phi)(const NAME(softmax_args) *a, T l1s, T log_s, T *phi, T *dphi) {
    int kind = a->kind, gm = a->gamma_mode;
    T g = (T)a->p1, cut = (T)a->p1, lp = -l1s;
    if (kind == KIND_POLY1_FOCAL || kind == KIND_ADAPTIVE_FOCAL) {
        T s = EXP(log_s);
        T ratio = s > 0 ? -((T)1 + s) * l1s / s : (T)-1;
        NAME(family_phi)(a, lp, log_s - l1s, (T)1 / ((T)1 + s), EXP(log_s - l1s), ratio / ((T)1 + s), phi, dphi);
    } else if (kind == KIND_FOCAL) {
        T s = EXP(log_s);
        T p = (T)1 / ((T)1 + s);
        T mod = gm == GAMMA_ZERO ? (T)1 : EXP(g * (log_s - l1s)); /* (1 - p)^g; exp(-inf) = 0 */
        T ratio = s > 0 ? -((T)1 + s) * l1s / s : (T)-1;  /* log p / (1 - p), limit -1 */
        *phi = -mod * lp;
        *dphi = mod * (g * p * ratio - (T)1);
    } else {
        T on = lp <= cut ? (T)1 : (T)0;
        *phi = -on * lp;
        *dphi = -on;
    }
}

INLINE T NAME(class_weight)(const NAME(softmax_args) *a, int64_t c, int64_t y, T qc) {
    /* alpha_c * ((1 - eps) q_c + eps / C), eps = label_smoothing; qc is used for probability
     * targets, y for indices */
    T eps = (T)a->label_smoothing;
    T q = a->probs ? qc : (c == y ? (T)1 : (T)0);
    T w = ((T)1 - eps) * q + eps / (T)a->C;
    return a->alpha ? a->alpha[c] * w : w;
}

/* log S when sum_{j != top} exp(x_j - m) underflowed: the log-sum-exp around the second largest
 * logit, so that (1 - p_top)^gamma = exp(gamma log S) stays right for small gamma. -inf for C = 1. */
static T NAME(log_rest)(const T *x, int64_t C, int64_t cs, int64_t top, T m) {
    T m2 = -(T)INFINITY, s2 = 0;
    for (int64_t c = 0; c < C; c++)
        if (c != top && x[c * cs] > m2) m2 = x[c * cs];
    if (m2 == -(T)INFINITY) return m2;
    for (int64_t c = 0; c < C; c++)
        if (c != top) s2 += EXP(x[c * cs] - m2);
    return (m2 - m) + LOG(s2);
}

/* softmax(-k x)_c of the softened loss from the row's mn and lzu (stats 6, 7). A row with masked
 * classes has mn = -inf and lzu = log(number of them): each gets 1 / that, the others 0. */
INLINE T NAME(softened_u)(T xc, T k, T mn, T lzu) {
    if (mn == -(T)INFINITY) return k == 0 || xc == -(T)INFINITY ? EXP(-lzu) : (T)0;
    return EXP(-k * (xc - mn) - lzu);
}

/* A contiguous row with a class index, no smoothing, focal or hard truncation: only log p_y matters,
 * so two passes (max, then sum of exp) do, as for cross-entropy. When y holds the top logit,
 * 1 - p_y comes from S = sum - 1, or from a sum that leaves y out when S is small enough for that
 * subtraction to cancel. Saves m and l1s = log(sum) (stats 0, 1) and G = w_y phi'(log p_y) (4). */
INLINE void NAME(single_target_row_fwd)(const NAME(softmax_args) *a, const T *x, int64_t y, T *st, int64_t pos) {
    int64_t C = a->C;
    T m = x[0], sum = 0;
    _Pragma("omp simd reduction(max:m)") for (int64_t c = 1; c < C; c++) m = x[c] > m ? x[c] : m;
    _Pragma("omp simd reduction(+:sum)") for (int64_t c = 0; c < C; c++) sum += EXP(x[c] - m);
    T l1s = LOG(sum), w = NAME(class_weight)(a, y, y, 0), phi, dphi;
    if (x[y] == m) {
        T rest = sum - (T)1;
        if (rest < (T)0.125) {
            rest = 0;
            _Pragma("omp simd reduction(+:rest)") for (int64_t c = 0; c < y; c++) rest += EXP(x[c] - m);
            _Pragma("omp simd reduction(+:rest)") for (int64_t c = y + 1; c < C; c++) rest += EXP(x[c] - m);
            l1s = LOG1P(rest);
        }
        T log_s = rest > 0 ? LOG(rest) : NAME(log_rest)(x, C, 1, y, m);
        NAME(top_phi)(a, l1s, log_s, &phi, &dphi);
    } else {
        int gm = a->gamma_mode;
        T g = (T)a->p1, cut = (T)a->p1, lp = x[y] - m - l1s;
        NONTOP_PHI(lp, phi_, dphi_)
        phi = phi_; dphi = dphi_;
    }
    st[0] = m; st[1] = l1s; st[2] = w * dphi;
    a->loss[pos] = w * phi;
}

/* One position, classes strided by `cs` (1 for (N, C) logits). Forward. */
INLINE void NAME(softmax_position_fwd)(const NAME(softmax_args) *a, int64_t n, int64_t s) {
    int64_t C = a->C, cs = a->S, pos = n * a->S + s;
    const T *x = a->x + n * C * cs + s;
    const T *qrow = a->probs ? a->probs + n * C * cs + s : NULL;
    T *st = a->stats + pos * a->sw;
    for (int64_t k = 0; k < a->sw; k++) st[k] = 0;
    if (a->counted && !a->counted[pos]) {
        a->loss[pos] = 0;
        if (a->sw == ROW_STATS) st[3] = -1; /* tells backward, which gets no mask */
        return;
    }
    int gm = a->gamma_mode;
    T g = (T)a->p1, cut = (T)a->p1;
    int64_t y = a->index ? a->index[pos] : -1;
    int single_target = a->index && a->label_smoothing == 0.0;
    if (a->index && (y < 0 || y >= C)) { /* only reachable with validate=False: NaN, not a crash */
        a->loss[pos] = (T)NAN;
        if (a->sw == SINGLE_TARGET_STATS) st[2] = (T)NAN; /* and a NaN gradient */
        return;
    }

    if (single_target && cs == 1 && a->kind != KIND_SOFTENED) {
        NAME(single_target_row_fwd)(a, x, y, st, pos);
        return;
    }
    T m = x[0];
    int64_t top = 0;
    if (cs == 1) { /* the top logit, then the first class that has it: two vector loops */
        _Pragma("omp simd reduction(max:m)") for (int64_t c = 1; c < C; c++) m = x[c] > m ? x[c] : m;
        top = C;
        _Pragma("omp simd reduction(min:top)") for (int64_t c = 0; c < C; c++) top = x[c] == m && c < top ? c : top;
    } else {
        for (int64_t c = 1; c < C; c++)
            if (x[c * cs] > m) { m = x[c * cs]; top = c; }
    }
    T sum = 0;
    if (cs == 1) {
        _Pragma("omp simd reduction(+:sum)") for (int64_t c = 0; c < top; c++) sum += EXP(x[c] - m);
        _Pragma("omp simd reduction(+:sum)") for (int64_t c = top + 1; c < C; c++) sum += EXP(x[c] - m);
    } else {
        for (int64_t c = 0; c < C; c++)
            if (c != top) sum += EXP(x[c * cs] - m);
    }
    T l1s = LOG1P(sum), log_s = sum > 0 ? LOG(sum) : NAME(log_rest)(x, C, cs, top, m);
    st[0] = m; st[1] = l1s; st[2] = log_s; st[3] = (T)top;

    if (a->kind == KIND_SOFTENED) {
        T k = (T)a->p1, mn = x[0];
        for (int64_t c = 1; c < C; c++) mn = x[c * cs] < mn ? x[c * cs] : mn;
        T zu = 0;
        if (k == 0) {
            zu = (T)C;
        } else if (mn == -(T)INFINITY) { /* masked classes take all of softmax(-k x) */
            for (int64_t c = 0; c < C; c++) zu += x[c * cs] == -(T)INFINITY ? (T)1 : (T)0;
        } else if (cs == 1) {
            _Pragma("omp simd reduction(+:zu)") for (int64_t c = 0; c < C; c++) zu += EXP(-k * (x[c] - mn));
        } else {
            for (int64_t c = 0; c < C; c++) zu += EXP(-k * (x[c * cs] - mn));
        }
        T lzu = LOG(zu);
        double A = 0, B = 0;
        if (single_target) {
            T w = NAME(class_weight)(a, y, y, 0);
            T u = NAME(softened_u)(x[y * cs], k, mn, lzu);
            A = u != 0 ? w * u * (l1s - (x[y * cs] - m)) : 0;
            B = w * u;
            /* 1 - u_y from the other classes, for backward (it replaces log S, which softened never reads) */
            T rest = 0;
            if (mn == -(T)INFINITY || k == 0) {
                for (int64_t c = 0; c < C; c++)
                    if (c != y) rest += NAME(softened_u)(x[c * cs], k, mn, lzu);
                rest *= zu;
            } else if (cs == 1) {
                _Pragma("omp simd reduction(+:rest)") for (int64_t c = 0; c < y; c++) rest += EXP(-k * (x[c] - mn));
                _Pragma("omp simd reduction(+:rest)") for (int64_t c = y + 1; c < C; c++) rest += EXP(-k * (x[c] - mn));
            } else {
                for (int64_t c = 0; c < C; c++)
                    if (c != y) rest += EXP(-k * (x[c * cs] - mn));
            }
            st[2] = rest / zu;
        } else {
            /* backward's w_j L_j - A is a difference of terms as large as L, thousands where the target
             * logit stands far above close others. With b the class of the smallest logit (u's largest)
             * it equals L_b ((w_j - w_b) - B') + w_j (x_b - x_j) - D, B' = sum_c u_c (w_c - w_b),
             * D = sum_c w_c u_c (x_b - x_c), whose terms are small there but large where L_b is and
             * the classes with target mass have a small L. The row takes the form with the smaller
             * terms, as the reference does: arranged where L_b E + |D| <= A (E = sum_c u_c |w_c - w_b|;
             * stats 2 and 4 hold B' and D), else direct (stat 2 NaN, stat 4 A), as with masked classes */
            int64_t b = 0;
            while (b < C - 1 && x[b * cs] != mn) b++; /* bounded: a NaN logit matches nothing */
            T w_b = NAME(class_weight)(a, b, y, qrow ? qrow[b * cs] : 0);
            double b_rest = 0, D = 0, E = 0;
            for (int64_t c = 0; c < C; c++) {
                T w = NAME(class_weight)(a, c, y, qrow ? qrow[c * cs] : 0);
                T u = NAME(softened_u)(x[c * cs], k, mn, lzu);
                if (u != 0) { /* and NaN, which must reach the loss */
                    if (w != 0) A += (double)(w * u) * (l1s - (x[c * cs] - m));
                    D += (double)(w * u) * (mn - x[c * cs]);
                }
                B += w * u;
                b_rest += (double)u * (w - w_b);
                E += (double)u * FABS(w - w_b);
            }
            int arranged = mn != -(T)INFINITY && (double)(l1s - (mn - m)) * E - D <= A;
            st[2] = arranged ? (T)b_rest : (T)NAN;
            a->loss[pos] = (T)A;
            st[4] = (T)(arranged ? D : A); st[5] = (T)B; st[6] = mn; st[7] = lzu;
            return;
        }
        st[4] = (T)A; st[5] = (T)B; st[6] = mn; st[7] = lzu;
        a->loss[pos] = (T)A;
        return;
    }

    T tphi, tdphi;
    NAME(top_phi)(a, l1s, log_s, &tphi, &tdphi);
    /* smoothing or probabilities (a class index without them takes single_target_row_fwd or the lanes
     * kernel): every class */
    double loss = 0, g_rest = 0;
    for (int64_t c = 0; c < C; c++) {
        T w = NAME(class_weight)(a, c, y, qrow ? qrow[c * cs] : 0);
        if (w == 0) continue; /* no target mass: nothing, even at log p = -inf */
        if (c == top) {
            loss += w * tphi;
            continue;
        }
        T lp = x[c * cs] - m - l1s;
        NONTOP_PHI(lp, phi, dphi)
        loss += w * phi; g_rest += w * dphi;
    }
    st[4] = (T)g_rest;
    a->loss[pos] = (T)loss;
}

/* gx_c = -coef p_c for the contiguous classes [c0, c1) of a row, p_c = exp(x_c - m - l1s); returns `mass`
 * plus their p_c */
INLINE T NAME(spread_other_classes)(const T *x, T *gx, int64_t c0, int64_t c1, T m, T l1s, T coef, T mass) {
    _Pragma("omp simd reduction(+:mass)") for (int64_t c = c0; c < c1; c++) {
        T p = EXP((x[c] - m) - l1s);
        gx[c] = -coef * p;
        mass += p;
    }
    return mass;
}

/* the upstream gradient of position pos: grad_loss's, or the one number of a mean or sum */
INLINE T NAME(upstream)(const NAME(softmax_args) *a, int64_t pos) {
    return a->grad_loss ? a->grad_loss[pos] : (T)a->grad_all;
}

/* Backward for one position: grad_j = go * (g_j - p_j G), or the softened formula. A gradient
 * that is small because p_j is near 1 is formed from the other classes' mass, never as a
 * difference of nearly equal terms: with a class index, grad_y = go G_y sum_{c != y} p_c; else
 * grad_top = go (g_top (1 - p_top) - p_top sum_{c != top} g_c), 1 - p_top = S / (1 + S). */
INLINE void NAME(softmax_position_bwd)(const NAME(softmax_args) *a, int64_t n, int64_t s) {
    int64_t C = a->C, cs = a->S, pos = n * a->S + s;
    const T *x = a->x + n * C * cs + s;
    const T *qrow = a->probs ? a->probs + n * C * cs + s : NULL;
    T *gx = a->grad + n * C * cs + s;
    const T *st = a->stats + pos * a->sw;
    T go = NAME(upstream)(a, pos);
    int64_t y = a->index ? a->index[pos] : -1;
    if (a->sw == SINGLE_TARGET_STATS) { /* class index, no smoothing: grad_j = go G (onehot_j - p_j) */
        T G = st[2], m = st[0], l1s = st[1];
        if (G == 0) { /* the position does not count, or its class is past the truncation */
            for (int64_t c = 0; c < C; c++) gx[c * cs] = 0;
            return;
        }
        if (y < 0 || y >= C) {
            for (int64_t c = 0; c < C; c++) gx[c * cs] = (T)NAN;
            return;
        }
        T coef = go * G, rest = 0;
        if (cs == 1) { /* the classes before y and after it: no index comparison in the vector loops */
            rest = NAME(spread_other_classes)(x, gx, 0, y, m, l1s, coef, rest);
            rest = NAME(spread_other_classes)(x, gx, y + 1, C, m, l1s, coef, rest);
        } else {
            for (int64_t c = 0; c < C; c++) {
                T p = EXP((x[c * cs] - m) - l1s);
                gx[c * cs] = -coef * p;
                rest += c == y ? (T)0 : p;
            }
        }
        gx[y * cs] = coef * rest;
        return;
    }
    if (st[3] < 0) { /* the position does not count */
        for (int64_t c = 0; c < C; c++) gx[c * cs] = 0;
        return;
    }
    T m = st[0], l1s = st[1], log_s = st[2];
    int64_t top = (int64_t)st[3];
    if (a->index && (y < 0 || y >= C)) {
        for (int64_t c = 0; c < C; c++) gx[c * cs] = (T)NAN;
        return;
    }
    int single_target = a->index && a->label_smoothing == 0.0;
    int gm = a->gamma_mode;
    T g = (T)a->p1, cut = (T)a->p1;

    if (a->kind == KIND_SOFTENED) {
        T k = (T)a->p1, A = st[4], B = st[5], mn = st[6], lzu = st[7];
        int plain = mn != -(T)INFINITY; /* no masked class: u from the vector formula */
        if (single_target && cs == 1 && plain) {
            /* w_j = 0 except at y: grad_j = go (k u_j A + p_j B), then the target's own terms */
            _Pragma("omp simd") for (int64_t c = 0; c < C; c++) {
                T u = EXP(-k * (x[c] - mn) - lzu), p = EXP(x[c] - m - l1s);
                gx[c] = go * (k * u * A + p * B);
            }
        } else if (single_target) { /* with masked classes u is a constant (the limit): no k-term */
            for (int64_t c = 0; c < C; c++) {
                T u = NAME(softened_u)(x[c * cs], k, mn, lzu), p = EXP(x[c * cs] - m - l1s);
                gx[c * cs] = go * ((plain ? k * u * A : (T)0) + p * B);
            }
        } else {
            /* w_c L_c - A in the form the forward chose: arranged where stat 2 holds B' (and stat 4 D),
             * direct where it is NaN (stat 4 A) */
            int64_t b = 0;
            while (b < C - 1 && x[b * cs] != mn) b++; /* bounded: a NaN logit matches nothing */
            T w_b = NAME(class_weight)(a, b, y, qrow ? qrow[b * cs] : 0), L_b = l1s - (mn - m), b_rest = st[2];
            int arranged = b_rest == b_rest; /* not NaN (the kernels are built without -ffast-math) */
            for (int64_t c = 0; c < C; c++) {
                T w = NAME(class_weight)(a, c, y, qrow ? qrow[c * cs] : 0);
                T u = NAME(softened_u)(x[c * cs], k, mn, lzu), p = EXP(x[c * cs] - m - l1s);
                T wl_minus_a = arranged ? L_b * ((w - w_b) - b_rest) + w * (mn - x[c * cs]) - A
                                        : (w != 0 ? w * (l1s - (x[c * cs] - m)) : (T)0) - A;
                gx[c * cs] = go * ((u != 0 && plain ? -k * u * wl_minus_a : (T)0) - w * u + p * B);
            }
        }
        if (single_target) {
            /* the target's own entry in one piece, -w u_y (k L_y (1 - u_y) + 1 - p_y): as a sum of
             * the terms above it would cancel when u_y or p_y is near 1 */
            T w = NAME(class_weight)(a, y, y, 0);
            T u = NAME(softened_u)(x[y * cs], k, mn, lzu), L = l1s - (x[y * cs] - m);
            gx[y * cs] = u != 0 ? -go * w * u * ((plain ? k * L * st[2] : (T)0) - EXPM1(-L)) : (T)0;
        }
        return;
    }

    T g_rest = st[4];
    T tphi, tdphi;
    NAME(top_phi)(a, l1s, log_s, &tphi, &tdphi);
    T g_top = NAME(class_weight)(a, top, y, qrow ? qrow[top * cs] : 0) * tdphi;
    T G = g_rest + g_top;
    for (int64_t c = 0; c < C; c++) {
        if (c == top) continue;
        T w = NAME(class_weight)(a, c, y, qrow ? qrow[c * cs] : 0);
        T lp = x[c * cs] - m - l1s;
        NONTOP_PHI(lp, phi, dphi)
        (void)phi;
        gx[c * cs] = go * ((w != 0 ? w * dphi : (T)0) - EXP(lp) * G);
    }
    T one_minus_p = EXP(log_s - l1s), p_top = EXP(-l1s);
    gx[top * cs] = go * (g_top * one_minus_p - p_top * g_rest);
}

INLINE void NAME(softmax_fwd_block)(void *ctx, int64_t block) {
    const NAME(softmax_args) *a = ctx;
    int64_t positions = a->N * a->S, p0 = block * ROWS, p1 = p0 + ROWS < positions ? p0 + ROWS : positions;
    for (int64_t pos = p0; pos < p1; pos++) NAME(softmax_position_fwd)(a, pos / a->S, pos % a->S);
}

INLINE void NAME(softmax_bwd_block)(void *ctx, int64_t block) {
    const NAME(softmax_args) *a = ctx;
    int64_t positions = a->N * a->S, p0 = block * ROWS, p1 = p0 + ROWS < positions ? p0 + ROWS : positions;
    for (int64_t pos = p0; pos < p1; pos++) NAME(softmax_position_bwd)(a, pos / a->S, pos % a->S);
}

/* ---------------------------------------------------------------------------------------------
 * The (N, C, S) layout with S > 1, class-index targets without smoothing, focal or hard truncation:
 * LANES neighbouring positions of one sample at a time, so that every loop over classes reads
 * LANES contiguous logits and vectorizes across positions. Block b is sample b / chunks, positions
 * (b % chunks) * LANES onwards. Uncounted positions are computed on whatever they hold and then
 * discarded with a select, never branched on.
 * ------------------------------------------------------------------------------------------- */
INLINE void NAME(lanes_fwd_block)(void *ctx, int64_t block) {
    const NAME(softmax_args) *a = ctx;
    int64_t C = a->C, S = a->S, chunks = (S + LANES - 1) / LANES;
    int64_t n = block / chunks, s0 = (block % chunks) * LANES, len = S - s0 < LANES ? S - s0 : LANES;
    const T *x = a->x + n * C * S + s0;
    T m[LANES], sum[LANES];
    IT top[LANES]; /* class indices as wide as T, so that comparing them vectorizes with T */
    _Pragma("omp simd") for (int64_t l = 0; l < len; l++) { m[l] = x[l]; top[l] = 0; sum[l] = 0; }
    for (int64_t c = 1; c < C; c++) {
        _Pragma("omp simd") for (int64_t l = 0; l < len; l++) {
            T v = x[c * S + l], mv = m[l];
            /* the top class as a bit mask, not a select: GCC made `top = gt ? c : top` a masked
             * store, slow where those are microcoded (AVX2 on AMD: half of this kernel's time) */
            IT gt = -(IT)(v > mv);
            m[l] = v > mv ? v : mv;
            top[l] = (top[l] & ~gt) | ((IT)c & gt);
        }
    }
    for (int64_t c = 0; c < C; c++) {
        _Pragma("omp simd") for (int64_t l = 0; l < len; l++) {
            T e = EXP(x[c * S + l] - m[l]);
            sum[l] += (IT)c == top[l] ? (T)0 : e;
        }
    }
    /* Per position, branch-free so that it vectorizes too: both the top-class and the other-class
     * formulas are computed and one is selected. */
    int gm = a->gamma_mode;
    T g = (T)a->p1, cut = (T)a->p1, eps = (T)a->p2;
    NAME(schedule) sch = a->sch;
    const int64_t *index = a->index + n * S + s0;
    T loss[LANES], G[LANES], l1s[LANES], w[LANES], xy[LANES], is_top[LANES], valid[LANES];
    for (int64_t l = 0; l < len; l++) { /* indexed and conditional loads, kept out of the vector loop */
        int64_t y = index[l];
        int is_valid = (!a->counted || a->counted[n * S + s0 + l]) && y >= 0 && y < C;
        int64_t yc = is_valid ? y : 0;
        valid[l] = (T)is_valid;
        w[l] = a->alpha ? a->alpha[yc] : (T)1;
        xy[l] = x[yc * S + l];
        is_top[l] = (T)(yc == top[l]);
    }
#define LANE_TAIL(FOCAL, GM) /* GM: gamma_mode as a constant, so that no call sits in a branch */ \
    _Pragma("omp simd") for (int64_t l = 0; l < len; l++) {                                       \
        int top_ = is_top[l] != 0;                                                                \
        T s = sum[l], l1 = LOG1P(s), log_s = LOG(s);                                              \
        T lp = top_ ? -l1 : xy[l] - m[l] - l1, p = EXP(lp), phi, dphi;                            \
        if (FOCAL == 1) {                                                                            \
            T q = top_ ? s / ((T)1 + s) : (T)1 - p;                                              \
            T ratio = top_ ? (s > 0 ? -((T)1 + s) * l1 / s : (T)-1) : lp / q;                     \
            T mod = (T)1;                                                                         \
            if (GM == GAMMA_TWO) mod = q * q;                                                     \
            if (GM == GAMMA_GENERAL) {                                                            \
                T log_other = LOG1P(-p); /* computed for every lane, used for non-top ones */      \
                mod = EXP(g * (top_ ? log_s - l1 : log_other));                                   \
            }                                                                                     \
            phi = -mod * lp;                                                                      \
            dphi = mod * (g * p * ratio - (T)1);                                                  \
        } else if (FOCAL >= 2) { /* poly-1 (2) or adaptive focal (3) */                            \
            T q = top_ ? EXP(log_s - l1) : (T)1 - p;                                              \
            T ratio = top_ ? (s > 0 ? -((T)1 + s) * l1 / s : (T)-1) : lp / q;                     \
            T l1mp = top_ ? log_s - l1 : LOG1P(-p);                                               \
            if (FOCAL == 2) NAME(poly1_phi)(g, eps, gm, lp, l1mp, p, q, &phi, &dphi);              \
            else NAME(adaptive_phi)(&sch, lp, l1mp, p > 0 ? p * ratio : (T)0, &phi, &dphi);       \
        } else {                                                                                  \
            T on = lp <= cut ? (T)1 : (T)0;                                                       \
            phi = -on * lp;                                                                       \
            dphi = -on;                                                                           \
        }                                                                                         \
        loss[l] = valid[l] != 0 ? w[l] * phi : (T)0;                                                 \
        G[l] = valid[l] != 0 ? w[l] * dphi : (T)0;                                                   \
        l1s[l] = l1;                                                                              \
    }
    /* top: 1 - p = s / (1 + s), log p / (1 - p) = -(1 + s) l1 / s (limit -1); other classes have
     * p <= 1/2, so 1 - p and log1p(-p) are accurate */
    if (a->kind == KIND_HARD_TRUNCATION) {
        LANE_TAIL(0, GAMMA_ZERO)
    } else if (a->kind == KIND_POLY1_FOCAL) {
        LANE_TAIL(2, GAMMA_GENERAL)
    } else if (a->kind == KIND_ADAPTIVE_FOCAL) {
        LANE_TAIL(3, GAMMA_GENERAL)
    } else if (gm == GAMMA_TWO) {
        LANE_TAIL(1, GAMMA_TWO)
    } else if (gm == GAMMA_ZERO) {
        LANE_TAIL(1, GAMMA_ZERO)
    } else {
        LANE_TAIL(1, GAMMA_GENERAL)
    }
#undef LANE_TAIL
    for (int64_t l = 0; l < len; l++) {
        int64_t pos = n * S + s0 + l, y = index[l];
        int counted = !a->counted || a->counted[pos];
        if (valid[l] != 0 && is_top[l] != 0 && sum[l] == 0 && a->kind != KIND_HARD_TRUNCATION) {
            /* the other classes' sum underflowed: log S from around the second largest logit */
            T phi, dphi, w = a->alpha ? a->alpha[y] : (T)1;
            NAME(top_phi)(a, l1s[l], NAME(log_rest)(x + l, C, S, top[l], m[l]), &phi, &dphi);
            loss[l] = w * phi;
            G[l] = w * dphi;
        }
        if (counted && valid[l] == 0) loss[l] = G[l] = (T)NAN; /* an out-of-range index: NaN, not a crash */
        T *st = a->stats + pos * a->sw;
        st[0] = m[l]; st[1] = l1s[l]; st[2] = G[l];
        a->loss[pos] = loss[l];
    }
}

INLINE void NAME(lanes_bwd_block)(void *ctx, int64_t block) {
    const NAME(softmax_args) *a = ctx;
    int64_t C = a->C, S = a->S, chunks = (S + LANES - 1) / LANES;
    int64_t n = block / chunks, s0 = (block % chunks) * LANES, len = S - s0 < LANES ? S - s0 : LANES;
    const T *x = a->x + n * C * S + s0;
    T *gx = a->grad + n * C * S + s0;
    T coef[LANES], m[LANES], l1s[LANES], rest[LANES];
    IT yl[LANES];
    for (int64_t l = 0; l < len; l++) {
        const T *st = a->stats + (n * S + s0 + l) * a->sw;
        coef[l] = -NAME(upstream)(a, n * S + s0 + l) * st[2]; /* 0 where nothing counts, NaN for a bad index */
        m[l] = st[0];
        l1s[l] = st[1];
        rest[l] = 0;
        yl[l] = (IT)a->index[n * S + s0 + l];
    }
    for (int64_t c = 0; c < C; c++) {
        _Pragma("omp simd") for (int64_t l = 0; l < len; l++) {
            T p = EXP((x[c * S + l] - m[l]) - l1s[l]);
            gx[c * S + l] = coef[l] == 0 ? (T)0 : coef[l] * p; /* an uncounted logit may be inf or NaN */
            rest[l] += yl[l] == (IT)c || coef[l] == 0 ? (T)0 : p;
        }
    }
    /* the target's entry from the other classes' mass, -coef * sum_{c != y} p_c: as -coef (1 - p_y)
     * it would cancel when p_y is near 1 */
    for (int64_t l = 0; l < len; l++) {
        int64_t y = a->index[n * S + s0 + l];
        if (coef[l] != 0 && y >= 0 && y < C) gx[y * S + l] = -coef[l] * rest[l];
    }
}

#undef NONTOP_PHI
#undef SIGMOID_PARTS
#undef CAT_
#undef CAT
#undef NAME
#undef POS
