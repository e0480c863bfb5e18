"""How much can one 17 x 17 filter per image deblur? Prints JSON: per held-out blurred photo, the
PSNR (RGB) of the input, of the best signed filter and of the best non-negative filter, each fitted
to that image's own ground truth by least squares (an oracle: it sees the answer).

This is why `pff_deblur` uses signed sum-to-one filters rather than the thesis's softmax: a
non-negative filter applied everywhere barely changes PSNR, so softmax filters gain only by varying
per pixel (moving pixels towards edges), which short training does not find.

Run from the repository root after `dvc repro degrade`: `python -m benchmarks.deblur_filter_oracle`.
"""
from __future__ import annotations

import json
import platform
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from scipy.optimize import nnls

from components.data.shards import load_split
from components.metrics.restoration import restoration_scores
from components.models.restoration import FILTER_SIZE

NNLS_PIXELS = 20_000   # non-negative least squares on a random subset of pixels: exact NNLS on all is slow


def neighbourhoods(image: np.ndarray, k: int) -> np.ndarray:
    """uint8 H x W x 3 -> float (3·H·W) x k² matrix of each pixel's k x k neighbourhood (reflect borders)."""
    x = torch.from_numpy(image.astype(np.float64).transpose(2, 0, 1) / 255.0)[:, None]
    cols = F.unfold(F.pad(x, (k // 2,) * 4, mode="reflect"), k)            # 3 x k² x H·W
    return cols.permute(0, 2, 1).reshape(-1, k * k).numpy()


def psnr_with(filter_weights: np.ndarray, columns: np.ndarray, sample: dict) -> float:
    restored = (columns @ filter_weights).reshape(3, *sample["gt"].shape[:2]).transpose(1, 2, 0)
    restored = (np.clip(restored, 0, 1) * 255).round().astype(np.uint8)
    return restoration_scores(restored, sample["gt"], "rgb")["psnr"]


def main() -> None:
    rng = np.random.default_rng(0)
    rows = []
    for sample in load_split(Path("data/restoration"), "deblur"):
        columns = neighbourhoods(sample["lq"], FILTER_SIZE)
        target = sample["gt"].astype(np.float64).transpose(2, 0, 1).reshape(-1) / 255.0
        signed = np.linalg.lstsq(columns, target, rcond=None)[0]
        subset = rng.choice(len(target), NNLS_PIXELS, replace=False)
        non_negative, _ = nnls(columns[subset], target[subset])
        rows.append({"image": sample["__key__"],
                     "input_psnr": restoration_scores(sample["lq"], sample["gt"], "rgb")["psnr"],
                     "signed_filter_psnr": psnr_with(signed, columns, sample),
                     "non_negative_filter_psnr": psnr_with(non_negative, columns, sample),
                     "non_negative_filter_sum": float(non_negative.sum())})
    print(json.dumps({"machine": platform.platform(), "filter_size": FILTER_SIZE, "images": rows}, indent=2))


if __name__ == "__main__":
    main()
