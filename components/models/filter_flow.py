"""Predictive filter flow (§6.3.1): apply a predicted k x k filter at every pixel, and summarise it as a flow.

Filters are N x k² x H x W with channel i = (dy + r) * k + (dx + r) for offsets dy, dx in [-r, r], r = k // 2
(row-major, the order F.unfold uses). Output pixel (y, x) of every colour channel is
sum_i filters[i, y, x] * image[y + dy_i, x + dx_i]: the same filter for every channel, as in the author's code,
and zero padding outside the image (a filter's weight on an outside pixel multiplies 0).

`apply_filter_flow` loops over the k² offsets and accumulates shifted views in place, so it never holds the
N x C·k² x H·W unfolded tensor (3.6 GB at 1024², k=17, fp32) that the im2col form of the thesis builds, in either
direction; `unfold_filter_flow` is that im2col form, kept as the reference for tests and benchmarks.

`apply_linear_filter_flow` is the same operation for filters that are a linear map of per-pixel features (a 1 x 1
head): filtering is linear in the filter, so it runs C + 1 ordinary k x k convolutions of the image and combines
them per pixel, never forming the N x k² x H x W filters at all.

`local_correlation` is the cost volume over the same window (mgPFF's filter logits): the filter gradient of
filter flow, computed by the same offset loop.
"""
from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor
from torch.autograd.function import FunctionCtx, once_differentiable


def filter_size(filters: Tensor) -> int:
    """N x k² x H x W filters -> k; raises ValueError unless k² is the square of an odd k."""
    k = math.isqrt(filters.shape[1])
    if filters.dim() != 4 or k * k != filters.shape[1] or k % 2 == 0:
        raise ValueError(f"filters must be N x k² x H x W with k odd, got shape {tuple(filters.shape)}")
    return k


def _check(image: Tensor, filters: Tensor) -> int:
    """Validate an image/filters pair and return k."""
    k = filter_size(filters)
    N, _, H, W = image.shape
    if (filters.shape[0], *filters.shape[2:]) != (N, H, W):
        raise ValueError(f"filters {tuple(filters.shape)} do not match image {tuple(image.shape)} in N, H or W")
    return k


def _offsets(k: int) -> list[tuple[int, int, int]]:
    """(filter channel, row start, column start) in the r-padded image for each offset, row-major."""
    return [(i, *divmod(i, k)) for i in range(k * k)]


def _filter(image: Tensor, filters: Tensor, k: int) -> Tensor:
    """N x C x H x W image, N x k² x H x W filters -> N x C x H x W; one in-place multiply-add per offset."""
    N, C, H, W = image.shape
    r = k // 2
    padded = F.pad(image, (r, r, r, r))
    out = torch.zeros_like(image)
    for i, y0, x0 in _offsets(k):
        # filters[:, i:i+1] broadcasts over colour channels; the shifted window is a view, not a copy.
        out.addcmul_(filters[:, i:i + 1], padded[:, :, y0:y0 + H, x0:x0 + W])
    return out


class _FilterFlow(torch.autograd.Function):
    """Autograd wrapper whose backward also loops over offsets, so no unfolded tensor exists in either pass."""

    @staticmethod
    def forward(ctx: FunctionCtx, image: Tensor, filters: Tensor) -> Tensor:
        ctx.save_for_backward(image, filters)
        return _filter(image, filters, filter_size(filters))

    @staticmethod
    @once_differentiable  # the backward is not itself differentiable; nothing in the project needs that
    def backward(ctx: FunctionCtx, grad_out: Tensor) -> tuple[Tensor | None, Tensor | None]:
        image, filters = ctx.saved_tensors
        need_image, need_filters = ctx.needs_input_grad
        k = filter_size(filters)
        # The same filter acts on every colour channel, so its gradient sums over C: a local correlation.
        grad_image = _scatter(filters, grad_out, k) if need_image else None
        grad_filters = _correlation(grad_out, image, k) if need_filters else None
        return grad_image, grad_filters


