"""FlowNetS (Dosovitskiy et al. 2015, the lecture's encoder-decoder for optical flow): the rival of mgPFF.

Frames a and b stacked in channels go through strided convolutions down to 1/2^levels (FlowNetS: 6 levels, 1/64);
the decoder climbs back with up-convolutions (transposed convolutions, k4 s2) and at every level concatenates
the encoder's skip, the up-convolved features and the learned x2 up-convolution of the coarser flow, from which
it predicts that level's flow. The finest prediction is at 1/4 resolution; the returned flow is its bilinear x4
upsampling. No batch norm, LeakyReLU(0.1), as in FlowNetS.

Units, explicitly (the classic FlowNet confusion): every level predicts the flow in full-resolution pixels divided
by DIV_FLOW, so levels share one scale and the learned upsampling needs no rescaling; `forward` multiplies by
DIV_FLOW and returns pixels. Per-level flows come back in pixels of their own grid, for the multi-scale losses.

Inputs of any size are padded (edge replication) to the network's multiple 2^levels and the flows cropped back.
Directions as mgPFF's (components.models.mgpff): `flow` is a's pixels into b, `flow_back` b's into a; both come
from one batch holding the pair and the swapped pair.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from components.config import BackboneConfig
from components.models.registry import register_model

DIV_FLOW = 20.0                           # FlowNet's target scaling: predictions are flow / 20
KERNELS = (7, 5, 5, 3, 3, 3)              # encoder levels 1..6: kernel of the strided convolution
MULTIPLIERS = (2, 4, 8, 16, 16, 32)       # encoder levels 1..6: channels / width (FlowNetS: width 32)
FINEST_LEVEL = 2                          # predictions stop at 1/4 resolution


def _conv(cin: int, cout: int, kernel: int = 3, stride: int = 1) -> nn.Sequential:
    return nn.Sequential(nn.Conv2d(cin, cout, kernel, stride, kernel // 2), nn.LeakyReLU(0.1, inplace=True))


def _up(cin: int, cout: int) -> nn.Sequential:
    """Up-convolution x2 (lecture: a convolution of the diluted input), then LeakyReLU."""
    return nn.Sequential(nn.ConvTranspose2d(cin, cout, 4, 2, 1), nn.LeakyReLU(0.1, inplace=True))


def _predict(cin: int) -> nn.Conv2d:
    return nn.Conv2d(cin, 2, 3, 1, 1)


class FlowNetS(nn.Module):
    """Pair N x 6 x H x W (frames a, b, normalised) -> {"flow", "flow_back": N x 2 x H x W pixels, "levels": per
    prediction level, coarsest first, {"flow", "flow_back": flows in pixels of that level's grid (of the padded
    input)}}. `levels` strided encoder levels (FlowNetS: 6), `width` channels of level 1 / 2 (FlowNetS: 32)."""

    def __init__(self, width: int = 32, levels: int = 6) -> None:
        super().__init__()
        if not FINEST_LEVEL < levels <= len(KERNELS):
            raise ValueError(f"FlowNetS levels must be in {FINEST_LEVEL + 1}..{len(KERNELS)}, got {levels}")
        self.levels = levels
        channels = [6] + [m * width for m in MULTIPLIERS[:levels]]
        # Level l: a strided convolution, and from level 3 on a second 3 x 3 one (conv3_1 ... conv6_1).
        self.encoder = nn.ModuleList(
            nn.Sequential(_conv(channels[l - 1], channels[l], KERNELS[l - 1], 2),
                          *([_conv(channels[l], channels[l])] if l >= 3 else []))
            for l in range(1, levels + 1))
        # Decoder, coarsest first: level l (from levels - 1 down to 2) up-convolves the features of level l + 1 to
        # the channels of the encoder level below it (FlowNetS: deconv5 512, deconv4 256, ...), and concatenates
        # them with the skip of encoder level l and the upsampled flow.
        self.predict = nn.ModuleList([_predict(channels[levels])])
        self.up_features, self.up_flow = nn.ModuleList(), nn.ModuleList()
        features = channels[levels]
        for level in range(levels - 1, FINEST_LEVEL - 1, -1):
            self.up_features.append(_up(features, channels[level - 1]))
            self.up_flow.append(nn.ConvTranspose2d(2, 2, 4, 2, 1, bias=False))
            features = channels[level] + channels[level - 1] + 2
            self.predict.append(_predict(features))
        for module in self.modules():
            if isinstance(module, (nn.Conv2d, nn.ConvTranspose2d)):
                nn.init.kaiming_normal_(module.weight, a=0.1)
                if module.bias is not None:
                    nn.init.zeros_(module.bias)
        # Every level starts at zero flow (copying the frame, the trivial baseline) instead of FlowNet's random
        # flows, which at this budget the network spent its first hundreds of steps unlearning (measured).
        for predict in self.predict:
            nn.init.zeros_(predict.weight)

    @property
    def input_multiple(self) -> int:
        return 2 ** self.levels

    def _flows(self, pair: Tensor) -> list[Tensor]:
        """Padded pair -> the flows / DIV_FLOW (full-resolution pixels) of every prediction level, coarsest first."""
        skips = []
        x = pair
        for stage in self.encoder:
            x = stage(x)
            skips.append(x)
        flows = [self.predict[0](x)]
        for up_features, up_flow, predict, skip in zip(self.up_features, self.up_flow, self.predict[1:],
                                                       reversed(skips[FINEST_LEVEL - 1:-1])):
            x = torch.cat([skip, up_features(x), up_flow(flows[-1])], dim=1)
            flows.append(predict(x))
        return flows

    def forward(self, pair: Tensor) -> dict:
        height, width = pair.shape[-2:]
        multiple = self.input_multiple
        padded = F.pad(pair, (0, -width % multiple, 0, -height % multiple), mode="replicate")
        both = torch.cat([padded, torch.cat([padded[:, 3:], padded[:, :3]], dim=1)])   # (a, b) and (b, a)
        flows = self._flows(both)
        # Full-resolution pixels / DIV_FLOW -> pixels of each level's grid (its stride is the same on both axes).
        levels = [dict(zip(("flow", "flow_back"), (DIV_FLOW * flow * flow.shape[-1] / padded.shape[-1]).chunk(2)))
                  for flow in flows]
        # The returned flow: the finest level upsampled bilinearly (align_corners=False: the pixel centres of the
        # 2 x 2-averaged pyramid), in pixels, cropped to the input.
        full = DIV_FLOW * F.interpolate(flows[-1], size=padded.shape[-2:], mode="bilinear", align_corners=False)
        flow, flow_back = full[..., :height, :width].chunk(2)
        return {"flow": flow, "flow_back": flow_back, "levels": levels}


@register_model(task="video")
def flownet_s(backbone: BackboneConfig = BackboneConfig()) -> FlowNetS:
    """FlowNetS with backbone.width (FlowNetS: 32) and log2(backbone.output_stride) levels (FlowNetS: 64 -> 6)."""
    return FlowNetS(backbone.width, backbone.output_stride.bit_length() - 1)

