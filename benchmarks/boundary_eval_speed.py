"""Seconds per image of the BSDS boundary evaluation, exact vs fast mode, printed as JSON.

Run from the repository root: `python -m benchmarks.boundary_eval_speed`. Images are 96 x 128
(the embedded data's size) with 3 jittered annotators and 99 thresholds; the probability maps
are blurred, noisy versions of the annotations, like a trained detector's soft output.
"""

from __future__ import annotations

import json
import platform
import time

import numpy as np
from scipy import ndimage
from skimage.draw import disk
from skimage.morphology import thin
from skimage.segmentation import find_boundaries

from components.metrics.boundary import BoundaryEvaluator

HEIGHT, WIDTH, ANNOTATORS, THRESHOLDS, IMAGES = 96, 128, 3, 99, 8


def synthetic_image(rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Random disks -> boundary probability (H, W) and annotations (K, H, W) jittered by up to 1 px."""
    labels = np.zeros((HEIGHT, WIDTH), dtype=np.int64)
    for label in range(1, 7):
        centre = (rng.integers(0, HEIGHT), rng.integers(0, WIDTH))
        rows, cols = disk(centre, rng.integers(8, 30), shape=(HEIGHT, WIDTH))
        labels[rows, cols] = label
    boundary = thin(find_boundaries(labels, mode="inner"))
    gt = np.stack([np.roll(boundary, tuple(rng.integers(-1, 2, size=2)), axis=(0, 1)) for _ in range(ANNOTATORS)])
    soft = ndimage.gaussian_filter(gt.mean(0), 1.0)
    noise = ndimage.gaussian_filter(rng.random((HEIGHT, WIDTH)), 2.0)
    prob = np.clip(soft / soft.max() + 0.3 * noise * rng.random((HEIGHT, WIDTH)), 0.0, 1.0)
    return prob, gt


def seconds_per_image(mode: str, images: list[tuple[np.ndarray, np.ndarray]], thin_maps: bool = True) -> float:
    """Evaluation mode, list of (prob, gt) -> mean wall-clock seconds per image of BoundaryEvaluator.update."""
    evaluator = BoundaryEvaluator(num_thresholds=THRESHOLDS, thin=thin_maps, mode=mode)
    start = time.perf_counter()
    for prob, gt in images:
        evaluator.update(prob, gt)
    return (time.perf_counter() - start) / len(images)


def main() -> None:
    rng = np.random.default_rng(0)
    images = [synthetic_image(rng) for _ in range(IMAGES)]
    seconds_per_image("exact", images[:1])  # warm-up: imports, caches
    result = {
        "image": [HEIGHT, WIDTH], "annotators": ANNOTATORS, "thresholds": THRESHOLDS, "images": IMAGES,
        "exact_seconds_per_image": round(seconds_per_image("exact", images), 4),
        "fast_seconds_per_image": round(seconds_per_image("fast", images), 4),
        # Thinning all 99 maps dominates the fast mode; this isolates its matching cost.
        "fast_unthinned_seconds_per_image": round(seconds_per_image("fast", images, thin_maps=False), 4),
        "machine": platform.processor() or platform.machine(),
    }
    print(json.dumps(result))


if __name__ == "__main__":
    main()
