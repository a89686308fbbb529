/* focalloss.backends._cpu_kernels: fused CPU loops for the binary and softmax losses.
 *
 * Called from cpu_ops.py with raw data pointers of contiguous tensors (no torch headers, so the
 * build needs only a C compiler). The GIL is released while the loops run; work is split into
 * fixed blocks spread over `threads` threads (torch's OpenMP threads where cpu_ops.py found them,
 * else POSIX threads of our own), so results do not depend on the thread count.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <float.h>
#include <math.h>
#include <pthread.h>
#include <stdint.h>
#include <string.h>
#if defined(__linux__)
#include <sys/mman.h>
#endif

#include "vecmath.h"

#if defined(__x86_64__) && defined(__GLIBC__) && defined(__GNUC__) && !defined(__clang__)
/* glibc's libmvec has vector versions of these; declaring them lets `omp simd` loops call them. */
#define VECTOR_MATH __attribute__((simd("notinbranch")))
extern float expf(float) VECTOR_MATH;
extern float logf(float) VECTOR_MATH;
extern double exp(double) VECTOR_MATH;
extern double log(double) VECTOR_MATH;
#if __GLIBC_PREREQ(2, 35) /* vector log1p came with glibc 2.35; declaring it earlier breaks the import */
extern float log1pf(float) VECTOR_MATH;
extern double log1p(double) VECTOR_MATH;
#define LIBMVEC_FLOAT 1
#endif
/* AVX-512, AVX2 with FMA (x86-64-v3; GCC 12 and later) and AVX2 copies of every kernel, chosen at load
 * time on CPUs that have them */
#if __GNUC__ >= 12
#define X86_64_V3 1
#define KERNEL __attribute__((target_clones("avx512f", "arch=x86-64-v3", "avx2", "default")))
#else
#define X86_64_V3 0
#define KERNEL __attribute__((target_clones("avx512f", "avx2", "default")))
#endif
#define X86_TARGETS 1
#else
#define KERNEL
#define X86_TARGETS 0
#endif

/* the kernels are inlined into each target clone of the entry points below */
#define INLINE static inline __attribute__((always_inline))

/* the kind codes of focalloss.losses.KIND_CODES (a test holds them equal), each also exported */
#define KINDS(X) X(KIND_FOCAL, 0) X(KIND_SOFTENED, 1) X(KIND_HARD_TRUNCATION, 2) X(KIND_FOCAL_STAR, 3) \
    X(KIND_POLY1_FOCAL, 4) X(KIND_ADAPTIVE_FOCAL, 5) X(KIND_ASYMMETRIC, 6) \
    X(KIND_QUALITY_FOCAL, 7) X(KIND_VARIFOCAL, 8)
#define KIND_ENUM(name, code) name = code,
enum { KINDS(KIND_ENUM) };
/* the focal kernels' cases of gamma: focalloss.losses.GAMMA_GENERAL, GAMMA_ZERO, GAMMA_TWO */
enum { GAMMA_GENERAL = 0, GAMMA_ZERO = 1, GAMMA_TWO = 2 };
/* pieces of a schedule of gamma: MAX_PIECES - 1 cuts, MAX_PIECES gammas (focalloss.losses.MAX_PIECES) */
#define MAX_PIECES 4
#define BLOCK 4096 /* elements per binary block; the module's BINARY_BLOCK */
#define SUM_LANES 16 /* running sums of a binary block's losses */
#define ROWS 64    /* positions per softmax block */
#define LANES 256  /* neighbouring positions per block of the (N, C, S > 1) kernels (64: 5-17 % slower on 2 threads) */
/* row statistics per softmax position (see cpu_kernels.h); the module's constants of these names */
#define SINGLE_TARGET_STATS 3
#define ROW_STATS 8

/* float: libmvec's exp, log and log1p where it has all three, else vecmath.h's, so that every loop
 * vectorizes with any C library. On AVX-512 libmvec's are faster (a streaming loop over 2^23 inputs:
 * exp 0.37 against 0.53 ns per element, log 0.43 against 0.59) and less accurate (2.6, 3.9 and 2.0 ulp
 * against vecmath.h's 1.07, 0.75 and 0.75). expm1 is always vecmath.h's (0.5 ulp): the kernels used
 * glibc's scalar expm1f, which stopped the asymmetric loss's loop from vectorizing. double: the C library's. */
