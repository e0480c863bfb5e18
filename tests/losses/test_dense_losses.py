"""Dense losses (Eq. 2.1-2.4) against independent computations and hand-computed cases."""
from __future__ import annotations

import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from components.errors import PixelpredError
from components.losses import (
    DEPTH_LOSS_KINDS,
    NORMAL_LOSS_KINDS,
    boundary_loss,
    cross_entropy_loss,
    log_depth_loss,
    normal_loss,
)


@pytest.fixture
def generator() -> torch.Generator:
    return torch.Generator().manual_seed(0)


# --- Eq. 2.1 cross-entropy ---------------------------------------------------------------------------------------

def test_cross_entropy_matches_manual_formula_with_ignored_pixels(generator) -> None:
    logits = torch.randn(2, 4, 5, 6, generator=generator, dtype=torch.float64)
    target = torch.randint(0, 4, (2, 5, 6), generator=generator)
    target[0, :2] = 255
    target[1, 3, 4] = 255
    loss = cross_entropy_loss(logits, target)

    x, t = logits.numpy(), target.numpy()
    terms = []
    for n, i, j in np.ndindex(t.shape):  # brute force: -log softmax of the true class per labelled pixel
        if t[n, i, j] != 255:
            z = x[n, :, i, j]
            terms.append(-(z[t[n, i, j]] - np.log(np.exp(z).sum())))
    assert loss.item() == pytest.approx(np.mean(terms), rel=1e-10)
    torch.testing.assert_close(loss, F.nll_loss(F.log_softmax(logits, dim=1), target, ignore_index=255))


def test_cross_entropy_with_every_pixel_ignored_is_zero_not_nan() -> None:
    logits = torch.randn(1, 3, 4, 4, requires_grad=True)
    loss = cross_entropy_loss(logits, torch.full((1, 4, 4), 255, dtype=torch.uint8))
    loss.backward()
    assert loss.item() == 0.0 and torch.isfinite(logits.grad).all()


# --- Eq. 2.2 class-balanced boundary loss ------------------------------------------------------------------------

def reference_boundary_loss(side: np.ndarray, fused: np.ndarray, target: np.ndarray, balanced: bool) -> float:
    """Loop over images and branches; beta counted by hand; sum over branches, mean over N*H*W pixels."""
    branches = [side[:, b] for b in range(side.shape[1])] + [fused[:, 0]]
    total = 0.0
    for n in range(target.shape[0]):
        positives = target[n] == 1
        beta = (~positives).sum() / positives.size
        w_pos, w_neg = (beta, 1 - beta) if balanced else (1.0, 1.0)
        for logit in branches:
            p = 1.0 / (1.0 + np.exp(-logit[n]))
            total += -w_pos * np.log(p[positives]).sum() - w_neg * np.log(1 - p[~positives]).sum()
    return total / target.size


@pytest.mark.parametrize("balanced", [True, False])
def test_boundary_loss_matches_loop_over_branches(generator, balanced: bool) -> None:
    side = torch.randn(3, 4, 6, 7, generator=generator, dtype=torch.float64)
    fused = torch.randn(3, 1, 6, 7, generator=generator, dtype=torch.float64)
    target = (torch.rand(3, 6, 7, generator=generator) < 0.2).double()
    target[2] = 0  # an image without any boundary: beta = 1, contributes nothing when balanced
    loss = boundary_loss(side, fused, target, balanced=balanced)
    expected = reference_boundary_loss(side.numpy(), fused.numpy(), target.numpy(), balanced)
    assert loss.item() == pytest.approx(expected, rel=1e-10)


