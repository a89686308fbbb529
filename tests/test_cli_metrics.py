"""The demo's metrics (focalloss.cli.demo.metrics) on hand-made cases with known answers, and against scikit-learn."""

from __future__ import annotations

import numpy as np
import pytest

from focalloss.cli.demo import metrics

sklearn_metrics = pytest.importorskip("sklearn.metrics")


# ---------------------------------------------------------------------------------------------------
# recall, balanced accuracy, rare-class recall
# ---------------------------------------------------------------------------------------------------
def test_per_class_recall_by_hand():
    labels = [0, 0, 0, 0, 1, 1, 2]
    predicted = [0, 0, 0, 1, 1, 0, 1]
    np.testing.assert_array_equal(
        metrics.per_class_recall(labels, predicted, num_classes=4), [0.75, 0.5, 0.0, np.nan]
    )


def test_balanced_accuracy_of_a_majority_vote_is_one_over_the_number_of_classes():
    labels = [0] * 90 + [1] * 9 + [2]
    assert metrics.balanced_accuracy(labels, [0] * 100) == pytest.approx(1 / 3)


def test_balanced_accuracy_ignores_classes_that_are_only_predicted():
    # class 2 never occurs: its recall is undefined, not 0; the mean is over classes 0 and 1
    assert metrics.balanced_accuracy([0, 0, 1, 1], [0, 2, 1, 1]) == pytest.approx((0.5 + 1.0) / 2)


def test_balanced_accuracy_matches_scikit_learn(rng):
    labels = rng.integers(0, 6, size=400)
    predicted = np.where(rng.random(400) < 0.6, labels, rng.integers(0, 6, size=400))
    assert metrics.balanced_accuracy(labels, predicted) == pytest.approx(
        sklearn_metrics.balanced_accuracy_score(labels, predicted), abs=1e-12
    )


def test_rare_class_recall_averages_the_named_classes_only():
    labels = [0, 0, 0, 0, 1, 1, 2, 2]
    predicted = [0, 0, 0, 0, 1, 0, 0, 0]
    assert metrics.rare_class_recall(labels, predicted, classes=[1, 2]) == pytest.approx((0.5 + 0.0) / 2)
    assert metrics.rare_class_recall(labels, predicted, classes=[2]) == 0.0


def test_rare_class_recall_rejects_a_class_without_examples():
    with pytest.raises(ValueError, match="class 3 has no examples"):
        metrics.rare_class_recall([0, 1], [0, 1], classes=[1, 3])


# ---------------------------------------------------------------------------------------------------
# average precision
# ---------------------------------------------------------------------------------------------------
def test_average_precision_of_a_perfect_ranking_is_one():
    assert metrics.average_precision([0, 1, 0, 1], [0.1, 0.9, 0.2, 0.8]) == 1.0


def test_average_precision_of_the_worst_ranking_of_one_positive():
    # the positive comes last of four: precision 1/4 at the only recall step
    assert metrics.average_precision([1, 0, 0, 0], [0.0, 0.5, 0.6, 0.7]) == pytest.approx(0.25)


def test_average_precision_counts_tied_scores_together():
    # thresholds 0.9 (1 of 1 right, recall 1/2) and 0.5 (2 of 3 right, recall 1): 1/2 + 1/2 * 2/3
    assert metrics.average_precision([1, 0, 1, 0], [0.9, 0.5, 0.5, 0.1]) == pytest.approx(5 / 6)
    # all scores equal: one threshold, precision = the fraction of positives, whatever the order
    assert metrics.average_precision([1, 0, 0, 0, 1], [0.3] * 5) == pytest.approx(2 / 5)


def test_average_precision_matches_scikit_learn_with_ties(rng):
    positive = rng.random(300) < 0.1
    scores = np.round(rng.random(300) + 0.3 * positive, 1)  # coarse: many ties
    assert metrics.average_precision(positive, scores) == pytest.approx(
        sklearn_metrics.average_precision_score(positive, scores), abs=1e-12
    )


