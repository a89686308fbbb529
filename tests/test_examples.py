"""The examples run as shipped: each is started in a fresh interpreter and must finish cleanly."""

import subprocess
import sys
from pathlib import Path

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"


def test_boosting_example_trains_both_engines_and_reports_calibration():
    run = subprocess.run([sys.executable, str(EXAMPLES / "boosting_imbalanced.py")], capture_output=True, text=True,
                         timeout=300)
    assert run.returncode == 0, run.stderr
    for line in ("LightGBM focal, lightgbm.train", "LightGBM focal, LGBMClassifier", "XGBoost focal, xgboost.train",
                 "XGBoost focal, XGBClassifier", "Focal probabilities are not calibrated"):
        assert line in run.stdout
