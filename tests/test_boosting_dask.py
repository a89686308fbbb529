"""The boosting objectives on Dask: init_score from dask collections, and training on a LocalCluster.

init_score of a dask array or Series must equal the NumPy one, stay lazy in y's chunks or
partitions, and bring only a few numbers per block to the client (a recording scheduler checks
every value that comes back). Then a loopback LocalCluster (2 worker processes, 127.0.0.1, no
dashboard) trains ``lightgbm.dask.DaskLGBMClassifier`` and ``xgboost.dask.train`` with the focal
objective: their average precision on held-out rows must be that of the same model trained in one
process, within 0.02. The cluster runs in a child process (this file run as a script) with a bounded
wait, so a hang fails the test instead of blocking it, and no worker process may outlive it.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys

import numpy as np
import pytest
from numpy.testing import assert_allclose

from focalloss.boosting import (BinaryAsymmetricObjective, BinaryFocalObjective, BinaryFocalStarObjective,
                                BinaryPolyObjective, BinarySoftenedObjective, SoftmaxFocalObjective)

dd = pytest.importorskip("dask.dataframe")  # with it come dask, dask.array and pandas
import dask  # noqa: E402
import dask.array as da  # noqa: E402
import pandas as pd  # noqa: E402

AP_TOLERANCE = 0.02
JOB_TIMEOUT_S = 300
ROUNDS = 150
INIT = {"rtol": 1e-12, "atol": 1e-12}  # the same sums added in another order
BINARY_OBJECTIVES = [BinaryFocalObjective(), BinaryFocalObjective(alpha=None, gamma=0.5, hessian="exact"),
                     BinarySoftenedObjective(k=2.0, alpha=0.3), BinaryFocalStarObjective(gamma=2.0, beta=1.0),
                     BinaryPolyObjective(), BinaryPolyObjective(alpha=None, gamma=0.5, epsilon=-1.0),
                     BinaryAsymmetricObjective(), BinaryAsymmetricObjective(gamma_pos=0.0, gamma_neg=1.0, clip=0.3,
                                                                            alpha=0.7, hessian="exact")]


class _Recording:
    """A synchronous dask scheduler that keeps every value it hands back to the client."""

    def __init__(self):
        self.returned = []

    def __call__(self, graph, keys, **kwargs):
        results = dask.get(graph, keys, **kwargs)
        self.returned.extend(_leaves(results))
        return results


def _leaves(value):
    if isinstance(value, (list, tuple)):
        return [leaf for item in value for leaf in _leaves(item)]
    if isinstance(value, dict):
        return [leaf for item in value.values() for leaf in _leaves(item)]
    return [value]


def _sizes(values):
    return [np.size(v) for v in values]


@pytest.fixture(scope="module")
def labelled():
    rng = np.random.default_rng(0)
    y = (rng.random(1000) < 0.05).astype(np.float64)
    y[::97] = 0.5  # a few soft labels
    classes = rng.choice(3, size=1000, p=[0.8, 0.15, 0.05]).astype(np.float64)
    return y, classes, rng.random(1000) * 2.0


@pytest.mark.parametrize("obj", BINARY_OBJECTIVES, ids=repr)
@pytest.mark.parametrize("weighted", [False, True])
def test_binary_init_score_of_a_dask_array_is_the_numpy_one_and_lazy(obj, weighted, labelled):
    y, _, w = labelled
    labels = da.from_array(y, chunks=(300, 300, 250, 150))
    weights = da.from_array(w, chunks=170) if weighted else None  # other chunks than y's
    recording = _Recording()
    with dask.config.set(scheduler=recording):
        init = obj.init_score(labels, weights)
    assert isinstance(init, da.Array) and init.chunks == labels.chunks and init.dtype == np.float64
    # every value that came back is a count, a sum or one label: 4 blocks, no array of rows
    assert 0 < len(recording.returned) <= 4 * 8 and max(_sizes(recording.returned)) == 1
    assert_allclose(init.compute(scheduler="sync"), obj.init_score(y, w if weighted else None), **INIT)


def test_binary_init_score_of_dask_series_keeps_partitions_and_index(labelled):
    y, _, w = labelled
    frame = dd.from_pandas(pd.DataFrame({"y": y, "w": w}, index=np.arange(1000) * 3), npartitions=4)
    obj = BinaryFocalObjective()
    init = obj.init_score(frame["y"], frame["w"])
    assert isinstance(init, dd.Series) and init.npartitions == 4
    computed = init.compute(scheduler="sync")
    assert computed.index.equals(frame.index.compute()) and computed.name == "y"
    assert_allclose(computed.to_numpy(), obj.init_score(y, w), **INIT)


@pytest.mark.parametrize("obj, num_classes", [
    (SoftmaxFocalObjective(), None),
    (SoftmaxFocalObjective(alpha=[2.0, 1.0, 0.5], gamma=1.0), None),
    (SoftmaxFocalObjective(gamma=3.0), 5),
], ids=["inferred", "alpha", "num_classes"])
def test_softmax_init_score_of_dask_collections_is_the_numpy_one(obj, num_classes, labelled):
    _, classes, w = labelled
    if num_classes == 5:  # classes 3 and 4 need weight too: give them a few rows
        classes = classes.copy()
        classes[:6] = [3, 4, 3, 4, 3, 4]
    expected = obj.init_score(classes, w, num_classes=num_classes)
    recording = _Recording()
    with dask.config.set(scheduler=recording):
        init = obj.init_score(da.from_array(classes, chunks=400), da.from_array(w, chunks=400), num_classes=num_classes)
    assert init.shape == expected.shape and init.chunks == ((400, 400, 200), (expected.shape[1],))
    assert max(_sizes(recording.returned)) == expected.shape[1]  # the per-class sums of a block
    assert_allclose(init.compute(scheduler="sync"), expected, **INIT)

    frame = dd.from_pandas(pd.DataFrame({"y": classes, "w": w}), npartitions=3)
    init = obj.init_score(frame["y"], frame["w"], num_classes=num_classes).compute(scheduler="sync")
    assert list(init.columns) == list(range(expected.shape[1]))
    assert_allclose(init.to_numpy(), expected, **INIT)


def _binary(values, chunks=2):
    return da.from_array(np.asarray(values, dtype=np.float64), chunks=chunks)


@pytest.mark.parametrize("call, error, message", [
    (lambda: BinaryFocalObjective().init_score(_binary([0, 1, 2, np.nan, 0])), ValueError,
     r"y must hold labels in \[0, 1\] \(1 = positive; fractions are soft labels\); got 2 other value\(s\), "
     r"the first 2.0"),
    (lambda: BinaryFocalObjective().init_score(_binary([0, 1, 1]), _binary([1, -1, np.inf])), ValueError,
     r"sample_weight must hold finite weights >= 0; got 2 other value\(s\), the first -1.0"),
    (lambda: BinaryFocalObjective().init_score(_binary([0, 1, 1]), np.ones(3)), TypeError,
     r"sample_weight must be None or a dask array of y's shape \(3,\); got ndarray of shape \(3,\)"),
    (lambda: BinaryFocalObjective().init_score(_binary([0, 1, 1]), _binary([1, 1])), ValueError,
     r"sample_weight must be None or a dask array of y's shape \(3,\); got Array of shape \(2,\)"),
    (lambda: BinaryFocalObjective().init_score(np.array([0.0, 1.0]), _binary([1, 1])), TypeError,
     r"sample_weight is a dask collection but y is not \(ndarray of shape \(2,\)\); pass both"),
    (lambda: BinaryFocalObjective().init_score(da.zeros((4, 2))), ValueError,
     r"y must be a 1-D array of values; got shape \(4, 2\)"),
    (lambda: BinaryFocalObjective().init_score(dask.delayed(np.zeros(3))), TypeError,
     r"y must be an array, a 1-D dask array or a dask Series; got Delayed"),
    (lambda: BinaryFocalObjective().init_score(_binary([0, 0, 0])), ValueError,
     r"init_score needs weight on both labels"),
    (lambda: BinaryFocalObjective().init_score(dd.from_pandas(pd.Series([0.0, 1.0, 1.0]), npartitions=2),
                                               dd.from_pandas(pd.Series([1.0, 1.0, 1.0]), npartitions=1)),
     ValueError, r"sample_weight must be None or a dask Series in y's 2 partitions .*; got Series in 1 partitions"),
    (lambda: BinaryFocalObjective().init_score(dd.from_pandas(pd.Series([0.0, 1.0, 1.0, 0.0]), npartitions=2),
                                               dd.from_pandas(pd.Series([1.0, 1.0, 1.0, 1.0], index=[5, 6, 7, 8]),
                                                              npartitions=2)),
     ValueError, r"sample_weight must line up with y: 2 of its blocks hold other rows \(another length or index\)"),
    (lambda: SoftmaxFocalObjective().init_score(_binary([0, 1.5, 2, -1])), ValueError,
     r"y must hold class indices, whole numbers >= 0; got 2 other value\(s\), the first 1.5"),
    (lambda: SoftmaxFocalObjective().init_score(_binary([0, 1, 2, 3]), num_classes=3), ValueError,
     r"y must hold class indices, whole numbers >= 0 and < 3; got 1 other value\(s\), the first 3.0"),
    (lambda: SoftmaxFocalObjective(alpha=[1.0, 1.0]).init_score(_binary([0, 1, 2])), ValueError,
     r"whole numbers >= 0 and < 2; got 1 other value\(s\), the first 2.0"),
    (lambda: SoftmaxFocalObjective().init_score(_binary([0, 0, 2])), ValueError,
     r"init_score needs weight on every class: .* classes \[1\] have none"),
    (lambda: SoftmaxFocalObjective().init_score(_binary([0, 1]), num_classes=1), ValueError,
     r"num_classes must be None or an integer >= 2; got 1"),
])
def test_bad_dask_input_gets_an_error_naming_what_is_wrong(call, error, message):
    with dask.config.set(scheduler="sync"), pytest.raises(error, match=message):
        call()


def test_the_numpy_path_imports_no_dask():
    code = ("import sys, numpy as np; from focalloss.boosting import BinaryFocalObjective; "
            "BinaryFocalObjective().init_score(np.array([0.0, 1.0, 1.0])); print('dask' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], check=True, capture_output=True, text=True).stdout
    assert out.split() == ["False"]


# --------------------------------------------------------------------------------------------------
# Training on a loopback LocalCluster, in a child process
# --------------------------------------------------------------------------------------------------
def _alive(pid):
    import psutil

    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """The child's measurements; fails on a non-zero exit or after JOB_TIMEOUT_S (its whole process group killed)."""
    pytest.importorskip("distributed")
    pytest.importorskip("lightgbm.dask")
    pytest.importorskip("xgboost.dask")
    out = tmp_path_factory.mktemp("dask") / "result.json"
    env = dict(os.environ, OMP_NUM_THREADS="1", MKL_NUM_THREADS="1", OPENBLAS_NUM_THREADS="1")
    job = subprocess.Popen([sys.executable, __file__, str(out)], stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                           env=env, start_new_session=True, text=True)
    try:
        log, _ = job.communicate(timeout=JOB_TIMEOUT_S)
    except subprocess.TimeoutExpired:
        os.killpg(job.pid, signal.SIGKILL)
        log, _ = job.communicate()
        pytest.fail(f"the LocalCluster job did not finish in {JOB_TIMEOUT_S} s:\n{log[-4000:]}")
    if job.returncode != 0:
        pytest.fail(f"the LocalCluster job failed with exit status {job.returncode}:\n{log[-4000:]}")
    return json.loads(out.read_text())


