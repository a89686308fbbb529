"""backend=: choosing, refusing with a reason, memory kept for backward, determinism.

Values and gradients of every backend against the reference are in test_backend_contract (the
backends' own operations, Triton's included) and test_parity, test_numerics and test_properties
(the public API, run once per CPU backend).
"""

from __future__ import annotations

import contextlib
import math
import os
import sys

import pytest
import torch
import torch.nn.functional as F
from torch.utils._python_dispatch import TorchDispatchMode

import focalloss
import loss_table
from conftest import assert_matches_reference, forked_child_succeeds
from focalloss import backends, benchmark, reference
from focalloss.backends import cpu_ops, torch_ops
from loss_table import binary_sample, softmax_sample


def test_the_compiled_cpu_kernels_are_built():
    """Every install with a C compiler builds them (CI does); without them 'auto' would fall back."""
    assert cpu_ops.available()


def test_auto_picks_the_fused_kernels_for_cpu_tensors_and_torch_elsewhere():
    x, t = binary_sample()
    assert backends.select("auto", x, t) is cpu_ops
    assert backends.select("auto", x.to("meta"), t.to("meta")) is torch_ops
    assert backends.select("torch", x, t) is torch_ops


def test_auto_uses_torch_when_the_targets_need_a_gradient():
    x, t = binary_sample()
    soft = torch.rand_like(x).requires_grad_(True)
    assert backends.select("auto", x, soft) is torch_ops
    loss = focalloss.sigmoid_focal_loss(x, soft)
    (grad,) = torch.autograd.grad(loss, soft)
    assert grad.abs().sum() > 0


@pytest.mark.parametrize("loss", loss_table.LOSSES, ids=str)
def test_unknown_backend_is_refused_by_name(loss):
    x, t = loss.sample()
    with pytest.raises(ValueError, match=r"backend must be one of 'auto', 'torch', 'cpu', 'triton'; got 'gpu'"):
        loss.function(x, t, backend="gpu")


def test_cpu_backend_refuses_other_devices_and_target_gradients():
    x, t = binary_sample()
    with pytest.raises(ValueError, match=r"backend='cpu' runs on CPU tensors; got logits on meta"):
        focalloss.sigmoid_focal_loss(x.to("meta"), t.to("meta"), backend="cpu")
    with pytest.raises(ValueError, match=r"backend='cpu' cannot compute this call: targets requires a gradient.*backend='torch'"):
        focalloss.sigmoid_focal_loss(x, t.clone().requires_grad_(True), backend="cpu")


def test_unavailable_backend_says_why_and_how_to_get_it(monkeypatch):
    x, t = binary_sample()

    def missing():
        raise ImportError("undefined symbol: _ZGVdN8v_log1pf")

    monkeypatch.setattr(cpu_ops, "available", missing)
    with pytest.raises(RuntimeError, match=r"backend='cpu' is not available \(undefined symbol: _ZGVdN8v_log1pf\): "
                                           r".*C compiler.*backend='torch'"):
        focalloss.sigmoid_focal_loss(x, t, backend="cpu")
    assert backends.select("auto", x, t) is torch_ops


def test_auto_never_picks_the_triton_interpreter(monkeypatch):
    monkeypatch.setenv("TRITON_INTERPRET", "1")
    monkeypatch.setattr(cpu_ops, "available", lambda: False)
    x, t = binary_sample()
    assert backends.select("auto", x, t) is torch_ops


def test_trainable_alpha_gets_its_gradient_on_every_path():
    x, y = softmax_sample()
    grads = {}
    for backend in ("auto", "torch"):
        alpha = torch.tensor([0.2, 0.3, 0.5, 1.0, 2.0], requires_grad=True)
        focalloss.softmax_focal_loss(x, y, alpha=alpha, backend=backend).backward()
        grads[backend] = alpha.grad
    assert grads["auto"] is not None and grads["auto"].abs().sum() > 0
    torch.testing.assert_close(grads["auto"], grads["torch"])
    with pytest.raises(ValueError, match=r"backend='cpu' cannot compute this call: alpha requires a gradient"):
        focalloss.softmax_focal_loss(x, y, alpha=torch.ones(5, requires_grad=True), backend="cpu")


