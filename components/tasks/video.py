"""Video correspondence (ch. 7): a model maps a frame pair to the flow between them; trained on the `video`
stage's frame pairs, evaluated on its whole test clips.

Input: `pair`, frames a and b side by side in channels (H x W x 6, collated N x 6 x H x W). Output: `flow`, the
flow of a's pixels into b, and `flow_back` (components.models.warp's convention). Predictions are flows in
numpy (H x W x 2); for a clip, a dict {(t, s): flow of frame t into frame s} over every pair the evaluation
reads: both directions at each of the clip's stored gaps, and each frame into its tracking context. The trivial
baseline is zero flow: it copies I_t for reconstruction, its EPE is the length of the true flow, and it tracks
by copying the first frame's masks (Table 7.1's identity baseline).

Metrics (pooled over pixels, components.metrics.flow): EPE at each gap, over all pixels and over the non-occluded
ones (`_noc`); reconstruction error of I_{t+m} from I_t warped by the flow of t+m into t, for m in
`evaluate.reconstruction_gaps` (Table 7.2). Validation pairs get the same at their own gap (epe, recon_l1).
Tracking (§7.3.1, components.tasks.propagation): the first frame's instance masks carried through each clip,
scored with the DAVIS-2017 conventions (components.metrics.tracking) as `track_J_mean`, `track_jf_mean`, ...
"""
from __future__ import annotations

from collections import defaultdict
from typing import Sequence

import numpy as np
import torch

from components.config import EvaluateConfig, LossConfig, ModelConfig
from components.data.transforms import FLOW_FIELDS, IMAGE_MEAN, IMAGE_STD, image_tensor
from components.errors import PixelpredError
from components.losses.video import endpoint_error, flownet_loss, mgpff_loss, reconstruction_loss
from components.metrics.flow import PooledMean, endpoint_errors, reconstruction_errors
from components.metrics.tracking import clip_scores, overall_scores
from components.models.warp import downsample_flow, warp
from components.tasks.base import Batch, DatasetInfo, Evaluation, Outputs, Predictor, Task
from components.tasks.colorize import flow_to_color, panel
from components.tasks.propagation import context_frames, propagate
from components.tasks.video_views import draw_tracks, grid_points, overlay_labels, track_colors, track_points

Pair = tuple[int, int]
CLIP_BATCH = 16   # frame pairs per forward pass when predicting a clip
# Tracking (§7.3.1): masks propagated from the 3 previous frames and the given first one, the thesis's best
# setting (Table 7.1, mgPFF^1st K=3).
TRACKING_WINDOW, TRACKING_FIRST = 3, True
VIEW_CLIPS, VIEW_FRAMES, TRACK_GRID = 2, 5, 12     # views: clips, frames shown per clip, pixels between tracks


def clip_pairs(sample: dict) -> list[Pair]:
    """A test clip -> every (t, s) its evaluation reads: s = t + g and t - g for each stored gap g, and, when it
    has masks, each frame into its tracking context frames."""
    frames, gaps = sample["frames"].shape[0], sample["meta"]["gaps"]
    pairs = {pair for gap in gaps for t in range(frames - gap) for pair in ((t, t + gap), (t + gap, t))}
    if "masks" in sample:
        pairs |= {(t, c) for t in range(1, frames) for c in context_frames(t, TRACKING_WINDOW, TRACKING_FIRST)}
    return sorted(pairs)


def warp_frame(frame: np.ndarray, flow: np.ndarray) -> np.ndarray:
    """uint8 frame (H, W, 3) of the source, flow (H, W, 2) on the target grid -> float reconstruction (H, W, 3) in
    [0, 255]: bilinear, edge pixels repeated outside the source (no black borders to count as error)."""
    image = torch.from_numpy(frame.astype(np.float32)).permute(2, 0, 1)[None]
    rebuilt = warp(image, torch.from_numpy(np.ascontiguousarray(flow)).permute(2, 0, 1)[None], padding="border")
    return rebuilt[0].permute(1, 2, 0).numpy()


