"""Focal loss in LightGBM and XGBoost, both APIs of each, on a 1%-positive tabular problem.

Trains the four focal models and a logloss baseline per engine, prints their average precision on
held-out rows, and shows how raw scores turn back into probabilities (start score included).

Run: python examples/boosting_imbalanced.py   (CPU, one thread, about 10 s; nothing downloaded)
Needs: pip install lightgbm xgboost scikit-learn
"""

from __future__ import annotations

import numpy as np
import lightgbm as lgb
import xgboost as xgb
from sklearn.datasets import make_classification
from sklearn.metrics import average_precision_score
from sklearn.model_selection import train_test_split

from focalloss.boosting import BinaryFocalObjective

ROUNDS = 200
LIGHTGBM = {"learning_rate": 0.05, "num_leaves": 15, "min_data_in_leaf": 20, "num_threads": 1, "verbose": -1, "seed": 0}
XGBOOST = {"eta": 0.1, "max_depth": 4, "nthread": 1, "tree_method": "hist", "seed": 0}


def main():
    x, y = make_classification(n_samples=60_000, n_features=20, n_informative=8, weights=[0.99], flip_y=0.005,
                               class_sep=0.8, random_state=0)
    x_train, x_test, y_train, y_test = train_test_split(x, y, test_size=0.5, stratify=y, random_state=0)
    print(f"{y_train.size:,} training rows, {y_train.mean():.2%} positive; {y_test.size:,} test rows")

    obj = BinaryFocalObjective(alpha=0.25, gamma=2.0)
    init = obj.init_score(y_train)  # one value per row, all the same
    start = init[0]
    init_test = np.full(y_test.size, start)
    prior = y_train.mean()
    print(f"start score {start:+.3f} (p = {obj.predict_proba(start):.3f}); "
          f"logit(prior) would be {np.log(prior / (1 - prior)):+.3f} (p = {prior:.3f})\n")

    # LightGBM: leaves the start score out of its raw predictions, so add it back
    booster = lgb.train({**LIGHTGBM, "objective": obj.lightgbm_objective},
                        lgb.Dataset(x_train, y_train, init_score=init), ROUNDS)
    lightgbm_train = obj.predict_proba(booster.predict(x_test, raw_score=True) + start)

    classifier = lgb.LGBMClassifier(objective=obj, n_estimators=ROUNDS, learning_rate=0.05, num_leaves=15,
                                    min_child_samples=20, n_jobs=1, verbose=-1, random_state=0)
    classifier.fit(x_train, y_train, init_score=init)
    lightgbm_sklearn = obj.predict_proba(classifier.predict(x_test, raw_score=True) + start)

    # XGBoost: the start score travels as base_margin, at training and at prediction time
    booster_x = xgb.train(XGBOOST, xgb.DMatrix(x_train, y_train, base_margin=init), ROUNDS, obj=obj.xgboost_objective)
    margin = booster_x.predict(xgb.DMatrix(x_test, base_margin=init_test), output_margin=True)
    xgboost_train = obj.predict_proba(margin)

    classifier_x = xgb.XGBClassifier(objective=obj, n_estimators=ROUNDS, learning_rate=0.1, max_depth=4, n_jobs=1,
                                     tree_method="hist", random_state=0)
    classifier_x.fit(x_train, y_train, base_margin=init)
    xgboost_sklearn = classifier_x.predict_proba(x_test, base_margin=init_test)[:, 1]  # sigmoid applied by XGBoost

    logloss_lightgbm = lgb.train({**LIGHTGBM, "objective": "binary"}, lgb.Dataset(x_train, y_train),
                                 ROUNDS).predict(x_test)
    logloss_xgboost = xgb.train({**XGBOOST, "objective": "binary:logistic"}, xgb.DMatrix(x_train, y_train),
                                ROUNDS).predict(xgb.DMatrix(x_test))

    print(f"{'model':<34}{'average precision':>18}{'mean predicted p':>18}")
    for name, probability in [
        ("LightGBM logloss (baseline)", logloss_lightgbm),
        ("LightGBM focal, lightgbm.train", lightgbm_train),
        ("LightGBM focal, LGBMClassifier", lightgbm_sklearn),
        ("XGBoost logloss (baseline)", logloss_xgboost),
        ("XGBoost focal, xgboost.train", xgboost_train),
        ("XGBoost focal, XGBClassifier", xgboost_sklearn),
    ]:
        print(f"{name:<34}{average_precision_score(y_test, probability):>18.3f}{probability.mean():>18.4f}")
    print(f"{'(test base rate)':<34}{'':>18}{y_test.mean():>18.4f}")

    print("\nRaw score -> probability, first 3 test rows (LightGBM, lightgbm.train):")
    raw = booster.predict(x_test[:3], raw_score=True)
    for r in raw:
        print(f"  raw {r:+.3f}  + start {start:+.3f}  -> p = {obj.predict_proba(r + start):.4f}"
              f"   (forgetting the start: p = {obj.predict_proba(r):.4f})")
    gap = np.max(np.abs(obj.predict_proba(classifier_x.predict(x_test, base_margin=init_test, output_margin=True))
                        - xgboost_sklearn))
    print(f"XGBClassifier.predict_proba vs obj.predict_proba(its margin): max gap {gap:.1e}")
    print("Focal probabilities are not calibrated: compare the mean predicted p with the base rate above.")


if __name__ == "__main__":
    main()
