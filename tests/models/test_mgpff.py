"""mgPFF's pieces against hand-made cases: delta filters give exact flows, scales compose by adding offsets,
warping a hand-made image, the forward-backward and smoothness terms at their known zeros, the model's filters."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from components.config import BackboneConfig
from components.losses.video import charbonnier, endpoint_error, forward_backward_loss, smoothness_loss
from components.models import create_model
from components.models.filter_flow import apply_filter_flow, expected_flow, local_correlation
from components.models.mgpff import FILTER_SIZE, MultigridPFF
from components.models.warp import compose, in_bounds, upsample_flow, warp

K = FILTER_SIZE
R = K // 2


def delta_filters(n: int, height: int, width: int, dx: int, dy: int) -> torch.Tensor:
    """Every pixel's k x k filter puts all weight on offset (dx, dy)."""
    filters = torch.zeros(n, K * K, height, width)
    filters[:, (dy + R) * K + (dx + R)] = 1.0
    return filters


@pytest.mark.parametrize("dx, dy", [(0, 0), (3, -2), (-5, 5), (1, 4)])
def test_a_delta_filter_is_exactly_its_offset_and_matches_the_warp(dx: int, dy: int) -> None:
    filters = delta_filters(1, 9, 13, dx, dy)
    flow = expected_flow(filters)
    assert torch.equal(flow[0, 0], torch.full((9, 13), float(dx))) and torch.equal(flow[0, 1], torch.full((9, 13), float(dy)))
    image = torch.rand(1, 3, 9, 13)
    # Filtering with the delta and warping by its flow read the same pixel (both zero outside the image).
    torch.testing.assert_close(apply_filter_flow(image, filters), warp(image, flow), atol=1e-6, rtol=0)


def test_warp_of_a_hand_made_image() -> None:
    image = torch.arange(20, dtype=torch.float32).view(1, 1, 4, 5)   # value = 5 * row + column
    zero = torch.zeros(1, 2, 4, 5)
    assert torch.equal(warp(image, zero), image)                      # align_corners=True: pixel centres exact
    right = zero.clone()
    right[:, 0] = 1.0                                                 # read one pixel to the right
    shifted = warp(image, right)
    assert torch.equal(shifted[0, 0, :, :4], image[0, 0, :, 1:]) and torch.equal(shifted[0, 0, :, 4], torch.zeros(4))
    half = zero.clone()
    half[:, 1] = 0.5                                                  # half a row down: the mean of two rows
    torch.testing.assert_close(warp(image, half)[0, 0, :3], image[0, 0, :3] + 2.5)
    assert in_bounds(right)[0, 0, :, :4].all() and not in_bounds(right)[0, 0, :, 4].any()


def test_two_scales_of_delta_filters_compose_to_the_summed_offset() -> None:
    coarse = expected_flow(delta_filters(1, 8, 8, 2, -1))             # at half resolution
    fine = expected_flow(delta_filters(1, 16, 16, -3, 1))
    total = compose(fine, upsample_flow(coarse, (16, 16)))
    inner = total[0, :, 4:12, 4:12]                                   # away from the zero padding
    assert torch.equal(inner[0], torch.full((8, 8), 2 * 2 - 3.0)) and torch.equal(inner[1], torch.full((8, 8), -2 + 1.0))


def test_the_multigrid_chain_adds_every_scale_offset(monkeypatch) -> None:
    model = create_model("mgpff", BackboneConfig(width=8, layers=(1, 1, 1, 1)))
    monkeypatch.setattr(model, "filters", lambda target, source: delta_filters(target.shape[0], *target.shape[-2:], 1, 0))
    out = model(torch.zeros(1, 6, 256, 256))
    # One pixel right at each of 5 scales: 16 + 8 + 4 + 2 + 1 at full resolution, where every sample was inside.
    assert out["flow"][0, 0, 80:176, 32:96].eq(31.0).all() and out["flow"][0, 1].abs().max() == 0
    assert [s["a"].shape[-1] for s in out["scales"]] == [16, 32, 64, 128, 256]
    # Smaller inputs get fewer levels, the coarsest never under 16 px.
    assert [model.levels(*size) for size in [(64, 96), (32, 32), (16, 512), (8, 8), (1024, 1024)]] == [3, 2, 1, 1, 5]


