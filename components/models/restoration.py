"""Image restoration (ch. 6): predictive filter flow (PFF) and its direct-regression CNN twins.

All share the two-stream trunk of §6.3.2: a ResNet stream with pooling, upsampling and skips
for context (encoder + U-shape decoder) plus a shallow full-resolution stream, meeting at the
top. PFF predicts a k x k filter per pixel and applies it to the input's neighbourhood
(Eq. 6.2); the CNNs regress the restored image directly (the thesis's baseline) or a
residual added to the input (the stronger DnCNN/VDSR-style rival). Inputs are normalised images
(components/data/transforms.py); outputs are images in [0, 1] scale at the input resolution.
"""
from __future__ import annotations

import dataclasses
from typing import Literal

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from components.config import BackboneConfig
from components.data.transforms import IMAGE_MEAN, IMAGE_STD
from components.models.decoder import DenseTrunk
from components.models.filter_flow import apply_filter_flow, apply_linear_filter_flow
from components.models.registry import register_model

FILTER_SIZE = 17   # §6.4.2: 17 x 17 = 289 weights per pixel; the same architecture for all three tasks


def two_stream(backbone: BackboneConfig) -> DenseTrunk:
    """The §6.3.2 trunk: the backbone with decoder and full-resolution stream forced on."""
    return DenseTrunk(dataclasses.replace(backbone, decoder=True, full_res_stream=True))


class Denormalize(nn.Module):
    """Normalised N x 3 x H x W -> the image in [0, 1] scale (what filters and losses act on)."""

    def __init__(self) -> None:
        super().__init__()
        self.register_buffer("mean", torch.from_numpy(IMAGE_MEAN).view(1, 3, 1, 1), persistent=False)
        self.register_buffer("std", torch.from_numpy(IMAGE_STD).view(1, 3, 1, 1), persistent=False)

    def forward(self, image: Tensor) -> Tensor:
        return image * self.std + self.mean


class RestorationModel(nn.Module):
    """Shared by PFF and the CNN: the trunk's total stride, which tiled inference aligns tiles to."""
    trunk: DenseTrunk

    @property
    def input_multiple(self) -> int:
        return self.trunk.encoder.stage_strides[-1]


FilterKind = Literal["softmax", "sum_to_one", "free"]


