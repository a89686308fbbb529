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


# ---------------------------------------------------------------------------------------------------
# a threshold chosen on validation data
# ---------------------------------------------------------------------------------------------------
def test_precision_recall_curve_has_one_point_per_distinct_score():
    precision, recall, thresholds = metrics.precision_recall_curve([1, 0, 1, 0, 1], [0.9, 0.8, 0.8, 0.3, 0.1])
    # thresholds 0.9 (1 of 1 right), 0.8 (2 of 3), 0.3 (2 of 4), 0.1 (3 of 5); 3 positives
    np.testing.assert_allclose(precision, [1.0, 2 / 3, 2 / 4, 3 / 5])
    np.testing.assert_allclose(recall, [1 / 3, 2 / 3, 2 / 3, 1.0])
    np.testing.assert_array_equal(thresholds, [0.9, 0.8, 0.3, 0.1])


def test_best_f1_threshold_by_hand():
    # F1 at 0.9: 1/2 (P 1, R 1/3); at 0.8: 2/3 (P 2/3, R 2/3); at 0.3: 4/7; at 0.1: 3/4 (P 3/5, R 1)
    assert metrics.best_f1_threshold([1, 0, 1, 0, 1], [0.9, 0.8, 0.8, 0.3, 0.1]) == 0.1
    # equally good thresholds: the highest (F1 2/3 at 0.9 and at 0.5)
    assert metrics.best_f1_threshold([1, 0, 1, 0], [0.9, 0.7, 0.5, 0.5]) == 0.9


def test_precision_recall_f1_at_a_threshold():
    labels, scores = [1, 0, 1, 0, 1], [0.9, 0.8, 0.8, 0.3, 0.1]
    assert metrics.precision_recall_f1(labels, scores, threshold=0.8) == pytest.approx((2 / 3, 2 / 3, 2 / 3))
    assert metrics.precision_recall_f1(labels, scores, threshold=0.85) == pytest.approx((1.0, 1 / 3, 0.5))
    # nothing predicted positive: precision, recall and F1 are 0 (not NaN)
    assert metrics.precision_recall_f1(labels, scores, threshold=0.95) == (0.0, 0.0, 0.0)


def test_best_threshold_matches_scikit_learn_f1(rng):
    positive = rng.random(500) < 0.15
    scores = np.round(rng.random(500) + 0.5 * positive, 2)
    threshold = metrics.best_f1_threshold(positive, scores)
    f1 = {t: sklearn_metrics.f1_score(positive, scores >= t) for t in np.unique(scores)}
    assert f1[threshold] == pytest.approx(max(f1.values()), abs=1e-12)
    assert metrics.precision_recall_f1(positive, scores, threshold=threshold)[2] == pytest.approx(f1[threshold])


# ---------------------------------------------------------------------------------------------------
# named entities: conlleval's rules
# ---------------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("tags", "spans"),
    [
        (["B-per", "I-per", "I-per", "O"], {(0, 3, "per")}),
        (["B-per", "B-per"], {(0, 1, "per"), (1, 2, "per")}),  # B after B: two entities
        (["O", "I-loc", "I-loc"], {(1, 3, "loc")}),  # I after O opens an entity
        (["B-per", "I-loc"], {(0, 1, "per"), (1, 2, "loc")}),  # a change of type closes and opens one
        (["I-per", "B-per", "I-per"], {(0, 1, "per"), (1, 3, "per")}),
        (["O", "B-geo-loc"], {(1, 2, "geo-loc")}),  # the type is what follows the first hyphen
        (["O", "O"], set()),
        ([], set()),
    ],
)
def test_entity_spans_follow_conlleval(tags, spans):
    assert metrics.entity_spans(tags) == spans


@pytest.mark.parametrize("tag", ["PER", "E-per", "B-", "b-per"])
def test_entity_spans_reject_tags_that_are_not_bio(tag):
    with pytest.raises(ValueError, match="tags must be 'O', 'B-<type>' or 'I-<type>'"):
        metrics.entity_spans(["O", tag])


def test_an_entity_counts_only_with_its_exact_span_and_type():
    gold = [["B-per", "I-per", "O", "B-loc", "O", "B-org", "I-org"]]
    predicted = [["B-per", "O", "O", "B-org", "O", "B-org", "I-org"]]
    # per: span too short; loc predicted as org; org right: 1 of 3 gold, 1 of 3 predicted
    scores = metrics.entity_scores(gold, predicted)
    assert (scores["precision"], scores["recall"], scores["f1"]) == pytest.approx((1 / 3, 1 / 3, 1 / 3))
    per_type = scores["per_type"]
    assert per_type["per"] == {"gold": 1, "predicted": 1, "correct": 0, "precision": 0.0, "recall": 0.0, "f1": 0.0}
    assert per_type["loc"]["gold"] == 1 and per_type["loc"]["predicted"] == 0 and per_type["loc"]["recall"] == 0.0
    # org: 2 predicted, 1 right; 1 gold, found: precision 1/2, recall 1, F1 2/3
    assert (per_type["org"]["precision"], per_type["org"]["recall"]) == (0.5, 1.0)
    assert per_type["org"]["f1"] == pytest.approx(2 / 3)
    assert scores["macro_f1"] == pytest.approx((0 + 0 + 2 / 3) / 3)