#define T float
#define IT int32_t
#define SFX _f
#ifdef LIBMVEC_FLOAT
#define EXP expf
#define LOG logf
#define LOG1P log1pf
#else
#define EXP vm_expf
#define LOG vm_logf
#define LOG1P vm_log1pf
#endif
#define EXPM1 vm_expm1f
#define FABS fabsf
#include "cpu_kernels.h"
#undef T
#undef IT
#undef SFX
#undef EXP
#undef LOG
#undef LOG1P
#undef EXPM1
#undef FABS

#define T double
#define IT int64_t
#define SFX _d
#define EXP exp
#define LOG log
#define LOG1P log1p
#define EXPM1 expm1
#define FABS fabs
#include "cpu_kernels.h"

/* ------------------------------------------------------------------------------------------- */
/* Threads: each thread runs its own contiguous share of the blocks, front first; one that has    */
/* finished takes the back half of the largest share left.                                       */
/* ------------------------------------------------------------------------------------------- */
/* Each block writes its own outputs (and partial sum), so which thread runs it changes no result.
 * Fixed shares alone let a slower thread hold up the call: on a virtual machine one core often runs
 * a third slower than the other for a while (a neighbour on the host), and the faster one then
 * waited (dense 4x19x256x512 forward on 2 threads: the halves took 11 and 16 ms, against 22 ms on 1
 * thread). Shares taken from one queue instead put both threads into the same fresh pages at
 * once: faulting a huge page in, each zeroed it and one copy was thrown away (dense backward: 8 ms
 * of system time on 2 threads against 4 on 1). Own shares keep the threads apart until the end;
 * taking the back half keeps the owner's front, and its pages, to itself. */
typedef void (*block_fn)(void *ctx, int64_t block);
#define MAX_SHARES 256 /* threads beyond this many are not asked for */
typedef struct {
    int64_t next, end; /* the blocks [next, end) not yet taken */
} share;
typedef struct {
    block_fn fn;
    void *ctx;
    int shares;
    int arrived; /* threads that have come so far, each taking the next share as its own; atomic */
    pthread_mutex_t lock; /* guards every share */
    share share[MAX_SHARES];
} job;

/* the first run of blocks of thread `own`'s share, stealing into it when it is empty: 0 when none is
 * left anywhere. A run is a quarter of what the share holds (at least a block), so that a thief
 * finds something to take while the owner works. */
static int take_run(job *j, int own, int64_t *first, int64_t *last) {
    pthread_mutex_lock(&j->lock);
    share *mine = &j->share[own];
    if (mine->next == mine->end) {
        int victim = -1;
        int64_t most = 0;
        for (int i = 0; i < j->shares; i++)
            if (j->share[i].end - j->share[i].next > most) most = j->share[i].end - j->share[i].next, victim = i;
        if (victim >= 0) {
            share *theirs = &j->share[victim];
            /* the owner keeps the front half, rounded up; a single block goes to the thief */
            int64_t middle = theirs->next + (most + 1) / 2;
            mine->next = most == 1 ? theirs->next : middle;
            mine->end = theirs->end;
            theirs->end = mine->next;
        }
    }
    int64_t left = mine->end - mine->next, run = left / 4 > 1 ? left / 4 : 1;
    *first = mine->next;
    *last = mine->next = left > 0 ? mine->next + run : mine->next;
    pthread_mutex_unlock(&j->lock);
    return left > 0;
}

static void run_blocks(job *j) {
    int own = __atomic_fetch_add(&j->arrived, 1, __ATOMIC_RELAXED) % j->shares;
    int64_t first, last;
    while (take_run(j, own, &first, &last))
        for (int64_t b = first; b < last; b++) j->fn(j->ctx, b);
}

static void *run_worker(void *arg) {
    run_blocks(arg);
    return NULL;
}

/* torch's OpenMP runtime, once cpu_ops.py has found it (use_openmp): the loops then run on the
 * threads torch runs its own ops on. Threads of our own would compete with those, which keep
 * spinning for a while after each torch op: on 2 cores that left a kernel right after a torch op
 * (a training step) about as slow on 2 threads as on 1. GOMP_parallel is the entry point a
 * compiled `omp parallel` calls; GNU libgomp, LLVM libomp and Intel libiomp5 all have it. */
