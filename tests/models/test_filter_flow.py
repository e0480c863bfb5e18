"""Filter flow against a per-pixel loop and the unfold reference; the linear-head form against the explicit one;
gradients, deltas, expected flow, convexity."""
from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from components.models.filter_flow import apply_filter_flow, apply_linear_filter_flow, expected_flow, unfold_filter_flow


def per_pixel(image: torch.Tensor, filters: torch.Tensor) -> torch.Tensor:
    """Definition written out pixel by pixel: out[n, c, y, x] = sum over in-image offsets of w * image."""
    N, C, H, W = image.shape
    k = int(filters.shape[1] ** 0.5)
    r = k // 2
    out = torch.zeros_like(image)
    for n in range(N):
        for y in range(H):
            for x in range(W):
                for dy in range(-r, r + 1):
                    for dx in range(-r, r + 1):
                        if 0 <= y + dy < H and 0 <= x + dx < W:
                            weight = filters[n, (dy + r) * k + dx + r, y, x]
                            out[n, :, y, x] += weight * image[n, :, y + dy, x + dx]
    return out


def delta(N: int, k: int, H: int, W: int, dy: int, dx: int) -> torch.Tensor:
    """Filters that pick the pixel at offset (dy, dx) everywhere."""
    filters = torch.zeros(N, k * k, H, W, dtype=torch.float64)
    filters[:, (dy + k // 2) * k + dx + k // 2] = 1
    return filters


def test_matches_per_pixel_loop():
    generator = torch.Generator().manual_seed(0)
    image = torch.randn(1, 2, 5, 6, generator=generator, dtype=torch.float64)
    filters = torch.randn(1, 9, 5, 6, generator=generator, dtype=torch.float64)
    torch.testing.assert_close(apply_filter_flow(image, filters), per_pixel(image, filters), rtol=0, atol=1e-12)


def test_matches_unfold_reference_forward_and_backward():
    generator = torch.Generator().manual_seed(1)
    image = torch.randn(2, 3, 19, 23, generator=generator, dtype=torch.float64, requires_grad=True)
    filters = torch.randn(2, 49, 19, 23, generator=generator, dtype=torch.float64, requires_grad=True)
    grad_out = torch.randn(2, 3, 19, 23, generator=generator, dtype=torch.float64)
    ours = torch.autograd.grad(apply_filter_flow(image, filters), (image, filters), grad_out)
    reference = torch.autograd.grad(unfold_filter_flow(image, filters), (image, filters), grad_out)
    torch.testing.assert_close(apply_filter_flow(image, filters), unfold_filter_flow(image, filters),
                               rtol=0, atol=1e-12)
    for got, expected in zip(ours, reference):
        torch.testing.assert_close(got, expected, rtol=0, atol=1e-12)


def test_gradcheck_both_inputs():
    generator = torch.Generator().manual_seed(2)
    image = torch.randn(2, 2, 4, 5, generator=generator, dtype=torch.float64, requires_grad=True)
    filters = torch.randn(2, 9, 4, 5, generator=generator, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(apply_filter_flow, (image, filters))


def test_gradient_for_one_input_only():
    image = torch.randn(1, 3, 6, 6, dtype=torch.float64)
    filters = torch.randn(1, 9, 6, 6, dtype=torch.float64, requires_grad=True)
    apply_filter_flow(image, filters).sum().backward()
    torch.testing.assert_close(filters.grad, torch.autograd.grad(unfold_filter_flow(image, filters).sum(), filters)[0])


def test_centre_delta_is_identity():
    image = torch.randn(1, 3, 7, 8, dtype=torch.float64)
    assert torch.equal(apply_filter_flow(image, delta(1, 5, 7, 8, 0, 0)), image)


@pytest.mark.parametrize("dy,dx", [(1, 0), (0, -2), (-2, 1), (2, 2)])
def test_delta_shifts_with_zero_fill(dy, dx):
    image = torch.randn(1, 3, 7, 8, dtype=torch.float64)
    # out[y, x] = image[y + dy, x + dx], and 0 where that pixel is outside the image.
    expected = F.pad(image, (2, 2, 2, 2))[:, :, 2 + dy:2 + dy + 7, 2 + dx:2 + dx + 8]
    assert torch.equal(apply_filter_flow(image, delta(1, 5, 7, 8, dy, dx)), expected)


@pytest.mark.parametrize("dy,dx", [(0, 0), (1, -3), (-3, 2)])
def test_expected_flow_of_delta_is_its_offset(dy, dx):
    flow = expected_flow(delta(2, 7, 3, 4, dy, dx))
    assert flow.shape == (2, 2, 3, 4)
    assert torch.equal(flow[:, 0], torch.full((2, 3, 4), float(dx), dtype=torch.float64))
    assert torch.equal(flow[:, 1], torch.full((2, 3, 4), float(dy), dtype=torch.float64))


def test_expected_flow_of_free_form_filter_stays_in_window():
    filters = torch.randn(1, 25, 6, 6)
    filters[:, 12] -= filters.sum(1)  # sum near zero: the signed mean would be unbounded
    flow = expected_flow(filters)
    assert flow.isfinite().all() and flow.abs().max() <= 2
    assert torch.equal(expected_flow(torch.zeros(1, 9, 2, 2)), torch.zeros(1, 2, 2, 2))


def test_softmax_filters_are_convex():
    image = torch.rand(2, 3, 24, 24) + 0.5
    filters = torch.randn(2, 289, 24, 24).mul(3).softmax(1)
    out = apply_filter_flow(image, filters)
    # Pixels at least r = 8 from the border mix only image pixels; nearer ones also mix zero padding.
    inside = out[:, :, 8:-8, 8:-8]
    assert inside.min() >= image.min() - 1e-6 and inside.max() <= image.max() + 1e-6
    assert out.min() >= 0 and out.max() <= image.max() + 1e-6


def linear_case(seed: int, N: int = 2, C: int = 3, J: int = 4, k: int = 5, H: int = 9, W: int = 11):
    generator = torch.Generator().manual_seed(seed)
    tensors = (torch.randn(N, C, H, W, generator=generator, dtype=torch.float64),
               torch.randn(N, J, H, W, generator=generator, dtype=torch.float64),
               torch.randn(k * k, J, generator=generator, dtype=torch.float64),
               torch.randn(k * k, generator=generator, dtype=torch.float64))
    return [t.requires_grad_() for t in tensors]


def test_linear_form_equals_filtering_with_the_formed_filters_forward_and_backward():
    """apply_linear_filter_flow(image, features, weight, bias) == apply_filter_flow(image, weight @ features + bias)."""
    image, features, weight, bias = linear_case(3)
    grad_out = torch.randn(2, 3, 9, 11, generator=torch.Generator().manual_seed(4), dtype=torch.float64)
    filters = torch.einsum("kj,njhw->nkhw", weight, features) + bias.view(1, -1, 1, 1)
    explicit = per_pixel(image.detach(), filters.detach())
    inputs = (image, features, weight, bias)
    ours = apply_linear_filter_flow(*inputs)
    torch.testing.assert_close(ours, explicit, rtol=0, atol=1e-10)
    expected = torch.autograd.grad(apply_filter_flow(image, filters), inputs, grad_out)
    for got, reference in zip(torch.autograd.grad(ours, inputs, grad_out), expected):
        torch.testing.assert_close(got, reference, rtol=0, atol=1e-10)


def test_linear_form_gradcheck():
    assert torch.autograd.gradcheck(apply_linear_filter_flow, tuple(linear_case(5, N=1, C=2, J=2, k=3, H=4, W=5)))


def test_linear_form_rejects_mismatched_shapes():
    image, features, weight, bias = (t.detach() for t in linear_case(6))
    with pytest.raises(ValueError, match="k odd"):
        apply_linear_filter_flow(image, features, weight[:16], bias[:16])
    with pytest.raises(ValueError, match="features N x J"):
        apply_linear_filter_flow(image, features[:, :3], weight, bias)


def test_rejects_bad_filter_shapes():
    image = torch.randn(1, 3, 4, 4)
    with pytest.raises(ValueError, match="k odd"):
        apply_filter_flow(image, torch.randn(1, 16, 4, 4))
    with pytest.raises(ValueError, match="do not match"):
        apply_filter_flow(image, torch.randn(1, 9, 4, 5))
