"""How low can Table 7.2's reconstruction error go on the synth test clips? Prints JSON: recon_l1_m{5,10} of
copying I_t (identity, the zero-flow baseline) and of warping it by the exact flow the renderer computes, with
the video task's own evaluation (border padding, rounding, 0-255), and the part of the exact flow's error on
the pixels it cannot explain (occluded, or out of view in I_t).

An oracle: no model warps better than the true geometry, so the exact flow's ratio to identity is the floor of
any flow model's. Sensor noise (independent per frame), bilinear resampling and disocclusions keep it well
above zero. Run from the repository root: `python -m benchmarks.video_reconstruction_oracle` (renders the
clips of params.yaml's `video` section; ~1 min).
"""
from __future__ import annotations

import json
import platform

import numpy as np

from components.config import load_params
from components.metrics.flow import reconstruction_errors
from components.tasks.video import warp_frame
from pipelines.video import synth_clip


def main() -> None:
    params = load_params("params.yaml")
    config, gaps = params.video, params.evaluate.reconstruction_gaps
    result: dict = {"machine": platform.platform(), "clips": config.clips.test, "size": [config.height, config.width]}
    for m in gaps:
        identity, exact, unexplained, invalid = [], [], [], []
        for index in range(config.clips.test):
            clip = synth_clip(config, "test", index)
            for t in range(clip.num_frames - m):
                source, target = clip.frame(t)["rgb"], clip.frame(t + m)["rgb"]
                flow, valid = clip.flow(t + m, t)                       # I_{t+m}'s pixels into I_t
                identity.append(reconstruction_errors(source.astype(np.float32), target))
                errors = reconstruction_errors(warp_frame(source, flow), target)
                exact.append(errors)
                unexplained.append(np.where(valid, 0.0, errors))
                invalid.append(1.0 - valid.mean())
        # Pooled over pixels like the evaluation (every frame has the same size, so a mean of means).
        result[f"m{m}"] = {"identity": float(np.mean(identity)), "exact_flow": float(np.mean(exact)),
                           "exact_over_identity": float(np.mean(exact) / np.mean(identity)),
                           "exact_flow_from_unexplained_pixels": float(np.mean(unexplained)),
                           "unexplained_fraction": float(np.mean(invalid))}
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
