"""Dilated ResNet encoder (§2.1): ResNet-18/50-style, output stride 8, 16 or 32.

At output stride 8 the last two stages keep stride 1 and use atrous convolution with
dilation 2 and 4 instead, so they see the same context at 1/8 of the input resolution.
Module names follow the common ResNet layout (conv1, bn1, layer1..layer4, downsample) so an
ImageNet ResNet state dict loads into the encoder without renaming.
"""
from __future__ import annotations

import logging
from pathlib import Path

import torch
from torch import Tensor, nn

from components.config import BackboneConfig
from components.errors import PixelpredError

log = logging.getLogger(__name__)

# (stride, dilation) of stages 3 and 4 for each output stride; stages 1 and 2 are fixed.
_DILATED_STAGES: dict[int, tuple[tuple[int, int], tuple[int, int]]] = {
    8: ((1, 2), (1, 4)),
    16: ((2, 1), (1, 2)),
    32: ((2, 1), (2, 1)),
}


def conv3x3(in_channels: int, out_channels: int, stride: int = 1, dilation: int = 1) -> nn.Conv2d:
    """3x3 convolution whose padding keeps the size (up to stride) for any dilation."""
    return nn.Conv2d(in_channels, out_channels, 3, stride, padding=dilation, dilation=dilation, bias=False)


class BasicBlock(nn.Module):
    """Two 3x3 convs with a residual shortcut: N x C_in x H x W -> N x planes x H/s x W/s."""

    expansion = 1

    def __init__(self, in_channels: int, planes: int, stride: int = 1, dilation: int = 1,
                 downsample: nn.Module | None = None) -> None:
        super().__init__()
        self.conv1 = conv3x3(in_channels, planes, stride, dilation)
        self.bn1 = nn.BatchNorm2d(planes)
        self.conv2 = conv3x3(planes, planes, 1, dilation)
        self.bn2 = nn.BatchNorm2d(planes)
        self.relu = nn.ReLU(inplace=True)
        self.downsample = downsample

    def forward(self, x: Tensor) -> Tensor:
        shortcut = x if self.downsample is None else self.downsample(x)
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        return self.relu(out + shortcut)


