"""Multigrid predictive filter flow (mgPFF, thesis §7.2): per-pixel softmax filters between two frames, coarse to fine.

One network, shared over L scales. At each scale, from the coarsest up, each frame is paired with the other frame
warped onto its grid by the flow accumulated so far; a Siamese per-frame embedding (the project's two-stream
trunk: ResNet stream with U-shape decoder plus a full-resolution stream, §7.2.6) feeds a filter head that
predicts one k x k softmax filter per pixel (non-negative, sum to one, §7.2.5), reconstructing the frame from the
warped other frame (Eq. 7.2). Each filter's expected offset (Eq. 7.6) is the scale's residual flow; composing it
with the coarser flow gives the scale's total coordinate flow (App. E.2), upsampled nearest x2 to the next scale.
Coarser flows reach finer scales detached, as in the author's code: each scale learns its own residual.

Deviation (`correlation=True`, the registered model): the filter logits also get a local cost volume, the cosine
similarity of the two frames' projected embeddings at each of the k x k offsets times a learned scale. §7.2.6
avoids a correlation layer; measured here, the plain head collapses to identity filters within the CPU budget
(validation reconstruction equal to copying the frame after 100-400 steps), while with the cost volume the main
job's 300 steps reach the exact flow's reconstruction error (docs/video.md). `correlation=False` is the thesis's
head.

Directions: for an input pair (a, b), `flow` is the flow of a's pixels into b (a(p) ~ b(p + flow(p))), the
pair's `flow` field; `flow_back` is b's into a. Every scale's tensors are returned for the losses of Eq. 7.8.
"""
from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from components.config import BackboneConfig
from components.models.decoder import conv_bn_relu
from components.models.filter_flow import expected_flow, local_correlation
from components.models.registry import register_model
from components.models.restoration import Denormalize, two_stream
from components.models.warp import compose, pyramid, upsample_flow, warp

FILTER_SIZE = 11   # §7.2.4: 11 x 11 filters at every scale
SCALES = 5         # §7.2.4: L = 5, at most
COARSEST_SIDE = 16 # the author's pyramid: a 256-px output, 1/16 of it at the coarsest scale


class MultigridPFF(nn.Module):
    """Pair N x 6 x H x W (frames a, b, normalised; H, W divisible by 2^(scales-1)) -> {"flow", "flow_back":
    N x 2 x H x W pixels, "scales": per-scale dicts, coarsest first} (see `run_scale` for their keys).

    The pyramid has up to `scales` levels, fewer for small inputs, so that the coarsest keeps a short side of at
    least COARSEST_SIDE pixels as in the thesis: 5 at 256 px, 3 at 64 px (an 11 x 11 filter on a 4 x 6 grid only
    adds noise; measured on the synth clips, 3 levels learn faster than 5 at 64 x 96)."""

    def __init__(self, backbone: BackboneConfig, filter_size: int = FILTER_SIZE, scales: int = SCALES,
                 correlation: bool = True) -> None:
        super().__init__()
        self.filter_size, self.scales = filter_size, scales
        self.trunk = two_stream(backbone)
        channels = self.trunk.out_channels
        # The thesis head keeps k^2 = 121 channels throughout at full width (trunk width 32); narrower trunks get a
        # proportionally narrower head.
        hidden = max(16, filter_size ** 2 * backbone.width // 32)
        self.head = nn.Sequential(conv_bn_relu(2 * channels, hidden), conv_bn_relu(hidden, hidden),
                                  conv_bn_relu(hidden, hidden), nn.Conv2d(hidden, filter_size ** 2, 3, padding=1))
        # Near-zero logits: the thesis's head starts every filter uniform (expected offset 0), so every offset gets
        # gradient at once (its argument for filters over offsets, §7.2.3); the cost volume then adds the matches.
        nn.init.normal_(self.head[-1].weight, std=1e-3)
        nn.init.zeros_(self.head[-1].bias)
        # Cosine similarities lie in [-1, 1]; exp(2) ~ 7 makes the start a soft match over the window.
        self.project = nn.Conv2d(channels, channels, 1) if correlation else None
        self.log_similarity_scale = nn.Parameter(torch.tensor(2.0)) if correlation else None
        self.denormalize = Denormalize()

    @property
    def input_multiple(self) -> int:
        return 2 ** (self.scales - 1)

    def levels(self, height: int, width: int) -> int:
        """Pyramid levels for an input of this size: at most `scales`, the coarsest short side >= COARSEST_SIDE."""
        return max(1, min(self.scales, 1 + int(math.log2(max(min(height, width) / COARSEST_SIDE, 1)))))

    def filters(self, target: Tensor, source: Tensor) -> Tensor:
        """Target and source images N x 3 x h x w in [0, 1] -> softmax filters N x k^2 x h x w on the target's grid."""
        both = (torch.cat([target, source]) - self.denormalize.mean) / self.denormalize.std
        embedded, _ = self.trunk(both)                       # Siamese: one trunk, both frames in one batch
        target_emb, source_emb = embedded.chunk(2)
        logits = self.head(torch.cat([target_emb, source_emb], dim=1))
        if self.project is not None:
            target_key, source_key = F.normalize(self.project(embedded), dim=1).chunk(2)
            logits = logits + self.log_similarity_scale.exp() * local_correlation(target_key, source_key,
                                                                                  self.filter_size)
        return logits.softmax(dim=1)

    def run_scale(self, a: Tensor, b: Tensor, flow: Tensor, flow_back: Tensor) -> dict[str, Tensor]:
        """One scale: frames at this scale, coarser total flows upsampled to it -> this scale's tensors: a, b, each
        other frame warped onto them (`b_on_a`, `a_on_b`), filters, residual flows and composed total flows."""
        flow, flow_back = flow.detach(), flow_back.detach()
        b_on_a, a_on_b = warp(b, flow), warp(a, flow_back)
        # Both directions in one batch: a from b warped onto a, and b from a warped onto b.
        filters = self.filters(torch.cat([a, b]), torch.cat([b_on_a, a_on_b]))
        residual = expected_flow(filters)
        filters_a, filters_b = filters.chunk(2)
        residual_a, residual_b = residual.chunk(2)
        return {"a": a, "b": b, "b_on_a": b_on_a, "a_on_b": a_on_b, "filters_a": filters_a, "filters_b": filters_b,
                "residual_a": residual_a, "residual_b": residual_b,
                "flow": compose(residual_a, flow), "flow_back": compose(residual_b, flow_back)}

    def forward(self, pair: Tensor) -> dict:
        levels = self.levels(*pair.shape[-2:])
        a_levels = pyramid(self.denormalize(pair[:, :3]), levels)
        b_levels = pyramid(self.denormalize(pair[:, 3:]), levels)
        outputs = []
        flow = flow_back = a_levels[-1].new_zeros(a_levels[-1].shape[0], 2, *a_levels[-1].shape[-2:])
        for a, b in zip(reversed(a_levels), reversed(b_levels)):
            flow, flow_back = upsample_flow(flow, a.shape[-2:]), upsample_flow(flow_back, a.shape[-2:])
            outputs.append(self.run_scale(a, b, flow, flow_back))
            flow, flow_back = outputs[-1]["flow"], outputs[-1]["flow_back"]
        return {"flow": flow, "flow_back": flow_back, "scales": outputs}


@register_model(task="video")
def mgpff(backbone: BackboneConfig = BackboneConfig()) -> MultigridPFF:
    return MultigridPFF(backbone)
