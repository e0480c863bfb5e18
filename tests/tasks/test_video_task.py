"""The video task: metrics against independent numpy/scipy computations (true flow, zero flow), the training
example (mirroring negates dx), the loss with and without supervision, and predictions for pairs and clips."""
from __future__ import annotations

import numpy as np
import pytest
import torch
from scipy.ndimage import map_coordinates

from components.config import BackboneConfig, EvaluateConfig, LossConfig, ModelConfig, TrainConfig
from components.data.synth.video import sample_clip
from components.data.transforms import collate, hflip, image_tensor, jitter_colors, vflip
from components.data.video import clip_sample, pair_sample
from components.models import create_model
from components.tasks import get_task
from components.metrics.tracking import clip_scores, overall_scores
from components.tasks.video import clip_pairs
from components.tasks.video_views import SCALE

HEIGHT, WIDTH, FRAMES, GAPS = 32, 48, 11, (1, 5, 10)
TASK = get_task("video")


@pytest.fixture(scope="module")
def clip() -> dict:
    return clip_sample(sample_clip(3, FRAMES, HEIGHT, WIDTH, "indoor"), GAPS, {"clip": "c"})


@pytest.fixture(scope="module")
def pairs() -> list[dict]:
    synth = sample_clip(5, 8, HEIGHT, WIDTH, "street")
    return [pair_sample(synth, t, s, {}) for t, s in ((0, 3), (4, 1), (2, 7), (6, 5))]


def _scipy_warp(frame: np.ndarray, flow: np.ndarray) -> np.ndarray:
    """Bilinear sampling of frame at p + flow(p), edge pixels repeated: an independent warp."""
    rows, cols = np.mgrid[0:frame.shape[0], 0:frame.shape[1]].astype(float)
    coords = [np.clip(rows + flow[..., 1], 0, frame.shape[0] - 1), np.clip(cols + flow[..., 0], 0, frame.shape[1] - 1)]
    return np.stack([map_coordinates(frame[..., c].astype(float), coords, order=1) for c in range(3)], axis=-1)


def _true_flows(clip: dict) -> dict:
    """The prediction a perfect model makes: the stored flow both ways (reverse flows from a fresh render)."""
    synth = sample_clip(3, FRAMES, HEIGHT, WIDTH, "indoor")
    return {(t, s): synth.flow(t, s)[0] for t, s in clip_pairs(clip)}


def test_metrics_of_the_true_and_the_zero_flow(clip: dict) -> None:
    config = EvaluateConfig(reconstruction_gaps=(5, 10))
    true = TASK.evaluation(config, None)
    true.update([_true_flows(clip)], [clip])
    exact = true.compute()
    assert all(exact[f"epe_g{g}"] == pytest.approx(0.0, abs=1e-5) for g in GAPS)
    frames = clip["frames"]
    for m in (5, 10):
        truth = np.mean([np.abs(np.clip(np.rint(_scipy_warp(frames[t], _true_flows(clip)[(t + m, t)])), 0, 255)
                                - frames[t + m]).mean() for t in range(FRAMES - m)])
        assert exact[f"recon_l1_m{m}"] == pytest.approx(truth, abs=0.05)

    name, zero = TASK.fit_trivial([])
    trivial = TASK.evaluation(config, None)
    trivial.update([zero(clip)], [clip])
    copied = trivial.compute()
    assert name == "zero_flow"
    assert copied["recon_l1_m5"] == pytest.approx(np.abs(frames[:-5].astype(float) - frames[5:]).mean())
    lengths = np.linalg.norm(clip["flows"][1, :FRAMES - 5], axis=-1)
    assert copied["epe_g5"] == pytest.approx(lengths.mean())
    valid = clip["flows_valid"][1, :FRAMES - 5] > 0
    assert copied["epe_g5_noc"] == pytest.approx(lengths[valid].mean())
    assert exact["recon_l1_m5"] < copied["recon_l1_m5"]  # the true flow rebuilds better than copying
    # Tracking: zero flow copies the first frame's masks (the identity baseline); the true flow tracks better.
    masks = clip["masks"]
    identity = overall_scores(list(clip_scores(np.repeat(masks[:1], FRAMES, axis=0), masks).values()))
    assert copied["track_J_mean"] == pytest.approx(identity["J_mean"])
    assert copied["track_jf_mean"] == pytest.approx(identity["jf_mean"])
    assert exact["track_J_mean"] > copied["track_J_mean"] + 0.05


