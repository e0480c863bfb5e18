"""Losses of the video models (ch. 7 and the lecture): mgPFF's Eq. 7.8 terms, photometric and EPE terms for flow.

Images are in [0, 1]; flows N x 2 x H x W pixels (components.models.warp). Every term is a mean (over pixels and
batch, and over colour channels for images), so terms at different scales weigh alike per pixel.
"""
from __future__ import annotations

import torch
from torch import Tensor

from components.config import LossConfig
from components.errors import PixelpredError
from components.models.filter_flow import apply_filter_flow
from components.models.warp import downsample_flow, in_bounds, pyramid, warp

CHARBONNIER_EPS = 1e-3   # §7.2.2: phi(s) = mean sqrt(s^2 + 0.001^2)


def charbonnier(difference: Tensor, mask: Tensor | None = None) -> Tensor:
    """Eq. 7.3's phi: mean of sqrt(d^2 + eps^2), over the pixels where `mask` (N x 1 x H x W bool) is True."""
    values = torch.sqrt(difference.square() + CHARBONNIER_EPS ** 2)
    if mask is None:
        return values.mean()
    mask = mask.expand_as(values)
    return torch.where(mask, values, 0.0).sum() / mask.sum().clamp_min(1)


def flow_warp_loss(target: Tensor, source: Tensor, flow: Tensor) -> Tensor:
    """l_flow (§7.2.5): the target rebuilt by warping the source with `flow` (bilinear, grid_sample), Charbonnier
    over the pixels whose sample lies inside the source."""
    return charbonnier(target - warp(source, flow), in_bounds(flow))


def forward_backward_loss(flow: Tensor, flow_back: Tensor) -> Tensor:
    """Eq. 7.7: p -> p + f(p) -> that + b(p + f(p)) should return to p; Charbonnier of the distance, over the pixels
    whose forward step lands inside the other frame."""
    round_trip = flow + warp(flow_back, flow)
    distance = round_trip.square().sum(1, keepdim=True).add(1e-12).sqrt()
    return charbonnier(distance, in_bounds(flow))


def smoothness_loss(flow: Tensor) -> Tensor:
    """l_sm = ||grad F||_1: mean absolute difference of horizontal and vertical neighbours, both components."""
    return (flow[..., :, 1:] - flow[..., :, :-1]).abs().mean() + (flow[..., 1:, :] - flow[..., :-1, :]).abs().mean()


def endpoint_error(flow: Tensor, target: Tensor, mask: Tensor | None = None) -> Tensor:
    """Mean Euclidean distance between predicted and true flow vectors (pixels), over `mask` if given."""
    distance = (flow - target).square().sum(1, keepdim=True).add(1e-12).sqrt()
    if mask is None:
        return distance.mean()
    return torch.where(mask, distance, 0.0).sum() / mask.sum().clamp_min(1)


def mgpff_loss(scales: list[dict[str, Tensor]], loss: LossConfig) -> tuple[Tensor, dict[str, float]]:
    """Eq. 7.8 summed over scales, both directions: filter reconstruction, flow-vector reconstruction, forward-
    backward consistency of the scale's total flows, smoothness of its residual flow -> (total, mean parts)."""
    totals: dict[str, Tensor | float] = {"rec": 0.0, "flow": 0.0, "fb": 0.0, "smooth": 0.0}
    value: Tensor | float = 0.0
    for scale in scales:
        terms = {"rec": 0.0, "flow": 0.0, "smooth": 0.0}
        for frame, other, filters, residual in ((scale["a"], scale["b_on_a"], scale["filters_a"], scale["residual_a"]),
                                                (scale["b"], scale["a_on_b"], scale["filters_b"], scale["residual_b"])):
            terms["rec"] = terms["rec"] + charbonnier(frame - apply_filter_flow(other, filters))
            terms["flow"] = terms["flow"] + flow_warp_loss(frame, other, residual)
            terms["smooth"] = terms["smooth"] + smoothness_loss(residual)
        terms["fb"] = (forward_backward_loss(scale["flow"], scale["flow_back"])
                       + forward_backward_loss(scale["flow_back"], scale["flow"]))
        value = value + (terms["rec"] + loss.flow_weight * terms["flow"] + loss.fb_weight * terms["fb"]
                         + loss.smooth_weight * terms["smooth"])
        for name, term in terms.items():
            totals[name] = totals[name] + term.detach()
    # One device-to-host copy for all parts, not one per term and scale.
    means = (torch.stack([totals[name] for name in totals]) / len(scales)).tolist()
    return value, dict(zip(totals, means))