typedef void (*omp_parallel_fn)(void (*)(void *), void *, unsigned, unsigned);
static omp_parallel_fn omp_parallel;

/* a forked child has none of its parent's OpenMP threads, and GNU libgomp's pool waits for them
 * forever there (torch's own ops hang the same way): the child's kernels take POSIX threads */
static void forget_openmp(void) { omp_parallel = NULL; }

static void run_team_member(void *arg) { run_blocks(arg); }

static void parallel_blocks(block_fn fn, void *ctx, int64_t blocks, int threads) {
    omp_parallel_fn parallel = omp_parallel; /* read once: use_openmp may change it while the GIL is released */
    if (threads > blocks) threads = (int)blocks;
    if (threads > (parallel ? MAX_SHARES : 64)) threads = parallel ? MAX_SHARES : 64; /* POSIX threads: 64 */
    if (threads <= 1) {
        for (int64_t b = 0; b < blocks; b++) fn(ctx, b);
        return;
    }
    job j = {fn, ctx, threads, 0, PTHREAD_MUTEX_INITIALIZER};
    for (int i = 0; i < threads; i++) j.share[i] = (share){blocks * i / threads, blocks * (i + 1) / threads};
    if (parallel) {
        parallel(run_team_member, &j, (unsigned)threads, 0);
    } else {
        pthread_t ids[64];
        int started[64] = {0};
        for (int i = 1; i < threads; i++) started[i] = pthread_create(&ids[i], NULL, run_worker, &j) == 0;
        run_blocks(&j); /* returns once every block is taken, also the shares of threads that could not start */
        for (int i = 1; i < threads; i++)
            if (started[i]) pthread_join(ids[i], NULL);
    }
    pthread_mutex_destroy(&j.lock);
}

/* use_openmp(parallel): the address of GOMP_parallel in the OpenMP runtime already loaded (0: POSIX
 * threads of our own) */
static PyObject *py_use_openmp(PyObject *self, PyObject *args) {
    unsigned long long parallel;
    if (!PyArg_ParseTuple(args, "K", &parallel)) return NULL;
    omp_parallel = (omp_parallel_fn)(uintptr_t)parallel;
    Py_RETURN_NONE;
}

/* huge_pages(ptr, nbytes) -> bool: ask Linux to back the whole 2 MiB pages inside [ptr, ptr + nbytes)
 * with transparent huge pages when they are first touched (madvise MADV_HUGEPAGE; a hint that
 * changes no contents). A fresh gradient of 32 MB is otherwise mapped 4 KiB page by page on first
 * touch: some 8000 page faults a step. False where there is no such hint or it was refused. */
static PyObject *py_huge_pages(PyObject *self, PyObject *args) {
    unsigned long long ptr, nbytes;
    if (!PyArg_ParseTuple(args, "KK", &ptr, &nbytes)) return NULL;
    int done = 0;
#if defined(__linux__) && defined(MADV_HUGEPAGE)
    const uintptr_t huge = (uintptr_t)1 << 21;
    uintptr_t first = ((uintptr_t)ptr + huge - 1) & ~(huge - 1), last = ((uintptr_t)(ptr + nbytes)) & ~(huge - 1);
    if (last > first) done = madvise((void *)first, last - first, MADV_HUGEPAGE) == 0;
#endif
    return PyBool_FromLong(done);
}

/* thread_pool() -> "openmp" or "pthreads": what parallel_blocks runs on now */
static PyObject *py_thread_pool(PyObject *self, PyObject *unused) {
    return PyUnicode_FromString(omp_parallel ? "openmp" : "pthreads");
}