def test_training_examples_and_mirroring(pairs: list[dict]) -> None:
    config = ModelConfig(train=TrainConfig(hflip=True))
    rng = np.random.default_rng(0)
    examples = [TASK.example(pairs[0], rng, config, augment=True) for _ in range(8)]
    mirrored = [e for e in examples if not np.array_equal(e["a"], pairs[0]["a"])]
    assert mirrored and len(mirrored) < 8
    flipped = mirrored[0]
    np.testing.assert_array_equal(flipped["a"], pairs[0]["a"][:, ::-1])
    np.testing.assert_array_equal(flipped["flow"][..., 0], -pairs[0]["flow"][:, ::-1, 0])
    np.testing.assert_array_equal(flipped["flow"][..., 1], pairs[0]["flow"][:, ::-1, 1])
    assert flipped["pair"].shape == (HEIGHT, WIDTH, 6)
    np.testing.assert_array_equal(flipped["pair"][..., 3:], flipped["b"])


@pytest.mark.parametrize("flip", [hflip, vflip])
def test_mirrored_pairs_keep_their_flow_true(pairs: list[dict], flip) -> None:
    """Sampling the mirrored b along the mirrored flow gives the mirror of sampling b along the flow."""
    pair = pairs[2]
    mirrored = flip(pair)
    axis = 1 if flip is hflip else 0
    for frame, flow in (("b", "flow"), ("a", "flow_back")):
        expected = np.flip(_scipy_warp(pair[frame], pair[flow]), axis=axis)
        np.testing.assert_allclose(_scipy_warp(mirrored[frame], mirrored[flow]), expected, atol=1e-3)
    np.testing.assert_array_equal(mirrored["valid"], np.flip(pair["valid"], axis=axis))


def test_training_examples_crop_flip_and_jitter_both_frames_alike(pairs: list[dict]) -> None:
    config = ModelConfig(train=TrainConfig(patch=16, hflip=True, vflip=True, color_jitter=0.3))
    pair = dict(pairs[0], b=pairs[0]["a"].copy())       # b = a: any change that differs between frames shows
    for seed in range(6):
        example = TASK.example(pair, np.random.default_rng(seed), config, augment=True)
        assert example["a"].shape == (16, 16, 3) and example["flow"].shape == (16, 16, 2)
        assert example["pair"].shape == (16, 16, 6)
        np.testing.assert_array_equal(example["a"], example["b"])
    untouched = TASK.example(pair, np.random.default_rng(0), ModelConfig(train=TrainConfig(hflip=False)), augment=True)
    np.testing.assert_array_equal(untouched["a"], pair["a"])


def test_colour_jitter_is_one_affine_map_per_channel(pairs: list[dict]) -> None:
    sample = pairs[1]
    jittered = jitter_colors(sample, ("a", "b"), 0.3, np.random.default_rng(3))
    assert not np.array_equal(jittered["a"], sample["a"])
    np.testing.assert_array_equal(jittered["flow"], sample["flow"])
    for channel in range(3):
        x = np.concatenate([sample[f][..., channel].ravel() for f in "ab"]).astype(float)
        y = np.concatenate([jittered[f][..., channel].ravel() for f in "ab"]).astype(float)
        inside = (y > 0) & (y < 255)                     # unclipped pixels
        slope, intercept = np.polyfit(x[inside], y[inside], 1)
        assert 0.7 * 0.7 - 0.01 <= slope <= 1.3 * 1.3 + 0.01
        assert np.abs(slope * x[inside] + intercept - y[inside]).max() <= 0.75   # rounding (0.5) and the fit


def test_loss_trains_and_supervision_adds_the_endpoint_error(pairs: list[dict]) -> None:
    torch.manual_seed(0)
    model = create_model("mgpff", BackboneConfig(width=8, layers=(1, 1, 1, 1)))
    examples = [TASK.example(p, np.random.default_rng(0), ModelConfig(), augment=False) for p in pairs]
    batch = collate(examples, TASK.target_fields, TASK.input_field)
    assert batch["image"].shape == (4, 6, HEIGHT, WIDTH) and batch["flow"].shape == (4, 2, HEIGHT, WIDTH)
    value, parts = TASK.loss(model(batch["image"]), batch, LossConfig())
    value.backward()
    assert torch.isfinite(value) and {"rec", "flow", "fb", "smooth"} <= set(parts) and "epe" not in parts
    assert all(p.grad is not None for p in [*model.head.parameters(), *model.project.parameters(),
                                             model.log_similarity_scale])
    half, parts = TASK.loss(model(batch["image"]), batch, LossConfig(supervised=0.5))
    assert parts["epe"] > 0 and torch.isfinite(half)
    with pytest.raises(Exception, match="loss.kind"):
        TASK.loss(model(batch["image"]), batch, LossConfig(kind="l1"))