@pytest.mark.parametrize("fn", [focalloss.sigmoid_focal_loss, focalloss.softmax_focal_loss], ids=lambda fn: fn.__name__)
def test_torch_func_transforms_work_under_auto(fn):
    x, t = binary_sample() if fn is focalloss.sigmoid_focal_loss else softmax_sample()
    x = x.double()
    t = t.double() if t.is_floating_point() else t
    ours = torch.func.grad(lambda z: fn(z, t))(x)
    torch.testing.assert_close(ours, torch.autograd.grad(fn(x.requires_grad_(True), t, backend="torch"), x)[0])
    with pytest.raises(ValueError, match=r"backend='cpu' cannot compute this call: logits is transformed by torch.func"):
        torch.func.grad(lambda z: fn(z, t, backend="cpu"))(x.detach())


def test_named_fused_backend_is_refused_under_torch_compile(monkeypatch):
    monkeypatch.setattr(torch.compiler, "is_compiling", lambda: True)
    x, t = binary_sample()
    assert backends.select("auto", x, t) is torch_ops
    with pytest.raises(ValueError, match=r"backend='cpu' cannot run under torch.compile; use backend='torch'"):
        focalloss.sigmoid_focal_loss(x, t, backend="cpu")


def test_one_class_still_checks_a_named_backend():
    x = torch.zeros(4, 1)
    with pytest.raises(ValueError, match=r"backend='triton' runs on CUDA tensors"):
        focalloss.softmax_focal_loss(x, torch.zeros(4, dtype=torch.long), backend="triton")


def test_triton_backend_on_cpu_tensors_says_what_it_needs(monkeypatch):
    monkeypatch.delenv("TRITON_INTERPRET", raising=False)
    x, t = softmax_sample()
    with pytest.raises(ValueError, match=r"backend='triton' runs on CUDA tensors; got logits on cpu"):
        focalloss.softmax_focal_loss(x, t, backend="triton")


def test_missing_triton_names_the_extra(monkeypatch):
    monkeypatch.setenv("TRITON_INTERPRET", "1")  # CPU tensors fit; only the package is missing
    monkeypatch.setattr(backends.selection, "_import_problem", lambda name: "No module named 'triton'")
    x, t = binary_sample()
    with pytest.raises(RuntimeError, match=r"backend='triton' is not available \(No module named 'triton'\): "
                                           r".*focalloss\[triton\]"):
        focalloss.sigmoid_focal_loss(x, t, backend="triton")


@pytest.mark.parametrize("loss", loss_table.LOSSES, ids=str)
def test_module_passes_backend_through(loss):
    x, t = loss.sample()
    assert "backend='torch'" in repr(loss.module(backend="torch"))
    with pytest.raises(ValueError, match="backend must be one of"):
        loss.module(backend="fast")(x, t)


@pytest.mark.parametrize("loss", loss_table.LOSSES, ids=str)
def test_fused_backward_with_create_graph_is_the_torch_backends(loss):
    """create_graph=True (a gradient penalty) gets a gradient with a graph, and the same second
    derivative as backend="torch"; it was a gradient without one, silently dropping the penalty."""
    x, t = loss.sample()
    x = x.double()
    t = t.double() if loss.binary else t
    results = []
    for backend in ("cpu", "torch"):
        z = x.clone().requires_grad_(True)
        out = loss.function(z, t, backend=backend)
        (grad,) = torch.autograd.grad(out, z, create_graph=True)
        assert grad.requires_grad
        (out + 10 * grad.pow(2).sum()).backward()
        results.append((grad.detach(), z.grad))
    torch.testing.assert_close(results[0], results[1], rtol=1e-10, atol=1e-12)


