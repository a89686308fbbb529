"""focalloss bench: runs, reports every contender against the floor, writes JSON, refuses bad usage."""

from __future__ import annotations

import json
import sys

import pytest
import torch

from focalloss import benchmark
from focalloss.cli import main


def test_quick_bench_writes_a_table_and_json(tmp_path, capsys):
    threads = torch.get_num_threads()
    try:
        status = main(["bench", "--quick", "--repeats", "1", "--threads", "1", "--json", str(tmp_path / "b.json")])
    finally:
        torch.set_num_threads(threads)
    assert status == 0
    printed = capsys.readouterr().out
    assert "| case | contender | median ms | × floor | kept B/logit | faults/step |" in printed
    data = json.loads((tmp_path / "b.json").read_text())
    cases = {r["case"] for r in data["results"]}
    assert cases == {name for name, _, _ in benchmark.CASES["quick"]}
    for case in cases:
        rows = [r for r in data["results"] if r["case"] == case]
        assert rows[0]["contender"].startswith("floor") and rows[0]["ratio_to_floor"] == 1.0
        assert {"focalloss", "focalloss backend=torch"} <= {r["contender"] for r in rows}
        assert [r["contender"] for r in rows[-2:]] == ["limit: stream, preallocated", "limit: stream, fresh"]
        assert all(r["kept_bytes_per_logit"] == 0 for r in rows[-2:])
        if sys.platform.startswith("linux"):
            assert all(r["minor_faults"] >= 0 for r in rows)
        for r in rows:
            assert r["median_ms"] > 0 and r["ratio_to_floor"] == pytest.approx(r["median_ms"] / rows[0]["median_ms"])
        family = "sigmoid" if case.startswith("sigmoid") else "softmax"
        names = [r["contender"] for r in rows]
        new = [f"focalloss {family}_poly1_focal_loss", f"focalloss {family}_adaptive_focal_loss"]
        if family == "sigmoid":
            new += ["focalloss sigmoid_asymmetric_loss", "focalloss sigmoid_quality_focal_loss",
                    "focalloss sigmoid_varifocal_loss"]
        after = names.index("focalloss backend=torch") + 1
        assert names[after:after + len(new)] == new
        for name in new:
            kept = next(r["kept_bytes_per_logit"] for r in rows if r["contender"] == name)
            assert kept <= next(r["kept_bytes_per_logit"] for r in rows if r["contender"] == "focalloss") + 0.01
    sigmoid = {r["contender"]: r for r in data["results"] if r["case"].startswith("sigmoid")}
    assert sigmoid["focalloss"]["kept_bytes_per_logit"] == pytest.approx(4.0, abs=0.01)
    assert sigmoid["torchvision formula"]["kept_bytes_per_logit"] > 4.0


def test_kept_bytes_counts_saved_storage_beyond_the_inputs():
    x = torch.randn(100, 10, requires_grad=True)
    t = torch.rand(100, 10)
    assert benchmark.kept_bytes(lambda x, t: (x * t).sum(), x, t) == 0  # saves only the inputs
    assert benchmark.kept_bytes(lambda x, t: torch.sigmoid(x).sum(), x, t) == 4 * x.numel()  # its output


@pytest.mark.parametrize(
    "argv, message",
    [
        (["bench", "--json", "out.txt"], "--json must end in one of .json"),
        (["bench", "--repeats", "0"], "--repeats"),
        (["bench", "--dtype", "int8"], "--dtype"),
    ],
)
def test_bad_usage_is_one_line_and_exit_2(argv, message, capsys):
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert message in err and len(err.strip().splitlines()) == 1


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the message given when no GPU is present")
def test_cuda_without_a_gpu_is_bad_usage(capsys):
    assert main(["bench", "--device", "cuda", "--quick"]) == 2
    assert "no CUDA device" in capsys.readouterr().err


def test_the_stream_limits_allocate_once_or_every_step(monkeypatch):
    x, t = torch.randn(300, 7), torch.rand(300, 7)
    allocations = []
    empty_like = torch.empty_like
    monkeypatch.setattr(torch, "empty_like", lambda *a, **k: allocations.append(1) or empty_like(*a, **k))
    preallocated, fresh = (step for _, step in benchmark.losses.limits())
    for step, expected in ((preallocated, 2), (fresh, 6)):
        allocations.clear()
        for _ in range(3):
            assert step(x, t) is None  # nothing to differentiate
        assert len(allocations) == expected  # a gradient and a result: once, or on every step


def test_thread_scaling_benchmark_reports_every_case_and_contender(capsys):
    from focalloss.benchmark import threads

    before = torch.get_num_threads()
    threads.main(["--quick", "--repeats", "1", "--rounds", "2"])
    assert torch.get_num_threads() == before  # restored
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].startswith("1 -> 2 threads, float32, median of 1, 2 rounds")
    rows = [line.split(" | ") for line in lines[3:]]
    expected = [(case, contender) for case, _, _ in benchmark.CASES["quick"]
                for contender in ("focalloss forward", "focalloss forward+backward", "floor forward+backward")]
    expected.append((threads.CONTROL[0], "focalloss forward"))
    assert [(row[0].lstrip("| "), row[1]) for row in rows] == expected
    for row in rows:
        assert float(row[2]) > 0 and float(row[3]) > 0
        median, low, high = (float(v) for v in row[4].strip(" |()").replace(" (", " ").replace("-", " ").split())
        assert 0 < low <= median <= high


@pytest.mark.parametrize("argv", [["--threads", "1"], ["--repeats", "0"], ["--rounds", "0"]])
def test_thread_scaling_benchmark_refuses_bad_usage(argv, capsys):
    from focalloss.benchmark import threads

    with pytest.raises(SystemExit) as exit_:
        threads.main(argv)
    assert exit_.value.code == 2
    assert "need --threads >= 2, --repeats >= 1 and --rounds >= 1" in capsys.readouterr().err