def test_predictions_for_pairs_and_clips(pairs: list[dict], clip: dict) -> None:
    model = create_model("mgpff", BackboneConfig(width=8, layers=(1, 1, 1, 1))).eval()
    examples = [TASK.example(p, np.random.default_rng(0), ModelConfig(), augment=False) for p in pairs]
    with torch.no_grad():
        flows = TASK.predict_samples(model, examples)
        clips = TASK.predict_samples(model, [clip])
    assert len(flows) == 4 and flows[0].shape == (HEIGHT, WIDTH, 2)
    gap_pairs = {p for g in GAPS for t in range(FRAMES - g) for p in ((t, t + g), (t + g, t))}
    tracking = {(t, c) for t in range(1, FRAMES) for c in {0, *range(max(0, t - 3), t)}}
    assert set(clip_pairs(clip)) == gap_pairs | tracking
    assert set(clips[0]) == gap_pairs | tracking | {(c, t) for t, c in tracking}   # each pass gives both ways
    # A backward pair's flow comes from its forward pair's flow_back: the same as running the swapped pair.
    t, s = 0, GAPS[-1]
    with torch.no_grad():
        swapped = model(image_tensor(np.concatenate([clip["frames"][s], clip["frames"][t]], axis=-1)[None]))
    np.testing.assert_allclose(clips[0][(s, t)], swapped["flow"][0].permute(1, 2, 0).numpy(), atol=1e-4)
    row = TASK.panel_row(clips[0], clip)
    assert len(row) == 5 and all(image.shape == (HEIGHT, WIDTH, 3) and image.dtype == np.uint8 for image in row)


def test_views_show_propagated_masks_and_pixel_tracks(clip: dict) -> None:
    model = create_model("flownet_s", BackboneConfig(width=4, output_stride=16))
    views, scalars = TASK.explain(model, [clip, clip, clip])
    assert scalars == {} and set(views) == {"tracking", "pixel_tracks"}
    # VIEW_CLIPS clips: two rows each (propagated, true masks) of VIEW_FRAMES frames, SCALE x larger, 2-px gutters.
    assert views["tracking"].shape == (4 * HEIGHT * SCALE + 3 * 2, 5 * WIDTH * SCALE + 4 * 2, 3)
    assert views["pixel_tracks"].shape == (2 * HEIGHT * SCALE + 2, 2 * WIDTH * SCALE + 2, 3)
    assert TASK.explain(model, []) == ({}, {})


def test_clips_and_pairs_without_flow_or_masks_score_what_they_have(clip: dict, pairs: list[dict]) -> None:
    """Real video: DAVIS clips have masks and no flow, Sintel's flow at gap 1 only and no masks, real pairs no flow."""
    flows = _true_flows(clip)
    davis = {key: value for key, value in clip.items() if key not in ("flows", "flows_valid")}
    davis["meta"] = {**clip["meta"], "flow_gaps": []}
    sintel = {**{key: value for key, value in clip.items() if key != "masks"},
              "flows": clip["flows"][:1], "flows_valid": clip["flows_valid"][:1]}
    sintel["meta"] = {**clip["meta"], "flow_gaps": [1]}
    config = EvaluateConfig(reconstruction_gaps=(1, 5))
    full, partial = TASK.evaluation(config, None), TASK.evaluation(config, None)
    full.update([flows], [clip])
    partial.update([flows, flows], [davis, sintel])
    everything, scored = full.compute(), partial.compute()
    assert "epe_g5" in everything and "epe_g5" not in scored
    assert scored["epe_g1"] == pytest.approx(everything["epe_g1"], abs=1e-6)           # from Sintel's clip alone
    assert scored["track_J_mean"] == pytest.approx(everything["track_J_mean"])        # from DAVIS's clip alone
    assert scored["recon_l1_m5"] == pytest.approx(everything["recon_l1_m5"])          # both clips, the same frames
    row = TASK.panel_row(flows, davis)                        # no true flow to show: a, b, prediction, rebuilt
    assert len(row) == 4
    # Pairs without flow: reconstruction only, and a supervised loss says why it cannot train.
    bare = [{key: value for key, value in p.items() if key not in ("flow", "flow_back", "valid", "valid_back")}
            for p in pairs]
    validation = TASK.evaluation(config, None)
    validation.update([np.zeros((HEIGHT, WIDTH, 2), np.float32)] * len(bare), bare)
    assert set(validation.compute()) == {"recon_l1"}
    examples = [TASK.example(p, np.random.default_rng(0), ModelConfig(), augment=False) for p in bare]
    batch = collate(examples, TASK.target_fields, TASK.input_field)
    assert set(batch) == {"image"}
    model = create_model("flownet_s", BackboneConfig(width=4, output_stride=16))
    with pytest.raises(Exception, match="pairs with flow"):
        TASK.loss(model(batch["image"]), batch, LossConfig(kind="flownet", supervised=1.0))
    value, _ = TASK.loss(model(batch["image"]), batch, LossConfig(kind="flownet", supervised=0.0))
    assert torch.isfinite(value)