def _scatter(filters: Tensor, grad_out: Tensor, k: int) -> Tensor:
    """The adjoint of `_filter` in the image: each output gradient goes back to the pixel it was read from.
    Accumulating into a padded buffer and cropping drops exactly the contributions of the zero padding."""
    N, C, H, W = grad_out.shape
    r = k // 2
    grad_padded = grad_out.new_zeros(N, C, H + 2 * r, W + 2 * r)
    for i, y0, x0 in _offsets(k):
        grad_padded[:, :, y0:y0 + H, x0:x0 + W].addcmul_(filters[:, i:i + 1], grad_out)
    return grad_padded[:, :, r:r + H, r:r + W]


def _correlation(target: Tensor, source: Tensor, k: int) -> Tensor:
    """N x C x H x W twice -> N x k² x H x W: channel i holds sum_c target(p) * source(p + offset_i), zero outside."""
    N, C, H, W = target.shape
    r = k // 2
    padded = F.pad(source, (r, r, r, r))
    out = target.new_empty(N, k * k, H, W)
    for i, y0, x0 in _offsets(k):
        torch.sum(target * padded[:, :, y0:y0 + H, x0:x0 + W], dim=1, out=out[:, i])
    return out


def apply_filter_flow(image: Tensor, filters: Tensor) -> Tensor:
    """N x C x H x W image, N x k² x H x W per-pixel filters -> N x C x H x W filtered image, memory-bounded."""
    _check(image, filters)
    # The in-place accumulation needs one dtype (e.g. fp16 filters from autocast on an fp32 image); .to is a no-op
    # when they already agree, and differentiable otherwise.
    dtype = torch.promote_types(image.dtype, filters.dtype)
    # Each offset's multiply-add reads one filter channel and a shifted window of every colour channel:
    # fast when both are channel-major (a channels-last input would make every read strided).
    return _FilterFlow.apply(image.to(dtype).contiguous(), filters.to(dtype).contiguous())


class _LocalCorrelation(torch.autograd.Function):
    """Local correlation with the same offset loop in both passes: it is the filter gradient of filter flow, so
    its target gradient is filter flow of the source and its source gradient the scatter of `_FilterFlow`."""

    @staticmethod
    def forward(ctx: FunctionCtx, target: Tensor, source: Tensor, k: int) -> Tensor:
        ctx.save_for_backward(target, source)
        ctx.k = k
        return _correlation(target, source, k)

    @staticmethod
    @once_differentiable
    def backward(ctx: FunctionCtx, grad_out: Tensor) -> tuple[Tensor | None, Tensor | None, None]:
        target, source = ctx.saved_tensors
        need_target, need_source = ctx.needs_input_grad[:2]
        grad_target = _filter(source, grad_out, ctx.k) if need_target else None
        grad_source = _scatter(grad_out, target, ctx.k) if need_source else None
        return grad_target, grad_source, None


def local_correlation(target: Tensor, source: Tensor, k: int) -> Tensor:
    """Features N x C x H x W twice -> N x k² x H x W: <target(p), source(p + offset)> for each of the k x k
    offsets, in the filter channel order; zero where p + offset lies outside. A cost volume over the window a
    filter flow reads, memory-bounded like `apply_filter_flow`."""
    if target.shape != source.shape or k % 2 == 0:
        raise ValueError(f"local_correlation needs two equal shapes and an odd k, got {tuple(target.shape)}, "
                         f"{tuple(source.shape)}, k={k}")
    dtype = torch.promote_types(target.dtype, source.dtype)
    return _LocalCorrelation.apply(target.to(dtype).contiguous(), source.to(dtype).contiguous(), k)


class _Correlate(torch.autograd.Function):
    """conv2d(images, kernels, padding=r) for B x 1 x H x W images and J x 1 x k x k kernels (k = 2r + 1).

    The kernel gradient is one convolution of the padded images, as the B input channels of a single sample,
    with the output gradient as J kernels of size H x W: on CPU 2-3x faster than the generic weight gradient
    for k = 17 (benchmarks/filter_flow.py --linear). Other devices keep their own backward (not measured there).
    """

    @staticmethod
    def forward(ctx: FunctionCtx, images: Tensor, kernels: Tensor, r: int) -> Tensor:
        ctx.save_for_backward(images, kernels)
        ctx.r = r
        return F.conv2d(images, kernels, padding=r)

    @staticmethod
    @once_differentiable
    def backward(ctx: FunctionCtx, grad_out: Tensor) -> tuple[Tensor | None, Tensor | None, None]:
        images, kernels = ctx.saved_tensors
        r, (B, _, H, W) = ctx.r, images.shape
        grad_images = F.conv_transpose2d(grad_out, kernels, padding=r) if ctx.needs_input_grad[0] else None
        grad_kernels = None
        if ctx.needs_input_grad[1]:
            padded = F.pad(images, (r, r, r, r)).view(1, B, H + 2 * r, W + 2 * r)
            grad_kernels = F.conv2d(padded, grad_out.transpose(0, 1)).view_as(kernels)
        return grad_images, grad_kernels, None