@pytest.mark.parametrize("correlation", [False, True])
def test_the_model_predicts_softmax_filters(correlation: bool) -> None:
    torch.manual_seed(0)
    model = MultigridPFF(BackboneConfig(width=8, layers=(1, 1, 1, 1)), correlation=correlation)
    out = model(torch.randn(2, 6, 32, 48))
    for scale in out["scales"]:
        filters = scale["filters_a"]
        assert filters.min() >= 0 and torch.allclose(filters.sum(1), torch.ones(1), atol=1e-5)
        if not correlation:
            assert filters.max() < 5.0 / K ** 2                       # the thesis's head starts uniform: offset 0
    assert out["flow"].shape == (2, 2, 32, 48)
    assert correlation or out["flow"].abs().max() < 0.5
    finest = out["scales"][-1]
    assert apply_filter_flow(finest["b_on_a"], finest["filters_a"]).shape == (2, 3, 32, 48)


def test_loss_terms_at_their_known_values() -> None:
    assert charbonnier(torch.zeros(2, 3, 4, 4)).item() == pytest.approx(1e-3)
    assert charbonnier(torch.full((1, 1, 2, 2), 3.0)).item() == pytest.approx(np.sqrt(9 + 1e-6))
    forward, backward = torch.zeros(1, 2, 12, 12), torch.zeros(1, 2, 12, 12)
    forward[:, 0], backward[:, 0] = 2.0, -2.0                         # exact inverses
    assert forward_backward_loss(forward, backward).item() == pytest.approx(1e-3, abs=1e-6)
    assert forward_backward_loss(forward, forward).item() > 3.9       # |2 + 2| where both steps stay inside
    assert smoothness_loss(forward).item() == 0.0
    ramp = torch.arange(5.0).view(1, 1, 1, 5).expand(1, 2, 3, 5)
    assert smoothness_loss(ramp).item() == pytest.approx(1.0)         # |d/dx| = 1, |d/dy| = 0
    truth = torch.zeros(1, 2, 2, 2)
    guess = torch.zeros(1, 2, 2, 2)
    guess[:, 0], guess[:, 1] = 3.0, 4.0
    assert endpoint_error(guess, truth).item() == pytest.approx(5.0)


def test_local_correlation_matches_an_unfold_reference() -> None:
    torch.manual_seed(1)
    target, source = torch.randn(2, 5, 7, 9), torch.randn(2, 5, 7, 9)
    columns = torch.nn.functional.unfold(source, K, padding=R).view(2, 5, K * K, 7, 9)   # zero outside
    torch.testing.assert_close(local_correlation(target, source, K), (target[:, :, None] * columns).sum(1))


def test_local_correlation_gradients_match_autograd_of_the_reference() -> None:
    torch.manual_seed(3)
    target = torch.randn(1, 3, 6, 7, dtype=torch.float64, requires_grad=True)
    source = torch.randn(1, 3, 6, 7, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(lambda t, s: local_correlation(t, s, 5), (target, source))


@pytest.mark.parametrize("dx, dy", [(2, -1), (-4, 3), (0, 5)])
def test_local_correlation_peaks_where_the_source_moved(dx: int, dy: int) -> None:
    torch.manual_seed(2)
    target = torch.nn.functional.normalize(torch.randn(1, 16, 20, 24), dim=1)
    source = torch.roll(target, shifts=(dy, dx), dims=(2, 3))          # target(p) = source(p + (dx, dy))
    best = local_correlation(target, source, K)[0, :, 6:14, 6:18].argmax(0)
    assert best.eq((dy + R) * K + (dx + R)).all()