# --------------------------------------------------------------------------------------------------
# Memory kept for backward: at most 4 bytes per logit beyond the inputs (float32)
# --------------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "name, shape, dtype, loss",
    [
        ("sigmoid", (200, 80), torch.float32, lambda x, t: focalloss.sigmoid_focal_loss(x, t, normalizer="positives")),
        ("sigmoid float64", (200, 80), torch.float64, lambda x, t: focalloss.sigmoid_softened_loss(x, t)),
        ("softmax", (64, 1000), torch.float32, lambda x, t: focalloss.softmax_focal_loss(x, t)),
        ("dense", (2, 19, 16, 16), torch.float32, lambda x, t: focalloss.softmax_focal_loss(x, t)),
        ("dense float16", (2, 19, 16, 16), torch.float16, lambda x, t: focalloss.softmax_focal_loss(x, t)),
        ("smoothed", (64, 1000), torch.float32, lambda x, t: focalloss.softmax_focal_loss(x, t, label_smoothing=0.1)),
        ("softened", (2, 19, 16, 16), torch.float32, lambda x, t: focalloss.softmax_softened_loss(x, t, k=2.0)),
        ("softmax three classes", (500, 3), torch.float32, lambda x, t: focalloss.softmax_focal_loss(x, t)),
        ("dense five classes", (2, 5, 16, 16), torch.float32,
         lambda x, t: focalloss.softmax_hard_truncation_loss(x, t, ignore_index=0)),
        ("smoothed eight classes", (500, 8), torch.float32,
         lambda x, t: focalloss.softmax_focal_loss(x, t, label_smoothing=0.1)),
        ("sigmoid poly-1", (200, 80), torch.float32, lambda x, t: focalloss.sigmoid_poly1_focal_loss(x, t)),
        ("sigmoid adaptive", (200, 80), torch.float32,
         lambda x, t: focalloss.sigmoid_adaptive_focal_loss(x, t, normalizer="positives")),
        ("sigmoid adaptive float16", (200, 80), torch.float16,
         lambda x, t: focalloss.sigmoid_adaptive_focal_loss(x, t)),
        ("sigmoid asymmetric", (200, 80), torch.float32, lambda x, t: focalloss.sigmoid_asymmetric_loss(x, t)),
        ("sigmoid quality focal", (200, 80), torch.float32, lambda x, t: focalloss.sigmoid_quality_focal_loss(x, t)),
        ("softmax poly-1", (64, 1000), torch.float32, lambda x, t: focalloss.softmax_poly1_focal_loss(x, t)),
        ("softmax adaptive", (64, 1000), torch.float32, lambda x, t: focalloss.softmax_adaptive_focal_loss(x, t)),
        ("dense poly-1", (2, 19, 16, 16), torch.float32,
         lambda x, t: focalloss.softmax_poly1_focal_loss(x, t, label_smoothing=0.1)),
        ("dense adaptive", (2, 19, 16, 16), torch.float32,
         lambda x, t: focalloss.softmax_adaptive_focal_loss(x, t, ignore_index=0)),
    ],
    ids=lambda value: value if isinstance(value, str) else "",
)
def test_fused_backend_keeps_at_most_four_bytes_per_logit(name, shape, dtype, loss):
    x, t = binary_sample(shape) if name.startswith("sigmoid") else softmax_sample(shape)
    x = x.to(dtype).requires_grad_(True)
    t = t.to(dtype) if name.startswith("sigmoid") else t
    kept = benchmark.kept_bytes(loss, x, t)
    assert kept <= 4 * x.numel() + 64  # + a few scalars (the normalizer)
    if name in ("sigmoid", "sigmoid poly-1", "sigmoid adaptive", "sigmoid asymmetric", "sigmoid quality focal"):
        assert kept >= 4 * x.numel()  # the float32 gradient itself: the measurement sees it