def _correlate(images: Tensor, kernels: Tensor, r: int) -> Tensor:
    if images.device.type == "cpu":
        return _Correlate.apply(images, kernels, r)
    return F.conv2d(images, kernels, padding=r)


def apply_linear_filter_flow(image: Tensor, features: Tensor, weight: Tensor, bias: Tensor) -> Tensor:
    """N x C x H x W image filtered by the per-pixel filters weight @ features[n, :, y, x] + bias.

    features N x J x H x W, weight k² x J, bias k² (filter channels ordered as in `apply_filter_flow`). The output
    is sum_j features_j * (kernel_j ⋆ image) + (bias ⋆ image), with kernel_j = column j of weight as a k x k
    kernel and ⋆ the zero-padded correlation: equal to apply_filter_flow(image, filters) up to rounding, and 2x
    faster per training step of pff_* at 64² patches (k = 17, J = 16), where the filters cost more than the trunk.
    """
    N, C, H, W = image.shape
    K, J = weight.shape
    k = math.isqrt(K)
    if k * k != K or k % 2 == 0 or bias.shape != (K,) or features.shape != (N, J, H, W):
        raise ValueError(f"need features N x J x H x W, weight k² x J (k odd), bias k² for image {tuple(image.shape)};"
                         f" got {tuple(features.shape)}, {tuple(weight.shape)}, {tuple(bias.shape)}")
    kernels = torch.cat([weight.t(), bias.view(1, K)]).view(J + 1, 1, k, k)
    responses = _correlate(image.reshape(N * C, 1, H, W), kernels, k // 2).view(N, C, J + 1, H, W)
    return torch.einsum("ncjhw,njhw->nchw", responses[:, :, :J], features) + responses[:, :, J]


def unfold_filter_flow(image: Tensor, filters: Tensor) -> Tensor:
    """Reference im2col form (thesis §6.3.1, author's code): same result, builds N x C·k² x H·W; tests only."""
    k = _check(image, filters)
    N, C, H, W = image.shape
    r = k // 2
    columns = F.unfold(F.pad(image, (r, r, r, r)), k).view(N, C, k * k, H, W)  # channel-major, then offsets
    return (columns * filters.unsqueeze(1)).sum(2)


def expected_flow(filters: Tensor, eps: float = 1e-8) -> Tensor:
    """N x k² x H x W filters -> N x 2 x H x W mean offset (dx, dy) in pixels, weighting offsets by |w|.

    For softmax filters (non-negative, sum to one) this is exactly the thesis's expected flow vector
    (§6.5, Eq. 7.6). Free-form filters (JPEG, SR) may have negative lobes and a sum near zero, where dividing by
    the signed sum makes the "mean" unbounded and flip sign; |w| / sum |w| stays a distribution, so the flow
    is a convex combination of offsets inside [-r, r]² and reads as where the filter's mass comes from.
    An all-zero filter gets flow 0 (the sum is clamped to eps).
    """
    k = filter_size(filters)
    r = k // 2
    weights = filters.abs()
    steps = torch.arange(-r, r + 1, dtype=filters.dtype, device=filters.device)
    dy, dx = torch.meshgrid(steps, steps, indexing="ij")  # k x k, row-major like the filter channels
    offsets = torch.stack([dx.reshape(-1), dy.reshape(-1)])  # 2 x k²
    flow = torch.einsum("nkhw,ck->nchw", weights, offsets)
    return flow / weights.sum(1, keepdim=True).clamp_min(eps)