def test_two_workers_ran_and_none_outlives_the_cluster(trained):
    assert len(trained["worker_pids"]) == 2
    assert len(set(trained["worker_pids"]) | {trained["client_pid"]}) == 3  # separate processes
    assert not [pid for pid in trained["worker_pids"] + [trained["client_pid"]] if _alive(pid)]


def test_dask_init_score_is_the_numpy_one_on_the_cluster(trained):
    assert_allclose(trained["init_dask"], trained["init_numpy"], **INIT)


@pytest.mark.parametrize("engine", ["lightgbm", "xgboost"])
def test_dask_training_reaches_the_local_average_precision(trained, engine):
    local, distributed = trained[engine]["local"], trained[engine]["dask"]
    assert abs(distributed - local) <= AP_TOLERANCE
    assert local > 10 * trained["base_rate"]  # the models learnt something: far above a constant score


def test_dask_xgb_classifier_predict_proba_takes_an_n_by_1_base_margin(trained):
    """DaskXGBClassifier.predict_proba with init[:, None]: the sigmoid of the booster's own margin."""
    assert trained["classifier_proba_error"] <= 1e-6


def _job(out):
    """Train locally and on a LocalCluster; write the measurements to ``out`` (JSON)."""
    import lightgbm
    import lightgbm.dask
    import xgboost
    import xgboost.dask
    from distributed import Client, LocalCluster, wait
    from sklearn import datasets, metrics

    # 2% positives in 40 000 rows: about 400 held-out positives. Distributed LightGBM finds each feature's
    # bins on one worker's rows, so its model depends on which chunks a worker holds; on 20 000 rows with
    # 1% positives that moved its average precision over 0.357-0.380 (0.366 in one process), here 0.745-0.752.
    x, y = datasets.make_classification(n_samples=40_000, n_features=20, n_informative=8, weights=[0.98],
                                        flip_y=0.005, class_sep=0.8, random_state=0)
    x_train, y_train, x_test, y_test = x[::2], y[::2].astype(np.float64), x[1::2], y[1::2]
    obj = BinaryFocalObjective()
    init = obj.init_score(y_train)
    lightgbm_settings = {"n_estimators": ROUNDS, "learning_rate": 0.05, "num_leaves": 15, "min_child_samples": 20,
                         "verbose": -1, "random_state": 0, "deterministic": True}
    xgboost_settings = {"eta": 0.1, "max_depth": 4, "nthread": 1, "tree_method": "hist", "seed": 0}

    def average_precision(raw_score):
        return float(metrics.average_precision_score(y_test, obj.predict_proba(raw_score)))

    local_lightgbm = lightgbm.LGBMClassifier(objective=obj, n_jobs=1, **lightgbm_settings)
    local_lightgbm.fit(x_train, y_train, init_score=init)
    local_xgboost = xgboost.train(xgboost_settings, xgboost.DMatrix(x_train, y_train, base_margin=init), ROUNDS,
                                  obj=obj.xgboost_objective)
    test_margin = xgboost.DMatrix(x_test, base_margin=np.full(len(x_test), init[0]))
    result = {
        "base_rate": float(y_test.mean()), "client_pid": os.getpid(), "init_numpy": float(init[0]),
        "lightgbm": {"local": average_precision(local_lightgbm.predict(x_test, raw_score=True) + init[0])},
        "xgboost": {"local": average_precision(local_xgboost.predict(test_margin, output_margin=True))},
    }

    with LocalCluster(n_workers=2, threads_per_worker=1, processes=True, host="127.0.0.1", dashboard_address=None,
                      worker_dashboard_address=None, timeout="60s") as cluster, \
            Client(cluster, timeout="60s") as client:
        result["worker_pids"] = sorted(client.run(os.getpid).values())
        features = da.from_array(x_train, chunks=(5000, x_train.shape[1]))
        labels = da.from_array(y_train, chunks=5000)
        features, labels = client.persist([features, labels])
        wait([features, labels])
        start = obj.init_score(labels)  # lazy, in the labels' chunks; only block sums came back
        result["init_dask"] = float(start[:1].compute()[0])

        model = lightgbm.dask.DaskLGBMClassifier(objective=obj, client=client, time_out=2, **lightgbm_settings)
        model.fit(features, labels, init_score=start)
        result["lightgbm"]["dask"] = average_precision(model.to_local().predict(x_test, raw_score=True) + init[0])

        train = xgboost.dask.DaskDMatrix(client, features, labels, base_margin=start)
        booster = xgboost.dask.train(client, xgboost_settings, train, ROUNDS, obj=obj.xgboost_objective)["booster"]
        result["xgboost"]["dask"] = average_precision(booster.predict(test_margin, output_margin=True))

        classifier = xgboost.dask.DaskXGBClassifier(objective=obj, n_estimators=20, max_depth=4, n_jobs=1,
                                                    tree_method="hist", random_state=0)
        classifier.client = client
        classifier.fit(features, labels, base_margin=start)
        test_features = da.from_array(x_test, chunks=(5000, x_test.shape[1]))
        test_start = da.full((len(x_test), 1), init[0], chunks=(5000, 1))  # (n, 1): a 1-D margin fails
        proba = classifier.predict_proba(test_features, base_margin=test_start).compute()[:, 1]
        margin = classifier.get_booster().predict(test_margin, output_margin=True)
        result["classifier_proba_error"] = float(np.max(np.abs(proba - obj.predict_proba(margin))))
    with open(out, "w") as file:
        json.dump(result, file)


if __name__ == "__main__":
    _job(sys.argv[1])