@pytest.mark.parametrize("loss", loss_table.BINARY, ids=lambda loss: loss.name)
@pytest.mark.parametrize("reduction", ["mean", "none"])
def test_cpu_binary_backward_hands_back_the_gradient_saved_in_forward(loss, reduction):
    """One full-size allocation per forward+backward: the float32 gradient written in forward is
    the tensor autograd receives (scaled in place by a random upstream gradient)."""
    x, t = binary_sample((64, 40))
    x.requires_grad_(True)
    saved = []

    def pack(tensor):
        saved.append(tensor.data_ptr())
        return tensor

    with torch.autograd.graph.saved_tensors_hooks(pack, lambda tensor: tensor):
        out = loss.function(x, t, reduction=reduction, backend="cpu")
    upstream = torch.rand_like(out) + 0.5
    out.backward(upstream)
    assert x.grad.data_ptr() in saved
    expected = x.detach().clone().requires_grad_(True)
    loss.function(expected, t, reduction=reduction, backend="torch").backward(upstream)
    torch.testing.assert_close(x.grad, expected.grad, rtol=2e-5, atol=2e-7)


@pytest.mark.parametrize("loss", loss_table.BINARY, ids=lambda loss: loss.name)
def test_cpu_binary_second_backward_of_a_retained_graph_is_refused_clearly(loss):
    x, t = binary_sample((8, 5))
    x.requires_grad_(True)
    out = loss.function(x, t, backend="cpu")
    out.backward(retain_graph=True)
    with pytest.raises(RuntimeError, match=r"second backward.*retain_graph=True.*backend='torch'"):
        out.backward()
    for options in ({"backend": "torch"}, {"backend": "cpu", "dtype": torch.float64}):  # these keep no gradient
        dtype = options.pop("dtype", x.dtype)
        y = x.detach().to(dtype).requires_grad_(True)
        out = loss.function(y, t.to(dtype), **options)
        out.backward(retain_graph=True)
        first = y.grad.clone()
        out.backward()
        torch.testing.assert_close(y.grad, 2 * first)


class _RecordOps(TorchDispatchMode):
    """The shapes of the tensors each aten op is handed, op by op."""

    def __init__(self):
        super().__init__()
        self.ops = []

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        shapes = [tuple(a.shape) for a in list(args) + list((kwargs or {}).values()) if isinstance(a, torch.Tensor)]
        self.ops.append((str(func), shapes))
        return func(*args, **(kwargs or {}))


def _full_size_ops_in_backward(out, shape, *upstream):
    with _RecordOps() as recorded:
        out.backward(*upstream)
    return [name for name, shapes in recorded.ops if shape in shapes and name != "aten.detach.default"]


@pytest.mark.parametrize("loss", loss_table.BINARY, ids=lambda loss: loss.name)
@pytest.mark.parametrize("reduction", ["mean", "sum"])
def test_cpu_binary_backward_of_a_reduced_loss_touches_no_full_size_tensor(loss, reduction):
    """A mean's gradient is formed divided in forward: loss.backward() has nothing left to do per
    element (before, it scaled the gradient in a second pass). A scaled loss still gets the pass."""
    x, t = binary_sample((64, 40))
    x.requires_grad_(True)
    assert _full_size_ops_in_backward(loss.function(x, t, reduction=reduction, backend="cpu"), x.shape) == []
    expected = x.grad.clone()
    x.grad = None
    doubled = 2 * loss.function(x, t, reduction=reduction, backend="cpu")
    assert _full_size_ops_in_backward(doubled, x.shape) == ["aten.mul_.Tensor"]  # the recorder sees the pass
    torch.testing.assert_close(x.grad, 2 * expected)
    x.grad = None
    loss.function(x, t, reduction=reduction, backend="torch").backward()
    torch.testing.assert_close(expected, x.grad, rtol=2e-5, atol=2e-8)


_VIEWS = ("aten.view.default", "aten.expand.default", "aten.unsqueeze.default", "aten.detach.default",
          "aten.alias.default", "aten._unsafe_view.default", "aten.select.int")