class PredictiveFilterFlow(RestorationModel):
    """Image N x 3 x H x W -> {"restored": N x 3 x H x W}, plus "filters": N x k^2 x H x W when asked.

    `filters` picks the constraint on each pixel's k x k filter:
    - "softmax": non-negative and summing to one, the thesis's deblurring prior (§6.3.1);
    - "sum_to_one": summing to one (brightness constancy) but signed, so it can sharpen;
    - "free": unconstrained (§6.3.1's choice for JPEG and SR).
    All start as the identity filter, so an untrained model returns its input rather than noise.
    """
    returns_filters = True   # forward(image, with_filters=True) also returns the per-pixel filters (§6.5 views)

    def __init__(self, backbone: BackboneConfig, filter_size: int = FILTER_SIZE, filters: FilterKind = "free") -> None:
        super().__init__()
        self.trunk = two_stream(backbone)
        self.filter_size, self.constraint = filter_size, filters
        # A 1x1 head: the two-stream trunk already mixes every pixel's neighbourhood, and at k^2 = 289 outputs a
        # 3x3 head cost as much as the rest of the model (measured: -18% time per step, -0.01/-0.03 dB for SR/JPEG).
        self.head = nn.Conv2d(self.trunk.out_channels, filter_size ** 2, 1)
        # Near-zero (not zero) weights: the trunk gets gradient from the first step.
        nn.init.normal_(self.head.weight, std=1e-3)
        nn.init.zeros_(self.head.bias)
        identity = torch.zeros(filter_size ** 2)
        identity[filter_size ** 2 // 2] = 1.0
        self.register_buffer("identity", identity, persistent=False)
        if filters == "softmax":
            with torch.no_grad():   # a centre logit of 10 puts ~99% of the weight on the centre tap
                self.head.bias[filter_size ** 2 // 2] = 10.0
        self.denormalize = Denormalize()

    def linear_head(self) -> tuple[Tensor, Tensor]:
        """The linear constraints folded into the head: filters = weight (k^2 x C) @ features + bias (k^2).

        Identity plus a correction scaled by 1/k^2: every tap sees nearly the same gradient on smooth images,
        so unscaled taps would move the filter's sum k^2 times faster than any single weight (Adam steps each
        tap by ~lr) and training oscillates. The sum-to-one projection (subtracting the mean over taps), the
        scale and the identity are all linear in the head's output, so they act on its weights and bias.
        """
        weight, bias = self.head.weight.flatten(1), self.head.bias
        if self.constraint == "sum_to_one":
            weight, bias = weight - weight.mean(0, keepdim=True), bias - bias.mean()
        scale = self.filter_size ** 2
        return weight / scale, bias / scale + self.identity

    def predict_filters(self, dense: Tensor) -> Tensor:
        """Trunk features N x C x H x W -> per-pixel filters N x k^2 x H x W under the model's constraint."""
        if self.constraint == "softmax":
            return self.head(dense).softmax(dim=1)
        weight, bias = self.linear_head()
        return F.conv2d(dense, weight[:, :, None, None], bias)

    def forward(self, image: Tensor, with_filters: bool = False) -> dict[str, Tensor]:
        """N x 3 x H x W (normalised) -> the restored image, and the filters if `with_filters`."""
        dense, _ = self.trunk(image)
        image = self.denormalize(image)
        if with_filters or self.constraint == "softmax":
            # The filter op reads one k^2 channel at a time: channel-major filters keep those reads contiguous.
            filters = self.predict_filters(dense.contiguous())
            restored = apply_filter_flow(image, filters)
            return {"restored": restored, "filters": filters} if with_filters else {"restored": restored}
        # Linear constraints: the same result without the N x k^2 x H x W filters (2x faster per training step).
        return {"restored": apply_linear_filter_flow(image.contiguous(), dense.contiguous(), *self.linear_head())}


class DirectRegression(RestorationModel):
    """The CNN baselines of §6.4: the same trunk regressing the image, N x 3 x H x W -> {"restored"}.

    `residual=False` is the thesis's CNN, which predicts the restored image itself. `residual=True`
    predicts a correction added to the input (the DnCNN/VDSR convention) and starts as the identity,
    the stronger rival at a small budget: it only has to learn what the degradation changed.
    """

    def __init__(self, backbone: BackboneConfig, residual: bool = False) -> None:
        super().__init__()
        self.trunk = two_stream(backbone)
        self.head = nn.Conv2d(self.trunk.out_channels, 3, 3, padding=1)
        self.residual = residual
        if residual:
            # Near-zero (not zero) weights, as for the PFF head: the input passes through unchanged at first.
            nn.init.normal_(self.head.weight, std=1e-3)
            nn.init.zeros_(self.head.bias)
        self.denormalize = Denormalize()

    def forward(self, image: Tensor) -> dict[str, Tensor]:
        """N x 3 x H x W (normalised) -> {"restored": N x 3 x H x W in [0, 1] scale}."""
        dense, _ = self.trunk(image)
        restored = self.head(dense)
        if self.residual:
            restored = self.denormalize(image) + restored
        return {"restored": restored}


@register_model(task="deblur")
def pff_deblur(backbone: BackboneConfig = BackboneConfig()) -> PredictiveFilterFlow:
    """Non-uniform motion deblurring: signed 17 x 17 filters that sum to one.

    The thesis adds non-negativity too (softmax, `pff_deblur_softmax`). A non-negative filter can
    only deblur by moving pixels towards edges, which this budget does not learn: such models stay
    at the identity. Signed filters can also sharpen, as deconvolution does (README, models list;
    benchmarks/deblur_filter_oracle.py).
    """
    return PredictiveFilterFlow(backbone, FILTER_SIZE, filters="sum_to_one")


@register_model(task="deblur")
def pff_deblur_softmax(backbone: BackboneConfig = BackboneConfig()) -> PredictiveFilterFlow:
    """Non-uniform motion deblurring as in §6.3.1: 17 x 17 softmax filters (non-negative, sum to one)."""
    return PredictiveFilterFlow(backbone, FILTER_SIZE, filters="softmax")


@register_model(task="jpeg")
def pff_jpeg(backbone: BackboneConfig = BackboneConfig()) -> PredictiveFilterFlow:
    """JPEG artifact removal: free-form 17 x 17 filters."""
    return PredictiveFilterFlow(backbone, FILTER_SIZE, filters="free")


@register_model(task="sr")
def pff_sr(backbone: BackboneConfig = BackboneConfig()) -> PredictiveFilterFlow:
    """x4 super-resolution of the bicubic-upsampled image: free-form 17 x 17 filters."""
    return PredictiveFilterFlow(backbone, FILTER_SIZE, filters="free")


@register_model(task="deblur")
def cnn_deblur(backbone: BackboneConfig = BackboneConfig()) -> DirectRegression:
    """Deblurring by direct regression of the image (the thesis's CNN baseline)."""
    return DirectRegression(backbone)


@register_model(task="jpeg")
def cnn_jpeg(backbone: BackboneConfig = BackboneConfig()) -> DirectRegression:
    """JPEG artifact removal by direct regression of the image."""
    return DirectRegression(backbone)


@register_model(task="sr")
def cnn_sr(backbone: BackboneConfig = BackboneConfig()) -> DirectRegression:
    """x4 super-resolution by direct regression of the image."""
    return DirectRegression(backbone)


@register_model(task="deblur")
def cnn_residual_deblur(backbone: BackboneConfig = BackboneConfig()) -> DirectRegression:
    """Deblurring by regressing a residual added to the blurred input."""
    return DirectRegression(backbone, residual=True)


@register_model(task="jpeg")
def cnn_residual_jpeg(backbone: BackboneConfig = BackboneConfig()) -> DirectRegression:
    """JPEG artifact removal by regressing a residual added to the compressed input."""
    return DirectRegression(backbone, residual=True)


@register_model(task="sr")
def cnn_residual_sr(backbone: BackboneConfig = BackboneConfig()) -> DirectRegression:
    """x4 super-resolution by regressing a residual added to the bicubic upsampling."""
    return DirectRegression(backbone, residual=True)