KERNEL static void binary_block_f_entry(void *ctx, int64_t b) { binary_block_f(ctx, b); }
KERNEL static void binary_block_d_entry(void *ctx, int64_t b) { binary_block_d(ctx, b); }
KERNEL static void softmax_fwd_f_entry(void *ctx, int64_t b) { softmax_fwd_block_f(ctx, b); }
KERNEL static void softmax_fwd_d_entry(void *ctx, int64_t b) { softmax_fwd_block_d(ctx, b); }
KERNEL static void softmax_bwd_f_entry(void *ctx, int64_t b) { softmax_bwd_block_f(ctx, b); }
KERNEL static void softmax_bwd_d_entry(void *ctx, int64_t b) { softmax_bwd_block_d(ctx, b); }
KERNEL static void lanes_fwd_f_entry(void *ctx, int64_t b) { lanes_fwd_block_f(ctx, b); }
KERNEL static void lanes_fwd_d_entry(void *ctx, int64_t b) { lanes_fwd_block_d(ctx, b); }
KERNEL static void lanes_bwd_f_entry(void *ctx, int64_t b) { lanes_bwd_block_f(ctx, b); }
KERNEL static void lanes_bwd_d_entry(void *ctx, int64_t b) { lanes_bwd_block_d(ctx, b); }

/* ------------------------------------------------------------------------------------------- */
/* The float32 vector math of vecmath.h, run on one dispatch target as the kernels run it, and   */
/* its error against the C library's float64 functions (focalloss.benchmark.vector_math).        */
/* ------------------------------------------------------------------------------------------- */
enum { VM_EXP, VM_EXPM1, VM_LOG, VM_LOG1P, VM_FUNCTIONS };
static const char *const vm_names[VM_FUNCTIONS] = {"exp", "expm1", "log", "log1p"};

/* |got - ref| in units of the float32 spacing at ref (2^-149 for subnormal ref); 0 for matching
 * NaNs and infinities (a ref past the float32 range counts as its rounding, inf) */
static double ulp_error(float got, double ref) {
    if (isnan(ref) || isnan(got)) return isnan(ref) && isnan(got) ? 0 : INFINITY;
    if (fabs(ref) > FLT_MAX) return got == (float)ref ? 0 : INFINITY;
    if (isinf(got)) return INFINITY;
    int e;
    frexp(ref, &e); /* |ref| in [2^(e-1), 2^e) */
    double ulp = fabs(ref) < 0x1p-126 ? 0x1p-149 : ldexp(1.0, e - 24);
    return fabs((double)got - ref) / ulp;
}

/* y = function(x) on len inputs, in a vectorized loop as the kernels run it, on one target */
#define VM_APPLY(name, attr)                                                                      \
    attr static void name(int fn, const float *x, float *y, int64_t len) {                       \
        if (fn == VM_EXP) { _Pragma("omp simd") for (int64_t i = 0; i < len; i++) y[i] = vm_expf(x[i]); }      \
        else if (fn == VM_EXPM1) { _Pragma("omp simd") for (int64_t i = 0; i < len; i++) y[i] = vm_expm1f(x[i]); } \
        else if (fn == VM_LOG) { _Pragma("omp simd") for (int64_t i = 0; i < len; i++) y[i] = vm_logf(x[i]); }      \
        else { _Pragma("omp simd") for (int64_t i = 0; i < len; i++) y[i] = vm_log1pf(x[i]); }       \
    }
#if X86_TARGETS
VM_APPLY(vm_apply_avx512f, __attribute__((target("avx512f"))))
#if X86_64_V3
VM_APPLY(vm_apply_x86_64_v3, __attribute__((target("arch=x86-64-v3"))))
#endif
VM_APPLY(vm_apply_avx2, __attribute__((target("avx2"))))
#endif
VM_APPLY(vm_apply_default, )
typedef void (*vm_apply_fn)(int, const float *, float *, int64_t);

/* the function's code from its name and the apply function of a target, or NULL with an error set */
static vm_apply_fn vm_lookup(const char *function, const char *target, int *fn) {
    *fn = -1;
    for (int i = 0; i < VM_FUNCTIONS; i++)
        if (strcmp(function, vm_names[i]) == 0) *fn = i;
    if (*fn < 0) {
        PyErr_Format(PyExc_ValueError, "function must be one of exp, expm1, log, log1p; got '%s'", function);
        return NULL;
    }
    vm_apply_fn apply = NULL;
    if (strcmp(target, "default") == 0) apply = vm_apply_default;
#if X86_TARGETS
    __builtin_cpu_init();
    if (strcmp(target, "avx512f") == 0 && __builtin_cpu_supports("avx512f")) apply = vm_apply_avx512f;
    if (strcmp(target, "avx2") == 0 && __builtin_cpu_supports("avx2")) apply = vm_apply_avx2;
#if X86_64_V3
    if (strcmp(target, "x86-64-v3") == 0 && __builtin_cpu_supports("x86-64-v3")) apply = vm_apply_x86_64_v3;
#endif
#endif
    if (apply == NULL)
        PyErr_Format(PyExc_ValueError, "target must be one of vector_math_targets() on this machine; got '%s'", target);
    return apply;
}