def test_entity_scores_worked_out_by_hand_over_several_sentences():
    gold = [["B-a", "I-a", "O"], ["B-b", "O", "B-a"], ["O", "B-b", "I-b"]]
    predicted = [["B-a", "I-a", "O"], ["B-b", "B-a", "B-a"], ["O", "B-b", "O"]]
    # gold entities: a(0-2), b, a, b(1-3) = 4; predicted: a(0-2), b, a, a, b(1-2) = 5; right: a, b, a = 3
    scores = metrics.entity_scores(gold, predicted)
    assert scores["precision"] == pytest.approx(3 / 5)
    assert scores["recall"] == pytest.approx(3 / 4)
    assert scores["f1"] == pytest.approx(2 * 0.6 * 0.75 / 1.35)


def test_a_stray_inside_tag_is_the_same_entity_as_a_begin_tag():
    # conlleval reads "I-x I-x" as one entity starting at the first token, so it matches "B-x I-x"
    scores = metrics.entity_scores([["I-x", "I-x"]], [["B-x", "I-x"]])
    assert scores["f1"] == 1.0


def test_entities_do_not_cross_sentence_boundaries():
    one_sentence = metrics.entity_scores([["B-x", "I-x"]], [["B-x", "I-x"]])
    two_sentences = metrics.entity_scores([["B-x"], ["I-x"]], [["B-x"], ["B-x"]])
    assert one_sentence["per_type"]["x"]["gold"] == 1
    assert two_sentences["per_type"]["x"]["gold"] == 2 and two_sentences["f1"] == 1.0


def test_entity_scores_without_predictions_are_zero_and_macro_covers_the_named_types():
    scores = metrics.entity_scores([["B-x", "O"]], [["O", "O"]], types=["x", "y"])
    assert (scores["precision"], scores["recall"], scores["f1"], scores["macro_f1"]) == (0.0, 0.0, 0.0, 0.0)
    assert scores["per_type"]["y"] == {"gold": 0, "predicted": 0, "correct": 0, "precision": 0.0, "recall": 0.0,
                                       "f1": 0.0}
    perfect = metrics.entity_scores([["B-x", "O"]], [["B-x", "O"]], types=["x", "y"])
    assert perfect["f1"] == 1.0 and perfect["macro_f1"] == 0.5  # y named but never seen: F1 0


def test_entity_scores_need_matching_sentences():
    with pytest.raises(ValueError, match="same sentences; got 2 and 1"):
        metrics.entity_scores([["O"], ["O"]], [["O"]])
    with pytest.raises(ValueError, match="sentence 0 has 2 gold tags and 1 predicted"):
        metrics.entity_scores([["O", "O"]], [["O"]])


# ---------------------------------------------------------------------------------------------------
# dense detection: detections at local maxima, matched to the objects' centres
# ---------------------------------------------------------------------------------------------------
def _score_maps(classes=1, size=9, peaks=()):
    """(1, classes, size, size) scores, 0 except ``peaks``: ((class, row, column, score), ...)."""
    scores = np.zeros((1, classes, size, size))
    for kind, row, column, score in peaks:
        scores[0, kind, row, column] = score
    return scores


def test_local_maxima_count_plateaus_and_edges_but_never_nan():
    scores = np.array([[0.5, 0.5, 0.1], [0.2, 0.3, 0.1], [np.nan, 0.1, 0.4]])
    np.testing.assert_array_equal(metrics.local_maxima(scores), [[1, 1, 0], [0, 0, 0], [0, 0, 1]])
    stacked = np.stack([scores, -scores])  # leading axes are separate maps
    np.testing.assert_array_equal(metrics.local_maxima(stacked)[1], [[0, 0, 1], [0, 0, 1], [0, 1, 0]])


def test_a_peak_at_or_next_to_the_centre_finds_the_object():
    for row, column in ((4, 4), (3, 5), (5, 3)):
        scores = _score_maps(peaks=[(0, row, column, 0.9)])
        assert metrics.detection_average_precision(scores, [[(4, 4, 0)]]).tolist() == [1.0]


