"""Semantic segmentation metrics (SPEC §6): dataset confusion matrix, mIoU, pixel acc, Cityscapes iIoU."""

from __future__ import annotations

import numpy as np

from components.errors import PixelpredError


def majority_class(label_histogram: np.ndarray) -> int:
    """Pixel counts per class (K,) -> id of the most frequent class (the constant-predictor baseline)."""
    counts = np.asarray(label_histogram)
    if counts.ndim != 1 or counts.size == 0 or counts.sum() <= 0:
        raise PixelpredError("majority_class needs a non-empty 1-D histogram with at least one labelled pixel")
    return int(np.argmax(counts))


def _per_image(array: np.ndarray) -> np.ndarray:
    """(N, ...) batch or single (H, W) map -> (N, P) with one row of pixels per image."""
    array = np.asarray(array)
    if array.ndim == 2:
        array = array[None]
    return array.reshape(array.shape[0], -1)


class SegmentationMetrics:
    """Streaming accumulator: update(pred, target[, instances]) per batch -> compute() dict of floats."""

    def __init__(self, num_classes: int, ignore_index: int = 255) -> None:
        if num_classes < 1:
            raise PixelpredError(f"num_classes must be >= 1, got {num_classes}")
        self.num_classes = num_classes
        self.ignore_index = ignore_index
        self.reset()

    def reset(self) -> None:
        """Forget everything accumulated so far."""
        classes = self.num_classes
        self.confusion = np.zeros((classes, classes), dtype=np.int64)  # rows: ground truth, columns: prediction
        # iIoU needs the dataset-wide average instance size, known only at the end, so keep per class:
        # instance count, summed instance size, and the summed per-instance recall tp_i / size_i.
        self.instance_count = np.zeros(classes, dtype=np.int64)
        self.instance_pixels = np.zeros(classes, dtype=np.int64)
        self.instance_recall_sum = np.zeros(classes, dtype=np.float64)

    def update(self, pred: np.ndarray, target: np.ndarray, instances: np.ndarray | None = None) -> None:
        """Class ids pred, target (N, H, W) or (H, W); optional instance ids (same shape, 0 = none) for iIoU."""
        shapes = {np.shape(pred), np.shape(target)} | ({np.shape(instances)} if instances is not None else set())
        if len(shapes) > 1:
            raise PixelpredError(f"prediction, target (and instance) shapes differ: {sorted(shapes)}")
        pred, target = _per_image(pred), _per_image(target)
        classes = self.num_classes
        labelled = target != self.ignore_index
        gt, hit = target[labelled].astype(np.int64), pred[labelled].astype(np.int64)
        if gt.size and (gt.min() < 0 or gt.max() >= classes):
            raise PixelpredError(f"target holds class ids outside [0, {classes}) other than ignore {self.ignore_index}")
        if hit.size and (hit.min() < 0 or hit.max() >= classes):
            raise PixelpredError(f"prediction holds class ids outside [0, {classes})")
        self.confusion += np.bincount(gt * classes + hit, minlength=classes * classes).reshape(classes, classes)
        if instances is not None:
            self._update_instances(pred, target, _per_image(instances), labelled)

    def _update_instances(self, pred: np.ndarray, target: np.ndarray, instances: np.ndarray,
                          labelled: np.ndarray) -> None:
        """Add each ground-truth instance's class, size and recall; an instance is (image, id, gt class)."""
        in_instance = labelled & (instances > 0)
        image = np.broadcast_to(np.arange(target.shape[0])[:, None], target.shape)[in_instance]
        ids = instances[in_instance].astype(np.int64)
        gt = target[in_instance].astype(np.int64)
        # One integer key per (image, instance id, class) so that vectorised grouping is a single np.unique.
        key = (image * (int(ids.max(initial=0)) + 1) + ids) * self.num_classes + gt
        segments, member = np.unique(key, return_inverse=True)
        size = np.bincount(member)
        true_pos = np.bincount(member, weights=(pred[in_instance] == gt).astype(np.float64))
        segment_class = segments % self.num_classes
        self.instance_count += np.bincount(segment_class, minlength=self.num_classes)
        self.instance_pixels += np.bincount(segment_class, weights=size, minlength=self.num_classes).astype(np.int64)
        self.instance_recall_sum += np.bincount(segment_class, weights=true_pos / size, minlength=self.num_classes)

    def per_class_iou(self) -> np.ndarray:
        """-> (K,) IoU per class; NaN for classes absent from both prediction and ground truth."""
        true_pos = np.diag(self.confusion).astype(np.float64)
        union = self.confusion.sum(0) + self.confusion.sum(1) - true_pos
        with np.errstate(invalid="ignore", divide="ignore"):
            return np.where(union > 0, true_pos / union, np.nan)

    def per_class_iiou(self) -> np.ndarray:
        """-> (K,) Cityscapes instance IoU iTP / (iTP + FP + iFN); NaN for classes without instances."""
        seen = self.instance_count > 0
        average_size = np.where(seen, self.instance_pixels / np.maximum(self.instance_count, 1), 0.0)
        # Pixels of instance i weigh average_size / size_i, so iTP = average_size * sum_i tp_i / size_i.
        weighted_tp = average_size * self.instance_recall_sum
        weighted_fn = average_size * (self.instance_count - self.instance_recall_sum)
        false_pos = self.confusion.sum(0) - np.diag(self.confusion)
        with np.errstate(invalid="ignore", divide="ignore"):
            return np.where(seen, weighted_tp / (weighted_tp + false_pos + weighted_fn), np.nan)

    def compute(self) -> dict[str, float]:
        """-> {miou, pixel_acc, mean_class_acc[, iiou]} over everything accumulated."""
        labelled = self.confusion.sum()
        if labelled == 0:
            raise PixelpredError("no labelled pixels were accumulated; cannot compute segmentation metrics")
        true_pos = np.diag(self.confusion).astype(np.float64)
        gt_pixels = self.confusion.sum(1)
        with np.errstate(invalid="ignore", divide="ignore"):
            class_acc = np.where(gt_pixels > 0, true_pos / gt_pixels, np.nan)
        scores = {
            "miou": float(np.nanmean(self.per_class_iou())),
            "pixel_acc": float(true_pos.sum() / labelled),
            "mean_class_acc": float(np.nanmean(class_acc)),
        }
        if self.instance_count.any():  # only when some batch brought ground-truth instances
            scores["iiou"] = float(np.nanmean(self.per_class_iiou()))
        return scores