class VideoEvaluation(Evaluation):
    def __init__(self, config: EvaluateConfig) -> None:
        self.reconstruction_gaps = config.reconstruction_gaps
        self.pooled: dict[str, PooledMean] = defaultdict(PooledMean)
        self.objects: list[dict[str, dict[str, float]]] = []     # tracking: J and F statistics per object

    def update(self, predictions: Sequence, samples: Sequence[dict]) -> None:
        for prediction, sample in zip(predictions, samples):
            (self._clip if "frames" in sample else self._pair)(prediction, sample)

    def _pair(self, flow: np.ndarray, sample: dict) -> None:
        if "flow" in sample:                   # real video pairs have none
            errors = endpoint_errors(flow, sample["flow"])
            self.pooled["epe"].add(errors)
            self.pooled["epe_noc"].add(errors, sample["valid"] > 0)
        self.pooled["recon_l1"].add(reconstruction_errors(warp_frame(sample["b"], flow), sample["a"]))

    def _clip(self, flows: dict[Pair, np.ndarray], sample: dict) -> None:
        frames = sample["frames"]
        for index, gap in enumerate(sample["meta"]["flow_gaps"]):
            for t in range(frames.shape[0] - gap):
                errors = endpoint_errors(flows[(t, t + gap)], sample["flows"][index, t])
                self.pooled[f"epe_g{gap}"].add(errors)
                self.pooled[f"epe_g{gap}_noc"].add(errors, sample["flows_valid"][index, t] > 0)
        for m in self.reconstruction_gaps:
            if m not in sample["meta"]["gaps"]:
                continue
            for t in range(frames.shape[0] - m):
                rebuilt = warp_frame(frames[t], flows[(t + m, t)])     # I_t carried onto I_{t+m}'s grid
                self.pooled[f"recon_l1_m{m}"].add(reconstruction_errors(rebuilt, frames[t + m]))
        if "masks" in sample:
            masks = sample["masks"]
            tracked = propagate(masks[0], masks.shape[0], lambda t, s: flows[(t, s)], TRACKING_WINDOW, TRACKING_FIRST)
            self.objects.extend(clip_scores(tracked, masks).values())

    def compute(self) -> dict[str, float]:
        metrics = {name: pooled.mean for name, pooled in sorted(self.pooled.items())}
        if self.objects:
            metrics |= {f"track_{name}": value for name, value in overall_scores(self.objects).items()}
        return metrics


