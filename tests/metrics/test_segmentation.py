"""SegmentationMetrics against brute-force loops, scikit-learn and hand-computed cases."""

import numpy as np
import pytest

from components.errors import PixelpredError
from components.metrics.segmentation import SegmentationMetrics, majority_class

IGNORE = 255


def random_batch(seed: int, classes: int = 5, shape: tuple = (3, 7, 9)) -> tuple[np.ndarray, np.ndarray]:
    """Random predictions and targets with about 15% ignore pixels in the target."""
    rng = np.random.default_rng(seed)
    pred = rng.integers(0, classes, shape).astype(np.uint8)
    target = rng.integers(0, classes, shape).astype(np.uint8)
    target[rng.random(shape) < 0.15] = IGNORE
    return pred, target


def brute_force_scores(pred: np.ndarray, target: np.ndarray, classes: int) -> dict:
    """Per-pixel Python loop: TP/FP/FN per class, then the SPEC §6 definitions."""
    tp, fp, fn = [0] * classes, [0] * classes, [0] * classes
    correct = labelled = 0
    for p, t in zip(pred.ravel().tolist(), target.ravel().tolist()):
        if t == IGNORE:
            continue
        labelled += 1
        if p == t:
            tp[t] += 1
            correct += 1
        else:
            fp[p] += 1
            fn[t] += 1
    ious = [tp[c] / (tp[c] + fp[c] + fn[c]) for c in range(classes) if tp[c] + fp[c] + fn[c] > 0]
    accs = [tp[c] / (tp[c] + fn[c]) for c in range(classes) if tp[c] + fn[c] > 0]
    return {"miou": sum(ious) / len(ious), "pixel_acc": correct / labelled, "mean_class_acc": sum(accs) / len(accs)}


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_matches_brute_force_loop(seed):
    pred, target = random_batch(seed)
    metrics = SegmentationMetrics(num_classes=5)
    metrics.update(pred, target)
    assert metrics.compute() == pytest.approx(brute_force_scores(pred, target, 5), abs=1e-12)


def test_matches_sklearn():
    sklearn_metrics = pytest.importorskip("sklearn.metrics")
    pred, target = random_batch(3, classes=6)
    metrics = SegmentationMetrics(num_classes=6)
    metrics.update(pred, target)
    keep = target != IGNORE
    y_true, y_pred = target[keep], pred[keep]
    expected_confusion = sklearn_metrics.confusion_matrix(y_true, y_pred, labels=list(range(6)))
    np.testing.assert_array_equal(metrics.confusion, expected_confusion)
    present = sorted(set(y_true.tolist()) | set(y_pred.tolist()))
    expected_iou = sklearn_metrics.jaccard_score(y_true, y_pred, labels=present, average=None)
    np.testing.assert_allclose(metrics.per_class_iou()[present], expected_iou, rtol=1e-12)
    scores = metrics.compute()
    assert scores["miou"] == pytest.approx(expected_iou.mean(), abs=1e-12)
    assert scores["pixel_acc"] == pytest.approx(sklearn_metrics.accuracy_score(y_true, y_pred), abs=1e-12)
    assert scores["mean_class_acc"] == pytest.approx(
        sklearn_metrics.balanced_accuracy_score(y_true, y_pred), abs=1e-12)


def test_perfect_prediction_scores_one():
    _, target = random_batch(4)
    pred = np.where(target == IGNORE, 0, target)
    metrics = SegmentationMetrics(num_classes=5)
    metrics.update(pred, target)
    assert metrics.compute() == {"miou": 1.0, "pixel_acc": 1.0, "mean_class_acc": 1.0}


def test_ignore_pixels_do_not_count():
    pred, target = random_batch(5)
    ignored = target == IGNORE
    scrambled = pred.copy()
    scrambled[ignored] = (pred[ignored] + 1) % 5  # any prediction at ignored pixels
    first, second, subset = SegmentationMetrics(5), SegmentationMetrics(5), SegmentationMetrics(5)
    first.update(pred, target)
    second.update(scrambled, target)
    subset.update(pred[~ignored][None], target[~ignored][None])  # only the labelled pixels, as one "image"
    assert first.compute() == second.compute() == subset.compute()
    assert first.confusion.sum() == (~ignored).sum()