/* vector_math(function, target, x, out, n): out = function(x) for n float32 values (pointers) */
static PyObject *py_vector_math(PyObject *self, PyObject *args) {
    const char *function, *target;
    unsigned long long x, out;
    long long n;
    int fn;
    if (!PyArg_ParseTuple(args, "ssKKL", &function, &target, &x, &out, &n)) return NULL;
    vm_apply_fn apply = vm_lookup(function, target, &fn);
    if (apply == NULL) return NULL;
    Py_BEGIN_ALLOW_THREADS
    apply(fn, (const float *)(uintptr_t)x, (float *)(uintptr_t)out, n);
    Py_END_ALLOW_THREADS
    Py_RETURN_NONE;
}

/* vector_math_error(function, target, first, last, step) -> (max ulp error, the input with it) over
 * every step-th float32 bit pattern in [first, last) */
static PyObject *py_vector_math_error(PyObject *self, PyObject *args) {
    const char *function, *target;
    unsigned long long first, last, step;
    int fn;
    if (!PyArg_ParseTuple(args, "ssKKK", &function, &target, &first, &last, &step)) return NULL;
    vm_apply_fn apply = vm_lookup(function, target, &fn);
    if (apply == NULL) return NULL;
    if (step == 0 || last > (1ULL << 32))
        return PyErr_Format(PyExc_ValueError, "need step >= 1 and last <= 2**32; got step %llu, last %llu", step, last);
    double worst = 0;
    float at = 0;
    Py_BEGIN_ALLOW_THREADS
    enum { BATCH = 4096 };
    float x[BATCH], y[BATCH];
    for (uint64_t b = first; b < last; b += step * BATCH) {
        int len = 0;
        for (uint64_t i = b; i < last && len < BATCH; i += step) {
            uint32_t u = (uint32_t)i;
            memcpy(&x[len++], &u, sizeof u);
        }
        apply(fn, x, y, len);
        for (int i = 0; i < len; i++) {
            double xd = x[i];
            double ref = fn == VM_EXP ? exp(xd) : fn == VM_EXPM1 ? expm1(xd) : fn == VM_LOG ? log(xd) : log1p(xd);
            double err = ulp_error(y[i], ref);
            if (err > worst) worst = err, at = x[i];
        }
    }
    Py_END_ALLOW_THREADS
    return Py_BuildValue("dd", worst, (double)at);
}

/* vector_math_targets() -> the dispatch targets this machine runs, best first */
static PyObject *py_vector_math_targets(PyObject *self, PyObject *unused) {
#if X86_TARGETS
    __builtin_cpu_init();
#if X86_64_V3
    int v3 = __builtin_cpu_supports("x86-64-v3");
#else
    int v3 = 0;
#endif
    if (__builtin_cpu_supports("avx512f"))
        return v3 ? Py_BuildValue("(ssss)", "avx512f", "x86-64-v3", "avx2", "default")
                  : Py_BuildValue("(sss)", "avx512f", "avx2", "default");
    if (v3) return Py_BuildValue("(sss)", "x86-64-v3", "avx2", "default");
    if (__builtin_cpu_supports("avx2")) return Py_BuildValue("(ss)", "avx2", "default");
#endif
    return Py_BuildValue("(s)", "default");
}

#define PTR(v) ((void *)(uintptr_t)(v))
/* the schedule arguments: "(ddd)(dddd)" parses cuts and gammas, converted into the kernel's arguments */
#define SCHEDULE_FORMAT "(ddd)(dddd)"
#define SCHEDULE_ARGS &cuts[0], &cuts[1], &cuts[2], &gammas[0], &gammas[1], &gammas[2], &gammas[3]
#define SET_SCHEDULE(a, schedule_of) ((a).sch = schedule_of(cuts, gammas))
_Static_assert(MAX_PIECES == 4, "SCHEDULE_FORMAT, SCHEDULE_ARGS and scheduled_gamma name 3 cuts and 4 gammas");