class VideoTask(Task):
    name = "video"
    input_field = "pair"
    target_fields = FLOW_FIELDS
    # mgpff's Eq. 7.8 terms; flownet_s's multi-scale loss; Fig 7.2's alpha-mix for pff_flow and offset_flow
    loss_kinds = ("multigrid", "flownet", "reconstruction")
    output_needed = {"multigrid": ("scales", "mgpff"), "flownet": ("levels", "flownet_s"),
                     "reconstruction": ("rebuilt", "pff_flow, offset_flow")}
    headline = (("recon_l1_m5", False), ("recon_l1_m10", False), ("track_J_mean", True), ("track_jf_mean", True),
                ("epe_g1", False), ("epe_g1_noc", False), ("epe_g5", False))
    trivial_uses_train = False          # zero flow needs no fitting

    # Flow and masks are optional: real pairs have no flow (collate leaves it out; a supervised loss then says so),
    # test clips have flow only at their `flow_gaps` and masks only where the dataset annotates objects.
    optional_fields = ("valid", "valid_back", *FLOW_FIELDS, "flows", "flows_valid", "masks")
    color_fields = ("a", "b")

    @property
    def stored_fields(self) -> tuple[str, ...]:
        return ("a", "b")

    @property
    def test_fields(self) -> tuple[str, ...]:
        return ("frames",)

    def example(self, sample: dict, rng: np.random.Generator, model: ModelConfig, augment: bool) -> dict:
        """A stored pair -> its fields plus `pair` (a and b in channels), after the base augmentation (the flips
        carry the flows along; colour jitter changes both frames alike)."""
        sample = super().example(sample, rng, model, augment)
        return {**sample, "pair": np.concatenate([sample["a"], sample["b"]], axis=-1)}

    def loss(self, outputs: Outputs, batch: Batch, loss: LossConfig) -> tuple[torch.Tensor, dict[str, float]]:
        kind = self.check_loss(loss)
        if loss.supervised and "flow" not in batch:
            raise PixelpredError(f"loss.supervised = {loss.supervised:g} needs training pairs with flow both ways; "
                                 "this dataset's have none (set it to 0)")
        expected, models = self.output_needed[kind]
        if expected not in outputs:
            raise PixelpredError(f"loss.kind '{kind}' needs a model returning '{expected}' ({models})")
        if kind in ("flownet", "reconstruction"):
            frames = self._frames(batch["image"])
            objective = flownet_loss if kind == "flownet" else reconstruction_loss
            value, parts = objective(outputs, *frames, batch if loss.supervised else None, loss)
            return value, {"loss": value.item(), **parts}
        value, parts = mgpff_loss(outputs["scales"], loss)
        if loss.supervised:
            # Every scale's total flow against the true flow at that scale: with weights shared over scales, a
            # loss on the finest flow alone lets the coarse ones drift (measured: EPE 15 px against 1.8 px of flow).
            epe = sum(endpoint_error(scale[name], downsample_flow(batch[name], scale["a"].shape[-2:]))
                      for scale in outputs["scales"] for name in FLOW_FIELDS) / (2 * len(outputs["scales"]))
            value = (1.0 - loss.supervised) * value + loss.supervised * epe
            parts["epe"] = epe.item()
        return value, {"loss": value.item(), **parts}

    @staticmethod
    def _frames(pair: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Normalised pair N x 6 x H x W -> frames a and b in [0, 1]."""
        mean = torch.from_numpy(IMAGE_MEAN).to(pair).view(1, 3, 1, 1)
        std = torch.from_numpy(IMAGE_STD).to(pair).view(1, 3, 1, 1)
        return pair[:, :3] * std + mean, pair[:, 3:] * std + mean

    def predict(self, outputs: Outputs) -> list[np.ndarray]:
        return self._numpy(outputs["flow"])

    @staticmethod
    def _numpy(flow: torch.Tensor) -> list[np.ndarray]:
        return list(flow.permute(0, 2, 3, 1).float().cpu().numpy())

    def predict_samples(self, model: torch.nn.Module, samples: Sequence[dict]) -> list:
        """Pairs -> their flows; clips -> {(t, s): flow} over `clip_pairs`, the model run on batches of forward
        pairs (t < s), whose `flow_back` is the flow of (s, t)."""
        if "frames" not in samples[0]:
            return super().predict_samples(model, samples)
        device = next(model.parameters()).device
        predictions = []
        for sample in samples:
            forward, flows = sorted({(min(pair), max(pair)) for pair in clip_pairs(sample)}), {}
            for start in range(0, len(forward), CLIP_BATCH):
                chunk = forward[start:start + CLIP_BATCH]
                inputs = np.stack([np.concatenate([sample["frames"][t], sample["frames"][s]], axis=-1) for t, s in chunk])
                outputs = model(image_tensor(inputs).to(device))
                for (t, s), there, back in zip(chunk, self.predict(outputs), self._numpy(outputs["flow_back"])):
                    flows[(t, s)], flows[(s, t)] = there, back
            predictions.append(flows)
        return predictions

    def explain(self, model: torch.nn.Module, samples: Sequence[dict]) -> tuple[dict[str, np.ndarray], dict[str, float]]:
        """Fig 7.4-like views of the first VIEW_CLIPS test clips: `tracking`, per clip a row of frames with the
        propagated masks over a row with the true ones; `pixel_tracks`, per clip the first frame with a grid of
        pixels and the last frame with their paths, chained through the predicted flows of consecutive frames."""
        clips = [sample for sample in samples if "frames" in sample][:VIEW_CLIPS]
        if not clips:
            return {}, {}
        model.eval()
        with torch.no_grad():
            predictions = self.predict_samples(model, clips)
        tracking, tracks = [], []
        for flows, clip in zip(predictions, clips):
            frames, count = clip["frames"], clip["frames"].shape[0]
            shown = np.linspace(0, count - 1, VIEW_FRAMES).round().astype(int)
            if "masks" in clip:
                tracked = propagate(clip["masks"][0], count, lambda t, s: flows[(t, s)], TRACKING_WINDOW, TRACKING_FIRST)
                tracking += [[overlay_labels(frames[t], tracked[t]) for t in shown],
                             [overlay_labels(frames[t], clip["masks"][t]) for t in shown]]
            height, width = frames.shape[1:3]
            start = grid_points(height, width, TRACK_GRID)
            paths = track_points([flows[(t, t + 1)] for t in range(count - 1)], start)
            colors = track_colors(start, height, width)
            tracks.append([draw_tracks(frames[0], paths[:1], colors), draw_tracks(frames[-1], paths, colors)])
        views = {"pixel_tracks": panel(tracks)}
        if tracking:
            views["tracking"] = panel(tracking)
        return views, {}

    def evaluation(self, config: EvaluateConfig, info: DatasetInfo) -> Evaluation:
        return VideoEvaluation(config)

    def fit_trivial(self, train_samples: Sequence[dict]) -> tuple[str, Predictor]:
        def zero_flow(sample: dict):
            if "frames" not in sample:
                return np.zeros((*sample["a"].shape[:2], 2), np.float32)
            return {pair: np.zeros((*sample["frames"].shape[1:3], 2), np.float32) for pair in clip_pairs(sample)}
        return "zero_flow", zero_flow

    def visualize(self, prediction, sample: dict) -> list[np.ndarray]:
        """-> [predicted flow, true flow (where the sample has it)] in flow colours (one scale for both), then b warped
        onto a by the prediction."""
        a, b, flow, truth = self._first_pair(prediction, sample)
        largest = max(float(np.abs(flow if truth is None else truth).max()), 1e-6)
        rebuilt = np.clip(np.rint(warp_frame(b, flow)), 0, 255).astype(np.uint8)
        truths = [] if truth is None else [flow_to_color(truth, largest)]
        return [flow_to_color(flow, largest), *truths, rebuilt]

    def panel_row(self, prediction, sample: dict) -> list[np.ndarray]:
        a, b, _, _ = self._first_pair(prediction, sample)
        return [a, b, *self.visualize(prediction, sample)]

    @staticmethod
    def _first_pair(prediction, sample: dict) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray | None]:
        """A pair, or a clip's frames 0 and g (its first gap) -> (a, b, predicted flow of a into b, true flow or None)."""
        if "frames" not in sample:
            return sample["a"], sample["b"], prediction, sample.get("flow")
        gap = sample["meta"]["gaps"][0]
        stored = sample["meta"]["flow_gaps"]
        truth = sample["flows"][stored.index(gap), 0] if gap in stored else None
        return sample["frames"][0], sample["frames"][gap], prediction[(0, gap)], truth