def test_class_absent_everywhere_does_not_lower_miou():
    pred, target = random_batch(6, classes=3)
    three, five = SegmentationMetrics(num_classes=3), SegmentationMetrics(num_classes=5)
    three.update(pred, target)
    five.update(pred, target)
    assert five.compute() == pytest.approx(three.compute(), abs=1e-15)
    assert np.isnan(five.per_class_iou()[3:]).all()


def test_batchwise_accumulation_equals_one_shot():
    pred, target = random_batch(7, shape=(6, 8, 8))
    instances = np.random.default_rng(7).integers(0, 4, target.shape)
    one_shot, batchwise = SegmentationMetrics(5), SegmentationMetrics(5)
    one_shot.update(pred, target, instances)
    for start in range(0, 6, 2):
        batchwise.update(pred[start:start + 2], target[start:start + 2], instances[start:start + 2])
    batchwise_single = SegmentationMetrics(5)
    for image in range(6):  # (H, W) inputs are single images
        batchwise_single.update(pred[image], target[image], instances[image])
    assert "iiou" in one_shot.compute()
    assert batchwise.compute() == pytest.approx(one_shot.compute(), abs=1e-12)
    assert batchwise_single.compute() == pytest.approx(one_shot.compute(), abs=1e-12)


def test_iiou_hand_computed_two_instances():
    # Class 1 ("car") has instance A (4 px, 3 hit) in image 0 and instance B (2 px, 1 hit) in image 1;
    # both carry id 1, so they must stay separate instances. One background pixel is predicted car (FP).
    target = np.array([[[1, 1, 1, 1, 0, 0]], [[1, 1, 0, 0, 0, IGNORE]]], dtype=np.uint8)
    pred = np.array([[[1, 1, 1, 0, 1, 0]], [[1, 0, 0, 0, 0, 1]]], dtype=np.uint8)
    instances = np.array([[[1, 1, 1, 1, 0, 0]], [[1, 1, 0, 0, 0, 0]]], dtype=np.uint16)
    metrics = SegmentationMetrics(num_classes=2)
    metrics.update(pred, target, instances)
    # Average car size 3: weights 3/4 (A) and 3/2 (B). iTP = 3*.75 + 1*1.5 = 3.75, iFN = .75 + 1.5 = 2.25.
    expected = 3.75 / (3.75 + 1 + 2.25)
    assert metrics.per_class_iiou()[1] == pytest.approx(expected, abs=1e-12)
    assert np.isnan(metrics.per_class_iiou()[0])  # background has no instances
    assert metrics.compute()["iiou"] == pytest.approx(expected, abs=1e-12)


def test_iiou_reported_only_when_instances_given():
    pred, target = random_batch(8)
    metrics = SegmentationMetrics(5)
    metrics.update(pred, target)
    assert set(metrics.compute()) == {"miou", "pixel_acc", "mean_class_acc"}


def test_out_of_range_ids_are_errors():
    metrics = SegmentationMetrics(num_classes=3)
    with pytest.raises(PixelpredError):
        metrics.update(np.zeros((2, 2), np.uint8), np.array([[0, 3], [1, 2]], np.uint8))
    with pytest.raises(PixelpredError):
        metrics.update(np.array([[0, 7], [1, 2]], np.uint8), np.zeros((2, 2), np.uint8))
    with pytest.raises(PixelpredError):
        metrics.update(np.zeros((2, 3), np.uint8), np.zeros((3, 2), np.uint8))
    with pytest.raises(PixelpredError):
        metrics.update(np.zeros((2, 2), np.uint8), np.zeros((2, 2), np.uint8), np.zeros((1, 2), np.uint16))
    with pytest.raises(PixelpredError):
        metrics.compute()  # nothing labelled yet


def test_majority_class():
    assert majority_class(np.array([5, 40, 12, 40])) == 1  # ties go to the lowest id
    with pytest.raises(PixelpredError):
        majority_class(np.zeros(4))