@pytest.mark.parametrize("shape", [(2, 5, 64, 64), (8192, 3)])
@pytest.mark.parametrize("reduction", ["mean", "sum"])
def test_cpu_softmax_backward_of_a_reduced_loss_writes_nothing_per_position(shape, reduction):
    """Below the kernel, a mean's or a sum's backward only makes views of one number: no (N, d1, ...)
    tensor is filled or copied (the sum's blocks were sliced, whose backward filled a zero tensor and
    copied into it, and the kernel read a contiguous copy of the upstream gradient). Positions here
    are a whole number of the sum's blocks; otherwise the last, partial block is still sliced."""
    x, y = softmax_sample(shape)
    x.requires_grad_(True)
    positions = (shape[0],) + shape[2:]
    out = focalloss.softmax_focal_loss(x, y, reduction=reduction, backend="cpu")
    with _RecordOps() as recorded:
        out.backward()
    flat = (math.prod(positions),)
    touched = [name for name, shapes in recorded.ops if (positions in shapes or flat in shapes) and name not in _VIEWS]
    assert touched == []
    expected = x.grad
    x.grad = None
    focalloss.softmax_focal_loss(x, y, reduction=reduction, backend="torch").backward()
    torch.testing.assert_close(x.grad, expected)


# --------------------------------------------------------------------------------------------------
# Threads: torch's own OpenMP threads, or the kernels' POSIX threads
# --------------------------------------------------------------------------------------------------
OPENMP_TORCH = sys.platform.startswith("linux") and "parallel backend: OpenMP" in torch.__config__.parallel_info()


@contextlib.contextmanager
def _thread_pool(pool, threads):
    kernels, before = cpu_ops._kernels(), torch.get_num_threads()
    torch.set_num_threads(threads)
    if pool == "pthreads":
        kernels.use_openmp(0)
    try:
        yield
    finally:
        cpu_ops._choose_thread_pool(kernels)
        torch.set_num_threads(before)


@pytest.mark.skipif(not OPENMP_TORCH, reason="torch runs its threads on OpenMP on Linux builds")
def test_cpu_kernels_run_on_torchs_own_openmp_threads():
    """Threads of the kernels' own would compete for the cores with torch's OpenMP threads, which spin
    for a while after each torch op; so the kernels run on torch's."""
    assert cpu_ops.thread_pool() == "openmp"
    path = cpu_ops._torch_openmp_runtime()
    with open("/proc/self/maps") as maps:
        assert path in maps.read()
    assert os.path.basename(path).startswith(("libgomp", "libomp", "libiomp5"))


def test_cpu_kernels_use_openmp_takes_one_address():
    kernels = cpu_ops._kernels()
    with pytest.raises(TypeError):
        kernels.use_openmp(0, 0, 0)
    assert cpu_ops.thread_pool() == ("openmp" if OPENMP_TORCH else "pthreads")


@pytest.mark.skipif(not hasattr(os, "fork"), reason="fork is POSIX")
def test_cpu_kernels_in_a_forked_child_take_their_own_threads():
    """GNU libgomp's pool is not there in a forked child and waits for it forever: after the parent
    ran the kernels on torch's OpenMP threads, a child's kernels run on POSIX threads and finish."""
    x, t = binary_sample((1000, 333))
    # the child with validate=False: torch's own ops hang there; the same loss, on POSIX threads
    assert forked_child_succeeds(
        lambda: focalloss.sigmoid_focal_loss(x, t, backend="cpu"),
        lambda expected: torch.equal(focalloss.sigmoid_focal_loss(x, t, backend="cpu", validate=False), expected)
        and cpu_ops.thread_pool() == "pthreads", timeout=30)
    assert cpu_ops.thread_pool() == ("openmp" if OPENMP_TORCH else "pthreads")


