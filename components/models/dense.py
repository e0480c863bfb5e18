"""The four dense-prediction baselines of §2.2: segmentation, boundaries (HED-style), log depth, normals.

Each is a `DenseTrunk` (dilated ResNet, optional decoder / full-resolution stream) plus a head;
every output is at the input resolution H x W, for any H, W. Inputs are images already
normalised by the caller.
"""
from __future__ import annotations

import torch
from torch import Tensor, nn

from components.config import BackboneConfig
from components.models.decoder import DenseTrunk, UpsampleHead
from components.models.registry import register_model
from components.ops import unit_vectors

NORMAL_EPS = 1e-6  # floor on the norm in the final L2 normalisation (a zero vector stays zero, no NaN)


class DenseBaseline(nn.Module):
    """Trunk + one upsampling head: image N x 3 x H x W -> {output_key: N x out_channels x H x W}.

    With `unit_norm` the channel vector of every pixel is L2-normalised (surface normals, §2.2).
    """

    def __init__(self, backbone: BackboneConfig, out_channels: int, output_key: str, unit_norm: bool = False) -> None:
        super().__init__()
        self.trunk = DenseTrunk(backbone)
        self.head = UpsampleHead(self.trunk.out_channels, out_channels)
        self.output_key = output_key
        self.unit_norm = unit_norm

    def forward(self, image: Tensor) -> dict[str, Tensor]:
        """N x 3 x H x W -> {output_key: N x out_channels x H x W}."""
        dense, _ = self.trunk(image)
        prediction = self.head(dense, image.shape[-2:])
        if self.unit_norm:
            prediction = unit_vectors(prediction, dim=1, eps=NORMAL_EPS)
        return {self.output_key: prediction}


class HEDBaseline(nn.Module):
    """Boundary detector: side branches on the 4 encoder stages + fusion layer (§2.2, HED-style).

    Image N x 3 x H x W -> {"side_logits": N x 4 x H x W, "logits": N x 1 x H x W (fused)}.
    When the trunk has a decoder or full-resolution stream, its refined feature gets a fifth
    branch that enters the fusion too (it is not a side output).
    """

    def __init__(self, backbone: BackboneConfig) -> None:
        super().__init__()
        self.trunk = DenseTrunk(backbone)
        self.side = nn.ModuleList(UpsampleHead(c, 1) for c in self.trunk.encoder.stage_channels)
        self.refined_head = UpsampleHead(self.trunk.out_channels, 1) if self.trunk.refined else None
        num_fused = len(self.side) + (self.refined_head is not None)
        self.fuse = nn.Conv2d(num_fused, 1, 1)
        # HED starts the fusion as the average of the branches.
        nn.init.constant_(self.fuse.weight, 1.0 / num_fused)
        nn.init.zeros_(self.fuse.bias)

    def forward(self, image: Tensor) -> dict[str, Tensor]:
        """N x 3 x H x W -> side logits N x 4 x H x W and fused logits N x 1 x H x W."""
        size = image.shape[-2:]
        dense, stages = self.trunk(image)
        side_logits = torch.cat([head(stage, size) for head, stage in zip(self.side, stages)], dim=1)
        branches = side_logits
        if self.refined_head is not None:
            branches = torch.cat([side_logits, self.refined_head(dense, size)], dim=1)
        return {"side_logits": side_logits, "logits": self.fuse(branches)}


@register_model(task="segmentation")
def seg_baseline(num_classes: int, backbone: BackboneConfig = BackboneConfig()) -> DenseBaseline:
    """Dilated ResNet -> K-way logits {"logits": N x K x H x W} (softmax in the loss, Eq. 2.1)."""
    return DenseBaseline(backbone, num_classes, "logits")


@register_model(task="boundary")
def boundary_baseline(backbone: BackboneConfig = BackboneConfig()) -> HEDBaseline:
    """HED-style boundaries {"side_logits": N x 4 x H x W, "logits": N x 1 x H x W} (Eq. 2.2)."""
    return HEDBaseline(backbone)


@register_model(task="depth")
def depth_baseline(backbone: BackboneConfig = BackboneConfig()) -> DenseBaseline:
    """Dense regression of log depth {"log_depth": N x 1 x H x W} (Eq. 2.3)."""
    return DenseBaseline(backbone, 1, "log_depth")


@register_model(task="normal")
def normal_baseline(backbone: BackboneConfig = BackboneConfig()) -> DenseBaseline:
    """Unit surface normals {"normal": N x 3 x H x W} via a final L2 normalisation (Eq. 2.4)."""
    return DenseBaseline(backbone, 3, "normal", unit_norm=True)


@register_model(task="normal")
def normal_panorama(backbone: BackboneConfig = BackboneConfig()) -> DenseBaseline:
    """The normal baseline as a model of its own for panoramas, whose targets are App. B.1's column-relative normals."""
    return normal_baseline(backbone)
