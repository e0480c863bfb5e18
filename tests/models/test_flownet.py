"""FlowNetS (components.models.flownet) and its multi-scale loss (components.losses.video.flownet_loss)."""
from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from components.config import BackboneConfig, LossConfig
from components.data.transforms import IMAGE_MEAN, IMAGE_STD
from components.errors import PixelpredError
from components.losses.video import endpoint_error, flownet_loss
from components.models import create_model, model_size
from components.models.flownet import DIV_FLOW, FlowNetS
from components.tasks.video import VideoTask

SMALL = BackboneConfig(width=4, output_stride=16)   # 4 levels, input multiple 16


def test_full_width_has_flownets_size():
    # FlowNetS (Dosovitskiy et al. 2015) has 38.67 M parameters.
    size = model_size(create_model("flownet_s", BackboneConfig(width=32, output_stride=64)))
    assert size["parameters"] == pytest.approx(38.67e6, rel=1e-3)


def test_any_input_size_is_padded_to_the_multiple_and_cropped_back():
    torch.manual_seed(0)
    model = create_model("flownet_s", SMALL).eval()
    for predict in model.predict:                       # non-zero flows, so cropping is visible
        torch.nn.init.normal_(predict.weight, std=0.05)
    pair = torch.randn(2, 6, 37, 53)
    with torch.no_grad():
        out = model(pair)
        padded = model(F.pad(pair, (0, 11, 0, 11), mode="replicate"))   # 48 x 64: multiples of 16
    assert out["flow"].shape == out["flow_back"].shape == (2, 2, 37, 53)
    torch.testing.assert_close(out["flow"], padded["flow"][..., :37, :53])
    assert [level["flow"].shape[-2:] for level in out["levels"]] == [(3, 4), (6, 8), (12, 16)]


def test_levels_predict_full_resolution_pixels_over_div_flow():
    model = create_model("flownet_s", SMALL).eval()
    with torch.no_grad():
        model.predict[-1].bias.copy_(torch.tensor([0.1, -0.05]))     # the finest level (1/4) only
        out = model(torch.randn(1, 6, 32, 48))
    # Returned in pixels: DIV_FLOW x the prediction, everywhere (bilinear upsampling of a constant).
    torch.testing.assert_close(out["flow"], torch.tensor([2.0, -1.0]).view(1, 2, 1, 1).expand(1, 2, 32, 48))
    # The finest level's own grid is 4 x coarser: a quarter of the length in its pixels.
    torch.testing.assert_close(out["levels"][-1]["flow"], torch.tensor([0.5, -0.25]).view(1, 2, 1, 1).expand(1, 2, 8, 12))
    assert DIV_FLOW == 20.0 and all(level["flow"].abs().max() == 0 for level in out["levels"][:-1])


def test_flow_back_is_the_swapped_pairs_flow():
    torch.manual_seed(1)
    model = create_model("flownet_s", SMALL).eval()
    for predict in model.predict:
        torch.nn.init.normal_(predict.weight, std=0.05)
    pair = torch.randn(1, 6, 32, 32)
    with torch.no_grad():
        back = model(pair)["flow_back"]
        swapped = model(torch.cat([pair[:, 3:], pair[:, :3]], dim=1))["flow"]
    torch.testing.assert_close(back, swapped)


def test_levels_must_fit_the_input_multiple():
    with pytest.raises(ValueError, match="levels"):
        FlowNetS(width=4, levels=2)


