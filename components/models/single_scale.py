"""Filter flow vs offset flow on one backbone (thesis §7.2.3, Fig 7.2): single-scale two-frame flow networks.

Both use mgPFF's Siamese two-stream trunk (§7.2.6) and the same head; only the head's last layer differs, as in
the thesis's comparison. `pff_flow` predicts one k x k softmax filter per pixel (one scale) that
reconstructs a frame from the other (Eq. 7.2); its flow is the filter's expected offset (Eq. 7.6). `offset_flow`
predicts the 2-channel offset itself and reconstructs by bilinear sampling (the spatial-transformer layer), whose
gradient only sees the 2 x 2 pixels around the current estimate: the thesis's argument for filters. Neither has a
cost volume, nor coarse-to-fine warping: the study is about the output parameterisation alone.

Pair N x 6 x H x W (frames a, b, normalised) -> {"flow", "flow_back": N x 2 x H x W pixels (a's pixels into b,
b's into a), "rebuilt", "rebuilt_back": a rebuilt from b, b from a, N x 3 x H x W in [0, 1]}: the model's own
reconstruction, which loss kind "reconstruction" (components.losses.video) scores.
"""
from __future__ import annotations

import torch
from torch import Tensor, nn

from components.config import BackboneConfig
from components.models.decoder import conv_bn_relu
from components.models.filter_flow import apply_filter_flow, expected_flow
from components.models.registry import register_model
from components.models.restoration import Denormalize, two_stream
from components.models.warp import warp

# §7.2.3: 25 x 25 filters at one scale on 64 x 128 frames. 17 x 17 here: its +-8 px hold 99% of the synth clips'
# consecutive-frame flow vectors, and a step costs a third (the k^2-channel softmax and its passes are memory-bound).
FILTER_SIZE = 17
HIDDEN = 32        # head width shared by both models (a 1 x 1 last layer: 32 -> k^2 or 32 -> 2)


class TwoFrameFlow(nn.Module):
    """The shared part: Siamese trunk over both frames, head over the pair's concatenated embeddings, run on
    (a, b) and (b, a) in one batch; subclasses turn the head's output into a flow and a reconstruction."""

    def __init__(self, backbone: BackboneConfig, outputs: int) -> None:
        super().__init__()
        self.trunk = two_stream(backbone)
        channels = self.trunk.out_channels
        self.head = nn.Sequential(conv_bn_relu(2 * channels, HIDDEN), conv_bn_relu(HIDDEN, HIDDEN),
                                  nn.Conv2d(HIDDEN, outputs, 1))
        # Both start at zero flow: uniform filters (expected offset 0) or zero offsets.
        nn.init.normal_(self.head[-1].weight, std=1e-3)
        nn.init.zeros_(self.head[-1].bias)
        self.denormalize = Denormalize()

    @property
    def input_multiple(self) -> int:
        return self.trunk.encoder.stage_strides[-1]

    def flow_and_rebuild(self, head: Tensor, source: Tensor) -> tuple[Tensor, Tensor]:
        """Head output N x outputs x H x W, the frame to rebuild from (in [0, 1]) -> (flow, rebuilt)."""
        raise NotImplementedError

    def forward(self, pair: Tensor) -> dict[str, Tensor]:
        a, b = pair[:, :3], pair[:, 3:]
        embedded, _ = self.trunk(torch.cat([a, b]))        # Siamese: one trunk, both frames in one batch
        emb_a, emb_b = embedded.chunk(2)
        head = self.head(torch.cat([torch.cat([emb_a, emb_b], 1), torch.cat([emb_b, emb_a], 1)]))
        sources = self.denormalize(torch.cat([b, a]))      # a is rebuilt from b, b from a
        flow, rebuilt = self.flow_and_rebuild(head, sources)
        flow, flow_back = flow.chunk(2)
        rebuilt, rebuilt_back = rebuilt.chunk(2)
        return {"flow": flow, "flow_back": flow_back, "rebuilt": rebuilt, "rebuilt_back": rebuilt_back}


class SingleScalePFF(TwoFrameFlow):
    def __init__(self, backbone: BackboneConfig, filter_size: int = FILTER_SIZE) -> None:
        super().__init__(backbone, filter_size ** 2)

    def flow_and_rebuild(self, head: Tensor, source: Tensor) -> tuple[Tensor, Tensor]:
        filters = head.softmax(dim=1)
        return expected_flow(filters), apply_filter_flow(source, filters)


class OffsetFlow(TwoFrameFlow):
    def __init__(self, backbone: BackboneConfig) -> None:
        super().__init__(backbone, 2)

    def flow_and_rebuild(self, head: Tensor, source: Tensor) -> tuple[Tensor, Tensor]:
        # Edge pixels repeated outside the frame, as the evaluation's warp does.
        return head, warp(source, head, padding="border")


@register_model(task="video")
def pff_flow(backbone: BackboneConfig = BackboneConfig()) -> SingleScalePFF:
    return SingleScalePFF(backbone)


@register_model(task="video")
def offset_flow(backbone: BackboneConfig = BackboneConfig()) -> OffsetFlow:
    return OffsetFlow(backbone)
