"""Registry-parametrised tests of every model, the dilated ResNet, the decoder, the restoration models and the registry."""
from __future__ import annotations

import dataclasses
import logging

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from components.config import BackboneConfig
from components.errors import PixelpredError
from components.models import create_model, list_models, model_task
from components.models.backbone import DilatedResNet, build_backbone
from components.models.decoder import DenseTrunk, UpsampleHead
from components.models.registry import register_model

TINY = BackboneConfig(width=8, layers=(1, 1, 1, 1))
NUM_CLASSES = 5
TASK_KWARGS = {"segmentation": {"num_classes": NUM_CLASSES}}
# Outputs every model of a dense task must produce: key -> channels (all at input resolution).
TASK_OUTPUTS = {
    "segmentation": {"logits": NUM_CLASSES},
    "boundary": {"side_logits": 4, "logits": 1},
    "depth": {"log_depth": 1},
    "normal": {"normal": 3},
    "deblur": {"restored": 3},
    "jpeg": {"restored": 3},
    "sr": {"restored": 3},
}
MODELS = [name for name in list_models() if model_task(name) in TASK_OUTPUTS]
VARIANTS = [dict(output_stride=s, decoder=d, full_res_stream=f)
            for s in (8, 16, 32) for d in (False, True) for f in (False, True)]


def build(name: str, backbone: BackboneConfig = TINY) -> nn.Module:
    torch.manual_seed(0)
    return create_model(name, backbone, **TASK_KWARGS.get(model_task(name), {}))


def first_image_conv(model: nn.Module) -> nn.Conv2d:
    return next(m for m in model.modules() if isinstance(m, nn.Conv2d) and m.in_channels == 3)


def check_outputs(name: str, outputs: dict[str, torch.Tensor], n: int, h: int, w: int) -> None:
    for key, channels in TASK_OUTPUTS[model_task(name)].items():
        assert outputs[key].shape == (n, channels, h, w), key
    for key, value in outputs.items():
        assert torch.isfinite(value).all(), key


def test_the_four_baselines_are_registered() -> None:
    assert {"seg_baseline", "boundary_baseline", "depth_baseline", "normal_baseline"} <= set(list_models())
    assert [model_task(n) for n in ("seg_baseline", "boundary_baseline", "depth_baseline", "normal_baseline")] == [
        "segmentation", "boundary", "depth", "normal"]
    assert "depth_baseline" in list_models(task="depth") and "seg_baseline" not in list_models(task="depth")


@pytest.mark.parametrize("size", [(48, 64), (50, 66)], ids=["multiple_of_8", "odd_size"])
@pytest.mark.parametrize("name", MODELS)
def test_forward_backward(name: str, size: tuple[int, int]) -> None:
    model = build(name).train()
    torch.manual_seed(1)
    outputs = model(torch.randn(2, 3, *size))
    check_outputs(name, outputs, 2, *size)
    # Random projections: a plain sum would give zero gradient for the unit-normalised normals.
    loss = sum((value * torch.randn_like(value)).mean() for value in outputs.values())
    loss.backward()
    grad = first_image_conv(model).weight.grad
    assert grad is not None and torch.isfinite(grad).all() and grad.abs().sum() > 0


@pytest.mark.parametrize("variant", VARIANTS, ids=lambda v: "os{output_stride}-dec{decoder:d}-full{full_res_stream:d}"
                         .format(**v))
@pytest.mark.parametrize("name", MODELS)
def test_backbone_variants_run(name: str, variant: dict) -> None:
    model = build(name, dataclasses.replace(TINY, **variant)).train()
    outputs = model(torch.randn(1, 3, 40, 56))
    check_outputs(name, outputs, 1, 40, 56)
    sum(value.mean() for value in outputs.values()).backward()
    assert first_image_conv(model).weight.grad is not None
    with torch.no_grad():
        check_outputs(name, model.eval()(torch.randn(1, 3, 40, 56)), 1, 40, 56)


def test_normal_output_is_unit_length() -> None:
    normal = build("normal_baseline")(torch.randn(2, 3, 48, 64))["normal"]
    torch.testing.assert_close(normal.norm(dim=1), torch.ones(2, 48, 64))


def test_boundary_fusion_starts_as_the_average_of_the_side_outputs() -> None:
    outputs = build("boundary_baseline")(torch.randn(1, 3, 48, 64))
    torch.testing.assert_close(outputs["logits"], outputs["side_logits"].mean(dim=1, keepdim=True))