def _fused_results(x, t, y, dense, dense_target, few_rows, few_rows_target, few_lanes, few_lanes_target):
    """Losses and gradients of binary and softmax losses, flat and (N, C, S), through each kernel family;
    the last two with fewer blocks (4 and 2) than some thread counts."""
    results = []
    for function, logits, target, options in (
        (focalloss.sigmoid_focal_loss, x, t, {}),
        (focalloss.sigmoid_asymmetric_loss, x, t, {"reduction": "sum"}),
        (focalloss.sigmoid_focal_loss, x, t, {"reduction": "none"}),
        (focalloss.softmax_focal_loss, x, y, {}),
        (focalloss.softmax_focal_loss, x, y, {"label_smoothing": 0.1}),
        (focalloss.softmax_focal_loss, dense, dense_target, {}),
        (focalloss.softmax_focal_loss, dense, dense_target, {"reduction": "none"}),
        (focalloss.softmax_focal_loss, few_rows, few_rows_target, {}),
        (focalloss.softmax_focal_loss, few_lanes, few_lanes_target, {}),
    ):
        z = logits.clone().requires_grad_(True)
        out = function(z, target, backend="cpu", **options)
        out.backward(torch.linspace(0.5, 2.0, out.numel()).view(out.shape) if out.dim() else None)
        results += [out, z.grad]
    return results


@pytest.mark.parametrize("pool", ["openmp", "pthreads"])
def test_fused_results_do_not_depend_on_the_threads_or_their_pool(pool):
    """Bit for bit the same on 1 to 8 threads of either pool (the work is split in fixed blocks, taken
    by whichever thread is free; more threads than blocks, and than cores, included)."""
    if pool == "openmp" and not OPENMP_TORCH:
        pytest.skip("torch does not run on OpenMP here")
    x, t = binary_sample((1000, 333))
    y = torch.randint(0, 333, (1000,), generator=torch.Generator().manual_seed(1))
    dense, dense_target = softmax_sample((2, 19, 64, 64))
    few_rows, few_rows_target = softmax_sample((200, 700))
    few_lanes, few_lanes_target = softmax_sample((1, 512, 20, 15))
    inputs = (x, t, y, dense, dense_target, few_rows, few_rows_target, few_lanes, few_lanes_target)
    with _thread_pool("pthreads", 1):
        single = _fused_results(*inputs)
    for threads in (2, 3, 5, 8):
        with _thread_pool(pool, threads):
            assert cpu_ops.thread_pool() == pool
            results = _fused_results(*inputs)
        for got, expected in zip(results, single):
            assert torch.equal(got, expected)


# --------------------------------------------------------------------------------------------------
# Fresh buffers on transparent huge pages
# --------------------------------------------------------------------------------------------------
THP = os.path.exists("/sys/kernel/mm/transparent_hugepage/enabled")


def _vm_flags(address):
    """The VmFlags of the mapping of this process that holds ``address`` (Linux's /proc/self/smaps)."""
    inside, flags = False, None
    with open("/proc/self/smaps") as smaps:
        for line in smaps:
            head = line.split()[0]
            if "-" in head and not head.endswith(":"):
                start, end = (int(part, 16) for part in head.split("-"))
                inside = start <= address < end
            elif inside and head == "VmFlags:":
                flags = line.split()[1:]
    return flags