def reconstruction_loss(outputs: dict, a: Tensor, b: Tensor, targets: dict[str, Tensor] | None,
                        loss: LossConfig) -> tuple[Tensor, dict[str, float]]:
    """Fig 7.2's objective, both directions: (1 - alpha) x Charbonnier of each frame against the model's own
    reconstruction of it (filters applied, or the bilinear warp) + alpha x EPE against the true flow (alpha =
    `loss.supervised`); no smoothness or occlusion terms (§7.2.3). `targets` may be None when alpha = 0."""
    alpha = loss.supervised
    if alpha and targets is None:
        raise ValueError("a supervised reconstruction loss needs the true flows")
    photo = charbonnier(a - outputs["rebuilt"]) + charbonnier(b - outputs["rebuilt_back"])
    value, parts = (1 - alpha) * photo / 2, {"photo": photo.item() / 2}
    if alpha:
        epe = (endpoint_error(outputs["flow"], targets["flow"]) + endpoint_error(outputs["flow_back"], targets["flow_back"])) / 2
        value, parts["epe"] = value + alpha * epe, epe.item()
    return value, parts


def flownet_loss(outputs: dict, a: Tensor, b: Tensor, targets: dict[str, Tensor] | None,
                 loss: LossConfig) -> tuple[Tensor, dict[str, float]]:
    """FlowNetS's multi-scale loss, both directions: at the full-resolution flow and at every prediction level
    (finest first, weighted by `loss.level_weights`), alpha x EPE against the true flow (in full-resolution
    pixels at every level, as FlowNet) + (1 - alpha) x (photometric + smooth_weight x smoothness) on the frames
    averaged down to the level (alpha = `loss.supervised`; `targets` may be None when alpha = 0)."""
    alpha = loss.supervised
    if alpha and targets is None:
        raise ValueError("a supervised flownet loss needs the true flows")
    levels = [outputs] + outputs["levels"][::-1]                        # full resolution, then finest first
    if len(loss.level_weights) < len(levels):
        raise PixelpredError(f"loss.level_weights has {len(loss.level_weights)} weights for {len(levels)} levels")
    multiple = 2 ** (len(outputs["levels"]) + 1)          # predictions at levels 2..L: the input multiple 2^L
    if a.shape[-2] % multiple or a.shape[-1] % multiple:
        raise PixelpredError(f"flownet training needs frames whose sides are multiples of {multiple} (the levels' "
                             f"grids), got {tuple(a.shape[-2:])}: set train.patch")
    frames = pyramid(torch.cat([a, b], dim=1), multiple.bit_length())   # strides 1, 2, ..., multiple
    totals = {"epe": 0.0, "photo": 0.0, "smooth": 0.0}
    value: Tensor | float = 0.0
    for level, weight in zip(levels, loss.level_weights):
        size = level["flow"].shape[-2:]
        images = next(image for image in frames if image.shape[-2:] == size)
        stride = a.shape[-1] / size[-1]
        terms: dict[str, Tensor | float] = {"epe": 0.0, "photo": 0.0, "smooth": 0.0}
        for name, target_frame, source_frame in (("flow", images[:, :3], images[:, 3:]),
                                                 ("flow_back", images[:, 3:], images[:, :3])):
            flow = level[name]
            if alpha:
                terms["epe"] = terms["epe"] + stride * endpoint_error(flow, downsample_flow(targets[name], size))
            if alpha < 1:
                terms["photo"] = terms["photo"] + flow_warp_loss(target_frame, source_frame, flow)
                terms["smooth"] = terms["smooth"] + smoothness_loss(flow)
        value = value + weight * (alpha * terms["epe"]
                                  + (1 - alpha) * (terms["photo"] + loss.smooth_weight * terms["smooth"]))
        for name, term in terms.items():
            totals[name] = totals[name] + (term.detach() if isinstance(term, Tensor) else term) / 2
    return value, {name: float(total) / len(levels) for name, total in totals.items() if isinstance(total, Tensor)}