/* binary(*, float64, kind, n, x, t, w, a_pos, a_neg, p1, p2, gamma_mode, loss, grad, partial,
 *        threads, cuts, gammas, p3, grad_scale): pointers as integers, 0 for none; see cpu_ops.py */
static PyObject *py_binary(PyObject *self, PyObject *args, PyObject *kwargs) {
    static char *names[] = {"float64", "kind", "n", "x", "t", "w", "a_pos", "a_neg", "p1", "p2", "gamma_mode",
                            "loss", "grad", "partial", "threads", "cuts", "gammas", "p3", "grad_scale", NULL};
    int is_double = 0, kind = 0, gamma_mode = 0, threads = 1;
    long long n = 0;
    unsigned long long x = 0, t = 0, w = 0, loss = 0, grad = 0, partial = 0;
    double a_pos = 1, a_neg = 1, p1 = 0, p2 = 0, p3 = 0, grad_scale = 1;
    double cuts[MAX_PIECES - 1] = {INFINITY, INFINITY, INFINITY};
    double gammas[MAX_PIECES] = {0};
    if (!PyArg_ParseTupleAndKeywords(args, kwargs, "|$piLKKKddddiKKKi" SCHEDULE_FORMAT "dd", names, &is_double, &kind,
                                     &n, &x, &t, &w, &a_pos, &a_neg, &p1, &p2, &gamma_mode, &loss, &grad,
                                     &partial, &threads, SCHEDULE_ARGS, &p3, &grad_scale))
        return NULL;
    int64_t blocks = (n + BLOCK - 1) / BLOCK;
    Py_BEGIN_ALLOW_THREADS
    if (is_double) {
        binary_args_d a = {kind, n, PTR(x), PTR(t), PTR(w), a_pos, a_neg, p1, p2, gamma_mode, PTR(loss),
                           PTR(grad), grad_scale, PTR(partial)};
        SET_SCHEDULE(a, schedule_of_d);
        a.p3 = p3;
        parallel_blocks(binary_block_d_entry, &a, blocks, threads);
    } else {
        binary_args_f a = {kind, n, PTR(x), PTR(t), PTR(w), a_pos, a_neg, p1, p2, gamma_mode, PTR(loss),
                           PTR(grad), grad_scale, PTR(partial)};
        SET_SCHEDULE(a, schedule_of_f);
        a.p3 = p3;
        parallel_blocks(binary_block_f_entry, &a, blocks, threads);
    }
    Py_END_ALLOW_THREADS
    Py_RETURN_NONE;
}

/* softmax(*, float64, backward, kind, N, C, S, x, index, probs, alpha, counted, label_smoothing, p1,
 *         gamma_mode, loss, stats, grad_loss, grad, threads, stats_width, p2, cuts, gammas, grad_all) */