@pytest.mark.skipif(not THP, reason="Linux with transparent huge pages")
@pytest.mark.parametrize("elements", [9 << 20, 25 << 20])  # above glibc's largest mmap threshold: fresh maps
def test_cpu_fresh_large_buffers_are_advised_onto_huge_pages(elements):
    """A fresh large gradient is mapped 2 MiB at a time, not 4 KiB (some 8000 page faults for 32 MB):
    the whole 2 MiB pages inside it carry MADV_HUGEPAGE ("hg") before anything touches them."""
    x = torch.empty(elements, dtype=torch.float32)
    out = cpu_ops._fresh_like(x)
    huge = 1 << 21
    first = -(-out.data_ptr() // huge) * huge
    assert first + huge <= out.data_ptr() + 4 * elements
    assert "hg" in _vm_flags(first)


def _mapped(address):
    """Whether any mapping of this process holds ``address`` (Linux's /proc/self/maps)."""
    with open("/proc/self/maps") as maps:
        for line in maps:
            start, end = (int(part, 16) for part in line.split()[0].split("-"))
            if start <= address < end:
                return True
    return False


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="the kernels' own mappings are Linux's")
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_cpu_fresh_buffers_of_32_mib_start_on_a_huge_page(dtype):
    """malloc maps a buffer this large afresh at any 4 KiB boundary, which leaves up to 2 MiB at each
    end on 4 KiB pages; the buffer starts on a 2 MiB one inside a torch storage 2 MiB larger (which
    resizes as any other), is advised as a whole, and is unmapped with the tensor."""
    x = torch.empty(3, 5 << 20, dtype=dtype)[:, : (5 << 20) - 7]  # not contiguous: the result is
    out = cpu_ops._fresh_like(x)
    address = out.data_ptr()
    assert address % (1 << 21) == 0 and out.shape == x.shape and out.dtype == dtype and out.is_contiguous()
    assert out.untyped_storage().resizable() and out.untyped_storage().nbytes() == out.nbytes + (1 << 21)
    if THP:
        assert "hg" in _vm_flags(address)
    out.fill_(1.5)
    assert torch.equal(out, torch.full(x.shape, 1.5, dtype=dtype))
    del out
    assert not _mapped(address)


def test_cpu_elementwise_loss_on_an_own_mapping_takes_in_place_ops():
    """A reduction="none" loss of 32 MiB and more starts on a 2 MiB boundary of a larger storage; it is
    a tensor of its own, not a view, so that in-place ops on it (a mask, a weight) work as on a smaller one."""
    x, t = binary_sample((4, 9 << 18))  # 36 MiB of float32 losses
    x.requires_grad_(True)
    loss = focalloss.sigmoid_focal_loss(x, t, reduction="none", backend="cpu")
    assert loss.data_ptr() % (1 << 21) == 0 and loss._base is None
    expected = loss.detach() * 2
    loss *= 2
    torch.testing.assert_close(loss.detach(), expected)
    loss[:, :7].sum().backward()
    grad = x.grad[:, :7].clone()
    x.grad = None
    (2 * focalloss.sigmoid_focal_loss(x, t, reduction="none", backend="torch"))[:, :7].sum().backward()
    torch.testing.assert_close(grad, x.grad[:, :7])
    assert x.grad[:, 7:].abs().max() == 0


def test_cpu_fresh_buffers_below_32_mib_come_from_torchs_allocator():
    """glibc recycles these from its heap, already faulted in: a mapping of the kernels' own would
    throw that away every step."""
    out = cpu_ops._fresh_like(torch.empty(4 << 20))  # 16 MiB
    assert out.untyped_storage().resizable() and out.is_contiguous()


def test_cpu_huge_pages_leaves_buffers_without_a_whole_huge_page_alone():
    kernels = cpu_ops._kernels()
    small = torch.empty(1000)
    assert kernels.huge_pages(small.data_ptr(), 4000) is False  # no whole 2 MiB page inside
    assert kernels.huge_pages(small.data_ptr(), 0) is False


# --------------------------------------------------------------------------------------------------
# Determinism and odd cases of the fused kernels
# --------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("shape", [(300, 7), (3, 5, 40, 9)])
@pytest.mark.parametrize("options", [{}, {"label_smoothing": 0.1}])
def test_cpu_softmax_backward_reads_a_broadcast_upstream_gradient_as_one_number(shape, options):
    """A mean's or a sum's upstream gradient is a stride-0 view of one number: backward reads that
    number (no (N, d1, ...) copy of it) and gets the very bits of the same gradient written out."""
    x, y = softmax_sample(shape)
    loss = focalloss.softmax_focal_loss(x.requires_grad_(True), y, reduction="none", backend="cpu", **options)
    for upstream in (torch.tensor(0.37), torch.tensor(-2.5)):
        (broadcast,) = torch.autograd.grad(loss, x, upstream.expand(loss.shape), retain_graph=True)
        (written,) = torch.autograd.grad(loss, x, upstream.expand(loss.shape).contiguous(), retain_graph=True)
        assert cpu_ops._uniform_value(upstream.expand(loss.shape)) == upstream.item()
        assert cpu_ops._uniform_value(upstream.expand(loss.shape).contiguous()) is None
        assert torch.equal(broadcast, written)
    mean = focalloss.softmax_focal_loss(x, y, backend="cpu", **options)
    (grad,) = torch.autograd.grad(mean, x)
    torch.testing.assert_close(grad, torch.autograd.grad(loss.mean(), x)[0])