@pytest.mark.parametrize("block, expansion", [("basic", 1), ("bottleneck", 4)])
@pytest.mark.parametrize("output_stride, strides", [(8, (4, 8, 8, 8)), (16, (4, 8, 16, 16)), (32, (4, 8, 16, 32))])
def test_backbone_feature_strides(block: str, expansion: int, output_stride: int, strides: tuple[int, ...]) -> None:
    encoder = DilatedResNet(block, (1, 1, 1, 1), width=8, output_stride=output_stride)
    features = encoder.forward_features(torch.randn(2, 3, 64, 96))
    assert encoder.stage_strides == list(strides)
    assert encoder.stage_channels == [8 * expansion, 16 * expansion, 32 * expansion, 64 * expansion]
    for feature, stride, channels in zip(features, strides, encoder.stage_channels):
        assert feature.shape == (2, channels, 64 // stride, 96 // stride)


def test_output_stride_8_replaces_strides_by_dilation_2_and_4() -> None:
    encoder = DilatedResNet("basic", (2, 2, 2, 2), width=8, output_stride=8)
    for stage, dilation in ((encoder.layer3, 2), (encoder.layer4, 4)):
        convs = [m for m in stage.modules() if isinstance(m, nn.Conv2d) and m.kernel_size == (3, 3)]
        assert all(c.dilation == (dilation, dilation) and c.stride == (1, 1) for c in convs)


def test_trunk_resolution_follows_decoder_and_full_res_stream() -> None:
    image = torch.randn(1, 3, 48, 64)
    for decoder, full_res, stride in ((False, False, 8), (True, False, 4), (False, True, 1), (True, True, 1)):
        trunk = DenseTrunk(dataclasses.replace(TINY, decoder=decoder, full_res_stream=full_res))
        dense, stages = trunk(image)
        assert trunk.out_stride == stride and trunk.refined == (decoder or full_res)
        assert dense.shape == (1, trunk.out_channels, 48 // stride, 64 // stride)
        assert len(stages) == 4


def test_upsample_head_starts_as_bilinear_upsampling() -> None:
    head = UpsampleHead(6, 2)
    x = torch.randn(1, 6, 6, 8)
    expected = F.interpolate(head.predict(x), size=(48, 64), mode="bilinear", align_corners=False)
    torch.testing.assert_close(head(x, (48, 64)), expected)


def bn_state(module: nn.Module) -> list[torch.Tensor]:
    return [t.clone() for m in module.modules() if isinstance(m, nn.BatchNorm2d)
            for t in (m.running_mean, m.running_var, m.weight, m.bias)]


@pytest.mark.parametrize("frozen", [True, False])
def test_frozen_bn_keeps_encoder_statistics(frozen: bool) -> None:
    model = build("seg_baseline", dataclasses.replace(TINY, frozen_bn=frozen)).train()
    encoder = model.trunk.encoder
    before = bn_state(encoder)
    optimiser = torch.optim.SGD([p for p in model.parameters() if p.requires_grad], lr=0.1)
    model(torch.randn(2, 3, 48, 64))["logits"].square().mean().backward()
    optimiser.step()
    unchanged = all(torch.equal(a, b) for a, b in zip(before, bn_state(encoder)))
    assert unchanged == frozen
    bns = [m for m in encoder.modules() if isinstance(m, nn.BatchNorm2d)]
    assert all(m.training != frozen for m in bns)
    assert all(p.requires_grad != frozen for m in bns for p in m.parameters())


def test_pretrained_weights_load_and_report(tmp_path, caplog) -> None:
    torch.manual_seed(3)
    source = DilatedResNet("basic", (1, 1, 1, 1), width=8)
    state = dict(source.state_dict(), **{"fc.weight": torch.zeros(10, 64)})  # like an ImageNet classifier
    path = tmp_path / "resnet.pt"
    torch.save(state, path)
    with caplog.at_level(logging.INFO):
        encoder = build_backbone(dataclasses.replace(TINY, pretrained=str(path)))
    for key, value in source.state_dict().items():
        torch.testing.assert_close(encoder.state_dict()[key], value)
    assert "fc.weight" in caplog.text


def test_pretrained_errors(tmp_path) -> None:
    with pytest.raises(PixelpredError, match="not found"):
        build_backbone(dataclasses.replace(TINY, pretrained=str(tmp_path / "missing.pt")))
    path = tmp_path / "wide.pt"
    torch.save(DilatedResNet("basic", (1, 1, 1, 1), width=16).state_dict(), path)
    with pytest.raises(PixelpredError, match="do not fit"):
        build_backbone(dataclasses.replace(TINY, pretrained=str(path)))


@pytest.mark.parametrize("name", ["pff_deblur", "pff_deblur_softmax", "pff_jpeg", "pff_sr"])
def test_filter_flow_models_start_near_the_identity(name: str) -> None:
    from components.models.restoration import Denormalize
    model = build(name, dataclasses.replace(TINY, output_stride=32)).eval()
    image = torch.randn(1, 3, 40, 48)
    with torch.no_grad():
        out = model(image, with_filters=True)
    assert out["filters"].shape == (1, 17 * 17, 40, 48)
    assert (out["restored"] - Denormalize()(image)).abs().max() < 0.05


@pytest.mark.parametrize("name", ["pff_deblur", "pff_jpeg", "pff_deblur_softmax"])
def test_filter_flow_models_restore_the_same_with_and_without_forming_the_filters(name: str) -> None:
    """Training runs without the filters (the linear-head form); asking for them must not change the image."""
    model = build(name, dataclasses.replace(TINY, output_stride=32)).train()
    with torch.no_grad():   # a trained head: large, signed corrections
        model.head.weight.normal_(std=1.0)
        model.head.bias.normal_(std=3.0)
    image = torch.randn(2, 3, 32, 40)
    plain = model(image)
    assert set(plain) == {"restored"}
    torch.testing.assert_close(plain["restored"], model(image, with_filters=True)["restored"], rtol=1e-4, atol=1e-5)


def test_softmax_filters_are_non_negative_and_sum_to_one() -> None:
    model = build("pff_deblur_softmax", dataclasses.replace(TINY, output_stride=32)).train()
    filters = model(torch.randn(2, 3, 32, 32), with_filters=True)["filters"]
    assert (filters >= 0).all()
    torch.testing.assert_close(filters.sum(1), torch.ones(2, 32, 32))


def test_deblur_filters_sum_to_one_and_may_be_negative() -> None:
    model = build("pff_deblur", dataclasses.replace(TINY, output_stride=32)).train()
    with torch.no_grad():   # a trained head: large, signed corrections
        model.head.weight.normal_(std=1.0)
        model.head.bias.normal_(std=10.0)
    filters = model(torch.randn(2, 3, 32, 32), with_filters=True)["filters"]
    assert (filters < 0).any()
    torch.testing.assert_close(filters.sum(1), torch.ones(2, 32, 32))


@pytest.mark.parametrize("name, project", [("pff_deblur", True), ("pff_jpeg", False)])
def test_filters_equal_the_head_output_projected_and_scaled(name: str, project: bool) -> None:
    """The constraint is applied to the head's weights; the filters must equal the direct formula
    identity + (raw - mean over taps) / k^2 (sum_to_one) or identity + raw / k^2 (free) on the head's output."""
    model = build(name, dataclasses.replace(TINY, output_stride=32)).eval()
    with torch.no_grad():
        model.head.weight.normal_(std=1.0)
        model.head.bias.normal_(std=3.0)
        dense, _ = model.trunk(torch.randn(2, 3, 32, 40))
        raw = model.head(dense)
        if project:
            raw = raw - raw.mean(1, keepdim=True)
        identity = torch.zeros(1, 289, 1, 1)
        identity[0, 144] = 1.0
        torch.testing.assert_close(model.predict_filters(dense), identity + raw / 289, rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("name", ["cnn_residual_deblur", "cnn_residual_jpeg", "cnn_residual_sr"])
def test_residual_cnns_start_near_the_identity_and_learn_a_correction(name: str) -> None:
    from components.models.restoration import Denormalize
    model = build(name, dataclasses.replace(TINY, output_stride=32)).train()
    image = torch.randn(2, 3, 32, 40)
    out = model(image)["restored"]
    assert (out - Denormalize()(image)).abs().max() < 0.05
    out.sum().backward()     # the correction's head and the trunk behind it both get gradient
    assert model.head.weight.grad.abs().sum() > 0 and model.trunk.encoder.conv1.weight.grad.abs().sum() > 0


def test_the_direct_cnn_regresses_the_image_itself() -> None:
    model = build("cnn_jpeg", dataclasses.replace(TINY, output_stride=32)).eval()
    with torch.no_grad():
        model.head.weight.zero_()
        model.head.bias.fill_(0.25)
        out = model(torch.randn(1, 3, 32, 32))["restored"]
    torch.testing.assert_close(out, torch.full_like(out, 0.25))


def test_unknown_model_name_lists_known_models() -> None:
    with pytest.raises(PixelpredError, match="seg_baseline"):
        create_model("seg_baselin", TINY)
    with pytest.raises(PixelpredError, match="unknown model"):
        model_task("nope")


def test_bad_task_arguments_raise_pixelpred_error() -> None:
    with pytest.raises(PixelpredError, match="seg_baseline"):
        create_model("seg_baseline", TINY)  # num_classes missing
    with pytest.raises(PixelpredError, match="depth_baseline"):
        create_model("depth_baseline", TINY, num_classes=3)


def test_registering_a_name_twice_fails() -> None:
    with pytest.raises(ValueError, match="twice"):
        @register_model(task="segmentation")
        def seg_baseline(backbone: BackboneConfig) -> nn.Module:  # noqa: F811
            return nn.Identity()
