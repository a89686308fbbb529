"""The Triton kernels compiled for GPUs, without one: every kernel of every loss kind, at the
production tile sizes and at the edges, for sm_80 and sm_90, through ptxas, with the signature that
Triton's own launcher binds for the real launches (tests/triton_compile_check.py), against the newest
Triton installed here and the lowest one the package allows.

The interpreter, which the other Triton tests use, keeps floats in float64, runs helpers as Python,
never fuses, and accepts code that the compiler rejects or compiles differently (a C of 1 bound as a
constant, nested tuples on old Tritons, float64 scalars bound as float32): only compiling shows these.

The lowest Triton runs from a second interpreter: ``FOCALLOSS_TRITON_FLOOR_PYTHON``, else
``.venv-triton-floor/bin/python`` in the repository (``.ci/run`` creates it). Without it the test of the
floor is skipped here and fails in CI (``CI=true``). Both compile at once, one process each.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest
import torch

import focalloss
from focalloss import losses
from focalloss.backends import triton_ops

pytest.importorskip("triton")

HERE = Path(__file__).parent
FLOOR_PYTHON = Path(os.environ.get("FOCALLOSS_TRITON_FLOOR_PYTHON", HERE.parent / ".venv-triton-floor" / "bin" / "python"))
CAPABILITIES = (80, 90)
KERNELS = {"binary": ("binary_forward_kernel", "binary_backward_kernel"),
           "softmax": ("softmax_forward_kernel", "softmax_backward_kernel")}
SIZES = ("numel", "C", "S", "rows")


def _compile_everything(python, workdir):
    """Starts the compile check under ``python`` with focalloss importable (the package this test
    imports, linked alone into a folder: the other interpreter's own torch and triton stay first)."""
    packages = workdir / "packages"
    packages.mkdir()
    (packages / "focalloss").symlink_to(Path(focalloss.__file__).parent)
    env = {name: value for name, value in os.environ.items() if name != "TRITON_INTERPRET"}
    env.update(PYTHONPATH=f"{packages}{os.pathsep}{HERE}", TRITON_CACHE_DIR=str(workdir / "cache"), OMP_NUM_THREADS="1")
    command = [str(python), str(HERE / "triton_compile_check.py"), *map(str, CAPABILITIES)]
    return subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


@pytest.fixture(scope="module")
def compiled():
    """{"newest" / "floor": (Triton version, kernel records, errors, stderr, seconds)}; "floor" is a
    reason to skip when its interpreter is absent outside CI."""
    interpreters = {"newest": Path(sys.executable)}
    results = {}
    if FLOOR_PYTHON.exists():
        interpreters["floor"] = FLOOR_PYTHON
    else:
        results["floor"] = (f"no interpreter with the lowest allowed Triton at {FLOOR_PYTHON} (set "
                            "FOCALLOSS_TRITON_FLOOR_PYTHON, or let .ci/run create .venv-triton-floor)")
    with tempfile.TemporaryDirectory() as tmp:
        start = time.perf_counter()
        running = {}
        for label, python in interpreters.items():
            (Path(tmp) / label).mkdir()
            running[label] = _compile_everything(python, Path(tmp) / label)
        for label, process in running.items():
            stdout, stderr = process.communicate()
            lines = [json.loads(line) for line in stdout.splitlines() if line.startswith("{")]
            version = next((line["triton"] for line in lines if "triton" in line), None)
            records = [line for line in lines if "kernel" in line]
            errors = [line for line in lines if "error" in line]
            results[label] = (version, records, errors, stderr[-4000:], round(time.perf_counter() - start, 1))
    return results


def _results(compiled, label):
    result = compiled[label]
    if isinstance(result, str):
        if os.environ.get("CI") == "true":
            pytest.fail(result)
        pytest.skip(result)
    return result


@pytest.mark.parametrize("label", ["newest", "floor"])
def test_every_kernel_compiles_for_sm80_and_sm90(compiled, label):
    version, records, errors, stderr, seconds = _results(compiled, label)
    print(f"triton {version}: {len(records)} kernels compiled in {seconds} s")
    assert version is not None, stderr
    if label == "floor":
        assert version.split(".")[:2] == [str(part) for part in triton_ops.MIN_TRITON]
    assert not errors, "\n\n".join(f"{e['case']} (sm_{e['capability']}): {e['error']}" for e in errors)
    assert records and all(record["cubin_bytes"] > 0 for record in records)
    for capability in CAPABILITIES:
        built = {(r["kernel"], r["signature"]["KIND"][1]) for r in records if r["capability"] == capability}
        for family, specs in (("binary", losses.BINARY), ("softmax", losses.SOFTMAX)):
            assert {(kernel, spec.code) for kernel in KERNELS[family] for spec in specs.values()} <= built
        paths = {(r["kernel"], r["signature"]["KIND"][1], r["signature"]["INDEX_TARGET"][1],
                  r["signature"]["SMOOTHING"][1]) for r in records
                 if r["capability"] == capability and r["kernel"].startswith("softmax")}
        assert len(paths) == 2 * len(losses.SOFTMAX) * 4  # every target path of every softmax kind


@pytest.mark.parametrize("label", ["newest", "floor"])
def test_compiled_at_production_tiles_and_at_the_edges(compiled, label):
    """The tiles the launcher picks for the check's shapes (the production constants of triton_ops),
    and the sizes that Triton binds as the constant 1."""
    import triton_compile_check as check

    _, records, _, _, _ = _results(compiled, label)
    tiles = {(r["signature"]["BLOCK_C"][1], r["signature"]["BLOCK_P"][1]) for r in records if "BLOCK_C" in r["signature"]}
    for shape in [*check.PRODUCTION.values(), *check.EDGES.values()]:
        positions = 1
        for size in shape[2:]:
            positions *= size
        assert triton_ops._softmax_tiles(shape[1], positions, shape[0] * positions)[:2] in tiles
    assert (triton_ops._TILE_ELEMENTS, 1) in tiles  # C above one tile: 4096 classes a tile
    assert {r["signature"]["BLOCK"][1] for r in records if "BLOCK" in r["signature"]} == {triton_ops._BINARY_BLOCK}
    for size in SIZES:
        bound = [r["signature"][size] for r in records if size in r["signature"]]
        assert ["constexpr", 1] in bound, f"no kernel compiled with {size} = 1"
        assert all(kind in ("i32", "i64", ["constexpr", 1]) for kind in bound), bound


@pytest.mark.parametrize("label", ["newest", "floor"])
def test_hyperparameters_are_bound_as_float64_and_softened_kernels_do_not_fuse(compiled, label):
    """Every hyperparameter reaches the kernels as a float64 scalar, on every allowed Triton (before 3.4
    they were bound as float32); the softened kernels compile without FMA contraction, the others with it."""
    _, records, _, _, _ = _results(compiled, label)
    for record in records:
        scalars = {name: kind for name, kind in record["signature"].items() if name.endswith("_")}
        assert len(scalars) >= 11 and set(scalars.values()) == {"fp64"}, (record["case"], scalars)
        softened = record["signature"]["KIND"][1] == losses.KIND_CODES["softened"]
        assert record["options"]["enable_fp_fusion"] is not softened, record["case"]
        if softened and record["signature"]["COMPUTE"][1] == "fp32":
            assert record["fma_f32"] == 0, record["case"]
    fused = [r["fma_f32"] for r in records if r["options"]["enable_fp_fusion"] and r["signature"]["COMPUTE"][1] == "fp32"]
    assert max(fused) > 0  # the PTX count sees contractions where they are allowed


def test_the_check_runs_the_backend_as_the_tests_do():
    """The launches go through the public backend functions on CPU tensors: the dtypes they cover."""
    import triton_compile_check as check

    names = [name for name, _ in check.cases()]
    assert len(names) == len(set(names))
    for dtype in (torch.float16, torch.bfloat16, torch.float32, torch.float64):
        assert any(str(dtype) in name for name in names)