def test_boundary_loss_balancing_weights_rare_boundaries_up() -> None:
    # One boundary pixel out of 10: balanced weights are 0.9 (boundary) and 0.1 (non-boundary).
    target = torch.zeros(1, 1, 10)
    target[0, 0, 0] = 1
    zeros = torch.zeros(1, 1, 1, 10)
    loss = boundary_loss(zeros.expand(1, 4, 1, 10), zeros, target)
    # Every logit is 0 -> -log(0.5) per pixel; per branch (0.9 * 1 + 0.1 * 9) * log 2 / 10; five branches.
    assert loss.item() == pytest.approx(5 * (0.9 + 0.9) * math.log(2) / 10, rel=1e-6)


# --- Eq. 2.3 log-depth loss --------------------------------------------------------------------------------------

@pytest.mark.parametrize("kind", DEPTH_LOSS_KINDS)
def test_depth_loss_is_zero_for_a_perfect_prediction(kind: str) -> None:
    depth = torch.rand(2, 8, 8) * 10 + 0.5
    assert log_depth_loss(depth.log().unsqueeze(1), depth, kind=kind).item() == pytest.approx(0.0, abs=1e-6)


@pytest.mark.parametrize("kind, expected", [("l1_l2", 0.625 + 2 * 0.75), ("l1", 0.75), ("l2", 0.625)])
def test_depth_loss_hand_values_and_invalid_pixels_ignored(kind: str, expected: float) -> None:
    depth = torch.tensor([[[2.0, 4.0, 0.0, 0.0]]])  # last two pixels invalid (no depth)
    # log-ratios +0.5 and -1.0 on the valid pixels; garbage where the depth is invalid.
    prediction = torch.tensor([[[[math.log(2.0) + 0.5, math.log(4.0) - 1.0, 100.0, -100.0]]]])
    assert log_depth_loss(prediction, depth, kind=kind).item() == pytest.approx(expected, rel=1e-6)
    assert log_depth_loss(prediction, depth, kind="l1_l2", gamma=5.0).item() == pytest.approx(0.625 + 5 * 0.75)


def test_depth_loss_gradient_is_2r_plus_gamma_sign_r() -> None:
    depth = torch.tensor([[[1.0, 1.0]]])
    prediction = torch.tensor([[[[0.3, -0.2]]]], requires_grad=True)
    log_depth_loss(prediction, depth).backward()
    expected = torch.tensor([[[[2 * 0.3 + 2.0, 2 * -0.2 - 2.0]]]]) / 2  # mean over two pixels
    torch.testing.assert_close(prediction.grad, expected)


def test_depth_loss_with_no_valid_pixel_is_zero_with_finite_gradient() -> None:
    prediction = torch.randn(1, 1, 3, 3, requires_grad=True)
    loss = log_depth_loss(prediction, torch.zeros(1, 3, 3))
    loss.backward()
    assert loss.item() == 0.0 and torch.isfinite(prediction.grad).all()


# --- Eq. 2.4 normal loss -----------------------------------------------------------------------------------------

def unit(*vectors: tuple[float, float, float]) -> torch.Tensor:
    """k 3-vectors -> 1 x 3 x 1 x k normal map."""
    return torch.tensor(vectors, dtype=torch.float64).T.reshape(1, 3, 1, len(vectors))


def test_normal_loss_perfect_prediction() -> None:
    normals = F.normalize(torch.randn(2, 3, 4, 5, dtype=torch.float64), dim=1)
    assert normal_loss(normals, normals, kind="cos").item() == pytest.approx(-1.0)
    # acos is evaluated at the clamped cosine 1 - 1e-6: an offset of sqrt(2e-6) ~ 1.4e-3 rad.
    assert normal_loss(normals, normals, kind="acos").item() == pytest.approx(0.0, abs=2e-3)
    assert normal_loss(normals, normals, kind="cos_acos").item() == pytest.approx(-1.0, abs=4 * 2e-3)


@pytest.mark.parametrize("kind, expected", [("cos_acos", 4.0 * math.pi / 2), ("cos", 0.0), ("acos", math.pi / 2)])
def test_normal_loss_at_90_degrees(kind: str, expected: float) -> None:
    loss = normal_loss(unit((1, 0, 0), (0, 0, 1)), unit((0, 1, 0), (1, 0, 0)), kind=kind)
    assert loss.item() == pytest.approx(expected, abs=1e-9)