def test_fused_sums_do_not_depend_on_the_thread_count():
    x, t = binary_sample((1000, 333))
    y = torch.randint(0, 333, (1000,))
    threads = torch.get_num_threads()
    results = []
    try:
        for n in (1, 2, 3):
            torch.set_num_threads(n)
            results.append((focalloss.sigmoid_focal_loss(x, t, reduction="sum"),
                            focalloss.softmax_focal_loss(x, y, reduction="sum")))
    finally:
        torch.set_num_threads(threads)
    for binary, softmax in results[1:]:
        assert torch.equal(binary, results[0][0]) and torch.equal(softmax, results[0][1])


def test_fused_out_of_range_index_without_validation_gives_nan_not_a_crash():
    x, _ = softmax_sample((4, 5, 3))
    for target in (torch.tensor([[0, 7, 1]] * 4), torch.tensor([[0, -3, 1]] * 4)):
        x_ = x.clone().requires_grad_(True)
        loss = focalloss.softmax_focal_loss(x_, target, reduction="none", validate=False, backend="cpu")
        assert loss[:, 1].isnan().all() and loss[:, [0, 2]].isfinite().all()
        loss.sum().backward()
        assert x_.grad[:, :, 1].isnan().all()


@pytest.mark.parametrize("classes", [2, 7, 32000])
@pytest.mark.parametrize("gamma", [0.0, 0.5, 2.0])
def test_fused_softmax_with_many_classes_matches_torch_backend(classes, gamma):
    gen = torch.Generator().manual_seed(classes)
    x = (torch.randn(6, classes, generator=gen, dtype=torch.float64) * 4).requires_grad_(True)
    x.data[0, 1] = 60.0  # one row where the top class takes all the mass
    y = torch.randint(0, classes, (6,), generator=gen)
    y[0] = 1
    results = []
    for backend in ("cpu", "torch"):
        loss = focalloss.softmax_focal_loss(x, y, gamma=gamma, reduction="sum", backend=backend)
        results.append((loss, torch.autograd.grad(loss, x)[0]))
    torch.testing.assert_close(results[0], results[1], rtol=1e-10, atol=1e-12)


def test_cross_entropy_identity_holds_on_the_fused_backend_in_float32():
    x, y = softmax_sample((3, 11, 7, 5))
    x.requires_grad_(True)
    ours = focalloss.softmax_focal_loss(x, y, gamma=0.0, backend="cpu")
    theirs = F.cross_entropy(x, y)
    torch.testing.assert_close(ours, theirs)
    torch.testing.assert_close(torch.autograd.grad(ours, x)[0], torch.autograd.grad(theirs, x)[0])


@pytest.mark.parametrize("layout", [(40, 5), (4, 5, 6, 7)], ids=["flat", "dense"])
def test_fused_softened_gradient_stays_accurate_at_huge_logits(layout):
    """The target's gradient is formed in one piece: as a sum of its terms it cancelled (0.5 % off)."""
    gen = torch.Generator().manual_seed(5)
    x = torch.randn(layout, generator=gen) * 3e4
    y = torch.randint(0, 5, layout[:1] + layout[2:], generator=gen)
    x.requires_grad_(True)
    focalloss.softmax_softened_loss(x, y, k=1.0, backend="cpu").backward()
    expected = reference.softmax_softened_loss_grad(x.detach().double().numpy(), y.numpy(), k=1.0, reduction="mean")
    assert_matches_reference(x.grad, expected, torch.float32)