def test_average_precision_needs_a_positive():
    with pytest.raises(ValueError, match="at least one positive"):
        metrics.average_precision([0, 0], [0.1, 0.2])


def test_macro_average_precision_matches_scikit_learn(rng):
    logits = rng.normal(size=(200, 4))
    labels = np.argmax(logits + rng.normal(scale=2.0, size=logits.shape), axis=1)
    probabilities = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
    one_hot = np.eye(4)[labels]
    assert metrics.macro_average_precision(labels, probabilities) == pytest.approx(
        sklearn_metrics.average_precision_score(one_hot, probabilities, average="macro"), abs=1e-12
    )


# ---------------------------------------------------------------------------------------------------
# calibration
# ---------------------------------------------------------------------------------------------------
def _two_class(p_class_1):
    p = np.asarray(p_class_1, dtype=np.float64)
    return np.stack([1 - p, p], axis=1)


def test_ece_is_zero_when_every_prediction_is_certain_and_right():
    assert metrics.expected_calibration_error([0, 1, 1], _two_class([0.0, 1.0, 1.0])) == 0.0


def test_ece_of_one_bin_is_the_gap_between_confidence_and_accuracy():
    # every confidence 0.8, half of the predictions right
    probabilities = _two_class([0.8, 0.8, 0.8, 0.8])
    assert metrics.expected_calibration_error([1, 1, 0, 0], probabilities) == pytest.approx(0.3)


def test_ece_weights_each_bin_by_its_examples():
    # bin of 0.95: 3 examples, 2 right (gap |2/3 - 0.95|); bin of 0.6: 1 example, wrong (gap 0.6)
    probabilities = np.array([[0.95, 0.05], [0.95, 0.05], [0.05, 0.95], [0.6, 0.4]])
    labels = [0, 0, 0, 1]
    expected = (3 * abs(2 / 3 - 0.95) + 1 * 0.6) / 4
    assert metrics.expected_calibration_error(labels, probabilities, bins=15) == pytest.approx(expected)


def test_reliability_bins_are_closed_on_the_right():
    # four bins with edges 0.25, 0.5, 0.75 (exact in binary): 0.5 belongs to (0.25, 0.5], 0.75 to (0.5, 0.75]
    probabilities = _two_class([0.5, 0.75, 1.0])
    count, confidence, accuracy = metrics.reliability_bins([1, 1, 1], probabilities, bins=4)
    np.testing.assert_array_equal(count, [0, 1, 1, 1])
    np.testing.assert_array_equal(confidence[1:], [0.5, 0.75, 1.0])
    # the tie at 0.5 goes to the first column (class 0), so that prediction is wrong
    np.testing.assert_array_equal(accuracy[1:], [0.0, 1.0, 1.0])
    assert np.isnan(confidence[0]) and np.isnan(accuracy[0])


def test_ece_of_a_calibrated_and_of_an_overconfident_model(rng):
    # right with probability = confidence: ECE near 0; right 0.2 less often than claimed: ECE near 0.2
    n = 200_000
    confidence = rng.uniform(0.5, 1.0, size=n)
    probabilities = np.stack([confidence, 1 - confidence], axis=1)  # always predicts class 0
    calibrated = np.where(rng.random(n) < confidence, 0, 1)
    overconfident = np.where(rng.random(n) < confidence - 0.2, 0, 1)
    assert metrics.expected_calibration_error(calibrated, probabilities) < 0.01
    assert metrics.expected_calibration_error(overconfident, probabilities) == pytest.approx(0.2, abs=0.01)


@pytest.mark.parametrize("bins", [0, 2.5, True])
def test_bins_must_be_a_positive_integer(bins):
    with pytest.raises(ValueError, match="bins must be an integer >= 1"):
        metrics.expected_calibration_error([0], np.array([[1.0, 0.0]]), bins=bins)


def test_probabilities_must_have_one_row_per_label():
    with pytest.raises(ValueError, match=r"one row per label; got shape \(3, 2\) for 2 labels"):
        metrics.expected_calibration_error([0, 1], np.full((3, 2), 0.5))