def test_normal_loss_ignores_invalid_pixels_and_renormalises_the_target() -> None:
    prediction = unit((1, 0, 0), (0, 1, 0), (0, 0, 1))
    target = unit((0, 2, 0), (0, 3, 0), (0, 0, 0))  # not unit length; the last pixel is invalid
    # valid pixels: 90 degrees and 0 degrees -> cos term mean(-0, -1) = -0.5, acos mean(pi/2, ~0) ~ pi/4
    assert normal_loss(prediction, target, kind="cos").item() == pytest.approx(-0.5)
    assert normal_loss(prediction, target, kind="cos_acos", lam=2.0).item() == pytest.approx(
        -0.5 + 2.0 * math.pi / 4, abs=2e-3)


@pytest.mark.parametrize("kind", NORMAL_LOSS_KINDS)
def test_normal_loss_gradient_is_finite_at_a_perfect_prediction(kind: str) -> None:
    target = F.normalize(torch.randn(1, 3, 4, 4), dim=1)
    raw = target.clone().requires_grad_(True)
    normal_loss(F.normalize(raw, dim=1), target, kind=kind).backward()
    assert torch.isfinite(raw.grad).all()


@pytest.mark.parametrize("kind, slope", [("cos", math.sin(0.05)), ("acos", 1.0), ("cos_acos", math.sin(0.05) + 4.0)])
def test_normal_loss_slope_in_the_angle(kind: str, slope: float) -> None:
    # Fig 2.3: the cosine loss's gradient vanishes for small errors, the inverse cosine's does not.
    angle = torch.tensor(0.05, dtype=torch.float64, requires_grad=True)
    prediction = torch.stack([torch.cos(angle), torch.sin(angle), torch.zeros_like(angle)]).reshape(1, 3, 1, 1)
    normal_loss(prediction, unit((1, 0, 0)), kind=kind).backward()
    assert angle.grad.item() == pytest.approx(slope, rel=1e-6)


# --- all losses ----------------------------------------------------------------------------------------------------

def test_gradcheck_every_loss(generator) -> None:
    def rand(*shape: int) -> torch.Tensor:
        return torch.randn(*shape, generator=generator, dtype=torch.float64, requires_grad=True)

    target = torch.randint(0, 3, (1, 3, 4), generator=generator)
    assert torch.autograd.gradcheck(lambda x: cross_entropy_loss(x, target), rand(1, 3, 3, 4))
    edges = (torch.rand(1, 3, 4, generator=generator) < 0.3).double()
    for balanced in (True, False):
        assert torch.autograd.gradcheck(lambda s, f: boundary_loss(s, f, edges, balanced), (rand(1, 4, 3, 4),
                                                                                             rand(1, 1, 3, 4)))
    depth = torch.rand(1, 3, 4, generator=generator, dtype=torch.float64) + 0.5
    for kind in DEPTH_LOSS_KINDS:
        assert torch.autograd.gradcheck(lambda p: log_depth_loss(p, depth, kind=kind), rand(1, 1, 3, 4))
    normals = F.normalize(torch.randn(1, 3, 3, 4, generator=generator, dtype=torch.float64), dim=1)
    for kind in NORMAL_LOSS_KINDS:
        assert torch.autograd.gradcheck(lambda p: normal_loss(F.normalize(p, dim=1), normals, kind=kind),
                                        rand(1, 3, 3, 4))


def test_unknown_kinds_raise() -> None:
    with pytest.raises(PixelpredError, match="l1_l2"):
        log_depth_loss(torch.zeros(1, 1, 2, 2), torch.ones(1, 2, 2), kind="huber")
    with pytest.raises(PixelpredError, match="cos_acos"):
        normal_loss(torch.ones(1, 3, 2, 2), torch.ones(1, 3, 2, 2), kind="l2")
