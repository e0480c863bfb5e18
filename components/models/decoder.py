"""From encoder features to a dense prediction (§2.1, Fig 2.2): U-shape decoder, full-resolution stream, head.

`DenseTrunk` is the shared body of every dense model: dilated ResNet (Fig 2.2a), optionally a
U-shape decoder with skips (Fig 2.2b) and a full-resolution stream (Fig 2.2c), chosen by
BackboneConfig. A model is then a trunk plus task heads (`UpsampleHead`).
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from components.config import BackboneConfig
from components.models.backbone import build_backbone


def conv_bn_relu(in_channels: int, out_channels: int) -> nn.Sequential:
    """3x3 conv + BN + ReLU, size preserving: N x C_in x H x W -> N x C_out x H x W."""
    return nn.Sequential(nn.Conv2d(in_channels, out_channels, 3, padding=1, bias=False),
                         nn.BatchNorm2d(out_channels), nn.ReLU(inplace=True))


def resize(x: Tensor, size: tuple[int, int] | torch.Size) -> Tensor:
    """Bilinear resize N x C x h x w -> N x C x size (no-op when the size already matches)."""
    if tuple(x.shape[-2:]) == tuple(size):
        return x
    return F.interpolate(x, size=tuple(size), mode="bilinear", align_corners=False)


class UShapeDecoder(nn.Module):
    """Fig 2.2b: top feature upsampled stage by stage, concatenated with each skip, then a 3x3 conv.

    Stage features [s1, s2, s3, s4] -> N x out_channels at the resolution of s1 (stride 4).
    Skips already at the top's resolution (dilated stages) are fused without upsampling.
    """

    def __init__(self, stage_channels: list[int], width: int) -> None:
        super().__init__()
        fuse, top_channels = [], stage_channels[-1]
        for i in reversed(range(len(stage_channels) - 1)):
            out_channels = width * 2 ** i  # the stage's planes: narrower than bottleneck outputs
            fuse.append(conv_bn_relu(top_channels + stage_channels[i], out_channels))
            top_channels = out_channels
        self.fuse = nn.ModuleList(fuse)
        self.out_channels = top_channels

    def forward(self, stages: list[Tensor]) -> Tensor:
        """[4 stage features] -> N x out_channels x h1 x w1 (h1 x w1: size of stages[0])."""
        top = stages[-1]
        for fuse, skip in zip(self.fuse, reversed(stages[:-1])):
            top = fuse(torch.cat([resize(top, skip.shape[-2:]), skip], dim=1))
        return top


class FullResStream(nn.Module):
    """Fig 2.2c: shallow conv stream on the image at full resolution, fused with the upsampled coarse feature.

    (image N x 3 x H x W, coarse N x C x h x w) -> N x out_channels x H x W.
    """

    def __init__(self, coarse_channels: int, width: int, depth: int = 3) -> None:
        super().__init__()
        stream_channels = max(width // 2, 8)
        layers = [conv_bn_relu(3 if i == 0 else stream_channels, stream_channels) for i in range(depth)]
        self.stream = nn.Sequential(*layers)
        # Reduce the coarse feature before upsampling: convolving wide features at full resolution is the cost
        # the thesis warns about.
        self.reduce = nn.Conv2d(coarse_channels, width, 1)
        self.fuse = conv_bn_relu(width + stream_channels, width)
        self.out_channels = width

    def forward(self, image: Tensor, coarse: Tensor) -> Tensor:
        """image N x 3 x H x W, coarse N x C x h x w -> fused N x out_channels x H x W."""
        coarse = resize(self.reduce(coarse), image.shape[-2:])
        return self.fuse(torch.cat([coarse, self.stream(image)], dim=1))


class DenseTrunk(nn.Module):
    """Image N x 3 x H x W -> (dense feature N x out_channels x H/out_stride x W/out_stride, 4 stage features)."""

    def __init__(self, backbone: BackboneConfig) -> None:
        super().__init__()
        self.encoder = build_backbone(backbone)
        channels, self.out_stride = self.encoder.stage_channels[-1], self.encoder.stage_strides[-1]
        self.decoder = None
        if backbone.decoder:
            self.decoder = UShapeDecoder(self.encoder.stage_channels, backbone.width)
            channels, self.out_stride = self.decoder.out_channels, self.encoder.stage_strides[0]
        self.full_res_stream = None
        if backbone.full_res_stream:
            self.full_res_stream = FullResStream(channels, backbone.width)
            channels, self.out_stride = self.full_res_stream.out_channels, 1
        self.out_channels = channels

    @property
    def refined(self) -> bool:
        """True when a decoder or full-resolution stream refines the encoder's top feature."""
        return self.decoder is not None or self.full_res_stream is not None

    def forward(self, image: Tensor) -> tuple[Tensor, list[Tensor]]:
        """N x 3 x H x W -> (dense N x out_channels x h x w, [4 encoder stage features])."""
        stages = self.encoder.forward_features(image)
        dense = stages[-1] if self.decoder is None else self.decoder(stages)
        if self.full_res_stream is not None:
            dense = self.full_res_stream(image, dense)
        return dense, stages


class UpsampleHead(nn.Module):
    """1x1 prediction, bilinear upsampling to the input size, then a 3x3 smoothing conv (§2.1).

    (N x C x h x w, size H x W) -> N x out_channels x H x W.
    """

    def __init__(self, in_channels: int, out_channels: int) -> None:
        super().__init__()
        self.predict = nn.Conv2d(in_channels, out_channels, 1)
        self.smooth = nn.Conv2d(out_channels, out_channels, 3, padding=1)
        # Identity start: the head begins as plain bilinear upsampling and learns to smooth grid effects.
        nn.init.dirac_(self.smooth.weight)
        nn.init.zeros_(self.smooth.bias)

    def forward(self, x: Tensor, size: tuple[int, int] | torch.Size) -> Tensor:
        """N x C x h x w -> N x out_channels x size."""
        return self.smooth(resize(self.predict(x), size))