class Bottleneck(nn.Module):
    """1x1 reduce, 3x3 (strided/dilated), 1x1 expand x4: N x C_in x H x W -> N x 4*planes x H/s x W/s."""

    expansion = 4

    def __init__(self, in_channels: int, planes: int, stride: int = 1, dilation: int = 1,
                 downsample: nn.Module | None = None) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(in_channels, planes, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(planes)
        self.conv2 = conv3x3(planes, planes, stride, dilation)
        self.bn2 = nn.BatchNorm2d(planes)
        self.conv3 = nn.Conv2d(planes, planes * self.expansion, 1, bias=False)
        self.bn3 = nn.BatchNorm2d(planes * self.expansion)
        self.relu = nn.ReLU(inplace=True)
        self.downsample = downsample

    def forward(self, x: Tensor) -> Tensor:
        shortcut = x if self.downsample is None else self.downsample(x)
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.relu(self.bn2(self.conv2(out)))
        out = self.bn3(self.conv3(out))
        return self.relu(out + shortcut)


_BLOCKS: dict[str, type[BasicBlock] | type[Bottleneck]] = {"basic": BasicBlock, "bottleneck": Bottleneck}


def make_stage(block: type[BasicBlock] | type[Bottleneck], in_channels: int, planes: int, num_blocks: int,
               stride: int, dilation: int) -> nn.Sequential:
    """`num_blocks` residual blocks; the first one changes stride/width through a 1x1 projection shortcut."""
    out_channels = planes * block.expansion
    downsample = None
    if stride != 1 or in_channels != out_channels:
        downsample = nn.Sequential(nn.Conv2d(in_channels, out_channels, 1, stride, bias=False),
                                   nn.BatchNorm2d(out_channels))
    blocks = [block(in_channels, planes, stride, dilation, downsample)]
    blocks += [block(out_channels, planes, 1, dilation) for _ in range(num_blocks - 1)]
    return nn.Sequential(*blocks)


class DilatedResNet(nn.Module):
    """ResNet encoder: N x 3 x H x W -> 4 stage features (strides 4, 8, 8, 8 at output stride 8).

    Args:
        block: "basic" (ResNet-18/34) or "bottleneck" (ResNet-50/101).
        layers: residual blocks per stage.
        width: channels of the stem and planes of stage 1; stages use width * (1, 2, 4, 8).
        output_stride: 8 (stages 3-4 dilated 2 and 4), 16 (stage 4 dilated 2) or 32 (plain).
        frozen_bn: keep every BatchNorm in eval mode with fixed affine parameters (§3.5).
    """

    def __init__(self, block: str = "basic", layers: tuple[int, int, int, int] = (2, 2, 2, 2), width: int = 64,
                 output_stride: int = 8, frozen_bn: bool = False) -> None:
        super().__init__()
        if block not in _BLOCKS or output_stride not in _DILATED_STAGES:
            raise PixelpredError(f"unsupported backbone block={block!r} / output_stride={output_stride} "
                                 f"(blocks: {', '.join(_BLOCKS)}; output strides: 8, 16, 32)")
        block_type = _BLOCKS[block]
        self.frozen_bn = frozen_bn
        self.conv1 = nn.Conv2d(3, width, 7, 2, padding=3, bias=False)
        self.bn1 = nn.BatchNorm2d(width)
        self.relu = nn.ReLU(inplace=True)
        self.maxpool = nn.MaxPool2d(3, 2, padding=1)

        stage3, stage4 = _DILATED_STAGES[output_stride]
        strides_dilations = ((1, 1), (2, 1), stage3, stage4)
        self.stage_channels: list[int] = []
        self.stage_strides: list[int] = []
        stages, in_channels = [], width
        stride_so_far = 4  # the stem's conv and max-pool
        for i, (num_blocks, (stride, dilation)) in enumerate(zip(layers, strides_dilations)):
            planes = width * 2 ** i
            stages.append(make_stage(block_type, in_channels, planes, num_blocks, stride, dilation))
            in_channels = planes * block_type.expansion
            stride_so_far *= stride
            self.stage_channels.append(in_channels)
            self.stage_strides.append(stride_so_far)
        self.layer1, self.layer2, self.layer3, self.layer4 = stages
        self._init_weights()
        if frozen_bn:
            for module in self.modules():
                if isinstance(module, nn.BatchNorm2d):
                    module.requires_grad_(False)

    def _init_weights(self) -> None:
        for module in self.modules():
            if isinstance(module, nn.Conv2d):
                nn.init.kaiming_normal_(module.weight, mode="fan_out", nonlinearity="relu")
            elif isinstance(module, nn.BatchNorm2d):
                nn.init.ones_(module.weight)
                nn.init.zeros_(module.bias)

    def train(self, mode: bool = True) -> DilatedResNet:
        """Switch train/eval mode; frozen BatchNorm stays in eval so its statistics never update."""
        super().train(mode)
        if self.frozen_bn:
            for module in self.modules():
                if isinstance(module, nn.BatchNorm2d):
                    module.eval()
        return self

    def forward_features(self, x: Tensor) -> list[Tensor]:
        """N x 3 x H x W -> [N x stage_channels[i] x H/stage_strides[i] x W/stage_strides[i] for i in 0..3]."""
        x = self.maxpool(self.relu(self.bn1(self.conv1(x))))
        features = []
        for stage in (self.layer1, self.layer2, self.layer3, self.layer4):
            x = stage(x)
            features.append(x)
        return features

    def forward(self, x: Tensor) -> Tensor:
        """N x 3 x H x W -> top feature N x stage_channels[3] x H/OS x W/OS."""
        return self.forward_features(x)[-1]


def load_pretrained(encoder: nn.Module, path: str) -> None:
    """Load a state dict file into `encoder` (strict=False); log missing/unexpected keys."""
    file = Path(path.removeprefix("file://"))
    if not file.is_file():
        raise PixelpredError(f"pretrained backbone weights not found: {path}")
    state = torch.load(file, map_location="cpu", weights_only=True)
    if isinstance(state, dict) and isinstance(state.get("state_dict"), dict):
        state = state["state_dict"]  # a training checkpoint that wraps the weights
    try:
        report = encoder.load_state_dict(state, strict=False)
    except RuntimeError as err:  # shape mismatch: e.g. weights of another width or block type
        raise PixelpredError(f"pretrained weights {path} do not fit the backbone: {err}") from None
    # A classifier's fc.* keys are expected to be unused; missing keys mean randomly initialised layers.
    log.info("loaded pretrained backbone %s: %d missing keys %s, %d unexpected keys %s", path,
             len(report.missing_keys), report.missing_keys, len(report.unexpected_keys), report.unexpected_keys)


def build_backbone(backbone: BackboneConfig) -> DilatedResNet:
    """BackboneConfig -> DilatedResNet, with pretrained weights loaded when a path is given."""
    encoder = DilatedResNet(backbone.block, backbone.layers, backbone.width, backbone.output_stride,
                            backbone.frozen_bn)
    if backbone.pretrained:
        load_pretrained(encoder, backbone.pretrained)
    return encoder