def shifted_pairs(count: int, size: int, rng: np.random.Generator) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Smooth random textures and copies shifted by an integer (dx, dy) in [-3, 3] -> frames a, b in [0, 1]
    (N x 3 x size x size, the inner part of a larger texture so nothing wraps) and the true flow of a into b."""
    pad = 4
    texture = torch.from_numpy(rng.random((count, 3, size + 2 * pad + 8, size + 2 * pad + 8), dtype=np.float32))
    texture = F.avg_pool2d(texture, 5, 1)                                  # smooth: matchable at 1/4 resolution
    shifts = rng.integers(-3, 4, size=(count, 2))
    a = texture[..., pad:pad + size, pad:pad + size]
    # a(p) = b(p + flow): b is the texture moved by -flow.
    b = torch.stack([texture[i, :, pad - dy:pad - dy + size, pad - dx:pad - dx + size]
                     for i, (dx, dy) in enumerate(shifts)])
    flow = torch.from_numpy(shifts.astype(np.float32)).view(count, 2, 1, 1).expand(count, 2, size, size)
    return a, b, flow.contiguous()


def normalised(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """Frames in [0, 1] -> the normalised pair a model reads (components.data.transforms.image_tensor's scaling)."""
    mean, std = (torch.from_numpy(np.tile(v, 2)).view(1, 6, 1, 1) for v in (IMAGE_MEAN, IMAGE_STD))
    return (torch.cat([a, b], dim=1) - mean) / std


def test_supervised_flownet_learns_translations_far_better_than_zero_flow():
    torch.manual_seed(0)
    rng = np.random.default_rng(0)
    model = create_model("flownet_s", SMALL)
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
    loss = LossConfig(kind="flownet", supervised=1.0)
    for _ in range(150):
        a, b, flow = shifted_pairs(8, 32, rng)
        value, parts = flownet_loss(model(normalised(a, b)), a, b, {"flow": flow, "flow_back": -flow}, loss)
        optimizer.zero_grad()
        value.backward()
        optimizer.step()
    a, b, flow = shifted_pairs(32, 32, np.random.default_rng(99))            # held out
    with torch.no_grad():
        predicted = model.eval()(normalised(a, b))["flow"]
    inner = (slice(None), slice(None), slice(4, -4), slice(4, -4))
    zero = endpoint_error(torch.zeros_like(flow), flow).item()
    assert endpoint_error(predicted[inner], flow[inner]).item() < 0.5 * zero


def test_loss_mixes_supervised_and_photometric_terms_and_checks_its_inputs():
    torch.manual_seed(0)
    model = create_model("flownet_s", SMALL)
    a, b, flow = shifted_pairs(2, 32, np.random.default_rng(0))
    targets = {"flow": flow, "flow_back": -flow}
    outputs = model(normalised(a, b))
    unsupervised, parts = flownet_loss(outputs, a, b, None, LossConfig(kind="flownet", smooth_weight=0.1))
    assert set(parts) == {"photo", "smooth"} and parts["photo"] > 0
    unsupervised.backward()
    assert all(p.grad is not None for p in model.parameters())
    supervised, parts = flownet_loss(model(normalised(a, b)), a, b, targets, LossConfig(kind="flownet", supervised=1.0))
    # Zero flow at start: every level's EPE (full-resolution pixels) is the true flow's length.
    assert set(parts) == {"epe"} and parts["epe"] == pytest.approx(flow[:, :, 0, 0].norm(dim=1).mean().item(), rel=1e-4)
    half, parts = flownet_loss(model(normalised(a, b)), a, b, targets, LossConfig(kind="flownet", supervised=0.5))
    assert set(parts) == {"epe", "photo", "smooth"}
    with pytest.raises(ValueError, match="true flows"):
        flownet_loss(outputs, a, b, None, LossConfig(kind="flownet", supervised=0.5))
    with pytest.raises(PixelpredError, match="level_weights"):
        flownet_loss(outputs, a, b, targets, LossConfig(kind="flownet", level_weights=(1.0, 1.0)))
    odd = model(F.pad(normalised(a, b), (0, 3, 0, 0)))
    with pytest.raises(PixelpredError, match="multiples of 16"):
        flownet_loss(odd, F.pad(a, (0, 3, 0, 0)), F.pad(b, (0, 3, 0, 0)), None, LossConfig(kind="flownet"))


def test_the_video_task_matches_loss_kinds_to_models():
    task = VideoTask()
    a, b, flow = shifted_pairs(2, 32, np.random.default_rng(0))
    batch = {"image": normalised(a, b), "flow": flow, "flow_back": -flow}
    flownet = create_model("flownet_s", SMALL)
    value, parts = task.loss(flownet(batch["image"]), batch, LossConfig(kind="flownet", supervised=1.0))
    assert parts["loss"] == pytest.approx(value.item()) and "epe" in parts
    # The task's frames in [0, 1] are the inputs the batch was normalised from.
    torch.testing.assert_close(torch.cat(task._frames(batch["image"]), dim=1), torch.cat([a, b], dim=1))
    with pytest.raises(PixelpredError, match="returning 'scales'"):
        task.loss(flownet(batch["image"]), batch, LossConfig(kind="multigrid"))