static PyObject *py_softmax(PyObject *self, PyObject *args, PyObject *kwargs) {
    static char *names[] = {"float64", "backward", "kind", "N", "C", "S", "x", "index", "probs", "alpha", "counted",
                            "label_smoothing", "p1", "gamma_mode", "loss", "stats", "grad_loss", "grad", "threads",
                            "stats_width", "p2", "cuts", "gammas", "grad_all", NULL};
    int is_double = 0, backward = 0, kind = 0, gamma_mode = 0, threads = 1;
    long long N = 0, C = 0, S = 0, sw = 0;
    unsigned long long x = 0, index = 0, probs = 0, alpha = 0, counted = 0, loss = 0, stats = 0, grad_loss = 0,
                       grad = 0;
    double label_smoothing = 0, p1 = 0, p2 = 0, grad_all = 0, cuts[MAX_PIECES - 1] = {INFINITY, INFINITY, INFINITY};
    double gammas[MAX_PIECES] = {0};
    if (!PyArg_ParseTupleAndKeywords(args, kwargs, "|$ppiLLLKKKKKddiKKKKiLd" SCHEDULE_FORMAT "d", names, &is_double,
                                     &backward, &kind, &N, &C, &S, &x, &index, &probs, &alpha, &counted,
                                     &label_smoothing, &p1, &gamma_mode, &loss, &stats, &grad_loss, &grad, &threads,
                                     &sw, &p2, SCHEDULE_ARGS, &grad_all))
        return NULL;
    int lanes = S > 1 && index && label_smoothing == 0.0 && kind != KIND_SOFTENED;
    int64_t blocks = lanes ? N * ((S + LANES - 1) / LANES) : (N * S + ROWS - 1) / ROWS;
    Py_BEGIN_ALLOW_THREADS
    if (is_double) {
        softmax_args_d a = {kind, N, C, S, PTR(x), PTR(index), PTR(probs), PTR(alpha), PTR(counted), label_smoothing,
                            p1, gamma_mode, PTR(loss), PTR(stats), PTR(grad_loss), PTR(grad), sw, p2};
        SET_SCHEDULE(a, schedule_of_d);
        a.grad_all = grad_all;
        block_fn fn = lanes ? (backward ? lanes_bwd_d_entry : lanes_fwd_d_entry)
                            : (backward ? softmax_bwd_d_entry : softmax_fwd_d_entry);
        parallel_blocks(fn, &a, blocks, threads);
    } else {
        softmax_args_f a = {kind, N, C, S, PTR(x), PTR(index), PTR(probs), PTR(alpha), PTR(counted), label_smoothing,
                            p1, gamma_mode, PTR(loss), PTR(stats), PTR(grad_loss), PTR(grad), sw, p2};
        SET_SCHEDULE(a, schedule_of_f);
        a.grad_all = grad_all;
        block_fn fn = lanes ? (backward ? lanes_bwd_f_entry : lanes_fwd_f_entry)
                            : (backward ? softmax_bwd_f_entry : softmax_fwd_f_entry);
        parallel_blocks(fn, &a, blocks, threads);
    }
    Py_END_ALLOW_THREADS
    Py_RETURN_NONE;
}

static PyMethodDef methods[] = {
    {"binary", (PyCFunction)(void (*)(void))py_binary, METH_VARARGS | METH_KEYWORDS,
     "Fused binary loss and gradient (see cpu_ops.py)."},
    {"softmax", (PyCFunction)(void (*)(void))py_softmax, METH_VARARGS | METH_KEYWORDS,
     "Fused softmax loss forward or backward (see cpu_ops.py)."},
    {"vector_math", py_vector_math, METH_VARARGS, "The kernels' float32 vector math on an array (see vecmath.h)."},
    {"vector_math_error", py_vector_math_error, METH_VARARGS,
     "Largest float32 error, in ulp, of the kernels' vector math on a range of inputs (see vecmath.h)."},
    {"vector_math_targets", py_vector_math_targets, METH_NOARGS, "The dispatch targets this machine runs."},
    {"use_openmp", py_use_openmp, METH_VARARGS, "Run the loops on a loaded OpenMP runtime's threads (see cpu_ops.py)."},
    {"thread_pool", py_thread_pool, METH_NOARGS, "What the loops run on: 'openmp' or 'pthreads'."},
    {"huge_pages", py_huge_pages, METH_VARARGS, "Advise transparent huge pages for a fresh buffer (see cpu_ops.py)."},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {PyModuleDef_HEAD_INIT, "_cpu_kernels", "Fused CPU loss kernels.", -1, methods};

PyMODINIT_FUNC PyInit__cpu_kernels(void) {
    PyObject *m = PyModule_Create(&module);
    if (m == NULL) return NULL;
    if (pthread_atfork(NULL, NULL, forget_openmp) != 0) {
        Py_DECREF(m);
        return PyErr_Format(PyExc_ImportError, "pthread_atfork failed: cannot keep forked children off OpenMP");
    }
#define KIND_CONSTANT(name, code) {#name, code},
    const struct { const char *name; long value; } constants[] = {
        KINDS(KIND_CONSTANT) {"GAMMA_GENERAL", GAMMA_GENERAL}, {"GAMMA_ZERO", GAMMA_ZERO}, {"GAMMA_TWO", GAMMA_TWO},
        {"BINARY_BLOCK", BLOCK}, {"MAX_PIECES", MAX_PIECES}, {"SINGLE_TARGET_STATS", SINGLE_TARGET_STATS},
        {"ROW_STATS", ROW_STATS},
    };
    for (size_t i = 0; i < sizeof constants / sizeof constants[0]; i++) {
        if (PyModule_AddIntConstant(m, constants[i].name, constants[i].value) < 0) {
            Py_DECREF(m);
            return NULL;
        }
    }
    return m;
}