def test_a_peak_beyond_the_radius_is_a_false_positive_and_the_object_is_missed():
    scores = _score_maps(peaks=[(0, 4, 6, 0.9)])
    assert metrics.detection_average_precision(scores, [[(4, 4, 0)]], radius=1).tolist() == [0.0]
    assert metrics.detection_average_precision(scores, [[(4, 4, 0)]], radius=2).tolist() == [1.0]


def test_only_local_maxima_are_detections():
    # (4, 5) is next to the object and scores high, but (4, 6) beside it scores higher: the only
    # detection lies 2 away from the centre, so nothing finds the object
    scores = _score_maps(peaks=[(0, 4, 5, 0.8), (0, 4, 6, 0.9)])
    assert metrics.detection_average_precision(scores, [[(4, 4, 0)]], radius=1).tolist() == [0.0]


def test_a_second_detection_of_a_found_object_is_a_false_positive():
    objects = [[(4, 4, 0)]]
    # two separate peaks on the object: the higher finds it, the lower is a false positive after full recall
    lower_duplicate = _score_maps(peaks=[(0, 3, 3, 0.9), (0, 5, 5, 0.8)])
    assert metrics.detection_average_precision(lower_duplicate, objects).tolist() == [1.0]
    # a false positive ranked first halves the precision at the only recall step
    false_first = _score_maps(peaks=[(0, 0, 8, 0.95), (0, 4, 4, 0.9)])
    assert metrics.detection_average_precision(false_first, objects).tolist() == [0.5]


def test_a_detection_takes_the_nearest_object_it_can_reach():
    # with radius 2, the 0.9 peak at (4, 3) could reach both objects; it takes (4, 2), 1 away, so that
    # the 0.8 peak at (4, 7) still finds (4, 5) (if the first had taken (4, 5), the second would miss)
    scores = _score_maps(peaks=[(0, 4, 3, 0.9), (0, 4, 7, 0.8)])
    assert metrics.detection_average_precision(scores, [[(4, 2, 0), (4, 5, 0)]], radius=2).tolist() == [1.0]


def test_detections_match_objects_of_their_own_class_and_image_only():
    scores = np.zeros((2, 2, 9, 9))
    scores[0, 1, 4, 4] = 0.9  # class 1's map peaks on image 0's class-0 object
    scores[1, 0, 4, 4] = 0.8  # image 1's class-0 map peaks where image 0 has the object
    ap = metrics.detection_average_precision(scores, [[(4, 4, 0)], []])
    assert ap[0] == 0.0 and np.isnan(ap[1])  # class 1 has no object: undefined


def test_a_missed_object_lowers_the_recall_and_ties_enter_together():
    # two objects, one found: recall stops at 1/2 with precision 1
    one_found = _score_maps(peaks=[(0, 2, 2, 0.9)])
    assert metrics.detection_average_precision(one_found, [[(2, 2, 0), (6, 6, 0)]]).tolist() == [0.5]
    # a right and a wrong detection with equal scores: one threshold, precision 1/2 at recall 1
    for order in ([(0, 2, 2, 0.7), (0, 6, 6, 0.7)], [(0, 6, 6, 0.7), (0, 2, 2, 0.7)]):
        assert metrics.detection_average_precision(_score_maps(peaks=order), [[(2, 2, 0)]]).tolist() == [0.5]


def test_a_score_map_of_nan_detects_nothing():
    ap = metrics.detection_average_precision(np.full((1, 1, 5, 5), np.nan), [[(2, 2, 0)]])
    assert ap.tolist() == [0.0]


def test_detection_average_precision_rejects_bad_input():
    with pytest.raises(ValueError, match="one list of objects per image"):
        metrics.detection_average_precision(np.zeros((2, 1, 4, 4)), [[]])
    with pytest.raises(ValueError, match="image 0 has an object of class 3; scores have 1 classes"):
        metrics.detection_average_precision(np.zeros((1, 1, 4, 4)), [[(1, 1, 3)]])
    with pytest.raises(ValueError, match="radius must be an integer >= 0"):
        metrics.detection_average_precision(np.zeros((1, 1, 4, 4)), [[]], radius=-1)


def test_maxima_at_or_below_the_minimum_score_are_no_detections():
    objects = [[(4, 4, 0)]]
    assert metrics.detection_average_precision(np.zeros((1, 1, 9, 9)), objects).tolist() == [0.0]  # flat: none
    weak = _score_maps(peaks=[(0, 4, 4, 0.04)])
    assert metrics.detection_average_precision(weak, objects).tolist() == [1.0]
    assert metrics.detection_average_precision(weak, objects, min_score=0.05).tolist() == [0.0]
